//! The algorithm, once for every engine: validate, plan, lock, plan again under the lock, back up,
//! rehearse, apply in order (each migration exactly once), check health, report. Engine details live behind
//! [`Engine`]; history bookkeeping in [`crate::history`].

pub(crate) mod adopt;
mod backfill;
mod down_chain;
mod health;
pub(crate) mod rehearse;
mod rollback;
mod schema_copy;
pub(crate) mod session;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tracing::{debug, info, info_span, warn};

use crate::engine::{Direction, Engine};
use crate::history::History;
use crate::plan::{plan, status_entries, StatusEntry};
use crate::{
    Config, Error, HistoryRow, LogEntry, Migration, MigrationSet, Report, ValidationProblem,
};

pub use adopt::{Adoption, PeerTool};
pub use health::ROW_LIMIT_ALLOW;
pub use rollback::{RollbackOptions, RollbackTarget};
use session::{migration_error, Session, StepError};

/// A backup started by [`Migrator::start_backup`], not yet known to be good.
pub(crate) struct BackupUnderWay {
    pending: crate::backup::PendingBackup,
    /// The database's backup directory (pruned once the backup is finished).
    dir: PathBuf,
    started: Instant,
}

/// The runtime over one migration set.
#[derive(Debug, Clone)]
pub struct Migrator<'s> {
    set: &'s MigrationSet,
    config: Config,
    /// The engine variant sets (`migrations/postgres/`, ...), made on first use, by engine.
    engine_sets: [std::sync::OnceLock<MigrationSet>; 3],
}

impl<'s> Migrator<'s> {
    /// A migrator over `set` with the default configuration.
    pub fn new(set: &'s MigrationSet) -> Self {
        Self {
            set,
            config: Config::default(),
            engine_sets: Default::default(),
        }
    }

