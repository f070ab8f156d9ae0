//! The engines behind one small trait. The algorithm (validate, plan, apply in order, stop on the first
//! failure, report) lives in [`crate::Migrator`]; a backend only knows how to run one migration atomically
//! with its history row, how to lock, and how to read and write history.

#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "sqlite")]
pub mod sqlite;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::{Config, Error, HistoryRow, Migration, Status};

/// Which way a migration runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// The UP section.
    Up,
    /// The DOWN section.
    Down,
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Direction::Up => "UP",
            Direction::Down => "DOWN",
        })
    }
}

/// The database engine of a backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// SQLite.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

impl Engine {
    /// The engine's name as users know it.
    pub fn name(self) -> &'static str {
        match self {
            Engine::Sqlite => "SQLite",
            Engine::Postgres => "PostgreSQL",
        }
    }
}

/// A statement that failed inside a migration.
#[derive(Debug, Clone)]
pub struct StatementFailure {
    /// 0-based index of the statement in the section; `None` when the failure came after the statements
    /// (the history write, a foreign key check).
    pub index: Option<usize>,
    /// The database's message.
    pub message: String,
    /// `true` when the database dropped the whole run's transaction, not only this migration.
    pub run_rolled_back: bool,
}

/// One object of a schema fingerprint: `kind` (`column`, `index`, `constraint`, `trigger`, ...), a
/// qualified `name`, and its `definition` as the database describes it (normalised where the database
/// keeps the text as written).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct SchemaObject {
    /// What kind of object.
    pub kind: String,
    /// Its name, qualified by its table where it belongs to one (`contacts.email`).
    pub name: String,
    /// Its definition.
    pub definition: String,
}

impl fmt::Display for SchemaObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.kind, self.name, self.definition)
    }
}

/// One database engine. A run is `begin_run`, then `apply` / `record_failure` per migration, then
/// `finish_run`; `read_history` may be called without a run (the lock-free boot check).
pub trait Backend {
    /// The engine.
    fn engine(&self) -> Engine;

    /// Reads `schema_migrations`, sorted by version; an empty list when the table does not exist yet.
    fn read_history(&mut self) -> Result<Vec<HistoryRow>, Error>;

    /// Visits `(version, checksum, status)` of every history row in version order, for the boot check's
    /// fast path (nothing pending); the default reads full rows, engines may avoid allocating. Returns
    /// `false` when the history table does not exist.
    fn scan_history(
        &mut self,
        visit: &mut dyn FnMut(u64, Option<&str>, &str),
    ) -> Result<bool, Error> {
        let rows = self.read_history()?;
        for row in &rows {
            visit(row.version, row.checksum.as_deref(), row.status.as_str());
        }
        Ok(!rows.is_empty())
    }

    /// A name for this database's backup files (SQLite: the file name; PostgreSQL: the database name).
    fn backup_stem(&self) -> Option<String> {
        None
    }

