//! SQLite through rusqlite. A run is one `BEGIN IMMEDIATE` transaction (the database's write lock, waited
//! for with `busy_timeout`) with a savepoint per migration: one commit and a handful of fsyncs for the
//! whole run, while a failure in migration k still keeps 1..k-1 and leaves k untouched.

use std::time::{Duration, Instant};

use std::path::{Path, PathBuf};

use rusqlite::backup::StepResult;
use rusqlite::{params, Connection, ErrorCode, OpenFlags, OptionalExtension, MAIN_DB};
use tracing::{debug, warn};

use crate::backend::{Backend, Direction, Engine, SchemaObject, StatementFailure, TableStats};
use crate::{Config, Error, HistoryRow, Migration, Status};

const CREATE_HISTORY: &str = "
CREATE TABLE IF NOT EXISTS schema_migrations (
    version        INTEGER PRIMARY KEY,
    name           TEXT    NOT NULL,
    issue_number   INTEGER,
    applied_at     TEXT    NOT NULL DEFAULT CURRENT_TIMESTAMP,
    checksum       TEXT,
    status         TEXT    NOT NULL DEFAULT 'applied'
                   CHECK (status IN ('applied', 'rolled_back', 'failed', 'running')),
    execution_ms   INTEGER,
    rolled_back_at TEXT,
    error          TEXT
);
CREATE TABLE IF NOT EXISTS schema_migrations_log (
    id          INTEGER PRIMARY KEY,
    version     INTEGER NOT NULL,
    action      TEXT    NOT NULL,
    checksum    TEXT,
    at          TEXT    NOT NULL DEFAULT CURRENT_TIMESTAMP,
    duration_ms INTEGER,
    detail      TEXT
);";

const SELECT_HISTORY: &str = "SELECT version, name, issue_number, checksum, status, applied_at, execution_ms, rolled_back_at, error FROM schema_migrations ORDER BY version";

const UPSERT_APPLIED: &str = "INSERT INTO schema_migrations (version, name, issue_number, checksum, status, applied_at, execution_ms, rolled_back_at, error)
VALUES (?1, ?2, ?3, ?4, ?5, CURRENT_TIMESTAMP, ?6, NULL, ?7)
ON CONFLICT(version) DO UPDATE SET name = excluded.name, issue_number = excluded.issue_number,
    checksum = excluded.checksum, status = excluded.status, applied_at = excluded.applied_at,
    execution_ms = excluded.execution_ms, rolled_back_at = NULL, error = excluded.error";

const MARK_ROLLED_BACK: &str =
    "UPDATE schema_migrations SET status = 'rolled_back', rolled_back_at = CURRENT_TIMESTAMP, error = NULL WHERE version = ?1";

const LOG: &str = "INSERT INTO schema_migrations_log (version, action, checksum, duration_ms, detail) VALUES (?1, ?2, ?3, ?4, ?5)";

/// The SQLite backend over the host's connection.
pub struct Sqlite<'c> {
    conn: &'c Connection,
    commit_each: bool,
    in_run: bool,
    foreign_keys_were_on: bool,
    previous_busy_ms: Option<i64>,
    /// Fingerprint objects per schema entry (type, name and SQL text): what SQLite reports of a table
    /// depends on its text only, so a rehearsal reads the pragmas of changed entries alone.
    fingerprints: std::collections::HashMap<(String, String, String), Vec<SchemaObject>>,
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
            fingerprints: std::collections::HashMap::new(),
        }
    }

    /// Commit after every migration instead of once per run.
    pub fn commit_each(mut self, yes: bool) -> Self {
        self.commit_each = yes;
        self
    }

    fn db_error(context: &str, e: rusqlite::Error) -> Error {
        Error::Database {
            context: context.to_string(),
            message: e.to_string(),
        }
    }

    fn log(
        &self,
        version: u64,
        action: &str,
        checksum: &str,
        ms: Option<i64>,
        detail: Option<&str>,
    ) -> rusqlite::Result<()> {
        self.conn
            .prepare_cached(LOG)?
            .execute(params![version as i64, action, checksum, ms, detail])
            .map(|_| ())
    }

    fn run_statements(&self, m: &Migration, direction: Direction) -> Result<(), StatementFailure> {
        let statements = match direction {
            Direction::Up => &m.up[..],
            Direction::Down => m.down.as_deref().unwrap_or(&[]),
        };
        for (index, statement) in statements.iter().enumerate() {
            debug!(version = m.version, %direction, line = statement.line, "statement");
            if let Err(e) = self.conn.execute_batch(&statement.sql) {
                return Err(StatementFailure {
                    index: Some(index),
                    message: e.to_string(),
                    run_rolled_back: self.in_run && self.conn.is_autocommit(),
                });
            }
        }
        Ok(())
    }

    fn record(
        &self,
        m: &Migration,
        direction: Direction,
        elapsed: Duration,
    ) -> rusqlite::Result<()> {
        let ms = i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX);
        match direction {
            Direction::Up => {
                self.conn.prepare_cached(UPSERT_APPLIED)?.execute(params![
                    m.version as i64,
                    m.name.as_ref(),
                    m.issue,
                    m.checksum.as_ref(),
                    Status::Applied.as_str(),
                    ms,
                    Option::<&str>::None
                ])?;
                self.log(m.version, "applied", &m.checksum, Some(ms), None)
            }
            Direction::Down => {
                self.conn
                    .prepare_cached(MARK_ROLLED_BACK)?
                    .execute(params![m.version as i64])?;
                self.log(m.version, "rolled_back", &m.checksum, Some(ms), None)
            }
        }
    }

    fn foreign_key_violations(&self) -> rusqlite::Result<Option<String>> {
        let mut stmt = self.conn.prepare("PRAGMA foreign_key_check")?;
        let mut rows = stmt.query([])?;
        let mut found = Vec::new();
        while let Some(row) = rows.next()? {
            if found.len() == 5 {
                found.push("...".to_string());
                break;
            }
            let table: String = row.get(0)?;
            let rowid: Option<i64> = row.get(1)?;
            let parent: String = row.get(2)?;
            found.push(format!(
                "{table} rowid {} -> {parent}",
                rowid.map_or("?".into(), |r| r.to_string())
            ));
        }
        Ok((!found.is_empty()).then(|| {
            format!(
                "foreign key violations after the migration: {}",
                found.join(", ")
            )
        }))
    }

    /// A no-transaction migration: the run's transaction is committed, a `running` row is written, the
    /// statements run one by one in autocommit mode, and the row becomes `applied` at the end.
    fn apply_without_transaction(
        &mut self,
        m: &Migration,
        direction: Direction,
    ) -> Result<Duration, StatementFailure> {
        let failure = |e: rusqlite::Error| StatementFailure {
            index: None,
            message: e.to_string(),
            run_rolled_back: false,
        };
        self.conn.execute_batch("COMMIT").map_err(failure)?;
        let status = if direction == Direction::Up {
            Status::Running
        } else {
            Status::Applied
        };
        if direction == Direction::Up {
            self.conn
                .prepare_cached(UPSERT_APPLIED)
                .and_then(|mut s| {
                    s.execute(params![
                        m.version as i64,
                        m.name.as_ref(),
                        m.issue,
                        m.checksum.as_ref(),
                        status.as_str(),
                        None::<i64>,
                        None::<&str>
                    ])
                })
                .map_err(failure)?;
        }
        let started = Instant::now();
        self.in_run = false;
        let result = self.run_statements(m, direction);
        self.in_run = true;
        let elapsed = started.elapsed();
        let outcome = result.and_then(|()| self.record(m, direction, elapsed).map_err(failure));
        self.conn
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(failure)?;
        outcome.map(|()| elapsed)
    }
}

