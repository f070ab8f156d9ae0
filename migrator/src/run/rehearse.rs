//! Rehearsal on a scratch copy (the spec's "test migration on copy of production schema", policy
//! `require_test_run`): before the real database is touched, the migrations run on a throwaway copy of it.
//! Each one, in order: its UP; then its DOWN, which must bring the schema back to what it was before the
//! UP; then its UP again, which must apply cleanly after the DOWN and build the same schema. The health
//! checks run after the last one.
//!
//! A rehearsal reports **everything** it finds, not the first problem: where the engine can undo DDL
//! (SQLite, PostgreSQL), the DOWN and the UP again of each migration run under a savepoint, and a DOWN that
//! fails or does not restore the schema is recorded and undone, so the next migration is rehearsed on the
//! state it expects. (MySQL cannot undo DDL: there the first problem ends the rehearsal.) Migrations that are
//! history ([`crate::Config::is_history`]) only have their UP run on the copy.
//!
//! `Migrator::rehearse` covers what is pending; `Migrator::rehearse_all` every migration of the set, on an
//! empty scratch database.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use tracing::{debug, info, info_span, warn};

use super::session::{Session, StepError};
use crate::engine::{Atomicity, CopyFrom, Direction, Engine, SchemaObject};
use crate::{Error, Migration, Migrator};

/// A step of a rehearsal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RehearsalPhase {
    /// The UP on the copy.
    Up,
    /// The health checks after all UPs.
    HealthChecks,
    /// The DOWN, which must restore the schema from before the UP.
    Down,
    /// The UP again after the DOWN, which must rebuild the same schema.
    UpAgain,
}

impl RehearsalPhase {
    /// What to do when this step fails.
    pub fn advice(self) -> &'static str {
        match self {
            RehearsalPhase::Up => "fix the UP (it fails on a copy of this database's schema and data) and build again",
            RehearsalPhase::HealthChecks => "the migrations leave the database unhealthy (see the problems above): fix them, or the health check",
            RehearsalPhase::Down => "make the DOWN undo exactly what the UP did (the objects above differ from before the UP), or mark the migration irreversible with an empty DOWN section",
            RehearsalPhase::UpAgain => "the UP does not apply again after its DOWN: the DOWN leaves something behind (data or objects) that the UP trips over; make the DOWN complete",
        }
    }
}

impl std::fmt::Display for RehearsalPhase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RehearsalPhase::Up => "UP",
            RehearsalPhase::HealthChecks => "health checks",
            RehearsalPhase::Down => "DOWN",
            RehearsalPhase::UpAgain => "UP again",
        })
    }
}

/// One timed step of a rehearsal.
#[derive(Debug, Clone)]
pub struct RehearsalStep {
    /// The migration.
    pub version: u64,
    /// Its file.
    pub file: String,
    /// Which step.
    pub phase: RehearsalPhase,
    /// How long it took on the copy (a measurement the preview shows as measured).
    pub duration: Duration,
}

/// A problem the rehearsal found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RehearsalFinding {
    /// The migration.
    pub version: u64,
    /// Its file.
    pub file: String,
    /// Which step.
    pub phase: RehearsalPhase,
    /// What went wrong (the statement and the database's message for a failing one).
    pub detail: String,
    /// For a DOWN that does not restore the schema (or an UP again that does not rebuild it): the objects
    /// that differ, each with its diff.
    pub differences: Vec<String>,
}

impl std::fmt::Display for RehearsalFinding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} of {} (version {}): {}",
            self.phase, self.file, self.version, self.detail
        )?;
        for d in &self.differences {
            write!(f, "\n  - {}", d.replace('\n', "\n    "))?;
        }
        write!(f, "\n  what to do: {}", self.phase.advice())
    }
}

/// What a rehearsal did and found.
#[derive(Debug, Clone, Default)]
pub struct Rehearsal {
    /// Every step, in the order it ran.
    pub steps: Vec<RehearsalStep>,
    /// Migrations whose rollback could not be rehearsed, and why (no DOWN, an irreversible one, history),
    /// and DOWNs that restored every object but not the column order.
    pub unverified: Vec<String>,
    /// Every problem found, in order; empty when the rehearsal passed.
    pub findings: Vec<RehearsalFinding>,
    /// Wall time, copy included.
    pub took: Duration,
    /// `true` when it ran in the boot's own transaction (SQLite, a fresh PostgreSQL database) instead of
    /// on a scratch copy: its UPs were the real apply.
    pub in_place: bool,
    /// `true` when the DOWNs ran newest first after all the UPs and no UP ran again: the short path for
    /// a fresh database and migrations that only change the schema, where the UP again cannot find
    /// anything (see `run/down_chain.rs`).
    pub down_chain: bool,
    /// How many migrations had their DOWN and UP again rehearsed on a copy of the schema without rows,
    /// their statements being ones the rows cannot change (see `run/schema_copy.rs`).
    pub on_schema_copy: usize,
}

