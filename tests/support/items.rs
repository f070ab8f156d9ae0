//! The `items` table of the backfill tests, on every engine: ids from 1 to N without the multiples of 7
//! (the key has gaps), a tenth of the rows of kind `skip` (the backfill's own condition leaves them), a
//! counter `n` the backfill increments (so a row updated twice shows), and `touched`, which a concurrent
//! "application" session writes while the backfill runs ([`Probe`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use migrator::backfill::BackfillMode;
use migrator::Config;

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
}

impl std::fmt::Display for Waits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} app writes: longest {:.1} ms, p99 {:.1} ms, median {:.2} ms",
            self.queries,
            self.max.as_secs_f64() * 1000.0,
            self.p99.as_secs_f64() * 1000.0,
            self.median.as_secs_f64() * 1000.0
        )
    }
}

/// An application session on its own connection that updates one random item every few milliseconds
/// and times each update (its lock waits included) until it is stopped.
pub struct Probe {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<Vec<Duration>>,
}

impl Probe {
    /// Starts probing items with ids up to `up_to`.
    pub fn start(db: &Db, up_to: u64) -> Probe {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let url = db.url();
        let thread = std::thread::spawn(move || {
            let mut database =
                migrator::connect::Database::open(&url, migrator::connect::Create::No)
                    .expect("the probe's connection");
            database.with_engine(|engine| {
                if engine.dialect().kind == migrator::EngineKind::Sqlite {
                    engine
                        .execute("PRAGMA busy_timeout = 120000")
                        .expect("busy_timeout");
                }
                let mut seed = 0x9E37_79B9_7F4A_7C15u64 ^ u64::from(std::process::id());
                let mut times = Vec::new();
                while !flag.load(Ordering::SeqCst) {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    let id = 1 + seed % up_to;
                    let started = Instant::now();
                    engine
                        .execute(&format!(
                            "UPDATE items SET touched = touched + 1 WHERE id = {id}"
                        ))
                        .expect("the probe's update");
                    times.push(started.elapsed());
                    std::thread::sleep(Duration::from_millis(3));
                }
                times
            })
        });
        Probe { stop, thread }
    }

    /// Stops probing and returns what it saw.
    pub fn finish(self) -> Waits {
        self.stop.store(true, Ordering::SeqCst);
        let mut times = self.thread.join().expect("the probe thread");
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
        }
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
