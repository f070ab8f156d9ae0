//! PostgreSQL only: the advisory lock, lock timeouts and retries, no-transaction migrations with
//! `CREATE INDEX CONCURRENTLY`, and transactional rollback, on a throwaway cluster.

use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use migrator::{Config, DbErrorKind, Engine, Error, Migrator, Postgres};
use migrator_tests::{Db, Workspace};

fn pg() -> Option<(Workspace, Db)> {
    let db = Db::postgres()?;
    Some((Workspace::new(), db))
}

fn url(db: &Db) -> &str {
    match db {
        Db::Postgres(p) => &p.url,
        _ => unreachable!("a PostgreSQL test"),
    }
}

/// The default configuration without the rehearsal on a copy (which would stop these failures before
/// they reach the database): for tests of what a failure on the real database leaves behind.
fn on_the_real_database() -> Config {
    Config {
        require_test_run: false,
        ..Config::default()
    }
}

fn connect(db: &Db) -> diesel::PgConnection {
    match db {
        Db::Postgres(p) => p.connect(),
        _ => unreachable!("a PostgreSQL test"),
    }
}

#[test]
fn boot_applies_commits_each_migration_and_reboot_reads_history_only() {
    let Some((ws, db)) = pg() else { return };
    ws.add(20240101000000, Some(1), "users", "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT);\nINSERT INTO users (id, name) VALUES (1, 'it''s'), (2, E'back\\\\slash');", Some("DROP TABLE users;"));
    ws.add(
        20240102000000,
        Some(2),
        "posts",
        "CREATE TABLE posts (id INTEGER PRIMARY KEY, body TEXT DEFAULT $$a;b$$);",
        Some("DROP TABLE posts;"),
    );
    let set = ws.set();
    let report = db.boot(&set).unwrap();
    assert_eq!(report.applied_versions(), [20240101000000, 20240102000000]);
    assert_eq!(db.count("SELECT count(*) FROM users"), 2);
    let rows = db.rows("SELECT version, status, checksum, execution_ms IS NOT NULL, applied_at IS NOT NULL FROM schema_migrations ORDER BY version");
    assert_eq!(rows.len(), 2);
    assert!(
        rows[0].starts_with(&format!(
            "20240101000000|applied|{}|true|true",
            set.get(20240101000000).unwrap().checksum
        )),
        "{rows:?}"
    );
    assert_eq!(
        db.count("SELECT count(*) FROM schema_migrations_log WHERE action = 'applied'"),
        2
    );
    let again = db.boot(&set).unwrap();
    assert!(again.steps.is_empty());
    assert_eq!(again.already_applied, 2);
    // History reads back in the same shape as SQLite's.
    let history = db.with_backend(|b| Migrator::new(&set).history(b)).unwrap();
    assert_eq!(history[0].applied_at.len(), "2024-01-01 00:00:00".len());
}

#[test]
fn a_held_advisory_lock_makes_the_second_boot_wait_then_find_nothing_pending() {
    let Some((ws, db)) = pg() else { return };
    ws.add(
        20240101000000,
        Some(1),
        "slow",
        "CREATE TABLE slow (id INTEGER PRIMARY KEY);\nSELECT pg_sleep(1.5);",
        None,
    );
    ws.add(
        20240102000000,
        Some(1),
        "more",
        "CREATE TABLE more (id INTEGER PRIMARY KEY);",
        None,
    );
    let set = ws.set();
    let db = std::sync::Arc::new(db);
    let first = {
        let (db, set) = (db.clone(), set.clone());
        std::thread::spawn(move || db.boot(&set).unwrap())
    };
    std::thread::sleep(Duration::from_millis(400));
    let second = db.boot(&set).unwrap();
    let first = first.join().unwrap();
    assert_eq!(first.applied_versions().len(), 2);
    assert!(
        second.applied_versions().is_empty(),
        "the waiter re-planned under the lock"
    );
    assert_eq!(second.already_applied, 2);
    assert!(
        second.lock_wait >= Duration::from_millis(500),
        "{:?}",
        second.lock_wait
    );
    assert_eq!(
        db.count("SELECT count(*) FROM schema_migrations_log WHERE action = 'applied'"),
        2
    );
}

/// A no-transaction migration is recorded `running` while it runs, committed, where every process sees it.
/// A second boot that reads it then must not take it for an interrupted one: it waits for the lock its
/// runner holds and judges after (a flaky CI failure on MySQL, where every migration runs so, showed the
/// second runner refusing).
#[test]
fn a_second_boot_waits_for_a_no_transaction_migration_running_elsewhere() {
    let Some((ws, db)) = pg() else { return };
    let (db, set, first) = boot_a_slow_migration_elsewhere(&ws, db);
    let second = db.boot(&set).unwrap();
    let first = first.join().unwrap();
    assert_eq!(first.applied_versions(), vec![20240101000000]);
    assert!(second.applied_versions().is_empty(), "{second:?}");
    assert_eq!(second.already_applied, 1);
    assert_eq!(db.history(), [(20240101000000, "applied".to_string())]);
}

/// The read-only rehearsal (`--migrate-preview --rehearse`) judges a `running` row as the boot does: it
/// waits for the migration lock the applying process holds, then finds nothing pending, instead of
/// calling the migration interrupted.
#[test]
fn a_rehearsal_waits_for_a_no_transaction_migration_running_elsewhere() {
    let Some((ws, db)) = pg() else { return };
    let (db, set, first) = boot_a_slow_migration_elsewhere(&ws, db);
    let rehearsal = db
        .with_backend(|b| migrator::Migrator::new(&set).rehearse(b))
        .unwrap();
    assert!(rehearsal.steps.is_empty(), "{rehearsal:?}");
    assert_eq!(
        first.join().unwrap().applied_versions(),
        vec![20240101000000]
    );
    assert_eq!(db.history(), [(20240101000000, "applied".to_string())]);
}