impl Rehearsal {
    /// The measured time of a migration's first UP on the copy.
    pub fn up_time(&self, version: u64) -> Option<Duration> {
        self.steps
            .iter()
            .find(|s| s.version == version && s.phase == RehearsalPhase::Up)
            .map(|s| s.duration)
    }

    /// `Err(Error::Rehearsal)` listing every finding, or the rehearsal when it passed.
    fn verdict(self, rehearsed: usize, place: &'static str) -> Result<Rehearsal, Error> {
        if !self.findings.is_empty() {
            return Err(Error::Rehearsal {
                place,
                findings: self.findings,
                rehearsed,
            });
        }
        info!(
            took_ms = self.took.as_millis() as u64,
            steps = self.steps.len(),
            unverified = self.unverified.len(),
            place,
            "rehearsal passed"
        );
        Ok(self)
    }

    pub(super) fn push(&mut self, m: &Migration, phase: RehearsalPhase, duration: Duration) {
        self.steps.push(RehearsalStep {
            version: m.version,
            file: m.file_name.to_string(),
            phase,
            duration,
        });
    }

    pub(super) fn found(
        &mut self,
        m: &Migration,
        phase: RehearsalPhase,
        detail: String,
        differences: Vec<String>,
    ) {
        warn!(version = m.version, %phase, differences = differences.len(), "rehearsal found a problem");
        self.findings.push(RehearsalFinding {
            version: m.version,
            file: m.file_name.to_string(),
            phase,
            detail,
            differences,
        });
    }
}

/// How a migration's rehearsal ended.
enum Outcome {
    /// Rehearsed (or found problems that were undone): the next migration can go on.
    Continue,
    /// The copy is not in the state the next migration expects: the rehearsal stops.
    Stop,
}

impl<'s> Migrator<'s> {
    /// Rehearses what is pending on a scratch copy of the database behind `engine` and throws the copy
    /// away; the database itself is only read. Refuses as the boot would (validation, review) before
    /// copying anything; a migration recorded `running` that another process may be applying right now is
    /// judged, as the boot judges it, once the migration lock was free (waited for up to `lock_wait`, then
    /// given back). With nothing pending it returns an empty rehearsal; with findings
    /// it returns [`Error::Rehearsal`] listing every one.
    pub fn rehearse(&self, engine: &mut dyn Engine) -> Result<Rehearsal, Error> {
        let set = self.set_for(engine.dialect().kind);
        let atomic = engine.dialect().atomicity != Atomicity::None;
        let (_, plan) = self.plan_before_the_lock(engine, set, atomic, false)?;
        self.check_review(&plan.pending)?;
        if plan.pending.is_empty() {
            return Ok(Rehearsal::default());
        }
        self.rehearse_on_copy(engine, &plan.pending, CopyFrom::Current)
    }

    /// Rehearses every migration of the set, from an empty scratch database of the engine in hand: the
    /// whole history's DOWNs checked in one run. The database itself is not read beyond its engine.
    pub fn rehearse_all(&self, engine: &mut dyn Engine) -> Result<Rehearsal, Error> {
        let set = self.set_for(engine.dialect().kind);
        let all: Vec<&Migration> = set.migrations().iter().collect();
        if all.is_empty() {
            return Ok(Rehearsal::default());
        }
        self.rehearse_on_copy(engine, &all, CopyFrom::Empty)
    }

    /// Runs the rehearsal of `migrations` on a scratch copy made `from` a backup, the current state or
    /// nothing; `Err(Error::Rehearsal)` when it found anything.
    pub(crate) fn rehearse_on_copy(
        &self,
        engine: &mut dyn Engine,
        migrations: &[&Migration],
        from: CopyFrom<'_>,
    ) -> Result<Rehearsal, Error> {
        let _span = info_span!("migrator.rehearse", migrations = migrations.len()).entered();
        let started = Instant::now();
        let mut rehearsal = Rehearsal::default();
        let kind = engine.dialect().kind;
        let scratch = engine.scratch().ok_or(Error::MissingCapability {
            engine: kind.name(),
            capability: "scratch copies",
            setting: "require_test_run",
        })?;
        scratch.with_scratch_copy(from, &mut |copy| {
            let mut session = Session::begin_nested(copy, self.config())?;
            // The copy is thrown away: nothing of it needs keeping.
            // The whole history from empty (`rehearse_all`) is asked for its DOWNs: history is
            // rehearsed in full there; a boot's rehearsal runs history's UPs only.
            let whole_history = matches!(from, CopyFrom::Empty);
            let outcome = self.rehearse_steps(
                &mut session,
                migrations,
                whole_history,
                &mut rehearsal,
                false,
            );
            let _ = session.end(false);
            outcome
        })?;
        rehearsal.took = started.elapsed();
        rehearsal.verdict(migrations.len(), "on a scratch copy")
    }

