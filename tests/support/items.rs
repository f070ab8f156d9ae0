//! The `items` table of the backfill tests, on every engine: ids from 1 to N without the multiples of 7
//! (the key has gaps), a tenth of the rows of kind `skip` (the backfill's own condition leaves them), a
//! counter `n` the backfill increments (so a row updated twice shows), and `touched`, which a concurrent
//! "application" session writes while the backfill runs ([`Probe`]).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use migrator::backfill::BackfillMode;
use migrator::Config;

use crate::timeline::now_us;
use crate::{Db, Workspace};

/// The backfill's UPDATE.
pub const BACKFILL_UP: &str =
    "UPDATE items SET n = n + 1, label = upper(label) WHERE kind <> 'skip'";

/// The backfill tests' configuration: no backup, no rehearsal (the tests that need them say so), the boot
/// setting `mode`.
pub fn config(mode: BackfillMode) -> Config {
    Config {
        require_backup: false,
        require_test_run: false,
        backfill: mode,
        ..Config::default()
    }
}

/// The version of the first migration of the backfill tests: a marker table (`items` itself is made by
/// [`create`] outside the migrations, the same on every engine).
pub const FIRST: u64 = 20250301000000;

/// The first migration applied (without backup or rehearsal) and `items` seeded up to `up_to`.
pub fn prepare(ws: &Workspace, db: &Db, up_to: u64) {
    ws.add(
        FIRST,
        Some(17),
        "items_table",
        "CREATE TABLE marker (id INTEGER PRIMARY KEY);",
        None,
    );
    create(db);
    let config = migrator::Config {
        require_backup: false,
        require_test_run: false,
        ..migrator::Config::default()
    };
    db.boot_with(&ws.set(), config)
        .expect("the first migration");
    seed(db, up_to);
}

/// The version of the backfill migration [`three_migrations`] writes.
pub const BACKFILL: u64 = 20250302000000;
/// The version of the migration after it (an index on the column the backfill fills).
pub const AFTER: u64 = 20250303000000;

/// The first migration applied and `items` seeded ([`prepare`]), then pending: a backfill of `items`
/// with the directive's `settings` and a migration after it that needs the backfill done.
pub fn three_migrations(ws: &Workspace, db: &Db, up_to: u64, settings: &str) {
    prepare(ws, db, up_to);
    add_backfill(ws, BACKFILL, settings, BACKFILL_UP);
    ws.add(
        AFTER,
        Some(17),
        "items_label_index",
        "CREATE INDEX items_label ON items (label);",
        Some(&db.drop_index("items_label", "items")),
    );
}

/// Creates `items` (empty).
pub fn create(db: &Db) {
    db.exec(
        "CREATE TABLE items (
            id INTEGER PRIMARY KEY,
            kind VARCHAR(10) NOT NULL,
            label VARCHAR(40) NOT NULL,
            divisor INTEGER NOT NULL,
            ratio INTEGER,
            n INTEGER NOT NULL DEFAULT 0,
            touched INTEGER NOT NULL DEFAULT 0
        )",
    );
}

/// Fills `items` with the ids up to `up_to` (the same SQL on every engine: a cross join of digits).
pub fn seed(db: &Db, up_to: u64) {
    let digits = up_to.max(10).to_string().len() - usize::from(is_power_of_ten(up_to));
    let digit = "(SELECT 0 AS d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9)";
    let tables: Vec<String> = (0..digits).map(|i| format!("{digit} AS d{i}")).collect();
    let id: Vec<String> = (0..digits)
        .map(|i| format!("{} * d{i}.d", 10u64.pow(i as u32)))
        .collect();
    db.exec(&format!(
        "INSERT INTO items (id, kind, label, divisor)
         SELECT id, CASE WHEN id % 10 = 3 THEN 'skip' ELSE 'item' END, CONCAT('item-', id), 1
         FROM (SELECT 1 + {} AS id FROM {}) AS numbers
         WHERE id <= {up_to} AND id % 7 <> 0",
        id.join(" + "),
        tables.join(" CROSS JOIN ")
    ));
    if db.is_postgres() {
        db.exec("ANALYZE items");
    }
}

fn is_power_of_ten(n: u64) -> bool {
    n >= 10 && 10u64.pow(n.ilog10()) == n
}

/// `(rows, rows the backfill updates)` of a table seeded up to `up_to`.
pub fn expected(up_to: u64) -> (u64, u64) {
    let ids = (1..=up_to).filter(|i| i % 7 != 0);
    let rows = ids.clone().count() as u64;
    let updated = ids.filter(|i| i % 10 != 3).count() as u64;
    (rows, updated)
}

