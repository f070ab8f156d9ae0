//! Live figures for the preview: table sizes from the database in hand, and per-statement durations from a
//! cost model **calibrated on that database**.
//!
//! [`calibrate`] times a short sample on scratch tables (`_migrator_calibration` and `_copy`, dropped
//! afterwards): N rows of realistic width (an id, an integer, a 40-byte text, a timestamp, a reference),
//! then a scan, a metadata-only `ALTER`, index builds on the integer and on the text, a copy into another
//! table and its `DROP`, on PostgreSQL a `CONCURRENTLY` build and a foreign key validation, a rewrite
//! (PostgreSQL: a column type change; SQLite: `DROP COLUMN`), a backfill `UPDATE` of half the rows and a
//! `DELETE` of half. It does so at two sizes, growing N until the larger sample has at least 32,000 rows
//! and takes at least twice as long as the smaller one and about 150 ms more, and fits each step as `fixed + per_row * N`
//! ([`Cost`]): the fixed part holds round trips, catalog work, commits and waits, the per-row part the
//! work. SQLite times each step in a savepoint (rolled back unless a later step needs it) on a committed
//! table, as the runtime applies SQLite migrations inside one transaction; PostgreSQL commits each step,
//! as the runtime commits each migration.
//!
//! [`estimate`] combines those costs with the analyser's impact of each statement (which tables, what work:
//! metadata only, rows, scan, index build, rewrite, rebuild) and the sizes of the tables
//! ([`crate::Stats::table_stats`]), following the sizes through the section (a rebuild creates a table,
//! copies rows in, drops the old one, renames and indexes the new one):
//!
//! - work on pages (scan, rewrite, copy, drop, UPDATE, DELETE) scales the per-row cost by the table's
//!   bytes per row over the sample's (with its indexes where they are rewritten or updated too);
//! - an index build follows the key's width (a line through the integer and the text key) and sorts:
//!   per row times `log2(rows) / log2(N)`; a concurrent build costs as much more as it did on the sample;
//! - UPDATE, DELETE and INSERT .. SELECT use the exact count of the rows they touch
//!   ([`crate::Stats::count_affected`]); a foreign key validation joins child and parent rows;
//! - a statement without work on rows costs the measured metadata change. That is the only cost not
//!   scaled by anything, and it too is measured, not a constant.
//!
//! Lock durations follow the engines: a lock taken in a transaction is held until the migration commits, so
//! a blocking lock taken by an early statement lasts to the end of the section; without a transaction it
//! lasts for its own statement; SQLite holds its database-wide write lock for the whole migration. The
//! benchmark `bench/estimates` checks the estimates against measured runs (README, "Estimate accuracy").

mod calibrate;
mod catalog;
mod checks;
mod estimate;

use std::time::Duration;

use migrator_analyse::Section;

pub use crate::engine::TableStats;
pub use calibrate::calibrate;
pub use catalog::server_facts;
pub use checks::{
    run_checks, CheckBounds, CheckOutcome, CheckResult, EarlierChanges, DEFAULT_CHECK_TIMEOUT,
};

pub use estimate::estimate;
/// The offline analyser whose [`migrator_analyse::Analysis`] [`estimate`] reads.
pub use migrator_analyse as analyse;

use crate::EngineKind;

/// The blocking lock a migration may hold before the preview calls it downtime when the caller gives no
/// policy: the default `max_lock_duration` of [`crate::Config`] (its `lock_timeout`).
pub fn default_max_lock() -> Duration {
    crate::Config::default().lock_timeout
}

/// The cost of one kind of work, fitted from the calibration's two sample sizes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cost {
    /// What it costs whatever the size: round trip, planning, catalog changes, commit, waits.
    pub fixed: Duration,
    /// Nanoseconds per row, at the sample's row width.
    pub ns_per_row: f64,
}

impl Calibration {
    /// The cost of building an index whose key is `key_bytes` wide per row (`None`: unknown, the text
    /// index's): the per-row cost follows a line through the two measured keys, never below the cheaper.
    pub fn index_cost(&self, key_bytes: Option<f64>) -> Cost {
        let (narrow, wide) = (self.index_narrow_key_bytes, self.index_key_bytes);
        let Some(k) = key_bytes.filter(|_| wide > narrow) else {
            return self.index;
        };
        let slope = (self.index.ns_per_row - self.index_narrow.ns_per_row) / (wide - narrow);
        let at_k = self.index_narrow.ns_per_row + slope * (k - narrow);
        Cost {
            fixed: self.index.fixed,
            ns_per_row: at_k.max(self.index.ns_per_row.min(self.index_narrow.ns_per_row)),
        }
    }
}

impl Cost {
    /// `fixed + ns_per_row * rows * scale`.
    pub fn of(&self, rows: f64, scale: f64) -> Duration {
        self.fixed + Duration::from_nanos((self.ns_per_row * rows * scale).max(0.0) as u64)
    }
}

/// Costs measured on the database in hand (see the module documentation). Per-row costs are at the
/// sample's row width, [`Calibration::row_bytes`].
#[derive(Debug, Clone, PartialEq)]
pub struct Calibration {
    /// The engine measured.
    pub engine: EngineKind,
    /// Rows in the larger sample.
    pub rows: u64,
    /// Bytes per row of the sample table (its pages over its rows).
    pub row_bytes: f64,
    /// Bytes per row of one text index (sizes a new index).
    pub index_row_bytes: f64,
    /// Bytes of index per row when the rewrite was timed (the rewrite rebuilds them).
    pub rewrite_index_row_bytes: f64,
    /// A metadata-only change (`ALTER TABLE .. ADD COLUMN` of a nullable column): what every statement
    /// pays at least.
    pub metadata: Duration,
    /// A full scan evaluating a predicate.
    pub scan: Cost,
    /// Building an index on a text column (per row at the sample's size; see the sort factor).
    pub index: Cost,
    /// Building an index on an integer column.
    pub index_narrow: Cost,
    /// Key bytes per row of the text index (PostgreSQL's `avg_width`, SQLite's average length).
    pub index_key_bytes: f64,
    /// Key bytes per row of the integer index.
    pub index_narrow_key_bytes: f64,
    /// `CREATE INDEX CONCURRENTLY` (PostgreSQL; SQLite: the same as `index`).
    pub concurrent_index: Cost,
    /// Validating a foreign key, per row of the child and the parent table together (PostgreSQL joins
    /// them; SQLite checks by rebuild).
    pub foreign_key: Cost,
    /// Rewriting the table and its indexes in place (PostgreSQL: a column type change; SQLite:
    /// `ALTER TABLE .. DROP COLUMN`).
    pub rewrite: Cost,
    /// `INSERT INTO .. SELECT` into another table (SQLite's rebuild copies this way).
    pub copy: Cost,
    /// `DROP TABLE` (SQLite frees every page; PostgreSQL unlinks files).
    pub drop: Cost,
    /// An UPDATE that gives a column a value, per row written (the scan that finds the rows is `scan`).
    pub update: Cost,
    /// A DELETE, per row deleted (the scan that finds the rows is `scan`).
    pub delete: Cost,
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

/// The engine's statistics capability, or the error naming it.
pub(crate) fn stats(engine: &mut dyn crate::Engine) -> Result<&mut dyn crate::Stats, crate::Error> {
    let kind = engine.dialect().kind;
    engine.stats().ok_or(crate::Error::MissingCapability {
        engine: kind.name(),
        capability: "size statistics",
        setting: "the preview",
    })
}
