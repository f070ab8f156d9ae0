//! The four layouts on directories written here in the styles their tools' users write them, strict
//! reading of every entry, engine variant sets, and `import` converting them to native files.

use std::path::Path;

use migrator_format::{
    import::import, load_dir, load_dir_as, DownKind, Engine, Layout, Original, SetError,
};

fn write(dir: &Path, rel: &str, text: &str) {
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn errors(result: Result<migrator_format::LoadedDir, SetError>) -> String {
    match result {
        Ok(loaded) => panic!("expected errors, loaded {} migrations", loaded.len()),
        Err(e) => e.to_string(),
    }
}

/// A diesel project as diesel's CLI and its users leave it: the initial setup, dashes in versions, an
/// 18-digit version, a name with capitals, spaces and dashes, a second of 60, `metadata.toml`, a
/// comment-only DOWN, an own table called `schema_migrations` created and dropped, and files diesel skips.
fn diesel_project(dir: &Path) {
    write(
        dir,
        "00000000000000_diesel_initial_setup/up.sql",
        "-- This file was automatically created by Diesel to setup helper functions\n-- and other internal bookkeeping.\nCREATE OR REPLACE FUNCTION diesel_manage_updated_at(_tbl regclass) RETURNS VOID AS $$\nBEGIN\n    EXECUTE format('CREATE TRIGGER set_updated_at BEFORE UPDATE ON %s\n                    FOR EACH ROW EXECUTE PROCEDURE diesel_set_updated_at()', _tbl);\nEND;\n$$ LANGUAGE plpgsql;\n",
    );
    write(
        dir,
        "00000000000000_diesel_initial_setup/down.sql",
        "DROP FUNCTION IF EXISTS diesel_manage_updated_at(_tbl regclass);\n",
    );
    write(
        dir,
        "2019-02-26-002946_Create Users-table/up.sql",
        "CREATE TABLE users (id SERIAL PRIMARY KEY, name TEXT NOT NULL);\r\nINSERT INTO users (name) VALUES ('a;b');\r\n",
    );
    write(
        dir,
        "2019-02-26-002946_Create Users-table/down.sql",
        "DROP TABLE users;\n",
    );
    write(
        dir,
        "2019-02-26-002960_leap_second/up.sql",
        "BEGIN;\nCREATE TABLE schema_migrations (version TEXT PRIMARY KEY);\nINSERT INTO schema_migrations VALUES ('legacy');\nCOMMIT;\n",
    );
    write(
        dir,
        "2019-02-26-002960_leap_second/down.sql",
        "-- This migration cannot be reverted.\n",
    );
    write(
        dir,
        "2024-05-27-120000-0000_index_concurrently/up.sql",
        "CREATE INDEX CONCURRENTLY users_name ON users (name);\n",
    );
    write(
        dir,
        "2024-05-27-120000-0000_index_concurrently/down.sql",
        "DROP INDEX CONCURRENTLY users_name;\n",
    );
    write(
        dir,
        "2024-05-27-120000-0000_index_concurrently/metadata.toml",
        "# created by hand\nrun_in_transaction = false\n",
    );
    write(
        dir,
        "2024-06-01-000000_drop_legacy/up.sql",
        "DROP TABLE schema_migrations;\n",
    );
    write(dir, "README.md", "# migrations\n");
    write(dir, ".gitkeep", "");
    write(dir, "diesel.toml", "[print_schema]\n");
}

#[test]
fn a_diesel_directory_loads_in_diesels_order_with_its_versions() {
    let dir = tempfile::tempdir().unwrap();
    diesel_project(dir.path());
    let loaded = load_dir(dir.path()).unwrap();
    assert_eq!(loaded.layout, Layout::Diesel);
    let versions: Vec<String> = loaded
        .iter()
        .map(|m| match &m.original {
            Some(Original::Diesel { version }) => version.to_string(),
            other => panic!("{other:?}"),
        })
        .collect();
    // diesel's order: by the version string.
    let mut by_string = versions.clone();
    by_string.sort();
    assert_eq!(versions, by_string);
    assert_eq!(
        versions,
        [
            "00000000000000",
            "20190226002946",
            "20190226002960",
            "202405271200000000",
            "20240601000000"
        ]
    );
    let keys: Vec<u64> = loaded.iter().map(|m| m.version).collect();
    assert_eq!(
        keys,
        [
            0,
            201902260029460000,
            201902260029600000,
            202405271200000000,
            202406010000000000
        ]
    );
    let users = &loaded[1];
    assert_eq!(users.name, "Create Users-table");
    assert_eq!(users.file_name, "2019-02-26-002946_Create Users-table");
    assert_eq!(users.up.len(), 2);
    assert_eq!(users.up[1].sql, "INSERT INTO users (name) VALUES ('a;b')");
    assert_eq!(users.up[1].line, 2);
    assert_eq!(users.down_kind(), DownKind::Statements);
    // Verbatim: the project's own BEGIN/COMMIT and schema_migrations statements are kept.
    let legacy = &loaded[2];
    assert_eq!(legacy.up.len(), 4, "{:?}", legacy.up);
    assert_eq!(legacy.up[0].sql, "BEGIN");
    assert_eq!(legacy.down_kind(), DownKind::Irreversible);
    assert!(loaded[3].no_transaction);
    assert!(!loaded[1].no_transaction);
    assert_eq!(loaded[4].down_kind(), DownKind::Missing);
    assert_eq!(loaded[4].tables.as_ref(), ["schema_migrations"]);
    assert!(loaded
        .iter()
        .all(|m| m.layout == Layout::Diesel && m.issue.is_none()));
    // Every migration file is recorded for rebuilds, and nothing else.
    assert_eq!(loaded.files.len(), 10);
}

#[test]
fn a_diesel_checksum_covers_every_file_of_the_migration() {
    let dir = tempfile::tempdir().unwrap();
    diesel_project(dir.path());
    let before = load_dir(dir.path()).unwrap();
    write(
        dir.path(),
        "2024-05-27-120000-0000_index_concurrently/metadata.toml",
        "run_in_transaction = true\n",
    );
    write(
        dir.path(),
        "2019-02-26-002946_Create Users-table/down.sql",
        "DROP TABLE users CASCADE;\n",
    );
    let after = load_dir(dir.path()).unwrap();
    let changed: Vec<bool> = before
        .iter()
        .zip(after.iter())
        .map(|(a, b)| a.checksum != b.checksum)
        .collect();
    assert_eq!(changed, [false, true, false, true, false]);
    assert!(!after[3].no_transaction);
}

#[test]
fn diesel_directories_that_diesel_itself_rejects_or_we_cannot_order_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    diesel_project(dir.path());
    write(
        dir.path(),
        "2019-03-01-000000_no_up/down.sql",
        "SELECT 1;\n",
    );
    write(dir.path(), "2019-03-02-000000_empty/up.sql", "");
    write(dir.path(), "2019-03-03-000000_extra/up.sql", "SELECT 1;\n");
    write(dir.path(), "2019-03-03-000000_extra/up.SQL", "SELECT 1;\n");
    write(dir.path(), "2019-03-03-000000_extra/notes.txt", "x\n");
    write(
        dir.path(),
        "2019-03-04-000000_bad_meta/up.sql",
        "SELECT 1;\n",
    );
    write(
        dir.path(),
        "2019-03-04-000000_bad_meta/metadata.toml",
        "\nrun_in_transaction = \"no\"\n",
    );
    write(dir.path(), "2019-03-05-000000_a/up.sql", "SELECT 1;\n");
    write(dir.path(), "2019-03-05-000000_b/up.sql", "SELECT 1;\n");
    write(dir.path(), "latest_x/up.sql", "SELECT 1;\n");
    write(dir.path(), "stray.sql", "SELECT 1;\n");
    let message = errors(load_dir(dir.path()));
    for expected in [
        "2019-03-01-000000_no_up/:1: not a migration: a diesel migration directory without up.sql",
        "2019-03-02-000000_empty/up.sql:1: not a migration: an empty up.sql",
        "2019-03-03-000000_extra/up.SQL:1: not a migration: its extension is not lower-case .sql",
        "2019-03-03-000000_extra/notes.txt:1: not a migration: a diesel migration holds up.sql, down.sql and metadata.toml",
        "2019-03-04-000000_bad_meta/metadata.toml:2: run_in_transaction = \"no\": write true or false",
        "2019-03-05-000000_b:1: bad file name: version 201903050000000000 is also used by 2019-03-05-000000_a",
        "latest_x/:1: diesel version \"latest\" is not made of digits",
        "stray.sql:1: not a migration: diesel keeps each migration in a directory",
    ] {
        assert!(message.contains(expected), "{expected}\nin:\n{message}");
    }
}

