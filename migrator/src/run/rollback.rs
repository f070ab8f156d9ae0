//! Operator actions that run DOWNs (or UPs again): roll back by issue, by version, to a version, the last N;
//! reapply an issue; mark and repair. Every target is chosen under the lock from the history read there,
//! and refused before anything runs when it cannot be done safely: a version that does not exist, a DOWN
//! that is missing or irreversible, later migrations that depend on the same tables, tables that still
//! hold rows (unless confirmed). A backup is taken first when the policy asks for backups.

use std::collections::BTreeSet;
use std::time::Instant;

use tracing::{debug, info, info_span};

use super::session::Session;
use crate::engine::{Direction, Engine};
use crate::history::Status;
use crate::{Error, HistoryRow, Migration, MigrationSet, Migrator, Report};

/// Options of a rollback.
#[derive(Debug, Clone, Default)]
pub struct RollbackOptions {
    /// Roll back even when later applied migrations of other issues touch the same tables, and step over
    /// irreversible migrations (an empty DOWN) in a range instead of stopping there.
    pub force: bool,
    /// Go on without asking when the DOWNs drop tables that still hold rows.
    pub yes: bool,
    /// Why: recorded with each rolled-back migration in the log (shown by `--migrate-history`, the
    /// changelog and the issue comment).
    pub reason: Option<String>,
}

/// What to roll back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RollbackTarget {
    /// Every applied migration of an issue.
    Issue(u32),
    /// These versions (each must be applied).
    Versions(Vec<u64>),
    /// Every applied migration newer than this version (which must exist; `0`: all).
    To(u64),
    /// The newest N applied migrations.
    Last(usize),
}

impl std::fmt::Display for RollbackTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RollbackTarget::Issue(i) => write!(f, "issue #{i}"),
            RollbackTarget::Versions(v) => {
                let list: Vec<String> = v.iter().map(u64::to_string).collect();
                write!(f, "version(s) {}", list.join(", "))
            }
            RollbackTarget::To(0) => write!(f, "every migration"),
            RollbackTarget::To(v) => write!(f, "everything newer than {v}"),
            RollbackTarget::Last(n) => write!(f, "the last {n} migration(s)"),
        }
    }
}

impl<'s> Migrator<'s> {
    /// Rolls back every applied migration of `issue`, newest first (see [`Migrator::rollback`]).
    pub fn rollback_issue(
        &self,
        engine: &mut dyn Engine,
        issue: u32,
        options: RollbackOptions,
    ) -> Result<Report, Error> {
        self.rollback(engine, &RollbackTarget::Issue(issue), &options)
    }

    /// Rolls back every applied migration newer than `target` (all of them with `0`), newest first. The
    /// version must be one that exists (a typo is refused, not taken as a cut-off).
    pub fn rollback_to(
        &self,
        engine: &mut dyn Engine,
        target: u64,
        options: RollbackOptions,
    ) -> Result<Report, Error> {
        self.rollback(engine, &RollbackTarget::To(target), &options)
    }

    /// Rolls back `target`, newest first, each DOWN with its history update in one transaction where the
    /// engine has them. Refused before anything runs when a chosen migration cannot be rolled back, and
    /// (without `options.yes`) with [`Error::NeedsConfirmation`] when the DOWNs drop tables holding rows.
    pub fn rollback(
        &self,
        engine: &mut dyn Engine,
        target: &RollbackTarget,
        options: &RollbackOptions,
    ) -> Result<Report, Error> {
        let _span = info_span!("migrator.rollback", %target).entered();
        let started = Instant::now();
        let mut session = Session::begin(engine, self.config())?;
        let rows = session.history.read(session.engine)?;
        let set = self.set_for(session.engine.dialect().kind);
        let targets = self.rollback_targets(set, &rows, target, options)?;
        if !options.yes {
            let holding = tables_with_rows(session.engine, &targets);
            if !holding.is_empty() {
                return Err(Error::NeedsConfirmation(format!(
                    "rolling back {target} drops tables that hold rows: {}; their rows are lost (a backup is taken first when require_backup is on)",
                    holding.join(", ")
                )));
            }
        }
        let mut report = Report::default();
        if self.config().require_backup && !targets.is_empty() {
            report.backup = Some(self.take_backup(session.engine, "rollback")?);
        }
        session.note = options.reason.clone();
        let result = self.apply_all(&mut session, &targets, Direction::Down, &mut report);
        session.end(true)?;
        result?;
        report.total = started.elapsed();
        info!(rolled_back = report.steps.len(), "rollback done");
        Ok(report)
    }

