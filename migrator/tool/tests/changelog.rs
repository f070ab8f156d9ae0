//! `migrator-tool changelog`: grouping and order, the `--since` slices, the states of a real database on
//! both engines (applied, rolled back with its reason, failed), `--check`, and bad input.

use std::path::Path;

use migrator_tests::{Db, Workspace};

mod common;

/// Runs the tool: (exit code, stdout, stderr).
fn tool(args: &[&str]) -> (i32, String, String) {
    common::tool(args[0], &args[1..])
}

fn example_migrations() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../migrations")
        .to_string_lossy()
        .into_owned()
}

#[test]
fn issues_newest_first_with_their_changes_in_words() {
    let dir = example_migrations();
    let (code, out, err) = tool(&[
        "changelog",
        "--dir",
        &dir,
        "--dialect",
        "sqlite",
        "--repo",
        "acme/crm",
    ]);
    assert_eq!(code, 0, "{err}");
    let headings: Vec<&str> = out.lines().filter(|l| l.starts_with("## ")).collect();
    assert_eq!(
        headings,
        [
            "## [#234](https://github.com/acme/crm/issues/234): Advanced Contact Enrichment",
            "## [#212](https://github.com/acme/crm/issues/212): User preferences",
            "## [#198](https://github.com/acme/crm/issues/198): Speed up the activity feed",
            "## [#187](https://github.com/acme/crm/issues/187): CRM base schema (users, contacts, activities)",
        ]
    );
    for line in [
        "- `contacts`: added columns `enrichment_status` varchar(20), `last_enriched_at` timestamp, `enrichment_score` decimal(3,2)",
        "- new index `idx_activities_owner` on `activities` (owner_id)",
        "- dropped index `idx_activities_legacy_type`",
        "- new table `users` (4 columns)",
    ] {
        assert!(out.lines().any(|l| l == line), "{line} missing from\n{out}");
    }
    assert!(!out.contains("On the database"), "no database, no states");
}

