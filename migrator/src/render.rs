//! Text for people: the history table of the spec, the status list, the report of a run. Rendering never
//! decides anything; it only formats what the executor returned.

use std::fmt::Write;

use crate::{HistoryRow, Outcome, Report, Status, StatusEntry, StatusKind};

/// How to draw: with the spec's emoji, or plain ASCII (for `NO_COLOR`, logs and pipes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// Emoji headings, as in the spec.
    Fancy,
    /// No emoji.
    Plain,
}

impl Style {
    /// Plain when `NO_COLOR` is set (any value), fancy otherwise.
    pub fn from_env() -> Self {
        if std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()) {
            Style::Plain
        } else {
            Style::Fancy
        }
    }

    /// `icon` and a space when fancy, nothing when plain.
    pub(crate) fn icon(self, icon: &str) -> String {
        match self {
            Style::Fancy => format!("{icon} "),
            Style::Plain => String::new(),
        }
    }
}

fn status_label(status: Status) -> &'static str {
    match status {
        Status::Applied => "SUCCESS",
        Status::RolledBack => "ROLLED",
        Status::Failed => "FAILED",
        Status::Running => "RUNNING",
    }
}

fn issue_label(issue: Option<u32>) -> String {
    issue.map_or_else(|| "-".to_string(), |i| format!("#{i}"))
}

/// `YYYY-MM-DD HH:MM` of a stored timestamp.
fn minutes(timestamp: &str) -> &str {
    timestamp.get(..16).unwrap_or(timestamp)
}

/// The spec's `Migration History` table, newest first, with the totals line.
pub fn history(rows_newest_first: &[HistoryRow], style: Style) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}Migration History\n", style.icon("📜"));
    let name_width = rows_newest_first
        .iter()
        .map(|r| r.name.chars().count())
        .max()
        .unwrap_or(0)
        .max(20);
    let _ = writeln!(
        out,
        "{:<16} | {:<name_width$} | {:<5} | {:<7} | APPLIED AT",
        "VERSION", "NAME", "ISSUE", "STATUS"
    );
    let _ = writeln!(
        out,
        "{}|{}|{}|{}|{}",
        "-".repeat(17),
        "-".repeat(name_width + 2),
        "-".repeat(7),
        "-".repeat(9),
        "-".repeat(18)
    );
    for row in rows_newest_first {
        let _ = writeln!(
            out,
            "{:<16} | {:<name_width$} | {:<5} | {:<7} | {}",
            row.version,
            row.name,
            issue_label(row.issue),
            status_label(row.status),
            minutes(&row.applied_at)
        );
    }
    let active = rows_newest_first
        .iter()
        .filter(|r| r.status == Status::Applied)
        .count();
    let rolled = rows_newest_first
        .iter()
        .filter(|r| r.status == Status::RolledBack)
        .count();
    let failed = rows_newest_first.len() - active - rolled;
    let _ = write!(
        out,
        "\nTotal: {} migrations ({active} active, {rolled} rolled back",
        rows_newest_first.len()
    );
    if failed > 0 {
        let _ = write!(out, ", {failed} failed or interrupted");
    }
    out.push_str(")\n");
    out
}

/// The `--migrate-status` list: one line per migration, then counts.
pub fn status(entries: &[StatusEntry], style: Style) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}Migration Status\n", style.icon("📋"));
    let (mut applied, mut pending, mut rolled, mut problems) = (0, 0, 0, 0);
    for e in entries {
        let state = match &e.kind {
            StatusKind::Applied => {
                applied += 1;
                "applied".to_string()
            }
            StatusKind::Pending => {
                pending += 1;
                "pending".to_string()
            }
            StatusKind::RolledBack => {
                rolled += 1;
                "rolled back (stays so until its file changes or --migrate-reapply)".to_string()
            }
            StatusKind::RolledBackChanged => {
                pending += 1;
                "rolled back, file changed since: will be applied again".to_string()
            }
            StatusKind::Drifted { applied } => {
                problems += 1;
                format!(
                    "DRIFTED: edited after it was applied (applied checksum {})",
                    &applied[..applied.len().min(12)]
                )
            }
            StatusKind::Missing => {
                problems += 1;
                "MISSING from this binary".to_string()
            }
            StatusKind::Failed(s) => {
                problems += 1;
                format!(
                    "{}: needs an operator (see --migrate-help)",
                    status_label(*s)
                )
            }
        };
        let _ = writeln!(
            out,
            "{:<16} {:<6} {:<30} {state}",
            e.version,
            issue_label(e.issue),
            e.name
        );
    }
    let _ = writeln!(out, "\n{applied} applied, {pending} pending, {rolled} rolled back, {problems} drifted/missing/failed");
    out
}

