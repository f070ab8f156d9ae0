//! The calibration sample: the costs of the work migrations do, timed on a scratch table of the database
//! in hand at two sizes, and fitted as a fixed cost plus a cost per row.

use std::time::{Duration, Instant};

use tracing::{debug, info};

use super::{Calibration, Cost};
use crate::{Engine, EngineKind, Error};

/// The scratch tables the calibration creates and drops.
const SCRATCH: &str = "_migrator_calibration";
const SCRATCH_COPY: &str = "_migrator_calibration_copy";

/// The first (smaller) sample's size, in rows: a quarter of the smallest larger one, so that two samples
/// usually do.
const FIRST_SAMPLE_ROWS: u64 = MIN_SAMPLE_ROWS / 4;

/// The smallest larger sample, in rows. Below some ten thousand rows a single commit's fsync or a
/// scheduling hiccup (milliseconds) weighs as much as the rows' work, and one such spike in the larger
/// sample passes for a per-row cost (seen on the loaded bench machine: 4,000-row samples gave 8-13x
/// estimates).
const MIN_SAMPLE_ROWS: u64 = 32_000;

/// The largest sample, in rows.
const MAX_SAMPLE_ROWS: u64 = 400_000;

/// How much longer the timed steps of the larger sample should take than the smaller one's: long enough
/// that the per-row costs stand well above timer, commit and scheduling noise, short enough for a preview
/// (the brief's 50-200 ms).
const SAMPLE_TARGET: Duration = Duration::from_millis(150);

/// The steps a sample times, in order.
#[derive(Debug, Clone, Copy, Default)]
struct Timings {
    scan: Duration,
    metadata: Duration,
    index: Duration,
    index_narrow: Duration,
    copy: Duration,
    drop: Duration,
    concurrent_index: Duration,
    foreign_key: Duration,
    rewrite: Duration,
    update: Duration,
    delete: Duration,
    /// Bytes per row of the table, and of its indexes when the rewrite ran; index bytes per row of one
    /// text index.
    row_bytes: f64,
    rewrite_index_row_bytes: f64,
    index_row_bytes: f64,
    /// Key bytes per row of the text index and of the integer one.
    key_bytes: f64,
    narrow_key_bytes: f64,
}

impl Timings {
    fn total(&self) -> Duration {
        self.scan
            + self.metadata
            + self.index
            + self.index_narrow
            + self.copy
            + self.drop
            + self.concurrent_index
            + self.foreign_key
            + self.rewrite
            + self.update
            + self.delete
    }
}

/// Times the sample work (see [`crate::live`]) at growing sizes until the larger sample has at least
/// 32,000 rows and its timed steps take about 150 ms longer than the smaller one's, and at least twice as
/// long; then fits each step's timings at the last two sizes as `fixed + per_row * n`.
/// The scratch tables are dropped afterwards, also when a step fails.
pub fn calibrate(backend: &mut dyn Engine) -> Result<Calibration, Error> {
    let started = Instant::now();
    let engine = backend.dialect().kind;
    let mut small = (FIRST_SAMPLE_ROWS, sample(backend, FIRST_SAMPLE_ROWS)?);
    let mut rows = FIRST_SAMPLE_ROWS * 4;
    loop {
        let large = sample(backend, rows)?;
        // What the rows cost, fixed costs (commits, waits, catalog) left out: the larger sample's time
        // over the smaller one's.
        let took = large.total().saturating_sub(small.1.total());
        debug!(
            rows,
            took_ms = large.total().as_millis() as u64,
            size_dependent_ms = took.as_millis() as u64,
            "calibration sample"
        );
        // Done when the rows' part is measurable and dominates: the larger sample takes at least twice
        // the smaller one's time (fixed costs alone would keep them equal).
        let dominated = large.total() >= small.1.total() * 2;
        if (took >= SAMPLE_TARGET && dominated && rows >= MIN_SAMPLE_ROWS)
            || rows >= MAX_SAMPLE_ROWS
        {
            let calibration = fit(engine, small, (rows, large), started.elapsed());
            info!(
                engine = engine.name(),
                rows,
                took_ms = calibration.took.as_millis() as u64,
                "calibrated"
            );
            return Ok(calibration);
        }
        // Grow towards the target (at least 2, at most 8 times), keeping this size as the small one.
        let factor = SAMPLE_TARGET.as_secs_f64() / took.as_secs_f64().max(1e-3);
        small = (rows, large);
        rows = ((rows as f64 * factor.clamp(2.0, 8.0)) as u64).min(MAX_SAMPLE_ROWS);
    }
}

