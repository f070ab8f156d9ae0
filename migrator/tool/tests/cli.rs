//! The command line: exit codes, clear errors, nothing written on failure, idempotence.

mod common;

use std::path::Path;
use std::process::Command;

use common::fixtures;

fn tool(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_migrator-tool"))
        .current_dir(dir)
        .args(args)
        .env_remove("GITHUB_TOKEN")
        .env_remove("GITHUB_API_URL")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The example app's migrations (without issue `except`'s) in `dir/migrations`: the schema a generation
/// replays. Returns what `written` lists then, to subtract.
fn base(dir: &Path, except: u32) -> Vec<String> {
    common::copy_example(
        &dir.join("migrations"),
        migrator_tool::Dialect::Sqlite,
        Some(except),
    );
    written(dir)
}

/// `written(dir)` without the files `before` lists.
fn new_files(dir: &Path, before: &[String]) -> Vec<String> {
    let mut now = written(dir);
    now.retain(|f| !before.contains(f) || f == "migrations/");
    now
}

/// Every file under `dir` except the inputs (`*.json`).
fn written(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p.clone());
                out.push(format!("{}/", p.strip_prefix(dir).unwrap().display()));
            } else if p.extension().is_none_or(|x| x != "json") {
                out.push(p.strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    out.sort();
    out
}

fn export(dir: &Path, name: &str, value: serde_json::Value) -> String {
    let path = dir.join(name);
    std::fs::write(&path, value.to_string()).unwrap();
    path.display().to_string()
}

#[test]
fn writes_the_migration_rollback_and_docs_then_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let start = base(dir.path(), 234);
    let f = fixtures().join("234.json");
    let args = [
        "generate",
        "--export",
        f.to_str().unwrap(),
        "--timestamp",
        "20240115143022",
    ];
    let (code, out, err) = tool(dir.path(), &args);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with(
        "created: issue #234 -> 20240115143022_issue_234_advanced_contact_enrichment.sql"
    ));
    assert_eq!(
        new_files(dir.path(), &start),
        [
            "docs/",
            "docs/schema/",
            "docs/schema/contact_enrichment.md",
            "docs/schema/contacts.md",
            "migrations/",
            "migrations/20240115143022_issue_234_advanced_contact_enrichment.sql",
            "rollback/",
            "rollback/20240115143022_rollback.sql",
        ]
    );
    let text = std::fs::read_to_string(
        dir.path()
            .join("migrations/20240115143022_issue_234_advanced_contact_enrichment.sql"),
    )
    .unwrap();
    migrator_format::parse_file(
        "20240115143022_issue_234_advanced_contact_enrichment.sql",
        &text,
    )
    .unwrap();
    let docs = std::fs::read_to_string(dir.path().join("docs/schema/contacts.md")).unwrap();
    assert!(
        docs.contains("Added column `enrichment_status`: VARCHAR(20)"),
        "{docs}"
    );

    // Again, with another timestamp: the existing file is found, nothing new is written.
    let before = written(dir.path());
    let (code, out, _) = tool(
        dir.path(),
        &[
            "generate",
            "--export",
            f.to_str().unwrap(),
            "--timestamp",
            "20250101000000",
        ],
    );
    assert_eq!(code, 0);
    assert!(out.starts_with("unchanged: issue #234"), "{out}");
    assert_eq!(written(dir.path()), before);

    // A changed issue: a diff, exit 1, no second file.
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&f).unwrap()).unwrap();
    let body = v["body"]
        .as_str()
        .unwrap()
        .replace("| source | VARCHAR(50) |", "| source | VARCHAR(80) |");
    v["body"] = body.into();
    let changed = export(dir.path(), "234.json", v);
    let (code, _, err) = tool(dir.path(), &["generate", "--export", &changed]);
    assert_eq!(code, 1);
    assert!(err.contains("issue #234 changed since"), "{err}");
    assert!(
        err.contains("-     source VARCHAR(50) NOT NULL,")
            && err.contains("+     source VARCHAR(80) NOT NULL,"),
        "{err}"
    );
    assert_eq!(written(dir.path()), before);
}

