//! Loading a migrations directory: its layout (native, diesel, sqlx, refinery), its shared migrations and
//! its per-engine variant sets (`postgres/`, `sqlite/`, `mysql/`), every entry loaded or refused by name.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::file::parse_native;
use crate::layout::{detect, diesel, refinery, sqlx};
use crate::read::{list, near_sql, not_a_migration, read_text, Listing};
use crate::{Engine, EngineMigrations, FormatError, FormatErrorKind, Layout, Migration, SetError};

/// What [`load_dir`] read: the layout, the shared migrations, and the set of each engine that has a
/// sub-directory. Dereferences to the shared migrations.
#[derive(Debug, Clone)]
pub struct LoadedDir {
    /// The layout of the directory (and of its engine sub-directories).
    pub layout: Layout,
    /// The migrations of the directory itself, sorted by version: every engine's set when the engine has
    /// no sub-directory.
    pub migrations: Vec<Migration>,
    /// For each engine with a sub-directory (`postgres/`, `sqlite/`, `mysql/`): the shared migrations with
    /// the sub-directory's files in place of those of the same version, plus its own, sorted by version.
    pub engines: Vec<EngineMigrations>,
    /// Every file read, for build tools that must rebuild when one changes.
    pub files: Vec<PathBuf>,
}

impl LoadedDir {
    /// The migrations an engine runs: its set when it has a sub-directory, the shared ones otherwise.
    pub fn for_engine(&self, engine: Engine) -> &[Migration] {
        self.engines
            .iter()
            .find(|e| e.engine == engine)
            .map_or(&self.migrations, |e| &e.migrations)
    }
}

impl std::ops::Deref for LoadedDir {
    type Target = [Migration];

    fn deref(&self) -> &[Migration] {
        &self.migrations
    }
}

