use std::time::Duration;

use crate::Direction;

/// What happened to one migration in a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Its UP ran and is committed.
    Applied,
    /// Its DOWN ran and is committed.
    RolledBack,
    /// It stays rolled back (its file did not change).
    SkippedRolledBack,
    /// Another process did it (applied or rolled it back) while this one was about to: not run here.
    DoneElsewhere,
    /// A backfill migration whose batches ran to the end in this call ([`Report::backfills`] has its
    /// figures).
    Backfilled,
    /// A backfill migration started (or found under way) and not finished here: it runs in the
    /// background, or another process runs it.
    BackfillRunning,
    /// A backfill migration this boot did not start (`BackfillMode::Deferred`): `--migrate-backfill` runs
    /// it.
    BackfillDeferred,
    /// A pending migration that waits for a backfill before it.
    HeldBack,
}

/// One migration of a run.
#[derive(Debug, Clone)]
pub struct Step {
    /// Version.
    pub version: u64,
    /// Name.
    pub name: String,
    /// Issue.
    pub issue: Option<u32>,
    /// File name.
    pub file: String,
    /// What happened.
    pub outcome: Outcome,
    /// How long it took (zero for skipped ones).
    pub duration: Duration,
}

/// The outcome of a boot or an admin action.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// The migrations acted on (or skipped), in the order it happened.
    pub steps: Vec<Step>,
    /// Migrations already applied and unchanged before the run.
    pub already_applied: usize,
    /// Time spent waiting for the lock.
    pub lock_wait: Duration,
    /// Wall time of the whole call.
    pub total: Duration,
    /// The backup taken before anything was applied.
    pub backup: Option<std::path::PathBuf>,
    /// Health checks run after applying (names), all passed when the boot returned a report.
    pub health_checks: Vec<String>,
    /// The rehearsal on a scratch copy that ran before anything was applied (`require_test_run`).
    pub rehearsal: Option<crate::Rehearsal>,
    /// Migrations another tool had applied (diesel, sqlx, refinery), recorded as applied now; not run.
    pub adopted: Vec<u64>,
    /// The backfills whose batches this call ran to the end.
    pub backfills: Vec<crate::backfill::BackfillRun>,
}

impl Report {
    /// Steps with the given outcome.
    pub fn with_outcome(&self, outcome: Outcome) -> impl Iterator<Item = &Step> {
        self.steps.iter().filter(move |s| s.outcome == outcome)
    }

    /// Versions applied in this run.
    pub fn applied_versions(&self) -> Vec<u64> {
        self.with_outcome(Outcome::Applied)
            .map(|s| s.version)
            .collect()
    }

    /// Versions of the migrations that wait for a backfill (started, deferred or under way elsewhere).
    pub fn waiting_versions(&self) -> Vec<u64> {
        self.steps
            .iter()
            .filter(|s| {
                matches!(
                    s.outcome,
                    Outcome::BackfillRunning | Outcome::BackfillDeferred | Outcome::HeldBack
                )
            })
            .map(|s| s.version)
            .collect()
    }

    pub(crate) fn push(
        &mut self,
        m: &crate::Migration,
        direction: Option<Direction>,
        duration: Duration,
    ) {
        self.steps.push(Step {
            version: m.version,
            name: m.name.to_string(),
            issue: m.issue,
            file: m.file_name.to_string(),
            outcome: match direction {
                Some(Direction::Up) => Outcome::Applied,
                Some(Direction::Down) => Outcome::RolledBack,
                None => Outcome::SkippedRolledBack,
            },
            duration,
        });
    }
}
