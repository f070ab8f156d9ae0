//! One section's walk over the [`Catalog`]: before each statement, the facts the rules need are resolved
//! into its ops (the column's old type, whether a validated `CHECK (c IS NOT NULL)` exists, an index's
//! table, a default's volatility); after it, its changes are applied to the catalog.
//!
//! The UP's changes stay: the next migration runs after it. The DOWN's changes are journaled, one undo
//! step per change, and undone when the section ends (the next migration runs after the UP, not after its
//! DOWN). Each change costs what it changes, never a copy of the table it touches, so a history of a
//! thousand migrations that all alter one wide table stays linear.

use std::collections::HashMap;

use crate::functions::default_volatility;
use crate::model::Volatility;
use crate::ops::{Column, Constraint, ObjectTypeName, Op};
use crate::state::{default_name, function_key, index_key, key, Catalog, TableFacts};

/// One undo step of a journaled section.
enum Undo {
    /// The table's entry as it was (`None`: absent).
    Table(String, Option<TableFacts>),
    /// A rename: move `to` back to `from`, and put back what `to` held.
    Renamed(String, String, Option<TableFacts>),
    Column(String, String, Option<String>),
    /// An index appended to the table's list: remove it.
    IndexAdded(String, String),
    /// Indexes removed from the table's list: put them back.
    IndexesRemoved(String, Vec<(String, Vec<String>)>),
    Constraint(String, String, Option<(Constraint, bool)>),
    PrimaryKey(String, Vec<String>),
    IndexTable(String, Option<String>),
    Function(String, Option<Volatility>),
}

/// A section's walk: see the module documentation.
pub(crate) struct Scope<'a> {
    catalog: &'a mut Catalog,
    /// `Some` for a section whose changes are undone at the end (the DOWN).
    journal: Option<Vec<Undo>>,
    /// A `SET TIME ZONE` of this file (`Some(None)`: reset to the server's default).
    time_zone: Option<Option<String>>,
    /// Table -> index of the statement of this section that created it.
    created: HashMap<String, usize>,
}

impl<'a> Scope<'a> {
    /// A walk over `catalog`; with `undo_at_end`, [`Scope::finish`] undoes every change.
    pub fn new(catalog: &'a mut Catalog, undo_at_end: bool) -> Self {
        Scope {
            catalog,
            journal: undo_at_end.then(Vec::new),
            time_zone: None,
            created: HashMap::new(),
        }
    }

    /// Ends the walk: a journaled section's changes are undone, newest first.
    pub fn finish(self) {
        let catalog = self.catalog;
        for step in self.journal.into_iter().flatten().rev() {
            undo(catalog, step);
        }
    }

    fn record(&mut self, step: impl FnOnce(&Catalog) -> Undo) {
        if self.journal.is_some() {
            let step = step(self.catalog);
            if let Some(j) = &mut self.journal {
                j.push(step);
            }
        }
    }

    pub fn table(&self, name: &str) -> Option<&TableFacts> {
        self.catalog.tables.get(&key(name))
    }

    /// The table's facts, an empty (not complete) entry when nothing is known of it yet.
    fn table_mut(&mut self, name: &str) -> &mut TableFacts {
        let k = key(name);
        if !self.catalog.tables.contains_key(&k) {
            self.record(|_| Undo::Table(k.clone(), None));
        }
        self.catalog.tables.entry(k).or_default()
    }

    fn index_table(&self, index: &str) -> Option<String> {
        self.catalog.indexes.get(&index_key(index)).cloned()
    }

    /// What the migrations (or the live catalog) declare about function `name`.
    pub fn function(&self, name: &str) -> Option<Volatility> {
        self.catalog.functions.get(&function_key(name)).copied()
    }

    /// Whether the session TimeZone is UTC: `None` when not known.
    fn utc(&self) -> Option<bool> {
        let tz = match &self.time_zone {
            Some(set) => set.as_ref(),
            None => self.catalog.time_zone.as_ref(),
        }?;
        Some(matches!(
            tz.to_ascii_uppercase().as_str(),
            "UTC"
                | "ETC/UTC"
                | "UCT"
                | "ETC/UCT"
                | "GMT"
                | "ETC/GMT"
                | "Z"
                | "ZULU"
                | "UNIVERSAL"
                | "ETC/UNIVERSAL"
                | "GREENWICH"
                | "+00:00"
                | "0"
        ))
    }