#[test]
fn dry_run_prints_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("schema.sql"),
        common::pg_schema_script(Some(198)),
    )
    .unwrap();
    let f = fixtures();
    let (code, out, err) = tool(
        dir.path(),
        &[
            "generate",
            "--export",
            f.to_str().unwrap(),
            "--issue",
            "198",
            "--dialect",
            "postgres",
            "--schema-dump",
            "schema.sql",
            "--dry-run",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("-- migrator:no-transaction"));
    assert!(out.contains("CREATE INDEX CONCURRENTLY idx_activities_contact_created ON activities (contact_id, created_at DESC);"));
    // The DOWN re-creates the dropped index exactly, from the schema.
    assert!(
        out.contains("CREATE INDEX CONCURRENTLY idx_activities_legacy_type ON activities(type);"),
        "{out}"
    );
    assert!(out.contains("rollback: exact"), "{out}");
    assert_eq!(written(dir.path()), ["schema.sql"]);
}

#[test]
fn usage_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(tool(dir.path(), &[]).0, 2);
    assert_eq!(tool(dir.path(), &["generate"]).0, 2);
    assert_eq!(
        tool(
            dir.path(),
            &["generate", "--export", "x.json", "--dialect", "mysql"]
        )
        .0,
        2
    );
    let (code, _, err) = tool(
        dir.path(),
        &[
            "generate",
            "--export",
            fixtures().join("234.json").to_str().unwrap(),
            "--timestamp",
            "20241399000000",
        ],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--timestamp"));
    let (code, out, _) = tool(dir.path(), &["--help"]);
    assert_eq!(code, 0);
    assert!(out.contains("generate"));
    assert!(written(dir.path()).is_empty());
}

fn fails(dir: &Path, file: &str, expect: &[&str]) {
    let before = written(dir);
    let (code, out, err) = tool(
        dir,
        &[
            "generate",
            "--export",
            file,
            "--timestamp",
            "20240115143022",
        ],
    );
    assert_eq!(code, 1, "{out}{err}");
    for e in expect {
        assert!(err.contains(e), "{e:?} not in {err}");
    }
    assert_eq!(written(dir), before, "nothing is written");
}

#[test]
fn bad_inputs_fail_clearly_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    base(d, 0);
    let p = d.join("broken.json");
    std::fs::write(
        &p,
        "{\n  \"number\": 1,\n  \"title\": \"x\"\n  \"body\": \"\"\n}\n",
    )
    .unwrap();
    fails(d, p.to_str().unwrap(), &["broken.json:4:3: malformed JSON"]);

    let f = export(
        d,
        "types.json",
        serde_json::json!({"number": "12", "title": "x", "body": ""}),
    );
    fails(
        d,
        &f,
        &["field `number` must be a positive whole number, found a string"],
    );
    let f = export(
        d,
        "types2.json",
        serde_json::json!([{"number": 1, "title": "x", "body": ["no"]}]),
    );
    fails(
        d,
        &f,
        &["field `[0].body` must be a string, found an array"],
    );

    let f = export(
        d,
        "none.json",
        serde_json::json!({"number": 5, "title": "Docs", "body": "Just prose.\n\n## Notes\n- nothing here\n"}),
    );
    fails(d, &f, &["issue #5: no data model changes found"]);

    let big = format!(
        "## Data model\n- Add column x (TEXT) to users\n{}",
        "a".repeat(5 * 1024 * 1024)
    );
    let f = export(
        d,
        "big.json",
        serde_json::json!({"number": 6, "title": "Big", "body": big}),
    );
    fails(
        d,
        &f,
        &["issue #6 body is 5242", "over the limit of 1048576 bytes"],
    );

    let hostile = "### Changes to `users`\n\n| Column | Type |\n|---|---|\n| ok_col | TEXT |\n| id\"; DROP TABLE users; -- | TEXT |\n";
    let f = export(
        d,
        "hostile.json",
        serde_json::json!({"number": 7, "title": "Hostile", "body": hostile}),
    );
    fails(
        d,
        &f,
        &[
            "body line 6",
            "the Column cell",
            "not a plain identifier",
            "refused",
        ],
    );

    let f = export(
        d,
        "hostile2.json",
        serde_json::json!({"number": 8, "title": "Hostile", "body": "```sql\nALTER TABLE users ADD COLUMN \"x\"\"; DROP TABLE users; --\" TEXT;\n```\n"}),
    );
    fails(d, &f, &["body line 2", "not a plain identifier"]);

    let f = export(
        d,
        "hostile3.json",
        serde_json::json!({"number": 9, "title": "Hostile", "body": "## Schema\n- Add column x (TEXT, default 'a'); DROP TABLE users) to users\n"}),
    );
    fails(d, &f, &["body line 2"]);

    let f = export(
        d,
        "unreadable.json",
        serde_json::json!({"number": 10, "title": "U", "body": "## Data model\n\n- Add column `nickname` to `users`\n- Rename column `a` in `users`\n- Add column ok (TEXT) to users\n"}),
    );
    fails(
        d,
        &f,
        &[
            "2 part(s) of the data model could not be read",
            "body line 3",
            "an added column needs its type",
            "body line 4",
            "expected `to`",
        ],
    );

    let f = export(
        d,
        "sqlite_limit.json",
        serde_json::json!({"number": 11, "title": "L", "body": "## Data model\n- Add column `verified` (BOOLEAN, not null) to `users`\n"}),
    );
    fails(
        d,
        &f,
        &[
            "body line 2",
            "users.verified is NOT NULL without a default",
        ],
    );

    fails(
        d,
        d.join("missing.json").to_str().unwrap(),
        &["cannot read"],
    );
}

