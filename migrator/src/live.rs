//! Live figures for the preview: table sizes from the database in hand, and per-statement durations from a
//! cost model **calibrated on that database**.
//!
//! [`calibrate`] runs a short sample on a scratch table (`_migrator_calibration`, dropped afterwards): it
//! inserts N rows of realistic width (an id, an integer, a text, a timestamp), then times a scan, a
//! metadata-only `ALTER`, an index build (and on PostgreSQL a `CONCURRENTLY` build and a foreign key
//! validation), a table rewrite (PostgreSQL: a column type change; SQLite: a `DROP COLUMN` rewrite and the
//! 12-step rebuild), an `UPDATE` and a `DELETE` of every row. N grows until the sample takes long enough to
//! measure (about 100 ms). Each timing, less the round trip of an empty statement, divided by N gives a
//! per-row cost at the sample's row width.
//!
//! [`estimate`] combines those costs with the analyser's impact of each statement (which tables, what work:
//! metadata only, rows, scan, index build, rewrite, rebuild) and the sizes of the tables
//! ([`Backend::table_stats`]) or, for UPDATE/DELETE, the rows they touch ([`Backend::estimate_rows`]):
//!
//! - work proportional to the table's bytes (scan, rewrite, rebuild, UPDATE, DELETE) scales the per-row cost
//!   by the target's bytes per row over the sample's;
//! - an index build is a sort: per row times `log2(rows) / log2(N)`;
//! - every statement pays the measured metadata-only cost (catalog change and commit).
//!
//! Lock durations follow the engines: a lock taken in a transaction is held until the migration commits, so
//! a blocking lock taken by an early statement lasts to the end of the section; without a transaction it
//! lasts for its own statement; SQLite holds its database-wide write lock for the whole migration.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use migrator_analyse::{Analysis, Lock, ObjectKind, Section, StatementAnalysis, Work};
use tracing::{debug, info};

pub use crate::backend::TableStats;
use crate::{Backend, Engine, Error, Migration};
/// The offline analyser whose [`Analysis`] [`estimate`] reads.
pub use migrator_analyse as analyse;

/// The scratch table the calibration creates and drops.
const SCRATCH: &str = "_migrator_calibration";

/// The sample's first size, in rows.
const FIRST_SAMPLE_ROWS: u64 = 2_000;

/// The largest sample, in rows.
const MAX_SAMPLE_ROWS: u64 = 200_000;

/// How long the sample should take to be measurable (the per-statement overheads shrink below a few
/// percent of it).
const SAMPLE_TARGET: Duration = Duration::from_millis(100);

/// The blocking lock a migration may hold before the preview calls it downtime when the caller gives no
/// policy: the default `max_lock_duration` of [`crate::Config`] (its `lock_timeout`).
pub fn default_max_lock() -> Duration {
    crate::Config::default().lock_timeout
}

/// Per-unit costs measured on the database in hand. Per-row costs are at the sample's row width,
/// [`Calibration::row_bytes`].
#[derive(Debug, Clone, PartialEq)]
pub struct Calibration {
    /// The engine measured.
    pub engine: Engine,
    /// Rows in the sample.
    pub rows: u64,
    /// Bytes per row of the sample table (its pages over its rows).
    pub row_bytes: f64,
    /// Bytes per row of the sample's text index (sizes a new index).
    pub index_row_bytes: f64,
    /// The round trip of an empty statement, subtracted from every timing.
    pub overhead: Duration,
    /// A metadata-only change (`ALTER TABLE .. ADD COLUMN` of a nullable column), round trip included.
    pub metadata: Duration,
    /// Nanoseconds per row: a full scan evaluating a predicate.
    pub scan_ns: f64,
    /// Nanoseconds per row: building an index on a text column (at `rows` rows).
    pub index_ns: f64,
    /// Nanoseconds per row: `CREATE INDEX CONCURRENTLY` (PostgreSQL; SQLite: same as `index_ns`).
    pub concurrent_index_ns: f64,
    /// Nanoseconds per child row: validating a foreign key (PostgreSQL; SQLite checks by rebuild).
    pub foreign_key_ns: f64,
    /// Nanoseconds per row: rewriting the table and its indexes in place (PostgreSQL: a column type change;
    /// SQLite: `ALTER TABLE .. DROP COLUMN`).
    pub rewrite_ns: f64,
    /// Nanoseconds per row: SQLite's 12-step rebuild (copy into a new table, drop, rename, re-index);
    /// PostgreSQL: same as `rewrite_ns`.
    pub rebuild_ns: f64,
    /// Nanoseconds per row: an UPDATE of one column.
    pub update_ns: f64,
    /// Nanoseconds per row: a DELETE.
    pub delete_ns: f64,
    /// How long the calibration took, all samples included.
    pub took: Duration,
}

