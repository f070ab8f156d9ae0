//! The database schema as the tool sees it: tables (columns with type, nullability, default, identity and
//! generation; primary key; unique constraints; checks; foreign keys with their actions; indexes over
//! columns or expressions, unique or partial; triggers) and views.
//!
//! One model, three loaders, one reader of SQL:
//! - [`Schema::replay_sqlite`] / [`Schema::replay_postgres`]: run a migrations directory (the files a host
//!   embeds) on a scratch database through the runtime (`MigrationSet::from_dir` + `Migrator`), then read
//!   the result back; [`Schema::from_sqlite`] / [`Schema::from_postgres`] read a database as it is.
//! - [`Schema::from_dump`]: read `pg_dump --schema-only` output (`\restrict` lines, dollar-quoted function
//!   bodies, `ARRAY[...]` and all) or SQLite's `.schema`.
//!
//! Every loader ends in the same place: DDL text read by `sqlparser` (through `migrator_analyse::sql`) and
//! applied by [`ddl`]. SQLite keeps the text of each `CREATE` in `sqlite_schema`; for PostgreSQL the catalog
//! is turned into the statements `pg_dump` would print (`pg_get_constraintdef`, `pg_get_indexdef`, ...)
//! under an empty `search_path`, as `pg_dump` does, so a replayed schema and a dump of the same database
//! read the same.
//!
//! Names are folded as the databases fold them (lower case unless quoted); tables of PostgreSQL's `public`
//! schema (and SQLite's `main`) are keyed by their bare name, others by `schema.name`. Expressions (defaults,
//! checks, index keys and predicates) and types are kept as `sqlparser` prints them after reading, so two
//! spellings of one thing compare equal. Indexes that only back a PRIMARY KEY or UNIQUE constraint are not
//! listed as indexes (the constraint is).

pub mod ddl;
mod dump;
pub(crate) mod names;
pub mod postgres;
pub mod sqlite;
mod steps;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

pub(crate) use dump::apply_statement;
pub use dump::DumpError;
pub use names::{expression_columns, object_key};

use crate::dialect::Dialect;

/// A database schema: its tables and views, by key (see the module documentation).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Schema {
    /// Tables by key.
    pub tables: BTreeMap<String, Table>,
    /// Views by key.
    pub views: BTreeMap<String, View>,
}

/// A table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Table {
    /// The key (`contacts`, or `audit.events` outside the default schema).
    pub name: String,
    /// Columns in table order.
    pub columns: Vec<Column>,
    /// The primary key, when there is one.
    pub primary_key: Option<PrimaryKey>,
    /// UNIQUE constraints (column-level ones included), sorted by name (unnamed first) and columns.
    pub uniques: Vec<Unique>,
    /// CHECK constraints (column-level ones included), sorted by name and expression.
    pub checks: Vec<Check>,
    /// FOREIGN KEY constraints (column-level `REFERENCES` included), sorted by name and columns.
    pub foreign_keys: Vec<ForeignKey>,
    /// Indexes created with `CREATE INDEX` (not those that only back a constraint), sorted by name.
    pub indexes: Vec<Index>,
    /// Triggers on the table, sorted by name.
    pub triggers: Vec<Trigger>,
    /// SQLite: the `CREATE TABLE` text as the database keeps it (a table rebuild re-creates it from this).
    pub sql: Option<String>,
}

/// A column.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Column {
    /// Name (folded).
    pub name: String,
    /// Declared type as `sqlparser` prints it (`CHARACTER VARYING(20)`, `TEXT`, `NUMERIC(3,2)`); empty for
    /// an SQLite column declared without a type.
    pub data_type: String,
    /// `NOT NULL` (a PostgreSQL primary key column always is).
    pub not_null: bool,
    /// The default expression.
    pub default: Option<String>,
    /// A generated column: its expression and whether it is STORED.
    pub generated: Option<Generated>,
    /// PostgreSQL identity: `ALWAYS` or `BY DEFAULT`.
    pub identity: Option<String>,
}

/// `GENERATED ALWAYS AS (expr) [STORED | VIRTUAL]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generated {
    /// The expression.
    pub expr: String,
    /// `STORED` (else virtual).
    pub stored: bool,
}

/// A primary key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrimaryKey {
    /// The constraint's name (PostgreSQL always has one; SQLite only when written).
    pub name: Option<String>,
    /// Key columns, in key order.
    pub columns: Vec<String>,
}

/// A UNIQUE constraint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unique {
    /// The constraint's name, when known.
    pub name: Option<String>,
    /// The columns.
    pub columns: Vec<String>,
}

/// A CHECK constraint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// The constraint's name, when known.
    pub name: Option<String>,
    /// The expression, without the `CHECK (...)` around it.
    pub expr: String,
    /// The table's columns the expression names.
    pub columns: Vec<String>,
    /// PostgreSQL `NOT VALID` (existing rows not checked yet).
    pub not_valid: bool,
}