    /// `true` when the boot can rehearse `pending` in its own run transaction (see
    /// [`Migrator::rehearse_in_place`]): every pending migration runs inside that transaction (no
    /// `no-transaction` migration, no backfill), and the run is a copy nobody else sees: the engine says
    /// so (SQLite), or the run on a fresh database is one transaction (PostgreSQL), opened here.
    pub(crate) fn can_rehearse_in_place(
        &self,
        session: &mut Session<'_>,
        pending: &[&Migration],
    ) -> Result<bool, Error> {
        if !super::session::all_in_a_transaction(pending.iter().copied()) {
            return Ok(false);
        }
        if session.commits_once_unseen(pending) {
            return Ok(true);
        }
        session.open_fresh_run()
    }

    /// The boot's rehearsal when the run's transaction stands in for the scratch copy (the engine says
    /// so: [`crate::engine::ScratchCopy::run_is_a_copy`]): the same steps as on a copy, on the database
    /// itself, before anything commits. Each migration's UP is its real apply (claim and history
    /// included); its DOWN and UP again run under a savepoint that is always rolled back, so the run goes
    /// on from exactly the state the UP left, data included; the health checks run at the end, in the
    /// transaction. No copy of the database is made. On a finding (or any error) all of it is rolled back
    /// to the state after the history tables were made, so the database is as untouched as after a
    /// rehearsal on a copy.
    pub(crate) fn rehearse_in_place(
        &self,
        session: &mut Session<'_>,
        migrations: &[&Migration],
    ) -> Result<Rehearsal, Error> {
        let _span = info_span!(
            "migrator.rehearse",
            migrations = migrations.len(),
            in_place = true
        )
        .entered();
        let started = Instant::now();
        let mut rehearsal = Rehearsal {
            in_place: true,
            ..Rehearsal::default()
        };
        // The history tables (made when the run began) stay; what the migrations did goes on a finding.
        session
            .engine
            .execute("SAVEPOINT migrator_run")
            .map_err(|e| Error::Database {
                context: "opening the rehearsal's savepoint".into(),
                source: e,
            })?;
        let outcome = if self.down_chain_suffices(session, migrations)? {
            rehearsal.down_chain = true;
            self.rehearse_down_chain(session, migrations, &mut rehearsal)
                .and_then(|()| self.recheck_broken_downs(session, migrations, &mut rehearsal))
        } else {
            self.rehearse_steps(session, migrations, false, &mut rehearsal, true)
        };
        if outcome.is_err() || !rehearsal.findings.is_empty() {
            if session
                .engine
                .execute("ROLLBACK TO migrator_run; RELEASE migrator_run")
                .is_err()
            {
                // The database ended the transaction itself: nothing of the run may stay.
                let _ = session.engine.execute("ROLLBACK");
            }
            session.completed.clear();
            outcome?;
            return rehearsal.verdict(migrations.len(), "in the run's transaction");
        }
        session
            .engine
            .execute("RELEASE migrator_run")
            .map_err(|e| Error::Database {
                context: "closing the rehearsal's savepoint".into(),
                source: e,
            })?;
        rehearsal.took = started.elapsed();
        rehearsal.verdict(migrations.len(), "in the run's transaction")
    }

    /// When the short path found a DOWN that does not work, the general rehearsal runs from the start
    /// of the run, so that the findings are those it reports (every broken DOWN, each checked right after
    /// its UP, and the UP again); if it finds nothing, the short path's findings stand (the DOWNs newest
    /// first, as a rollback of the whole run would run them, do not restore the schema).
    fn recheck_broken_downs(
        &self,
        session: &mut Session<'_>,
        migrations: &[&Migration],
        rehearsal: &mut Rehearsal,
    ) -> Result<(), Error> {
        if !rehearsal
            .findings
            .iter()
            .any(|f| f.phase == RehearsalPhase::Down)
        {
            return Ok(());
        }
        info!("a DOWN failed its check: rehearsing again migration by migration, to report every finding");
        session
            .engine
            .execute("ROLLBACK TO migrator_run")
            .map_err(|e| Error::Database {
                context: "undoing the rehearsal's first pass".into(),
                source: e,
            })?;
        session.completed.clear();
        let mut general = Rehearsal {
            in_place: true,
            ..Rehearsal::default()
        };
        self.rehearse_steps(session, migrations, false, &mut general, true)?;
        if !general.findings.is_empty() {
            *rehearsal = general;
        }
        Ok(())
    }

