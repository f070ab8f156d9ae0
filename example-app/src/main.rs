//! A small contacts application (the spec's domain) that migrates its own database at boot: SQLite by
//! default, PostgreSQL with `--database-url postgres://...` (feature `postgres`, on by default), MySQL or
//! MariaDB with `--database-url mysql://...` (feature `mysql`). The embedded migrations carry a variant set
//! per engine (`migrations/postgres/`, `migrations/mysql/`); the boot picks the one of the database in hand.
//!
//! ```text
//! example-app [--db PATH] [list | add NAME EMAIL]     migrate, then do the work
//! example-app --database-url postgres://... [list | add NAME EMAIL]
//! example-app --migrate-history | --migrate-rollback 234 | ...   admin flags, see --help
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use migrator::connect::{Database, Target as Place};
use migrator::{embed_migrations, embed_policy, Engine, MigrationSet, Migrator, Policy, Sqlite};
use rusqlite::Connection;

/// Writes to stdout; a closed pipe (`example-app | head`) is not an error worth a panic.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout(), $($arg)*);
    }};
}

/// [`out!`] with a line end.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

static MIGRATIONS: MigrationSet = embed_migrations!("../migrations");

/// The safety policy, checked at compile time (see migration_safety.yaml).
static POLICY: Policy = embed_policy!("migration_safety.yaml");

const USAGE: &str = "\
example-app: a contacts application that migrates its own database at boot

Usage:
  example-app [--db PATH] [list]              migrate, then list the contacts (adds a demo contact on
                                              an empty database)
  example-app [--db PATH] add NAME EMAIL      migrate, then add a contact
  example-app [--db PATH] --migrate-...       an admin action instead of the application's work

Options:
  --db PATH               the SQLite database (default: $EXAMPLE_APP_DB, else ./example-app.db)
  --database-url URL      a server database: postgres://user@host:port/name, or mysql://... (MySQL and
                          MariaDB, in a build with the `mysql` feature). Default: $DATABASE_URL when it
                          names a server; otherwise SQLite is used. The boot takes a lock on a second
                          connection, so many replicas can start at once: one migrates, the others wait
                          and find nothing pending
  --migrations-dir DIR    load the migrations from DIR at run time instead of the embedded set (default:
                          $EXAMPLE_APP_MIGRATIONS_DIR); with it the app only migrates (the contacts work
                          needs the embedded schema)
  --lock-wait SECS        how long a boot waits for another migrating replica (default 60)
  -h, --help              this text
Logging: RUST_LOG=migrator=info shows every step of the migrator.
";

enum Work {
    List,
    Add { name: String, email: String },
}

enum Target {
    Sqlite(String),
    Server(String),
}

struct Args {
    target: Target,
    migrations_dir: Option<PathBuf>,
    lock_wait: Option<std::time::Duration>,
    work: Work,
    rest: Vec<String>,
}

fn is_server_url(url: &str) -> bool {
    matches!(Place::parse(url), Ok(Place::Server(..)))
}

