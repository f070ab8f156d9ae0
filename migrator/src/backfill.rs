//! Backfill migrations: a migration whose UP is one `UPDATE` the runtime runs in batches of key ranges,
//! each batch a short transaction under the lock timeout that also moves a cursor recorded in history.
//!
//! ```sql
//! -- Issue #17: verified e-mail flag
//! -- migrator:backfill table=users key=id batch=1000 pause=50ms target=200ms
//!
//! -- ============ UP MIGRATION ============
//! UPDATE users SET email_verified = true WHERE email_verified IS NULL;
//! ```
//!
//! **One batch** is one transaction: read the cursor (locking its row, so two processes take turns), find
//! the key `batch` keys further on, run the UPDATE for `<key> > cursor AND <key> <= next` (with the
//! statement's own `WHERE` kept), move the cursor in the same transaction, commit. A process killed at any
//! point leaves either the whole batch with its cursor or neither: the next run resumes at the cursor, and
//! no row is updated twice. Each batch runs under `Config::lock_timeout`; a batch that times out is rolled
//! back and retried with backoff, up to `Config::lock_retries` times in a row.
//!
//! **Throttling**: `pause=` sleeps between batches; `target=` makes the batch size follow a batch
//! duration (it doubles at most, or shrinks, after each batch, between 1 and 16 times the directive's
//! `batch`).
//!
//! **Where it runs** is the boot setting [`Config::backfill`](crate::Config::backfill):
//! - [`BackfillMode::Inline`] (the default): the boot applies the migrations before the backfill, releases
//!   the migration lock, runs the batches, then applies what follows. Replicas booting meanwhile join in.
//! - [`BackfillMode::Background`]: the boot starts the backfill (records it `running` under the lock) and
//!   returns; the migrations after it wait (reported as held back). The host runs
//!   [`Migrator::backfill`](crate::Migrator::backfill) from a thread (or [`crate::asynch`] from a task),
//!   which runs the batches and then applies what waited.
//! - [`BackfillMode::Deferred`]: the boot stops before the backfill; an operator runs it with
//!   `app --migrate-backfill` or `migrator-tool backfill`.
//!
//! While it runs, the migration's row in `schema_migrations` is `running`; its progress (cursor, rows,
//! batches, time, state) is in `<history>_backfill`, shown by `--migrate-status` and `--migrate-history`;
//! the log gets `backfill_started`, `backfill_resumed`, `applied` (with the totals) or `up_failed`.
//! Progress is also a `tracing` event per batch (target `migrator::backfill`).

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub use migrator_format::{Backfill, BatchStatement};

/// Where a boot runs the batches of a backfill migration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BackfillMode {
    /// In the boot: it returns when every backfill and the migrations after it are done.
    #[default]
    Inline,
    /// Started by the boot (recorded `running`), run by the host in the background
    /// ([`crate::Migrator::backfill`]); the migrations after it wait for it.
    Background,
    /// Not started by the boot: an operator runs it (`--migrate-backfill`); the migrations after it wait.
    Deferred,
}

impl BackfillMode {
    /// Reads `inline`, `background` or `deferred`.
    pub fn parse(text: &str) -> Option<BackfillMode> {
        match text {
            "inline" => Some(BackfillMode::Inline),
            "background" => Some(BackfillMode::Background),
            "deferred" => Some(BackfillMode::Deferred),
            _ => None,
        }
    }
}

/// A request to stop, shared between the caller and a running boot or backfill: the run stops at the
/// next safe point (before the next migration, between two batches), leaves everything it completed in
/// place, releases its locks and returns [`crate::Error::Stopped`]. Clones share the flag; a
/// [`Stop::child`] is stopped by its own flag or its parent's.
#[derive(Debug, Clone, Default)]
pub struct Stop(Arc<StopFlag>);

#[derive(Debug, Default)]
struct StopFlag {
    set: AtomicBool,
    parent: Option<Stop>,
}

impl Stop {
    /// A flag that is not set.
    pub fn new() -> Self {
        Self::default()
    }

    /// A new flag that is also stopped when this one is (one call of many, under a host-wide flag).
    pub fn child(&self) -> Stop {
        Stop(Arc::new(StopFlag {
            set: AtomicBool::new(false),
            parent: Some(self.clone()),
        }))
    }

    /// Asks every run that holds a clone of this flag (or of a child) to stop at its next safe point.
    pub fn stop(&self) {
        self.0.set.store(true, Ordering::SeqCst);
    }

