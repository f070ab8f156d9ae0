//! The admin flags every host binary gets with one call: `app --migrate-rollback 234`,
//! `--migrate-history`, `--migrate-status`, ... One table ([`ACTIONS`], [`MODIFIERS`]) yields the parser,
//! the `--help` text and the companion tool's subcommands (`migrator-tool rollback 234` is
//! `--migrate-rollback 234`), so no host or tool writes the grammar again.
//!
//! ```ignore
//! if let Some(code) = migrator::admin::main(&migrator, &mut engine, std::env::args().skip(1)) {
//!     std::process::exit(code);
//! }
//! ```
//!
//! A host with an argument parser of its own splits its arguments first with [`split_args`].

use std::io::Write;

use crate::render::{self, Style};
use crate::{Engine, Error, Migrator, RollbackOptions, RollbackTarget, Status};

/// What an action takes after its flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arg {
    /// Nothing.
    None,
    /// One value, named in the help text.
    One(&'static str),
    /// Two values.
    Two(&'static str, &'static str),
}

/// One admin action: its flag (without `--migrate-`), what it takes, the modifiers it accepts, and its
/// help text.
#[derive(Debug, Clone, Copy)]
pub struct Action {
    /// The action's name: `rollback` for `--migrate-rollback` and `migrator-tool rollback`.
    pub name: &'static str,
    /// Its arguments.
    pub arg: Arg,
    /// Modifier flags it accepts (`force`, `yes`, `reason`, `format`, `rehearse`).
    pub modifiers: &'static [&'static str],
    /// One line (or a few) of help.
    pub help: &'static str,
}

/// A modifier flag: `--force`, `--yes`, `--reason TEXT`, `--format json`, `--rehearse`.
#[derive(Debug, Clone, Copy)]
pub struct Modifier {
    /// Its name (`--<name>`).
    pub name: &'static str,
    /// The value it takes, if any.
    pub value: Option<&'static str>,
    /// Help.
    pub help: &'static str,
}

/// Every admin action.
pub const ACTIONS: &[Action] = &[
    Action { name: "status", arg: Arg::None, modifiers: &[], help: "list every migration: applied, pending, rolled back, drifted, missing, failed" },
    Action { name: "history", arg: Arg::None, modifiers: &[], help: "the history table, newest first, with totals" },
    Action { name: "log", arg: Arg::None, modifiers: &[], help: "every event of the history log (applied, rolled back with the reason, failed, marked, adopted)" },
    Action { name: "rollback", arg: Arg::One("ISSUE"), modifiers: &["force", "yes", "reason"], help: "roll back every applied migration of an issue, newest first" },
    Action { name: "rollback-version", arg: Arg::One("VERSION[,VERSION...]"), modifiers: &["force", "yes", "reason"], help: "roll back these applied migrations, newest first" },
    Action { name: "rollback-to", arg: Arg::One("VERSION"), modifiers: &["force", "yes", "reason"], help: "roll back every applied migration newer than VERSION, which must exist (0: all)" },
    Action { name: "rollback-last", arg: Arg::One("N"), modifiers: &["force", "yes", "reason"], help: "roll back the newest N applied migrations" },
    Action { name: "reapply", arg: Arg::One("ISSUE"), modifiers: &[], help: "apply the rolled-back migrations of an issue again" },
    Action { name: "repair", arg: Arg::One("VERSION"), modifiers: &["reason"], help: "record this binary's checksum for an applied migration whose file was edited on purpose" },
    Action { name: "mark", arg: Arg::Two("VERSION", "applied|rolled_back"), modifiers: &["reason"], help: "resolve a failed or interrupted migration (one that ran without a transaction) after checking the database by hand" },
    Action { name: "adopt", arg: Arg::None, modifiers: &[], help: "record what diesel, sqlx or refinery applied (their history tables) as applied, running nothing; boots do it by themselves" },
    Action { name: "baseline", arg: Arg::One("VERSION"), modifiers: &["yes"], help: "record every migration up to VERSION as applied without running it (a database built by other means)" },
    Action { name: "backups", arg: Arg::None, modifiers: &[], help: "list this database's backups, newest first" },
    Action { name: "restore", arg: Arg::One("FILE"), modifiers: &["yes"], help: "replace the database with a backup (a backup of the current state is taken first)" },
    Action { name: "backfill", arg: Arg::None, modifiers: &[], help: "run the pending backfill migrations now, batch by batch with a progress bar on stderr, then apply the migrations that waited for them" },
    Action { name: "preview", arg: Arg::One("ISSUE|pending"), modifiers: &["format", "rehearse"], help: "what applying the issue's migrations (or every pending one) would do to this database; reads only" },
    Action { name: "help", arg: Arg::None, modifiers: &[], help: "this text" },
];