#[test]
fn every_input_shape_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let gh: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("198.json")).unwrap())
            .unwrap();
    let rest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("212.rest.json")).unwrap())
            .unwrap();
    let array = export(d, "array.json", serde_json::json!([gh, rest]));
    // An array with two issues needs --issue.
    let (code, _, err) = tool(d, &["generate", "--export", &array, "--dry-run"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("the export holds issues #198, #212; choose one with --issue N"),
        "{err}"
    );
    for (input, issue) in [
        (array.as_str(), 212),
        (fixtures().to_str().unwrap(), 212),
        (fixtures().to_str().unwrap(), 234),
    ] {
        let sqlite = d.join(format!("base-{issue}"));
        common::copy_example(&sqlite, migrator_tool::Dialect::Sqlite, Some(issue));
        let pg = d.join(format!("schema-{issue}.sql"));
        std::fs::write(&pg, common::pg_schema_script(Some(issue))).unwrap();
        for (dialect, schema) in [
            ("sqlite", ["--dir", sqlite.to_str().unwrap()]),
            ("postgres", ["--schema-dump", pg.to_str().unwrap()]),
        ] {
            let n = issue.to_string();
            let mut args = vec![
                "generate",
                "--export",
                input,
                "--issue",
                &n,
                "--dialect",
                dialect,
                "--dry-run",
            ];
            args.extend(schema);
            let (code, out, err) = tool(d, &args);
            assert_eq!(code, 0, "{input} {issue} {dialect}: {err}");
            assert!(out.contains(&format!("dry-run: issue #{issue}")));
        }
    }
    let (code, _, err) = tool(
        d,
        &[
            "generate",
            "--export",
            fixtures().to_str().unwrap(),
            "--issue",
            "999",
            "--dry-run",
        ],
    );
    assert_eq!(code, 1);
    assert!(err.contains("issue #999 is not in the export"));
}

#[test]
fn comments_are_read_after_the_body_unless_body_only() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    base(d, 0);
    let f = export(
        d,
        "c.json",
        serde_json::json!({
            "number": 40, "title": "Tags", "body": "## Data model\n- Add column `tags` (TEXT) to `contacts`\n",
            "comments": [{"author": {"login": "dba"}, "body": "Also:\n\n## Schema\n- Add index on `contacts` (`tags`)\n"}]
        }),
    );
    let (code, out, err) = tool(d, &["generate", "--export", &f, "--dry-run"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("CREATE INDEX idx_contacts_tags ON contacts (tags);"),
        "{out}"
    );
    assert!(out.contains("(from comment 1 line 4)"));
    let (code, out, _) = tool(d, &["generate", "--export", &f, "--dry-run", "--body-only"]);
    assert_eq!(code, 0);
    assert!(!out.contains("CREATE INDEX"));
}

