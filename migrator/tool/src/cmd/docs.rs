//! `migrator-tool docs`: schema docs from the real schema (one page per table, an index, `er.md`), by
//! replaying the migrations on a scratch database. Exit codes: 0 done (or current with `--check`), 1 stale
//! (`--check`) or failure, 2 usage error.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::ValueEnum;
use migrator_tool::docs::{self, DocsOptions, Engine};
use migrator_tool::output;

/// Engines on the command line.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum EngineArg {
    /// SQLite, in memory.
    Sqlite,
    /// A scratch database on the server of --database-url (the role needs CREATEDB).
    Postgres,
}

/// Arguments of `docs`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The migrations directory.
    #[arg(long, value_name = "DIR", default_value = "migrations")]
    dir: PathBuf,
    /// The docs directory; the tool owns its .md files (pages of dropped tables are removed).
    #[arg(long, value_name = "DIR", default_value = "docs/schema")]
    out: PathBuf,
    /// The engine to replay the migrations on.
    #[arg(long, value_enum, default_value = "sqlite")]
    engine: EngineArg,
    /// With --engine postgres: a server URL (`postgres://user@host/db`); a scratch database is created
    /// there and dropped after.
    #[arg(long, value_name = "URL")]
    database_url: Option<String>,
    /// Write nothing; exit 1 when the committed docs are not what the command would write (for CI).
    #[arg(long)]
    check: bool,
    /// `owner/name`: link the issues to GitHub (GITHUB_SERVER_URL for GitHub Enterprise).
    #[arg(long, value_name = "OWNER/NAME")]
    repo: Option<String>,
    /// Above this many tables, er.md draws the whole schema with names only plus one diagram per module.
    #[arg(long, value_name = "N", default_value_t = docs::LARGE_SCHEMA_TABLES)]
    large_schema_tables: usize,
}

/// Runs `docs`.
pub fn run(args: Args) -> ExitCode {
    if !args.dir.is_dir() {
        eprintln!("error: --dir {}: no such directory", args.dir.display());
        return ExitCode::from(2);
    }
    let engine = match (args.engine, args.database_url) {
        (EngineArg::Sqlite, None) => Engine::Sqlite,
        (EngineArg::Postgres, Some(url))
            if url.starts_with("postgres://") || url.starts_with("postgresql://") =>
        {
            Engine::Postgres(url)
        }
        (EngineArg::Postgres, _) => {
            eprintln!("error: --engine postgres needs --database-url postgres://... (a server where a scratch database can be created)");
            return ExitCode::from(2);
        }
        (EngineArg::Sqlite, Some(_)) => {
            eprintln!("error: --database-url is for --engine postgres; SQLite replays in memory");
            return ExitCode::from(2);
        }
    };
    let mut options = DocsOptions::new(args.dir, args.out, engine);
    options.check = args.check;
    options.repo = args.repo;
    options.server = output::server_url();
    options.large_schema_tables = args.large_schema_tables;
    match docs::run(&options) {
        Ok(outcome) if options.check => {
            println!(
                "{}: current ({} tables, {} pages)",
                options.out.display(),
                outcome.tables,
                outcome.pages
            );
            ExitCode::SUCCESS
        }
        Ok(outcome) => {
            for path in &outcome.changed {
                println!("wrote {}", path.display());
            }
            println!(
                "{}: {} tables, {} pages, {} changed",
                options.out.display(),
                outcome.tables,
                outcome.pages,
                outcome.changed.len()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}
