//! The batches of one started backfill, from its cursor to the last key: each batch one short
//! transaction (cursor read under its row lock, the bounded UPDATE, the cursor moved), throttled, retried
//! on lock timeouts, stopped on request between batches.

use std::time::{Duration, Instant};

use tracing::{debug, info, warn};

use super::store::{Cursor, Store};
use crate::backfill::{
    Backfill, BackfillError, BackfillRun, BackfillState, BatchStatement, Phase, Progress,
};
use crate::engine::{DbError, DbErrorKind, Direction, Engine};
use crate::history::History;
use crate::{Config, Error, Migration};

/// The most a batch may grow to, as a multiple of the directive's `batch=`.
const GROWTH_LIMIT: u32 = 16;
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// What one batch did.
enum Step {
    /// The cursor moved from `from` to `to`; `rows` rows were updated, under locks held for `held`
    /// (from the moment the transaction had its first lock to the end of its commit), after waiting
    /// `waited` for that first lock (SQLite's `BEGIN IMMEDIATE`).
    Advanced {
        from: Option<i64>,
        to: i64,
        rows: u64,
        held: Duration,
        waited: Duration,
    },
    /// Another process moved the cursor first: nothing was done, try again.
    Raced,
    /// No key is left: the backfill is done (by this batch or an earlier one).
    Done,
}

/// A batch that did not commit.
struct Failure {
    from: Option<i64>,
    to: Option<i64>,
    sql: String,
    error: Box<DbError>,
}

/// Runs the batches of one backfill migration over an engine.
pub(crate) struct Runner<'a> {
    pub engine: &'a mut dyn Engine,
    pub migration: &'a Migration,
    pub spec: &'a Backfill,
    pub statement: BatchStatement,
    pub store: Store,
    pub history: History,
    pub config: &'a Config,
}

