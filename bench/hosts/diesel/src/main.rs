//! A host embedding 1,000 migrations with diesel_migrations and applying them at start-up, as an
//! application does, to time a rebuild after editing one of them (`bash bench/rebuild.sh`). It links what a
//! real host links: diesel's SQLite connection and SQLite (bundled, as migrator's host has it).
use diesel::{Connection, SqliteConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness};

const MIGRATIONS: EmbeddedMigrations =
    diesel_migrations::embed_migrations!("../../sets/diesel/1000");

fn main() {
    let mut conn = SqliteConnection::establish(":memory:").expect("an in-memory database");
    let applied = conn.run_pending_migrations(MIGRATIONS).expect("apply");
    println!("{}", applied.len());
}
