//! `migrator-tool lint`: the offline impact analysis of a migration directory, for CI.
//! Exit codes: 0 clean, 1 findings at or over `--fail-on` (or malformed files, an unknown
//! `-- migrator:allow` id among them), 2 usage error (the dialect cannot be inferred included).
//!
//! The dialect is `--dialect`, else the scheme of `--database-url` / `DATABASE_URL` (lint does not
//! connect), else the directory's name (`migrations/postgres`, `sqlite_migrations`) or its one engine
//! subdirectory (`migrations/` holding only `postgres/`); otherwise lint refuses to guess.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::ValueEnum;
use migrator_analyse::{report, AnalyseError, Dialect, Options, Severity};

/// Dialect names on the command line.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum DialectArg {
    /// PostgreSQL.
    Postgres,
    /// SQLite.
    Sqlite,
}

/// Output formats.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum FormatArg {
    /// `file:line: severity[id]: message` lines.
    Text,
    /// The versioned JSON document (`schema_version` 1, see migrator/analyse/README.md).
    Json,
}

/// Thresholds.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum FailOn {
    /// Fail on errors only.
    Error,
    /// Fail on warnings and errors.
    Warning,
}

/// Arguments of `lint`.
#[derive(clap::Args, Debug)]
#[command(after_help = check_ids_help())]
pub struct Args {
    /// The migrations directory.
    dir: PathBuf,
    /// Dialect the migrations are written for. Without it: the scheme of --database-url, else the
    /// directory's name (postgres/, sqlite/) or its only engine subdirectory; required otherwise.
    #[arg(long, value_enum)]
    dialect: Option<DialectArg>,
    /// The database the migrations are for; only its scheme is read (postgres://, sqlite:), to pick the
    /// dialect. lint does not connect.
    #[arg(long, value_name = "URL", env = "DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// PostgreSQL server major version the lock rules assume.
    #[arg(long, value_name = "N", default_value_t = migrator_analyse::DEFAULT_PG_VERSION,
          value_parser = clap::value_parser!(u32).range(9..=99))]
    pg_version: u32,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: FormatArg,
    /// Lowest severity that fails the run.
    #[arg(long, value_enum, default_value = "error")]
    fail_on: FailOn,
}

/// The `--help` footer: the ids `-- migrator:allow` accepts.
fn check_ids_help() -> String {
    format!(
        "Check ids for `-- migrator:allow <id> <reason>` (an unknown id is an error):\n  {}",
        migrator_format::CHECK_IDS.join("\n  ")
    )
}

/// Engine names a directory may carry: `postgres`, `postgres_migrations`, `sqlite3`, `mysql-migrations`.
fn engine_of_name(name: &str) -> Option<&'static str> {
    let lower = name.to_ascii_lowercase();
    let head = lower.split(['_', '-', '.']).next().unwrap_or("");
    match head {
        "postgres" | "postgresql" | "pg" | "pgsql" => Some("postgres"),
        "sqlite" | "sqlite3" => Some("sqlite"),
        "mysql" | "mariadb" => Some("mysql"),
        _ => None,
    }
}

fn dialect_of(engine: &str) -> Result<Dialect, String> {
    match engine {
        "postgres" => Ok(Dialect::Postgres),
        "sqlite" => Ok(Dialect::Sqlite),
        _ => Err(format!(
            "the migrations are for {engine}, which the analyser does not read (it reads PostgreSQL and SQLite)"
        )),
    }
}

