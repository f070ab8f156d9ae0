//! `migrator-tool lint`: the offline impact analysis of a migration directory, for CI.
//! Exit codes: 0 clean, 1 findings at or over `--fail-on` (or malformed files), 2 usage error.

use std::path::PathBuf;
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
pub struct Args {
    /// The migrations directory.
    dir: PathBuf,
    /// Dialect the migrations are written for.
    #[arg(long, value_enum, default_value = "postgres")]
    dialect: DialectArg,
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

/// Runs `lint`.
pub fn run(args: Args) -> ExitCode {
    let dialect = match args.dialect {
        DialectArg::Postgres => Dialect::Postgres,
        DialectArg::Sqlite => Dialect::Sqlite,
    };
    let threshold = match args.fail_on {
        FailOn::Error => Severity::Error,
        FailOn::Warning => Severity::Warning,
    };
    let opts = Options {
        dialect,
        pg_version: args.pg_version,
    };
    let analyses = match migrator_analyse::lint_dir(&args.dir, opts) {
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
            &args.dir.display().to_string(),
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
