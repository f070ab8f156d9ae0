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

/// The schema as compared: the runtime's fingerprint (what the rehearsal compares: columns with their
/// full types, constraints, indexes, triggers, ...), plus on SQLite the text SQLite keeps of every object
/// (without the double quotes its RENAME adds).
/// PostgreSQL CHECK texts are read without their casts and parentheses: PostgreSQL re-reads a CHECK when
/// its column's type changes, and a `pg_dump` + restore (the rehearsal's copy) does the same, so
/// `x IN ('a')` on a varchar may print as `x::text = ANY (ARRAY[('a'::varchar)::text])` instead of
/// `ANY ((ARRAY['a'::varchar])::text[])`: the same constraint.
pub fn schema_of(db: &migrator_tests::Db) -> Vec<String> {
    let mut rows: Vec<String> = db
        .with_backend(|b| {
            b.fingerprint()
                .expect("the engine reads fingerprints")
                .schema_fingerprint(
                    None,
                    &[
                        "schema_migrations",
                        "schema_migrations_log",
                        "schema_migrations_backfill",
                    ],
                    true,
                )
        })
        .expect("fingerprint")
        .into_iter()
        .map(|o| {
            if o.kind == "constraint" && o.definition.starts_with("CHECK") {
                format!("{} {}: {}", o.kind, o.name, without_casts(&o.definition))
            } else {
                o.to_string()
            }
        })
        .collect();
    if !db.is_postgres() {
        // SQLite's text of each object; its RENAME writes the names it rewrites in double quotes.
        rows.extend(db.fingerprint().into_iter().map(|r| r.replace('"', "")));
    }
    // The order of `sqlite_schema` follows creation; a rebuilt table comes later, the same schema.
    rows.sort();
    rows
}

/// `text` without `::type` casts, parentheses and spaces.
fn without_casts(text: &str) -> String {
    const TYPE_WORDS: &[&str] = &["varying", "precision", "with", "without", "time", "zone"];
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("::") {
        out.push_str(&rest[..at]);
        let mut after = &rest[at + 2..];
        loop {
            let word_end = after
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '[' || c == ']'))
                .unwrap_or(after.len());
            after = &after[word_end..];
            let next = after.trim_start();
            match TYPE_WORDS.iter().find(|w| next.starts_with(*w)) {
                Some(_) => after = next,
                None => break,
            }
        }
        rest = after;
    }
    out.push_str(rest);
    out.chars()
        .filter(|c| !matches!(c, '(' | ')' | ' '))
        .collect()
}

/// A reviewer's mark where the file asks for one (the default policy refuses the file without it).
pub fn reviewed(text: &str) -> String {
    if text.contains("-- Review required:") {
        text.replacen(
            "-- Author: migrator-tool\n",
            "-- Author: migrator-tool\n-- Reviewed-by: corpus-test\n",
            1,
        )
    } else {
        text.to_string()
    }
}
