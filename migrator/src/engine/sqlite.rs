//! SQLite through rusqlite. The lock is the run's own `BEGIN IMMEDIATE` transaction (the database's write
//! lock, waited for with `busy_timeout`), with a savepoint per migration: one commit and a handful of
//! fsyncs for the whole run, while a failure in migration k still keeps 1..k-1 and leaves k untouched.
//!
//! Capabilities: backups and scratch copies in `sqlite_copy.rs`, the schema fingerprint and statistics in
//! `sqlite_schema.rs`.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::time::Duration;

use rusqlite::types::ValueRef;
use rusqlite::{Connection, ErrorCode, OptionalExtension};
use tracing::{debug, warn};

use super::sqlite_schema_mirror::SchemaMirror;
use super::{
    Atomicity, Backup, CheckScope, DbError, DbErrorKind, Dialect, Engine, EngineKind, Fingerprint,
    LockGuard, Row, SchemaObject, ScratchCopy, Stats, TransactionLock, Upsert, Value,
};
use crate::Error;

/// SQLite's dialect facts.
pub const DIALECT: Dialect = Dialect {
    kind: EngineKind::Sqlite,
    atomicity: Atomicity::RunTransaction,
    begin: "BEGIN IMMEDIATE",
    bigint: "INTEGER",
    text: "TEXT",
    timestamp: "TEXT",
    serial_id: "INTEGER PRIMARY KEY",
    now: "CURRENT_TIMESTAMP",
    timestamp_text: "{}",
    upsert: Upsert::OnConflict,
    backslash_escapes: false,
    e_strings: false,
    ident_quote: '"',
    elapsed_ms: None,
};

/// The SQLite engine over the host's connection.
pub struct Sqlite<'c> {
    pub(super) conn: &'c Connection,
    pub(super) commit_each: bool,
    in_run: bool,
    pub(super) foreign_keys_were_on: bool,
    previous_busy_ms: Option<i64>,
    /// Fingerprint objects per schema entry (type, name and SQL text): what SQLite reports of a table
    /// depends on its text only, so a rehearsal reads the pragmas of changed entries alone.
    pub(super) fingerprints: HashMap<(String, String, String), Vec<SchemaObject>>,
    /// `sqlite_schema` by rowid while a rehearsal reads incrementally
    /// ([`Fingerprint::read_incrementally`]); `None` otherwise, and after any `ROLLBACK`.
    pub(super) mirror: Option<SchemaMirror>,
    pub(super) incremental: bool,
    /// Statements run through this engine for its callers ([`Engine::execute`], `execute_count`,
    /// `query`): with the write lock held nothing else changes the schema, so a mirror read when this
    /// count was the same is still what `sqlite_schema` holds.
    pub(super) statements_run: u64,
    /// `statements_run` when the mirror was last brought up to date.
    pub(super) mirror_read_at: u64,
}

impl<'c> Sqlite<'c> {
    /// Wraps the host's connection. The connection is left as it was found (foreign keys and busy
    /// timeout are restored at the end of a run).
    pub fn new(conn: &'c Connection) -> Self {
        Self {
            conn,
            commit_each: false,
            in_run: false,
            foreign_keys_were_on: false,
            previous_busy_ms: None,
            fingerprints: HashMap::new(),
            mirror: None,
            incremental: false,
            statements_run: 0,
            mirror_read_at: 0,
        }
    }

    /// Commit after every migration instead of once per run.
    pub fn commit_each(mut self, yes: bool) -> Self {
        self.commit_each = yes;
        self
    }

    /// The database file, when it has one (not in memory).
    pub(super) fn file(&self) -> Option<PathBuf> {
        self.conn
            .path()
            .filter(|p| !p.is_empty())
            .map(PathBuf::from)
    }

    /// `true` while a run's transaction is open.
    pub(super) fn in_open_run(&self) -> bool {
        self.in_run && !self.conn.is_autocommit()
    }

    fn restore_settings(&mut self) {
        if self.foreign_keys_were_on {
            if let Err(e) = self.conn.execute_batch("PRAGMA foreign_keys = ON") {
                warn!(error = %e, "could not turn foreign keys back on");
            }
            self.foreign_keys_were_on = false;
        }
        if let Some(ms) = self.previous_busy_ms.take() {
            let _ = self
                .conn
                .busy_timeout(Duration::from_millis(ms.max(0) as u64));
        }
    }

