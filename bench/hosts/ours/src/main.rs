//! A host embedding 1,000 migrations with migrator and applying them at start-up, as an application does,
//! to time a rebuild after editing one of them (`bash bench/rebuild.sh`). It links what a real host links:
//! the runtime and SQLite (bundled).
use migrator::{Config, Migrator, Sqlite};

static MIGRATIONS: migrator::MigrationSet = migrator::embed_migrations!("../../sets/ours/1000");

fn main() {
    let conn = rusqlite::Connection::open_in_memory().expect("an in-memory database");
    let config = Config {
        require_backup: false,
        require_test_run: false,
        ..Config::default()
    };
    let report = Migrator::new(&MIGRATIONS)
        .with_config(config)
        .boot(&mut Sqlite::new(&conn))
        .expect("apply");
    println!("{}", report.applied_versions().len());
}
