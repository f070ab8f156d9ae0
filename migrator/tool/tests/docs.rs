//! `migrator-tool docs` on both engines: every table, column, index and foreign key of the example app's
//! schema is on its page (checked against the database the runtime migrates, not against a list of our
//! own), lineage across changes, drops, re-adds and renames, `--check` after a new migration, determinism,
//! and bad input.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use migrator_tests::{Db, Workspace};

mod common;

/// Runs the tool: (exit code, stdout, stderr).
fn tool(args: &[&str]) -> (i32, String, String) {
    common::tool(args[0], &args[1..])
}

fn repo_migrations() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations")
}

fn postgres_migrations() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/example-app-postgres")
}

/// Writes the docs of `dir` into `out` (SQLite, or PostgreSQL with a server URL).
fn docs(dir: &Path, out: &Path, server: Option<&str>) -> (i32, String, String) {
    let mut args = vec![
        "docs",
        "--dir",
        dir.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    if let Some(url) = server {
        args.extend(["--engine", "postgres", "--database-url", url]);
    }
    tool(&args)
}

/// Boots the migrations of `dir` on `db` as a host would, without a backup, a rehearsal (real DOWNs do
/// not all restore the schema exactly) or the review rule (real histories drop tables without our mark).
fn migrate(db: &Db, dir: &Path) {
    let set = migrator::MigrationSet::from_dir(dir).unwrap();
    let config = migrator::Config {
        require_backup: false,
        require_test_run: false,
        require_review: Vec::new(),
        max_rows_affected: None,
        ..migrator::Config::default()
    };
    db.boot_with(&set, config).unwrap();
}

fn page(out: &Path, table: &str) -> String {
    std::fs::read_to_string(out.join(format!("{table}.md")))
        .unwrap_or_else(|e| panic!("no page for {table}: {e}"))
}

/// What the database itself says: (table, columns, indexes, foreign keys as (columns, referenced table)).
type Catalog = Vec<(String, Vec<String>, Vec<String>, Vec<(String, String)>)>;

fn sqlite_catalog(path: &Path) -> Catalog {
    let conn = rusqlite::Connection::open(path).unwrap();
    let names = |sql: &str, arg: &str, col: usize| -> Vec<String> {
        let mut stmt = conn.prepare(sql).unwrap();
        stmt.query_map([arg], |r| r.get::<_, String>(col))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    let tables = names(
        "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'
         AND name NOT LIKE 'schema_migrations%' AND ?1 = ?1 ORDER BY name",
        "",
        0,
    );
    tables
        .into_iter()
        .map(|t| {
            let columns = names("SELECT name FROM pragma_table_info(?1)", &t, 0);
            let indexes = names(
                "SELECT name FROM pragma_index_list(?1) WHERE origin = 'c'",
                &t,
                0,
            );
            let mut stmt = conn
                .prepare(
                    "SELECT group_concat(\"from\", ', '), \"table\" FROM
                     (SELECT * FROM pragma_foreign_key_list(?1) ORDER BY id, seq) GROUP BY id",
                )
                .unwrap();
            let fks = stmt
                .query_map([&t], |r| Ok((r.get(0)?, r.get(1)?)))
                .unwrap()
                .map(Result::unwrap)
                .collect();
            (t, columns, indexes, fks)
        })
        .collect()
}

fn postgres_catalog(db: &Db) -> Catalog {
    let rows = |sql: &str| db.rows(sql);
    let tables = rows(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'
         AND table_type = 'BASE TABLE' AND table_name NOT LIKE 'schema_migrations%' ORDER BY 1",
    );
    tables
        .into_iter()
        .map(|t| {
            let columns = rows(&format!(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = 'public'
                 AND table_name = '{t}' ORDER BY ordinal_position"
            ));
            let indexes = rows(&format!(
                "SELECT i.relname FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
                 JOIN pg_class c ON c.oid = x.indrelid WHERE c.relname = '{t}'
                 AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = x.indexrelid)"
            ));
            let fks = rows(&format!(
                "SELECT array_to_string(ARRAY(SELECT a.attname FROM unnest(k.conkey) WITH ORDINALITY u(n, o)
                   JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.n ORDER BY u.o), ', ')
                   || '|' || r.relname FROM pg_constraint k
                 JOIN pg_class c ON c.oid = k.conrelid JOIN pg_class r ON r.oid = k.confrelid
                 WHERE k.contype = 'f' AND c.relname = '{t}'"
            ))
            .into_iter()
            .map(|s| {
                let (a, b) = s.split_once('|').unwrap();
                (a.to_string(), b.to_string())
            })
            .collect();
            (t, columns, indexes, fks)
        })
        .collect()
}