/// One statement's estimate.
#[derive(Debug, Clone, PartialEq)]
pub struct StatementEstimate {
    /// UP or DOWN.
    pub section: Section,
    /// 0-based position in its section.
    pub index: usize,
    /// 1-based line in the file.
    pub line: usize,
    /// Rows it touches: the UPDATE/DELETE estimate, or the rows of the table it scans or rewrites.
    pub rows: Option<u64>,
    /// Estimated (or, with `measured`, measured) wall time.
    pub duration: Duration,
    /// How long its strongest table lock is held (in a transaction: until the migration commits).
    pub lock_duration: Duration,
    /// Writes to the table wait while it runs.
    pub blocks_writes: bool,
    /// Plain reads of the table wait while it runs.
    pub blocks_reads: bool,
    /// Extra space needed: a new index, a rewritten copy of the table and its indexes.
    pub space_bytes: u64,
    /// `true` when `duration` comes from a rehearsal measurement.
    pub measured: bool,
}

/// One migration's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct MigrationEstimate {
    /// The migration's version.
    pub version: u64,
    /// The UP statements.
    pub up: Vec<StatementEstimate>,
    /// The DOWN statements.
    pub down: Vec<StatementEstimate>,
    /// Sum of the UP durations.
    pub up_total: Duration,
    /// Sum of the DOWN durations.
    pub down_total: Duration,
    /// The longest time UP blocks reads or writes of a table.
    pub lock_duration: Duration,
    /// Verdict against [`default_max_lock`]: UP blocks reads or writes longer than that (see
    /// [`MigrationEstimate::downtime_over`] for another policy).
    pub downtime: bool,
    /// The most extra space UP needs at once (new indexes, rewritten copies until commit).
    pub space_bytes: u64,
    /// The sizes of the existing tables the migration touches.
    pub tables: Vec<TableStats>,
}

impl MigrationEstimate {
    /// Whether UP blocks reads or writes of a table for longer than `max_lock`.
    pub fn downtime_over(&self, max_lock: Duration) -> bool {
        self.lock_duration > max_lock
    }

    /// Replaces the UP (and DOWN) estimates by times measured in a rehearsal on a copy: each statement's
    /// share of the measured total follows its share of the estimate, and is marked `measured`.
    pub fn use_measured(&mut self, up: Duration, down: Option<Duration>) {
        rescale(&mut self.up, up);
        self.up_total = up;
        if let Some(down) = down {
            rescale(&mut self.down, down);
            self.down_total = down;
        }
        self.lock_duration = self
            .up
            .iter()
            .filter(|s| s.blocks_reads || s.blocks_writes)
            .map(|s| s.lock_duration)
            .max()
            .unwrap_or_default();
        self.downtime = self.downtime_over(default_max_lock());
    }
}

fn rescale(statements: &mut [StatementEstimate], measured: Duration) {
    let estimated: f64 = statements.iter().map(|s| s.duration.as_secs_f64()).sum();
    let n = statements.len().max(1) as f64;
    for s in statements.iter_mut() {
        let share = if estimated > 0.0 {
            s.duration.as_secs_f64() / estimated
        } else {
            1.0 / n
        };
        let factor = if s.duration.is_zero() {
            0.0
        } else {
            s.lock_duration.as_secs_f64() / s.duration.as_secs_f64()
        };
        s.duration = measured.mul_f64(share);
        s.lock_duration = if estimated > 0.0 {
            measured.mul_f64(s.lock_duration.as_secs_f64() / estimated)
        } else {
            s.duration.mul_f64(factor)
        };
        s.measured = true;
    }
}

