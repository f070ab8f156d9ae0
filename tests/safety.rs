//! The spec's safety features: a checked backup before every boot that applies something, retention,
//! listing, and a restore that gives back the pre-migration database (schema, rows and history).

use migrator::{Config, Error, HealthCheck, Migrator, OnHealthFailure};
use migrator_tests::{both_engines, Db, Workspace};

both_engines!(
    a_backup_taken_before_applying_restores_the_database_as_it_was,
    backups_are_kept_to_the_newest_n,
    a_failed_health_check_rolls_the_boot_back_by_default,
    a_failed_health_check_can_restore_the_backup_instead,
    a_failed_health_check_can_stop_and_keep_the_migrations,
);

/// A base with rows, then a migration that passes the database's own checks but breaks the application's
/// rule "every contact has a name".
fn health_setup(ws: &Workspace, db: &Db) -> (Vec<String>, Vec<String>, migrator::MigrationSet) {
    ws.add(
        20240101000000,
        Some(1),
        "contacts",
        "CREATE TABLE contacts (id INTEGER PRIMARY KEY, name TEXT);",
        Some("DROP TABLE contacts;"),
    );
    db.boot_with(&ws.set(), config(ws, 5)).unwrap();
    db.exec("INSERT INTO contacts (id, name) VALUES (1, 'ada'), (2, 'bob')");
    let before = (db.fingerprint(), db.data_dump());
    ws.add(
        20240102000000,
        Some(2),
        "wipe_names",
        "ALTER TABLE contacts ADD COLUMN nick TEXT;\nUPDATE contacts SET nick = name, name = NULL;",
        Some("UPDATE contacts SET name = nick;\nALTER TABLE contacts DROP COLUMN nick;"),
    );
    (before.0, before.1, ws.set())
}

fn health_config(ws: &Workspace, on_failure: OnHealthFailure) -> Config {
    Config {
        health_checks: vec![HealthCheck::new(
            "contacts_have_names",
            "SELECT count(*) = 0 FROM contacts WHERE name IS NULL",
        )],
        on_health_failure: on_failure,
        // The rehearsal would find the failing check on a copy first (tests/rehearsal.rs); these tests
        // are about the reaction when a check fails on the real database.
        require_test_run: false,
        ..config(ws, 5)
    }
}

/// What a failed health check says when the run's transaction was rolled back instead of committed.
const BEFORE_COMMIT: &str = "rolled back before it committed: nothing of this boot stays";

fn a_failed_health_check_rolls_the_boot_back_by_default(ws: &Workspace, db: &Db) {
    let (schema, rows, set) = health_setup(ws, db);
    let err = db
        .boot_with(&set, health_config(ws, OnHealthFailure::RollBack))
        .unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, Error::HealthCheck { .. }), "{message}");
    assert!(
        message.contains("health check contacts_have_names returned false"),
        "{message}"
    );
    assert_eq!(db.fingerprint(), schema);
    assert_eq!(db.data_dump(), rows);
    if db.is_sqlite() {
        // SQLite applies in one transaction beside the backup and checks health before the commit: the
        // run is rolled back instead of committed, so no DOWN runs and history never saw it.
        assert!(message.contains(BEFORE_COMMIT), "{message}");
        assert_eq!(db.history(), [(20240101000000, "applied".to_string())]);
    } else {
        assert!(
            message.contains("rolled back through their DOWNs"),
            "{message}"
        );
        assert_eq!(db.history()[1], (20240102000000, "rolled_back".to_string()));
    }
    assert_eq!(
        db.count("SELECT count(*) FROM schema_migrations_log WHERE action = 'health_failed'"),
        1
    );
    // A passing check lets the boot through and is named in the report.
    let fine = Config {
        health_checks: vec![HealthCheck::new(
            "contacts_exist",
            "SELECT count(*) > 0 FROM contacts",
        )],
        ..config(ws, 5)
    };
    ws.add(
        20240103000000,
        Some(3),
        "more",
        "CREATE TABLE more_notes (id INTEGER);",
        Some("DROP TABLE more_notes;"),
    );
    let report = db.boot_with(&ws.set(), fine).unwrap();
    assert!(
        report.health_checks.contains(&"contacts_exist".to_string()),
        "{:?}",
        report.health_checks
    );
}

fn a_failed_health_check_can_restore_the_backup_instead(ws: &Workspace, db: &Db) {
    let (schema, rows, set) = health_setup(ws, db);
    let message = db
        .boot_with(&set, health_config(ws, OnHealthFailure::Restore))
        .unwrap_err()
        .to_string();
    let expected = if db.is_sqlite() {
        BEFORE_COMMIT
    } else {
        "was restored from"
    };
    assert!(message.contains(expected), "{message}");
    assert_eq!(db.fingerprint(), schema);
    assert_eq!(db.data_dump(), rows);
    assert_eq!(
        db.history(),
        [(20240101000000, "applied".to_string())],
        "history as before the boot"
    );
}

