//! The algorithm: validate, plan, lock, re-validate under the lock, apply in order, stop at the first
//! failure, report. Engine details live behind [`Backend`].

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tracing::{debug, info, info_span, warn};

use crate::backend::{Backend, Direction};
use crate::plan::{plan, status_entries, StatusEntry};
use crate::{
    Config, Error, HistoryRow, Migration, MigrationError, MigrationSet, OnHealthFailure, Report,
    Status,
};

/// Options of a rollback by issue.
#[derive(Debug, Clone, Copy, Default)]
pub struct RollbackOptions {
    /// Roll back even when later applied migrations of other issues touch the same tables.
    pub force: bool,
}

/// The runtime over one migration set.
#[derive(Debug, Clone)]
pub struct Migrator<'s> {
    set: &'s MigrationSet,
    config: Config,
}

impl<'s> Migrator<'s> {
    /// A migrator over `set` with the default configuration.
    pub fn new(set: &'s MigrationSet) -> Self {
        Self {
            set,
            config: Config::default(),
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

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Brings the database up to date: validates the embedded set against `schema_migrations` (refusing
    /// on edited, missing, out-of-order or interrupted migrations), and applies what is pending in version
    /// order under the write lock. When nothing is pending it takes no lock and writes nothing.
    pub fn boot(&self, backend: &mut dyn Backend) -> Result<Report, Error> {
        let span = info_span!(
            "migrator.boot",
            engine = backend.engine().name(),
            embedded = self.set.len()
        );
        let _enter = span.enter();
        let started = Instant::now();
        if let Some(applied) = self.all_applied(backend)? {
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
        let rows = backend.read_history()?;
        let first = plan(self.set, &rows, &self.config).map_err(Error::Validation)?;
        self.check_review(&first.pending)?;
        check_row_limit(backend, &first.pending, self.config.max_rows_affected)?;
        debug!(
            applied = first.applied,
            pending = first.pending.len(),
            "boot check"
        );
        if first.pending.is_empty() {
            let mut report = Report {
                already_applied: first.applied,
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

        let lock_started = Instant::now();
        backend.begin_run(&self.config)?;
        let lock_wait = lock_started.elapsed();
        info!(waited_ms = lock_wait.as_millis() as u64, "lock taken");
        // Another process may have migrated while we waited: plan again under the lock.
        let rows = match backend.read_history() {
            Ok(rows) => rows,
            Err(e) => {
                let _ = backend.finish_run(false);
                return Err(e);
            }
        };
        let plan = match plan(self.set, &rows, &self.config) {
            Ok(plan) => plan,
            Err(problems) => {
                let _ = backend.finish_run(false);
                return Err(Error::Validation(problems));
            }
        };
        let mut report = Report {
            already_applied: plan.applied,
            lock_wait,
            ..Report::default()
        };
        for m in &plan.skipped {
            report.push(m, None, Duration::ZERO);
        }
        if self.config.require_backup {
            if let Some(first) = plan.pending.first() {
                match self.take_backup(backend, &first.version.to_string()) {
                    Ok(path) => report.backup = Some(path),
                    Err(e) => {
                        let _ = backend.finish_run(false);
                        return Err(e);
                    }
                }
            }
        }
        if self.config.require_test_run && !plan.pending.is_empty() {
            match self.rehearse_on_copy(backend, &plan.pending, report.backup.as_deref()) {
                Ok(rehearsal) => report.rehearsal = Some(rehearsal),
                Err(e) => {
                    let _ = backend.finish_run(false);
                    return Err(e);
                }
            }
        }
        self.run(backend, &plan.pending, Direction::Up, &mut report)?;
        self.check_health(backend, &mut report)?;
        report.total = started.elapsed();
        Ok(report)
    }

    /// Refuses pending migrations that hold statements the policy wants reviewed, in files without a
    /// review mark.
    pub(crate) fn check_review(&self, pending: &[&Migration]) -> Result<(), Error> {
        let unreviewed: Vec<_> = pending
            .iter()
            .flat_map(|m| crate::review::unreviewed(m, &self.config.require_review))
            .collect();
        if unreviewed.is_empty() {
            return Ok(());
        }
        warn!(count = unreviewed.len(), "unreviewed statements refused");
        Err(Error::ReviewRequired(unreviewed))
    }

    /// The boot check's fast path: `Some(count)` when every embedded migration is applied with its
    /// checksum and history holds nothing else, read without allocating; `None` sends the boot to the full
    /// validation, which explains whatever differs.
    fn all_applied(&self, backend: &mut dyn Backend) -> Result<Option<usize>, Error> {
        let migrations = self.set.migrations();
        let mut next = 0;
        let mut clean = true;
        let exists = backend.scan_history(&mut |version, checksum, status| {
            let matches = migrations.get(next).is_some_and(|m| {
                m.version == version
                    && status == "applied"
                    && checksum.is_none_or(|c| c == m.checksum)
            });
            clean &= matches;
            next += 1;
        })?;
        Ok(
            (clean && next == migrations.len() && (exists || migrations.is_empty()))
                .then_some(next),
        )
    }

    /// Health checks after a boot applied something: the engine's own and the application's. On failure,
    /// the configured reaction (roll back this boot's migrations, restore the backup, or stop), recorded in
    /// `schema_migrations_log` and returned as [`Error::HealthCheck`].
    fn check_health(&self, backend: &mut dyn Backend, report: &mut Report) -> Result<(), Error> {
        let applied = report.applied_versions();
        if applied.is_empty() {
            return Ok(());
        }
        let problems = self.health_problems(backend)?;
        report
            .health_checks
            .push(format!("{} built-in checks", backend.engine().name()));
        report
            .health_checks
            .extend(self.config.health_checks.iter().map(|c| c.name.clone()));
        if problems.is_empty() {
            info!(checks = report.health_checks.len(), "health checks passed");
            return Ok(());
        }
        warn!(problems = problems.len(), "health checks failed");
        let detail = problems.join("; ");
        for version in &applied {
            let _ = backend.record_event(*version, "health_failed", &detail);
        }
        let outcome = self.react_to_bad_health(backend, report, &applied);
        let action = match &outcome {
            Ok(action) => action.clone(),
            Err(e) => format!("The reaction to the failure failed too: {e}\nwhat to do: check the database by hand; the backup is {}", report.backup.as_ref().map_or("not there".to_string(), |b| b.display().to_string())),
        };
        for version in &applied {
            let _ = backend.record_event(*version, "health_reaction", &action);
        }
        Err(Error::HealthCheck {
            problems,
            applied,
            outcome: action,
        })
    }

    /// The engine's own health checks and the application's, run now: the problems found.
    pub(crate) fn health_problems(&self, backend: &mut dyn Backend) -> Result<Vec<String>, Error> {
        let mut problems = backend.health_problems(self.config.full_integrity_check)?;
        for check in &self.config.health_checks {
            match backend.check_query(&check.sql) {
                Ok(true) => {}
                Ok(false) => problems.push(format!("health check {} returned false", check.name)),
                Err(e) => problems.push(format!("health check {} failed: {e}", check.name)),
            }
        }
        Ok(problems)
    }

    fn react_to_bad_health(
        &self,
        backend: &mut dyn Backend,
        report: &Report,
        applied: &[u64],
    ) -> Result<String, Error> {
        let migrations: Vec<&'s Migration> = applied
            .iter()
            .rev()
            .filter_map(|v| self.set.get(*v))
            .collect();
        let all_have_down = migrations.iter().all(|m| m.has_down());
        match self.config.on_health_failure {
            OnHealthFailure::RollBack if all_have_down => {
                backend.begin_run(&self.config)?;
                let mut undo = Report::default();
                self.run(backend, &migrations, Direction::Down, &mut undo)?;
                Ok("The migrations of this boot were rolled back through their DOWNs; fix them and boot again.".to_string())
            }
            OnHealthFailure::RollBack | OnHealthFailure::Restore => {
                let backup = report.backup.as_ref().ok_or_else(|| Error::Backup("no backup was taken before this boot, so it cannot be restored".to_string()))?;
                backend.restore(backup)?;
                Ok(format!("The database was restored from {} (taken before this boot applied anything).", backup.display()))
            }
            OnHealthFailure::Stop => Ok("The migrations stay applied (on_health_failure = Stop); investigate, then roll back with --migrate-rollback or restore with --migrate-restore.".to_string()),
        }
    }

    /// The backup directory and the backup files' stem for this database.
    fn backup_place(&self, backend: &dyn Backend) -> Result<(PathBuf, String), Error> {
        let stem = backend.backup_stem().ok_or_else(|| {
            Error::Backup(
                "this database has no name to file backups under (an in-memory SQLite database?)"
                    .to_string(),
            )
        })?;
        let dir = self
            .config
            .backup_dir
            .clone()
            .or_else(|| backend.default_backup_dir())
            .ok_or_else(|| {
                Error::Backup("no backup directory: set Config::backup_dir".to_string())
            })?;
        Ok((dir, stem))
    }

    /// Takes a checked backup before `before` (a version, or `restore`) and prunes old ones.
    fn take_backup(&self, backend: &mut dyn Backend, before: &str) -> Result<PathBuf, Error> {
        let (dir, stem) = self.backup_place(backend)?;
        crate::backup::ensure_dir(&dir)?;
        let target = dir.join(crate::backup::file_name(
            &stem,
            before,
            backend.backup_extension(),
        ));
        let started = Instant::now();
        if !backend.backup(&target)? {
            return Err(Error::Backup(format!(
                "the {} backend cannot make a backup of this database (for PostgreSQL: pg_dump on PATH and a connection made from a URL)",
                backend.engine().name()
            )));
        }
        info!(path = %target.display(), took_ms = started.elapsed().as_millis() as u64, "backup taken");
        for old in crate::backup::prune(&dir, &stem, self.config.backups_to_keep)? {
            debug!(path = %old.display(), "old backup deleted");
        }
        Ok(target)
    }

    /// The backups of this database, newest first, and the directory they are in.
    pub fn backups(
        &self,
        backend: &dyn Backend,
    ) -> Result<(PathBuf, Vec<crate::backup::BackupFile>), Error> {
        let (dir, stem) = self.backup_place(backend)?;
        let files = crate::backup::list(&dir, &stem)?;
        Ok((dir, files))
    }

    /// Replaces the database with a backup, after taking a backup of the current state (named
    /// `...-before-restore...`, so a wrong restore can be undone). Returns that safety backup.
    pub fn restore(&self, backend: &mut dyn Backend, backup: &Path) -> Result<PathBuf, Error> {
        let _span = info_span!("migrator.restore", backup = %backup.display()).entered();
        if !backup.is_file() {
            return Err(Error::Usage(format!(
                "no backup file at {}; list them with --migrate-backups",
                backup.display()
            )));
        }
        let safety = self.take_backup(backend, "restore")?;
        backend.restore(backup)?;
        info!(safety = %safety.display(), "restored");
        Ok(safety)
    }

    /// Runs `migrations` in order in one direction inside a run; stops at the first failure.
    fn run(
        &self,
        backend: &mut dyn Backend,
        migrations: &[&Migration],
        direction: Direction,
        report: &mut Report,
    ) -> Result<(), Error> {
        for m in migrations {
            if let Err(e) = self.run_one(backend, m, direction, report) {
                backend.finish_run(true)?;
                return Err(e);
            }
        }
        backend.finish_run(true)
    }

    /// Runs one migration inside a run and adds it to `report`; a failure is recorded in history and
    /// returned as [`Error::Migration`] naming the file, statement, line and the database's message.
    pub(crate) fn run_one(
        &self,
        backend: &mut dyn Backend,
        m: &Migration,
        direction: Direction,
        report: &mut Report,
    ) -> Result<Duration, Error> {
        info!(version = m.version, file = %m.file_name, issue = ?m.issue, %direction, "migrating");
        let failure = match backend.apply(m, direction) {
            Ok(took) => {
                info!(version = m.version, took_ms = took.as_millis() as u64, %direction, "done");
                report.push(m, Some(direction), took);
                return Ok(took);
            }
            Err(failure) => failure,
        };
        let statements = match direction {
            Direction::Up => &m.up[..],
            Direction::Down => m.down.as_deref().unwrap_or(&[]),
        };
        let statement = failure.index.and_then(|i| statements.get(i));
        let error = MigrationError {
            version: m.version,
            file: m.file_name.to_string(),
            issue: m.issue,
            direction,
            statement_index: failure.index.map_or(0, |i| i + 1),
            statement_count: statements.len(),
            line: statement.map_or(0, |s| s.line),
            sql: statement.map(|s| shorten(&s.sql)).unwrap_or_default(),
            db_message: failure.message.clone(),
            completed: if failure.run_rolled_back {
                Vec::new()
            } else {
                report
                    .steps
                    .iter()
                    .filter(|s| s.outcome != crate::Outcome::SkippedRolledBack)
                    .map(|s| s.version)
                    .collect()
            },
            run_rolled_back: failure.run_rolled_back,
            engine: backend.engine().name(),
        };
        warn!(version = m.version, line = error.line, message = %failure.message, "migration failed");
        if failure.run_rolled_back {
            report
                .steps
                .retain(|s| s.outcome == crate::Outcome::SkippedRolledBack);
        }
        if let Err(e) = backend.record_failure(m, direction, &failure.message) {
            warn!(error = %e, "could not record the failure");
        }
        Err(Error::Migration(Box::new(error)))
    }

    /// The state of every migration: applied, pending, rolled back, drifted, missing, failed.
    pub fn status(&self, backend: &mut dyn Backend) -> Result<Vec<StatusEntry>, Error> {
        let rows = backend.read_history()?;
        Ok(status_entries(self.set, &rows))
    }

    /// The rows of `schema_migrations`, newest first (for `--migrate-history`).
    pub fn history(&self, backend: &mut dyn Backend) -> Result<Vec<HistoryRow>, Error> {
        let mut rows = backend.read_history()?;
        rows.reverse();
        Ok(rows)
    }

    /// Rolls back every applied migration of `issue`, newest first, each DOWN with its history update in
    /// one transaction. Refused, before anything runs, when one of them has no DOWN, is not in this binary,
    /// or (without `force`) when a later applied migration of another issue touches the same tables.
    pub fn rollback_issue(
        &self,
        backend: &mut dyn Backend,
        issue: u32,
        options: RollbackOptions,
    ) -> Result<Report, Error> {
        let _span = info_span!("migrator.rollback", issue).entered();
        self.operator_run(backend, Direction::Down, |rows| {
            self.rollback_targets(rows, issue, options)
        })
    }

    fn rollback_targets(
        &self,
        rows: &[HistoryRow],
        issue: u32,
        options: RollbackOptions,
    ) -> Result<Vec<&'s Migration>, Error> {
        let applied: Vec<&HistoryRow> = rows
            .iter()
            .filter(|r| r.status == Status::Applied)
            .collect();
        let of_issue: Vec<&HistoryRow> = applied
            .iter()
            .copied()
            .filter(|r| r.issue == Some(issue))
            .collect();
        if of_issue.is_empty() {
            let known: BTreeSet<u32> = applied.iter().filter_map(|r| r.issue).collect();
            return Err(Error::UnknownIssue {
                issue,
                what: "applied",
                known: known.into_iter().collect(),
            });
        }
        let mut targets = Vec::new();
        for row in of_issue.iter().rev() {
            let m = self.set.get(row.version).ok_or_else(|| Error::RollbackRefused {
                issue,
                reason: format!("migration {} ({}) is not in this binary, so its DOWN is unknown; deploy the binary that has it", row.version, row.name),
            })?;
            if !m.has_down() {
                return Err(Error::RollbackRefused {
                    issue,
                    reason: format!("{} has no DOWN statements; write its DOWN MIGRATION section (or undo it with a new migration)", m.file_name),
                });
            }
            targets.push(m);
        }
        if !options.force {
            let oldest = of_issue.iter().map(|r| r.version).min().unwrap_or(0);
            let touched: BTreeSet<&str> = targets
                .iter()
                .flat_map(|m| m.tables.iter().map(|t| t.as_ref()))
                .collect();
            let mut conflicts = Vec::new();
            for row in applied
                .iter()
                .filter(|r| r.version > oldest && r.issue != Some(issue))
            {
                if let Some(later) = self.set.get(row.version) {
                    let shared: Vec<&str> = later
                        .tables
                        .iter()
                        .map(|t| t.as_ref())
                        .filter(|t| touched.contains(t))
                        .collect();
                    if !shared.is_empty() {
                        conflicts.push(format!(
                            "{} ({}) touches {}",
                            later.file_name,
                            later.issue_label(),
                            shared.join(", ")
                        ));
                    }
                }
            }
            if !conflicts.is_empty() {
                return Err(Error::RollbackRefused {
                    issue,
                    reason: format!(
                        "later applied migrations of other issues touch the same tables:\n  - {}\nwhat to do: roll those back first, or pass --force if you know the DOWN is still right",
                        conflicts.join("\n  - ")
                    ),
                });
            }
        }
        Ok(targets)
    }

    /// Applies again the rolled-back migrations of `issue` (operator's choice, whatever their checksum).
    pub fn reapply_issue(&self, backend: &mut dyn Backend, issue: u32) -> Result<Report, Error> {
        let _span = info_span!("migrator.reapply", issue).entered();
        self.operator_run(backend, Direction::Up, |rows| {
            let targets: Vec<&'s Migration> = rows
                .iter()
                .filter(|r| r.status == Status::RolledBack && r.issue == Some(issue))
                .filter_map(|r| self.set.get(r.version))
                .collect();
            if targets.is_empty() {
                let known: BTreeSet<u32> = rows
                    .iter()
                    .filter(|r| r.status == Status::RolledBack)
                    .filter_map(|r| r.issue)
                    .collect();
                return Err(Error::UnknownIssue {
                    issue,
                    what: "rolled-back",
                    known: known.into_iter().collect(),
                });
            }
            Ok(targets)
        })
    }

    /// Rolls back every applied migration newer than `target` (all of them with `0`), newest first.
    pub fn rollback_to(&self, backend: &mut dyn Backend, target: u64) -> Result<Report, Error> {
        let _span = info_span!("migrator.rollback_to", target).entered();
        self.operator_run(backend, Direction::Down, |rows| {
            rows.iter()
                .rev()
                .filter(|r| r.status == Status::Applied && r.version > target)
                .map(|row| {
                    self.set
                        .get(row.version)
                        .filter(|m| m.has_down())
                        .ok_or_else(|| {
                            Error::Usage(format!(
                            "migration {} ({}) has no DOWN in this binary; nothing was rolled back",
                            row.version, row.name
                        ))
                        })
                })
                .collect()
        })
    }

    /// An operator's action: takes the lock, reads history under it, lets `targets` choose the migrations
    /// (or refuse, before anything runs), runs them in `direction`, and releases the lock on every path.
    fn operator_run(
        &self,
        backend: &mut dyn Backend,
        direction: Direction,
        targets: impl FnOnce(&[HistoryRow]) -> Result<Vec<&'s Migration>, Error>,
    ) -> Result<Report, Error> {
        let started = Instant::now();
        backend.begin_run(&self.config)?;
        let chosen = backend.read_history().and_then(|rows| targets(&rows));
        let targets = match chosen {
            Ok(targets) => targets,
            Err(e) => {
                let _ = backend.finish_run(false);
                return Err(e);
            }
        };
        let mut report = Report::default();
        self.run(backend, &targets, direction, &mut report)?;
        report.total = started.elapsed();
        Ok(report)
    }

    /// Operator repair: records the embedded checksum for an applied migration whose file was edited
    /// deliberately (`--migrate-repair`), or sets a failed/interrupted one's status (`--migrate-mark`).
    pub fn mark(
        &self,
        backend: &mut dyn Backend,
        version: u64,
        status: Status,
        repair_checksum: bool,
    ) -> Result<(), Error> {
        let checksum = if repair_checksum {
            Some(
                self.set
                    .get(version)
                    .ok_or_else(|| {
                        Error::Usage(format!("version {version} is not in this binary"))
                    })?
                    .checksum
                    .as_ref(),
            )
        } else {
            None
        };
        backend.begin_run(&self.config)?;
        match backend.mark(version, status, checksum) {
            Ok(()) => backend.finish_run(true),
            Err(e) => {
                let _ = backend.finish_run(false);
                Err(e)
            }
        }
    }
}

fn shorten(sql: &str) -> String {
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

/// The spec's `max_rows_affected`: refuses, before anything runs, the pending UP statements that UPDATE or
/// DELETE more rows than `limit` by the engine's estimate ([`Backend::estimate_rows`]). Statements on tables
/// or columns an earlier pending migration creates cannot be estimated and pass; a migration that allows
/// `update-delete-without-where` (the analyser's check 22, of which this is the live half) passes.
fn check_row_limit(
    backend: &mut dyn Backend,
    pending: &[&Migration],
    limit: Option<u64>,
) -> Result<(), Error> {
    let Some(limit) = limit else {
        return Ok(());
    };
    let mut over = Vec::new();
    for m in pending {
        if let Some((_, reason)) = m.allows.iter().find(|(id, _)| id == ROW_LIMIT_ALLOW) {
            debug!(version = m.version, %reason, "row limit allowed by the migration");
            continue;
        }
        for statement in m.up.iter() {
            let words = migrator_format::statement_words(&statement.sql).unwrap_or_default();
            if !matches!(words.first().map(String::as_str), Some("UPDATE" | "DELETE")) {
                continue;
            }
            let estimate = backend.estimate_rows(&statement.sql)?;
            debug!(
                version = m.version,
                line = statement.line,
                ?estimate,
                limit,
                "row estimate"
            );
            if let Some(rows) = estimate.filter(|&rows| rows > limit) {
                over.push(crate::error::RowLimitHit {
                    version: m.version,
                    file: m.file_name.to_string(),
                    line: statement.line,
                    statement: shorten(&statement.sql),
                    rows,
                });
            }
        }
    }
    if over.is_empty() {
        return Ok(());
    }
    warn!(
        count = over.len(),
        limit, "statements over max_rows_affected refused"
    );
    Err(Error::RowLimit { limit, over })
}

/// The `-- migrator:allow` id that lets a migration's UPDATE/DELETE exceed `max_rows_affected`.
pub const ROW_LIMIT_ALLOW: &str = "update-delete-without-where";
