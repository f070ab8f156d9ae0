//! PostgreSQL through diesel's `PgConnection` (the host hands us the connection it already has).
//!
//! - **The lock**: a session-level advisory lock taken on a *dedicated* connection (opened from the
//!   database URL, on a thread from [`Engine::lock_ahead`] on while the boot reads the history, or
//!   handed over by the host), polled with `pg_try_advisory_lock` until `lock_wait`. A
//!   heartbeat thread keeps that connection busy (so `idle_session_timeout` or an idle-dropping firewall
//!   does not end it) and notices at once when the server ends it anyway: the run then stops with
//!   [`Error::LockLost`]. The key is the first 8 bytes of `sha256(current_database() || '/' || table)` read
//!   as a signed big-endian `bigint`, so `pg_locks` shows it.
//! - **One transaction per migration** ([`Atomicity::MigrationTransaction`]): the timeouts and a
//!   transaction-level advisory lock (a successor waits on it, so a migration the server is still
//!   finishing for a killed process is seen committed or not at all), the history claim, then the
//!   statements, the history write and the COMMIT as one batch.
//! - **Errors** carry PostgreSQL's DETAIL, HINT and position. Lock timeouts (SQLSTATE 55P03) are recognised
//!   by the server's message, since diesel does not expose the SQLSTATE.
//!
//! Capabilities: backups and scratch copies (`pg_dump`/`pg_restore`) in `postgres_copy.rs`, the schema
//! fingerprint and statistics in `postgres_schema.rs`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::pg::{Pg, PgValue};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::row::{Field, NamedRow};
use diesel::sql_types::{BigInt, Bool, Text};
use diesel::{Connection, PgConnection, QueryableByName, RunQueryDsl};
use tracing::{debug, info, warn};

use super::heartbeat::HeartbeatLock;
use super::{
    Atomicity, Backup, DbError, DbErrorKind, Dialect, Engine, EngineKind, Fingerprint, LockGuard,
    Row, ScratchCopy, Stats, Upsert, Value,
};
use crate::Error;

/// PostgreSQL's dialect facts.
pub const DIALECT: Dialect = Dialect {
    kind: EngineKind::Postgres,
    atomicity: Atomicity::MigrationTransaction,
    begin: "BEGIN",
    bigint: "BIGINT",
    text: "TEXT",
    timestamp: "TIMESTAMPTZ",
    serial_id: "BIGSERIAL PRIMARY KEY",
    now: "CURRENT_TIMESTAMP",
    timestamp_text: "to_char({} AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS')",
    upsert: Upsert::OnConflict,
    backslash_escapes: false,
    e_strings: true,
    ident_quote: '"',
    elapsed_ms: Some(
        "(extract(epoch FROM clock_timestamp() - statement_timestamp()) * 1000)::bigint",
    ),
};

const FIRST_POLL: Duration = Duration::from_millis(20);
const MAX_POLL: Duration = Duration::from_millis(250);

/// The lock key of `name` in this database, as SQL the server computes.
fn key_sql(name: &str) -> String {
    format!(
        "('x' || left(encode(sha256(convert_to(current_database() || '/' || {}, 'UTF8')), 'hex'), 16))::bit(64)::bigint",
        DIALECT.literal(name)
    )
}

/// The lock key of `name` in `database`, computed here: the same number as [`key_sql`] (the first 8
/// bytes of the SHA-256 of `database/name`, big-endian, signed), so that a process of an older version
/// and this one exclude each other. As a literal it saves the server the lookups of five functions and a
/// cast on a new backend (about 0.6 ms), and keeps the batch short in `pg_stat_activity`.
fn key_literal(database: &str, name: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("{database}/{name}").as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(first).to_string()
}

/// `set_config` calls for `lock_timeout` and `statement_timeout` (0: none), for the transaction
/// (`local`, as `SET LOCAL`) or the session.
fn timeout_settings(
    lock_timeout: Duration,
    statement_timeout: Option<Duration>,
    local: bool,
) -> String {
    format!(
        "set_config('lock_timeout', '{}ms', {local}), set_config('statement_timeout', '{}ms', {local})",
        lock_timeout.as_millis().max(1),
        statement_timeout.map_or(0, |d| d.as_millis().max(1))
    )
}