/// Times the sample work on a scratch table of the database in hand (see the module documentation). The
/// scratch table is dropped afterwards, also when a step fails.
pub fn calibrate(backend: &mut dyn Backend) -> Result<Calibration, Error> {
    let started = Instant::now();
    let mut rows = FIRST_SAMPLE_ROWS;
    loop {
        let sample = run_sample(backend, rows);
        // Drop the scratch table whatever happened (a failed step may have left it behind).
        let dropped = backend.time_batch(&format!("DROP TABLE IF EXISTS {SCRATCH}"));
        let (calibration, sample_took) = sample?;
        dropped?;
        debug!(
            rows,
            took_ms = sample_took.as_millis() as u64,
            "calibration sample"
        );
        if sample_took >= SAMPLE_TARGET || rows >= MAX_SAMPLE_ROWS {
            let calibration = Calibration {
                took: started.elapsed(),
                ..calibration
            };
            info!(
                engine = calibration.engine.name(),
                rows,
                took_ms = calibration.took.as_millis() as u64,
                "calibrated"
            );
            return Ok(calibration);
        }
        let factor = SAMPLE_TARGET.as_secs_f64() / sample_took.as_secs_f64().max(1e-3);
        rows = ((rows as f64 * factor.clamp(2.0, 16.0)) as u64).min(MAX_SAMPLE_ROWS);
    }
}

/// One calibration sample of `n` rows; returns the costs and the time the timed steps took.
fn run_sample(backend: &mut dyn Backend, n: u64) -> Result<(Calibration, Duration), Error> {
    let engine = backend.engine();
    let pg = engine == Engine::Postgres;
    backend.time_batch(&format!("DROP TABLE IF EXISTS {SCRATCH}"))?;
    let setup = if pg {
        format!(
            "CREATE TABLE {SCRATCH} (id bigint PRIMARY KEY, n integer, s text, t timestamptz, u bigint);
             INSERT INTO {SCRATCH}
             SELECT i, (i * 7) % 1000, 'row ' || i || ' ' || md5(i::text), now() - i * interval '1 second', i % {n} + 1
             FROM generate_series(1, {n}) AS i;
             SELECT count(*) FROM {SCRATCH};"
        )
    } else {
        format!(
            "CREATE TABLE {SCRATCH} (id INTEGER PRIMARY KEY, n INTEGER, s TEXT, t TEXT, u INTEGER);
             WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < {n})
             INSERT INTO {SCRATCH}
             SELECT i, (i * 7) % 1000, 'row ' || i || ' ' || hex(randomblob(16)), datetime('now', '-' || i || ' seconds'), i % {n} + 1
             FROM g;"
        )
    };
    backend.time_batch(&setup)?;
    let stats = backend
        .table_stats(SCRATCH, true)?
        .ok_or_else(|| Error::Database {
            context: "calibrating".into(),
            message: format!("the scratch table {SCRATCH} vanished"),
        })?;
    let row_bytes = stats.table_bytes as f64 / n as f64;

    let overhead = median(&[
        backend.time_batch("SELECT 1")?,
        backend.time_batch("SELECT 1")?,
        backend.time_batch("SELECT 1")?,
    ]);
    let timed = std::cell::Cell::new(Duration::ZERO);
    let time = |backend: &mut dyn Backend, sql: &str| -> Result<f64, Error> {
        let took = backend.time_batch(sql)?;
        timed.set(timed.get() + took);
        Ok(took.saturating_sub(overhead).as_nanos() as f64 / n as f64)
    };
    let scan_ns = time(
        backend,
        &format!("SELECT count(*) FROM {SCRATCH} WHERE s LIKE '%zz%'"),
    )?;
    let metadata = backend.time_batch(&format!("ALTER TABLE {SCRATCH} ADD COLUMN x integer"))?;
    timed.set(timed.get() + metadata);
    let index_ns = time(
        backend,
        &format!("CREATE INDEX {SCRATCH}_s ON {SCRATCH} (s)"),
    )?;
    let index_bytes = backend
        .table_stats(SCRATCH, false)?
        .map_or(0, |s| s.index_bytes.saturating_sub(stats.index_bytes));
    let index_row_bytes = index_bytes as f64 / n as f64;
    let (concurrent_index_ns, foreign_key_ns, rewrite_ns, rebuild_ns) = if pg {
        let concurrent = time(
            backend,
            &format!("CREATE INDEX CONCURRENTLY {SCRATCH}_s2 ON {SCRATCH} (s)"),
        )?;
        let fk = time(
            backend,
            &format!("ALTER TABLE {SCRATCH} ADD CONSTRAINT {SCRATCH}_fk FOREIGN KEY (u) REFERENCES {SCRATCH} (id)"),
        )?;
        let rewrite = time(
            backend,
            &format!("ALTER TABLE {SCRATCH} ALTER COLUMN n TYPE bigint"),
        )?;
        (concurrent, fk, rewrite, rewrite)
    } else {
        let rewrite = time(backend, &format!("ALTER TABLE {SCRATCH} DROP COLUMN x"))?;
        let rebuild = time(
            backend,
            &format!(
                "CREATE TABLE {SCRATCH}_new (id INTEGER PRIMARY KEY, n INTEGER NOT NULL, s TEXT, t TEXT, u INTEGER);
                 INSERT INTO {SCRATCH}_new SELECT id, n, s, t, u FROM {SCRATCH};
                 DROP TABLE {SCRATCH};
                 ALTER TABLE {SCRATCH}_new RENAME TO {SCRATCH};
                 CREATE INDEX {SCRATCH}_s ON {SCRATCH} (s);"
            ),
        )?;
        (index_ns, scan_ns, rewrite, rebuild)
    };
    let update_ns = time(backend, &format!("UPDATE {SCRATCH} SET n = n + 1"))?;
    let delete_ns = time(backend, &format!("DELETE FROM {SCRATCH} WHERE n >= 0"))?;
    Ok((
        Calibration {
            engine,
            rows: n,
            row_bytes,
            index_row_bytes,
            overhead,
            metadata,
            scan_ns,
            index_ns,
            concurrent_index_ns,
            foreign_key_ns,
            rewrite_ns,
            rebuild_ns,
            update_ns,
            delete_ns,
            took: Duration::ZERO,
        },
        timed.get(),
    ))
}

