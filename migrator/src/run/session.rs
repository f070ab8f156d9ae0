//! A locked run: the migration lock held, the history tables there, and migrations applied one at a
//! time, each exactly once, in the way the engine can make atomic ([`Atomicity`]):
//!
//! - `RunTransaction` (SQLite): a savepoint per migration inside the run's transaction;
//! - `MigrationTransaction` (PostgreSQL): a transaction per migration, sent as one round trip (`BEGIN`, the
//!   timeouts and the transaction lock, the guarded claim, the statements, the history write, `COMMIT`),
//!   retried on lock timeouts. On a fresh database (no application table yet: nothing else can be blocked;
//!   a boot whose history holds applied migrations does not ask, [`Session::known_live`]) an UP run is
//!   one transaction instead: one commit, one WAL flush, for the whole run. The boot's apply
//!   runs it optimistically, without a savepoint per migration (1,000 savepoints cost more than the
//!   commits they save): on any failure the whole transaction is rolled back and the same migrations are
//!   applied again a transaction each, so that a failure in migration k still keeps 1..k-1 and is reported
//!   as on a live database. The in-place rehearsal keeps a savepoint per migration, as on SQLite;
//! - without a transaction (a `no-transaction` migration, or any migration on MySQL): a committed `running`
//!   row, the statements one by one, then the final status.
//!
//! A short run ([`Session::locking_each_transaction`], a boot on a live database with no backup or
//! rehearsal to take first) holds no lock of its own: each migration's transaction takes the migration
//! lock for itself, when no one holds it, and checks that the history is as the run planned it, in the
//! same round trip as the migration; when it cannot, nothing of the migration runs and the boot goes on
//! under the lock ([`StepError::NotLocked`]).
//!
//! Every style claims the history row first (see [`History::claim`]); a claim that affects no row means
//! another process did this migration, and the run stops with [`Error::AlreadyDone`] without touching it.
//! The one exception is an UP on SQLite: the run holds the database's only write lock and read the
//! history under it, so no one else can write the row; it is written after the statements, with the
//! duration, instead ([`History::record_up`]), until a `commit_each` run first lets the lock go.

use std::time::{Duration, Instant};

use tracing::{debug, info, warn};

use crate::engine::{Atomicity, DbError, DbErrorKind, Direction, Engine, LockGuard};
use crate::history::{History, Status};
use crate::{Config, Error, Migration, MigrationError};

const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// What the guarded claim's error says when another process has the migration (see
/// [`Engine::guarded_sql`]).
const CLAIM_TAKEN: &str = "migrator-claim-taken";
/// What the error of a transaction that could not take the migration lock for itself says (see
/// [`Engine::transaction_lock_sql`]).
const NOT_LOCKED: &str = "migrator-not-locked";
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// A migration that did not complete, before it becomes an [`Error`].
pub(crate) struct StepFailure {
    /// 0-based index of the failing statement, when known.
    pub index: Option<usize>,
    /// The database's error.
    pub error: Box<DbError>,
    /// The database rolled back the whole run's transaction (SQLite on a full disk, for example).
    pub run_rolled_back: bool,
    /// Statements that ran and stayed (a migration without a transaction that failed part way).
    pub statements_kept: usize,
    /// What else the engine says about it (locks held by others, INVALID indexes).
    pub diagnosis: Option<String>,
}

/// What went wrong with one migration.
pub(crate) enum StepError {
    /// The migration failed; nothing of it stayed unless it ran without a transaction.
    Failed(StepFailure),
    /// Something other than the migration's statements (the lock, the history tables).
    Other(Error),
    /// An optimistic run transaction ([`RunTransaction::Optimistic`]) met a failure and was rolled back
    /// whole: the `undone` migrations it had completed are not applied, and the session goes on a
    /// transaction per migration. The caller applies them again from the first of them; the failure,
    /// if it is one, comes back then, reported as on a live database.
    RunUndone { undone: usize },
    /// A migration run without its savepoint ([`Session::set_step_savepoints`]) failed: the transaction
    /// is aborted as the database left it (nothing undone, nothing recorded), and the caller that asked
    /// for no savepoints rolls back to one of its own. The text is the database's error, for the
    /// caller's error when even that rollback fails.
    Aborted(String),
    /// In a session that takes the lock in each migration's transaction
    /// ([`Session::locking_each_transaction`]): the transaction could not take it (another session holds
    /// it) or found the history changed since the run planned. Nothing of the migration ran; the caller
    /// goes on under the lock, planning again.
    NotLocked,
}

impl StepError {
    /// The error of a step outcome that the caller never asked for (a boot's apply is never run without
    /// savepoints, a rehearsal never optimistically): said plainly rather than a panic.
    pub(crate) fn unexpected(self, m: &Migration) -> Error {
        match self {
            StepError::Other(e) => e,
            other => Error::Database {
                context: format!("applying {}", m.file_name),
                source: DbError::new(DbErrorKind::Other, step_error_text(&other)),
            },
        }
    }
}

impl From<Error> for StepError {
    fn from(e: Error) -> Self {
        StepError::Other(e)
    }
}

/// Whether a `MigrationTransaction` run is one transaction (decided at its first transactional UP).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RunTransaction {
    /// Not decided yet.
    Undecided,
    /// Open: each migration is a savepoint in it, and the session commits it when it ends.
    Open,
    /// Open without a savepoint per migration (a boot's apply on a fresh PostgreSQL database, where the
    /// 1,000 savepoints of 1,000 migrations cost more than the commits they save: see bench/README.md):
    /// any failure rolls back the whole run ([`StepError::RunUndone`]).
    Optimistic,
    /// A transaction per migration.
    Off,
}

