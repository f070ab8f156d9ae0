//! Subcommands, one module each: `generate`, `lint`, `metrics` work on files; `status`, `history`, `apply`,
//! `rollback`, `rehearse` act on a database through the runtime (`runtime`, with what they share in `database`).

mod backfill;
mod changelog;
mod database;
mod docs;
mod generate;
mod import;
mod lint;
mod metrics;
mod preview;
mod runtime;
mod track;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// The companion of migrator: generates migrations from GitHub issues, analyses them, and applies, lists,
/// rolls back and rehearses them without the host binary.
#[derive(Parser, Debug)]
#[command(name = "migrator-tool", version, about)]
pub struct Cli {
    /// Log each step to stderr (MIGRATOR_LOG=debug for more).
    #[arg(short, long, global = true)]
    pub verbose: bool,
    /// The subcommand.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Generate a migration (and its rollback script and schema docs) from an issue.
    Generate(generate::Args),
    /// Convert a diesel, sqlx or refinery migrations directory once to migrator's own format.
    Import(import::Args),
    /// Analyse a migration directory offline and report the safety findings (exit 1 at --fail-on).
    Lint(lint::Args),
    /// Fill the MIGRATION METRICS footer of migration files from the offline analysis.
    Metrics(metrics::Args),
    /// What applying an issue's migrations (or the pending ones) would do to the database: the host's
    /// --migrate-preview.
    Preview(preview::Args),
    /// Apply the pending migrations of --dir as a host's boot does (policy checks, backup, lock).
    Apply(runtime::ApplyArgs),
    /// Run the pending backfill migrations of --dir now, batch by batch with a progress bar on stderr, then
    /// apply the migrations that waited for them (the host's --migrate-backfill).
    Backfill(backfill::Args),
    /// Rehearse the pending migrations of --dir on a scratch copy of the database (UP, health checks,
    /// DOWN back to the schema before, UP again); the database is not changed.
    Rehearse(runtime::RehearseArgs),
    /// The migration changelog: grouped by issue, newest first, what each changes, and with a database
    /// when each was applied, rolled back (and why) or failed.
    Changelog(changelog::Args),
    /// Comment on each issue whose migrations were applied, rolled back or failed since the last run
    /// (one comment per issue, updated in place; token from GITHUB_TOKEN).
    Track(track::Args),
    /// Schema docs from the real schema: replay the migrations on a scratch database, write one page per
    /// table (columns, indexes, keys both ways, triggers, views, lineage), an index and er.md (Mermaid).
    Docs(docs::Args),
    /// An admin action of the runtime (status, history, log, rollback, rollback-version, rollback-to,
    /// rollback-last, reapply, repair, mark, baseline, backups, restore): see the list below.
    #[command(external_subcommand)]
    Admin(Vec<String>),
}

/// The admin actions as the tool spells them, from the runtime's table (for `--help`).
pub fn admin_help() -> String {
    let mut out = String::from("Admin actions (the host's --migrate-<action> flags; each also takes --dir DIR --database-url URL [--policy FILE]):\n");
    for action in migrator::admin::ACTIONS
        .iter()
        .filter(|a| !matches!(a.name, "help" | "preview" | "backfill"))
    {
        let arg = match action.arg {
            migrator::admin::Arg::None => String::new(),
            migrator::admin::Arg::One(a) => format!(" <{a}>"),
            migrator::admin::Arg::Two(a, b) => format!(" <{a}> <{b}>"),
        };
        let modifiers: String = action
            .modifiers
            .iter()
            .map(|m| format!(" [--{m}]"))
            .collect();
        out.push_str(&format!(
            "  {}{arg}{modifiers}\n      {}\n",
            action.name, action.help
        ));
    }
    out
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Generate(args) => generate::run(args),
        Command::Import(args) => import::run(args),
        Command::Lint(args) => lint::run(args),
        Command::Metrics(args) => metrics::run(args),
        Command::Preview(args) => preview::run(args),
        Command::Apply(args) => runtime::apply(args),
        Command::Rehearse(args) => runtime::rehearse(args),
        Command::Changelog(args) => changelog::run(args),
        Command::Track(args) => track::run(args),
        Command::Docs(args) => docs::run(args),
        Command::Backfill(args) => backfill::run(args),
        Command::Admin(args) => {
            let known = args
                .first()
                .is_some_and(|name| migrator::admin::ACTIONS.iter().any(|a| a.name == *name));
            if !known {
                eprintln!(
                    "error: unknown subcommand {:?}\n\n{}",
                    args.first().map(String::as_str).unwrap_or_default(),
                    admin_help()
                );
                return ExitCode::from(2);
            }
            runtime::admin_action(args)
        }
    }
}