/// The `--migrate-backups` list.
pub fn backups(dir: &std::path::Path, files: &[crate::backup::BackupFile], style: Style) -> String {
    let mut out = format!("{}Backups in {}\n\n", style.icon("💾"), dir.display());
    if files.is_empty() {
        out.push_str("(none yet: a backup is taken before each boot that applies migrations)\n");
    }
    for f in files {
        let name = f
            .path
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        let _ = writeln!(out, "  {name}  {:.1} MB", f.bytes as f64 / 1_000_000.0);
    }
    out
}

/// The headline of a rehearsal and what it could not verify (a boot's report shows only this).
fn rehearsal_summary(out: &mut String, rehearsal: &crate::Rehearsal, style: Style) {
    let downs = rehearsal
        .steps
        .iter()
        .filter(|s| s.phase == crate::RehearsalPhase::Down)
        .count();
    let place = if rehearsal.in_place {
        "in the run's own transaction"
    } else {
        "on a scratch copy"
    };
    let steps = if rehearsal.down_chain {
        format!("UP of each migration, health checks, then the DOWNs newest first ({downs} restoring the schema); no UP again: on a database without data, migrations that only change the schema apply again exactly as the first time once their DOWN restored it")
    } else {
        format!("UP, DOWN and UP again of each migration ({downs} DOWN(s) restoring the schema), health checks")
    };
    let steps = match rehearsal.on_schema_copy {
        0 => steps,
        n => format!("{steps}; the DOWN and UP again of {n} on a copy of the schema without rows (their statements succeed or fail whatever the rows)"),
    };
    let _ = writeln!(
        out,
        "{}Rehearsed {place} in {:.1} ms: {steps}",
        style.icon("🧪"),
        rehearsal.took.as_secs_f64() * 1000.0
    );
    for note in &rehearsal.unverified {
        let _ = writeln!(out, "  {}not verified: {note}", style.icon("⚠️"));
    }
}

/// A rehearsal on its own (`migrator-tool rehearse`, which only reads the database): the headline, then
/// every step with its time.
pub fn rehearsal(rehearsal: &crate::Rehearsal, style: Style) -> String {
    if rehearsal.steps.is_empty() {
        return "Nothing pending: nothing to rehearse.\n".to_string();
    }
    let mut out = String::new();
    rehearsal_summary(&mut out, rehearsal, style);
    for step in &rehearsal.steps {
        let _ = writeln!(
            out,
            "  {:<16} {:<14} {} ({:.1} ms)",
            step.version,
            step.phase.to_string(),
            step.file,
            step.duration.as_secs_f64() * 1000.0
        );
    }
    out.push_str("The database itself was not changed.\n");
    out
}

/// A short account of a run.
pub fn report(report: &Report, style: Style) -> String {
    let mut out = String::new();
    let applied: Vec<_> = report.with_outcome(Outcome::Applied).collect();
    let rolled: Vec<_> = report.with_outcome(Outcome::RolledBack).collect();
    let skipped: Vec<_> = report.with_outcome(Outcome::SkippedRolledBack).collect();
    if let Some(backup) = &report.backup {
        let _ = writeln!(
            out,
            "{}Backup before applying: {}",
            style.icon("💾"),
            backup.display()
        );
    }
    if !report.adopted.is_empty() {
        let _ = writeln!(
            out,
            "{}Adopted {} migration(s) another tool had applied (recorded as applied, nothing re-run)",
            style.icon("📥"),
            report.adopted.len()
        );
    }
    if let Some(rehearsal) = &report.rehearsal {
        rehearsal_summary(&mut out, rehearsal, style);
    }
    if applied.is_empty() && rolled.is_empty() {
        let _ = writeln!(
            out,
            "{}Schema up to date: {} migration(s) applied, nothing pending (checked in {:.2} ms)",
            style.icon("✅"),
            report.already_applied,
            report.total.as_secs_f64() * 1000.0
        );
    }
    for (steps, verb) in [(&applied, "Applied"), (&rolled, "Rolled back")] {
        if steps.is_empty() {
            continue;
        }
        let _ = writeln!(
            out,
            "{}{verb} {} migration(s) in {:.1} ms:",
            style.icon("✅"),
            steps.len(),
            report.total.as_secs_f64() * 1000.0
        );
        for s in steps {
            let _ = writeln!(
                out,
                "  {} {:<6} {} ({:.1} ms)",
                s.version,
                issue_label(s.issue),
                s.name,
                s.duration.as_secs_f64() * 1000.0
            );
        }
    }
    for s in report.with_outcome(Outcome::DoneElsewhere) {
        let _ = writeln!(
            out,
            "{}Skipped {} {} {}: another process did it meanwhile (nothing ran twice)",
            style.icon("⏭️"),
            s.version,
            issue_label(s.issue),
            s.name
        );
    }
    for s in skipped {
        let _ = writeln!(
            out,
            "{}Skipped {} {} {}: rolled back, stays rolled back",
            style.icon("⏭️"),
            s.version,
            issue_label(s.issue),
            s.name
        );
    }
    backfill_steps(&mut out, report, style);
    out
}

