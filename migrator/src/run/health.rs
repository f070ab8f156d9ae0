//! After applying: the engine's own health checks and the application's, with the configured reaction
//! when they fail; and before applying, the spec's `max_rows_affected`.

use std::collections::BTreeSet;

use tracing::{debug, info, warn};

use super::down_chain::words_change_only_the_schema;
use super::session::{shorten, Session};
use crate::engine::{CheckScope, Direction, Engine};
use crate::{Error, Migration, Migrator, OnHealthFailure, Report, Statement};

/// What the engine's own checks after `applied` may stop at: the tables the migrations name (UP or DOWN),
/// and of those the ones whose rows they may have written. `None`, the whole database, when a statement
/// that ran (the UP after a boot, the UP and DOWN after a rehearsal) is a `PRAGMA` (it may change what
/// SQLite itself enforces: `writable_schema`, `ignore_check_constraints`, `foreign_keys`) or when a
/// migration names no table although it runs statements (what it touches is not known).
///
/// After a boot (`ran` is [`Ran::UpOnly`]) a migration whose every UP statement creates something new
/// (`CREATE TABLE` with columns, `CREATE INDEX`, `CREATE VIEW`, `CREATE TRIGGER`) names nothing: a new
/// table is empty and the others keep their rows and keys, so no check can find anything it did. After a
/// rehearsal its DOWN ran too, and what that dropped is checked.
pub(crate) fn health_scope(applied: &[&Migration], ran: Ran) -> Option<CheckScope> {
    let mut named = BTreeSet::new();
    let mut written = BTreeSet::new();
    let mut outside_a_transaction = false;
    for m in applied {
        outside_a_transaction |= m.no_transaction;
        if m.tables.is_empty() && !m.up.is_empty() {
            return None;
        }
        // What ran: after a boot the UP alone, after a rehearsal its DOWN too.
        let down = match ran {
            Ran::UpOnly => &[],
            Ran::UpAndDown => m.down.as_deref().unwrap_or(&[]),
        };
        let mut writes = false;
        let mut creates_only = true;
        for (index, statement) in m.up.iter().chain(down).enumerate() {
            let words = migrator_format::statement_words(&statement.sql).ok()?;
            if words.first().is_some_and(|w| w == "PRAGMA") {
                return None;
            }
            if index < m.up.len() {
                writes |= !leaves_rows_alone(&words);
                creates_only &= creates_something_new(&words);
            }
        }
        if ran == Ran::UpOnly && creates_only {
            continue;
        }
        let tables = m.tables.iter().map(|t| t.to_string());
        if writes {
            written.extend(tables.clone());
        }
        named.extend(tables);
    }
    Some(CheckScope {
        named: named.into_iter().collect(),
        written: written.into_iter().collect(),
        outside_a_transaction,
    })
}

/// Which statements of the migrations ran before the checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ran {
    /// A boot: each migration's UP.
    UpOnly,
    /// A rehearsal: UP, DOWN and UP again.
    UpAndDown,
}

/// `true` when every one of `statements` only creates a new schema object: `CREATE TABLE` with columns
/// (not `AS SELECT`), `CREATE [UNIQUE] INDEX`, `CREATE VIEW`, `CREATE TRIGGER`. Such a section writes no
/// row and a new table is empty: no foreign key or integrity check can find anything it did.
pub(crate) fn only_creates(statements: &[Statement]) -> bool {
    statements.iter().all(|statement| {
        migrator_format::statement_words(&statement.sql)
            .is_ok_and(|words| creates_something_new(&words))
    })
}

/// `true` for a statement (cut into words) that [`only_creates`] counts: a `CREATE` that changes only the
/// schema.
fn creates_something_new(words: &[String]) -> bool {
    words.first().is_some_and(|w| w == "CREATE") && words_change_only_the_schema(words)
}

/// A statement's first word as written (its text starts at its first token): enough to tell an `UPDATE`
/// or a `DELETE` without cutting the whole statement into words.
fn leading_word(sql: &str) -> &str {
    let end = sql
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(sql.len());
    &sql[..end]
}

/// `true` for a statement (cut into words) that changes only the schema and writes no row
/// ([`words_change_only_the_schema`]), and is not a `DROP TABLE` (which deletes the rows first when foreign
/// keys are enforced, cascading).
fn leaves_rows_alone(words: &[String]) -> bool {
    words_change_only_the_schema(words)
        && !(words.first().is_some_and(|w| w == "DROP")
            && words.get(1).is_some_and(|w| w == "TABLE"))
}

