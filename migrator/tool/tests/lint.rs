//! `migrator-tool lint`: exit codes, text and JSON output, suppression.

use std::path::Path;

/// Runs `migrator-tool lint`, without a `DATABASE_URL` from the environment (it would pick the dialect).
fn lint(args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_migrator-tool"))
        .arg("lint")
        .args(args)
        .env_remove("DATABASE_URL")
        .output()
        .expect("run migrator-tool");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
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
    let (code, out, _) = lint(&[d, "--dialect", "postgres"]);
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
    assert_eq!(lint(&[d, "--dialect", "postgres"]).0, 0);
    assert_eq!(
        lint(&[d, "--dialect", "postgres", "--fail-on", "warning"]).0,
        1
    );
    write(
        dir.path(),
        "20240101000000_a.sql",
        "-- migrator:allow rename-breaks-clients no client reads column a\n",
        "ALTER TABLE contacts RENAME COLUMN a TO b;",
    );
    let (code, out, _) = lint(&[d, "--dialect", "postgres", "--fail-on", "warning"]);
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
    let (code, out, _) = lint(&[d, "--dialect", "postgres", "--format", "json"]);
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
        "-- Author: someone
",
    )
    .unwrap();
    let (code, _, err) = lint(&[dir.path().to_str().unwrap(), "--dialect", "sqlite"]);
    assert_eq!(code, 1);
    assert!(err.contains("no UP MIGRATION"), "{err}");
}

#[test]
fn the_dialect_is_inferred_or_required() {
    let root = tempfile::tempdir().unwrap();
    // A SQLite directory linted without --dialect used to get PostgreSQL findings; now its name decides.
    let sqlite = root.path().join("sqlite");
    std::fs::create_dir(&sqlite).unwrap();
    write(
        &sqlite,
        "20240101000000_a.sql",
        "",
        "CREATE INDEX idx ON contacts (email);",
    );
    let (code, out, err) = lint(&[sqlite.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("0 errors"), "{out}");
    // The root holding only sqlite/: that one is linted, as SQLite.
    let (code, out, err) = lint(&[root.path().to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("1 migrations"), "{out}");
    // A second engine directory: ambiguous without --dialect; --dialect picks one.
    let pg = root.path().join("postgres");
    std::fs::create_dir(&pg).unwrap();
    write(
        &pg,
        "20240101000000_a.sql",
        "",
        "CREATE INDEX idx ON contacts (email);",
    );
    let (code, _, err) = lint(&[root.path().to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("several engines"), "{err}");
    let (code, out, _) = lint(&[root.path().to_str().unwrap(), "--dialect", "postgres"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("error[pg-index-not-concurrent]"), "{out}");
    // No name to go by: the database URL's scheme decides, else lint refuses to guess.
    let plain = tempfile::tempdir().unwrap();
    write(
        plain.path(),
        "20240101000000_a.sql",
        "",
        "CREATE INDEX idx ON contacts (email);",
    );
    let p = plain.path().to_str().unwrap();
    let (code, _, err) = lint(&[p]);
    assert_eq!(code, 2);
    assert!(err.contains("cannot tell the dialect"), "{err}");
    assert!(err.contains("--dialect postgres|sqlite"), "{err}");
    assert_eq!(
        lint(&[p, "--database-url", "postgres://u@localhost/app"]).0,
        1
    );
    assert_eq!(lint(&[p, "--database-url", "sqlite:app.db"]).0, 0);
    let (code, _, err) = lint(&[p, "--database-url", "mysql://u@localhost/app"]);
    assert_eq!(code, 2);
    assert!(err.contains("does not read"), "{err}");
}

#[test]
fn an_unknown_allow_id_is_reported_with_its_line_and_the_closest_id() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "20240101000000_a.sql",
        "-- migrator:allow pg-index-not-concurent the table is small\n",
        "CREATE INDEX idx ON contacts (email);",
    );
    let (code, out, err) = lint(&[dir.path().to_str().unwrap(), "--dialect", "postgres"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains(
            "20240101000000_a.sql:1: `-- migrator:allow pg-index-not-concurent`: unknown check id"
        ),
        "{err}"
    );
    assert!(
        err.contains("did you mean \"pg-index-not-concurrent\""),
        "{err}"
    );
    let (code, help, _) = lint(&["--help"]);
    assert_eq!(code, 0);
    assert!(
        help.contains("pg-index-not-concurrent") && help.contains("not-understood"),
        "{help}"
    );
}

#[test]
fn a_60_kb_expression_is_a_finding_not_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let terms = vec!["1"; 30_000].join("+");
    write(
        dir.path(),
        "20240101000000_a.sql",
        "",
        &format!("SELECT {terms};"),
    );
    let (code, out, err) = lint(&[dir.path().to_str().unwrap(), "--dialect", "postgres"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        out.contains("error[not-analysed]: not analysed: too deeply nested"),
        "{out}"
    );
}
