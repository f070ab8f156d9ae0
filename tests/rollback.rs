//! Rollback by issue on real SQLite files: schema restored, stays rolled back, reapplied on change or on
//! request, refusals that protect later work.

use migrator::{Error, Migrator, Outcome, RollbackOptions, Sqlite};
use migrator_tests::{fingerprint, history, Workspace};

fn boot(ws: &Workspace) -> migrator::Report {
    let set = ws.set();
    let conn = ws.open();
    let report = Migrator::new(&set).boot(&mut Sqlite::new(&conn)).unwrap();
    report
}

fn rollback(ws: &Workspace, issue: u32, force: bool) -> Result<migrator::Report, Error> {
    let set = ws.set();
    let conn = ws.open();
    let result = Migrator::new(&set).rollback_issue(
        &mut Sqlite::new(&conn),
        issue,
        RollbackOptions { force },
    );
    result
}

fn base(ws: &Workspace) {
    ws.add(20240101000000, Some(187), "contacts", "CREATE TABLE contacts (id INTEGER PRIMARY KEY, name TEXT NOT NULL);\nINSERT INTO contacts (name) VALUES ('ada'), ('bob');", Some("DROP TABLE contacts;"));
}

fn enrichment(ws: &Workspace) {
    ws.add(
        20240115143022,
        Some(234),
        "contact_enrichment",
        "CREATE TABLE contact_enrichment (id INTEGER PRIMARY KEY, contact_id INTEGER NOT NULL REFERENCES contacts(id) ON DELETE CASCADE, data TEXT NOT NULL);\nCREATE INDEX idx_enrichment_contact_id ON contact_enrichment(contact_id);",
        Some("DROP TABLE IF EXISTS contact_enrichment;"),
    );
    ws.add(
        20240115150000,
        Some(234),
        "contact_status",
        "ALTER TABLE contacts ADD COLUMN enrichment_status TEXT DEFAULT 'pending';\nUPDATE contacts SET enrichment_status = 'pending' WHERE enrichment_status IS NULL;",
        Some("ALTER TABLE contacts DROP COLUMN enrichment_status;"),
    );
}

#[test]
fn rolling_back_an_issue_restores_the_schema_newest_first() {
    let ws = Workspace::new();
    base(&ws);
    boot(&ws);
    let before = fingerprint(&ws.open());
    enrichment(&ws);
    boot(&ws);
    assert_ne!(fingerprint(&ws.open()), before);

    let report = rollback(&ws, 234, false).unwrap();
    let order: Vec<u64> = report
        .with_outcome(Outcome::RolledBack)
        .map(|s| s.version)
        .collect();
    assert_eq!(order, [20240115150000, 20240115143022], "newest first");
    let conn = ws.open();
    assert_eq!(fingerprint(&conn), before);
    let rolled_at: Option<String> = conn
        .query_row(
            "SELECT rolled_back_at FROM schema_migrations WHERE version = 20240115143022",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(rolled_at.is_some());
    let names: i64 = conn
        .query_row("SELECT count(*) FROM contacts", [], |r| r.get(0))
        .unwrap();
    assert_eq!(names, 2, "rows of the surviving table are kept");
}

#[test]
fn a_rolled_back_migration_stays_rolled_back_until_its_file_changes_or_an_operator_reapplies_it() {
    let ws = Workspace::new();
    base(&ws);
    enrichment(&ws);
    boot(&ws);
    rollback(&ws, 234, false).unwrap();

    let report = boot(&ws);
    assert_eq!(report.with_outcome(Outcome::SkippedRolledBack).count(), 2);
    assert!(report.applied_versions().is_empty());
    assert_eq!(
        history(&ws.open())[1],
        (20240115143022, "rolled_back".into())
    );

    // A fix to one file: a new checksum, so the next boot applies that one again, and the log keeps both.
    let old = ws.set().get(20240115150000).unwrap().checksum.to_string();
    ws.add(
        20240115150000,
        Some(234),
        "contact_status",
        "ALTER TABLE contacts ADD COLUMN enrichment_status TEXT DEFAULT 'new';",
        Some("ALTER TABLE contacts DROP COLUMN enrichment_status;"),
    );
    let report = boot(&ws);
    assert_eq!(report.applied_versions(), [20240115150000]);
    let conn = ws.open();
    let checksums: Vec<String> = conn
        .prepare("SELECT checksum FROM schema_migrations_log WHERE version = 20240115150000 AND action = 'applied' ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(checksums.len(), 2);
    assert_eq!(checksums[0], old);
    assert_ne!(checksums[1], old);

    // The operator asks for the other one.
    let set = ws.set();
    let report = Migrator::new(&set)
        .reapply_issue(&mut Sqlite::new(&conn), 234)
        .unwrap();
    assert_eq!(report.applied_versions(), [20240115143022]);
    assert!(history(&conn).iter().all(|(_, s)| s == "applied"));
}

#[test]
fn rollback_is_refused_when_a_later_issue_touches_the_same_tables_unless_forced() {
    let ws = Workspace::new();
    base(&ws);
    enrichment(&ws);
    ws.add(
        20240120000000,
        Some(240),
        "contact_phone",
        "ALTER TABLE contacts ADD COLUMN phone TEXT;",
        Some("ALTER TABLE contacts DROP COLUMN phone;"),
    );
    boot(&ws);
    let before = fingerprint(&ws.open());
    let err = rollback(&ws, 234, false).unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, Error::RollbackRefused { issue: 234, .. }));
    assert!(
        message.contains("20240120000000_issue_240_contact_phone.sql (#240) touches contacts"),
        "{message}"
    );
    assert!(message.contains("--force"), "{message}");
    assert_eq!(fingerprint(&ws.open()), before, "nothing ran");
    rollback(&ws, 234, true).unwrap();
}

