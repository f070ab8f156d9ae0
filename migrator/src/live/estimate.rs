//! The estimate of one migration: the analyser's impact of each statement, the sizes of the tables it
//! works on, and the calibrated per-row costs.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use migrator_analyse::{
    Action, Analysis, Lock, ObjectKind, Section, StatementAnalysis, TableImpact, Work,
};
use tracing::debug;

use super::{
    default_max_lock, Calibration, Cost, MigrationEstimate, StatementEstimate, TableStats,
};
use crate::{Engine, EngineKind, Error, Migration};

/// Estimates every statement of `migration` (UP and DOWN) from its `analysis`, the sizes of the tables it
/// touches and `calibration`.
pub fn estimate(
    backend: &mut dyn Engine,
    migration: &Migration,
    analysis: &Analysis,
    calibration: &Calibration,
) -> Result<MigrationEstimate, Error> {
    let mut sizes = Sizes::default();
    let mut up = Vec::new();
    let mut down = Vec::new();
    for (section, out) in [(Section::Up, &mut up), (Section::Down, &mut down)] {
        // Each section starts from the database as it is (DOWN runs after UP, but undoes it).
        sizes.section = HashMap::new();
        sizes.gone = HashSet::new();
        for statement in analysis.statements.iter().filter(|s| s.section == section) {
            out.push(estimate_statement(
                backend,
                statement,
                calibration,
                &mut sizes,
            )?);
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
    let mut tables: Vec<TableStats> = sizes.database.into_values().flatten().collect();
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

/// Table sizes: the database's (read once), and within a section those of the tables its statements
/// create, fill, rename and drop (a SQLite rebuild creates a table, copies the rows in, drops the old one,
/// renames the new one and indexes it).
#[derive(Default)]
struct Sizes {
    database: HashMap<String, Option<TableStats>>,
    section: HashMap<String, TableStats>,
    gone: HashSet<String>,
}

impl Sizes {
    /// The size of `table` at this point of the section; `None` when it does not exist or is new and
    /// empty.
    fn get(
        &mut self,
        backend: &mut dyn Engine,
        table: &str,
        new_table: bool,
    ) -> Result<Option<TableStats>, Error> {
        if let Some(s) = self.section.get(table) {
            return Ok(Some(s.clone()));
        }
        if new_table || self.gone.contains(table) {
            return Ok(None);
        }
        if let Some(s) = self.database.get(table) {
            return Ok(s.clone());
        }
        let s = crate::live::stats(backend)?.table_stats(table, false)?;
        self.database.insert(table.to_string(), s.clone());
        Ok(s)
    }

    /// Records what the statement did to sizes: tables created, rows inserted, renames, drops, indexes.
    fn apply(
        &mut self,
        backend: &mut dyn Engine,
        statement: &StatementAnalysis,
        inserted: &HashMap<String, (u64, u64)>,
        new_index_bytes: &HashMap<String, u64>,
    ) -> Result<(), Error> {
        for object in &statement.objects {
            if object.object != ObjectKind::Table {
                continue;
            }
            match object.action {
                Action::Create => {
                    self.gone.remove(&object.name);
                    self.section
                        .insert(object.name.clone(), empty_table(&object.name));
                }
                Action::Drop => {
                    self.section.remove(&object.name);
                    self.gone.insert(object.name.clone());
                }
                Action::Rename => {
                    let Some(to) = object.detail.as_deref().and_then(|d| d.strip_prefix("to "))
                    else {
                        continue;
                    };
                    let moved = self.get(backend, &object.name, false)?;
                    self.section.remove(&object.name);
                    self.gone.insert(object.name.clone());
                    self.gone.remove(to);
                    let mut moved = moved.unwrap_or_else(|| empty_table(to));
                    moved.table = to.to_string();
                    self.section.insert(to.to_string(), moved);
                }
                Action::Alter => {}
            }
        }
        for (table, (rows, bytes)) in inserted {
            if let Some(s) = self.section.get_mut(table) {
                s.rows += rows;
                s.table_bytes += bytes;
            }
        }
        for (table, bytes) in new_index_bytes {
            if let Some(s) = self.section.get_mut(table) {
                s.index_bytes += bytes;
            }
        }
        Ok(())
    }
}

fn empty_table(name: &str) -> TableStats {
    TableStats {
        table: name.to_string(),
        rows: 0,
        exact: false,
        table_bytes: 0,
        index_bytes: 0,
    }
}

/// In a transaction a blocking lock is held from the statement that takes it until the commit: its lock
/// duration runs to the end of the section. SQLite's write lock covers the whole migration.
fn hold_locks(statements: &mut [StatementEstimate], engine: EngineKind, in_transaction: bool) {
    if !in_transaction {
        return;
    }
    let mut rest: Duration = statements.iter().map(|s| s.duration).sum();
    for s in statements.iter_mut() {
        let blocking = s.blocks_reads || s.blocks_writes;
        if engine == EngineKind::Sqlite || blocking {
            s.lock_duration = rest;
        }
        rest = rest.saturating_sub(s.duration);
    }
}

/// The work of one statement on one table: time, rows, extra bytes.
struct TableWork {
    time: Duration,
    rows: Option<u64>,
    space: u64,
}

fn estimate_statement(
    backend: &mut dyn Engine,
    statement: &StatementAnalysis,
    c: &Calibration,
    sizes: &mut Sizes,
) -> Result<StatementEstimate, Error> {
    let mut work = Duration::ZERO;
    let mut rows_touched: Option<u64> = None;
    let mut space_bytes = 0u64;
    let mut blocks_reads = false;
    let mut blocks_writes = false;
    let mut brief_only = true;
    let mut inserted = HashMap::new();
    let mut new_index_bytes = HashMap::new();
    for impact in &statement.tables {
        blocks_reads |= impact.blocks_reads && !impact.new_table;
        blocks_writes |= impact.blocks_writes && !impact.new_table;
        if !impact.brief && !impact.new_table {
            brief_only = false;
        }
        let size = sizes.get(backend, &impact.table, impact.new_table)?;
        let parents = parent_rows(backend, statement, sizes)?;
        let w = table_work(backend, statement, impact, size.as_ref(), parents, c)?;
        if impact.work == Work::Rows && statement.kind.to_ascii_uppercase().starts_with("INSERT") {
            if let Some(rows) = w.rows {
                inserted.insert(
                    impact.table.clone(),
                    (rows, (rows as f64 * c.row_bytes) as u64),
                );
            }
        }
        if impact.work == Work::IndexBuild {
            new_index_bytes.insert(impact.table.clone(), w.space);
        }
        work += w.time;
        space_bytes += w.space;
        if let Some(rows) = w.rows {
            rows_touched = Some(rows_touched.unwrap_or(0).max(rows));
        }
    }
    // Dropping a table frees its pages (SQLite walks them all; PostgreSQL unlinks its files).
    for object in &statement.objects {
        if object.object == ObjectKind::Table && object.action == Action::Drop {
            if let Some(size) = sizes.get(backend, &object.name, false)? {
                work += c.drop.of(size.rows as f64, width(&size, c));
            }
        }
    }
    sizes.apply(backend, statement, &inserted, &new_index_bytes)?;
    // The fitted costs include their fixed part (round trip, catalog, commit); a statement without work
    // on rows costs a metadata change.
    let duration = work.max(c.metadata);
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

/// The target's bytes per row over the sample's: work that reads or writes the table's pages scales
/// with it.
fn width(size: &TableStats, c: &Calibration) -> f64 {
    if size.rows == 0 || c.row_bytes <= 0.0 || size.table_bytes == 0 {
        return 1.0;
    }
    (size.table_bytes as f64 / size.rows as f64) / c.row_bytes
}

/// The same with the indexes: work that rewrites the table and rebuilds (or updates) its indexes.
fn total_width(size: &TableStats, c: &Calibration) -> f64 {
    let sample = c.row_bytes + c.rewrite_index_row_bytes;
    if size.rows == 0 || sample <= 0.0 || size.table_bytes == 0 {
        return 1.0;
    }
    ((size.table_bytes + size.index_bytes) as f64 / size.rows as f64) / sample
}

/// The width of the key of the index the statement builds on `table`, from the columns the analyser
/// names (`(a, b)`); `None` for expressions or without statistics.
fn index_key_width(
    backend: &mut dyn Engine,
    statement: &StatementAnalysis,
    table: &str,
) -> Result<Option<f64>, Error> {
    let Some(detail) = statement
        .objects
        .iter()
        .find(|o| o.object == ObjectKind::Index && o.table.as_deref() == Some(table))
        .and_then(|o| o.detail.as_deref())
    else {
        return Ok(None);
    };
    let Some(inner) = detail
        .split_once('(')
        .and_then(|(_, rest)| rest.strip_suffix(')'))
    else {
        return Ok(None);
    };
    let columns: Vec<&str> = inner.split(',').map(str::trim).collect();
    if columns
        .iter()
        .any(|c| c.is_empty() || !c.chars().all(|ch| ch.is_alphanumeric() || ch == '_'))
    {
        return Ok(None);
    }
    crate::live::stats(backend)?.key_width(table, &columns)
}

/// The rows of the table a foreign key the statement adds references (the validation joins it).
fn parent_rows(
    backend: &mut dyn Engine,
    statement: &StatementAnalysis,
    sizes: &mut Sizes,
) -> Result<u64, Error> {
    let mut rows = 0;
    for object in &statement.objects {
        if object.object != ObjectKind::ForeignKey || object.action != Action::Create {
            continue;
        }
        let Some(parent) = object
            .detail
            .as_deref()
            .and_then(|d| d.strip_prefix("references "))
        else {
            continue;
        };
        let parent = parent.split(['(', ' ']).next().unwrap_or(parent);
        if let Some(size) = sizes.get(backend, parent, false)? {
            rows += size.rows;
        }
    }
    Ok(rows)
}

fn table_work(
    backend: &mut dyn Engine,
    statement: &StatementAnalysis,
    impact: &TableImpact,
    size: Option<&TableStats>,
    parent_rows: u64,
    c: &Calibration,
) -> Result<TableWork, Error> {
    let none = TableWork {
        time: Duration::ZERO,
        rows: None,
        space: 0,
    };
    if impact.work == Work::Rows {
        return rows_work(backend, statement, size, c);
    }
    let Some(size) = size else {
        return Ok(none);
    };
    let rows = size.rows as f64;
    let creates_fk = statement
        .objects
        .iter()
        .any(|o| o.object == ObjectKind::ForeignKey && o.action == Action::Create);
    let work = |time: Duration, space: u64| TableWork {
        time,
        rows: Some(size.rows),
        space,
    };
    let w = match impact.work {
        Work::None | Work::Rows => none,
        Work::Scan if creates_fk => work(c.foreign_key.of(rows + parent_rows as f64, 0.5), 0),
        Work::Scan => work(c.scan.of(rows, width(size, c)), 0),
        Work::IndexBuild => {
            let key = index_key_width(backend, statement, &impact.table)?;
            let mut cost = c.index_cost(key);
            if impact.lock == Lock::ShareUpdateExclusive && c.index.ns_per_row > 0.0 {
                // A concurrent build also scans the table again and waits out running transactions:
                // as much more than a plain build as measured on the sample's text key.
                let extra = c.concurrent_index.ns_per_row / c.index.ns_per_row;
                cost = Cost {
                    fixed: c.concurrent_index.fixed,
                    ns_per_row: cost.ns_per_row * extra,
                };
            }
            let key_share = key.map_or(1.0, |k| k / c.index_key_bytes.max(1.0));
            work(
                cost.of(rows, sort_factor(size.rows, c.rows)),
                (c.index_row_bytes * rows * key_share) as u64,
            )
        }
        Work::Rewrite => work(
            c.rewrite.of(rows, total_width(size, c)),
            size.table_bytes + size.index_bytes,
        ),
        // SQLite's 12-step rebuild done for the statement: copy the rows, drop the old table, build its
        // indexes again (as many text-index equivalents as its index bytes hold).
        Work::Rebuild => {
            let indexes = if c.index_row_bytes > 0.0 && rows > 0.0 {
                size.index_bytes as f64 / (c.index_row_bytes * rows)
            } else {
                0.0
            };
            let w = width(size, c);
            work(
                c.copy.of(rows, w)
                    + c.drop.of(rows, w)
                    + c.index.of(rows, sort_factor(size.rows, c.rows) * indexes),
                size.table_bytes + size.index_bytes,
            )
        }
    };
    Ok(w)
}

/// DML: the rows an UPDATE/DELETE touches or an INSERT adds, counted exactly
/// ([`crate::Stats::count_affected`]: a planner's guess for a WHERE on an expression can be off a hundred
/// times). An UPDATE or DELETE that cannot be counted yet (it sets a column an earlier statement adds)
/// counts every row of its table. It scans its table to find the rows, then writes each one it touches.
fn rows_work(
    backend: &mut dyn Engine,
    statement: &StatementAnalysis,
    size: Option<&TableStats>,
    c: &Calibration,
) -> Result<TableWork, Error> {
    let kind = statement.kind.to_ascii_uppercase();
    let counted = crate::live::stats(backend)?.count_affected(&statement.sql)?;
    if kind.starts_with("INSERT") {
        return Ok(TableWork {
            time: counted.map_or(Duration::ZERO, |n| c.copy.of(n as f64, 1.0)),
            rows: counted,
            space: 0,
        });
    }
    let Some(size) = size else {
        return Ok(TableWork {
            time: Duration::ZERO,
            rows: counted,
            space: 0,
        });
    };
    let touched = counted.unwrap_or(size.rows);
    let (cost, scale) = if kind.starts_with("DELETE") {
        // SQLite removes each row's entries from every index at once; PostgreSQL leaves them to VACUUM.
        let scale = match c.engine {
            EngineKind::Postgres | EngineKind::MySql => width(size, c),
            EngineKind::Sqlite => total_width(size, c),
        };
        (&c.delete, scale)
    } else {
        // PostgreSQL writes a new row version and, unless the update is HOT, an entry in every index;
        // SQLite rewrites the row in place and only the indexes of the changed columns.
        let scale = match c.engine {
            EngineKind::Postgres | EngineKind::MySql => total_width(size, c),
            EngineKind::Sqlite => width(size, c),
        };
        (&c.update, scale)
    };
    // A scan finds the rows, then each one touched is written.
    let time = cost.fixed
        + Duration::from_nanos(
            (c.scan.ns_per_row * size.rows as f64 * width(size, c)
                + cost.ns_per_row * touched as f64 * scale) as u64,
        );
    Ok(TableWork {
        time,
        rows: Some(touched),
        space: 0,
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

    #[test]
    fn locks_in_a_transaction_last_until_the_commit() {
        let s = |ms: u64, blocking: bool| StatementEstimate {
            section: Section::Up,
            index: 0,
            line: 1,
            rows: None,
            duration: Duration::from_millis(ms),
            lock_duration: Duration::from_millis(1),
            blocks_writes: blocking,
            blocks_reads: blocking,
            space_bytes: 0,
            measured: false,
        };
        let mut pg = vec![s(10, false), s(20, true), s(30, false)];
        hold_locks(&mut pg, EngineKind::Postgres, true);
        let locks: Vec<u64> = pg
            .iter()
            .map(|s| s.lock_duration.as_millis() as u64)
            .collect();
        assert_eq!(locks, [1, 50, 1]);
        let mut sqlite = vec![s(10, false), s(20, true)];
        hold_locks(&mut sqlite, EngineKind::Sqlite, true);
        assert_eq!(sqlite[0].lock_duration, Duration::from_millis(30));
        let mut autocommit = vec![s(10, true), s(20, true)];
        hold_locks(&mut autocommit, EngineKind::Postgres, false);
        assert_eq!(autocommit[1].lock_duration, Duration::from_millis(1));
    }
}