/// The two-point fit of one step: the per-row cost is the slope between the two sizes, the fixed cost
/// what is left at the larger size. When noise made the smaller sample as slow as the larger one or
/// slower (no slope to read), the larger sample's time is taken as all per-row: an estimate that grows
/// with the table errs high, one that does not would tell a 10-million-row table it costs nothing.
fn cost(small: (u64, Duration), large: (u64, Duration)) -> Cost {
    let (n1, t1) = (small.0 as f64, small.1.as_secs_f64() * 1e9);
    let (n2, t2) = (large.0 as f64, large.1.as_secs_f64() * 1e9);
    if n2 <= n1 || t2 <= t1 {
        return Cost {
            fixed: Duration::ZERO,
            ns_per_row: t2 / n2.max(1.0),
        };
    }
    let per_row = (t2 - t1) / (n2 - n1);
    let fixed = (t2 - per_row * n2).max(0.0);
    Cost {
        fixed: Duration::from_nanos(fixed as u64),
        ns_per_row: per_row,
    }
}

/// The sample's UPDATE and DELETE scan every row and write half of them: the cost per row written is
/// twice what the fit gives per sample row, less the scan's share. When noise makes the scan look as
/// dear as the whole statement, the statement's own per-row cost is kept (never zero: see [`cost`]).
fn write_cost(dml: Cost, scan: &Cost) -> Cost {
    let written = 2.0 * (dml.ns_per_row - scan.ns_per_row);
    Cost {
        fixed: dml.fixed,
        ns_per_row: if written > 0.0 {
            written
        } else {
            dml.ns_per_row
        },
    }
}

fn fit(
    engine: EngineKind,
    (n1, a): (u64, Timings),
    (n2, b): (u64, Timings),
    took: Duration,
) -> Calibration {
    let c = |f: fn(&Timings) -> Duration| cost((n1, f(&a)), (n2, f(&b)));
    let index = c(|t| t.index);
    let scan = c(|t| t.scan);
    Calibration {
        engine,
        rows: n2,
        row_bytes: b.row_bytes,
        index_row_bytes: b.index_row_bytes,
        index_narrow: c(|t| t.index_narrow),
        index_key_bytes: b.key_bytes,
        index_narrow_key_bytes: b.narrow_key_bytes,
        rewrite_index_row_bytes: b.rewrite_index_row_bytes,
        // Catalog only: what it costs does not grow with the rows; the smaller of the two timings is the
        // one less disturbed.
        metadata: a.metadata.min(b.metadata),
        scan,
        index,
        concurrent_index: match engine {
            EngineKind::Postgres => c(|t| t.concurrent_index),
            EngineKind::Sqlite | EngineKind::MySql => index,
        },
        foreign_key: c(|t| t.foreign_key),
        rewrite: c(|t| t.rewrite),
        copy: c(|t| t.copy),
        drop: c(|t| t.drop),
        update: write_cost(c(|t| t.update), &scan),
        delete: write_cost(c(|t| t.delete), &scan),
        took,
    }
}

/// One sample of `n` rows: the scratch table is created and filled (committed), the steps are timed
/// ([`timed`]: SQLite in savepoints, PostgreSQL committed one by one, as the runtime commits each
/// migration and `CONCURRENTLY` needs), and the scratch tables are dropped.
fn sample(backend: &mut dyn Engine, n: u64) -> Result<Timings, Error> {
    let engine = backend.dialect().kind;
    let timings = drop_scratch(backend).and_then(|_| {
        for sql in setup_sql(engine, n) {
            crate::live::stats(backend)?.time_batch(&sql)?;
        }
        run_sample(backend, n)
    });
    // Drop the scratch tables whatever happened (a failed step may have left them behind). SQLite keeps
    // the freed pages in its file for reuse.
    let dropped = drop_scratch(backend);
    let timings = timings?;
    dropped?;
    Ok(timings)
}

/// How a timed step runs.
#[derive(Clone, Copy, PartialEq)]
enum Step {
    /// Its change stays for the steps after it.
    Keep,
    /// SQLite: undone afterwards (a savepoint rolled back), so that every step starts from the same
    /// committed table, as a migration does. PostgreSQL keeps it (`CONCURRENTLY` cannot run in a
    /// transaction, and each migration's commit is part of its cost there).
    Isolated,
}

/// Times `sql` alone.
fn timed(backend: &mut dyn Engine, step: Step, sql: &str) -> Result<Duration, Error> {
    Ok(timed_each(backend, step, &[sql])?[0])
}