fn median(d: &[Duration]) -> Duration {
    let mut d = d.to_vec();
    d.sort();
    d[d.len() / 2]
}

/// Estimates every statement of `migration` (UP and DOWN) from its `analysis`, the sizes of the tables it
/// touches and `calibration`.
pub fn estimate(
    backend: &mut dyn Backend,
    migration: &Migration,
    analysis: &Analysis,
    calibration: &Calibration,
) -> Result<MigrationEstimate, Error> {
    let mut tables: HashMap<String, Option<TableStats>> = HashMap::new();
    let mut up = Vec::new();
    let mut down = Vec::new();
    for statement in &analysis.statements {
        let e = estimate_statement(backend, statement, calibration, &mut tables)?;
        match statement.section {
            Section::Up => up.push(e),
            Section::Down => down.push(e),
        }
    }
    let in_transaction = !migration.no_transaction;
    hold_locks(&mut up, calibration.engine, in_transaction);
    hold_locks(&mut down, calibration.engine, in_transaction);
    let up_total = up.iter().map(|s| s.duration).sum();
    let down_total = down.iter().map(|s| s.duration).sum();
    let lock_duration = up
        .iter()
        .filter(|s| s.blocks_reads || s.blocks_writes)
        .map(|s| s.lock_duration)
        .max()
        .unwrap_or_default();
    // In a transaction every copy stays until the commit; without one, the largest at a time.
    let space_bytes = if in_transaction {
        up.iter().map(|s| s.space_bytes).sum()
    } else {
        up.iter().map(|s| s.space_bytes).max().unwrap_or(0)
    };
    let mut tables: Vec<TableStats> = tables.into_values().flatten().collect();
    tables.sort_by(|a, b| a.table.cmp(&b.table));
    let estimate = MigrationEstimate {
        version: migration.version,
        up,
        down,
        up_total,
        down_total,
        lock_duration,
        downtime: lock_duration > default_max_lock(),
        space_bytes,
        tables,
    };
    debug!(
        version = estimate.version,
        up_ms = estimate.up_total.as_millis() as u64,
        lock_ms = estimate.lock_duration.as_millis() as u64,
        "estimated"
    );
    Ok(estimate)
}

/// In a transaction a blocking lock is held from the statement that takes it until the commit: its lock
/// duration runs to the end of the section. SQLite's write lock covers the whole migration.
fn hold_locks(statements: &mut [StatementEstimate], engine: Engine, in_transaction: bool) {
    if !in_transaction {
        return;
    }
    let mut rest: Duration = statements.iter().map(|s| s.duration).sum();
    for s in statements.iter_mut() {
        let blocking = s.blocks_reads || s.blocks_writes;
        if engine == Engine::Sqlite || blocking {
            s.lock_duration = rest;
        }
        rest = rest.saturating_sub(s.duration);
    }
}