    /// The steps of a rehearsal; `whole_history` rehearses history's DOWNs too (`rehearse_all`), `in_place`
    /// when `scratch` is the real run (the state after each UP is kept exactly: see
    /// [`Migrator::rehearse_in_place`]).
    fn rehearse_steps(
        &self,
        scratch: &mut Session<'_>,
        migrations: &[&Migration],
        whole_history: bool,
        rehearsal: &mut Rehearsal,
        in_place: bool,
    ) -> Result<(), Error> {
        for m in migrations {
            if in_place {
                self.unless_stopped(m)?;
            }
            let outcome = if !whole_history && self.config().is_history(m) {
                self.history_step(scratch, m, rehearsal)?
            } else {
                self.full_step(scratch, m, rehearsal, in_place)?
            };
            if let Outcome::Stop = outcome {
                let rest = migrations.len()
                    - rehearsal
                        .steps
                        .iter()
                        .filter(|s| s.phase == RehearsalPhase::Up)
                        .count();
                if rest > 0 {
                    rehearsal.unverified.push(format!("{rest} later migration(s) not rehearsed: the copy could not be brought back after the problem above"));
                }
                return Ok(());
            }
        }
        self.health_step(scratch, migrations, rehearsal)
    }

    /// `Err(Error::Stopped)` when a stop was requested, before migration `m` of an in-place rehearsal
    /// (whose rollback leaves all of the run pending).
    pub(super) fn unless_stopped(&self, m: &Migration) -> Result<(), Error> {
        if !self.config().stop.is_stopped() {
            return Ok(());
        }
        Err(Error::Stopped(format!(
            "stopped on request before migration {} ({}), during the rehearsal: nothing of this run stays, all of it is pending",
            m.version, m.file_name
        )))
    }

    /// The health checks after the last UP, recorded as a step of the last migration.
    pub(super) fn health_step(
        &self,
        scratch: &mut Session<'_>,
        migrations: &[&Migration],
        rehearsal: &mut Rehearsal,
    ) -> Result<(), Error> {
        let started = Instant::now();
        let problems =
            self.health_problems(scratch.engine, migrations, super::health::Ran::UpAndDown)?;
        if let Some(last) = migrations.last() {
            if problems.is_empty() {
                rehearsal.push(last, RehearsalPhase::HealthChecks, started.elapsed());
            } else {
                rehearsal.found(
                    last,
                    RehearsalPhase::HealthChecks,
                    problems.join("; "),
                    Vec::new(),
                );
            }
        }
        Ok(())
    }

    /// A migration that is history: its UP on the copy, nothing else.
    fn history_step(
        &self,
        scratch: &mut Session<'_>,
        m: &Migration,
        rehearsal: &mut Rehearsal,
    ) -> Result<Outcome, Error> {
        match self.rehearse_one(scratch, m, Direction::Up)? {
            Ok(took) => {
                rehearsal.push(m, RehearsalPhase::Up, took);
                Ok(Outcome::Continue)
            }
            Err(detail) => {
                rehearsal.found(m, RehearsalPhase::Up, detail, Vec::new());
                Ok(Outcome::Stop)
            }
        }
    }

    /// A migration's UP, DOWN and UP again, each compared with the schema it must leave; the DOWN and
    /// the UP again under a savepoint where the engine can undo them.
    fn full_step(
        &self,
        scratch: &mut Session<'_>,
        m: &Migration,
        rehearsal: &mut Rehearsal,
        in_place: bool,
    ) -> Result<Outcome, Error> {
        let named = objects_named(m);
        let scope: Vec<&str> = named.iter().map(String::as_str).collect();
        let unattached = may_change_unattached(m);
        let before = schema_of(self.fingerprint(scratch, Some(&scope), unattached)?);
        let took = match self.rehearse_one(scratch, m, Direction::Up)? {
            Ok(took) => took,
            Err(detail) => {
                rehearsal.found(m, RehearsalPhase::Up, detail, Vec::new());
                return Ok(Outcome::Stop);
            }
        };
        rehearsal.push(m, RehearsalPhase::Up, took);
        match m.down_kind() {
            migrator_format::DownKind::Missing => {
                rehearsal.unverified.push(format!(
                    "{} has no DOWN: its rollback was not rehearsed",
                    m.file_name
                ));
                return Ok(Outcome::Continue);
            }
            migrator_format::DownKind::Irreversible => {
                rehearsal.unverified.push(format!(
                    "{} is irreversible (its DOWN is empty): nothing to rehearse",
                    m.file_name
                ));
                return Ok(Outcome::Continue);
            }
            migrator_format::DownKind::Statements => {}
        }
        let after_up = schema_of(self.fingerprint(scratch, Some(&scope), unattached)?);
        let up_change = changes(&before, &after_up);
        if in_place && self.rows_cannot_change_the_rollback(m) {
            let on_copy = self.down_and_up_again_on_schema_copy(
                scratch,
                m,
                &scope,
                (&after_up, &up_change),
                rehearsal,
            )?;
            if let Some(problem) = on_copy {
                // The run's transaction holds the UP and nothing else: nothing to undo in place.
                if let Some((phase, detail, differences)) = problem {
                    rehearsal.found(m, phase, detail, differences);
                }
                return Ok(Outcome::Continue);
            }
        }
        let undoable = scratch.can_undo() && !m.no_transaction;
        if undoable {
            scratch
                .engine
                .execute("SAVEPOINT migrator_rehearse")
                .map_err(|e| Error::Database {
                    context: "opening the rehearsal's savepoint".into(),
                    source: e,
                })?;
        }
        let completed = scratch.completed.len();
        let problem =
            self.down_and_up_again(scratch, m, &scope, (&after_up, &up_change), rehearsal)?;
        if let Some((phase, detail, differences)) = problem {
            rehearsal.found(m, phase, detail, differences);
            if !undoable {
                return Ok(Outcome::Stop);
            }
        } else if !in_place {
            if undoable {
                let _ = scratch.engine.execute("RELEASE migrator_rehearse");
            }
            return Ok(Outcome::Continue);
        }
        // Back to the state after the UP, for the migrations that follow (in place: always, so the run
        // keeps what the UP did, not what the DOWN and the UP again left).
        scratch
            .engine
            .execute("ROLLBACK TO migrator_rehearse; RELEASE migrator_rehearse")
            .map_err(|e| Error::Database {
                context: "undoing a DOWN on the rehearsal copy".into(),
                source: e,
            })?;
        scratch.completed.truncate(completed);
        Ok(Outcome::Continue)
    }

