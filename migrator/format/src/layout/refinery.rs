//! refinery's layout: `V<version>__<name>.sql` (and `U<version>__<name>.sql`, unversioned), found in the
//! directory and, recursively, its sub-directories, as `refinery_core::util::find_migration_files` walks
//! it. The name is refinery's `\w+`; the version an `i32` (`i64` with refinery's `int8-versions`); a line
//! `-- refinery:noTransaction` runs the migration outside a transaction; the checksum
//! `refinery_schema_history` keeps is SipHash-1-3 with zero keys over the name, the version and the file's
//! text, each fed through `std::hash::Hash` (`refinery_core::Migration::unapplied`).

use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use siphasher::sip::SipHasher13;

use super::{build, named_text, Foreign, Part};
use crate::read::{list, not_a_migration, Listing};
use crate::{FormatError, FormatErrorKind, Layout, Migration, Original, SetError};

/// Sub-directories deeper than this are refused (a guard against symbolic link loops).
pub(crate) const MAX_DEPTH: usize = 16;

/// The parts of a refinery file stem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RefineryName {
    /// `U` rather than `V`.
    pub unversioned: bool,
    /// The version.
    pub version: i64,
    /// The name after `__`.
    pub name: String,
}

/// `true` for a character of regex's Unicode `\w` as refinery's names use it (letters, digits, marks,
/// connector punctuation such as `_`).
fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Splits `[UV]<digits>[.<digits>]__<word chars>` into its parts, or `None`.
fn split_stem(stem: &str) -> Option<(bool, &str, &str)> {
    let unversioned = match stem.chars().next()? {
        'V' => false,
        'U' => true,
        _ => return None,
    };
    let (version, name) = stem[1..].split_once("__")?;
    let mut pieces = version.splitn(2, '.');
    let digits_ok =
        |p: Option<&str>| p.is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    let whole = pieces.next();
    let fraction = pieces.next();
    if !digits_ok(whole) || (fraction.is_some() && !digits_ok(fraction)) {
        return None;
    }
    if name.is_empty() || !name.chars().all(is_word) {
        return None;
    }
    Some((unversioned, version, name))
}

/// `true` when a file name is one refinery reads (`.sql`) or embeds (`.rs`).
pub(crate) fn looks_like(file_name: &str) -> bool {
    file_name
        .strip_suffix(".sql")
        .or_else(|| file_name.strip_suffix(".rs"))
        .and_then(split_stem)
        .is_some()
}

/// Parses a refinery file stem (`V2__add_cars`).
pub(crate) fn parse_stem(stem: &str) -> Result<RefineryName, String> {
    let (unversioned, version, name) = split_stem(stem)
        .ok_or_else(|| format!("{stem:?} is not a refinery name V<version>__<name>"))?;
    let version: i64 = version.parse().map_err(|_| {
        format!("{stem:?}: the version {version} is not an integer (refinery refuses it too)")
    })?;
    Ok(RefineryName {
        unversioned,
        version,
        name: name.to_string(),
    })
}

/// refinery's checksum of a migration; `int8` hashes the version as `i64` (refinery's `int8-versions`).
pub fn checksum(name: &str, version: i64, sql: &str, int8: bool) -> u64 {
    let mut hasher = SipHasher13::new();
    name.hash(&mut hasher);
    match i32::try_from(version) {
        Ok(narrow) if !int8 => narrow.hash(&mut hasher),
        _ => version.hash(&mut hasher),
    }
    sql.hash(&mut hasher);
    hasher.finish()
}

/// `true` when a line of the text is refinery's `-- refinery:noTransaction` annotation.
fn no_transaction(text: &str) -> bool {
    text.lines().any(|line| {
        let rest = line.trim_start_matches('-');
        line.len() - rest.len() >= 2 && {
            let mut chars = rest.chars();
            let after_space = match chars.clone().next() {
                Some(c) if c.is_whitespace() => {
                    chars.next();
                    chars.as_str()
                }
                _ => rest,
            };
            after_space == "refinery:noTransaction"
        }
    })
}

