//! The compile-time path: `embed_migrations!` produces exactly what the run-time parser reads, and the
//! example application's migrations apply and roll back on a real file.

use migrator::{embed_migrations, MigrationSet, Migrator, RollbackOptions, Sqlite};
use migrator_tests::{fingerprint, Workspace};

static EXAMPLE: MigrationSet = embed_migrations!("../migrations");

#[test]
fn the_macro_and_the_runtime_parser_agree() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations");
    let loaded = MigrationSet::from_dir(&dir).unwrap();
    assert_eq!(EXAMPLE.migrations(), loaded.migrations());
    assert!(EXAMPLE.len() >= 4);
    assert!(
        EXAMPLE
            .migrations()
            .iter()
            .filter_map(|m| m.issue)
            .collect::<std::collections::BTreeSet<_>>()
            .len()
            >= 3
    );
}

#[test]
fn the_example_migrations_apply_and_every_issue_rolls_back_to_the_schema_before_it() {
    let ws = Workspace::new();
    let conn = ws.open();
    let migrator = Migrator::new(&EXAMPLE);
    let mut fingerprints = vec![fingerprint(&conn)];
    // Apply one migration at a time by rolling back from the full set is awkward; instead record the
    // schema after each prefix through rollback_to, newest issue first.
    migrator.boot(&mut Sqlite::new(&conn)).unwrap();
    let full = fingerprint(&conn);
    for m in EXAMPLE.migrations().iter().rev() {
        migrator
            .rollback_issue(
                &mut Sqlite::new(&conn),
                m.issue.unwrap(),
                RollbackOptions::default(),
            )
            .unwrap();
        fingerprints.push(fingerprint(&conn));
    }
    assert!(
        fingerprint(&conn).is_empty(),
        "all rolled back: {:?}",
        fingerprint(&conn)
    );
    migrator
        .reapply_issue(&mut Sqlite::new(&conn), 187)
        .unwrap();
    migrator
        .reapply_issue(&mut Sqlite::new(&conn), 198)
        .unwrap();
    migrator
        .reapply_issue(&mut Sqlite::new(&conn), 212)
        .unwrap();
    migrator
        .reapply_issue(&mut Sqlite::new(&conn), 234)
        .unwrap();
    assert_eq!(fingerprint(&conn), full);
}
