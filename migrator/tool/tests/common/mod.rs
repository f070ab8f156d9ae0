//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

use migrator_tool::{generate_issue, Dialect, Generated, Issue, RenderOptions};

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

/// Renders `issue` for `dialect` at a fixed version.
pub fn render(issue: &Issue, dialect: Dialect) -> Result<Generated, migrator_tool::GenError> {
    render_with(issue, dialect, None)
}

/// Renders `issue` for `dialect` at a fixed version, knowing the base schema `base`.
pub fn render_with(
    issue: &Issue,
    dialect: Dialect,
    base: Option<&str>,
) -> Result<Generated, migrator_tool::GenError> {
    generate_issue(
        issue,
        &RenderOptions {
            dialect,
            version: 20240115143022,
            name: None,
            with_comments: false,
            base: base.map(|b| migrator_tool::schema::BaseSchema::parse(b).unwrap()),
        },
    )
}

/// The base schema of the example app (contacts, users, activities) plus the history table a standalone
/// run writes.
pub const BASE_SCHEMA: &str = "
CREATE TABLE users (
    id TEXT PRIMARY KEY NOT NULL,
    email TEXT NOT NULL,
    name TEXT NOT NULL,
    phone TEXT,
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE TABLE contacts (
    id TEXT PRIMARY KEY NOT NULL,
    owner_id TEXT REFERENCES users(id),
    name TEXT NOT NULL,
    email TEXT,
    phone TEXT,
    external_id TEXT,
    legacy_score INTEGER,
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX idx_contacts_owner ON contacts (owner_id);
CREATE TABLE activities (
    id INTEGER PRIMARY KEY,
    contact_id TEXT NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    owner_id TEXT REFERENCES users(id),
    type TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    deleted_at TIMESTAMP
);
CREATE INDEX idx_activities_legacy_type ON activities (type);
CREATE TABLE schema_migrations (
    version TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    issue_number INTEGER,
    applied_at TIMESTAMP NOT NULL
);
INSERT INTO users (id, email, name) VALUES ('u1', 'a@example.com', 'Ada'), ('u2', 'b@example.com', 'Bob');
INSERT INTO contacts (id, owner_id, name, external_id) VALUES ('c1', 'u1', 'Carol', 'x1'), ('c2', 'u2', 'Dan', 'x2');
INSERT INTO activities (contact_id, owner_id, type) VALUES ('c1', 'u1', 'call');
";

/// The text of one section (`UP` or `DOWN`) of a migration file, as it would run standalone.
pub fn section(file: &str, which: &str) -> String {
    let marker = format!("-- ============ {which} MIGRATION ============");
    let start = file.find(&marker).unwrap() + marker.len();
    let rest = &file[start..];
    let end = rest.find("-- ============").unwrap_or(rest.len());
    rest[..end].to_string()
}

/// Rows of the schema fingerprint: (type, name, tbl_name, normalised sql).
pub type Fingerprint = Vec<(String, String, String, String)>;

/// A fingerprint of the schema: sorted (type, name, tbl_name, normalised sql).
pub fn fingerprint(conn: &rusqlite::Connection) -> Fingerprint {
    let mut stmt = conn
        .prepare(
            "SELECT type, name, tbl_name, coalesce(sql, '') FROM sqlite_schema ORDER BY type, name",
        )
        .unwrap();
    let rows = stmt
        .query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get::<_, String>(3)?))
        })
        .unwrap();
    let mut out: Vec<(String, String, String, String)> = rows
        .map(|r| {
            let (t, n, tb, sql) = r.unwrap();
            let sql = sql
                .replace('"', "")
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .to_lowercase();
            (t, n, tb, sql)
        })
        .collect();
    out.sort();
    out
}

/// A SQLite database file holding the base schema, with foreign keys on.
pub fn base_db(dir: &std::path::Path) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(dir.join("app.db")).unwrap();
    conn.execute_batch("PRAGMA foreign_keys = ON;").unwrap();
    conn.execute_batch(BASE_SCHEMA).unwrap();
    conn
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