/// A boot on another thread applying a no-transaction migration that sleeps 1.5 s in its statements,
/// returned once it has claimed it (`running`, committed).
fn boot_a_slow_migration_elsewhere(
    ws: &Workspace,
    db: Db,
) -> (
    std::sync::Arc<Db>,
    migrator::MigrationSet,
    std::thread::JoinHandle<migrator::Report>,
) {
    ws.write(
        "20240101000000_slow_table.sql",
        "-- migrator:no-transaction\n-- ============ UP MIGRATION ============\nCREATE TABLE a (id INTEGER);\nSELECT pg_sleep(1.5);\n",
    );
    let set = ws.set();
    let db = std::sync::Arc::new(db);
    let first = {
        let (db, set) = (db.clone(), set.clone());
        std::thread::spawn(move || db.boot(&set).unwrap())
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while db.count("SELECT count(*) FROM pg_tables WHERE tablename = 'schema_migrations'") == 0
        || db.count("SELECT count(*) FROM schema_migrations WHERE status = 'running'") == 0
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the boot never claimed it"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    (db, set, first)
}

#[test]
fn the_lock_wait_has_a_deadline_and_names_the_holder() {
    let Some((ws, db)) = pg() else { return };
    ws.add(
        20240101000000,
        None,
        "t",
        "CREATE TABLE t (id INTEGER PRIMARY KEY);",
        None,
    );
    let set = ws.set();
    let mut holder_conn = connect(&db);
    let mut holder = Postgres::new(&mut holder_conn, url(&db));
    let guard = holder
        .lock("schema_migrations", Duration::from_secs(60))
        .unwrap();
    let config = Config {
        lock_wait: Duration::from_millis(300),
        ..Config::default()
    };
    let started = Instant::now();
    let err = db.boot_with(&set, config.clone()).unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(matches!(err, Error::Lock { .. }), "{err}");
    let message = err.to_string();
    assert!(
        message.contains("advisory lock") && message.contains("held by pid"),
        "{message}"
    );
    drop(guard);
    assert_eq!(
        db.boot_with(&set, config).unwrap().applied_versions().len(),
        1
    );
}

/// The lock connection a boot opens ahead, beside its history reads, may be ended by the server before
/// the lock is taken (here a 300 ms `idle_session_timeout` on the connections opened from the URL): the
/// lock is taken on another one.
#[test]
fn a_lock_connection_opened_ahead_and_ended_by_the_server_is_opened_again() {
    let Some((_ws, db)) = pg() else { return };
    let short_lived = format!("{}?options=-c%20idle_session_timeout%3D300ms", url(&db));
    let mut conn = connect(&db);
    let mut backend = Postgres::new(&mut conn, short_lived);
    backend.lock_ahead();
    std::thread::sleep(Duration::from_millis(1200));
    let mut guard = backend
        .lock("schema_migrations", Duration::from_secs(5))
        .expect("the lock, on a connection opened again");
    guard.check().expect("the lock is held");
    drop(guard);
    // Released: another session takes it at once.
    let mut other = connect(&db);
    let mut backend = Postgres::new(&mut other, url(&db));
    drop(
        backend
            .lock("schema_migrations", Duration::from_millis(200))
            .expect("the lock is free again"),
    );
}

#[test]
fn the_advisory_lock_is_released_on_error_and_on_panic() {
    let Some((ws, db)) = pg() else { return };
    ws.add(
        20240101000000,
        None,
        "bad",
        "SELECT * FROM missing_table;",
        None,
    );
    let set = ws.set();
    assert!(matches!(
        db.boot_with(&set, on_the_real_database()),
        Err(Error::Migration(_))
    ));
    let quick = Config {
        lock_wait: Duration::from_millis(200),
        ..Config::default()
    };
    // A panic in the middle of a run: the drop guard unlocks.
    let db_url = url(&db).to_string();
    let panicked = std::panic::catch_unwind(|| {
        let mut conn = connect(&db);
        let mut backend = Postgres::new(&mut conn, db_url.clone());
        let _guard = backend
            .lock("schema_migrations", Duration::from_secs(60))
            .unwrap();
        panic!("host panics while migrating");
    });
    assert!(panicked.is_err());
    let mut conn = connect(&db);
    let mut backend = Postgres::new(&mut conn, url(&db));
    let guard = backend
        .lock("schema_migrations", quick.lock_wait)
        .expect("the lock is free again");
    drop(guard);
}

#[test]
fn a_lock_timeout_is_retried_with_backoff_and_succeeds_after_the_holder_commits() {
    let Some((ws, db)) = pg() else { return };
    db.exec("CREATE TABLE accounts (id INTEGER PRIMARY KEY, x TEXT)");
    ws.add(
        20240101000000,
        Some(9),
        "add_col",
        "ALTER TABLE accounts ADD COLUMN note TEXT;",
        Some("ALTER TABLE accounts DROP COLUMN note;"),
    );
    let set = ws.set();
    let mut holder = connect(&db);
    holder
        .batch_execute("BEGIN; LOCK TABLE accounts IN ACCESS EXCLUSIVE MODE;")
        .unwrap();
    let release = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(900));
        holder.batch_execute("COMMIT").unwrap();
    });
    // The backup (pg_dump) would wait for the held lock too; this test is about the migration's retries.
    let config = Config {
        lock_timeout: Duration::from_millis(150),
        lock_retries: 8,
        require_backup: false,
        // The rehearsal's copy (pg_dump) would wait for the held lock too.
        require_test_run: false,
        ..Config::default()
    };
    let started = Instant::now();
    let report = db.boot_with(&set, config).unwrap();
    release.join().unwrap();
    assert_eq!(report.applied_versions(), [20240101000000]);
    assert!(started.elapsed() >= Duration::from_millis(800));
    assert_eq!(db.count("SELECT count(*) FROM information_schema.columns WHERE table_name = 'accounts' AND column_name = 'note'"), 1);
}