    /// The DOWN and the UP again; `Some` with the first problem.
    #[allow(clippy::type_complexity)]
    pub(super) fn down_and_up_again(
        &self,
        scratch: &mut Session<'_>,
        m: &Migration,
        scope: &[&str],
        (before_down, up_change): (&Schema, &[Change]),
        rehearsal: &mut Rehearsal,
    ) -> Result<Option<(RehearsalPhase, String, Vec<String>)>, Error> {
        match self.rehearse_one(scratch, m, Direction::Down)? {
            Ok(took) => rehearsal.push(m, RehearsalPhase::Down, took),
            Err(detail) => return Ok(Some((RehearsalPhase::Down, detail, Vec::new()))),
        }
        let unattached = may_change_unattached(m);
        let after_down = schema_of(self.fingerprint(scratch, Some(scope), unattached)?);
        let wrong = unexpected(&changes(before_down, &after_down), up_change, |c| &c.before);
        let wrong = order_only_noted(m, wrong, rehearsal);
        if !wrong.is_empty() {
            let detail = "the DOWN does not restore the schema from before the UP".to_string();
            return Ok(Some((RehearsalPhase::Down, detail, wrong)));
        }
        match self.rehearse_one(scratch, m, Direction::Up)? {
            Ok(took) => rehearsal.push(m, RehearsalPhase::UpAgain, took),
            Err(detail) => return Ok(Some((RehearsalPhase::UpAgain, detail, Vec::new()))),
        }
        let again = schema_of(self.fingerprint(scratch, Some(scope), unattached)?);
        let wrong = unexpected(&changes(&after_down, &again), up_change, |c| &c.after);
        let wrong = order_only_noted(m, wrong, rehearsal);
        if !wrong.is_empty() {
            let detail =
                "the UP applied after its DOWN builds a different schema than the first time"
                    .to_string();
            return Ok(Some((RehearsalPhase::UpAgain, detail, wrong)));
        }
        Ok(None)
    }

    /// One migration in one direction on the copy: `Ok(Err(detail))` when the migration failed there.
    pub(super) fn rehearse_one(
        &self,
        scratch: &mut Session<'_>,
        m: &Migration,
        direction: Direction,
    ) -> Result<Result<Duration, String>, Error> {
        debug!(version = m.version, %direction, "rehearsing");
        let outcome = scratch.apply(m, direction);
        self.rehearsal_outcome(scratch, m, direction, outcome)
    }

    /// A rehearsed step's outcome: `Ok(Err(detail))` when the migration failed (the statement, its line
    /// and the database's message), `Err` for anything else.
    pub(super) fn rehearsal_outcome(
        &self,
        scratch: &mut Session<'_>,
        m: &Migration,
        direction: Direction,
        outcome: Result<Duration, StepError>,
    ) -> Result<Result<Duration, String>, Error> {
        match outcome {
            Ok(took) => Ok(Ok(took)),
            Err(StepError::Failed(failed)) => {
                let kind = scratch.engine.dialect().kind;
                let error = super::session::migration_error(
                    m,
                    direction,
                    failed,
                    Vec::new(),
                    kind.name(),
                    false,
                );
                Ok(Err(match &error {
                    Error::Migration(e) => e.statement_report(),
                    other => other.to_string(),
                }))
            }
            Err(StepError::Other(e)) => Err(e),
            // Only a boot's own apply runs optimistically, and the forward pass without savepoints
            // answers its own failures (`down_chain.rs`): said plainly if either came here.
            Err(
                e @ (StepError::RunUndone { .. } | StepError::Aborted(_) | StepError::NotLocked),
            ) => Err(e.unexpected(m)),
        }
    }

