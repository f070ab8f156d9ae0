//! `migrator-tool preview`: the host's `--migrate-preview` on a directory and a database URL, on both
//! engines; JSON; exit codes 0, 1 (unknown issue), 2 (usage).

use migrator_tests::{sqlite_and_postgres, Db, Workspace};

mod common;

sqlite_and_postgres!(previews_a_pending_issue_from_a_directory);

fn previews_a_pending_issue_from_a_directory(ws: &Workspace, db: &Db) {
    let url = common::items_base(ws, db, "(1, 'a'), (2, 'b')");
    ws.add(
        20240102000000,
        Some(2),
        "kinds",
        "ALTER TABLE items ADD COLUMN kind TEXT;\nCREATE INDEX items_kind ON items (kind);",
        Some("DROP INDEX items_kind;\nALTER TABLE items DROP COLUMN kind;"),
    );
    let dir = ws.migrations().to_string_lossy().into_owned();
    let base = ["--dir", dir.as_str(), "--database-url", url.as_str()];
    let schema = db.fingerprint();

    let (code, out, err) = common::tool("preview", &[&["2"][..], &base].concat());
    assert_eq!(code, 0, "{out}{err}");
    for expected in [
        "Migration Preview for Issue #2\n",
        "  MODIFIED TABLES:\n    - items (+1 column, +1 index)\n",
        "Rollback Plan:\n",
        "  - migrations/20240102000000_issue_2_kinds.sql\n",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in\n{out}");
    }

    let (code, out, _) = common::tool(
        "preview",
        &[&["pending", "--format", "json"][..], &base].concat(),
    );
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(v["schema_version"], 1);
    assert_eq!(v["migrations"][0]["version"], 20240102000000u64);

    let (code, _, err) = common::tool("preview", &[&["999"][..], &base].concat());
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("issue #999 has no migration"), "{err}");
    let (code, _, _) = common::tool("preview", &[&["soon"][..], &base].concat());
    assert_eq!(code, 2);
    assert_eq!(db.fingerprint(), schema, "a preview changes nothing");
}