impl Migrator<'_> {
    /// Health checks after a boot applied something: the engine's own and the application's. On failure,
    /// the configured reaction (roll back this boot's migrations, restore the backup, or stop), recorded in
    /// the log and returned as [`Error::HealthCheck`].
    pub(crate) fn check_health(
        &self,
        engine: &mut dyn Engine,
        report: &mut Report,
    ) -> Result<(), Error> {
        if report.applied_versions().is_empty() {
            return Ok(());
        }
        let applied = self.applied_in(engine, report);
        let problems = self.health_problems(engine, &applied, Ran::UpOnly)?;
        self.health_verdict(engine, report, problems, true)
    }

    /// What follows health checks that found `problems` (none: they passed) after a boot applied
    /// something: recorded in `report` and the log, and on failure the configured reaction, returned as
    /// [`Error::HealthCheck`]. `committed` is `false` when the checks ran in the run's transaction and it
    /// was rolled back on these problems instead of committing: nothing of the boot stays, so there is
    /// nothing to react to.
    pub(crate) fn health_verdict(
        &self,
        engine: &mut dyn Engine,
        report: &mut Report,
        problems: Vec<String>,
        committed: bool,
    ) -> Result<(), Error> {
        let applied = report.applied_versions();
        self.record_health_checks(engine, report);
        if problems.is_empty() {
            info!(checks = report.health_checks.len(), "health checks passed");
            return Ok(());
        }
        warn!(problems = problems.len(), "health checks failed");
        let history = self.history_store();
        let detail = problems.join("; ");
        for version in &applied {
            let _ = history.log(engine, *version, "health_failed", Some(&detail));
        }
        let outcome = if committed {
            self.react_to_bad_health(engine, report, &applied)
        } else {
            Ok("The run's transaction was rolled back before it committed: nothing of this boot stays, the database is as before it; fix the migrations (or the health check) and boot again.".to_string())
        };
        let action = match &outcome {
            Ok(action) => action.clone(),
            Err(e) => format!(
                "The reaction to the failure failed too: {e}\nwhat to do: check the database by hand; the backup is {}",
                report
                    .backup
                    .as_ref()
                    .map_or("not there".to_string(), |b| b.display().to_string())
            ),
        };
        for version in &applied {
            let _ = history.log(engine, *version, "health_reaction", Some(&action));
        }
        Err(Error::HealthCheck {
            problems,
            applied,
            outcome: action,
        })
    }

    /// Records in `report` the health checks that ran (the engine's own, then the application's).
    pub(crate) fn record_health_checks(&self, engine: &mut dyn Engine, report: &mut Report) {
        report
            .health_checks
            .push(format!("{} built-in checks", engine.dialect().kind.name()));
        report
            .health_checks
            .extend(self.config().health_checks.iter().map(|c| c.name.clone()));
    }

    /// The migrations `report` says were applied.
    pub(crate) fn applied_in(&self, engine: &dyn Engine, report: &Report) -> Vec<&Migration> {
        let set = self.set_for(engine.dialect().kind);
        report
            .applied_versions()
            .into_iter()
            .filter_map(|v| set.get(v))
            .collect()
    }

    /// The engine's own health checks and the application's, run now after `applied`: the problems
    /// found. The engine's checks may stop at the tables `applied` name ([`health_scope`]).
    pub(crate) fn health_problems(
        &self,
        engine: &mut dyn Engine,
        applied: &[&Migration],
        ran: Ran,
    ) -> Result<Vec<String>, Error> {
        let scope = health_scope(applied, ran);
        debug!(?scope, "health checks");
        let mut problems =
            engine.health_problems(self.config().full_integrity_check, scope.as_ref())?;
        for check in &self.config().health_checks {
            match engine.query(&check.sql) {
                Ok(rows)
                    if rows
                        .first()
                        .and_then(|r| r.first())
                        .is_some_and(|v| v.is_true()) => {}
                Ok(_) => problems.push(format!("health check {} returned false", check.name)),
                Err(e) => problems.push(format!("health check {} failed: {e}", check.name)),
            }
        }
        Ok(problems)
    }

    fn react_to_bad_health(
        &self,
        engine: &mut dyn Engine,
        report: &Report,
        applied: &[u64],
    ) -> Result<String, Error> {
        let migrations: Vec<&Migration> = applied
            .iter()
            .rev()
            .filter_map(|v| self.set_for(engine.dialect().kind).get(*v))
            .collect();
        let all_have_down = migrations.iter().all(|m| m.has_down());
        match self.config().on_health_failure {
            OnHealthFailure::RollBack if all_have_down => {
                let mut session = Session::begin(engine, self.config())?;
                let mut undo = Report::default();
                let result = self.apply_all(&mut session, &migrations, Direction::Down, &mut undo);
                session.end(true)?;
                result?;
                Ok("The migrations of this boot were rolled back through their DOWNs; fix them and boot again.".to_string())
            }
            OnHealthFailure::RollBack | OnHealthFailure::Restore => {
                let backup = report.backup.as_ref().ok_or_else(|| {
                    Error::Backup(
                        "no backup was taken before this boot, so it cannot be restored".to_string(),
                    )
                })?;
                engine
                    .backup()
                    .ok_or_else(|| Error::Backup("this engine cannot restore".to_string()))?
                    .restore(backup)?;
                Ok(format!(
                    "The database was restored from {} (taken before this boot applied anything).",
                    backup.display()
                ))
            }
            OnHealthFailure::Stop => Ok("The migrations stay applied (on_health_failure = Stop); investigate, then roll back with --migrate-rollback or restore with --migrate-restore.".to_string()),
        }
    }
}