/// Where the dedicated lock connection comes from.
enum LockSource {
    Url(String),
    Connection(Arc<Mutex<Option<PgConnection>>>),
}

/// The PostgreSQL engine over the host's diesel connection.
///
/// ```ignore
/// let mut conn = PgConnection::establish(&url)?;
/// let report = Migrator::new(&MIGRATIONS).boot(&mut Postgres::new(&mut conn, &url))?;
/// ```
pub struct Postgres<'c> {
    pub(super) conn: &'c mut PgConnection,
    source: LockSource,
    lock_name: String,
    /// The lock connection being opened on a thread since [`Engine::lock_ahead`].
    opening: Option<std::thread::JoinHandle<diesel::ConnectionResult<PgConnection>>>,
    /// `current_database()`, read with the history's schema: a connection's database never changes.
    database: Option<String>,
}

impl<'c> Postgres<'c> {
    /// Wraps the host's connection; the dedicated connection for the advisory lock is opened from
    /// `database_url` when a run begins (it must name the same database). The URL is also what
    /// `pg_dump`/`pg_restore` connect with (its password reaches them through the environment).
    pub fn new(conn: &'c mut PgConnection, database_url: impl Into<String>) -> Self {
        Self {
            conn,
            source: LockSource::Url(database_url.into()),
            lock_name: "schema_migrations".to_string(),
            opening: None,
            database: None,
        }
    }

    /// Wraps the host's connection and a second connection to the same database, used only to hold the
    /// advisory lock. Without a URL there are no backups or scratch copies.
    pub fn with_lock_connection(conn: &'c mut PgConnection, lock_conn: PgConnection) -> Self {
        Self {
            conn,
            source: LockSource::Connection(Arc::new(Mutex::new(Some(lock_conn)))),
            lock_name: "schema_migrations".to_string(),
            opening: None,
            database: None,
        }
    }

    /// Keeps `current_database()` as read in `value`, for the lock keys ([`Self::key`]).
    fn remember_database(&mut self, value: Option<&Value>) {
        if let Some(database) = value.and_then(Value::as_text) {
            self.database = Some(database);
        }
    }

    /// The lock key of `name`: a literal once the database's name is known, else SQL.
    fn key(&self, name: &str) -> String {
        match &self.database {
            Some(database) => key_literal(database, name),
            None => key_sql(name),
        }
    }

    /// The database URL, when the engine was made from one.
    pub(super) fn url(&self) -> Option<&str> {
        match &self.source {
            LockSource::Url(url) => Some(url),
            LockSource::Connection(_) => None,
        }
    }

    /// The connection to hold the lock on, and whether it was opened ahead (see [`Engine::lock_ahead`]).
    fn lock_connection(&mut self) -> Result<(PgConnection, bool), Error> {
        let conn = match &self.source {
            LockSource::Connection(slot) => slot
                .lock()
                .ok()
                .and_then(|mut s| s.take())
                .map(|mut conn| {
                    let _ = conn.batch_execute("SET application_name = 'migrator lock'");
                    conn
                })
                .ok_or_else(|| Error::LockLost {
                    message: "the connection handed over for the advisory lock was lost; create a new Postgres engine".into(),
                }),
            LockSource::Url(url) => {
                let (opened, ahead) = match self.opening.take().map(std::thread::JoinHandle::join) {
                    Some(Ok(opened)) => (opened, true),
                    // Not opened ahead (or its thread panicked): opened here.
                    _ => (open_lock_connection(url), false),
                };
                return opened
                    .map(|conn| (conn, ahead))
                    .map_err(|e| Error::Database {
                        context: "opening the dedicated connection for the advisory lock".to_string(),
                        source: DbError::new(DbErrorKind::ConnectionLost, crate::redact::url_in(&e.to_string(), url)),
                    });
            }
        };
        conn.map(|conn| (conn, false))
    }

