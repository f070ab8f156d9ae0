//! Composing the migration files, their rollback script and the schema docs for one issue, without I/O:
//! extract the changes, check the issue's prose against the schema, plan the steps, split them into
//! migrations (the schema changes; data steps on existing tables; PostgreSQL's online part), write each
//! file with the analyser's estimates in its header, and lint it at warning level before anyone sees it.

use std::collections::BTreeMap;

use crate::dialect::Dialect;
use crate::error::{GenError, Unreadable};
use crate::export::Issue;
use crate::extract::extract;
use crate::model::{Change, Located};
use crate::plan::{plan, Phase, Step};
use crate::schema::Schema;

/// What to generate for one issue (no I/O).
#[derive(Clone, Debug)]
pub struct RenderOptions {
    /// Target dialect.
    pub dialect: Dialect,
    /// The 14-digit version `YYYYMMDDHHMMSS` of the first file (later parts take the next seconds).
    pub version: u64,
    /// The name part of the file name; `None`: a slug of the issue title.
    pub name: Option<String>,
    /// Read comments too.
    pub with_comments: bool,
    /// The schema the migration applies to.
    pub schema: Schema,
    /// Where the schema came from, for messages (`replayed migrations/ (4 migrations) on SQLite`).
    pub schema_source: String,
}

/// One generated migration file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GeneratedFile {
    /// `<version>_issue_<N>_<name>[_part].sql`.
    pub file_name: String,
    /// Its version.
    pub version: u64,
    /// The text.
    pub text: String,
    /// `-- migrator:no-transaction`.
    pub no_transaction: bool,
}

