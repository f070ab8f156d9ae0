//! Composing the migration file, its rollback script and the schema docs for one issue, without I/O.

use std::collections::BTreeMap;

use crate::error::{GenError, Unreadable};
use crate::export::Issue;
use crate::extract::extract;
use crate::model::{Change, Located};
use crate::render::{render, type_sql, Rendered};
use crate::sql::Dialect;

/// What to generate for one issue (no I/O).
#[derive(Clone, Debug)]
pub struct RenderOptions {
    /// Target dialect.
    pub dialect: Dialect,
    /// The 14-digit version `YYYYMMDDHHMMSS`.
    pub version: u64,
    /// The name part of the file name; `None`: a slug of the issue title.
    pub name: Option<String>,
    /// Read comments too.
    pub with_comments: bool,
    /// The database's current schema, to make the DOWN recreate what the UP drops.
    pub base: Option<crate::schema::BaseSchema>,
}

/// The generated texts for one issue.
#[derive(Clone, Debug)]
pub struct Generated {
    /// Issue number.
    pub issue: u32,
    /// Version.
    pub version: u64,
    /// Name part (slug).
    pub name: String,
    /// `<version>_issue_<N>_<name>.sql`.
    pub file_name: String,
    /// The migration file.
    pub migration: String,
    /// `rollback/<version>_rollback.sql`: the DOWN as a standalone script.
    pub rollback: String,
    /// `docs/schema/<table>.md` sections, by table.
    pub docs: BTreeMap<String, String>,
    /// The changes read from the issue.
    pub changes: Vec<Located>,
    /// Breaking changes.
    pub breaking: Vec<String>,
    /// What the DOWN cannot restore (the migration is flagged lossy when not empty).
    pub lossy: Vec<String>,
    /// Notes on dialect limits.
    pub notes: Vec<String>,
    /// Prose and query blocks that were not read as changes.
    pub ignored: Vec<Unreadable>,
    /// The migration runs without a transaction (PostgreSQL `CONCURRENTLY`).
    pub no_transaction: bool,
}

/// Lower-case ASCII letters, digits and single underscores, at most 60 characters; `issue` if empty.
pub fn slug(title: &str) -> String {
    let mut s = String::new();
    for c in title.chars() {
        if c.is_ascii_alphanumeric() {
            s.push(c.to_ascii_lowercase());
        } else if !s.ends_with('_') && !s.is_empty() {
            s.push('_');
        }
    }
    let mut s = s.trim_end_matches('_').to_string();
    if s.len() > 60 {
        s.truncate(60);
        if let Some(cut) = s.rfind('_').filter(|c| *c > 20) {
            s.truncate(cut);
        }
        s = s.trim_end_matches('_').to_string();
    }
    if s.is_empty() {
        "issue".to_string()
    } else {
        s
    }
}

/// Text safe inside a `--` comment or a markdown line: control characters (newlines) become spaces.
pub fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_string()
}

/// `YYYY-MM-DD HH:MM:SS` of a version.
pub fn version_time(version: u64) -> String {
    let s = format!("{version:014}");
    let part = |r: std::ops::Range<usize>| s.get(r).unwrap_or("00");
    format!(
        "{}-{}-{} {}:{}:{}",
        part(0..4),
        part(4..6),
        part(6..8),
        part(8..10),
        part(10..12),
        part(12..14)
    )
}

/// Validates a `--timestamp` (14 digits forming a valid date and time).
pub fn parse_version(text: &str) -> Result<u64, GenError> {
    let probe = format!("{text}_x.sql");
    migrator_format::parse_file_name(&probe)
        .map(|n| n.version)
        .map_err(|_| {
            GenError::Options(format!(
                "--timestamp {text:?} is not a YYYYMMDDHHMMSS date and time"
            ))
        })
}

/// The current UTC time as a version.
pub fn now_version() -> u64 {
    migrator_format::version_now()
}

