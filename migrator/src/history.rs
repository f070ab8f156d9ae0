//! The history store: `schema_migrations` (one row per migration) and `schema_migrations_log` (every
//! event), written once for every engine over [`Engine`]. The table's name is configurable
//! ([`crate::Config::history_table`]); the log is `<name>_log`.
//!
//! **Exactly once.** A migration's history row is written *first*, in the migration's own transaction,
//! under the table's primary key: the claim inserts the row, or takes over a `failed` or `rolled_back` one,
//! and affects no row when another process has applied (or is running) that version. A process that lost
//! its lock can therefore at worst stop with [`crate::Error::AlreadyDone`]; it never applies a migration a
//! second time. Engines without transactional DDL (and no-transaction migrations) claim with a committed
//! `running` row instead, which blocks every other process the same way.

use std::fmt;
use std::time::Duration;

use tracing::debug;

use crate::engine::{DbError, DbErrorKind, Dialect, Direction, Engine, Upsert, Value};
use crate::{Error, Migration};

/// The state of one migration in `schema_migrations`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Applied and in force.
    Applied,
    /// Applied, then rolled back through its DOWN.
    RolledBack,
    /// Failed; a transactional migration left nothing behind and is retried at the next boot, a
    /// no-transaction one blocks the boot until an operator checks it.
    Failed,
    /// A no-transaction migration (or any migration on an engine without transactional DDL) started
    /// and did not finish: blocks the boot until an operator checks it.
    Running,
}

impl Status {
    /// The value stored in the `status` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Applied => "applied",
            Status::RolledBack => "rolled_back",
            Status::Failed => "failed",
            Status::Running => "running",
        }
    }

    /// Reads a `status` column value; unknown values (a hand edit) read as `None`.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "applied" => Status::Applied,
            "rolled_back" => Status::RolledBack,
            "failed" => Status::Failed,
            "running" => Status::Running,
            _ => return None,
        })
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One row of `schema_migrations`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryRow {
    /// The migration's version.
    pub version: u64,
    /// Its name.
    pub name: String,
    /// Its issue.
    pub issue: Option<u32>,
    /// SHA-256 of the file as applied; `None` for a row written by the file's own standalone INSERT.
    pub checksum: Option<String>,
    /// State.
    pub status: Status,
    /// When it was (last) applied, as the database wrote it (UTC).
    pub applied_at: String,
    /// How long the UP took, in milliseconds.
    pub execution_ms: Option<i64>,
    /// When it was rolled back.
    pub rolled_back_at: Option<String>,
    /// The last failure's message.
    pub error: Option<String>,
}

/// One row of `schema_migrations_log`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// Its id (increasing).
    pub id: i64,
    /// The migration's version.
    pub version: u64,
    /// What happened: `applied`, `rolled_back`, `up_failed`, `adopted`, `marked_applied`, ...
    pub action: String,
    /// The file's checksum at that moment.
    pub checksum: Option<String>,
    /// When (UTC, `YYYY-MM-DD HH:MM:SS`).
    pub at: String,
    /// How long it took.
    pub duration_ms: Option<i64>,
    /// Free text: the error, the operator's reason.
    pub detail: Option<String>,
}

/// The states an UP may claim a row from: a migration that failed or was rolled back runs again.
const RETRYABLE: &str = "('failed', 'rolled_back')";

/// The history tables of one database, by name.
#[derive(Debug, Clone)]
pub(crate) struct History {
    table: String,
    log: String,
    read_wait: Duration,
    /// The schema the tables live in, when the engine has schemas (PostgreSQL): every statement names it,
    /// so a migration that changes `search_path` cannot send the history write elsewhere.
    schema: Option<String>,
}

impl History {
    /// The store over `table` and `<table>_log`; a read waits at most `read_wait` for a lock another
    /// session holds on the table.
    pub fn new(table: &str, read_wait: Duration) -> Self {
        Self {
            table: table.to_string(),
            log: format!("{table}_log"),
            read_wait,
            schema: None,
        }
    }