    /// The extension of this engine's backup files.
    fn backup_extension(&self) -> &'static str {
        "backup"
    }

    /// Where backups go when the configuration names no directory.
    fn default_backup_dir(&self) -> Option<PathBuf> {
        None
    }

    /// Writes a consistent, checked copy of the database to `target` (owner-only permissions). `Ok(false)`:
    /// this engine or connection cannot make one (the caller refuses when the policy requires a backup).
    fn backup(&mut self, target: &Path) -> Result<bool, Error> {
        let _ = target;
        Ok(false)
    }

    /// Replaces the database's content with a backup made by [`Backend::backup`].
    fn restore(&mut self, backup: &Path) -> Result<(), Error> {
        Err(Error::Usage(format!(
            "this engine cannot restore {}",
            backup.display()
        )))
    }

    /// The schema as comparable objects (tables' columns and constraints, indexes, views, triggers,
    /// functions, types), without migrator's own tables, sorted: the rehearsal compares them before an UP
    /// and after its DOWN. With `tables`, only the objects that belong to those tables (matched without
    /// regard to case or schema), plus every object that belongs to no table (functions, types, ...): the
    /// rehearsal's per-migration check, which must not cost a full schema read per step.
    fn schema_fingerprint(&mut self, tables: Option<&[&str]>) -> Result<Vec<SchemaObject>, Error>;

    /// Makes a scratch copy of this database (from `from_backup`, a backup file this backend made, when
    /// given; else a fresh copy), runs `rehearse` against a backend over the copy, and throws the copy
    /// away on every path. `Ok(false)`: this engine or connection cannot make a scratch copy.
    fn with_scratch_copy(
        &mut self,
        from_backup: Option<&Path>,
        rehearse: &mut dyn FnMut(&mut dyn Backend) -> Result<(), Error>,
    ) -> Result<bool, Error> {
        let _ = (from_backup, rehearse);
        Ok(false)
    }

    /// The engine's own health checks after applying (SQLite: `quick_check` or `integrity_check`, and
    /// `foreign_key_check`; PostgreSQL: invalid indexes). Returns the problems found, empty when healthy.
    fn health_problems(&mut self, full_integrity_check: bool) -> Result<Vec<String>, Error> {
        let _ = full_integrity_check;
        Ok(Vec::new())
    }

    /// Runs a user health check: a query whose first column of its first row must be true (or non-zero).
    fn check_query(&mut self, sql: &str) -> Result<bool, Error>;

    /// Adds an event to `schema_migrations_log` (health-check outcomes and the like).
    fn record_event(&mut self, version: u64, action: &str, detail: &str) -> Result<(), Error>;

    /// Takes the migration lock (waiting at most `config.lock_wait`), creates the history tables if needed,
    /// and keeps what else of `config` the engine applies per migration (timeouts, retries).
    fn begin_run(&mut self, config: &Config) -> Result<(), Error>;

    /// Runs one migration's UP or DOWN and its history write as one atomic unit; returns its duration.
    /// On failure nothing of this migration is left behind.
    fn apply(
        &mut self,
        migration: &Migration,
        direction: Direction,
    ) -> Result<Duration, StatementFailure>;

    /// Records a failure in the history (after `apply` returned it).
    fn record_failure(
        &mut self,
        migration: &Migration,
        direction: Direction,
        message: &str,
    ) -> Result<(), Error>;

    /// Sets a migration's status by hand (operator repair: `--migrate-mark`), and with `checksum` records a
    /// new checksum (`--migrate-repair`).
    fn mark(
        &mut self,
        migration_version: u64,
        status: Status,
        checksum: Option<&str>,
    ) -> Result<(), Error>;

    /// Ends the run: commits what `apply` did (when `commit`), releases the lock.
    fn finish_run(&mut self, commit: bool) -> Result<(), Error>;

    /// The server's name and version, `PostgreSQL 15.8` or `SQLite 3.50.2` (the PostgreSQL major version
    /// selects the analyser's lock rules).
    fn server_version(&mut self) -> Result<String, Error>;

    /// The size of `table` as the database reports it: PostgreSQL's catalog estimate (`reltuples`) or
    /// SQLite's `sqlite_stat1`, and with `exact` (or when the catalog knows nothing) a `count(*)`.
    /// `Ok(None)` when there is no such table. The name is passed as data, never spliced into SQL.
    fn table_stats(&mut self, table: &str, exact: bool) -> Result<Option<TableStats>, Error>;

    /// The rows an UPDATE or DELETE would touch (or an INSERT add), without running it: SQLite counts the
    /// rows its WHERE (an INSERT's source query) selects, PostgreSQL reads the planner's `EXPLAIN` estimate.
    /// `Ok(None)` when it cannot tell: another kind of statement, or a table or column that does not exist
    /// yet (an earlier pending migration creates it).
    fn estimate_rows(&mut self, sql: &str) -> Result<Option<u64>, Error>;

    /// The exact number of rows an UPDATE or DELETE would touch (or an INSERT add): a `count(*)` over its
    /// WHERE (its source query), which costs a scan. The preview's duration estimate uses it; the boot's
    /// `max_rows_affected` check uses the cheaper [`Backend::estimate_rows`]. `Ok(None)` as there.
    fn count_affected(&mut self, sql: &str) -> Result<Option<u64>, Error>;

    /// The exact number of rows of `table`, or with `non_null` of the rows where that column is not NULL
    /// (the data a DROP COLUMN loses). Both names are quoted by the backend.
    fn count_rows(&mut self, table: &str, non_null: Option<&str>) -> Result<u64, Error>;

    /// The average bytes per row of the values of `columns` of `table` together (an index key's width):
    /// PostgreSQL's `pg_stats.avg_width` (known after ANALYZE), SQLite's average length over the first
    /// 1,000 rows. `Ok(None)` when unknown (no such table or column, no statistics). Names are quoted.
    fn key_width(&mut self, table: &str, columns: &[&str]) -> Result<Option<f64>, Error>;

    /// Runs `sql` (a batch that returns no rows) and returns its wall time. The calibration of
    /// [`crate::live`] times its sample work on scratch tables with it; nothing else should need it.
    fn time_batch(&mut self, sql: &str) -> Result<Duration, Error>;
}

