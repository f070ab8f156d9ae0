//! diesel's layout: a directory per migration, `<version>_<name>/` holding `up.sql`, optionally
//! `down.sql` and `metadata.toml`, as `diesel_migrations::FileBasedMigrations` reads it. The version is the
//! directory name up to its first `_` with dashes removed (diesel checks no date: `00000000000000` and a
//! second of 60 are fine); diesel orders by that version *string*, which [`diesel_key`] preserves.
//! `run_in_transaction = false` in `metadata.toml` runs the migration outside a transaction.

use super::{build, Foreign, Part};
use crate::read::{list, near_sql, not_a_migration, read_text, Listing};
use crate::{
    diesel_key, diesel_version, FormatError, FormatErrorKind, Layout, Migration, Original, SetError,
};

/// Reads `run_in_transaction` from a `metadata.toml` as diesel does: absent file, `true`; a file without
/// the key, `false` (diesel's `#[serde(default)]` of a `bool`). Only this top-level key is read: other
/// keys and tables are left alone. An error gives the line and the reason.
pub(crate) fn run_in_transaction(text: &str) -> Result<bool, (u32, String)> {
    let mut value = None;
    for (index, raw) in text.lines().enumerate() {
        let line_no = u32::try_from(index + 1).unwrap_or(u32::MAX);
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line.starts_with('[') {
            break;
        }
        let Some((key, rest)) = line.split_once('=') else {
            continue;
        };
        let key = key.trim().trim_matches('"');
        if key != "run_in_transaction" {
            continue;
        }
        let rest = rest.split('#').next().unwrap_or_default().trim();
        let parsed = match rest {
            "true" => true,
            "false" => false,
            other => {
                return Err((
                    line_no,
                    format!("run_in_transaction = {other}: write true or false"),
                ))
            }
        };
        if value.replace(parsed).is_some() {
            return Err((line_no, "run_in_transaction is set twice".to_string()));
        }
    }
    Ok(value.unwrap_or(false))
}

/// Loads the migrations of one diesel directory listing; refused entries go to `errors`.
pub(crate) fn load(
    listing: &Listing,
    errors: &mut Vec<FormatError>,
) -> Result<Vec<Migration>, SetError> {
    for file in &listing.files {
        let why = near_sql(&file.name).unwrap_or_else(|| {
            "diesel keeps each migration in a directory <version>_<name>/ with an up.sql"
                .to_string()
        });
        errors.push(not_a_migration(&file.rel, &why));
    }
    let mut migrations = Vec::new();
    for dir in &listing.dirs {
        let shown = format!("{}/", dir.rel);
        let version = diesel_version(&dir.name);
        let key = match diesel_key(&version) {
            Ok(key) => key,
            Err(why) => {
                errors.push(FormatError {
                    file: shown,
                    line: 1,
                    kind: FormatErrorKind::BadVersion(why),
                });
                continue;
            }
        };
        let sub = list(&dir.path, &shown, errors)?;
        for inner in &sub.dirs {
            errors.push(not_a_migration(
                &format!("{}/", inner.rel),
                "a directory inside a diesel migration",
            ));
        }
        for file in &sub.files {
            if !matches!(file.name.as_str(), "up.sql" | "down.sql" | "metadata.toml") {
                let why = near_sql(&file.name).unwrap_or_else(|| {
                    "a diesel migration holds up.sql, down.sql and metadata.toml".to_string()
                });
                errors.push(not_a_migration(&file.rel, &why));
            }
        }
        let Some(up_entry) = sub.file("up.sql") else {
            errors.push(not_a_migration(
                &shown,
                "a diesel migration directory without up.sql",
            ));
            continue;
        };
        let read = |name: &str| {
            sub.file(name)
                .map(|e| read_text(e).map(|t| (e, t)))
                .transpose()
        };
        let (up, down, metadata) = match (read("up.sql"), read("down.sql"), read("metadata.toml")) {
            (Ok(Some(up)), Ok(down), Ok(metadata)) => (up, down, metadata),
            (up, down, metadata) => {
                errors.extend([up.err(), down.err(), metadata.err()].into_iter().flatten());
                continue;
            }
        };
        if up.1.is_empty() {
            errors.push(not_a_migration(
                &up_entry.rel,
                "an empty up.sql (diesel refuses to run it); write the migration's SQL, or a comment for an intended no-op",
            ));
            continue;
        }
        let in_transaction = match &metadata {
            None => true,
            Some((entry, text)) => match run_in_transaction(text) {
                Ok(v) => v,
                Err((line, why)) => {
                    errors.push(FormatError {
                        file: entry.rel.clone(),
                        line,
                        kind: FormatErrorKind::Metadata(why),
                    });
                    continue;
                }
            },
        };
        let name = dir
            .name
            .split_once('_')
            .map_or(dir.name.as_str(), |(_, n)| n);
        let built = build(Foreign {
            file_name: dir.rel.clone(),
            version: key,
            name: name.to_string(),
            layout: Layout::Diesel,
            original: Original::Diesel {
                version: version.into(),
            },
            no_transaction: !in_transaction,
            up: Part {
                entry: up.0,
                text: &up.1,
            },
            down: down.as_ref().map(|(entry, text)| Part { entry, text }),
            extra: metadata.as_ref().map(|(entry, text)| Part { entry, text }),
        });
        match built {
            Ok(m) => migrations.push(m),
            Err(e) => errors.push(e),
        }
    }
    Ok(migrations)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_reads_as_diesel_reads_it() {
        assert_eq!(
            run_in_transaction("run_in_transaction = false\n"),
            Ok(false)
        );
        assert_eq!(
            run_in_transaction("run_in_transaction = true # yes\n"),
            Ok(true)
        );
        assert_eq!(run_in_transaction("# nothing\n"), Ok(false));
        assert_eq!(run_in_transaction(""), Ok(false));
        assert_eq!(
            run_in_transaction("other = 1\n[table]\nrun_in_transaction = true\n"),
            Ok(false)
        );
        let e = run_in_transaction("\nrun_in_transaction = \"no\"\n").unwrap_err();
        assert_eq!(e.0, 2);
        assert!(
            run_in_transaction("run_in_transaction = true\nrun_in_transaction = false").is_err()
        );
    }
}