/// The migration lock, held for a run.
pub(crate) struct Session<'e> {
    pub engine: &'e mut dyn Engine,
    pub history: History,
    guard: Option<Box<dyn LockGuard>>,
    lock_timeout: Duration,
    statement_timeout: Option<Duration>,
    lock_retries: u32,
    lock_wait: Duration,
    rng: u64,
    run: RunTransaction,
    /// How many of `completed` came before the run transaction opened.
    completed_before_run: usize,
    /// Migrations completed by this run so far.
    pub completed: Vec<u64>,
    /// The operator's reason, recorded with every migration this run completes (a rollback's why).
    pub note: Option<String>,
    /// The whole run is one transaction of ours with a savepoint per migration, whatever the engine's
    /// own style (a rehearsal on a scratch copy, where a DOWN must be undoable).
    nested: bool,
    /// In an open run transaction, each migration in a savepoint of its own (the default); off, a
    /// failure aborts the transaction ([`StepError::Aborted`]).
    step_savepoints: bool,
    /// A session holding no lock ([`Session::locking_each_transaction`]): each migration's transaction
    /// takes it and checks that the history still holds this many rows, plus what the run completed.
    rows_before: Option<usize>,
    /// The run committed between migrations and took the write lock again ([`Engine::checkpoint`]):
    /// another process may have written the history meanwhile, so each UP claims its row first again.
    lock_was_let_go: bool,
}

impl<'e> Session<'e> {
    /// Takes the lock (waiting at most `config.lock_wait`) and creates the history tables if needed.
    pub fn begin(engine: &'e mut dyn Engine, config: &Config) -> Result<Self, Error> {
        config.validate()?;
        let started = Instant::now();
        let guard = engine.lock(&config.history_table, config.lock_wait)?;
        info!(
            waited_ms = started.elapsed().as_millis() as u64,
            "lock taken"
        );
        Self::new(engine, config, Some(guard), None)
    }

    /// A session for a short run that holds no lock of its own: each migration's transaction takes the
    /// migration lock for itself when no one holds it, and checks that the history is as planned: all
    /// `rows_before` rows applied, none after the migration (see [`Engine::transaction_lock_sql`]).
    /// When either fails the migration returns [`StepError::NotLocked`] having run nothing. Nothing is
    /// written to history without the lock, a failure's record included. `None` when the engine has no
    /// such lock. The run goes a transaction per migration (the database is live).
    pub fn locking_each_transaction(
        engine: &'e mut dyn Engine,
        config: &Config,
        rows_before: usize,
    ) -> Result<Option<Self>, Error> {
        config.validate()?;
        if engine
            .transaction_lock_sql(&config.history_table, "true", NOT_LOCKED)
            .is_none()
        {
            return Ok(None);
        }
        let mut session = Self::new(engine, config, None, Some(rows_before))?;
        session.known_live();
        Ok(Some(session))
    }

    fn new(
        engine: &'e mut dyn Engine,
        config: &Config,
        guard: Option<Box<dyn LockGuard>>,
        rows_before: Option<usize>,
    ) -> Result<Self, Error> {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
            ^ (u64::from(std::process::id()) << 32);
        let schema = engine.history_schema(&config.history_table);
        let session = Session {
            engine,
            history: History::new(&config.history_table, config.lock_wait).in_schema(schema),
            guard,
            lock_timeout: config.lock_timeout,
            statement_timeout: config.statement_timeout,
            lock_retries: config.lock_retries,
            lock_wait: config.lock_wait,
            rng: seed | 1,
            run: RunTransaction::Undecided,
            completed_before_run: 0,
            completed: Vec::new(),
            note: None,
            nested: false,
            step_savepoints: true,
            rows_before,
            lock_was_let_go: false,
        };
        session.history.ensure(session.engine)?;
        Ok(session)
    }

    /// Like [`Session::begin`], for a scratch copy: on an engine with a transaction per migration the
    /// whole run becomes one transaction with a savepoint per migration, so that a rehearsal can undo a
    /// DOWN it found wrong and go on.
    pub fn begin_nested(engine: &'e mut dyn Engine, config: &Config) -> Result<Self, Error> {
        let mut session = Session::begin(engine, config)?;
        if session.engine.dialect().atomicity == Atomicity::MigrationTransaction {
            let begin = session.engine.dialect().begin;
            session.engine.execute(begin).map_err(|e| Error::Database {
                context: "opening the rehearsal's transaction".into(),
                source: e,
            })?;
            session.nested = true;
        }
        Ok(session)
    }

    /// `true` when a step can be undone with a savepoint (one transaction around the run).
    pub fn can_undo(&self) -> bool {
        self.nested
            || self.run == RunTransaction::Open
            || self.engine.dialect().atomicity == Atomicity::RunTransaction
    }

    /// `true` when every one of `pending` runs inside the run's transaction (no `no-transaction`
    /// migration, no backfill) and that transaction is seen by no other connection before it commits, at
    /// the end of the run (the engine says so: SQLite). Whatever reads the committed state meanwhile (a
    /// backup) reads the state before the run.
    pub(crate) fn commits_once_unseen(&mut self, pending: &[&Migration]) -> bool {
        all_in_a_transaction(pending.iter().copied())
            && self.can_undo()
            && self.engine.scratch().is_some_and(|s| s.run_is_a_copy())
    }

