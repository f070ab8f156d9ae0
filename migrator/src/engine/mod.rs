//! The engines behind one small trait.
//!
//! An [`Engine`] knows five things: the facts of its SQL dialect ([`Dialect`]), how to take the migration
//! lock (a guard that releases it when dropped), and how to run SQL: a batch, one statement with its count
//! of affected rows, and a query with its rows. Everything else is written once, over that trait: the
//! history store ([`crate::history`]), the algorithm (plan, apply, roll back, rehearse, health checks in
//! [`crate::run`]). What only some engines can do is a capability trait an engine may offer
//! ([`Backup`], [`ScratchCopy`], [`Fingerprint`], [`Stats`]); a policy that needs a capability the
//! engine lacks is refused before anything runs, naming it.
//!
//! Adding an engine is one file: a type that implements [`Engine`] (and the capabilities it can offer),
//! a `const` [`Dialect`], and a line in the test matrix (`tests/support`). `mysql.rs` is the smallest
//! complete example.

#[cfg(any(feature = "postgres", feature = "mysql"))]
mod heartbeat;
#[cfg(feature = "mysql")]
pub mod mysql;
#[cfg(feature = "mysql")]
mod mysql_copy;
#[cfg(feature = "mysql")]
mod mysql_schema;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "postgres")]
mod postgres_copy;
#[cfg(feature = "postgres")]
mod postgres_schema;
#[cfg(feature = "sqlite")]
pub mod sqlite;
#[cfg(feature = "sqlite")]
mod sqlite_copy;
#[cfg(feature = "sqlite")]
mod sqlite_file_copy;
#[cfg(feature = "sqlite")]
mod sqlite_page_copy;
#[cfg(feature = "sqlite")]
mod sqlite_schema;
#[cfg(feature = "sqlite")]
mod sqlite_schema_copy;
#[cfg(feature = "sqlite")]
mod sqlite_schema_mirror;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::Error;

pub use migrator_format::EngineKind;

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

/// How much of a run the engine can make atomic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Atomicity {
    /// The whole run is one transaction, opened by the lock (SQLite's `BEGIN IMMEDIATE`); each migration
    /// is a savepoint in it, and the run commits once.
    RunTransaction,
    /// Each migration is its own transaction, committed with its history row (PostgreSQL).
    MigrationTransaction,
    /// DDL commits implicitly (MySQL, MariaDB): a migration is recorded `running` before its statements
    /// and `applied` after them, as a no-transaction migration is everywhere.
    None,
}

/// The facts of an engine's SQL that the history store and the algorithm need. Each engine file holds
/// one as a `const`.
#[derive(Debug)]
pub struct Dialect {
    /// Which engine.
    pub kind: EngineKind,
    /// What a run can make atomic.
    pub atomicity: Atomicity,
    /// Starts a migration's transaction (`BEGIN`, `START TRANSACTION`).
    pub begin: &'static str,
    /// Column types of the history tables: a 64-bit integer, text, a timestamp, and the log's id column.
    pub bigint: &'static str,
    /// Text of any length.
    pub text: &'static str,
    /// A point in time, written with `CURRENT_TIMESTAMP` (UTC).
    pub timestamp: &'static str,
    /// The definition of the log table's id column (an auto-incrementing primary key).
    pub serial_id: &'static str,
    /// The current time in UTC as the history's timestamp columns store it.
    pub now: &'static str,
    /// An expression that reads the timestamp column `{}` as `YYYY-MM-DD HH:MM:SS` (UTC).
    pub timestamp_text: &'static str,
    /// The upsert clause the claim of an UP uses.
    pub upsert: Upsert,
    /// `true` when a backslash escapes in string literals (MySQL's default), so it must be doubled.
    pub backslash_escapes: bool,
    /// `true` when string literals need PostgreSQL's `E'...'` form to take backslashes as escapes
    /// (safe whatever `standard_conforming_strings` says).
    pub e_strings: bool,
    /// The character that quotes identifiers.
    pub ident_quote: char,
    /// An expression of the milliseconds since the current batch reached the server, when the engine has
    /// one: the history row's `execution_ms` is then written in the migration's own batch.
    pub elapsed_ms: Option<&'static str>,
}