/// A migration's transaction opens with one statement that sets its timeouts and takes the transaction
/// lock a successor waits on (a process whose session lock was lost may still be in its transaction):
/// that lock's wait is bounded by the `lock_timeout` set earlier in the same statement, not by the
/// session's (none here; a 10 s statement timeout stops the test if the order were otherwise).
#[test]
fn the_transaction_lock_waits_only_as_long_as_the_lock_timeout_set_beside_it() {
    let Some((_ws, db)) = pg() else { return };
    let opening = db.with_backend(|e| e.opening_sql(Duration::from_millis(300), None, true));
    assert!(
        opening.starts_with("SELECT set_config('lock_timeout', '300ms', true)")
            && opening.contains("pg_advisory_xact_lock"),
        "{opening}"
    );
    let mut holder = connect(&db);
    holder.batch_execute(&format!("BEGIN; {opening}")).unwrap();
    let mut successor = connect(&db);
    successor
        .batch_execute("SET lock_timeout = 0; SET statement_timeout = '10s'; BEGIN;")
        .unwrap();
    let started = Instant::now();
    let err = successor.batch_execute(&opening).unwrap_err().to_string();
    let waited = started.elapsed();
    assert!(err.contains("lock timeout"), "{err}");
    assert!(
        waited >= Duration::from_millis(250) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
    successor.batch_execute("ROLLBACK").unwrap();
    // Once the holder's transaction ends, the same statement takes the lock at once.
    holder.batch_execute("COMMIT").unwrap();
    successor
        .batch_execute(&format!("BEGIN; {opening} COMMIT;"))
        .unwrap();
}

#[test]
fn a_lock_timeout_that_outlasts_the_retries_fails_cleanly_naming_the_lock() {
    let Some((ws, db)) = pg() else { return };
    db.exec("CREATE TABLE accounts (id INTEGER PRIMARY KEY, x TEXT)");
    ws.add(
        20240101000000,
        Some(9),
        "add_col",
        "CREATE TABLE audit (id INTEGER PRIMARY KEY);\nALTER TABLE accounts ADD COLUMN note TEXT;",
        None,
    );
    let set = ws.set();
    let before = db.fingerprint();
    let mut holder = connect(&db);
    holder.batch_execute("SET application_name = 'long_report'; BEGIN; LOCK TABLE accounts IN ACCESS EXCLUSIVE MODE;").unwrap();
    let config = Config {
        lock_timeout: Duration::from_millis(100),
        lock_retries: 2,
        require_backup: false,
        // The rehearsal's copy (pg_dump) would wait for the held lock too.
        require_test_run: false,
        ..Config::default()
    };
    let err = db.boot_with(&set, config).unwrap_err();
    let Error::Migration(failure) = &err else {
        panic!("{err}")
    };
    assert_eq!(failure.statement_index, 2, "{err}");
    let message = err.to_string();
    for needle in [
        "lock timeout",
        "3 attempt(s)",
        "AccessExclusiveLock on accounts held by pid",
        "long_report",
        "PostgreSQL said",
    ] {
        assert!(
            message.contains(needle),
            "missing {needle:?} in:\n{message}"
        );
    }
    holder.batch_execute("COMMIT").unwrap();
    assert_eq!(db.fingerprint(), before, "nothing of the migration is left");
    assert_eq!(db.history(), [(20240101000000, "failed".to_string())]);
    // The next boot retries it (a failed transactional migration left nothing to undo).
    assert_eq!(db.boot(&set).unwrap().applied_versions(), [20240101000000]);
}

#[test]
fn a_failing_transactional_migration_rolls_back_its_ddl() {
    let Some((ws, db)) = pg() else { return };
    ws.add(
        20240101000000,
        None,
        "base",
        "CREATE TABLE t (id INTEGER PRIMARY KEY, x TEXT);",
        None,
    );
    db.boot(&ws.set()).unwrap();
    let before = (db.fingerprint(), db.data_dump());
    ws.add(20240102000000, None, "bad", "CREATE TABLE u (id INTEGER PRIMARY KEY);\nALTER TABLE t ADD COLUMN y INTEGER;\nINSERT INTO t (id, x) VALUES (1, 'a');\nCREATE INDEX t_x ON t (x);\nINSERT INTO t (id, x) VALUES (1, 'dup');", None);
    let err = db.boot_with(&ws.set(), on_the_real_database()).unwrap_err();
    let Error::Migration(failure) = &err else {
        panic!("{err}")
    };
    assert_eq!(
        (failure.statement_index, failure.statement_count),
        (5, 5),
        "{err}"
    );
    assert!(failure.db_error.message.contains("duplicate key"), "{err}");
    assert_eq!((db.fingerprint(), db.data_dump()), before);
}

#[test]
fn create_index_concurrently_runs_in_a_no_transaction_migration() {
    let Some((ws, db)) = pg() else { return };
    ws.add(20240101000000, None, "t", "CREATE TABLE t (id INTEGER PRIMARY KEY, x TEXT);\nINSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 1000) g;", None);
    ws.write(
        "20240102000000_idx.sql",
        "-- migrator:no-transaction\n-- ============ UP MIGRATION ============\nCREATE INDEX CONCURRENTLY t_x ON t (x);\nCREATE UNIQUE INDEX CONCURRENTLY t_x_id ON t (x, id);\n-- ============ DOWN MIGRATION ============\nDROP INDEX CONCURRENTLY t_x_id;\nDROP INDEX CONCURRENTLY t_x;\n",
    );
    let set = ws.set();
    assert_eq!(db.boot(&set).unwrap().applied_versions().len(), 2);
    assert_eq!(db.history()[1], (20240102000000, "applied".into()));
    assert_eq!(
        db.count("SELECT count(*) FROM pg_index WHERE indrelid = 't'::regclass AND indisvalid"),
        3
    );
    // Its DOWN runs statement by statement too (DROP INDEX CONCURRENTLY outside a transaction).
    db.with_backend(|b| {
        Migrator::new(&set)
            .rollback_to(b, 20240101000000, migrator::RollbackOptions::default())
            .unwrap();
    });
    assert_eq!(
        db.count("SELECT count(*) FROM pg_index WHERE indrelid = 't'::regclass"),
        1
    );
}

#[test]
fn a_failed_concurrent_build_leaves_an_invalid_index_which_is_reported_and_blocks_the_next_boot() {
    let Some((ws, db)) = pg() else { return };
    ws.add(20240101000000, None, "t", "CREATE TABLE t (id INTEGER PRIMARY KEY, x TEXT);\nINSERT INTO t VALUES (1, 'same'), (2, 'same');", None);
    ws.write(
        "20240102000000_unique.sql",
        "-- migrator:no-transaction\n-- ============ UP MIGRATION ============\nCREATE UNIQUE INDEX CONCURRENTLY t_x_unique ON t (x);\n",
    );
    let set = ws.set();
    let err = db.boot_with(&set, on_the_real_database()).unwrap_err();
    let message = err.to_string();
    for needle in [
        "statement 1 of 1",
        "INVALID index",
        "t_x_unique (on t)",
        "DROP INDEX CONCURRENTLY",
    ] {
        assert!(
            message.contains(needle),
            "missing {needle:?} in:\n{message}"
        );
    }
    assert_eq!(db.history()[1], (20240102000000, "failed".into()));
    let message = db.boot(&set).unwrap_err().to_string();
    assert!(
        message.contains("recorded as failed") && message.contains("--migrate-mark 20240102000000"),
        "{message}"
    );
}

#[test]
fn an_interrupted_no_transaction_migration_is_left_running_and_blocks_the_boot() {
    let Some((ws, db)) = pg() else { return };
    ws.write(
        "20240102000000_half.sql",
        "-- migrator:no-transaction\n-- ============ UP MIGRATION ============\nCREATE TABLE a (id INTEGER);\n",
    );
    let set = ws.set();
    // What a process killed between the statements leaves: the committed `running` row.
    db.exec("CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, issue_number INTEGER, applied_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP, checksum TEXT, status TEXT NOT NULL DEFAULT 'applied', execution_ms BIGINT, rolled_back_at TIMESTAMPTZ, error TEXT)");
    db.exec(&format!("INSERT INTO schema_migrations (version, name, checksum, status) VALUES (20240102000000, 'half', '{}', 'running')", set.get(20240102000000).unwrap().checksum));
    let message = db.boot(&set).unwrap_err().to_string();
    assert!(message.contains("recorded as running"), "{message}");
    db.with_backend(|b| {
        Migrator::new(&set).mark(b, 20240102000000, migrator::Status::Applied, false)
    })
    .unwrap();
    assert!(db.boot(&set).unwrap().steps.is_empty());
}

/// A measurement, not a check: `cargo test -p migrator-tests --test postgres -- --ignored --nocapture`.
#[test]
#[ignore = "a measurement, not a check: run with -- --ignored --nocapture"]
fn measure_apply_and_boot_check_of_1000() {
    let Some((ws, db)) = pg() else { return };
    for i in 0..1000u64 {
        ws.add(
            20240101000000 + i / 60 * 100 + i % 60,
            Some(1),
            &format!("t{i}"),
            &format!("CREATE TABLE t{i} (id INTEGER PRIMARY KEY, x TEXT);\nCREATE INDEX t{i}_x ON t{i} (x);"),
            None,
        );
    }
    let set = ws.set();
    let mut conn = connect(&db);
    let started = Instant::now();
    Migrator::new(&set)
        .boot(&mut Postgres::new(&mut conn, url(&db)))
        .unwrap();
    eprintln!("apply 1000: {:?}", started.elapsed());
    let mut backend = Postgres::new(&mut conn, url(&db));
    let mut best = Duration::MAX;
    for _ in 0..20 {
        let started = Instant::now();
        Migrator::new(&set).boot(&mut backend).unwrap();
        best = best.min(started.elapsed());
    }
    eprintln!("boot check at 1000 (best of 20): {best:?}");
}

/// The spec's example file, byte for byte, applies embedded on PostgreSQL over a base schema that has
/// `contacts` and `update_updated_at_column()`, with no double history insert and no nested transaction,
/// and its DOWN restores the schema.
#[test]
fn the_spec_example_file_applies_verbatim_and_rolls_back() {
    let Some((ws, db)) = pg() else { return };
    ws.add(
        20240101000000,
        Some(187),
        "base",
        "CREATE TABLE contacts (id UUID PRIMARY KEY DEFAULT gen_random_uuid(), name TEXT NOT NULL);\nCREATE FUNCTION update_updated_at_column() RETURNS trigger LANGUAGE plpgsql AS $$\nBEGIN\n    NEW.updated_at = NOW();\n    RETURN NEW;\nEND;\n$$;\nINSERT INTO contacts (name) SELECT 'c' || g FROM generate_series(1, 50) g;",
        Some("DROP TABLE contacts;\nDROP FUNCTION update_updated_at_column();"),
    );
    let set = ws.set();
    db.boot(&set).unwrap();
    let before = db.fingerprint();
    ws.write(
        "20240115143022_issue_234_contact_enrichment.sql",
        include_str!("../migrator/tool/tests/fixtures/spec-example-234.sql"),
    );
    let set = ws.set();
    let report = db.boot(&set).unwrap();
    assert_eq!(report.applied_versions(), [20240115143022]);
    assert_eq!(
        db.count("SELECT count(*) FROM schema_migrations WHERE version = 20240115143022"),
        1
    );
    assert_eq!(
        db.count("SELECT count(*) FROM contacts WHERE enrichment_status = 'pending'"),
        50
    );
    let migrator = Migrator::new(&set);
    db.with_backend(|b| migrator.rollback_issue(b, 234, migrator::RollbackOptions::default()))
        .unwrap();
    assert_eq!(db.fingerprint(), before);
    assert_eq!(
        db.history().last().map(|(_, s)| s.clone()),
        Some("rolled_back".to_string())
    );
}

/// CONCURRENTLY in a transactional migration fails cleanly and the message says how to mark the file.
#[test]
fn concurrently_inside_a_transaction_says_to_mark_the_file_no_transaction() {
    let Some((ws, db)) = pg() else { return };
    ws.add(
        20240101000000,
        None,
        "t",
        "CREATE TABLE t (x INTEGER);",
        Some("DROP TABLE t;"),
    );
    ws.add(
        20240102000000,
        None,
        "idx",
        "CREATE INDEX CONCURRENTLY idx_t_x ON t (x);",
        Some("DROP INDEX idx_t_x;"),
    );
    let message = db
        .boot_with(&ws.set(), on_the_real_database())
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("cannot run inside a transaction block"),
        "{message}"
    );
    assert!(message.contains("-- migrator:no-transaction"), "{message}");
    assert_eq!(
        db.history(),
        [
            (20240101000000, "applied".to_string()),
            (20240102000000, "failed".to_string())
        ]
    );
}