/// Writes a backfill migration of `items` with the directive's settings after `key=id` (`batch=500`).
pub fn add_backfill(ws: &Workspace, version: u64, settings: &str, up: &str) -> String {
    let file = format!("{version}_issue_17_items_backfill.sql");
    ws.write(
        &file,
        &format!(
            "-- Issue #17: items backfill\n-- migrator:backfill table=items key=id {settings}\n\n-- ============ UP MIGRATION ============\n{up};\n\n-- ============ DOWN MIGRATION ============\n"
        ),
    );
    file
}

/// `(rows with n = 1, rows with n > 1, updated rows the backfill missed)` once it is complete.
pub fn counters(db: &Db) -> (i64, i64, i64) {
    let row = db.rows(
        "SELECT (SELECT count(*) FROM items WHERE n = 1), (SELECT count(*) FROM items WHERE n > 1), (SELECT count(*) FROM items WHERE n = 0 AND kind <> 'skip')",
    );
    let cells: Vec<i64> = row[0].split('|').map(|c| c.parse().unwrap()).collect();
    (cells[0], cells[1], cells[2])
}

/// Checks, from one snapshot, that the data agrees with the backfill's cursor: every row the backfill
/// updates is done once up to the cursor and untouched after it, and the progress row counts exactly
/// those rows. Returns the cursor and the rows done.
pub fn check_cursor_agrees(db: &Db, history: &str) -> (Option<i64>, i64) {
    let p = format!("{history}_backfill");
    let row = db.rows(&format!(
        "SELECT (SELECT cursor_key FROM {p}), (SELECT rows_done FROM {p}),
                (SELECT count(*) FROM items WHERE n = 1), (SELECT count(*) FROM items WHERE n > 1),
                (SELECT count(*) FROM items WHERE n <> 0 AND id > coalesce((SELECT cursor_key FROM {p}), 0)),
                (SELECT count(*) FROM items WHERE n = 0 AND kind <> 'skip' AND id <= coalesce((SELECT cursor_key FROM {p}), 0))"
    ));
    let cells: Vec<&str> = row[0].split('|').collect();
    let num = |i: usize| cells[i].parse::<i64>().unwrap_or(0);
    let cursor = cells[0].parse::<i64>().ok();
    assert_eq!(num(3), 0, "rows updated twice: {row:?}");
    assert_eq!(num(4), 0, "rows updated beyond the cursor: {row:?}");
    assert_eq!(num(5), 0, "rows before the cursor left out: {row:?}");
    assert_eq!(
        num(1),
        num(2),
        "the progress row's rows_done differs from the rows done: {row:?}"
    );
    (cursor, num(1))
}

/// A probe write slower than this is kept with its instants ([`Waits::slow`]) and, on the servers, makes
/// the probe sample the sessions ([`Waits::samples`]).
pub const SLOW: Duration = Duration::from_millis(200);

/// What an application session saw while something else ran: its write queries' latencies.
#[derive(Debug, Clone, Default)]
pub struct Waits {
    /// Queries run.
    pub queries: usize,
    /// The longest one.
    pub max: Duration,
    /// The 99th percentile.
    pub p99: Duration,
    /// The median.
    pub median: Duration,
    /// The writes slower than [`SLOW`], in order.
    pub slow: Vec<SlowWrite>,
    /// The server's sessions, sampled from a third connection while a write was slow (none on SQLite).
    pub samples: Vec<Sample>,
}

/// One probe write slower than [`SLOW`]: when (µs since the epoch, [`crate::timeline::now_us`]).
#[derive(Debug, Clone)]
pub struct SlowWrite {
    /// When the write was sent.
    pub start: u64,
    /// When it returned.
    pub end: u64,
    /// SQLite: how often its busy handler was called (each call one sleep of SQLite's default schedule).
    pub busy_calls: u32,
}

/// The sessions of the database (other than the sampler) at one instant of a slow write.
#[derive(Debug, Clone)]
pub struct Sample {
    /// When, µs since the epoch.
    pub at: u64,
    /// One line per session: pid, state, wait, transaction age, query, blocking pids.
    pub rows: Vec<String>,
}

impl std::fmt::Display for Waits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} app writes: longest {:.1} ms, p99 {:.1} ms, median {:.2} ms, {} over {} ms",
            self.queries,
            self.max.as_secs_f64() * 1000.0,
            self.p99.as_secs_f64() * 1000.0,
            self.median.as_secs_f64() * 1000.0,
            self.slow.len(),
            SLOW.as_millis()
        )
    }
}