/// Reads the issue and renders every file for it.
pub fn generate_issue(issue: &Issue, opts: &RenderOptions) -> Result<Generated, GenError> {
    let name = match &opts.name {
        Some(n) => {
            let s = slug(n);
            if s != *n {
                return Err(GenError::Options(format!("--name {n:?} must be lower-case letters, digits and single underscores (e.g. {s:?})")));
            }
            s
        }
        None => slug(&issue.title),
    };
    let extraction = extract(issue, opts.with_comments);
    if !extraction.problems.is_empty() {
        return Err(GenError::Unreadable {
            issue: issue.number,
            problems: extraction.problems,
        });
    }
    if extraction.changes.is_empty() {
        return Err(GenError::NoDataModel(issue.number));
    }
    let rendered = render(
        &extraction.changes,
        opts.dialect,
        issue.number,
        opts.base.as_ref(),
    )?;
    let file_name = format!("{:014}_issue_{}_{name}.sql", opts.version, issue.number);
    let text = migration_text(issue, opts, &name, &file_name, &rendered);
    // The file must parse with the shared format crate, or it is a bug here.
    let parsed = migrator_format::parse_file(&file_name, &text)?;
    let migration = metrics_footer(&text, &parsed, opts.dialect, &rendered);
    let rollback = rollback_text(issue, opts, &file_name, &rendered);
    let docs = docs(issue, opts, &file_name, &extraction.changes);
    tracing::info!(issue = issue.number, file = %file_name, dialect = opts.dialect.name(), steps = rendered.steps.len(), "generated migration");
    Ok(Generated {
        issue: issue.number,
        version: opts.version,
        name,
        file_name,
        migration,
        rollback,
        docs,
        changes: extraction.changes,
        breaking: rendered.breaking,
        lossy: rendered.lossy,
        notes: rendered.notes,
        ignored: extraction.ignored,
        no_transaction: rendered.no_transaction,
    })
}

fn statement(out: &mut String, sql: &str) {
    out.push_str(sql);
    out.push_str(";\n");
}

fn migration_text(
    issue: &Issue,
    opts: &RenderOptions,
    name: &str,
    file_name: &str,
    r: &Rendered,
) -> String {
    let d = opts.dialect;
    let now = match d {
        Dialect::Sqlite => "CURRENT_TIMESTAMP",
        Dialect::Postgres => "NOW()",
    };
    let mut o = String::new();
    o.push_str(&format!("-- migrations/{file_name}\n"));
    o.push_str(&format!(
        "-- Issue #{}: {}\n",
        issue.number,
        one_line(&issue.title)
    ));
    o.push_str(&format!("-- Generated: {}\n", version_time(opts.version)));
    o.push_str("-- Author: migrator-tool\n");
    o.push_str(&format!("-- Estimated Duration: {}\n", estimate(r)));
    o.push_str(&format!("-- Downtime Required: {}\n", downtime(r)));
    o.push_str(&format!("-- Dialect: {}\n", d.name()));
    if let Some(url) = &issue.url {
        o.push_str(&format!("-- Source: {}\n", one_line(url)));
    }
    list(&mut o, "Breaking changes", &r.breaking);
    list(&mut o, "Lossy rollback", &r.lossy);
    if r.no_transaction {
        o.push_str("-- migrator:no-transaction\n");
    }
    o.push('\n');
    o.push_str("-- ============ UP MIGRATION ============\n");
    if !r.no_transaction {
        o.push_str("BEGIN;\n");
    }
    for s in r.steps.iter().chain(r.data.iter()) {
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
            "VALUES ('{:014}', '{name}', {}, {now})",
            opts.version, issue.number
        ),
    );
    if !r.no_transaction {
        o.push_str("\nCOMMIT;\n");
    }
    o.push_str("\n-- ============ DOWN MIGRATION ============\n");
    down_body(&mut o, opts, r);
    o
}

/// The MIGRATION METRICS footer, filled from the offline analysis of the generated file (what
/// `migrator-tool metrics` writes, so a fresh file passes `metrics --check`), and whether the rollback is
/// lossy, which only the generator knows.
fn metrics_footer(
    text: &str,
    parsed: &migrator_format::Migration,
    dialect: Dialect,
    r: &Rendered,
) -> String {
    let options = migrator_analyse::Options::new(match dialect {
        Dialect::Sqlite => migrator_analyse::Dialect::Sqlite,
        Dialect::Postgres => migrator_analyse::Dialect::Postgres,
    });
    let mut footer = crate::metrics::footer(&migrator_analyse::analyse(parsed, options), None);
    footer.push(format!(
        "-- Rollback lossy: {}",
        if r.lossy.is_empty() {
            "no"
        } else {
            "YES (see the warnings in the DOWN)"
        }
    ));
    crate::metrics::fill(text, &footer)
}