    /// Names what holds the advisory lock `key` (pid, application, since when).
    fn lock_holder(conn: &mut PgConnection, key: i64) -> Option<String> {
        query_rows(
            conn,
            &format!(
                "SELECT string_agg('pid ' || l.pid || coalesce(' (' || nullif(a.application_name, '') || ')', '')
                    || coalesce(', connected since ' || to_char(a.backend_start, 'YYYY-MM-DD HH24:MI:SS'), ''), '; ')
                 FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid
                 WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
                   AND ((l.classid::bigint << 32) | l.objid::bigint) = {key}"
            ),
        )
        .ok()
        .and_then(|rows| rows.first()?.first()?.as_text())
    }

    /// Polls `pg_try_advisory_lock` on the dedicated connection until `wait` has passed.
    fn take_lock(
        &mut self,
        name: &str,
        wait: Duration,
    ) -> Result<HeartbeatLock<PgConnection>, Error> {
        let (mut conn, mut opened_ahead) = self.lock_connection()?;
        let key = key_sql(name);
        let started = Instant::now();
        let mut poll = FIRST_POLL;
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            let row = match diesel::sql_query(format!(
                "SELECT pg_try_advisory_lock({key}) AS locked, {key} AS key"
            ))
            .get_result::<TryLock>(&mut conn)
            {
                Ok(row) => row,
                // Opened while the history was read, it may have been ended since (a short
                // idle_session_timeout): opened again, once.
                Err(e) if opened_ahead => {
                    warn!(error = %db_error(e), "the lock connection opened ahead was lost; opening another");
                    opened_ahead = false;
                    conn = self.lock_connection()?.0;
                    continue;
                }
                Err(e) => {
                    return Err(Error::Database {
                        context: "taking the advisory lock".to_string(),
                        source: db_error(e),
                    })
                }
            };
            if row.locked {
                info!(
                    key = row.key,
                    attempts,
                    waited_ms = started.elapsed().as_millis() as u64,
                    "advisory lock taken"
                );
                let slot = match &self.source {
                    LockSource::Connection(slot) => Some(slot.clone()),
                    LockSource::Url(_) => None,
                };
                return Ok(HeartbeatLock::start(
                    conn,
                    format!("SELECT pg_advisory_unlock({})", row.key),
                    slot,
                    "PostgreSQL",
                ));
            }
            let waited = started.elapsed();
            if waited >= wait {
                let holder = Self::lock_holder(&mut conn, row.key);
                if let LockSource::Connection(slot) = &self.source {
                    if let Ok(mut s) = slot.lock() {
                        *s = Some(conn);
                    }
                }
                return Err(Error::Lock {
                    waited,
                    message: format!(
                        "the PostgreSQL advisory lock {} (database/{name}) is held by {}",
                        row.key,
                        holder.unwrap_or_else(|| "another session".into())
                    ),
                    setting: "lock_wait",
                });
            }
            debug!(attempts, "advisory lock busy; polling");
            // The host's connection sits idle while we wait: keep it from idle_session_timeout.
            if let Err(e) = self.conn.batch_execute("SELECT 1") {
                return Err(Error::Database {
                    context: "keeping the connection alive while waiting for the lock".to_string(),
                    source: db_error(e),
                });
            }
            let jitter = 0.5 + f64::from(attempts % 7) / 7.0;
            std::thread::sleep(poll.mul_f64(jitter).min(wait.saturating_sub(waited)));
            poll = (poll * 2).min(MAX_POLL);
        }
    }
}

/// Opens the dedicated lock connection from `url`, named so that `pg_stat_activity` shows what it is.
fn open_lock_connection(url: &str) -> diesel::ConnectionResult<PgConnection> {
    let mut conn = PgConnection::establish(url)?;
    let _ = conn.batch_execute("SET application_name = 'migrator lock'");
    Ok(conn)
}

#[derive(QueryableByName)]
struct TryLock {
    #[diesel(sql_type = Bool)]
    locked: bool,
    #[diesel(sql_type = BigInt)]
    key: i64,
}

/// A row of any shape, decoded from PostgreSQL's binary format by type.
pub(super) struct DynRow(pub Row);

impl QueryableByName<Pg> for DynRow {
    fn build<'a>(row: &impl NamedRow<'a, Pg>) -> diesel::deserialize::Result<Self> {
        let mut cells = Vec::with_capacity(diesel::row::Row::field_count(row));
        for i in 0..diesel::row::Row::field_count(row) {
            let field = diesel::row::Row::get(row, i).ok_or("a column disappeared")?;
            cells.push(match field.value() {
                None => Value::Null,
                Some(value) => decode(&value)?,
            });
        }
        Ok(DynRow(cells))
    }
}