    /// Settles, without asking the catalog, that the run goes a transaction per migration: the caller
    /// knows the database is live (its history holds applied migrations). The freshness check is a
    /// catalog query, about 2 ms on a new PostgreSQL backend, on every boot with something pending.
    pub fn known_live(&mut self) {
        if self.run == RunTransaction::Undecided {
            debug!("history holds applied migrations: a transaction per migration");
            self.run = RunTransaction::Off;
        }
    }

    /// Decides now, before the first migration, whether an UP run is one transaction (a
    /// `MigrationTransaction` engine on a fresh database: see [`Session::apply`]) and opens it if so;
    /// `true` when the run is one transaction nobody else sees before it commits.
    pub fn open_fresh_run(&mut self) -> Result<bool, Error> {
        if self.nested || self.engine.dialect().atomicity != Atomicity::MigrationTransaction {
            return Ok(false);
        }
        self.decide_run_transaction(Direction::Up, true)?;
        Ok(self.run == RunTransaction::Open)
    }

    /// Ends the run: commits what a run transaction holds (or rolls it back) and releases the lock.
    pub fn end(mut self, commit: bool) -> Result<(), Error> {
        self.close(commit)
    }

    fn close(&mut self, commit: bool) -> Result<(), Error> {
        let Some(guard) = self.guard.take() else {
            return Ok(());
        };
        let run = self.leave_run_transaction(commit);
        if self.nested {
            let _ = self
                .engine
                .execute(if commit { "COMMIT" } else { "ROLLBACK" });
        }
        let ended = self.engine.end_run(commit);
        drop(guard);
        run?;
        ended.map_err(|e| Error::Database {
            context: if commit {
                "committing the run".to_string()
            } else {
                "rolling back the run".to_string()
            },
            source: e,
        })
    }

    /// `Err` when the lock is known to be lost.
    pub fn check_lock(&mut self) -> Result<(), Error> {
        match &mut self.guard {
            Some(guard) => guard.check(),
            // Each transaction takes the lock for itself.
            None if self.rows_before.is_some() => Ok(()),
            None => Err(Error::LockLost {
                message: "the run has ended".to_string(),
            }),
        }
    }

    /// Applies one migration in one direction, exactly once; returns its duration. A failure is
    /// recorded in history (and the log) before it is returned.
    pub fn apply(&mut self, m: &Migration, direction: Direction) -> Result<Duration, StepError> {
        self.check_lock()?;
        info!(version = m.version, file = %m.file_name, issue = ?m.issue, %direction, "migrating");
        let atomicity = match self.engine.dialect().atomicity {
            Atomicity::MigrationTransaction if self.nested => Atomicity::RunTransaction,
            other => other,
        };
        let outcome = match atomicity {
            _ if m.no_transaction => {
                // It commits as it goes: what the run transaction holds is committed first.
                self.leave_run_transaction(true)?;
                self.without_transaction(m, direction)
            }
            Atomicity::None => self.without_transaction(m, direction),
            Atomicity::RunTransaction => self.in_savepoint(m, direction),
            Atomicity::MigrationTransaction => {
                self.decide_run_transaction(direction, false)?;
                self.in_own_transaction(m, direction)
            }
        };
        match outcome {
            Ok(took) => {
                info!(version = m.version, took_ms = took.as_millis() as u64, %direction, "done");
                self.completed.push(m.version);
                Ok(took)
            }
            Err(StepError::Failed(failure)) => {
                warn!(version = m.version, message = %failure.error.message, "migration failed");
                if let Err(e) = self.record_failure(m, direction, &failure.error.to_string()) {
                    warn!(error = %e, "could not record the failure");
                }
                Err(StepError::Failed(failure))
            }
            Err(StepError::Other(e @ Error::AlreadyDone { .. })) => {
                // Another process completed it: what this run did before it is committed, and the run
                // goes on a transaction per migration (the history is read outside a transaction next).
                self.leave_run_transaction(true)?;
                Err(StepError::Other(e))
            }
            Err(other) => Err(other),
        }
    }

    /// Records a failed migration in history and the log, under the run's timeouts: the migration's
    /// transaction is gone, and without them a session holding history's table (a report, a hand-run
    /// `LOCK TABLE`, perhaps the very lock the migration timed out on) would hold the boot as long as it
    /// runs.
    fn record_failure(
        &mut self,
        m: &Migration,
        direction: Direction,
        message: &str,
    ) -> Result<(), Error> {
        self.under_session_timeouts("to record a failure", |session| {
            let Some(lock) = session.transaction_lock(m) else {
                return session.history.fail(session.engine, m, direction, message);
            };
            // A session without a lock of its own: the record is written under the lock too.
            let begin = format!("{}; {lock}", session.engine.dialect().begin);
            if let Err(e) = session.engine.execute(&begin) {
                let _ = session.engine.execute("ROLLBACK");
                return Err(Error::Database {
                    context: "taking the migration lock to record the failure".to_string(),
                    source: e,
                });
            }
            let recorded = session.history.fail(session.engine, m, direction, message);
            let end = if recorded.is_ok() {
                "COMMIT"
            } else {
                "ROLLBACK"
            };
            session.engine.execute(end).map_err(|e| Error::Database {
                context: "committing the failure's record".to_string(),
                source: e,
            })?;
            recorded
        })
    }

    /// In a session without a lock of its own: the statements with which `m`'s transaction takes it
    /// and checks the history (see [`Session::locking_each_transaction`]).
    fn transaction_lock(&mut self, m: &Migration) -> Option<String> {
        let rows = self.rows_before? + self.completed.len();
        let condition = self
            .history
            .unchanged_condition(self.engine.dialect(), rows, m.version);
        let name = self.history.table().to_string();
        self.engine
            .transaction_lock_sql(&name, &condition, NOT_LOCKED)
    }

