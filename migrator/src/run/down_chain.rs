//! The in-place rehearsal's short path, for the case that is most of all runs: a fresh database (CI,
//! development, a new tenant) and migrations that only change the schema.
//!
//! The general in-place rehearsal runs each migration's DOWN and UP again under a savepoint that is
//! rolled back before the next migration. On SQLite every such rollback throws away the connection's
//! parsed schema (SQLite resets it whenever a savepoint of a transaction that changed the schema is rolled
//! back), and the next statement parses every `CREATE` of the database again: 1,000 pending migrations
//! cost 1,000 parses of a schema that grows to 2,000 objects, 60 % of the whole boot in a profile.
//!
//! Here the UPs run first (they are the real apply, each checked against the schema it must build), then
//! the health checks, then every DOWN **newest first** under one savepoint, each compared with the schema
//! from before its UP, then the whole schema compared with the one before the run; one rollback brings back
//! the state after the UPs. The UP again is not run, because it cannot find anything here: with no
//! application table before the run and no statement that writes rows, every table is empty from start to
//! end, so once a DOWN has brought back the schema from before its UP (checked) the database is exactly
//! as it was before that UP, and the UP again would repeat the first UP statement for statement. The DOWN
//! of migration k runs after the DOWNs of the later ones, as an operator's rollback of the whole run
//! would; each of those was checked to restore the schema from before its own UP, so migration k's DOWN
//! meets the objects its UP left.
//!
//! On SQLite the DOWNs run on an in-memory copy of the database's pages taken right after the UPs
//! ([`crate::engine::ScratchCopy::with_page_copy`]) rather than under a savepoint of the run: the
//! savepoint journaled every page they changed to a temporary file and read it back to undo them, a third
//! of their time. A finding on the copy is not trusted alone: the DOWNs then run again in place, and what
//! the database itself says is reported.
//!
//! Where any of that does not hold (a table existed before the run, a migration inserts, updates or
//! deletes rows, creates a table from a query, runs a PRAGMA or anything else not listed in
//! [`changes_only_the_schema`], has no DOWN, or is history), the general rehearsal runs.

use std::time::Instant;

use tracing::{debug, info, info_span};

use super::rehearse::{
    changes, may_change_unattached, objects_named, order_only_noted, schema_of, unexpected, Change,
    Schema,
};
use super::session::{Session, StepError};
use crate::engine::Direction;
use crate::{Error, Migration, Migrator, Rehearsal, RehearsalPhase};

/// The largest database whose DOWNs run on an in-memory page copy (the short path's databases hold
/// schema and no rows: 1,000 tables with an index each are about 8 MiB).
const PAGE_COPY_MAX_BYTES: u64 = 64 << 20;

/// How the forward pass (every UP, checked) ended.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Forward {
    /// Every UP applied and checked.
    Done,
    /// An UP failed (a finding).
    Failed,
    /// An UP run without its savepoint failed (the database's error): the transaction is aborted.
    Aborted(String),
}

/// What the forward pass keeps of a migration for its DOWN's check.
struct Applied<'m> {
    migration: &'m Migration,
    scope: Vec<String>,
    /// [`may_change_unattached`], worked out once.
    unattached: bool,
    /// The schema of the scope right after the UP, and what the UP changed in it.
    after_up: Schema,
    up_change: Vec<Change>,
}

impl<'s> Migrator<'s> {
    /// `true` when the short path holds for `migrations` (see the module's documentation): every one has
    /// DOWN statements and changes only the schema, none is history, and the database holds no
    /// application table yet.
    pub(super) fn down_chain_suffices(
        &self,
        session: &mut Session<'_>,
        migrations: &[&Migration],
    ) -> Result<bool, Error> {
        let eligible = migrations.iter().all(|m| {
            m.down_kind() == migrator_format::DownKind::Statements
                && !self.config().is_history(m)
                && m.up
                    .iter()
                    .chain(m.down.as_deref().unwrap_or(&[]))
                    .all(|s| changes_only_the_schema(&s.sql))
        });
        if !eligible || !session.can_undo() {
            return Ok(false);
        }
        let history = session.history.clone();
        let own = [history.table(), history.log_table()];
        session.engine.is_fresh(&own).map_err(|e| Error::Database {
            context: "checking whether the database holds application tables".into(),
            source: e,
        })
    }

