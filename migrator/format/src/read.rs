//! Reading a migrations directory exactly: every entry is a migration candidate, a known non-migration
//! file (ignored, the list is [`IGNORED`]), or refused with its name; every file is decoded strictly (a NUL
//! byte or invalid UTF-8 is an error naming the line).

use std::path::{Path, PathBuf};

use crate::{FormatError, FormatErrorKind, SetError, POLICY_FILE};

/// What a migrations directory may hold besides migrations, ignored by every layout (documented in the
/// README): hidden entries (`.gitkeep`, `.DS_Store`), `README*` and `*.md` files, `diesel.toml`, the
/// safety policy file, and a `health/` directory of health checks.
pub const IGNORED: &str = "hidden entries (.gitkeep), README*, *.md, diesel.toml, migration_safety.yaml, the health/ directory";

/// One entry of a directory listing.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    /// The path (through a symbolic link when the entry is one).
    pub path: PathBuf,
    /// The entry's own name.
    pub name: String,
    /// The path relative to the migrations directory, with `/`, for messages and `Migration::file_name`.
    pub rel: String,
}

/// The entries of one directory that are neither hidden nor ignored, sorted by name.
#[derive(Debug, Default)]
pub(crate) struct Listing {
    /// Regular files (or symbolic links to regular files).
    pub files: Vec<Entry>,
    /// Directories (or symbolic links to directories).
    pub dirs: Vec<Entry>,
}

impl Listing {
    /// The file called `name`.
    pub fn file(&self, name: &str) -> Option<&Entry> {
        self.files.iter().find(|e| e.name == name)
    }
}

/// `true` for a file name every layout ignores.
fn ignored_file(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.starts_with("readme")
        || lower.ends_with(".md")
        || name == "diesel.toml"
        || name == POLICY_FILE
}

/// Lists `dir`; `rel` is its path relative to the migrations directory (empty for the directory itself).
/// Entries that cannot be used (a name that is not UTF-8, a dangling symbolic link, a device) are pushed
/// to `refused`; hidden and ignored entries are left out.
pub(crate) fn list(
    dir: &Path,
    rel: &str,
    refused: &mut Vec<FormatError>,
) -> Result<Listing, SetError> {
    let dir_error = |e: std::io::Error| SetError::Dir {
        dir: dir.to_path_buf(),
        message: e.to_string(),
    };
    let mut listing = Listing::default();
    for entry in std::fs::read_dir(dir).map_err(dir_error)? {
        let entry = entry.map_err(dir_error)?;
        let path = entry.path();
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            refused.push(not_a_migration(
                &format!("{rel}{}", entry.file_name().to_string_lossy()),
                "its name is not UTF-8",
            ));
            continue;
        };
        let shown = format!("{rel}{name}");
        if name.starts_with('.') {
            continue;
        }
        // Symbolic links are followed: the entry is what its target is.
        let metadata = match std::fs::metadata(&path) {
            Ok(m) => m,
            Err(e) => {
                refused.push(not_a_migration(
                    &shown,
                    &format!("a symbolic link whose target cannot be read ({e})"),
                ));
                continue;
            }
        };
        let item = Entry {
            path,
            name,
            rel: shown,
        };
        if metadata.is_dir() {
            if item.name != "health" {
                listing.dirs.push(item);
            }
        } else if metadata.is_file() {
            if !ignored_file(&item.name) {
                listing.files.push(item);
            }
        } else {
            refused.push(not_a_migration(
                &item.rel,
                "not a regular file or directory",
            ));
        }
    }
    listing.files.sort_by(|a, b| a.name.cmp(&b.name));
    listing.dirs.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(listing)
}

/// The refusal of an entry.
pub(crate) fn not_a_migration(shown: &str, why: &str) -> FormatError {
    FormatError {
        file: shown.to_string(),
        line: 1,
        kind: FormatErrorKind::NotAMigration(why.to_string()),
    }
}

