//! Loading a directory of migration files and checking the set.

use std::path::{Path, PathBuf};

use crate::{parse_file, FormatError, FormatErrorKind, Migration, SetError};

/// The `.sql` files of a migration directory, sorted by name. Sub-directories (such as `health/`) and
/// files of other kinds (README.md, hidden files) are not migrations and are left out.
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
        if is_sql && !hidden && entry.file_type().map_err(dir_error)?.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// Reads and parses every migration file of `dir`, sorted by version. All malformed files are reported
/// together, and two files with one version are an error naming both.
pub fn load_dir(dir: &Path) -> Result<Vec<Migration>, SetError> {
    let mut migrations = Vec::new();
    let mut errors = Vec::new();
    for path in migration_files(dir)? {
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let parsed = std::fs::read(&path)
            .map_err(|e| e.to_string())
            .and_then(|bytes| String::from_utf8(bytes).map_err(|e| format!("not UTF-8: {e}")))
            .map_err(|message| FormatError {
                file: file_name.clone(),
                line: 1,
                kind: FormatErrorKind::Read(message),
            })
            .and_then(|text| parse_file(&file_name, &text));
        match parsed {
            Ok(m) => migrations.push(m),
            Err(e) => errors.push(e),
        }
    }
    migrations.sort_by_key(|m| m.version);
    for pair in migrations.windows(2) {
        if pair[0].version == pair[1].version {
            errors.push(FormatError {
                file: pair[1].file_name.to_string(),
                line: 1,
                kind: FormatErrorKind::BadFileName(format!(
                    "version {} is also used by {}; every migration needs its own timestamp",
                    pair[1].version, pair[0].file_name
                )),
            });
        }
    }
    if errors.is_empty() {
        Ok(migrations)
    } else {
        Err(SetError::Files(errors))
    }
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