    /// The rows of foreign keys whose parent row is missing, of `tables` (`None`: every table), as one
    /// problem naming the first five.
    fn foreign_key_violations(
        &self,
        tables: Option<&[String]>,
    ) -> rusqlite::Result<Option<String>> {
        let pragmas: Vec<String> = match tables {
            None => vec!["PRAGMA foreign_key_check".to_string()],
            Some(tables) => tables
                .iter()
                .map(|t| format!("PRAGMA foreign_key_check({})", DIALECT.ident(t)))
                .collect(),
        };
        let mut found = Vec::new();
        'pragmas: for pragma in pragmas {
            let mut stmt = self.conn.prepare(&pragma)?;
            let mut rows = stmt.query([])?;
            while let Some(row) = rows.next()? {
                if found.len() == 5 {
                    found.push("...".to_string());
                    break 'pragmas;
                }
                let table: String = row.get(0)?;
                let rowid: Option<i64> = row.get(1)?;
                let parent: String = row.get(2)?;
                found.push(format!(
                    "{table} rowid {} -> {parent}",
                    rowid.map_or("?".into(), |r| r.to_string())
                ));
            }
        }
        Ok((!found.is_empty()).then(|| {
            format!(
                "foreign key violations after the migration: {}",
                found.join(", ")
            )
        }))
    }
}

impl Sqlite<'_> {
    /// The first column of every row of `sql`, as text.
    fn text_rows(&self, sql: &str) -> rusqlite::Result<Vec<String>> {
        self.conn
            .prepare(sql)?
            .query_map([], |r| r.get::<_, String>(0))?
            .collect()
    }

    /// The tables the checks after a boot must read when its migrations can have changed `scope`, as the
    /// schema names them: every table whose foreign keys lead to a named one, however many steps away,
    /// goes with it (a deleted, rewritten or dropped parent orphans its rows; a cascade writes them).
    /// `None`, the whole database, when a trigger hangs on one of them (what a trigger writes is not named
    /// anywhere).
    fn checked_tables(&self, scope: &CheckScope) -> rusqlite::Result<Option<CheckedTables>> {
        if scope.named.is_empty() {
            // Nothing changed that a check could find: the schema is not read.
            return Ok(Some(CheckedTables::default()));
        }
        let mut edges = Vec::new();
        // Only a table whose text says REFERENCES has foreign keys: the others are not asked.
        let mut stmt = self.conn.prepare(
            "SELECT lower(m.name), lower(f.\"table\") FROM sqlite_master m, pragma_foreign_key_list(m.name) f
             WHERE m.type = 'table' AND m.sql LIKE '%REFERENCES%'",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            edges.push((row.get::<_, String>(0)?, row.get::<_, String>(1)?));
        }
        let reach = |from: &[String]| {
            let mut reached: BTreeSet<String> = from.iter().map(|t| t.to_lowercase()).collect();
            loop {
                let more: Vec<String> = edges
                    .iter()
                    .filter(|(child, parent)| reached.contains(parent) && !reached.contains(child))
                    .map(|(child, _)| child.clone())
                    .collect();
                if more.is_empty() {
                    return reached;
                }
                reached.extend(more);
            }
        };
        let keys = reach(&scope.named);
        // Before 3.37 an `ADD COLUMN` with a CHECK is not tested against the rows already there.
        let written = if rusqlite::version_number() >= 3_037_000 {
            reach(&scope.written)
        } else {
            keys.clone()
        };
        let mut checked = CheckedTables::default();
        if keys.is_empty() {
            return Ok(Some(checked));
        }
        let names: Vec<String> = keys.iter().map(|t| DIALECT.literal(t)).collect();
        let mut stmt = self.conn.prepare(&format!(
            "SELECT type = 'trigger', name, lower(tbl_name) FROM sqlite_master WHERE type IN ('table', 'trigger') AND lower(tbl_name) IN ({})",
            names.join(", ")
        ))?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            if row.get::<_, bool>(0)? {
                return Ok(None);
            }
            let name: String = row.get(1)?;
            if written.contains(&row.get::<_, String>(2)?) {
                checked.rows.push(name.clone());
            }
            checked.keys.push(name);
        }
        Ok(Some(checked))
    }
}

/// The tables the checks after a boot read, as the schema names them.
#[derive(Default)]
struct CheckedTables {
    /// Whose rows `quick_check` reads: the rows may have changed.
    rows: Vec<String>,
    /// Whose foreign keys `foreign_key_check` follows: they or their parents may have changed.
    keys: Vec<String>,
}

/// `true` when `sql` may roll something back (a word `ROLLBACK` anywhere, case folded).
fn says_rollback(sql: &str) -> bool {
    sql.as_bytes()
        .windows(8)
        .any(|w| w.eq_ignore_ascii_case(b"ROLLBACK"))
}

