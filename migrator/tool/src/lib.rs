//! `migrator-tool`: the build-time companion of migrator. It reads a GitHub issue (an export file, a
//! directory of exports, or the REST API), extracts the data-model changes from its markdown, and writes a
//! migration file in the format `migrator_format` parses, for SQLite or PostgreSQL, with its rollback script
//! and schema docs.
//!
//! The whole pipeline is a library call so a host's `build.rs` can run it:
//!
//! ```no_run
//! use migrator_tool::{generate, Dialect, GenerateOptions, Source};
//! let mut options = GenerateOptions::new(Source::Export("issues/234.json".into()), Dialect::Sqlite);
//! options.issue = Some(234);
//! options.timestamp = Some("20240115143022".into());
//! let outcome = generate(&options)?;
//! println!("{} {}", outcome.status, outcome.generated.file_name);
//! # Ok::<(), migrator_tool::GenError>(())
//! ```
//!
//! Modules: [`export`] (loading exports), [`fetch`] (the REST API), [`extract`] (markdown), [`sql`] (the
//! DDL subset), [`model`] (changes), [`render`] (dialects), [`mod@generate`] (file texts), [`mod@write`]
//! (atomic writes, idempotence).

pub mod changelog;
pub mod changes;
pub mod database;
pub mod dialect;
pub mod docs;
pub mod error;
pub mod export;
pub mod extract;
pub mod fetch;
pub mod generate;
pub mod ident;
pub mod metrics;
pub mod model;
pub mod output;
pub mod render;
pub mod schema;
pub mod secret;
pub mod sql;
pub mod track;
pub mod write;

use std::path::PathBuf;

pub use dialect::Dialect;
pub use error::{ExportError, GenError, Unreadable};
pub use export::Issue;
pub use fetch::Online;
pub use generate::{generate_issue, Generated, RenderOptions};
pub use write::PlannedFile;

/// Where the issue comes from.
#[derive(Clone, Debug)]
pub enum Source {
    /// An export file or a directory of them.
    Export(PathBuf),
    /// An issue already loaded.
    Issue(Box<Issue>),
    /// The GitHub REST API.
    Online(Online),
}

/// Options of [`generate()`].
#[derive(Clone, Debug)]
pub struct GenerateOptions {
    /// Where the issue comes from.
    pub source: Source,
    /// The issue number (required online and for exports holding several issues).
    pub issue: Option<u32>,
    /// Target dialect.
    pub dialect: Dialect,
    /// The migrations directory (default `migrations`).
    pub out_dir: PathBuf,
    /// The rollback scripts directory (default `rollback`).
    pub rollback_dir: PathBuf,
    /// The schema docs directory (default `docs/schema`).
    pub docs_dir: PathBuf,
    /// Pinned version `YYYYMMDDHHMMSS`; default: now (UTC).
    pub timestamp: Option<String>,
    /// Name part of the file name; default: a slug of the title.
    pub name: Option<String>,
    /// Read the issue's comments too.
    pub with_comments: bool,
    /// Generate and report, write nothing.
    pub dry_run: bool,
    /// A file with the database's current schema (`CREATE TABLE`/`CREATE INDEX` statements, e.g. SQLite's
    /// `.schema` or `pg_dump --schema-only`): the DOWN then recreates dropped indexes, columns and tables.
    pub base_schema: Option<PathBuf>,
}

impl GenerateOptions {
    /// Defaults: directories `migrations`, `rollback`, `docs/schema`; no pinned timestamp; body only.
    pub fn new(source: Source, dialect: Dialect) -> Self {
        GenerateOptions {
            source,
            issue: None,
            dialect,
            out_dir: PathBuf::from("migrations"),
            rollback_dir: PathBuf::from("rollback"),
            docs_dir: PathBuf::from("docs/schema"),
            timestamp: None,
            name: None,
            with_comments: false,
            dry_run: false,
            base_schema: None,
        }
    }
}

/// What [`generate()`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// New files were written.
    Created,
    /// A migration for this issue and name exists and is identical: nothing written.
    Unchanged,
    /// `dry_run`: nothing written.
    DryRun,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Created => "created",
            Status::Unchanged => "unchanged",
            Status::DryRun => "dry-run",
        })
    }
}

/// The result of [`generate()`].
#[derive(Clone, Debug)]
pub struct GenerateOutcome {
    /// What happened.
    pub status: Status,
    /// The generated texts and analysis.
    pub generated: Generated,
    /// The files (written, or that would be written).
    pub files: Vec<PlannedFile>,
}

