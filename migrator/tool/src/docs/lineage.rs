//! Lineage: which migration (and issue) created each table, and added, changed or dropped each column and
//! index, found by diffing the schema before and after every migration of a step-by-step replay. Renames
//! come from the analyser (a diff alone sees a drop and an add): the history moves to the new name.

use std::collections::BTreeMap;

use migrator_analyse::{Action, Dialect, ObjectKind, Options, Section};
use migrator_format::Migration;

use crate::schema::{object_key, Column, Schema};

/// The migration an event came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// Its version.
    pub version: u64,
    /// Its issue.
    pub issue: Option<u32>,
    /// Its file name.
    pub file: String,
}

/// One thing a migration did to a table, a column or an index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The migration.
    pub origin: Origin,
    /// What it did: `added`, `created`, `dropped`, `type TEXT → INTEGER`, `renamed from x`, ...
    pub what: String,
}

/// The lineage of a whole schema.
#[derive(Debug, Clone, Default)]
pub struct Lineage {
    /// Events per table key.
    pub tables: BTreeMap<String, Vec<Event>>,
    /// Events per (table key, column).
    pub columns: BTreeMap<(String, String), Vec<Event>>,
    /// Events per (table key, index name).
    pub indexes: BTreeMap<(String, String), Vec<Event>>,
    previous: Schema,
}

/// The renames of `migration`'s UP: tables (old key → new key) and columns ((table, old) → new).
type Renames = (BTreeMap<String, String>, BTreeMap<(String, String), String>);

fn renames(migration: &Migration, dialect: Dialect) -> Renames {
    let analysis = migrator_analyse::analyse(migration, Options::new(dialect));
    let mut tables = BTreeMap::new();
    let mut columns = BTreeMap::new();
    let objects = analysis
        .statements
        .iter()
        .filter(|s| s.section == Section::Up)
        .flat_map(|s| &s.objects)
        .filter(|o| o.action == Action::Rename);
    for o in objects {
        let Some(to) = o.detail.as_deref().and_then(|d| d.strip_prefix("to ")) else {
            continue;
        };
        match o.object {
            ObjectKind::Table => {
                tables.insert(object_key(&o.name), object_key(to));
            }
            ObjectKind::Column => {
                if let (Some((_, from)), Some(t)) = (o.name.rsplit_once('.'), &o.table) {
                    columns.insert((object_key(t), from.to_lowercase()), to.to_lowercase());
                }
            }
            _ => {}
        }
    }
    (tables, columns)
}

/// How `after` differs from `before`, in words; empty when it does not.
fn column_change(before: &Column, after: &Column) -> Vec<String> {
    let mut out = Vec::new();
    if before.data_type != after.data_type {
        out.push(format!(
            "type {} → {}",
            shown(&before.data_type),
            shown(&after.data_type)
        ));
    }
    match (before.not_null, after.not_null) {
        (false, true) => out.push("now NOT NULL".to_string()),
        (true, false) => out.push("now nullable".to_string()),
        _ => {}
    }
    if before.default != after.default {
        out.push(match &after.default {
            Some(d) => format!("default {d}"),
            None => "default dropped".to_string(),
        });
    }
    if before.generated != after.generated || before.identity != after.identity {
        out.push("generation changed".to_string());
    }
    out
}

fn shown(data_type: &str) -> &str {
    if data_type.is_empty() {
        "(none)"
    } else {
        data_type
    }
}

