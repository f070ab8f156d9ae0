//! A team switches from diesel (or sqlx, or refinery) to migrator: the database their tool migrated is
//! adopted at the first boot (nothing re-runs), what their tool's history says that the files do not is
//! refused with both sides shown, and the next new migration gets every safety gate. Issue #12's "a diesel
//! project's switch, written as the user does it".

use std::path::Path;

use migrator::{Config, Error, MigrationSet};
use migrator_tests::{Db, Workspace};

/// A diesel project's directory as `diesel migration generate` leaves it; each UP also counts its runs.
fn diesel_project(dir: &Path) {
    let write = |name: &str, up: &str, down: &str| {
        let d = dir.join(name);
        std::fs::create_dir_all(&d).expect("mkdir");
        std::fs::write(d.join("up.sql"), up).expect("up.sql");
        std::fs::write(d.join("down.sql"), down).expect("down.sql");
    };
    write(
        "00000000000000_diesel_initial_setup",
        "CREATE TABLE runs (migration TEXT NOT NULL);\nINSERT INTO runs VALUES ('setup');\n",
        "DROP TABLE runs;\n",
    );
    write(
        "2023-04-02-101500_create_users",
        "CREATE TABLE users (id BIGSERIAL PRIMARY KEY, email TEXT NOT NULL);\nINSERT INTO runs VALUES ('users');\n",
        "DROP TABLE users;\n",
    );
    write(
        "2024-05-27-120000-0000_add_Display Name",
        "ALTER TABLE users ADD COLUMN display_name TEXT;\nINSERT INTO runs VALUES ('display');\n",
        "ALTER TABLE users DROP COLUMN display_name;\n",
    );
}

/// The whole switch on PostgreSQL, with diesel_migrations itself running the project first.
#[test]
fn a_diesel_project_switches_and_its_next_migration_meets_every_gate() {
    use diesel_migrations::MigrationHarness;
    let ws = Workspace::new();
    let Some(db) = Db::postgres() else { return };
    let Db::Postgres(pg) = &db else {
        unreachable!()
    };
    let dir = ws.migrations();
    diesel_project(&dir);
    // Yesterday: the application ran `conn.run_pending_migrations(MIGRATIONS)`.
    let mut conn = pg.connect();
    let diesel = diesel_migrations::FileBasedMigrations::from_path(&dir).expect("diesel reads it");
    conn.run_pending_migrations(diesel).expect("diesel applies");
    let schema = db.fingerprint();

    // Today: the one line is `migrator.boot(&mut engine)`, over the same directory.
    let set = MigrationSet::from_dir(&dir).expect("migrator reads diesel's directory");
    let report = db
        .boot_with(&set, Config::default())
        .expect("the first boot adopts");
    assert_eq!(report.adopted.len(), 3, "every diesel migration adopted");
    assert!(report.applied_versions().is_empty(), "nothing re-run");
    assert_eq!(
        db.count("SELECT count(*) FROM runs"),
        3,
        "each UP ran once, by diesel"
    );
    assert_eq!(db.fingerprint(), schema);
    assert_eq!(
        db.count("SELECT count(*) FROM schema_migrations_log WHERE action = 'adopted'"),
        3
    );
    // A second boot: nothing to do.
    let again = db.boot_with(&set, Config::default()).expect("second boot");
    assert!(again.adopted.is_empty() && again.applied_versions().is_empty());

    // The next migration, written as the team always wrote them, drops a column: the review gate of the
    // default policy stops it (the adopted ones were history and passed).
    let next = dir.join("2024-06-01-090000_drop_display_name");
    std::fs::create_dir_all(&next).expect("mkdir");
    std::fs::write(
        next.join("up.sql"),
        "ALTER TABLE users DROP COLUMN display_name;\n",
    )
    .expect("up");
    std::fs::write(
        next.join("down.sql"),
        "ALTER TABLE users ADD COLUMN display_name TEXT;\n",
    )
    .expect("down");
    let set = MigrationSet::from_dir(&dir).expect("reads");
    let err = db.boot_with(&set, Config::default()).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::ReviewRequired(_)), "{err:?}");
    assert!(text.contains("DROP COLUMN"), "{text}");
    assert!(
        db.count(
            "SELECT count(*) FROM information_schema.columns WHERE column_name = 'display_name'"
        ) == 1
    );

    // Reviewed in the policy file (the file's checksum stays diesel's): it applies, with the rehearsal of
    // its DOWN and a backup first.
    let version = set
        .migrations()
        .last()
        .map(|m| m.version)
        .expect("a migration");
    let reviewed = Config {
        reviewed: vec![(version, "dba@example.com".to_string())],
        ..Config::default()
    };
    let report = db
        .boot_with(&set, reviewed)
        .expect("the reviewed migration applies");
    assert_eq!(report.applied_versions(), [version]);
    assert!(
        report.rehearsal.is_some(),
        "the new migration was rehearsed"
    );
}

/// A diesel history row the files do not have (a migration deleted, or a branch not merged) refuses the
/// boot, naming the version; nothing is adopted or run.
fn an_unknown_version_in_diesel_history_is_refused(ws: &Workspace, db: &Db) {
    let dir = ws.migrations();
    diesel_project(&dir);
    db.exec(
        "CREATE TABLE __diesel_schema_migrations (version VARCHAR(50) PRIMARY KEY, run_on TIMESTAMP)",
    );
    db.exec("INSERT INTO __diesel_schema_migrations (version) VALUES ('00000000000000'), ('20230402101500'), ('20230901000000')");
    let set = MigrationSet::from_dir(&dir).expect("reads");
    let err = db
        .boot_with(&set, Config::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("20230901000000"), "{err}");
    assert_eq!(
        db.count("SELECT count(*) FROM __diesel_schema_migrations"),
        3
    );
    // Nothing recorded: the refusal comes before migrator creates its history table.
}

/// A sqlx history row whose checksum differs from the file's (the file was edited after it ran) refuses
/// the boot with both checksums.
fn a_sqlx_checksum_mismatch_is_refused_with_both_sides(ws: &Workspace, db: &Db) {
    let dir = ws.migrations();
    std::fs::write(
        dir.join("20240101000000_create_items.sql"),
        "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL);\n",
    )
    .expect("write");
    let set = MigrationSet::from_dir(&dir).expect("reads");
    let Some(migrator_format::Original::Sqlx { checksum, .. }) = &set.migrations()[0].original
    else {
        panic!("a sqlx migration")
    };
    let bytes = if db.is_postgres() { "BYTEA" } else { "BLOB" };
    db.exec(&format!("CREATE TABLE _sqlx_migrations (version BIGINT PRIMARY KEY, description TEXT NOT NULL, installed_on TIMESTAMP, success BOOLEAN NOT NULL, checksum {bytes} NOT NULL, execution_time BIGINT NOT NULL)"));
    db.exec("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL)");
    let recorded = "ab".repeat(48);
    let literal = if db.is_postgres() {
        format!("decode('{recorded}', 'hex')")
    } else {
        format!("X'{recorded}'")
    };
    db.exec(&format!("INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES (20240101000000, 'create items', TRUE, {literal}, 1)"));
    let err = db
        .boot_with(&set, Config::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains(&recorded), "the recorded checksum: {err}");
    assert!(
        err.contains(checksum.as_ref() as &str),
        "the file's checksum: {err}"
    );
    assert_eq!(db.count("SELECT count(*) FROM _sqlx_migrations"), 1);
}

migrator_tests::both_engines!(
    an_unknown_version_in_diesel_history_is_refused,
    a_sqlx_checksum_mismatch_is_refused_with_both_sides,
);