    /// Runs `f` with the run's lock and statement timeouts set on the session (for what runs outside a
    /// migration's transaction), then puts back the session's own; `why` ends the error's context.
    fn under_session_timeouts<T, E: From<Error>>(
        &mut self,
        why: &str,
        f: impl FnOnce(&mut Self) -> Result<T, E>,
    ) -> Result<T, E> {
        let restore = self
            .engine
            .session_timeouts(self.lock_timeout, self.statement_timeout)
            .map_err(|e| Error::Database {
                context: format!("setting the session's timeouts {why}"),
                source: e,
            })?;
        let result = f(self);
        if !restore.is_empty() {
            if let Err(e) = self.engine.execute(&restore) {
                warn!(error = %e, "restoring the session's timeouts failed");
            }
        }
        result
    }

    /// At the first transactional migration of a `MigrationTransaction` run: an UP run on a fresh
    /// database opens the run transaction (timeouts and the transaction lock once, for all of it), with a
    /// savepoint per migration when `savepoints` (the in-place rehearsal undoes steps), else optimistic.
    fn decide_run_transaction(
        &mut self,
        direction: Direction,
        savepoints: bool,
    ) -> Result<(), Error> {
        if self.run != RunTransaction::Undecided {
            return Ok(());
        }
        self.run = RunTransaction::Off;
        if direction != Direction::Up {
            return Ok(());
        }
        let own = [self.history.table(), self.history.log_table()];
        let fresh = match self.engine.is_fresh(&own) {
            Ok(fresh) => fresh,
            Err(e) => {
                warn!(error = %e, "could not tell whether the database is fresh; a transaction per migration");
                false
            }
        };
        if !fresh {
            return Ok(());
        }
        let open = self.open_sql(true);
        if let Err(e) = self.engine.execute(&open) {
            let _ = self.engine.execute("ROLLBACK");
            return Err(Error::Database {
                context: "opening the run's transaction".to_string(),
                source: e,
            });
        }
        info!(
            savepoints,
            "fresh database (no application table): the run is one transaction"
        );
        self.run = if savepoints {
            RunTransaction::Open
        } else {
            RunTransaction::Optimistic
        };
        self.completed_before_run = self.completed.len();
        Ok(())
    }

    /// Whether each migration of an open run transaction gets a savepoint of its own. The in-place
    /// rehearsal's forward pass turns them off (1,000 savepoints cost more than the migrations' own
    /// statements on PostgreSQL); after a failure ([`StepError::Aborted`]) it rolls back to its own
    /// savepoint and runs the pass again with them, so that the failure is found and reported as always.
    pub(crate) fn set_step_savepoints(&mut self, on: bool) {
        self.step_savepoints = on;
    }

    /// Commits what the run's one transaction holds (when one is open) before a step that opens
    /// transactions of its own (a backfill's start and batches); the run goes on a transaction per
    /// migration.
    pub(crate) fn commit_run_transaction(&mut self) -> Result<(), Error> {
        self.leave_run_transaction(true)
    }

    /// Commits (or rolls back) the run transaction when one is open; the run goes on a transaction per
    /// migration.
    fn leave_run_transaction(&mut self, commit: bool) -> Result<(), Error> {
        if !matches!(self.run, RunTransaction::Open | RunTransaction::Optimistic) {
            return Ok(());
        }
        self.run = RunTransaction::Off;
        let (sql, context) = if commit {
            ("COMMIT", "committing the run's transaction (one transaction on a fresh database: when it fails, nothing of the run stays)")
        } else {
            ("ROLLBACK", "rolling back the run's transaction")
        };
        debug!(sql, "ending the run's transaction");
        self.engine.execute(sql).map_err(|e| Error::Database {
            context: context.to_string(),
            source: e,
        })
    }

    /// `BEGIN`, the timeouts and (with `take_lock`) the engine's per-transaction lock.
    fn open_sql(&self, take_lock: bool) -> String {
        format!(
            "{}; {}",
            self.engine.dialect().begin,
            self.opening(take_lock)
        )
    }

    /// What follows `BEGIN` in a migration's transaction: [`Engine::opening_sql`] with the run's timeouts.
    fn opening(&self, take_lock: bool) -> String {
        self.engine
            .opening_sql(self.lock_timeout, self.statement_timeout, take_lock)
    }

    fn already_done(&self, m: &Migration, direction: Direction) -> StepError {
        warn!(version = m.version, %direction, "claimed by another process");
        StepError::Other(Error::AlreadyDone {
            version: m.version,
            file: m.file_name.to_string(),
            direction,
        })
    }

    /// After a claim found the row taken: waits (within the lock wait) while another process still runs
    /// it, then `Ok(true)` when that process completed it (this one goes on with the next migration),
    /// `Ok(false)` when it did not.
    pub fn done_elsewhere(&mut self, m: &Migration, direction: Direction) -> Result<bool, Error> {
        let done = match direction {
            Direction::Up => Status::Applied,
            Direction::Down => Status::RolledBack,
        };
        let started = Instant::now();
        loop {
            let status = self
                .history
                .read(self.engine)?
                .into_iter()
                .find(|r| r.version == m.version)
                .map(|r| r.status);
            match status {
                Some(s) if s == done => return Ok(true),
                Some(Status::Running) if started.elapsed() < self.lock_wait => {
                    std::thread::sleep(Duration::from_millis(100));
                }
                _ => return Ok(false),
            }
        }
    }