/// Every modifier flag.
pub const MODIFIERS: &[Modifier] = &[
    Modifier { name: "force", value: None, help: "roll back although later migrations touch the same tables; step over irreversible migrations in a range" },
    Modifier { name: "yes", value: None, help: "do not ask for confirmation (a rollback that drops tables holding rows, a restore, a baseline)" },
    Modifier { name: "reason", value: Some("TEXT"), help: "why: recorded in the log with the rollback or mark, shown by --migrate-history and the issue comment" },
    Modifier { name: "format", value: Some("text|json"), help: "the preview as text (default) or the versioned JSON document" },
    Modifier { name: "rehearse", value: None, help: "run the pending migrations on a scratch copy first: measured times" },
];

/// The help text of the admin flags, for the host's `--help`, made from the table.
pub fn help() -> String {
    let mut out = String::from("Migration admin flags (provided by migrator):\n");
    for action in ACTIONS {
        let flag = format!("--migrate-{}{}", action.name, arg_text(action.arg));
        out.push_str(&format!("  {flag:<42} {}\n", action.help));
        for m in action.modifiers {
            if let Some(modifier) = MODIFIERS.iter().find(|x| x.name == *m) {
                let flag = format!(
                    "--{}{}",
                    modifier.name,
                    modifier.value.map(|v| format!(" {v}")).unwrap_or_default()
                );
                out.push_str(&format!("      {flag:<38} {}\n", modifier.help));
            }
        }
    }
    out.push_str("Admin runs print what they did and exit 0; they exit 1 when the action failed or was refused, and 2 on a\nusage error. Set NO_COLOR for output without emoji.\n");
    out
}

fn arg_text(arg: Arg) -> String {
    match arg {
        Arg::None => String::new(),
        Arg::One(a) => format!(" <{a}>"),
        Arg::Two(a, b) => format!(" <{a}> <{b}>"),
    }
}

/// One admin action, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminCommand {
    /// `--migrate-status`
    Status,
    /// `--migrate-history`
    History,
    /// `--migrate-log`
    Log,
    /// `--migrate-rollback <ISSUE>`, `--migrate-rollback-version`, `-to`, `-last`
    Rollback {
        /// What to roll back.
        target: RollbackTarget,
        /// `--force`, `--yes`, `--reason`.
        options: RollbackOptionsArgs,
    },
    /// `--migrate-reapply <ISSUE>`
    Reapply {
        /// The issue.
        issue: u32,
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
        /// `--reason`.
        reason: Option<String>,
    },
    /// `--migrate-adopt`
    Adopt,
    /// `--migrate-baseline <VERSION> [--yes]`
    Baseline {
        /// Every migration up to this version.
        version: u64,
        /// `--yes`.
        yes: bool,
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
    /// `--migrate-backfill`
    Backfill,
    /// `--migrate-help`
    Help,
}

/// The modifiers of a rollback, as parsed (comparable, unlike [`RollbackOptions`]'s use).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RollbackOptionsArgs {
    /// `--force`
    pub force: bool,
    /// `--yes`
    pub yes: bool,
    /// `--reason TEXT`
    pub reason: Option<String>,
}

