//! Rollback by issue: schema restored, stays rolled back, reapplied on change or on request, refusals
//! that protect later work. Every body runs on SQLite and on PostgreSQL (`both_engines!`).

use migrator::{Error, Migrator, Outcome, RollbackOptions};
use migrator_tests::{both_engines, Db, Workspace};

both_engines!(
    rolling_back_an_issue_restores_the_schema_newest_first,
    a_rolled_back_migration_stays_rolled_back_until_its_file_changes_or_an_operator_reapplies_it,
    rollback_is_refused_when_a_later_issue_touches_the_same_tables_unless_forced,
    rollback_is_refused_when_a_down_is_missing_or_empty,
    rolling_back_an_unknown_issue_is_a_clear_error,
    a_failing_down_leaves_the_migration_applied_and_says_so,
    rollback_to_a_version_and_all_the_way,
    admin_flags_drive_the_same_runtime,
    the_confirmation_names_the_tables_with_rows_when_a_dropped_one_is_gone,
);

fn boot(ws: &Workspace, db: &Db) -> migrator::Report {
    db.boot(&ws.set()).unwrap()
}

fn rollback(ws: &Workspace, db: &Db, issue: u32, force: bool) -> Result<migrator::Report, Error> {
    let set = ws.set();
    db.with_backend(|b| {
        Migrator::new(&set).rollback_issue(
            b,
            issue,
            RollbackOptions {
                force,
                ..Default::default()
            },
        )
    })
}

fn base(ws: &Workspace) {
    ws.add(20240101000000, Some(187), "contacts", "CREATE TABLE contacts (id INTEGER PRIMARY KEY, name TEXT NOT NULL);\nINSERT INTO contacts (id, name) VALUES (1, 'ada'), (2, 'bob');", Some("DROP TABLE contacts;"));
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

fn rolling_back_an_issue_restores_the_schema_newest_first(ws: &Workspace, db: &Db) {
    base(ws);
    boot(ws, db);
    let before = db.fingerprint();
    enrichment(ws);
    boot(ws, db);
    assert_ne!(db.fingerprint(), before);

    let report = rollback(ws, db, 234, false).unwrap();
    let order: Vec<u64> = report
        .with_outcome(Outcome::RolledBack)
        .map(|s| s.version)
        .collect();
    assert_eq!(order, [20240115150000, 20240115143022], "newest first");
    assert_eq!(db.fingerprint(), before);
    assert_eq!(
        db.count("SELECT count(*) FROM schema_migrations WHERE version = 20240115143022 AND rolled_back_at IS NOT NULL"),
        1
    );
    assert_eq!(
        db.count("SELECT count(*) FROM contacts"),
        2,
        "rows of the surviving table are kept"
    );
}

fn a_rolled_back_migration_stays_rolled_back_until_its_file_changes_or_an_operator_reapplies_it(
    ws: &Workspace,
    db: &Db,
) {
    base(ws);
    enrichment(ws);
    boot(ws, db);
    rollback(ws, db, 234, false).unwrap();

    let report = boot(ws, db);
    assert_eq!(report.with_outcome(Outcome::SkippedRolledBack).count(), 2);
    assert!(report.applied_versions().is_empty());
    assert_eq!(db.history()[1], (20240115143022, "rolled_back".into()));

    // A fix to one file: a new checksum, so the next boot applies that one again, and the log keeps both.
    let old = ws.set().get(20240115150000).unwrap().checksum.to_string();
    ws.add(
        20240115150000,
        Some(234),
        "contact_status",
        "ALTER TABLE contacts ADD COLUMN enrichment_status TEXT DEFAULT 'new';",
        Some("ALTER TABLE contacts DROP COLUMN enrichment_status;"),
    );
    let report = boot(ws, db);
    assert_eq!(report.applied_versions(), [20240115150000]);
    let checksums = db.rows("SELECT checksum FROM schema_migrations_log WHERE version = 20240115150000 AND action = 'applied' ORDER BY id");
    assert_eq!(checksums.len(), 2);
    assert_eq!(checksums[0], old);
    assert_ne!(checksums[1], old);

    // The operator asks for the other one.
    let set = ws.set();
    let report = db
        .with_backend(|b| Migrator::new(&set).reapply_issue(b, 234))
        .unwrap();
    assert_eq!(report.applied_versions(), [20240115143022]);
    assert!(db.history().iter().all(|(_, s)| s == "applied"));
}

fn rollback_is_refused_when_a_later_issue_touches_the_same_tables_unless_forced(
    ws: &Workspace,
    db: &Db,
) {
    base(ws);
    enrichment(ws);
    ws.add(
        20240120000000,
        Some(240),
        "contact_phone",
        "ALTER TABLE contacts ADD COLUMN phone TEXT;",
        Some("ALTER TABLE contacts DROP COLUMN phone;"),
    );
    boot(ws, db);
    let before = db.fingerprint();
    let err = rollback(ws, db, 234, false).unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, Error::RollbackRefused { .. }));
    assert!(
        message.contains("20240120000000_issue_240_contact_phone.sql (#240) touches contacts"),
        "{message}"
    );
    assert!(message.contains("--force"), "{message}");
    assert_eq!(db.fingerprint(), before, "nothing ran");
    rollback(ws, db, 234, true).unwrap();
}