    fn claim_status(direction: Direction, in_transaction: bool) -> Status {
        match (direction, in_transaction) {
            (_, false) => Status::Running,
            (Direction::Up, true) => Status::Applied,
            (Direction::Down, true) => Status::RolledBack,
        }
    }

    /// SQLite: a savepoint in the run's transaction.
    fn in_savepoint(&mut self, m: &Migration, direction: Direction) -> Result<Duration, StepError> {
        let db = |what: &str, e: DbError| Error::Database {
            context: what.to_string(),
            source: e,
        };
        self.engine
            .execute("SAVEPOINT migrator_step")
            .map_err(|e| db("opening the migration's savepoint", e))?;
        // On SQLite the run holds the only write lock and checked the history under it: an UP's row is
        // written after its statements, with its duration (History::record_up). Once a commit let the
        // lock go between migrations (`commit_each`), or elsewhere (a rehearsal on a PostgreSQL copy,
        // where a failed insert would abort the transaction), the claim comes first.
        let claimed_first = direction == Direction::Down
            || self.engine.dialect().atomicity != Atomicity::RunTransaction
            || self.lock_was_let_go;
        if claimed_first
            && !self.history.claim(
                self.engine,
                m,
                direction,
                Self::claim_status(direction, true),
            )?
        {
            let _ = self
                .engine
                .execute("ROLLBACK TO migrator_step; RELEASE migrator_step");
            return Err(self.already_done(m, direction));
        }
        let started = Instant::now();
        let mut outcome = self.run_one_by_one(m, direction);
        let took = started.elapsed();
        // A migration that only creates new objects cannot break a foreign key: not checked.
        if outcome.is_ok() && !(direction == Direction::Up && super::health::only_creates(&m.up)) {
            outcome = match self.engine.after_migration() {
                Ok(None) => Ok(()),
                Ok(Some(problem)) => Err(failure(None, DbError::new(DbErrorKind::Other, problem))),
                Err(e) => Err(failure(None, e)),
            };
        }
        if outcome.is_ok() {
            let ms = took.as_millis().to_string();
            outcome = if claimed_first {
                let finish = self.history.finish_sql(
                    self.engine.dialect(),
                    m,
                    direction,
                    true,
                    &ms,
                    self.note.as_deref(),
                );
                self.engine.execute(&finish).map_err(|e| failure(None, e))
            } else {
                match self
                    .history
                    .record_up(self.engine, m, &ms, self.note.as_deref())
                {
                    Ok(true) => Ok(()),
                    Ok(false) => {
                        let _ = self
                            .engine
                            .execute("ROLLBACK TO migrator_step; RELEASE migrator_step");
                        return Err(self.already_done(m, direction));
                    }
                    Err(e) => Err(failure(None, e)),
                }
            };
        }
        match outcome {
            Ok(()) => {
                let reopened = self
                    .engine
                    .execute("RELEASE migrator_step")
                    .and_then(|()| self.engine.checkpoint())
                    .map_err(|e| StepError::Failed(failure(None, e)))?;
                self.lock_was_let_go |= reopened;
                Ok(took)
            }
            Err(mut failed) => {
                if self
                    .engine
                    .execute("ROLLBACK TO migrator_step; RELEASE migrator_step")
                    .is_err()
                {
                    // The database ended the run's transaction itself: open a new one so that the
                    // failure can still be recorded and the run ended cleanly.
                    failed.run_rolled_back = true;
                    let begin = self.engine.dialect().begin;
                    let _ = self.engine.execute(begin);
                }
                Err(StepError::Failed(failed))
            }
        }
    }

    /// The section's statements alone, in the open transaction: no savepoint, no claim, no history
    /// rows, no check after the migration. Only for a rehearsal whose work is always rolled back and
    /// whose tables hold no row (the DOWNs of `run/down_chain.rs`): the history rows would be rolled
    /// back with it, and the foreign keys of empty tables cannot be violated.
    pub(super) fn statements_only(
        &mut self,
        m: &Migration,
        direction: Direction,
    ) -> Result<Duration, StepError> {
        self.check_lock()?;
        let started = Instant::now();
        self.run_one_by_one(m, direction)
            .map_err(StepError::Failed)?;
        Ok(started.elapsed())
    }

    /// Runs the section statement by statement (local engines: no round trips to save).
    fn run_one_by_one(&mut self, m: &Migration, direction: Direction) -> Result<(), StepFailure> {
        for (index, statement) in statements(m, direction).iter().enumerate() {
            debug!(version = m.version, %direction, line = statement.line, "statement");
            self.engine
                .execute(&statement.sql)
                .map_err(|e| StepFailure {
                    statements_kept: index,
                    ..failure(Some(index), e)
                })?;
        }
        Ok(())
    }