    /// The table was created by a statement of this section before the current one.
    pub fn is_new(&self, table: &str) -> bool {
        self.created.contains_key(&key(table))
    }

    /// Table -> the statement of this section that created it.
    pub fn created(&self) -> &HashMap<String, usize> {
        &self.created
    }

    /// Fills the facts of `op` from what is known before it runs.
    pub fn resolve(&self, op: &mut Op) {
        match op {
            Op::AddColumn { column, .. } => self.resolve_default(column),
            Op::CreateTable { columns, .. } => {
                for c in columns {
                    self.resolve_default(c);
                }
            }
            Op::AlterColumnType {
                table,
                column,
                from_type,
                utc,
                indexed,
                ..
            } => {
                let facts = self.table(table);
                *from_type = facts.and_then(|t| t.columns.get(column.as_str()).cloned());
                *indexed = facts.and_then(|t| t.indexed(column));
                *utc = self.utc();
            }
            Op::SetNotNull {
                table,
                column,
                proved,
            } => *proved = self.table(table).is_some_and(|t| t.not_null_proved(column)),
            Op::DropIndex { names, tables, .. } => {
                *tables = names.iter().map(|n| self.index_table(n)).collect();
            }
            Op::Reindex {
                what, name, table, ..
            } if what == "index" => *table = self.index_table(name),
            Op::AddConstraint {
                constraint:
                    Constraint::ForeignKey {
                        references,
                        referred,
                        ..
                    },
                ..
            } if referred.is_empty() => {
                if let Some(t) = self.table(references) {
                    referred.clone_from(&t.primary_key);
                }
            }
            Op::ValidateConstraint { table, name, known }
            | Op::DropConstraint { table, name, known } => {
                *known = self.table(table).and_then(|t| t.constraint(name));
            }
            _ => {}
        }
    }

    fn resolve_default(&self, column: &mut Column) {
        if let Some(d) = &mut column.default {
            d.volatility = default_volatility(&d.functions, |f| self.function(f));
        }
    }

    /// Applies the changes of statement `index`'s `op`.
    pub fn apply(&mut self, op: &Op, index: usize) {
        match op {
            Op::CreateTable {
                table,
                columns,
                constraints,
                as_select,
            } => self.create_table(table, columns, constraints, *as_select, index),
            Op::CreateIndex {
                name,
                table,
                columns,
                ..
            } => {
                let name = name.clone().unwrap_or_else(|| format!("{table}_idx"));
                self.push_index(table, &name, columns);
            }
            Op::DropIndex { names, tables, .. } => {
                for (name, table) in names.iter().zip(tables) {
                    if let Some(t) = table {
                        let bare = index_key(name);
                        self.remove_indexes(t, |(n, _)| *n == bare);
                    }
                    self.set_index_table(name, None);
                }
            }
            Op::AddColumn { table, column } => self.add_column(table, column),
            Op::DropColumn { table, column } => {
                self.set_column(table, column, None);
                self.remove_indexes(table, |(_, cols)| cols.contains(column));
            }
            Op::AlterColumnType {
                table,
                column,
                data_type,
                ..
            } => self.set_column(table, column, Some(data_type.clone())),
            Op::AddConstraint {
                table,
                name,
                constraint,
                not_valid,
            } => self.add_constraint(table, name.as_deref(), constraint, !not_valid),
            Op::DropConstraint { table, name, .. } => {
                self.set_constraint(table, name, None);
                self.remove_indexes(table, |(n, _)| n == name);
                if name == "primary key" || *name == format!("{table}_pkey") {
                    self.set_primary_key(table, Vec::new());
                }
            }
            Op::ValidateConstraint { table, name, .. } => {
                let known = self
                    .table(table)
                    .and_then(|t| t.constraints.get(name.as_str()))
                    .cloned();
                if let Some((c, _)) = known {
                    self.set_constraint(table, name, Some((c, true)));
                }
            }
            Op::RenameTable { from, to } => self.rename_table(from, to, index),
            Op::RenameColumn { table, from, to } => self.rename_column(table, from, to),
            Op::RenameIndex { from, to } => {
                if let Some(table) = self.index_table(from) {
                    self.rename_key(&table, from, to);
                }
            }
            Op::RenameConstraint { table, from, to } => self.rename_key(table, from, to),
            Op::Drop {
                kind: ObjectTypeName::Table,
                names,
                ..
            } => {
                for n in names {
                    self.drop_table(n);
                }
            }
            Op::CreateFunction { name, volatility } => {
                let k = function_key(name);
                self.record(|c| Undo::Function(k.clone(), c.functions.get(&k).copied()));
                self.catalog
                    .functions
                    .insert(k, volatility.unwrap_or(Volatility::Volatile));
            }
            Op::SetTimeZone { value } => self.time_zone = Some(value.clone()),
            Op::CreateView { name, .. } => {
                self.created.entry(key(name)).or_insert(index);
            }
            _ => {}
        }
    }