    /// The migrations `target` names, newest first, or why they cannot be rolled back.
    fn rollback_targets<'a>(
        &self,
        set: &'a MigrationSet,
        rows: &[HistoryRow],
        target: &RollbackTarget,
        options: &RollbackOptions,
    ) -> Result<Vec<&'a Migration>, Error> {
        let applied: Vec<&HistoryRow> = rows
            .iter()
            .filter(|r| r.status == Status::Applied)
            .collect();
        let chosen: Vec<&HistoryRow> = match target {
            RollbackTarget::Issue(issue) => {
                let of_issue: Vec<&HistoryRow> = applied
                    .iter()
                    .copied()
                    .filter(|r| r.issue == Some(*issue))
                    .collect();
                if of_issue.is_empty() {
                    let known: BTreeSet<u32> = applied.iter().filter_map(|r| r.issue).collect();
                    return Err(Error::UnknownIssue {
                        issue: *issue,
                        what: "applied",
                        known: known.into_iter().collect(),
                    });
                }
                of_issue
            }
            RollbackTarget::Versions(versions) => {
                let mut chosen = Vec::new();
                for v in versions {
                    chosen.push(*applied.iter().find(|r| r.version == *v).ok_or_else(|| {
                        no_such_version(*v, rows, "is not applied in this database")
                    })?);
                }
                chosen.sort_by_key(|r| r.version);
                chosen.dedup_by_key(|r| r.version);
                chosen
            }
            RollbackTarget::To(v) => {
                if *v != 0 && !rows.iter().any(|r| r.version == *v) && set.get(*v).is_none() {
                    return Err(no_such_version(*v, rows, "is not a migration of this database or this binary (give a full version, or 0 for all)"));
                }
                applied.iter().copied().filter(|r| r.version > *v).collect()
            }
            RollbackTarget::Last(n) => {
                let skip = applied.len().saturating_sub(*n);
                applied[skip..].to_vec()
            }
        };
        let mut targets = Vec::new();
        for row in chosen.iter().rev() {
            let m = set.get(row.version).ok_or_else(|| {
                refused(target, format!("migration {} ({}) is not in this binary, so its DOWN is unknown; deploy the binary that has it", row.version, row.name))
            })?;
            if m.down.is_none() {
                return Err(refused(
                    target,
                    format!(
                        "{} has no DOWN section; write one (or undo it with a new migration)",
                        m.file_name
                    ),
                ));
            }
            if !m.has_down() {
                if options.force && !matches!(target, RollbackTarget::Versions(_)) {
                    info!(
                        version = m.version,
                        "irreversible migration stepped over (--force)"
                    );
                    continue;
                }
                return Err(refused(target, format!("{} is irreversible (its DOWN is empty): the range stops there. Roll back only the newer migrations, or pass --force to step over it and leave it applied", m.file_name)));
            }
            targets.push(m);
        }
        if !options.force {
            self.check_dependents(set, &applied, &targets, target)?;
        }
        Ok(targets)
    }

    /// Refuses when a later applied migration, not itself rolled back, touches the tables of a target.
    fn check_dependents(
        &self,
        set: &MigrationSet,
        applied: &[&HistoryRow],
        targets: &[&Migration],
        target: &RollbackTarget,
    ) -> Result<(), Error> {
        let Some(oldest) = targets.iter().map(|m| m.version).min() else {
            return Ok(());
        };
        let chosen: BTreeSet<u64> = targets.iter().map(|m| m.version).collect();
        let touched: BTreeSet<&str> = targets
            .iter()
            .flat_map(|m| m.tables.iter().map(|t| t.as_ref()))
            .collect();
        let mut conflicts = Vec::new();
        for row in applied
            .iter()
            .filter(|r| r.version > oldest && !chosen.contains(&r.version))
        {
            let Some(later) = set.get(row.version) else {
                continue;
            };
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
        if conflicts.is_empty() {
            return Ok(());
        }
        Err(refused(
            target,
            format!(
                "later applied migrations touch the same tables:\n  - {}\nwhat to do: roll those back first, or pass --force if you know the DOWN is still right",
                conflicts.join("\n  - ")
            ),
        ))
    }

    /// Applies again the rolled-back migrations of `issue` (operator's choice, whatever their checksum).
    pub fn reapply_issue(&self, engine: &mut dyn Engine, issue: u32) -> Result<Report, Error> {
        let _span = info_span!("migrator.reapply", issue).entered();
        let started = Instant::now();
        let mut session = Session::begin(engine, self.config())?;
        let rows = session.history.read(session.engine)?;
        let set = self.set_for(session.engine.dialect().kind);
        let targets: Vec<&Migration> = rows
            .iter()
            .filter(|r| r.status == Status::RolledBack && r.issue == Some(issue))
            .filter_map(|r| set.get(r.version))
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
        let mut report = Report::default();
        let result = self.apply_all(&mut session, &targets, Direction::Up, &mut report);
        session.end(true)?;
        result?;
        self.after_reapply(engine, issue, &mut report)?;
        report.total = started.elapsed();
        Ok(report)
    }

    /// Operator repair: records the embedded checksum for an applied migration whose file was edited
    /// deliberately (`repair_checksum`), or sets a failed or interrupted migration's status after a check
    /// by hand. A normally applied or rolled-back migration is refused.
    pub fn mark(
        &self,
        engine: &mut dyn Engine,
        version: u64,
        status: Status,
        repair_checksum: bool,
    ) -> Result<(), Error> {
        let checksum = if repair_checksum {
            Some(
                self.set_for(engine.dialect().kind)
                    .get(version)
                    .ok_or_else(|| {
                        Error::Refused(format!(
                            "version {version} is not in this binary; nothing was changed"
                        ))
                    })?
                    .checksum
                    .as_ref(),
            )
        } else {
            None
        };
        let session = Session::begin(engine, self.config())?;
        let result = session
            .history
            .mark(session.engine, version, status, checksum, None);
        session.end(result.is_ok())?;
        result
    }
}

