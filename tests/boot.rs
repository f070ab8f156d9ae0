//! Boot: apply, reboot, refusals, failure in the middle of a set, no-transaction migrations. The
//! engine-independent bodies run on SQLite and on PostgreSQL (`both_engines!`); SQLite specifics
//! (foreign key checks, the write lock, two processes on one file, the standalone spec layout) after them.

use std::time::Duration;

use migrator::{Config, Error, Migrator, Outcome, Sqlite, ValidationProblem};
use migrator_tests::{both_engines, fingerprint, history, Db, Workspace};

both_engines!(
    applies_pending_in_order_then_reboot_applies_nothing,
    an_edited_applied_migration_refuses_to_boot_naming_file_and_both_checksums,
    a_deleted_applied_migration_refuses_to_boot,
    an_older_pending_migration_refuses_unless_out_of_order_is_allowed,
    a_failing_migration_leaves_the_database_exactly_as_before_it,
    a_no_transaction_migration_runs_statement_by_statement,
    an_interrupted_no_transaction_migration_blocks_the_boot_with_instructions,
    an_unreviewed_drop_is_refused_until_the_file_carries_a_review_mark,
);

fn an_unreviewed_drop_is_refused_until_the_file_carries_a_review_mark(ws: &Workspace, db: &Db) {
    ws.add(
        20240101000000,
        Some(1),
        "t",
        "CREATE TABLE t (id INTEGER PRIMARY KEY, x TEXT);\nCREATE TABLE old (id INTEGER);",
        Some("DROP TABLE old;\nDROP TABLE t;"),
    );
    db.boot(&ws.set()).unwrap();
    let before = db.fingerprint();
    let file = ws.add(
        20240102000000,
        Some(2),
        "cleanup",
        "CREATE TABLE keep (id INTEGER);\nDROP TABLE old;",
        Some("CREATE TABLE old (id INTEGER);\nDROP TABLE keep;"),
    );
    let err = db.boot(&ws.set()).unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, Error::ReviewRequired(_)), "{message}");
    assert!(
        message.contains(&format!(
            "{file}:7 (20240102000000): DROP TABLE: DROP TABLE old"
        )),
        "{message}"
    );
    assert!(message.contains("-- Reviewed-by: <name>"), "{message}");
    assert_eq!(db.fingerprint(), before, "nothing ran");
    // The review mark is a header line, part of the checksum.
    let text = std::fs::read_to_string(ws.migrations().join(&file)).unwrap();
    ws.write(&file, &format!("-- Reviewed-by: Grace Hopper\n{text}"));
    assert_eq!(
        db.boot(&ws.set()).unwrap().applied_versions(),
        [20240102000000]
    );
    // A policy without review needs none.
    let relaxed = Config {
        require_review: Vec::new(),
        ..Config::default()
    };
    ws.add(
        20240103000000,
        None,
        "more",
        "ALTER TABLE t DROP COLUMN x;",
        None,
    );
    assert!(db.boot(&ws.set()).is_err());
    db.with_backend(|b| Migrator::new(&ws.set()).with_config(relaxed).boot(b))
        .unwrap();
}

/// The SQLite-only tests' boot.
fn boot(ws: &Workspace) -> Result<migrator::Report, Error> {
    Db::sqlite(ws).boot(&ws.set())
}

fn three(ws: &Workspace) {
    ws.add(
        20240101000000,
        Some(1),
        "users",
        "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT);",
        Some("DROP TABLE users;"),
    );
    ws.add(20240102000000, Some(2), "posts", "CREATE TABLE posts (id INTEGER PRIMARY KEY, user_id INTEGER REFERENCES users(id));\nCREATE INDEX idx_posts_user ON posts(user_id);", Some("DROP TABLE posts;"));
    ws.add(
        20240103000000,
        None,
        "seed",
        "INSERT INTO users (id, name) VALUES (1, 'ada');",
        Some("DELETE FROM users WHERE name = 'ada';"),
    );
}

fn applies_pending_in_order_then_reboot_applies_nothing(ws: &Workspace, db: &Db) {
    three(ws);
    let report = db.boot(&ws.set()).unwrap();
    assert_eq!(
        report.applied_versions(),
        [20240101000000, 20240102000000, 20240103000000]
    );
    assert_eq!(db.history().len(), 3);
    let checksum = db.rows("SELECT checksum FROM schema_migrations WHERE version = 20240101000000");
    assert_eq!(
        checksum,
        [ws.set().get(20240101000000).unwrap().checksum.to_string()]
    );

    let again = db.boot(&ws.set()).unwrap();
    assert!(again.steps.is_empty());
    assert_eq!(again.already_applied, 3);
    assert_eq!(
        db.data_dump()
            .iter()
            .filter(|r| r.starts_with("users:"))
            .count(),
        1
    );
}