    /// PostgreSQL: the migration's own transaction (or its savepoint in the run transaction), one round
    /// trip: see [`Session::transaction_attempt`]. A lock timeout rolls it back and retries with backoff.
    fn in_own_transaction(
        &mut self,
        m: &Migration,
        direction: Direction,
    ) -> Result<Duration, StepError> {
        let started = Instant::now();
        if self.run == RunTransaction::Optimistic {
            return match self.transaction_attempt(m, direction, false) {
                Ok(Ok(())) => Ok(started.elapsed()),
                Ok(Err(failed)) => Err(self.undo_optimistic_run(m, &failed.error.to_string())),
                Err(e) => Err(self.undo_optimistic_run(m, &step_error_text(&e))),
            };
        }
        let mut attempt = 0u32;
        loop {
            // A retry goes a statement at a time: when it fails too, its error names the statement
            // (a deadlock cannot be found again by replaying once the server broke it).
            match self.transaction_attempt(m, direction, attempt > 0)? {
                Ok(()) => return Ok(started.elapsed()),
                Err(AttemptFailure { error: e, .. })
                    if matches!(e.kind, DbErrorKind::LockTimeout | DbErrorKind::Conflict)
                        && attempt < self.lock_retries =>
                {
                    let backoff = FIRST_BACKOFF
                        .saturating_mul(1u32 << attempt.min(16))
                        .min(MAX_BACKOFF)
                        .mul_f64(self.jitter());
                    attempt += 1;
                    let tables: Vec<&str> = m.tables.iter().map(|t| t.as_ref()).collect();
                    let blockers = self.engine.diagnose(&e, &tables);
                    warn!(
                        version = m.version,
                        attempt,
                        retries = self.lock_retries,
                        backoff_ms = backoff.as_millis() as u64,
                        blockers = blockers.as_deref().unwrap_or("unknown"),
                        error = %e.message,
                        "lock timeout or conflict (deadlock, serialization failure); the migration was rolled back and will be retried"
                    );
                    std::thread::sleep(backoff);
                    self.check_lock()?;
                }
                Err(AttemptFailure { error: e, index }) => {
                    let index =
                        index.or_else(|| self.find_failing_statement(statements(m, direction)));
                    let tables: Vec<&str> = m.tables.iter().map(|t| t.as_ref()).collect();
                    let mut diagnosis = self.engine.diagnose(&e, &tables);
                    if e.kind == DbErrorKind::Conflict {
                        diagnosis = Some(format!(
                            "the server ended the migration's transaction on a conflict with another transaction (a deadlock, or a serialization failure), {} time(s) with backoff; {}. What to do: find the transactions that lock the same tables in another order (the server's log names them), or migrate at a quieter time",
                            attempt + 1,
                            diagnosis.unwrap_or_else(|| "no other session holds a lock on the migration's tables now".to_string())
                        ));
                    } else if e.kind == DbErrorKind::LockTimeout {
                        diagnosis = Some(format!(
                            "lock_timeout {} ms, {} attempt(s) with backoff; {}. What to do: find the long transaction holding the lock and end it, or migrate at a quieter time",
                            self.lock_timeout.as_millis(),
                            attempt + 1,
                            diagnosis.unwrap_or_else(|| "no other session holds a lock on the migration's tables now".to_string())
                        ));
                    }
                    return Err(StepError::Failed(StepFailure {
                        diagnosis,
                        ..failure(index, e)
                    }));
                }
            }
        }
    }

    /// After a failure in an optimistic run transaction, which [`Session::transaction_attempt`] rolled
    /// back whole (its `undo` is `ROLLBACK` there, sent on every failure): the migrations it held are
    /// not applied, and the session goes on a transaction per migration.
    fn undo_optimistic_run(&mut self, m: &Migration, what: &str) -> StepError {
        self.run = RunTransaction::Off;
        let undone = self
            .completed
            .len()
            .saturating_sub(self.completed_before_run);
        self.completed.truncate(self.completed_before_run);
        warn!(
            version = m.version,
            undone,
            error = what,
            "the run's one transaction met a failure and was rolled back; its migrations are applied again, a transaction each"
        );
        StepError::RunUndone { undone }
    }

    /// One attempt: `BEGIN`, the timeouts and the transaction lock (in the run transaction: a
    /// `SAVEPOINT`), the claim guarded so that the batch stops when it affects no row, the statements,
    /// the history write and the log row, `COMMIT` (`RELEASE`). Sent as one batch, or, when
    /// `one_by_one` (a retry after a lock timeout or a conflict, see [`Session::in_own_transaction`]),
    /// a round trip per statement, so that a failure names its statement even when replaying it later
    /// cannot (a deadlock is gone once the server broke it). `Ok(Err(_))` is a failure of the migration
    /// (rolled back) with the failing statement's index when known, `Err` anything else.
    fn transaction_attempt(
        &mut self,
        m: &Migration,
        direction: Direction,
        one_by_one: bool,
    ) -> Result<Result<(), AttemptFailure>, StepError> {
        let unguarded = self.run == RunTransaction::Open && !self.step_savepoints;
        let (mut batch, close, undo) = match self.run {
            RunTransaction::Open if unguarded => (String::new(), "", ""),
            RunTransaction::Open => (
                "SAVEPOINT migrator_step".to_string(),
                "RELEASE migrator_step",
                "ROLLBACK TO migrator_step; RELEASE migrator_step",
            ),
            RunTransaction::Optimistic => (String::new(), "", "ROLLBACK"),
            // A transaction that takes the migration lock itself needs no per-transaction lock beside
            // it: a successor waits on the migration lock until this transaction ends.
            RunTransaction::Undecided | RunTransaction::Off => match self.transaction_lock(m) {
                Some(lock) => (
                    format!(
                        "{}; {lock};\n{}",
                        self.engine.dialect().begin,
                        self.opening(false)
                    ),
                    "COMMIT",
                    "ROLLBACK",
                ),
                None => (self.open_sql(true), "COMMIT", "ROLLBACK"),
            },
        };
        batch.push_str(";\n");
        let attempt = Attempt {
            m,
            direction,
            undo,
            unguarded,
        };
        let dialect = self.engine.dialect();
        let status = Self::claim_status(direction, true);
        let guarded = self
            .history
            .claim_sql(dialect, m, direction, status)
            .and_then(|claim| self.engine.guarded_sql(&claim, CLAIM_TAKEN));
        match guarded {
            Some(claim) => {
                batch.push_str(&claim);
                batch.push_str(";\n");
            }
            None => {
                // The engine cannot guard the claim: it gets a round trip of its own.
                if let Err(e) = self.engine.execute(&batch) {
                    return self.attempt_failed(&attempt, e, None);
                }
                let claimed = match self.history.claim(self.engine, m, direction, status) {
                    Ok(claimed) => claimed,
                    Err(e) if unguarded => return Err(StepError::Aborted(e.to_string())),
                    Err(e) => {
                        let _ = self.engine.execute(undo);
                        return Err(e.into());
                    }
                };
                if !claimed {
                    if unguarded {
                        return Err(StepError::Aborted("claimed by another process".into()));
                    }
                    let _ = self.engine.execute(undo);
                    return Err(self.already_done(m, direction));
                }
                batch.clear();
            }
        }
        if one_by_one {
            return self.attempt_one_by_one(&attempt, &batch, close);
        }
        let ms = dialect.elapsed_ms.unwrap_or("NULL");
        let mut finish =
            self.history
                .finish_sql(dialect, m, direction, true, ms, self.note.as_deref());
        finish.push_str(";\n");
        finish.push_str(close);
        for statement in statements(m, direction) {
            batch.push_str(&statement.sql);
            batch.push_str("\n;\n");
        }
        batch.push_str(&finish);
        match self.engine.execute(&batch) {
            Ok(()) => Ok(Ok(())),
            Err(e) => self.attempt_failed(&attempt, e, None),
        }
    }

