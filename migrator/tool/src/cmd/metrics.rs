//! `migrator-tool metrics`: fills the MIGRATION METRICS footer of migration files from the offline
//! analysis, and with `--dir DIR --database-url URL` the rows and times of the pending ones from that
//! database (the host's `--migrate-preview` figures). Exit codes: 0 done (or, with `--check`, every footer
//! current), 1 a file failed or (with `--check`) a footer is out of date, 2 usage error.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;

use migrator::preview::{self, Target};
use migrator_analyse::{Dialect, Options};
use migrator_tool::metrics::{self, Live, Outcome};

use super::database::{self, Create, DbArgs};
use super::lint::DialectArg;

/// Arguments of `metrics`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Migration files, or directories of them (default with --database-url: the --dir directory).
    paths: Vec<PathBuf>,
    /// Dialect the migrations are written for (with --database-url: the database's).
    #[arg(long, value_enum, default_value = "postgres")]
    dialect: DialectArg,
    /// PostgreSQL server major version the lock rules assume (with --database-url: the server's).
    #[arg(long, value_name = "N", default_value_t = migrator_analyse::DEFAULT_PG_VERSION,
          value_parser = clap::value_parser!(u32).range(9..=99))]
    pg_version: u32,
    /// Write nothing; exit 1 when a footer is out of date (for CI).
    #[arg(long)]
    check: bool,
    /// The migrations directory whose pending migrations get rows and times from --database-url.
    #[arg(long, value_name = "DIR", requires = "database_url")]
    dir: Option<PathBuf>,
    /// Rows and times of the pending migrations from this database (`sqlite:PATH`, a file path, or
    /// `postgres://...`); reads only.
    #[arg(long, value_name = "URL", requires = "dir")]
    database_url: Option<String>,
    /// The safety policy file, with --database-url (default: migration_safety.yaml beside --dir).
    #[arg(long, value_name = "FILE", requires = "database_url")]
    policy: Option<PathBuf>,
}

/// Runs `metrics`.
pub fn run(args: Args) -> ExitCode {
    let options = Options {
        dialect: match args.dialect {
            DialectArg::Postgres => Dialect::Postgres,
            DialectArg::Sqlite => Dialect::Sqlite,
        },
        pg_version: args.pg_version,
    };
    let db = match (&args.dir, &args.database_url) {
        (Some(dir), Some(url)) => Some(DbArgs {
            dir: dir.clone(),
            database_url: url.clone(),
            policy: args.policy.clone(),
        }),
        _ => None,
    };
    let Some(db) = &db else {
        if args.paths.is_empty() {
            eprintln!("error: give migration files or directories (or --dir and --database-url)");
            return ExitCode::from(2);
        }
        return fill_all(&args.paths, options, args.check, &HashMap::new());
    };
    let mut code = ExitCode::SUCCESS;
    let status = database::run(db, Create::No, |migrator, backend, _out| {
        let preview = preview::preview(migrator, backend, Target::Pending)?;
        let options = Options {
            dialect: match backend.dialect().kind {
                migrator::EngineKind::Sqlite => Dialect::Sqlite,
                migrator::EngineKind::Postgres | migrator::EngineKind::MySql => Dialect::Postgres,
            },
            pg_version: preview
                .database
                .strip_prefix("PostgreSQL ")
                .and_then(|v| v.split('.').next()?.parse().ok())
                .unwrap_or(options.pg_version),
        };
        let live: HashMap<u64, Live> = preview
            .migrations
            .iter()
            .map(|m| (m.version, live_figures(&preview.database, &m.sections)))
            .collect();
        let paths = if args.paths.is_empty() {
            vec![PathBuf::from(migrator.set().source_dir())]
        } else {
            args.paths.clone()
        };
        code = fill_all(&paths, options, args.check, &live);
        Ok(())
    });
    if status == ExitCode::SUCCESS {
        code
    } else {
        status
    }
}

/// The footer's wording of a pending migration's preview figures.
fn live_figures(database: &str, s: &preview::Sections) -> Live {
    let p = &s.performance;
    let qualifier = if p.rows_upper_bound { "at most " } else { "~" };
    let measured = |m: bool| if m { " measured" } else { "" };
    Live {
        database: database.to_string(),
        rows: format!("{qualifier}{}", preview::thousands(p.affected_rows)),
        time: format!(
            "{}{}",
            preview::duration(p.estimated_duration_ms),
            measured(p.measured)
        ),
        rollback_time: format!(
            "{}{}",
            preview::duration(s.rollback.duration_ms),
            measured(s.rollback.measured)
        ),
    }
}

/// Fills every file the paths name; `live` holds figures by version. Returns the exit code.
fn fill_all(
    paths: &[PathBuf],
    options: Options,
    check: bool,
    live: &HashMap<u64, Live>,
) -> ExitCode {
    let mut failed = false;
    let mut stale = false;
    for path in paths {
        let files = match metrics::files(path) {
            Ok(files) => files,
            Err(e) => {
                eprintln!("error: {e}");
                failed = true;
                continue;
            }
        };
        for file in files {
            let figures = file
                .file_name()
                .and_then(|n| migrator_format::parse_file_name(&n.to_string_lossy()).ok())
                .and_then(|n| live.get(&n.version));
            match metrics::fill_file(&file, options, check, figures) {
                Ok(Outcome::Unchanged) => println!("unchanged: {}", file.display()),
                Ok(Outcome::Updated) if check => {
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
