//! A host embedding 1,000 migrations with diesel_migrations, to time a rebuild after editing one of them.
use diesel::migration::MigrationSource;
use diesel_migrations::EmbeddedMigrations;

const MIGRATIONS: EmbeddedMigrations =
    diesel_migrations::embed_migrations!("../../sets/diesel/1000");

fn main() {
    let count = MigrationSource::<diesel::sqlite::Sqlite>::migrations(&MIGRATIONS)
        .map(|m| m.len())
        .unwrap_or(0);
    println!("{count}");
}
