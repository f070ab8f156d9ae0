//! One migration file from planned steps, in the spec's layout: the header (with the analyser's duration
//! and downtime, the breaking changes, the lossy rollback, the `-- migrator:allow` lines the issue's own
//! changes need), the UP, the DOWN and the metrics footer. Every file is parsed by `migrator_format` and
//! linted at warning level here; a finding no step accounts for stops the generation.

use std::collections::BTreeMap;

use migrator_analyse::{Analysis, Section, Severity, Work};

use crate::dialect::Dialect;
use crate::error::GenError;
use crate::export::Issue;
use crate::generate::{one_line, version_time, GeneratedFile};
use crate::plan::{Phase, Step};

/// What one file is made of.
pub(crate) struct Part<'a> {
    pub issue: &'a Issue,
    pub dialect: Dialect,
    pub version: u64,
    pub name: &'a str,
    pub file_name: &'a str,
    pub phase: Phase,
    /// 0-based position among the issue's files.
    pub index: usize,
    pub count: usize,
    pub steps: &'a [Step],
}

const UP: &str = "-- ============ UP MIGRATION ============";
const DOWN: &str = "-- ============ DOWN MIGRATION ============";

fn statement(out: &mut String, sql: &str) {
    out.push_str(sql);
    out.push_str(";\n");
}

fn list(o: &mut String, label: &str, items: &[String]) {
    if items.is_empty() {
        o.push_str(&format!("-- {label}: none\n"));
    } else {
        o.push_str(&format!("-- {label}: {}\n", items.len()));
        for i in items {
            o.push_str(&format!("--   - {}\n", one_line(i)));
        }
    }
}

fn role(phase: Phase) -> &'static str {
    match phase {
        Phase::Ddl => "schema changes, in one transaction",
        Phase::Data => {
            "data steps on existing tables, in a transaction of their own, with no DDL lock held"
        }
        Phase::Online => "online steps outside a transaction: CONCURRENTLY builds and validations",
    }
}

/// The file's text; `allows` are the `-- migrator:allow` lines, `estimates` the header's two lines.
fn text(
    p: &Part<'_>,
    allows: &BTreeMap<&'static str, Vec<String>>,
    estimates: (&str, &str),
) -> String {
    let d = p.dialect;
    let no_tx = p.phase == Phase::Online;
    let now = match d {
        Dialect::Sqlite => "CURRENT_TIMESTAMP",
        Dialect::Postgres => "NOW()",
    };
    let mut o = String::new();
    o.push_str(&format!("-- migrations/{}\n", p.file_name));
    o.push_str(&format!(
        "-- Issue #{}: {}\n",
        p.issue.number,
        one_line(&p.issue.title)
    ));
    o.push_str(&format!("-- Generated: {}\n", version_time(p.version)));
    o.push_str("-- Author: migrator-tool\n");
    o.push_str(&format!("-- Estimated Duration: {}\n", estimates.0));
    o.push_str(&format!("-- Downtime Required: {}\n", estimates.1));
    o.push_str(&format!("-- Dialect: {}\n", d.name()));
    if let Some(url) = &p.issue.url {
        o.push_str(&format!("-- Source: {}\n", one_line(url)));
    }
    if p.count > 1 {
        o.push_str(&format!(
            "-- Part: {} of {} ({})\n",
            p.index + 1,
            p.count,
            role(p.phase)
        ));
    }
    let breaking: Vec<String> = p.steps.iter().flat_map(|s| s.breaking.clone()).collect();
    let lossy: Vec<String> = p.steps.iter().flat_map(|s| s.lossy.clone()).collect();
    list(&mut o, "Breaking changes", &breaking);
    list(&mut o, "Lossy rollback", &lossy);
    for (id, reasons) in allows {
        o.push_str(&format!(
            "-- migrator:allow {id} {}\n",
            one_line(&reasons.join("; "))
        ));
    }
    if no_tx {
        o.push_str("-- migrator:no-transaction\n");
    }
    o.push('\n');
    o.push_str(UP);
    o.push('\n');
    if !no_tx {
        o.push_str("BEGIN;\n");
    }
    for s in p.steps {
        o.push_str(&format!("\n-- {}\n", one_line(&s.comment)));
        for n in &s.notes {
            o.push_str(&format!("-- NOTE: {}\n", one_line(n)));
        }
        for sql in &s.up {
            statement(&mut o, sql);
        }
    }
    o.push_str("\n-- Add migration metadata\n");
    o.push_str("INSERT INTO schema_migrations (version, name, issue_number, applied_at)\n");
    statement(
        &mut o,
        &format!(
            "VALUES ('{:014}', '{}', {}, {now})",
            p.version, p.name, p.issue.number
        ),
    );
    if !no_tx {
        o.push_str("\nCOMMIT;\n");
    }
    o.push('\n');
    o.push_str(DOWN);
    o.push('\n');
    if !no_tx {
        o.push_str("BEGIN;\n");
    }
    o.push_str("\n-- Remove migration metadata\n");
    statement(
        &mut o,
        &format!(
            "DELETE FROM schema_migrations WHERE version = '{:014}'",
            p.version
        ),
    );
    let mut undone = 0;
    for s in p.steps.iter().rev() {
        o.push_str(&format!("\n-- Undo: {}\n", one_line(&s.comment)));
        for w in &s.lossy {
            o.push_str(&format!("-- WARNING: lossy: {}\n", one_line(w)));
        }
        for sql in &s.down {
            statement(&mut o, sql);
            undone += 1;
        }
    }
    if undone == 0 {
        // A DOWN must hold a statement for the rollback to run; these data steps leave nothing to undo in
        // the schema, and their rows are flagged above.
        o.push_str("\n-- Nothing to undo in the schema: the rows these steps changed are in the pre-migration backup\n");
        statement(&mut o, "SELECT 1 WHERE 1 = 0");
    }
    if !no_tx {
        o.push_str("\nCOMMIT;\n");
    }
    o
}

