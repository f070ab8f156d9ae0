//! `migrator-tool status|history|apply|rollback` on real SQLite files and the throwaway PostgreSQL
//! cluster of `migrator-tests`: the same results and the same text as a host binary's boot and admin
//! flags, the policy file beside the migrations or given with --policy, and the exit codes.

use std::path::Path;
use std::process::Command;

use migrator::render::{self, Style};
use migrator::{Migrator, Policy};
use migrator_tests::{both_engines, Db, Workspace};

/// Runs the tool in the workspace with `--dir migrations --database-url URL` after `args`; returns the
/// exit code, stdout and stderr.
fn tool(ws: &Workspace, db: &Db, args: &[&str]) -> (i32, String, String) {
    let url = url(db);
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--dir", "migrations", "--database-url", &url]);
    raw_tool(ws.path(), &all)
}

fn raw_tool(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_migrator-tool"))
        .current_dir(dir)
        .args(args)
        .env("NO_COLOR", "1")
        .env("TMPDIR", dir)
        .env_remove("DATABASE_URL")
        .env_remove("MIGRATOR_LOG")
        .output()
        .expect("run migrator-tool");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn url(db: &Db) -> String {
    db.url()
}

/// Three migrations of two issues: #1 creates `notes`, #2 adds a column and an index.
fn three_migrations(ws: &Workspace) {
    three_migrations_for(ws, "DROP INDEX notes_author");
}

/// The same, with the DOWN of the index in the engine's words (MySQL names the table).
fn three_migrations_on(ws: &Workspace, db: &Db) {
    three_migrations_for(ws, &db.drop_index("notes_author", "notes"));
}

fn three_migrations_for(ws: &Workspace, drop_index: &str) {
    ws.add(
        20240101000000,
        Some(1),
        "notes",
        "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL);",
        Some("DROP TABLE notes;"),
    );
    ws.add(
        20240102000000,
        Some(2),
        "note_authors",
        "ALTER TABLE notes ADD COLUMN author TEXT;",
        Some("ALTER TABLE notes DROP COLUMN author;"),
    );
    ws.add(
        20240103000000,
        Some(2),
        "note_author_index",
        "CREATE INDEX notes_author ON notes (author);",
        Some(&format!("{drop_index};")),
    );
}

/// The host's text for `--migrate-status` on this database (plain style).
fn host_status(ws: &Workspace, db: &Db) -> String {
    let set = ws.set();
    db.with_backend(|b| render::status(&Migrator::new(&set).status(b).unwrap(), Style::Plain))
}

fn apply_status_history_rollback(ws: &Workspace, db: &Db) {
    three_migrations_on(ws, db);
    let before = host_status(ws, db);
    let (code, out, err) = tool(ws, db, &["status"]);
    assert_eq!((code, out.as_str()), (0, before.as_str()), "{err}");
    assert!(out.contains("0 applied, 3 pending"), "{out}");

    let (code, out, err) = tool(ws, db, &["apply"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("Applied 3 migration(s)"), "{out}");
    assert!(
        out.contains("Backup before applying: "),
        "the spec's policy takes a backup: {out}"
    );
    assert_eq!(
        db.history(),
        [
            (20240101000000, "applied".to_string()),
            (20240102000000, "applied".to_string()),
            (20240103000000, "applied".to_string())
        ]
    );
    let (code, out, _) = tool(ws, db, &["apply"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("Schema up to date: 3 migration(s) applied"),
        "{out}"
    );

    let (code, out, _) = tool(ws, db, &["status"]);
    assert_eq!((code, out), (0, host_status(ws, db)));
    let (code, out, _) = tool(ws, db, &["history"]);
    let set = ws.set();
    let host_history = db
        .with_backend(|b| render::history(&Migrator::new(&set).history(b).unwrap(), Style::Plain));
    assert_eq!((code, out.as_str()), (0, host_history.as_str()));
    assert!(
        out.contains("Total: 3 migrations (3 active, 0 rolled back)"),
        "{out}"
    );

    // Issue 1's table is touched by issue 2's later migrations: refused without --force.
    let (code, out, err) = tool(ws, db, &["rollback", "1"]);
    assert_eq!(code, 1, "{out}");
    assert!(err.contains("refusing to roll back issue #1"), "{err}");
    let (code, out, err) = tool(ws, db, &["rollback", "#2"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Rolled back 2 migration(s)"), "{out}");
    assert_eq!(
        db.count("SELECT count(*) FROM schema_migrations WHERE status = 'rolled_back'"),
        2
    );
    let (code, _, err) = tool(ws, db, &["rollback", "77"]);
    assert_eq!(code, 1);
    assert!(err.contains("issue #77 has no applied migration"), "{err}");
    let (code, out, err) = tool(ws, db, &["rollback", "1", "--force"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Rolled back 1 migration(s)"), "{out}");
    assert_eq!(
        db.count("SELECT count(*) FROM schema_migrations WHERE status = 'applied'"),
        0
    );
    assert!(db.fingerprint().is_empty(), "{:?}", db.fingerprint());
}

fn the_policy_beside_the_migrations_is_used(ws: &Workspace, db: &Db) {
    ws.add(
        20240101000000,
        Some(1),
        "audit",
        "CREATE TABLE audit (id INTEGER PRIMARY KEY);",
        Some("DROP TABLE audit;"),
    );
    ws.add(
        20240102000000,
        Some(2),
        "clear_audit",
        "DELETE FROM audit;",
        Some("SELECT 1;"),
    );
    std::fs::write(
        ws.path().join("migration_safety.yaml"),
        "migration_safety:\n  require_review: [delete from]\n  require_backup: []\n",
    )
    .unwrap();
    let (code, out, err) = tool(ws, db, &["apply"]);
    assert_eq!(code, 1, "{out}");
    assert!(err.contains("need a review"), "{err}");
    assert!(err.contains("DELETE FROM"), "{err}");
    assert!(
        db.fingerprint().is_empty(),
        "nothing applied: {:?}",
        db.fingerprint()
    );

    // --policy overrides the file beside the migrations.
    let lenient = ws.path().join("lenient.yaml");
    std::fs::write(
        &lenient,
        "migration_safety:\n  require_review: []\n  require_backup: false\n",
    )
    .unwrap();
    let (code, out, err) = tool(ws, db, &["apply", "--policy", "lenient.yaml"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Applied 2 migration(s)"), "{out}");
    assert!(
        !out.contains("Backup"),
        "require_backup: false takes none: {out}"
    );
}

fn rehearse_runs_on_a_copy_and_leaves_the_database_alone(ws: &Workspace, db: &Db) {
    three_migrations_on(ws, db);
    db.exec("SELECT 1"); // an existing, empty database
    let (code, out, err) = tool(ws, db, &["rehearse"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.starts_with("Rehearsed on a scratch copy"), "{out}");
    for step in ["UP ", "health checks", "DOWN ", "UP again"] {
        assert!(out.contains(step), "{step} in {out}");
    }
    let steps = |phase: &str| {
        out.lines()
            .filter(|l| l.starts_with("  ") && l.contains(phase))
            .count()
    };
    assert_eq!((steps("UP again"), steps("DOWN")), (3, 3), "{out}");
    assert!(
        db.fingerprint().is_empty(),
        "the database is untouched: {:?}",
        db.fingerprint()
    );

    // A DOWN that leaves the tags column behind fails the rehearsal, naming the migration.
    let add_incomplete_down = || {
        ws.add(
            20240104000000,
            Some(3),
            "note_tags",
            "ALTER TABLE notes ADD COLUMN tags TEXT;\nCREATE INDEX notes_tags ON notes (tags);",
            Some("DROP INDEX notes_tags;"),
        )
    };
    let file = add_incomplete_down();
    let (code, out, err) = tool(ws, db, &["apply", "--policy", "no-rehearsal.yaml"]);
    assert_eq!(code, 2, "the policy file is missing: {out}{err}");
    std::fs::write(
        ws.path().join("no-rehearsal.yaml"),
        "migration_safety:\n  require_test_run: false\n  require_backup: false\n",
    )
    .unwrap();
    // Apply the first three for real, so the rehearsal works on a database with history.
    ws.remove(&file);
    let (code, _, err) = tool(ws, db, &["apply", "--policy", "no-rehearsal.yaml"]);
    assert_eq!(code, 0, "{err}");
    add_incomplete_down();
    let before = db.fingerprint();
    let (code, out, err) = tool(ws, db, &["rehearse"]);
    assert_eq!(code, 1, "{out}");
    assert!(err.contains("20240104000000"), "{err}");
    assert!(err.contains("DOWN"), "{err}");
    assert_eq!(db.fingerprint(), before, "the database is untouched");
    assert_eq!(db.history().len(), 3);
}

both_engines!(
    apply_status_history_rollback,
    the_policy_beside_the_migrations_is_used,
    rehearse_runs_on_a_copy_and_leaves_the_database_alone
);

#[test]
fn rehearse_from_scratch_in_memory() {
    let ws = Workspace::new();
    three_migrations(&ws);
    let (code, out, err) = raw_tool(
        ws.path(),
        &[
            "rehearse",
            "--dir",
            "migrations",
            "--database-url",
            "sqlite::memory:",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("3 DOWN(s)"), "{out}");
    assert_eq!(
        std::fs::read_dir(ws.path()).unwrap().count(),
        1,
        "no file written beside migrations/"
    );
}

#[test]
fn a_bad_policy_file_stops_before_the_database_is_touched() {
    let ws = Workspace::new();
    three_migrations(&ws);
    let db = Db::sqlite(&ws);
    std::fs::write(
        ws.path().join("migration_safety.yaml"),
        "migration_safety:\n  require_backup: [all]\n  max_lock_duration: \"5 parsecs\"\n",
    )
    .unwrap();
    let (code, out, err) = tool(&ws, &db, &["apply"]);
    assert_eq!((code, out.as_str()), (1, ""), "{err}");
    assert!(
        err.contains("migration_safety.yaml:3: max_lock_duration: \"5 parsecs\" is not a duration (use 500ms, 5s, 2m)"),
        "{err}"
    );
    assert!(!ws.db_path().exists(), "no database file was created");
}

#[test]
fn the_example_apps_policy_file_reads_as_the_spec() {
    let file =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../example-app/migration_safety.yaml");
    assert_eq!(Policy::from_path(&file).unwrap(), Policy::SPEC);
}

#[test]
fn usage_errors_exit_2_and_write_nothing() {
    let ws = Workspace::new();
    three_migrations(&ws);
    let db = Db::sqlite(&ws);
    for (args, message) in [
        (&["status"][..], "no SQLite database at"),
        (&["history"], "no SQLite database at"),
        (&["rollback", "1"], "no SQLite database at"),
        (
            &["apply", "--policy", "missing.yaml"],
            "--policy missing.yaml: no such file",
        ),
    ] {
        let (code, _, err) = tool(&ws, &db, args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(message), "{args:?}: {err}");
    }
    for (args, message) in [
        (
            &["apply", "--dir", "nope", "--database-url", "app.db"][..],
            "--dir nope: no such directory",
        ),
        (
            &[
                "apply",
                "--dir",
                "migrations",
                "--database-url",
                "oracle://h/db",
            ],
            "unsupported database URL scheme oracle://",
        ),
        (&["apply", "--dir", "migrations"], "--database-url <URL>"),
        (
            &[
                "rollback",
                "abc",
                "--dir",
                "migrations",
                "--database-url",
                "app.db",
            ],
            "needs an issue number",
        ),
        (
            &[
                "rollback",
                "--dir",
                "migrations",
                "--database-url",
                "app.db",
            ],
            "<ISSUE>",
        ),
    ] {
        let (code, _, err) = raw_tool(ws.path(), args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(message), "{args:?}: {err}");
    }
    assert!(!ws.db_path().exists(), "no database file was created");
}

#[test]
fn database_url_comes_from_the_environment_and_accepts_a_plain_path() {
    let ws = Workspace::new();
    three_migrations(&ws);
    let out = Command::new(env!("CARGO_BIN_EXE_migrator-tool"))
        .current_dir(ws.path())
        .args(["apply", "--dir", "migrations"])
        .env("DATABASE_URL", "app.db")
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(Db::sqlite(&ws).history().len(), 3);
}

#[test]
fn a_malformed_migration_file_fails_naming_file_and_line() {
    let ws = Workspace::new();
    ws.write(
        "20240101000000_broken.sql",
        // A native header line: plain SQL under a timestamp name would be a sqlx migration.
        "-- Author: someone\nCREATE TABLE x (id INT);\n",
    );
    let db = Db::sqlite(&ws);
    let (code, _, err) = tool(&ws, &db, &["apply"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("20240101000000_broken.sql:"), "{err}");
    assert!(!ws.db_path().exists());
}

/// The backup `apply` takes holds the committed state in both SQLite journal modes: in WAL mode the
/// committed rows may live only in the `-wal` file (a copy of the main file alone would lose them).
#[test]
fn backups_hold_the_committed_state_in_rollback_and_wal_mode() {
    for wal in [false, true] {
        let ws = Workspace::new();
        three_migrations(&ws);
        let conn = rusqlite::Connection::open(ws.db_path()).unwrap();
        if wal {
            let mode: String = conn
                .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
                .unwrap();
            assert_eq!(mode, "wal");
            conn.execute_batch("PRAGMA wal_autocheckpoint = 0").unwrap();
        }
        conn.execute_batch(
            "CREATE TABLE kept (id INTEGER PRIMARY KEY, body TEXT);
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000)
             INSERT INTO kept SELECT i, hex(randomblob(100)) FROM n;",
        )
        .unwrap();
        if wal {
            let wal_file = ws.path().join("app.db-wal");
            assert!(
                std::fs::metadata(&wal_file).unwrap().len() > 500_000,
                "the rows are in the WAL, not yet in the main file"
            );
        }
        // `conn` stays open: in WAL mode the log is not checkpointed into the main file.
        let (code, out, err) = tool(&ws, &Db::sqlite(&ws), &["apply"]);
        assert_eq!(code, 0, "{err}");
        let backup = out
            .lines()
            .find_map(|l| l.strip_prefix("Backup before applying: "))
            .unwrap_or_else(|| panic!("no backup line in {out}"));
        let copy = rusqlite::Connection::open(backup).unwrap();
        let check: String = copy
            .query_row("PRAGMA quick_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(check, "ok", "wal: {wal}");
        let rows: i64 = copy
            .query_row("SELECT count(*) FROM kept", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 5000, "wal: {wal}");
        let notes: i64 = copy
            .query_row(
                "SELECT count(*) FROM sqlite_schema WHERE name = 'notes'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(
            notes, 0,
            "the backup is the state before the migrations (wal: {wal})"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(backup).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "wal: {wal}");
        }
        drop(conn);
    }
}