/// The generated texts for one issue.
#[derive(Clone, Debug)]
pub struct Generated {
    /// Issue number.
    pub issue: u32,
    /// Version of the first file.
    pub version: u64,
    /// Name part (slug).
    pub name: String,
    /// The first file's name.
    pub file_name: String,
    /// The first file's text.
    pub migration: String,
    /// Every file, in version order (the first is `file_name`).
    pub files: Vec<GeneratedFile>,
    /// `rollback/<version>_rollback.sql`: every DOWN as a standalone script, newest first.
    pub rollback: String,
    /// `docs/schema/<table>.md` sections, by table.
    pub docs: BTreeMap<String, String>,
    /// The changes read from the issue.
    pub changes: Vec<Located>,
    /// Breaking changes.
    pub breaking: Vec<String>,
    /// Data the DOWNs cannot bring back (they restore the schema).
    pub lossy: Vec<String>,
    /// Notes (dialect limits, added indexes, reserved words, revisions).
    pub notes: Vec<String>,
    /// Prose and query blocks that were not read as changes.
    pub ignored: Vec<Unreadable>,
    /// The first file runs without a transaction.
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

/// The version `seconds` after `version` (calendar arithmetic: a version is a date and time).
pub fn version_after(version: u64, seconds: u64) -> u64 {
    let f = |div: u64, m: u64| (version / div) % m;
    let (mut y, mut mo, mut d) = (
        version / 10_000_000_000,
        f(100_000_000, 100),
        f(1_000_000, 100),
    );
    let mut secs = f(10_000, 100) * 3600 + f(100, 100) * 60 + f(1, 100) + seconds;
    let days_in = |y: u64, m: u64| match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    while secs >= 86_400 {
        secs -= 86_400;
        d += 1;
        if d > days_in(y, mo) {
            d = 1;
            mo += 1;
            if mo > 12 {
                mo = 1;
                y += 1;
            }
        }
    }
    ((y * 100 + mo) * 100 + d) * 1_000_000
        + (secs / 3600) * 10_000
        + (secs / 60 % 60) * 100
        + secs % 60
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

/// The migrations of a plan: runs of schema steps and of data steps in issue order (each backfill a
/// migration of its own), then PostgreSQL's online steps.
fn partition(steps: Vec<Step>) -> Vec<(Phase, Vec<Step>)> {
    let mut parts: Vec<(Phase, Vec<Step>)> = Vec::new();
    let mut online = Vec::new();
    for s in steps {
        if s.phase == Phase::Online {
            online.push(s);
            continue;
        }
        match parts.last_mut() {
            // A backfill migration holds one UPDATE: each is a file of its own.
            Some((phase, list)) if *phase == s.phase && s.phase != Phase::Backfill => list.push(s),
            _ => parts.push((s.phase, vec![s])),
        }
    }
    if !online.is_empty() {
        parts.push((Phase::Online, online));
    }
    parts
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
    let mut problems = extraction.problems.clone();
    problems.extend(crate::extract::unread_names(&extraction, &opts.schema));
    if !problems.is_empty() {
        problems.sort_by(|a, b| (&a.part, a.line).cmp(&(&b.part, b.line)));
        return Err(GenError::Unreadable {
            issue: issue.number,
            problems,
        });
    }
    if extraction.changes.is_empty() {
        return Err(GenError::NoDataModel(issue.number));
    }
    let planned = plan(
        &extraction.changes,
        &opts.schema,
        &opts.schema_source,
        opts.dialect,
        issue.number,
    )?;
    let parts = partition(planned.steps.clone());
    let mut files = Vec::new();
    let count = parts.len();
    // Each file is analysed on the schema the files before it leave (the contract of an expand/contract
    // knows the CHECK its expand added).
    let mut catalog = catalog_of(&opts.schema);
    for (k, (phase, steps)) in parts.iter().enumerate() {
        let version = version_after(opts.version, k as u64);
        let suffix = match (k, phase) {
            (0, _) => String::new(),
            (_, Phase::Data) => "_data".to_string(),
            (_, Phase::Backfill) => "_backfill".to_string(),
            (_, Phase::Online) => "_online".to_string(),
            (_, Phase::Ddl) => format!("_part{}", k + 1),
        };
        let file_name = format!("{version:014}_issue_{}_{name}{suffix}.sql", issue.number);
        let part = crate::compose::Part {
            issue,
            dialect: opts.dialect,
            version,
            name: &name,
            file_name: &file_name,
            phase: *phase,
            index: k,
            count,
            steps,
            catalog: &catalog,
        };
        let file = crate::compose::file(&part)?;
        let parsed = migrator_format::parse_file(&file.file_name, &file.text)?;
        migrator_analyse::analyse_in(
            &parsed,
            migrator_analyse::Options::new(opts.dialect.analyse()),
            &mut catalog,
        );
        files.push(file);
    }
    let breaking: Vec<String> = planned
        .steps
        .iter()
        .flat_map(|s| s.breaking.clone())
        .collect();
    let lossy: Vec<String> = planned.steps.iter().flat_map(|s| s.lossy.clone()).collect();
    let mut notes = extraction.revisions.clone();
    notes.extend(planned.notes.iter().cloned());
    notes.extend(
        planned
            .steps
            .iter()
            .flat_map(|s| s.notes.iter().map(|n| format!("{}: {n}", s.comment))),
    );
    let rollback = crate::compose::rollback_script(issue, opts.dialect, &files, &lossy);
    let first = files
        .first()
        .cloned()
        .ok_or(GenError::NoDataModel(issue.number))?;
    let docs = docs(issue, opts, &first.file_name, &extraction.changes);
    tracing::info!(
        issue = issue.number,
        files = files.len(),
        dialect = opts.dialect.name(),
        steps = planned.steps.len(),
        "generated migration"
    );
    Ok(Generated {
        issue: issue.number,
        version: opts.version,
        name,
        file_name: first.file_name.clone(),
        migration: first.text.clone(),
        no_transaction: first.no_transaction,
        files,
        rollback,
        docs,
        changes: extraction.changes,
        breaking,
        lossy,
        notes,
        ignored: extraction.ignored,
    })
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
                section.push_str("New table.\n\n| Column | Definition |\n|---|---|\n");
                for c in columns {
                    section.push_str(&format!(
                        "| {} | {} |\n",
                        c.name,
                        crate::render::spec_column(c, opts.dialect, true)
                            .trim_start_matches(&c.name.sql(opts.dialect))
                            .trim()
                            .replace('|', "\\|")
                    ));
                }
                section.push('\n');
            }
            Change::AddColumn { column: c, .. } => section.push_str(&format!(
                "- Added column `{}`: {}\n",
                c.name,
                crate::render::spec_column(c, opts.dialect, true)
                    .trim_start_matches(&c.name.sql(opts.dialect))
                    .trim()
            )),
            other => section.push_str(&format!("- {}\n", other.describe())),
        }
    }
    by_table
}

/// The analyser's view of `schema`: tables, column types, primary keys and indexes.
pub(crate) fn catalog_of(schema: &Schema) -> migrator_analyse::Catalog {
    let mut catalog = migrator_analyse::Catalog::new();
    for table in schema.tables.values() {
        catalog.add_table(&table.name);
        for c in &table.columns {
            catalog.add_column(&table.name, &c.name, &c.data_type);
        }
        if let Some(pk) = &table.primary_key {
            let columns: Vec<&str> = pk.columns.iter().map(String::as_str).collect();
            catalog.set_primary_key(&table.name, &columns);
        }
        for index in &table.indexes {
            let columns: Vec<&str> = index.columns.iter().map(String::as_str).collect();
            catalog.add_index(&index.name, &table.name, &columns);
        }
    }
    catalog
}