fn sqlx_project(dir: &Path) {
    write(
        dir,
        "20210316025847_setup.up.sql",
        "CREATE TABLE mq_msgs (id UUID PRIMARY KEY);\n",
    );
    write(
        dir,
        "20210316025847_setup.down.sql",
        "-- no-transaction\nDROP TABLE mq_msgs;\n",
    );
    write(
        dir,
        "20220505083406_Create Events-Table.sql",
        "create table events (id bigserial primary key, body text not null);\n",
    );
    write(
        dir,
        "20230101000000_concurrent.sql",
        "-- no-transaction\nCREATE INDEX CONCURRENTLY events_body ON events (body);\n",
    );
    write(
        dir,
        "20240101000000_irreversible.up.sql",
        "DELETE FROM events;\n",
    );
    write(
        dir,
        "20240101000000_irreversible.down.sql",
        "-- Add down migration script here\n",
    );
    write(dir, "3_small.sql", "SELECT 3;\n");
}

#[test]
fn a_sqlx_directory_loads_with_sqlx_versions_checksums_and_flags() {
    let dir = tempfile::tempdir().unwrap();
    sqlx_project(dir.path());
    let loaded = load_dir(dir.path()).unwrap();
    assert_eq!(loaded.layout, Layout::Sqlx);
    let keys: Vec<u64> = loaded.iter().map(|m| m.version).collect();
    assert_eq!(
        keys,
        [
            3,
            20210316025847,
            20220505083406,
            20230101000000,
            20240101000000
        ]
    );
    assert_eq!(loaded[2].name, "Create Events-Table");
    let setup = &loaded[1];
    assert_eq!(setup.file_name, "20210316025847_setup.up.sql");
    assert!(
        setup.no_transaction,
        "the DOWN's `-- no-transaction` counts too"
    );
    assert_eq!(setup.down.as_ref().map(|d| d.len()), Some(1));
    assert!(loaded[3].no_transaction);
    assert!(!loaded[2].no_transaction);
    assert_eq!(loaded[2].down_kind(), DownKind::Missing);
    assert_eq!(loaded[4].down_kind(), DownKind::Irreversible);
    // sqlx's checksum: SHA-384 of the UP file's bytes (here known from `sha384sum`).
    match &loaded[0].original {
        Some(Original::Sqlx { version, checksum }) => {
            assert_eq!(*version, 3);
            assert_eq!(checksum.as_ref(), "f5fd4905a1908ffc4db0c917a2728a80e580d8d7224935148266115d5b6a54c9fa9aae585dd6ed6be003e47e07f9cd3a");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn sqlx_files_that_do_not_pair_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    sqlx_project(dir.path());
    write(dir.path(), "20250101000000_orphan.down.sql", "SELECT 1;\n");
    write(dir.path(), "20250102000000_x.sql", "SELECT 1;\n");
    write(dir.path(), "20250102000000_x.up.sql", "SELECT 1;\n");
    write(dir.path(), "20250103000000_one_way.sql", "SELECT 1;\n");
    write(dir.path(), "20250103000000_one_way.down.sql", "SELECT 1;\n");
    write(dir.path(), "20250104000000_trailing.sql ", "SELECT 1;\n");
    write(dir.path(), "20250105000000_upper.SQL", "SELECT 1;\n");
    write(dir.path(), "notes.txt", "x\n");
    write(dir.path(), "sub/20250106000000_nested.sql", "SELECT 1;\n");
    let message = errors(load_dir(dir.path()));
    for expected in [
        "20250101000000_orphan.down.sql:1: not a migration: a .down.sql without its .up.sql",
        "20250102000000_x.up.sql:1: version 20250102000000 is also used by 20250102000000_x.sql",
        "20250103000000_one_way.down.sql:1: not a migration: a .down.sql beside the one-way",
        "20250104000000_trailing.sql :1: not a migration: its name ends in white space",
        "20250105000000_upper.SQL:1: not a migration: its extension is not lower-case .sql",
        "notes.txt:1: not a migration: \"notes.txt\" is not <VERSION>_<DESCRIPTION>.sql",
        "sub/:1: not a migration: sqlx reads one directory",
    ] {
        assert!(message.contains(expected), "{expected}\nin:\n{message}");
    }
}

fn refinery_project(dir: &Path) {
    write(
        dir,
        "V1__initial.sql",
        "CREATE TABLE stations (code char(3) PRIMARY KEY, city text);\n",
    );
    write(
        dir,
        "V1-2/V2__trips_and_origin_index.sql",
        "CREATE TABLE trips (\n    id int,\n    origin varchar(80),\n    destination varchar(80)\n);\nCREATE INDEX trips_origin ON trips (origin);\n",
    );
    write(
        dir,
        "more/deeper/V10__index.sql",
        "-- refinery:noTransaction\nCREATE INDEX CONCURRENTLY trips_destination ON trips (destination);\n",
    );
    write(
        dir,
        "U3__seed.sql",
        "INSERT INTO stations VALUES ('LYS', 'Lyon');\n",
    );
    write(dir, "README.md", "migrations\n");
}

#[test]
fn a_refinery_directory_loads_recursively_with_refinery_checksums() {
    let dir = tempfile::tempdir().unwrap();
    refinery_project(dir.path());
    let loaded = load_dir(dir.path()).unwrap();
    assert_eq!(loaded.layout, Layout::Refinery);
    let files: Vec<&str> = loaded.iter().map(|m| m.file_name.as_ref()).collect();
    assert_eq!(
        files,
        [
            "V1__initial.sql",
            "V1-2/V2__trips_and_origin_index.sql",
            "U3__seed.sql",
            "more/deeper/V10__index.sql"
        ]
    );
    assert!(loaded[3].no_transaction);
    assert!(loaded.iter().all(|m| m.down_kind() == DownKind::Missing));
    match &loaded[1].original {
        Some(Original::Refinery {
            version,
            name,
            checksum,
            checksum_int8,
            unversioned,
        }) => {
            assert_eq!(
                (*version, name.as_ref(), *unversioned),
                (2, "trips_and_origin_index", false)
            );
            // The values of an independent SipHash-1-3 (keys 0, 0) over the bytes `Hash` feeds it: name,
            // 0xff, the version's little-endian bytes, the file, 0xff.
            assert_eq!(*checksum, 14423850156990057501);
            assert_eq!(*checksum_int8, 9471853703687920879);
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        loaded[2].original,
        Some(Original::Refinery {
            unversioned: true,
            ..
        })
    ));
}

#[test]
fn refinery_rust_migrations_and_other_names_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    refinery_project(dir.path());
    write(
        dir.path(),
        "V1-2/V4__rust.rs",
        "pub fn migration() -> String { String::new() }\n",
    );
    write(dir.path(), "V5__dashed-name.sql", "SELECT 1;\n");
    write(dir.path(), "V6.5__fraction.sql", "SELECT 1;\n");
    write(dir.path(), "V1__again.sql", "SELECT 1;\n");
    let message = errors(load_dir(dir.path()));
    for expected in [
        "V1-2/V4__rust.rs:1: not a migration: a refinery Rust migration; migrator runs SQL files only: write its SQL as V4__rust.sql",
        "V5__dashed-name.sql:1: not a migration: \"V5__dashed-name\" is not a refinery name",
        "V6.5__fraction.sql:1: not a migration: \"V6.5__fraction\": the version 6.5 is not an integer",
        "version 1 is also used by",
    ] {
        assert!(message.contains(expected), "{expected}\nin:\n{message}");
    }
}

#[test]
fn the_std_default_hasher_agrees_with_refinerys_checksum() {
    // refinery computed its checksum with `DefaultHasher` before pinning `siphasher` (its comment says the
    // two agree); today's std `DefaultHasher::new()` is still SipHash-1-3 with zero keys.
    use std::hash::{Hash, Hasher};
    let sql = "CREATE TABLE stations (code char(3) PRIMARY KEY, city text);";
    let mut std_hasher = std::collections::hash_map::DefaultHasher::new();
    "initial".hash(&mut std_hasher);
    1i32.hash(&mut std_hasher);
    sql.hash(&mut std_hasher);
    let ours = migrator_format::refinery_checksum("initial", 1, sql, false);
    assert_eq!(ours, std_hasher.finish());
    assert_eq!(ours, 17253165151501739954);
}

#[test]
fn layouts_are_not_mixed_and_import_asks_for_the_right_one() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "2019-02-26-002946_users/up.sql", "SELECT 1;\n");
    write(dir.path(), "V1__x.sql", "SELECT 1;\n");
    let message = errors(load_dir(dir.path()));
    assert!(
        message.contains("the directory mixes layouts (2019-02-26-002946_users is a diesel migration, V1__x.sql is a refinery migration)"),
        "{message}"
    );
    let dir = tempfile::tempdir().unwrap();
    sqlx_project(dir.path());
    let message = errors(load_dir_as(dir.path(), Layout::Diesel));
    assert!(
        message.contains("this is a sqlx directory, not a diesel one"),
        "{message}"
    );
}