/// What the peers do: apply and record, no backup, no rehearsal.
fn apply_only() -> Config {
    Config {
        require_backup: false,
        require_test_run: false,
        ..Config::default()
    }
}

fn add_tables(ws: &Workspace, from: u64, to: u64) {
    for i in from..=to {
        ws.add(
            20240101000000 + i,
            Some(i as u32),
            &format!("t{i}"),
            &format!("CREATE TABLE t{i} (id INTEGER PRIMARY KEY, name TEXT);\nCREATE INDEX t{i}_name ON t{i} (name);"),
            Some(&format!("DROP TABLE t{i};")),
        );
    }
}

/// The transactions that wrote the history rows of `versions`: `applied_at` is the start time of the
/// transaction that applied the migration (`CURRENT_TIMESTAMP`, in microseconds). (A row's `xmin` would not
/// tell: a savepoint is a subtransaction with an id of its own.)
fn writers(db: &Db, versions: &str) -> i64 {
    db.count(&format!(
        "SELECT count(DISTINCT applied_at) FROM schema_migrations WHERE version IN ({versions})"
    ))
}

#[test]
fn a_fresh_database_is_migrated_in_one_transaction_and_a_live_one_a_transaction_per_migration() {
    let Some((ws, db)) = pg() else { return };
    add_tables(&ws, 1, 4);
    let report = db.boot_with(&ws.set(), apply_only()).unwrap();
    assert_eq!(report.applied_versions().len(), 4);
    // No application table yet: the four migrations and their history and log rows were written by one
    // transaction.
    let all = "20240101000001, 20240101000002, 20240101000003, 20240101000004";
    assert_eq!(writers(&db, all), 1);
    assert_eq!(
        db.count("SELECT count(DISTINCT at) FROM schema_migrations_log WHERE action = 'applied'"),
        1
    );
    assert!(db.count("SELECT min(execution_ms) FROM schema_migrations") >= 0);
    // Now the database holds tables: each further migration commits on its own.
    add_tables(&ws, 5, 7);
    db.boot_with(&ws.set(), apply_only()).unwrap();
    assert_eq!(
        writers(&db, "20240101000005, 20240101000006, 20240101000007"),
        3
    );
    assert_eq!(writers(&db, &format!("{all}, 20240101000005")), 2);
    assert_eq!(db.history().len(), 7);
}

#[test]
fn a_failure_in_a_fresh_database_run_keeps_the_migrations_before_it_and_nothing_of_itself_as_on_a_live_one(
) {
    let Some((ws, db)) = pg() else { return };
    add_tables(&ws, 1, 2);
    ws.add(
        20240101000003,
        Some(3),
        "bad",
        "CREATE TABLE t3 (id INTEGER PRIMARY KEY);\nINSERT INTO t3 VALUES (1);\nINSERT INTO no_such_table VALUES (1);",
        Some("DROP TABLE t3;"),
    );
    add_tables(&ws, 4, 4);
    let err = db.boot_with(&ws.set(), apply_only()).unwrap_err();
    let Error::Migration(failure) = &err else {
        panic!("{err}")
    };
    assert_eq!(failure.version, 20240101000003, "{err}");
    assert_eq!(
        (failure.statement_index, failure.statement_count),
        (3, 3),
        "{err}"
    );
    assert_eq!(failure.completed, [20240101000001, 20240101000002], "{err}");
    assert_eq!(
        db.history(),
        [
            (20240101000001, "applied".to_string()),
            (20240101000002, "applied".to_string()),
            (20240101000003, "failed".to_string())
        ]
    );
    // The run's one transaction was rolled back at the failure and the migrations applied again, a
    // transaction each, as on a live database: 1 and 2 committed apart, 3 failed and recorded.
    assert_eq!(writers(&db, "20240101000001, 20240101000002"), 2);
    assert_eq!(
        db.count("SELECT count(*) FROM schema_migrations_log WHERE action = 'applied'"),
        2
    );
    assert_eq!(
        db.count("SELECT count(*) FROM pg_tables WHERE tablename IN ('t1', 't2', 't3', 't4')"),
        2
    );
    assert_eq!(
        db.count("SELECT count(*) FROM schema_migrations_log WHERE action = 'up_failed' AND version = 20240101000003"),
        1
    );
    // Fixed, it applies at the next boot (a transaction per migration now: the database holds tables).
    ws.add(
        20240101000003,
        Some(3),
        "bad",
        "CREATE TABLE t3 (id INTEGER PRIMARY KEY);\nINSERT INTO t3 VALUES (1);",
        Some("DROP TABLE t3;"),
    );
    let report = db.boot_with(&ws.set(), apply_only()).unwrap();
    assert_eq!(report.applied_versions(), [20240101000003, 20240101000004]);
}

