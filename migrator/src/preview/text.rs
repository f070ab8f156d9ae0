//! The preview as text, in the spec's "Preview Mode" layout: emoji headings, or plain ASCII with
//! [`Style::Plain`] (`NO_COLOR`). Formatting only: every figure comes from the [`Preview`].

use std::fmt::Write;

use super::model::{Complexity, MigrationPreview, Preview, Sections, State, Target};
use crate::render::Style;

/// `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A duration for people: `0.4 ms`, `12 ms`, `2.5 seconds`, `45 seconds`, `3 min 20 s`.
pub fn duration(ms: f64) -> String {
    if ms < 1.0 {
        format!("{ms:.1} ms")
    } else if ms < 1000.0 {
        format!("{ms:.0} ms")
    } else if ms < 10_000.0 {
        format!("{:.1} seconds", ms / 1000.0)
    } else if ms < 60_000.0 {
        format!("{:.0} seconds", ms / 1000.0)
    } else {
        let s = (ms / 1000.0).round() as u64;
        format!("{} min {} s", s / 60, s % 60)
    }
}

/// Bytes for people, decimal units: `512 bytes`, `48 kB`, `25.3 MB`, `1.2 GB`.
pub fn bytes(n: u64) -> String {
    let f = n as f64;
    if n < 1000 {
        format!("{n} bytes")
    } else if f < 1e6 {
        format!("{:.0} kB", f / 1e3)
    } else if f < 1e9 {
        format!("{:.1} MB", f / 1e6)
    } else {
        format!("{:.1} GB", f / 1e9)
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn state_label(state: State) -> &'static str {
    match state {
        State::Pending => "pending",
        State::Applied => "applied",
        State::RolledBack => "rolled back",
        State::Other => "needs attention (see --migrate-status)",
    }
}

/// The whole preview.
pub fn render(preview: &Preview, style: Style) -> String {
    let mut out = String::new();
    let icon = |i: &str| style.icon(i);
    let title = match preview.target {
        Target::Issue(i) => format!("Migration Preview for Issue #{i}"),
        Target::Pending => "Migration Preview for pending migrations".to_string(),
    };
    let _ = writeln!(out, "{}{title}", icon("🔍"));
    if preview.migrations.is_empty() {
        let _ = writeln!(out, "\nNothing pending: the database is up to date.");
        return out;
    }
    let _ = writeln!(
        out,
        "  Database: {} (cost model calibrated in {:.0} ms)",
        preview.database, preview.calibration_ms
    );
    if preview.migrations.len() > 1 || preview.migrations[0].state != State::Pending {
        for m in &preview.migrations {
            migration_line(&mut out, m);
        }
    }
    sections(
        &mut out,
        &preview.total,
        style,
        preview.migrations.len() > 1,
    );
    if style == Style::Plain {
        out = out.replace('→', "->");
    }
    out
}

fn migration_line(out: &mut String, m: &MigrationPreview) {
    let _ = writeln!(out, "  - {} ({})", m.file, state_label(m.state));
}

/// The five sections; `several`: findings name their file, not only their line.
fn sections(out: &mut String, s: &Sections, style: Style, several: bool) {
    schema_changes(out, s, style);
    performance(out, s, style);
    warnings(out, s, style, several);
    rollback_plan(out, s, style);
    let _ = writeln!(out, "\n{}Generated Files:", style.icon("📁"));
    for f in &s.generated_files {
        let _ = writeln!(out, "  - {f}");
    }
}

/// "Schema Changes": new, modified and dropped objects, constraints.
fn schema_changes(out: &mut String, s: &Sections, style: Style) {
    let icon = |i: &str| style.icon(i);
    let c = &s.schema_changes;
    let _ = writeln!(out, "\n{}Schema Changes:", icon("📊"));
    let mut blocks: Vec<String> = Vec::new();
    if !c.new_tables.is_empty() {
        let mut b = "  NEW TABLES:\n".to_string();
        for t in &c.new_tables {
            let _ = writeln!(
                b,
                "    - {} ({}, {})",
                t.name,
                plural(t.columns, "column", "columns"),
                plural(t.indexes, "index", "indexes")
            );
        }
        blocks.push(b);
    }
    if !c.modified_tables.is_empty() {
        let mut b = "  MODIFIED TABLES:\n".to_string();
        for t in &c.modified_tables {
            let mut parts = Vec::new();
            if !t.added_columns.is_empty() {
                parts.push(format!(
                    "+{}",
                    plural(t.added_columns.len(), "column", "columns")
                ));
            }
            if !t.dropped_columns.is_empty() {
                parts.push(format!(
                    "-{}: {}",
                    plural(t.dropped_columns.len(), "column", "columns"),
                    t.dropped_columns.join(", ")
                ));
            }
            if !t.altered_columns.is_empty() {
                parts.push(format!("altered: {}", t.altered_columns.join(", ")));
            }
            if !t.indexes.is_empty() {
                parts.push(format!("+{}", plural(t.indexes.len(), "index", "indexes")));
            }
            let _ = writeln!(b, "    - {} ({})", t.name, parts.join(", "));
        }
        blocks.push(b);
    }
    if !c.dropped.is_empty() {
        let mut b = "  DROPPED:\n".to_string();
        for d in &c.dropped {
            let _ = writeln!(b, "    - {} {}", d.kind, d.name);
        }
        blocks.push(b);
    }
    if !c.constraints.is_empty() {
        let mut b = "  CONSTRAINTS:\n".to_string();
        for k in &c.constraints {
            let _ = writeln!(b, "    - {}: {}", k.kind, k.description);
        }
        blocks.push(b);
    }
    if blocks.is_empty() {
        blocks.push("  (no schema change)\n".to_string());
    }
    // The spec's layout: blocks separated by a line of two spaces.
    out.push_str(&blocks.join("  \n"));
}

/// "Performance Impact": duration, locks, rows, space.
fn performance(out: &mut String, s: &Sections, style: Style) {
    let icon = |i: &str| style.icon(i);
    let p = &s.performance;
    let _ = writeln!(out, "\n{}Performance Impact:", icon("⏱️ "));
    let measured = if p.measured { " (measured)" } else { "" };
    let _ = writeln!(
        out,
        "  - Estimated Duration: {}{measured}",
        duration(p.estimated_duration_ms)
    );
    let _ = writeln!(out, "  - Lock Required: {}", lock_required(s));
    let _ = writeln!(
        out,
        "  - Lock Duration: ~{}{}",
        duration(p.lock_duration_ms),
        if p.downtime { " (DOWNTIME)" } else { "" }
    );
    let _ = writeln!(
        out,
        "  - Affected Rows: {}{}",
        thousands(p.affected_rows),
        if p.rows_upper_bound {
            " (at most: an UPDATE/DELETE filters on a column this migration adds)"
        } else {
            ""
        }
    );
    let _ = writeln!(out, "  - Space Required: ~{}", bytes(p.space_bytes));
}

/// "Warnings": the findings, allowed ones tagged, with their safe alternatives.
fn warnings(out: &mut String, s: &Sections, style: Style, several: bool) {
    let icon = |i: &str| style.icon(i);
    let _ = writeln!(out, "\n{}Warnings:", icon("⚠️ "));
    if s.not_understood > 0 {
        let _ = writeln!(
            out,
            "  - {} the analyser cannot read: their locks and work may be more than shown here (--rehearse has the database decide that they are valid)",
            plural(s.not_understood, "statement", "statements")
        );
    }
    if s.warnings.is_empty() && s.not_understood == 0 {
        let _ = writeln!(out, "  - None");
    }
    for w in &s.warnings {
        let tag = match &w.suppressed {
            Some(reason) => format!("allowed: {reason}; "),
            None => String::new(),
        };
        match w.id.as_str() {
            "lock" | "downtime" => {
                let _ = writeln!(out, "  - {}", w.message);
            }
            _ => {
                let place = if several {
                    format!("{}:{}", w.file, w.line)
                } else {
                    format!("line {}", w.line)
                };
                let _ = writeln!(
                    out,
                    "  - [{tag}{} {}] {place}: {}",
                    w.severity, w.id, w.message
                );
            }
        }
        // Info findings' alternatives are what this preview already shows (the rows a DOWN loses).
        if let (Some(alt), None, false) = (&w.safe_alternative, &w.suppressed, w.severity == "info")
        {
            let _ = writeln!(out, "      safe alternative: {alt}");
        }
    }
}

/// "Rollback Plan": availability, duration, data loss, complexity.
fn rollback_plan(out: &mut String, s: &Sections, style: Style) {
    let icon = |i: &str| style.icon(i);
    let r = &s.rollback;
    let _ = writeln!(out, "\n{}Rollback Plan:", icon("✅"));
    if !r.available {
        let _ = writeln!(
            out,
            "  - no DOWN: cannot be rolled back ({})",
            r.missing_down.join(", ")
        );
    }
    let measured = if r.measured { " (measured)" } else { "" };
    let _ = writeln!(
        out,
        "  - Rollback Duration: {}{measured}",
        duration(r.duration_ms)
    );
    if r.data_loss.is_empty() {
        let _ = writeln!(out, "  - Data Loss Risk: None");
    } else {
        let _ = writeln!(out, "  - Data Loss Risk:");
        for d in &r.data_loss {
            let what = if d.object == "table" {
                format!("{} rows would be lost", thousands(d.rows))
            } else {
                format!("{} non-NULL values would be lost", thousands(d.rows))
            };
            let _ = writeln!(out, "      drops {} {}: {what}", d.object, d.name);
        }
    }
    let level = match r.complexity {
        Complexity::Low => "Low",
        Complexity::Medium => "Medium",
        Complexity::High => "High",
    };
    let _ = writeln!(out, "  - Complexity: {level} ({})", r.complexity_reason);
}

/// `Yes (ALTER TABLE)`, with the lock and the tables; `No` when nothing waits.
fn lock_required(s: &Sections) -> String {
    let locks = &s.performance.locks;
    if locks.is_empty() {
        return "No".to_string();
    }
    let mut seen: Vec<String> = Vec::new();
    if locks.iter().all(|l| l.lock == "database write lock") {
        for l in locks {
            if !seen.contains(&l.statement) {
                seen.push(l.statement.clone());
            }
        }
        return format!(
            "Yes (SQLite's write lock for the whole migration: {})",
            seen.join(", ")
        );
    }
    for l in locks {
        let item = format!(
            "{} on {}: {}{}",
            l.statement,
            l.table,
            l.lock,
            if l.brief { ", brief" } else { "" }
        );
        if !seen.contains(&item) {
            seen.push(item);
        }
    }
    format!("Yes ({})", seen.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_for_people() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(50_000), "50,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(duration(0.25), "0.2 ms");
        assert_eq!(duration(12.4), "12 ms");
        assert_eq!(duration(2_500.0), "2.5 seconds");
        assert_eq!(duration(45_000.0), "45 seconds");
        assert_eq!(duration(200_000.0), "3 min 20 s");
        assert_eq!(bytes(512), "512 bytes");
        assert_eq!(bytes(48_000), "48 kB");
        assert_eq!(bytes(25_300_000), "25.3 MB");
    }
}