#[test]
fn a_native_directory_refuses_every_entry_it_cannot_load_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let ok = "-- == UP MIGRATION ==\nSELECT 1;\n";
    write(dir.path(), "20240101000000_a.sql", ok);
    write(dir.path(), "20240102000000_b.SQL", ok);
    write(dir.path(), "20240103000000_c.sql ", ok);
    write(dir.path(), "20240104000000_d.sql.bak", ok);
    write(dir.path(), "notes.txt", "x\n");
    write(dir.path(), "scratch/20240105000000_e.sql", ok);
    write(
        dir.path(),
        "health/contacts.sql",
        "SELECT count(*) FROM contacts",
    );
    write(dir.path(), "README", "x\n");
    write(dir.path(), "docs.md", "x\n");
    write(dir.path(), ".hidden.sql", "garbage");
    write(dir.path(), "migration_safety.yaml", "migration_safety:\n");
    let message = errors(load_dir(dir.path()));
    for expected in [
        "20240102000000_b.SQL:1: not a migration: its extension is not lower-case .sql",
        "20240103000000_c.sql :1: not a migration: its name ends in white space after .sql",
        "20240104000000_d.sql.bak:1: not a migration: migration files end in .sql",
        "notes.txt:1: not a migration: migration files end in .sql",
        "scratch/:1: not a migration: a directory in a migrations directory",
    ] {
        assert!(message.contains(expected), "{expected}\nin:\n{message}");
    }
    assert_eq!(message.lines().count(), 5, "{message}");
}