#[test]
fn a_failed_write_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let start = base(d, 212);
    // `rollback` is a file, so the rollback script cannot be written: the migration must not appear either.
    std::fs::write(d.join("rollback"), "not a directory").unwrap();
    let f = fixtures().join("212.json");
    let (code, _, err) = tool(
        d,
        &[
            "generate",
            "--export",
            f.to_str().unwrap(),
            "--timestamp",
            "20240115143022",
        ],
    );
    assert_eq!(code, 1);
    assert!(err.contains("nothing was written"), "{err}");
    let mut left = new_files(d, &start);
    left.retain(|p| p != "rollback" && p != "migrations/");
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn the_title_cannot_break_out_of_its_comment() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    base(d, 0);
    let f = export(
        d,
        "t.json",
        serde_json::json!({"number": 41, "title": "Evil\nDROP TABLE users;\n-- x", "body": "## Schema\n- Add column `x` (TEXT) to `users`\n"}),
    );
    let (code, out, err) = tool(
        d,
        &[
            "generate",
            "--export",
            &f,
            "--dry-run",
            "--timestamp",
            "20240115143022",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("-- Issue #41: Evil DROP TABLE users; -- x\n"));
    assert!(!out.lines().any(|l| l.starts_with("DROP TABLE users")));
    assert!(out.contains("20240115143022_issue_41_evil_drop_table_users_x.sql"));
}

#[test]
fn the_schema_comes_from_a_replay_a_dump_or_a_database() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let f = fixtures();
    let issue198 = |extra: &[&str]| {
        let mut args = vec![
            "generate",
            "--export",
            f.to_str().unwrap(),
            "--issue",
            "198",
            "--dry-run",
        ];
        args.extend_from_slice(extra);
        tool(d, &args)
    };
    // Nothing to replay: the index the issue drops is not known, and the run says so.
    let (code, _, err) = issue198(&[]);
    assert_eq!(code, 1);
    assert!(
        err.contains("does not exist in the schema (migrations holds no migration yet"),
        "{err}"
    );
    // A `.schema` dump of the example app before #198.
    let db = d.join("app.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    let ws = d.join("before-198");
    common::copy_example(&ws, migrator_tool::Dialect::Sqlite, Some(198));
    let set = migrator::MigrationSet::from_dir(&ws).unwrap();
    migrator::Migrator::new(&set)
        .with_config(migrator::Config {
            require_backup: false,
            ..migrator::Config::default()
        })
        .boot(&mut migrator::Sqlite::new(&conn))
        .unwrap();
    let dump: Vec<String> = conn
        .prepare("SELECT sql || ';' FROM sqlite_schema WHERE sql IS NOT NULL")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    std::fs::write(d.join("app.schema"), dump.join("\n")).unwrap();
    for extra in [
        &["--schema-dump", "app.schema"][..],
        &["--database-url", db.to_str().unwrap()][..],
        &["--dir", ws.to_str().unwrap()][..],
    ] {
        let (code, out, err) = issue198(extra);
        assert_eq!(code, 0, "{extra:?}: {err}");
        assert!(
            out.contains("CREATE INDEX idx_activities_legacy_type ON activities(type);"),
            "{extra:?}: {out}"
        );
        assert!(out.contains("rollback: exact"), "{out}");
    }
    let (code, _, err) = issue198(&["--schema-dump", "nope.sql"]);
    assert_eq!(code, 2);
    assert!(err.contains("--schema-dump nope.sql"), "{err}");
    // PostgreSQL migrations are replayed on a server, or read from a dump.
    let (code, _, err) = issue198(&["--dialect", "postgres", "--dir", ws.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("--replay-url"), "{err}");
}
