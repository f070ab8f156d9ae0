//! A host embedding 1,000 migrations with migrator, to time a rebuild after editing one of them.
static MIGRATIONS: migrator::MigrationSet = migrator::embed_migrations!("../../sets/ours/1000");

fn main() {
    println!("{}", MIGRATIONS.len());
}