/// Another process commits the history row of a pending migration while this boot's claim waits for it:
/// the claim, sent in the same round trip as the migration's statements, stops the batch before any of
/// them runs (a sequence's `nextval`, which no rollback undoes, stays untouched), and the boot goes on
/// with the next migration. On a fresh database (one run transaction) and on a live one.
fn a_claim_lost_to_another_process_runs_nothing(live: bool) {
    let Some((ws, db)) = pg() else { return };
    let first = ws.add(
        20240101000001,
        Some(1),
        "sequence",
        "CREATE SEQUENCE ticks;",
        None,
    );
    db.boot_with(&ws.set(), apply_only()).unwrap();
    if live {
        db.exec("CREATE TABLE app_data (id INTEGER)");
    } else {
        // Fresh: a history that holds no applied migration (a boot whose history does is live without
        // asking). The sequence stays; its migration is forgotten.
        ws.remove(&first);
        db.exec("DELETE FROM schema_migrations; DELETE FROM schema_migrations_log");
    }
    ws.add(
        20240101000002,
        Some(2),
        "tick",
        "SELECT nextval('ticks');",
        None,
    );
    add_tables(&ws, 3, 3);
    let set = ws.set();
    let other = set.get(20240101000002).unwrap();
    let mut conn = connect(&db);
    conn.batch_execute(&format!(
        "BEGIN; INSERT INTO schema_migrations (version, name, issue_number, checksum, status) VALUES (20240101000002, 'tick', 2, '{}', 'applied')",
        other.checksum
    ))
    .unwrap();
    let report = std::thread::scope(|scope| {
        let boot = scope.spawn(|| {
            db.boot_with(
                &set,
                Config {
                    lock_timeout: Duration::from_secs(30),
                    ..apply_only()
                },
            )
        });
        let started = Instant::now();
        // The claim waits for the other transaction's row: a transaction-id lock not granted. (Not the
        // query text: pg_stat_activity keeps its first 1,024 bytes, and the claim comes after the
        // transaction's opening.)
        while db.count("SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE a.datname = current_database() AND l.locktype = 'transactionid' AND NOT l.granted") == 0 {
            assert!(started.elapsed() < Duration::from_secs(20), "the claim never waited");
            std::thread::sleep(Duration::from_millis(20));
        }
        conn.batch_execute("COMMIT").unwrap();
        boot.join().unwrap()
    })
    .unwrap();
    assert_eq!(
        report
            .steps
            .iter()
            .map(|s| (s.version, s.outcome.clone()))
            .collect::<Vec<_>>(),
        [
            (20240101000002, migrator::Outcome::DoneElsewhere),
            (20240101000003, migrator::Outcome::Applied)
        ]
    );
    assert_eq!(
        db.count(
            "SELECT count(*) FROM pg_sequences WHERE sequencename = 'ticks' AND last_value IS NULL"
        ),
        1,
        "the statements of the lost claim did not run"
    );
    assert_eq!(
        db.count("SELECT count(*) FROM schema_migrations_log WHERE version = 20240101000002"),
        0
    );
    assert_eq!(db.history().len(), if live { 3 } else { 2 });
}

#[test]
fn a_claim_lost_to_another_process_runs_nothing_on_a_fresh_database() {
    a_claim_lost_to_another_process_runs_nothing(false);
}

#[test]
fn a_claim_lost_to_another_process_runs_nothing_on_a_live_database() {
    a_claim_lost_to_another_process_runs_nothing(true);
}

/// A fresh database whose pending migrations create and fill a table, then backfill it: the run's one
/// transaction commits before the backfill claims its row (in a transaction of its own), so the server
/// never sees a `BEGIN` inside a transaction or a `COMMIT` outside one, and every row is updated once.
#[test]
fn a_backfill_after_ddl_on_a_fresh_database_commits_the_run_transaction_first() {
    use migrator::backfill::BackfillMode;
    use migrator_tests::items::{self, AFTER, BACKFILL, BACKFILL_UP};
    let Some((ws, db)) = pg() else { return };
    let Db::Postgres(pg) = &db else {
        unreachable!("a PostgreSQL test")
    };
    ws.add(
        items::FIRST,
        Some(17),
        "items_table",
        "CREATE TABLE items (id INTEGER PRIMARY KEY, kind VARCHAR(10) NOT NULL, label VARCHAR(40) NOT NULL, n INTEGER NOT NULL DEFAULT 0);\n\
         INSERT INTO items (id, kind, label) SELECT i, CASE WHEN i % 10 = 3 THEN 'skip' ELSE 'item' END, 'item-' || i FROM generate_series(1, 2000) AS i;",
        Some("DROP TABLE items;"),
    );
    items::add_backfill(&ws, BACKFILL, "batch=300", BACKFILL_UP);
    ws.add(
        AFTER,
        Some(17),
        "items_label_index",
        "CREATE INDEX items_label ON items (label);",
        Some("DROP INDEX items_label;"),
    );
    let report = db
        .boot_with(&ws.set(), items::config(BackfillMode::Inline))
        .unwrap();
    let outcomes: Vec<_> = report
        .steps
        .iter()
        .map(|s| (s.version, s.outcome.clone()))
        .collect();
    assert_eq!(
        outcomes,
        [
            (items::FIRST, migrator::Outcome::Applied),
            (BACKFILL, migrator::Outcome::Backfilled),
            (AFTER, migrator::Outcome::Applied)
        ]
    );
    assert_eq!(db.history().len(), 3);
    assert_eq!(
        db.count("SELECT count(*) FROM items WHERE n = 1 AND label = upper(label)"),
        1800
    );
    assert_eq!(
        db.count("SELECT count(*) FROM items WHERE n <> 0 AND kind = 'skip'"),
        0
    );
    // The first boot's one server error: its boot check read the history table before it existed (the
    // plan before the lock takes that answer instead of reading the missing table again).
    let errors: Vec<String> = pg
        .server_messages()
        .into_iter()
        .filter(|m| m.starts_with("ERROR"))
        .collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("schema_migrations"), "{errors:?}");
    let warnings: Vec<String> = pg
        .server_messages()
        .into_iter()
        .filter(|m| m.starts_with("WARNING"))
        .collect();
    assert_eq!(warnings, Vec::<String>::new());
    // The next boot with a pending migration makes the server log nothing either: the other tools'
    // history tables are looked up, not queried into an error.
    let before = pg.server_messages().len();
    ws.add(
        20250304000000,
        Some(18),
        "notes",
        "CREATE TABLE notes (id INTEGER PRIMARY KEY);",
        Some("DROP TABLE notes;"),
    );
    db.boot_with(&ws.set(), items::config(BackfillMode::Inline))
        .unwrap();
    assert_eq!(pg.server_messages()[before..], [] as [String; 0]);
}

/// Before a rollback asks for confirmation, the catalog rules out the dropped tables that hold no row
/// (an ordinary table with no page, a name that is no table) and the rest are counted: rows in a
/// partition, in an inherited table, in a plain table are named; a table whose rows were all deleted
/// (pages, no row) is counted and not named.
#[test]
fn the_rollback_confirmation_counts_every_table_the_catalog_cannot_rule_out() {
    let Some((ws, db)) = pg() else { return };
    ws.add(
        20240101000000,
        Some(1),
        "tables",
        "CREATE TABLE events (id INT, at DATE NOT NULL) PARTITION BY RANGE (at);
CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
INSERT INTO events VALUES (1, '2024-05-01');
CREATE TABLE parent (id INT);
CREATE TABLE child () INHERITS (parent);
INSERT INTO child VALUES (1), (2);
CREATE TABLE emptied (id INT);
INSERT INTO emptied VALUES (1);
DELETE FROM emptied WHERE id = 1;
CREATE TABLE never_filled (id INT);
CREATE TABLE \"Mixed\" (id INT);
CREATE TABLE kept_rows (id INT);
INSERT INTO kept_rows VALUES (1), (2), (3);",
        Some("DROP TABLE events;\nDROP TABLE parent CASCADE;\nDROP TABLE emptied;\nDROP TABLE never_filled;\nDROP TABLE \"Mixed\";\nDROP TABLE kept_rows;\nDROP TABLE IF EXISTS gone;"),
    );
    let set = ws.set();
    db.boot(&set).unwrap();
    let names = [
        "events",
        "parent",
        "emptied",
        "never_filled",
        "Mixed",
        "kept_rows",
        "gone",
    ]
    .map(String::from);
    let mut conn = connect(&db);
    let empty = Postgres::new(&mut conn, url(&db))
        .stats()
        .unwrap()
        .known_empty(&names)
        .unwrap();
    assert_eq!(
        empty,
        Some(vec![false, false, false, true, true, false, true])
    );
    let before = db.fingerprint();
    let err = db
        .with_backend(|b| {
            Migrator::new(&set).rollback_to(b, 0, migrator::RollbackOptions::default())
        })
        .unwrap_err();
    assert!(matches!(err, Error::NeedsConfirmation(_)), "{err}");
    let message = err.to_string();
    for named in ["events (1 rows)", "parent (2 rows)", "kept_rows (3 rows)"] {
        assert!(message.contains(named), "{named}: {message}");
    }
    for not_named in ["emptied", "never_filled", "Mixed", "gone"] {
        assert!(!message.contains(not_named), "{not_named}: {message}");
    }
    assert_eq!(db.fingerprint(), before, "nothing ran");
}