/// `true` when the directory or a sub-directory holds a refinery file name (for layout detection).
pub(crate) fn holds_migrations(dir: &Path, depth: usize) -> bool {
    if depth > MAX_DEPTH {
        return false;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.flatten().any(|entry| {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        !name.starts_with('.')
            && (looks_like(&name)
                || (entry.path().is_dir() && holds_migrations(&entry.path(), depth + 1)))
    })
}

/// Loads the refinery migrations of a listing and, recursively, of its sub-directories.
pub(crate) fn load(
    listing: &Listing,
    errors: &mut Vec<FormatError>,
) -> Result<Vec<Migration>, SetError> {
    let mut migrations = Vec::new();
    let mut visited: HashSet<PathBuf> = HashSet::new();
    walk(listing, 0, &mut visited, &mut migrations, errors)?;
    Ok(migrations)
}

fn walk(
    listing: &Listing,
    depth: usize,
    visited: &mut HashSet<PathBuf>,
    migrations: &mut Vec<Migration>,
    errors: &mut Vec<FormatError>,
) -> Result<(), SetError> {
    for file in &listing.files {
        if let Some(stem) = file
            .name
            .strip_suffix(".rs")
            .filter(|s| split_stem(s).is_some())
        {
            errors.push(not_a_migration(
                &file.rel,
                &format!("a refinery Rust migration; migrator runs SQL files only: write its SQL as {stem}.sql"),
            ));
            continue;
        }
        let parse = |name: &str| match name.strip_suffix(".sql") {
            Some(stem) => parse_stem(stem),
            None => Err("refinery migrations are named V<version>__<name>.sql".to_string()),
        };
        let Some((parsed, text)) = named_text(file, parse, errors) else {
            continue;
        };
        let Ok(key) = u64::try_from(parsed.version) else {
            errors.push(FormatError {
                file: file.rel.clone(),
                line: 1,
                kind: FormatErrorKind::BadVersion("negative version".into()),
            });
            continue;
        };
        let built = build(Foreign {
            file_name: file.rel.clone(),
            version: key,
            name: parsed.name.clone(),
            layout: Layout::Refinery,
            original: Original::Refinery {
                version: parsed.version,
                name: parsed.name.clone().into(),
                checksum: checksum(&parsed.name, parsed.version, &text, false),
                checksum_int8: checksum(&parsed.name, parsed.version, &text, true),
                unversioned: parsed.unversioned,
            },
            no_transaction: no_transaction(&text),
            up: Part {
                entry: file,
                text: &text,
            },
            down: None,
            extra: None,
        });
        match built {
            Ok(m) => migrations.push(m),
            Err(e) => errors.push(e),
        }
    }
    for dir in &listing.dirs {
        let canonical = dir.path.canonicalize().unwrap_or_else(|_| dir.path.clone());
        if depth >= MAX_DEPTH || !visited.insert(canonical) {
            errors.push(not_a_migration(
                &format!("{}/", dir.rel),
                "a directory reached twice or too deep (a symbolic link loop?)",
            ));
            continue;
        }
        let sub = list(&dir.path, &format!("{}/", dir.rel), errors)?;
        walk(&sub, depth + 1, visited, migrations, errors)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_as_refinery_reads_them() {
        assert!(looks_like("V1__initial.sql"));
        assert!(looks_like("U12__seed_data.rs"));
        assert!(looks_like("V1__café.sql"));
        assert!(!looks_like("V1_initial.sql"));
        assert!(!looks_like("V1__add-cars.sql"));
        assert!(!looks_like("v1__x.sql"));
        let n = parse_stem("V2__trips_and_stops").unwrap();
        assert_eq!(
            (n.version, n.name.as_str(), n.unversioned),
            (2, "trips_and_stops", false)
        );
        assert!(parse_stem("U3__x").unwrap().unversioned);
        assert!(parse_stem("V1.5__x")
            .unwrap_err()
            .contains("not an integer"));
        assert!(no_transaction(
            "CREATE INDEX CONCURRENTLY i ON t (x);\n-- refinery:noTransaction\n"
        ));
        assert!(no_transaction("--refinery:noTransaction"));
        assert!(!no_transaction("-- refinery:noTransaction please"));
    }
}