/// The directory to lint and its dialect, with where the dialect came from: see the module docs.
fn resolve(args: &Args) -> Result<(PathBuf, Dialect, String), String> {
    let dir = args.dir.clone();
    let subdirs: Vec<(PathBuf, &'static str)> = std::fs::read_dir(&dir)
        .map_err(|e| format!("cannot read migration directory {}: {e}", dir.display()))?
        .flatten()
        .filter(|e| e.path().is_dir())
        .filter_map(|e| Some((e.path(), engine_of_name(&e.file_name().to_string_lossy())?)))
        .collect();
    let has_files = !migrator_format::migration_files(&dir)
        .map_err(|e| e.to_string())?
        .is_empty();
    if let Some(arg) = args.dialect {
        let (dialect, engine) = match arg {
            DialectArg::Postgres => (Dialect::Postgres, "postgres"),
            DialectArg::Sqlite => (Dialect::Sqlite, "sqlite"),
        };
        // `lint migrations --dialect sqlite` on a root holding postgres/ and sqlite/: the sqlite one.
        if let (false, Some((sub, _))) = (has_files, subdirs.iter().find(|(_, e)| *e == engine)) {
            return Ok((sub.clone(), dialect, "--dialect".into()));
        }
        return Ok((dir, dialect, "--dialect".into()));
    }
    if let Some(url) = &args.database_url {
        let scheme = url.split_once(':').map_or("", |(s, _)| s);
        if matches!(scheme, "mysql" | "mariadb") {
            return Err(dialect_of("mysql").unwrap_err());
        }
        let dialect = match migrator::connect::Target::parse(url).map_err(|e| e.to_string())? {
            migrator::connect::Target::Server(migrator::EngineKind::Postgres, _) => {
                Dialect::Postgres
            }
            migrator::connect::Target::Server(..) => return Err(dialect_of("mysql").unwrap_err()),
            migrator::connect::Target::Sqlite(_) => Dialect::Sqlite,
        };
        return Ok((dir, dialect, "the --database-url scheme".into()));
    }
    let named = |p: &Path| {
        p.file_name()
            .and_then(|n| engine_of_name(&n.to_string_lossy()))
    };
    if let Some(engine) = named(&dir).or_else(|| dir.parent().and_then(named)) {
        return Ok((
            dir.clone(),
            dialect_of(engine)?,
            format!("the directory name ({engine})"),
        ));
    }
    match (has_files, subdirs.as_slice()) {
        (false, [(sub, engine)]) => Ok((
            sub.clone(),
            dialect_of(engine)?,
            format!("the only engine subdirectory, {}", sub.display()),
        )),
        (false, [_, _, ..]) => Err(format!(
            "{} holds migrations for several engines ({}): lint one of them, or give --dialect",
            dir.display(),
            subdirs
                .iter()
                .map(|(p, _)| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )),
        _ => Err(format!(
            "cannot tell the dialect of {}: give --dialect postgres|sqlite (or --database-url, or keep the migrations in a postgres/ or sqlite/ directory)",
            dir.display()
        )),
    }
}

/// Runs `lint`.
pub fn run(args: Args) -> ExitCode {
    let (dir, dialect, why) = match resolve(&args) {
        Ok(found) => found,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    tracing::info!(dir = %dir.display(), ?dialect, from = %why, "lint dialect");
    let threshold = match args.fail_on {
        FailOn::Error => Severity::Error,
        FailOn::Warning => Severity::Warning,
    };
    let opts = Options {
        dialect,
        pg_version: args.pg_version,
    };
    let analyses = match migrator_analyse::lint_dir(&dir, opts) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            return match e {
                AnalyseError::Load {
                    source: migrator_format::SetError::Dir { .. },
                    ..
                } => ExitCode::from(2),
                _ => ExitCode::from(1),
            };
        }
    };
    let summary = report::summarise(&analyses, threshold);
    match args.format {
        FormatArg::Text => emit(&report::render_text(
            &analyses,
            &dir.display().to_string(),
            threshold,
        )),
        FormatArg::Json => {
            let doc = report::report(&analyses, dialect, args.pg_version, threshold);
            match serde_json::to_string_pretty(&doc) {
                Ok(text) => emit(&format!("{text}\n")),
                Err(e) => {
                    eprintln!("error: cannot write the JSON report: {e}");
                    return ExitCode::from(1);
                }
            }
        }
    }
    if summary.failing > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// Writes to stdout; a closed pipe (`| head`) is not an error worth a panic.
fn emit(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}
