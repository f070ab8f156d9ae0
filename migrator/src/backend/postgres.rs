//! PostgreSQL through diesel's `PgConnection` (the host hands us the connection it already has).
//!
//! - **Boot coordination**: a session-level advisory lock taken on a *dedicated* connection (opened from
//!   the database URL, or handed over by the host), polled with `pg_try_advisory_lock` until
//!   `Config::lock_wait`, released when the run ends, on errors, on panics (a drop guard), and by the
//!   server when the process dies (the connection closes). The key is the first 8 bytes of
//!   `sha256(current_database() || '/schema_migrations')` read as a signed big-endian `bigint`.
//! - **One commit per migration**: `BEGIN; SET LOCAL lock_timeout ...; SET LOCAL statement_timeout ...;`
//!   the statements, the history upsert and the log insert, `COMMIT`, sent as one simple-query batch (one
//!   round trip). Locks are released between migrations. When the batch fails, the transaction is rolled
//!   back and the statements are replayed one by one in a transaction that is rolled back too, to name the
//!   statement that failed.
//! - **Lock timeouts** (SQLSTATE 55P03, recognised by its message because libpq through diesel does not
//!   expose the SQLSTATE): the whole migration is rolled back and retried with exponential backoff and
//!   jitter up to `Config::lock_retries` times; the final error names the locks other sessions hold on the
//!   tables the migration names (from `pg_locks` and `pg_stat_activity`).
//! - **No-transaction migrations**: a committed `running` row, each statement on its own in autocommit
//!   mode (so `CREATE INDEX CONCURRENTLY` works), `applied` at the end; a failure looks for INVALID indexes
//!   left on the migration's tables and says so.

use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::sql_types::{BigInt, Bool, Integer, Nullable, Text};
use diesel::{Connection, OptionalExtension, PgConnection, QueryableByName, RunQueryDsl};
use tracing::{debug, info, warn};

use crate::backend::{Backend, Direction, Engine, SchemaObject, StatementFailure, TableStats};
use crate::{Config, Error, HistoryRow, Migration, Status};

const CREATE_HISTORY: &str = "
CREATE TABLE IF NOT EXISTS schema_migrations (
    version        BIGINT      PRIMARY KEY,
    name           TEXT        NOT NULL,
    issue_number   INTEGER,
    applied_at     TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP,
    checksum       TEXT,
    status         TEXT        NOT NULL DEFAULT 'applied'
                   CHECK (status IN ('applied', 'rolled_back', 'failed', 'running')),
    execution_ms   BIGINT,
    rolled_back_at TIMESTAMPTZ,
    error          TEXT
);
CREATE TABLE IF NOT EXISTS schema_migrations_log (
    id          BIGSERIAL   PRIMARY KEY,
    version     BIGINT      NOT NULL,
    action      TEXT        NOT NULL,
    checksum    TEXT,
    at          TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP,
    duration_ms BIGINT,
    detail      TEXT
);";

/// Timestamps are read back in SQLite's `CURRENT_TIMESTAMP` format (UTC), so both engines render alike.
const SELECT_HISTORY: &str = "SELECT version, name, issue_number, checksum, status,
    to_char(applied_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') AS applied_at, execution_ms,
    to_char(rolled_back_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') AS rolled_back_at, error
FROM schema_migrations ORDER BY version";

/// The advisory lock key: the first 64 bits of SHA-256("<database>/schema_migrations").
const LOCK_KEY: &str = "('x' || left(encode(sha256(convert_to(current_database() || '/schema_migrations', 'UTF8')), 'hex'), 16))::bit(64)::bigint";

/// The key of the transaction-level advisory lock every migration transaction takes: the first 64 bits of
/// SHA-256("<database>/schema_migrations/tx"). A process killed mid-migration can leave its transaction
/// running on the server after its session lock is gone (the server finishes a batch it already has); the
/// next holder waits for that lock before it reads history, so it sees that transaction's outcome.
const TX_LOCK_KEY: &str = "('x' || left(encode(sha256(convert_to(current_database() || '/schema_migrations/tx', 'UTF8')), 'hex'), 16))::bit(64)::bigint";

/// Milliseconds since the batch arrived at the server (`statement_timestamp()` is the arrival of the
/// simple-query message, shared by every statement of the batch).
const ELAPSED_MS: &str =
    "(extract(epoch FROM clock_timestamp() - statement_timestamp()) * 1000)::bigint";

const FIRST_POLL: Duration = Duration::from_millis(20);
const MAX_POLL: Duration = Duration::from_millis(250);
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(10);

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = BigInt)]
    version: i64,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Nullable<Integer>)]
    issue_number: Option<i32>,
    #[diesel(sql_type = Nullable<Text>)]
    checksum: Option<String>,
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(sql_type = Nullable<Text>)]
    applied_at: Option<String>,
    #[diesel(sql_type = Nullable<BigInt>)]
    execution_ms: Option<i64>,
    #[diesel(sql_type = Nullable<Text>)]
    rolled_back_at: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    error: Option<String>,
}

#[derive(QueryableByName)]
struct TextRow {
    #[diesel(sql_type = Nullable<Text>)]
    t: Option<String>,
}

#[derive(QueryableByName)]
struct BoolRow {
    #[diesel(sql_type = Bool)]
    b: bool,
}

#[derive(QueryableByName)]
struct TryLock {
    #[diesel(sql_type = Bool)]
    locked: bool,
    #[diesel(sql_type = BigInt)]
    key: i64,
}

/// The session-level advisory lock and the dedicated connection that holds it. Dropping the guard
/// releases the lock (and when the unlock cannot be sent, closing the connection releases it).
struct AdvisoryLock {
    conn: Option<PgConnection>,
    key: i64,
}

impl AdvisoryLock {
    /// Unlocks and gives the connection back for the next run.
    fn release(mut self) -> Option<PgConnection> {
        let mut conn = self.conn.take()?;
        match diesel::sql_query(format!("SELECT pg_advisory_unlock({}) AS b", self.key))
            .get_result::<BoolRow>(&mut conn)
        {
            Ok(row) => {
                if !row.b {
                    warn!(key = self.key, "the advisory lock was not held at release");
                }
                debug!(key = self.key, "advisory lock released");
                Some(conn)
            }
            Err(e) => {
                warn!(key = self.key, error = %e, "unlock failed; closing the lock connection releases the lock");
                None
            }
        }
    }
}

impl Drop for AdvisoryLock {
    fn drop(&mut self) {
        if self.conn.is_some() {
            let guard = AdvisoryLock {
                conn: self.conn.take(),
                key: self.key,
            };
            // The connection (if the unlock worked) is closed here too: a panic path needs no reuse.
            drop(guard.release());
        }
    }
}

/// Where the dedicated lock connection comes from.
enum LockSource {
    Url(String),
    Connection(Option<PgConnection>),
}