    /// The schema of the copy (only the objects of `tables` when given, with the objects that belong to
    /// no table when `unattached`: see [`may_change_unattached`]), without the history tables.
    pub(super) fn fingerprint(
        &self,
        scratch: &mut Session<'_>,
        tables: Option<&[&str]>,
        unattached: bool,
    ) -> Result<Vec<SchemaObject>, Error> {
        let history = scratch.history.clone();
        let exclude = [history.table(), history.log_table()];
        let kind = scratch.engine.dialect().kind;
        scratch
            .engine
            .fingerprint()
            .ok_or(Error::MissingCapability {
                engine: kind.name(),
                capability: "schema fingerprints",
                setting: "require_test_run",
            })?
            .schema_fingerprint(tables, &exclude, unattached)
    }
}

/// The tables a migration names, and the views, triggers and indexes its sections create or drop (SQLite
/// files a view or a trigger under its own name): the scope of its checks.
///
/// Each name comes as written and lower-cased: an engine that folds unquoted names (PostgreSQL) finds the
/// table of `CREATE TABLE Users` under `users` and the one of `CREATE TABLE "User"` under `User`.
pub(super) fn objects_named(m: &Migration) -> Vec<String> {
    let mut names: BTreeSet<String> = m
        .tables
        .iter()
        .flat_map(|t| [t.to_string(), t.to_lowercase()])
        .collect();
    let sections = m.up.iter().chain(m.down.as_deref().unwrap_or(&[]));
    for statement in sections {
        let Ok(words) = migrator_format::statement_words(&statement.sql) else {
            continue;
        };
        let mut rest: &[String] = &words;
        let Some(verb) = rest
            .first()
            .filter(|w| matches!(w.as_str(), "CREATE" | "DROP"))
        else {
            continue;
        };
        rest = &rest[1..];
        if verb == "CREATE" && rest.len() > 1 && rest[0] == "OR" && rest[1] == "REPLACE" {
            rest = &rest[2..];
        }
        while rest
            .first()
            .is_some_and(|w| matches!(w.as_str(), "TEMP" | "TEMPORARY" | "MATERIALIZED" | "UNIQUE"))
        {
            rest = &rest[1..];
        }
        if !rest
            .first()
            .is_some_and(|w| matches!(w.as_str(), "VIEW" | "TRIGGER" | "INDEX"))
        {
            continue;
        }
        rest = &rest[1..];
        let skip = ["IF", "NOT", "EXISTS", "CONCURRENTLY"];
        while rest.first().is_some_and(|w| skip.contains(&w.as_str())) {
            rest = &rest[1..];
        }
        // `schema.name`: the name.
        let name = match rest {
            [_, dot, name, ..] if dot == "." => name,
            [name, ..] => name,
            [] => continue,
        };
        names.insert(name.to_lowercase());
        names.insert(name.clone());
    }
    names.into_iter().collect()
}

/// `false` when no statement of `m` can create, change or drop an object that belongs to no table
/// (PostgreSQL's functions, types, extensions and schemas; MySQL's routines): every statement is a `CREATE`,
/// `ALTER` or `DROP` of a table, index, view, trigger or sequence, or an `INSERT`, `UPDATE` or `DELETE`, and
/// none says `FUNCTION`, `PROCEDURE`, `TYPE`, `DOMAIN`, `SCHEMA`, `EXTENSION`, `CASCADE` or the like. Then
/// its checks read only the objects of its tables: on PostgreSQL the functions and types of a large schema
/// were most of each read. Anything else (a `DO` block, a `SELECT` of a function that could do anything, a
/// statement that cannot be split into words) reads them too.
pub(super) fn may_change_unattached(m: &Migration) -> bool {
    const UNATTACHED: [&str; 14] = [
        "FUNCTION",
        "FUNCTIONS",
        "PROCEDURE",
        "ROUTINE",
        "TYPE",
        "DOMAIN",
        "AGGREGATE",
        "OPERATOR",
        "SCHEMA",
        "EXTENSION",
        "CASCADE",
        "LANGUAGE",
        "CAST",
        "COLLATION",
    ];
    let sections = m.up.iter().chain(m.down.as_deref().unwrap_or(&[]));
    sections.into_iter().any(|statement| {
        let Ok(words) = migrator_format::statement_words(&statement.sql) else {
            return true;
        };
        let word = |i: usize| words.get(i).map(String::as_str);
        let attached = match (word(0), word(1)) {
            (Some("INSERT" | "UPDATE" | "DELETE"), _) => true,
            (Some("CREATE" | "ALTER" | "DROP"), _) => {
                let kind = words[1..].iter().find(|w| {
                    !matches!(
                        w.as_str(),
                        "OR" | "REPLACE" | "UNIQUE" | "TEMP" | "TEMPORARY" | "UNLOGGED"
                    )
                });
                kind.is_some_and(|k| {
                    matches!(
                        k.as_str(),
                        "TABLE" | "INDEX" | "VIEW" | "TRIGGER" | "SEQUENCE"
                    )
                })
            }
            _ => false,
        };
        !attached || words.iter().any(|w| UNATTACHED.contains(&w.as_str()))
    })
}

