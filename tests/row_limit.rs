//! `max_rows_affected` on both engines: a pending UPDATE/DELETE whose row estimate (SQLite: a count over
//! its WHERE; PostgreSQL: the planner's estimate) exceeds the limit stops the boot before anything runs.

use migrator::{Config, Error};
use migrator_tests::{both_engines, Db, Workspace};

/// `events` with 3000 rows, analysed (PostgreSQL's planner then knows its size).
fn events(db: &Db) {
    let (rows, analyze) = match db {
        Db::Postgres(_) => ("SELECT i, 'event ' || i FROM generate_series(1, 3000) AS i", "ANALYZE events"),
        Db::MySql(_) => ("WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < 3000) SELECT i, CONCAT('event ', i) FROM g", "ANALYZE TABLE events"),
        Db::Sqlite(_) => ("WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < 3000) SELECT i, 'event ' || i FROM g", "ANALYZE events"),
    };
    db.exec(&format!(
        "CREATE TABLE events (id INTEGER PRIMARY KEY, kind TEXT);
         INSERT INTO events (id, kind) {rows};
         {analyze};"
    ));
}

fn limit(rows: Option<u64>) -> Config {
    Config {
        max_rows_affected: rows,
        require_backup: false,
        require_test_run: false,
        ..Config::default()
    }
}

/// Two pending migrations, the second one's backfill touching 2000 of the 3000 rows.
fn pending_backfill(ws: &Workspace) {
    ws.add(
        20250101000000,
        Some(1),
        "audit",
        "CREATE TABLE audit (id INTEGER PRIMARY KEY);",
        Some("DROP TABLE audit;"),
    );
    ws.add(
        20250102000000,
        Some(2),
        "backfill",
        "ALTER TABLE events ADD COLUMN seen INTEGER;\nUPDATE events SET seen = 1 WHERE id > 1000;",
        Some("ALTER TABLE events DROP COLUMN seen;"),
    );
}

fn refused_above_the_limit(ws: &Workspace, db: &Db) {
    events(db);
    pending_backfill(ws);
    let err = db.boot_with(&ws.set(), limit(Some(1500))).unwrap_err();
    let Error::RowLimit { limit, over } = &err else {
        panic!("expected RowLimit, got {err}");
    };
    assert_eq!(*limit, 1500);
    assert_eq!(over.len(), 1, "{over:?}");
    let hit = &over[0];
    assert_eq!(hit.version, 20250102000000);
    assert_eq!(hit.file, "20250102000000_issue_2_backfill.sql");
    assert_eq!(hit.line, 7);
    assert!(
        hit.statement.starts_with("UPDATE events SET seen = 1"),
        "{hit:?}"
    );
    if db.is_postgres() {
        assert!((1600..=2400).contains(&hit.rows), "{hit:?}");
    } else {
        assert_eq!(hit.rows, 2000);
    }
    let message = err.to_string();
    for part in [
        "max_rows_affected (1,500)",
        "20250102000000_issue_2_backfill.sql:7 (migration 20250102000000)",
        "rows: UPDATE events SET seen = 1 WHERE id > 1000",
        "-- migrator:backfill table=<table> key=<integer key column> batch=1000",
        "-- migrator:allow update-delete-without-where",
    ] {
        assert!(message.contains(part), "{part:?} missing from:\n{message}");
    }
    // Refused before anything ran: not even the first migration, and no history table.
    assert_eq!(db.count("SELECT count(*) FROM events"), 3000);
    let tables = match db {
        Db::Postgres(_) => "SELECT count(*) FROM pg_tables WHERE tablename IN ('audit', 'schema_migrations')",
        Db::MySql(_) => "SELECT count(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name IN ('audit', 'schema_migrations')",
        Db::Sqlite(_) => "SELECT count(*) FROM sqlite_schema WHERE name IN ('audit', 'schema_migrations')",
    };
    assert_eq!(db.count(tables), 0);
}

fn allowed_below_the_limit(ws: &Workspace, db: &Db) {
    events(db);
    pending_backfill(ws);
    let report = db.boot_with(&ws.set(), limit(Some(2500))).unwrap();
    assert_eq!(report.applied_versions(), [20250101000000, 20250102000000]);
    assert_eq!(db.count("SELECT count(*) FROM events WHERE seen = 1"), 2000);
}

fn allowed_without_a_limit(ws: &Workspace, db: &Db) {
    events(db);
    pending_backfill(ws);
    let report = db.boot_with(&ws.set(), limit(None)).unwrap();
    assert_eq!(report.applied_versions(), [20250101000000, 20250102000000]);
    assert_eq!(db.count("SELECT count(*) FROM events WHERE seen = 1"), 2000);
}

fn allowed_by_the_migration(ws: &Workspace, db: &Db) {
    events(db);
    ws.add(
        20250102000000,
        Some(2),
        "purge",
        "-- migrator:allow update-delete-without-where one pass at night, table is small\nDELETE FROM events WHERE id > 100;",
        None,
    );
    let report = db.boot_with(&ws.set(), limit(Some(10))).unwrap();
    assert_eq!(report.applied_versions(), [20250102000000]);
    assert_eq!(db.count("SELECT count(*) FROM events"), 100);
}

fn tables_of_earlier_pending_migrations_pass(ws: &Workspace, db: &Db) {
    ws.add(
        20250101000000,
        Some(1),
        "queue",
        "CREATE TABLE queue (id INTEGER PRIMARY KEY, done INTEGER);\nINSERT INTO queue (id, done) VALUES (1, 0), (2, 0), (3, 1);",
        Some("DROP TABLE queue;"),
    );
    ws.add(
        20250102000000,
        Some(2),
        "prune",
        "DELETE FROM queue WHERE done = 1;",
        None,
    );
    let report = db.boot_with(&ws.set(), limit(Some(0))).unwrap();
    assert_eq!(report.applied_versions(), [20250101000000, 20250102000000]);
    assert_eq!(db.count("SELECT count(*) FROM queue"), 2);
}

both_engines!(
    refused_above_the_limit,
    allowed_below_the_limit,
    allowed_without_a_limit,
    allowed_by_the_migration,
    tables_of_earlier_pending_migrations_pass,
);