impl Backend for Sqlite<'_> {
    fn engine(&self) -> Engine {
        Engine::Sqlite
    }

    fn read_history(&mut self) -> Result<Vec<HistoryRow>, Error> {
        let mut stmt = match self.conn.prepare(SELECT_HISTORY) {
            Ok(stmt) => stmt,
            Err(e) if e.to_string().contains("no such table") => return Ok(Vec::new()),
            Err(e) => return Err(Self::db_error("reading schema_migrations", e)),
        };
        let rows = stmt
            .query_map([], |row| {
                let status: String = row.get(4)?;
                Ok(HistoryRow {
                    version: row.get::<_, i64>(0)? as u64,
                    name: row.get(1)?,
                    issue: row.get(2)?,
                    checksum: row.get(3)?,
                    status: Status::parse(&status).unwrap_or(Status::Failed),
                    applied_at: row.get::<_, Option<String>>(5)?.unwrap_or_default(),
                    execution_ms: row.get(6)?,
                    rolled_back_at: row.get(7)?,
                    error: row.get(8)?,
                })
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(|e| Self::db_error("reading schema_migrations", e))?;
        Ok(rows)
    }

    fn scan_history(
        &mut self,
        visit: &mut dyn FnMut(u64, Option<&str>, &str),
    ) -> Result<bool, Error> {
        let mut stmt = match self
            .conn
            .prepare("SELECT version, checksum, status FROM schema_migrations ORDER BY version")
        {
            Ok(stmt) => stmt,
            Err(e) if e.to_string().contains("no such table") => return Ok(false),
            Err(e) => return Err(Self::db_error("reading schema_migrations", e)),
        };
        let mut rows = stmt
            .query([])
            .map_err(|e| Self::db_error("reading schema_migrations", e))?;
        let read = |e| Self::db_error("reading schema_migrations", e);
        while let Some(row) = rows.next().map_err(read)? {
            let version = row.get_ref(0).and_then(|v| Ok(v.as_i64()?)).map_err(read)?;
            let checksum = row
                .get_ref(1)
                .map_err(read)?
                .as_str_or_null()
                .map_err(|e| read(e.into()))?;
            let status = row
                .get_ref(2)
                .map_err(read)?
                .as_str()
                .map_err(|e| read(e.into()))?;
            visit(version as u64, checksum, status);
        }
        Ok(true)
    }

    fn backup_stem(&self) -> Option<String> {
        let path = self.file()?;
        Some(path.file_name()?.to_string_lossy().into_owned())
    }

    fn backup_extension(&self) -> &'static str {
        "sqlite"
    }

    fn default_backup_dir(&self) -> Option<PathBuf> {
        let path = self.file()?;
        let mut name = path.file_name()?.to_os_string();
        name.push(".backups");
        Some(path.with_file_name(name))
    }

    fn backup(&mut self, target: &Path) -> Result<bool, Error> {
        let Some(source_path) = self.file() else {
            return Ok(false);
        };
        let partial = target.with_extension("partial");
        let result = (|| -> Result<(), Error> {
            let db = |context: &str, e: rusqlite::Error| Self::db_error(context, e);
            // A separate read-only connection: the run's own connection holds the write lock and has
            // written nothing yet, so this one reads the last committed state. Memory-mapped reads
            // (capped by SQLite's compile-time limit) make quick_check about twice as fast on large files.
            let source =
                Connection::open_with_flags(&source_path, OpenFlags::SQLITE_OPEN_READ_ONLY)
                    .map_err(|e| db("opening the database for the backup", e))?;
            source
                .execute_batch("PRAGMA mmap_size = 2147418112")
                .map_err(|e| db("opening the database for the backup", e))?;
            let journal_mode: String = source
                .query_row("PRAGMA journal_mode", [], |r| r.get(0))
                .map_err(|e| db("reading the journal mode", e))?;
            let _ = std::fs::remove_file(&partial);
            let quick_check = |conn: &Connection| -> Result<(), Error> {
                let verdict: String = conn
                    .query_row("PRAGMA quick_check", [], |r| r.get(0))
                    .map_err(|e| db("checking the backup", e))?;
                if verdict == "ok" {
                    Ok(())
                } else {
                    Err(Error::Backup(format!(
                        "the database fails PRAGMA quick_check: {verdict}"
                    )))
                }
            };
            // Page count and schema size: what a copy of this snapshot must show too.
            let shape = |conn: &Connection, context: &str| -> Result<(i64, i64), Error> {
                conn.query_row(
                    "SELECT (SELECT page_count FROM pragma_page_count()), (SELECT count(*) FROM sqlite_schema)",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .map_err(|e| db(context, e))
            };

            let wal = journal_mode.eq_ignore_ascii_case("wal");
            debug!(
                journal_mode = %journal_mode,
                check = if wal { "after the copy" } else { "beside the copy" },
                "backing up"
            );
            if wal {
                // WAL: the committed state is the file plus the log, so the online backup API copies it
                // page by page, and the copy is checked.
                let mut copy =
                    Connection::open(&partial).map_err(|e| db("creating the backup file", e))?;
                crate::backup::owner_only(&partial)?;
                copy_pages(&source, &mut copy)?;
                quick_check(&copy)?;
            } else {
                // Rollback journal: while a read transaction holds the SHARED lock no writer can change the
                // database (writing needs an EXCLUSIVE lock), so two read-only connections that each open
                // a read transaction see one committed state. One copies it with the backup API on another
                // thread while the other runs quick_check over it on this one: the copy is the snapshot that
                // passed the check, in the time of the slower of the two instead of their sum. (The file is
                // not copied with a file handle of our own: closing a second descriptor of the database
                // file drops every POSIX lock this process holds on it, SQLite's included.)
                let reader =
                    Connection::open_with_flags(&source_path, OpenFlags::SQLITE_OPEN_READ_ONLY)
                        .map_err(|e| db("opening the database for the backup", e))?;
                for conn in [&source, &reader] {
                    conn.execute_batch("BEGIN")
                        .map_err(|e| db("starting the backup", e))?;
                }
                let snapshot = shape(&source, "reading the database for the backup")?;
                let (partial, shape) = (&partial, &shape);
                let (checked, copied) = std::thread::scope(|scope| {
                    let copier = scope.spawn(move || -> Result<(), Error> {
                        let mut copy = Connection::open(partial)
                            .map_err(|e| db("creating the backup file", e))?;
                        crate::backup::owner_only(partial)?;
                        copy_pages(&reader, &mut copy)?;
                        let _ = reader.execute_batch("COMMIT");
                        drop(reader);
                        // An empty database (no page yet) is copied as one empty page.
                        let copied_shape = shape(&copy, "checking the backup")?;
                        if copied_shape == (snapshot.0.max(1), snapshot.1) {
                            Ok(())
                        } else {
                            Err(Error::Backup(format!(
                                "the copy has {} pages and {} schema entries, the database {} and {}",
                                copied_shape.0, copied_shape.1, snapshot.0, snapshot.1
                            )))
                        }
                    });
                    let checked = quick_check(&source);
                    let copied = copier.join().unwrap_or_else(|_| {
                        Err(Error::Backup("the copying thread panicked".to_string()))
                    });
                    (checked, copied)
                });
                let _ = source.execute_batch("COMMIT");
                checked?;
                copied?;
            }
            drop(source);
            std::fs::rename(&partial, target)
                .map_err(|e| crate::backup::io_error("finishing the backup", target, e))
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&partial);
        }
        result.map(|()| true)
    }

    fn restore(&mut self, backup: &Path) -> Result<(), Error> {
        let Some(path) = self.file() else {
            return Err(Error::Usage(
                "this database has no file to restore into".to_string(),
            ));
        };
        let check = Connection::open_with_flags(backup, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .and_then(|c| c.query_row("PRAGMA quick_check", [], |r| r.get::<_, String>(0)))
            .map_err(|e| {
                Error::Backup(format!(
                    "{} is not a readable SQLite backup: {e}",
                    backup.display()
                ))
            })?;
        if check != "ok" {
            return Err(Error::Backup(format!(
                "{} fails PRAGMA quick_check: {check}",
                backup.display()
            )));
        }
        // The online backup API in reverse, on a connection of our own, replaces every page at once.
        let mut target = Connection::open(&path)
            .map_err(|e| Self::db_error("opening the database to restore", e))?;
        target
            .busy_timeout(Duration::from_secs(60))
            .map_err(|e| Self::db_error("setting busy_timeout", e))?;
        target
            .restore(MAIN_DB, backup, None::<fn(rusqlite::backup::Progress)>)
            .map_err(|e| Self::db_error("restoring the backup", e))
    }

    fn schema_fingerprint(&mut self, tables: Option<&[&str]>) -> Result<Vec<SchemaObject>, Error> {
        schema_fingerprint(self.conn, tables, &mut self.fingerprints)
            .map_err(|e| Self::db_error("reading the schema", e))
    }

    fn with_scratch_copy(
        &mut self,
        from_backup: Option<&Path>,
        rehearse: &mut dyn FnMut(&mut dyn Backend) -> Result<(), Error>,
    ) -> Result<bool, Error> {
        let db = |context: &str, e: rusqlite::Error| Self::db_error(context, e);
        // A file database gets its scratch copy beside it (same file system, so space and speed are the
        // database's own; a copy left by a crash is overwritten next time); an in-memory one, in memory.
        let scratch_path = self.file().map(|path| {
            let mut name = path.file_name().unwrap_or_default().to_os_string();
            name.push(".rehearsal");
            path.with_file_name(name)
        });
        let remove_scratch = |path: &Path| {
            for suffix in ["", "-journal", "-wal", "-shm"] {
                let mut name = path.as_os_str().to_os_string();
                name.push(suffix);
                let _ = std::fs::remove_file(PathBuf::from(name));
            }
        };
        let scratch = match (&scratch_path, from_backup) {
            (Some(path), Some(backup)) => {
                remove_scratch(path);
                std::fs::copy(backup, path).map_err(|e| {
                    crate::backup::io_error("copying the backup for the rehearsal", path, e)
                })?;
                crate::backup::owner_only(path)?;
                Connection::open(path).map_err(|e| db("opening the rehearsal copy", e))?
            }
            (Some(path), None) => {
                remove_scratch(path);
                // Read through a connection of our own: the run's connection holds the write lock.
                let source = Connection::open_with_flags(
                    self.file().unwrap_or_default(),
                    OpenFlags::SQLITE_OPEN_READ_ONLY,
                )
                .map_err(|e| db("opening the database for the rehearsal copy", e))?;
                let mut copy =
                    Connection::open(path).map_err(|e| db("creating the rehearsal copy", e))?;
                crate::backup::owner_only(path)?;
                copy_pages(&source, &mut copy)?;
                copy
            }
            (None, _) => {
                let mut copy = Connection::open_in_memory()
                    .map_err(|e| db("creating the rehearsal copy", e))?;
                // An in-memory database has no other connection to see it, and the run has applied
                // nothing yet: its transaction is closed for the copy (the backup API cannot read
                // from a connection in a write transaction) and opened again.
                let reopen = self.in_run && !self.conn.is_autocommit();
                if reopen {
                    self.conn
                        .execute_batch("COMMIT")
                        .map_err(|e| db("pausing the run for the rehearsal copy", e))?;
                }
                let copied = copy_pages(self.conn, &mut copy);
                if reopen {
                    self.conn
                        .execute_batch("BEGIN IMMEDIATE")
                        .map_err(|e| db("resuming the run after the rehearsal copy", e))?;
                }
                copied?;
                copy
            }
        };
        // The copy behaves as the host's connection does (foreign keys are enforced at the end of each
        // migration when the host turned them on).
        if self.foreign_keys_were_on {
            scratch
                .execute_batch("PRAGMA foreign_keys = ON")
                .map_err(|e| db("configuring the rehearsal copy", e))?;
        }
        debug!(copy = ?scratch_path, "rehearsal copy made");
        let result = rehearse(&mut Sqlite::new(&scratch));
        let _ = scratch.execute_batch("ROLLBACK");
        let closed = scratch.close();
        if let Some(path) = &scratch_path {
            remove_scratch(path);
        }
        if let Err((_, e)) = closed {
            warn!(error = %e, "closing the rehearsal copy failed");
        }
        result.map(|()| true)
    }

    fn health_problems(&mut self, full_integrity_check: bool) -> Result<Vec<String>, Error> {
        let read = |e| Self::db_error("running the health checks", e);
        let pragma = if full_integrity_check {
            "PRAGMA integrity_check"
        } else {
            "PRAGMA quick_check"
        };
        let mut problems: Vec<String> = self
            .conn
            .prepare(pragma)
            .and_then(|mut s| s.query_map([], |r| r.get::<_, String>(0))?.collect())
            .map_err(read)?;
        problems.retain(|p| p != "ok");
        if let Some(violations) = self.foreign_key_violations().map_err(read)? {
            problems.push(violations);
        }
        Ok(problems)
    }

    fn check_query(&mut self, sql: &str) -> Result<bool, Error> {
        let value: Option<rusqlite::types::Value> = self
            .conn
            .query_row(sql, [], |r| r.get(0))
            .optional()
            .map_err(|e| Self::db_error("running a health check query", e))?;
        Ok(
            matches!(value, Some(rusqlite::types::Value::Integer(n)) if n != 0)
                || matches!(value, Some(rusqlite::types::Value::Text(ref t)) if t == "true" || t == "t"),
        )
    }

    fn record_event(&mut self, version: u64, action: &str, detail: &str) -> Result<(), Error> {
        self.log(version, action, "", None, Some(detail))
            .map_err(|e| Self::db_error("writing schema_migrations_log", e))
    }

    fn begin_run(&mut self, config: &Config) -> Result<(), Error> {
        let conn = self.conn;
        self.previous_busy_ms = conn
            .query_row("PRAGMA busy_timeout", [], |r| r.get(0))
            .optional()
            .map_err(|e| Self::db_error("reading busy_timeout", e))?;
        self.foreign_keys_were_on = conn
            .query_row("PRAGMA foreign_keys", [], |r| r.get::<_, i64>(0))
            .map_err(|e| Self::db_error("reading foreign_keys", e))?
            == 1;
        // Table rebuilds (the 12-step ALTER) need foreign keys off, and the pragma is ignored inside a
        // transaction; violations are checked per migration with foreign_key_check instead.
        if self.foreign_keys_were_on {
            conn.execute_batch("PRAGMA foreign_keys = OFF")
                .map_err(|e| Self::db_error("turning foreign keys off for the run", e))?;
        }
        conn.busy_timeout(config.lock_wait)
            .map_err(|e| Self::db_error("setting busy_timeout", e))?;
        let started = Instant::now();
        if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
            self.restore_settings();
            return Err(match e.sqlite_error_code() {
                Some(ErrorCode::DatabaseBusy) | Some(ErrorCode::DatabaseLocked) => Error::Lock {
                    waited: started.elapsed(),
                    message: e.to_string(),
                },
                _ => Self::db_error("taking the write lock (BEGIN IMMEDIATE)", e),
            });
        }
        self.in_run = true;
        if let Err(e) = conn.execute_batch(CREATE_HISTORY) {
            let _ = self.finish_run(false);
            return Err(Self::db_error("creating schema_migrations", e));
        }
        Ok(())
    }

    fn apply(&mut self, m: &Migration, direction: Direction) -> Result<Duration, StatementFailure> {
        if m.no_transaction {
            return self.apply_without_transaction(m, direction);
        }
        let failure = |e: rusqlite::Error, conn: &Connection| StatementFailure {
            index: None,
            message: e.to_string(),
            run_rolled_back: conn.is_autocommit(),
        };
        let started = Instant::now();
        self.conn
            .execute_batch("SAVEPOINT migrator_step")
            .map_err(|e| failure(e, self.conn))?;
        let mut outcome = self.run_statements(m, direction);
        let elapsed = started.elapsed();
        if outcome.is_ok() && self.foreign_keys_were_on {
            outcome = match self.foreign_key_violations() {
                Ok(None) => Ok(()),
                Ok(Some(message)) => Err(StatementFailure {
                    index: None,
                    message,
                    run_rolled_back: false,
                }),
                Err(e) => Err(failure(e, self.conn)),
            };
        }
        if outcome.is_ok() {
            outcome = self
                .record(m, direction, elapsed)
                .map_err(|e| failure(e, self.conn));
        }
        match outcome {
            Ok(()) => {
                self.conn
                    .execute_batch("RELEASE migrator_step")
                    .map_err(|e| failure(e, self.conn))?;
                if self.commit_each {
                    self.conn
                        .execute_batch("COMMIT; BEGIN IMMEDIATE")
                        .map_err(|e| failure(e, self.conn))?;
                }
                Ok(elapsed)
            }
            Err(mut failed) => {
                if self.conn.is_autocommit() {
                    failed.run_rolled_back = true;
                    // The database ended the transaction itself; start a new one so that the failure
                    // can still be recorded and the run finished cleanly.
                    let _ = self.conn.execute_batch("BEGIN IMMEDIATE");
                } else if let Err(e) = self
                    .conn
                    .execute_batch("ROLLBACK TO migrator_step; RELEASE migrator_step")
                {
                    warn!(error = %e, "rolling back to the migration's savepoint failed");
                    failed.run_rolled_back = true;
                }
                Err(failed)
            }
        }
    }

    fn record_failure(
        &mut self,
        m: &Migration,
        direction: Direction,
        message: &str,
    ) -> Result<(), Error> {
        let result = (|| {
            if direction == Direction::Up {
                // A rolled-back row keeps its state; a new or failed one records the failure.
                let existing: Option<String> = self
                    .conn
                    .query_row(
                        "SELECT status FROM schema_migrations WHERE version = ?1",
                        [m.version as i64],
                        |r| r.get(0),
                    )
                    .optional()?;
                if existing.as_deref() != Some("rolled_back")
                    && existing.as_deref() != Some("applied")
                {
                    self.conn.prepare_cached(UPSERT_APPLIED)?.execute(params![
                        m.version as i64,
                        m.name.as_ref(),
                        m.issue,
                        m.checksum.as_ref(),
                        Status::Failed.as_str(),
                        None::<i64>,
                        Some(message)
                    ])?;
                }
            }
            self.log(
                m.version,
                &format!("{}_failed", direction.to_string().to_lowercase()),
                &m.checksum,
                None,
                Some(message),
            )?;
            if self.commit_each {
                self.conn.execute_batch("COMMIT; BEGIN IMMEDIATE")?;
            }
            Ok(())
        })();
        result.map_err(|e: rusqlite::Error| {
            Self::db_error("recording the failure in schema_migrations", e)
        })
    }

    fn mark(&mut self, version: u64, status: Status, checksum: Option<&str>) -> Result<(), Error> {
        let changed = self
            .conn
            .execute(
                "UPDATE schema_migrations SET status = ?2, checksum = COALESCE(?3, checksum), error = NULL,
                 rolled_back_at = CASE WHEN ?2 = 'rolled_back' THEN CURRENT_TIMESTAMP ELSE NULL END WHERE version = ?1",
                params![version as i64, status.as_str(), checksum],
            )
            .map_err(|e| Self::db_error("updating schema_migrations", e))?;
        if changed == 0 {
            return Err(Error::Usage(format!(
                "version {version} is not in schema_migrations"
            )));
        }
        let action = if checksum.is_some() {
            "repaired".to_string()
        } else {
            format!("marked_{status}")
        };
        self.log(
            version,
            &action,
            checksum.unwrap_or(""),
            None,
            Some("by operator"),
        )
        .map_err(|e| Self::db_error("writing schema_migrations_log", e))
    }

    fn finish_run(&mut self, commit: bool) -> Result<(), Error> {
        let sql = if commit { "COMMIT" } else { "ROLLBACK" };
        let result = if self.in_run && !self.conn.is_autocommit() {
            self.conn.execute_batch(sql)
        } else {
            Ok(())
        };
        self.in_run = false;
        self.restore_settings();
        result.map_err(|e| Self::db_error("committing the run", e))
    }

    fn server_version(&mut self) -> Result<String, Error> {
        self.conn
            .query_row("SELECT sqlite_version()", [], |r| r.get::<_, String>(0))
            .map(|v| format!("SQLite {v}"))
            .map_err(|e| Self::db_error("reading the SQLite version", e))
    }

    fn table_stats(&mut self, table: &str, exact: bool) -> Result<Option<TableStats>, Error> {
        let context = format!("reading the size of table {table}");
        let err = |e| Self::db_error(&context, e);
        let Some(name) = self.table_name(table).map_err(err)? else {
            return Ok(None);
        };
        let stat1 = if exact {
            None
        } else {
            self.stat1_rows(&name).map_err(err)?
        };
        let (rows, exact) = match stat1 {
            Some(rows) => (rows, false),
            None => (self.count(&name, None).map_err(err)?, true),
        };
        let (table_bytes, index_bytes) = self.table_bytes(&name).map_err(err)?;
        debug!(table = %name, rows, exact, table_bytes, index_bytes, "table stats");
        Ok(Some(TableStats {
            table: table.to_string(),
            rows,
            exact,
            table_bytes,
            index_bytes,
        }))
    }

    fn estimate_rows(&mut self, sql: &str) -> Result<Option<u64>, Error> {
        let Some(count_sql) = super::rows_query(sql, super::SqlDialect::Sqlite, "count(*)") else {
            return Ok(None);
        };
        match self.conn.query_row(&count_sql, [], |r| r.get::<_, i64>(0)) {
            Ok(n) => Ok(Some(n.max(0) as u64)),
            // A table or column an earlier pending migration creates: nothing to count yet.
            Err(e) if is_missing_object(&e) => {
                debug!(error = %e, "estimate_rows: object does not exist yet");
                Ok(None)
            }
            Err(e) => Err(Self::db_error(
                "counting the rows an UPDATE/DELETE touches",
                e,
            )),
        }
    }

    fn count_affected(&mut self, sql: &str) -> Result<Option<u64>, Error> {
        // SQLite's estimate is already a count.
        self.estimate_rows(sql)
    }

    fn key_width(&mut self, table: &str, columns: &[&str]) -> Result<Option<f64>, Error> {
        let context = format!("reading the key width of table {table}");
        let Some(name) = self
            .table_name(table)
            .map_err(|e| Self::db_error(&context, e))?
        else {
            return Ok(None);
        };
        let mut parts = Vec::new();
        for column in columns {
            let exists: bool = self
                .conn
                .query_row(
                    "SELECT count(*) > 0 FROM pragma_table_info(?1) WHERE name = ?2 COLLATE NOCASE",
                    [name.as_str(), column],
                    |r| r.get(0),
                )
                .map_err(|e| Self::db_error(&context, e))?;
            if !exists {
                return Ok(None);
            }
            parts.push(format!("coalesce(length({}), 0)", quote_ident(column)));
        }
        if parts.is_empty() {
            return Ok(None);
        }
        self.conn
            .query_row(
                &format!(
                    "SELECT avg({}) FROM (SELECT * FROM {} LIMIT 1000)",
                    parts.join(" + "),
                    quote_ident(&name)
                ),
                [],
                |r| r.get::<_, Option<f64>>(0),
            )
            .map_err(|e| Self::db_error(&context, e))
    }

    fn count_rows(&mut self, table: &str, non_null: Option<&str>) -> Result<u64, Error> {
        let context = format!("counting the rows of table {table}");
        let name = self
            .table_name(table)
            .map_err(|e| Self::db_error(&context, e))?
            .ok_or_else(|| Error::Database {
                context: context.clone(),
                message: format!("no such table: {table}"),
            })?;
        self.count(&name, non_null)
            .map_err(|e| Self::db_error(&context, e))
    }

    fn time_batch(&mut self, sql: &str) -> Result<Duration, Error> {
        let started = Instant::now();
        self.conn
            .execute_batch(sql)
            .map_err(|e| Self::db_error("running the calibration sample", e))?;
        Ok(started.elapsed())
    }
}

impl Sqlite<'_> {
    /// The database file, when it has one (not in memory).
    fn file(&self) -> Option<PathBuf> {
        self.conn
            .path()
            .filter(|p| !p.is_empty())
            .map(PathBuf::from)
    }

    /// The table's name as the schema spells it, `None` when there is no such table.
    fn table_name(&self, table: &str) -> rusqlite::Result<Option<String>> {
        self.conn
            .query_row(
                "SELECT name FROM sqlite_schema WHERE type = 'table' AND name = ?1 COLLATE NOCASE",
                [table],
                |r| r.get(0),
            )
            .optional()
    }

    /// The row count `ANALYZE` stored in `sqlite_stat1` (the first number of a `stat` entry).
    fn stat1_rows(&self, table: &str) -> rusqlite::Result<Option<u64>> {
        let has_stat1: bool = self.conn.query_row(
            "SELECT count(*) > 0 FROM sqlite_schema WHERE type = 'table' AND name = 'sqlite_stat1'",
            [],
            |r| r.get(0),
        )?;
        if !has_stat1 {
            return Ok(None);
        }
        let stat: Option<String> = self
            .conn
            .query_row(
                "SELECT stat FROM sqlite_stat1 WHERE tbl = ?1 LIMIT 1",
                [table],
                |r| r.get(0),
            )
            .optional()?;
        Ok(stat.and_then(|s| s.split_whitespace().next()?.parse().ok()))
    }

    /// `count(*)`, or `count(column)` (its non-NULL values). A column that does not exist is an error
    /// (SQLite would read a double-quoted unknown name as a string literal and count every row).
    fn count(&self, table: &str, non_null: Option<&str>) -> rusqlite::Result<u64> {
        if let Some(column) = non_null {
            let exists: bool = self.conn.query_row(
                "SELECT count(*) > 0 FROM pragma_table_info(?1) WHERE name = ?2 COLLATE NOCASE",
                [table, column],
                |r| r.get(0),
            )?;
            if !exists {
                return Err(rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ERROR),
                    Some(format!("no such column: {column}")),
                ));
            }
        }
        let what = non_null.map_or_else(|| "*".to_string(), quote_ident);
        let n: i64 = self.conn.query_row(
            &format!("SELECT count({what}) FROM {}", quote_ident(table)),
            [],
            |r| r.get(0),
        )?;
        Ok(n.max(0) as u64)
    }

    /// Bytes of the table's b-tree and of its indexes' b-trees, from the `dbstat` virtual table (0 and 0,
    /// with a debug event, when this SQLite was built without it).
    fn table_bytes(&self, table: &str) -> rusqlite::Result<(u64, u64)> {
        let size = |name: &str| -> rusqlite::Result<u64> {
            self.conn
                .query_row(
                    "SELECT coalesce(sum(pgsize), 0) FROM dbstat WHERE name = ?1 AND aggregate = TRUE",
                    [name],
                    |r| r.get::<_, i64>(0),
                )
                .map(|n| n.max(0) as u64)
        };
        let table_bytes = match size(table) {
            Ok(n) => n,
            Err(e) => {
                debug!(error = %e, "dbstat unavailable: table sizes unknown");
                return Ok((0, 0));
            }
        };
        let mut stmt = self.conn.prepare(
            "SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = ?1 COLLATE NOCASE",
        )?;
        let indexes = stmt
            .query_map([table], |r| r.get::<_, String>(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let mut index_bytes = 0;
        for index in &indexes {
            index_bytes += size(index)?;
        }
        Ok((table_bytes, index_bytes))
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
}

impl Drop for Sqlite<'_> {
    fn drop(&mut self) {
        if self.in_run {
            // A panic or an early return in the middle of a run: nothing half-done is committed.
            let _ = self.finish_run(false);
        }
    }
}

/// An identifier in double quotes, inner quotes doubled.
fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `true` for "no such table" / "no such column" (an object an earlier pending migration creates).
fn is_missing_object(e: &rusqlite::Error) -> bool {
    let message = e.to_string();
    message.contains("no such table") || message.contains("no such column")
}

/// Copies every page of `source` into `copy` with the online backup API, in one step; a writer elsewhere
/// can make the source busy for a moment, which is waited out for up to 30 s.
fn copy_pages(source: &Connection, copy: &mut Connection) -> Result<(), Error> {
    let db = |context: &str, e: rusqlite::Error| Sqlite::db_error(context, e);
    let backup =
        rusqlite::backup::Backup::new(source, copy).map_err(|e| db("starting the copy", e))?;
    let mut busy_for = Duration::ZERO;
    loop {
        match backup.step(-1).map_err(|e| db("copying the database", e))? {
            StepResult::Done => return Ok(()),
            StepResult::More => {}
            _ if busy_for < Duration::from_secs(30) => {
                std::thread::sleep(Duration::from_millis(20));
                busy_for += Duration::from_millis(20);
            }
            _ => {
                return Err(Error::Backup(
                    "the database stayed busy for 30 s during the copy".to_string(),
                ))
            }
        }
    }
}

/// SQLite's schema as comparable objects: each table's columns (`pragma_table_xinfo`), foreign keys
/// (`pragma_foreign_key_list`) and CHECK constraints (from its text), and the normalised text of every
/// index, view and trigger. Structural where SQLite can tell, so that a DOWN that rebuilds a table with
/// other formatting still compares equal.
fn schema_fingerprint(
    conn: &Connection,
    tables: Option<&[&str]>,
    cache: &mut std::collections::HashMap<(String, String, String), Vec<SchemaObject>>,
) -> rusqlite::Result<Vec<SchemaObject>> {
    let mut query = conn.prepare_cached(
        "SELECT type, name, tbl_name, coalesce(sql, '') FROM sqlite_schema
         WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\'
           AND tbl_name NOT IN ('schema_migrations', 'schema_migrations_log')",
    )?;
    let mut rows = query.query([])?;
    let mut objects = Vec::new();
    while let Some(row) = rows.next()? {
        let table = row.get_ref(2)?.as_str().map_err(rusqlite::Error::from)?;
        if let Some(scope) = tables {
            if !scope.iter().any(|t| t.eq_ignore_ascii_case(table)) {
                continue;
            }
        }
        let entry: (String, String, String) = (row.get(0)?, row.get(1)?, row.get(3)?);
        if let Some(known) = cache.get(&entry) {
            objects.extend(known.iter().cloned());
            continue;
        }
        let described = describe_entry(conn, &entry.0, &entry.1, &entry.2)?;
        objects.extend(described.iter().cloned());
        cache.insert(entry, described);
    }
    objects.sort();
    Ok(objects)
}

/// The fingerprint objects of one schema entry.
fn describe_entry(
    conn: &Connection,
    kind: &str,
    name: &str,
    sql: &str,
) -> rusqlite::Result<Vec<SchemaObject>> {
    let object = |kind: &str, name: String, definition: String| SchemaObject {
        kind: kind.to_string(),
        name,
        definition,
    };
    let text = normalise_sql(sql);
    if kind != "table" {
        return Ok(vec![object(kind, name.to_string(), text)]);
    }
    let mut objects = Vec::new();
    let mut columns = conn.prepare_cached(
        "SELECT name, type, \"notnull\", coalesce(dflt_value, ''), pk, hidden FROM pragma_table_xinfo(?1)",
    )?;
    let rows = columns.query_map([name], |r| {
        Ok((
            r.get::<_, String>(0)?,
            format!(
                "{} notnull={} default={} pk={} hidden={}",
                r.get::<_, String>(1)?.to_uppercase(),
                r.get::<_, i64>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, i64>(4)?,
                r.get::<_, i64>(5)?
            ),
        ))
    })?;
    for row in rows {
        let (column, definition) = row?;
        objects.push(object("column", format!("{name}.{column}"), definition));
    }
    let mut keys = conn.prepare_cached(
        "SELECT id, \"from\", \"table\", coalesce(\"to\", ''), on_update, on_delete FROM pragma_foreign_key_list(?1) ORDER BY id, seq",
    )?;
    let mut foreign: Vec<(i64, String, String, String, String)> = Vec::new();
    let rows = keys.query_map([name], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
            format!(
                "on update {} on delete {}",
                r.get::<_, String>(4)?,
                r.get::<_, String>(5)?
            ),
        ))
    })?;
    for row in rows {
        let (id, from, table, to, actions) = row?;
        match foreign.last_mut() {
            Some(last) if last.0 == id => {
                last.1.push_str(&format!(",{from}"));
                last.3.push_str(&format!(",{to}"));
            }
            _ => foreign.push((id, from, table, to, actions)),
        }
    }
    for (_, from, table, to, actions) in foreign {
        objects.push(object(
            "foreign key",
            format!("{name}({from})"),
            format!("references {table}({to}) {actions}"),
        ));
    }
    for check in check_clauses(&text) {
        objects.push(object("check", name.to_string(), check));
    }
    objects.push(object("table", name.to_string(), String::new()));
    Ok(objects)
}

