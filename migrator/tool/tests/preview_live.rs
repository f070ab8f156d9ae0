//! `migrator-tool preview` checks what will fail on the database in hand (issue #14): a unique index over
//! duplicate rows is an error in the text and the JSON, with the query that shows the rows; once they are
//! gone the preview is clean. On a real SQLite file and the throwaway PostgreSQL cluster.

use migrator_tests::{sqlite_and_postgres, Db, Workspace};

mod common;

sqlite_and_postgres!(the_tool_preview_says_a_unique_index_will_fail_over_duplicates);

fn the_tool_preview_says_a_unique_index_will_fail_over_duplicates(ws: &Workspace, db: &Db) {
    let url = common::items_base(ws, db, "(1, 'open'), (2, 'open'), (3, 'closed')");
    ws.add(
        20240102000000,
        Some(2),
        "one_per_state",
        "CREATE UNIQUE INDEX items_state_key ON items (state);",
        Some("DROP INDEX items_state_key;"),
    );
    let dir = ws.migrations().to_string_lossy().into_owned();
    let base = ["--dir", dir.as_str(), "--database-url", url.as_str()];

    let (code, out, err) = common::tool("preview", &[&["2"][..], &base].concat());
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("[error will-fail] line 6: the unique key items(state) will fail: 2 rows share a value with another row; see them with: SELECT * FROM \"items\" WHERE"),
        "{out}"
    );

    let (code, out, _) = common::tool("preview", &[&["2", "--format", "json"][..], &base].concat());
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    let failing: Vec<&serde_json::Value> = v["migrations"][0]["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["id"] == "will-fail")
        .collect();
    assert_eq!(failing.len(), 1, "{v:#}");
    let query = failing[0]["query"].as_str().expect("query");
    let mut ids: Vec<String> = db
        .rows(query)
        .iter()
        .map(|r| r.split('|').next().unwrap().to_string())
        .collect();
    ids.sort();
    assert_eq!(ids, ["1", "2"]);

    db.exec("UPDATE items SET state = 'reopened' WHERE id = 2;");
    let (code, out, err) = common::tool("preview", &[&["2"][..], &base].concat());
    assert_eq!(code, 0, "{err}");
    assert!(!out.contains("will-fail"), "{out}");
}