impl RollbackOptionsArgs {
    fn options(&self) -> RollbackOptions {
        RollbackOptions {
            force: self.force,
            yes: self.yes,
            reason: self.reason.clone(),
        }
    }
}

fn usage(message: String) -> Error {
    Error::Usage(format!("{message}\n(see --migrate-help)"))
}

/// Splits a host's arguments into its own and migrator's: every `--migrate-` action with its values, and
/// (when there is an action) the modifier flags (`--force`, `--yes`, `--reason`, `--format`,
/// `--rehearse`). The host parses the first list as if migrator did not exist.
pub fn split_args<I, S>(args: I) -> (Vec<String>, Vec<String>)
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let args: Vec<String> = args.into_iter().map(|a| a.as_ref().to_string()).collect();
    let action = args.iter().find_map(|a| find_action(flag_name(a)?.0));
    let (mut host, mut ours) = (Vec::new(), Vec::new());
    let mut iter = args.into_iter().peekable();
    while let Some(arg) = iter.next() {
        let Some((name, inline)) = flag_name(&arg) else {
            host.push(arg);
            continue;
        };
        let values = if let Some(a) = find_action(name) {
            match a.arg {
                Arg::None => 0,
                Arg::One(_) => 1,
                Arg::Two(..) => 2,
            }
        } else if let Some(m) = action.and(MODIFIERS.iter().find(|m| m.name == name)) {
            usize::from(m.value.is_some())
        } else if name.starts_with("migrate-") {
            0
        } else {
            host.push(arg);
            continue;
        };
        ours.push(arg);
        for _ in 0..values.saturating_sub(usize::from(inline)) {
            if let Some(v) = iter.next() {
                ours.push(v);
            }
        }
    }
    (host, ours)
}

/// `--name` or `--name=value`: the name (without dashes) and whether a value was inline.
fn flag_name(arg: &str) -> Option<(&str, bool)> {
    let rest = arg.strip_prefix("--")?;
    Some(match rest.split_once('=') {
        Some((name, _)) => (name, true),
        None => (rest, false),
    })
}

fn find_action(name: &str) -> Option<&'static Action> {
    let name = name.strip_prefix("migrate-")?;
    ACTIONS.iter().find(|a| a.name == name)
}

/// Picks the admin command out of the host's arguments (without the program name). `Ok(None)` when no
/// `--migrate-` flag is present: not an admin run. Accepts `--flag VALUE` and `--flag=VALUE`.
pub fn parse<I, S>(args: I) -> Result<Option<AdminCommand>, Error>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let (_, ours) = split_args(args);
    let mut split: Vec<String> = Vec::new();
    for arg in ours {
        match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => {
                split.push(flag.to_string());
                split.push(value.to_string());
            }
            _ => split.push(arg),
        }
    }
    let mut action: Option<(&'static Action, Vec<String>)> = None;
    let mut modifiers: Vec<(&'static str, Option<String>)> = Vec::new();
    let mut iter = split.into_iter();
    while let Some(arg) = iter.next() {
        let name = arg.trim_start_matches('-');
        if let Some(a) = find_action(name) {
            if action.is_some() {
                return Err(usage("one --migrate- action at a time".to_string()));
            }
            let n = match a.arg {
                Arg::None => 0,
                Arg::One(_) => 1,
                Arg::Two(..) => 2,
            };
            let values: Vec<String> = iter.by_ref().take(n).collect();
            if values.len() < n || values.iter().any(|v| v.starts_with("--")) {
                return Err(usage(format!(
                    "--migrate-{} needs{}",
                    a.name,
                    arg_text(a.arg)
                )));
            }
            action = Some((a, values));
        } else if let Some(m) = MODIFIERS.iter().find(|m| m.name == name) {
            let value = match m.value {
                Some(what) => Some(
                    iter.next()
                        .ok_or_else(|| usage(format!("--{} needs {what}", m.name)))?,
                ),
                None => None,
            };
            modifiers.push((m.name, value));
        } else {
            let close = ACTIONS
                .iter()
                .map(|a| format!("--migrate-{}", a.name))
                .find(|f| f.starts_with(&arg) || arg.starts_with(f.as_str()))
                .map(|f| format!("; did you mean {f}?"))
                .unwrap_or_default();
            return Err(usage(format!("unknown admin flag {arg}{close}")));
        }
    }
    let Some((action, values)) = action else {
        return Ok(None);
    };
    for (name, _) in &modifiers {
        if !action.modifiers.contains(name) {
            return Err(usage(format!(
                "--{name} does not go with --migrate-{}",
                action.name
            )));
        }
    }
    build(action, &values, &modifiers).map(Some)
}

/// Parses the companion tool's form: `rollback 234 --force` is `--migrate-rollback 234 --force`.
pub fn parse_subcommand<I, S>(args: I) -> Result<Option<AdminCommand>, Error>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let mut args: Vec<String> = args.into_iter().map(|a| a.as_ref().to_string()).collect();
    if let Some(first) = args.first_mut() {
        if !first.starts_with('-') {
            *first = format!("--migrate-{first}");
        }
    }
    parse(args)
}

