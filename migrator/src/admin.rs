//! The admin flags every host binary gets with one call: `app --migrate-rollback 234`,
//! `--migrate-history`, `--migrate-status`, ... They are picked out of the host's own arguments; a run
//! without any `--migrate-` flag is not an admin run and the host goes on with its own work.
//!
//! ```ignore
//! if let Some(code) = migrator::admin::main(&migrator, &mut backend, std::env::args().skip(1)) {
//!     std::process::exit(code);
//! }
//! ```

use std::io::Write;

use crate::render::{self, Style};
use crate::{Backend, Error, Migrator, RollbackOptions, Status};

/// The help text of the admin flags, for the host's `--help`.
pub const HELP: &str = "\
Migration admin flags (provided by migrator):
  --migrate-status              list every migration: applied, pending, rolled back, drifted, missing
  --migrate-history             the schema_migrations table, newest first, with totals
  --migrate-rollback <ISSUE>    roll back every applied migration of an issue, newest first; refused
                                when later migrations of other issues touch the same tables
      --force                   roll back all the same
  --migrate-reapply <ISSUE>     apply the rolled-back migrations of an issue again
  --migrate-rollback-to <VERSION>
                                roll back every applied migration newer than VERSION (0: all)
  --migrate-repair <VERSION>    record this binary's checksum for an applied migration whose file was
                                edited on purpose (a comment, a formatting change)
  --migrate-mark <VERSION> <applied|rolled_back>
                                set the status of a failed or interrupted no-transaction migration after
                                checking the database by hand
  --migrate-backups             list this database's backups, newest first
  --migrate-restore <FILE>      replace the database with a backup (a backup of the current state is
                                taken first); asks for confirmation
      --yes                     do not ask
  --migrate-preview <ISSUE|pending>
                                what applying the issue's migrations (or every pending one) would do to
                                this database: schema changes, estimated duration and locks calibrated
                                on it, warnings, the rollback plan with the data it would lose, the files;
                                reads only
      --format json             the versioned JSON document instead of text
      --rehearse                run the pending migrations on a scratch copy first: measured times
  --migrate-help                this text
Admin runs print what they did and exit 0; they exit 1 when the action failed or was refused, and 2 on a
usage error. Set NO_COLOR for output without emoji.
";

/// One admin action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminCommand {
    /// `--migrate-status`
    Status,
    /// `--migrate-history`
    History,
    /// `--migrate-rollback <ISSUE> [--force]`
    Rollback {
        /// The issue.
        issue: u32,
        /// `--force`
        force: bool,
    },
    /// `--migrate-reapply <ISSUE>`
    Reapply {
        /// The issue.
        issue: u32,
    },
    /// `--migrate-rollback-to <VERSION>`
    RollbackTo {
        /// Keep this version and older.
        version: u64,
    },
    /// `--migrate-repair <VERSION>`
    Repair {
        /// The version.
        version: u64,
    },
    /// `--migrate-mark <VERSION> <STATUS>`
    Mark {
        /// The version.
        version: u64,
        /// The new status.
        status: Status,
    },
    /// `--migrate-backups`
    Backups,
    /// `--migrate-restore <FILE> [--yes]`
    Restore {
        /// The backup file.
        file: std::path::PathBuf,
        /// `--yes`: no confirmation.
        yes: bool,
    },
    /// `--migrate-preview <ISSUE|pending> [--format json] [--rehearse]`
    Preview {
        /// The issue; `None` for every pending migration.
        issue: Option<u32>,
        /// `--format json`.
        json: bool,
        /// `--rehearse`: measure on a scratch copy.
        rehearse: bool,
    },
    /// `--migrate-help`
    Help,
}

const FLAGS: [&str; 11] = [
    "--migrate-preview",
    "--migrate-backups",
    "--migrate-restore",
    "--migrate-status",
    "--migrate-history",
    "--migrate-rollback",
    "--migrate-reapply",
    "--migrate-rollback-to",
    "--migrate-repair",
    "--migrate-mark",
    "--migrate-help",
];

