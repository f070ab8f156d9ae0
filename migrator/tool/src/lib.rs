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
//! Modules, in the order data flows: [`export`] and [`fetch`] (the issue), [`mod@schema`] (the schema it
//! changes: a replayed migrations directory, a dump, a database), [`extract`] (markdown to [`model`]
//! changes), [`plan`] (checked against the schema, with exact inverses), [`render`] (SQL text),
//! [`mod@generate`] and `compose` (the files, linted), [`mod@write`] (atomic writes, idempotence).

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
pub mod plan;
pub mod render;
pub mod schema;
pub mod secret;
pub mod sqlexpr;
pub mod track;
pub mod write;

mod compose;

use std::path::PathBuf;

pub use dialect::Dialect;
pub use error::{ExportError, GenError, Unreadable};
pub use export::Issue;
pub use fetch::Online;
pub use generate::{generate_issue, Generated, GeneratedFile, RenderOptions};
pub use schema::Schema;
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
    /// The schema the migration applies to (default: the migrations directory `out_dir`, replayed).
    pub schema: SchemaSource,
}

/// Where the schema the migration changes comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SchemaSource {
    /// Replay a migrations directory (`None`: the output directory) without this issue's own files, on
    /// SQLite in memory, or for PostgreSQL on a scratch database of the server `server` (a URL).
    Replay {
        /// The directory.
        dir: Option<PathBuf>,
        /// The PostgreSQL server to replay on.
        server: Option<String>,
    },
    /// A schema dump: `pg_dump --schema-only` output or SQLite's `.schema`.
    Dump(PathBuf),
    /// A database as it is: an SQLite file (`sqlite:PATH` or a path) or `postgres://...`; only read.
    Database(String),
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
            schema: SchemaSource::Replay {
                dir: None,
                server: None,
            },
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

/// The schema of `options` for the migration of `issue` named `name`, and words saying where it came from.
pub fn load_schema(
    options: &GenerateOptions,
    issue: u32,
    name: &str,
) -> Result<(Schema, String), GenError> {
    let d = options.dialect;
    match &options.schema {
        SchemaSource::Dump(path) => {
            let meta = std::fs::metadata(path)
                .map_err(|e| GenError::Options(format!("--schema-dump {}: {e}", path.display())))?;
            if meta.len() > export::MAX_FILE_BYTES {
                return Err(GenError::Options(format!(
                    "--schema-dump {}: {} bytes, over the limit of {} bytes",
                    path.display(),
                    meta.len(),
                    export::MAX_FILE_BYTES
                )));
            }
            let text = std::fs::read_to_string(path)
                .map_err(|e| GenError::Options(format!("--schema-dump {}: {e}", path.display())))?;
            let origin = path.display().to_string();
            let (schema, summary) = Schema::from_dump(&text, d, &origin)
                .map_err(|e| GenError::Schema(schema::SchemaError::Dump(e)))?;
            tracing::info!(dump = %origin, tables = schema.tables.len(), applied = summary.applied, skipped = summary.skipped, "read the schema dump");
            Ok((schema, format!("read from {origin}")))
        }
        SchemaSource::Database(url) => {
            let shown = secret::redact_url(url, url);
            let schema = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
                use diesel::Connection;
                let mut conn = diesel::PgConnection::establish(url).map_err(|e| {
                    GenError::Options(format!(
                        "--database-url {shown}: {}",
                        secret::redact_url(&e.to_string(), url)
                    ))
                })?;
                Schema::from_postgres(&mut conn)?
            } else {
                let path = url
                    .strip_prefix("sqlite://")
                    .or_else(|| url.strip_prefix("sqlite:"))
                    .unwrap_or(url);
                let conn = rusqlite::Connection::open_with_flags(
                    path,
                    rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
                )
                .map_err(|e| GenError::Options(format!("--database-url {shown}: {e}")))?;
                Schema::from_sqlite(&conn)?
            };
            Ok((schema, format!("read from the database {shown}")))
        }
        SchemaSource::Replay { dir, server } => {
            let dir = dir.clone().unwrap_or_else(|| options.out_dir.clone());
            let files = migrator_format::migration_files(&dir).unwrap_or_default();
            if files.is_empty() {
                return Ok((
                    Schema::default(),
                    format!(
                        "{} holds no migration yet: the schema is empty",
                        dir.display()
                    ),
                ));
            }
            let ours = write::find_existing(&dir, issue, name);
            let migrations: Vec<migrator::Migration> = migrator_format::load_dir(&dir)
                .map_err(|e| {
                    GenError::Schema(schema::SchemaError::Load {
                        dir: dir.clone(),
                        message: e.to_string(),
                    })
                })?
                .for_engine(match d {
                    Dialect::Sqlite => migrator::EngineKind::Sqlite,
                    Dialect::Postgres => migrator::EngineKind::Postgres,
                })
                .iter()
                .filter(|m| {
                    !ours.iter().any(|(p, _)| {
                        p.file_name()
                            .is_some_and(|f| f.to_string_lossy() == *m.file_name)
                    })
                })
                .cloned()
                .collect();
            let count = migrations.len();
            let set = migrator::MigrationSet::from_migrations(migrations).map_err(|e| {
                GenError::Schema(schema::SchemaError::Load {
                    dir: dir.clone(),
                    message: e.to_string(),
                })
            })?;
            let (schema, replay) = match (d, server) {
                (Dialect::Sqlite, _) => Schema::replay_set_sqlite(&set)?,
                (Dialect::Postgres, Some(server)) => Schema::replay_set_postgres(&set, server)?,
                (Dialect::Postgres, None) => {
                    return Err(GenError::Options(format!(
                        "the schema of {} (PostgreSQL migrations) is known by replaying them on a server: give --replay-url postgres://... (a scratch database is created there and dropped), or --schema-dump FILE (pg_dump --schema-only), or --database-url URL",
                        dir.display()
                    )))
                }
            };
            Ok((
                schema,
                format!(
                    "replayed {} ({count} migrations) on {}",
                    dir.display(),
                    replay.engine
                ),
            ))
        }
    }
}

