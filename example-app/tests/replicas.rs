//! Many replicas of the example app booting at once, and a replica killed mid-migration: real processes
//! against one PostgreSQL database (the throwaway test cluster), one MariaDB database or one SQLite file.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use migrator_tests::{Db, Workspace};

const APP: &str = env!("CARGO_BIN_EXE_example-app");

/// 50 migrations; each creates a table and writes its version into `applied_once`, whose primary key
/// would make a second application of any migration fail.
fn fifty(ws: &Workspace) {
    ws.add(
        20240101000000,
        Some(1),
        "applied_once",
        "CREATE TABLE applied_once (version BIGINT PRIMARY KEY);\nINSERT INTO applied_once VALUES (20240101000000);",
        None,
    );
    for i in 1..50u64 {
        let v = 20240101000000 + i;
        ws.add(
            v,
            Some(1 + i as u32 % 7),
            &format!("t{i}"),
            &format!("CREATE TABLE t{i} (id INTEGER PRIMARY KEY, x TEXT);\nINSERT INTO t{i} (id, x) VALUES (1, 'v{i}');\nINSERT INTO applied_once VALUES ({v});"),
            Some(&format!(
                "DELETE FROM applied_once WHERE version = {v};\nDROP TABLE t{i};"
            )),
        );
    }
}

fn spawn(ws: &Workspace, target: &[&str]) -> Child {
    Command::new(APP)
        .args(target)
        .arg("--migrations-dir")
        .arg(ws.migrations())
        .env_remove("DATABASE_URL")
        .env("RUST_LOG", "migrator=info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start example-app")
}

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn sixteen_replicas(ws: &Workspace, db: &Db, target: &[&str]) {
    fifty(ws);
    let started = Instant::now();
    let children: Vec<Child> = (0..16).map(|_| spawn(ws, target)).collect();
    // Every child's pipes are drained at once: a replica whose stderr pipe filled up would block while
    // holding the lock, and the others would time out waiting for it.
    let readers: Vec<_> = children
        .into_iter()
        .map(|c| std::thread::spawn(move || c.wait_with_output().expect("wait")))
        .collect();
    let outputs: Vec<Output> = readers
        .into_iter()
        .map(|r| r.join().expect("reader thread"))
        .collect();
    let failed: Vec<String> = outputs
        .iter()
        .filter(|o| !o.status.success())
        .map(text)
        .collect();
    if !failed.is_empty() {
        let all: Vec<String> = outputs.iter().map(text).collect();
        panic!(
            "{} replica(s) failed:\n{}",
            failed.len(),
            all.join("\n----\n")
        );
    }
    // Exactly one replica applied anything, and it applied all 50; the others found nothing pending.
    let applying: Vec<&Output> = outputs
        .iter()
        .filter(|o| String::from_utf8_lossy(&o.stdout).contains("20240101000049"))
        .collect();
    assert_eq!(applying.len(), 1, "one replica migrates");
    assert_eq!(db.count("SELECT count(*) FROM applied_once"), 50);
    let history = db.history();
    assert_eq!(history.len(), 50);
    assert!(history.iter().all(|(_, s)| s == "applied"), "{history:?}");
    assert_eq!(
        db.count("SELECT count(*) FROM schema_migrations_log WHERE action = 'applied'"),
        50
    );
    assert_eq!(db.count("SELECT count(*) FROM schema_migrations_log"), 50);
    eprintln!(
        "16 replicas on {} took {:?}",
        db.engine_name(),
        started.elapsed()
    );
}

#[test]
fn sixteen_replicas_boot_one_postgres_database_and_apply_each_migration_once() {
    let ws = Workspace::new();
    let Some(db) = Db::postgres() else { return };
    let Db::Postgres(pg) = &db else {
        unreachable!()
    };
    let url = pg.url.clone();
    sixteen_replicas(&ws, &db, &["--database-url", &url]);
}