impl Runner<'_> {
    /// Runs batches until no key is left, a batch fails, or a stop is requested.
    pub fn run(&mut self, on_progress: &mut dyn FnMut(&Progress)) -> Result<BackfillRun, Error> {
        let restore = self.set_timeouts()?;
        let result = self.batches(on_progress);
        if !restore.is_empty() {
            if let Err(e) = self.engine.execute(&restore) {
                warn!(error = %e, "restoring the connection's timeouts after a backfill failed");
            }
        }
        result
    }

    /// The backfill's lock timeout for this connection: SQLite's `busy_timeout` (how long a batch waits
    /// for the write lock), the session timeouts elsewhere. Returns the SQL that puts back what was there.
    fn set_timeouts(&mut self) -> Result<String, Error> {
        let lock_timeout = self.config.lock_timeout;
        let db = |e: DbError| Error::Database {
            context: "setting the backfill's lock timeout".to_string(),
            source: e,
        };
        if self.engine.dialect().kind == crate::EngineKind::Sqlite {
            let previous = self
                .engine
                .query("PRAGMA busy_timeout")
                .map_err(db)?
                .first()
                .and_then(|r| r.first()?.as_i64())
                .unwrap_or(0);
            self.engine
                .execute(&format!(
                    "PRAGMA busy_timeout = {}",
                    lock_timeout.as_millis().min(i32::MAX as u128)
                ))
                .map_err(db)?;
            return Ok(format!("PRAGMA busy_timeout = {previous}"));
        }
        self.engine
            .session_timeouts(lock_timeout, self.config.statement_timeout)
            .map_err(db)
    }

    fn batches(&mut self, on_progress: &mut dyn FnMut(&Progress)) -> Result<BackfillRun, Error> {
        let started = Instant::now();
        let resumed_from = self.resume()?;
        let mut run = BackfillRun {
            version: self.migration.version,
            rows: 0,
            batches: 0,
            took: Duration::ZERO,
            rows_total: 0,
            resumed_from,
            longest_batch: Duration::ZERO,
        };
        let mut size = self.spec.batch;
        let mut lock_failures = 0u32;
        let mut last_event = Instant::now();
        let mut raised = false;
        loop {
            if self.config.stop.is_stopped() {
                return Err(self.stopped(&run));
            }
            match self.batch(size) {
                Ok(Step::Advanced {
                    from,
                    to,
                    rows,
                    held: took,
                    waited,
                }) => {
                    lock_failures = 0;
                    run.rows += rows;
                    run.batches += 1;
                    run.longest_batch = run.longest_batch.max(took);
                    debug!(target: "migrator::backfill", version = run.version, ?from, to, rows, held_us = took.as_micros() as u64, waited_us = waited.as_micros() as u64, size, "batch");
                    let state = self.state()?;
                    if last_event.elapsed() >= Duration::from_secs(1) {
                        last_event = Instant::now();
                        info!(target: "migrator::backfill", version = run.version, cursor = to, rows_done = state.rows_done, percent = state.fraction().map(|f| (f * 1000.0).round() / 10.0), "backfill progress");
                    }
                    on_progress(&self.progress(state, &run, started, size, took));
                    size = next_size(size, took, self.spec);
                    let pause = self.pause(took);
                    if !raised && self.spec.pause.is_some_and(|p| p < pause) {
                        raised = true;
                        warn!(target: "migrator::backfill", version = run.version, pause_ms = self.spec.pause.map_or(0, |p| p.as_millis() as u64), raised_to_ms = pause.as_millis() as u64, "on SQLite a backfill pauses at least as long as its batch held the write lock (the application's writers get it at least half of the time); pause= is raised to that");
                    }
                    if !nap(pause, &self.config.stop) {
                        return Err(self.stopped(&run));
                    }
                }
                Ok(Step::Raced) => {
                    debug!(target: "migrator::backfill", version = run.version, "another process moved the cursor first");
                }
                Ok(Step::Done) => {
                    let state = self.state()?;
                    run.took = started.elapsed();
                    run.rows_total = state.rows_done;
                    info!(target: "migrator::backfill", version = run.version, rows = run.rows, rows_total = run.rows_total, batches = run.batches, took_ms = run.took.as_millis() as u64, "backfill done");
                    on_progress(&self.progress(state, &run, started, size, Duration::ZERO));
                    return Ok(run);
                }
                Err(f) if is_lock_wait(&f.error) && lock_failures < self.config.lock_retries => {
                    let backoff = backoff(lock_failures);
                    lock_failures += 1;
                    warn!(target: "migrator::backfill", version = run.version, attempt = lock_failures, backoff_ms = backoff.as_millis() as u64, error = %f.error, "batch could not get its locks (lock timeout), or the server ended it on a conflict (deadlock, serialization failure); rolled back, retrying");
                    if !nap(backoff, &self.config.stop) {
                        return Err(self.stopped(&run));
                    }
                }
                Err(f) => return Err(self.fail(f, lock_failures)),
            }
        }
    }

    /// The sleep after a batch that held its locks for `took`: the directive's `pause=`, else on SQLite
    /// as long as the batch held the database's one write lock, else none. On SQLite a shorter `pause=`
    /// is raised to the hold: the application's writers wait for that lock in their busy handler, which
    /// polls every 100 ms at length, and a backfill that takes the lock again at once (`pause=0ms`)
    /// starves them (measured: an application write waited 27.9 s); at least half of the time free,
    /// a waiting writer finds it free within a few polls.
    fn pause(&self, took: Duration) -> Duration {
        let sqlite = self.engine.dialect().kind == crate::EngineKind::Sqlite;
        match self.spec.pause {
            Some(pause) if sqlite => pause.max(took),
            Some(pause) => pause,
            None if sqlite => took,
            None => Duration::ZERO,
        }
    }

    /// One batch in its own transaction.
    fn batch(&mut self, size: u32) -> Result<Step, Failure> {
        let d = self.engine.dialect();
        let version = self.migration.version;
        let mut failure = Failure {
            from: None,
            to: None,
            sql: d.begin.to_string(),
            error: Box::new(DbError::new(DbErrorKind::Other, "")),
        };
        let asked = Instant::now();
        if let Err(e) = self.engine.execute(d.begin) {
            return Err(Failure {
                error: Box::new(e),
                ..failure
            });
        }
        // SQLite's BEGIN IMMEDIATE waited for the write lock; the time held starts now.
        let started = Instant::now();
        let waited = started - asked;
        let result = (|| -> Result<Step, DbError> {
            let Some(Cursor { cursor, phase, .. }) =
                self.store.cursor(self.engine, version, true)?
            else {
                return Err(DbError::new(
                    DbErrorKind::Other,
                    "the backfill's progress row is missing (was the progress table edited?)",
                ));
            };
            failure.from = cursor;
            if phase == Phase::Done {
                return Ok(Step::Done);
            }
            let upto = self.next_key(cursor, size)?;
            let Some(to) = upto else {
                self.finish()?;
                return Ok(Step::Done);
            };
            failure.to = Some(to);
            failure.sql = self.statement.sql(cursor, to);
            let rows = self.engine.execute_count(&failure.sql)?;
            let ms = started.elapsed().as_millis() as u64;
            let advance = self.store.advance_sql(d, version, cursor, to, rows, ms);
            failure.sql = advance.clone();
            if self.engine.execute_count(&advance)? != 1 {
                return Ok(Step::Raced);
            }
            Ok(Step::Advanced {
                from: cursor,
                to,
                rows,
                held: Duration::ZERO,
                waited,
            })
        })();
        let end = match &result {
            Ok(Step::Advanced { .. } | Step::Done) => "COMMIT",
            _ => "ROLLBACK",
        };
        match (result, self.engine.execute(end)) {
            // The locks are held until the commit is done (on SQLite its journal's fsyncs).
            (
                Ok(Step::Advanced {
                    from,
                    to,
                    rows,
                    waited,
                    ..
                }),
                Ok(()),
            ) => Ok(Step::Advanced {
                from,
                to,
                rows,
                held: started.elapsed(),
                waited,
            }),
            (Ok(step), Ok(())) => Ok(step),
            (Ok(_), Err(e)) => {
                let _ = self.engine.execute("ROLLBACK");
                Err(Failure {
                    sql: end.to_string(),
                    error: Box::new(e),
                    ..failure
                })
            }
            (Err(e), _) => Err(Failure {
                error: Box::new(e),
                ..failure
            }),
        }
    }

    /// The key `size` keys after `cursor`, or `None` when no key is left.
    fn next_key(&mut self, cursor: Option<i64>, size: u32) -> Result<Option<i64>, DbError> {
        let (table, key) = (&self.spec.table, &self.spec.key);
        let after = cursor.map_or_else(String::new, |c| format!(" WHERE {key} > {c}"));
        let sql = format!(
            "SELECT max(k) FROM (SELECT {key} AS k FROM {table}{after} ORDER BY {key} LIMIT {size}) AS batch_keys"
        );
        let rows = self.engine.query(&sql)?;
        match rows.first().and_then(|r| r.first()) {
            None | Some(crate::engine::Value::Null) => Ok(None),
            Some(v) => v.as_i64().map(Some).ok_or_else(|| {
                DbError::new(
                    DbErrorKind::Other,
                    format!("the backfill key {table}.{key} is not an integer column (it read {v:?}); a backfill's key= must be an integer key"),
                )
            }),
        }
    }

    /// In the last batch's transaction: the progress row done, the migration applied, the log entry.
    fn finish(&mut self) -> Result<(), DbError> {
        let d = self.engine.dialect();
        let version = self.migration.version;
        let state = self.store.cursor(self.engine, version, false)?;
        let (rows, busy_ms) = state.map_or((0, 0), |s| (s.rows_done, s.busy_ms));
        let detail = format!(
            "backfill of {}: {rows} rows, {:.1} s in batches",
            self.statement.column(),
            busy_ms as f64 / 1000.0
        );
        let mut sql = self.store.finish_sql(d, version);
        sql.push_str(";\n");
        sql.push_str(&self.history.finish_sql(
            d,
            self.migration,
            Direction::Up,
            false,
            &busy_ms.to_string(),
            Some(&detail),
        ));
        self.engine.execute(&sql)
    }

    /// Before the first batch of this run: a failed backfill is running again, and a resumed one says so
    /// in the log. Returns the cursor it resumes from.
    fn resume(&mut self) -> Result<Option<i64>, Error> {
        let d = self.engine.dialect();
        let version = self.migration.version;
        let db = |e| Error::Database {
            context: format!("resuming the backfill of {version}"),
            source: e,
        };
        let cursor = self
            .store
            .cursor(self.engine, version, false)
            .map_err(db)?
            .ok_or_else(|| {
                Error::Refused(format!(
                    "the backfill {version} has not been started (no progress row); a boot starts it"
                ))
            })?;
        let sql = format!(
            "{};\n{}",
            self.store.set_state_sql(d, version, Phase::Running, None),
            self.history.resume_sql(d, version)
        );
        self.engine.execute(&sql).map_err(db)?;
        if let (Some(at), Phase::Running | Phase::Failed) = (cursor.cursor, cursor.phase) {
            let detail = format!(
                "at {} > {at} ({} rows done), process {}",
                self.statement.column(),
                cursor.rows_done,
                std::process::id()
            );
            info!(target: "migrator::backfill", version, cursor = at, rows_done = cursor.rows_done, "backfill resumed");
            self.history
                .log(self.engine, version, "backfill_resumed", Some(&detail))?;
        }
        Ok(cursor.cursor)
    }

    /// Records a failed batch (the migration `failed`, the progress row `failed` with the message) and
    /// returns the error.
    fn fail(&mut self, f: Failure, lock_attempts: u32) -> Error {
        let version = self.migration.version;
        let rows_done = self.state().map(|s| s.rows_done).unwrap_or(0);
        let error = BackfillError {
            version,
            file: self.migration.file_name.to_string(),
            line: self.migration.up.first().map_or(0, |s| s.line),
            from: f.from,
            to: f.to,
            key_column: self.statement.column().to_string(),
            rows_done,
            sql: crate::run::session::shorten(&f.sql),
            db_error: *f.error,
            engine: self.engine.dialect().kind.name(),
            lock_attempts,
        };
        warn!(target: "migrator::backfill", version, error = %error.db_error, "backfill batch failed");
        if error.db_error.kind != DbErrorKind::ConnectionLost {
            let message = error.db_error.to_string();
            let d = self.engine.dialect();
            let recorded = self
                .history
                .fail(self.engine, self.migration, Direction::Up, &message)
                .and_then(|()| {
                    let sql = self
                        .store
                        .set_state_sql(d, version, Phase::Failed, Some(&message));
                    self.engine.execute(&sql).map_err(|e| Error::Database {
                        context: "recording the failed backfill".to_string(),
                        source: e,
                    })
                });
            if let Err(e) = recorded {
                warn!(error = %e, "could not record the failed backfill");
            }
        }
        Error::Backfill(Box::new(error))
    }

    fn stopped(&self, run: &BackfillRun) -> Error {
        info!(target: "migrator::backfill", version = run.version, rows = run.rows, "backfill stopped on request");
        Error::Stopped(format!(
            "the backfill {} ({}) stopped on request after {} batch(es) of this run ({} rows); every committed batch stays, and the next run resumes at its cursor",
            run.version, self.migration.file_name, run.batches, run.rows
        ))
    }

    /// The progress row as it is now.
    fn state(&mut self) -> Result<BackfillState, Error> {
        let version = self.migration.version;
        self.store
            .read_all(self.engine)?
            .into_iter()
            .find(|s| s.version == version)
            .ok_or_else(|| Error::Refused(format!("the backfill {version} has no progress row")))
    }

    fn progress(
        &self,
        state: BackfillState,
        run: &BackfillRun,
        started: Instant,
        size: u32,
        last_batch: Duration,
    ) -> Progress {
        Progress {
            file: self.migration.file_name.to_string(),
            state,
            rows_this_run: run.rows,
            resumed_from: run.resumed_from,
            elapsed: started.elapsed(),
            batch_size: size,
            last_batch,
        }
    }
}

