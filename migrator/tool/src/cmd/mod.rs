//! Subcommands, one module each. New ones (lint, apply, status, rollback) add a variant and a module.

mod generate;
mod lint;
mod metrics;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Generates migrations from GitHub issues, for migrator.
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
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Generate(args) => generate::run(args),
        Command::Lint(args) => lint::run(args),
        Command::Metrics(args) => metrics::run(args),
    }
}
