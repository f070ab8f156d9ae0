//! `migrator-tool metrics`: the footer filled from the offline analysis, only the footer changed,
//! idempotent, `--check` for CI, malformed files refused without a write.

use std::path::Path;

const SPEC: &str = include_str!("fixtures/spec-example-234.sql");
const FILE: &str = "20240115143022_issue_234_contact_enrichment.sql";

mod common;

fn metrics(args: &[&str]) -> (i32, String, String) {
    common::tool("metrics", args)
}

fn body(text: &str) -> &str {
    &text[..text
        .find("-- ============ MIGRATION METRICS")
        .expect("footer")]
}

#[test]
fn fills_the_spec_footer_from_the_analysis_and_only_the_footer() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(FILE);
    std::fs::write(&path, SPEC).unwrap();
    let (code, out, err) = metrics(&[path.to_str().unwrap(), "--dialect", "postgres"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with("updated: "), "{out}");
    let filled = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        body(&filled),
        body(SPEC),
        "everything above the footer is kept"
    );
    for line in [
        "-- Tables affected: 2 (contact_enrichment, contacts)\n",
        "-- Rows affected: unknown offline (UPDATE on contacts)\n",
        "-- Indexes created: 3\n",
        "-- Blocking: line 31 ALTER TABLE: ACCESS EXCLUSIVE on contacts (reads and writes wait, brief)\n",
        "-- Blocking: line 43 ALTER TABLE: ACCESS EXCLUSIVE on contacts (reads and writes wait, while it works)\n",
        "drops contacts.enrichment_status, contacts.last_enriched_at, contacts.enrichment_score, contact_enrichment)\n",
        "-- Findings: errors 1, warnings 1, info 2, allowed 0 (migrator-tool lint)\n",
    ] {
        assert!(filled.contains(line), "missing {line:?} in\n{filled}");
    }
    // The old hand-written figures are gone, and the file is still a valid migration.
    assert!(!filled.contains("45 seconds\n-- Blocking"), "{filled}");
    migrator_format::parse_file(FILE, &filled).expect("still parses");

    // Twice: nothing written, bytes identical; --check agrees.
    let (code, out, _) = metrics(&[dir.path().to_str().unwrap(), "--dialect", "postgres"]);
    assert_eq!((code, out.starts_with("unchanged: ")), (0, true), "{out}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), filled);
    let (code, _, _) = metrics(&[path.to_str().unwrap(), "--check"]);
    assert_eq!(code, 0);
}

#[test]
fn check_reports_a_stale_footer_without_writing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(FILE);
    std::fs::write(&path, SPEC).unwrap();
    let (code, out, _) = metrics(&[path.to_str().unwrap(), "--check"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("out of date"), "{out}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), SPEC);
}

#[test]
fn a_file_without_footer_gets_one_and_crlf_stays_crlf() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("20240101000000_issue_7_t.sql");
    let text = "-- Issue #7: t\r\n-- ============ UP MIGRATION ============\r\nCREATE TABLE t (id int);\r\n-- ============ DOWN MIGRATION ============\r\nDROP TABLE t;\r\n";
    std::fs::write(&path, text).unwrap();
    let (code, out, err) = metrics(&[path.to_str().unwrap(), "--dialect", "sqlite"]);
    assert_eq!(code, 0, "{out}{err}");
    let filled = std::fs::read_to_string(&path).unwrap();
    assert!(filled.starts_with(text), "{filled:?}");
    assert!(
        filled.contains("\r\n\r\n-- ============ MIGRATION METRICS ============\r\n-- Tables affected: 1 (t)\r\n"),
        "{filled:?}"
    );
    assert!(filled
        .contains("-- Blocking: SQLite write lock for the whole migration (1 statements)\r\n"));
    assert!(!filled.replace("\r\n", "").contains('\n'), "no bare LF");
    migrator_format::parse_file("20240101000000_issue_7_t.sql", &filled).expect("parses");
}

