//! sqlx's layout: `<version>_<description>.sql`, or a reversible pair `<version>_<description>.up.sql` and
//! `.down.sql`, in one directory (no sub-directories). As `sqlx-core`'s `resolve_blocking` reads it: the
//! version is the part before the first `_` parsed as an `i64`; a file whose text starts with
//! `-- no-transaction` runs outside a transaction; the checksum `_sqlx_migrations` keeps is SHA-384 of the
//! (UP) file's bytes; migrations are ordered by version.

use std::collections::BTreeMap;

use sha2::{Digest, Sha384};

use super::{build, hex, named_text, Foreign, Part};
use crate::read::{not_a_migration, Entry, Listing};
use crate::{FormatError, FormatErrorKind, Layout, Migration, Original};

/// Which file of a migration a name is, from its suffix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `.sql`: a one-way migration.
    Simple,
    /// `.up.sql`.
    Up,
    /// `.down.sql`.
    Down,
}

/// Parses a sqlx file name into version, description part (as written, before sqlx turns `_` into
/// spaces) and kind.
pub(crate) fn parse_name(name: &str) -> Result<(i64, &str, Kind), String> {
    let (version, rest) = name
        .split_once('_')
        .filter(|(_, rest)| rest.ends_with(".sql"))
        .ok_or_else(|| format!("{name:?} is not <VERSION>_<DESCRIPTION>.sql"))?;
    let version: i64 = version.parse().map_err(|_| {
        format!("{name:?}: the version {version:?} is not an integer (sqlx reads `<VERSION>_<DESCRIPTION>.sql`, e.g. `20240101120000_create_users.sql`)")
    })?;
    if version < 0 {
        return Err(format!("{name:?}: the version {version} is negative"));
    }
    let (kind, suffix) = if rest.ends_with(".up.sql") {
        (Kind::Up, ".up.sql")
    } else if rest.ends_with(".down.sql") {
        (Kind::Down, ".down.sql")
    } else {
        (Kind::Simple, ".sql")
    };
    Ok((version, rest.trim_end_matches(suffix), kind))
}

/// `true` when the text opts out of the transaction, as sqlx decides it.
fn no_transaction(text: &str) -> bool {
    text.starts_with("-- no-transaction")
}

/// The files of one version: the UP or one-way file with its text and description, the DOWN file with its
/// text.
type Found<'a> = (
    Option<(&'a Entry, String, &'a str)>,
    Option<(&'a Entry, String)>,
);

/// Loads the migrations of one sqlx directory listing; refused entries go to `errors`.
pub(crate) fn load(listing: &Listing, errors: &mut Vec<FormatError>) -> Vec<Migration> {
    for dir in &listing.dirs {
        errors.push(not_a_migration(
            &format!("{}/", dir.rel),
            "sqlx reads one directory, without sub-directories (the engine sub-directories are postgres/, sqlite/ and mysql/)",
        ));
    }
    let mut found: BTreeMap<i64, Found<'_>> = BTreeMap::new();
    for file in &listing.files {
        let Some(((version, description, kind), text)) = named_text(file, parse_name, errors)
        else {
            continue;
        };
        let slot = found.entry(version).or_default();
        let clash = match kind {
            Kind::Down if slot.1.is_none() => {
                slot.1 = Some((file, text));
                None
            }
            Kind::Simple | Kind::Up if slot.0.is_none() => {
                slot.0 = Some((file, text, description));
                None
            }
            Kind::Down => slot.1.as_ref().map(|d| d.0.rel.clone()),
            _ => slot.0.as_ref().map(|u| u.0.rel.clone()),
        };
        if let Some(other) = clash {
            errors.push(duplicate(&file.rel, version, &other));
        }
    }
    let mut migrations = Vec::new();
    for (version, (up, down)) in found {
        let Some((up_entry, up_text, description)) = up else {
            if let Some((down_entry, _)) = down {
                errors.push(not_a_migration(
                    &down_entry.rel,
                    "a .down.sql without its .up.sql",
                ));
            }
            continue;
        };
        if down.is_some() && !up_entry.name.ends_with(".up.sql") {
            if let Some((down_entry, _)) = &down {
                errors.push(not_a_migration(
                    &down_entry.rel,
                    &format!(
                        "a .down.sql beside the one-way {}; name the UP `.up.sql`",
                        up_entry.name
                    ),
                ));
            }
            continue;
        }
        let checksum = hex(&Sha384::digest(up_text.as_bytes()));
        let no_tx = no_transaction(&up_text) || down.as_ref().is_some_and(|d| no_transaction(&d.1));
        let key = u64::try_from(version).unwrap_or_default();
        let built = build(Foreign {
            file_name: up_entry.rel.clone(),
            version: key,
            name: description.to_string(),
            layout: Layout::Sqlx,
            original: Original::Sqlx {
                version,
                checksum: checksum.into(),
            },
            no_transaction: no_tx,
            up: Part {
                entry: up_entry,
                text: &up_text,
            },
            down: down.as_ref().map(|(entry, text)| Part { entry, text }),
            extra: None,
        });
        match built {
            Ok(m) => migrations.push(m),
            Err(e) => errors.push(e),
        }
    }
    migrations
}

fn duplicate(rel: &str, version: i64, other: &str) -> FormatError {
    FormatError {
        file: rel.to_string(),
        line: 1,
        kind: FormatErrorKind::BadVersion(format!(
            "version {version} is also used by {other}; every migration needs its own version"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_as_sqlx_reads_them() {
        assert_eq!(
            parse_name("20220505083406_create-events.sql").unwrap(),
            (20220505083406, "create-events", Kind::Simple)
        );
        assert_eq!(
            parse_name("0001_Add Users.up.sql").unwrap(),
            (1, "Add Users", Kind::Up)
        );
        assert_eq!(parse_name("3_x.down.sql").unwrap().2, Kind::Down);
        assert!(parse_name("abc_x.sql")
            .unwrap_err()
            .contains("not an integer"));
        assert!(parse_name("-1_x.sql").unwrap_err().contains("negative"));
        assert!(parse_name("1x.sql").is_err());
        assert!(no_transaction(
            "-- no-transaction\nCREATE INDEX CONCURRENTLY i ON t (x);"
        ));
        assert!(!no_transaction("\n-- no-transaction\n"));
    }
}