/// SQLite's busy database, the servers' lock timeouts, and the conflicts they resolved by ending the
/// batch's transaction (deadlocks, serialization failures): the batch is rolled back and retried.
fn is_lock_wait(e: &DbError) -> bool {
    matches!(
        e.kind,
        DbErrorKind::LockTimeout | DbErrorKind::Busy | DbErrorKind::Conflict
    )
}

/// The batch size after a batch that took `took`: towards the directive's `target=` (at most double or
/// half per batch, between 1 and 16 times `batch=`), unchanged without one.
fn next_size(size: u32, took: Duration, spec: &Backfill) -> u32 {
    let Some(target) = spec.target else {
        return size;
    };
    let ratio = (target.as_secs_f64() / took.as_secs_f64().max(1e-4)).clamp(0.5, 2.0);
    let limit = spec
        .batch
        .saturating_mul(GROWTH_LIMIT)
        .min(migrator_format::backfill::MAX_BATCH);
    ((f64::from(size) * ratio).round() as u32).clamp(1, limit)
}

/// 100 ms after the first lock timeout, doubling to 10 s, with a jitter of up to a half either way.
fn backoff(attempt: u32) -> Duration {
    let base = Duration::from_millis(100u64 << attempt.min(7)).min(MAX_BACKOFF);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    base.mul_f64(0.5 + f64::from(nanos % 1000) / 1000.0)
}

