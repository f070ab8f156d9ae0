//! The preview's failure checks: the analyser's [`LiveCheck`]s that decide failure (NULLs under a new NOT
//! NULL, duplicates under a new unique key, orphans under a new foreign key, rows a new CHECK refuses, the
//! schema objects that stop SQLite's `DROP COLUMN`) run on the database in hand, read only and bounded.
//!
//! A check counts what is there **now**. When an earlier statement of the previewed migrations writes the
//! table's rows first (a backfill before `SET NOT NULL`, a `DELETE` of duplicates before the unique index),
//! creates, drops or renames it, the count says nothing about the moment the statement runs: the check is
//! then reported as not decided (the rehearsal on a copy decides). Tables an earlier statement creates
//! and nothing fills are empty: nothing to check. Indexes, views and triggers an earlier statement drops
//! no longer stop a SQLite `DROP COLUMN`.
//!
//! Bounds: on PostgreSQL each query runs in its own `READ ONLY` transaction with `SET LOCAL`
//! `statement_timeout` and `lock_timeout`, rolled back after; on SQLite under `PRAGMA query_only` (SQLite
//! has no statement timeout that SQL can set: its queries are bounded by the file's size). The show
//! queries carry `LIMIT 20`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use migrator_analyse::{
    Action, Analysis, LiveCheck, LiveCheckKind, ObjectKind, Section, StatementAnalysis, Work,
};
use tracing::debug;

use crate::engine::{DbError, DbErrorKind, Engine, Row};
use crate::{EngineKind, Error};

/// The statement timeout of a check when the configuration sets none.
pub const DEFAULT_CHECK_TIMEOUT: Duration = Duration::from_secs(30);

/// How long one check may take.
#[derive(Debug, Clone, Copy)]
pub struct CheckBounds {
    /// The longest a check waits for a lock on the tables it reads.
    pub lock_wait: Duration,
    /// The longest a check query runs (PostgreSQL).
    pub statement: Duration,
}

/// What a failure check found on the database in hand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckOutcome {
    /// Nothing found: the statement does not fail for this reason on this data.
    Passed,
    /// The statement will fail: `count` rows (or schema objects) are in the way.
    Fails {
        /// How many.
        count: u64,
        /// [`LiveCheck::failure_message`]: what fails, and the query that shows the offending rows.
        message: String,
    },
    /// Not decided on this data, and why.
    Undecided(String),
}

/// One failure check of one statement, and its outcome.
#[derive(Debug, Clone)]
pub struct CheckResult {
    /// The statement's 0-based position in the UP.
    pub statement: usize,
    /// Its line in the file.
    pub line: u32,
    /// The check as the analyser gave it (its queries included).
    pub check: LiveCheck,
    /// What it found.
    pub outcome: CheckOutcome,
}

/// What the statements previewed so far change, in order across the migrations that will run.
#[derive(Debug, Default)]
pub struct EarlierChanges {
    /// Tables whose rows an earlier statement writes, or which it drops or renames: table -> `file:line`.
    changed: BTreeMap<String, String>,
    /// Tables an earlier statement creates (empty unless also in `changed`).
    created: BTreeSet<String>,
    /// Indexes, views, triggers and constraints an earlier statement drops (without schema).
    dropped: BTreeSet<String>,
}

/// A table or object name as the checks compare them: lower-case, without `public.` / `main.`.
fn norm(name: &str) -> String {
    let lower = name.to_lowercase();
    lower
        .strip_prefix("public.")
        .or_else(|| lower.strip_prefix("main."))
        .unwrap_or(&lower)
        .to_string()
}

/// An object's name without its schema.
fn bare(name: &str) -> String {
    norm(name)
        .rsplit('.')
        .next()
        .unwrap_or_default()
        .to_string()
}

impl EarlierChanges {
    /// Records what `s` (a statement of `file`) changes, for the checks of the statements after it.
    fn record(&mut self, file: &str, s: &StatementAnalysis) {
        let place = format!("{file}:{}", s.line);
        for t in &s.tables {
            if matches!(t.work, Work::Rows | Work::Rebuild) {
                self.changed
                    .entry(norm(&t.table))
                    .or_insert_with(|| place.clone());
            }
        }
        for o in &s.objects {
            match (o.object, o.action) {
                (ObjectKind::Table, Action::Create) => {
                    self.created.insert(norm(&o.name));
                }
                (ObjectKind::Table, Action::Drop | Action::Rename) => {
                    self.changed
                        .entry(norm(&o.name))
                        .or_insert_with(|| place.clone());
                    if let Some(to) = o.detail.as_deref().and_then(|d| d.strip_prefix("to ")) {
                        self.changed
                            .entry(norm(to))
                            .or_insert_with(|| place.clone());
                    }
                }
                (
                    ObjectKind::Index
                    | ObjectKind::View
                    | ObjectKind::Trigger
                    | ObjectKind::Constraint,
                    Action::Drop,
                ) => {
                    self.dropped.insert(bare(&o.name));
                }
                _ => {}
            }
        }
    }