    /// [`Session::transaction_attempt`] a round trip at a time: the opening with the claim, each
    /// statement, then the history write (its duration measured here: the server's
    /// `statement_timestamp()` would be the last round trip's) with `close`.
    fn attempt_one_by_one(
        &mut self,
        attempt: &Attempt<'_>,
        opening: &str,
        close: &str,
    ) -> Result<Result<(), AttemptFailure>, StepError> {
        debug!(
            version = attempt.m.version,
            "a retry: the migration's statements are sent one at a time"
        );
        let started = Instant::now();
        let sent = self
            .engine
            .execute(opening)
            .map_err(|e| (e, None))
            .and_then(|()| {
                self.run_one_by_one(attempt.m, attempt.direction)
                    .map_err(|f| (*f.error, f.index))
            })
            .and_then(|()| {
                let ms = started.elapsed().as_millis().to_string();
                let finish = self.history.finish_sql(
                    self.engine.dialect(),
                    attempt.m,
                    attempt.direction,
                    true,
                    &ms,
                    self.note.as_deref(),
                );
                self.engine
                    .execute(&format!("{finish};\n{close}"))
                    .map_err(|e| (e, None))
            });
        match sent {
            Ok(()) => Ok(Ok(())),
            Err((e, index)) => self.attempt_failed(attempt, e, index),
        }
    }

    /// A failed attempt: rolled back (unless it ran without its savepoint), then told apart: the claim
    /// found another process's row, the transaction could not take the lock, or the migration failed.
    fn attempt_failed(
        &mut self,
        attempt: &Attempt<'_>,
        error: DbError,
        index: Option<usize>,
    ) -> Result<Result<(), AttemptFailure>, StepError> {
        let m = attempt.m;
        if attempt.unguarded {
            debug!(version = m.version, error = %error, "a migration without its savepoint failed");
            return Err(StepError::Aborted(error.to_string()));
        }
        if let Err(r) = self.engine.execute(attempt.undo) {
            debug!(error = %r, "rolling back a failed migration");
        }
        if error.message.contains(CLAIM_TAKEN) {
            return Err(self.already_done(m, attempt.direction));
        }
        if error.message.contains(NOT_LOCKED) {
            debug!(version = m.version, error = %error.message, "the migration's transaction did not take the lock");
            return Err(StepError::NotLocked);
        }
        Ok(Err(AttemptFailure { error, index }))
    }

    /// After a failed batch: replays the statements one by one inside a transaction that is rolled
    /// back, to name the one that fails.
    fn find_failing_statement(&mut self, statements: &[crate::Statement]) -> Option<usize> {
        let (open, undo) = if self.run == RunTransaction::Open {
            (
                "SAVEPOINT migrator_replay".to_string(),
                "ROLLBACK TO migrator_replay; RELEASE migrator_replay",
            )
        } else {
            (self.open_sql(false), "ROLLBACK")
        };
        if self.engine.execute(&open).is_err() {
            let _ = self.engine.execute(undo);
            return None;
        }
        let found = statements
            .iter()
            .position(|s| self.engine.execute(&s.sql).is_err());
        if let Err(e) = self.engine.execute(undo) {
            warn!(error = %e, "rolling back the replay failed");
        }
        found
    }

    /// No transaction: a committed `running` row, the statements one by one in autocommit mode, the
    /// final status at the end. A run transaction (SQLite) is committed first and opened again after.
    fn without_transaction(
        &mut self,
        m: &Migration,
        direction: Direction,
    ) -> Result<Duration, StepError> {
        let db = |what: &str, e: DbError| Error::Database {
            context: what.to_string(),
            source: e,
        };
        let dialect = self.engine.dialect();
        let run_transaction = dialect.atomicity == Atomicity::RunTransaction || self.nested;
        if run_transaction {
            self.engine
                .execute("COMMIT")
                .map_err(|e| db("committing the run before a no-transaction migration", e))?;
        }
        let result = self.statements_in_autocommit(m, direction);
        if run_transaction {
            self.engine
                .execute(dialect.begin)
                .map_err(|e| db("resuming the run after a no-transaction migration", e))?;
        }
        result
    }