    /// `true` once [`Stop::stop`] was called on this flag or a parent.
    pub fn is_stopped(&self) -> bool {
        self.0.set.load(Ordering::SeqCst) || self.0.parent.as_ref().is_some_and(Stop::is_stopped)
    }
}

/// The state of a backfill in its progress table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Batches remain (it may be running now, or stopped and waiting to resume).
    Running,
    /// Every key was visited; the migration is applied.
    Done,
    /// A batch failed (not for a lock timeout): the error is recorded; a new run resumes at the cursor.
    Failed,
}

impl Phase {
    /// The stored value.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Running => "running",
            Phase::Done => "done",
            Phase::Failed => "failed",
        }
    }

    /// Reads a stored value.
    pub fn parse(text: &str) -> Option<Phase> {
        match text {
            "running" => Some(Phase::Running),
            "done" => Some(Phase::Done),
            "failed" => Some(Phase::Failed),
            _ => None,
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One backfill as its progress row records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackfillState {
    /// The migration.
    pub version: u64,
    /// The key the batches are ranges of, as the statement names it (`users.id`).
    pub key_column: String,
    /// The smallest key when the backfill started (`None`: the table was empty).
    pub first_key: Option<i64>,
    /// The largest key when it started.
    pub last_key: Option<i64>,
    /// The last key done; `None` before the first batch.
    pub cursor: Option<i64>,
    /// Rows the batches updated.
    pub rows_done: u64,
    /// Batches committed.
    pub batches: u64,
    /// Its state.
    pub phase: Phase,
    /// Time spent in committed batches (not pauses, not time stopped).
    pub busy: Duration,
    /// When it started (UTC, `YYYY-MM-DD HH:MM:SS`).
    pub started_at: String,
    /// When its last batch committed.
    pub updated_at: String,
    /// When it completed.
    pub finished_at: Option<String>,
    /// The failure, for a failed one.
    pub error: Option<String>,
}

impl Progress {
    /// The time left at this run's pace through the keys, when it can tell.
    pub fn eta(&self) -> Option<Duration> {
        let state = &self.state;
        let (first, last, cursor) = (state.first_key?, state.last_key?, state.cursor?);
        let from = self.resumed_from.unwrap_or(first - 1);
        let done = (cursor - from) as f64;
        if done <= 0.0 || state.phase == Phase::Done {
            return None;
        }
        let left = (last - cursor).max(0) as f64;
        Some(self.elapsed.mul_f64(left / done))
    }
}

impl BackfillState {
    /// How far the cursor is through the keys the table had when the backfill started, 0.0 to 1.0
    /// (`None` when the table was empty). Keys added since are done too, so it may pass 1.0 briefly.
    pub fn fraction(&self) -> Option<f64> {
        if self.phase == Phase::Done {
            return Some(1.0);
        }
        let (first, last) = (self.first_key?, self.last_key?);
        let Some(cursor) = self.cursor else {
            return Some(0.0);
        };
        if last <= first {
            return Some(1.0);
        }
        Some(((cursor - first + 1) as f64 / (last - first + 1) as f64).clamp(0.0, 1.0))
    }
}

/// What a progress callback sees after each batch.
#[derive(Debug, Clone)]
pub struct Progress {
    /// The migration's file.
    pub file: String,
    /// The progress row after the batch.
    pub state: BackfillState,
    /// Rows updated by this run (since this process resumed it).
    pub rows_this_run: u64,
    /// The cursor this run started from (`None`: the first key).
    pub resumed_from: Option<i64>,
    /// Wall time of this run so far.
    pub elapsed: Duration,
    /// Keys per batch now (it follows `target=` when the directive sets one).
    pub batch_size: u32,
    /// How long the last batch took, from BEGIN to COMMIT.
    pub last_batch: Duration,
}

/// What one run of a backfill did (from where it resumed to the end).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackfillRun {
    /// The migration.
    pub version: u64,
    /// Rows this run updated.
    pub rows: u64,
    /// Batches this run committed.
    pub batches: u64,
    /// Wall time of this run.
    pub took: Duration,
    /// Rows of the whole backfill (every run).
    pub rows_total: u64,
    /// The cursor this run started from (`None`: from the first key).
    pub resumed_from: Option<i64>,
    /// The longest batch, BEGIN to COMMIT: how long the batches held their row locks at most.
    pub longest_batch: Duration,
}

/// A batch that failed for another reason than a lock timeout: the migration is recorded `failed` with
/// the message; what the earlier batches did stays (each committed on its own).
#[derive(Debug, Clone)]
pub struct BackfillError {
    /// The migration.
    pub version: u64,
    /// Its file.
    pub file: String,
    /// The UPDATE's line in the file.
    pub line: u32,
    /// The key range of the failed batch: after `from` (`None`: from the first key) up to `to`.
    pub from: Option<i64>,
    /// See `from`.
    pub to: Option<i64>,
    /// The key column.
    pub key_column: String,
    /// Rows the earlier batches updated (they stay).
    pub rows_done: u64,
    /// The statement that failed (shortened).
    pub sql: String,
    /// The database's error.
    pub db_error: crate::DbError,
    /// Engine name for the message.
    pub engine: &'static str,
    /// How many lock timeouts in a row, when that is why it stopped.
    pub lock_attempts: u32,
}

impl fmt::Display for BackfillError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let range = match (self.from, self.to) {
            (Some(a), Some(b)) => format!("{} in ({a}, {b}]", self.key_column),
            (None, Some(b)) => format!("{} up to {b}", self.key_column),
            (Some(a), None) => format!("{} after {a}", self.key_column),
            (None, None) => format!("{} (its first range)", self.key_column),
        };
        writeln!(
            f,
            "backfill {} ({}) failed in the batch of {range}, statement at line {}:",
            self.version, self.file, self.line
        )?;
        for line in self.sql.lines() {
            writeln!(f, "    {line}")?;
        }
        writeln!(f, "  {} said: {}", self.engine, self.db_error)?;
        if self.lock_attempts > 0 {
            let why = if self.db_error.kind == crate::engine::DbErrorKind::Conflict {
                "was ended by the server on a conflict with another transaction (a deadlock, or a serialization failure)"
            } else {
                "could not get its locks within lock_timeout"
            };
            writeln!(
                f,
                "  The batch {why}, {} time(s) in a row (each attempt was rolled back).",
                self.lock_attempts
            )?;
        }
        write!(
            f,
            "  Nothing of this batch was applied; the {} row(s) of the earlier batches stay updated and the cursor stays before this batch. The migration is recorded as failed.\n  What to do: fix what the database refuses (the data of that key range, or the statement in a new file version), then start again: the backfill resumes at the cursor.",
            self.rows_done
        )
    }
}

