//! `migrator-tool metrics`: fills the MIGRATION METRICS footer of migration files from the offline
//! analysis. Exit codes: 0 done (or, with `--check`, every footer current), 1 a file failed or (with
//! `--check`) a footer is out of date, 2 usage error.

use std::path::PathBuf;
use std::process::ExitCode;

use migrator_analyse::Dialect;
use migrator_tool::metrics::{self, Outcome};

use super::lint::DialectArg;

/// Arguments of `metrics`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Migration files, or directories of them.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Dialect the migrations are written for.
    #[arg(long, value_enum, default_value = "postgres")]
    dialect: DialectArg,
    /// PostgreSQL server major version the lock rules assume.
    #[arg(long, value_name = "N", default_value_t = migrator_analyse::DEFAULT_PG_VERSION,
          value_parser = clap::value_parser!(u32).range(9..=99))]
    pg_version: u32,
    /// Write nothing; exit 1 when a footer is out of date (for CI).
    #[arg(long)]
    check: bool,
}

/// Runs `metrics`.
pub fn run(args: Args) -> ExitCode {
    let dialect = match args.dialect {
        DialectArg::Postgres => Dialect::Postgres,
        DialectArg::Sqlite => Dialect::Sqlite,
    };
    let mut failed = false;
    let mut stale = false;
    for path in &args.paths {
        let files = match metrics::files(path) {
            Ok(files) => files,
            Err(e) => {
                eprintln!("error: {e}");
                failed = true;
                continue;
            }
        };
        for file in files {
            match metrics::fill_file(&file, dialect, args.pg_version, args.check) {
                Ok(Outcome::Unchanged) => println!("unchanged: {}", file.display()),
                Ok(Outcome::Updated) if args.check => {
                    stale = true;
                    println!("out of date: {}", file.display());
                }
                Ok(Outcome::Updated) => println!("updated: {}", file.display()),
                Err(e) => {
                    eprintln!("error: {e}");
                    failed = true;
                }
            }
        }
    }
    if failed || stale {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