/// The PostgreSQL backend over the host's diesel connection.
///
/// ```ignore
/// let mut conn = PgConnection::establish(&url)?;
/// let report = Migrator::new(&MIGRATIONS).boot(&mut Postgres::new(&mut conn, &url))?;
/// ```
pub struct Postgres<'c> {
    conn: &'c mut PgConnection,
    source: LockSource,
    lock: Option<AdvisoryLock>,
    lock_timeout: Duration,
    statement_timeout: Option<Duration>,
    lock_retries: u32,
    rng: u64,
}

impl<'c> Postgres<'c> {
    /// Wraps the host's connection; the dedicated connection for the advisory lock is opened from
    /// `database_url` when a run begins (it must name the same database).
    pub fn new(conn: &'c mut PgConnection, database_url: impl Into<String>) -> Self {
        Self::with_source(conn, LockSource::Url(database_url.into()))
    }

    /// Wraps the host's connection and a second connection to the same database, used only to hold the
    /// advisory lock.
    pub fn with_lock_connection(conn: &'c mut PgConnection, lock_conn: PgConnection) -> Self {
        Self::with_source(conn, LockSource::Connection(Some(lock_conn)))
    }

    fn with_source(conn: &'c mut PgConnection, source: LockSource) -> Self {
        let config = Config::default();
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
            ^ (u64::from(std::process::id()) << 32);
        Self {
            conn,
            source,
            lock: None,
            lock_timeout: config.lock_timeout,
            statement_timeout: config.statement_timeout,
            lock_retries: config.lock_retries,
            rng: seed | 1,
        }
    }

    fn db_error(context: &str, e: impl std::fmt::Display) -> Error {
        Error::Database {
            context: context.to_string(),
            message: e.to_string(),
        }
    }