    /// Replaces the configuration.
    pub fn with_config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// The migration set.
    pub fn set(&self) -> &'s MigrationSet {
        self.set
    }

    /// The migrations an engine runs: its variant set when the directory has one (`postgres/`, ...),
    /// the shared set otherwise. The boot and every admin action pick it from the engine in hand.
    pub fn set_for(&self, kind: crate::EngineKind) -> &MigrationSet {
        if self.set.engines().next().is_none() {
            return self.set;
        }
        let slot = match kind {
            crate::EngineKind::Sqlite => 0,
            crate::EngineKind::Postgres => 1,
            crate::EngineKind::MySql => 2,
        };
        self.engine_sets[slot].get_or_init(|| self.set.for_engine(kind))
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    pub(crate) fn history_store(&self) -> History {
        History::new(&self.config.history_table, self.config.lock_wait)
    }

    /// A first boot's history tables, created while the lock connection is being opened on another
    /// thread (PostgreSQL: nine relations, about 9 ms, that the boot would otherwise wait for after the
    /// lock). `CREATE TABLE IF NOT EXISTS` needs no lock to be right; what it needs the lock for is a
    /// race with another process creating them at the same moment, which fails one of the two. So a
    /// failure here is left for the lock: under it the session creates the tables as always
    /// ([`History::ensure`]), and reports what fails.
    fn create_history_ahead(&self, engine: &mut dyn Engine) {
        let schema = engine.history_schema(&self.config.history_table);
        match self.history_store().in_schema(schema).ensure(engine) {
            Ok(()) => debug!("history tables created while the lock connection opens"),
            Err(e) => debug!(error = %e, "history tables not created ahead: under the lock"),
        }
    }

    /// The history and the plan the boot checks before it takes the lock. A migration recorded `running`
    /// (one that runs without a transaction: any migration on MySQL, a `no-transaction` one elsewhere) may
    /// be running right now in another process, which holds the migration lock: the boot then waits for
    /// that lock and reads the history again before it judges. Only what is still `running` once the lock
    /// was free is interrupted, and refused. With `history_missing` (the boot check just found no history
    /// table, and nothing was adopted) the history is taken as empty without reading it again: a read of
    /// a table that does not exist is an ERROR in PostgreSQL's log, and the plan under the lock is the one
    /// that counts.
    pub(super) fn plan_before_the_lock<'m>(
        &self,
        engine: &mut dyn Engine,
        set: &'m MigrationSet,
        atomic: bool,
        history_missing: bool,
    ) -> Result<(Vec<HistoryRow>, crate::Plan<'m>), Error> {
        let rows = if history_missing {
            Vec::new()
        } else {
            self.read_history(engine)?
        };
        let problems = match plan(set, &rows, &self.config, atomic) {
            Ok(first) => return Ok((rows, first)),
            Err(problems) => problems,
        };
        if !problems.iter().all(ValidationProblem::may_be_in_progress) {
            return Err(Error::Validation(problems));
        }
        info!(
            migrations = problems.len(),
            "a migration is recorded as running: waiting for the migration lock before judging it"
        );
        let session = Session::begin(engine, &self.config)?;
        session.end(true)?;
        let rows = self.read_history(engine)?;
        let first = plan(set, &rows, &self.config, atomic).map_err(Error::Validation)?;
        Ok((rows, first))
    }

    /// Brings the database up to date: validates the embedded set against the history (refusing on
    /// edited, missing, out-of-order or interrupted migrations), and applies what is pending in version
    /// order under the migration lock. When nothing is pending it takes no lock and writes nothing. On
    /// a live database with no backup or rehearsal to take, an engine that can lock inside a
    /// migration's transaction (PostgreSQL) applies as a short run: each migration's transaction takes
    /// the lock for itself ([`Self::short_run`]).
    pub fn boot(&self, engine: &mut dyn Engine) -> Result<Report, Error> {
        let span = info_span!(
            "migrator.boot",
            engine = engine.dialect().kind.name(),
            embedded = self.set.len()
        );
        let _enter = span.enter();
        let started = Instant::now();
        self.config.validate()?;
        let set = self.set_for(engine.dialect().kind);
        let BootCheck {
            all_applied,
            history_exists,
            new_at_the_end,
            rows,
            seen,
        } = self.boot_check(engine)?;
        if let Some(applied) = all_applied {
            let report = Report {
                already_applied: applied,
                total: started.elapsed(),
                ..Report::default()
            };
            info!(
                took_us = report.total.as_micros() as u64,
                applied, "nothing to apply"
            );
            return Ok(report);
        }
        let short_run_likely = new_at_the_end
            && rows > 0
            && self.short_run_allowed(set.migrations().get(rows..).unwrap_or_default());
        // The everyday boot (the history as embedded, new migrations after it): the lock is needed.
        let lock_opening_ahead = new_at_the_end && !short_run_likely && engine.lock_ahead();
        // A database another tool migrated: its history is adopted first, so nothing is run again.
        let adoption = if self.config.adopt_peers {
            self.adopt(engine)?
        } else {
            adopt::Adoption::default()
        };
        let atomic = engine.dialect().atomicity != crate::engine::Atomicity::None;
        let history_missing = !history_exists && adoption.adopted.is_empty();
        // Read with the check's scan when the engine can (SQLite), else now, before the full read.
        let seen_before = seen.or_else(|| engine.commits_by_others());
        let (before, first) = if new_at_the_end
            && adoption.adopted.is_empty()
            && (seen.is_some() || seen_before.is_none())
        {
            // The history as embedded, new migrations after it: that is the plan. Under the lock the
            // history is read unless the number read with the check shows no other commit since
            // (SQLite); a short run checks it in each transaction (PostgreSQL).
            (Before::Checked(rows), crate::plan::after_applied(set, rows))
        } else {
            let (read, plan) = self.plan_before_the_lock(engine, set, atomic, history_missing)?;
            (Before::Read(read), plan)
        };
        self.check_review(&first.pending)?;
        self.check_history_untouched(&first.pending)?;
        self.check_capabilities(engine, !first.pending.is_empty())?;
        let gated: Vec<&Migration> = first
            .pending
            .iter()
            .copied()
            .filter(|m| !self.config.is_history(m))
            .collect();
        crate::run::health::check_row_limit(engine, &gated, self.config.max_rows_affected)?;
        debug!(
            applied = first.applied,
            pending = first.pending.len(),
            "boot check"
        );
        if first.pending.is_empty() {
            let mut report = Report {
                already_applied: first.applied,
                adopted: adoption.adopted,
                ..Report::default()
            };
            for m in &first.skipped {
                info!(version = m.version, file = %m.file_name, "stays rolled back");
                report.push(m, None, Duration::ZERO);
            }
            report.total = started.elapsed();
            info!(
                took_us = report.total.as_micros() as u64,
                "nothing to apply"
            );
            return Ok(report);
        }
        // A backfill already under way is first: nothing to apply before it, no lock to take.
        if let Some(report) = self.backfill_under_way(engine, &first.pending, before.rows())? {
            return Ok(report);
        }
        let mut report = Report {
            already_applied: first.applied,
            adopted: adoption.adopted,
            ..Report::default()
        };
        if let Some(rows_before) = before.all_applied().filter(|_| self.short_run_fits(&first)) {
            if self.short_run(engine, &first.pending, rows_before, &mut report)? {
                self.check_health(engine, &mut report)?;
                let mut report = self.after_boot(engine, report)?;
                report.total = started.elapsed();
                return Ok(report);
            }
        }
        if history_missing && lock_opening_ahead {
            // Past every refusal: a boot that stops before this point leaves no table behind.
            self.create_history_ahead(engine);
        }
        let mut report = self.boot_under_the_lock(engine, before, seen_before, report)?;
        report.total = started.elapsed();
        Ok(report)
    }

    /// The boot from the lock on: waits for it, plans again under it (another process may have migrated
    /// meanwhile), then backs up, rehearses and applies as the policy says, and checks health. `report`
    /// holds what a short run applied before it had to take the lock.
    fn boot_under_the_lock(
        &self,
        engine: &mut dyn Engine,
        before: Before,
        seen_before: Option<i64>,
        mut report: Report,
    ) -> Result<Report, Error> {
        let set = self.set_for(engine.dialect().kind);
        let atomic = engine.dialect().atomicity != crate::engine::Atomicity::None;
        let applied_short = report.steps.len();
        // What the boot knew before the lock does not hold what a short run committed since.
        let seen_before = seen_before.filter(|_| applied_short == 0);
        let lock_started = Instant::now();
        let mut session = Session::begin(engine, &self.config)?;
        let lock_wait = lock_started.elapsed();
        // Another process may have migrated while we waited: plan again under the lock.
        let (rows, plan) =
            self.plan_under_the_lock(&mut session, set, atomic, before, seen_before)?;
        if plan.applied > 0 {
            // Not a fresh database: no one-transaction run to decide.
            session.known_live();
        }
        if backfill::backfill_first(&plan.pending, &rows) {
            // Another process started the backfill while this one waited for the lock.
            session.end(true)?;
            return Ok(self
                .backfill_under_way(engine, &plan.pending, &rows)?
                .unwrap_or_default());
        }
        report.already_applied = plan.applied.saturating_sub(applied_short);
        report.lock_wait = lock_wait;
        for m in &plan.skipped {
            report.push(m, None, Duration::ZERO);
        }
        let in_place = self.config.require_test_run
            && !plan.pending.is_empty()
            && self.can_rehearse_in_place(&mut session, &plan.pending)?;
        // Without a rehearsal on a copy (which starts from the backup), a run that commits once, unseen
        // before its commit, can apply while the backup is made: the commit waits for the backup.
        let backup_beside = in_place
            || (!self.config.require_test_run && session.commits_once_unseen(&plan.pending));
        let mut backup_under_way = None;
        if let Some(first) = plan.pending.first() {
            if self.config.require_backup {
                let backup = self.start_backup(session.engine, &first.version.to_string())?;
                if backup_beside {
                    backup_under_way = Some(backup);
                } else {
                    report.backup = Some(self.finish_backup(backup)?);
                }
            }
            if self.config.require_test_run && !in_place {
                let from = report.backup.as_deref().map_or(
                    crate::engine::CopyFrom::Current,
                    crate::engine::CopyFrom::Backup,
                );
                report.rehearsal =
                    Some(self.rehearse_on_copy(session.engine, &plan.pending, from)?);
            }
        }
        if in_place {
            self.apply_in_place(session, &plan.pending, backup_under_way, &mut report)?;
            // The health checks ran in the run's transaction, on the state it committed.
            self.record_health_checks(engine, &mut report);
        } else if let Some(backup) = backup_under_way {
            let (problems, committed) =
                self.apply_beside_backup(session, &plan.pending, backup, &mut report)?;
            if !report.applied_versions().is_empty() {
                self.health_verdict(engine, &mut report, problems, committed)?;
            }
        } else {
            // A failure keeps what came before it (and its own failure record): the run commits either way.
            let applied = self.apply_all(&mut session, &plan.pending, Direction::Up, &mut report);
            session.end(true)?;
            applied?;
            self.check_health(engine, &mut report)?;
        }
        self.after_boot(engine, report)
    }

    /// The plan under the lock, with the history rows it rests on: read again (another process may have
    /// migrated while this one waited for the lock) unless the engine shows that no other connection
    /// has committed since `seen_before`, taken before what the boot knew (`before`) was read.
    fn plan_under_the_lock<'m>(
        &self,
        session: &mut Session<'_>,
        set: &'m MigrationSet,
        atomic: bool,
        before: Before,
        seen_before: Option<i64>,
    ) -> Result<(Vec<HistoryRow>, crate::Plan<'m>), Error> {
        let unchanged = seen_before.is_some() && session.engine.commits_by_others() == seen_before;
        let rows = match before {
            Before::Checked(applied) if unchanged => {
                debug!("no other connection committed since the boot check: its plan stands");
                return Ok((Vec::new(), crate::plan::after_applied(set, applied)));
            }
            Before::Read(rows) if unchanged => {
                debug!("no other connection committed since the history was read: not read again");
                rows
            }
            _ => session.history.read(session.engine)?,
        };
        let plan = plan(set, &rows, &self.config, atomic).map_err(Error::Validation)?;
        Ok((rows, plan))
    }

    /// Whether a boot may apply `pending` as a short run, by the policy and the migrations: no backup
    /// or rehearsal to take first, every migration in a transaction of its own.
    fn short_run_allowed<'m>(&self, pending: impl IntoIterator<Item = &'m Migration>) -> bool {
        !self.config.require_backup
            && !self.config.require_test_run
            && session::all_in_a_transaction(pending)
    }

    /// Whether the plan made before the lock can be applied as a short run on a database whose history
    /// holds only applied migrations: some (a live database), nothing rolled back to skip, and the
    /// policy allows it ([`Self::short_run_allowed`]).
    fn short_run_fits(&self, plan: &crate::Plan<'_>) -> bool {
        plan.applied > 0
            && plan.skipped.is_empty()
            && self.short_run_allowed(plan.pending.iter().copied())
    }

    /// A short run: the pending migrations of a live database, applied without a lock of the run's own,
    /// each in a transaction that takes the migration lock for itself and checks that the history is
    /// as planned ([`Session::locking_each_transaction`]). An engine whose lock needs a connection of its
    /// own (PostgreSQL) saves that connection, the lock and unlock, and the history read under the lock.
    /// Returns `true` when every migration was applied; `false` when the engine has no such lock or a
    /// transaction could not take it: the boot goes on under the lock, with what was applied in
    /// `report`. A migration that fails is reported as in any run.
    fn short_run(
        &self,
        engine: &mut dyn Engine,
        pending: &[&Migration],
        rows_before: usize,
        report: &mut Report,
    ) -> Result<bool, Error> {
        let Some(mut session) =
            Session::locking_each_transaction(engine, &self.config, rows_before)?
        else {
            return Ok(false);
        };
        self.apply_all(&mut session, pending, Direction::Up, report)?;
        let all = session.completed.len() == pending.len();
        if all {
            info!(
                applied = pending.len(),
                "short run: each migration's transaction took the lock"
            );
        } else {
            info!(
                applied = session.completed.len(),
                "short run: a migration's transaction could not take the lock (held elsewhere, or the history changed): the rest under the lock"
            );
        }
        session.end(true)?;
        Ok(all)
    }

    /// The boot's apply when its rehearsal runs in the run's own transaction (the rehearsal is the apply:
    /// on a finding nothing of the migrations stays), then the commit, once the backup started before it
    /// (if any) is durable and checked. A backup that fails rolls the whole run back.
    fn apply_in_place(
        &self,
        mut session: Session<'_>,
        pending: &[&Migration],
        backup_under_way: Option<BackupUnderWay>,
        report: &mut Report,
    ) -> Result<(), Error> {
        let rehearsed = self.rehearse_in_place(&mut session, pending);
        // Nothing commits before the backup of the state before it is durable and checked.
        let backup = backup_under_way.map(|b| self.finish_backup(b)).transpose();
        let rehearsal = match (rehearsed, backup) {
            (Ok(rehearsal), Ok(backup)) => {
                report.backup = backup;
                rehearsal
            }
            (Err(e), backup) => {
                if let Err(b) = backup {
                    warn!(error = %b, "the backup failed too");
                }
                session.end(true)?;
                return Err(e);
            }
            (Ok(_), Err(e)) => {
                // The migrations ran, but without a good backup of the state before them: none stays.
                session.end(false)?;
                return Err(e);
            }
        };
        for m in pending {
            report.push(
                m,
                Some(Direction::Up),
                rehearsal.up_time(m.version).unwrap_or_default(),
            );
        }
        report.rehearsal = Some(rehearsal);
        session.end(true)
    }

    /// The boot's apply when the run commits once, unseen by other connections, and no rehearsal on a copy
    /// needs the backup first ([`Session::commits_once_unseen`]): the migrations, then the health checks,
    /// run in the run's transaction while the backup is made, and the commit waits for the backup. A
    /// backup that fails rolls the whole run back. A migration that fails keeps what came before it, as
    /// always. Returns the health problems found (none when nothing was applied) and whether the run
    /// committed: on problems it is rolled back, so that nothing of it stays, unless `on_health_failure`
    /// is `Stop`.
    fn apply_beside_backup(
        &self,
        mut session: Session<'_>,
        pending: &[&Migration],
        backup: BackupUnderWay,
        report: &mut Report,
    ) -> Result<(Vec<String>, bool), Error> {
        let applied = self.apply_all(&mut session, pending, Direction::Up, report);
        let checked = match applied {
            Ok(()) if !report.applied_versions().is_empty() => {
                let applied = self.applied_in(session.engine, report);
                self.health_problems(session.engine, &applied, health::Ran::UpOnly)
            }
            _ => Ok(Vec::new()),
        };
        match self.finish_backup(backup) {
            Ok(path) => report.backup = Some(path),
            Err(e) => {
                // No good backup of the state before the run: none of it stays.
                if let Err(a) = applied {
                    warn!(error = %a, "a migration failed too");
                }
                session.end(false)?;
                return Err(e);
            }
        }
        let problems = match checked {
            Ok(problems) => problems,
            Err(e) => {
                session.end(false)?;
                return Err(e);
            }
        };
        let commit =
            problems.is_empty() || self.config.on_health_failure == crate::OnHealthFailure::Stop;
        if !commit {
            warn!(
                problems = problems.len(),
                "health checks failed in the run's transaction: rolling it back"
            );
        }
        session.end(commit)?;
        applied?;
        Ok((problems, commit))
    }

    /// Refuses before anything runs when the policy asks for something this engine cannot do.
    pub(crate) fn check_capabilities(
        &self,
        engine: &mut dyn Engine,
        will_apply: bool,
    ) -> Result<(), Error> {
        let kind = engine.dialect().kind;
        let missing = |capability: &'static str, setting: &'static str| Error::MissingCapability {
            engine: kind.name(),
            capability,
            setting,
        };
        if !will_apply {
            return Ok(());
        }
        if self.config.require_backup && engine.backup().is_none() {
            return Err(missing("backups", "require_backup"));
        }
        if self.config.require_test_run {
            if engine.scratch().is_none() {
                return Err(missing("scratch copies", "require_test_run"));
            }
            if engine.fingerprint().is_none() {
                return Err(missing("schema fingerprints", "require_test_run"));
            }
        }
        if self.config.max_rows_affected.is_some() && engine.stats().is_none() {
            return Err(missing("row estimates", "max_rows_affected"));
        }
        Ok(())
    }

    /// Refuses pending migrations that write to migrator's own history tables: the audit trail is not a
    /// migration's to change.
    pub(crate) fn check_history_untouched(&self, pending: &[&Migration]) -> Result<(), Error> {
        let history = self.history_store();
        let own = [
            history.table().to_lowercase(),
            history.log_table().to_lowercase(),
        ];
        let touching: Vec<String> = pending
            .iter()
            .filter_map(|m| {
                let table = m.tables.iter().find(|t| own.contains(&t.to_lowercase()))?;
                Some(format!("{} ({}) names {table}", m.file_name, m.version))
            })
            .collect();
        if touching.is_empty() {
            return Ok(());
        }
        Err(Error::Refused(format!(
            "refusing to migrate: migrations that change migrator's own history tables ({}, {}):\n  - {}\nwhat to do: remove those statements (history is written by migrator only); if the application has a table of that name of its own, give migrator's another name with Config::history_table",
            own[0],
            own[1],
            touching.join("\n  - ")
        )))
    }

    /// Refuses pending migrations that hold statements the policy wants reviewed, in files without a
    /// review mark.
    pub(crate) fn check_review(&self, pending: &[&Migration]) -> Result<(), Error> {
        let unreviewed: Vec<_> = pending
            .iter()
            .filter(|m| !self.config.is_history(m))
            .filter(|m| !self.config.reviewed.iter().any(|(v, _)| *v == m.version))
            .flat_map(|m| crate::review::unreviewed(m, &self.config.require_review))
            .collect();
        if unreviewed.is_empty() {
            return Ok(());
        }
        warn!(count = unreviewed.len(), "unreviewed statements refused");
        Err(Error::ReviewRequired(unreviewed))
    }

    /// The boot check's fast path, read without allocating: whether every embedded migration is applied
    /// with its checksum and history holds nothing else (anything else sends the boot to the full
    /// validation, which explains whatever differs), and whether the history table exists.
    fn boot_check(&self, engine: &mut dyn Engine) -> Result<BootCheck, Error> {
        let migrations = self.set_for(engine.dialect().kind).migrations();
        let mut next = 0;
        let mut clean = true;
        let scanned = self
            .history_store()
            .scan(engine, &mut |version, checksum, status| {
                let matches = migrations.get(next).is_some_and(|m| {
                    m.version == version
                        && status == "applied"
                        && checksum.is_none_or(|c| c == m.checksum)
                });
                clean &= matches;
                next += 1;
            })?;
        let exists = scanned.is_some();
        let all = clean && next == migrations.len() && (exists || migrations.is_empty());
        Ok(BootCheck {
            all_applied: all.then_some(next),
            history_exists: exists,
            new_at_the_end: clean && next < migrations.len(),
            rows: next,
            seen: scanned.flatten(),
        })
    }

    /// Reads the history rows (no lock).
    pub(crate) fn read_history(&self, engine: &mut dyn Engine) -> Result<Vec<HistoryRow>, Error> {
        self.history_store().read(engine)
    }

    /// Runs `migrations` in order in one direction inside a session; stops at the first failure (the
    /// migrations before it stay done). In a session without a lock of its own
    /// ([`Session::locking_each_transaction`]) it also stops, with `Ok`, at the first migration whose
    /// transaction could not take the lock: `session.completed` says how far it got.
    pub(crate) fn apply_all(
        &self,
        session: &mut Session<'_>,
        migrations: &[&Migration],
        direction: Direction,
        report: &mut Report,
    ) -> Result<(), Error> {
        let mut i = 0;
        while let Some(m) = migrations.get(i) {
            if self.config.stop.is_stopped() {
                return Err(Error::Stopped(format!(
                    "stopped on request before migration {} ({}); what this run completed stays, the rest is pending",
                    m.version, m.file_name
                )));
            }
            if direction == Direction::Up && m.backfill.is_some() {
                // The batches run outside the migration lock; what follows waits for them.
                return self.reach_backfill(session, m, &migrations[i + 1..], report);
            }
            match session.apply(m, direction) {
                Ok(took) => report.push(m, Some(direction), took),
                // The run's one transaction was rolled back: its migrations again, a transaction each.
                Err(StepError::RunUndone { undone }) => {
                    report
                        .steps
                        .truncate(report.steps.len().saturating_sub(undone));
                    i = i.saturating_sub(undone);
                    continue;
                }
                // The lock was lost or bypassed and another process got here first: nothing ran twice;
                // once that process completed the migration, this one goes on with the next.
                Err(StepError::Other(e @ Error::AlreadyDone { .. })) => {
                    if !session.done_elsewhere(m, direction)? {
                        return Err(e);
                    }
                    report.push(m, Some(direction), Duration::ZERO);
                    if let Some(step) = report.steps.last_mut() {
                        step.outcome = crate::Outcome::DoneElsewhere;
                    }
                }
                // A session without a lock of its own could not take it for this migration: what it
                // applied stays, and the caller goes on under the lock.
                Err(StepError::NotLocked) => return Ok(()),
                Err(StepError::Other(e)) => return Err(e),
                Err(e @ StepError::Aborted(_)) => return Err(e.unexpected(m)),
                Err(StepError::Failed(failed)) => {
                    let dialect = session.engine.dialect();
                    let without_transaction =
                        m.no_transaction || dialect.atomicity == crate::engine::Atomicity::None;
                    if failed.run_rolled_back {
                        report
                            .steps
                            .retain(|s| s.outcome == crate::Outcome::SkippedRolledBack);
                    }
                    let completed = report
                        .steps
                        .iter()
                        .filter(|s| s.outcome != crate::Outcome::SkippedRolledBack)
                        .map(|s| s.version)
                        .collect();
                    return Err(migration_error(
                        m,
                        direction,
                        failed,
                        completed,
                        dialect.kind.name(),
                        without_transaction,
                    ));
                }
            }
            i += 1;
        }
        Ok(())
    }

    /// The state of every migration: applied, pending, rolled back, drifted, missing, failed.
    pub fn status(&self, engine: &mut dyn Engine) -> Result<Vec<StatusEntry>, Error> {
        let rows = self.read_history(engine)?;
        let atomic = engine.dialect().atomicity != crate::engine::Atomicity::None;
        Ok(status_entries(
            self.set_for(engine.dialect().kind),
            &rows,
            atomic,
        ))
    }

    /// The rows of the history table, newest first (for `--migrate-history`).
    pub fn history(&self, engine: &mut dyn Engine) -> Result<Vec<HistoryRow>, Error> {
        let mut rows = self.read_history(engine)?;
        rows.reverse();
        Ok(rows)
    }

    /// Every event of the history log, oldest first; with `after`, only those with a larger id (what a
    /// tracker has not seen yet).
    pub fn log(&self, engine: &mut dyn Engine, after: Option<i64>) -> Result<Vec<LogEntry>, Error> {
        self.history_store().read_log(engine, after)
    }

    /// The backup directory of this database (filed under its identity) and the files' stem.
    fn backup_place(&self, engine: &mut dyn Engine) -> Result<(PathBuf, String), Error> {
        let kind = engine.dialect().kind;
        let backup = engine.backup().ok_or(Error::MissingCapability {
            engine: kind.name(),
            capability: "backups",
            setting: "require_backup",
        })?;
        let base = match &self.config.backup_dir {
            Some(dir) => dir.clone(),
            None => backup.default_dir().ok_or_else(|| {
                Error::Backup("no backup directory: set Config::backup_dir".to_string())
            })?,
        };
        let identity = backup.identity()?;
        let stem = backup.stem();
        let dir = crate::backup::database_dir(&base, &stem, &identity)?;
        Ok((dir, stem))
    }

    /// Takes a checked backup before `before` (a version, `rollback` or `restore`) and prunes old ones.
    pub(crate) fn take_backup(
        &self,
        engine: &mut dyn Engine,
        before: &str,
    ) -> Result<PathBuf, Error> {
        let started = self.start_backup(engine, before)?;
        self.finish_backup(started)
    }

    /// Starts a checked backup before `before`: the state it copies is fixed when this returns, and the
    /// backup may still be under way (copied, made durable, checked) on threads of its own; see
    /// [`Self::finish_backup`].
    pub(crate) fn start_backup(
        &self,
        engine: &mut dyn Engine,
        before: &str,
    ) -> Result<BackupUnderWay, Error> {
        let (dir, stem) = self.backup_place(engine)?;
        let Some(backup) = engine.backup() else {
            return Err(Error::Backup("this engine cannot make backups".to_string()));
        };
        let target = dir.join(crate::backup::file_name(&stem, before, backup.extension()));
        let started = Instant::now();
        let pending = backup.start_backup(&target, self.config.lock_timeout)?;
        debug!(path = %target.display(), took_ms = started.elapsed().as_millis() as u64, "backup started");
        Ok(BackupUnderWay {
            pending,
            dir,
            started,
        })
    }

    /// Waits until a backup is durable and checked, then prunes old ones (never before: the newest
    /// good backup is never deleted for one that could still fail).
    pub(crate) fn finish_backup(&self, backup: BackupUnderWay) -> Result<PathBuf, Error> {
        let target = backup.pending.wait()?;
        info!(path = %target.display(), took_ms = backup.started.elapsed().as_millis() as u64, "backup taken");
        for old in crate::backup::prune(&backup.dir, self.config.backups_to_keep)? {
            debug!(path = %old.display(), "old backup deleted");
        }
        Ok(target)
    }

    /// The backups of this database, newest first, and the directory they are in.
    pub fn backups(
        &self,
        engine: &mut dyn Engine,
    ) -> Result<(PathBuf, Vec<crate::backup::BackupFile>), Error> {
        let (dir, _) = self.backup_place(engine)?;
        let files = crate::backup::list(&dir)?;
        Ok((dir, files))
    }

    /// Replaces the database with a backup, after taking a backup of the current state (named
    /// `...-before-restore...`, so a wrong restore can be undone). Returns that safety backup. A backup
    /// filed under another database is refused.
    pub fn restore(&self, engine: &mut dyn Engine, backup: &Path) -> Result<PathBuf, Error> {
        let _span = info_span!("migrator.restore", backup = %backup.display()).entered();
        if !backup.is_file() {
            return Err(Error::Usage(format!(
                "no backup file at {}; list them with --migrate-backups",
                backup.display()
            )));
        }
        let (dir, _) = self.backup_place(engine)?;
        crate::backup::check_belongs(backup, &dir)?;
        let safety = self.take_backup(engine, "restore")?;
        engine
            .backup()
            .ok_or_else(|| Error::Backup("this engine cannot restore".to_string()))?
            .restore(backup)?;
        info!(safety = %safety.display(), "restored");
        Ok(safety)
    }
}