fn rollback_is_refused_when_a_down_is_missing_or_empty(ws: &Workspace, db: &Db) {
    ws.add(
        20240101000000,
        Some(1),
        "no_down",
        "CREATE TABLE a (x INTEGER);",
        None,
    );
    ws.add(
        20240102000000,
        Some(2),
        "empty_down",
        "CREATE TABLE b (x INTEGER);",
        Some("-- nothing to undo"),
    );
    boot(ws, db);
    for issue in [1, 2] {
        let message = rollback(ws, db, issue, false).unwrap_err().to_string();
        let expected = if issue == 1 {
            "has no DOWN section"
        } else {
            "is irreversible (its DOWN is empty)"
        };
        assert!(message.contains(expected), "{message}");
    }
}

fn rolling_back_an_unknown_issue_is_a_clear_error(ws: &Workspace, db: &Db) {
    base(ws);
    boot(ws, db);
    let message = rollback(ws, db, 999, false).unwrap_err().to_string();
    assert!(
        message.contains("issue #999 has no applied migration") && message.contains("#187"),
        "{message}"
    );
}

fn a_failing_down_leaves_the_migration_applied_and_says_so(ws: &Workspace, db: &Db) {
    ws.add(
        20240101000000,
        Some(1),
        "a",
        "CREATE TABLE a (x INTEGER);",
        Some("DROP TABLE a;\nDROP TABLE not_there;"),
    );
    // By default the rehearsal finds the broken DOWN before the migration is applied at all.
    let refused = db.boot(&ws.set()).unwrap_err();
    assert!(
        matches!(
            &refused,
            migrator::Error::Rehearsal { findings, .. }
                if findings[0].phase == migrator::RehearsalPhase::Down
        ),
        "{refused}"
    );
    // Applied without a rehearsal (the policy off, or before the DOWN broke), the rollback fails cleanly.
    let config = migrator::Config {
        require_test_run: false,
        ..migrator::Config::default()
    };
    db.boot_with(&ws.set(), config).unwrap();
    let before = db.fingerprint();
    let message = rollback(ws, db, 1, false).unwrap_err().to_string();
    assert!(
        message.contains("DOWN of 20240101000000_issue_1_a.sql")
            && message.contains("statement 2 of 2")
            && message.contains(&format!("{} said:", db.engine_name()))
            && message.contains("not_there"),
        "{message}"
    );
    if db.is_mysql() {
        // MySQL commits each DROP: the first one stayed, the migration is recorded as failed, and the
        // message says so.
        assert!(message.contains("ran without a transaction"), "{message}");
        assert!(db.fingerprint().is_empty());
        assert_eq!(db.history(), [(20240101000000, "failed".into())]);
        return;
    }
    assert_eq!(db.fingerprint(), before);
    assert_eq!(db.history(), [(20240101000000, "applied".into())]);
}