/// The same on MariaDB: `GET_LOCK` coordinates the replicas, the history row's primary key keeps each
/// migration to one application although DDL there commits as it goes.
#[cfg(feature = "mysql")]
#[test]
fn sixteen_replicas_boot_one_mysql_database_and_apply_each_migration_once() {
    let ws = Workspace::new();
    let Some(db) = Db::mysql() else { return };
    let url = db.url();
    sixteen_replicas(&ws, &db, &["--database-url", &url]);
}

#[test]
fn sixteen_replicas_boot_one_sqlite_file_and_apply_each_migration_once() {
    let ws = Workspace::new();
    let db = Db::sqlite(&ws);
    let path = ws.db_path().to_string_lossy().into_owned();
    sixteen_replicas(&ws, &db, &["--db", &path]);
}

fn wait_for(what: &str, deadline: Duration, mut check: impl FnMut() -> bool) {
    let started = Instant::now();
    while !check() {
        assert!(started.elapsed() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A replica is killed with SIGKILL while its long migration holds the advisory lock: the next replica
/// gets the lock within its deadline and completes, and nothing is half-applied.
#[test]
fn a_replica_killed_mid_migration_leaves_nothing_half_applied_and_the_next_one_completes() {
    let ws = Workspace::new();
    let Some(db) = Db::postgres() else { return };
    let Db::Postgres(pg) = &db else {
        unreachable!()
    };
    let url = pg.url.clone();
    ws.add(
        20240101000000,
        Some(1),
        "first",
        "CREATE TABLE first (id INTEGER PRIMARY KEY);",
        None,
    );
    ws.add(
        20240102000000,
        Some(2),
        "slow",
        "CREATE TABLE slow (id INTEGER PRIMARY KEY, x TEXT);\nINSERT INTO slow (id, x) VALUES (1, 'a');\nSELECT pg_sleep(3);\nINSERT INTO slow (id, x) VALUES (2, 'b');",
        None,
    );
    ws.add(
        20240103000000,
        Some(3),
        "last",
        "CREATE TABLE last (id INTEGER PRIMARY KEY);",
        None,
    );
    let mut victim = spawn(&ws, &["--database-url", &url]);
    wait_for(
        "the slow migration to start",
        Duration::from_secs(30),
        || {
            // Its `pg_sleep` under way (not the query text: pg_stat_activity keeps only its first
            // 1,024 bytes, and the statement comes after the transaction's opening and the claim).
            db.count("SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'PgSleep' AND pid <> pg_backend_pid()") > 0
        },
    );
    victim.kill().expect("SIGKILL"); // Child::kill sends SIGKILL on Unix
    let killed = victim.wait_with_output().expect("wait");
    assert!(!killed.status.success());
    // Right after the kill nothing of the slow migration is visible: it is one transaction.
    assert_eq!(
        db.count("SELECT count(*) FROM pg_tables WHERE tablename = 'slow'"),
        0
    );
    let started = Instant::now();
    let next = spawn(&ws, &["--database-url", &url, "--lock-wait", "20"])
        .wait_with_output()
        .expect("wait");
    assert!(next.status.success(), "{}", text(&next));
    eprintln!("the next replica:\n{}", text(&next));
    assert!(started.elapsed() < Duration::from_secs(20));
    // The slow migration is either applied completely (by the killed process's transaction, which the
    // server finished, or by the next replica) or not at all; here the next replica completed the set.
    let history = db.history();
    assert_eq!(
        history,
        [
            (20240101000000, "applied".to_string()),
            (20240102000000, "applied".to_string()),
            (20240103000000, "applied".to_string())
        ]
    );
    assert_eq!(
        db.rows("SELECT id, x FROM slow ORDER BY id"),
        ["1|a", "2|b"]
    );
    assert_eq!(
        db.count("SELECT count(*) FROM schema_migrations_log WHERE action = 'applied' AND version = 20240102000000"),
        1
    );
    assert!(Path::new(APP).exists());
}
