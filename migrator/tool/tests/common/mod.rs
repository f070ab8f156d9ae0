//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

use migrator_tool::{generate_issue, Dialect, Generated, Issue, RenderOptions, Schema};

/// The issue exports kept with the tests (copies of the project's shared fixtures).
pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/issue-exports")
}

/// Loads one issue from a fixture file.
pub fn fixture_issue(file: &str) -> Issue {
    let issues = migrator_tool::export::load_path(&fixtures().join(file)).unwrap();
    issues.into_iter().next().unwrap()
}

/// An issue with `body`, as a gh export would hold it.
pub fn issue(number: u32, title: &str, body: &str) -> Issue {
    let v = serde_json::json!({
        "number": number, "title": title, "url": format!("https://github.com/acme/crm/issues/{number}"),
        "state": "OPEN", "labels": [], "body": body, "comments": []
    });
    migrator_tool::export::issue_from_value("test", "", &v).unwrap()
}

/// The repository's migrations (the example app, SQLite dialect).
pub fn repo_migrations() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../migrations")
}

/// The example app's migrations in PostgreSQL's dialect.
pub fn pg_migrations() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/example-app-postgres")
}

/// Copies the example app's migrations for `dialect` into `dest`, without those of issue `except`.
pub fn copy_example(dest: &std::path::Path, dialect: Dialect, except: Option<u32>) {
    std::fs::create_dir_all(dest).unwrap();
    let from = match dialect {
        Dialect::Sqlite => repo_migrations(),
        Dialect::Postgres => pg_migrations(),
    };
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            // The engine variant sets (postgres/, mysql/): the dialect's own files are copied instead.
            continue;
        }
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if except.is_some_and(|n| name.contains(&format!("_issue_{n}_"))) {
            continue;
        }
        std::fs::copy(&p, dest.join(&name)).unwrap();
    }
}

/// The UP sections of the PostgreSQL port, as one script: the text a `--schema-dump` reads.
pub fn pg_schema_script(except: Option<u32>) -> String {
    let dir = tempfile::tempdir().unwrap();
    copy_example(dir.path(), Dialect::Postgres, except);
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
        .iter()
        .map(|f| section(&std::fs::read_to_string(f).unwrap(), "UP"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The example app's schema for `dialect`, without issue `except`'s migrations: replayed on SQLite, read
/// from the PostgreSQL port's text for PostgreSQL (no server needed).
pub fn example_schema(dialect: Dialect, except: Option<u32>) -> (Schema, String) {
    match dialect {
        Dialect::Sqlite => {
            let dir = tempfile::tempdir().unwrap();
            copy_example(dir.path(), dialect, except);
            let (schema, _) = Schema::replay_sqlite(dir.path()).unwrap();
            (schema, "the example app's migrations".into())
        }
        Dialect::Postgres => {
            let (schema, _) =
                Schema::from_dump(&pg_schema_script(except), dialect, "example-app-postgres")
                    .unwrap();
            (
                schema,
                "the example app's migrations (PostgreSQL port)".into(),
            )
        }
    }
}

/// Renders `issue` for `dialect` at a fixed version, on the example app's schema without the issue's own
/// migrations.
pub fn render(issue: &Issue, dialect: Dialect) -> Result<Generated, migrator_tool::GenError> {
    let (schema, schema_source) = example_schema(dialect, Some(issue.number));
    generate_issue(
        issue,
        &RenderOptions {
            dialect,
            version: 20240115143022,
            name: None,
            with_comments: true,
            schema,
            schema_source,
        },
    )
}

/// The text of one section (`UP` or `DOWN`) of a migration file, as it would run standalone.
pub fn section(file: &str, which: &str) -> String {
    let marker = format!("-- ============ {which} MIGRATION ============");
    let start = file.find(&marker).unwrap() + marker.len();
    let rest = &file[start..];
    let end = rest.find("-- ============").unwrap_or(rest.len());
    rest[..end].to_string()
}

/// Runs `migrator-tool <subcommand> <args>`: (exit code, stdout, stderr).
pub fn tool(subcommand: &str, args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_migrator-tool"))
        .arg(subcommand)
        .args(args)
        .output()
        .expect("run migrator-tool");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// An applied migration #1 creating `items (id, state)` with the rows `values` (booted without a backup),
/// and the database URL the tool takes for `db`.
pub fn items_base(ws: &migrator_tests::Workspace, db: &migrator_tests::Db, values: &str) -> String {
    ws.add(
        20240101000000,
        Some(1),
        "items",
        "CREATE TABLE items (id INTEGER PRIMARY KEY, state TEXT);",
        Some("DROP TABLE items;"),
    );
    db.boot_with(
        &ws.set(),
        migrator::Config {
            require_backup: false,
            ..migrator::Config::default()
        },
    )
    .expect("boot the base");
    db.exec(&format!("INSERT INTO items (id, state) VALUES {values}"));
    match db {
        migrator_tests::Db::Sqlite(path) => path.to_string_lossy().into_owned(),
        migrator_tests::Db::Postgres(pg) => pg.url.clone(),
        migrator_tests::Db::MySql(my) => my.url.clone(),
    }
}
