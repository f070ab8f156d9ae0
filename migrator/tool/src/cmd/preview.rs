//! `migrator-tool preview <ISSUE|pending>`: the host's `--migrate-preview` on a directory of migration
//! files and a database URL, without the host binary (CI, operators). Reads only.

use std::process::ExitCode;

use migrator::admin::{self, AdminCommand};

use super::database::{self, Create, DbArgs};

/// Arguments of `preview`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The issue whose migrations are previewed (`234` or `#234`), or `pending` (alias `all`).
    #[arg(value_name = "ISSUE|pending", value_parser = parse_target)]
    target: Target,
    /// `text` (the spec's layout; plain with NO_COLOR) or `json` (schema_version 1).
    #[arg(long, value_parser = ["text", "json"], default_value = "text")]
    format: String,
    /// Run the pending migrations on a scratch copy first: measured times.
    #[arg(long)]
    rehearse: bool,
    #[command(flatten)]
    db: DbArgs,
}

/// An issue, or every pending migration.
#[derive(Debug, Clone, Copy)]
struct Target(Option<u32>);

fn parse_target(text: &str) -> Result<Target, String> {
    if text == "pending" || text == "all" {
        return Ok(Target(None));
    }
    text.trim_start_matches('#')
        .parse()
        .map(|issue| Target(Some(issue)))
        .map_err(|_| format!("{text:?} is neither an issue number nor `pending`"))
}

/// Runs `preview`.
pub fn run(args: Args) -> ExitCode {
    let command = AdminCommand::Preview {
        issue: args.target.0,
        json: args.format == "json",
        rehearse: args.rehearse,
    };
    database::run(&args.db, Create::No, |migrator, backend, out| {
        admin::run(migrator, backend, &command, out)
    })
}
