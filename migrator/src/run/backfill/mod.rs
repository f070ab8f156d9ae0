//! Backfill migrations in the algorithm: where a boot meets one, starting it under the migration lock,
//! running its batches outside that lock, and going on with what waited for it. The public types and the
//! design are in [`crate::backfill`].

mod batch;
mod store;

use tracing::{info, info_span};

use super::session::Session;
use crate::backfill::{BackfillMode, BackfillRun, BackfillState, BatchStatement, Phase, Progress};
use crate::engine::{Atomicity, DbError, Direction, Engine};
use crate::history::Status;
use crate::report::Outcome;
use crate::{Config, Error, HistoryRow, Migration, Migrator, Report};

pub(crate) use store::Store;

impl Migrator<'_> {
    /// The progress table of this history.
    fn backfill_store(&self) -> Store {
        Store::new(&self.config.history_table)
    }

    /// Runs the backfills now, with `on_progress` called after every batch: the one a boot started (or
    /// left, in [`BackfillMode::Deferred`]), then the migrations that waited for it, and so on until
    /// nothing is pending. This is `--migrate-backfill`, `migrator-tool backfill`, and what a host runs in
    /// the background under [`BackfillMode::Background`]. Several processes may run it at once: the
    /// batches take turns, each exactly once. The report lists every migration it applied and every
    /// backfill it completed ([`Report::backfills`]).
    pub fn backfill(
        &self,
        engine: &mut dyn Engine,
        on_progress: &mut dyn FnMut(&Progress),
    ) -> Result<Report, Error> {
        let _span = info_span!("migrator.backfill").entered();
        let mut report = self
            .with_backfill_mode(BackfillMode::Background)
            .boot(engine)?;
        self.drive_backfills(engine, &mut report, on_progress)?;
        Ok(report)
    }

    /// The progress of every backfill this database has seen (for `--migrate-status`, the history and a
    /// host's own status page), by version.
    pub fn backfills(&self, engine: &mut dyn Engine) -> Result<Vec<BackfillState>, Error> {
        self.backfill_store().read_all(engine)
    }

    fn with_backfill_mode(&self, mode: BackfillMode) -> Migrator<'_> {
        let config = Config {
            backfill: mode,
            ..self.config.clone()
        };
        Migrator::new(self.set).with_config(config)
    }

    /// The apply loop met the backfill migration `m` going up, with `after` waiting behind it: starts it
    /// (claims its row as `running` and opens its progress row, in the run's transaction) unless the
    /// boot defers it, and reports it and the migrations that wait.
    pub(crate) fn reach_backfill(
        &self,
        session: &mut Session<'_>,
        m: &Migration,
        after: &[&Migration],
        report: &mut Report,
    ) -> Result<(), Error> {
        let outcome = if self.config.backfill == BackfillMode::Deferred {
            info!(version = m.version, file = %m.file_name, "backfill deferred: run --migrate-backfill");
            Outcome::BackfillDeferred
        } else {
            self.start_backfill(session, m)?
        };
        push(report, m, outcome);
        for later in after {
            push(report, later, Outcome::HeldBack);
        }
        Ok(())
    }

    /// Claims the backfill's row and opens (or reopens) its progress row; the outcome says whether it
    /// runs now (started or resumed) or another process completed it meanwhile.
    fn start_backfill(&self, session: &mut Session<'_>, m: &Migration) -> Result<Outcome, Error> {
        let Some(spec) = m.backfill.as_ref() else {
            return Err(Error::Usage(format!("{} is not a backfill", m.file_name)));
        };
        let store = self.backfill_store();
        store.ensure(session.engine)?;
        let d = session.engine.dialect();
        let db = |what: &str, e: DbError| Error::Database {
            context: format!("{what} the backfill {}", m.version),
            source: e,
        };
        // The claim and the progress row commit together: in the run's transaction (a savepoint, so a
        // refusal leaves no claim behind), or in a transaction of their own.
        let (open, commit, rollback) = if d.atomicity == Atomicity::RunTransaction {
            (
                "SAVEPOINT migrator_backfill".to_string(),
                "RELEASE migrator_backfill",
                "ROLLBACK TO migrator_backfill; RELEASE migrator_backfill",
            )
        } else {
            // A fresh database's run transaction (migrations before this one) commits first: the start
            // is a transaction of its own, as every batch is.
            session.commit_run_transaction()?;
            let e = &*session.engine;
            (
                format!(
                    "{}; {}",
                    d.begin,
                    e.opening_sql(
                        self.config.lock_timeout,
                        self.config.statement_timeout,
                        true
                    )
                ),
                "COMMIT",
                "ROLLBACK",
            )
        };
        session
            .engine
            .execute(&open)
            .map_err(|e| db("starting", e))?;
        let result = self.open_progress(session, m, spec, &store);
        let end = if result.is_ok() { commit } else { rollback };
        if let Err(e) = session.engine.execute(end) {
            let _ = session.engine.execute(rollback);
            result?;
            return Err(db("committing the start of", e));
        }
        result
    }

    fn open_progress(
        &self,
        session: &mut Session<'_>,
        m: &Migration,
        spec: &crate::backfill::Backfill,
        store: &Store,
    ) -> Result<Outcome, Error> {
        let engine = &mut *session.engine;
        let d = engine.dialect();
        if !session
            .history
            .claim(engine, m, Direction::Up, Status::Running)?
        {
            // Running (started by another process, or this one before it stopped) or applied meanwhile.
            let row = session.history.read(engine)?;
            let status = row
                .iter()
                .find(|r| r.version == m.version)
                .map(|r| r.status);
            return Ok(match status {
                Some(Status::Applied) => Outcome::DoneElsewhere,
                _ => Outcome::BackfillRunning,
            });
        }
        let statement = BatchStatement::new(&m.up[0].sql, spec).map_err(Error::Usage)?;
        let existing = store
            .cursor(engine, m.version, false)
            .map_err(|e| db_error(m, e))?;
        if existing.is_some_and(|c| c.phase != Phase::Done) {
            // A failed backfill taken over by the claim: it resumes at its cursor.
            return Ok(Outcome::BackfillRunning);
        }
        let (table, key) = (&spec.table, &spec.key);
        let nulls = engine
            .query(&format!(
                "SELECT 1 FROM {table} WHERE {key} IS NULL LIMIT 1"
            ))
            .map_err(|e| db_error(m, e))?;
        if !nulls.is_empty() {
            return Err(Error::Refused(format!(
                "the backfill {} ({}) is keyed by {table}.{key}, and some rows have no {key} (NULL): their rows would never be in a batch; give the key column NOT NULL values (or choose another key=) and start again",
                m.version, m.file_name
            )));
        }
        let bounds = engine
            .query(&format!("SELECT min({key}), max({key}) FROM {table}"))
            .map_err(|e| db_error(m, e))?;
        let bound = |i: usize| bounds.first().and_then(|r| r.get(i)?.as_i64());
        let fresh = store::Fresh {
            version: m.version,
            checksum: &m.checksum,
            key_column: statement.column(),
            first_key: bound(0),
            last_key: bound(1),
        };
        let mut sql = store.start_sql(d, &fresh, existing.is_some());
        let detail = format!(
            "{} from {} to {} (batch {}, pause {}{})",
            statement.column(),
            fresh.first_key.map_or("-".into(), |k| k.to_string()),
            fresh.last_key.map_or("-".into(), |k| k.to_string()),
            spec.batch,
            spec.pause
                .map_or("default".to_string(), |p| format!("{} ms", p.as_millis())),
            spec.target
                .map(|t| format!(", target {} ms", t.as_millis()))
                .unwrap_or_default()
        );
        sql.push_str(";\n");
        sql.push_str(&session.history.log_sql(
            d,
            m.version,
            "backfill_started",
            Some(&m.checksum),
            "NULL",
            Some(&detail),
        ));
        engine.execute(&sql).map_err(|e| db_error(m, e))?;
        info!(version = m.version, file = %m.file_name, %detail, "backfill started");
        Ok(Outcome::BackfillRunning)
    }

    /// Before a boot takes the lock: when the first pending migration is a backfill already under way,
    /// there is nothing to apply before it. Inline, this boot joins it and goes on after it; otherwise
    /// the report says it runs and what waits. `None`: the boot goes on as usual.
    pub(crate) fn backfill_under_way(
        &self,
        engine: &mut dyn Engine,
        pending: &[&Migration],
        rows: &[HistoryRow],
    ) -> Result<Option<Report>, Error> {
        let Some((first, after)) = pending.split_first() else {
            return Ok(None);
        };
        if !backfill_first(pending, rows) {
            return Ok(None);
        }
        let mut report = Report::default();
        push(&mut report, first, Outcome::BackfillRunning);
        for later in after {
            push(&mut report, later, Outcome::HeldBack);
        }
        if self.config.backfill == BackfillMode::Inline {
            self.drive_backfills(engine, &mut report, &mut |_| {})?;
        }
        Ok(Some(report))
    }

    /// After a boot's run: inline, the backfill it started runs now, then what waited.
    pub(crate) fn after_boot(
        &self,
        engine: &mut dyn Engine,
        mut report: Report,
    ) -> Result<Report, Error> {
        let started = report
            .steps
            .iter()
            .any(|s| s.outcome == Outcome::BackfillRunning);
        if started && self.config.backfill == BackfillMode::Inline {
            self.drive_backfills(engine, &mut report, &mut |_| {})?;
        }
        Ok(report)
    }

    /// Runs every started backfill to its end, then boots again for what waited (which may start the
    /// next backfill), until none is left.
    fn drive_backfills(
        &self,
        engine: &mut dyn Engine,
        report: &mut Report,
        on_progress: &mut dyn FnMut(&Progress),
    ) -> Result<(), Error> {
        let background = self.with_backfill_mode(BackfillMode::Background);
        loop {
            let started = self.started_backfills(engine)?;
            if started.is_empty() {
                return self.settle(engine, report);
            }
            self.run_started(engine, &started, report, on_progress)?;
            let next = background.boot(engine)?;
            merge(report, next);
        }
    }

    /// Runs the batches of each of `started` to its end and reports it backfilled.
    fn run_started(
        &self,
        engine: &mut dyn Engine,
        started: &[&Migration],
        report: &mut Report,
        on_progress: &mut dyn FnMut(&Progress),
    ) -> Result<(), Error> {
        for m in started {
            let run = self.run_backfill(engine, m, on_progress)?;
            let took = run.took;
            report.backfills.push(run);
            report.steps.retain(|s| s.version != m.version);
            report.push(m, Some(Direction::Up), took);
            if let Some(step) = report.steps.last_mut() {
                step.outcome = Outcome::Backfilled;
            }
        }
        Ok(())
    }

    /// After a re-apply by issue stopped at a backfill it started: inline, its batches run now and the
    /// issue's migrations that waited for it are re-applied (a boot does not: they were rolled back on
    /// purpose). Otherwise they wait for `--migrate-backfill`, then another re-apply.
    pub(crate) fn after_reapply(
        &self,
        engine: &mut dyn Engine,
        issue: u32,
        report: &mut Report,
    ) -> Result<(), Error> {
        let started: Vec<&Migration> = report
            .steps
            .iter()
            .filter(|s| s.outcome == Outcome::BackfillRunning)
            .filter_map(|s| self.set_for(engine.dialect().kind).get(s.version))
            .collect();
        if started.is_empty() || self.config.backfill != BackfillMode::Inline {
            return Ok(());
        }
        self.run_started(engine, &started, report, &mut |_| {})?;
        if report.steps.iter().any(|s| s.outcome == Outcome::HeldBack) {
            let next = self.reapply_issue(engine, issue)?;
            merge(report, next);
        }
        Ok(())
    }

    /// At the end: migrations the report still shows waiting that another process applied meanwhile.
    fn settle(&self, engine: &mut dyn Engine, report: &mut Report) -> Result<(), Error> {
        let rows = self.read_history(engine)?;
        for step in &mut report.steps {
            let applied = rows
                .iter()
                .any(|r| r.version == step.version && r.status == Status::Applied);
            if applied && matches!(step.outcome, Outcome::HeldBack | Outcome::BackfillRunning) {
                step.outcome = Outcome::DoneElsewhere;
            }
        }
        Ok(())
    }

    /// The backfill migrations of this engine's set whose row is `running` or `failed`, by version.
    fn started_backfills(&self, engine: &mut dyn Engine) -> Result<Vec<&Migration>, Error> {
        let set = self.set_for(engine.dialect().kind);
        let rows = self.read_history(engine)?;
        Ok(rows
            .iter()
            .filter(|r| matches!(r.status, Status::Running | Status::Failed))
            .filter_map(|r| set.get(r.version))
            .filter(|m| m.backfill.is_some())
            .collect())
    }

    /// Runs the batches of one started backfill (no migration lock: the batches take turns by their
    /// cursor row).
    fn run_backfill(
        &self,
        engine: &mut dyn Engine,
        m: &Migration,
        on_progress: &mut dyn FnMut(&Progress),
    ) -> Result<BackfillRun, Error> {
        let Some(spec) = m.backfill.as_ref() else {
            return Err(Error::Usage(format!("{} is not a backfill", m.file_name)));
        };
        let _span = info_span!("migrator.backfill.run", version = m.version).entered();
        let statement = BatchStatement::new(&m.up[0].sql, spec).map_err(Error::Usage)?;
        batch::Runner {
            engine,
            migration: m,
            spec,
            statement,
            store: self.backfill_store(),
            history: self.history_store(),
            config: &self.config,
        }
        .run(on_progress)
    }
}