#[cfg(unix)]
#[test]
fn symbolic_links_are_followed_inside_and_outside_and_dangling_ones_refused() {
    let outside = tempfile::tempdir().unwrap();
    let ok = "-- == UP MIGRATION ==\nSELECT 1;\n";
    write(outside.path(), "shared.sql", ok);
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "20240101000000_a.sql", ok);
    std::os::unix::fs::symlink(
        outside.path().join("shared.sql"),
        dir.path().join("20240102000000_linked_outside.sql"),
    )
    .unwrap();
    std::os::unix::fs::symlink(
        dir.path().join("20240101000000_a.sql"),
        dir.path().join("20240103000000_linked_inside.sql"),
    )
    .unwrap();
    let loaded = load_dir(dir.path()).unwrap();
    assert_eq!(loaded.len(), 3);
    assert_eq!(loaded[1].file_name, "20240102000000_linked_outside.sql");
    std::os::unix::fs::symlink(
        dir.path().join("gone.sql"),
        dir.path().join("20240104000000_dangling.sql"),
    )
    .unwrap();
    let message = errors(load_dir(dir.path()));
    assert!(
        message.contains("20240104000000_dangling.sql:1: not a migration: a symbolic link whose target cannot be read"),
        "{message}"
    );
}

#[test]
fn nul_bytes_and_invalid_utf8_name_the_file_and_line_in_every_layout() {
    let native = tempfile::tempdir().unwrap();
    write(
        native.path(),
        "20240101000000_a.sql",
        "-- == UP MIGRATION ==\nSELECT 1;\nSELECT 'a\0b';\n",
    );
    let message = errors(load_dir(native.path()));
    assert!(
        message.contains("20240101000000_a.sql:3: a NUL byte at column 10"),
        "{message}"
    );
    let diesel = tempfile::tempdir().unwrap();
    std::fs::create_dir(diesel.path().join("2019-02-26-002946_x")).unwrap();
    let mut bytes = b"SELECT 1;\n".repeat(8);
    bytes.extend([b'S', 0xff, b'\n']);
    std::fs::write(diesel.path().join("2019-02-26-002946_x/up.sql"), bytes).unwrap();
    let message = errors(load_dir(diesel.path()));
    assert!(
        message.contains("2019-02-26-002946_x/up.sql:9: invalid UTF-8 at column 2"),
        "{message}"
    );
}