/// The reason a file name with a `.sql`-like ending is not a `.sql` file, if it is one of those near
/// misses (`x.SQL`, `x.sql `, `x.sql.bak`).
pub(crate) fn near_sql(name: &str) -> Option<String> {
    let trimmed = name.trim_end();
    if trimmed != name && trimmed.ends_with(".sql") {
        return Some("its name ends in white space after .sql; rename it".to_string());
    }
    if trimmed.to_ascii_lowercase().ends_with(".sql") && !trimmed.ends_with(".sql") {
        return Some(
            "its extension is not lower-case .sql (names are case-sensitive); rename it"
                .to_string(),
        );
    }
    None
}

/// Reads a file and decodes it strictly.
pub(crate) fn read_text(entry: &Entry) -> Result<String, FormatError> {
    let bytes = std::fs::read(&entry.path).map_err(|e| FormatError {
        file: entry.rel.clone(),
        line: 1,
        kind: FormatErrorKind::Read(e.to_string()),
    })?;
    decode(&entry.rel, bytes)
}

/// Decodes file bytes as UTF-8 text without NUL bytes; an error names the line and column of the first
/// offending byte.
pub fn decode(shown: &str, bytes: Vec<u8>) -> Result<String, FormatError> {
    let text = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => {
            let bytes = e.as_bytes();
            let at = e.utf8_error().valid_up_to();
            let (line, column) = position(bytes, at);
            let hint = if bytes.starts_with(&[0xff, 0xfe]) || bytes.starts_with(&[0xfe, 0xff]) {
                " (the file starts with a UTF-16 byte order mark)"
            } else {
                ""
            };
            return Err(FormatError {
                file: shown.to_string(),
                line,
                kind: FormatErrorKind::InvalidUtf8 { column, hint },
            });
        }
    };
    check_nul(shown, &text)?;
    Ok(text)
}

/// An error for the first NUL byte of `text`, if any.
pub(crate) fn check_nul(shown: &str, text: &str) -> Result<(), FormatError> {
    match text.bytes().position(|b| b == 0) {
        None => Ok(()),
        Some(at) => {
            let (line, column) = position(text.as_bytes(), at);
            Err(FormatError {
                file: shown.to_string(),
                line,
                kind: FormatErrorKind::NulByte { column },
            })
        }
    }
}

/// 1-based line and byte column of byte offset `at`.
fn position(bytes: &[u8], at: usize) -> (u32, usize) {
    let before = &bytes[..at.min(bytes.len())];
    let newlines = before.iter().filter(|&&b| b == b'\n').count();
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    (
        u32::try_from(newlines + 1).unwrap_or(u32::MAX),
        at - line_start + 1,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_utf8_and_nul_name_the_line_and_column() {
        let mut bytes = b"-- a\n-- b\nSELECT 1;\n-- d\n-- e\n-- f\n-- g\n-- h\nSELECT '".to_vec();
        bytes.extend([0xc3, 0x28]);
        bytes.extend(b"';\n");
        let e = decode("x.sql", bytes).unwrap_err();
        assert_eq!(e.line, 9);
        assert_eq!(
            e.to_string(),
            "x.sql:9: invalid UTF-8 at column 9: migration files are UTF-8 text; re-save the file as UTF-8"
        );
        let e = decode("x.sql", b"SELECT 1;\nSELECT 'a\0b';\n".to_vec()).unwrap_err();
        assert_eq!(
            (e.line, e.kind),
            (2, FormatErrorKind::NulByte { column: 10 })
        );
        let e = decode("x.sql", vec![0xff, 0xfe, b'S', 0]).unwrap_err();
        assert!(e.to_string().contains("UTF-16"), "{e}");
        assert_eq!(decode("x.sql", b"ok\n".to_vec()).unwrap(), "ok\n");
    }

    #[test]
    fn near_misses_of_sql_are_named() {
        assert!(near_sql("a.SQL").unwrap().contains("lower-case"));
        assert!(near_sql("a.sql ").unwrap().contains("white space"));
        assert!(near_sql("a.Sql\t").is_some());
        assert_eq!(near_sql("a.sql"), None);
        assert_eq!(near_sql("a.txt"), None);
    }
}
