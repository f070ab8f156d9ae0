use std::borrow::Cow;
use std::fmt;
use std::path::Path;
use std::sync::OnceLock;

use migrator_format::{EngineMigrations, Layout};

use crate::{Error, Migration};

/// The migrations a binary carries, sorted by version: from `embed_migrations!`, or a set loaded from a
/// directory at run time (the companion tool, tests) with the same parser.
///
/// A directory may hold engine variants (`postgres/`, `sqlite/`, `mysql/` beside the shared files);
/// [`MigrationSet::migrations`] are then the shared ones, and [`MigrationSet::for_engine`] gives the set an
/// engine runs.
///
/// An embedded set is the text the macro wrote (parsed, checked and checksummed at compile time; see
/// `migrator_format::embedded`), decoded once, at its first use.
#[derive(Clone)]
pub struct MigrationSet {
    source_dir: Cow<'static, str>,
    contents: Contents,
}

#[derive(Clone)]
enum Contents {
    Parsed(Parsed),
    Embedded {
        text: &'static str,
        parsed: OnceLock<Parsed>,
    },
}

#[derive(Debug, Clone)]
struct Parsed {
    migrations: Cow<'static, [Migration]>,
    layout: Layout,
    engines: Cow<'static, [EngineMigrations]>,
}

impl fmt::Debug for MigrationSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parsed = self.parsed();
        f.debug_struct("MigrationSet")
            .field("source_dir", &self.source_dir)
            .field("layout", &parsed.layout)
            .field("migrations", &parsed.migrations)
            .field("engines", &parsed.engines)
            .finish()
    }
}

impl MigrationSet {
    /// A set of migrations already in memory (`&[]` for an empty set).
    #[doc(hidden)]
    pub const fn from_static(migrations: &'static [Migration], source_dir: &'static str) -> Self {
        Self {
            source_dir: Cow::Borrowed(source_dir),
            contents: Contents::Parsed(Parsed {
                migrations: Cow::Borrowed(migrations),
                layout: Layout::Native,
                engines: Cow::Borrowed(&[]),
            }),
        }
    }

    /// Used by `embed_migrations!`: the set's text, written by `migrator_format::embedded::encode` at
    /// compile time.
    #[doc(hidden)]
    pub const fn from_embedded(text: &'static str, source_dir: &'static str) -> Self {
        Self {
            source_dir: Cow::Borrowed(source_dir),
            contents: Contents::Embedded {
                text,
                parsed: OnceLock::new(),
            },
        }
    }

    fn parsed(&self) -> &Parsed {
        match &self.contents {
            Contents::Parsed(parsed) => parsed,
            Contents::Embedded { text, parsed } => parsed.get_or_init(|| decode(text)),
        }
    }

    /// Reads and parses a migration directory at run time, with the parser the macro uses (any layout:
    /// native, diesel, sqlx, refinery; engine sub-directories included).
    pub fn from_dir(dir: &Path) -> Result<Self, Error> {
        let loaded = migrator_format::load_dir(dir).map_err(Error::Files)?;
        Ok(Self {
            source_dir: Cow::Owned(dir.to_string_lossy().into_owned()),
            contents: Contents::Parsed(Parsed {
                migrations: Cow::Owned(loaded.migrations),
                layout: loaded.layout,
                engines: Cow::Owned(loaded.engines),
            }),
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
            source_dir: Cow::Borrowed(""),
            contents: Contents::Parsed(Parsed {
                migrations: Cow::Owned(migrations),
                layout,
                engines: Cow::Borrowed(&[]),
            }),
        })
    }

    /// The set an engine runs: the engine's variant set when the directory has its sub-directory
    /// (`postgres/`, `sqlite/`, `mysql/`), the shared migrations otherwise.
    pub fn for_engine(&self, engine: crate::EngineKind) -> MigrationSet {
        let parsed = self.parsed();
        let migrations = parsed
            .engines
            .iter()
            .find(|e| e.engine == engine)
            .map_or_else(|| parsed.migrations.clone(), |e| e.migrations.clone());
        Self {
            source_dir: self.source_dir.clone(),
            contents: Contents::Parsed(Parsed {
                migrations,
                layout: parsed.layout,
                engines: Cow::Borrowed(&[]),
            }),
        }
    }

    /// The engines the directory holds a variant set for (an engine sub-directory).
    pub fn engines(&self) -> impl Iterator<Item = crate::EngineKind> + '_ {
        self.parsed().engines.iter().map(|e| e.engine)
    }

    /// The layout the directory was read in (native, diesel, sqlx, refinery).
    pub fn layout(&self) -> Layout {
        self.parsed().layout
    }

    /// The migrations, sorted by version (the shared ones when the directory has engine variants; see
    /// [`MigrationSet::for_engine`]).
    pub fn migrations(&self) -> &[Migration] {
        &self.parsed().migrations
    }

    /// The directory the set was read from (compile time or run time).
    pub fn source_dir(&self) -> &str {
        &self.source_dir
    }

    /// The migration of a version.
    pub fn get(&self, version: u64) -> Option<&Migration> {
        let migrations = self.migrations();
        migrations
            .binary_search_by_key(&version, |m| m.version)
            .ok()
            .map(|i| &migrations[i])
    }

    /// The migrations of an issue, in version order.
    pub fn of_issue(&self, issue: u32) -> impl Iterator<Item = &Migration> {
        self.migrations()
            .iter()
            .filter(move |m| m.issue == Some(issue))
    }

    /// Number of migrations.
    pub fn len(&self) -> usize {
        self.migrations().len()
    }

    /// `true` when the set holds no migration.
    pub fn is_empty(&self) -> bool {
        self.migrations().is_empty()
    }
}

/// Decodes an embedded set's text. The macro wrote it with the same version of `migrator_format` (the
/// code it emits asserts `FORMAT` at compile time) from a directory it had just parsed and checked, and
/// the round trip is tested on every layout; a failure here is a bug in that pair, not an input error.
fn decode(text: &'static str) -> Parsed {
    let started = std::time::Instant::now();
    let set = match migrator_format::embedded::decode(text) {
        Ok(set) => set,
        Err(e) => panic!("embed_migrations! wrote a set this runtime cannot read: {e}"),
    };
    tracing::debug!(
        migrations = set.migrations.len(),
        bytes = text.len(),
        elapsed_us = started.elapsed().as_micros() as u64,
        "embedded set decoded"
    );
    Parsed {
        migrations: Cow::Owned(set.migrations),
        layout: set.layout,
        engines: Cow::Owned(set.engines),
    }
}