fn an_edited_applied_migration_refuses_to_boot_naming_file_and_both_checksums(
    ws: &Workspace,
    db: &Db,
) {
    three(ws);
    db.boot(&ws.set()).unwrap();
    let before = ws.set().get(20240102000000).unwrap().checksum.to_string();
    let file = ws.add(
        20240102000000,
        Some(2),
        "posts",
        "CREATE TABLE posts (id INTEGER PRIMARY KEY, body TEXT);",
        Some("DROP TABLE posts;"),
    );
    let after = ws.set().get(20240102000000).unwrap().checksum.to_string();
    let err = db.boot(&ws.set()).unwrap_err();
    let message = err.to_string();
    assert!(message.contains(&file), "{message}");
    assert!(message.contains("20240102000000"), "{message}");
    assert!(
        message.contains(&before) && message.contains(&after),
        "{message}"
    );
    assert!(
        matches!(&err, Error::Validation(p) if matches!(p[0], ValidationProblem::Drifted { .. }))
    );
}

fn a_deleted_applied_migration_refuses_to_boot(ws: &Workspace, db: &Db) {
    three(ws);
    db.boot(&ws.set()).unwrap();
    ws.remove("20240103000000_seed.sql");
    let message = db.boot(&ws.set()).unwrap_err().to_string();
    assert!(
        message.contains(
            "20240103000000 (seed) is applied in schema_migrations but missing from this binary"
        ),
        "{message}"
    );
    assert!(message.contains("rerun-if-changed"), "{message}");
}

fn an_older_pending_migration_refuses_unless_out_of_order_is_allowed(ws: &Workspace, db: &Db) {
    three(ws);
    db.boot(&ws.set()).unwrap();
    let file = ws.add(
        20240101120000,
        Some(4),
        "late",
        "CREATE TABLE late (x INTEGER);",
        Some("DROP TABLE late;"),
    );
    let message = db.boot(&ws.set()).unwrap_err().to_string();
    assert!(
        message.contains(&file)
            && message.contains("older than the newest applied migration 20240103000000"),
        "{message}"
    );
    let config = Config {
        allow_out_of_order: true,
        ..Config::default()
    };
    let report = db.boot_with(&ws.set(), config).unwrap();
    assert_eq!(report.applied_versions(), [20240101120000]);
}

fn a_failing_migration_leaves_the_database_exactly_as_before_it(ws: &Workspace, db: &Db) {
    three(ws);
    db.boot(&ws.set()).unwrap();
    // Two more: the first succeeds, the second fails at its third statement.
    ws.add(
        20240104000000,
        Some(5),
        "tags",
        "CREATE TABLE tags (name TEXT);",
        Some("DROP TABLE tags;"),
    );
    // What the database will look like after 20240104000000 alone: apply it on its own first, in a
    // second database of the same engine.
    let probe_ws = Workspace::new();
    let probe = match db {
        Db::Postgres(_) => Db::postgres().unwrap(),
        Db::MySql(_) => Db::mysql().unwrap(),
        Db::Sqlite(_) => Db::sqlite(&probe_ws),
    };
    probe.boot(&ws.set()).unwrap();
    let expected = (probe.fingerprint(), probe.data_dump());
    let bad = ws.add(
        20240105000000,
        Some(6),
        "broken",
        "ALTER TABLE users ADD COLUMN email TEXT;\nUPDATE users SET email = 'x';\n\nINSERT INTO no_such_table VALUES (1);\nCREATE TABLE never (x INTEGER);",
        Some("SELECT 1;"),
    );
    // Without the rehearsal, which would catch the failure on a copy first (tests/rehearsal.rs): this is
    // the guarantee for a failure that reaches the real database.
    let err = db.boot_with(&ws.set(), without_rehearsal()).unwrap_err();
    let Error::Migration(failure) = &err else {
        panic!("{err}")
    };
    assert_eq!(failure.version, 20240105000000);
    assert_eq!(failure.file, bad);
    assert_eq!(failure.statement_index, 3);
    assert_eq!(failure.line, 9, "line of the INSERT in the file");
    assert!(
        failure
            .db_error
            .message
            .contains(&db.no_such_table("no_such_table")),
        "{err}"
    );
    assert_eq!(failure.completed, [20240104000000]);
    let message = err.to_string();
    for needle in [
        bad.as_str(),
        "20240105000000",
        "statement 3 of 4 at line 9",
        "INSERT INTO no_such_table",
        &format!(
            "{} said: {}",
            db.engine_name(),
            db.no_such_table("no_such_table")
        ),
        "What to do",
    ] {
        assert!(
            message.contains(needle),
            "missing {needle:?} in:\n{message}"
        );
    }
    let rows = db.history();
    assert!(rows.contains(&(20240104000000, "applied".into())));
    assert!(rows.contains(&(20240105000000, "failed".into())));
    if db.is_mysql() {
        // MySQL commits DDL as it goes: the two statements before the failing one stay, and the message
        // says so; the boot refuses until an operator checks and marks the migration.
        assert!(
            message.contains("ran without a transaction: 2 of its 4 statement(s) ran"),
            "{message}"
        );
        assert_ne!((db.fingerprint(), db.data_dump()), expected);
        let refused = db.boot(&ws.set()).unwrap_err().to_string();
        assert!(
            refused.contains("--migrate-mark 20240105000000"),
            "{refused}"
        );
        db.exec("ALTER TABLE users DROP COLUMN email");
        let mark = migrator::admin::parse(["--migrate-mark", "20240105000000", "rolled_back"])
            .unwrap()
            .unwrap();
        db.with_backend(|b| {
            migrator::admin::run(&Migrator::new(&ws.set()), b, &mark, &mut Vec::new())
        })
        .unwrap();
    }
    // The failed migration left nothing behind (nothing the operator did not undo); the one before it
    // stays applied.
    assert_eq!((db.fingerprint(), db.data_dump()), expected);

    // Fix the file: the next boot retries it (a failed transactional migration left nothing to undo).
    ws.add(
        20240105000000,
        Some(6),
        "broken",
        "ALTER TABLE users ADD COLUMN email TEXT;",
        Some("ALTER TABLE users DROP COLUMN email;"),
    );
    assert_eq!(
        db.boot(&ws.set()).unwrap().applied_versions(),
        [20240105000000]
    );
    // The failed row was taken over: applied, with its duration, and the log says so after the failure.
    assert_eq!(
        db.count("SELECT count(*) FROM schema_migrations WHERE version = 20240105000000 AND status = 'applied' AND execution_ms IS NOT NULL AND error IS NULL"),
        1
    );
    assert_eq!(
        db.count("SELECT count(*) FROM schema_migrations_log WHERE version = 20240105000000 AND action = 'applied'"),
        1
    );
}