    /// A factor in [0.5, 1.5) (xorshift; jitter does not need a good generator).
    fn jitter(&mut self) -> f64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        0.5 + (self.rng >> 11) as f64 / (1u64 << 53) as f64
    }

    fn lock_connection(&mut self) -> Result<PgConnection, Error> {
        match &mut self.source {
            LockSource::Connection(conn) => conn.take().ok_or_else(|| {
                Error::Usage("the advisory lock connection was lost after a failed unlock; create a new Postgres backend".into())
            }),
            LockSource::Url(url) => PgConnection::establish(url)
                .map_err(|e| Self::db_error("opening the dedicated connection for the advisory lock", e)),
        }
    }

    /// Polls `pg_try_advisory_lock` on the dedicated connection until `wait` has passed.
    fn take_lock(&mut self, wait: Duration) -> Result<(), Error> {
        let mut conn = self.lock_connection()?;
        let started = Instant::now();
        let mut poll = FIRST_POLL;
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            let row = diesel::sql_query(format!(
                "SELECT pg_try_advisory_lock({LOCK_KEY}) AS locked, {LOCK_KEY} AS key"
            ))
            .get_result::<TryLock>(&mut conn)
            .map_err(|e| Self::db_error("taking the advisory lock", e))?;
            if row.locked {
                info!(
                    key = row.key,
                    attempts,
                    waited_ms = started.elapsed().as_millis() as u64,
                    "advisory lock taken"
                );
                self.lock = Some(AdvisoryLock {
                    conn: Some(conn),
                    key: row.key,
                });
                return Ok(());
            }
            let waited = started.elapsed();
            if waited >= wait {
                let holder = diesel::sql_query(format!(
                    "SELECT string_agg('pid ' || l.pid || coalesce(' (' || nullif(a.application_name, '') || ')', '')
                        || coalesce(', connected since ' || to_char(a.backend_start, 'YYYY-MM-DD HH24:MI:SS'), ''), '; ') AS t
                     FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid
                     WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
                       AND ((l.classid::bigint << 32) | l.objid::bigint) = {}",
                    row.key
                ))
                .get_result::<TextRow>(&mut conn)
                .ok()
                .and_then(|r| r.t);
                self.park(conn);
                return Err(Error::Lock {
                    waited,
                    message: format!(
                        "the PostgreSQL advisory lock {} (database/schema_migrations) is held by {}",
                        row.key,
                        holder.unwrap_or_else(|| "another session".into())
                    ),
                });
            }
            debug!(attempts, "advisory lock busy; polling");
            let sleep = poll.mul_f64(self.jitter()).min(wait.saturating_sub(waited));
            std::thread::sleep(sleep);
            poll = (poll * 2).min(MAX_POLL);
        }
    }

    /// Keeps a lock connection for the next run.
    fn park(&mut self, conn: PgConnection) {
        if let LockSource::Connection(slot) = &mut self.source {
            *slot = Some(conn);
        }
    }

    fn release_lock(&mut self) {
        if let Some(lock) = self.lock.take() {
            if let Some(conn) = lock.release() {
                self.park(conn);
            }
        }
    }

    fn query_text(&mut self, sql: &str) -> Result<Option<String>, diesel::result::Error> {
        diesel::sql_query(sql)
            .get_result::<TextRow>(self.conn)
            .map(|r| r.t)
    }

    fn timeouts(&self, scope: &str) -> String {
        format!(
            "SET {scope} lock_timeout = '{}ms'; SET {scope} statement_timeout = '{}ms';",
            self.lock_timeout.as_millis().max(1),
            self.statement_timeout.map_or(0, |d| d.as_millis().max(1))
        )
    }

    fn statements(m: &Migration, direction: Direction) -> &[crate::Statement] {
        match direction {
            Direction::Up => &m.up[..],
            Direction::Down => m.down.as_deref().unwrap_or(&[]),
        }
    }

    /// The history write of a successful UP or DOWN, as SQL text for the batch.
    fn history_sql(m: &Migration, direction: Direction, status: Status, ms: &str) -> String {
        match direction {
            Direction::Up => format!(
                "INSERT INTO schema_migrations (version, name, issue_number, checksum, status, applied_at, execution_ms, rolled_back_at, error)
                 VALUES ({v}, {name}, {issue}, {sum}, '{status}', CURRENT_TIMESTAMP, {ms}, NULL, NULL)
                 ON CONFLICT (version) DO UPDATE SET name = excluded.name, issue_number = excluded.issue_number,
                    checksum = excluded.checksum, status = excluded.status, applied_at = excluded.applied_at,
                    execution_ms = excluded.execution_ms, rolled_back_at = NULL, error = NULL;
                 {log}",
                v = m.version,
                name = lit(&m.name),
                issue = m.issue.map_or("NULL".into(), |i| i.to_string()),
                sum = lit(&m.checksum),
                status = status.as_str(),
                log = if status == Status::Applied {
                    log_sql(m.version, "applied", &m.checksum, ms, None)
                } else {
                    String::new()
                },
            ),
            Direction::Down => format!(
                "UPDATE schema_migrations SET status = 'rolled_back', rolled_back_at = CURRENT_TIMESTAMP, error = NULL WHERE version = {};
                 {}",
                m.version,
                log_sql(m.version, "rolled_back", &m.checksum, ms, None)
            ),
        }
    }

    /// Names what other sessions hold on the migration's tables (after a lock timeout).
    fn blockers(&mut self, m: &Migration) -> Option<String> {
        if m.tables.is_empty() {
            return None;
        }
        let sql = format!(
            "SELECT string_agg(format('%s on %s held by pid %s (%s, %s, transaction open for %s: %s)',
                    l.mode, l.relation::regclass, l.pid, coalesce(nullif(a.application_name, ''), 'no application_name'),
                    coalesce(a.state, '?'), coalesce(date_trunc('second', now() - a.xact_start)::text, '?'),
                    left(coalesce(a.query, ''), 120)), '; ') AS t
             FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid
             WHERE l.granted AND l.locktype = 'relation' AND l.pid <> pg_backend_pid()
               AND l.relation = ANY (ARRAY[{}]::regclass[])",
            regclasses(m)
        );
        match self.query_text(&sql) {
            Ok(t) => t,
            Err(e) => {
                warn!(error = %e, "could not read pg_locks");
                None
            }
        }
    }

    /// INVALID indexes on the migration's tables (left by a failed `CREATE INDEX CONCURRENTLY`).
    fn invalid_indexes(&mut self, m: &Migration) -> Option<String> {
        if m.tables.is_empty() {
            return None;
        }
        let sql = format!(
            "SELECT string_agg(format('%s (on %s)', i.indexrelid::regclass, i.indrelid::regclass), ', '
                    ORDER BY i.indexrelid::regclass::text) AS t
             FROM pg_index i WHERE NOT i.indisvalid AND i.indrelid = ANY (ARRAY[{}]::regclass[])",
            regclasses(m)
        );
        match self.query_text(&sql) {
            Ok(t) => t,
            Err(e) => {
                warn!(error = %e, "could not look for invalid indexes");
                None
            }
        }
    }

    /// After a failed batch: replays the statements one by one inside a transaction that is rolled back,
    /// to find which one fails.
    fn find_failing_statement(&mut self, statements: &[crate::Statement]) -> Option<usize> {
        let begin = format!("BEGIN; {}", self.timeouts("LOCAL"));
        if self.conn.batch_execute(&begin).is_err() {
            let _ = self.conn.batch_execute("ROLLBACK");
            return None;
        }
        let mut found = None;
        for (index, statement) in statements.iter().enumerate() {
            if self.conn.batch_execute(&statement.sql).is_err() {
                found = Some(index);
                break;
            }
        }
        if let Err(e) = self.conn.batch_execute("ROLLBACK") {
            warn!(error = %e, "rolling back the replay failed");
        }
        found
    }

    /// One attempt of a transactional migration: a single batch.
    fn attempt(&mut self, m: &Migration, direction: Direction) -> Result<(), String> {
        let statements = Self::statements(m, direction);
        let mut batch = format!(
            "BEGIN; {} SELECT pg_advisory_xact_lock({TX_LOCK_KEY});\n",
            self.timeouts("LOCAL")
        );
        for statement in statements {
            batch.push_str(&statement.sql);
            batch.push_str("\n;\n");
        }
        batch.push_str(&Self::history_sql(
            m,
            direction,
            Status::Applied,
            ELAPSED_MS,
        ));
        batch.push_str("\nCOMMIT;");
        match self.conn.batch_execute(&batch) {
            Ok(()) => Ok(()),
            Err(e) => {
                if let Err(r) = self.conn.batch_execute("ROLLBACK") {
                    warn!(error = %r, "ROLLBACK after a failed migration failed");
                }
                Err(e.to_string())
            }
        }
    }

    fn apply_in_transaction(
        &mut self,
        m: &Migration,
        direction: Direction,
    ) -> Result<Duration, StatementFailure> {
        let started = Instant::now();
        let mut attempt = 0u32;
        loop {
            let message = match self.attempt(m, direction) {
                Ok(()) => return Ok(started.elapsed()),
                Err(message) => message,
            };
            if !is_lock_timeout(&message) {
                let index = self.find_failing_statement(Self::statements(m, direction));
                return Err(StatementFailure {
                    index,
                    message,
                    run_rolled_back: false,
                });
            }
            let blockers = self.blockers(m);
            if attempt >= self.lock_retries {
                let waited_for = match blockers {
                    Some(b) => format!("it waited for: {b}"),
                    None if m.tables.is_empty() => {
                        "the server did not say which lock it waited for".to_string()
                    }
                    None => format!(
                        "no other session holds a lock on {} now",
                        m.tables.join(", ")
                    ),
                };
                let index = self.find_failing_statement(Self::statements(m, direction));
                return Err(StatementFailure {
                    index,
                    message: format!(
                        "{message} (lock_timeout {} ms, {} attempt(s) with backoff); {waited_for}. What to do: find the long transaction holding the lock and end it, or migrate at a quieter time",
                        self.lock_timeout.as_millis(),
                        attempt + 1
                    ),
                    run_rolled_back: false,
                });
            }
            let backoff = FIRST_BACKOFF
                .saturating_mul(1u32 << attempt.min(16))
                .min(MAX_BACKOFF)
                .mul_f64(self.jitter());
            attempt += 1;
            warn!(
                version = m.version,
                attempt,
                retries = self.lock_retries,
                backoff_ms = backoff.as_millis() as u64,
                blockers = blockers.as_deref().unwrap_or("unknown"),
                "lock timeout; the migration was rolled back and will be retried"
            );
            std::thread::sleep(backoff);
        }
    }

    /// A no-transaction migration: `running` committed first, each statement in autocommit mode, the
    /// final status at the end. The session's timeouts are set for the migration and restored after.
    fn apply_without_transaction(
        &mut self,
        m: &Migration,
        direction: Direction,
    ) -> Result<Duration, StatementFailure> {
        let failure = |e: diesel::result::Error| StatementFailure {
            index: None,
            message: e.to_string(),
            run_rolled_back: false,
        };
        let previous = self
            .query_text(
                "SELECT format('SET lock_timeout = %L; SET statement_timeout = %L;',
                    current_setting('lock_timeout'), current_setting('statement_timeout')) AS t",
            )
            .map_err(failure)?
            .unwrap_or_default();
        let mut prologue = self.timeouts("SESSION");
        if direction == Direction::Up {
            prologue.push_str(&Self::history_sql(m, direction, Status::Running, "NULL"));
        }
        self.conn.batch_execute(&prologue).map_err(failure)?;
        let started = Instant::now();
        let mut outcome = Ok(());
        for (index, statement) in Self::statements(m, direction).iter().enumerate() {
            debug!(version = m.version, %direction, line = statement.line, "statement (no transaction)");
            if let Err(e) = self.conn.batch_execute(&statement.sql) {
                outcome = Err(StatementFailure {
                    index: Some(index),
                    message: e.to_string(),
                    run_rolled_back: false,
                });
                break;
            }
        }
        let elapsed = started.elapsed();
        let ms = elapsed.as_millis().to_string();
        let epilogue = match &outcome {
            Ok(()) => format!(
                "{}{previous}",
                Self::history_sql(m, direction, Status::Applied, &ms)
            ),
            Err(_) => previous,
        };
        let end = self.conn.batch_execute(&epilogue).map_err(failure);
        match outcome {
            Ok(()) => end.map(|()| elapsed),
            Err(mut failed) => {
                if let Some(invalid) = self.invalid_indexes(m) {
                    failed.message.push_str(&format!(
                        "; the failed build left INVALID index(es) behind: {invalid}. Drop them (DROP INDEX CONCURRENTLY name) before the migration runs again"
                    ));
                }
                Err(failed)
            }
        }
    }
}