/// Loads the issue and the schema, generates the migrations, their rollback script and docs, and writes
/// them atomically (unless `dry_run`). When migrations of the same issue and name exist in `out_dir`, their
/// version is reused: identical output is `Unchanged`, different output is [`GenError::Changed`] with a
/// diff.
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
    let version = match (existing.first(), pinned) {
        (Some((_, v)), _) => *v,
        (None, Some(v)) => v,
        (None, None) => generate::now_version(),
    };
    let (schema, schema_source) = load_schema(options, issue.number, &name)?;
    tracing::info!(source = %schema_source, tables = schema.tables.len(), "the schema the migration applies to");
    let render_options = RenderOptions {
        dialect: options.dialect,
        version,
        name: Some(name),
        with_comments: options.with_comments,
        schema,
        schema_source,
    };
    let generated = generate_issue(&issue, &render_options)?;
    let files = plan(options, &generated)?;
    if !existing.is_empty() {
        let mut diff = String::new();
        let mut same = existing.len() == generated.files.len();
        for f in &generated.files {
            let path = options.out_dir.join(&f.file_name);
            let old = match existing.iter().find(|(p, _)| *p == path) {
                Some((p, _)) => std::fs::read_to_string(p).map_err(|e| GenError::Write {
                    path: p.clone(),
                    message: e.to_string(),
                })?,
                None => String::new(),
            };
            let old = migrator_format::normalise(&old);
            if old != f.text {
                same = false;
                diff.push_str(&format!("{}:\n{}", f.file_name, write::diff(&old, &f.text)));
            }
        }
        if same {
            tracing::info!(file = %generated.file_name, "unchanged");
            return Ok(GenerateOutcome {
                status: Status::Unchanged,
                generated,
                files,
            });
        }
        return Err(GenError::Changed {
            issue: issue.number,
            file: existing[0].0.clone(),
            diff,
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
    let mut files: Vec<PlannedFile> = generated
        .files
        .iter()
        .map(|f| PlannedFile {
            path: options.out_dir.join(&f.file_name),
            contents: f.text.clone(),
        })
        .collect();
    files.extend([PlannedFile {
        path: options
            .rollback_dir
            .join(format!("{:014}_rollback.sql", generated.version)),
        contents: generated.rollback.clone(),
    }]);
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
