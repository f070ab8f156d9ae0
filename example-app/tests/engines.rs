//! The example app on every engine, with its embedded migrations and nothing else given: it migrates the
//! database (the engine's own variant set), lists the contacts, rolls issue #234 back and applies it again.

use std::process::{Command, Output};

use migrator_tests::{Db, Workspace};

const APP: &str = env!("CARGO_BIN_EXE_example-app");

fn app(target: &[String], args: &[&str]) -> Output {
    Command::new(APP)
        .args(target)
        .args(args)
        .env_remove("DATABASE_URL")
        .env_remove("EXAMPLE_APP_MIGRATIONS_DIR")
        .env("NO_COLOR", "1")
        .output()
        .expect("run example-app")
}

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn boots_lists_rolls_back_and_reapplies(target: Vec<String>, db: &Db) {
    let first = app(&target, &["add", "Grace Hopper", "grace@example.com"]);
    assert!(first.status.success(), "{}", text(&first));
    let out = String::from_utf8_lossy(&first.stdout);
    assert!(out.contains("Applied 4 migration(s)"), "{}", text(&first));
    assert!(out.contains("Grace Hopper"), "{}", text(&first));
    let again = app(&target, &[]);
    assert!(again.status.success(), "{}", text(&again));
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("nothing pending"),
        "{}",
        text(&again)
    );
    let rollback = app(
        &target,
        &["--migrate-rollback", "234", "--reason", "engine test"],
    );
    assert!(rollback.status.success(), "{}", text(&rollback));
    assert_eq!(
        db.count("SELECT count(*) FROM schema_migrations WHERE status = 'rolled_back'"),
        1
    );
    let reapply = app(&target, &["--migrate-reapply", "234"]);
    assert!(reapply.status.success(), "{}", text(&reapply));
    let listed = app(&target, &["list"]);
    assert!(listed.status.success(), "{}", text(&listed));
    assert!(String::from_utf8_lossy(&listed.stdout).contains("grace@example.com"));
    let history = app(&target, &["--migrate-history"]);
    assert!(
        String::from_utf8_lossy(&history.stdout).contains("Total: 4 migrations"),
        "{}",
        text(&history)
    );
}

#[test]
fn sqlite() {
    let ws = Workspace::new();
    let db = Db::sqlite(&ws);
    let target = vec!["--db".to_string(), ws.db_path().display().to_string()];
    boots_lists_rolls_back_and_reapplies(target, &db);
}

#[test]
fn postgres() {
    let Some(db) = Db::postgres() else { return };
    let target = vec!["--database-url".to_string(), db.url()];
    boots_lists_rolls_back_and_reapplies(target, &db);
}

#[cfg(feature = "mysql")]
#[test]
fn mysql() {
    let Some(db) = Db::mysql() else { return };
    let target = vec!["--database-url".to_string(), db.url()];
    let out = app(&target, &["--migrate-status"]);
    // The password is on the command line of this test only; the app never prints it.
    assert!(!String::from_utf8_lossy(&out.stdout).contains(migrator_tests::mysql::PASSWORD));
    boots_lists_rolls_back_and_reapplies(target, &db);
}