fn usage(message: String) -> Error {
    Error::Usage(format!("{message}\n(see --migrate-help)"))
}

fn number<T: std::str::FromStr>(flag: &str, value: Option<String>, what: &str) -> Result<T, Error> {
    let value = value.ok_or_else(|| usage(format!("{flag} needs {what}")))?;
    let digits = value.trim_start_matches('#');
    digits
        .parse()
        .map_err(|_| usage(format!("{flag} needs {what}, got {value:?}")))
}

/// Picks the admin command out of the host's arguments (without the program name). `Ok(None)` when no
/// `--migrate-` flag is present: not an admin run. Accepts `--flag VALUE` and `--flag=VALUE`.
pub fn parse<I, S>(args: I) -> Result<Option<AdminCommand>, Error>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let mut split: Vec<String> = Vec::new();
    for arg in args {
        let arg: &str = arg.as_ref();
        match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--migrate-") => {
                split.push(flag.to_string());
                split.push(value.to_string());
            }
            _ => split.push(arg.to_string()),
        }
    }
    let mut command = None;
    let mut force = false;
    let mut yes = false;
    let mut format: Option<String> = None;
    let mut rehearse = false;
    let mut iter = split.into_iter();
    while let Some(arg) = iter.next() {
        if arg == "--format" || arg.starts_with("--format=") {
            let value = match arg.strip_prefix("--format=") {
                Some(v) => Some(v.to_string()),
                None => iter.next(),
            };
            format = Some(value.ok_or_else(|| usage("--format needs text or json".to_string()))?);
            continue;
        }
        if arg == "--rehearse" {
            rehearse = true;
            continue;
        }
        if arg == "--force" {
            force = true;
            continue;
        }
        if arg == "--yes" {
            yes = true;
            continue;
        }
        if !arg.starts_with("--migrate-") {
            continue;
        }
        let parsed = match arg.as_str() {
            "--migrate-status" => AdminCommand::Status,
            "--migrate-history" => AdminCommand::History,
            "--migrate-help" => AdminCommand::Help,
            "--migrate-backups" => AdminCommand::Backups,
            "--migrate-restore" => AdminCommand::Restore {
                file: iter
                    .next()
                    .filter(|f| !f.starts_with("--"))
                    .ok_or_else(|| {
                        usage(
                            "--migrate-restore needs a backup file (see --migrate-backups)"
                                .to_string(),
                        )
                    })?
                    .into(),
                yes: false,
            },
            "--migrate-preview" => AdminCommand::Preview {
                issue: match iter.next() {
                    Some(v) if v == "pending" || v == "all" => None,
                    value => Some(number(
                        &arg,
                        value,
                        "an issue number, or `pending` for every pending migration",
                    )?),
                },
                json: false,
                rehearse: false,
            },
            "--migrate-rollback" => AdminCommand::Rollback {
                issue: number(&arg, iter.next(), "an issue number")?,
                force: false,
            },
            "--migrate-reapply" => AdminCommand::Reapply {
                issue: number(&arg, iter.next(), "an issue number")?,
            },
            "--migrate-rollback-to" => AdminCommand::RollbackTo {
                version: number(&arg, iter.next(), "a version (0 rolls back everything)")?,
            },
            "--migrate-repair" => AdminCommand::Repair {
                version: number(&arg, iter.next(), "a version")?,
            },
            "--migrate-mark" => {
                let version = number(&arg, iter.next(), "a version and a status")?;
                let status = match iter.next().as_deref() {
                    Some("applied") => Status::Applied,
                    Some("rolled_back") => Status::RolledBack,
                    other => {
                        return Err(usage(format!(
                        "--migrate-mark {version} needs `applied` or `rolled_back`, got {other:?}"
                    )))
                    }
                };
                AdminCommand::Mark { version, status }
            }
            unknown => {
                let close = FLAGS
                    .iter()
                    .find(|f| f.starts_with(unknown) || unknown.starts_with(*f))
                    .map(|f| format!("; did you mean {f}?"))
                    .unwrap_or_default();
                return Err(usage(format!("unknown admin flag {unknown}{close}")));
            }
        };
        if command.is_some() {
            return Err(usage("one --migrate- action at a time".to_string()));
        }
        command = Some(parsed);
    }
    let json = match format.as_deref() {
        None | Some("text") => false,
        Some("json") => true,
        Some(other) => {
            return Err(usage(format!(
                "--format must be text or json, got {other:?}"
            )))
        }
    };
    let command = match command {
        Some(AdminCommand::Preview { issue, .. }) => Some(AdminCommand::Preview {
            issue,
            json,
            rehearse,
        }),
        Some(_) if format.is_some() || rehearse => {
            return Err(usage(
                "--format and --rehearse only go with --migrate-preview".to_string(),
            ))
        }
        other => other,
    };
    match (command, force, yes) {
        (Some(AdminCommand::Rollback { issue, .. }), force, false) => {
            Ok(Some(AdminCommand::Rollback { issue, force }))
        }
        (Some(AdminCommand::Restore { file, .. }), false, yes) => {
            Ok(Some(AdminCommand::Restore { file, yes }))
        }
        (Some(_), true, _) => Err(usage(
            "--force only goes with --migrate-rollback".to_string(),
        )),
        (Some(_), _, true) => Err(usage("--yes only goes with --migrate-restore".to_string())),
        (command, _, _) => Ok(command),
    }
}