impl std::error::Error for BackfillError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(first: i64, last: i64, cursor: Option<i64>, phase: Phase) -> BackfillState {
        BackfillState {
            version: 1,
            key_column: "t.id".into(),
            first_key: Some(first),
            last_key: Some(last),
            cursor,
            rows_done: 0,
            batches: 0,
            phase,
            busy: Duration::ZERO,
            started_at: String::new(),
            updated_at: String::new(),
            finished_at: None,
            error: None,
        }
    }

    #[test]
    fn the_fraction_follows_the_cursor_through_the_keys() {
        assert_eq!(state(1, 100, None, Phase::Running).fraction(), Some(0.0));
        assert_eq!(
            state(1, 100, Some(50), Phase::Running).fraction(),
            Some(0.5)
        );
        assert_eq!(
            state(1, 100, Some(150), Phase::Running).fraction(),
            Some(1.0)
        );
        assert_eq!(state(1, 100, Some(10), Phase::Done).fraction(), Some(1.0));
        let mut empty = state(0, 0, None, Phase::Running);
        empty.first_key = None;
        assert_eq!(empty.fraction(), None);
    }

    #[test]
    fn modes_and_phases_read_back() {
        for mode in ["inline", "background", "deferred"] {
            assert!(BackfillMode::parse(mode).is_some());
        }
        assert_eq!(BackfillMode::parse("later"), None);
        for phase in [Phase::Running, Phase::Done, Phase::Failed] {
            assert_eq!(Phase::parse(phase.as_str()), Some(phase));
        }
        let stop = Stop::new();
        let shared = stop.clone();
        let child = stop.child();
        let other_child = stop.child();
        assert!(!shared.is_stopped() && !child.is_stopped());
        other_child.stop();
        assert!(!stop.is_stopped() && !child.is_stopped());
        stop.stop();
        assert!(shared.is_stopped() && child.is_stopped());
    }
}
