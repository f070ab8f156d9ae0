//! `status`, `history`, `apply`, `rollback`, `rehearse`: the runtime's own actions on a directory of migration files
//! and a database URL, for CI (before the host is built) and for operators without the host binary. They
//! run the host's code paths (`Migrator::boot`, the admin actions) and print with the host's renderers, so
//! the output is the one `app --migrate-status` or a boot prints.

use std::process::ExitCode;

use migrator::admin::{self, AdminCommand};
use migrator::render::{self, Style};

use super::database::{self, Create, DbArgs};

/// Arguments of `status` and `history`.
#[derive(clap::Args, Debug)]
pub struct ReadArgs {
    #[command(flatten)]
    db: DbArgs,
}

/// Arguments of `rehearse`.
#[derive(clap::Args, Debug)]
pub struct RehearseArgs {
    #[command(flatten)]
    db: DbArgs,
}

/// Arguments of `apply`.
#[derive(clap::Args, Debug)]
pub struct ApplyArgs {
    #[command(flatten)]
    db: DbArgs,
}

/// Arguments of `rollback`.
#[derive(clap::Args, Debug)]
pub struct RollbackArgs {
    /// The issue whose applied migrations are rolled back, newest first (`234` or `#234`).
    #[arg(value_name = "ISSUE", value_parser = parse_issue)]
    issue: u32,
    /// Roll back even when later applied migrations of other issues touch the same tables.
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    db: DbArgs,
}

fn parse_issue(text: &str) -> Result<u32, String> {
    text.trim_start_matches('#')
        .parse()
        .map_err(|_| format!("{text:?} is not an issue number"))
}

/// Runs an admin action of the runtime (the same as the host's `--migrate-...` flag).
fn admin_action(db: &DbArgs, command: AdminCommand) -> ExitCode {
    database::run(db, Create::No, |migrator, backend, out| {
        admin::run(migrator, backend, &command, out)
    })
}

/// `status`: every migration of the directory against the database's history.
pub fn status(args: ReadArgs) -> ExitCode {
    admin_action(&args.db, AdminCommand::Status)
}

/// `history`: the spec's history table, newest first.
pub fn history(args: ReadArgs) -> ExitCode {
    admin_action(&args.db, AdminCommand::History)
}

/// `rollback ISSUE [--force]`.
pub fn rollback(args: RollbackArgs) -> ExitCode {
    admin_action(
        &args.db,
        AdminCommand::Rollback {
            issue: args.issue,
            force: args.force,
        },
    )
}

/// `apply`: the boot of a host (validation, review rule, backup, rehearsal when the policy wants it,
/// apply under the lock, health checks).
pub fn apply(args: ApplyArgs) -> ExitCode {
    database::run(&args.db, Create::Yes, |migrator, backend, out| {
        let report = migrator.boot(backend)?;
        out.write_all(render::report(&report, Style::from_env()).as_bytes())
            .map_err(|e| migrator::Error::Usage(format!("cannot write the output: {e}")))
    })
}

/// `rehearse`: the pending migrations on a scratch copy of the database (UP, health checks, each DOWN
/// checked against the schema from before its UP, UP again); the database itself is only read.
pub fn rehearse(args: RehearseArgs) -> ExitCode {
    database::run(&args.db, Create::No, |migrator, backend, out| {
        let rehearsal = migrator.rehearse(backend)?;
        out.write_all(render::rehearsal(&rehearsal, Style::from_env()).as_bytes())
            .map_err(|e| migrator::Error::Usage(format!("cannot write the output: {e}")))
    })
}