/// A migration that cannot get its locks on history's own table (another session holds it in SHARE mode:
/// a report, a hand-run `LOCK TABLE`) fails after its retries, and the record of that failure, written
/// after the migration's transaction is gone, waits no longer than the lock timeout either: the boot
/// returns the error in time instead of waiting as long as the holder does (here up to 20 s).
#[test]
fn recording_a_failure_waits_no_longer_than_the_lock_timeout() {
    let Some((ws, db)) = pg() else { return };
    let config = || Config {
        lock_timeout: Duration::from_millis(100),
        lock_retries: 1,
        require_backup: false,
        require_test_run: false,
        ..Config::default()
    };
    ws.add(
        20240101000000,
        Some(9),
        "first",
        "CREATE TABLE first_table (id INTEGER PRIMARY KEY);",
        None,
    );
    db.boot_with(&ws.set(), config()).unwrap();
    ws.add(
        20240102000000,
        Some(9),
        "second",
        "CREATE TABLE second_table (id INTEGER PRIMARY KEY);",
        None,
    );
    let mut holder = connect(&db);
    holder
        .batch_execute("SET application_name = 'history_report'; BEGIN; LOCK TABLE schema_migrations IN SHARE MODE;")
        .unwrap();
    let (release, released) = std::sync::mpsc::channel::<()>();
    let holding = std::thread::spawn(move || {
        let _ = released.recv_timeout(Duration::from_secs(20));
        holder.batch_execute("COMMIT").unwrap();
    });
    let started = Instant::now();
    let err = db.boot_with(&ws.set(), config()).unwrap_err();
    let took = started.elapsed();
    let _ = release.send(());
    holding.join().unwrap();
    assert!(err.to_string().contains("lock timeout"), "{err}");
    assert!(
        took < Duration::from_secs(10),
        "the boot returned after {took:?}, waiting for the holder"
    );
    // Once the holder is gone, the migration applies.
    assert_eq!(
        db.boot_with(&ws.set(), config())
            .unwrap()
            .applied_versions(),
        [20240102000000]
    );
}

/// Two tables, a migration that alters `orders` then `invoices`, and an application session (with a
/// long `deadlock_timeout`, so that the server ends the migration's side) in a transaction that holds a
/// row of `invoices`.
fn deadlock_setup(ws: &Workspace, db: &Db) -> migrator_tests::OtherSession {
    db.exec("CREATE TABLE orders (id INTEGER PRIMARY KEY); CREATE TABLE invoices (id INTEGER PRIMARY KEY)");
    ws.add(
        20240101000000,
        Some(9),
        "notes",
        "ALTER TABLE orders ADD COLUMN note TEXT;\nALTER TABLE invoices ADD COLUMN note TEXT;",
        None,
    );
    let app = migrator_tests::OtherSession::open(db);
    app.run("SET deadlock_timeout = '60s'").unwrap();
    app.run("BEGIN").unwrap();
    app.run("INSERT INTO invoices (id) VALUES (1)").unwrap();
    app
}

/// A migration and an application transaction that lock two tables in opposite orders: PostgreSQL breaks
/// the deadlock by ending the migration's transaction (it waited first; the application's session has a
/// long `deadlock_timeout`), and the migration is rolled back and retried like a lock timeout, not
/// failed: the application goes on, and the migration applies once the application commits.
#[test]
fn a_migration_ended_to_break_a_deadlock_is_retried() {
    let Some((ws, db)) = pg() else { return };
    let app = deadlock_setup(&ws, &db);
    let config = Config {
        require_backup: false,
        require_test_run: false,
        ..Config::default()
    };
    let set = ws.set();
    std::thread::scope(|s| {
        let boot = s.spawn(|| db.boot_with(&set, config.clone()));
        migrator_tests::OtherSession::wait_for(
            &db,
            "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE NOT l.granted AND c.relname = 'invoices'",
            "the migration holding orders and waiting for invoices",
        );
        let asked = app.run("SELECT count(*) FROM orders");
        assert!(
            asked.is_ok(),
            "the application's transaction was ended instead of the migration: {asked:?}"
        );
        app.run("COMMIT").unwrap();
        let report = boot.join().unwrap().unwrap();
        assert_eq!(report.applied_versions(), [20240101000000]);
    });
    assert_eq!(
        db.count("SELECT count(*) FROM information_schema.columns WHERE column_name = 'note'"),
        2
    );
    assert_eq!(
        db.count("SELECT count(*) FROM schema_migrations_log WHERE action = 'up_failed'"),
        0
    );
    // The retry, sent a statement at a time, recorded its row with a duration and its log row.
    assert_eq!(
        db.count("SELECT count(*) FROM schema_migrations WHERE status = 'applied' AND execution_ms IS NOT NULL"),
        1
    );
    assert_eq!(
        db.count("SELECT count(*) FROM schema_migrations_log WHERE action = 'applied' AND duration_ms IS NOT NULL"),
        1
    );
}

/// The same deadlock on every attempt, until the retries run out: the failure names the statement that
/// was waiting (the second), although replaying the statements afterwards meets no deadlock. The retry
/// goes a statement at a time for that.
#[test]
fn a_deadlock_on_every_attempt_names_its_statement() {
    let Some((ws, db)) = pg() else { return };
    let app = deadlock_setup(&ws, &db);
    let config = Config {
        require_backup: false,
        require_test_run: false,
        lock_retries: 1,
        lock_timeout: Duration::from_secs(30),
        ..Config::default()
    };
    let waiting = "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE NOT l.granted AND c.relname = 'invoices'";
    let set = ws.set();
    let err = std::thread::scope(|s| {
        let boot = s.spawn(|| db.boot_with(&set, config.clone()));
        for attempt in ["first", "second"] {
            migrator_tests::OtherSession::wait_for(&db, waiting, attempt);
            // The application waits for `orders`, which the migration holds: the server ends the
            // migration's transaction. The savepoint lets the application drop its lock on `orders`
            // again, so that the retry meets the same deadlock.
            app.run("SAVEPOINT s").unwrap();
            app.run("SELECT count(*) FROM orders").unwrap();
            if attempt == "first" {
                app.run("ROLLBACK TO SAVEPOINT s").unwrap();
            }
        }
        app.run("COMMIT").unwrap();
        boot.join().unwrap().unwrap_err()
    });
    let Error::Migration(failure) = &err else {
        panic!("{err}")
    };
    assert_eq!(failure.db_error.kind, DbErrorKind::Conflict, "{err}");
    assert_eq!(
        (failure.statement_index, failure.statement_count),
        (2, 2),
        "{err}"
    );
    assert!(failure.sql.contains("invoices"), "{err}");
    let text = err.to_string();
    assert!(text.contains("deadlock"), "{err}");
    assert!(
        text.contains("needs a change: other transactions held it up"),
        "a deadlock is not the file's fault: {err}"
    );
    assert!(!text.contains("fix the statement"), "{err}");
    assert_eq!(
        db.count("SELECT count(*) FROM information_schema.columns WHERE column_name = 'note'"),
        0
    );
}