/// How an engine writes "insert, or update when allowed".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upsert {
    /// `INSERT ... ON CONFLICT (version) DO UPDATE SET ... WHERE ...` (PostgreSQL, SQLite).
    OnConflict,
    /// `INSERT ... ON DUPLICATE KEY UPDATE col = IF(cond, VALUES(col), col)` (MySQL, MariaDB).
    OnDuplicateKey,
}

impl Dialect {
    /// `name` quoted as an identifier.
    pub fn ident(&self, name: &str) -> String {
        let q = self.ident_quote;
        let doubled = format!("{q}{q}");
        format!("{q}{}{q}", name.replace(q, &doubled))
    }

    /// `text` as a string literal, safe in this dialect.
    pub fn literal(&self, text: &str) -> String {
        let mut escaped = text.replace('\'', "''");
        if self.backslash_escapes || self.e_strings {
            escaped = escaped.replace('\\', "\\\\");
        }
        if self.e_strings {
            format!("E'{escaped}'")
        } else {
            format!("'{escaped}'")
        }
    }

    /// An optional literal, or `NULL`.
    pub fn literal_or_null(&self, text: Option<&str>) -> String {
        text.map_or_else(|| "NULL".to_string(), |t| self.literal(t))
    }
}

/// One value of a row an engine returns.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// SQL NULL.
    Null,
    /// An integer (any width) or a boolean as 0/1.
    Int(i64),
    /// A floating point or numeric value.
    Float(f64),
    /// Text (and anything the engine renders as text).
    Text(String),
}

impl Value {
    /// The value as an integer, when it is one (or text that reads as one).
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(n) => Some(*n),
            Value::Float(f) => Some(*f as i64),
            Value::Text(t) => t.trim().parse().ok(),
            Value::Null => None,
        }
    }

    /// The value as a float.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(n) => Some(*n as f64),
            Value::Float(f) => Some(*f),
            Value::Text(t) => t.trim().parse().ok(),
            Value::Null => None,
        }
    }

    /// The value as text; numbers are rendered, NULL is `None`.
    pub fn as_text(&self) -> Option<String> {
        match self {
            Value::Null => None,
            Value::Int(n) => Some(n.to_string()),
            Value::Float(f) => Some(f.to_string()),
            Value::Text(t) => Some(t.clone()),
        }
    }

    /// SQL truth as a health check reads it: a non-zero number, or `true`/`t`/`1` as text.
    pub fn is_true(&self) -> bool {
        match self {
            Value::Int(n) => *n != 0,
            Value::Float(f) => *f != 0.0,
            Value::Text(t) => matches!(t.as_str(), "true" | "t" | "1" | "TRUE"),
            Value::Null => false,
        }
    }
}

/// One row of a query.
pub type Row = Vec<Value>;

/// What kind of database error, as far as the algorithm needs to tell them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbErrorKind {
    /// A lock could not be had within the lock timeout (PostgreSQL 55P03, MySQL 1205): retried.
    LockTimeout,
    /// SQLite's database is busy or locked.
    Busy,
    /// The database ended this transaction to resolve a conflict with another one: a deadlock it broke
    /// (PostgreSQL 40P01, MySQL 1213), or a row another transaction changed after this one's snapshot
    /// under REPEATABLE READ or SERIALIZABLE (PostgreSQL 40001). The transaction was rolled back whole,
    /// and running it again is safe: retried like a lock timeout.
    Conflict,
    /// A unique key was violated.
    UniqueViolation,
    /// A table or column does not exist (yet).
    MissingObject,
    /// The connection to the server is gone.
    ConnectionLost,
    /// Anything else.
    Other,
}

/// An error from the database, with everything it said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbError {
    /// What kind of error.
    pub kind: DbErrorKind,
    /// The primary message.
    pub message: String,
    /// PostgreSQL's DETAIL.
    pub detail: Option<String>,
    /// PostgreSQL's HINT.
    pub hint: Option<String>,
    /// The 1-based character position in the statement the server points at.
    pub position: Option<u32>,
}