#[test]
fn each_commit_mode_keeps_the_same_guarantees() {
    let ws = Workspace::new();
    three(&ws);
    ws.add(
        20240104000000,
        None,
        "bad",
        "CREATE TABLE fine (x INTEGER);\nSELECT * FROM missing;",
        None,
    );
    let set = ws.set();
    let conn = ws.open();
    let err = Migrator::new(&set)
        .with_config(without_rehearsal())
        .boot(&mut Sqlite::new(&conn).commit_each(true))
        .unwrap_err();
    assert!(matches!(err, Error::Migration(_)));
    assert_eq!(
        history(&conn)
            .iter()
            .filter(|(_, s)| s == "applied")
            .count(),
        3
    );
    assert!(conn.prepare("SELECT * FROM fine").is_err());
}

#[test]
fn the_spec_layout_with_its_own_transaction_and_history_insert_works_embedded_and_standalone() {
    let text = "-- Issue #7: Spec layout\n-- Generated: 2024-01-15 14:30:22\n\n-- ============ UP MIGRATION ============\nBEGIN;\nCREATE TABLE t (id INTEGER PRIMARY KEY);\nINSERT INTO schema_migrations (version, name, issue_number, applied_at)\nVALUES ('20240115143022', 'spec_layout', 7, CURRENT_TIMESTAMP);\nCOMMIT;\n\n-- ============ DOWN MIGRATION ============\nBEGIN;\nDELETE FROM schema_migrations WHERE version = '20240115143022';\nDROP TABLE IF EXISTS t;\nCOMMIT;\n\n-- ============ MIGRATION METRICS ============\n-- Tables affected: 1\n";
    // Embedded: the runtime owns the transaction and the history row (no nested BEGIN, no double insert).
    let ws = Workspace::new();
    ws.write("20240115143022_issue_7_spec_layout.sql", text);
    boot(&ws).unwrap();
    let conn = ws.open();
    assert_eq!(history(&conn), [(20240115143022, "applied".to_string())]);
    // Standalone, as `sqlite3 app.db < file.sql` runs it, against a history table made by the runtime.
    let other = Workspace::new();
    let standalone = other.open();
    Migrator::new(&MIGRATIONS_NONE)
        .boot(&mut Sqlite::new(&standalone))
        .unwrap();
    standalone.execute_batch("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, issue_number INTEGER, applied_at TEXT)").unwrap();
    let up = text.split("-- ============ DOWN MIGRATION").next().unwrap();
    standalone.execute_batch(up).unwrap();
    let (name, issue): (String, u32) = standalone
        .query_row(
            "SELECT name, issue_number FROM schema_migrations WHERE version = '20240115143022'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((name.as_str(), issue), ("spec_layout", 7));
    assert_eq!(fingerprint(&standalone), fingerprint(&conn));
    let down = text
        .split("-- ============ DOWN MIGRATION ============")
        .nth(1)
        .unwrap();
    standalone.execute_batch(down).unwrap();
    assert!(fingerprint(&standalone).is_empty());
    let rows: i64 = standalone
        .query_row("SELECT count(*) FROM schema_migrations", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, 0);
}

static MIGRATIONS_NONE: migrator::MigrationSet = migrator::MigrationSet::from_static(&[], "");

fn a_no_transaction_migration_runs_statement_by_statement(ws: &Workspace, db: &Db) {
    ws.add(
        20240101000000,
        None,
        "table",
        "CREATE TABLE t (x INTEGER);",
        Some("DROP TABLE t;"),
    );
    let (vacuum, drop_index) = match db {
        Db::MySql(_) => ("OPTIMIZE TABLE t", "DROP INDEX i ON t"),
        _ => ("VACUUM", "DROP INDEX i"),
    };
    ws.write(
        "20240102000000_vacuum.sql",
        &format!("-- migrator:no-transaction\n-- ============ UP MIGRATION ============\n{vacuum};\nCREATE INDEX i ON t(x);\n-- ============ DOWN MIGRATION ============\n{drop_index};\n"),
    );
    let report = db.boot(&ws.set()).unwrap();
    assert_eq!(report.applied_versions().len(), 2);
    assert_eq!(db.history()[1], (20240102000000, "applied".into()));
}

fn an_interrupted_no_transaction_migration_blocks_the_boot_with_instructions(
    ws: &Workspace,
    db: &Db,
) {
    ws.write(
        "20240102000000_half.sql",
        "-- migrator:no-transaction\n-- ============ UP MIGRATION ============\nCREATE TABLE a (x INTEGER);\nCREATE TABLE a (x INTEGER);\n",
    );
    // A failure that reaches the real database (the rehearsal would stop it on a copy first).
    let err = db.boot_with(&ws.set(), without_rehearsal()).unwrap_err();
    assert!(matches!(err, Error::Migration(_)), "{err}");
    let message = db.boot(&ws.set()).unwrap_err().to_string();
    assert!(
        message.contains("recorded as failed") && message.contains("--migrate-mark 20240102000000"),
        "{message}"
    );
}

#[test]
fn foreign_key_violations_fail_the_migration_when_the_host_enforces_them() {
    let ws = Workspace::new();
    ws.add(20240101000000, None, "parent", "CREATE TABLE parent (id INTEGER PRIMARY KEY);\nCREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parent(id));", None);
    ws.add(
        20240102000000,
        None,
        "orphan",
        "INSERT INTO child (parent_id) VALUES (42);",
        None,
    );
    let set = ws.set();
    let conn = ws.open();
    conn.execute_batch("PRAGMA foreign_keys = ON").unwrap();
    let err = Migrator::new(&set)
        .with_config(without_rehearsal())
        .boot(&mut Sqlite::new(&conn))
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("foreign key violations after the migration: child"),
        "{err}"
    );
    let on: i64 = conn
        .query_row("PRAGMA foreign_keys", [], |r| r.get(0))
        .unwrap();
    assert_eq!(on, 1, "the host's setting is restored");
    let count: i64 = conn
        .query_row("SELECT count(*) FROM child", [], |r| r.get(0))
        .unwrap();
    assert_eq!(count, 0);
}