    fn create_table(
        &mut self,
        table: &str,
        columns: &[Column],
        constraints: &[(Option<String>, Constraint)],
        as_select: bool,
        index: usize,
    ) {
        let k = key(table);
        self.created.entry(k.clone()).or_insert(index);
        self.record(|c| Undo::Table(k.clone(), c.tables.get(&k).cloned()));
        self.catalog.tables.insert(
            k,
            TableFacts {
                complete: !as_select,
                ..TableFacts::default()
            },
        );
        for c in columns {
            self.add_column(table, c);
        }
        for (name, c) in constraints {
            self.add_constraint(table, name.as_deref(), c, true);
        }
    }

    fn drop_table(&mut self, table: &str) {
        let k = key(table);
        let Some(facts) = self.catalog.tables.remove(&k) else {
            return;
        };
        for (i, _) in &facts.indexes {
            self.set_index_table(i, None);
        }
        if let Some(j) = &mut self.journal {
            j.push(Undo::Table(k, Some(facts)));
        }
    }

    fn add_column(&mut self, table: &str, column: &Column) {
        self.set_column(table, &column.name, Some(column.data_type.clone()));
        if column.primary_key {
            self.set_primary_key(table, vec![column.name.clone()]);
        }
        if column.unique {
            let name = format!("{table}_{}_key", column.name);
            self.push_index(table, &name, std::slice::from_ref(&column.name));
        }
        if let Some(r) = &column.references {
            let fk = Constraint::ForeignKey {
                columns: vec![column.name.clone()],
                references: r.clone(),
                referred: column.referred_columns.clone(),
            };
            self.set_constraint(
                table,
                &format!("{table}_{}_fkey", column.name),
                Some((fk, true)),
            );
        }
    }

    fn add_constraint(
        &mut self,
        table: &str,
        name: Option<&str>,
        constraint: &Constraint,
        validated: bool,
    ) {
        let name = name.map_or_else(|| default_name(table, constraint), str::to_string);
        match constraint {
            Constraint::PrimaryKey { columns } => self.set_primary_key(table, columns.clone()),
            Constraint::Unique { columns } => self.push_index(table, &name, columns),
            _ => {}
        }
        self.set_constraint(table, &name, Some((constraint.clone(), validated)));
    }

    fn set_column(&mut self, table: &str, column: &str, data_type: Option<String>) {
        let k = key(table);
        let old = self.table_mut(table).columns.get(column).cloned();
        self.record(|_| Undo::Column(k, column.to_string(), old));
        let t = self.table_mut(table);
        match data_type {
            Some(ty) => {
                t.columns.insert(column.to_string(), ty);
            }
            None => {
                t.columns.remove(column);
            }
        }
    }