#[test]
fn engine_variants_replace_shared_files_and_add_their_own() {
    let dir = tempfile::tempdir().unwrap();
    let file = |issue: u32, sql: &str| {
        format!("-- Issue #{issue}: t\n-- ============ UP MIGRATION ============\n{sql}\n")
    };
    write(
        dir.path(),
        "20240101000000_issue_1_base.sql",
        &file(1, "CREATE TABLE t (id INTEGER);"),
    );
    write(
        dir.path(),
        "20240102000000_issue_2_more.sql",
        &file(2, "CREATE TABLE u (id INTEGER);"),
    );
    write(
        dir.path(),
        "postgres/20240101000000_issue_1_base.sql",
        &file(
            1,
            "CREATE TABLE t (id BIGINT GENERATED ALWAYS AS IDENTITY);",
        ),
    );
    write(
        dir.path(),
        "postgres/20240101120000_issue_3_extension.sql",
        &file(3, "CREATE EXTENSION IF NOT EXISTS pg_trgm;"),
    );
    write(dir.path(), "mysql/.gitkeep", "");
    let loaded = load_dir(dir.path()).unwrap();
    assert_eq!(loaded.layout, Layout::Native);
    let names = |e: Engine| -> Vec<String> {
        loaded
            .for_engine(e)
            .iter()
            .map(|m| m.file_name.to_string())
            .collect()
    };
    assert_eq!(
        names(Engine::Sqlite),
        [
            "20240101000000_issue_1_base.sql",
            "20240102000000_issue_2_more.sql"
        ]
    );
    assert_eq!(names(Engine::MySql), names(Engine::Sqlite));
    assert_eq!(
        names(Engine::Postgres),
        [
            "postgres/20240101000000_issue_1_base.sql",
            "postgres/20240101120000_issue_3_extension.sql",
            "20240102000000_issue_2_more.sql"
        ]
    );
    let pg = loaded.for_engine(Engine::Postgres);
    assert_ne!(pg[0].checksum, loaded[0].checksum);
    assert_eq!(pg[0].issue, Some(1));
    let engines: Vec<Engine> = loaded.engines.iter().map(|e| e.engine).collect();
    assert_eq!(engines, [Engine::Postgres, Engine::MySql]);

    write(
        dir.path(),
        "postgres/20240102000000_issue_9_other.sql",
        &file(9, "SELECT 1;"),
    );
    let message = errors(load_dir(dir.path()));
    assert!(
        message.contains("postgres/20240102000000_issue_9_other.sql:1: replaces 20240102000000_issue_2_more.sql (same version 20240102000000) but its name or issue differs"),
        "{message}"
    );
}

