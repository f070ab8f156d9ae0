//! Measurements, not tests (each is ignored with its reason): the analyser and the rehearsal stay linear in their input.
//! Issue #11 saw `lint` take 50 s on 20,000 UPDATEs in one file and the rehearsal 93 s on 10,000 pending
//! migrations (both quadratic). Run them with
//! `cargo test --release -p migrator-tests --test scale -- --ignored --nocapture --test-threads 1`;
//! each prints its times at three sizes and the ratio of the largest to the smallest (linear: the size
//! ratio). The README reports the figures.

use std::time::{Duration, Instant};

use migrator::{Config, Migrator};
use migrator_analyse::{analyse_all, Dialect, Options};
use migrator_format::parse_file;
use migrator_tests::{Db, Workspace};

/// One migration file of `n` UPDATEs (each with a WHERE, as a data fix-up written by hand would be).
fn updates_file(n: usize) -> String {
    let mut text = String::from(
        "-- Issue: #1\n-- UP MIGRATION\nCREATE TABLE t (id BIGINT PRIMARY KEY, v TEXT);\n",
    );
    for i in 0..n {
        text.push_str(&format!("UPDATE t SET v = 'value {i}' WHERE id = {i};\n"));
    }
    text.push_str("-- DOWN MIGRATION\nDROP TABLE t;\n");
    text
}

fn median(mut runs: Vec<Duration>) -> Duration {
    runs.sort();
    runs[runs.len() / 2]
}

#[test]
#[ignore = "a measurement"]
fn lint_is_linear_in_updates_per_file() {
    let mut times = Vec::new();
    for n in [5_000, 10_000, 20_000] {
        let text = updates_file(n);
        let runs = (0..3)
            .map(|_| {
                let started = Instant::now();
                let m = parse_file("20240101000000_issue_1_fixups.sql", &text).expect("parses");
                for dialect in [Dialect::Sqlite, Dialect::Postgres] {
                    let analyses = analyse_all(std::slice::from_ref(&m), Options::new(dialect));
                    assert_eq!(analyses[0].statements.len(), n + 2, "UP and DOWN");
                }
                started.elapsed()
            })
            .collect();
        let t = median(runs);
        println!("lint of {n} UPDATEs (parse + analyse, SQLite and PostgreSQL rules): {t:.2?}");
        times.push(t);
    }
    println!(
        "20,000 / 5,000: {:.2}x the time for 4x the input",
        times[2].as_secs_f64() / times[0].as_secs_f64()
    );
}

/// The version of the `i`th migration: a minute apart from 2024-01-01 00:00 (10,000 minutes end on January 7th).
fn version(i: u64) -> u64 {
    20240101000000 + (i / 1440) * 1_000_000 + (i % 1440 / 60) * 10_000 + (i % 60) * 100
}

/// The UP and DOWN of the `i`th migration of a workload.
type Workload = fn(u64) -> (String, String);

/// Schema growth: each migration a table with an index, and its exact DOWN.
fn new_table(i: u64) -> (String, String) {
    (
        format!(
            "CREATE TABLE t{i} (id INTEGER PRIMARY KEY, x TEXT);\nCREATE INDEX t{i}_x ON t{i} (x);"
        ),
        format!("DROP INDEX t{i}_x;\nDROP TABLE t{i};"),
    )
}

/// Data fix-ups on a schema that stays small: each migration inserts a row into one of ten tables (the
/// first ten migrations create them) and its DOWN deletes it.
fn data_fixup(i: u64) -> (String, String) {
    let table = i % 10;
    if i < 10 {
        return (
            format!("CREATE TABLE d{table} (k INTEGER PRIMARY KEY, v TEXT NOT NULL);"),
            format!("DROP TABLE d{table};"),
        );
    }
    (
        format!("INSERT INTO d{table} (k, v) VALUES ({i}, 'fix-up {i}');"),
        format!("DELETE FROM d{table} WHERE k = {i};"),
    )
}

/// The same SQL the rehearsal runs (UP, DOWN, UP again of each migration), straight through rusqlite in
/// one transaction: what SQLite itself costs, the floor of any rehearsal.
fn sqlite_alone(ws: &Workspace, n: u64, workload: Workload) -> Duration {
    let mut conn = ws.open();
    let started = Instant::now();
    let tx = conn.transaction().expect("begin");
    for i in 0..n {
        let (up, down) = workload(i);
        for sql in [&up, &down, &up] {
            tx.execute_batch(sql).expect("the workload runs");
        }
    }
    tx.commit().expect("commit");
    started.elapsed()
}

fn rehearse(n: u64, workload: Workload) -> (Duration, Duration) {
    let ws = Workspace::new();
    for i in 0..n {
        let (up, down) = workload(i);
        ws.add(
            version(i),
            Some(1 + (i % 50) as u32),
            &format!("m{i}"),
            &up,
            Some(&down),
        );
    }
    let set = ws.set();
    let db = Db::sqlite(&ws);
    let config = Config {
        require_backup: false,
        ..Config::default()
    };
    let started = Instant::now();
    let rehearsal = db
        .with_backend(|e| Migrator::new(&set).with_config(config).rehearse(e))
        .expect("the rehearsal passes");
    let t = started.elapsed();
    assert!(rehearsal.findings.is_empty(), "{:?}", rehearsal.findings);
    let ups = rehearsal
        .steps
        .iter()
        .filter(|s| s.phase == migrator::RehearsalPhase::Up)
        .count();
    assert!(ups as u64 >= n, "{ups} UPs rehearsed of {n}");
    let floor = sqlite_alone(&Workspace::new(), n, workload);
    (t, floor)
}

fn rehearsal_scales(what: &str, workload: Workload) {
    let mut times = Vec::new();
    for n in [1_000, 2_500, 10_000] {
        let (t, floor) = rehearse(n, workload);
        println!(
            "rehearsal of {n} pending migrations ({what}) on SQLite (UP, DOWN, UP each): {t:.2?}; \
             the same SQL through rusqlite alone: {floor:.2?} ({:.1}x)",
            t.as_secs_f64() / floor.as_secs_f64()
        );
        times.push((t, floor));
    }
    println!(
        "10,000 / 1,000: {:.2}x the time for 10x the migrations (SQLite alone: {:.2}x)",
        times[2].0.as_secs_f64() / times[0].0.as_secs_f64(),
        times[2].1.as_secs_f64() / times[0].1.as_secs_f64()
    );
}

/// Schema growth: SQLite's own DDL re-reads its catalog (a scan of `sqlite_schema`) at every CREATE and
/// DROP, so the SQL alone grows faster than linearly with the number of tables; the rehearsal's own work
/// must stay a constant multiple of it.
#[test]
#[ignore = "a measurement"]
fn rehearsal_is_linear_in_pending_migrations() {
    rehearsal_scales("a table each", new_table);
}

/// Data fix-ups on a small schema: SQLite's work is linear, and so must the rehearsal's be.
#[test]
#[ignore = "a measurement"]
fn rehearsal_of_data_fixups_is_linear() {
    rehearsal_scales("a data fix-up each", data_fixup);
}