/// A database with one migration applied (and its table): a live one.
fn live_with_one_applied() -> Option<(Workspace, Db)> {
    let (ws, db) = pg()?;
    add_tables(&ws, 1, 1);
    db.boot_with(&ws.set(), apply_only()).unwrap();
    Some((ws, db))
}

/// Whether the database holds a relation (table, index, ...) of that name.
fn has_relation(db: &Db, name: &str) -> bool {
    db.count(&format!(
        "SELECT count(*) FROM pg_class WHERE relname = '{name}'"
    )) > 0
}

/// History as [`Db::history`] returns it.
fn statuses(rows: &[(u64, &str)]) -> Vec<(u64, String)> {
    rows.iter().map(|(v, s)| (*v, s.to_string())).collect()
}

/// What a migration's transaction sees of the lock: connections open for the migration lock, advisory
/// locks held by the migration's own backend, and of those the ones on the migration lock's key as the
/// server computes it (`sha256` of `current_database() || '/schema_migrations'`).
const LOCK_SEEN: &str = "SELECT (SELECT count(*) FROM pg_stat_activity WHERE application_name = 'migrator lock' AND datname = current_database()) AS lock_connections, (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()) AS own_advisory, (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND ((classid::bigint << 32) | objid::bigint) = ('x' || left(encode(sha256(convert_to(current_database() || '/schema_migrations', 'UTF8')), 'hex'), 16))::bit(64)::bigint) AS own_on_the_key";

fn add_lock_seen(ws: &Workspace, i: u64) {
    ws.add(
        20240101000000 + i,
        Some(i as u32),
        &format!("seen{i}"),
        &format!("CREATE TABLE seen{i} AS {LOCK_SEEN};"),
        Some(&format!("DROP TABLE seen{i};")),
    );
}

/// A boot on a live database with no backup or rehearsal to take first is a short run: it opens no
/// connection for the lock; each migration's transaction takes the migration lock itself (a
/// transaction-level advisory lock on the session lock's key, computed by the client to the same
/// number as the server's expression, and no other). With a backup to take, the run holds the lock on a
/// connection of its own, and each transaction the per-transaction lock a successor waits on.
#[test]
fn a_short_run_locks_in_each_migrations_transaction_and_opens_no_lock_connection() {
    let Some((ws, db)) = live_with_one_applied() else {
        return;
    };
    add_lock_seen(&ws, 2);
    add_lock_seen(&ws, 3);
    let report = db.boot_with(&ws.set(), apply_only()).unwrap();
    assert_eq!(report.applied_versions().len(), 2);
    assert_eq!(report.already_applied, 1);
    for t in ["seen2", "seen3"] {
        assert_eq!(db.count(&format!("SELECT lock_connections FROM {t}")), 0);
        assert_eq!(db.count(&format!("SELECT own_advisory FROM {t}")), 1);
        assert_eq!(db.count(&format!("SELECT own_on_the_key FROM {t}")), 1);
    }
    add_lock_seen(&ws, 4);
    let report = db.boot_with(&ws.set(), on_the_real_database()).unwrap();
    assert_eq!(report.applied_versions().len(), 1);
    assert!(report.backup.is_some());
    assert_eq!(db.count("SELECT lock_connections FROM seen4"), 1);
    assert_eq!(db.count("SELECT own_advisory FROM seen4"), 1);
    assert_eq!(db.count("SELECT own_on_the_key FROM seen4"), 0);
    assert_eq!(
        db.count("SELECT count(*) FROM schema_migrations_log WHERE action = 'applied'"),
        4
    );
}

/// A short run that finds the migration lock held elsewhere runs nothing, and waits for the lock like
/// any run: at most `lock_wait`, then an error naming the holder.
#[test]
fn a_short_run_that_finds_the_lock_held_waits_for_it_like_any_run() {
    let Some((ws, db)) = live_with_one_applied() else {
        return;
    };
    add_tables(&ws, 2, 2);
    let mut holder_conn = connect(&db);
    let mut holder = Postgres::new(&mut holder_conn, url(&db));
    let guard = holder
        .lock("schema_migrations", Duration::from_secs(60))
        .unwrap();
    let config = Config {
        lock_wait: Duration::from_millis(300),
        ..apply_only()
    };
    let err = db.boot_with(&ws.set(), config.clone()).unwrap_err();
    assert!(matches!(err, Error::Lock { .. }), "{err}");
    assert!(err.to_string().contains("held by pid"), "{err}");
    assert_eq!(db.history().len(), 1);
    assert!(!has_relation(&db, "t2"));
    drop(guard);
    let report = db.boot_with(&ws.set(), config).unwrap();
    assert_eq!(report.applied_versions(), vec![20240101000002]);
}

/// Each transaction of a short run checks that the history is still as the run planned it. Here another
/// process records a migration this binary does not know (a newer release) while the first of two
/// pending migrations runs: the second finds the history changed, runs nothing, and the boot plans again
/// under the lock, which refuses the unknown migration as any boot would.
#[test]
fn a_short_run_whose_history_changed_meanwhile_plans_again_under_the_lock() {
    let Some((ws, db)) = live_with_one_applied() else {
        return;
    };
    ws.add(
        20240101000002,
        Some(2),
        "slow",
        "CREATE TABLE slow (id INTEGER PRIMARY KEY);\nSELECT pg_sleep(1);",
        None,
    );
    add_tables(&ws, 3, 3);
    let db = std::sync::Arc::new(db);
    let newer_release = {
        let db = db.clone();
        std::thread::spawn(move || {
            let started = Instant::now();
            while db.count("SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'PgSleep' AND datname = current_database()") == 0 {
                assert!(started.elapsed() < Duration::from_secs(20), "the slow migration never ran");
                std::thread::sleep(Duration::from_millis(20));
            }
            db.exec("INSERT INTO schema_migrations (version, name, status, checksum) VALUES (20240101000009, 'newer', 'applied', 'x')");
        })
    };
    let booted = db.boot_with(&ws.set(), apply_only());
    newer_release.join().unwrap();
    let err = booted.unwrap_err();
    assert!(matches!(err, Error::Validation(_)), "{err}");
    assert_eq!(
        db.history(),
        statuses(&[
            (20240101000001, "applied"),
            (20240101000002, "applied"),
            (20240101000009, "applied")
        ])
    );
    assert!(!has_relation(&db, "t3"));
}

/// A migration that fails in a short run is rolled back, reported with its statement and recorded as
/// failed, as in any run (the record is written under the lock too).
#[test]
fn a_migration_that_fails_in_a_short_run_is_reported_and_recorded_as_in_any_run() {
    let Some((ws, db)) = live_with_one_applied() else {
        return;
    };
    ws.add(
        20240101000002,
        Some(2),
        "bad",
        "CREATE TABLE u (id INTEGER PRIMARY KEY);\nINSERT INTO no_such_table VALUES (1);",
        None,
    );
    let err = db.boot_with(&ws.set(), apply_only()).unwrap_err();
    let Error::Migration(failure) = &err else {
        panic!("{err}")
    };
    assert_eq!(
        (failure.statement_index, failure.statement_count),
        (2, 2),
        "{err}"
    );
    assert!(failure.db_error.message.contains("no_such_table"), "{err}");
    assert_eq!(
        db.history(),
        statuses(&[(20240101000001, "applied"), (20240101000002, "failed")])
    );
    assert!(!has_relation(&db, "u"));
}