fn decode(value: &PgValue<'_>) -> diesel::deserialize::Result<Value> {
    let bytes = value.as_bytes();
    let int = |n: usize| -> diesel::deserialize::Result<i64> {
        let b: &[u8] = bytes.get(..n).ok_or("short integer")?;
        Ok(b.iter().fold(0i64, |acc, x| (acc << 8) | i64::from(*x))
            - if n < 8 && b.first().is_some_and(|x| x & 0x80 != 0) {
                1i64 << (8 * n)
            } else {
                0
            })
    };
    Ok(match value.get_oid().get() {
        16 => Value::Int(i64::from(bytes.first().copied().unwrap_or(0))),
        20 => Value::Int(int(8)?),
        21 => Value::Int(int(2)?),
        23 => Value::Int(int(4)?),
        26 => Value::Int(int(4)? & 0xffff_ffff),
        700 => Value::Float(f64::from(f32::from_bits(int(4)? as u32))),
        701 => Value::Float(f64::from_bits(int(8)? as u64)),
        1700 => Value::Float(numeric(bytes).ok_or("bad numeric")?),
        // text, varchar, bpchar, name, "char", unknown, json: the bytes are the text.
        25 | 1043 | 1042 | 19 | 18 | 705 | 114 => {
            Value::Text(String::from_utf8_lossy(bytes).into_owned())
        }
        oid => {
            return Err(
                format!("a column of type oid {oid} cannot be read here; cast it to text").into(),
            )
        }
    })
}

/// PostgreSQL's binary `numeric`: counts, weight, sign, scale, then base-10000 digits.
fn numeric(bytes: &[u8]) -> Option<f64> {
    let word = |i: usize| -> Option<i16> {
        Some(i16::from_be_bytes([*bytes.get(i)?, *bytes.get(i + 1)?]))
    };
    let (ndigits, weight, sign) = (word(0)?, word(2)?, word(4)? as u16);
    if sign == 0xC000 {
        return Some(f64::NAN);
    }
    let mut value = 0f64;
    for k in 0..ndigits.max(0) as usize {
        value += f64::from(word(8 + 2 * k)?) * 10000f64.powi(i32::from(weight) - k as i32);
    }
    Some(if sign == 0x4000 { -value } else { value })
}

/// diesel's error as the algorithm sees it, with everything the server said.
pub(super) fn db_error(e: DieselError) -> DbError {
    match e {
        DieselError::DatabaseError(kind, info) => {
            let message = info.message().to_string();
            let kind = match kind {
                DatabaseErrorKind::UniqueViolation => DbErrorKind::UniqueViolation,
                DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand => {
                    DbErrorKind::ConnectionLost
                }
                _ if is_lock_timeout(&message) => DbErrorKind::LockTimeout,
                _ if is_conflict(&message) => DbErrorKind::Conflict,
                _ if message.contains("does not exist") => DbErrorKind::MissingObject,
                _ => DbErrorKind::Other,
            };
            DbError {
                kind,
                message,
                detail: info.details().map(str::to_string),
                hint: info.hint().map(str::to_string),
                position: info
                    .statement_position()
                    .and_then(|p| u32::try_from(p).ok()),
            }
        }
        other => {
            let message = other.to_string();
            let kind = if message.contains("server closed the connection")
                || message.contains("terminating connection")
                || message.contains("no connection to the server")
            {
                DbErrorKind::ConnectionLost
            } else {
                DbErrorKind::Other
            };
            DbError::new(kind, message)
        }
    }
}

/// `true` for SQLSTATE 40P01 (deadlock_detected) and 40001 (serialization_failure), recognised by the
/// server's English messages.
fn is_conflict(message: &str) -> bool {
    message.starts_with("deadlock detected") || message.starts_with("could not serialize access")
}

/// `true` for SQLSTATE 55P03 (lock_not_available), recognised by the server's English messages.
fn is_lock_timeout(message: &str) -> bool {
    message.contains("canceling statement due to lock timeout")
        || message.contains("could not obtain lock on")
}

/// Runs a query on a connection and returns its rows.
pub(super) fn query_rows(conn: &mut PgConnection, sql: &str) -> Result<Vec<Row>, DbError> {
    diesel::sql_query(sql)
        .load::<DynRow>(conn)
        .map(|rows| rows.into_iter().map(|r| r.0).collect())
        .map_err(db_error)
}