/// Every table of `catalog` has a page listing each of its columns, indexes and foreign keys, the index
/// page lists every table, and the referenced table's page lists the reference back.
fn assert_documented(out: &Path, catalog: &Catalog) {
    assert!(!catalog.is_empty());
    let index = std::fs::read_to_string(out.join("README.md")).unwrap();
    let er = std::fs::read_to_string(out.join("er.md")).unwrap();
    for (table, columns, indexes, fks) in catalog {
        assert!(
            index.contains(&format!("[`{table}`]({table}.md)")),
            "{table} not in the index"
        );
        assert!(
            er.contains(&format!("    {table} {{")),
            "{table} not in er.md"
        );
        let p = page(out, table);
        for c in columns {
            let row = p
                .lines()
                .find(|l| l.starts_with(&format!("| `{c}` |")))
                .unwrap_or_else(|| panic!("{table}.{c} not on its page:\n{p}"));
            assert!(row.contains(" by ["), "{table}.{c} has no lineage: {row}");
        }
        for i in indexes {
            assert!(
                p.contains(&format!("| `{i}` |")),
                "index {i} not on {table}'s page"
            );
        }
        for (column, parent) in fks {
            assert!(
                p.contains(&format!("| ({column}) | [`{parent}`]({parent}.md)")),
                "{table}.{column} → {parent} not on {table}'s page:\n{p}"
            );
            let back = page(out, parent);
            assert!(
                back.contains(&format!("| [`{table}`]({table}.md) | ({column}) |")),
                "{parent}'s page does not show {table}.{column}:\n{back}"
            );
        }
    }
}

#[test]
fn example_app_on_sqlite() {
    let ws = Workspace::new();
    let out = ws.path().join("docs/schema");
    let (code, stdout, err) = docs(&repo_migrations(), &out, None);
    assert_eq!(code, 0, "{err}");
    assert!(stdout.contains("5 tables, 7 pages, 7 changed"), "{stdout}");
    // The schema the runtime itself builds from the same files.
    let db = Db::sqlite(&ws);
    migrate(&db, &repo_migrations());
    let catalog = sqlite_catalog(&ws.db_path());
    assert_eq!(catalog.len(), 5);
    assert_documented(&out, &catalog);
    let contacts = page(&out, "contacts");
    assert!(
        contacts.contains("### `update_contacts_timestamp`"),
        "{contacts}"
    );
    let enrichment_status = contacts
        .lines()
        .find(|l| l.starts_with("| `enrichment_status` |"))
        .unwrap();
    assert!(
        enrichment_status.contains("| added by [20240115143022](")
            && enrichment_status
                .ends_with("/migrations/20240115143022_issue_234_contact_enrichment.sql) (#234) |"),
        "{enrichment_status}"
    );
    // Deterministic: a second run changes nothing and --check agrees.
    let (code, stdout, err) = docs(&repo_migrations(), &out, None);
    assert_eq!(code, 0, "{err}");
    assert!(stdout.contains("0 changed"), "{stdout}");
}