/// The header's duration and downtime, from the analysis of the UP.
fn estimates(a: &Analysis, issue: u32, no_tx: bool, steps: &[Step]) -> (String, String) {
    let up: Vec<_> = a
        .statements
        .iter()
        .filter(|s| s.section == Section::Up)
        .collect();
    let count = up
        .iter()
        .filter(|s| !s.sql.contains("schema_migrations"))
        .count();
    let mut heavy: Vec<String> = Vec::new();
    let mut blocking: Vec<String> = Vec::new();
    for s in &up {
        for t in s
            .tables
            .iter()
            .filter(|t| !t.new_table && !t.table.starts_with("schema_migrations"))
        {
            let work = match t.work {
                Work::Scan => "scans",
                Work::IndexBuild => "builds an index over",
                Work::Rewrite => "rewrites",
                Work::Rebuild => "rebuilds",
                Work::Rows => "writes rows of",
                Work::None => "",
            };
            if !work.is_empty() {
                heavy.push(format!("{} {work} {}", s.kind, t.table));
            }
            if !t.brief && (t.blocks_reads || t.blocks_writes) && t.work != Work::None {
                blocking.push(format!(
                    "{} on {} takes {} ({} wait while it {work} it)",
                    s.kind,
                    t.table,
                    t.lock.sql_name(),
                    if t.blocks_reads {
                        "reads and writes"
                    } else {
                        "writes"
                    }
                ));
            }
        }
    }
    for s in steps {
        for w in &s.heavy {
            heavy.push(w.clone());
            if a.dialect == migrator_analyse::Dialect::Sqlite {
                blocking.push(format!(
                    "SQLite's write lock is held while it {w}: writers wait"
                ));
            }
        }
    }
    heavy.dedup();
    blocking.dedup();
    let duration = if heavy.is_empty() {
        format!("under 1 second ({count} statements; brief locks only)")
    } else {
        format!(
            "scales with the rows of the tables it works on ({}); `app --migrate-preview {issue}` measures it on the database",
            heavy.join("; ")
        )
    };
    let downtime = match (blocking.is_empty(), no_tx) {
        (true, true) => "No (online: concurrent builds and validations, no long lock)".to_string(),
        (true, false) => "No (brief locks only)".to_string(),
        (false, _) => format!("Yes: {}", blocking.join("; ")),
    };
    (duration, downtime)
}

fn analyse(
    file_name: &str,
    text: &str,
    d: Dialect,
) -> Result<(migrator_format::Migration, Analysis), GenError> {
    let parsed = migrator_format::parse_file(file_name, text)?;
    let analysis = migrator_analyse::analyse(&parsed, migrator_analyse::Options::new(d.analyse()));
    Ok((parsed, analysis))
}