impl Engine for Postgres<'_> {
    fn dialect(&self) -> &'static Dialect {
        &DIALECT
    }

    fn lock_ahead(&mut self) -> bool {
        if let (LockSource::Url(url), None) = (&self.source, &self.opening) {
            debug!("opening the lock connection beside the history reads");
            let url = url.clone();
            self.opening = Some(std::thread::spawn(move || open_lock_connection(&url)));
        }
        self.opening.is_some()
    }

    fn lock(&mut self, name: &str, wait: Duration) -> Result<Box<dyn LockGuard>, Error> {
        let started = Instant::now();
        self.lock_name = name.to_string();
        let lock = self.take_lock(name, wait)?;
        // A previous holder that died mid-migration may have left its transaction running: wait for it
        // (within what is left of lock_wait) so that the history read next sees its outcome.
        let left = wait.saturating_sub(started.elapsed());
        let drain = format!("BEGIN; {} COMMIT;", self.opening_sql(left, None, true));
        if let Err(e) = self.conn.batch_execute(&drain) {
            let _ = self.conn.batch_execute("ROLLBACK");
            return Err(Error::Lock {
                waited: started.elapsed(),
                message: format!("a migration transaction of a previous lock holder (a process that died while migrating?) is still running on the server: {}", db_error(e)),
                setting: "lock_wait",
            });
        }
        Ok(Box::new(lock))
    }

    fn transaction_lock_sql(
        &mut self,
        name: &str,
        condition: &str,
        marker: &str,
    ) -> Option<String> {
        self.lock_name = name.to_string();
        // Two statements: the condition's snapshot is taken after the lock is. The failing casts are of a
        // sub-select's text, which the planner does not fold (a constant would fail when planned) and
        // which runs only when its branch is taken; their messages quote the marker. A sub-select names
        // no function: on a new backend each one costs a catalog lookup (`|| pg_backend_pid()` here
        // cost 0.2 ms, replayed).
        Some(format!(
            "SELECT CASE WHEN pg_try_advisory_xact_lock({}) THEN 1 ELSE (SELECT {})::int END;\n\
             SELECT CASE WHEN {condition} THEN 1 ELSE (SELECT {})::int END",
            self.key(name),
            DIALECT.literal(&format!(
                "{marker}: the migration lock is held by another session"
            )),
            DIALECT.literal(&format!("{marker}: the history changed since it was read")),
        ))
    }

    fn execute(&mut self, sql: &str) -> Result<(), DbError> {
        self.conn.batch_execute(sql).map_err(db_error)
    }

    fn execute_count(&mut self, sql: &str) -> Result<u64, DbError> {
        diesel::sql_query(sql)
            .execute(self.conn)
            .map(|n| n as u64)
            .map_err(db_error)
    }

    fn query(&mut self, sql: &str) -> Result<Vec<Row>, DbError> {
        query_rows(self.conn, sql)
    }

    fn history_schema(&mut self, table: &str) -> Option<String> {
        let name = DIALECT.literal(&DIALECT.ident(table));
        // Most databases keep the history in the current schema: one cheap row says so (or that there
        // is no history yet). Only a history found elsewhere on the search path pays for the catalog
        // join that names its schema (0.9 ms on a new backend, replayed, against 0.1 ms).
        let rows = query_rows(
            self.conn,
            &format!(
                "SELECT current_schema()::text, current_database()::text, to_regclass({name}) IS NOT NULL \
                 AND to_regclass(quote_ident(current_schema()) || '.' || {name}) IS NULL"
            ),
        )
        .ok()?;
        let row = rows.first()?;
        self.remember_database(row.get(1));
        if !row.get(2).is_some_and(Value::is_true) {
            return row.first()?.as_text();
        }
        let rows = query_rows(
            self.conn,
            &format!(
                "SELECT n.nspname::text FROM pg_catalog.pg_class c \
                 JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = to_regclass({name})"
            ),
        )
        .ok()?;
        rows.first()?.first()?.as_text()
    }

    fn read_guard(&self, wait: Duration) -> Option<(String, String)> {
        Some((
            format!(
                "BEGIN READ ONLY; SET LOCAL lock_timeout = '{}ms'",
                wait.as_millis().max(1)
            ),
            "COMMIT".to_string(),
        ))
    }

    fn timeouts_sql(&self, lock_timeout: Duration, statement_timeout: Option<Duration>) -> String {
        self.opening_sql(lock_timeout, statement_timeout, false)
    }

    fn opening_sql(
        &self,
        lock_timeout: Duration,
        statement_timeout: Option<Duration>,
        take_lock: bool,
    ) -> String {
        // One statement: PostgreSQL evaluates a select list in order, so the lock waits under the
        // transaction's own lock_timeout, set just before it (`tests/postgres.rs` checks it).
        let lock = if take_lock {
            format!(
                ", pg_advisory_xact_lock({})",
                self.key(&format!("{}/tx", self.lock_name))
            )
        } else {
            String::new()
        };
        format!(
            "SELECT {}{lock};",
            timeout_settings(lock_timeout, statement_timeout, true)
        )
    }

    fn session_timeouts(
        &mut self,
        lock_timeout: Duration,
        statement_timeout: Option<Duration>,
    ) -> Result<String, DbError> {
        let restore = query_rows(
            self.conn,
            "SELECT format('SET lock_timeout = %L; SET statement_timeout = %L;', current_setting('lock_timeout'), current_setting('statement_timeout'))",
        )?
        .first()
        .and_then(|r| r.first()?.as_text())
        .unwrap_or_default();
        let set = format!(
            "SELECT {};",
            timeout_settings(lock_timeout, statement_timeout, false)
        );
        self.conn.batch_execute(&set).map_err(db_error)?;
        Ok(restore)
    }

    fn guarded_sql(&self, dml: &str, marker: &str) -> Option<String> {
        // The cast of a sub-select's text fails only when it runs (a constant would fail when planned), and
        // its message quotes the text: the marker (see `transaction_lock_sql` for why not `|| count(*)`).
        Some(format!(
            "WITH claimed AS ({dml} RETURNING 1) SELECT CASE count(*) WHEN 1 THEN 1 ELSE (SELECT {})::int END FROM claimed",
            DIALECT.literal(&format!("{marker}: the migration's history row is another process's"))
        ))
    }

    fn tables_exist(&mut self, tables: &[&str]) -> Result<Vec<bool>, DbError> {
        if tables.is_empty() {
            return Ok(Vec::new());
        }
        let lookups = tables
            .iter()
            .map(|t| {
                format!(
                    "to_regclass({}) IS NOT NULL",
                    DIALECT.literal(&DIALECT.ident(t))
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        let rows = query_rows(self.conn, &format!("SELECT {lookups}"))?;
        let row = rows.first().map(Vec::as_slice).unwrap_or_default();
        let n = tables.len();
        Ok((0..n)
            .map(|i| row.get(i).is_some_and(Value::is_true))
            .collect())
    }

    fn is_fresh(&mut self, own: &[&str]) -> Result<bool, DbError> {
        let own = own
            .iter()
            .map(|t| {
                format!(
                    "coalesce(to_regclass({})::oid, 0)",
                    DIALECT.literal(&DIALECT.ident(t))
                )
            })
            .chain(std::iter::once("0".to_string()))
            .collect::<Vec<_>>()
            .join(", ");
        // Tables, partitioned tables, materialized views and foreign tables outside the system schemas
        // (pg_catalog, pg_toast, other sessions' pg_temp_N, information_schema).
        let rows = query_rows(
            self.conn,
            &format!(
                "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE c.relkind IN ('r', 'p', 'm', 'f') AND n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'
                   AND c.oid NOT IN ({own})"
            ),
        )?;
        Ok(rows.first().and_then(|r| r.first()).and_then(Value::as_i64) == Some(0))
    }

    fn diagnose(&mut self, failure: &DbError, tables: &[&str]) -> Option<String> {
        if tables.is_empty() {
            return None;
        }
        let regclasses = tables
            .iter()
            .map(|t| format!("to_regclass({})", DIALECT.literal(t)))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = if failure.kind == DbErrorKind::LockTimeout {
            format!(
                "SELECT 'it waited for: ' || string_agg(format('%s on %s held by pid %s (%s, %s, transaction open for %s: %s)',
                        l.mode, l.relation::regclass, l.pid, coalesce(nullif(a.application_name, ''), 'no application_name'),
                        coalesce(a.state, '?'), coalesce(date_trunc('second', now() - a.xact_start)::text, '?'),
                        left(coalesce(a.query, ''), 120)), '; ')
                 FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid
                 WHERE l.granted AND l.locktype = 'relation' AND l.pid <> pg_backend_pid()
                   AND l.relation = ANY (ARRAY[{regclasses}]::regclass[])"
            )
        } else {
            format!(
                "SELECT 'the failed build left INVALID index(es) behind: ' || string_agg(format('%s (on %s)', i.indexrelid::regclass, i.indrelid::regclass), ', ')
                    || '. Drop them (DROP INDEX CONCURRENTLY name) before the migration runs again'
                 FROM pg_index i WHERE NOT i.indisvalid AND i.indrelid = ANY (ARRAY[{regclasses}]::regclass[])"
            )
        };
        match query_rows(self.conn, &sql) {
            Ok(rows) => rows.first()?.first()?.as_text(),
            Err(e) => {
                warn!(error = %e, "could not read what blocked or broke the migration");
                None
            }
        }
    }

    fn health_problems(
        &mut self,
        _full_integrity_check: bool,
        scope: Option<&super::CheckScope>,
    ) -> Result<Vec<String>, Error> {
        if scope.is_some_and(|s| !s.outside_a_transaction) {
            // An INVALID index is what a failed concurrent build leaves; a run of migrations that each
            // ran in a transaction built none (a catalog query saved on every such boot).
            debug!("every migration ran in a transaction: no INVALID index to look for");
            return Ok(Vec::new());
        }
        let rows = query_rows(
            self.conn,
            "SELECT format('index %s on %s is INVALID (a failed CREATE INDEX CONCURRENTLY?): drop it with DROP INDEX CONCURRENTLY and build it again', i.indexrelid::regclass, i.indrelid::regclass)
             FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
             WHERE NOT i.indisvalid AND c.relnamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace)",
        )
        .map_err(|e| Error::Database { context: "running the health checks".into(), source: e })?;
        Ok(rows.iter().filter_map(|r| r.first()?.as_text()).collect())
    }

    fn server_version(&mut self) -> Result<String, Error> {
        let version = diesel::sql_query("SELECT current_setting('server_version') AS t")
            .get_result::<TextRow>(self.conn)
            .map_err(|e| Error::Database {
                context: "reading the PostgreSQL version".into(),
                source: db_error(e),
            })?
            .t
            .unwrap_or_default();
        // "16.4 (Debian 16.4-1)": the number only.
        Ok(format!(
            "PostgreSQL {}",
            version.split_whitespace().next().unwrap_or_default()
        ))
    }

    fn backup(&mut self) -> Option<&mut dyn Backup> {
        self.url().is_some().then_some(self as &mut dyn Backup)
    }

    fn scratch(&mut self) -> Option<&mut dyn ScratchCopy> {
        self.url().is_some().then_some(self as &mut dyn ScratchCopy)
    }

    fn fingerprint(&mut self) -> Option<&mut dyn Fingerprint> {
        Some(self)
    }

    fn stats(&mut self) -> Option<&mut dyn Stats> {
        Some(self)
    }
}