/// Times each statement of `sqls` on its own, in order. SQLite runs them in one savepoint (the runtime
/// applies SQLite migrations inside one transaction, so a commit is not part of their cost), released or
/// rolled back afterwards.
fn timed_each(backend: &mut dyn Engine, step: Step, sqls: &[&str]) -> Result<Vec<Duration>, Error> {
    let sqlite = backend.dialect().kind == EngineKind::Sqlite;
    if sqlite {
        crate::live::stats(backend)?.time_batch("SAVEPOINT migrator_calibration")?;
    }
    let mut took = Vec::with_capacity(sqls.len());
    let mut failed = None;
    for sql in sqls {
        match crate::live::stats(backend)?.time_batch(sql) {
            Ok(t) => took.push(t),
            Err(e) => {
                failed = Some(e);
                break;
            }
        }
    }
    if sqlite {
        let end = if failed.is_none() && step == Step::Keep {
            "RELEASE migrator_calibration"
        } else {
            "ROLLBACK TO migrator_calibration; RELEASE migrator_calibration"
        };
        let ended = crate::live::stats(backend)?.time_batch(end);
        if let Some(e) = failed {
            return Err(e);
        }
        ended?;
    }
    match failed {
        Some(e) => Err(e),
        None => Ok(took),
    }
}

fn drop_scratch(backend: &mut dyn Engine) -> Result<Duration, Error> {
    crate::live::stats(backend)?.time_batch(&format!(
        "DROP TABLE IF EXISTS {SCRATCH_COPY}; DROP TABLE IF EXISTS {SCRATCH};"
    ))
}

/// The sample's rows: an id, an integer, a text of about 40 bytes, a timestamp and a reference to
/// another row (for the foreign key). One statement per entry (PostgreSQL runs VACUUM on its own).
fn setup_sql(engine: EngineKind, n: u64) -> Vec<String> {
    match engine {
        EngineKind::Postgres => vec![
            format!("CREATE TABLE {SCRATCH} (id bigint PRIMARY KEY, n integer, s text, t timestamptz, u bigint)"),
            format!(
                "INSERT INTO {SCRATCH}
                 SELECT i, (i * 7) % 1000, 'row ' || i || ' ' || md5(i::text), now() - i * interval '1 second', i % {n} + 1
                 FROM generate_series(1, {n}) AS i"
            ),
            // Like a live table autovacuum keeps: hint bits set, statistics known.
            format!("VACUUM ANALYZE {SCRATCH}"),
        ],
        EngineKind::MySql => vec![
            format!("CREATE TABLE {SCRATCH} (id BIGINT PRIMARY KEY, n INT, s TEXT, t DATETIME, u BIGINT)"),
            format!(
                "INSERT INTO {SCRATCH}
                 WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < {n})
                 SELECT i, (i * 7) % 1000, CONCAT('row ', i, ' ', MD5(i)), NOW() - INTERVAL i SECOND, i % {n} + 1 FROM g"
            ),
            format!("ANALYZE TABLE {SCRATCH}"),
        ],
        EngineKind::Sqlite => vec![
            format!("CREATE TABLE {SCRATCH} (id INTEGER PRIMARY KEY, n INTEGER, s TEXT, t TEXT, u INTEGER)"),
            format!(
                "WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < {n})
                 INSERT INTO {SCRATCH}
                 SELECT i, (i * 7) % 1000, 'row ' || i || ' ' || hex(randomblob(16)), datetime('now', '-' || i || ' seconds'), i % {n} + 1
                 FROM g"
            ),
        ],
    }
}

