//! `migrator-tool lint`: exit codes, text and JSON output, suppression.

use std::path::Path;

mod common;

fn lint(args: &[&str]) -> (i32, String, String) {
    common::tool("lint", args)
}

fn write(dir: &Path, name: &str, header: &str, up: &str) {
    let text = format!("{header}-- ============ UP MIGRATION ============\n{up}\n");
    std::fs::write(dir.join(name), text).expect("write");
}

#[test]
fn clean_directory_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "20240101000000_a.sql",
        "",
        "CREATE TABLE t (id bigint PRIMARY KEY);",
    );
    let d = dir.path().to_str().unwrap();
    let (code, out, _) = lint(&[d]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("0 at or over error"), "{out}");
}

#[test]
fn error_finding_exits_1_with_file_line_and_alternative() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "20240101000000_a.sql",
        "",
        "CREATE INDEX idx ON contacts (email);",
    );
    let d = dir.path().to_str().unwrap();
    let (code, out, _) = lint(&[d, "--dialect", "postgres"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("20240101000000_a.sql:2: error[pg-index-not-concurrent]: "),
        "{out}"
    );
    assert!(
        out.contains("\n  safe alternative: CREATE INDEX CONCURRENTLY"),
        "{out}"
    );
    // The same file on SQLite has nothing to say.
    let (code, out, _) = lint(&[d, "--dialect", "sqlite"]);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn fail_on_warning_and_suppression() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "20240101000000_a.sql",
        "",
        "ALTER TABLE contacts RENAME COLUMN a TO b;",
    );
    let d = dir.path().to_str().unwrap();
    assert_eq!(lint(&[d]).0, 0);
    assert_eq!(lint(&[d, "--fail-on", "warning"]).0, 1);
    write(
        dir.path(),
        "20240101000000_a.sql",
        "-- migrator:allow rename-breaks-clients no client reads column a\n",
        "ALTER TABLE contacts RENAME COLUMN a TO b;",
    );
    let (code, out, _) = lint(&[d, "--fail-on", "warning"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("(allowed: no client reads column a)"), "{out}");
}

#[test]
fn json_has_schema_version_and_not_analysed_statements() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "20240101000000_a.sql",
        "",
        "SELECT 1;\nCREATE TABLEX nonsense (a int);",
    );
    let d = dir.path().to_str().unwrap();
    let (code, out, _) = lint(&[d, "--format", "json"]);
    assert_eq!(code, 1, "{out}");
    let doc: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(doc["schema_version"], 1);
    assert_eq!(doc["summary"]["not_analysed"], 1);
    let st = &doc["migrations"][0]["statements"][1];
    assert_eq!(st["status"]["state"], "not-analysed");
    assert!(
        st["status"]["reason"].as_str().unwrap().contains("parser"),
        "{st}"
    );
    let f = &doc["migrations"][0]["findings"][0];
    assert_eq!(f["id"], "not-analysed");
    assert_eq!(f["line"], 3);
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(lint(&[]).0, 2);
    assert_eq!(lint(&["/definitely/not/here"]).0, 2);
    assert_eq!(lint(&[".", "--dialect", "oracle"]).0, 2);
    assert_eq!(lint(&[".", "--pg-version", "abc"]).0, 2);
}

#[test]
fn malformed_file_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    // A native header line: a comment-only file under a timestamp name would be a sqlx migration.
    std::fs::write(
        dir.path().join("20240101000000_a.sql"),
        "-- Author: someone\n",
    )
    .unwrap();
    let (code, _, err) = lint(&[dir.path().to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains("no UP MIGRATION"), "{err}");
}
