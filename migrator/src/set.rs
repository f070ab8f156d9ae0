use std::borrow::Cow;
use std::path::Path;

use migrator_format::{EngineMigrations, Layout};

use crate::{Error, Migration};

/// The migrations a binary carries, sorted by version: static data from `embed_migrations!`, or a set
/// loaded from a directory at run time (the companion tool, tests) with the same parser.
///
/// A directory may hold engine variants (`postgres/`, `sqlite/`, `mysql/` beside the shared files);
/// [`MigrationSet::migrations`] are then the shared ones, and [`MigrationSet::for_engine`] gives the set an
/// engine runs.
#[derive(Debug, Clone)]
pub struct MigrationSet {
    migrations: Cow<'static, [Migration]>,
    source_dir: Cow<'static, str>,
    layout: Layout,
    engines: Cow<'static, [EngineMigrations]>,
}

impl MigrationSet {
    /// Used by `embed_migrations!`: the set is already parsed, checked and sorted at compile time.
    #[doc(hidden)]
    pub const fn from_static(migrations: &'static [Migration], source_dir: &'static str) -> Self {
        Self::from_static_engines(migrations, source_dir, Layout::Native, &[])
    }

    /// Used by `embed_migrations!` for a directory of another layout or with engine variants.
    #[doc(hidden)]
    pub const fn from_static_engines(
        migrations: &'static [Migration],
        source_dir: &'static str,
        layout: Layout,
        engines: &'static [EngineMigrations],
    ) -> Self {
        Self {
            migrations: Cow::Borrowed(migrations),
            source_dir: Cow::Borrowed(source_dir),
            layout,
            engines: Cow::Borrowed(engines),
        }
    }

    /// Reads and parses a migration directory at run time, with the parser the macro uses (any layout:
    /// native, diesel, sqlx, refinery; engine sub-directories included).
    pub fn from_dir(dir: &Path) -> Result<Self, Error> {
        let loaded = migrator_format::load_dir(dir).map_err(Error::Files)?;
        Ok(Self {
            migrations: Cow::Owned(loaded.migrations),
            source_dir: Cow::Owned(dir.to_string_lossy().into_owned()),
            layout: loaded.layout,
            engines: Cow::Owned(loaded.engines),
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
        let layout = migrations.first().map_or(Layout::Native, |m| m.layout);
        Ok(Self {
            migrations: Cow::Owned(migrations),
            source_dir: Cow::Borrowed(""),
            layout,
            engines: Cow::Borrowed(&[]),
        })
    }

    /// The set an engine runs: the engine's variant set when the directory has its sub-directory
    /// (`postgres/`, `sqlite/`, `mysql/`), the shared migrations otherwise.
    pub fn for_engine(&self, engine: crate::EngineKind) -> MigrationSet {
        // Static sets clone borrowed slices; sets read at run time clone their vectors.
        let migrations = self
            .engines
            .iter()
            .find(|e| e.engine == engine)
            .map_or_else(|| self.migrations.clone(), |e| e.migrations.clone());
        Self {
            migrations,
            source_dir: self.source_dir.clone(),
            layout: self.layout,
            engines: Cow::Borrowed(&[]),
        }
    }

    /// The engines the directory holds a variant set for (an engine sub-directory).
    pub fn engines(&self) -> impl Iterator<Item = crate::EngineKind> + '_ {
        self.engines.iter().map(|e| e.engine)
    }

    /// The layout the directory was read in (native, diesel, sqlx, refinery).
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// The migrations, sorted by version (the shared ones when the directory has engine variants; see
    /// [`MigrationSet::for_engine`]).
    #[inline]
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
    #[inline]
    pub fn len(&self) -> usize {
        self.migrations.len()
    }

    /// `true` when the set holds no migration.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.migrations.is_empty()
    }
}
