//! Rehearsal on a scratch copy (the spec's "test migration on copy of production schema", policy
//! `require_test_run`): before the real database is touched, the pending migrations run on a throwaway copy
//! of it: every UP, the health checks, every DOWN newest first (each must bring the schema back to what it
//! was before its UP), then the UPs again (each must apply cleanly after its DOWN and rebuild the same
//! schema). The first failure stops the boot with the migration, the step, and the objects that differ.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use tracing::{debug, info, info_span, warn};

use super::session::{Session, StepError};
use crate::engine::{Direction, Engine, SchemaObject};
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
            RehearsalPhase::Down => "make the DOWN undo exactly what the UP did (the objects above differ from before the UP), or mark the migration irreversible by removing its DOWN section",
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

/// What a successful rehearsal did.
#[derive(Debug, Clone, Default)]
pub struct Rehearsal {
    /// Every step, in the order it ran.
    pub steps: Vec<RehearsalStep>,
    /// Migrations whose rollback could not be rehearsed, and why (no DOWN section).
    pub unverified: Vec<String>,
    /// Wall time, copy included.
    pub took: Duration,
}

impl Rehearsal {
    /// The measured time of a migration's first UP on the copy.
    pub fn up_time(&self, version: u64) -> Option<Duration> {
        self.steps
            .iter()
            .find(|s| s.version == version && s.phase == RehearsalPhase::Up)
            .map(|s| s.duration)
    }
}

impl<'s> Migrator<'s> {
    /// Rehearses what is pending on a scratch copy of the database behind `backend` and throws the copy
    /// away; the database itself is only read. Refuses as the boot would (validation, review) before
    /// copying anything. With nothing pending it returns an empty rehearsal.
    pub fn rehearse(&self, engine: &mut dyn Engine) -> Result<Rehearsal, Error> {
        let rows = self.read_history(engine)?;
        let plan = crate::plan::plan(
            self.set_for(engine.dialect().kind),
            &rows,
            self.config(),
            engine.dialect().atomicity != crate::engine::Atomicity::None,
        )
        .map_err(Error::Validation)?;
        self.check_review(&plan.pending)?;
        if plan.pending.is_empty() {
            return Ok(Rehearsal::default());
        }
        self.rehearse_on_copy(engine, &plan.pending, None)
    }

    /// Runs the rehearsal of `pending` on a scratch copy made from `from_backup` (a backup this backend
    /// just took) or fresh.
    pub(crate) fn rehearse_on_copy(
        &self,
        engine: &mut dyn Engine,
        pending: &[&Migration],
        from_backup: Option<&Path>,
    ) -> Result<Rehearsal, Error> {
        let _span = info_span!("migrator.rehearse", pending = pending.len()).entered();
        let started = Instant::now();
        let mut rehearsal = Rehearsal::default();
        let kind = engine.dialect().kind;
        let scratch = engine.scratch().ok_or(Error::MissingCapability {
            engine: kind.name(),
            capability: "scratch copies",
            setting: "require_test_run",
        })?;
        scratch.with_scratch_copy(from_backup, &mut |copy| {
            let mut session = Session::begin(copy, self.config())?;
            // The copy is thrown away: nothing of it needs keeping.
            let outcome = self.rehearse_steps(&mut session, pending, &mut rehearsal);
            let _ = session.end(false);
            outcome
        })?;
        rehearsal.took = started.elapsed();
        info!(
            took_ms = rehearsal.took.as_millis() as u64,
            steps = rehearsal.steps.len(),
            unverified = rehearsal.unverified.len(),
            "rehearsal passed"
        );
        Ok(rehearsal)
    }