#[test]
fn a_held_write_lock_times_out_with_a_clear_error() {
    let ws = Workspace::new();
    three(&ws);
    let holder = ws.open();
    holder
        .execute_batch("CREATE TABLE other (x); BEGIN IMMEDIATE; INSERT INTO other VALUES (1);")
        .unwrap();
    let set = ws.set();
    let conn = ws.open();
    let config = Config {
        lock_wait: std::time::Duration::from_millis(200),
        ..Config::default()
    };
    let err = Migrator::new(&set)
        .with_config(config)
        .boot(&mut Sqlite::new(&conn))
        .unwrap_err();
    assert!(matches!(err, Error::Lock { .. }), "{err}");
    assert!(
        err.to_string().contains("another process is migrating"),
        "{err}"
    );
    holder.execute_batch("COMMIT").unwrap();
    assert_eq!(boot(&ws).unwrap().with_outcome(Outcome::Applied).count(), 3);
}

/// A boot that read the history and then waited for the lock sees what the lock's holder applied
/// meanwhile (on SQLite the holder's commit changes `PRAGMA data_version`, so the history is read again
/// under the lock) and applies nothing twice.
#[test]
fn a_boot_that_waited_for_the_lock_sees_what_the_holder_applied_meanwhile() {
    let ws = Workspace::new();
    three(&ws);
    boot(&ws).unwrap();
    // The seed forgotten (its row saved aside): a boot now finds it pending.
    let holder = ws.open();
    holder.busy_timeout(Duration::from_secs(10)).unwrap();
    holder
        .execute_batch(
            "CREATE TABLE saved AS SELECT * FROM schema_migrations WHERE version = 20240103000000;
             DELETE FROM schema_migrations WHERE version = 20240103000000;
             DELETE FROM users;
             BEGIN IMMEDIATE;",
        )
        .unwrap();
    let set = ws.set();
    let path = ws.db_path();
    let booting = std::thread::spawn(move || {
        let conn = rusqlite::Connection::open(path).unwrap();
        let report = Migrator::new(&set)
            .with_config(without_rehearsal())
            .boot(&mut Sqlite::new(&conn));
        report
    });
    // The boot reads the history (the seed pending) and waits for the write lock, while the holder
    // applies the seed as another process would.
    std::thread::sleep(Duration::from_millis(500));
    holder
        .execute_batch(
            "INSERT INTO users (id, name) VALUES (1, 'ada');
             INSERT INTO schema_migrations SELECT * FROM saved;
             DROP TABLE saved;
             COMMIT;",
        )
        .unwrap();
    let report = booting.join().unwrap().unwrap();
    // Planned again from the history the holder left: nothing pending, no claim lost to it, no backup.
    assert!(report.steps.is_empty(), "{report:?}");
    assert_eq!(report.already_applied, 3);
    assert!(report.backup.is_none(), "{report:?}");
    let users: i64 = holder
        .query_row("SELECT count(*) FROM users", [], |r| r.get(0))
        .unwrap();
    assert_eq!(users, 1, "the seed ran once");
}