#[test]
fn rollback_is_refused_when_a_down_is_missing_or_empty() {
    let ws = Workspace::new();
    ws.add(
        20240101000000,
        Some(1),
        "no_down",
        "CREATE TABLE a (x);",
        None,
    );
    ws.add(
        20240102000000,
        Some(2),
        "empty_down",
        "CREATE TABLE b (x);",
        Some("-- nothing to undo"),
    );
    boot(&ws);
    for issue in [1, 2] {
        let message = rollback(&ws, issue, false).unwrap_err().to_string();
        assert!(message.contains("has no DOWN statements"), "{message}");
    }
}

#[test]
fn rolling_back_an_unknown_issue_is_a_clear_error() {
    let ws = Workspace::new();
    base(&ws);
    boot(&ws);
    let message = rollback(&ws, 999, false).unwrap_err().to_string();
    assert!(
        message.contains("issue #999 has no applied migration") && message.contains("#187"),
        "{message}"
    );
}

#[test]
fn a_failing_down_leaves_the_migration_applied_and_says_so() {
    let ws = Workspace::new();
    ws.add(
        20240101000000,
        Some(1),
        "a",
        "CREATE TABLE a (x);",
        Some("DROP TABLE a;\nDROP TABLE not_there;"),
    );
    boot(&ws);
    let before = fingerprint(&ws.open());
    let message = rollback(&ws, 1, false).unwrap_err().to_string();
    assert!(
        message.contains("DOWN of 20240101000000_issue_1_a.sql")
            && message.contains("no such table: not_there"),
        "{message}"
    );
    assert_eq!(fingerprint(&ws.open()), before);
    assert_eq!(history(&ws.open()), [(20240101000000, "applied".into())]);
}

#[test]
fn rollback_to_a_version_and_all_the_way() {
    let ws = Workspace::new();
    base(&ws);
    enrichment(&ws);
    boot(&ws);
    let set = ws.set();
    let conn = ws.open();
    let report = Migrator::new(&set)
        .rollback_to(&mut Sqlite::new(&conn), 20240101000000)
        .unwrap();
    assert_eq!(report.with_outcome(Outcome::RolledBack).count(), 2);
    Migrator::new(&set)
        .rollback_to(&mut Sqlite::new(&conn), 0)
        .unwrap();
    assert!(fingerprint(&conn).is_empty());
}

#[test]
fn admin_flags_drive_the_same_runtime() {
    let ws = Workspace::new();
    base(&ws);
    enrichment(&ws);
    boot(&ws);
    let set = ws.set();
    let conn = ws.open();
    let migrator = Migrator::new(&set);
    let mut out = Vec::new();
    let cmd = migrator::admin::parse(["--migrate-rollback", "234"])
        .unwrap()
        .unwrap();
    migrator::admin::run(&migrator, &mut Sqlite::new(&conn), &cmd, &mut out).unwrap();
    let cmd = migrator::admin::parse(["--migrate-history"])
        .unwrap()
        .unwrap();
    let mut out = Vec::new();
    migrator::admin::run(&migrator, &mut Sqlite::new(&conn), &cmd, &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("VERSION          | NAME"), "{text}");
    assert!(text.contains("| #234  | ROLLED  |"), "{text}");
    assert!(
        text.contains("Total: 3 migrations (1 active, 2 rolled back)"),
        "{text}"
    );
    assert_eq!(
        migrator::admin::main(
            &migrator,
            &mut Sqlite::new(&conn),
            ["--migrate-rollback", "1"]
        ),
        Some(1)
    );
    assert_eq!(
        migrator::admin::main(&migrator, &mut Sqlite::new(&conn), ["--migrate-nope"]),
        Some(2)
    );
    assert_eq!(
        migrator::admin::main(&migrator, &mut Sqlite::new(&conn), ["--verbose"]),
        None
    );
}