/// SQLite keeps DDL as written: lower-cased, quotes dropped, white space collapsed and dropped around
/// punctuation, so that `ON "t" (x)` and `on t(x)` compare equal.
fn normalise_sql(sql: &str) -> String {
    let lowered: String = sql
        .chars()
        .filter(|c| !matches!(c, '"' | '`' | '[' | ']'))
        .flat_map(char::to_lowercase)
        .collect();
    let words: Vec<&str> = lowered.split_whitespace().collect();
    let mut out = String::with_capacity(lowered.len());
    for word in words {
        let glue = out
            .chars()
            .last()
            .is_some_and(|c| matches!(c, '(' | ',' | '=' | '<' | '>'))
            || word.starts_with([')', '(', ',', '=', '<', '>']);
        if !out.is_empty() && !glue {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// The `check(...)` clauses of a normalised CREATE TABLE text, parentheses balanced and quotes respected.
fn check_clauses(text: &str) -> Vec<String> {
    let mut clauses = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("check(") {
        let body = &rest[start..];
        let mut depth = 0usize;
        let mut in_string = false;
        let mut end = body.len();
        for (i, c) in body.char_indices() {
            match c {
                '\'' => in_string = !in_string,
                '(' if !in_string => depth += 1,
                ')' if !in_string => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        end = i + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        clauses.push(body[..end].to_string());
        rest = &body[end..];
    }
    clauses
}