    fn push_index(&mut self, table: &str, name: &str, columns: &[String]) {
        let bare = index_key(name);
        self.record(|_| Undo::IndexAdded(key(table), bare.clone()));
        self.table_mut(table).indexes.push((bare, columns.to_vec()));
        self.set_index_table(name, Some(key(table)));
    }

    fn remove_indexes(&mut self, table: &str, gone: impl Fn(&(String, Vec<String>)) -> bool) {
        let t = self.table_mut(table);
        let (removed, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut t.indexes)
            .into_iter()
            .partition(|i| gone(i));
        t.indexes = kept;
        if !removed.is_empty() {
            self.record(|_| Undo::IndexesRemoved(key(table), removed));
        }
    }

    fn set_constraint(&mut self, table: &str, name: &str, value: Option<(Constraint, bool)>) {
        let k = key(table);
        let t = self.table_mut(table);
        let old = match value {
            Some(v) => t.constraints.insert(name.to_string(), v),
            None => t.constraints.remove(name),
        };
        self.record(|_| Undo::Constraint(k, name.to_string(), old));
    }

    fn set_primary_key(&mut self, table: &str, columns: Vec<String>) {
        let old = std::mem::replace(&mut self.table_mut(table).primary_key, columns);
        self.record(|_| Undo::PrimaryKey(key(table), old));
    }

    fn set_index_table(&mut self, index: &str, table: Option<String>) {
        let k = index_key(index);
        let old = match table {
            Some(t) => self.catalog.indexes.insert(k.clone(), t),
            None => self.catalog.indexes.remove(&k),
        };
        self.record(|_| Undo::IndexTable(k, old));
    }

    fn rename_table(&mut self, from: &str, to: &str, index: usize) {
        if self.created.contains_key(&key(from)) {
            self.created.entry(key(to)).or_insert(index);
        }
        let (kf, kt) = (key(from), key(to));
        let Some(facts) = self.catalog.tables.remove(&kf) else {
            return;
        };
        let names: Vec<String> = facts.indexes.iter().map(|(i, _)| i.clone()).collect();
        let before = self.catalog.tables.insert(kt.clone(), facts);
        if let Some(j) = &mut self.journal {
            j.push(Undo::Renamed(kf, kt.clone(), before));
        }
        for i in names {
            self.set_index_table(&i, Some(kt.clone()));
        }
    }

    /// Keeps the whole table for the undo (renames are rare; they touch many parts of a table).
    fn snapshot(&mut self, table: &str) {
        let k = key(table);
        self.record(|c| Undo::Table(k.clone(), c.tables.get(&k).cloned()));
    }

    /// Renames an index or constraint of `table` (a key's index and constraint share their name).
    fn rename_key(&mut self, table: &str, from: &str, to: &str) {
        let (from_bare, to_bare) = (index_key(from), index_key(to));
        self.snapshot(table);
        let t = self.table_mut(table);
        let mut was_index = false;
        for (n, _) in &mut t.indexes {
            if *n == from_bare {
                n.clone_from(&to_bare);
                was_index = true;
            }
        }
        if let Some(c) = t.constraints.remove(&from_bare) {
            t.constraints.insert(to_bare.clone(), c);
        }
        if was_index || self.index_table(from).is_some() {
            self.set_index_table(&from_bare, None);
            self.set_index_table(&to_bare, Some(key(table)));
        }
    }

    fn rename_column(&mut self, table: &str, from: &str, to: &str) {
        self.snapshot(table);
        let t = self.table_mut(table);
        if let Some(ty) = t.columns.remove(from) {
            t.columns.insert(to.to_string(), ty);
        }
        let rename = |cols: &mut Vec<String>| {
            for c in cols.iter_mut().filter(|c| *c == from) {
                *c = to.to_string();
            }
        };
        rename(&mut t.primary_key);
        for (_, cols) in &mut t.indexes {
            rename(cols);
        }
        for (c, _) in t.constraints.values_mut() {
            match c {
                Constraint::Check {
                    not_null_column: Some(n),
                    ..
                } if n == from => *n = to.to_string(),
                Constraint::Unique { columns }
                | Constraint::PrimaryKey { columns }
                | Constraint::ForeignKey { columns, .. } => rename(columns),
                _ => {}
            }
        }
    }
}