impl DbError {
    /// An error of `kind` with a message only.
    pub fn new(kind: DbErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            detail: None,
            hint: None,
            position: None,
        }
    }
}

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message.trim_end())?;
        // A DETAIL of several lines (a deadlock's, one line per process) keeps them under its label.
        let indented = |text: &str| text.trim_end().replace('\n', "\n            ");
        if let Some(detail) = &self.detail {
            write!(f, "\n    DETAIL: {}", indented(detail))?;
        }
        if let Some(hint) = &self.hint {
            write!(f, "\n    HINT: {}", indented(hint))?;
        }
        Ok(())
    }
}

impl std::error::Error for DbError {}

/// The migration lock, held until the guard is dropped.
pub trait LockGuard {
    /// `Err` when the lock is known to be lost (its connection died): the run must stop.
    fn check(&mut self) -> Result<(), Error> {
        Ok(())
    }
}

/// A lock that needs no release of its own (SQLite's lock is the run's transaction).
pub struct TransactionLock;

impl LockGuard for TransactionLock {}

/// Where the engine's own checks after a boot may stop: what the boot's migrations can have changed
/// (`run/health.rs` decides it; `None` in its place means the whole database).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckScope {
    /// The tables the boot's migrations name (created, altered, dropped, written), lower-case; after a
    /// boot, not those of a migration that only created new objects (nothing there for a check to find).
    pub named: Vec<String>,
    /// Of those, the tables whose rows a migration may have written: every table of a migration that
    /// holds a statement other than a schema-only one (`CREATE TABLE` with columns, `CREATE INDEX`,
    /// `ALTER TABLE`, ...), or a `DROP TABLE`.
    pub written: Vec<String>,
    /// Whether a boot's migration ran outside a transaction (`no-transaction`): only such a migration
    /// can leave something half-built behind (PostgreSQL: the INVALID index of a failed concurrent
    /// build), as a transaction that fails leaves nothing.
    pub outside_a_transaction: bool,
}

/// One database engine: the few things the algorithm cannot do in portable SQL.
pub trait Engine {
    /// The facts of this engine's SQL.
    fn dialect(&self) -> &'static Dialect;

    /// Takes the migration lock named `name` (the history table's name: two histories in one database
    /// lock apart), waiting at most `wait`; the guard releases it when dropped. For an engine whose
    /// [`Atomicity`] is `RunTransaction` the lock is the run's transaction, opened here and ended by
    /// [`Engine::end_run`].
    fn lock(&mut self, name: &str, wait: Duration) -> Result<Box<dyn LockGuard>, Error>;

    /// Runs SQL that returns no rows: one statement or several separated by `;`.
    fn execute(&mut self, sql: &str) -> Result<(), DbError>;

    /// Runs one statement and returns the number of rows it inserted, updated or deleted.
    fn execute_count(&mut self, sql: &str) -> Result<u64, DbError>;

    /// Runs one query and returns its rows.
    fn query(&mut self, sql: &str) -> Result<Vec<Row>, DbError>;

    /// Whether each of `tables` exists where an unqualified `CREATE TABLE` puts it, when the engine can
    /// tell without running a statement (SQLite: its schema is in memory); `None`, the default, when it
    /// cannot. The history's `CREATE TABLE IF NOT EXISTS` is skipped when both tables are known.
    fn tables_known(&mut self, tables: &[&str]) -> Option<Vec<bool>> {
        let _ = tables;
        None
    }

    /// Which of `tables` (unqualified, as a query names them) exist, one answer each. The default asks
    /// each with a query that reads no row; an engine whose server logs failed statements (PostgreSQL)
    /// looks them up in its catalog instead, so a boot does not fill the server's log with errors.
    fn tables_exist(&mut self, tables: &[&str]) -> Result<Vec<bool>, DbError> {
        let d = self.dialect();
        tables
            .iter()
            .map(
                |t| match self.query(&format!("SELECT 1 FROM {} WHERE 1 = 0", d.ident(t))) {
                    Ok(_) => Ok(true),
                    Err(e) if e.kind == DbErrorKind::MissingObject => Ok(false),
                    Err(e) => Err(e),
                },
            )
            .collect()
    }