#[test]
fn example_app_on_postgres() {
    let Some(db) = Db::postgres() else {
        return;
    };
    let Db::Postgres(pg) = &db else {
        unreachable!()
    };
    let ws = Workspace::new();
    let out = ws.path().join("schema");
    let child = Command::new(env!("CARGO_BIN_EXE_migrator-tool"))
        .args([
            "docs",
            "--engine",
            "postgres",
            "--database-url",
            &pg.url,
            "--dir",
        ])
        .arg(postgres_migrations())
        .arg("--out")
        .arg(&out)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let run = child.wait_with_output().unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    // Its scratch database (named after the process) is gone.
    let left = db.rows(&format!(
        "SELECT datname FROM pg_database WHERE datname LIKE 'migrator_docs_{pid}_%'"
    ));
    assert!(left.is_empty(), "{left:?}");
    migrate(&db, &postgres_migrations());
    let catalog = postgres_catalog(&db);
    assert_eq!(catalog.len(), 5);
    assert_documented(&out, &catalog);
    let enrichment = page(&out, "contact_enrichment");
    assert!(
        enrichment.contains("| `data` | `JSONB` | not null |"),
        "{enrichment}"
    );
    assert!(
        enrichment.contains(
            "| `idx_enrichment_expires` | (expires_at) |  | `(expires_at IS NOT NULL)` |"
        ),
        "the partial index:\n{enrichment}"
    );
    let contacts = page(&out, "contacts");
    assert!(contacts.contains("`chk_enrichment_status`"), "{contacts}");
}

/// #1 creates `items`, #2 adds `note`, #3 changes its type, #4 drops it (the change is reverted), #5 adds it
/// again (re-applied), #6 renames `label` to `title` and the table to `things`, and adds a view on it.
fn lineage_workspace(postgres: bool) -> Workspace {
    let ws = Workspace::new();
    ws.add(
        20240101000001,
        Some(1),
        "items",
        "CREATE TABLE items (id INTEGER PRIMARY KEY, label TEXT);",
        Some("DROP TABLE items;"),
    );
    ws.add(
        20240101000002,
        Some(2),
        "item_note",
        "ALTER TABLE items ADD COLUMN note TEXT;",
        Some("ALTER TABLE items DROP COLUMN note;"),
    );
    let retype = if postgres {
        "ALTER TABLE items ALTER COLUMN note TYPE VARCHAR(200);"
    } else {
        // SQLite changes a type by rebuilding the table.
        "CREATE TABLE items_new (id INTEGER PRIMARY KEY, label TEXT, note VARCHAR(200));
         INSERT INTO items_new SELECT id, label, note FROM items;
         DROP TABLE items;
         ALTER TABLE items_new RENAME TO items;"
    };
    ws.add(20240101000003, Some(3), "note_type", retype, None);
    ws.add(
        20240101000004,
        Some(4),
        "revert_note",
        "ALTER TABLE items DROP COLUMN note;",
        None,
    );
    ws.add(
        20240101000005,
        Some(2),
        "item_note_again",
        "ALTER TABLE items ADD COLUMN note TEXT NOT NULL DEFAULT '';",
        None,
    );
    ws.add(
        20240101000006,
        Some(6),
        "rename",
        "ALTER TABLE items RENAME COLUMN label TO title;
         ALTER TABLE items RENAME TO things;
         CREATE VIEW thing_titles AS SELECT id, title FROM things;",
        None,
    );
    ws
}

fn assert_lineage(out: &Path, varchar: &str) {
    let things = page(out, "things");
    let row = |c: &str| {
        things
            .lines()
            .find(|l| l.starts_with(&format!("| `{c}` |")))
            .unwrap_or_else(|| panic!("no {c}:\n{things}"))
            .to_string()
    };
    let m = |v: u64, name: &str, issue: u32| {
        format!("[{v}](../migrations/{v}_issue_{issue}_{name}.sql) (#{issue})")
    };
    assert!(
        row("note").ends_with(&format!(
            "| added by {}; type TEXT → {varchar} by {}; dropped by {}; added by {} |",
            m(20240101000002, "item_note", 2),
            m(20240101000003, "note_type", 3),
            m(20240101000004, "revert_note", 4),
            m(20240101000005, "item_note_again", 2)
        )),
        "{}",
        row("note")
    );
    assert!(
        row("title").ends_with(&format!(
            "| added by {}; renamed from label by {} |",
            m(20240101000001, "items", 1),
            m(20240101000006, "rename", 6)
        )),
        "{}",
        row("title")
    );
    assert!(
        things.contains(&format!(
            "History: created by {}; renamed from items by {}.",
            m(20240101000001, "items", 1),
            m(20240101000006, "rename", 6)
        )),
        "{things}"
    );
    assert!(!out.join("items.md").exists());
    assert!(
        things.contains("## Views that use it\n\n- view `thing_titles`\n"),
        "{things}"
    );
    let index = std::fs::read_to_string(out.join("README.md")).unwrap();
    assert!(
        index.contains("## Views\n\n- `thing_titles` on [`things`](things.md)\n"),
        "{index}"
    );
}