impl Lineage {
    /// Records what `migration` changed, given the schema after it.
    pub fn observe(&mut self, migration: &Migration, after: &Schema, dialect: Dialect) {
        let origin = Origin {
            version: migration.version,
            issue: migration.issue,
            file: migration.file_name.to_string(),
        };
        let event = |what: String| Event {
            origin: origin.clone(),
            what,
        };
        let (table_renames, column_renames) = renames(migration, dialect);
        let before = std::mem::take(&mut self.previous);
        // Renames the schemas confirm (a table rebuild's `RENAME x_new TO x` moves no history).
        let table_renames: BTreeMap<String, String> = table_renames
            .into_iter()
            .filter(|(old, new)| {
                before.tables.contains_key(old)
                    && after.tables.contains_key(new)
                    && !after.tables.contains_key(old)
                    && !before.tables.contains_key(new)
            })
            .collect();
        for (old, new) in &table_renames {
            self.move_table(old, new);
            self.tables
                .entry(new.clone())
                .or_default()
                .push(event(format!("renamed from {old}")));
        }
        let renamed_from = |new: &str| {
            table_renames
                .iter()
                .find(|(_, n)| n.as_str() == new)
                .map(|(o, _)| o.clone())
        };
        for (key, table) in &after.tables {
            let old_key = renamed_from(key).unwrap_or_else(|| key.clone());
            let Some(old) = before.tables.get(&old_key) else {
                self.tables
                    .entry(key.clone())
                    .or_default()
                    .push(event("created".to_string()));
                for c in &table.columns {
                    self.column(key, &c.name).push(event("added".to_string()));
                }
                for i in &table.indexes {
                    self.index(key, &i.name).push(event("added".to_string()));
                }
                continue;
            };
            for c in &table.columns {
                let from = column_renames
                    .iter()
                    .find(|((t, _), to)| (t == key || *t == old_key) && **to == c.name)
                    .map(|((_, f), _)| f.clone());
                let previous = from
                    .as_deref()
                    .and_then(|f| old.column(f).map(|col| (f, col)));
                match (previous, old.column(&c.name)) {
                    (Some((f, col)), _) => {
                        let history = self.column(key, f).clone();
                        self.columns.remove(&(key.clone(), f.to_string()));
                        let mut moved = history;
                        moved.push(event(format!("renamed from {f}")));
                        moved.extend(column_change(col, c).into_iter().map(&event));
                        self.columns.insert((key.clone(), c.name.clone()), moved);
                    }
                    (None, Some(col)) => {
                        let changes = column_change(col, c);
                        self.column(key, &c.name)
                            .extend(changes.into_iter().map(&event));
                    }
                    (None, None) => self.column(key, &c.name).push(event("added".to_string())),
                }
            }
            for c in &old.columns {
                let renamed = column_renames
                    .iter()
                    .any(|((t, f), _)| (t == key || *t == old_key) && *f == c.name);
                if table.column(&c.name).is_none() && !renamed {
                    self.column(key, &c.name).push(event("dropped".to_string()));
                }
            }
            for i in &table.indexes {
                match old.indexes.iter().find(|o| o.name == i.name) {
                    None => self.index(key, &i.name).push(event("added".to_string())),
                    Some(o) if o != i => self
                        .index(key, &i.name)
                        .push(event("re-created with another definition".to_string())),
                    Some(_) => {}
                }
            }
            for o in &old.indexes {
                if !table.indexes.iter().any(|i| i.name == o.name) {
                    self.index(key, &o.name).push(event("dropped".to_string()));
                }
            }
        }
        for key in before.tables.keys() {
            let renamed = table_renames.contains_key(key);
            if !after.tables.contains_key(key) && !renamed {
                self.tables
                    .entry(key.clone())
                    .or_default()
                    .push(event("dropped".to_string()));
                for c in &before.tables[key].columns {
                    self.column(key, &c.name).push(event("dropped".to_string()));
                }
            }
        }
        self.previous = after.clone();
    }

    fn column(&mut self, table: &str, column: &str) -> &mut Vec<Event> {
        self.columns
            .entry((table.to_string(), column.to_string()))
            .or_default()
    }

    fn index(&mut self, table: &str, index: &str) -> &mut Vec<Event> {
        self.indexes
            .entry((table.to_string(), index.to_string()))
            .or_default()
    }

    fn move_table(&mut self, old: &str, new: &str) {
        if let Some(events) = self.tables.remove(old) {
            self.tables.insert(new.to_string(), events);
        }
        let moved: Vec<(String, String)> = self
            .columns
            .keys()
            .filter(|(t, _)| t == old)
            .cloned()
            .collect();
        for (t, c) in moved {
            if let Some(events) = self.columns.remove(&(t, c.clone())) {
                self.columns.insert((new.to_string(), c), events);
            }
        }
        let moved: Vec<(String, String)> = self
            .indexes
            .keys()
            .filter(|(t, _)| t == old)
            .cloned()
            .collect();
        for (t, i) in moved {
            if let Some(events) = self.indexes.remove(&(t, i.clone())) {
                self.indexes.insert((new.to_string(), i), events);
            }
        }
    }

    /// The events of `table.column`, oldest first.
    pub fn of_column(&self, table: &str, column: &str) -> &[Event] {
        self.columns
            .get(&(table.to_string(), column.to_string()))
            .map_or(&[], Vec::as_slice)
    }

    /// The events of an index.
    pub fn of_index(&self, table: &str, index: &str) -> &[Event] {
        self.indexes
            .get(&(table.to_string(), index.to_string()))
            .map_or(&[], Vec::as_slice)
    }

    /// The events of a table.
    pub fn of_table(&self, table: &str) -> &[Event] {
        self.tables.get(table).map_or(&[], Vec::as_slice)
    }
}
