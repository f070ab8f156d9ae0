//! Validation of the embedded set against the history rows: what to apply, what to skip, what refuses.

use std::collections::HashMap;

use crate::{Config, HistoryRow, Migration, MigrationSet, Status, ValidationProblem};

/// What a boot will do: the outcome of validating the embedded set against `schema_migrations`.
#[derive(Debug, Default)]
pub struct Plan<'s> {
    /// Migrations to apply, in version order.
    pub pending: Vec<&'s Migration>,
    /// Rolled-back migrations whose file did not change: they stay rolled back.
    pub skipped: Vec<&'s Migration>,
    /// Number of migrations applied and unchanged.
    pub applied: usize,
}

/// The state of one migration, for `--migrate-status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusKind {
    /// Applied, checksum equal.
    Applied,
    /// Not applied yet.
    Pending,
    /// Rolled back; stays so until its file changes or an operator reapplies it.
    RolledBack,
    /// Rolled back, and its file changed since: the next boot applies it again.
    RolledBackChanged,
    /// Applied, but the file changed since (the checksums differ).
    Drifted {
        /// Checksum recorded when it was applied.
        applied: String,
    },
    /// Recorded in the database, absent from the binary.
    Missing,
    /// A failed or interrupted migration.
    Failed(Status),
}

/// One line of `--migrate-status`.
#[derive(Debug, Clone)]
pub struct StatusEntry {
    /// Version.
    pub version: u64,
    /// Name.
    pub name: String,
    /// Issue.
    pub issue: Option<u32>,
    /// State.
    pub kind: StatusKind,
}

/// Merges the embedded set (sorted) with the history rows (sorted) into per-version status entries.
/// `atomic` is `false` for an engine whose migrations run without a transaction (MySQL): a failed
/// migration there may have left part of itself behind, so it needs an operator as an interrupted one.
pub fn status_entries(set: &MigrationSet, rows: &[HistoryRow], atomic: bool) -> Vec<StatusEntry> {
    let by_version: HashMap<u64, &HistoryRow> = rows.iter().map(|r| (r.version, r)).collect();
    let mut entries: Vec<StatusEntry> = set
        .migrations()
        .iter()
        .map(|m| {
            let kind = match by_version.get(&m.version) {
                None => StatusKind::Pending,
                Some(row) => row_kind(m, row, atomic),
            };
            StatusEntry {
                version: m.version,
                name: m.name.to_string(),
                issue: m.issue,
                kind,
            }
        })
        .collect();
    for row in rows {
        if set.get(row.version).is_none() && row.status != Status::RolledBack {
            entries.push(StatusEntry {
                version: row.version,
                name: row.name.clone(),
                issue: row.issue,
                kind: StatusKind::Missing,
            });
        }
    }
    entries.sort_by_key(|e| e.version);
    entries
}

fn row_kind(m: &Migration, row: &HistoryRow, atomic: bool) -> StatusKind {
    let same = row.checksum.as_deref().is_none_or(|c| c == m.checksum);
    match row.status {
        Status::Applied if same => StatusKind::Applied,
        Status::Applied => StatusKind::Drifted {
            applied: row.checksum.clone().unwrap_or_default(),
        },
        Status::RolledBack if same => StatusKind::RolledBack,
        Status::RolledBack => StatusKind::RolledBackChanged,
        Status::Failed if !m.no_transaction && atomic => StatusKind::Pending,
        // A backfill's batches commit one by one: started, stopped or failed, it resumes at its cursor.
        Status::Running | Status::Failed if m.backfill.is_some() => StatusKind::Pending,
        other => StatusKind::Failed(other),
    }
}

/// The plan when the history is the set's first `applied` migrations, each applied as embedded (what the
/// boot check found): the rest is pending.
pub(crate) fn after_applied(set: &MigrationSet, applied: usize) -> Plan<'_> {
    Plan {
        pending: set
            .migrations()
            .get(applied..)
            .unwrap_or_default()
            .iter()
            .collect(),
        skipped: Vec::new(),
        applied,
    }
}

/// Validates the set against the history and plans the boot. Every problem is reported, not only the
/// first, so one look at the error tells the operator everything that blocks the boot.
pub fn plan<'s>(
    set: &'s MigrationSet,
    rows: &[HistoryRow],
    config: &Config,
    atomic: bool,
) -> Result<Plan<'s>, Vec<ValidationProblem>> {
    let mut problems = Vec::new();
    let mut plan = Plan::default();
    let migrations = set.migrations();
    let newest_applied = rows
        .iter()
        .filter(|r| r.status == Status::Applied)
        .map(|r| r.version)
        .max();
    // Both lists are sorted by version: walk them together (the boot check is O(n), no hashing).
    let mut sorted_rows: Vec<&HistoryRow> = rows.iter().collect();
    if !sorted_rows.windows(2).all(|w| w[0].version < w[1].version) {
        sorted_rows.sort_by_key(|r| r.version);
    }
    let mut r = 0;
    for m in migrations {
        while r < sorted_rows.len() && sorted_rows[r].version < m.version {
            missing(sorted_rows[r], &mut problems);
            r += 1;
        }
        let row = (r < sorted_rows.len() && sorted_rows[r].version == m.version).then(|| {
            r += 1;
            sorted_rows[r - 1]
        });
        match row {
            None => {
                if let Some(newest) = newest_applied.filter(|&n| n > m.version) {
                    if !config.allow_out_of_order {
                        problems.push(ValidationProblem::OutOfOrder {
                            version: m.version,
                            file: m.file_name.to_string(),
                            newest_applied: newest,
                        });
                        continue;
                    }
                }
                plan.pending.push(m);
            }
            Some(row) => match row_kind(m, row, atomic) {
                StatusKind::Applied => plan.applied += 1,
                StatusKind::Drifted { applied } => problems.push(ValidationProblem::Drifted {
                    version: m.version,
                    file: m.file_name.to_string(),
                    applied_checksum: applied,
                    embedded_checksum: m.checksum.to_string(),
                }),
                StatusKind::RolledBack => plan.skipped.push(m),
                StatusKind::RolledBackChanged | StatusKind::Pending => plan.pending.push(m),
                StatusKind::Failed(status) => problems.push(ValidationProblem::Interrupted {
                    version: m.version,
                    file: m.file_name.to_string(),
                    status,
                    error: row.error.clone(),
                }),
                StatusKind::Missing => {}
            },
        }
    }
    for row in &sorted_rows[r..] {
        missing(row, &mut problems);
    }
    if problems.is_empty() {
        Ok(plan)
    } else {
        Err(problems)
    }
}

fn missing(row: &HistoryRow, problems: &mut Vec<ValidationProblem>) {
    // A rolled-back migration whose file was deleted afterwards is history, not a problem.
    if row.status != Status::RolledBack {
        problems.push(ValidationProblem::Missing {
            version: row.version,
            name: row.name.clone(),
            issue: row.issue,
            status: row.status,
        });
    }
}
