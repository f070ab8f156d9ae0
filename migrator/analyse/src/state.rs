//! What is known about the schema a statement runs against, and the facts it decides.
//!
//! A [`Catalog`] holds what is known before a migration: the tables, their column types, keys, indexes and
//! constraints, the indexes' tables, the functions' volatility and the session TimeZone. Offline it is built
//! from the earlier migrations of the directory ([`crate::lint_dir`] folds each UP into it); a live preview
//! can fill it from the server's catalog with the `set_*`/`add_*` methods. Nothing in it means "not known",
//! never "absent": a rule that needs a missing fact says so instead of guessing.
//!
//! A [`crate::scope::Scope`] walks one section over the catalog, resolving each statement's facts and
//! applying its changes.

use std::collections::HashMap;

use crate::model::Volatility;
use crate::ops::Constraint;

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
    pub(crate) fn constraint(&self, name: &str) -> Option<Constraint> {
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
    pub(crate) fn not_null_proved(&self, column: &str) -> bool {
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
    pub(crate) tables: HashMap<String, TableFacts>,
    /// Index (without schema) -> table.
    pub(crate) indexes: HashMap<String, String>,
    pub(crate) functions: HashMap<String, Volatility>,
    pub(crate) time_zone: Option<String>,
}

/// The key a name is known by: lower-case as given, without a `public.` / `main.` schema.
pub(crate) fn key(name: &str) -> String {
    let name = name
        .strip_prefix("public.")
        .or_else(|| name.strip_prefix("main."))
        .unwrap_or(name);
    name.to_string()
}

/// An index's key: its name without a schema (an index lives in its table's schema, and `CREATE INDEX`
/// names it without one).
pub(crate) fn index_key(name: &str) -> String {
    name.rsplit('.').next().unwrap_or(name).to_string()
}

/// A function's key: its name without any schema.
pub(crate) fn function_key(name: &str) -> String {
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
