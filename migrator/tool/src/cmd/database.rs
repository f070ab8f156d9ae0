//! What the database subcommands (`status`, `history`, `apply`, `rollback`, `rehearse`) share: the
//! migration directory, the database URL and the safety policy, turned into a `Migrator` and a backend
//! of the runtime, exactly as a host binary would build them.
//!
//! Exit codes, as the host's admin flags: 0 done, 1 failed or refused, 2 usage error (a bad URL, a
//! migration directory or an explicit `--policy` file that does not exist).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use migrator::{Backend, Config, MigrationSet, Migrator, Policy};
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

pub use migrator_tool::database::Target;

/// Whether the subcommand may create a missing SQLite file (`apply` may; reading commands may not).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Create {
    /// Create the file when it does not exist.
    Yes,
    /// A missing file is an error.
    No,
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
    action: impl FnOnce(&Migrator<'_>, &mut dyn Backend, &mut dyn Write) -> Result<(), migrator::Error>,
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
    action: impl FnOnce(&Migrator<'_>, &mut dyn Backend, &mut dyn Write) -> Result<(), migrator::Error>,
) -> Result<(), Failure> {
    let target = Target::parse(&args.database_url).map_err(usage)?;
    let set = migration_set(&args.dir)?;
    let policy = policy(args)?;
    info!(dir = %args.dir.display(), migrations = set.len(), "loaded the migrations");
    let migrator = Migrator::new(&set).with_config(Config::from_policy(&policy));
    let mut out = std::io::stdout().lock();
    let result = match &target {
        Target::Sqlite(path) => {
            let conn = open_sqlite(path, create)?;
            let mut backend = migrator::Sqlite::new(&conn);
            action(&migrator, &mut backend, &mut out)
        }
        Target::Postgres(url) => {
            use diesel::Connection as _;
            let mut conn = diesel::PgConnection::establish(url)
                .map_err(|e| failed(format!("cannot connect to the database: {e}")))?;
            let mut backend = migrator::Postgres::new(&mut conn, url.clone());
            action(&migrator, &mut backend, &mut out)
        }
    };
    let _ = out.flush();
    result.map_err(|e| match e {
        migrator::Error::Usage(message) => usage(message),
        other => failed(other.to_string()),
    })
}

fn open_sqlite(path: &Path, create: Create) -> Result<rusqlite::Connection, Failure> {
    use rusqlite::OpenFlags;
    if path == Path::new(":memory:") {
        // `sqlite::memory:`: a fresh in-memory database, e.g. to rehearse every migration from scratch.
        return rusqlite::Connection::open_in_memory()
            .map_err(|e| failed(format!("cannot open an in-memory database: {e}")));
    }
    if create == Create::No && !path.is_file() {
        return Err(usage(format!(
            "--database-url: no SQLite database at {} (apply creates one; status, history, rollback and rehearse need an existing file)",
            path.display()
        )));
    }
    let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_URI
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    if create == Create::Yes {
        flags |= OpenFlags::SQLITE_OPEN_CREATE;
    }
    info!(database = %path.display(), "opening the SQLite database");
    rusqlite::Connection::open_with_flags(path, flags)
        .map_err(|e| failed(format!("cannot open the database {}: {e}", path.display())))
}