/// A foreign key action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FkAction {
    /// `NO ACTION` (the default).
    NoAction,
    /// `RESTRICT`
    Restrict,
    /// `CASCADE`
    Cascade,
    /// `SET NULL`
    SetNull,
    /// `SET DEFAULT`
    SetDefault,
}

impl FkAction {
    /// The SQL words.
    pub fn sql(self) -> &'static str {
        match self {
            FkAction::NoAction => "NO ACTION",
            FkAction::Restrict => "RESTRICT",
            FkAction::Cascade => "CASCADE",
            FkAction::SetNull => "SET NULL",
            FkAction::SetDefault => "SET DEFAULT",
        }
    }
}

/// A FOREIGN KEY constraint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignKey {
    /// The constraint's name, when known.
    pub name: Option<String>,
    /// The referencing columns.
    pub columns: Vec<String>,
    /// The referenced table's key.
    pub ref_table: String,
    /// The referenced columns (empty: the referenced table's primary key).
    pub ref_columns: Vec<String>,
    /// `ON DELETE`.
    pub on_delete: FkAction,
    /// `ON UPDATE`.
    pub on_update: FkAction,
    /// PostgreSQL `NOT VALID`.
    pub not_valid: bool,
}

/// An index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Index {
    /// The index's key (its name; `schema.name` outside the default schema).
    pub name: String,
    /// `UNIQUE`.
    pub unique: bool,
    /// The keys.
    pub keys: Vec<IndexKey>,
    /// The predicate of a partial index.
    pub predicate: Option<String>,
    /// PostgreSQL access method when it is not btree (`gin`, `hash`, ...).
    pub method: Option<String>,
    /// The table's columns the keys and the predicate name.
    pub columns: Vec<String>,
    /// The `CREATE INDEX` text as the database gave it (`sqlite_schema`, `pg_get_indexdef`, the dump), used
    /// to re-create the index exactly.
    pub sql: Option<String>,
}

/// One key of an index: a column or an expression, with its order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexKey {
    /// The column name, or the expression as printed (`lower(email)`).
    pub expr: String,
    /// `true` when `expr` is a plain column name.
    pub is_column: bool,
    /// `DESC`.
    pub desc: bool,
}

/// A trigger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trigger {
    /// Name.
    pub name: String,
    /// Its definition (`CREATE TRIGGER ...`) as the database gives it.
    pub sql: String,
}

/// A view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct View {
    /// The key.
    pub name: String,
    /// Its definition (`CREATE VIEW ...` on SQLite, the query on PostgreSQL).
    pub sql: String,
    /// `MATERIALIZED`.
    pub materialized: bool,
    /// The table keys its text names.
    pub tables: Vec<String>,
}

impl Schema {
    /// The table `name` (folded: `Contacts` and `public.contacts` find `contacts`).
    pub fn table(&self, name: &str) -> Option<&Table> {
        self.tables.get(&object_key(name))
    }

    /// The column `table.column`.
    pub fn column(&self, table: &str, column: &str) -> Option<&Column> {
        self.table(table)?.column(column)
    }

    /// The index `name` and the table it is on.
    pub fn index(&self, name: &str) -> Option<(&Table, &Index)> {
        let key = object_key(name);
        self.tables
            .values()
            .find_map(|t| t.indexes.iter().find(|i| i.name == key).map(|i| (t, i)))
    }

    /// Every foreign key that references `table`, with the referencing table.
    pub fn referencing(&self, table: &str) -> Vec<(&Table, &ForeignKey)> {
        let key = object_key(table);
        self.tables
            .values()
            .flat_map(|t| t.foreign_keys.iter().map(move |fk| (t, fk)))
            .filter(|(_, fk)| fk.ref_table == key)
            .collect()
    }

    /// The views whose text names `table`.
    pub fn views_on(&self, table: &str) -> Vec<&View> {
        let key = object_key(table);
        self.views
            .values()
            .filter(|v| v.tables.contains(&key))
            .collect()
    }

    /// Reads a schema dump: `pg_dump --schema-only` output for [`Dialect::Postgres`], SQLite's `.schema`
    /// (or any `CREATE` script) for [`Dialect::Sqlite`]. `origin` names the text in errors. Statements that
    /// do not shape tables, indexes, triggers or views (SET, COMMENT, GRANT, functions, sequences, ...) are
    /// skipped and counted in [`DumpSummary`]; one that does but cannot be read is an error with its line.
    pub fn from_dump(
        text: &str,
        dialect: Dialect,
        origin: &str,
    ) -> Result<(Schema, DumpSummary), DumpError> {
        dump::read(text, dialect, origin)
    }
}

