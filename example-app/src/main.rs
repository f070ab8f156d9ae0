//! A small contacts application (the spec's domain) that migrates its own SQLite database at boot.
//!
//! ```text
//! example-app [--db PATH] [list | add NAME EMAIL]     migrate, then do the work
//! example-app --migrate-history | --migrate-rollback 234 | ...   admin flags, see --help
//! ```

use std::process::ExitCode;

use migrator::{embed_migrations, MigrationSet, Migrator, Sqlite};
use rusqlite::Connection;

static MIGRATIONS: MigrationSet = embed_migrations!("../migrations");

const USAGE: &str = "\
example-app: a contacts application that migrates its own database at boot

Usage:
  example-app [--db PATH] [list]              migrate, then list the contacts (adds a demo contact on
                                              an empty database)
  example-app [--db PATH] add NAME EMAIL      migrate, then add a contact
  example-app [--db PATH] --migrate-...       an admin action instead of the application's work

Options:
  --db PATH   the SQLite database (default: $EXAMPLE_APP_DB, else ./example-app.db)
  -h, --help  this text
Logging: RUST_LOG=migrator=info shows every step of the migrator.
";

enum Work {
    List,
    Add { name: String, email: String },
}

struct Args {
    db: String,
    work: Work,
    rest: Vec<String>,
}

fn parse_args(args: Vec<String>) -> Result<Option<Args>, String> {
    let mut db = std::env::var("EXAMPLE_APP_DB").unwrap_or_else(|_| "example-app.db".to_string());
    let mut rest = Vec::new();
    let mut positional = Vec::new();
    let mut iter = args.into_iter();
    while let Some(arg) = iter.next() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--db" => db = iter.next().ok_or("--db needs a path")?,
            _ if arg.starts_with("--db=") => db = arg["--db=".len()..].to_string(),
            _ if arg.starts_with("--migrate-") || arg.starts_with("--force") => {
                rest.push(arg.clone());
                // The admin flags' values ride along (an issue number, a version, a status).
                if !arg.contains('=') && arg != "--force" {
                    while let Some(value) = iter
                        .as_slice()
                        .first()
                        .filter(|v| !v.starts_with("--"))
                        .cloned()
                    {
                        rest.push(value);
                        iter.next();
                    }
                }
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
        _ => return Err(format!("unexpected arguments {positional:?}")),
    };
    Ok(Some(Args { db, work, rest }))
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
            print!("{USAGE}\n{}", migrator::admin::HELP);
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("error: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let conn = match Connection::open(&args.db) {
        Ok(conn) => conn,
        Err(e) => {
            eprintln!("error: cannot open database {}: {e}", args.db);
            return ExitCode::FAILURE;
        }
    };
    let migrator = Migrator::new(&MIGRATIONS);
    let mut backend = Sqlite::new(&conn);
    if let Some(code) = migrator::admin::main(&migrator, &mut backend, &args.rest) {
        return ExitCode::from(code as u8);
    }
    match migrator.boot(&mut backend) {
        Ok(report) => print!(
            "{}",
            migrator::render::report(&report, migrator::render::Style::from_env())
        ),
        Err(e) => {
            eprintln!("error: the database {} cannot be migrated:\n{e}", args.db);
            return ExitCode::FAILURE;
        }
    }
    drop(backend);
    match do_work(&conn, args.work) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn do_work(conn: &Connection, work: Work) -> rusqlite::Result<()> {
    conn.execute_batch("PRAGMA foreign_keys = ON")?;
    match work {
        Work::Add { name, email } => {
            conn.execute(
                "INSERT INTO contacts (name, email) VALUES (?1, ?2)",
                [&name, &email],
            )?;
            println!("Added contact {name} <{email}>");
        }
        Work::List => {
            let count: i64 = conn.query_row("SELECT count(*) FROM contacts", [], |r| r.get(0))?;
            if count == 0 {
                conn.execute(
                    "INSERT INTO contacts (name, email) VALUES ('Ada Lovelace', 'ada@example.com')",
                    [],
                )?;
                println!("Added a demo contact to the empty database");
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
    println!("Contacts:");
    for row in rows {
        let (name, email, status) = row?;
        println!(
            "  {name:<24} {email:<28} enrichment: {}",
            status.unwrap_or_default()
        );
    }
    Ok(())
}