impl Postgres<'_> {
    /// The database URL, when the backend was made from one (pg_dump and pg_restore need it).
    fn url(&self) -> Option<&str> {
        match &self.source {
            LockSource::Url(url) => Some(url),
            LockSource::Connection(_) => None,
        }
    }

    /// Drops a database (a rehearsal's scratch copy), disconnecting what is left connected to it.
    fn drop_database(&mut self, quoted: &str) -> Result<(), Error> {
        // WITH (FORCE) is PostgreSQL 13+; older servers get the plain form.
        self.conn
            .batch_execute(&format!("DROP DATABASE IF EXISTS {quoted} WITH (FORCE)"))
            .or_else(|_| {
                self.conn
                    .batch_execute(&format!("DROP DATABASE IF EXISTS {quoted}"))
            })
            .map_err(|e| Self::db_error("dropping the rehearsal database", e))
    }
}

/// The scratch database of a rehearsal: `<database>_rehearsal`, within PostgreSQL's 63-byte names.
fn scratch_database_name(database: &str) -> String {
    const SUFFIX: &str = "_rehearsal";
    let mut keep = database.len().min(63 - SUFFIX.len());
    while !database.is_char_boundary(keep) {
        keep -= 1;
    }
    format!("{}{SUFFIX}", &database[..keep])
}

/// `url` pointing at another database: the path of a `postgres://` URL is replaced (percent-encoded), a
/// keyword/value connection string gets a `dbname` that overrides its own. `None` for other forms.
fn url_with_database(url: &str, database: &str) -> Option<String> {
    let encoded: String = database
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect();
    for scheme in ["postgres://", "postgresql://"] {
        if let Some(rest) = url.strip_prefix(scheme) {
            let (before_query, query) = match rest.split_once('?') {
                Some((head, query)) => (head, Some(query)),
                None => (rest, None),
            };
            let authority = before_query.split('/').next().unwrap_or_default();
            let mut out = format!("{scheme}{authority}/{encoded}");
            if let Some(query) = query {
                out.push('?');
                out.push_str(query);
            }
            return Some(out);
        }
    }
    if url.contains('=') {
        let quoted = database.replace('\\', "\\\\").replace('\'', "\\'");
        return Some(format!("{url} dbname='{quoted}'"));
    }
    None
}

/// The schema as comparable objects: columns (type, NOT NULL, default, identity), constraints, indexes,
/// views, triggers, functions (identity, result, source hash), enum and domain types, extensions and
/// schemas, in every user schema, without migrator's own tables and without objects that belong to an
/// extension.
const FINGERPRINT: &str = r"
WITH ns AS (
    SELECT oid, nspname FROM pg_namespace
    WHERE nspname NOT LIKE 'pg\_%' AND nspname <> 'information_schema'
), rel AS (
    SELECT c.oid, c.relname, c.relkind, n.nspname FROM pg_class c JOIN ns n ON n.oid = c.relnamespace
    WHERE c.relname NOT LIKE 'schema\_migrations%'
      AND ($1::text[] IS NULL OR lower(c.relname) = ANY ($1::text[]))
      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
)
SELECT 'relation' AS kind, format('%I.%I', nspname, relname) AS name, relkind::text AS definition
  FROM rel WHERE relkind IN ('r', 'p', 'v', 'm', 'S', 'f', 'c')
UNION ALL
SELECT 'column', format('%I.%I.%I', r.nspname, r.relname, a.attname),
       format_type(a.atttypid, a.atttypmod)
       || CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END
       || coalesce(' DEFAULT ' || pg_get_expr(ad.adbin, ad.adrelid), '')
       || CASE WHEN a.attidentity <> '' THEN ' IDENTITY ' || a.attidentity::text ELSE '' END
       || CASE WHEN a.attgenerated <> '' THEN ' GENERATED' ELSE '' END
  FROM rel r JOIN pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
  LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
  WHERE r.relkind IN ('r', 'p', 'v', 'm', 'f', 'c')
UNION ALL
SELECT 'constraint', format('%I.%I.%I', r.nspname, r.relname, co.conname), pg_get_constraintdef(co.oid)
  FROM pg_constraint co JOIN rel r ON r.oid = co.conrelid
UNION ALL
-- In a scoped read: foreign keys of other tables that point at a table in scope (a DROP ... CASCADE
-- removes them).
SELECT 'constraint', format('%I.%I.%I', n.nspname, c.relname, co.conname), pg_get_constraintdef(co.oid)
  FROM pg_constraint co JOIN rel r ON r.oid = co.confrelid JOIN pg_class c ON c.oid = co.conrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE $1::text[] IS NOT NULL AND co.contype = 'f' AND NOT (lower(c.relname) = ANY ($1::text[]))
UNION ALL
SELECT 'index', format('%I.%I', r.nspname, ic.relname), pg_get_indexdef(i.indexrelid)
  FROM pg_index i JOIN rel r ON r.oid = i.indrelid JOIN pg_class ic ON ic.oid = i.indexrelid
UNION ALL
SELECT 'view', format('%I.%I', nspname, relname), pg_get_viewdef(oid) FROM rel WHERE relkind IN ('v', 'm')
UNION ALL
SELECT 'trigger', format('%I.%I.%I', r.nspname, r.relname, t.tgname), pg_get_triggerdef(t.oid)
  FROM pg_trigger t JOIN rel r ON r.oid = t.tgrelid WHERE NOT t.tgisinternal
UNION ALL
SELECT 'function', format('%I.%I(%s)', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid)),
       p.prokind::text || ' ' || coalesce(pg_get_function_result(p.oid), '') || ' ' || md5(coalesce(p.prosrc, ''))
  FROM pg_proc p JOIN ns n ON n.oid = p.pronamespace
  WHERE NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