#[test]
fn lineage_on_sqlite() {
    let ws = lineage_workspace(false);
    let out = ws.path().join("schema");
    let (code, _, err) = docs(&ws.migrations(), &out, None);
    assert_eq!(code, 0, "{err}");
    assert_lineage(&out, "VARCHAR(200)");
}

#[test]
fn lineage_on_postgres() {
    let Some(Db::Postgres(pg)) = Db::postgres() else {
        return;
    };
    let ws = lineage_workspace(true);
    let out = ws.path().join("schema");
    let (code, _, err) = docs(&ws.migrations(), &out, Some(&pg.url));
    assert_eq!(code, 0, "{err}");
    assert_lineage(&out, "CHARACTER VARYING(200)");
}

#[test]
fn check_fails_after_a_new_migration() {
    let ws = lineage_workspace(false);
    let dir = ws.migrations();
    let out = ws.path().join("schema");
    let check = || {
        tool(&[
            "docs",
            "--dir",
            dir.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--check",
        ])
    };
    let (code, _, err) = check();
    assert_eq!(code, 1, "nothing written yet");
    assert!(err.contains("things.md: missing"), "{err}");
    assert_eq!(docs(&dir, &out, None).0, 0);
    let (code, stdout, err) = check();
    assert_eq!(code, 0, "{err}");
    assert!(stdout.contains("current (1 tables, 3 pages)"), "{stdout}");
    let before: BTreeSet<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    ws.add(
        20240101000007,
        Some(7),
        "tags",
        "CREATE TABLE tags (id INTEGER PRIMARY KEY, thing_id INTEGER NOT NULL REFERENCES things(id));",
        None,
    );
    let (code, _, err) = check();
    assert_eq!(code, 1);
    for stale in [
        "README.md: differs",
        "er.md: differs",
        "things.md: differs",
        "tags.md: missing",
    ] {
        assert!(err.contains(stale), "{stale} not in:\n{err}");
    }
    let after: BTreeSet<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(before, after, "--check writes nothing");
    // A table dropped: its page is stale, and the next run removes it.
    ws.add(
        20240101000008,
        Some(8),
        "drop_tags",
        "DROP TABLE tags;",
        None,
    );
    assert_eq!(docs(&dir, &out, None).0, 0);
    std::fs::write(out.join("tags.md"), "# Table `tags`\n").unwrap();
    let (code, _, err) = check();
    assert_eq!(code, 1);
    assert!(err.contains("tags.md: not generated any more"), "{err}");
    assert_eq!(docs(&dir, &out, None).0, 0);
    assert!(!out.join("tags.md").exists());
}

#[test]
fn a_migration_that_fails_names_itself_and_nothing_is_written() {
    let ws = Workspace::new();
    ws.add(
        20240101000001,
        Some(1),
        "ok",
        "CREATE TABLE a (id INTEGER PRIMARY KEY);",
        None,
    );
    ws.add(
        20240101000002,
        Some(2),
        "bad",
        "CREATE TABLE b (id INTEGER PRIMARY KEY);\nALTER TABLE missing ADD COLUMN x INTEGER;",
        None,
    );
    let out = ws.path().join("schema");
    let (code, _, err) = docs(&ws.migrations(), &out, None);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("20240101000002_issue_2_bad.sql"), "{err}");
    assert!(err.contains("no such table: missing"), "{err}");
    assert!(!out.exists(), "nothing written");
    let (code, _, err) = tool(&[
        "docs",
        "--dir",
        ws.migrations().to_str().unwrap(),
        "--engine",
        "postgres",
    ]);
    assert_eq!(code, 2, "{err}");
}

