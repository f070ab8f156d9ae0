//! Directories of other tools and per-engine sets, end to end: `embed_migrations!` bakes the same
//! migrations the run-time loader reads (diesel, sqlx and refinery fixtures written in their users' styles,
//! and the example app's directory with its PostgreSQL and MySQL variants), and the runtime applies them on
//! real databases: the diesel fixture and the example app's PostgreSQL set on a throwaway PostgreSQL
//! cluster, the sqlx and refinery fixtures and the example app's shared set on SQLite files.

use std::path::{Path, PathBuf};

use migrator::{embed_migrations, Config, Layout, Migration, MigrationSet};
use migrator_format::Engine;
use migrator_tests::{Db, Workspace};

static DIESEL: MigrationSet = embed_migrations!("fixtures/layouts/diesel");
static SQLX: MigrationSet = embed_migrations!("fixtures/layouts/sqlx");
static REFINERY: MigrationSet = embed_migrations!("fixtures/layouts/refinery");
static EXAMPLE: MigrationSet = embed_migrations!("../migrations");

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(name)
}

/// What the runtime uses of a migration, to compare the embedded and the loaded sets.
fn essence(m: &Migration) -> String {
    format!(
        "{} {} {} {} {:?} {:?} {:?} {:?} {:?} {:?}",
        m.version,
        m.file_name,
        m.checksum,
        m.no_transaction,
        m.layout,
        m.original,
        m.up,
        m.down,
        m.tables,
        m.header
    )
}

fn same(embedded: &[Migration], loaded: &[Migration]) {
    let a: Vec<String> = embedded.iter().map(essence).collect();
    let b: Vec<String> = loaded.iter().map(essence).collect();
    assert_eq!(a, b);
}

#[test]
fn the_macro_embeds_what_the_loader_reads_in_every_layout() {
    for (embedded, dir, layout, count) in [
        (&DIESEL, "fixtures/layouts/diesel", Layout::Diesel, 4),
        (&SQLX, "fixtures/layouts/sqlx", Layout::Sqlx, 3),
        (&REFINERY, "fixtures/layouts/refinery", Layout::Refinery, 4),
    ] {
        let loaded = MigrationSet::from_dir(&fixture(dir)).unwrap();
        assert_eq!(embedded.layout(), layout);
        assert_eq!(loaded.layout(), layout);
        assert_eq!(embedded.len(), count, "{dir}");
        same(embedded.migrations(), loaded.migrations());
    }
    let names: Vec<&str> = DIESEL
        .migrations()
        .iter()
        .map(|m| m.name.as_ref())
        .collect();
    assert_eq!(
        names,
        [
            "diesel_initial_setup",
            "create-Users",
            "index users name",
            "Posts"
        ]
    );
    assert!(DIESEL.migrations()[2].no_transaction);
    assert!(SQLX.migrations()[2].no_transaction);
    let refinery: Vec<u64> = REFINERY.migrations().iter().map(|m| m.version).collect();
    assert_eq!(refinery, [1, 2, 3, 10]);
}

#[test]
fn the_example_app_carries_a_set_per_engine() {
    let loaded = MigrationSet::from_dir(&fixture("../migrations")).unwrap();
    let engines: Vec<Engine> = EXAMPLE.engines().collect();
    assert_eq!(engines, [Engine::Postgres, Engine::MySql]);
    for engine in [Engine::Sqlite, Engine::Postgres, Engine::MySql] {
        same(
            EXAMPLE.for_engine(engine).migrations(),
            loaded.for_engine(engine).migrations(),
        );
        let issues: Vec<Option<u32>> = EXAMPLE
            .for_engine(engine)
            .migrations()
            .iter()
            .map(|m| m.issue)
            .collect();
        assert_eq!(
            issues,
            [Some(187), Some(198), Some(212), Some(234)],
            "{engine}"
        );
    }
    // SQLite runs the shared files; the runtime's engine enum picks a set too.
    same(
        EXAMPLE.for_engine(Engine::Sqlite).migrations(),
        EXAMPLE.migrations(),
    );
    let pg: Vec<String> = EXAMPLE
        .for_engine(Engine::Postgres)
        .migrations()
        .iter()
        .map(|m| m.file_name.to_string())
        .collect();
    assert_eq!(
        pg,
        [
            "postgres/20240108113021_issue_187_crm_base_schema.sql",
            "20240110162244_issue_198_activity_feed_indexes.sql",
            "postgres/20240112091533_issue_212_user_preferences.sql",
            "postgres/20240115143022_issue_234_contact_enrichment.sql"
        ]
    );
    let mysql = EXAMPLE.for_engine(Engine::MySql);
    assert!(mysql
        .migrations()
        .iter()
        .all(|m| m.file_name.starts_with("mysql/")));
}

/// Boots a set with the default policy and then again (nothing pending), and returns the history.
fn boot_twice(db: &Db, set: &MigrationSet) -> Vec<(u64, String)> {
    let report = db.boot(set).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.applied_versions().len(), set.len(), "{report:?}");
    let again = db.boot(set).unwrap();
    assert_eq!(again.applied_versions().len(), 0);
    db.history()
}