/// `true` when the first pending migration is a backfill already started (its row `running` or
/// `failed`): a boot has nothing to apply before it, nor to back up or rehearse.
pub(crate) fn backfill_first(pending: &[&Migration], rows: &[HistoryRow]) -> bool {
    pending.first().is_some_and(|first| {
        first.backfill.is_some()
            && rows.iter().any(|r| {
                r.version == first.version && matches!(r.status, Status::Running | Status::Failed)
            })
    })
}

fn db_error(m: &Migration, e: DbError) -> Error {
    Error::Database {
        context: format!("starting the backfill {} ({})", m.version, m.file_name),
        source: e,
    }
}

fn push(report: &mut Report, m: &Migration, outcome: Outcome) {
    report.push(m, None, std::time::Duration::ZERO);
    if let Some(step) = report.steps.last_mut() {
        step.outcome = outcome;
    }
}

/// Adds a later boot's report to this one: its steps replace what this one said of the same migrations
/// (held back, running), its backfills and checks are added.
fn merge(report: &mut Report, next: Report) {
    for step in next.steps {
        report.steps.retain(|s| {
            s.version != step.version
                || !matches!(
                    s.outcome,
                    Outcome::HeldBack | Outcome::BackfillRunning | Outcome::BackfillDeferred
                )
        });
        report.steps.push(step);
    }
    report.backfills.extend(next.backfills);
    report.health_checks.extend(next.health_checks);
    report.lock_wait += next.lock_wait;
    report.backup = report.backup.take().or(next.backup);
    report.rehearsal = report.rehearsal.take().or(next.rehearsal);
}
