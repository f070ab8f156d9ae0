//! `migrator-tool import --from diesel|sqlx|refinery SRC --out DIR`: converts once, writes every file or
//! none, refuses a directory of another layout or a non-empty output, and what it writes applies with
//! `migrator-tool apply` on a real SQLite file.

mod common;

use std::path::{Path, PathBuf};

use common::tool;
use migrator_format::{load_dir, Layout, Original};

/// `migrator-tool import --from <from> <src> --out <out>`.
fn import(from: &str, src: &Path, out: &Path) -> (i32, String, String) {
    tool("import", &["--from", from, &text(src), "--out", &text(out)])
}

fn fixture(layout: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../../tests/fixtures/layouts/{layout}"))
}

fn text(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

#[test]
fn a_diesel_directory_is_imported_once_with_its_mapping() {
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("migrations");
    let (code, stdout, stderr) = import("diesel", &fixture("diesel"), &out);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains(
            "2024-05-27-120000-0000_index users name/ -> 202405271200000000_index_users_name.sql"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("imported 4 diesel migration(s)"),
        "{stdout}"
    );
    let loaded = load_dir(&out).unwrap();
    assert_eq!(loaded.layout, Layout::Native);
    assert_eq!(loaded.len(), 4);
    assert_eq!(
        loaded[2].original,
        Some(Original::Diesel {
            version: "202405271200000000".into()
        })
    );
    assert!(loaded[2].no_transaction);

    // A second run never writes into what the first one wrote.
    let before = std::fs::read_dir(&out).unwrap().count();
    let (code, _, stderr) = import("diesel", &fixture("diesel"), &out);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("not empty"), "{stderr}");
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), before);
}

#[test]
fn the_wrong_tool_or_a_bad_file_writes_nothing() {
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("out");
    let (code, _, stderr) = import("sqlx", &fixture("diesel"), &out);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("this is a diesel directory, not a sqlx one"),
        "{stderr}"
    );
    assert!(!out.exists());

    let src = work.path().join("src");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("V1__ok.sql"), "SELECT 1;\n").unwrap();
    std::fs::write(src.join("V2__bad.sql"), b"SELECT '\xff';\n").unwrap();
    let (code, _, stderr) = import("refinery", &src, &out);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("V2__bad.sql:1: invalid UTF-8 at column 9"),
        "{stderr}"
    );
    assert!(!out.exists());
}

#[test]
fn an_imported_sqlx_history_applies_with_the_tool() {
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("migrations");
    let (code, _, stderr) = import("sqlx", &fixture("sqlx"), &out);
    assert_eq!(code, 0, "{stderr}");
    let db = work.path().join("app.db");
    let url = format!("sqlite:{}", db.display());
    let (code, stdout, stderr) = tool("apply", &["--dir", &text(&out), "--database-url", &url]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let conn = rusqlite::Connection::open(&db).unwrap();
    let applied: i64 = conn
        .query_row(
            "SELECT count(*) FROM schema_migrations WHERE status = 'applied'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(applied, 3);
    let err = conn
        .execute("INSERT INTO notes (body) VALUES ('')", [])
        .unwrap_err();
    assert!(
        err.to_string().contains("empty note; write something"),
        "{err}"
    );
}