/// Two processes (this test binary, re-executed) boot the same file at once: each migration is applied
/// exactly once and both succeed.
#[test]
fn two_processes_booting_one_file_apply_each_migration_once() {
    two_processes_boot_one_file(
        "two_processes_booting_one_file_apply_each_migration_once",
        false,
    );
}

/// The same with a commit after each migration (`commit_each`): between two migrations the write lock
/// is free, so from the first commit on each UP claims its row before its statements run, as on
/// PostgreSQL (a `CREATE TABLE` run a second time would fail the boot). The window is short: the
/// committing process takes the lock again in the same call, and the other one, asleep in its busy
/// handler, rarely gets in there.
#[test]
fn two_processes_committing_each_migration_apply_each_migration_once() {
    two_processes_boot_one_file(
        "two_processes_committing_each_migration_apply_each_migration_once",
        true,
    );
}

fn two_processes_boot_one_file(test: &str, commit_each: bool) {
    if let Ok(dir) = std::env::var("MIGRATOR_TEST_CHILD_DIR") {
        let ws_migrations = std::path::Path::new(&dir).join("migrations");
        let set = migrator::MigrationSet::from_dir(&ws_migrations).unwrap();
        let conn = rusqlite::Connection::open(std::path::Path::new(&dir).join("app.db")).unwrap();
        let report = Migrator::new(&set)
            .boot(&mut Sqlite::new(&conn).commit_each(commit_each))
            .unwrap();
        println!("CHILD-APPLIED {}", report.applied_versions().len());
        return;
    }
    let ws = Workspace::new();
    for i in 0..40u64 {
        ws.add(
            20240101000000 + i,
            Some(1),
            &format!("t{i}"),
            &format!("CREATE TABLE t{i} (x);\nINSERT INTO t{i} VALUES ({i});"),
            Some(&format!("DROP TABLE t{i};")),
        );
    }
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..2)
        .map(|_| {
            std::process::Command::new(&exe)
                .args(["--exact", test, "--nocapture", "--test-threads=1"])
                .env("MIGRATOR_TEST_CHILD_DIR", ws.path())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut applied = 0;
    for child in children {
        let child = child.wait_with_output().unwrap();
        let out = String::from_utf8_lossy(&child.stdout).to_string();
        assert!(
            child.status.success(),
            "{out}\n{}",
            String::from_utf8_lossy(&child.stderr)
        );
        let count: usize = out
            .lines()
            .find_map(|l| l.split("CHILD-APPLIED ").nth(1))
            .unwrap_or_else(|| panic!("no count in child output:\n{out}"))
            .trim()
            .parse()
            .unwrap();
        applied += count;
    }
    assert_eq!(applied, 40, "each migration applied by exactly one process");
    let conn = ws.open();
    assert_eq!(history(&conn).len(), 40);
    let log: i64 = conn
        .query_row(
            "SELECT count(*) FROM schema_migrations_log WHERE action = 'applied'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(log, 40);
    let rows: i64 = conn
        .query_row("SELECT count(*) FROM t39", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, 1);
}

/// The default configuration without the rehearsal on a copy, for tests of failures on the real database.
fn without_rehearsal() -> migrator::Config {
    migrator::Config {
        require_test_run: false,
        ..migrator::Config::default()
    }
}

/// The `.partial` files under a workspace's backup directory: a backup still being made.
fn partial_backups(backups: &std::path::Path) -> i64 {
    let Ok(dirs) = std::fs::read_dir(backups) else {
        return 0;
    };
    let mut n = 0;
    for dir in dirs.flatten() {
        for file in std::fs::read_dir(dir.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            n += i64::from(file.file_name().to_string_lossy().ends_with(".partial"));
        }
    }
    n
}

/// Without a rehearsal, a SQLite boot applies while its backup is made (the run commits once, and no
/// other connection sees it before): the migration itself sees the backup's partial file, which gets its
/// final name only once the copy is durable and checked, before the commit. The backup is the state
/// before the run. The in-place rehearsal does the same; a run with a `no-transaction` migration, which
/// commits before its end, takes the backup first.
#[test]
fn a_sqlite_run_that_commits_once_applies_beside_its_backup() {
    use rusqlite::functions::FunctionFlags;
    for (config, no_transaction_after, beside) in [
        (without_rehearsal(), false, 1),
        (Config::default(), false, 1),
        (without_rehearsal(), true, 0),
    ] {
        let ws = Workspace::new();
        ws.add(
            20240101000000,
            None,
            "contacts",
            "CREATE TABLE contacts (id INTEGER PRIMARY KEY, email TEXT);",
            Some("DROP TABLE contacts;"),
        );
        boot(&ws).unwrap();
        ws.add(
            20240102000000,
            None,
            "seen",
            "CREATE TABLE seen AS SELECT partial_backups() AS n;",
            Some("DROP TABLE seen;"),
        );
        if no_transaction_after {
            ws.write(
                "20240103000000_compact.sql",
                "-- migrator:no-transaction\n-- ============ UP MIGRATION ============\nVACUUM;\n-- ============ DOWN MIGRATION ============\nSELECT 1;\n",
            );
        }
        let conn = ws.open();
        let backups = ws.path().join("app.db.backups");
        let dir = backups.clone();
        conn.create_scalar_function(
            "partial_backups",
            0,
            FunctionFlags::SQLITE_UTF8,
            move |_| Ok(partial_backups(&dir)),
        )
        .unwrap();
        let set = ws.set();
        let report = Migrator::new(&set)
            .with_config(config)
            .boot(&mut Sqlite::new(&conn))
            .unwrap();
        assert_eq!(report.applied_versions()[0], 20240102000000);
        let seen: i64 = conn
            .query_row("SELECT n FROM seen", [], |r| r.get(0))
            .unwrap();
        assert_eq!(
            seen, beside,
            "backups still being made while the migration ran (no-transaction after it: {no_transaction_after})"
        );
        assert_eq!(
            partial_backups(&backups),
            0,
            "the backup has its final name"
        );
        let backup = report.backup.expect("a backup");
        let copy = rusqlite::Connection::open(&backup).unwrap();
        let tables: Vec<String> = copy
            .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(
            tables.contains(&"contacts".to_string()) && !tables.contains(&"seen".to_string()),
            "the backup is the state before the run: {tables:?}"
        );
    }
}

/// The boot's backup runs beside its in-place rehearsal, or beside the apply when there is no rehearsal
/// (on SQLite the state it copies is fixed by its read transactions, and the run commits once), and the
/// run's commit waits for it: a backup that fails keeps the run from committing, even when the migration
/// itself would leave a database that passes every check, and it leaves no file. Here the backup's check
/// of the state before the run fails (a NULL in a column the schema says is NOT NULL) and the pending
/// migration is the one that fixes the row.
#[test]
fn a_backup_that_fails_beside_the_run_keeps_the_run_from_committing() {
    backup_fails_beside_the_run(migrator::Config::default());
}

/// The same without a rehearsal: the backup runs beside the apply itself.
#[test]
fn a_backup_that_fails_beside_the_apply_keeps_it_from_committing() {
    backup_fails_beside_the_run(without_rehearsal());
}

fn backup_fails_beside_the_run(config: migrator::Config) {
    let ws = Workspace::new();
    ws.add(
        20240101000000,
        None,
        "contacts",
        "CREATE TABLE contacts (id INTEGER PRIMARY KEY, email TEXT);\nINSERT INTO contacts (id, email) VALUES (1, NULL);",
        Some("DROP TABLE contacts;"),
    );
    boot(&ws).unwrap();
    let conn = ws.open();
    conn.execute_batch(
        "PRAGMA writable_schema = ON;
         UPDATE sqlite_schema SET sql = 'CREATE TABLE contacts (id INTEGER PRIMARY KEY, email TEXT NOT NULL)' WHERE name = 'contacts';
         PRAGMA writable_schema = OFF;",
    )
    .unwrap();
    drop(conn);
    let conn = ws.open();
    let verdict: String = conn
        .query_row("PRAGMA quick_check", [], |r| r.get(0))
        .unwrap();
    assert_ne!(verdict, "ok", "the state before the run fails quick_check");
    ws.add(
        20240102000000,
        None,
        "fill_emails",
        "UPDATE contacts SET email = 'unknown@example.com' WHERE id = 1;",
        Some("SELECT 1;"),
    );
    let err = Db::sqlite(&ws).boot_with(&ws.set(), config).unwrap_err();
    assert!(matches!(err, Error::Backup(_)), "{err:?}");
    assert!(err.to_string().contains("quick_check"), "{err}");
    let email: Option<String> = conn
        .query_row("SELECT email FROM contacts WHERE id = 1", [], |r| r.get(0))
        .unwrap();
    assert_eq!(email, None, "the run was not committed");
    assert_eq!(
        history(&conn).len(),
        1,
        "only the first migration is recorded"
    );
    let backups = ws.path().join("app.db.backups");
    let mut names = Vec::new();
    for dir in std::fs::read_dir(&backups).unwrap() {
        for file in std::fs::read_dir(dir.unwrap().path()).unwrap() {
            names.push(file.unwrap().file_name().to_string_lossy().into_owned());
        }
    }
    assert!(
        names
            .iter()
            .all(|n| !n.contains("20240102000000") && !n.ends_with(".partial")),
        "the failed backup left nothing: {names:?}"
    );
    assert!(
        names.iter().any(|n| n.contains("before-20240101000000")),
        "the first boot's backup stays: {names:?}"
    );
}

/// Neither a backup (whose own check reads the whole file) nor a rehearsal, nor a review of drops: the
/// checks after the boot alone, and the DOWNs when they fail.
fn without_backup_or_rehearsal() -> migrator::Config {
    migrator::Config {
        require_backup: false,
        require_review: Vec::new(),
        ..without_rehearsal()
    }
}

/// Adds migration `version` and boots without a backup or a rehearsal: it must apply.
fn applied_without_safety(ws: &Workspace, version: u64, name: &str, up: &str, down: &str) {
    ws.add(version, None, name, up, Some(down));
    let report = Db::sqlite(ws)
        .boot_with(&ws.set(), without_backup_or_rehearsal())
        .unwrap();
    assert_eq!(report.applied_versions(), [version]);
}

/// A table whose `NOT NULL` its rows break (the schema edited by hand, as a damaged or hand-patched
/// database would have it): `PRAGMA quick_check` reports it.
fn break_not_null(ws: &Workspace, table: &str) {
    let conn = ws.open();
    conn.execute_batch(&format!(
        "CREATE TABLE {table} (id INTEGER PRIMARY KEY, name TEXT);
         INSERT INTO {table} (id, name) VALUES (1, NULL);
         PRAGMA writable_schema = ON;
         UPDATE sqlite_master SET sql = 'CREATE TABLE {table} (id INTEGER PRIMARY KEY, name TEXT NOT NULL)' WHERE name = '{table}';
         PRAGMA writable_schema = OFF;"
    ))
    .unwrap();
}

/// Boots without a backup or a rehearsal, expecting its health checks to fail and its migration to be
/// undone (`sql`, one integer, reads 1 afterwards); returns the boot's error.
fn boot_undone_by_health_checks(ws: &Workspace, sql: &str) -> Error {
    let err = Db::sqlite(ws)
        .boot_with(&ws.set(), without_backup_or_rehearsal())
        .unwrap_err();
    let value: i64 = ws.open().query_row(sql, [], |r| r.get(0)).unwrap();
    assert_eq!(value, 1, "the boot's migration did not stay: {err}");
    err
}

/// The checks after a boot stop at the tables its migrations name: a table the boot never touched, broken
/// before it, neither costs the boot a scan nor blames (and rolls back) a migration that did not break it;
/// a migration that names the table is checked against it.
#[test]
fn health_checks_stop_at_the_tables_the_boot_names() {
    let ws = Workspace::new();
    break_not_null(&ws, "legacy");
    applied_without_safety(
        &ws,
        20240101000000,
        "notes",
        "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL);\nINSERT INTO notes (body) VALUES ('hello');",
        "DROP TABLE notes;",
    );

    ws.add(
        20240102000000,
        None,
        "legacy_ids",
        "UPDATE legacy SET id = id + 100;",
        Some("UPDATE legacy SET id = id - 100;"),
    );
    let err = boot_undone_by_health_checks(&ws, "SELECT id FROM legacy");
    assert!(matches!(err, Error::HealthCheck { .. }), "{err:?}");
    assert!(err.to_string().contains("legacy"), "{err}");
}

/// A migration that only changes a table's schema (`ADD COLUMN`, an index) leaves its rows as they were:
/// the checks do not read them (SQLite tests a new column's constraints against them itself: an `ADD
/// COLUMN ... CHECK` here fails on the broken row), so a table broken before the boot does not fail it.
/// Dropping a parent still has its children's keys checked.
#[test]
fn health_checks_read_no_rows_of_a_table_whose_schema_alone_changed() {
    let ws = Workspace::new();
    break_not_null(&ws, "legacy");
    applied_without_safety(
        &ws,
        20240101000000,
        "legacy_note",
        "ALTER TABLE legacy ADD COLUMN note TEXT DEFAULT 'none';\nCREATE INDEX legacy_note ON legacy (note);",
        "DROP INDEX legacy_note;\nALTER TABLE legacy DROP COLUMN note;",
    );

    let conn = ws.open();
    conn.execute_batch(
        "CREATE TABLE parent (id INTEGER PRIMARY KEY);
         CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parent(id));
         INSERT INTO parent (id) VALUES (1);
         INSERT INTO child (id, parent_id) VALUES (10, 1);",
    )
    .unwrap();
    ws.add(
        20240102000000,
        None,
        "drop_parent",
        "DROP TABLE parent;",
        Some("CREATE TABLE parent (id INTEGER PRIMARY KEY);\nINSERT INTO parent (id) VALUES (1);"),
    );
    let err = boot_undone_by_health_checks(&ws, "SELECT count(*) FROM parent");
    assert!(
        err.to_string()
            .contains("foreign key violations after the migration: child rowid 10 -> parent"),
        "{err}"
    );
}

/// A migration that rewrites a parent table (foreign keys off, SQLite's default) orphans rows of a child
/// table it never names: the checks follow the foreign keys to the child and find them.
#[test]
fn health_checks_follow_foreign_keys_from_the_tables_the_boot_names() {
    let ws = Workspace::new();
    ws.add(
        20240101000000,
        None,
        "family",
        "CREATE TABLE parent (id INTEGER PRIMARY KEY);
CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parent(id));
CREATE TABLE grandchild (id INTEGER PRIMARY KEY, child_id INTEGER REFERENCES child(id));
INSERT INTO parent (id) VALUES (1);
INSERT INTO child (id, parent_id) VALUES (10, 1);
INSERT INTO grandchild (id, child_id) VALUES (100, 10);",
        None,
    );
    boot(&ws).unwrap();
    ws.add(
        20240102000000,
        None,
        "renumber_parents",
        "UPDATE parent SET id = id + 1;",
        Some("UPDATE parent SET id = id - 1;"),
    );
    let err = boot_undone_by_health_checks(&ws, "SELECT id FROM parent");
    assert!(
        err.to_string()
            .contains("foreign key violations after the migration: child rowid 10 -> parent"),
        "{err}"
    );
}