    /// The short path's rehearsal; the caller holds the run's savepoint and rolls everything back on a
    /// finding.
    pub(super) fn rehearse_down_chain(
        &self,
        session: &mut Session<'_>,
        migrations: &[&Migration],
        rehearsal: &mut Rehearsal,
    ) -> Result<(), Error> {
        info!(
            migrations = migrations.len(),
            "fresh database, schema-only migrations: UPs, then the DOWNs newest first"
        );
        let start = schema_of(self.fingerprint(session, None, true)?);
        let mut applied = Vec::with_capacity(migrations.len());
        let steps_before = rehearsal.steps.len();
        // Every statement is DDL of `changes_only_the_schema`, each migration's scope names what it
        // drops or renames, and the reads after each UP and each DOWN come before anything is rolled
        // back: the engine may read each scope from what changed (see `read_incrementally`).
        read_incrementally(session, true);
        // No savepoint per UP: most runs meet no failure, and on PostgreSQL 1,000 savepoints cost more
        // than the reads of this pass. An UP that fails leaves the transaction aborted; then the pass
        // runs again from the start of the run with a savepoint per UP, which finds and reports it as
        // always.
        session.set_step_savepoints(false);
        let forward = self.ups_checked(session, migrations, rehearsal, &mut applied);
        session.set_step_savepoints(true);
        let forward = match forward {
            Ok(Forward::Aborted(error)) => {
                info!(
                    %error,
                    "an UP failed with no savepoint around it: the UPs again, each in a savepoint"
                );
                session
                    .engine
                    .execute("ROLLBACK TO migrator_run")
                    .map_err(|e| Error::Database {
                        context: format!("undoing the UPs run without savepoints after: {error}"),
                        source: e,
                    })?;
                session.completed.clear();
                rehearsal.steps.truncate(steps_before);
                applied.clear();
                read_incrementally(session, false);
                read_incrementally(session, true);
                self.ups_checked(session, migrations, rehearsal, &mut applied)
            }
            other => other,
        };
        read_incrementally(session, false);
        if forward? != Forward::Done {
            return Ok(());
        }
        self.health_step(session, migrations, rehearsal)?;
        if !rehearsal.findings.is_empty() {
            return Ok(());
        }
        if self.downs_on_page_copy(session, &applied, &start, rehearsal)? {
            return Ok(());
        }
        session
            .engine
            .execute("SAVEPOINT migrator_downs")
            .map_err(|e| Error::Database {
                context: "opening the savepoint of the DOWNs' rehearsal".into(),
                source: e,
            })?;
        let completed = session.completed.len();
        read_incrementally(session, true);
        let outcome = self.downs_newest_first(session, &applied, &start, rehearsal);
        read_incrementally(session, false);
        // Back to the state after the UPs, whatever happened: the run keeps what the UPs did.
        session
            .engine
            .execute("ROLLBACK TO migrator_downs; RELEASE migrator_downs")
            .map_err(|e| Error::Database {
                context: "undoing the DOWNs' rehearsal".into(),
                source: e,
            })?;
        session.completed.truncate(completed);
        outcome
    }