    /// Names `schema` in every statement from now on.
    pub fn in_schema(mut self, schema: Option<String>) -> Self {
        self.schema = schema;
        self
    }

    /// A table of ours, quoted and qualified by its schema when known.
    fn name(&self, d: &Dialect, table: &str) -> String {
        match &self.schema {
            Some(schema) => format!("{}.{}", d.ident(schema), d.ident(table)),
            None => d.ident(table),
        }
    }

    /// Runs one read query with the engine's deadline around it. `Ok(None)`: the table is missing.
    fn bounded_query(
        &self,
        engine: &mut dyn Engine,
        sql: &str,
        what: &str,
    ) -> Result<Option<Vec<Vec<Value>>>, Error> {
        let guard = engine.read_guard(self.read_wait);
        if let Some((before, _)) = &guard {
            engine
                .execute(before)
                .map_err(|e| Self::db(&format!("reading {what}"), e))?;
        }
        let result = engine.query(sql);
        if let Some((_, after)) = &guard {
            if result.is_err() {
                let _ = engine.execute("ROLLBACK");
            } else {
                engine
                    .execute(after)
                    .map_err(|e| Self::db(&format!("reading {what}"), e))?;
            }
        }
        match result {
            Ok(rows) => Ok(Some(rows)),
            Err(e) if e.kind == DbErrorKind::MissingObject => Ok(None),
            Err(e) if e.kind == DbErrorKind::LockTimeout => Err(Error::Lock {
                waited: self.read_wait,
                message: format!("reading {what}: another session holds a lock on it ({e})"),
                setting: "lock_wait",
            }),
            Err(e) => Err(Self::db(&format!("reading {what}"), e)),
        }
    }

    /// The history table's name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// The log table's name.
    pub fn log_table(&self) -> &str {
        &self.log
    }

    fn db(context: &str, e: DbError) -> Error {
        Error::Database {
            context: context.to_string(),
            source: e,
        }
    }