/// rusqlite's error as the algorithm sees it.
pub(super) fn db_error(e: rusqlite::Error) -> DbError {
    let message = e.to_string();
    let kind = match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => DbErrorKind::Busy,
        Some(ErrorCode::ConstraintViolation)
            if message.contains("UNIQUE constraint failed") || message.contains("PRIMARY KEY") =>
        {
            DbErrorKind::UniqueViolation
        }
        _ if message.contains("no such table") || message.contains("no such column") => {
            DbErrorKind::MissingObject
        }
        _ => DbErrorKind::Other,
    };
    DbError::new(kind, message)
}

/// A database error outside a migration, with what the runtime was doing.
pub(super) fn context(what: &str, e: rusqlite::Error) -> Error {
    Error::Database {
        context: what.to_string(),
        source: db_error(e),
    }
}

impl Engine for Sqlite<'_> {
    fn dialect(&self) -> &'static Dialect {
        &DIALECT
    }

    fn lock(&mut self, _name: &str, wait: Duration) -> Result<Box<dyn LockGuard>, Error> {
        let conn = self.conn;
        self.previous_busy_ms = conn
            .query_row("PRAGMA busy_timeout", [], |r| r.get(0))
            .optional()
            .map_err(|e| context("reading busy_timeout", e))?;
        self.foreign_keys_were_on = conn
            .query_row("PRAGMA foreign_keys", [], |r| r.get::<_, i64>(0))
            .map_err(|e| context("reading foreign_keys", e))?
            == 1;
        // Table rebuilds (the 12-step ALTER) need foreign keys off, and the pragma is ignored inside a
        // transaction; violations are checked per migration with foreign_key_check instead.
        if self.foreign_keys_were_on {
            conn.execute_batch("PRAGMA foreign_keys = OFF")
                .map_err(|e| context("turning foreign keys off for the run", e))?;
        }
        conn.busy_timeout(wait)
            .map_err(|e| context("setting busy_timeout", e))?;
        let started = std::time::Instant::now();
        if let Err(e) = conn.execute_batch(DIALECT.begin) {
            self.restore_settings();
            return Err(match e.sqlite_error_code() {
                Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => Error::Lock {
                    waited: started.elapsed(),
                    message: format!("{e} (another process holds the database's write lock)"),
                    setting: "lock_wait",
                },
                _ => context("taking the write lock (BEGIN IMMEDIATE)", e),
            });
        }
        self.in_run = true;
        Ok(Box::new(TransactionLock))
    }

    fn execute(&mut self, sql: &str) -> Result<(), DbError> {
        self.statements_run += 1;
        if says_rollback(sql) {
            // What the mirror read may be undone.
            self.mirror = None;
        }
        self.conn.execute_batch(sql).map_err(db_error)
    }

    fn tables_exist(&mut self, tables: &[&str]) -> Result<Vec<bool>, DbError> {
        // SQLite's schema, already in memory, answers without a statement to prepare and fail (as
        // `SELECT 1 FROM t` would, for every table that is missing): tables and views, in every
        // attached database, the way a query would find them.
        tables
            .iter()
            .map(|t| self.conn.table_exists(None, *t).map_err(db_error))
            .collect()
    }

    fn tables_known(&mut self, tables: &[&str]) -> Option<Vec<bool>> {
        // `main`, where an unqualified CREATE TABLE puts a table (a TEMP table of the name does not count).
        tables
            .iter()
            .map(|t| self.conn.table_exists(Some("main"), *t).ok())
            .collect()
    }

    fn execute_count(&mut self, sql: &str) -> Result<u64, DbError> {
        self.statements_run += 1;
        self.conn
            .execute(sql, [])
            .map(|n| n as u64)
            .map_err(db_error)
    }

    fn query(&mut self, sql: &str) -> Result<Vec<Row>, DbError> {
        self.statements_run += 1;
        let mut stmt = self.conn.prepare(sql).map_err(db_error)?;
        let columns = stmt.column_count();
        let mut rows = stmt.query([]).map_err(db_error)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(db_error)? {
            let mut cells = Vec::with_capacity(columns);
            for i in 0..columns {
                cells.push(match row.get_ref(i).map_err(db_error)? {
                    ValueRef::Null => Value::Null,
                    ValueRef::Integer(n) => Value::Int(n),
                    ValueRef::Real(f) => Value::Float(f),
                    ValueRef::Text(t) | ValueRef::Blob(t) => {
                        Value::Text(String::from_utf8_lossy(t).into_owned())
                    }
                });
            }
            out.push(cells);
        }
        Ok(out)
    }

    fn commits_by_others(&mut self) -> Option<i64> {
        // Cached: read twice a boot, prepared once.
        self.conn
            .prepare_cached("PRAGMA data_version")
            .and_then(|mut s| s.query_row([], |r| r.get(0)))
            .ok()
    }

    fn commits_by_others_sql(&self) -> Option<&'static str> {
        Some("(SELECT data_version FROM pragma_data_version)")
    }

    fn end_run(&mut self, commit: bool) -> Result<(), DbError> {
        self.mirror = None;
        let result = if self.in_open_run() {
            self.conn
                .execute_batch(if commit { "COMMIT" } else { "ROLLBACK" })
        } else {
            Ok(())
        };
        self.in_run = false;
        self.restore_settings();
        result.map_err(db_error)
    }

    fn checkpoint(&mut self) -> Result<bool, DbError> {
        if self.commit_each && self.in_open_run() {
            self.conn
                .execute_batch("COMMIT; BEGIN IMMEDIATE")
                .map_err(db_error)?;
            return Ok(true);
        }
        Ok(false)
    }

    fn is_fresh(&mut self, own: &[&str]) -> Result<bool, DbError> {
        // Tables of the main schema (virtual ones included), without SQLite's own and the history tables.
        let own: Vec<String> = own.iter().map(|t| DIALECT.literal(t)).collect();
        let sql = format!(
            "SELECT count(*) FROM sqlite_schema WHERE type = 'table'
               AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name COLLATE NOCASE NOT IN ({})",
            if own.is_empty() {
                "''".to_string()
            } else {
                own.join(", ")
            }
        );
        self.conn
            .query_row(&sql, [], |r| r.get::<_, i64>(0))
            .map(|tables| tables == 0)
            .map_err(db_error)
    }

    fn after_migration(&mut self) -> Result<Option<String>, DbError> {
        if !self.foreign_keys_were_on {
            return Ok(None);
        }
        // The whole database: `foreign_key_check` costs what the child tables hold (8 us at 1,000
        // tables without foreign keys), while finding the children of a migration's tables reads the
        // whole catalog (about 0.3 ms there), after every migration.
        self.foreign_key_violations(None).map_err(db_error)
    }

    fn health_problems(
        &mut self,
        full_integrity_check: bool,
        scope: Option<&CheckScope>,
    ) -> Result<Vec<String>, Error> {
        let read = |e| context("running the health checks", e);
        let tables = match scope {
            Some(scope) if !full_integrity_check => self.checked_tables(scope).map_err(read)?,
            _ => None,
        };
        let mut problems = Vec::new();
        match &tables {
            None => {
                let pragma = if full_integrity_check {
                    "PRAGMA integrity_check"
                } else {
                    "PRAGMA quick_check"
                };
                problems.extend(self.text_rows(pragma).map_err(read)?);
            }
            Some(checked) => {
                for table in &checked.rows {
                    let pragma = format!("PRAGMA quick_check({})", DIALECT.ident(table));
                    problems.extend(self.text_rows(&pragma).map_err(read)?);
                }
            }
        }
        problems.retain(|p| p != "ok");
        debug!(
            rows_checked = ?tables.as_ref().map(|t| t.rows.len()),
            keys_checked = ?tables.as_ref().map(|t| t.keys.len()),
            problems = problems.len(),
            "integrity checked"
        );
        let keys = tables.as_ref().map(|t| t.keys.as_slice());
        if let Some(violations) = self.foreign_key_violations(keys).map_err(read)? {
            problems.push(violations);
        }
        Ok(problems)
    }

    fn server_version(&mut self) -> Result<String, Error> {
        self.conn
            .query_row("SELECT sqlite_version()", [], |r| r.get::<_, String>(0))
            .map(|v| format!("SQLite {v}"))
            .map_err(|e| context("reading the SQLite version", e))
    }

    fn backup(&mut self) -> Option<&mut dyn Backup> {
        self.file().is_some().then_some(self as &mut dyn Backup)
    }

    fn scratch(&mut self) -> Option<&mut dyn ScratchCopy> {
        Some(self)
    }

    fn fingerprint(&mut self) -> Option<&mut dyn Fingerprint> {
        Some(self)
    }

    fn stats(&mut self) -> Option<&mut dyn Stats> {
        Some(self)
    }
}

impl Drop for Sqlite<'_> {
    fn drop(&mut self) {
        if self.in_run {
            // A panic or an early return in the middle of a run: nothing half-done is committed.
            let _ = self.end_run(false);
        }
    }
}

/// An identifier in double quotes, inner quotes doubled.
pub(super) fn quote_ident(name: &str) -> String {
    DIALECT.ident(name)
}