/// The `.sql` files of a directory, sorted by name (a `health/` directory of checks, the tool's file
/// arguments). Sub-directories, hidden files and files of other kinds are left out.
pub fn migration_files(dir: &Path) -> Result<Vec<PathBuf>, SetError> {
    let dir_error = |e: std::io::Error| SetError::Dir {
        dir: dir.to_path_buf(),
        message: e.to_string(),
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(dir_error)? {
        let entry = entry.map_err(dir_error)?;
        let path = entry.path();
        let is_sql = path.extension().is_some_and(|e| e == "sql");
        let hidden = entry.file_name().to_string_lossy().starts_with('.');
        if is_sql && !hidden && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// Reads every migration of `dir`, detecting its layout. All problems are reported together: malformed
/// files, entries that are not migrations (named, with the reason), two migrations with one version.
pub fn load_dir(dir: &Path) -> Result<LoadedDir, SetError> {
    load(dir, None)
}

/// As [`load_dir`], for a directory that must have `layout` (`migrator-tool import --from`); a directory
/// of another layout is an error, except that native and sqlx (whose file names look alike) take the
/// layout asked for.
pub fn load_dir_as(dir: &Path, layout: Layout) -> Result<LoadedDir, SetError> {
    load(dir, Some(layout))
}

fn load(dir: &Path, expected: Option<Layout>) -> Result<LoadedDir, SetError> {
    let mut errors = Vec::new();
    let mut top = list(dir, "", &mut errors)?;
    let mut engine_dirs = Vec::new();
    for engine in Engine::ALL {
        if let Some(index) = top.dirs.iter().position(|d| d.name == engine.dir_name()) {
            let entry = top.dirs.remove(index);
            let listing = list(&entry.path, &format!("{}/", entry.name), &mut errors)?;
            engine_dirs.push((engine, listing));
        }
    }
    let mut listings = vec![&top];
    listings.extend(engine_dirs.iter().map(|(_, l)| l));
    let layout = match detect(&listings) {
        Ok(detected) => match expected {
            // Native and sqlx files have the same names; a sqlx file whose SQL holds a line like a section
            // marker reads as native. Asked for one of the two, take it.
            Some(want) if ambiguous(want, detected) => want,
            Some(want) if want != detected && !is_empty(&listings) => {
                return Err(SetError::Files(vec![FormatError {
                    file: dir.display().to_string(),
                    line: 1,
                    kind: FormatErrorKind::Layout(format!(
                        "this is a {detected} directory, not a {want} one"
                    )),
                }]))
            }
            Some(want) => want,
            None => detected,
        },
        Err(e) => return Err(SetError::Files(vec![e])),
    };
    tracing::debug!(dir = %dir.display(), %layout, "migrations directory layout");
    let mut files = Vec::new();
    let mut shared = load_listing(layout, &top, &mut errors, &mut files)?;
    sort_and_check(&mut shared, &mut errors);
    let mut engines = Vec::new();
    for (engine, listing) in &engine_dirs {
        let mut own = load_listing(layout, listing, &mut errors, &mut files)?;
        sort_and_check(&mut own, &mut errors);
        engines.push(EngineMigrations {
            engine: *engine,
            migrations: Cow::Owned(merge(&shared, own, &mut errors)),
        });
    }
    files.sort();
    files.dedup();
    if errors.is_empty() {
        Ok(LoadedDir {
            layout,
            migrations: shared,
            engines,
            files,
        })
    } else {
        Err(SetError::Files(errors))
    }
}

fn ambiguous(a: Layout, b: Layout) -> bool {
    matches!(
        (a, b),
        (Layout::Native, Layout::Sqlx) | (Layout::Sqlx, Layout::Native)
    )
}

fn is_empty(listings: &[&Listing]) -> bool {
    listings
        .iter()
        .all(|l| l.files.is_empty() && l.dirs.is_empty())
}

/// Loads one directory listing in `layout`, recording the files it read.
fn load_listing(
    layout: Layout,
    listing: &Listing,
    errors: &mut Vec<FormatError>,
    files: &mut Vec<PathBuf>,
) -> Result<Vec<Migration>, SetError> {
    record_files(listing, files, 0)?;
    Ok(match layout {
        Layout::Native => load_native(listing, errors),
        Layout::Sqlx => sqlx::load(listing, errors),
        Layout::Diesel => diesel::load(listing, errors)?,
        Layout::Refinery => refinery::load(listing, errors)?,
    })
}

/// Every file under a listing (sub-directories included, as deep as refinery's walk goes), for rebuild
/// tracking. Entries that cannot be listed are the loaders' to report.
fn record_files(listing: &Listing, files: &mut Vec<PathBuf>, depth: usize) -> Result<(), SetError> {
    files.extend(listing.files.iter().map(|f| f.path.clone()));
    if depth < refinery::MAX_DEPTH {
        for dir in &listing.dirs {
            let sub = list(&dir.path, "", &mut Vec::new())?;
            record_files(&sub, files, depth + 1)?;
        }
    }
    Ok(())
}

/// Loads migrator's own files of one listing.
fn load_native(listing: &Listing, errors: &mut Vec<FormatError>) -> Vec<Migration> {
    for dir in &listing.dirs {
        errors.push(not_a_migration(
            &format!("{}/", dir.rel),
            "a directory in a migrations directory (known: postgres/, sqlite/, mysql/ for engine variants, health/ for health checks)",
        ));
    }
    let mut migrations = Vec::new();
    for file in &listing.files {
        if let Some(why) = near_sql(&file.name) {
            errors.push(not_a_migration(&file.rel, &why));
            continue;
        }
        if !file.name.ends_with(".sql") {
            errors.push(not_a_migration(
                &file.rel,
                &format!(
                    "migration files end in .sql; ignored besides them: {}",
                    crate::read::IGNORED
                ),
            ));
            continue;
        }
        match read_text(file).and_then(|text| parse_native(&file.rel, &file.name, &text)) {
            Ok(m) => migrations.push(m),
            Err(e) => errors.push(e),
        }
    }
    migrations
}

/// Sorts by version and reports two migrations with one version.
fn sort_and_check(migrations: &mut [Migration], errors: &mut Vec<FormatError>) {
    migrations.sort_by_key(|m| m.version);
    for pair in migrations.windows(2) {
        if pair[0].version == pair[1].version {
            errors.push(FormatError {
                file: pair[1].file_name.to_string(),
                line: 1,
                kind: FormatErrorKind::BadFileName(format!(
                    "version {} is also used by {}; every migration needs its own version",
                    pair[1].version, pair[0].file_name
                )),
            });
        }
    }
}

/// An engine's set: the shared migrations with the engine's variants in place (same version, same name
/// and issue) and its own migrations added, sorted by version.
fn merge(
    shared: &[Migration],
    own: Vec<Migration>,
    errors: &mut Vec<FormatError>,
) -> Vec<Migration> {
    let mut merged: BTreeMap<u64, Migration> =
        shared.iter().map(|m| (m.version, m.clone())).collect();
    for variant in own {
        match merged.get(&variant.version) {
            Some(base) if base.name != variant.name || base.issue != variant.issue => {
                errors.push(FormatError {
                    file: variant.file_name.to_string(),
                    line: 1,
                    kind: FormatErrorKind::EngineVariant(format!(
                        "replaces {} (same version {}) but its name or issue differs; an engine variant keeps the shared file's name and issue, a migration of its own needs a version of its own",
                        base.file_name, variant.version
                    )),
                });
            }
            _ => {
                merged.insert(variant.version, variant);
            }
        }
    }
    merged.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_versions_and_bad_files_are_all_reported() {
        let dir = tempfile::tempdir().unwrap();
        let ok = "-- == UP MIGRATION ==\nSELECT 1;\n";
        std::fs::write(dir.path().join("20240101000000_a.sql"), ok).unwrap();
        std::fs::write(dir.path().join("20240101000000_b.sql"), ok).unwrap();
        std::fs::write(dir.path().join("20240102000000_c.sql"), "-- nothing\n").unwrap();
        std::fs::write(dir.path().join("README.md"), "not a migration").unwrap();
        std::fs::create_dir(dir.path().join("health")).unwrap();
        let message = load_dir(dir.path()).unwrap_err().to_string();
        assert!(message.contains("20240101000000_b.sql:1: bad file name: version 20240101000000 is also used by 20240101000000_a.sql"), "{message}");
        assert!(
            message.contains("20240102000000_c.sql:1: no UP MIGRATION"),
            "{message}"
        );
    }
}