    /// `CREATE TABLE IF NOT EXISTS` of both tables in the engine's types.
    fn create_sql(&self, d: &Dialect) -> String {
        let (t, l) = (self.name(d, &self.table), self.name(d, &self.log));
        format!(
            "CREATE TABLE IF NOT EXISTS {t} (
    version        {big} PRIMARY KEY,
    name           {text} NOT NULL,
    issue_number   {big},
    applied_at     {ts} NOT NULL DEFAULT CURRENT_TIMESTAMP,
    checksum       {text},
    status         {text} NOT NULL,
    execution_ms   {big},
    rolled_back_at {ts} NULL,
    error          {text},
    CHECK (status IN ('applied', 'rolled_back', 'failed', 'running'))
);
CREATE TABLE IF NOT EXISTS {l} (
    id          {serial},
    version     {big} NOT NULL,
    action      {text} NOT NULL,
    checksum    {text},
    at          {ts} NOT NULL DEFAULT CURRENT_TIMESTAMP,
    duration_ms {big},
    detail      {text}
)",
            big = d.bigint,
            text = d.text,
            ts = d.timestamp,
            serial = d.serial_id,
        )
    }

    /// Creates the tables when they are missing (nothing is sent when the engine knows both are there:
    /// [`Engine::tables_known`]).
    pub fn ensure(&self, engine: &mut dyn Engine) -> Result<(), Error> {
        if self.schema.is_none()
            && engine
                .tables_known(&[&self.table, &self.log])
                .is_some_and(|known| known.iter().all(|exists| *exists))
        {
            return Ok(());
        }
        let sql = self.create_sql(engine.dialect());
        engine
            .execute(&sql)
            .map_err(|e| Self::db(&format!("creating {}", self.table), e))
    }

    /// Every row, sorted by version; empty when the table does not exist yet.
    pub fn read(&self, engine: &mut dyn Engine) -> Result<Vec<HistoryRow>, Error> {
        let d = engine.dialect();
        let sql = format!(
            "SELECT version, name, issue_number, checksum, status, {}, execution_ms, {}, error FROM {} ORDER BY version",
            d.timestamp_text.replace("{}", "applied_at"),
            d.timestamp_text.replace("{}", "rolled_back_at"),
            self.name(d, &self.table)
        );
        let Some(rows) = self.bounded_query(engine, &sql, &self.table.clone())? else {
            return Ok(Vec::new());
        };
        Ok(rows.into_iter().map(|row| history_row(&row)).collect())
    }

    /// Visits `(version, checksum, status)` of every row in version order: the boot check's fast path.
    /// Returns `None` when the table does not exist, else the engine's
    /// [`Engine::commits_by_others_sql`] number read in the same statement (`None` when it has none, or
    /// the table no rows).
    pub fn scan(
        &self,
        engine: &mut dyn Engine,
        visit: &mut dyn FnMut(u64, Option<&str>, &str),
    ) -> Result<Option<Option<i64>>, Error> {
        let commits = engine.commits_by_others_sql();
        let sql = format!(
            "SELECT version, checksum, status{}{} FROM {} ORDER BY version",
            if commits.is_some() { ", " } else { "" },
            commits.unwrap_or_default(),
            self.name(engine.dialect(), &self.table)
        );
        let Some(rows) = self.bounded_query(engine, &sql, &self.table.clone())? else {
            return Ok(None);
        };
        let seen = commits
            .and_then(|_| rows.first())
            .and_then(|row| row.get(3))
            .and_then(Value::as_i64);
        for row in &rows {
            let version = row.first().and_then(Value::as_i64).unwrap_or(-1);
            let checksum = match row.get(1) {
                Some(Value::Text(t)) => Some(t.as_str()),
                _ => None,
            };
            let status = match row.get(2) {
                Some(Value::Text(t)) => t.as_str(),
                _ => "",
            };
            visit(version.max(0) as u64, checksum, status);
        }
        Ok(Some(seen))
    }

    /// The log, oldest first; with `after`, only entries with a larger id.
    pub fn read_log(
        &self,
        engine: &mut dyn Engine,
        after: Option<i64>,
    ) -> Result<Vec<LogEntry>, Error> {
        let d = engine.dialect();
        let sql = format!(
            "SELECT id, version, action, checksum, {}, duration_ms, detail FROM {} WHERE id > {} ORDER BY id",
            d.timestamp_text.replace("{}", "at"),
            self.name(d, &self.log),
            after.unwrap_or(-1)
        );
        let Some(rows) = self.bounded_query(engine, &sql, &self.log.clone())? else {
            return Ok(Vec::new());
        };
        Ok(rows
            .iter()
            .map(|r| LogEntry {
                id: cell_i64(r, 0).unwrap_or(0),
                version: cell_i64(r, 1).unwrap_or(0).max(0) as u64,
                action: cell_text(r, 2).unwrap_or_default(),
                checksum: cell_text(r, 3),
                at: cell_text(r, 4).unwrap_or_default(),
                duration_ms: cell_i64(r, 5),
                detail: cell_text(r, 6),
            })
            .collect())
    }

    /// Claims `m` for a run in `direction`: the history row is written first, in the current
    /// transaction, under the table's primary key. `status` is what the row says while the migration
    /// runs (`applied` or `rolled_back` inside a transaction; `running` without one). Returns `false`,
    /// having written nothing, when another process has already done it or is doing it.
    pub fn claim(
        &self,
        engine: &mut dyn Engine,
        m: &Migration,
        direction: Direction,
        status: Status,
    ) -> Result<bool, Error> {
        let d = engine.dialect();
        let context = format!("claiming migration {} in {}", m.version, self.table);
        if let Some(sql) = self.claim_sql(d, m, direction, status) {
            let claimed = engine
                .execute_count(&sql)
                .map_err(|e| Self::db(&context, e))?;
            return Ok(claimed == 1);
        }
        if engine
            .execute_count(&self.retake_sql(d, m, status, "NULL"))
            .map_err(|e| Self::db(&context, e))?
            == 1
        {
            return Ok(true);
        }
        let insert = self.insert_sql(d, m, status, "NULL", "NULL");
        match engine.execute_count(&insert) {
            Ok(_) => Ok(true),
            Err(e) if e.kind == DbErrorKind::UniqueViolation => Ok(false),
            Err(e) => Err(Self::db(&context, e)),
        }
    }

    /// The statement that takes over the row of a migration that may run again (`failed`, or
    /// `rolled_back` for an UP), with the status it gets and its duration (`ms`, an SQL expression):
    /// one row affected when it did, none when the row is another's or missing.
    fn retake_sql(&self, d: &Dialect, m: &Migration, status: Status, ms: &str) -> String {
        format!(
            "UPDATE {} SET name = {}, issue_number = {}, checksum = {}, status = '{status}', applied_at = {},
                execution_ms = {ms}, rolled_back_at = NULL, error = NULL
             WHERE version = {} AND status IN {RETRYABLE}",
            self.name(d, &self.table),
            d.literal(&m.name),
            issue_sql(m.issue),
            d.literal(&m.checksum),
            d.now,
            m.version
        )
    }

    /// Records an UP that just ran in the current transaction, after its statements, on an engine whose
    /// run holds the database's only write lock and read the history under it (SQLite): nobody can have
    /// written the row meanwhile, so the claim of [`History::claim`] is not needed first. One batch, the
    /// row with its duration (`ms`, an SQL expression) and the log row; a row left by a failed or
    /// rolled-back run is taken over instead. `Ok(false)`, having written nothing, when the row is
    /// another's (applied or running).
    pub fn record_up(
        &self,
        engine: &mut dyn Engine,
        m: &Migration,
        ms: &str,
        detail: Option<&str>,
    ) -> Result<bool, DbError> {
        let d = engine.dialect();
        let log = self.log_sql(d, m.version, "applied", Some(&m.checksum), ms, detail);
        let insert = format!(
            "{};\n{log}",
            self.insert_sql(d, m, Status::Applied, ms, "NULL")
        );
        match engine.execute(&insert) {
            Ok(()) => return Ok(true),
            Err(e) if e.kind == DbErrorKind::UniqueViolation => {}
            Err(e) => return Err(e),
        }
        if engine.execute_count(&self.retake_sql(d, m, Status::Applied, ms))? != 1 {
            return Ok(false);
        }
        engine.execute(&log)?;
        Ok(true)
    }

    /// The claim of [`History::claim`] as one statement that affects one row when the claim succeeds and
    /// none when another process has the migration; `None` when the engine needs two statements for it
    /// (an UP on an engine without `ON CONFLICT ... WHERE`). The PostgreSQL apply sends it in the same
    /// round trip as the migration's statements, guarded so that the batch stops when it affects no row.
    pub fn claim_sql(
        &self,
        d: &Dialect,
        m: &Migration,
        direction: Direction,
        status: Status,
    ) -> Option<String> {
        let t = self.name(d, &self.table);
        if direction == Direction::Down {
            let rolled_back_at = if status == Status::RolledBack {
                "CURRENT_TIMESTAMP"
            } else {
                "rolled_back_at"
            };
            let sql = format!(
                "UPDATE {t} SET status = '{status}', rolled_back_at = {rolled_back_at}, error = NULL WHERE version = {} AND status = 'applied'",
                m.version
            );
            return Some(sql.replace("CURRENT_TIMESTAMP", d.now));
        }
        if d.upsert != Upsert::OnConflict {
            return None;
        }
        let values = self.row_values(d, m, status);
        let sql = format!(
            "INSERT INTO {t} (version, name, issue_number, checksum, status, applied_at, execution_ms, rolled_back_at, error)
             VALUES ({values})
             ON CONFLICT (version) DO UPDATE SET name = excluded.name, issue_number = excluded.issue_number,
                checksum = excluded.checksum, status = excluded.status, applied_at = excluded.applied_at,
                execution_ms = NULL, rolled_back_at = NULL, error = NULL
             WHERE {t}.status IN {RETRYABLE}"
        );
        Some(sql.replace("CURRENT_TIMESTAMP", d.now))
    }

    /// An SQL boolean that holds while the history is as a short run planned it: `rows` rows, every one
    /// applied, all of them before `version` (the migration about to run). Another process that
    /// applied, rolled back or failed anything since makes it false, and the run goes under the lock.
    /// One filtered count beside the plain one: on a new PostgreSQL backend every function and operator
    /// a statement names costs a catalog lookup, and this form names the fewest (0.5 ms against 0.7 ms
    /// for a `CASE`, `coalesce` and `max`, replayed at 1,000 rows).
    pub fn unchanged_condition(&self, d: &Dialect, rows: usize, version: u64) -> String {
        format!(
            "(SELECT count(*) FILTER (WHERE status = 'applied' AND version < {version}) = {rows} AND count(*) = {rows} FROM {})",
            self.name(d, &self.table)
        )
    }

    fn row_values(&self, d: &Dialect, m: &Migration, status: Status) -> String {
        Self::values(d, m, status, "NULL", "NULL")
    }

    /// A history row's values in the order of [`History::insert_sql`]: `ms` and `error` are SQL.
    fn values(d: &Dialect, m: &Migration, status: Status, ms: &str, error: &str) -> String {
        format!(
            "{}, {}, {}, {}, '{status}', {}, {ms}, NULL, {error}",
            m.version,
            d.literal(&m.name),
            issue_sql(m.issue),
            d.literal(&m.checksum),
            d.now,
        )
    }

    /// A plain `INSERT` of `m`'s history row (no `ON CONFLICT`: an existing row fails it).
    fn insert_sql(
        &self,
        d: &Dialect,
        m: &Migration,
        status: Status,
        ms: &str,
        error: &str,
    ) -> String {
        format!(
            "INSERT INTO {} (version, name, issue_number, checksum, status, applied_at, execution_ms, rolled_back_at, error) VALUES ({})",
            self.name(d, &self.table),
            Self::values(d, m, status, ms, error)
        )
    }

    /// The SQL that completes a claimed migration once its statements ran: the status it ends in (when
    /// it ran without a transaction), its duration, and the log row. `ms` is an SQL expression.
    pub fn finish_sql(
        &self,
        d: &Dialect,
        m: &Migration,
        direction: Direction,
        in_transaction: bool,
        ms: &str,
        detail: Option<&str>,
    ) -> String {
        let t = self.name(d, &self.table);
        let v = m.version;
        let mut sql = match (direction, in_transaction) {
            (Direction::Up, true) => {
                format!("UPDATE {t} SET execution_ms = {ms} WHERE version = {v};\n")
            }
            (Direction::Up, false) => format!(
                "UPDATE {t} SET status = 'applied', execution_ms = {ms} WHERE version = {v} AND status = 'running';\n"
            ),
            (Direction::Down, true) => String::new(),
            (Direction::Down, false) => format!(
                "UPDATE {t} SET status = 'rolled_back', rolled_back_at = {} WHERE version = {v} AND status = 'running';\n",
                d.now
            ),
        };
        let action = match direction {
            Direction::Up => "applied",
            Direction::Down => "rolled_back",
        };
        sql.push_str(&self.log_sql(d, v, action, Some(&m.checksum), ms, detail));
        sql
    }

    /// The SQL that puts a `failed` migration back to `running`: a backfill resuming at its cursor (its
    /// batches before the failure are committed, so it is resumed, not retried from the start).
    pub fn resume_sql(&self, d: &Dialect, version: u64) -> String {
        format!(
            "UPDATE {} SET status = 'running', error = NULL WHERE version = {version} AND status = 'failed'",
            d.ident(&self.table)
        )
    }

    /// Records a failure: a transactional UP's row (already rolled back with its claim) becomes `failed`
    /// unless another process applied or rolled it back meanwhile; a claimed `running` row becomes
    /// `failed`; and the log gets an `up_failed` / `down_failed` entry with the message.
    pub fn fail(
        &self,
        engine: &mut dyn Engine,
        m: &Migration,
        direction: Direction,
        message: &str,
    ) -> Result<(), Error> {
        let d = engine.dialect();
        let t = self.name(d, &self.table);
        let context = format!("recording the failure of {} in {}", m.version, self.table);
        let error = d.literal(message);
        let update = format!(
            "UPDATE {t} SET status = 'failed', error = {error} WHERE version = {} AND status IN ('running', 'failed')",
            m.version
        );
        let updated = engine
            .execute_count(&update)
            .map_err(|e| Self::db(&context, e))?;
        if updated == 0 && direction == Direction::Up {
            let insert = self.insert_sql(d, m, Status::Failed, "NULL", &error);
            match engine.execute_count(&insert) {
                // A row that exists is applied or rolled back (by another process): it keeps its state.
                Ok(_) => {}
                Err(e) if e.kind == DbErrorKind::UniqueViolation => {
                    debug!(
                        version = m.version,
                        "the failed migration's row keeps its state"
                    );
                }
                Err(e) => return Err(Self::db(&context, e)),
            }
        }
        let action = format!("{}_failed", direction.to_string().to_lowercase());
        let log = self.log_sql(
            d,
            m.version,
            &action,
            Some(&m.checksum),
            "NULL",
            Some(message),
        );
        engine.execute(&log).map_err(|e| Self::db(&context, e))
    }

    /// Operator repair. With `checksum`: records a new checksum for an *applied* migration whose file was
    /// edited on purpose. Without: sets a `failed` or `running` migration (one that ran without a
    /// transaction, or on an engine without transactional DDL) to `status`. Anything else is refused:
    /// marking a normally applied migration would make history contradict the schema.
    pub fn mark(
        &self,
        engine: &mut dyn Engine,
        version: u64,
        status: Status,
        checksum: Option<&str>,
        reason: Option<&str>,
    ) -> Result<(), Error> {
        let d = engine.dialect();
        let t = self.name(d, &self.table);
        let context = format!("updating {}", self.table);
        let sql = match checksum {
            Some(sum) => format!(
                "UPDATE {t} SET checksum = {} WHERE version = {version} AND status = 'applied'",
                d.literal(sum)
            ),
            None => format!(
                "UPDATE {t} SET status = '{status}', error = NULL, rolled_back_at = {} WHERE version = {version} AND status IN ('failed', 'running')",
                if status == Status::RolledBack { d.now } else { "NULL" }
            ),
        };
        let changed = engine
            .execute_count(&sql)
            .map_err(|e| Self::db(&context, e))?;
        if changed == 0 {
            let current = self
                .read(engine)?
                .into_iter()
                .find(|r| r.version == version)
                .map(|r| r.status);
            return Err(Error::Refused(match (checksum, current) {
                (_, None) => format!("version {version} is not in {}; nothing was changed", self.table),
                (Some(_), Some(s)) => format!("migration {version} is {s}, not applied: --migrate-repair records a new checksum for an applied migration only; nothing was changed"),
                (None, Some(s)) => format!("migration {version} is {s}: --migrate-mark only resolves a failed or interrupted migration (one that ran without a transaction); a normally {s} migration is changed with --migrate-rollback or a new migration; nothing was changed"),
            }));
        }
        let action = if checksum.is_some() {
            "repaired".to_string()
        } else {
            format!("marked_{status}")
        };
        let detail = reason.map_or_else(
            || "by operator".to_string(),
            |r| format!("by operator: {r}"),
        );
        let log = self.log_sql(d, version, &action, checksum, "NULL", Some(&detail));
        engine.execute(&log).map_err(|e| Self::db(&context, e))
    }

    /// Adds an event to the log.
    pub fn log(
        &self,
        engine: &mut dyn Engine,
        version: u64,
        action: &str,
        detail: Option<&str>,
    ) -> Result<(), Error> {
        let sql = self.log_sql(engine.dialect(), version, action, None, "NULL", detail);
        engine
            .execute(&sql)
            .map_err(|e| Self::db(&format!("writing {}", self.log), e))
    }

    /// The INSERT of one log row.
    pub fn log_sql(
        &self,
        d: &Dialect,
        version: u64,
        action: &str,
        checksum: Option<&str>,
        ms: &str,
        detail: Option<&str>,
    ) -> String {
        format!(
            "INSERT INTO {} (version, action, checksum, at, duration_ms, detail) VALUES ({version}, {}, {}, {}, {ms}, {})",
            self.name(d, &self.log),
            d.literal(action),
            d.literal_or_null(checksum),
            d.now,
            d.literal_or_null(detail),
        )
    }

    /// Records rows for migrations applied by other means (a peer tool's history, a baseline): each
    /// becomes `applied` with `action` in the log, nothing is run. Versions already recorded are left.
    pub fn adopt(
        &self,
        engine: &mut dyn Engine,
        migrations: &[&Migration],
        action: &str,
        detail: &str,
    ) -> Result<usize, Error> {
        let mut adopted = 0;
        for m in migrations {
            if self.claim(engine, m, Direction::Up, Status::Applied)? {
                let d = engine.dialect();
                let log = self.log_sql(
                    d,
                    m.version,
                    action,
                    Some(&m.checksum),
                    "NULL",
                    Some(detail),
                );
                engine
                    .execute(&log)
                    .map_err(|e| Self::db(&format!("writing {}", self.log), e))?;
                adopted += 1;
            }
        }
        Ok(adopted)
    }
}

