//! `migrator-tool generate`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::ValueEnum;
use migrator_tool::{
    generate, Dialect, ExportError, GenError, GenerateOptions, Online, SchemaSource, Source, Status,
};

/// Dialect names on the command line.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum DialectArg {
    /// SQLite 3.35+.
    Sqlite,
    /// PostgreSQL 13+.
    Postgres,
}

/// Arguments of `generate`.
#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("input").required(true).args(["export", "repo"])))]
pub struct Args {
    /// An issue export (`gh issue view N --json number,title,url,state,labels,body,comments`, a REST issue
    /// object, an array of them) or a directory of .json exports.
    #[arg(long, value_name = "FILE|DIR")]
    export: Option<PathBuf>,
    /// Fetch the issue from GitHub instead: owner/name (token from GITHUB_TOKEN).
    #[arg(long, value_name = "OWNER/NAME", requires = "issue")]
    repo: Option<String>,
    /// API base URL for --repo.
    #[arg(long, env = "GITHUB_API_URL", default_value = migrator_tool::fetch::DEFAULT_API_URL)]
    api_url: String,
    /// The issue number (needed online, and when the export holds several issues).
    #[arg(long, value_name = "N")]
    issue: Option<u32>,
    /// Target dialect.
    #[arg(long, value_enum, default_value = "sqlite")]
    dialect: DialectArg,
    /// Migrations directory.
    #[arg(long, default_value = "migrations")]
    out: PathBuf,
    /// Rollback scripts directory.
    #[arg(long, default_value = "rollback")]
    rollback_dir: PathBuf,
    /// Schema docs directory.
    #[arg(long, default_value = "docs/schema")]
    docs_dir: PathBuf,
    /// Pin the version (YYYYMMDDHHMMSS) for a reproducible file name; default: now (UTC).
    #[arg(long, value_name = "YYYYMMDDHHMMSS")]
    timestamp: Option<String>,
    /// Name part of the file name (default: a slug of the issue title).
    #[arg(long)]
    name: Option<String>,
    /// Read the body only (by default the comments are read after it, and revise it).
    #[arg(long)]
    body_only: bool,
    /// Accepted for compatibility: comments are read by default.
    #[arg(long, hide = true)]
    with_comments: bool,
    /// The migrations directory whose replay gives the schema the migration changes (default: --out).
    #[arg(long, value_name = "DIR", conflicts_with_all = ["schema_dump", "database_url"])]
    dir: Option<PathBuf>,
    /// PostgreSQL: the server to replay the migrations on (a scratch database is created and dropped).
    #[arg(long, value_name = "URL", conflicts_with_all = ["schema_dump", "database_url"])]
    replay_url: Option<String>,
    /// Read the schema from a dump instead: pg_dump --schema-only output, or sqlite3 .schema.
    #[arg(
        long,
        value_name = "FILE",
        alias = "base-schema",
        conflicts_with = "database_url"
    )]
    schema_dump: Option<PathBuf>,
    /// Read the schema of this database instead (sqlite:PATH, a file path, or postgres://...); only read.
    #[arg(long, value_name = "URL")]
    database_url: Option<String>,
    /// Print the migration and the files it would write; write nothing.
    #[arg(long)]
    dry_run: bool,
}

/// Runs `generate`.
pub fn run(args: Args) -> ExitCode {
    let source = match (&args.export, &args.repo) {
        (Some(path), _) => Source::Export(path.clone()),
        (None, Some(repo)) => Source::Online(Online {
            repo: repo.clone(),
            api_url: args.api_url.clone(),
            token: std::env::var("GITHUB_TOKEN").ok(),
        }),
        (None, None) => {
            eprintln!("error: give --export FILE|DIR or --repo OWNER/NAME --issue N");
            return ExitCode::from(2);
        }
    };
    let dialect = match args.dialect {
        DialectArg::Sqlite => Dialect::Sqlite,
        DialectArg::Postgres => Dialect::Postgres,
    };
    let mut options = GenerateOptions::new(source, dialect);
    options.issue = args.issue;
    options.out_dir = args.out;
    options.rollback_dir = args.rollback_dir;
    options.docs_dir = args.docs_dir;
    options.timestamp = args.timestamp;
    options.name = args.name;
    options.with_comments = !args.body_only;
    options.dry_run = args.dry_run;
    options.schema = match (args.schema_dump, args.database_url) {
        (Some(path), _) => SchemaSource::Dump(path),
        (None, Some(url)) => SchemaSource::Database(url),
        (None, None) => SchemaSource::Replay {
            dir: args.dir,
            server: args.replay_url,
        },
    };
    match generate(&options) {
        Ok(outcome) => {
            let g = &outcome.generated;
            if outcome.status == Status::DryRun {
                for f in &g.files {
                    print!("{}", f.text);
                    println!();
                }
            }
            println!("{}: issue #{} -> {}", outcome.status, g.issue, g.file_name);
            for f in &outcome.files {
                println!("  {}", f.path.display());
            }
            println!("changes: {}", g.changes.len());
            for c in &g.changes {
                println!("  - {} ({})", c.change.describe(), c.origin);
            }
            report("breaking changes", &g.breaking);
            if g.lossy.is_empty() {
                println!("rollback: exact");
            } else {
                report(
                    "rollback restores the schema; data it cannot bring back",
                    &g.lossy,
                );
            }
            report("notes", &g.notes);
            if !g.ignored.is_empty() {
                println!("not read as changes: {}", g.ignored.len());
                for i in &g.ignored {
                    println!("  - {i}");
                }
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            match e {
                GenError::Options(_) | GenError::Export(ExportError::Ambiguous(_)) => {
                    ExitCode::from(2)
                }
                _ => ExitCode::from(1),
            }
        }
    }
}

fn report(label: &str, items: &[String]) {
    if !items.is_empty() {
        println!("{label}: {}", items.len());
        for i in items {
            println!("  - {i}");
        }
    }
}
