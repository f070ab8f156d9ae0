//! What the database subcommands (`status`, `history`, `apply`, `rollback`, `rehearse`) share: the
//! migration directory, the database URL and the safety policy, turned into a `Migrator` and a backend
//! of the runtime, exactly as a host binary would build them.
//!
//! Exit codes, as the host's admin flags: 0 done, 1 failed or refused, 2 usage error (a bad URL, a
//! migration directory or an explicit `--policy` file that does not exist).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use migrator::connect::Database;
use migrator::{Config, Engine, MigrationSet, Migrator, Policy};
use tracing::info;

/// The arguments every database subcommand takes.
#[derive(clap::Args, Debug)]
pub struct DbArgs {
    /// The migrations directory (loaded at run time with the parser `embed_migrations!` uses).
    #[arg(long, value_name = "DIR")]
    pub(super) dir: PathBuf,
    /// The database: `sqlite:PATH` or a plain file path for SQLite (`sqlite::memory:` for a fresh
    /// in-memory one), `postgres://...` for PostgreSQL.
    #[arg(long, value_name = "URL", env = "DATABASE_URL", hide_env_values = true)]
    pub(super) database_url: String,
    /// The safety policy file (default: `migration_safety.yaml` beside the migrations directory when it
    /// exists, otherwise the spec's policy).
    #[arg(long, value_name = "FILE")]
    pub(super) policy: Option<PathBuf>,
}

pub use migrator::connect::Create;

impl DbArgs {
    /// Takes `--dir`, `--database-url` (or `DATABASE_URL`) and `--policy` out of an admin subcommand's
    /// arguments and returns them with the rest.
    pub fn take_from(args: Vec<String>) -> Result<(DbArgs, Vec<String>), String> {
        let (mut dir, mut url, mut policy) = (None, std::env::var("DATABASE_URL").ok(), None);
        let mut rest = Vec::new();
        let mut iter = args.into_iter();
        while let Some(arg) = iter.next() {
            let (flag, inline) = match arg.split_once('=') {
                Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
                _ => (arg.clone(), None),
            };
            let slot = match flag.as_str() {
                "--dir" => &mut dir,
                "--database-url" => &mut url,
                "--policy" => &mut policy,
                _ => {
                    rest.push(arg);
                    continue;
                }
            };
            let value = inline
                .or_else(|| iter.next())
                .ok_or_else(|| format!("{flag} needs a value"))?;
            *slot = Some(value);
        }
        let dir = dir.ok_or("--dir DIR is required (the migrations directory)")?;
        let database_url = url.ok_or("--database-url URL (or DATABASE_URL) is required")?;
        Ok((
            DbArgs {
                dir: dir.into(),
                database_url,
                policy: policy.map(Into::into),
            },
            rest,
        ))
    }
}

/// A failure before the action ran, with its exit code.
struct Failure {
    code: u8,
    message: String,
}

fn usage(message: String) -> Failure {
    Failure { code: 2, message }
}

fn failed(message: String) -> Failure {
    Failure { code: 1, message }
}

/// The policy file in use: `--policy`, else `migration_safety.yaml` beside the migrations directory.
fn policy(args: &DbArgs) -> Result<Policy, Failure> {
    if let Some(file) = &args.policy {
        if !file.is_file() {
            return Err(usage(format!("--policy {}: no such file", file.display())));
        }
        info!(policy = %file.display(), "reading the safety policy");
        return Policy::from_path(file).map_err(|e| failed(e.to_string()));
    }
    let beside = args
        .dir
        .canonicalize()
        .ok()
        .and_then(|dir| dir.parent().map(|p| p.join(migrator_format::POLICY_FILE)));
    match beside {
        Some(file) if file.is_file() => {
            info!(policy = %file.display(), "reading the safety policy beside the migrations");
            Policy::from_path(&file).map_err(|e| failed(e.to_string()))
        }
        _ => {
            info!("no policy file: the spec's policy");
            Ok(Policy::SPEC)
        }
    }
}

fn migration_set(dir: &Path) -> Result<MigrationSet, Failure> {
    if !dir.is_dir() {
        return Err(usage(format!("--dir {}: no such directory", dir.display())));
    }
    MigrationSet::from_dir(dir).map_err(|e| failed(e.to_string()))
}

/// Loads the set and the policy, opens the database, and runs `action` with a `Migrator` and a backend;
/// the action writes its report to stdout. Returns the process exit code.
pub fn run(
    args: &DbArgs,
    create: Create,
    action: impl FnOnce(&Migrator<'_>, &mut dyn Engine, &mut dyn Write) -> Result<(), migrator::Error>,
) -> ExitCode {
    match prepare_and_run(args, create, action) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("error: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}

fn prepare_and_run(
    args: &DbArgs,
    create: Create,
    action: impl FnOnce(&Migrator<'_>, &mut dyn Engine, &mut dyn Write) -> Result<(), migrator::Error>,
) -> Result<(), Failure> {
    let set = migration_set(&args.dir)?;
    let policy = policy(args)?;
    info!(dir = %args.dir.display(), migrations = set.len(), "loaded the migrations");
    let migrator = Migrator::new(&set).with_config(Config::from_policy(&policy));
    let mut db = Database::open(&args.database_url, create).map_err(|e| match e {
        migrator::Error::Usage(m) => usage(format!("--database-url: {m}")),
        other => failed(other.to_string()),
    })?;
    info!(engine = db.kind().name(), "opened the database");
    let mut out = std::io::stdout().lock();
    let result = db.with_engine(|engine| action(&migrator, engine, &mut out));
    let _ = out.flush();
    result.map_err(|e| Failure {
        code: e.exit_code() as u8,
        message: e.to_string(),
    })
}