#[derive(QueryableByName)]
pub(super) struct TextRow {
    #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
    pub t: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_escape_quotes_and_backslashes() {
        assert_eq!(DIALECT.literal("it's"), "E'it''s'");
        assert_eq!(DIALECT.literal(r"a\b"), r"E'a\\b'");
    }

    #[test]
    fn lock_timeouts_are_recognised() {
        assert!(is_lock_timeout("canceling statement due to lock timeout"));
        assert!(is_lock_timeout("could not obtain lock on relation \"t\""));
        assert!(!is_lock_timeout("relation \"t\" does not exist"));
    }

    #[test]
    fn conflicts_are_recognised() {
        assert!(is_conflict("deadlock detected"));
        assert!(is_conflict(
            "could not serialize access due to concurrent update"
        ));
        assert!(is_conflict(
            "could not serialize access due to read/write dependencies among transactions"
        ));
        assert!(!is_conflict("canceling statement due to lock timeout"));
    }

    #[test]
    fn numerics_decode() {
        // 12.5: ndigits 2, weight 0, sign +, dscale 1, digits [12, 5000]
        let bytes = [0, 2, 0, 0, 0, 0, 0, 1, 0, 12, 0x13, 0x88];
        assert_eq!(numeric(&bytes), Some(12.5));
    }
}