/// An object's kind and name.
type Key = (String, String);
/// An object's definitions (several for kinds a name can hold more than one of, such as CHECKs).
type Definitions = Vec<String>;
/// A schema fingerprint keyed by object.
pub(super) type Schema = BTreeMap<Key, Definitions>;

pub(super) fn schema_of(objects: Vec<SchemaObject>) -> Schema {
    let mut schema = Schema::new();
    for o in objects {
        schema
            .entry((o.kind, o.name))
            .or_default()
            .push(o.definition);
    }
    for definitions in schema.values_mut() {
        definitions.sort();
    }
    schema
}

/// One object that a step added, removed or changed.
pub(super) struct Change {
    key: Key,
    pub(super) before: Option<Definitions>,
    after: Option<Definitions>,
}

/// What differs from `from` to `to`.
pub(super) fn changes(from: &Schema, to: &Schema) -> Vec<Change> {
    let mut out = Vec::new();
    for (key, before) in from {
        match to.get(key) {
            Some(after) if after == before => {}
            after => out.push(Change {
                key: key.clone(),
                before: Some(before.clone()),
                after: after.cloned(),
            }),
        }
    }
    for (key, after) in to {
        if !from.contains_key(key) {
            out.push(Change {
                key: key.clone(),
                before: None,
                after: Some(after.clone()),
            });
        }
    }
    out
}

/// Compares what a step changed (`done`) with what it should have changed: the objects of `expected`
/// must end in the state `target` picks from each change (`before` for a DOWN, `after` for an UP again),
/// and nothing else may change. Returns a line per object that is not as it should be.
pub(super) fn unexpected(
    done: &[Change],
    expected: &[Change],
    target: impl Fn(&Change) -> &Option<Definitions>,
) -> Vec<String> {
    let done: BTreeMap<&Key, &Change> = done.iter().map(|c| (&c.key, c)).collect();
    let wanted: BTreeMap<&Key, &Change> = expected.iter().map(|c| (&c.key, c)).collect();
    let keys: BTreeSet<&Key> = done.keys().chain(wanted.keys()).copied().collect();
    let mut out = Vec::new();
    for key in keys {
        // The state the object is in now, and the state it should be in.
        let (have, want) = match (done.get(key), wanted.get(key)) {
            (Some(d), Some(w)) => (d.after.as_ref(), target(w).as_ref()),
            // Changed although it should not have: it should have stayed as it was.
            (Some(d), None) => (d.after.as_ref(), d.before.as_ref()),
            // Not changed although it should have: it is still as before this step, which is the
            // opposite end of the expected change.
            (None, Some(w)) => {
                let target_state = target(w).as_ref();
                let other = if target_state == w.before.as_ref() {
                    w.after.as_ref()
                } else {
                    w.before.as_ref()
                };
                (other, target_state)
            }
            (None, None) => continue,
        };
        if have == want {
            continue;
        }
        let (kind, name) = key;
        out.push(match (want, have) {
            (None, Some(have)) => format!("{kind} {name} is left behind ({})", have.join("; ")),
            (Some(want), None) => format!("{kind} {name} is missing ({})", want.join("; ")),
            (Some(want), Some(have)) => changed(kind, name, want, have),
            (None, None) => continue,
        });
    }
    out
}

/// Differences that are only a column's position are not findings: PostgreSQL and MySQL add a column
/// re-created by a DOWN at the end of its table, so no DOWN of a `DROP COLUMN` can restore the order, and
/// the schema works the same (only `SELECT *` sees it). They are noted with the migration, and the rest
/// is returned.
pub(super) fn order_only_noted(
    m: &Migration,
    wrong: Vec<String>,
    rehearsal: &mut Rehearsal,
) -> Vec<String> {
    let (order, rest): (Vec<String>, Vec<String>) =
        wrong.into_iter().partition(|d| d.ends_with("(order only)"));
    if !order.is_empty() {
        let note = format!(
            "{}: its DOWN restores every object, but not the column order: {}",
            m.file_name,
            order.join("; ")
        );
        if !rehearsal.unverified.contains(&note) {
            rehearsal.unverified.push(note);
        }
    }
    rest
}