    /// The schema the history store names in every statement (so that a migration that moves
    /// `search_path` cannot send a history write elsewhere), when the engine has schemas: the one where
    /// the search path finds `table`, as the boot check's unqualified read does, or where new tables go
    /// (PostgreSQL's `current_schema()`) when it finds none. A schema put in front of the history's on
    /// the search path between deploys must not hide the history, or every migration would run again.
    fn history_schema(&mut self, table: &str) -> Option<String> {
        let _ = table;
        None
    }

    /// SQL to run before and after a read of the history outside a run, so that the read waits for a
    /// lock on the history table at most `wait` (PostgreSQL: a read-only transaction with a
    /// `lock_timeout`). `None`: reads cannot block for long on this engine.
    fn read_guard(&self, wait: Duration) -> Option<(String, String)> {
        let _ = wait;
        None
    }

    /// Told when a run is about to take the lock (a boot found something pending), before it reads the
    /// history in full and plans: an engine whose lock needs a connection of its own may start opening it
    /// now, beside those reads. [`Engine::lock`] uses it (or opens one itself when this was not called).
    /// Returns `true` when that connection is being opened on another thread: work sent on this
    /// connection meanwhile (the history's tables on a first boot) costs the boot no waiting.
    fn lock_ahead(&mut self) -> bool {
        false
    }

    /// Statements that take the migration lock `name` for the current transaction only, when no one
    /// holds it, then check `condition` (an SQL boolean, read after the lock is taken), and otherwise
    /// fail the transaction with `marker` in the error message. With them a short run (a boot applying
    /// migrations on a live database, with no backup or rehearsal to protect) needs no lock of its own:
    /// each migration's transaction locks for itself and checks that the history is still as planned
    /// (PostgreSQL: a transaction-level advisory lock on the key of [`Engine::lock`], which a session
    /// holding that lock excludes, and which the commit releases). `None` (the default): every run
    /// takes [`Engine::lock`]. Also sets the lock name that [`Engine::opening_sql`] uses, as
    /// [`Engine::lock`] does.
    fn transaction_lock_sql(
        &mut self,
        name: &str,
        condition: &str,
        marker: &str,
    ) -> Option<String> {
        let _ = (name, condition, marker);
        None
    }

    /// A number that changes whenever *another* connection commits to the database (SQLite's
    /// `PRAGMA data_version`): read before the history and again under the lock, an unchanged number
    /// means the history read before the lock still holds and need not be read again. `None`: the
    /// engine has no such number, and the history is read again under the lock.
    fn commits_by_others(&mut self) -> Option<i64> {
        None
    }