fn estimate_statement(
    backend: &mut dyn Backend,
    statement: &StatementAnalysis,
    c: &Calibration,
    tables: &mut HashMap<String, Option<TableStats>>,
) -> Result<StatementEstimate, Error> {
    let mut work_ns = 0.0;
    let mut rows_touched: Option<u64> = None;
    let mut space_bytes = 0u64;
    let mut blocks_reads = false;
    let mut blocks_writes = false;
    let mut brief_only = true;
    let creates_fk = statement
        .objects
        .iter()
        .any(|o| o.object == ObjectKind::ForeignKey);
    for impact in &statement.tables {
        blocks_reads |= impact.blocks_reads;
        blocks_writes |= impact.blocks_writes;
        if impact.new_table {
            continue;
        }
        if !impact.brief {
            brief_only = false;
        }
        if impact.work == Work::None {
            continue;
        }
        let stats = match tables.get(&impact.table) {
            Some(s) => s.clone(),
            None => {
                let s = backend.table_stats(&impact.table, false)?;
                tables.insert(impact.table.clone(), s.clone());
                s
            }
        };
        let Some(stats) = stats else {
            continue;
        };
        let rows = stats.rows as f64;
        // Bytes per row of the target over the sample's: work that reads or writes pages scales with it.
        let width = if stats.rows > 0 && c.row_bytes > 0.0 {
            (stats.table_bytes as f64 / rows) / c.row_bytes
        } else {
            1.0
        };
        let (ns, touched, space) = match impact.work {
            Work::None => (0.0, None, 0),
            Work::Rows => {
                let kind = statement.kind.to_ascii_uppercase();
                let per_row = if kind.starts_with("DELETE") {
                    c.delete_ns
                } else {
                    c.update_ns
                };
                match backend.estimate_rows(&statement.sql)? {
                    Some(n) => (per_row * width * n as f64, Some(n), 0),
                    None => (0.0, None, 0),
                }
            }
            Work::Scan if creates_fk => (c.foreign_key_ns * rows, Some(stats.rows), 0),
            Work::Scan => (c.scan_ns * width * rows, Some(stats.rows), 0),
            Work::IndexBuild => {
                let per_row = if impact.lock == Lock::ShareUpdateExclusive {
                    c.concurrent_index_ns
                } else {
                    c.index_ns
                };
                (
                    per_row * rows * sort_factor(stats.rows, c.rows),
                    Some(stats.rows),
                    (c.index_row_bytes * rows) as u64,
                )
            }
            Work::Rewrite => (
                c.rewrite_ns * width * rows,
                Some(stats.rows),
                stats.table_bytes + stats.index_bytes,
            ),
            Work::Rebuild => (
                c.rebuild_ns * width * rows,
                Some(stats.rows),
                stats.table_bytes + stats.index_bytes,
            ),
        };
        work_ns += ns;
        space_bytes += space;
        if touched.is_some() {
            rows_touched = Some(rows_touched.unwrap_or(0).max(touched.unwrap_or(0)));
        }
    }
    let duration = c.metadata + Duration::from_nanos(work_ns.max(0.0) as u64);
    let lock_duration = if brief_only { c.metadata } else { duration };
    Ok(StatementEstimate {
        section: statement.section,
        index: statement.index,
        line: statement.line as usize,
        rows: rows_touched,
        duration,
        lock_duration,
        blocks_writes,
        blocks_reads,
        space_bytes,
        measured: false,
    })
}

/// An index build sorts: `n log n`, so the per-row cost measured at `sample` rows grows by
/// `log2(rows) / log2(sample)` (never below 1: small tables still pay the sample's per-row cost).
fn sort_factor(rows: u64, sample: u64) -> f64 {
    let l = |n: u64| (n.max(2) as f64).log2();
    (l(rows) / l(sample)).max(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sort_factor_grows_with_log_rows() {
        assert_eq!(sort_factor(1_000, 65_536), 1.0);
        let f = sort_factor(1 << 20, 1 << 16);
        assert!((f - 20.0 / 16.0).abs() < 1e-9, "{f}");
    }
}