    fn rehearse_steps(
        &self,
        scratch: &mut Session<'_>,
        pending: &[&Migration],
        rehearsal: &mut Rehearsal,
    ) -> Result<(), Error> {
        // Each step compares the objects of the tables its migration names (cheap, and it says which
        // migration is at fault); the whole schema is compared at the phase boundaries (which catches
        // what a migration does beyond the tables it names). Only what each UP changed is kept.
        let whole_before = schema_of(self.fingerprint(scratch, None)?);
        let mut up_changes: Vec<Vec<Change>> = Vec::with_capacity(pending.len());
        for m in pending {
            let (changed, took) =
                self.scoped_step(scratch, m, Direction::Up, RehearsalPhase::Up)?;
            rehearsal.push(m, RehearsalPhase::Up, took);
            up_changes.push(changed);
        }
        let whole_after = schema_of(self.fingerprint(scratch, None)?);
        let started = Instant::now();
        let problems = self.health_problems(scratch.engine)?;
        if let (false, Some(last)) = (problems.is_empty(), pending.last()) {
            return Err(rehearsal_error(
                last,
                RehearsalPhase::HealthChecks,
                problems.join("; "),
                Vec::new(),
            ));
        }
        if let Some(last) = pending.last() {
            rehearsal.push(last, RehearsalPhase::HealthChecks, started.elapsed());
        }
        let mut undone = Vec::new();
        for (k, m) in pending.iter().enumerate().rev() {
            if !m.has_down() {
                let note = format!(
                    "{} has no DOWN section: its rollback{} was not rehearsed",
                    m.file_name,
                    if k > 0 {
                        " and that of the migrations before it in this boot"
                    } else {
                        ""
                    }
                );
                warn!(version = m.version, "{note}");
                rehearsal.unverified.push(note);
                break;
            }
            let (changed, took) =
                self.scoped_step(scratch, m, Direction::Down, RehearsalPhase::Down)?;
            rehearsal.push(m, RehearsalPhase::Down, took);
            let wrong = unexpected(&changed, &up_changes[k], |c| &c.before);
            if !wrong.is_empty() {
                return Err(rehearsal_error(
                    m,
                    RehearsalPhase::Down,
                    "the DOWN does not restore the schema from before the UP".to_string(),
                    wrong,
                ));
            }
            undone.push((k, *m));
        }
        if let (true, Some(first)) = (undone.len() == pending.len(), pending.first()) {
            let wrong = unexpected(
                &changes(&whole_before, &schema_of(self.fingerprint(scratch, None)?)),
                &[],
                |c| &c.before,
            );
            if !wrong.is_empty() {
                return Err(rehearsal_error(
                    first,
                    RehearsalPhase::Down,
                    "after every DOWN of this boot the schema differs from before the first UP, outside the tables the migrations name".to_string(),
                    wrong,
                ));
            }
        }
        for (k, m) in undone.into_iter().rev() {
            let (changed, took) =
                self.scoped_step(scratch, m, Direction::Up, RehearsalPhase::UpAgain)?;
            rehearsal.push(m, RehearsalPhase::UpAgain, took);
            let wrong = unexpected(&changed, &up_changes[k], |c| &c.after);
            if !wrong.is_empty() {
                return Err(rehearsal_error(
                    m,
                    RehearsalPhase::UpAgain,
                    "the UP applied after its DOWN builds a different schema than the first time"
                        .to_string(),
                    wrong,
                ));
            }
        }
        if let (true, Some(last)) = (rehearsal.unverified.is_empty(), pending.last()) {
            let wrong = unexpected(
                &changes(&whole_after, &schema_of(self.fingerprint(scratch, None)?)),
                &[],
                |c| &c.after,
            );
            if !wrong.is_empty() {
                return Err(rehearsal_error(
                    last,
                    RehearsalPhase::UpAgain,
                    "after the UPs again the schema differs from after the first UPs, outside the tables the migrations name".to_string(),
                    wrong,
                ));
            }
        }
        Ok(())
    }

    /// Runs one migration in one direction on the copy and returns what it changed among the objects of
    /// the tables it names.
    fn scoped_step(
        &self,
        scratch: &mut Session<'_>,
        m: &Migration,
        direction: Direction,
        phase: RehearsalPhase,
    ) -> Result<(Vec<Change>, Duration), Error> {
        let scope: Vec<&str> = m.tables.iter().map(|t| t.as_ref()).collect();
        let before = schema_of(self.fingerprint(scratch, Some(&scope))?);
        let took = self.rehearse_one(scratch, m, direction, phase)?;
        let after = schema_of(self.fingerprint(scratch, Some(&scope))?);
        Ok((changes(&before, &after), took))
    }

    fn rehearse_one(
        &self,
        scratch: &mut Session<'_>,
        m: &Migration,
        direction: Direction,
        phase: RehearsalPhase,
    ) -> Result<Duration, Error> {
        debug!(version = m.version, %phase, "rehearsing");
        match scratch.apply(m, direction) {
            Ok(took) => Ok(took),
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
                let detail = match &error {
                    Error::Migration(e) => e.statement_report(),
                    other => other.to_string(),
                };
                Err(rehearsal_error(m, phase, detail, Vec::new()))
            }
            Err(StepError::Other(e)) => Err(e),
        }
    }

    /// The schema of the copy (only the objects of `tables` when given), without the history tables.
    fn fingerprint(
        &self,
        scratch: &mut Session<'_>,
        tables: Option<&[&str]>,
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
            .schema_fingerprint(tables, &exclude)
    }
}

impl Rehearsal {
    fn push(&mut self, m: &Migration, phase: RehearsalPhase, duration: Duration) {
        self.steps.push(RehearsalStep {
            version: m.version,
            file: m.file_name.to_string(),
            phase,
            duration,
        });
    }
}

fn rehearsal_error(
    m: &Migration,
    phase: RehearsalPhase,
    detail: String,
    differences: Vec<String>,
) -> Error {
    warn!(version = m.version, %phase, differences = differences.len(), "rehearsal failed");
    Error::Rehearsal {
        version: m.version,
        file: m.file_name.to_string(),
        phase,
        detail,
        differences,
    }
}

/// An object's kind and name.
type Key = (String, String);
/// An object's definitions (several for kinds a name can hold more than one of, such as CHECKs).
type Definitions = Vec<String>;
/// A schema fingerprint keyed by object.
type Schema = BTreeMap<Key, Definitions>;

fn schema_of(objects: Vec<SchemaObject>) -> Schema {
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
struct Change {
    key: Key,
    before: Option<Definitions>,
    after: Option<Definitions>,
}

/// What differs from `from` to `to`.
fn changes(from: &Schema, to: &Schema) -> Vec<Change> {
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
fn unexpected(
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
            (Some(want), Some(have)) => format!(
                "{kind} {name} changed: should be {}, is {}",
                want.join("; "),
                have.join("; ")
            ),
            (None, None) => continue,
        });
    }
    out
}
