use std::borrow::Cow;
use std::path::Path;

use crate::{Error, Migration};

/// The migrations a binary carries, sorted by version: static data from `embed_migrations!`, or a set
/// loaded from a directory at run time (the companion tool, tests) with the same parser.
#[derive(Debug, Clone)]
pub struct MigrationSet {
    migrations: Cow<'static, [Migration]>,
    source_dir: Cow<'static, str>,
}

impl MigrationSet {
    /// Used by `embed_migrations!`: the set is already parsed, checked and sorted at compile time.
    #[doc(hidden)]
    pub const fn from_static(migrations: &'static [Migration], source_dir: &'static str) -> Self {
        Self {
            migrations: Cow::Borrowed(migrations),
            source_dir: Cow::Borrowed(source_dir),
        }
    }

    /// Reads and parses a migration directory at run time, with the parser the macro uses.
    pub fn from_dir(dir: &Path) -> Result<Self, Error> {
        let migrations = migrator_format::load_dir(dir).map_err(Error::Files)?;
        Ok(Self {
            migrations: Cow::Owned(migrations),
            source_dir: Cow::Owned(dir.to_string_lossy().into_owned()),
        })
    }

    /// Builds a set from parsed migrations; they are sorted, and a duplicate version is an error.
    pub fn from_migrations(mut migrations: Vec<Migration>) -> Result<Self, Error> {
        migrations.sort_by_key(|m| m.version);
        if let Some(pair) = migrations.windows(2).find(|p| p[0].version == p[1].version) {
            return Err(Error::Usage(format!(
                "two migrations share version {}: {} and {}",
                pair[0].version, pair[0].file_name, pair[1].file_name
            )));
        }
        Ok(Self {
            migrations: Cow::Owned(migrations),
            source_dir: Cow::Borrowed(""),
        })
    }

    /// The migrations, sorted by version.
    pub fn migrations(&self) -> &[Migration] {
        &self.migrations
    }

    /// The directory the set was read from (compile time or run time).
    pub fn source_dir(&self) -> &str {
        &self.source_dir
    }

    /// The migration of a version.
    pub fn get(&self, version: u64) -> Option<&Migration> {
        self.migrations
            .binary_search_by_key(&version, |m| m.version)
            .ok()
            .map(|i| &self.migrations[i])
    }

    /// The migrations of an issue, in version order.
    pub fn of_issue(&self, issue: u32) -> impl Iterator<Item = &Migration> {
        self.migrations
            .iter()
            .filter(move |m| m.issue == Some(issue))
    }

    /// Number of migrations.
    pub fn len(&self) -> usize {
        self.migrations.len()
    }

    /// `true` when the set holds no migration.
    pub fn is_empty(&self) -> bool {
        self.migrations.is_empty()
    }
}