/// An application session on its own connection that updates one random item every few milliseconds
/// and times each update (its lock waits included) until it is stopped. On SQLite its busy handler is
/// SQLite's default one (the schedule of `sqlite3_busy_timeout`, 120 s), counted; on the servers a
/// third connection samples the sessions while a write is slower than [`SLOW`].
pub struct Probe {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<(Vec<Duration>, Vec<SlowWrite>)>,
    sampler: Option<std::thread::JoinHandle<Vec<Sample>>>,
}

/// The instant (µs since the epoch) the probe's write in flight was sent, 0 when none is; and the
/// probe's server session id, 0 until known.
#[derive(Default)]
struct InFlight {
    since: AtomicU64,
    session: AtomicU64,
}

impl Probe {
    /// Starts probing items with ids up to `up_to`.
    pub fn start(db: &Db, up_to: u64) -> Probe {
        let stop = Arc::new(AtomicBool::new(false));
        let in_flight = Arc::new(InFlight::default());
        let (flag, shared) = (stop.clone(), in_flight.clone());
        let url = db.url();
        let thread = match db {
            Db::Sqlite(path) => {
                let conn = rusqlite::Connection::open(path).expect("the probe's connection");
                conn.busy_handler(Some(sqlite_default_busy))
                    .expect("busy handler");
                std::thread::spawn(move || {
                    probe_writes(&flag, &shared, up_to, &mut |sql| {
                        conn.execute_batch(sql).expect("the probe's update")
                    })
                })
            }
            _ => std::thread::spawn(move || {
                let mut database =
                    migrator::connect::Database::open(&url, migrator::connect::Create::No)
                        .expect("the probe's connection");
                database.with_engine(|engine| {
                    let id = engine
                        .query(session_id_sql(engine.dialect().kind))
                        .expect("the probe's session id");
                    let id = id.first().and_then(|r| r.first()?.as_i64()).unwrap_or(0);
                    shared.session.store(id as u64, Ordering::SeqCst);
                    probe_writes(&flag, &shared, up_to, &mut |sql| {
                        engine.execute(sql).expect("the probe's update")
                    })
                })
            }),
        };
        let sampler = (!matches!(db, Db::Sqlite(_))).then(|| {
            let (flag, url) = (stop.clone(), db.url());
            std::thread::spawn(move || sample_sessions(&url, &flag, &in_flight))
        });
        Probe {
            stop,
            thread,
            sampler,
        }
    }

    /// Stops probing and returns what it saw.
    pub fn finish(self) -> Waits {
        self.stop.store(true, Ordering::SeqCst);
        let (mut times, slow) = self.thread.join().expect("the probe thread");
        let samples = self
            .sampler
            .map(|s| s.join().expect("the sampler thread"))
            .unwrap_or_default();
        times.sort();
        let at = |q: f64| {
            times
                .get(((times.len() as f64 - 1.0) * q).round() as usize)
                .copied()
                .unwrap_or_default()
        };
        Waits {
            queries: times.len(),
            max: times.last().copied().unwrap_or_default(),
            p99: at(0.99),
            median: at(0.5),
            slow,
            samples,
        }
    }
}

/// The probe's loop: one update of a random item every 3 ms, timed.
fn probe_writes(
    stop: &AtomicBool,
    in_flight: &InFlight,
    up_to: u64,
    write: &mut dyn FnMut(&str),
) -> (Vec<Duration>, Vec<SlowWrite>) {
    let mut seed = 0x9E37_79B9_7F4A_7C15u64 ^ u64::from(std::process::id());
    let (mut times, mut slow) = (Vec::new(), Vec::new());
    while !stop.load(Ordering::SeqCst) {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let id = 1 + seed % up_to;
        BUSY_CALLS.set(0);
        let start = now_us();
        in_flight.since.store(start, Ordering::SeqCst);
        let started = Instant::now();
        write(&format!(
            "UPDATE items SET touched = touched + 1 WHERE id = {id}"
        ));
        let took = started.elapsed();
        in_flight.since.store(0, Ordering::SeqCst);
        if took > SLOW {
            slow.push(SlowWrite {
                start,
                end: start + took.as_micros() as u64,
                busy_calls: BUSY_CALLS.get(),
            });
        }
        times.push(took);
        std::thread::sleep(Duration::from_millis(3));
    }
    (times, slow)
}