    fn statements_in_autocommit(
        &mut self,
        m: &Migration,
        direction: Direction,
    ) -> Result<Duration, StepError> {
        self.under_session_timeouts("for a no-transaction migration", |session| {
            session.claimed_in_autocommit(m, direction)
        })
    }

    fn claimed_in_autocommit(
        &mut self,
        m: &Migration,
        direction: Direction,
    ) -> Result<Duration, StepError> {
        if !self
            .history
            .claim(self.engine, m, direction, Status::Running)?
        {
            return Err(self.already_done(m, direction));
        }
        let started = Instant::now();
        let mut outcome = self.run_one_by_one(m, direction);
        let took = started.elapsed();
        if outcome.is_ok() {
            let finish = self.history.finish_sql(
                self.engine.dialect(),
                m,
                direction,
                false,
                &took.as_millis().to_string(),
                self.note.as_deref(),
            );
            outcome = self.engine.execute(&finish).map_err(|e| StepFailure {
                statements_kept: statements(m, direction).len(),
                ..failure(None, e)
            });
        }
        match outcome {
            Ok(()) => Ok(took),
            Err(mut failed) => {
                let tables: Vec<&str> = m.tables.iter().map(|t| t.as_ref()).collect();
                failed.diagnosis = self.engine.diagnose(&failed.error, &tables);
                Err(StepError::Failed(failed))
            }
        }
    }

    /// A factor in [0.5, 1.5) (xorshift; jitter does not need a good generator).
    fn jitter(&mut self) -> f64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        0.5 + (self.rng >> 11) as f64 / (1u64 << 53) as f64
    }
}

impl Drop for Session<'_> {
    fn drop(&mut self) {
        // An early return or a panic in the middle of a run: nothing half-done is committed.
        if let Err(e) = self.close(false) {
            warn!(error = %e, "ending an abandoned run");
        }
    }
}

/// `true` when none of `migrations` runs outside a transaction (`no-transaction`) or in batches of its
/// own (a backfill): a run of them can be one transaction.
pub(crate) fn all_in_a_transaction<'m>(
    migrations: impl IntoIterator<Item = &'m Migration>,
) -> bool {
    migrations
        .into_iter()
        .all(|m| !m.no_transaction && m.backfill.is_none())
}

/// What [`Session::transaction_attempt`] keeps for telling a failure apart and undoing it.
struct Attempt<'m> {
    m: &'m Migration,
    direction: Direction,
    /// The SQL that rolls the attempt back.
    undo: &'static str,
    /// In an open run transaction without a savepoint per migration: a failure aborts the run.
    unguarded: bool,
}

/// A migration's attempt that failed and was rolled back.
struct AttemptFailure {
    error: DbError,
    /// 0-based index of the statement that failed, when the attempt knows it.
    index: Option<usize>,
}

fn failure(index: Option<usize>, error: DbError) -> StepFailure {
    StepFailure {
        index,
        error: Box::new(error),
        run_rolled_back: false,
        statements_kept: 0,
        diagnosis: None,
    }
}

/// The statements of a section.
pub(crate) fn statements(m: &Migration, direction: Direction) -> &[crate::Statement] {
    match direction {
        Direction::Up => &m.up[..],
        Direction::Down => m.down.as_deref().unwrap_or(&[]),
    }
}

/// What a [`StepError`] says, for a log line.
fn step_error_text(e: &StepError) -> String {
    match e {
        StepError::Failed(failed) => failed.error.to_string(),
        StepError::Other(e) => e.to_string(),
        StepError::RunUndone { undone } => {
            format!("the run's transaction was rolled back ({undone} migration(s) undone)")
        }
        StepError::Aborted(error) => {
            format!("the transaction was aborted with no savepoint to go back to: {error}")
        }
        StepError::NotLocked => {
            "the migration's transaction could not take the migration lock".to_string()
        }
    }
}

/// The error a failed migration becomes, naming file, statement, line and the database's full message.
pub(crate) fn migration_error(
    m: &Migration,
    direction: Direction,
    failed: StepFailure,
    completed: Vec<u64>,
    engine: &'static str,
    without_transaction: bool,
) -> Error {
    let statements = statements(m, direction);
    let statement = failed.index.and_then(|i| statements.get(i));
    Error::Migration(Box::new(MigrationError {
        version: m.version,
        file: m.file_name.to_string(),
        issue: m.issue,
        direction,
        statement_index: failed.index.map_or(0, |i| i + 1),
        statement_count: statements.len(),
        line: statement.map_or(0, |s| s.line),
        sql: statement.map(|s| shorten(&s.sql)).unwrap_or_default(),
        db_error: *failed.error,
        diagnosis: failed.diagnosis,
        completed: if failed.run_rolled_back {
            Vec::new()
        } else {
            completed
        },
        run_rolled_back: failed.run_rolled_back,
        without_transaction,
        statements_kept: failed.statements_kept,
        engine,
    }))
}

/// A statement cut to a readable length.
pub(crate) fn shorten(sql: &str) -> String {
    const MAX: usize = 600;
    if sql.len() <= MAX {
        return sql.to_string();
    }
    let mut end = MAX;
    while !sql.is_char_boundary(end) {
        end -= 1;
    }
    format!("{} ...", &sql[..end])
}
