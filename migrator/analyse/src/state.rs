//! What is known about the schema a statement runs against, and the facts it decides.
//!
//! A [`Catalog`] holds what is known before a migration: the tables, their column types, keys, indexes and
//! constraints, the indexes' tables, the functions' volatility and the session TimeZone. Offline it is built
//! from the earlier migrations of the directory ([`crate::lint_dir`] folds each UP into it); a live preview
//! can fill it from the server's catalog with the `set_*`/`add_*` methods. Nothing in it means "not known",
//! never "absent": a rule that needs a missing fact says so instead of guessing.
//!
//! A [`Scope`] walks one section statement by statement over the catalog, copying a table only when a
//! statement changes it (so a long history costs each migration only the tables it touches). Before each
//! statement it resolves the facts the rules need into the statement's ops (the column's old type, whether
//! a validated `CHECK (c IS NOT NULL)` exists, an index's table, a default's volatility); after it, it
//! applies the statement's changes.

use std::collections::HashMap;

use crate::functions::default_volatility;
use crate::model::Volatility;
use crate::ops::{Column, Constraint, ObjectTypeName, Op};

/// What is known about one table.
#[derive(Debug, Clone, Default)]
pub(crate) struct TableFacts {
    /// The table was created in a migration seen here (or declared complete): its columns and indexes are
    /// all known, so "no index uses the column" is a fact, not a guess.
    pub complete: bool,
    /// Column name -> type text.
    pub columns: HashMap<String, String>,
    pub primary_key: Vec<String>,
    /// (index name, key columns).
    pub indexes: Vec<(String, Vec<String>)>,
    /// Constraint name -> (definition, validated).
    pub constraints: HashMap<String, (Constraint, bool)>,
}

impl TableFacts {
    /// Whether an index (or the primary key) of the table uses `column`: `None` when not known.
    pub fn indexed(&self, column: &str) -> Option<bool> {
        let uses = |cols: &[String]| cols.iter().any(|c| c == column || mentions(c, column));
        let found = uses(&self.primary_key) || self.indexes.iter().any(|(_, cols)| uses(cols));
        (found || self.complete).then_some(found)
    }

    /// Whether an index (or the primary key) leads with `columns`.
    pub fn index_leads_with(&self, columns: &[String]) -> bool {
        let leads =
            |cols: &[String]| cols.len() >= columns.len() && cols[..columns.len()] == *columns;
        leads(&self.primary_key) || self.indexes.iter().any(|(_, cols)| leads(cols))
    }

    /// The constraint named `name`: a declared one, the primary key (`<table>_pkey`), or the index of a
    /// column's own UNIQUE (`<table>_<column>_key`).
    fn constraint(&self, name: &str) -> Option<Constraint> {
        if let Some((c, _)) = self.constraints.get(name) {
            return Some(c.clone());
        }
        if (name == "primary key" || name.ends_with("_pkey")) && !self.primary_key.is_empty() {
            return Some(Constraint::PrimaryKey {
                columns: self.primary_key.clone(),
            });
        }
        self.indexes
            .iter()
            .find(|(n, _)| n == name && n.ends_with("_key"))
            .map(|(_, columns)| Constraint::Unique {
                columns: columns.clone(),
            })
    }

    /// A validated `CHECK (column IS NOT NULL)`, or the column is in the primary key.
    fn not_null_proved(&self, column: &str) -> bool {
        self.primary_key.iter().any(|c| c == column)
            || self.constraints.values().any(|(c, validated)| {
                *validated
                    && matches!(c, Constraint::Check { not_null_column: Some(n), .. } if n == column)
            })
    }
}

/// `true` when the index expression `expr` names `column` as a word.
fn mentions(expr: &str, column: &str) -> bool {
    expr.split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .any(|w| w == column)
}

/// The schema before a migration: see the module documentation.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    tables: HashMap<String, TableFacts>,
    indexes: HashMap<String, String>,
    functions: HashMap<String, Volatility>,
    time_zone: Option<String>,
}

/// The key a name is known by: lower-case as given, without a `public.` / `main.` schema.
fn key(name: &str) -> String {
    let name = name
        .strip_prefix("public.")
        .or_else(|| name.strip_prefix("main."))
        .unwrap_or(name);
    name.to_string()
}

/// An index's key: its name without a schema (an index lives in its table's schema, and `CREATE INDEX`
/// names it without one).
fn index_key(name: &str) -> String {
    name.rsplit('.').next().unwrap_or(name).to_string()
}

/// A function's key: its name without any schema.
fn function_key(name: &str) -> String {
    name.rsplit('.').next().unwrap_or(name).to_lowercase()
}

impl Catalog {
    /// An empty catalog: nothing known.
    pub fn new() -> Self {
        Catalog::default()
    }

    /// Declares `table` with every column, index and constraint it has, so that what the catalog does not
    /// list is known to be absent (call the other `add_*` methods for its parts).
    pub fn add_table(&mut self, table: &str) {
        self.tables.entry(key(table)).or_default().complete = true;
    }