UNION ALL
SELECT 'type', format('%I.%I', n.nspname, t.typname),
       CASE t.typtype
         WHEN 'e' THEN 'enum ' || (SELECT string_agg(e.enumlabel, ', ' ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = t.oid)
         WHEN 'd' THEN 'domain ' || format_type(t.typbasetype, t.typtypmod) || CASE WHEN t.typnotnull THEN ' NOT NULL' ELSE '' END
         ELSE t.typtype::text END
  FROM pg_type t JOIN ns n ON n.oid = t.typnamespace
  WHERE t.typtype IN ('e', 'd')
    AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_type'::regclass AND d.objid = t.oid AND d.deptype = 'e')
UNION ALL
SELECT 'extension', extname::text, extversion FROM pg_extension WHERE extname <> 'plpgsql'
UNION ALL
SELECT 'schema', nspname::text, '' FROM ns WHERE nspname <> 'public'
";

#[derive(QueryableByName)]
struct SchemaName {
    #[diesel(sql_type = Text)]
    name: String,
}

/// Runs a PostgreSQL client program (`pg_dump`, `pg_restore`); `Ok(None)` when it is not installed.
fn run_client(program: &str, args: &[&str]) -> Result<Option<()>, Error> {
    let output = match std::process::Command::new(program).args(args).output() {
        Ok(output) => output,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::Backup(format!("cannot run {program}: {e}"))),
    };
    if output.status.success() {
        Ok(Some(()))
    } else {
        Err(Error::Backup(format!(
            "{program} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )))
    }
}

impl Backend for Postgres<'_> {
    fn engine(&self) -> Engine {
        Engine::Postgres
    }

    fn health_problems(&mut self, _full_integrity_check: bool) -> Result<Vec<String>, Error> {
        let invalid: Vec<SchemaName> = diesel::sql_query(
            "SELECT format('index %s on %s is INVALID (a failed CREATE INDEX CONCURRENTLY?): drop it with DROP INDEX CONCURRENTLY and build it again', i.indexrelid::regclass, i.indrelid::regclass) AS name
             FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
             WHERE NOT i.indisvalid AND c.relnamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace)",
        )
        .load(self.conn)
        .map_err(|e| Self::db_error("running the health checks", e))?;
        Ok(invalid.into_iter().map(|r| r.name).collect())
    }

    fn check_query(&mut self, sql: &str) -> Result<bool, Error> {
        let wrapped = format!(
            "SELECT COALESCE((SELECT ({sql}) LIMIT 1)::text IN ('true', 't', '1'), false) AS ok"
        );
        #[derive(QueryableByName)]
        struct Verdict {
            #[diesel(sql_type = Bool)]
            ok: bool,
        }
        let verdict: Verdict = diesel::sql_query(wrapped)
            .get_result(self.conn)
            .map_err(|e| Self::db_error("running a health check query", e))?;
        Ok(verdict.ok)
    }

    fn record_event(&mut self, version: u64, action: &str, detail: &str) -> Result<(), Error> {
        self.conn
            .batch_execute(&log_sql(version, action, "", "NULL", Some(detail)))
            .map_err(|e| Self::db_error("writing schema_migrations_log", e))
    }

    fn backup_stem(&self) -> Option<String> {
        // The database name: the URL's path, without query parameters.
        let url = self.url()?;
        let path = url.split('?').next()?.rsplit('/').next()?;
        (!path.is_empty() && !path.contains('@')).then(|| path.to_string())
    }

    fn backup_extension(&self) -> &'static str {
        "pgdump"
    }

    fn default_backup_dir(&self) -> Option<std::path::PathBuf> {
        Some(std::env::temp_dir().join("migrator-backups"))
    }

    fn backup(&mut self, target: &std::path::Path) -> Result<bool, Error> {
        let Some(url) = self.url().map(str::to_string) else {
            return Ok(false);
        };
        // The process id in the name: a pg_dump orphaned by a killed boot may still be writing its own.
        let partial = target.with_extension(format!("{}.partial", std::process::id()));
        let partial_text = partial.to_string_lossy().into_owned();
        let result = (|| {
            // Custom format: compressed, and pg_restore can pick objects out of it.
            // pg_dump takes ACCESS SHARE on every table: it must not queue behind a held lock for longer
            // than a migration would.
            let lock_wait = format!(
                "--lock-wait-timeout={}",
                self.lock_timeout.as_millis().max(1)
            );
            if run_client(
                "pg_dump",
                &[
                    "--format=custom",
                    &lock_wait,
                    "--file",
                    &partial_text,
                    "--dbname",
                    &url,
                ],
            )?
            .is_none()
            {
                return Ok(false);
            }
            crate::backup::owner_only(&partial)?;
            // The check: pg_restore can read the archive's table of contents.
            run_client("pg_restore", &["--list", &partial_text])?;
            std::fs::rename(&partial, target)
                .map_err(|e| crate::backup::io_error("finishing the backup", target, e))?;
            Ok(true)
        })();
        if !matches!(result, Ok(true)) {
            let _ = std::fs::remove_file(&partial);
        }
        result
    }

    fn restore(&mut self, backup: &std::path::Path) -> Result<(), Error> {
        let url = self
            .url()
            .ok_or_else(|| {
                Error::Usage("restoring needs a backend made from a database URL".to_string())
            })?
            .to_string();
        // Replace, not merge: every user schema is dropped and the archive replayed, in one psql
        // transaction fed by pg_restore, so a failure leaves the database as it was.
        let schemas: Vec<SchemaName> = diesel::sql_query(
            "SELECT nspname::text AS name FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema'",
        )
        .load(self.conn)
        .map_err(|e| Self::db_error("listing schemas", e))?;
        let mut reset: String = schemas
            .iter()
            .map(|s| format!("DROP SCHEMA \"{}\" CASCADE; ", s.name.replace('"', "\"\"")))
            .collect();
        reset.push_str("CREATE SCHEMA IF NOT EXISTS public;");
        // The archive becomes a plain SQL script first, so nothing runs unless pg_restore read it all.
        let script = backup.with_extension("restore.sql");
        let script_text = script.to_string_lossy().into_owned();
        let backup_text = backup.to_string_lossy().into_owned();
        let result = (|| {
            run_client(
                "pg_restore",
                &["--no-owner", "--file", &script_text, &backup_text],
            )?
            .ok_or_else(|| Error::Backup("pg_restore is not installed".to_string()))?;
            crate::backup::owner_only(&script)?;
            run_client(
                "psql",
                &[
                    "-X",
                    "--quiet",
                    "-v",
                    "ON_ERROR_STOP=1",
                    "--single-transaction",
                    "--dbname",
                    &url,
                    "-c",
                    &reset,
                    "-f",
                    &script_text,
                ],
            )?
            .ok_or_else(|| Error::Backup("psql is not installed".to_string()))
        })();
        let _ = std::fs::remove_file(&script);
        result.map_err(|e| match e {
            Error::Backup(message) => Error::Backup(format!(
                "restoring {} failed, the database is unchanged: {message}",
                backup.display()
            )),
            other => other,
        })?;
        Ok(())
    }

    fn schema_fingerprint(&mut self, tables: Option<&[&str]>) -> Result<Vec<SchemaObject>, Error> {
        #[derive(QueryableByName)]
        struct Object {
            #[diesel(sql_type = Text)]
            kind: String,
            #[diesel(sql_type = Text)]
            name: String,
            #[diesel(sql_type = Text)]
            definition: String,
        }
        // NULL: every relation; else the lower-cased names of the tables in scope.
        let scope: Option<Vec<String>> =
            tables.map(|t| t.iter().map(|name| name.to_lowercase()).collect());
        let rows: Vec<Object> = diesel::sql_query(FINGERPRINT)
            .bind::<Nullable<diesel::sql_types::Array<Text>>, _>(scope)
            .load(self.conn)
            .map_err(|e| Self::db_error("reading the schema", e))?;
        let mut objects: Vec<SchemaObject> = rows
            .into_iter()
            .map(|o| SchemaObject {
                kind: o.kind,
                name: o.name,
                definition: o.definition,
            })
            .collect();
        objects.sort();
        Ok(objects)
    }

    fn with_scratch_copy(
        &mut self,
        from_backup: Option<&std::path::Path>,
        rehearse: &mut dyn FnMut(&mut dyn Backend) -> Result<(), Error>,
    ) -> Result<bool, Error> {
        let Some(url) = self.url().map(str::to_string) else {
            return Ok(false);
        };
        let current: SchemaName = diesel::sql_query("SELECT current_database()::text AS name")
            .get_result(self.conn)
            .map_err(|e| Self::db_error("reading the database name", e))?;
        let name = scratch_database_name(&current.name);
        let Some(scratch_url) = url_with_database(&url, &name) else {
            return Ok(false);
        };
        let quoted = format!("\"{}\"", name.replace('"', "\"\""));
        self.drop_database(&quoted)?;
        self.conn
            .batch_execute(&format!("CREATE DATABASE {quoted} TEMPLATE template0"))
            .map_err(|e| {
                Error::Backup(format!(
                    "the rehearsal needs a scratch database and this role cannot create one ({e}); grant CREATEDB to the migrating role, or turn require_test_run off"
                ))
            })?;
        info!(database = %name, "rehearsal database created");
        let result = (|| {
            // The copy: the backup this boot took, else a dump made now.
            let dump;
            let source = match from_backup {
                Some(path) => path,
                None => {
                    dump = std::env::temp_dir()
                        .join(format!("migrator-rehearsal-{}.pgdump", std::process::id()));
                    let dumped = self.backup(&dump);
                    if !matches!(dumped, Ok(true)) {
                        let _ = std::fs::remove_file(&dump);
                        return dumped.map(|_| false);
                    }
                    &dump
                }
            };
            let restored = run_client(
                "pg_restore",
                &[
                    "--no-owner",
                    "--no-acl",
                    "--exit-on-error",
                    "--dbname",
                    &scratch_url,
                    &source.to_string_lossy(),
                ],
            );
            if from_backup.is_none() {
                let _ = std::fs::remove_file(source);
            }
            if restored?.is_none() {
                return Ok(false);
            }
            let mut conn = PgConnection::establish(&scratch_url)
                .map_err(|e| Self::db_error("connecting to the rehearsal database", e))?;
            let mut scratch = Postgres::new(&mut conn, scratch_url.clone());
            rehearse(&mut scratch).map(|()| true)
        })();
        if let Err(e) = self.drop_database(&quoted) {
            warn!(database = %name, error = %e, "the rehearsal database could not be dropped");
        }
        result
    }

    fn read_history(&mut self) -> Result<Vec<HistoryRow>, Error> {
        let rows = match diesel::sql_query(SELECT_HISTORY).load::<Row>(self.conn) {
            Ok(rows) => rows,
            Err(e) => {
                // The cheap path is the one query above; more only when it failed. The table may be
                // missing (a first boot), or another replica may have created it in between: read again.
                let missing =
                    diesel::sql_query("SELECT to_regclass('schema_migrations') IS NULL AS b")
                        .get_result::<BoolRow>(self.conn)
                        .map_err(|_| Self::db_error("reading schema_migrations", &e))?
                        .b;
                if missing {
                    return Ok(Vec::new());
                }
                diesel::sql_query(SELECT_HISTORY)
                    .load::<Row>(self.conn)
                    .map_err(|e| Self::db_error("reading schema_migrations", e))?
            }
        };
        Ok(rows
            .into_iter()
            .map(|r| HistoryRow {
                version: r.version as u64,
                name: r.name,
                issue: r.issue_number.map(|i| i as u32),
                checksum: r.checksum,
                status: Status::parse(&r.status).unwrap_or(Status::Failed),
                applied_at: r.applied_at.unwrap_or_default(),
                execution_ms: r.execution_ms,
                rolled_back_at: r.rolled_back_at,
                error: r.error,
            })
            .collect())
    }

    fn scan_history(
        &mut self,
        visit: &mut dyn FnMut(u64, Option<&str>, &str),
    ) -> Result<bool, Error> {
        // The boot check's fast path: three plain columns, no formatting, one round trip.
        #[derive(QueryableByName)]
        struct Brief {
            #[diesel(sql_type = BigInt)]
            version: i64,
            #[diesel(sql_type = Nullable<Text>)]
            checksum: Option<String>,
            #[diesel(sql_type = Text)]
            status: String,
        }
        match diesel::sql_query(
            "SELECT version, checksum, status FROM schema_migrations ORDER BY version",
        )
        .load::<Brief>(self.conn)
        {
            Ok(rows) => {
                for row in &rows {
                    visit(row.version as u64, row.checksum.as_deref(), &row.status);
                }
                Ok(true)
            }
            // A missing table (first boot) or one created meanwhile: the full read sorts that out.
            Err(_) => {
                let rows = self.read_history()?;
                for row in &rows {
                    visit(row.version, row.checksum.as_deref(), row.status.as_str());
                }
                Ok(!rows.is_empty())
            }
        }
    }

    fn begin_run(&mut self, config: &Config) -> Result<(), Error> {
        self.lock_timeout = config.lock_timeout;
        self.statement_timeout = config.statement_timeout;
        self.lock_retries = config.lock_retries;
        if self.lock.is_none() {
            let started = Instant::now();
            self.take_lock(config.lock_wait)?;
            // A previous holder that died mid-migration may have left its transaction running: wait for
            // it (within what is left of lock_wait) so that the history read next sees its outcome.
            let left = config.lock_wait.saturating_sub(started.elapsed());
            let drain = format!(
                "BEGIN; SET LOCAL lock_timeout = '{}ms'; SELECT pg_advisory_xact_lock({TX_LOCK_KEY}); COMMIT;",
                left.as_millis().max(1)
            );
            if let Err(e) = self.conn.batch_execute(&drain) {
                let _ = self.conn.batch_execute("ROLLBACK");
                self.release_lock();
                return Err(Error::Lock {
                    waited: started.elapsed(),
                    message: format!("a migration transaction of a previous lock holder (a process that died while migrating?) is still running on the server: {e}"),
                });
            }
        }
        if let Err(e) = self.conn.batch_execute(CREATE_HISTORY) {
            self.release_lock();
            return Err(Self::db_error("creating schema_migrations", e));
        }
        Ok(())
    }

    fn apply(&mut self, m: &Migration, direction: Direction) -> Result<Duration, StatementFailure> {
        if m.no_transaction {
            self.apply_without_transaction(m, direction)
        } else {
            self.apply_in_transaction(m, direction)
        }
    }

    fn record_failure(
        &mut self,
        m: &Migration,
        direction: Direction,
        message: &str,
    ) -> Result<(), Error> {
        let mut sql = String::new();
        if direction == Direction::Up {
            // A rolled-back or applied row keeps its state; a new, running or failed one records the failure.
            sql.push_str(&format!(
                "INSERT INTO schema_migrations (version, name, issue_number, checksum, status, applied_at, execution_ms, error)
                 VALUES ({}, {}, {}, {}, 'failed', CURRENT_TIMESTAMP, NULL, {msg})
                 ON CONFLICT (version) DO UPDATE SET name = excluded.name, issue_number = excluded.issue_number,
                    checksum = excluded.checksum, status = 'failed', applied_at = excluded.applied_at,
                    execution_ms = NULL, rolled_back_at = NULL, error = excluded.error
                 WHERE schema_migrations.status NOT IN ('applied', 'rolled_back');",
                m.version,
                lit(&m.name),
                m.issue.map_or("NULL".into(), |i| i.to_string()),
                lit(&m.checksum),
                msg = lit(message),
            ));
        }
        sql.push_str(&log_sql(
            m.version,
            &format!("{}_failed", direction.to_string().to_lowercase()),
            &m.checksum,
            "NULL",
            Some(message),
        ));
        self.conn
            .batch_execute(&sql)
            .map_err(|e| Self::db_error("recording the failure in schema_migrations", e))
    }

    fn mark(&mut self, version: u64, status: Status, checksum: Option<&str>) -> Result<(), Error> {
        let changed = diesel::sql_query(format!(
            "UPDATE schema_migrations SET status = '{status}', checksum = COALESCE({}, checksum), error = NULL,
             rolled_back_at = CASE WHEN '{status}' = 'rolled_back' THEN CURRENT_TIMESTAMP ELSE NULL END WHERE version = {version}",
            checksum.map_or("NULL".into(), lit),
            status = status.as_str(),
        ))
        .execute(self.conn)
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
        self.conn
            .batch_execute(&log_sql(
                version,
                &action,
                checksum.unwrap_or(""),
                "NULL",
                Some("by operator"),
            ))
            .map_err(|e| Self::db_error("writing schema_migrations_log", e))
    }

    fn finish_run(&mut self, _commit: bool) -> Result<(), Error> {
        // Every migration committed on its own; the run only holds the advisory lock.
        self.release_lock();
        Ok(())
    }

    fn server_version(&mut self) -> Result<String, Error> {
        let version = self
            .query_text("SELECT current_setting('server_version') AS t")
            .map_err(|e| Self::db_error("reading the PostgreSQL version", e))?
            .unwrap_or_default();
        // "16.4 (Debian 16.4-1)": the number only.
        let number = version.split_whitespace().next().unwrap_or_default();
        Ok(format!("PostgreSQL {number}"))
    }

    fn table_stats(&mut self, table: &str, exact: bool) -> Result<Option<TableStats>, Error> {
        #[derive(QueryableByName)]
        struct Size {
            #[diesel(sql_type = Text)]
            name: String,
            #[diesel(sql_type = diesel::sql_types::Double)]
            reltuples: f64,
            #[diesel(sql_type = BigInt)]
            table_bytes: i64,
            #[diesel(sql_type = BigInt)]
            index_bytes: i64,
        }
        let context = format!("reading the size of table {table}");
        let size: Result<Option<Size>, _> = diesel::sql_query(
            "SELECT c.oid::regclass::text AS name, c.reltuples::float8 AS reltuples,
                    pg_table_size(c.oid) AS table_bytes, pg_indexes_size(c.oid) AS index_bytes
             FROM pg_class c WHERE c.oid = to_regclass($1) AND c.relkind IN ('r', 'p', 'm')",
        )
        .bind::<Text, _>(table)
        .get_result(self.conn)
        .optional();
        let size = match size {
            Ok(size) => size,
            // A name that cannot be a table name names no table.
            Err(e) if e.to_string().contains("invalid name syntax") => None,
            Err(e) => return Err(Self::db_error(&context, e)),
        };
        let Some(size) = size else {
            return Ok(None);
        };
        // reltuples is -1 (PostgreSQL 14+) or 0 before the first VACUUM/ANALYZE: count then.
        let known = !exact && size.reltuples > 0.0;
        let (rows, exact) = if known {
            (size.reltuples.round() as u64, false)
        } else {
            (
                self.count(&size.name, None)
                    .map_err(|e| Self::db_error(&context, e))?,
                true,
            )
        };
        debug!(table = %size.name, rows, exact, size.table_bytes, size.index_bytes, "table stats");
        Ok(Some(TableStats {
            table: table.to_string(),
            rows,
            exact,
            table_bytes: size.table_bytes.max(0) as u64,
            index_bytes: size.index_bytes.max(0) as u64,
        }))
    }

    fn estimate_rows(&mut self, sql: &str) -> Result<Option<u64>, Error> {
        let words = migrator_format::statement_words(sql).unwrap_or_default();
        if !matches!(
            words.first().map(String::as_str),
            Some("UPDATE" | "DELETE" | "INSERT")
        ) {
            return Ok(None);
        }
        match self.planned_rows(sql) {
            Ok(rows) => Ok(rows),
            // The statement cannot be planned yet (it sets a column an earlier statement of its
            // migration adds): ask about the rows its WHERE selects instead.
            Err(e) if e.to_string().contains("does not exist") => {
                let Some(select) = super::rows_query(sql, super::SqlDialect::Postgres, "1") else {
                    return Ok(None);
                };
                match self.planned_rows(&select) {
                    Ok(rows) => Ok(rows),
                    // A table or column an earlier pending migration creates: nothing to estimate yet.
                    Err(e) if e.to_string().contains("does not exist") => {
                        debug!(error = %e, "estimate_rows: object does not exist yet");
                        Ok(None)
                    }
                    Err(e) => Err(Self::db_error(
                        "reading the planner's estimate of an UPDATE/DELETE",
                        e,
                    )),
                }
            }
            Err(e) => Err(Self::db_error(
                "reading the planner's estimate of an UPDATE/DELETE",
                e,
            )),
        }
    }

    fn count_affected(&mut self, sql: &str) -> Result<Option<u64>, Error> {
        #[derive(QueryableByName)]
        struct Count {
            #[diesel(sql_type = BigInt)]
            n: i64,
        }
        let Some(count) = super::rows_query(sql, super::SqlDialect::Postgres, "count(*) AS n")
        else {
            return Ok(None);
        };
        let timeouts = self.timeouts("LOCAL");
        let result = self.conn.transaction(|conn| {
            conn.batch_execute(&timeouts)?;
            diesel::sql_query(&count).get_result::<Count>(conn)
        });
        match result {
            Ok(c) => Ok(Some(c.n.max(0) as u64)),
            // A table or column an earlier pending migration creates: nothing to count yet.
            Err(e) if e.to_string().contains("does not exist") => Ok(None),
            Err(e) => Err(Self::db_error(
                "counting the rows an UPDATE/DELETE touches",
                e,
            )),
        }
    }

    fn key_width(&mut self, table: &str, columns: &[&str]) -> Result<Option<f64>, Error> {
        #[derive(QueryableByName)]
        struct Width {
            #[diesel(sql_type = Nullable<diesel::sql_types::Double>)]
            w: Option<f64>,
            #[diesel(sql_type = BigInt)]
            n: i64,
        }
        let columns: Vec<String> = columns.iter().map(|c| c.to_string()).collect();
        let found = diesel::sql_query(
            "SELECT sum(s.avg_width)::float8 AS w, count(*) AS n
             FROM pg_stats s
             JOIN pg_class c ON c.relname = s.tablename
             JOIN pg_namespace ns ON ns.oid = c.relnamespace AND ns.nspname = s.schemaname
             WHERE c.oid = to_regclass($1) AND s.attname = ANY($2)",
        )
        .bind::<Text, _>(table)
        .bind::<diesel::sql_types::Array<Text>, _>(&columns)
        .get_result::<Width>(self.conn);
        match found {
            // Every column needs statistics, or the sum says too little.
            Ok(w) if w.n as usize == columns.len() => Ok(w.w),
            Ok(_) => Ok(None),
            Err(e) if e.to_string().contains("invalid name syntax") => Ok(None),
            Err(e) => Err(Self::db_error(
                &format!("reading the key width of table {table}"),
                e,
            )),
        }
    }

    fn count_rows(&mut self, table: &str, non_null: Option<&str>) -> Result<u64, Error> {
        let context = format!("counting the rows of table {table}");
        let name = diesel::sql_query("SELECT to_regclass($1)::text AS t")
            .bind::<Text, _>(table)
            .get_result::<TextRow>(self.conn)
            .map_err(|e| Self::db_error(&context, e))?
            .t
            .ok_or_else(|| Error::Database {
                context: context.clone(),
                message: format!("relation \"{table}\" does not exist"),
            })?;
        self.count(&name, non_null)
            .map_err(|e| Self::db_error(&context, e))
    }

    fn time_batch(&mut self, sql: &str) -> Result<Duration, Error> {
        let started = Instant::now();
        self.conn
            .batch_execute(sql)
            .map_err(|e| Self::db_error("running the calibration sample", e))?;
        Ok(started.elapsed())
    }
}