    /// The DOWNs on an in-memory copy of the database as the UPs left it (SQLite, a small database:
    /// [`crate::engine::ScratchCopy::with_page_copy`]), where nothing they change is journaled to a file
    /// or has to be undone. `true` when they ran there and found nothing. A finding there (or a failure
    /// of the copy itself) is set aside and the DOWNs run in place, so that what is reported is what the
    /// database itself says: the copy lacks what the host registered on its own connection (functions,
    /// collations), so a DOWN could fail there only.
    fn downs_on_page_copy(
        &self,
        session: &mut Session<'_>,
        applied: &[Applied<'_>],
        start: &Schema,
        rehearsal: &mut Rehearsal,
    ) -> Result<bool, Error> {
        let Some(scratch) = session.engine.scratch() else {
            return Ok(false);
        };
        let before = (
            rehearsal.steps.len(),
            rehearsal.findings.len(),
            rehearsal.unverified.len(),
        );
        // The copy's own session logs as any does ("lock taken"): under this span.
        let made = info_span!("migrator.page_copy", downs = applied.len()).in_scope(|| {
            scratch.with_page_copy(PAGE_COPY_MAX_BYTES, &mut |copy| {
                let mut on_copy = Session::begin(copy, self.config())?;
                read_incrementally(&mut on_copy, true);
                let outcome = self.downs_newest_first(&mut on_copy, applied, start, rehearsal);
                read_incrementally(&mut on_copy, false);
                // The copy is dropped: committing there costs nothing, rolling back would read back every
                // page the DOWNs changed.
                let _ = on_copy.end(true);
                outcome
            })
        });
        let clean = match &made {
            Ok(made) => *made && rehearsal.findings.len() == before.1,
            Err(e) => {
                info!(error = %e, "the DOWNs' page copy failed: the DOWNs run in place");
                false
            }
        };
        if !clean {
            rehearsal.steps.truncate(before.0);
            rehearsal.findings.truncate(before.1);
            rehearsal.unverified.truncate(before.2);
            if let Ok(true) = made {
                info!("the DOWNs found a problem on the page copy: they run again in place, where it is reported");
            }
        }
        Ok(clean)
    }

    /// Every UP, checked; stops at the first that failed (recorded as a finding, or aborted).
    fn ups_checked<'m>(
        &self,
        session: &mut Session<'_>,
        migrations: &[&'m Migration],
        rehearsal: &mut Rehearsal,
        applied: &mut Vec<Applied<'m>>,
    ) -> Result<Forward, Error> {
        for m in migrations {
            self.unless_stopped(m)?;
            match self.up_checked(session, m, rehearsal)? {
                Ok(one) => applied.push(one),
                Err(stopped) => return Ok(stopped),
            }
        }
        Ok(Forward::Done)
    }

    /// A migration's UP with the schema of its scope read before and after; `Err` when the UP failed
    /// (recorded as a finding) or, without its savepoint, aborted the transaction.
    fn up_checked<'m>(
        &self,
        session: &mut Session<'_>,
        m: &'m Migration,
        rehearsal: &mut Rehearsal,
    ) -> Result<Result<Applied<'m>, Forward>, Error> {
        let scope = objects_named(m);
        let names: Vec<&str> = scope.iter().map(String::as_str).collect();
        let unattached = may_change_unattached(m);
        let before = schema_of(self.fingerprint(session, Some(&names), unattached)?);
        let outcome = match session.apply(m, Direction::Up) {
            Err(StepError::Aborted(error)) => return Ok(Err(Forward::Aborted(error))),
            other => other,
        };
        match self.rehearsal_outcome(session, m, Direction::Up, outcome)? {
            Ok(took) => rehearsal.push(m, RehearsalPhase::Up, took),
            Err(detail) => {
                rehearsal.found(m, RehearsalPhase::Up, detail, Vec::new());
                return Ok(Err(Forward::Failed));
            }
        }
        let after_up = schema_of(self.fingerprint(session, Some(&names), unattached)?);
        let up_change = changes(&before, &after_up);
        Ok(Ok(Applied {
            migration: m,
            scope,
            unattached,
            after_up,
            up_change,
        }))
    }

    /// Every DOWN, newest first, each checked against the schema from before its UP; then the whole
    /// schema against the one from before the run. Stops at the first finding (the DOWNs older than a
    /// broken one would meet a state their UP did not leave).
    fn downs_newest_first(
        &self,
        session: &mut Session<'_>,
        applied: &[Applied<'_>],
        start: &Schema,
        rehearsal: &mut Rehearsal,
    ) -> Result<(), Error> {
        let started = Instant::now();
        for one in applied.iter().rev() {
            let m = one.migration;
            // Rolled back at the end, on tables without rows: the statements alone (see
            // `Session::statements_only`).
            let outcome = session.statements_only(m, Direction::Down);
            match self.rehearsal_outcome(session, m, Direction::Down, outcome)? {
                Ok(took) => rehearsal.push(m, RehearsalPhase::Down, took),
                Err(detail) => {
                    rehearsal.found(m, RehearsalPhase::Down, detail, Vec::new());
                    return Ok(());
                }
            }
            let names: Vec<&str> = one.scope.iter().map(String::as_str).collect();
            let after_down = schema_of(self.fingerprint(session, Some(&names), one.unattached)?);
            let wrong = unexpected(&changes(&one.after_up, &after_down), &one.up_change, |c| {
                &c.before
            });
            let wrong = order_only_noted(m, wrong, rehearsal);
            if !wrong.is_empty() {
                let detail = "the DOWN does not restore the schema from before the UP".to_string();
                rehearsal.found(m, RehearsalPhase::Down, detail, wrong);
                return Ok(());
            }
        }
        // What no migration names (another table's definition rewritten by a rename, say) is compared
        // here, once for the whole run.
        let end = schema_of(self.fingerprint(session, None, true)?);
        let left = unexpected(&changes(start, &end), &[], |c| &c.before);
        let left = match applied.first() {
            Some(oldest) => order_only_noted(oldest.migration, left, rehearsal),
            None => left,
        };
        if let (Some(oldest), false) = (applied.first(), left.is_empty()) {
            let detail = "after every DOWN of this run, newest first, the schema differs from before the run (objects no migration names)".to_string();
            rehearsal.found(oldest.migration, RehearsalPhase::Down, detail, left);
        }
        debug!(
            took_ms = started.elapsed().as_millis() as u64,
            downs = applied.len(),
            "DOWNs rehearsed newest first"
        );
        Ok(())
    }
}