fn parse_args(args: Vec<String>) -> Result<Option<Args>, String> {
    let mut db = std::env::var("EXAMPLE_APP_DB").unwrap_or_else(|_| "example-app.db".to_string());
    let mut url = std::env::var("DATABASE_URL")
        .ok()
        .filter(|u| is_server_url(u));
    let mut migrations_dir = std::env::var_os("EXAMPLE_APP_MIGRATIONS_DIR").map(PathBuf::from);
    let mut lock_wait = None;
    // migrator's admin flags (and their --force, --yes, --reason, --format, --rehearse) are split off
    // first: this parser only sees the application's own arguments.
    let (own, rest) = migrator::admin::split_args(args);
    let mut positional = Vec::new();
    let mut iter = own.into_iter();
    while let Some(arg) = iter.next() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--db" => db = iter.next().ok_or("--db needs a path")?,
            _ if arg.starts_with("--db=") => db = arg["--db=".len()..].to_string(),
            "--database-url" => url = Some(iter.next().ok_or("--database-url needs a URL")?),
            "--migrations-dir" => {
                migrations_dir = Some(iter.next().ok_or("--migrations-dir needs a path")?.into())
            }
            "--lock-wait" => {
                let secs: f64 = iter
                    .next()
                    .ok_or("--lock-wait needs seconds")?
                    .parse()
                    .map_err(|e| format!("--lock-wait: {e}"))?;
                lock_wait = Some(
                    std::time::Duration::try_from_secs_f64(secs)
                        .map_err(|e| format!("--lock-wait: {e}"))?,
                );
            }
            _ if arg.starts_with('-') => return Err(format!("unknown option {arg}")),
            _ => positional.push(arg),
        }
    }
    let work = match positional.as_slice() {
        [] => Work::List,
        [cmd] if cmd == "list" => Work::List,
        [cmd, name, email] if cmd == "add" => Work::Add {
            name: name.clone(),
            email: email.clone(),
        },
        _ => return Err(format!("unexpected arguments: {}", positional.join(" "))),
    };
    let target = match url {
        Some(url) if is_server_url(&url) => Target::Server(url),
        Some(url) => {
            let hint = "give a postgres:// or mysql:// URL; use --db PATH for SQLite";
            return Err(format!(
                "--database-url {}: {hint}",
                migrator::redact::mask_url(&url)
            ));
        }
        None => Target::Sqlite(db),
    };
    Ok(Some(Args {
        target,
        migrations_dir,
        lock_wait,
        work,
        rest,
    }))
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = match parse_args(std::env::args().skip(1).collect()) {
        Ok(Some(args)) => args,
        Ok(None) => {
            out!("{USAGE}\n{}", migrator::admin::help());
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("error: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let loaded;
    let set: &MigrationSet = match &args.migrations_dir {
        Some(dir) => match MigrationSet::from_dir(dir) {
            Ok(set) => {
                loaded = set;
                &loaded
            }
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        },
        None => &MIGRATIONS,
    };
    let mut config = migrator::Config::from_policy(&POLICY);
    if let Some(wait) = args.lock_wait {
        config.lock_wait = wait;
    }
    let migrator = Migrator::new(set).with_config(config);
    match &args.target {
        Target::Sqlite(path) => {
            let conn = match Connection::open(path) {
                Ok(conn) => conn,
                Err(e) => {
                    eprintln!("error: cannot open database {path}: {e}");
                    return ExitCode::FAILURE;
                }
            };
            if let Some(code) = migrate(&migrator, &mut Sqlite::new(&conn), &args.rest, path) {
                return code;
            }
            if args.migrations_dir.is_some() {
                outln!("Migrated with the migrations of {}", set.source_dir());
                return ExitCode::SUCCESS;
            }
            match do_work(&conn, args.work) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Target::Server(url) => server(
            &migrator,
            url,
            args.work,
            args.migrations_dir.is_some(),
            &args.rest,
        ),
    }
}

/// Runs an admin command or the boot; `Some(exit code)` when the process should stop here.
fn migrate(
    migrator: &Migrator<'_>,
    backend: &mut dyn Engine,
    admin: &[String],
    name: &str,
) -> Option<ExitCode> {
    if let Some(code) = migrator::admin::main(migrator, backend, admin) {
        return Some(ExitCode::from(u8::try_from(code).unwrap_or(1)));
    }
    match migrator.boot(backend) {
        Ok(report) => {
            out!(
                "{}",
                migrator::render::report(&report, migrator::render::Style::from_env())
            );
            None
        }
        Err(e) => {
            eprintln!("error: the database {name} cannot be migrated:\n{e}");
            Some(ExitCode::FAILURE)
        }
    }
}

/// A server database: migrate, then the contacts work through the engine.
fn server(
    migrator: &Migrator<'_>,
    url: &str,
    work: Work,
    migrate_only: bool,
    admin: &[String],
) -> ExitCode {
    let masked = migrator::redact::mask_url(url);
    let mut db = match Database::open(url, migrator::connect::Create::No) {
        Ok(db) => db,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    db.with_engine(|engine| {
        if let Some(code) = migrate(migrator, engine, admin, &masked) {
            return code;
        }
        if migrate_only {
            outln!("Migrated {masked}");
            return ExitCode::SUCCESS;
        }
        match do_work_on(engine, work) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        }
    })
}

/// The contacts work on any engine, through its SQL: values are literals of the engine's dialect.
fn do_work_on(engine: &mut dyn Engine, work: Work) -> Result<(), migrator::DbError> {
    let d = engine.dialect();
    let count = |engine: &mut dyn Engine| -> Result<i64, migrator::DbError> {
        let rows = engine.query("SELECT count(*) FROM contacts")?;
        Ok(rows.first().and_then(|r| r.first()?.as_i64()).unwrap_or(0))
    };
    match work {
        Work::Add { name, email } => {
            engine.execute(&format!(
                "INSERT INTO contacts (name, email) VALUES ({}, {})",
                d.literal(&name),
                d.literal(&email)
            ))?;
            outln!("Added contact {name} <{email}>");
        }
        Work::List => {
            if count(engine)? == 0 {
                engine.execute(
                    "INSERT INTO contacts (name, email) VALUES ('Ada Lovelace', 'ada@example.com')",
                )?;
                outln!("Added a demo contact to the empty database");
            }
        }
    }
    // The enrichment column exists only while issue #234 is applied.
    let enriched = engine
        .query("SELECT enrichment_status FROM contacts WHERE 1 = 0")
        .is_ok();
    let status = if enriched { "enrichment_status" } else { "'-'" };
    let rows = engine.query(&format!(
        "SELECT name, coalesce(email, ''), {status} FROM contacts ORDER BY created_at, name"
    ))?;
    outln!("Contacts:");
    for row in rows {
        let text = |i: usize| row.get(i).and_then(|v| v.as_text()).unwrap_or_default();
        outln!("  {:<24} {:<28} enrichment: {}", text(0), text(1), text(2));
    }
    Ok(())
}

fn do_work(conn: &Connection, work: Work) -> rusqlite::Result<()> {
    conn.execute_batch("PRAGMA foreign_keys = ON")?;
    match work {
        Work::Add { name, email } => {
            conn.execute(
                "INSERT INTO contacts (name, email) VALUES (?1, ?2)",
                [&name, &email],
            )?;
            outln!("Added contact {name} <{email}>");
        }
        Work::List => {
            let count: i64 = conn.query_row("SELECT count(*) FROM contacts", [], |r| r.get(0))?;
            if count == 0 {
                conn.execute(
                    "INSERT INTO contacts (name, email) VALUES ('Ada Lovelace', 'ada@example.com')",
                    [],
                )?;
                outln!("Added a demo contact to the empty database");
            }
        }
    }
    // The enrichment column exists only while issue #234 is applied.
    let enriched = conn
        .prepare("SELECT enrichment_status FROM contacts LIMIT 0")
        .is_ok();
    let sql = if enriched {
        "SELECT name, coalesce(email, ''), enrichment_status FROM contacts ORDER BY created_at, name"
    } else {
        "SELECT name, coalesce(email, ''), '-' FROM contacts ORDER BY created_at, name"
    };
    let mut stmt = conn.prepare(sql)?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, Option<String>>(2)?,
        ))
    })?;
    outln!("Contacts:");
    for row in rows {
        let (name, email, status) = row?;
        outln!(
            "  {name:<24} {email:<28} enrichment: {}",
            status.unwrap_or_default()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_embedded_policy_is_the_file_read_at_run_time() {
        let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migration_safety.yaml");
        let read = migrator::Policy::from_path(&file).unwrap();
        assert_eq!(super::POLICY, read);
        assert_eq!(
            read,
            migrator::Policy::SPEC,
            "the example app keeps the spec's values"
        );
    }
}