    /// Records a column's type (as PostgreSQL prints it, e.g. `character varying(20)`).
    pub fn add_column(&mut self, table: &str, column: &str, data_type: &str) {
        let t = self.tables.entry(key(table)).or_default();
        t.columns
            .insert(column.to_string(), data_type.to_lowercase());
    }

    /// Records an index (or a unique/primary key's index) and its key columns.
    pub fn add_index(&mut self, name: &str, table: &str, columns: &[&str]) {
        let t = self.tables.entry(key(table)).or_default();
        t.indexes.push((
            name.to_string(),
            columns.iter().map(|c| c.to_string()).collect(),
        ));
        self.indexes.insert(index_key(name), key(table));
    }

    /// Records the primary key's columns.
    pub fn set_primary_key(&mut self, table: &str, columns: &[&str]) {
        self.tables.entry(key(table)).or_default().primary_key =
            columns.iter().map(|c| c.to_string()).collect();
    }

    /// Records a `CHECK (column IS NOT NULL)` named `name`, validated or not.
    pub fn add_not_null_check(&mut self, table: &str, name: &str, column: &str, validated: bool) {
        let check = Constraint::Check {
            expr: format!("{column} IS NOT NULL"),
            summary: format!("{column} not null"),
            not_null_column: Some(column.to_string()),
        };
        self.tables
            .entry(key(table))
            .or_default()
            .constraints
            .insert(name.to_string(), (check, validated));
    }

    /// Records a function's declared volatility (`pg_proc.provolatile`).
    pub fn set_function_volatility(&mut self, name: &str, volatility: Volatility) {
        self.functions.insert(function_key(name), volatility);
    }

    /// Records the session TimeZone the migrations run with (`SHOW timezone`).
    pub fn set_time_zone(&mut self, time_zone: &str) {
        self.time_zone = Some(time_zone.to_string());
    }

    fn commit(&mut self, changes: Changes) {
        for (name, facts) in changes.tables {
            match facts {
                Some(f) => {
                    self.tables.insert(name, f);
                }
                None => {
                    self.tables.remove(&name);
                }
            }
        }
        for (name, table) in changes.indexes {
            match table {
                Some(t) => {
                    self.indexes.insert(name, t);
                }
                None => {
                    self.indexes.remove(&name);
                }
            }
        }
        self.functions.extend(changes.functions);
    }
}

/// What a section changed, to commit into the catalog (the UP) or forget (the DOWN).
pub(crate) struct Changes {
    tables: HashMap<String, Option<TableFacts>>,
    indexes: HashMap<String, Option<String>>,
    functions: HashMap<String, Volatility>,
}

/// One section's walk over a catalog: see the module documentation.
pub(crate) struct Scope<'a> {
    base: &'a Catalog,
    tables: HashMap<String, Option<TableFacts>>,
    indexes: HashMap<String, Option<String>>,
    functions: HashMap<String, Volatility>,
    /// A `SET TIME ZONE` of this file (`Some(None)`: reset to the server's default).
    time_zone: Option<Option<String>>,
    /// Table -> index of the statement of this section that created it.
    created: HashMap<String, usize>,
}

impl<'a> Scope<'a> {
    pub fn new(base: &'a Catalog) -> Self {
        Scope {
            base,
            tables: HashMap::new(),
            indexes: HashMap::new(),
            functions: HashMap::new(),
            time_zone: None,
            created: HashMap::new(),
        }
    }

    /// The section's changes, for [`Catalog`].
    pub fn into_changes(self) -> Changes {
        Changes {
            tables: self.tables,
            indexes: self.indexes,
            functions: self.functions,
        }
    }

    /// Commits a section's changes into `catalog`.
    pub fn commit(changes: Changes, catalog: &mut Catalog) {
        catalog.commit(changes);
    }

    pub fn table(&self, name: &str) -> Option<&TableFacts> {
        let k = key(name);
        match self.tables.get(&k) {
            Some(facts) => facts.as_ref(),
            None => self.base.tables.get(&k),
        }
    }

    fn table_mut(&mut self, name: &str) -> &mut TableFacts {
        let k = key(name);
        let base = self.base;
        self.tables
            .entry(k.clone())
            .or_insert_with(|| base.tables.get(&k).cloned())
            .get_or_insert_with(TableFacts::default)
    }

    fn index_table(&self, index: &str) -> Option<String> {
        let k = index_key(index);
        match self.indexes.get(&k) {
            Some(t) => t.clone(),
            None => self.base.indexes.get(&k).cloned(),
        }
    }

    /// What the migrations (or the live catalog) declare about function `name`.
    pub fn function(&self, name: &str) -> Option<Volatility> {
        let k = function_key(name);
        self.functions
            .get(&k)
            .or_else(|| self.base.functions.get(&k))
            .copied()
    }