/// Tells the engine's fingerprint (when it has one) whether it may read scopes incrementally.
fn read_incrementally(session: &mut Session<'_>, on: bool) {
    if let Some(fingerprint) = session.engine.fingerprint() {
        fingerprint.read_incrementally(on);
    }
}

/// `true` for a statement that changes only the schema and writes no row even on tables that hold
/// rows: `CREATE TABLE name (...)` (not `AS` a query), `CREATE [UNIQUE] INDEX`, `CREATE VIEW`,
/// `CREATE TRIGGER` (`OR REPLACE` allowed), `DROP TABLE|INDEX|VIEW|TRIGGER`, `ALTER TABLE`. Anything else
/// (DML, `PRAGMA`, `CREATE TABLE ... AS`, virtual, temporary or materialised objects, functions,
/// types, extensions) is `false`, and the general rehearsal runs.
pub(crate) fn changes_only_the_schema(sql: &str) -> bool {
    migrator_format::statement_words(sql).is_ok_and(|words| words_change_only_the_schema(&words))
}

/// [`changes_only_the_schema`] of a statement already cut into words (`migrator_format::statement_words`).
pub(crate) fn words_change_only_the_schema(words: &[String]) -> bool {
    let word = |i: usize| words.get(i).map(String::as_str);
    match (word(0), word(1)) {
        (Some("ALTER"), Some("TABLE")) => true,
        (Some("DROP"), Some("TABLE" | "INDEX" | "VIEW" | "TRIGGER")) => true,
        (Some("CREATE"), _) => {
            let mut at = 1;
            if word(1) == Some("OR") && word(2) == Some("REPLACE") {
                at = 3;
            }
            if word(at) == Some("UNIQUE") {
                at += 1;
            }
            match word(at) {
                Some("INDEX" | "VIEW" | "TRIGGER") => true,
                Some("TABLE") => table_has_column_list(&words[at + 1..]),
                _ => false,
            }
        }
        _ => false,
    }
}

/// After `CREATE TABLE`: `[IF NOT EXISTS] name[.name] (` opens a column list; `AS`, `PARTITION OF`,
/// `OF type` or anything else does not.
fn table_has_column_list(rest: &[String]) -> bool {
    let mut rest = rest;
    if rest.len() >= 3 && rest[0] == "IF" && rest[1] == "NOT" && rest[2] == "EXISTS" {
        rest = &rest[3..];
    }
    match rest {
        [_, dot, _, open, ..] if dot == "." => open == "(",
        [_, open, ..] => open == "(",
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::changes_only_the_schema;

    #[test]
    fn only_statements_that_write_no_row_qualify() {
        for sql in [
            "CREATE TABLE t (id INTEGER PRIMARY KEY, total INTEGER GENERATED ALWAYS AS (id * 2))",
            "create table if not exists main.t (id int)",
            "CREATE TABLE \"as\" (id int)",
            "CREATE UNIQUE INDEX t_code ON t (code) WHERE code IS NOT NULL",
            "CREATE OR REPLACE VIEW v AS SELECT id FROM t",
            "CREATE TRIGGER t_touch AFTER UPDATE ON t BEGIN UPDATE t SET n = n + 1; END",
            "DROP TABLE IF EXISTS t",
            "DROP INDEX t_code",
            "ALTER TABLE t ADD COLUMN c TEXT NOT NULL DEFAULT 'x'",
        ] {
            assert!(changes_only_the_schema(sql), "{sql}");
        }
        for sql in [
            "CREATE TABLE t AS SELECT * FROM u",
            "CREATE TABLE t PARTITION OF p FOR VALUES IN (1)",
            "CREATE TEMP TABLE t (id int)",
            "CREATE VIRTUAL TABLE f USING fts5(body)",
            "CREATE MATERIALIZED VIEW m AS SELECT 1",
            "CREATE FUNCTION f() RETURNS int AS 'select 1' LANGUAGE sql",
            "CREATE EXTENSION pgcrypto",
            "INSERT INTO t VALUES (1)",
            "UPDATE t SET a = 1",
            "DELETE FROM t",
            "PRAGMA user_version = 3",
            "SELECT 1",
            "ANALYZE",
            "not sql at all '",
        ] {
            assert!(!changes_only_the_schema(sql), "{sql}");
        }
    }
}
