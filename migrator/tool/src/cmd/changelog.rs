//! `migrator-tool changelog`: the migrations grouped by issue, newest first, with what each changes and,
//! with `--database-url`, what happened to each on that database. Exit codes: 0 done, 1 failure or stale
//! (`--check`), 2 usage error.

use std::path::PathBuf;
use std::process::ExitCode;

use migrator_analyse::Dialect;
use migrator_tool::changelog::{self, ChangelogError, ChangelogOptions, Since};
use migrator_tool::output::{self, Links};
use migrator_tool::write::PlannedFile;

use super::lint::DialectArg;

/// Arguments of `changelog`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The migrations directory.
    #[arg(long, value_name = "DIR", default_value = "migrations")]
    dir: PathBuf,
    /// A database whose history to include: when each migration was applied, rolled back (and why) or
    /// failed. Not read from DATABASE_URL, so a committed changelog never depends on the environment.
    #[arg(long, value_name = "URL")]
    database_url: Option<String>,
    /// Only migrations after this version (YYYYMMDDHHMMSS), or from this date (YYYY-MM-DD) on: the
    /// slice for release notes.
    #[arg(long, value_name = "VERSION|DATE", value_parser = Since::parse)]
    since: Option<Since>,
    /// Dialect the migrations are written for (default: the database's engine, else postgres).
    #[arg(long, value_enum)]
    dialect: Option<DialectArg>,
    /// Write the changelog to this file instead of stdout (links are made relative to it).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Write nothing; exit 1 when --out is not what the command would write (for CI).
    #[arg(long, requires = "out")]
    check: bool,
    /// `owner/name`: link the issues to GitHub (GITHUB_SERVER_URL for GitHub Enterprise).
    #[arg(long, value_name = "OWNER/NAME")]
    repo: Option<String>,
}

/// Runs `changelog`.
pub fn run(args: Args) -> ExitCode {
    if !args.dir.is_dir() {
        eprintln!("error: --dir {}: no such directory", args.dir.display());
        return ExitCode::from(2);
    }
    let page_dir = match &args.out {
        Some(out) => out.parent().map(PathBuf::from).unwrap_or_default(),
        None => PathBuf::from("."),
    };
    let options = ChangelogOptions {
        dir: args.dir.clone(),
        dialect: match args.dialect {
            Some(DialectArg::Sqlite) => Dialect::Sqlite,
            Some(DialectArg::Postgres) | None => Dialect::Postgres,
        },
        database_url: args.database_url.clone(),
        since: args.since,
        links: Links::new(
            &page_dir,
            &args.dir,
            args.repo.as_deref(),
            &output::server_url(),
        ),
    };
    let text = match changelog::run(&options) {
        Ok(text) => text,
        Err(e) => {
            eprintln!("error: {e}");
            let usage = matches!(
                e,
                ChangelogError::Database(migrator_tool::database::DatabaseError::Url(_))
            );
            return ExitCode::from(if usage { 2 } else { 1 });
        }
    };
    let Some(out) = args.out else {
        print!("{text}");
        return ExitCode::SUCCESS;
    };
    let file = PlannedFile {
        path: out,
        contents: text,
    };
    match output::write_or_check(std::slice::from_ref(&file), None, args.check) {
        Ok(written) => {
            if args.check {
                println!("{} is current", file.path.display());
            } else if written.is_empty() {
                println!("{} unchanged", file.path.display());
            } else {
                println!("wrote {}", file.path.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}