#[test]
fn import_writes_native_files_that_load_back_to_the_same_migrations() {
    for (layout, make) in [
        (Layout::Diesel, diesel_project as fn(&Path)),
        (Layout::Sqlx, sqlx_project),
        (Layout::Refinery, refinery_project),
    ] {
        let src = tempfile::tempdir().unwrap();
        make(src.path());
        let original = load_dir_as(src.path(), layout).unwrap();
        let files = import(src.path(), &original).unwrap();
        assert_eq!(files.len(), original.len(), "{layout}");
        let out = tempfile::tempdir().unwrap();
        for f in &files {
            write(out.path(), &f.rel_path, &f.text);
            assert!(
                f.text.starts_with(&format!("-- Imported-from: {layout} ")),
                "{}",
                f.text
            );
        }
        let back = load_dir(out.path()).unwrap();
        assert_eq!(back.layout, Layout::Native, "{layout}");
        for (a, b) in original.iter().zip(back.iter()) {
            assert_eq!(a.version, b.version, "{layout} {}", a.file_name);
            assert_eq!(a.original, b.original, "{layout} {}", a.file_name);
            assert_eq!(
                a.no_transaction, b.no_transaction,
                "{layout} {}",
                a.file_name
            );
            assert_eq!(a.down_kind(), b.down_kind(), "{layout} {}", a.file_name);
            let sql = |m: &migrator_format::Migration| -> Vec<String> {
                m.up.iter().map(|s| s.sql.replace('\r', "")).collect()
            };
            assert_eq!(sql(a), sql(b), "{layout} {}", a.file_name);
            assert!(b.header.imported_from.is_some());
        }
    }
}