    /// Whether the session TimeZone is UTC: `None` when not known.
    fn utc(&self) -> Option<bool> {
        let tz = match &self.time_zone {
            Some(set) => set.as_ref(),
            None => self.base.time_zone.as_ref(),
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
                self.table_mut(table)
                    .indexes
                    .push((name.clone(), columns.clone()));
                self.indexes.insert(index_key(&name), Some(key(table)));
            }
            Op::DropIndex { names, tables, .. } => {
                for (name, table) in names.iter().zip(tables) {
                    if let Some(t) = table {
                        self.table_mut(t).indexes.retain(|(n, _)| n != name);
                    }
                    self.indexes.insert(index_key(name), None);
                }
            }
            Op::AddColumn { table, column } => self.add_column(table, column),
            Op::DropColumn { table, column } => {
                let t = self.table_mut(table);
                t.columns.remove(column);
                t.indexes.retain(|(_, cols)| !cols.contains(column));
            }
            Op::AlterColumnType {
                table,
                column,
                data_type,
                ..
            } => {
                self.table_mut(table)
                    .columns
                    .insert(column.clone(), data_type.clone());
            }
            Op::AddConstraint {
                table,
                name,
                constraint,
                not_valid,
            } => self.add_constraint(table, name.as_deref(), constraint, !not_valid),
            Op::DropConstraint { table, name, .. } => {
                let t = self.table_mut(table);
                t.constraints.remove(name);
                t.indexes.retain(|(n, _)| n != name);
                if name == "primary key" || name == &format!("{table}_pkey") {
                    t.primary_key.clear();
                }
            }
            Op::ValidateConstraint { table, name, .. } => {
                if let Some((_, validated)) = self.table_mut(table).constraints.get_mut(name) {
                    *validated = true;
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
                    if let Some(t) = self.table(n) {
                        let gone: Vec<String> =
                            t.indexes.iter().map(|(i, _)| index_key(i)).collect();
                        for i in gone {
                            self.indexes.insert(i, None);
                        }
                    }
                    self.tables.insert(key(n), None);
                }
            }
            Op::CreateFunction { name, volatility } => {
                self.functions.insert(
                    function_key(name),
                    volatility.unwrap_or(Volatility::Volatile),
                );
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
        self.created.entry(key(table)).or_insert(index);
        self.tables.insert(
            key(table),
            Some(TableFacts {
                complete: !as_select,
                ..TableFacts::default()
            }),
        );
        for c in columns {
            self.add_column(table, c);
        }
        for (name, c) in constraints {
            self.add_constraint(table, name.as_deref(), c, true);
        }
    }

    fn add_column(&mut self, table: &str, column: &Column) {
        let t = self.table_mut(table);
        t.columns
            .insert(column.name.clone(), column.data_type.clone());
        if column.primary_key {
            t.primary_key = vec![column.name.clone()];
        }
        if column.unique {
            t.indexes.push((
                format!("{table}_{}_key", column.name),
                vec![column.name.clone()],
            ));
        }
        if let Some(r) = &column.references {
            t.constraints.insert(
                format!("{table}_{}_fkey", column.name),
                (
                    Constraint::ForeignKey {
                        columns: vec![column.name.clone()],
                        references: r.clone(),
                        referred: column.referred_columns.clone(),
                    },
                    true,
                ),
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
        let t = self.table_mut(table);
        match constraint {
            Constraint::PrimaryKey { columns } => t.primary_key.clone_from(columns),
            Constraint::Unique { columns } => t.indexes.push((name.clone(), columns.clone())),
            _ => {}
        }
        t.constraints.insert(name, (constraint.clone(), validated));
    }

    fn rename_table(&mut self, from: &str, to: &str, index: usize) {
        if self.created.contains_key(&key(from)) {
            self.created.entry(key(to)).or_insert(index);
        }
        let facts = self.table(from).cloned();
        if let Some(f) = &facts {
            for (i, _) in &f.indexes {
                self.indexes.insert(index_key(i), Some(key(to)));
            }
        }
        self.tables.insert(key(from), None);
        self.tables.insert(key(to), facts);
    }

    /// Renames an index or constraint of `table` (a key's index and constraint share their name).
    fn rename_key(&mut self, table: &str, from: &str, to: &str) {
        let from_bare = index_key(from);
        let to_bare = index_key(to);
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
            self.indexes.insert(from_bare, None);
            self.indexes.insert(to_bare, Some(key(table)));
        }
    }

    fn rename_column(&mut self, table: &str, from: &str, to: &str) {
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

/// PostgreSQL's name for an unnamed constraint: `<table>_<column>_check`, `<table>_pkey`, ...
pub(crate) fn default_name(table: &str, constraint: &Constraint) -> String {
    let bare = table.rsplit('.').next().unwrap_or(table);
    match constraint {
        Constraint::Check {
            not_null_column: Some(c),
            ..
        } => format!("{bare}_{c}_check"),
        Constraint::Check { .. } => format!("{bare}_check"),
        Constraint::PrimaryKey { .. } => format!("{bare}_pkey"),
        Constraint::Unique { columns } => format!("{bare}_{}_key", columns.join("_")),
        Constraint::ForeignKey { columns, .. } => format!("{bare}_{}_fkey", columns.join("_")),
        _ => format!("{bare}_constraint"),
    }
}