fn rollback_to_a_version_and_all_the_way(ws: &Workspace, db: &Db) {
    base(ws);
    enrichment(ws);
    boot(ws, db);
    let set = ws.set();
    let report = db
        .with_backend(|b| {
            Migrator::new(&set).rollback_to(b, 20240101000000, RollbackOptions::default())
        })
        .unwrap();
    assert_eq!(report.with_outcome(Outcome::RolledBack).count(), 2);
    // Rolling back everything drops `contacts`, which holds rows: refused until confirmed.
    let before = db.fingerprint();
    let err = db
        .with_backend(|b| Migrator::new(&set).rollback_to(b, 0, RollbackOptions::default()))
        .unwrap_err();
    assert!(matches!(err, Error::NeedsConfirmation(_)), "{err}");
    assert!(err.to_string().contains("contacts (2 rows)"), "{err}");
    assert_eq!(db.fingerprint(), before, "nothing ran");
    // A version that does not exist (a typo) is refused, not taken as a cut-off.
    let err = db
        .with_backend(|b| Migrator::new(&set).rollback_to(b, 2024, RollbackOptions::default()))
        .unwrap_err();
    assert!(matches!(err, Error::Usage(_)), "{err}");
    assert!(
        err.to_string().contains("version 2024 is not a migration"),
        "{err}"
    );
    assert_eq!(db.fingerprint(), before, "nothing ran");
    let yes = RollbackOptions {
        yes: true,
        reason: Some("starting over".into()),
        ..Default::default()
    };
    db.with_backend(|b| Migrator::new(&set).rollback_to(b, 0, yes))
        .unwrap();
    assert!(db.fingerprint().is_empty());
    let reasons = db.count(
        "SELECT count(*) FROM schema_migrations_log WHERE action = 'rolled_back' AND detail = 'starting over'",
    );
    assert!(reasons >= 1, "the reason is in the log");
}

fn admin_flags_drive_the_same_runtime(ws: &Workspace, db: &Db) {
    base(ws);
    enrichment(ws);
    boot(ws, db);
    let set = ws.set();
    let migrator = Migrator::new(&set);
    let mut out = Vec::new();
    let cmd = migrator::admin::parse(["--migrate-rollback", "234"])
        .unwrap()
        .unwrap();
    db.with_backend(|b| migrator::admin::run(&migrator, b, &cmd, &mut out))
        .unwrap();
    let cmd = migrator::admin::parse(["--migrate-history"])
        .unwrap()
        .unwrap();
    let mut out = Vec::new();
    db.with_backend(|b| migrator::admin::run(&migrator, b, &cmd, &mut out))
        .unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("VERSION          | NAME"), "{text}");
    assert!(text.contains("| #234  | ROLLED  |"), "{text}");
    assert!(
        text.contains("Total: 3 migrations (1 active, 2 rolled back)"),
        "{text}"
    );
    assert_eq!(
        db.with_backend(|b| migrator::admin::main(&migrator, b, ["--migrate-rollback", "1"])),
        Some(1)
    );
    assert_eq!(
        db.with_backend(|b| migrator::admin::main(&migrator, b, ["--migrate-nope"])),
        Some(2)
    );
    assert_eq!(
        db.with_backend(|b| migrator::admin::main(&migrator, b, ["--verbose"])),
        None
    );
}

/// Before a rollback the tables its DOWNs drop are counted in one query; when that query fails (here a
/// `DROP TABLE IF EXISTS` names a table that is not there) they are counted one by one, so the
/// confirmation still names the table that holds rows, and only it.
fn the_confirmation_names_the_tables_with_rows_when_a_dropped_one_is_gone(ws: &Workspace, db: &Db) {
    ws.add(
        20240101000000,
        Some(1),
        "notes",
        "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);\nCREATE TABLE tags (id INTEGER PRIMARY KEY);\nINSERT INTO notes (id, body) VALUES (1, 'a'), (2, 'b'), (3, 'c');",
        Some("DROP TABLE IF EXISTS notes_archive;\nDROP TABLE tags;\nDROP TABLE notes;"),
    );
    boot(ws, db);
    let set = ws.set();
    let before = db.fingerprint();
    let err = db
        .with_backend(|b| Migrator::new(&set).rollback_to(b, 0, RollbackOptions::default()))
        .unwrap_err();
    assert!(matches!(err, Error::NeedsConfirmation(_)), "{err}");
    let message = err.to_string();
    assert!(message.contains("notes (3 rows)"), "{message}");
    assert!(
        !message.contains("notes_archive") && !message.contains("tags"),
        "{message}"
    );
    assert_eq!(db.fingerprint(), before, "nothing ran");
}