    /// Why `check` cannot be decided on the data in hand, `Some("")` when it needs no run (an empty new
    /// table), `None` when it can run.
    fn blocker(&self, check: &LiveCheck) -> Option<String> {
        let tables = std::iter::once(&check.table).chain(check.parent.as_ref());
        for table in tables {
            if let Some(place) = self.changed.get(&norm(table)) {
                return Some(format!(
                    "the statement at {place} changes {table} before it: the rows it will hold are not those of today (--rehearse runs the migrations on a copy and decides)"
                ));
            }
        }
        self.created.contains(&norm(&check.table)).then(String::new)
    }
}

/// Runs the failure checks of `analysis`'s UP on `engine`, in statement order, and records what each
/// statement changes into `earlier` (shared by the migrations previewed after it). Errors only when the
/// connection fails; a query the database refuses makes its check undecided.
pub fn run_checks(
    engine: &mut dyn Engine,
    analysis: &Analysis,
    earlier: &mut EarlierChanges,
    bounds: CheckBounds,
) -> Result<Vec<CheckResult>, Error> {
    let mut out = Vec::new();
    for s in analysis
        .statements
        .iter()
        .filter(|s| s.section == Section::Up)
    {
        for check in s.live_checks.iter().filter(|c| c.kind.fails_when_found()) {
            let outcome = match earlier.blocker(check) {
                Some(why) if why.is_empty() => continue,
                Some(why) => CheckOutcome::Undecided(why),
                None => run_one(engine, check, earlier, bounds)?,
            };
            debug!(file = %analysis.file, line = s.line, kind = ?check.kind, ?outcome, "live check");
            out.push(CheckResult {
                statement: s.index,
                line: s.line,
                check: check.clone(),
                outcome,
            });
        }
        earlier.record(&analysis.file, s);
    }
    Ok(out)
}

/// Runs one check's count (and, for a SQLite `DROP COLUMN`, its show query to leave out what earlier
/// statements drop).
fn run_one(
    engine: &mut dyn Engine,
    check: &LiveCheck,
    earlier: &EarlierChanges,
    bounds: CheckBounds,
) -> Result<CheckOutcome, Error> {
    let rows = match read_only(engine, bounds, &check.sql) {
        Ok(rows) => rows,
        Err(e) => return undecided(e, bounds),
    };
    let mut count = first_count(&rows);
    if check.kind == LiveCheckKind::SqliteDropColumnBlocked
        && count > 0
        && !earlier.dropped.is_empty()
    {
        if let Some(show) = &check.show_sql {
            let shown = match read_only(engine, bounds, show) {
                Ok(rows) => rows,
                Err(e) => return undecided(e, bounds),
            };
            let gone = shown
                .iter()
                .filter(|r| {
                    r.get(1)
                        .and_then(|v| v.as_text())
                        .is_some_and(|name| earlier.dropped.contains(&bare(&name)))
                })
                .count() as u64;
            count = count.saturating_sub(gone);
        }
    }
    Ok(match check.failure_message(count) {
        Some(message) => CheckOutcome::Fails { count, message },
        None => CheckOutcome::Passed,
    })
}

/// The count a check query returns (one row, one integer).
fn first_count(rows: &[Row]) -> u64 {
    rows.first()
        .and_then(|r| r.first())
        .and_then(|v| v.as_i64())
        .map_or(0, |n| n.max(0) as u64)
}

/// A check the database could not answer: undecided, unless the connection is gone.
fn undecided(e: DbError, bounds: CheckBounds) -> Result<CheckOutcome, Error> {
    let why = match e.kind {
        DbErrorKind::ConnectionLost => {
            return Err(Error::Database {
                context: "running the preview's live checks".to_string(),
                source: e,
            })
        }
        DbErrorKind::MissingObject => format!(
            "not checked: {} (an earlier statement creates it; --rehearse runs the migrations on a copy and decides)",
            e.message.trim_end()
        ),
        DbErrorKind::LockTimeout => format!(
            "not checked: the table was locked by another session for more than {} ms",
            bounds.lock_wait.as_millis()
        ),
        _ if e.message.contains("statement timeout") => format!(
            "not checked: the query took longer than {} ms",
            bounds.statement.as_millis()
        ),
        _ => format!("not checked: the query failed: {}", e.message.trim_end()),
    };
    Ok(CheckOutcome::Undecided(why))
}

/// Runs `sql` read only and bounded (see the module documentation).
fn read_only(engine: &mut dyn Engine, bounds: CheckBounds, sql: &str) -> Result<Vec<Row>, DbError> {
    if engine.dialect().kind == EngineKind::Sqlite {
        let was = engine
            .query("PRAGMA query_only")
            .map(|rows| first_count(&rows) != 0)?;
        if !was {
            engine.execute("PRAGMA query_only = ON")?;
        }
        let rows = engine.query(sql);
        if !was {
            engine.execute("PRAGMA query_only = OFF")?;
        }
        return rows;
    }
    let Some((begin, end)) = engine.read_guard(bounds.lock_wait) else {
        return engine.query(sql);
    };
    let timeouts = engine.timeouts_sql(bounds.lock_wait, Some(bounds.statement));
    engine.execute(&format!("{begin}; {timeouts}"))?;
    let rows = engine.query(sql);
    match &rows {
        Ok(_) => engine.execute(&end)?,
        Err(_) => engine.execute("ROLLBACK")?,
    }
    rows
}