/// What a boot knew of the history before it took the lock.
enum Before {
    /// The rows, read in full.
    Read(Vec<HistoryRow>),
    /// The boot check found this many rows: the set's first migrations, applied as embedded.
    Checked(usize),
}

impl Before {
    /// The rows read (none for a check: it found no row of a pending migration).
    fn rows(&self) -> &[HistoryRow] {
        match self {
            Before::Read(rows) => rows,
            Before::Checked(_) => &[],
        }
    }

    /// How many rows the history holds when every one is applied (a clean history).
    fn all_applied(&self) -> Option<usize> {
        match self {
            Before::Checked(rows) => Some(*rows),
            Before::Read(rows) => rows
                .iter()
                .all(|r| r.status == crate::history::Status::Applied)
                .then_some(rows.len()),
        }
    }
}

/// What the boot check read from the history.
struct BootCheck {
    /// `Some(count)` when every embedded migration is applied with its checksum and the history holds
    /// nothing else.
    all_applied: Option<usize>,
    /// Whether the history table exists.
    history_exists: bool,
    /// The history is the embedded set's beginning, as embedded, and migrations follow it: pending.
    new_at_the_end: bool,
    /// How many rows the history holds.
    rows: usize,
    /// [`Engine::commits_by_others`], read with the rows (SQLite), when the history holds any.
    seen: Option<i64>,
}

/// A native migration file's UP and DOWN parsed into a [`Migration`], for the unit tests of this module's
/// parts.
#[cfg(test)]
pub(crate) fn test_migration(up: &str, down: &str) -> Migration {
    let text = format!(
        "-- ============ UP MIGRATION ============\n{up}\n-- ============ DOWN MIGRATION ============\n{down}\n"
    );
    migrator_format::parse_file("20240101000000_issue_1_x.sql", &text).unwrap()
}