    /// [`Engine::commits_by_others`] as an SQL expression, read with the boot check's scan of the
    /// history in one statement (SQLite: `pragma_data_version`), so that the number and the rows come
    /// from one snapshot: a boot whose check found new migrations after the history as embedded can then
    /// take its plan from the check, and under the lock read nothing when the number has not moved.
    fn commits_by_others_sql(&self) -> Option<&'static str> {
        None
    }

    /// Ends a run: commits (or rolls back) what a `RunTransaction` engine kept open, and restores the
    /// connection's settings. Called on every path after a successful [`Engine::lock`].
    fn end_run(&mut self, commit: bool) -> Result<(), DbError> {
        let _ = commit;
        Ok(())
    }

    /// Called after each migration of a `RunTransaction` run succeeded (SQLite's `commit_each` commits
    /// there and opens the next transaction). `Ok(true)` when it did: another process may have written
    /// in between, so the run can no longer rely on the history it read under its lock.
    fn checkpoint(&mut self) -> Result<bool, DbError> {
        Ok(false)
    }

    /// Sets the timeouts of the statements that follow in the current transaction (PostgreSQL's
    /// `set_config(..., true)`, as `SET LOCAL`), or of the session for engines without transactional DDL.
    fn timeouts_sql(&self, lock_timeout: Duration, statement_timeout: Option<Duration>) -> String {
        let _ = (lock_timeout, statement_timeout);
        String::new()
    }

    /// Sets the session's timeouts for a migration that runs without a transaction, and returns the SQL
    /// that puts back the values it found (empty when the engine has none).
    fn session_timeouts(
        &mut self,
        lock_timeout: Duration,
        statement_timeout: Option<Duration>,
    ) -> Result<String, DbError> {
        let _ = (lock_timeout, statement_timeout);
        Ok(String::new())
    }

    /// What a migration's transaction runs right after `BEGIN`: the timeouts of [`Engine::timeouts_sql`]
    /// and, with `take_lock`, the transaction-level lock a successor waits on (PostgreSQL's advisory lock,
    /// see `postgres.rs`). An engine that can set both in one statement says so here (PostgreSQL: one
    /// `SELECT` instead of three statements in every migration's transaction).
    fn opening_sql(
        &self,
        lock_timeout: Duration,
        statement_timeout: Option<Duration>,
        take_lock: bool,
    ) -> String {
        let _ = take_lock;
        self.timeouts_sql(lock_timeout, statement_timeout)
    }

    /// `dml` (one INSERT, UPDATE or DELETE) as a statement that fails, with `marker` in its error message,
    /// when it affects no row: a history claim written this way travels in the same round trip as the
    /// statements it guards, which then never run when the claim is lost. `None` (the default): the
    /// engine cannot, and the claim is sent on its own.
    fn guarded_sql(&self, dml: &str, marker: &str) -> Option<String> {
        let _ = (dml, marker);
        None
    }

    /// `Ok(true)` when the database holds no application table yet (no table but `own`, migrator's
    /// history tables): nothing else can be blocked, so a `MigrationTransaction` engine may apply the whole
    /// run as one transaction (a savepoint per migration, as SQLite does). `Ok(false)`, the default, keeps
    /// a transaction per migration. The in-place rehearsal asks it too: on a database without data,
    /// migrations that only change the schema need no UP again (`run/down_chain.rs`).
    fn is_fresh(&mut self, own: &[&str]) -> Result<bool, DbError> {
        let _ = own;
        Ok(false)
    }

    /// A check after each migration, in its transaction: a problem that fails the migration (SQLite:
    /// foreign key violations when the host enforces them).
    fn after_migration(&mut self) -> Result<Option<String>, DbError> {
        Ok(None)
    }

    /// After a failed migration: what else helps the operator (the locks other sessions hold on
    /// `tables`, INVALID indexes a failed concurrent build left).
    fn diagnose(&mut self, failure: &DbError, tables: &[&str]) -> Option<String> {
        let _ = (failure, tables);
        None
    }

    /// The engine's own health checks after applying (integrity, invalid indexes); empty when healthy.
    /// `scope`: what the applied migrations can have changed, where the checks may stop (an engine widens
    /// it to what those tables' writes can reach, or checks everything); `None`: the whole database.
    fn health_problems(
        &mut self,
        full_integrity_check: bool,
        scope: Option<&CheckScope>,
    ) -> Result<Vec<String>, Error> {
        let _ = (full_integrity_check, scope);
        Ok(Vec::new())
    }

    /// The server's name and version, `PostgreSQL 15.8` or `SQLite 3.50.2`.
    fn server_version(&mut self) -> Result<String, Error> {
        Ok(self.dialect().kind.name().to_string())
    }

    /// Backups, when the engine can make them.
    fn backup(&mut self) -> Option<&mut dyn Backup> {
        None
    }

    /// Scratch copies (the rehearsal), when the engine can make them.
    fn scratch(&mut self) -> Option<&mut dyn ScratchCopy> {
        None
    }

    /// Schema fingerprints (the rehearsal's comparison), when the engine can read them.
    fn fingerprint(&mut self) -> Option<&mut dyn Fingerprint> {
        None
    }

    /// Size statistics and row estimates (the row limit, the preview), when the engine has them.
    fn stats(&mut self) -> Option<&mut dyn Stats> {
        None
    }
}

/// Capability: checked backups of the database, and restoring them.
pub trait Backup {
    /// What identifies this database among others (SQLite: the canonical file path; PostgreSQL: the
    /// server and database): backups are filed and listed under it, never under a name prefix alone.
    fn identity(&mut self) -> Result<String, Error>;

    /// A short, readable name for backup files (the file or database name).
    fn stem(&self) -> String;