/// A migration that only creates new objects (tables with columns, indexes) cannot orphan a row: the
/// checks after it do not read the schema, and a child's orphan from before the boot does not blame it.
/// The next migration that writes the new parent is checked against that child again.
#[test]
fn a_migration_that_only_creates_is_not_blamed_for_orphans_from_before() {
    let ws = Workspace::new();
    let conn = ws.open();
    conn.execute_batch(
        "PRAGMA foreign_keys = OFF;
         CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parent(id));
         INSERT INTO child (id, parent_id) VALUES (10, 1);",
    )
    .unwrap();
    applied_without_safety(
        &ws,
        20240101000000,
        "parent",
        "CREATE TABLE parent (id INTEGER PRIMARY KEY, name TEXT);\nCREATE UNIQUE INDEX parent_name ON parent(name);",
        "DROP TABLE parent;",
    );

    ws.add(
        20240102000000,
        None,
        "first_parent",
        "INSERT INTO parent (id, name) VALUES (2, 'two');",
        Some("DELETE FROM parent WHERE id = 2;"),
    );
    let err = boot_undone_by_health_checks(
        &ws,
        "SELECT count(*) FROM schema_migrations WHERE status = 'applied'",
    );
    assert!(
        err.to_string()
            .contains("foreign key violations after the migration: child rowid 10 -> parent"),
        "{err}"
    );
}

