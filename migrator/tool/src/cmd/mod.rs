//! Subcommands, one module each: `generate`, `lint`, `metrics` work on files; `status`, `history`, `apply`,
//! `rollback`, `rehearse` act on a database through the runtime (`runtime`, with what they share in `database`).

mod changelog;
mod database;
mod docs;
mod generate;
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
    /// Analyse a migration directory offline and report the safety findings (exit 1 at --fail-on).
    Lint(lint::Args),
    /// Fill the MIGRATION METRICS footer of migration files from the offline analysis.
    Metrics(metrics::Args),
    /// What applying an issue's migrations (or the pending ones) would do to the database: the host's
    /// --migrate-preview.
    Preview(preview::Args),
    /// List every migration of --dir against the database: applied, pending, rolled back, drifted,
    /// missing, failed.
    Status(runtime::ReadArgs),
    /// The database's migration history, newest first, with totals.
    History(runtime::ReadArgs),
    /// Apply the pending migrations of --dir as a host's boot does (policy checks, backup, lock).
    Apply(runtime::ApplyArgs),
    /// Roll back every applied migration of an issue, newest first.
    Rollback(runtime::RollbackArgs),
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
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Generate(args) => generate::run(args),
        Command::Lint(args) => lint::run(args),
        Command::Metrics(args) => metrics::run(args),
        Command::Preview(args) => preview::run(args),
        Command::Status(args) => runtime::status(args),
        Command::History(args) => runtime::history(args),
        Command::Apply(args) => runtime::apply(args),
        Command::Rollback(args) => runtime::rollback(args),
        Command::Rehearse(args) => runtime::rehearse(args),
        Command::Changelog(args) => changelog::run(args),
        Command::Track(args) => track::run(args),
        Command::Docs(args) => docs::run(args),
    }
}