    /// The extension of this engine's backup files.
    fn extension(&self) -> &'static str;

    /// Where backups go when the configuration names no directory.
    fn default_dir(&self) -> Option<PathBuf>;

    /// Writes a consistent, checked copy of the database to `target` (owner-only permissions).
    fn write_backup(&mut self, target: &Path, lock_timeout: Duration) -> Result<(), Error>;

    /// Starts the backup of [`Backup::write_backup`] and may return before it is written, durable and
    /// checked: the state it copies is fixed when this returns (nothing the caller does next changes what
    /// is copied), and the rest runs on threads of its own until [`crate::backup::PendingBackup::wait`].
    /// A caller must wait before it commits anything (SQLite: a commit would wait for the backup's read
    /// transactions anyway). The default writes the backup whole.
    fn start_backup(
        &mut self,
        target: &Path,
        lock_timeout: Duration,
    ) -> Result<crate::backup::PendingBackup, Error> {
        self.write_backup(target, lock_timeout)?;
        Ok(crate::backup::PendingBackup::written(target))
    }

    /// Replaces the database's content with a backup made by [`Backup::write_backup`]; a failure
    /// leaves the database as it was.
    fn restore(&mut self, backup: &Path) -> Result<(), Error>;
}

/// What a scratch copy starts from.
#[derive(Debug, Clone, Copy)]
pub enum CopyFrom<'a> {
    /// A backup this engine has just made (no second read of the database).
    Backup(&'a Path),
    /// The database as it is now.
    Current,
    /// Nothing: an empty database of the same engine (rehearsing a whole history).
    Empty,
}

/// Capability: a throwaway copy of the database to rehearse on.
pub trait ScratchCopy {
    /// Makes a scratch copy `from` a backup, the current state or nothing, runs `run` against an engine
    /// over it, and throws the copy away on every path.
    fn with_scratch_copy(
        &mut self,
        from: CopyFrom<'_>,
        run: &mut dyn FnMut(&mut dyn Engine) -> Result<(), Error>,
    ) -> Result<(), Error>;

    /// `true` when the run's own transaction can stand in for the scratch copy: the engine applies a
    /// whole run in one transaction that no other connection sees before it commits, and undoes any part
    /// of it with a savepoint (SQLite, unless it commits each migration). The boot then rehearses on the
    /// database itself inside that transaction and rolls all of it back on a finding, instead of copying
    /// the database first.
    fn run_is_a_copy(&self) -> bool {
        false
    }

    /// Runs `run` against a throwaway database that holds the schema this connection sees now (inside
    /// the run's transaction, uncommitted changes included) and no row, configured as this connection
    /// is. A rehearsal runs there the DOWN and UP again of a migration whose outcome the rows cannot
    /// change (`run/schema_copy.rs`), so that it costs what the schema costs, not what the tables hold.
    /// `Ok(false)`, without calling `run`, when the engine cannot make such a copy or when the copy could
    /// behave differently from the database for statements on `tables` (the default: no engine but
    /// SQLite makes one).
    fn with_schema_copy(
        &mut self,
        tables: &[&str],
        run: &mut dyn FnMut(&mut dyn Engine) -> Result<(), Error>,
    ) -> Result<bool, Error> {
        let _ = (tables, run);
        Ok(false)
    }

    /// Runs `run` against an in-memory copy of the whole database as this connection sees it now (inside
    /// the run's transaction, uncommitted changes included: pages, rows and all), configured as this
    /// connection is, and throws the copy away. Work done there to be thrown away never goes through
    /// the database's journals (the rehearsal's short path runs its DOWNs there: `run/down_chain.rs`).
    /// For small databases only: `Ok(false)`, without calling `run`, when the database is larger than
    /// `max_bytes` or the engine makes no such copy (the default: no engine but SQLite makes one).
    fn with_page_copy(
        &mut self,
        max_bytes: u64,
        run: &mut dyn FnMut(&mut dyn Engine) -> Result<(), Error>,
    ) -> Result<bool, Error> {
        let _ = (max_bytes, run);
        Ok(false)
    }
}