/// The `-- migrator:allow` id that lets a migration's UPDATE/DELETE exceed `max_rows_affected`.
pub const ROW_LIMIT_ALLOW: &str = "update-delete-without-where";

/// The spec's `max_rows_affected`: refuses, before anything runs, the pending UP statements that UPDATE or
/// DELETE more rows than `limit` by the engine's estimate. Statements on tables or columns an earlier
/// pending migration creates cannot be estimated and pass; a migration that allows
/// `update-delete-without-where` (the analyser's check of which this is the live half) passes.
pub(crate) fn check_row_limit(
    engine: &mut dyn Engine,
    pending: &[&Migration],
    limit: Option<u64>,
) -> Result<(), Error> {
    let Some(limit) = limit else {
        return Ok(());
    };
    let Some(stats) = engine.stats() else {
        return Ok(());
    };
    let mut over = Vec::new();
    for m in pending {
        if m.backfill.is_some() {
            debug!(
                version = m.version,
                "a backfill runs in batches: no row limit"
            );
            continue;
        }
        if let Some((_, reason)) = m.allows.iter().find(|(id, _)| id == ROW_LIMIT_ALLOW) {
            debug!(version = m.version, %reason, "row limit allowed by the migration");
            continue;
        }
        for statement in m.up.iter() {
            let first = leading_word(&statement.sql);
            if !(first.eq_ignore_ascii_case("UPDATE") || first.eq_ignore_ascii_case("DELETE")) {
                continue;
            }
            let estimate = stats.estimate_rows(&statement.sql)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    use crate::run::test_migration as migration;

    #[test]
    fn the_leading_word_is_the_statements_first_word_as_written() {
        assert_eq!(leading_word("update t SET a = 1"), "update");
        assert_eq!(leading_word("DELETE\nFROM t"), "DELETE");
        assert_eq!(leading_word("UPDATE_LOG(x)"), "UPDATE_LOG");
        assert_eq!(leading_word("(SELECT 1)"), "");
        assert_eq!(leading_word(""), "");
    }

    #[test]
    fn a_boot_checks_what_its_up_ran_and_a_rehearsal_its_down_too() {
        // The UP only creates; the DOWN is a PRAGMA, which ran in a rehearsal only.
        let m = migration(
            "CREATE TABLE t (id integer);",
            "PRAGMA foreign_keys = ON;\nDROP TABLE t;",
        );
        let boot = health_scope(&[&m], Ran::UpOnly).expect("a scope after a boot");
        assert!(boot.named.is_empty(), "{boot:?}");
        assert_eq!(health_scope(&[&m], Ran::UpAndDown), None);

        // An UP that writes rows names its table as written, after a boot and after a rehearsal.
        let w = migration("UPDATE t SET id = id + 1;", "UPDATE t SET id = id - 1;");
        for ran in [Ran::UpOnly, Ran::UpAndDown] {
            let scope = health_scope(&[&w], ran).expect("a scope");
            assert_eq!(scope.written, ["t"], "{ran:?}");
        }
        // A PRAGMA in the UP always checks the whole database.
        let p = migration(
            "PRAGMA foreign_keys = OFF;\nCREATE TABLE u (id integer);",
            "",
        );
        assert_eq!(health_scope(&[&p], Ran::UpOnly), None);
    }
}