/// The timed steps, on the scratch table [`setup_sql`] filled.
fn run_sample(backend: &mut dyn Engine, n: u64) -> Result<Timings, Error> {
    let engine = backend.dialect().kind;
    let size = |backend: &mut dyn Engine| -> Result<(u64, u64), Error> {
        crate::live::stats(backend)?
            .table_stats(SCRATCH, false)?
            .map(|s| (s.table_bytes, s.index_bytes))
            .ok_or_else(|| Error::Database {
                context: "calibrating".into(),
                source: crate::DbError::new(
                    crate::DbErrorKind::MissingObject,
                    format!("the scratch table {SCRATCH} vanished"),
                ),
            })
    };
    let (table_bytes, first_index_bytes) = size(backend)?;
    let mut t = Timings {
        row_bytes: table_bytes as f64 / n as f64,
        ..Timings::default()
    };
    use Step::{Isolated, Keep};
    t.scan = timed(
        backend,
        Isolated,
        &format!("SELECT count(*) FROM {SCRATCH} WHERE s LIKE '%zz%'"),
    )?;
    t.metadata = timed(
        backend,
        Keep,
        &format!("ALTER TABLE {SCRATCH} ADD COLUMN x text"),
    )?;
    // Two keys: a text of about 40 bytes and an integer, so that the cost of a build can follow the width
    // of the key being indexed.
    t.key_bytes = crate::live::stats(backend)?
        .key_width(SCRATCH, &["s"])?
        .unwrap_or(0.0);
    t.narrow_key_bytes = crate::live::stats(backend)?
        .key_width(SCRATCH, &["n"])?
        .unwrap_or(0.0);
    t.index_narrow = timed(
        backend,
        Isolated,
        &format!("CREATE INDEX {SCRATCH}_n ON {SCRATCH} (n)"),
    )?;
    if engine == EngineKind::Postgres {
        crate::live::stats(backend)?.time_batch(&format!("DROP INDEX {SCRATCH}_n"))?;
    }
    t.index = timed(
        backend,
        Keep,
        &format!("CREATE INDEX {SCRATCH}_s ON {SCRATCH} (s)"),
    )?;
    let (_, index_bytes) = size(backend)?;
    t.index_row_bytes = index_bytes.saturating_sub(first_index_bytes) as f64 / n as f64;
    // The copy and the drop of a rebuild, timed apart (SQLite: in one savepoint rolled back).
    let copy = format!(
        "CREATE TABLE {SCRATCH_COPY} AS SELECT * FROM {SCRATCH} WHERE 1 = 0;
         INSERT INTO {SCRATCH_COPY} SELECT * FROM {SCRATCH};"
    );
    let drop = format!("DROP TABLE {SCRATCH_COPY}");
    let both = timed_each(backend, Isolated, &[&copy, &drop])?;
    (t.copy, t.drop) = (both[0], both[1]);
    match engine {
        EngineKind::Postgres => {
            t.concurrent_index = crate::live::stats(backend)?.time_batch(&format!(
                "CREATE INDEX CONCURRENTLY {SCRATCH}_s2 ON {SCRATCH} (s)"
            ))?;
            t.foreign_key = crate::live::stats(backend)?.time_batch(&format!(
                "ALTER TABLE {SCRATCH} ADD CONSTRAINT {SCRATCH}_fk FOREIGN KEY (u) REFERENCES {SCRATCH} (id)"
            ))?;
            // The key's checks would make every DELETE below look up its referencing rows; the second
            // text index only served the concurrent build.
            crate::live::stats(backend)?.time_batch(&format!(
                "ALTER TABLE {SCRATCH} DROP CONSTRAINT {SCRATCH}_fk; DROP INDEX {SCRATCH}_s2;"
            ))?;
            // Rewrites the heap and rebuilds its indexes (the key and the one on the text).
            t.rewrite = crate::live::stats(backend)?
                .time_batch(&format!("ALTER TABLE {SCRATCH} ALTER COLUMN n TYPE bigint"))?;
        }
        EngineKind::MySql => {
            // InnoDB rebuilds the table for a type change.
            t.rewrite = crate::live::stats(backend)?
                .time_batch(&format!("ALTER TABLE {SCRATCH} MODIFY COLUMN n BIGINT"))?;
        }
        EngineKind::Sqlite => {
            // SQLite has no concurrent build, and checks foreign keys only when a table is rebuilt;
            // DROP COLUMN rewrites the table in place.
            t.rewrite = timed(
                backend,
                Isolated,
                &format!("ALTER TABLE {SCRATCH} DROP COLUMN u"),
            )?;
        }
    }
    let (_, index_bytes) = size(backend)?;
    t.rewrite_index_row_bytes = index_bytes as f64 / n as f64;
    // A backfill: half the rows, spread over every page, get a value in the column added above (the row
    // grows); then half the rows are deleted, spread the same way.
    t.update = timed(
        backend,
        Isolated,
        &format!("UPDATE {SCRATCH} SET x = 'value ' || id WHERE id % 2 = 0"),
    )?;
    t.delete = timed(
        backend,
        Isolated,
        &format!("DELETE FROM {SCRATCH} WHERE id % 2 = 1"),
    )?;
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_slope_splits_into_fixed_and_per_row_costs() {
        let c = cost((1000, ms(12)), (5000, ms(52)));
        assert!((c.ns_per_row - 10_000.0).abs() < 1e-6, "{c:?}");
        assert_eq!(c.fixed, ms(2));
    }

    #[test]
    fn a_smaller_sample_slowed_by_noise_still_gives_a_cost_that_grows_with_rows() {
        // The small sample took longer than the large one: no slope; all of the large one's time is
        // charged per row rather than none of it.
        let c = cost((1000, ms(60)), (5000, ms(50)));
        assert_eq!(c.fixed, Duration::ZERO);
        assert!((c.ns_per_row - 10_000.0).abs() < 1e-6, "{c:?}");
        let equal = cost((1000, ms(50)), (5000, ms(50)));
        assert!(equal.ns_per_row > 0.0, "{equal:?}");
    }

    #[test]
    fn a_write_cost_falls_back_to_the_statement_when_the_scan_looks_dearer() {
        let scan = Cost {
            fixed: Duration::ZERO,
            ns_per_row: 50.0,
        };
        let dml = Cost {
            fixed: ms(1),
            ns_per_row: 40.0,
        };
        assert_eq!(write_cost(dml, &scan).ns_per_row, 40.0);
        let dearer = Cost {
            ns_per_row: 90.0,
            ..dml
        };
        assert_eq!(write_cost(dearer, &scan).ns_per_row, 80.0);
    }
}
