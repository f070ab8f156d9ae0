//! `migrator-tool backfill`: the pending backfill runs batch by batch with its progress on stderr, the
//! migration that waited for it is applied, `status` shows it done; a failing batch exits 1 naming the
//! file, the line and the key range, and a second run resumes at the cursor.

use std::process::Command;

use migrator_tests::items::{self, BACKFILL_UP};
use migrator_tests::{all_engines, Db, Workspace};

fn tool(ws: &Workspace, db: &Db, args: &[&str]) -> (i32, String, String) {
    let url = db.url();
    let out = Command::new(env!("CARGO_BIN_EXE_migrator-tool"))
        .current_dir(ws.path())
        .args(args)
        .args(["--dir", "migrations", "--database-url", &url])
        .env("NO_COLOR", "1")
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

/// The first migration applied with `apply`; `items` seeded; then a backfill of it and a migration after
/// it, pending (the tool's `apply` would run the backfill inline).
fn setup(ws: &Workspace, db: &Db, up: &str) {
    std::fs::write(
        ws.path().join("migration_safety.yaml"),
        "migration_safety:\n  require_backup: []\n  require_test_run: false\n",
    )
    .unwrap();
    ws.add(
        20250301000000,
        Some(17),
        "marker",
        "CREATE TABLE marker (id INTEGER PRIMARY KEY);",
        None,
    );
    let (code, _, err) = tool(ws, db, &["apply"]);
    assert_eq!(code, 0, "{err}");
    items::create(db);
    items::seed(db, 3000);
    items::add_backfill(ws, 20250302000000, "batch=500", up);
    ws.add(
        20250303000000,
        Some(17),
        "items_label_index",
        "CREATE INDEX items_label ON items (label);",
        None,
    );
}

fn runs_the_backfill_with_its_progress(ws: &Workspace, db: &Db) {
    setup(ws, db, BACKFILL_UP);
    let (code, out, err) = tool(ws, db, &["backfill"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let (_, updated) = items::expected(3000);
    let rows = migrator::render::thousands(updated);
    assert!(
        out.contains(&format!(
            "Backfilled 20250302000000 #17 items_backfill: {rows} rows in 6 batches"
        )),
        "{out}"
    );
    assert!(
        out.contains("20250303000000 #17    items_label_index"),
        "{out}"
    );
    // Not a terminal: the first batch's line and the last one.
    assert!(
        err.contains("20250302000000 [") && err.contains("100.0%"),
        "{err}"
    );
    assert_eq!(items::counters(db), (updated as i64, 0, 0));
    let (code, out, _) = tool(ws, db, &["status"]);
    assert_eq!(code, 0);
    assert!(
        out.contains(&format!(
            "20250302000000   done     {rows} rows in 6 batches"
        )),
        "{out}"
    );
    // Nothing left: a second run reports the schema up to date.
    let (code, out, _) = tool(ws, db, &["backfill", "--quiet"]);
    assert_eq!(code, 0);
    assert!(out.contains("Schema up to date"), "{out}");
}

fn a_failing_batch_exits_1_and_the_next_run_resumes(ws: &Workspace, db: &Db) {
    setup(
        ws,
        db,
        "UPDATE items SET n = n + 1, label = NULL WHERE kind <> 'skip' AND id > 1500",
    );
    let (code, out, err) = tool(ws, db, &["backfill", "--quiet"]);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(
        err.contains("backfill 20250302000000 (20250302000000_issue_17_items_backfill.sql) failed in the batch of items.id in (")
            && err.contains("statement at line 5"),
        "{err}"
    );
    let (code, out, _) = tool(ws, db, &["status"]);
    assert_eq!(code, 0);
    assert!(out.contains("failed") && out.contains("error:"), "{out}");
    // The label column accepts NULL from now on: the next run resumes where the first stopped.
    db.exec(match db {
        // SQLite cannot drop NOT NULL in place: rebuilt as an operator would.
        Db::Sqlite(_) => "CREATE TABLE items2 (id INTEGER PRIMARY KEY, kind VARCHAR(10) NOT NULL, label VARCHAR(40), divisor INTEGER NOT NULL, ratio INTEGER, n INTEGER NOT NULL DEFAULT 0, touched INTEGER NOT NULL DEFAULT 0); INSERT INTO items2 SELECT * FROM items; DROP TABLE items; ALTER TABLE items2 RENAME TO items;",
        Db::MySql(_) => "ALTER TABLE items MODIFY label VARCHAR(40) NULL",
        Db::Postgres(_) => "ALTER TABLE items ALTER COLUMN label DROP NOT NULL",
    });
    let (code, out, err) = tool(ws, db, &["backfill", "--quiet"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("resumed after key"), "{out}");
    // The statement's own condition leaves the ids up to 1500 alone.
    let updated = items::expected(3000).1 - items::expected(1500).1;
    let (once, twice, _) = items::counters(db);
    assert_eq!((once, twice), (updated as i64, 0));
}

all_engines!(
    runs_the_backfill_with_its_progress,
    a_failing_batch_exits_1_and_the_next_run_resumes
);