#[test]
fn an_imported_file_keeps_the_history_statements_of_the_original() {
    let src = tempfile::tempdir().unwrap();
    diesel_project(src.path());
    let loaded = load_dir(src.path()).unwrap();
    let files = import(src.path(), &loaded).unwrap();
    let legacy = files
        .iter()
        .find(|f| f.from == "2019-02-26-002960_leap_second/")
        .unwrap();
    assert_eq!(legacy.rel_path, "201902260029600000_leap_second.sql");
    assert_eq!(
        legacy.text,
        "-- Imported-from: diesel 2019-02-26-002960_leap_second\n\n-- ============ UP MIGRATION ============\nBEGIN;\nCREATE TABLE schema_migrations (version TEXT PRIMARY KEY);\nINSERT INTO schema_migrations VALUES ('legacy');\nCOMMIT;\n-- ============ DOWN MIGRATION ============\n-- This migration cannot be reverted.\n"
    );
    let initial = files
        .iter()
        .find(|f| f.from.starts_with("00000000000000"))
        .unwrap();
    assert_eq!(
        initial.rel_path,
        "000000000000000000_diesel_initial_setup.sql"
    );
}

#[test]
fn import_refuses_sql_that_the_native_format_would_read_differently() {
    let src = tempfile::tempdir().unwrap();
    write(
        src.path(),
        "20240101000000_tricky.sql",
        "SELECT 1;\n-- ============ DOWN MIGRATION ============\nSELECT 2;\n",
    );
    // (Detection would call it a native file for that line; sqlx is what it is.)
    let loaded = load_dir_as(src.path(), Layout::Sqlx).unwrap();
    let errors = import(src.path(), &loaded).unwrap_err();
    let message = errors[0].to_string();
    assert!(
        message.starts_with("20240101000000_tricky.sql:1: cannot be imported verbatim"),
        "{message}"
    );
}

#[test]
fn a_tampered_import_header_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "201902260029460001_users.sql",
        "-- Imported-from: diesel 2019-02-26-002946_users\n-- ============ UP MIGRATION ============\nSELECT 1;\n",
    );
    write(
        dir.path(),
        "5_x.sql",
        "-- Imported-from: sqlx 5_x.sql\n-- ============ UP MIGRATION ============\nSELECT 1;\n",
    );
    write(
        dir.path(),
        "6_y.sql",
        "-- Imported-from: flyway V6__y.sql\n-- ============ UP MIGRATION ============\nSELECT 1;\n",
    );
    let message = errors(load_dir(dir.path()));
    for expected in [
        "201902260029460001_users.sql:1: Imported-from: diesel 2019-02-26-002946_users: the file name's version 201902260029460001 is not this migration's key 201902260029460000",
        "5_x.sql:1: Imported-from: sqlx 5_x.sql: an import from sqlx needs its `-- Original-checksum: <SHA-384 hex>` line",
        "6_y.sql:1: Imported-from: flyway V6__y.sql: unknown tool \"flyway\"",
    ] {
        assert!(message.contains(expected), "{expected}\nin:\n{message}");
    }
}

#[test]
fn a_native_file_that_lost_its_marker_stays_native_and_plain_sql_is_sqlx() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "20240101000000_broken.sql",
        "-- Author: someone\nCREATE TABLE x (id INT);\n",
    );
    let message = errors(load_dir(dir.path()));
    assert!(
        message.contains("20240101000000_broken.sql:2: SQL before the UP MIGRATION marker"),
        "{message}"
    );
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "20240101000000_plain.sql",
        "-- Add migration script here\nCREATE TABLE x (id INT);\n",
    );
    let loaded = load_dir(dir.path()).unwrap();
    assert_eq!(loaded.layout, Layout::Sqlx);
    assert_eq!(loaded[0].up.len(), 1);
}