/// Capability: the schema as comparable objects.
pub trait Fingerprint {
    /// The schema as comparable objects (tables' columns and constraints, indexes, views, triggers,
    /// functions, types), without migrator's own tables, sorted. With `tables`, only the objects that
    /// belong to those tables (in any schema; an engine that folds names matches each name as given and
    /// lower-cased, one that does not, without regard to case), plus, when `unattached`, every object that
    /// belongs to no table (functions, types, extensions, schemas); without `tables`, everything. The
    /// tables of `exclude` (migrator's own history tables) are left out.
    fn schema_fingerprint(
        &mut self,
        tables: Option<&[&str]>,
        exclude: &[&str],
        unattached: bool,
    ) -> Result<Vec<SchemaObject>, Error>;

    /// With `true`, the caller promises that, until it calls this with `false`, the schema changes only
    /// through `CREATE`, `DROP` and `ALTER TABLE` statements, that every object such a statement drops or
    /// renames is in the `tables` of the next scoped read, and that nothing is rolled back: an engine may
    /// then answer a scoped read from what it read before and what changed since (SQLite's catalog has no
    /// index: `sqlite_schema_mirror.rs`). The default ignores it.
    fn read_incrementally(&mut self, on: bool) {
        let _ = on;
    }
}

/// Capability: table sizes and row estimates, for the row limit and the preview.
pub trait Stats {
    /// The size of `table` as the database reports it (a catalog estimate, or with `exact` a count).
    /// `Ok(None)` when there is no such table. The name is passed as data, never spliced into SQL.
    fn table_stats(&mut self, table: &str, exact: bool) -> Result<Option<TableStats>, Error>;

    /// The rows an UPDATE or DELETE would touch (or an INSERT add), without running it. `Ok(None)` when
    /// it cannot tell (another kind of statement, or an object an earlier pending migration creates).
    fn estimate_rows(&mut self, sql: &str) -> Result<Option<u64>, Error>;

    /// The exact number of rows an UPDATE or DELETE would touch (a scan). `Ok(None)` as above.
    fn count_affected(&mut self, sql: &str) -> Result<Option<u64>, Error>;

    /// The exact number of rows of `table`, or with `non_null` of the rows where that column is not NULL.
    fn count_rows(&mut self, table: &str, non_null: Option<&str>) -> Result<u64, Error>;

    /// The average bytes per row of `columns` of `table` together (an index key's width), when known.
    fn key_width(&mut self, table: &str, columns: &[&str]) -> Result<Option<f64>, Error>;

    /// Runs `sql` (a batch that returns no rows) and returns its wall time (the calibration sample).
    fn time_batch(&mut self, sql: &str) -> Result<Duration, Error>;

    /// Which of `tables` (names as a statement writes them) the database knows to hold no row without
    /// reading them, in one query: for a rollback's count of the rows its DOWNs drop, which then counts
    /// only the others. `Ok(None)` (the default): the engine cannot tell cheaply; every table is counted.
    fn known_empty(&mut self, tables: &[String]) -> Result<Option<Vec<bool>>, Error> {
        let _ = tables;
        Ok(None)
    }
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
    /// Bytes of the table's own pages.
    pub table_bytes: u64,
    /// Bytes of its indexes.
    pub index_bytes: u64,
}

/// One object of a schema fingerprint: `kind` (`column`, `index`, `constraint`, `trigger`, ...), a
/// qualified `name`, and its `definition` as the database describes it.
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

/// Runs a client program (`pg_dump`, `mysqldump`) with extra environment (passwords go there, never into
/// argv); `Ok(None)` when it is not installed.
#[cfg(any(feature = "postgres", feature = "mysql"))]
pub(crate) fn run_client(
    program: &str,
    args: &[&str],
    env: &[(String, String)],
) -> Result<Option<std::process::Output>, Error> {
    let mut command = std::process::Command::new(program);
    command.args(args);
    for (key, value) in env {
        command.env(key, value);
    }
    match command.output() {
        Ok(output) if output.status.success() => Ok(Some(output)),
        Ok(output) => Err(Error::Backup(format!(
            "{program} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::Backup(format!("cannot run {program}: {e}"))),
    }
}