fn issue_sql(issue: Option<u32>) -> String {
    issue.map_or_else(|| "NULL".to_string(), |i| i.to_string())
}

fn cell_i64(row: &[Value], i: usize) -> Option<i64> {
    row.get(i).and_then(Value::as_i64)
}

fn cell_text(row: &[Value], i: usize) -> Option<String> {
    row.get(i).and_then(Value::as_text)
}

fn history_row(row: &[Value]) -> HistoryRow {
    HistoryRow {
        version: cell_i64(row, 0).unwrap_or(0).max(0) as u64,
        name: cell_text(row, 1).unwrap_or_default(),
        issue: cell_i64(row, 2).and_then(|i| u32::try_from(i).ok()),
        checksum: cell_text(row, 3),
        status: cell_text(row, 4)
            .and_then(|s| Status::parse(&s))
            .unwrap_or(Status::Failed),
        applied_at: cell_text(row, 5).unwrap_or_default(),
        execution_ms: cell_i64(row, 6),
        rolled_back_at: cell_text(row, 7),
        error: cell_text(row, 8),
    }
}

/// Reading and annotating a database's history without a migration set: what the companion tool's
/// changelog and issue tracker need. `table` is the history table's name (`schema_migrations` unless
/// [`crate::Config::history_table`] says otherwise).
pub mod tables {
    use std::time::Duration;

    use super::{History, HistoryRow, LogEntry};
    use crate::{Engine, Error};

    const READ_WAIT: Duration = Duration::from_secs(60);

    /// Every row of the history table, by version; empty when it does not exist.
    pub fn rows(engine: &mut dyn Engine, table: &str) -> Result<Vec<HistoryRow>, Error> {
        History::new(table, READ_WAIT).read(engine)
    }

    /// Every event of the log, by id (only those after `after` when given); empty when it does not exist.
    pub fn log(
        engine: &mut dyn Engine,
        table: &str,
        after: Option<i64>,
    ) -> Result<Vec<LogEntry>, Error> {
        History::new(table, READ_WAIT).read_log(engine, after)
    }

    /// Adds an event to the log (the history tables must exist).
    pub fn record(
        engine: &mut dyn Engine,
        table: &str,
        version: u64,
        action: &str,
        detail: Option<&str>,
    ) -> Result<(), Error> {
        History::new(table, READ_WAIT).log(engine, version, action, detail)
    }
}