/// Loads the issue named by `options`.
pub fn load_issue(options: &GenerateOptions) -> Result<Issue, GenError> {
    Ok(match &options.source {
        Source::Export(path) => export::select(export::load_path(path)?, options.issue)?,
        Source::Issue(issue) => (**issue).clone(),
        Source::Online(online) => {
            let n = options
                .issue
                .ok_or_else(|| GenError::Options("online generation needs --issue N".into()))?;
            fetch::fetch_issue(online, n)?
        }
    })
}

/// Loads the issue, generates the migration, its rollback script and docs, and writes them atomically
/// (unless `dry_run`). When a migration of the same issue and name exists in `out_dir`, its version is
/// reused: identical output is `Unchanged`, different output is [`GenError::Changed`] with a diff.
pub fn generate(options: &GenerateOptions) -> Result<GenerateOutcome, GenError> {
    let issue = load_issue(options)?;
    let pinned = match &options.timestamp {
        Some(t) => Some(generate::parse_version(t)?),
        None => None,
    };
    let name = match &options.name {
        Some(n) => n.clone(),
        None => generate::slug(&issue.title),
    };
    let existing = write::find_existing(&options.out_dir, issue.number, &name);
    let version = match (&existing, pinned) {
        (Some((_, v)), _) => *v,
        (None, Some(v)) => v,
        (None, None) => generate::now_version(),
    };
    let base = match &options.base_schema {
        None => None,
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| GenError::Options(format!("--base-schema {}: {e}", path.display())))?;
            let schema = schema::BaseSchema::parse(&text).map_err(|e| {
                GenError::Options(format!(
                    "--base-schema {}:{}: {}",
                    path.display(),
                    e.line + 1,
                    e.message
                ))
            })?;
            tracing::info!(
                tables = schema.tables.len(),
                indexes = schema.indexes.len(),
                skipped = schema.skipped,
                "read the base schema"
            );
            Some(schema)
        }
    };
    let render_options = RenderOptions {
        dialect: options.dialect,
        version,
        name: Some(name),
        with_comments: options.with_comments,
        base,
    };
    let generated = generate_issue(&issue, &render_options)?;
    let files = plan(options, &generated)?;
    if let Some((path, _)) = existing {
        let old = std::fs::read_to_string(&path).map_err(|e| GenError::Write {
            path: path.clone(),
            message: e.to_string(),
        })?;
        let old = migrator_format::normalise(&old);
        if old == generated.migration {
            tracing::info!(file = %path.display(), "unchanged");
            return Ok(GenerateOutcome {
                status: Status::Unchanged,
                generated,
                files,
            });
        }
        return Err(GenError::Changed {
            issue: issue.number,
            file: path,
            diff: write::diff(&old, &generated.migration),
        });
    }
    if options.dry_run {
        return Ok(GenerateOutcome {
            status: Status::DryRun,
            generated,
            files,
        });
    }
    write::write_all(&files)?;
    Ok(GenerateOutcome {
        status: Status::Created,
        generated,
        files,
    })
}

/// The files for `generated`: the migration, the rollback script, and a docs page per table (a section
/// appended to an existing page, unless it already holds this version).
pub fn plan(
    options: &GenerateOptions,
    generated: &Generated,
) -> Result<Vec<PlannedFile>, GenError> {
    let mut files = vec![
        PlannedFile {
            path: options.out_dir.join(&generated.file_name),
            contents: generated.migration.clone(),
        },
        PlannedFile {
            path: options
                .rollback_dir
                .join(format!("{:014}_rollback.sql", generated.version)),
            contents: generated.rollback.clone(),
        },
    ];
    for (table, section) in &generated.docs {
        let path = options.docs_dir.join(format!("{table}.md"));
        let existing = match std::fs::read_to_string(&path) {
            Ok(text) => Some(text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => {
                return Err(GenError::Write {
                    path,
                    message: e.to_string(),
                })
            }
        };
        let marker = format!("\n## {:014} ", generated.version);
        let contents = match existing {
            Some(text) if text.contains(&marker) => continue,
            Some(text) => format!("{}\n{section}", text.trim_end()),
            None => format!("# Table `{table}`\n\nSchema changes by migration, newest last (written by migrator-tool).\n{section}"),
        };
        files.push(PlannedFile { path, contents });
    }
    for f in &files {
        let name = f
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if !write::safe_file_name(&name) {
            return Err(GenError::Write {
                path: f.path.clone(),
                message: "unsafe file name".into(),
            });
        }
    }
    Ok(files)
}