#[test]
fn since_gives_the_slice_for_release_notes() {
    let dir = example_migrations();
    let versions = |since: &str| {
        let (code, out, err) = tool(&["changelog", "--dir", &dir, "--since", since]);
        assert_eq!(code, 0, "{err}");
        out.lines()
            .filter_map(|l| l.strip_prefix("### "))
            .map(|l| l[..14].to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(versions("20240112091533"), ["20240115143022"]);
    assert_eq!(versions("2024-01-12"), ["20240115143022", "20240112091533"]);
    assert_eq!(versions("2025-01-01"), Vec::<String>::new());
    let (code, _, err) = tool(&["changelog", "--dir", &dir, "--since", "last tuesday"]);
    assert_eq!(code, 2);
    assert!(err.contains("YYYY-MM-DD"), "{err}");
}

/// Issue 10 (two migrations), 11 (an index), 12 (fails on the database).
fn history_workspace() -> Workspace {
    let ws = Workspace::new();
    ws.add(
        20240301000000,
        Some(10),
        "accounts",
        "CREATE TABLE accounts (id INTEGER PRIMARY KEY, name TEXT NOT NULL);",
        Some("DROP TABLE accounts;"),
    );
    ws.add(
        20240302000000,
        Some(10),
        "account_email",
        "ALTER TABLE accounts ADD COLUMN email TEXT;",
        Some("ALTER TABLE accounts DROP COLUMN email;"),
    );
    ws.add(
        20240303000000,
        Some(11),
        "account_name_index",
        "CREATE INDEX idx_accounts_name ON accounts (name);",
        Some("DROP INDEX idx_accounts_name;"),
    );
    ws.add(
        20240304000000,
        Some(12),
        "broken",
        "ALTER TABLE no_such_table ADD COLUMN x INTEGER;",
        Some("SELECT 1;"),
    );
    ws
}

fn states_on(db: &Db, ws: &Workspace, url: &str) {
    let config = migrator::Config {
        require_backup: false,
        require_test_run: false,
        ..migrator::Config::default()
    };
    let set = ws.set();
    assert!(db.boot_with(&set, config.clone()).is_err(), "#12 fails");
    db.with_backend(|b| {
        migrator::Migrator::new(&set)
            .with_config(config)
            .rollback_issue(b, 11, migrator::RollbackOptions::default())
    })
    .unwrap();
    // The runtime's `--reason` is not there yet: the reason goes into the rollback event's detail.
    db.exec(
        "UPDATE schema_migrations_log SET detail = 'the index slowed writes down'
         WHERE action = 'rolled_back' AND version = 20240303000000",
    );
    let dir = ws.migrations();
    let (code, out, err) = tool(&[
        "changelog",
        "--dir",
        dir.to_str().unwrap(),
        "--database-url",
        url,
    ]);
    assert_eq!(code, 0, "{err}");
    let headings: Vec<&str> = out.lines().filter(|l| l.starts_with("## ")).collect();
    assert_eq!(
        headings,
        [
            "## #12: broken",
            "## #11: account_name_index",
            "## #10: account_email"
        ],
        "{out}"
    );
    let states: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("On the database: "))
        .collect();
    assert_eq!(states.len(), 4, "{out}");
    assert!(
        states[0].starts_with("On the database: failed: \""),
        "{out}"
    );
    assert!(states[0].contains("no_such_table"), "{out}");
    assert!(
        states[1].starts_with("On the database: rolled back 20")
            && states[1].ends_with(": \"the index slowed writes down\"."),
        "{out}"
    );
    assert!(
        states[2].starts_with("On the database: applied 20"),
        "{out}"
    );
    assert!(
        states[3].starts_with("On the database: applied 20"),
        "{out}"
    );
    // The events of #11: applied, then rolled back with the reason.
    let at = out.find("### 20240303000000").unwrap();
    let events: Vec<&str> = out[at..]
        .lines()
        .take_while(|l| !l.starts_with("## "))
        .filter(|l| l.starts_with("- 20"))
        .collect();
    assert_eq!(events.len(), 2, "{out}");
    assert!(events[0].contains(" applied ("), "{out}");
    assert!(
        events[1].contains(" rolled back (")
            && events[1].ends_with("\"the index slowed writes down\""),
        "{out}"
    );
}

#[test]
fn states_of_a_sqlite_database() {
    let ws = history_workspace();
    let db = Db::sqlite(&ws);
    states_on(&db, &ws, &format!("sqlite:{}", ws.db_path().display()));
}

#[test]
fn states_of_a_postgres_database() {
    let Some(db) = Db::postgres() else {
        return;
    };
    let ws = history_workspace();
    let Db::Postgres(pg) = &db else {
        unreachable!()
    };
    let url = pg.url.clone();
    states_on(&db, &ws, &url);
}

#[test]
fn check_fails_after_a_new_migration() {
    let ws = history_workspace();
    let dir = ws.migrations();
    let dir = dir.to_str().unwrap();
    let out_file = ws.path().join("docs/CHANGELOG-migrations.md");
    let out_file = out_file.to_str().unwrap();
    let (code, _, err) = tool(&["changelog", "--dir", dir, "--out", out_file, "--check"]);
    assert_eq!(code, 1);
    assert!(err.contains("CHANGELOG-migrations.md: missing"), "{err}");
    let (code, out, err) = tool(&["changelog", "--dir", dir, "--out", out_file]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("wrote "), "{out}");
    let text = std::fs::read_to_string(out_file).unwrap();
    assert!(
        text.contains("[`20240301000000_issue_10_accounts.sql`](../migrations/20240301000000_issue_10_accounts.sql)"),
        "links are relative to the changelog:\n{text}"
    );
    let (code, out, err) = tool(&["changelog", "--dir", dir, "--out", out_file, "--check"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.ends_with("is current\n"), "{out}");
    ws.add(
        20240305000000,
        Some(13),
        "more",
        "CREATE TABLE more_things (id INTEGER PRIMARY KEY);",
        Some("DROP TABLE more_things;"),
    );
    let (code, _, err) = tool(&["changelog", "--dir", dir, "--out", out_file, "--check"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("CHANGELOG-migrations.md: differs") && err.contains("without --check"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(out_file).unwrap(),
        text,
        "--check writes nothing"
    );
}

#[test]
fn bad_input_is_named_and_nothing_is_written() {
    let ws = history_workspace();
    ws.write(
        "20240306000000_issue_14_unterminated.sql",
        "-- Issue #14: x\n-- ============ UP MIGRATION ============\nCREATE TABLE t (note TEXT DEFAULT 'oops);\n",
    );
    let dir = ws.migrations();
    let out_file = ws.path().join("CHANGELOG.md");
    let (code, _, err) = tool(&[
        "changelog",
        "--dir",
        dir.to_str().unwrap(),
        "--out",
        out_file.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("20240306000000_issue_14_unterminated.sql:3"),
        "{err}"
    );
    assert!(!out_file.exists());
    // A database URL that names nothing: a usage error.
    let (code, _, err) = tool(&[
        "changelog",
        "--dir",
        dir.to_str().unwrap(),
        "--database-url",
        "sqlite:/nonexistent/app.db",
    ]);
    assert_eq!(code, 2, "{err}");
    let (code, _, _) = tool(&["changelog", "--dir", "/nonexistent/migrations"]);
    assert_eq!(code, 2);
}