/// What a trigger writes is named nowhere: a boot touching a table with a trigger checks the whole
/// database, and so does one whose migration holds a `PRAGMA`.
#[test]
fn health_checks_cover_the_whole_database_after_a_trigger_or_a_pragma() {
    for (version, name, up) in [
        (
            20240102000000,
            "audited",
            "INSERT INTO audited (id) VALUES (1);",
        ),
        (20240102000000, "pragma", "PRAGMA user_version = 7;"),
    ] {
        let ws = Workspace::new();
        break_not_null(&ws, "legacy");
        ws.add(
            20240101000000,
            None,
            "audited",
            "CREATE TABLE audited (id INTEGER PRIMARY KEY);
CREATE TABLE audit (at TEXT);
CREATE TRIGGER audited_insert AFTER INSERT ON audited BEGIN INSERT INTO audit (at) VALUES ('now'); END;",
            Some("DROP TABLE audit;\nDROP TABLE audited;"),
        );
        ws.add(version, None, name, up, Some("SELECT 1;"));
        let err = Db::sqlite(&ws)
            .boot_with(&ws.set(), without_backup_or_rehearsal())
            .unwrap_err();
        assert!(matches!(err, Error::HealthCheck { .. }), "{name}: {err:?}");
        assert!(err.to_string().contains("legacy"), "{name}: {err}");
    }
}
