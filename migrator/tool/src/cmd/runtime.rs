//! `status`, `history`, `apply`, `rollback`, `rehearse`: the runtime's own actions on a directory of migration files
//! and a database URL, for CI (before the host is built) and for operators without the host binary. They
//! run the host's code paths (`Migrator::boot`, the admin actions) and print with the host's renderers, so
//! the output is the one `app --migrate-status` or a boot prints.

use std::process::ExitCode;

use migrator::admin;
use migrator::render::{self, Style};

use super::database::{self, Create, DbArgs};

/// Arguments of `rehearse`.
#[derive(clap::Args, Debug)]
pub struct RehearseArgs {
    /// Rehearse the whole history from an empty scratch database (every UP, its DOWN, and the UP again),
    /// not only the pending migrations: every broken DOWN of a project in one run
    #[arg(long)]
    all: bool,
    #[command(flatten)]
    db: DbArgs,
}

/// Arguments of `apply`.
#[derive(clap::Args, Debug)]
pub struct ApplyArgs {
    #[command(flatten)]
    db: DbArgs,
}

/// The admin actions of the runtime's table (`status`, `history`, `log`, `rollback`, `rollback-to`,
/// `mark`, `repair`, `baseline`, `backups`, `restore`, ...), as subcommands: `migrator-tool rollback 234
/// --force --dir migrations --database-url URL` is the host's `--migrate-rollback 234 --force`. `args`
/// starts with the action's name.
pub fn admin_action(args: Vec<String>) -> ExitCode {
    let (db, rest) = match DbArgs::take_from(args) {
        Ok(split) => split,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    let command = match admin::parse_subcommand(&rest) {
        Ok(Some(command)) => command,
        Ok(None) => {
            eprintln!("error: no action given");
            return ExitCode::from(2);
        }
        Err(e) => {
            eprintln!(
                "error: {}",
                e.to_string()
                    .replace("--migrate-", "")
                    .replace("(see help)", "")
            );
            return ExitCode::from(2);
        }
    };
    database::run(&db, Create::No, |migrator, engine, out| {
        admin::run(migrator, engine, &command, out)
    })
}

/// `apply`: the boot of a host (validation, review rule, backup, rehearsal when the policy wants it,
/// apply under the lock, health checks).
pub fn apply(args: ApplyArgs) -> ExitCode {
    database::run(&args.db, Create::Yes, |migrator, backend, out| {
        let report = migrator.boot(backend)?;
        out.write_all(render::report(&report, Style::from_env()).as_bytes())
            .map_err(|source| migrator::Error::Output {
                what: "the output",
                source,
            })
    })
}

/// `rehearse`: the pending migrations on a scratch copy of the database (UP, health checks, each DOWN
/// checked against the schema from before its UP, UP again); the database itself is only read. With
/// `--all`, every migration of the directory on an empty scratch database.
pub fn rehearse(args: RehearseArgs) -> ExitCode {
    database::run(&args.db, Create::No, |migrator, backend, out| {
        let rehearsal = if args.all {
            migrator.rehearse_all(backend)?
        } else {
            migrator.rehearse(backend)?
        };
        out.write_all(render::rehearsal(&rehearsal, Style::from_env()).as_bytes())
            .map_err(|source| migrator::Error::Output {
                what: "the output",
                source,
            })
    })
}
