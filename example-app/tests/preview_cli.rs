//! `example-app --migrate-preview`: the admin flag as operators run it, on an SQLite file and on PostgreSQL
//! (`--database-url`): the spec's layout with emoji, plain under NO_COLOR, JSON with `--format json`, exit
//! codes 0, 1 (unknown issue) and 2 (usage).

use std::process::{Command, Output};

use migrator_tests::{Db, Workspace};

const APP: &str = env!("CARGO_BIN_EXE_example-app");
const REPO_MIGRATIONS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../migrations");

fn app(args: &[&str], no_color: bool) -> Output {
    let mut cmd = Command::new(APP);
    cmd.args(args)
        .env_remove("DATABASE_URL")
        .env_remove("NO_COLOR");
    if no_color {
        cmd.env("NO_COLOR", "1");
    }
    cmd.output().expect("run example-app")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// An SQLite file with the base schema (#187, #198, #212 applied by the app itself) and 50,000 contacts:
/// the embedded #234 is pending.
fn sqlite_before_234(ws: &Workspace) -> String {
    for name in [
        "20240108113021_issue_187_crm_base_schema.sql",
        "20240110162244_issue_198_activity_feed_indexes.sql",
        "20240112091533_issue_212_user_preferences.sql",
    ] {
        let text = std::fs::read_to_string(format!("{REPO_MIGRATIONS}/{name}")).unwrap();
        ws.write(name, &text);
    }
    let db = ws.db_path().to_string_lossy().into_owned();
    let dir = ws.migrations().to_string_lossy().into_owned();
    let o = app(&["--db", &db, "--migrations-dir", &dir], false);
    assert!(o.status.success(), "{o:?}");
    let mut conn = ws.open();
    let tx = conn.transaction().unwrap();
    for i in 0..50_000 {
        tx.execute(
            "INSERT INTO contacts (id, name) VALUES (?1, ?2)",
            (format!("c{i}"), format!("contact {i}")),
        )
        .unwrap();
    }
    tx.commit().unwrap();
    db
}

#[test]
fn sqlite_preview_text_plain_json_and_exit_codes() {
    let ws = Workspace::new();
    let db = sqlite_before_234(&ws);
    let o = app(&["--db", &db, "--migrate-preview", "234"], false);
    let text = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{text}{o:?}");
    for heading in [
        "🔍 Migration Preview for Issue #234",
        "📊 Schema Changes:",
        "⏱️  Performance Impact:",
        "⚠️  Warnings:",
        "✅ Rollback Plan:",
        "📁 Generated Files:",
        "  - Affected Rows: 50,000",
        "    - FK: contact_enrichment.contact_id → contacts.id\n",
    ] {
        assert!(text.contains(heading), "missing {heading:?} in\n{text}");
    }

    let o = app(&["--db", &db, "--migrate-preview", "234"], true);
    let plain = stdout(&o);
    assert!(plain.is_ascii(), "{plain}");
    assert!(
        plain.contains("Performance Impact:\n  - Estimated Duration: "),
        "{plain}"
    );

    let o = app(
        &[
            "--db",
            &db,
            "--migrate-preview",
            "pending",
            "--format",
            "json",
        ],
        false,
    );
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert_eq!(v["schema_version"], 1);
    assert_eq!(v["target"], "pending");
    assert_eq!(v["total"]["performance"]["affected_rows"], 50_000);

    let o = app(&["--db", &db, "--migrate-preview", "999"], false);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("issue #999 has no migration in this migration set"),
        "{err}"
    );
    let o = app(
        &["--db", &db, "--migrate-preview", "234", "--format", "yaml"],
        false,
    );
    assert_eq!(o.status.code(), Some(2), "{o:?}");
}

#[test]
fn postgres_preview_through_database_url() {
    let ws = Workspace::new();
    let Some(db) = Db::postgres() else { return };
    let Db::Postgres(pg) = &db else {
        unreachable!()
    };
    db.exec(
        "CREATE FUNCTION update_updated_at_column() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN NEW.updated_at = now(); RETURN NEW; END $$;
         CREATE TABLE contacts (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), name text NOT NULL,
           updated_at timestamp NOT NULL DEFAULT now());
         INSERT INTO contacts (name) SELECT 'contact ' || g FROM generate_series(1, 50000) g;
         ANALYZE contacts;",
    );
    let spec = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../migrator/tool/tests/fixtures/spec-example-234.sql"
    );
    ws.write(
        "20240115143022_issue_234_contact_enrichment.sql",
        &std::fs::read_to_string(spec).unwrap(),
    );
    let dir = ws.migrations().to_string_lossy().into_owned();
    let o = app(
        &[
            "--database-url",
            &pg.url,
            "--migrations-dir",
            &dir,
            "--migrate-preview",
            "234",
        ],
        false,
    );
    let text = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{text}{o:?}");
    assert!(text.contains("  - Affected Rows: 50,000"), "{text}");
    assert!(text.contains("Database: PostgreSQL "), "{text}");
    assert!(
        text.contains("ALTER TABLE on contacts: ACCESS EXCLUSIVE"),
        "{text}"
    );
}
