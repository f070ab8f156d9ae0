//! `migrator-tool track`: one comment per issue whose migrations were applied, rolled back or failed on
//! the database since the last run, kept current in place. Exit codes: 0 done, 1 failure, 2 usage error.

use std::path::PathBuf;
use std::process::ExitCode;

use migrator_tool::track::{self, TrackError, TrackOptions};

/// Arguments of `track`. The token comes from `GITHUB_TOKEN` only (never the command line).
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The repository of the issues, `owner/name`.
    #[arg(long, value_name = "OWNER/NAME")]
    repo: String,
    /// The database whose history to report (`sqlite:PATH`, a file path, `postgres://...`).
    #[arg(long, value_name = "URL", env = "DATABASE_URL", hide_env_values = true)]
    database_url: String,
    /// The migrations directory: the comment then says what each migration changes.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// A name for this database (`production`, `staging`): each gets its own comment per issue.
    #[arg(long, value_name = "NAME")]
    environment: Option<String>,
    /// The API base (GitHub Enterprise: `https://HOST/api/v3`).
    #[arg(
        long,
        value_name = "URL",
        env = "GITHUB_API_URL",
        default_value = migrator_tool::fetch::DEFAULT_API_URL
    )]
    api_url: String,
    /// The longest wait for rate limits in all (`90s`, `10m`); past it the run stops and the next resumes.
    #[arg(long, value_name = "DURATION", default_value = "10m",
          value_parser = |s: &str| migrator_format::policy::parse_duration(s).ok_or_else(|| format!("{s:?} is not a duration (use 90s, 10m)")))]
    max_wait: std::time::Duration,
    /// Print the comments that would be posted; change nothing on GitHub or in the database.
    #[arg(long)]
    dry_run: bool,
}

/// Runs `track`.
pub fn run(args: Args) -> ExitCode {
    let options = TrackOptions {
        repo: args.repo,
        api_url: args.api_url,
        token: std::env::var("GITHUB_TOKEN").ok().filter(|t| !t.is_empty()),
        database_url: args.database_url,
        dir: args.dir,
        environment: args.environment,
        max_wait: args.max_wait,
        dry_run: args.dry_run,
    };
    match track::run(&options) {
        Ok(report) => {
            for (issue, body) in &report.drafts {
                println!("--- #{issue} (dry run: not posted)\n{body}");
            }
            for (issue, id) in &report.posted {
                println!("#{issue}: posted comment {id}");
            }
            for (issue, id) in &report.updated {
                println!("#{issue}: updated comment {id}");
            }
            for (issue, id) in &report.unchanged {
                println!("#{issue}: comment {id} already current");
            }
            if report.drafts.is_empty()
                && report.posted.is_empty()
                && report.updated.is_empty()
                && report.unchanged.is_empty()
            {
                println!("no migration events since the last run");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            let usage = matches!(
                e,
                TrackError::Options(_)
                    | TrackError::Database(migrator_tool::database::DatabaseError::Url(_))
            );
            ExitCode::from(if usage { 2 } else { 1 })
        }
    }
}