fn table<'c>(catalog: &'c mut Catalog, k: &str) -> &'c mut TableFacts {
    catalog.tables.entry(k.to_string()).or_default()
}

fn undo(catalog: &mut Catalog, step: Undo) {
    match step {
        Undo::Table(k, facts) => match facts {
            Some(f) => {
                catalog.tables.insert(k, f);
            }
            None => {
                catalog.tables.remove(&k);
            }
        },
        Undo::Renamed(from, to, before) => {
            if let Some(f) = catalog.tables.remove(&to) {
                catalog.tables.insert(from, f);
            }
            if let Some(b) = before {
                catalog.tables.insert(to, b);
            }
        }
        Undo::Column(k, column, old) => {
            let t = table(catalog, &k);
            match old {
                Some(ty) => t.columns.insert(column, ty),
                None => t.columns.remove(&column),
            };
        }
        Undo::IndexAdded(k, name) => {
            let t = table(catalog, &k);
            if let Some(at) = t.indexes.iter().rposition(|(n, _)| *n == name) {
                t.indexes.remove(at);
            }
        }
        Undo::IndexesRemoved(k, removed) => table(catalog, &k).indexes.extend(removed),
        Undo::Constraint(k, name, old) => {
            let t = table(catalog, &k);
            match old {
                Some(c) => t.constraints.insert(name, c),
                None => t.constraints.remove(&name),
            };
        }
        Undo::PrimaryKey(k, old) => table(catalog, &k).primary_key = old,
        Undo::IndexTable(k, old) => match old {
            Some(t) => {
                catalog.indexes.insert(k, t);
            }
            None => {
                catalog.indexes.remove(&k);
            }
        },
        Undo::Function(k, old) => match old {
            Some(v) => {
                catalog.functions.insert(k, v);
            }
            None => {
                catalog.functions.remove(&k);
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply_all(scope: &mut Scope, sql: &str) {
        for (i, stmt) in migrator_format::split_statements(sql, 1)
            .unwrap()
            .iter()
            .enumerate()
        {
            if let crate::ops::Reading::Analysed(p) =
                crate::ops::read(&stmt.sql, crate::Dialect::Postgres)
            {
                for mut op in p.ops {
                    scope.resolve(&mut op);
                    scope.apply(&op, i);
                }
            }
        }
    }

    /// A journaled section leaves the catalog exactly as it found it, whatever it did.
    #[test]
    fn a_journaled_section_is_undone() {
        let mut catalog = Catalog::new();
        let mut up = Scope::new(&mut catalog, false);
        apply_all(
            &mut up,
            "CREATE TABLE a (id bigint PRIMARY KEY, x varchar(10) UNIQUE, y int CHECK (y > 0));\nCREATE INDEX a_y ON a (y);\nCREATE FUNCTION f() RETURNS int LANGUAGE sql IMMUTABLE AS $$ SELECT 1 $$;",
        );
        up.finish();
        let before = format!("{catalog:?}");
        let mut down = Scope::new(&mut catalog, true);
        apply_all(
            &mut down,
            "ALTER TABLE a RENAME COLUMN y TO z;\nALTER TABLE a ALTER COLUMN x TYPE text;\nDROP INDEX a_y;\nALTER TABLE a DROP CONSTRAINT a_x_key;\nALTER TABLE a RENAME TO b;\nCREATE TABLE c (id int);\nDROP TABLE b;\nCREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 2 $$;",
        );
        down.finish();
        // HashMap order is not stable across maps, so compare sorted renderings.
        let norm = |s: String| {
            let mut chars: Vec<char> = s.chars().collect();
            chars.sort_unstable();
            chars.into_iter().collect::<String>()
        };
        assert_eq!(norm(format!("{catalog:?}")), norm(before));
        assert!(catalog.tables.contains_key("a") && !catalog.tables.contains_key("b"));
        assert_eq!(catalog.indexes.get("a_y").map(String::as_str), Some("a"));
    }
}