impl Postgres<'_> {
    /// The planner's row estimate of `sql` (`EXPLAIN`), in a transaction that is rolled back: the
    /// planner's locks go at once, waiting at most the lock timeout, and a failure does not abort a
    /// transaction of the host's.
    fn planned_rows(&mut self, sql: &str) -> Result<Option<u64>, diesel::result::Error> {
        let timeouts = self.timeouts("LOCAL");
        let mut plan = None;
        let result = self
            .conn
            .transaction::<(), diesel::result::Error, _>(|conn| {
                conn.batch_execute(&timeouts)?;
                let row = diesel::sql_query(format!("EXPLAIN (FORMAT JSON) {sql}"))
                    .get_result::<Plan>(conn)?;
                plan = Some(row.plan);
                Err(diesel::result::Error::RollbackTransaction)
            });
        match result {
            Ok(()) | Err(diesel::result::Error::RollbackTransaction) => {
                Ok(plan.as_deref().and_then(planned_rows))
            }
            Err(e) => Err(e),
        }
    }

    /// `count(*)` or `count(column)` of a relation named by the server (`regclass` text, already quoted).
    fn count(
        &mut self,
        regclass: &str,
        non_null: Option<&str>,
    ) -> Result<u64, diesel::result::Error> {
        #[derive(QueryableByName)]
        struct Count {
            #[diesel(sql_type = BigInt)]
            n: i64,
        }
        let what = non_null.map_or_else(|| "*".to_string(), quote_ident);
        diesel::sql_query(format!("SELECT count({what}) AS n FROM {regclass}"))
            .get_result::<Count>(self.conn)
            .map(|c| c.n.max(0) as u64)
    }
}

