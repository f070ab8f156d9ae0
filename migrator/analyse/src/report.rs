//! The `lint` report: text for people, JSON (`schema_version` 1) for machines.

use serde::Serialize;

use crate::model::{Analysis, Dialect, Severity, Status, SCHEMA_VERSION};

/// Counts over a set of analyses.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Migrations analysed.
    pub migrations: usize,
    /// Statements seen (UP and DOWN).
    pub statements: usize,
    /// Statements the parser refused (likely invalid, or too deeply nested).
    pub not_analysed: usize,
    /// Statements of forms the parser does not know, analysed by their keywords (parser gaps).
    pub not_understood: usize,
    /// Unsuppressed error findings.
    pub errors: usize,
    /// Unsuppressed warning findings.
    pub warnings: usize,
    /// Unsuppressed info findings.
    pub infos: usize,
    /// Suppressed findings (any severity).
    pub suppressed: usize,
    /// Unsuppressed findings at or over the threshold: the exit code is 1 when this is not 0.
    pub failing: usize,
}

/// The JSON document of `migrator-tool lint --format json`.
#[derive(Debug, Clone, Serialize)]
pub struct Report<'a> {
    /// Always [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The dialect.
    pub dialect: Dialect,
    /// The PostgreSQL major version the rules used (`null` for SQLite).
    pub pg_version: Option<u32>,
    /// The `--fail-on` threshold.
    pub fail_on: Severity,
    /// Counts.
    pub summary: Summary,
    /// One analysis per migration, by version.
    pub migrations: &'a [Analysis],
}

/// Counts findings and statements; `threshold` decides what is failing.
pub fn summarise(analyses: &[Analysis], threshold: Severity) -> Summary {
    let mut s = Summary {
        migrations: analyses.len(),
        ..Summary::default()
    };
    for a in analyses {
        s.statements += a.statements.len();
        s.not_analysed += a
            .statements
            .iter()
            .filter(|st| matches!(st.status, Status::NotAnalysed { .. }))
            .count();
        s.not_understood += a
            .statements
            .iter()
            .filter(|st| matches!(st.status, Status::NotUnderstood { .. }))
            .count();
        for f in &a.findings {
            if f.suppressed.is_some() {
                s.suppressed += 1;
                continue;
            }
            match f.severity {
                Severity::Error => s.errors += 1,
                Severity::Warning => s.warnings += 1,
                Severity::Info => s.infos += 1,
            }
            if f.severity >= threshold {
                s.failing += 1;
            }
        }
    }
    s
}

/// The JSON report.
pub fn report<'a>(
    analyses: &'a [Analysis],
    dialect: Dialect,
    pg_version: u32,
    threshold: Severity,
) -> Report<'a> {
    Report {
        schema_version: SCHEMA_VERSION,
        dialect,
        pg_version: (dialect == Dialect::Postgres).then_some(pg_version),
        fail_on: threshold,
        summary: summarise(analyses, threshold),
        migrations: analyses,
    }
}

/// The text report: one block per finding, then a summary line. `dir` prefixes the file names.
pub fn render_text(analyses: &[Analysis], dir: &str, threshold: Severity) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let prefix = if dir.is_empty() || dir.ends_with('/') {
        dir.to_string()
    } else {
        format!("{dir}/")
    };
    for a in analyses {
        for f in &a.findings {
            let _ = write!(
                out,
                "{prefix}{}:{}: {}[{}]: {}",
                f.file, f.line, f.severity, f.id, f.message
            );
            if let Some(reason) = &f.suppressed {
                let _ = write!(out, " (allowed: {reason})");
            }
            let _ = writeln!(out, "\n  safe alternative: {}", f.safe_alternative);
        }
    }
    let s = summarise(analyses, threshold);
    let _ = writeln!(
        out,
        "{} migrations, {} statements ({} not analysed, {} not understood): {} errors, {} warnings, {} info, {} allowed; {} at or over {}",
        s.migrations,
        s.statements,
        s.not_analysed,
        s.not_understood,
        s.errors,
        s.warnings,
        s.infos,
        s.suppressed,
        s.failing,
        threshold
    );
    out
}