/// What [`Schema::from_dump`] read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DumpSummary {
    /// Statements applied to the schema.
    pub applied: usize,
    /// Statements skipped as not shaping tables (SET, COMMENT, functions, ...).
    pub skipped: usize,
}

impl Schema {
    /// Sorts what has no order of its own (constraints, indexes, triggers), so that two loaders of one
    /// database compare equal. Every loader ends with it.
    pub fn normalise(&mut self) {
        for t in self.tables.values_mut() {
            t.uniques
                .sort_by(|a, b| (&a.name, &a.columns).cmp(&(&b.name, &b.columns)));
            t.checks
                .sort_by(|a, b| (&a.name, &a.expr).cmp(&(&b.name, &b.expr)));
            t.foreign_keys
                .sort_by(|a, b| (&a.name, &a.columns).cmp(&(&b.name, &b.columns)));
            t.indexes.sort_by(|a, b| a.name.cmp(&b.name));
            t.triggers.sort_by(|a, b| a.name.cmp(&b.name));
        }
    }
}

impl Table {
    /// The column `name` (folded).
    pub fn column(&self, name: &str) -> Option<&Column> {
        let key = names::fold(name);
        self.columns.iter().find(|c| c.name == key)
    }

    /// `true` when `column` is the whole primary key or the whole of a UNIQUE constraint or unique index
    /// without a predicate: a foreign key may reference it.
    pub fn is_unique_key(&self, columns: &[String]) -> bool {
        let same = |cols: &[String]| cols == columns;
        self.primary_key
            .as_ref()
            .is_some_and(|pk| same(&pk.columns))
            || self.uniques.iter().any(|u| same(&u.columns))
            || self.indexes.iter().any(|i| {
                i.unique
                    && i.predicate.is_none()
                    && i.keys.iter().all(|k| k.is_column)
                    && i.keys.iter().map(|k| &k.expr).eq(columns.iter())
            })
    }

    /// The primary key's columns (empty without one).
    pub fn primary_key_columns(&self) -> &[String] {
        self.primary_key
            .as_ref()
            .map_or(&[][..], |pk| pk.columns.as_slice())
    }
}

impl fmt::Display for Column {
    /// `name TYPE [NOT NULL] [DEFAULT x]`, for messages and docs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.name)?;
        if !self.data_type.is_empty() {
            write!(f, " {}", self.data_type)?;
        }
        if let Some(g) = &self.generated {
            write!(
                f,
                " GENERATED ALWAYS AS ({}){}",
                g.expr,
                if g.stored { " STORED" } else { "" }
            )?;
        }
        if let Some(i) = &self.identity {
            write!(f, " GENERATED {i} AS IDENTITY")?;
        }
        if self.not_null {
            write!(f, " NOT NULL")?;
        }
        if let Some(d) = &self.default {
            write!(f, " DEFAULT {d}")?;
        }
        Ok(())
    }
}

/// Why a schema could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SchemaError {
    /// The migrations directory could not be read, or a file in it is malformed.
    #[error("cannot load the migrations of {dir}: {message}")]
    Load {
        /// The directory.
        dir: PathBuf,
        /// The format crate's message (file and line).
        message: String,
    },
    /// A migration failed while replaying the directory on a scratch database.
    #[error("replaying {dir} on {engine} failed (the schema cannot be known): {message}")]
    Replay {
        /// The directory.
        dir: PathBuf,
        /// `SQLite` or `PostgreSQL`.
        engine: &'static str,
        /// The runtime's message (migration, statement, line, the database's message).
        message: String,
    },
    /// The database could not be read (no credentials in the message).
    #[error("{0}")]
    Database(String),
    /// A schema dump could not be read.
    #[error(transparent)]
    Dump(#[from] DumpError),
}

/// How a schema was replayed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replay {
    /// Migrations applied.
    pub migrations: usize,
    /// Where: `SQLite in memory`, `PostgreSQL (scratch database ...)`.
    pub engine: String,
}

/// The migration set of `dir`, read as the runtime reads it.
fn load_set(dir: &Path) -> Result<migrator::MigrationSet, SchemaError> {
    migrator::MigrationSet::from_dir(dir).map_err(|e| SchemaError::Load {
        dir: dir.to_path_buf(),
        message: e.to_string(),
    })
}

/// The runtime's configuration for a replay on a scratch database: no backup, no rehearsal, no review or
/// row-limit refusals (the files are only run to see the schema they build), out-of-order allowed.
fn replay_config() -> migrator::Config {
    migrator::Config {
        require_backup: false,
        require_test_run: false,
        require_review: Vec::new(),
        max_rows_affected: None,
        allow_out_of_order: true,
        ..migrator::Config::default()
    }
}