/// The backfill lines of a run's report: completed, running, deferred, and what waits for them.
fn backfill_steps(out: &mut String, report: &Report, style: Style) {
    for s in report.with_outcome(Outcome::Backfilled) {
        let run = report.backfills.iter().find(|b| b.version == s.version);
        let figures = run.map_or_else(String::new, |b| {
            format!(
                ": {} rows in {} batches, {:.1} s{}",
                thousands(b.rows),
                thousands(b.batches),
                b.took.as_secs_f64(),
                b.resumed_from
                    .map(|k| format!(", resumed after key {k}"))
                    .unwrap_or_default()
            )
        });
        let _ = writeln!(
            out,
            "{}Backfilled {} {} {}{figures}",
            style.icon("✅"),
            s.version,
            issue_label(s.issue),
            s.name
        );
    }
    for (outcome, icon, what) in [
        (Outcome::BackfillRunning, "⏳", "backfill running in batches (in the background, or by another process); the migrations after it wait for it"),
        (Outcome::BackfillDeferred, "⏸️", "backfill deferred: run it with --migrate-backfill"),
        (Outcome::HeldBack, "⏸️", "waits for the backfill before it"),
    ] {
        for s in report.with_outcome(outcome) {
            let _ = writeln!(
                out,
                "{}{} {} {}: {what}",
                style.icon(icon),
                s.version,
                issue_label(s.issue),
                s.name
            );
        }
    }
}

/// `1234567` as `1,234,567`: how reports write counts.
pub fn thousands(n: u64) -> String {
    crate::error::thousands(n)
}

/// The backfills of a database, one line each (under `--migrate-status` and `--migrate-history`): state,
/// keys and rows done, time in batches, when.
pub fn backfills(states: &[crate::backfill::BackfillState], style: Style) -> String {
    use crate::backfill::Phase;
    if states.is_empty() {
        return String::new();
    }
    let mut out = format!("\n{}Backfills\n\n", style.icon("🧮"));
    for s in states {
        let percent = s
            .fraction()
            .map(|f| format!(" ({:.1}% of the keys)", f * 100.0))
            .unwrap_or_default();
        let cursor = match (s.phase, s.cursor) {
            (Phase::Done, _) => String::new(),
            (_, Some(k)) => format!(", at {} {k}{percent}", s.key_column),
            (_, None) => format!(", not at its first batch yet{percent}"),
        };
        let when = match &s.finished_at {
            Some(done) => format!("started {}, finished {done}", s.started_at),
            None => format!("started {}, last batch {}", s.started_at, s.updated_at),
        };
        let _ = writeln!(
            out,
            "{:<16} {:<8} {} rows in {} batches, {:.1} s in batches{cursor}; {when}",
            s.version,
            s.phase.as_str(),
            thousands(s.rows_done),
            thousands(s.batches),
            s.busy.as_secs_f64(),
        );
        if let Some(error) = &s.error {
            let _ = writeln!(
                out,
                "{:<16} error: {}",
                "",
                error.lines().next().unwrap_or("")
            );
        }
    }
    out
}

/// One line of a backfill's progress bar (`width` cells), for a terminal that redraws it with `\r`:
/// the bar, the share of keys done, rows, the rate of this run and the time left at that rate.
pub fn backfill_progress(p: &crate::backfill::Progress, width: usize) -> String {
    let fraction = p.state.fraction().unwrap_or(1.0);
    let filled = ((fraction * width as f64).round() as usize).min(width);
    let rate = p.rows_this_run as f64 / p.elapsed.as_secs_f64().max(1e-3);
    let eta = p.eta().map(|left| {
        let s = left.as_secs();
        format!("  ETA {}:{:02}", s / 60, s % 60)
    });
    format!(
        "{} [{}{}] {:5.1}% {} rows  {} rows/s  batch {}{}",
        p.state.version,
        "#".repeat(filled),
        ".".repeat(width - filled),
        fraction * 100.0,
        thousands(p.state.rows_done),
        thousands(rate as u64),
        thousands(u64::from(p.batch_size)),
        eta.unwrap_or_default()
    )
}

/// The history log, oldest first: one line per event, with its detail (an operator's reason, an error).
pub fn log(entries: &[crate::LogEntry]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<6} | {:<19} | {:<16} | {:<16} | DETAIL",
        "ID", "AT", "VERSION", "ACTION"
    );
    let _ = writeln!(out, "{}", "-".repeat(80));
    for e in entries {
        let detail = e
            .detail
            .as_deref()
            .unwrap_or("")
            .lines()
            .next()
            .unwrap_or("");
        let _ = writeln!(
            out,
            "{:<6} | {:<19} | {:<16} | {:<16} | {detail}",
            e.id, e.at, e.version, e.action
        );
    }
    let _ = writeln!(out, "\nTotal: {} event(s)", entries.len());
    out
}