/// The INVALID-index health check looks where a run can have left one: after a run with a migration
/// outside a transaction (a concurrent build), not after a run whose migrations each ran in a
/// transaction, which builds no such index (one left by something else is not that run's to report).
#[test]
fn the_invalid_index_check_follows_migrations_outside_a_transaction_only() {
    let Some((ws, db)) = live_with_one_applied() else {
        return;
    };
    db.exec("CREATE TABLE dup (x TEXT); INSERT INTO dup VALUES ('a'), ('a');");
    let failed = connect(&db).batch_execute("CREATE UNIQUE INDEX CONCURRENTLY dup_x ON dup (x)");
    assert!(failed.is_err());
    assert_eq!(
        db.count("SELECT count(*) FROM pg_index WHERE NOT indisvalid"),
        1
    );
    add_tables(&ws, 2, 2);
    let report = db.boot_with(&ws.set(), apply_only()).unwrap();
    assert_eq!(report.applied_versions(), vec![20240101000002]);
    ws.write(
        "20240101000003_t2_id.sql",
        "-- migrator:no-transaction\n-- ============ UP MIGRATION ============\nCREATE INDEX CONCURRENTLY t2_id ON t2 (id);\n",
    );
    let err = db.boot_with(&ws.set(), apply_only()).unwrap_err();
    assert!(matches!(err, Error::HealthCheck { .. }), "{err}");
    let message = err.to_string();
    assert!(
        message.contains("dup_x") && message.contains("INVALID"),
        "{message}"
    );
}

/// The schema the history store names: where the search path finds the history table, else where new
/// tables go; read afresh each time, so a statement that moves `search_path` is seen.
#[test]
fn the_history_schema_is_where_the_search_path_finds_the_history() {
    let Some((_ws, db)) = pg() else { return };
    let mut conn = connect(&db);
    let mut engine = Postgres::new(&mut conn, url(&db));
    assert_eq!(
        engine.history_schema("schema_migrations").as_deref(),
        Some("public")
    );
    engine
        .execute("CREATE SCHEMA elsewhere; SET search_path TO elsewhere, public")
        .unwrap();
    assert_eq!(
        engine.history_schema("schema_migrations").as_deref(),
        Some("elsewhere")
    );
    engine
        .execute("CREATE TABLE public.schema_migrations (version BIGINT PRIMARY KEY)")
        .unwrap();
    assert_eq!(
        engine.history_schema("schema_migrations").as_deref(),
        Some("public")
    );
}

/// A database whose `search_path` gained a schema in front of the one holding the history (the app's
/// own schema, added after the first deploys): the next boot finds the history where it is and applies
/// only what is pending, with or without the policy, and creates no second history.
#[test]
fn a_search_path_changed_between_boots_keeps_the_history_where_it_is() {
    for policy in [false, true] {
        let Some((ws, db)) = pg() else { return };
        ws.add(
            20240101000000,
            Some(1),
            "users",
            "CREATE TABLE users (id INTEGER PRIMARY KEY);",
            Some("DROP TABLE users;"),
        );
        ws.add(
            20240102000000,
            Some(2),
            "posts",
            "CREATE TABLE posts (id INTEGER PRIMARY KEY);",
            Some("DROP TABLE posts;"),
        );
        let config = if policy {
            on_the_real_database()
        } else {
            Config {
                require_backup: false,
                require_test_run: false,
                ..Config::default()
            }
        };
        db.boot_with(&ws.set(), config.clone()).unwrap();
        db.exec("CREATE SCHEMA app; DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET search_path = app, public', current_database()); END $$");
        ws.add(
            20240103000000,
            Some(3),
            "tags",
            "CREATE TABLE tags (id INTEGER PRIMARY KEY);",
            Some("DROP TABLE tags;"),
        );
        let report = db.boot_with(&ws.set(), config).unwrap();
        assert_eq!(
            report.applied_versions(),
            [20240103000000],
            "policy {policy}"
        );
        assert_eq!(
            db.count("SELECT count(*) FROM public.schema_migrations"),
            3,
            "policy {policy}"
        );
        assert_eq!(
            db.count("SELECT count(*) FROM pg_tables WHERE schemaname = 'app' AND tablename LIKE 'schema_migrations%'"),
            0,
            "policy {policy}"
        );
    }
}

/// A first boot creates the history's tables while its lock connection opens (the tables need no lock to
/// be right). It does so only once nothing can refuse the boot any more: a first boot refused before the
/// lock (a statement the policy wants reviewed) leaves the database without them, as before.
#[test]
fn a_first_boot_refused_before_the_lock_leaves_no_history_tables() {
    let Some((ws, db)) = pg() else { return };
    ws.add(
        20240101000000,
        Some(1),
        "drop_old",
        "CREATE TABLE old (id INTEGER);\nDROP TABLE old;",
        None,
    );
    let refusing = Config {
        require_review: vec!["DROP TABLE".into()],
        ..apply_only()
    };
    let err = db.boot_with(&ws.set(), refusing).unwrap_err();
    assert!(matches!(err, Error::ReviewRequired(_)), "{err}");
    assert!(!has_relation(&db, "schema_migrations"));
    assert!(!has_relation(&db, "schema_migrations_log"));
    // Without the review kind, the same first boot creates them and applies.
    let accepted = Config {
        require_review: Vec::new(),
        ..apply_only()
    };
    let report = db.boot_with(&ws.set(), accepted).unwrap();
    assert_eq!(report.applied_versions(), [20240101000000]);
    assert_eq!(db.history().len(), 1);
}

/// Two first boots of one database at the same moment: both create the history's tables while their lock
/// connections open, so one of the two `CREATE TABLE IF NOT EXISTS` may fail on the catalog's unique
/// index. That one is left for the lock, under which the tables exist: each migration is applied once and
/// logged once, and both boots succeed. Three rounds, each on a new database.
#[test]
fn two_first_boots_at_once_apply_each_migration_once() {
    for round in 0..3 {
        let Some((ws, db)) = pg() else { return };
        add_tables(&ws, 1, 3);
        let set = ws.set();
        let db = std::sync::Arc::new(db);
        let start = std::sync::Arc::new(std::sync::Barrier::new(2));
        let boots: Vec<_> = (0..2)
            .map(|_| {
                let (db, set, start) = (db.clone(), set.clone(), start.clone());
                std::thread::spawn(move || {
                    start.wait();
                    db.boot_with(&set, apply_only())
                })
            })
            .collect();
        let mut applied: Vec<u64> = Vec::new();
        for boot in boots {
            let report = boot.join().expect("the boot's thread");
            let report = report.unwrap_or_else(|e| panic!("round {round}: {e}"));
            applied.extend(report.applied_versions());
        }
        applied.sort_unstable();
        let expected: Vec<u64> = set.migrations().iter().map(|m| m.version).collect();
        assert_eq!(applied, expected, "round {round}: each applied by one boot");
        assert_eq!(
            db.count("SELECT count(*) FROM schema_migrations WHERE status = 'applied'"),
            3,
            "round {round}"
        );
        assert_eq!(
            db.count("SELECT count(*) FROM schema_migrations_log WHERE action = 'applied'"),
            3,
            "round {round}"
        );
    }
}