fn down_body(o: &mut String, opts: &RenderOptions, r: &Rendered) {
    if !r.no_transaction {
        o.push_str("BEGIN;\n");
    }
    o.push_str("\n-- Remove migration metadata\n");
    statement(
        o,
        &format!(
            "DELETE FROM schema_migrations WHERE version = '{:014}'",
            opts.version
        ),
    );
    for s in r.steps.iter().rev() {
        o.push_str(&format!("\n-- Undo: {}\n", one_line(&s.comment)));
        for w in &s.down_warnings {
            o.push_str(&format!("-- {}\n", one_line(w)));
        }
        for sql in &s.down {
            statement(o, sql);
        }
    }
    if !r.no_transaction {
        o.push_str("\nCOMMIT;\n");
    }
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

fn estimate(r: &Rendered) -> String {
    let statements: usize = r
        .steps
        .iter()
        .chain(r.data.iter())
        .map(|s| s.up.len())
        .sum();
    if r.altered.is_empty() {
        format!("under 1 second ({statements} statements on new tables only)")
    } else {
        format!("under 1 second per statement on small tables; scales with the rows of {} (row counts are not known offline)", r.altered.iter().cloned().collect::<Vec<_>>().join(", "))
    }
}

fn downtime(r: &Rendered) -> String {
    if r.blocking.is_empty() {
        "No (online migration)".into()
    } else {
        format!(
            "No, brief locks ({} blocking statements, see the metrics)",
            r.blocking.len()
        )
    }
}

fn rollback_text(issue: &Issue, opts: &RenderOptions, file_name: &str, r: &Rendered) -> String {
    let mut o = String::new();
    o.push_str(&format!("-- rollback/{:014}_rollback.sql\n", opts.version));
    o.push_str(&format!("-- Rolls back migrations/{file_name}\n"));
    o.push_str(&format!(
        "-- Issue #{}: {}\n",
        issue.number,
        one_line(&issue.title)
    ));
    o.push_str(&format!("-- Dialect: {}\n", opts.dialect.name()));
    if !r.lossy.is_empty() {
        o.push_str("-- WARNING: lossy rollback: restore from the pre-migration backup what is listed below\n");
        for l in &r.lossy {
            o.push_str(&format!("--   - {}\n", one_line(l)));
        }
    }
    if r.no_transaction {
        o.push_str("-- migrator:no-transaction\n");
    }
    down_body(&mut o, opts, r);
    o
}

fn docs(
    issue: &Issue,
    opts: &RenderOptions,
    file_name: &str,
    changes: &[Located],
) -> BTreeMap<String, String> {
    let mut by_table: BTreeMap<String, String> = BTreeMap::new();
    for l in changes {
        let Some(table) = l.change.table() else {
            continue;
        };
        let section = by_table
            .entry(table.as_str().to_string())
            .or_insert_with(|| {
                format!(
                    "\n## {} — issue #{}: {}\n\nMigration `{file_name}` ({} dialect).\n\n",
                    opts.version,
                    issue.number,
                    one_line(&issue.title),
                    opts.dialect.name()
                )
            });
        match &l.change {
            Change::CreateTable { columns, .. } => {
                section.push_str("New table.\n\n| Column | Type | Constraints |\n|---|---|---|\n");
                for c in columns {
                    section.push_str(&format!(
                        "| {} | {} | {} |\n",
                        c.name,
                        type_sql(&c.ty, opts.dialect),
                        constraints_text(c, opts.dialect)
                    ));
                }
                section.push('\n');
            }
            Change::AddColumn { column: c, .. } => section.push_str(&format!(
                "- Added column `{}` {}{}\n",
                c.name,
                type_sql(&c.ty, opts.dialect),
                match constraints_text(c, opts.dialect) {
                    t if t.is_empty() => String::new(),
                    t => format!(" ({t})"),
                }
            )),
            other => section.push_str(&format!("- {}\n", other.describe())),
        }
    }
    by_table
}

fn constraints_text(c: &crate::model::Column, d: Dialect) -> String {
    let mut parts = Vec::new();
    if c.primary_key {
        parts.push("primary key".to_string());
    }
    if c.not_null {
        parts.push("not null".into());
    }
    if c.unique {
        parts.push("unique".into());
    }
    if let Some(e) = &c.default {
        parts.push(format!("default {}", e.render(d)));
    }
    if let Some(fk) = &c.references {
        let cols: Vec<String> = fk.columns.iter().map(ToString::to_string).collect();
        parts.push(format!("references {}({})", fk.table, cols.join(", ")));
    }
    for (_, e) in &c.checks {
        parts.push(format!("check ({})", e.render(d)));
    }
    parts.join(", ").replace('|', "\\|")
}