/// A changed object, said as briefly as its definitions allow: a column that only moved is "order
/// only"; short definitions side by side; long ones (a function's body, a view) as a line diff.
fn changed(kind: &str, name: &str, want: &[String], have: &[String]) -> String {
    let (want, have) = (want.join("\n"), have.join("\n"));
    let without_position = |d: &str| {
        d.rsplit_once(" #")
            .map_or(d.to_string(), |(def, _)| def.to_string())
    };
    if kind == "column" && without_position(&want) == without_position(&have) {
        let pos = |d: &str| {
            d.rsplit_once(" #")
                .map_or(String::new(), |(_, p)| p.to_string())
        };
        return format!(
            "{kind} {name} moved from position {} to {} (order only)",
            pos(&want),
            pos(&have)
        );
    }
    if want.len() + have.len() < 160 && !want.contains('\n') && !have.contains('\n') {
        return format!("{kind} {name} changed: should be {want}, is {have}");
    }
    format!(
        "{kind} {name} changed (- should be, + is):\n{}",
        line_diff(&want, &have)
    )
}

/// The lines of `a` and `b` that differ, `-` for `a`'s, `+` for `b`'s (a Myers diff: `similar`).
fn line_diff(a: &str, b: &str) -> String {
    let diff = similar::TextDiff::from_lines(a, b);
    let lines: Vec<String> = diff
        .iter_all_changes()
        .filter_map(|change| {
            let sign = match change.tag() {
                similar::ChangeTag::Equal => return None,
                similar::ChangeTag::Delete => '-',
                similar::ChangeTag::Insert => '+',
            };
            Some(format!("{sign} {}", change.value().trim_end_matches('\n')))
        })
        .collect();
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::run::test_migration as migration;

    #[test]
    fn names_come_as_written_and_lower_cased() {
        let m = migration(
            "CREATE TABLE \"User\" (id int);\nCREATE INDEX Users_Email ON Users (email);",
            "DROP INDEX Users_Email;\nDROP TABLE \"User\";",
        );
        let names = objects_named(&m);
        for name in ["User", "user", "users", "users_email"] {
            assert!(names.iter().any(|n| n == name), "{name} in {names:?}");
        }
    }

    #[test]
    fn only_table_statements_leave_the_unattached_objects_unread() {
        for (up, down) in [
            (
                "CREATE TABLE t (id int);\nCREATE INDEX t_id ON t (id);",
                "DROP TABLE t;",
            ),
            (
                "ALTER TABLE t ADD COLUMN n int;\nUPDATE t SET n = 1;",
                "ALTER TABLE t DROP COLUMN n;",
            ),
            ("CREATE OR REPLACE VIEW v AS SELECT 1;", "DROP VIEW v;"),
            ("CREATE UNIQUE INDEX t_n ON t (n);", "DROP INDEX t_n;"),
        ] {
            assert!(!may_change_unattached(&migration(up, down)), "{up}");
        }
        for (up, down) in [
            (
                "CREATE FUNCTION f() RETURNS int AS 'select 1' LANGUAGE sql;",
                "DROP FUNCTION f();",
            ),
            ("CREATE TYPE mood AS ENUM ('a');", "DROP TYPE mood;"),
            (
                "ALTER TABLE t ALTER COLUMN n TYPE bigint;",
                "ALTER TABLE t ALTER COLUMN n TYPE int;",
            ),
            ("CREATE TABLE t (id int);", "DROP TABLE t CASCADE;"),
            ("CREATE EXTENSION pgcrypto;", "DROP EXTENSION pgcrypto;"),
            ("SELECT create_hypertable('t', 'at');", ""),
            ("DO $$ BEGIN PERFORM 1; END $$;", ""),
            (
                "CREATE TRIGGER t_touch BEFORE UPDATE ON t FOR EACH ROW EXECUTE FUNCTION touch();",
                "DROP TRIGGER t_touch ON t;",
            ),
            ("CREATE SCHEMA app;", "DROP SCHEMA app;"),
        ] {
            assert!(may_change_unattached(&migration(up, down)), "{up}");
        }
    }

    #[test]
    fn changes_are_said_briefly_or_as_diffs() {
        let col = changed(
            "column",
            "t.a",
            &["INTEGER notnull=0 #1".into()],
            &["INTEGER notnull=0 #2".into()],
        );
        assert_eq!(col, "column t.a moved from position 1 to 2 (order only)");
        let body = changed(
            "function",
            "public.f()",
            &["BEGIN\n  x := 1;\n  RETURN x;\nEND".into()],
            &["BEGIN\n  x := 2;\n  RETURN x;\nEND".into()],
        );
        assert!(
            body.contains("- ") && body.contains("-   x := 1;") && body.contains("+   x := 2;"),
            "{body}"
        );
        assert!(
            !body.contains("RETURN"),
            "common lines are not shown: {body}"
        );
    }
}