fn refused(target: &RollbackTarget, reason: String) -> Error {
    Error::RollbackRefused {
        target: target.to_string(),
        reason,
    }
}

/// A version that names nothing, with the nearest known versions to help with a typo.
fn no_such_version(version: u64, rows: &[HistoryRow], why: &str) -> Error {
    let mut known: Vec<u64> = rows.iter().map(|r| r.version).collect();
    known.sort_by_key(|v| v.abs_diff(version));
    let near: Vec<String> = known.iter().take(3).map(u64::to_string).collect();
    Error::Usage(format!(
        "version {version} {why}; nothing was rolled back{}",
        if near.is_empty() {
            String::new()
        } else {
            format!(" (nearest recorded versions: {})", near.join(", "))
        }
    ))
}

/// Rows counted per table before a rollback asks for confirmation: a table being dropped is never read
/// whole just to say how much it holds.
const ROWS_COUNTED: u64 = 1_000_000;

/// Tables counted per query (each is one column of the query's one row; PostgreSQL allows 1,664).
const TABLES_PER_QUERY: usize = 500;

/// The tables the DOWNs of `targets` drop that still hold rows, as `name (N rows)` (`more than 1000000
/// rows` past [`ROWS_COUNTED`]). Those the engine knows to be empty without reading them
/// ([`crate::engine::Stats::known_empty`]) are left out; the others are counted in one query per
/// [`TABLES_PER_QUERY`] (one round trip, not one per table); a query that fails (a table already gone,
/// for `DROP TABLE IF EXISTS`) is asked again table by table, and a table that cannot be read holds
/// nothing to lose.
fn tables_with_rows(engine: &mut dyn Engine, targets: &[&Migration]) -> Vec<String> {
    let mut seen = BTreeSet::new();
    let mut tables = Vec::new();
    for m in targets {
        for statement in m.down.as_deref().unwrap_or(&[]) {
            for table in dropped_tables(&statement.sql) {
                if seen.insert(table.to_lowercase()) {
                    tables.push(table);
                }
            }
        }
    }
    let tables = without_known_empty(engine, tables);
    let mut found = Vec::new();
    for chunk in tables.chunks(TABLES_PER_QUERY) {
        let counts = count_rows(engine, chunk).unwrap_or_else(|| {
            chunk
                .iter()
                .map(|t| count_rows(engine, std::slice::from_ref(t)).map_or(0, |c| c[0]))
                .collect()
        });
        for (table, n) in chunk.iter().zip(counts) {
            match n {
                0 => {}
                n if n > ROWS_COUNTED => {
                    found.push(format!("{table} (more than {ROWS_COUNTED} rows)"))
                }
                n => found.push(format!("{table} ({n} rows)")),
            }
        }
    }
    found
}