/// Sleeps `d` in short steps; `false` when a stop was requested meanwhile.
fn nap(d: Duration, stop: &crate::backfill::Stop) -> bool {
    let until = Instant::now() + d;
    loop {
        if stop.is_stopped() {
            return false;
        }
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return true;
        }
        std::thread::sleep(left.min(Duration::from_millis(50)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_batch_size_follows_the_target_within_bounds() {
        let mut spec =
            Backfill::parse_directive("table=t key=id batch=1000 target=100ms", 1).unwrap();
        assert_eq!(next_size(1000, Duration::from_millis(50), &spec), 2000);
        assert_eq!(next_size(1000, Duration::from_millis(400), &spec), 500);
        assert_eq!(next_size(1000, Duration::from_millis(125), &spec), 800);
        assert_eq!(next_size(16_000, Duration::from_millis(1), &spec), 16_000);
        assert_eq!(next_size(1, Duration::from_secs(9), &spec), 1);
        spec.target = None;
        assert_eq!(next_size(1000, Duration::from_millis(1), &spec), 1000);
    }

    #[test]
    fn backoff_doubles_to_ten_seconds_with_jitter() {
        let first = backoff(0);
        assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(150));
        let late = backoff(20);
        assert!(late >= Duration::from_secs(5) && late <= Duration::from_secs(15));
    }

    #[test]
    fn a_nap_ends_early_on_stop() {
        let stop = crate::backfill::Stop::new();
        assert!(nap(Duration::from_millis(1), &stop));
        stop.stop();
        let started = Instant::now();
        assert!(!nap(Duration::from_secs(5), &stop));
        assert!(started.elapsed() < Duration::from_secs(1));
    }
}