#[test]
fn a_malformed_file_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("20240101000000_bad.sql");
    let text = "-- ============ UP MIGRATION ============\nSELECT 'unterminated;\n";
    std::fs::write(&path, text).unwrap();
    let (code, _, err) = metrics(&[path.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains("20240101000000_bad.sql:2"), "{err}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
    assert_no_temp_files(dir.path());
    let (code, _, err) = metrics(&[dir.path().join("missing.sql").to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains("missing.sql"), "{err}");
}

fn assert_no_temp_files(dir: &Path) {
    let names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");
}

migrator_tests::sqlite_and_postgres!(database_url_fills_rows_and_times_of_pending_migrations);

/// With `--dir` and `--database-url`, the pending migration's footer gets the preview's rows and times
/// from that database; an applied one keeps the offline wording; the database is not changed.
fn database_url_fills_rows_and_times_of_pending_migrations(
    ws: &migrator_tests::Workspace,
    db: &migrator_tests::Db,
) {
    let url = common::items_base(ws, db, "(1, 'old'), (2, 'old'), (3, 'old')");
    ws.add(
        20240102000000,
        Some(2),
        "states",
        "UPDATE items SET state = 'new' WHERE state = 'old';",
        Some("UPDATE items SET state = 'old' WHERE state = 'new';"),
    );
    if db.is_postgres() {
        // PostgreSQL's figure is the planner's estimate: exact once the table is analysed.
        db.exec("ANALYZE items");
    }
    let history = db.history();
    let dir = ws.migrations().to_string_lossy().into_owned();
    let (code, out, err) = metrics(&["--dir", &dir, "--database-url", &url]);
    assert_eq!(code, 0, "{out}{err}");
    let pending =
        std::fs::read_to_string(ws.migrations().join("20240102000000_issue_2_states.sql")).unwrap();
    assert!(
        pending.contains("-- Rows affected: ~3 (UPDATE on items)\n"),
        "{pending}"
    );
    assert!(
        pending.contains(&format!(" (on {} ", db.engine_name())),
        "{pending}"
    );
    assert!(
        !pending.contains("Estimated time: unknown offline"),
        "{pending}"
    );
    let applied =
        std::fs::read_to_string(ws.migrations().join("20240101000000_issue_1_items.sql")).unwrap();
    assert!(
        applied.contains("-- Rows affected: unknown offline\n"),
        "{applied}"
    );
    assert_eq!(db.history(), history);
    assert_eq!(
        db.count("SELECT count(*) FROM items WHERE state = 'old'"),
        3
    );
}

/// `generate` writes the footer `metrics` would: a fresh file passes `metrics --check`, and the
/// generator's own `Rollback lossy` line survives a refill, as does a team's own note.
#[test]
fn generated_files_carry_the_analysis_footer_and_foreign_lines_survive() {
    let dir = tempfile::tempdir().unwrap();
    for dialect in [
        migrator_tool::Dialect::Sqlite,
        migrator_tool::Dialect::Postgres,
    ] {
        let g = common::render(&common::fixture_issue("234.json"), dialect).unwrap();
        let path = dir.path().join(&g.file_name);
        std::fs::write(&path, &g.migration).unwrap();
        let name = dialect.name();
        assert!(
            g.migration.contains("-- Indexes created: "),
            "{}",
            g.migration
        );
        assert!(
            g.migration.contains("-- Rollback lossy: "),
            "{}",
            g.migration
        );
        let (code, out, err) = metrics(&[path.to_str().unwrap(), "--check", "--dialect", name]);
        assert_eq!(code, 0, "{name}: {out}{err}\n{}", g.migration);

        let noted = format!("{}-- Perf review: fine for 50k rows (ana)\n", g.migration);
        std::fs::write(&path, &noted).unwrap();
        let (code, out, _) = metrics(&[path.to_str().unwrap(), "--dialect", name]);
        assert_eq!((code, out.starts_with("unchanged")), (0, true), "{out}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), noted);
    }
}