fn number<T: std::str::FromStr>(action: &Action, value: &str, what: &str) -> Result<T, Error> {
    value.trim_start_matches('#').parse().map_err(|_| {
        usage(format!(
            "--migrate-{} needs {what}, got `{value}`",
            action.name
        ))
    })
}

fn build(
    action: &'static Action,
    values: &[String],
    modifiers: &[(&'static str, Option<String>)],
) -> Result<AdminCommand, Error> {
    let has = |m: &str| modifiers.iter().any(|(n, _)| *n == m);
    let value_of = |m: &str| {
        modifiers
            .iter()
            .find(|(n, _)| *n == m)
            .and_then(|(_, v)| v.clone())
    };
    let first = values.first().map(String::as_str).unwrap_or_default();
    let options = RollbackOptionsArgs {
        force: has("force"),
        yes: has("yes"),
        reason: value_of("reason"),
    };
    let rollback = |target| AdminCommand::Rollback {
        target,
        options: options.clone(),
    };
    Ok(match action.name {
        "status" => AdminCommand::Status,
        "history" => AdminCommand::History,
        "log" => AdminCommand::Log,
        "adopt" => AdminCommand::Adopt,
        "help" => AdminCommand::Help,
        "backups" => AdminCommand::Backups,
        "backfill" => AdminCommand::Backfill,
        "rollback" => rollback(RollbackTarget::Issue(number(
            action,
            first,
            "an issue number",
        )?)),
        "rollback-version" => {
            let versions = first
                .split(',')
                .map(|v| number(action, v.trim(), "versions separated by commas"))
                .collect::<Result<Vec<u64>, _>>()?;
            rollback(RollbackTarget::Versions(versions))
        }
        "rollback-to" => rollback(RollbackTarget::To(number(
            action,
            first,
            "a version (0 rolls back everything)",
        )?)),
        "rollback-last" => {
            let n: usize = number(action, first, "a count of migrations")?;
            if n == 0 {
                return Err(usage(
                    "--migrate-rollback-last needs a count of at least 1".to_string(),
                ));
            }
            rollback(RollbackTarget::Last(n))
        }
        "reapply" => AdminCommand::Reapply {
            issue: number(action, first, "an issue number")?,
        },
        "repair" => AdminCommand::Repair {
            version: number(action, first, "a version")?,
        },
        "mark" => {
            let version = number(action, first, "a version")?;
            let status = match values.get(1).map(String::as_str) {
                Some("applied") => Status::Applied,
                Some("rolled_back") => Status::RolledBack,
                other => {
                    return Err(usage(format!(
                        "--migrate-mark {version} needs `applied` or `rolled_back`, got `{}`",
                        other.unwrap_or("nothing")
                    )))
                }
            };
            AdminCommand::Mark {
                version,
                status,
                reason: value_of("reason"),
            }
        }
        "baseline" => AdminCommand::Baseline {
            version: number(action, first, "a version")?,
            yes: has("yes"),
        },
        "restore" => AdminCommand::Restore {
            file: first.into(),
            yes: has("yes"),
        },
        "preview" => {
            let json = match value_of("format").as_deref() {
                None | Some("text") => false,
                Some("json") => true,
                Some(other) => {
                    return Err(usage(format!(
                        "--format must be text or json, got `{other}`"
                    )))
                }
            };
            let issue = match first {
                "pending" | "all" => None,
                v => Some(number(
                    action,
                    v,
                    "an issue number, or `pending` for every pending migration",
                )?),
            };
            AdminCommand::Preview {
                issue,
                json,
                rehearse: has("rehearse"),
            }
        }
        other => return Err(usage(format!("unknown admin action {other}"))),
    })
}

/// Runs an admin command and writes what it did to `out`. Actions that lose data ask on the terminal
/// unless confirmed with `--yes`.
pub fn run(
    migrator: &Migrator<'_>,
    engine: &mut dyn Engine,
    command: &AdminCommand,
    out: &mut dyn Write,
) -> Result<(), Error> {
    let style = Style::from_env();
    let text = match command {
        AdminCommand::Help => help(),
        AdminCommand::Status => {
            render::status(&migrator.status(engine)?, style)
                + &render::backfills(&migrator.backfills(engine)?, style)
        }
        AdminCommand::History => {
            render::history(&migrator.history(engine)?, style)
                + &render::backfills(&migrator.backfills(engine)?, style)
        }
        AdminCommand::Backfill => {
            let mut bar = ProgressLine::stderr();
            let report = migrator.backfill(engine, &mut |p| bar.draw(p));
            bar.finish();
            render::report(&report?, style)
        }
        AdminCommand::Log => render::log(&migrator.log(engine, None)?),
        AdminCommand::Rollback { target, options } => {
            let mut options = options.options();
            let report = match migrator.rollback(engine, target, &options) {
                Err(Error::NeedsConfirmation(what))
                    if confirm(&format!("{what}\nType yes to go on: ")) =>
                {
                    options.yes = true;
                    migrator.rollback(engine, target, &options)?
                }
                Err(Error::NeedsConfirmation(what)) => {
                    return Err(Error::Cancelled(format!(
                        "{what}\nrollback cancelled: nothing changed (answer yes, or pass --yes)"
                    )))
                }
                other => other?,
            };
            render::report(&report, style)
        }
        AdminCommand::Reapply { issue } => {
            render::report(&migrator.reapply_issue(engine, *issue)?, style)
        }
        AdminCommand::Repair { version } => {
            migrator.mark(engine, *version, Status::Applied, true)?;
            format!("Recorded this binary's checksum for migration {version}.\n")
        }
        AdminCommand::Mark {
            version,
            status,
            reason: _,
        } => {
            migrator.mark(engine, *version, *status, false)?;
            format!("Marked migration {version} as {status}.\n")
        }
        AdminCommand::Adopt => {
            let adoption = migrator.adopt(engine)?;
            let found: Vec<String> = adoption
                .found
                .iter()
                .map(|(tool, rows)| format!("{} ({rows} rows)", tool.table()))
                .collect();
            if found.is_empty() {
                "No history table of diesel, sqlx or refinery in this database: nothing to adopt.\n"
                    .to_string()
            } else {
                format!(
                    "Found {}; adopted {} migration(s) (recorded as applied, nothing run).\n",
                    found.join(", "),
                    adoption.adopted.len()
                )
            }
        }
        AdminCommand::Baseline { version, yes } => {
            if !yes && !confirm(&format!("Record every migration up to {version} as applied without running it? Type yes to go on: ")) {
                return Err(Error::Cancelled("baseline cancelled: nothing changed (answer yes, or pass --yes)".to_string()));
            }
            let n = migrator.baseline(engine, *version)?;
            format!("Recorded {n} migration(s) up to {version} as applied (baseline); nothing was run.\n")
        }
        AdminCommand::Backups => {
            let (dir, files) = migrator.backups(engine)?;
            render::backups(&dir, &files, style)
        }
        AdminCommand::Restore { file, yes } => {
            if !yes
                && !confirm(&format!(
                    "Replace the database with {}? A backup of its current state is taken first. Type yes to go on: ",
                    file.display()
                ))
            {
                return Err(Error::Cancelled("restore cancelled: nothing changed (answer yes, or pass --yes)".to_string()));
            }
            let safety = migrator.restore(engine, file)?;
            format!(
                "Restored {}.\nThe state before the restore is kept in {}.\n",
                file.display(),
                safety.display()
            )
        }
        AdminCommand::Preview {
            issue,
            json,
            rehearse,
        } => preview(migrator, engine, *issue, (*json, *rehearse), style)?,
    };
    out.write_all(text.as_bytes())
        .map_err(|e| Error::Usage(format!("cannot write the output: {e}")))
}

/// `--migrate-preview`: builds the preview (reading only) and renders it.
#[cfg(feature = "preview")]
fn preview(
    migrator: &Migrator<'_>,
    engine: &mut dyn Engine,
    issue: Option<u32>,
    (json, rehearse): (bool, bool),
    style: Style,
) -> Result<String, Error> {
    let target = issue.map_or(
        crate::preview::Target::Pending,
        crate::preview::Target::Issue,
    );
    let preview = crate::preview::preview_with(migrator, engine, target, rehearse)?;
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
    _: &mut dyn Engine,
    _: Option<u32>,
    _: (bool, bool),
    _: Style,
) -> Result<String, Error> {
    Err(Error::Usage(
        "--migrate-preview needs migrator's `preview` feature (this host was built without it)"
            .to_string(),
    ))
}

/// A backfill's progress on stderr: one bar redrawn in place on a terminal, a line every few seconds
/// otherwise (logs, pipes).
pub struct ProgressLine {
    terminal: bool,
    last: Option<std::time::Instant>,
    drawn: bool,
}

impl ProgressLine {
    /// Progress for stderr, redrawn in place when stderr is a terminal.
    pub fn stderr() -> Self {
        use std::io::IsTerminal;
        Self {
            terminal: std::io::stderr().is_terminal(),
            last: None,
            drawn: false,
        }
    }

    /// Draws the progress after a batch (at most ten times a second on a terminal, every 5 s otherwise).
    pub fn draw(&mut self, progress: &crate::backfill::Progress) {
        let every = if self.terminal {
            std::time::Duration::from_millis(100)
        } else {
            std::time::Duration::from_secs(5)
        };
        let done = progress.state.phase == crate::backfill::Phase::Done;
        if !done && self.last.is_some_and(|t| t.elapsed() < every) {
            return;
        }
        self.last = Some(std::time::Instant::now());
        let line = render::backfill_progress(progress, 30);
        let mut err = std::io::stderr().lock();
        let _ = if self.terminal {
            write!(err, "\r{line}\x1b[K")
        } else {
            writeln!(err, "{line}")
        };
        self.drawn = self.terminal;
    }

    /// Ends the bar's line.
    pub fn finish(&mut self) {
        if self.drawn {
            eprintln!();
            self.drawn = false;
        }
    }
}

/// Asks on stderr and reads one line of stdin; only `yes` agrees. Without a terminal the answer is no.
fn confirm(question: &str) -> bool {
    eprint!("{question}");
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer).is_ok() && answer.trim().eq_ignore_ascii_case("yes")
}

/// Parses the arguments and, for an admin run, runs it and returns the process exit code (0 done, 1
/// failed or refused, 2 usage error); errors go to stderr. `None`: not an admin run, the host goes on.
pub fn main<I, S>(migrator: &Migrator<'_>, engine: &mut dyn Engine, args: I) -> Option<i32>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let command = match parse(args) {
        Ok(None) => return None,
        Ok(Some(command)) => command,
        Err(e) => {
            eprintln!("error: {e}");
            return Some(e.exit_code());
        }
    };
    match run(migrator, engine, &command, &mut std::io::stdout()) {
        Ok(()) => Some(0),
        Err(e) => {
            eprintln!("error: {e}");
            Some(e.exit_code())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Option<AdminCommand>, Error> {
        parse(args.iter().copied())
    }

    fn rollback(target: RollbackTarget, force: bool) -> Option<AdminCommand> {
        Some(AdminCommand::Rollback {
            target,
            options: RollbackOptionsArgs {
                force,
                ..Default::default()
            },
        })
    }

    #[test]
    fn parses_the_flags_among_the_hosts_own() {
        assert_eq!(p(&["--port", "80"]).unwrap(), None);
        assert_eq!(
            p(&["--migrate-rollback", "234"]).unwrap(),
            rollback(RollbackTarget::Issue(234), false)
        );
        assert_eq!(
            p(&["--db", "x", "--migrate-rollback=#234", "--force"]).unwrap(),
            rollback(RollbackTarget::Issue(234), true)
        );
        assert_eq!(
            p(&["--migrate-history"]).unwrap(),
            Some(AdminCommand::History)
        );
        assert_eq!(
            p(&["--migrate-mark", "20240101000000", "applied"]).unwrap(),
            Some(AdminCommand::Mark {
                version: 20240101000000,
                status: Status::Applied,
                reason: None
            })
        );
        assert_eq!(
            p(&["--migrate-rollback-version", "3,1"]).unwrap(),
            rollback(RollbackTarget::Versions(vec![3, 1]), false)
        );
        assert_eq!(
            p(&["--migrate-rollback-last", "2"]).unwrap(),
            rollback(RollbackTarget::Last(2), false)
        );
        let Some(AdminCommand::Rollback { options, .. }) = p(&[
            "--migrate-rollback-to",
            "0",
            "--yes",
            "--reason",
            "bad deploy",
        ])
        .unwrap() else {
            panic!("a rollback")
        };
        assert!(options.yes && options.reason.as_deref() == Some("bad deploy"));
        assert_eq!(
            p(&["--migrate-restore", "f.sqlite", "--yes"]).unwrap(),
            Some(AdminCommand::Restore {
                file: "f.sqlite".into(),
                yes: true
            })
        );
    }

    #[test]
    fn the_hosts_arguments_are_split_from_migrators() {
        let (host, ours) =
            split_args(["--port", "80", "--migrate-rollback", "234", "--force", "-v"]);
        assert_eq!(host, ["--port", "80", "-v"]);
        assert_eq!(ours, ["--migrate-rollback", "234", "--force"]);
        // Without an action, --force and --yes are the host's.
        let (host, ours) = split_args(["--force", "--yes"]);
        assert_eq!(host, ["--force", "--yes"]);
        assert!(ours.is_empty());
    }

    #[test]
    fn the_tool_form_is_the_same_grammar() {
        assert_eq!(
            parse_subcommand(["rollback", "234", "--force"]).unwrap(),
            rollback(RollbackTarget::Issue(234), true)
        );
        assert_eq!(
            parse_subcommand(["status"]).unwrap(),
            Some(AdminCommand::Status)
        );
    }

    #[test]
    fn the_help_lists_every_action_and_modifier() {
        let text = help();
        for a in ACTIONS {
            assert!(
                text.contains(&format!("--migrate-{}", a.name)),
                "{}",
                a.name
            );
        }
        for m in MODIFIERS {
            assert!(text.contains(&format!("--{}", m.name)), "{}", m.name);
        }
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
            &["--migrate-rollback-last", "0"],
            &["--migrate-rollback-to", "2024x"],
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