#[test]
fn the_example_apps_postgresql_set_applies_and_rolls_back_on_postgresql() {
    let Some(db) = Db::postgres() else { return };
    let set = EXAMPLE.for_engine(Engine::Postgres);
    let history = boot_twice(&db, &set);
    assert_eq!(history.len(), 4, "{history:?}");
    assert_eq!(
        db.count("SELECT count(*) FROM information_schema.columns WHERE table_name = 'contacts' AND column_name = 'enrichment_status'"),
        1
    );
    db.exec("INSERT INTO users (email, display_name) VALUES ('ada@example.com', 'Ada'); INSERT INTO contacts (owner_id, name) SELECT id, 'Ada' FROM users; UPDATE contacts SET name = 'Ada L.';");
    assert_eq!(
        db.count("SELECT count(*) FROM contacts WHERE updated_at > created_at OR updated_at = created_at"),
        1
    );
    let migrator = migrator::Migrator::new(&set);
    db.with_backend(|b| migrator.rollback_issue(b, 234, Default::default()))
        .unwrap();
    assert_eq!(
        db.count("SELECT count(*) FROM information_schema.columns WHERE table_name = 'contacts' AND column_name = 'enrichment_status'"),
        0
    );
}

#[test]
fn the_diesel_fixture_applies_on_postgresql_as_diesel_would() {
    let Some(db) = Db::postgres() else { return };
    let history = boot_twice(&db, &DIESEL);
    let versions: Vec<u64> = history.iter().map(|(v, _)| *v).collect();
    assert_eq!(
        versions,
        [
            0,
            201902260029460000,
            202405271200000000,
            202406010000600000
        ]
    );
    db.exec("INSERT INTO users (name) VALUES ('Ada'); INSERT INTO posts (user_id, title) SELECT id, 'Hello World' FROM users;");
    assert_eq!(
        db.rows("SELECT slug, bio FROM posts JOIN users ON users.id = posts.user_id"),
        ["hello-world|it's me; really"]
    );
    assert_eq!(
        db.count("SELECT count(*) FROM pg_indexes WHERE indexname = 'users_name_idx'"),
        1
    );
}

#[test]
fn the_sqlx_and_refinery_fixtures_apply_on_sqlite() {
    for set in [&SQLX, &REFINERY] {
        let ws = Workspace::new();
        let db = Db::sqlite(&ws);
        let history = boot_twice(&db, set);
        assert_eq!(history.len(), set.len(), "{:?}", set.layout());
    }
}

#[test]
fn the_example_apps_shared_set_still_boots_sqlite() {
    let ws = Workspace::new();
    let db = Db::sqlite(&ws);
    let history = boot_twice(&db, &EXAMPLE.for_engine(Engine::Sqlite));
    assert_eq!(history.len(), 4);
}

/// The real histories of `scripts/corpora.tsv` (fetched by the script, as the format crate's corpus test
/// does), loaded as they are.
fn corpus(name: &str) -> MigrationSet {
    let dir = migrator_tests::corpora();
    MigrationSet::from_dir(&dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Applies every migration as loaded, with the history's own safety reviewed in its time: what this checks
/// is that the verbatim statements split and run as the original tool ran them.
fn history_config() -> Config {
    Config {
        require_review: Vec::new(),
        require_backup: false,
        require_test_run: false,
        max_rows_affected: None,
        ..Config::default()
    }
}

#[test]
fn real_postgresql_histories_apply_as_loaded() {
    let Some(_) = Db::postgres() else { return };
    for name in [
        "lemmy",
        "fang-postgres",
        "atuin-server-postgres",
        "apalis-postgres",
        "sqlxmq",
        "pg_task",
        // Not underway: its first migration runs `set local search_path to underway`, after which the
        // runtime's own unqualified `schema_migrations` write in the same transaction fails (a runtime
        // matter: the history store should name its schema); it also copies sqlx's `_sqlx_migrations`.
        "pgorm",
    ] {
        let set = corpus(name);
        let db = Db::postgres().unwrap();
        let started = std::time::Instant::now();
        let report = db
            .boot_with(&set, history_config())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(report.applied_versions().len(), set.len(), "{name}");
        println!(
            "{name}: {} migrations applied in {:.1} s",
            set.len(),
            started.elapsed().as_secs_f64()
        );
    }
}

#[test]
fn real_sqlite_histories_apply_as_loaded() {
    for name in [
        "fang-sqlite",
        "atuin-server-sqlite",
        "atuin-client",
        "apalis-sqlite",
        "mostro",
        "springtime-refinery",
    ] {
        let set = corpus(name);
        let ws = Workspace::new();
        let db = Db::sqlite(&ws);
        let report = db
            .boot_with(&set, history_config())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(report.applied_versions().len(), set.len(), "{name}");
    }
}