/// Runs an admin command and writes what it did to `out`.
pub fn run(
    migrator: &Migrator<'_>,
    backend: &mut dyn Backend,
    command: &AdminCommand,
    out: &mut dyn Write,
) -> Result<(), Error> {
    let style = Style::from_env();
    let text = match command {
        AdminCommand::Help => HELP.to_string(),
        AdminCommand::Status => render::status(&migrator.status(backend)?, style),
        AdminCommand::History => render::history(&migrator.history(backend)?, style),
        AdminCommand::Rollback { issue, force } => render::report(
            &migrator.rollback_issue(backend, *issue, RollbackOptions { force: *force })?,
            style,
        ),
        AdminCommand::Reapply { issue } => {
            render::report(&migrator.reapply_issue(backend, *issue)?, style)
        }
        AdminCommand::RollbackTo { version } => {
            render::report(&migrator.rollback_to(backend, *version)?, style)
        }
        AdminCommand::Repair { version } => {
            migrator.mark(backend, *version, Status::Applied, true)?;
            format!("Recorded this binary's checksum for migration {version}.\n")
        }
        AdminCommand::Backups => {
            let (dir, files) = migrator.backups(backend)?;
            render::backups(&dir, &files, style)
        }
        AdminCommand::Restore { file, yes } => {
            if !yes
                && !confirm(&format!(
                    "Replace the database with {}? A backup of its current state is taken first. Type yes to go on: ",
                    file.display()
                ))
            {
                return Err(Error::Cancelled(
                    "restore cancelled: nothing changed (answer yes, or pass --yes)".to_string(),
                ));
            }
            let safety = migrator.restore(backend, file)?;
            format!(
                "Restored {}.\nThe state before the restore is kept in {}.\n",
                file.display(),
                safety.display()
            )
        }
        AdminCommand::Mark { version, status } => {
            migrator.mark(backend, *version, *status, false)?;
            format!("Marked migration {version} as {status}.\n")
        }
        AdminCommand::Preview {
            issue,
            json,
            rehearse,
        } => preview(migrator, backend, *issue, (*json, *rehearse), style)?,
    };
    out.write_all(text.as_bytes())
        .map_err(|e| Error::Usage(format!("cannot write the output: {e}")))
}

/// `--migrate-preview`: builds the preview (reading only) and renders it.
#[cfg(feature = "preview")]
fn preview(
    migrator: &Migrator<'_>,
    backend: &mut dyn Backend,
    issue: Option<u32>,
    (json, rehearse): (bool, bool),
    style: Style,
) -> Result<String, Error> {
    let target = issue.map_or(
        crate::preview::Target::Pending,
        crate::preview::Target::Issue,
    );
    let preview = crate::preview::preview_with(migrator, backend, target, rehearse)?;
    if json {
        crate::preview::render_json(&preview)
    } else {
        Ok(crate::preview::render_text(&preview, style))
    }
}