fn a_failed_health_check_can_stop_and_keep_the_migrations(ws: &Workspace, db: &Db) {
    let (schema, _, set) = health_setup(ws, db);
    let message = db
        .boot_with(&set, health_config(ws, OnHealthFailure::Stop))
        .unwrap_err()
        .to_string();
    assert!(message.contains("stay applied"), "{message}");
    assert_ne!(db.fingerprint(), schema);
    assert_eq!(db.history()[1], (20240102000000, "applied".to_string()));
}

fn config(ws: &Workspace, keep: usize) -> Config {
    Config {
        backup_dir: Some(ws.path().join("backups")),
        backups_to_keep: keep,
        ..Config::default()
    }
}

fn a_backup_taken_before_applying_restores_the_database_as_it_was(ws: &Workspace, db: &Db) {
    ws.add(
        20240101000000,
        Some(1),
        "contacts",
        "CREATE TABLE contacts (id INTEGER PRIMARY KEY, name TEXT NOT NULL);",
        Some("DROP TABLE contacts;"),
    );
    db.boot_with(&ws.set(), config(ws, 5)).unwrap();
    db.exec("INSERT INTO contacts (id, name) VALUES (1, 'ada'), (2, 'bob'), (3, 'cy')");
    let (schema, rows, history) = (db.fingerprint(), db.data_dump(), db.history());

    ws.add(20240102000000, Some(2), "enrich", "ALTER TABLE contacts ADD COLUMN score INTEGER;\nUPDATE contacts SET score = id * 10;\nCREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);", Some("DROP TABLE notes;\nALTER TABLE contacts DROP COLUMN score;"));
    let report = db.boot_with(&ws.set(), config(ws, 5)).unwrap();
    let backup = report.backup.clone().expect("a backup before applying");
    assert!(backup.is_file(), "{}", backup.display());
    assert!(
        backup.to_string_lossy().contains("-before-20240102000000."),
        "{}",
        backup.display()
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&backup).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "backups are readable by the owner only");
    }
    assert_ne!(db.fingerprint(), schema);

    let set = ws.set();
    let migrator = Migrator::new(&set).with_config(config(ws, 5));
    let safety = db.with_backend(|b| migrator.restore(b, &backup)).unwrap();
    assert!(safety.to_string_lossy().contains("-before-restore."));
    assert_eq!(db.fingerprint(), schema, "schema as before the migration");
    assert_eq!(db.data_dump(), rows, "rows as before the migration");
    assert_eq!(db.history(), history, "history as before the migration");
    // The migration is pending again, and the listing shows all backups, newest first.
    let (_, files) = db.with_backend(|b| migrator.backups(b)).unwrap();
    assert_eq!(files.len(), 3, "{files:?}");
    assert_eq!(
        db.boot_with(&set, config(ws, 5))
            .unwrap()
            .applied_versions(),
        [20240102000000]
    );
    // Restoring a file that is not a backup fails and changes nothing.
    let bogus = ws.path().join("not-a-backup");
    std::fs::write(&bogus, "hello").unwrap();
    let before = db.fingerprint();
    assert!(matches!(
        db.with_backend(|b| migrator.restore(b, &bogus)),
        Err(Error::Backup(_))
    ));
    assert_eq!(db.fingerprint(), before);
}

fn backups_are_kept_to_the_newest_n(ws: &Workspace, db: &Db) {
    for i in 0..4u64 {
        ws.add(
            20240101000000 + i,
            None,
            &format!("t{i}"),
            &format!("CREATE TABLE t{i} (x INTEGER);"),
            None,
        );
        let report = db.boot_with(&ws.set(), config(ws, 2)).unwrap();
        assert!(report.backup.is_some());
        std::thread::sleep(std::time::Duration::from_millis(1100));
    }
    let set = ws.set();
    let (dir, files) = db
        .with_backend(|b| Migrator::new(&set).with_config(config(ws, 2)).backups(b))
        .unwrap();
    assert_eq!(files.len(), 2, "{files:?}");
    assert!(files[0]
        .path
        .to_string_lossy()
        .contains("before-20240101000003"));
    assert!(files[1]
        .path
        .to_string_lossy()
        .contains("before-20240101000002"));
    // Nothing pending: no backup.
    assert!(db.boot_with(&set, config(ws, 2)).unwrap().backup.is_none());
    // The two backups, and the file naming the database they belong to.
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names.len(), 3, "{names:?}");
    assert!(names.contains(&"identity".to_string()), "{names:?}");
}

#[test]
fn an_in_memory_database_cannot_be_backed_up_so_the_boot_refuses_unless_backups_are_off() {
    let ws = Workspace::new();
    ws.add(
        20240101000000,
        None,
        "t",
        "CREATE TABLE t (x INTEGER);",
        None,
    );
    let conn = rusqlite::Connection::open_in_memory().unwrap();
    let set = ws.set();
    let err = Migrator::new(&set)
        .boot(&mut migrator::Sqlite::new(&conn))
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::MissingCapability {
                capability: "backups",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("turn require_backup off"), "{err}");
    let off = Config {
        require_backup: false,
        ..Config::default()
    };
    Migrator::new(&set)
        .with_config(off)
        .boot(&mut migrator::Sqlite::new(&conn))
        .unwrap();
}