thread_local! {
    /// How often the busy handler was called during the probe's write in flight.
    static BUSY_CALLS: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// SQLite's default busy handler (`sqliteDefaultBusyCallback`, what `busy_timeout` installs) with a
/// timeout of 120 s, counted: sleeps of 1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50 ms, then 100 ms each.
/// `PROBE_BUSY_STEP_MS=n` makes every sleep `n` ms instead (an experiment: a writer polling often).
fn sqlite_default_busy(count: i32) -> bool {
    const DELAYS: [u64; 12] = [1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, 100];
    const TOTALS: [u64; 12] = [0, 1, 3, 8, 18, 33, 53, 78, 103, 128, 178, 228];
    const TIMEOUT_MS: u64 = 120_000;
    static STEP: std::sync::OnceLock<Option<u64>> = std::sync::OnceLock::new();
    let count = count.max(0) as u64;
    BUSY_CALLS.set(count as u32 + 1);
    let (delay, prior) =
        match STEP.get_or_init(|| std::env::var("PROBE_BUSY_STEP_MS").ok()?.parse().ok()) {
            Some(step) => (*step, step * count),
            None if count < 12 => (DELAYS[count as usize], TOTALS[count as usize]),
            None => (100, 228 + 100 * (count - 11)),
        };
    if prior >= TIMEOUT_MS {
        return false;
    }
    std::thread::sleep(Duration::from_millis(delay.min(TIMEOUT_MS - prior)));
    true
}

fn session_id_sql(kind: migrator::EngineKind) -> &'static str {
    match kind {
        migrator::EngineKind::Postgres => "SELECT pg_backend_pid()",
        _ => "SELECT CONNECTION_ID()",
    }
}

/// The server's sessions that matter to the probe's session `probe`: the probe itself, who blocks it,
/// and every other session in a transaction (the backfill's, autovacuum), with their wait and query.
fn sessions_sql(kind: migrator::EngineKind, probe: u64) -> String {
    match kind {
        migrator::EngineKind::Postgres => format!(
            "SELECT a.pid, a.backend_type, a.state, coalesce(a.wait_event_type || ':' || a.wait_event, '-'),
                    round(extract(epoch FROM now() - a.xact_start) * 1000) AS xact_ms,
                    coalesce(array_to_string(pg_blocking_pids(a.pid), ','), '') AS blocked_by,
                    left(regexp_replace(a.query, '\\s+', ' ', 'g'), 70)
             FROM pg_stat_activity a
             WHERE a.pid <> pg_backend_pid()
               AND (a.pid = {probe} OR a.pid = ANY(pg_blocking_pids({probe})) OR a.xact_start IS NOT NULL)
             ORDER BY a.pid"
        ),
        _ => format!(
            "SELECT p.id, p.command, coalesce(p.state, '-'), round(p.time_ms),
                    coalesce(t.trx_state, 'no trx'), coalesce(t.trx_rows_locked, 0),
                    coalesce(round(timestampdiff(MICROSECOND, t.trx_started, now(6)) / 1000), 0) AS trx_ms,
                    left(coalesce(p.info, ''), 70)
             FROM information_schema.processlist p
             LEFT JOIN information_schema.innodb_trx t ON t.trx_mysql_thread_id = p.id
             WHERE p.id <> CONNECTION_ID() AND p.command <> 'Daemon'
               AND (p.id = {probe} OR t.trx_id IS NOT NULL)
             ORDER BY p.id"
        ),
    }
}

/// From a third connection: every 50 ms, while the probe's write has been in flight longer than
/// [`SLOW`], one [`Sample`] of the sessions.
fn sample_sessions(url: &str, stop: &AtomicBool, in_flight: &InFlight) -> Vec<Sample> {
    let mut database = migrator::connect::Database::open(url, migrator::connect::Create::No)
        .expect("the sampler's connection");
    database.with_engine(|engine| {
        let mut samples = Vec::new();
        while !stop.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(50));
            let (since, probe) = (
                in_flight.since.load(Ordering::SeqCst),
                in_flight.session.load(Ordering::SeqCst),
            );
            let at = now_us();
            if since == 0 || probe == 0 || at.saturating_sub(since) < SLOW.as_micros() as u64 {
                continue;
            }
            let rows = engine
                .query(&sessions_sql(engine.dialect().kind, probe))
                .expect("the sampler's query");
            let rows = rows
                .iter()
                .map(|r| r.iter().map(cell).collect::<Vec<_>>().join(" | "))
                .collect();
            samples.push(Sample { at, rows });
        }
        samples
    })
}

fn cell(v: &migrator::engine::Value) -> String {
    match v {
        migrator::engine::Value::Null => "NULL".to_string(),
        migrator::engine::Value::Int(n) => n.to_string(),
        migrator::engine::Value::Float(f) => format!("{f}"),
        migrator::engine::Value::Text(t) => t.clone(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn expected_counts() {
        assert_eq!(super::expected(20), (18, 16));
        assert!(super::is_power_of_ten(1000) && !super::is_power_of_ten(999));
    }
}