/// The size of one table as the database reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableStats {
    /// The table, as named by the caller.
    pub table: String,
    /// Rows: a catalog estimate, or a count when `exact`.
    pub rows: u64,
    /// `true` when `rows` comes from `count(*)`.
    pub exact: bool,
    /// Bytes of the table's own pages (PostgreSQL: heap and TOAST; SQLite: its b-tree, from `dbstat`).
    pub table_bytes: u64,
    /// Bytes of its indexes.
    pub index_bytes: u64,
}

/// The SQL dialect [`rows_query`] parses.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
#[derive(Debug, Clone, Copy)]
pub(crate) enum SqlDialect {
    #[cfg(feature = "sqlite")]
    Sqlite,
    #[cfg(feature = "postgres")]
    Postgres,
}

/// The `SELECT <projection>` over the rows an UPDATE or DELETE selects (its table with alias and joins, an
/// UPDATE's FROM list, and its WHERE), or over the rows an INSERT's source query yields: what `Backend::estimate_rows` counts (SQLite) or asks the planner
/// about when the statement itself cannot be planned yet (PostgreSQL: it sets a column an earlier statement
/// adds). `None` for anything else or what sqlparser cannot read.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) fn rows_query(sql: &str, dialect: SqlDialect, projection: &str) -> Option<String> {
    use sqlparser::ast::{FromTable, Statement, UpdateTableFromKind};
    let statements = match dialect {
        #[cfg(feature = "sqlite")]
        SqlDialect::Sqlite => {
            sqlparser::parser::Parser::parse_sql(&sqlparser::dialect::SQLiteDialect {}, sql)
        }
        #[cfg(feature = "postgres")]
        SqlDialect::Postgres => {
            sqlparser::parser::Parser::parse_sql(&sqlparser::dialect::PostgreSqlDialect {}, sql)
        }
    }
    .ok()?;
    let [statement] = statements.as_slice() else {
        return None;
    };
    let (mut from, selection) = match statement {
        Statement::Update(u) => {
            let mut from = vec![u.table.to_string()];
            if let Some(UpdateTableFromKind::AfterSet(t) | UpdateTableFromKind::BeforeSet(t)) =
                &u.from
            {
                from.extend(t.iter().map(ToString::to_string));
            }
            (from, u.selection.as_ref())
        }
        Statement::Delete(d) => {
            let (FromTable::WithFromKeyword(t) | FromTable::WithoutKeyword(t)) = &d.from;
            (
                t.iter().map(ToString::to_string).collect::<Vec<_>>(),
                d.selection.as_ref(),
            )
        }
        // The rows an INSERT adds: those its source query (SELECT or VALUES) yields.
        Statement::Insert(i) => {
            let source = i.source.as_ref()?;
            return Some(format!(
                "SELECT {projection} FROM ({source}) AS source_rows"
            ));
        }
        _ => return None,
    };
    if from.is_empty() {
        return None;
    }
    from.dedup();
    let filter = selection.map(|e| format!(" WHERE {e}")).unwrap_or_default();
    Some(format!(
        "SELECT {projection} FROM {}{filter}",
        from.join(", ")
    ))
}