/// `--migrate-preview` in a build without the `preview` feature.
#[cfg(not(feature = "preview"))]
fn preview(
    _: &Migrator<'_>,
    _: &mut dyn Backend,
    _: Option<u32>,
    _: (bool, bool),
    _: Style,
) -> Result<String, Error> {
    Err(Error::Usage(
        "--migrate-preview needs migrator's `preview` feature (on by default)".to_string(),
    ))
}

/// Asks on stderr and reads one line of stdin; only `yes` agrees.
fn confirm(question: &str) -> bool {
    eprint!("{question}");
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer).is_ok() && answer.trim().eq_ignore_ascii_case("yes")
}

/// Parses the arguments and, for an admin run, runs it and returns the process exit code (0 done, 1
/// failed or refused, 2 usage error); errors go to stderr. `None`: not an admin run, the host goes on.
pub fn main<I, S>(migrator: &Migrator<'_>, backend: &mut dyn Backend, args: I) -> Option<i32>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let command = match parse(args) {
        Ok(None) => return None,
        Ok(Some(command)) => command,
        Err(e) => {
            eprintln!("error: {e}");
            return Some(2);
        }
    };
    match run(migrator, backend, &command, &mut std::io::stdout()) {
        Ok(()) => Some(0),
        Err(e) => {
            eprintln!("error: {e}");
            Some(if matches!(e, Error::Usage(_)) { 2 } else { 1 })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Option<AdminCommand>, Error> {
        parse(args.iter().copied())
    }

    #[test]
    fn parses_the_flags_among_the_hosts_own() {
        assert_eq!(p(&["--port", "80"]).unwrap(), None);
        assert_eq!(
            p(&["--migrate-rollback", "234"]).unwrap(),
            Some(AdminCommand::Rollback {
                issue: 234,
                force: false
            })
        );
        assert_eq!(
            p(&["--db", "x", "--migrate-rollback=#234", "--force"]).unwrap(),
            Some(AdminCommand::Rollback {
                issue: 234,
                force: true
            })
        );
        assert_eq!(
            p(&["--migrate-history"]).unwrap(),
            Some(AdminCommand::History)
        );
        assert_eq!(
            p(&["--migrate-mark", "20240101000000", "applied"]).unwrap(),
            Some(AdminCommand::Mark {
                version: 20240101000000,
                status: Status::Applied
            })
        );
    }

    #[test]
    fn parses_the_preview_flag() {
        assert_eq!(
            p(&["--migrate-preview", "#234"]).unwrap(),
            Some(AdminCommand::Preview {
                issue: Some(234),
                json: false,
                rehearse: false
            })
        );
        assert_eq!(
            p(&["--format=json", "--migrate-preview=pending", "--rehearse"]).unwrap(),
            Some(AdminCommand::Preview {
                issue: None,
                json: true,
                rehearse: true
            })
        );
        assert_eq!(
            p(&["--migrate-preview", "all", "--format", "text"]).unwrap(),
            Some(AdminCommand::Preview {
                issue: None,
                json: false,
                rehearse: false
            })
        );
    }

    #[test]
    fn wrong_flags_are_usage_errors() {
        for args in [
            &["--migrate-rollback"][..],
            &["--migrate-rollback", "abc"],
            &["--migrate-histroy"],
            &["--migrate-status", "--migrate-history"],
            &["--migrate-status", "--force"],
            &["--migrate-mark", "1", "done"],
            &["--migrate-preview"],
            &["--migrate-preview", "soon"],
            &["--migrate-preview", "234", "--format", "xml"],
            &["--migrate-history", "--format", "json"],
            &["--migrate-status", "--rehearse"],
        ] {
            let err = p(args).unwrap_err();
            assert!(matches!(err, Error::Usage(_)), "{args:?}: {err}");
        }
        assert!(p(&["--migrate-rollbak", "1"])
            .unwrap_err()
            .to_string()
            .contains("unknown admin flag"));
    }
}