/// `tables` without those the engine knows to hold no row, asked per [`TABLES_PER_QUERY`] (a chunk
/// whose question fails, or an engine that cannot tell, keeps its tables: they are counted). On
/// PostgreSQL, planning the count of 500 tables took about 100 ms, a tenth of a rollback of 1,000 small
/// migrations; the catalog answers for 1,000 in about 25 ms.
fn without_known_empty(engine: &mut dyn Engine, tables: Vec<String>) -> Vec<String> {
    let Some(stats) = engine.stats() else {
        return tables;
    };
    let mut kept = Vec::new();
    for chunk in tables.chunks(TABLES_PER_QUERY) {
        match stats.known_empty(chunk) {
            Ok(Some(empty)) => kept.extend(
                chunk
                    .iter()
                    .zip(empty)
                    .filter(|(_, empty)| !empty)
                    .map(|(table, _)| table.clone()),
            ),
            Ok(None) => kept.extend_from_slice(chunk),
            Err(e) => {
                debug!(error = %e, "could not tell which tables are empty; counting them");
                kept.extend_from_slice(chunk);
            }
        }
    }
    kept
}

/// The rows of each of `tables` (up to [`ROWS_COUNTED`] + 1), in one query; `None` when it fails.
fn count_rows(engine: &mut dyn Engine, tables: &[String]) -> Option<Vec<u64>> {
    let d = engine.dialect();
    let columns: Vec<String> = tables
        .iter()
        .map(|t| {
            format!(
                "(SELECT count(*) FROM (SELECT 1 FROM {} LIMIT {}) AS counted)",
                d.ident(t),
                ROWS_COUNTED + 1
            )
        })
        .collect();
    let rows = engine
        .query(&format!("SELECT {}", columns.join(", ")))
        .ok()?;
    let row = rows.first()?;
    Some(
        (0..tables.len())
            .map(|i| {
                row.get(i)
                    .and_then(|v| v.as_i64())
                    .map_or(0, |n| n.max(0) as u64)
            })
            .collect(),
    )
}

/// The tables a `DROP TABLE [IF EXISTS] a, b [CASCADE]` names (schema-qualified names keep their last
/// part only when unquoted qualification is absent).
fn dropped_tables(sql: &str) -> Vec<String> {
    let Ok(words) = migrator_format::statement_words(sql) else {
        return Vec::new();
    };
    if words.len() < 3 || words[0] != "DROP" || words[1] != "TABLE" {
        return Vec::new();
    }
    let mut rest = &words[2..];
    if rest.len() >= 2 && rest[0] == "IF" && rest[1] == "EXISTS" {
        rest = &rest[2..];
    }
    let mut tables = Vec::new();
    let mut current = String::new();
    for word in rest {
        match word.as_str() {
            "," => tables.push(std::mem::take(&mut current)),
            "CASCADE" | "RESTRICT" => break,
            "." => current.push('.'),
            w => current.push_str(w),
        }
    }
    if !current.is_empty() {
        tables.push(current);
    }
    tables.retain(|t| !t.is_empty());
    tables
        .into_iter()
        .map(|t| t.rsplit('.').next().unwrap_or(&t).to_lowercase())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::dropped_tables;

    #[test]
    fn dropped_tables_are_read_from_drop_statements() {
        assert_eq!(dropped_tables("DROP TABLE contacts"), ["contacts"]);
        assert_eq!(
            dropped_tables("drop table if exists public.a, \"B\" cascade"),
            ["a", "b"]
        );
        assert!(dropped_tables("DROP INDEX x").is_empty());
    }
}