/// Writes, lints and finishes one file.
pub(crate) fn file(p: &Part<'_>) -> Result<GeneratedFile, GenError> {
    let d = p.dialect;
    let no_tx = p.phase == Phase::Online;
    let mut wanted: BTreeMap<&'static str, Vec<String>> = BTreeMap::new();
    for s in p.steps {
        for (id, reason) in &s.allows {
            let reasons = wanted.entry(id).or_default();
            if !reasons.contains(reason) {
                reasons.push(reason.clone());
            }
        }
    }
    let draft = text(p, &BTreeMap::new(), ("-", "-"));
    let (_, first) = analyse(p.file_name, &draft, d)?;
    let est = estimates(&first, p.issue.number, no_tx, p.steps);
    let mut used: BTreeMap<&'static str, Vec<String>> = BTreeMap::new();
    let mut unexpected = Vec::new();
    for f in first.failing(Severity::Warning) {
        match wanted.get_key_value(f.id) {
            Some((id, reasons)) => {
                used.insert(id, reasons.clone());
            }
            None => unexpected.push(format!(
                "  line {}: {}[{}]: {}",
                f.line, f.severity, f.id, f.message
            )),
        }
    }
    if !unexpected.is_empty() {
        return Err(GenError::Lint {
            file: p.file_name.to_string(),
            findings: unexpected.join("\n"),
        });
    }
    let body = text(p, &used, (&est.0, &est.1));
    let (parsed, analysis) = analyse(p.file_name, &body, d)?;
    let left: Vec<String> = analysis
        .failing(Severity::Warning)
        .map(|f| format!("  line {}: [{}]: {}", f.line, f.id, f.message))
        .collect();
    if !left.is_empty() {
        return Err(GenError::Lint {
            file: p.file_name.to_string(),
            findings: left.join("\n"),
        });
    }
    let kinds: Vec<String> = migrator::Policy::SPEC
        .review_kinds()
        .map(str::to_string)
        .collect();
    let review: Vec<String> = migrator::review::unreviewed(&parsed, &kinds)
        .into_iter()
        .map(|u| format!("{} (line {})", u.kind, u.line))
        .collect();
    let body = if review.is_empty() {
        body
    } else {
        // A plain comment: the mark itself is the reviewer's to add.
        let line = format!(
            "-- Review required: {}; the default policy refuses the file until a reviewer adds `-- Reviewed-by: name` here\n",
            review.join(", ")
        );
        let at = body.find("-- Breaking changes:").unwrap_or(0);
        format!("{}{line}{}", &body[..at], &body[at..])
    };
    let (_, analysis) = analyse(p.file_name, &body, d)?;
    let mut footer = crate::metrics::footer(&analysis, None);
    let lossy = p.steps.iter().any(|s| !s.lossy.is_empty());
    footer.push(format!(
        "-- Rollback lossy: {}",
        if lossy {
            "YES (the schema comes back; see the warnings in the DOWN for the data)"
        } else {
            "no"
        }
    ));
    let text = crate::metrics::fill(&body, &footer);
    migrator_format::parse_file(p.file_name, &text)?;
    Ok(GeneratedFile {
        file_name: p.file_name.to_string(),
        version: p.version,
        text,
        no_transaction: no_tx,
    })
}

/// `rollback/<version>_rollback.sql`: the DOWN of every file, newest first, as a standalone script.
pub(crate) fn rollback_script(
    issue: &Issue,
    d: Dialect,
    files: &[GeneratedFile],
    lossy: &[String],
) -> String {
    let mut o = String::new();
    let first = files.first().map_or(0, |f| f.version);
    o.push_str(&format!("-- rollback/{first:014}_rollback.sql\n"));
    o.push_str(&format!(
        "-- Rolls back {} (newest first)\n",
        files
            .iter()
            .rev()
            .map(|f| format!("migrations/{}", f.file_name))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    o.push_str(&format!(
        "-- Issue #{}: {}\n",
        issue.number,
        one_line(&issue.title)
    ));
    o.push_str(&format!("-- Dialect: {}\n", d.name()));
    if !lossy.is_empty() {
        o.push_str("-- WARNING: lossy rollback: the schema comes back; restore from the pre-migration backup what is listed below\n");
        for l in lossy {
            o.push_str(&format!("--   - {}\n", one_line(l)));
        }
    }
    for f in files.iter().rev() {
        let down = f
            .text
            .split(DOWN)
            .nth(1)
            .unwrap_or("")
            .split(crate::metrics::MARKER)
            .next()
            .unwrap_or("");
        o.push_str(&format!("\n-- ==== {} ====\n", f.file_name));
        o.push_str(down.trim_start_matches('\n'));
    }
    o
}