/// A real migration history from a published crate (`scripts/fetch-corpora.sh`), in the native layout: each
/// sqlx `<version>_<description>.sql` becomes `<version>_<description>.sql` with an UP section, each diesel
/// `<version>_<name>/up.sql` (+ `down.sql`) one file. `None` (SKIPPED) when the registry cannot be reached
/// outside CI.
fn corpus(name: &str, ws: &Workspace) -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let fetched = Command::new("bash")
        .arg(root.join("scripts/fetch-corpora.sh"))
        .arg(name)
        .status()
        .is_ok_and(|s| s.success());
    if !fetched {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "cannot fetch {name}"
        );
        eprintln!("SKIPPED: cannot fetch the corpus {name}");
        return None;
    }
    let source = root.join("target/corpora").join(name);
    let slug = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .collect()
    };
    let mut entries: Vec<PathBuf> = std::fs::read_dir(&source)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .collect();
    entries.sort();
    for path in entries {
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        let (stamp, rest) = file.split_once('_').unwrap();
        let version: String = stamp.chars().filter(char::is_ascii_digit).collect();
        let (name, up, down) = if path.is_dir() {
            let read = |f: &str| std::fs::read_to_string(path.join(f)).ok();
            (rest.to_string(), read("up.sql").unwrap(), read("down.sql"))
        } else {
            let name = rest.trim_end_matches(".sql").to_string();
            (name, std::fs::read_to_string(&path).unwrap(), None)
        };
        if version.len() != 14 || version.bytes().all(|b| b == b'0') {
            continue; // diesel's own setup migration
        }
        let mut text = format!("-- ============ UP MIGRATION ============\n{up}\n");
        if let Some(down) = down {
            text.push_str(&format!(
                "-- ============ DOWN MIGRATION ============\n{down}\n"
            ));
        }
        ws.write(&format!("{version}_{}.sql", slug(&name)), &text);
    }
    Some(ws.migrations())
}

#[test]
fn a_real_sqlite_history_atuin_client() {
    let ws = Workspace::new();
    let Some(dir) = corpus("atuin-client", &ws) else {
        return;
    };
    let out = ws.path().join("schema");
    let (code, _, err) = docs(&dir, &out, None);
    assert_eq!(code, 0, "{err}");
    migrate(&Db::sqlite(&ws), &dir);
    assert_documented(&out, &sqlite_catalog(&ws.db_path()));
}

#[test]
fn a_real_postgres_history_atuin_server() {
    let Some(db) = Db::postgres() else {
        return;
    };
    let Db::Postgres(pg) = &db else {
        unreachable!()
    };
    let ws = Workspace::new();
    let Some(dir) = corpus("atuin-server-postgres", &ws) else {
        return;
    };
    let out = ws.path().join("schema");
    let (code, _, err) = docs(&dir, &out, Some(&pg.url));
    assert_eq!(code, 0, "{err}");
    migrate(&db, &dir);
    assert_documented(&out, &postgres_catalog(&db));
    changelog_lists_every_migration(&dir);
}

/// The changelog of a real history: every migration once, newest first, each with a line of changes.
fn changelog_lists_every_migration(dir: &Path) {
    let (code, out, err) = tool(&["changelog", "--dir", dir.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let listed: Vec<u64> = out
        .lines()
        .filter_map(|l| l.strip_prefix("### "))
        .map(|l| l[..14].parse().unwrap())
        .collect();
    let mut files: Vec<u64> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            e.unwrap().file_name().to_string_lossy()[..14]
                .parse()
                .unwrap()
        })
        .collect();
    files.sort_by(|a, b| b.cmp(a));
    assert_eq!(listed, files);
    assert_eq!(out.matches("\n## Without an issue\n").count(), 1);
}

#[test]
fn a_large_real_postgres_history_lemmy() {
    let Some(db) = Db::postgres() else {
        return;
    };
    let Db::Postgres(pg) = &db else {
        unreachable!()
    };
    let ws = Workspace::new();
    let Some(dir) = corpus("lemmy", &ws) else {
        return;
    };
    let out = ws.path().join("schema");
    let (code, _, err) = docs(&dir, &out, Some(&pg.url));
    assert_eq!(code, 0, "{err}");
    migrate(&db, &dir);
    let catalog = postgres_catalog(&db);
    assert!(catalog.len() > 25, "{}", catalog.len());
    assert_documented(&out, &catalog);
    let er = std::fs::read_to_string(out.join("er.md")).unwrap();
    assert!(
        er.contains("## All tables"),
        "a large schema gets module diagrams"
    );
    assert!(er.matches("```mermaid").count() > 3);
}