/// The one row of `EXPLAIN (FORMAT JSON)`.
#[derive(QueryableByName)]
struct Plan {
    #[diesel(column_name = "QUERY PLAN", sql_type = Text)]
    plan: String,
}

/// The rows the plan's top node works on. A ModifyTable node reports 0 rows (PostgreSQL 14+) or its
/// input's rows (before), so for it the larger of its own and its first child's `Plan Rows` counts.
fn planned_rows(plan: &str) -> Option<u64> {
    let rows: Vec<u64> = plan
        .split("\"Plan Rows\":")
        .skip(1)
        .filter_map(|rest| {
            let digits: String = rest
                .trim_start()
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '.')
                .collect();
            digits.parse::<f64>().ok().map(|n| n.round() as u64)
        })
        .collect();
    let first = *rows.first()?;
    if plan.contains("\"Node Type\": \"ModifyTable\"") {
        Some(first.max(rows.get(1).copied().unwrap_or(0)))
    } else {
        Some(first)
    }
}

/// An identifier in double quotes, inner quotes doubled.
fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

impl Drop for Postgres<'_> {
    fn drop(&mut self) {
        // An early return or a panic in the middle of a run: the guard unlocks (or closes the connection).
        self.release_lock();
    }
}

/// `true` for SQLSTATE 55P03 (lock_not_available), recognised by the server's English messages: diesel
/// does not expose the SQLSTATE.
fn is_lock_timeout(message: &str) -> bool {
    message.contains("canceling statement due to lock timeout")
        || message.contains("could not obtain lock on")
}

/// A string literal that is safe whatever `standard_conforming_strings` says.
fn lit(s: &str) -> String {
    format!("E'{}'", s.replace('\\', "\\\\").replace('\'', "''"))
}

fn regclasses(m: &Migration) -> String {
    m.tables
        .iter()
        .map(|t| format!("to_regclass({})", lit(t)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn log_sql(version: u64, action: &str, checksum: &str, ms: &str, detail: Option<&str>) -> String {
    format!(
        "INSERT INTO schema_migrations_log (version, action, checksum, duration_ms, detail) VALUES ({version}, {}, {}, {ms}, {});",
        lit(action),
        lit(checksum),
        detail.map_or("NULL".into(), lit)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_escape_quotes_and_backslashes() {
        assert_eq!(lit("it's"), "E'it''s'");
        assert_eq!(lit(r"a\b"), r"E'a\\b'");
    }

    #[test]
    fn lock_timeouts_are_recognised() {
        assert!(is_lock_timeout("canceling statement due to lock timeout"));
        assert!(is_lock_timeout("could not obtain lock on relation \"t\""));
        assert!(!is_lock_timeout("relation \"t\" does not exist"));
    }
}
