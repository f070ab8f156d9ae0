//! The directory layouts of other tools (diesel, sqlx, refinery), one module each, and the detection of
//! which layout a directory uses. Their SQL is kept verbatim; what migrator needs beyond it (an ordering
//! key, a checksum, the original tool's identity) is computed here.

pub(crate) mod diesel;
pub(crate) mod refinery;
pub(crate) mod sqlx;

use std::borrow::Cow;
use std::collections::BTreeSet;

use sha2::{Digest, Sha256};

use crate::file::{section_marker, verbatim_statements};
use crate::read::{near_sql, not_a_migration, read_text, Entry, Listing};
use crate::{
    checksum_hex, normalise, FormatError, FormatErrorKind, Header, Layout, Migration, Original,
};

/// One file of a foreign migration: its path relative to the migrations directory, the name its checksum
/// part is labelled with, and its text.
pub(crate) struct Part<'a> {
    pub entry: &'a Entry,
    pub text: &'a str,
}

/// A migration read from another tool's files, before its statements are split.
pub(crate) struct Foreign<'a> {
    pub file_name: String,
    pub version: u64,
    pub name: String,
    pub layout: Layout,
    pub original: Original,
    pub no_transaction: bool,
    pub up: Part<'a>,
    pub down: Option<Part<'a>>,
    /// Further files whose content counts in the checksum (diesel's `metadata.toml`).
    pub extra: Option<Part<'a>>,
}

/// Splits the foreign files' SQL verbatim and computes the checksum.
pub(crate) fn build(f: Foreign<'_>) -> Result<Migration, FormatError> {
    let mut tables = BTreeSet::new();
    let mut split = |part: &Part<'_>| {
        let text = part.text.strip_prefix('\u{feff}').unwrap_or(part.text);
        verbatim_statements(text, 1, &mut tables).map_err(|(line, kind)| FormatError {
            file: part.entry.rel.clone(),
            line,
            kind,
        })
    };
    let up = split(&f.up)?;
    let down = f.down.as_ref().map(&mut split).transpose()?;
    let checksum = if f.down.is_none() && f.extra.is_none() {
        checksum_hex(&normalise(f.up.text))
    } else {
        let mut digest = Sha256::new();
        for part in [Some(&f.up), f.down.as_ref(), f.extra.as_ref()]
            .into_iter()
            .flatten()
        {
            digest.update(part.entry.name.as_bytes());
            digest.update([0]);
            digest.update(normalise(part.text).as_bytes());
            digest.update([0]);
        }
        hex(&digest.finalize())
    };
    Ok(Migration {
        version: f.version,
        name: Cow::Owned(f.name),
        issue: None,
        title: None,
        file_name: Cow::Owned(f.file_name),
        checksum: Cow::Owned(checksum),
        no_transaction: f.no_transaction,
        header: Header::default(),
        backfill: None,
        up: Cow::Owned(up),
        down: down.map(Cow::Owned),
        tables: Cow::Owned(tables.into_iter().map(Cow::Owned).collect()),
        allows: Cow::Borrowed(&[]),
        layout: f.layout,
        original: Some(f.original),
    })
}

/// Parses a file's name with `parse` and reads its text; a near miss of `.sql` (`x.SQL`), a name `parse`
/// refuses or an unreadable file goes to `errors`.
pub(crate) fn named_text<'a, T>(
    file: &'a Entry,
    parse: impl FnOnce(&'a str) -> Result<T, String>,
    errors: &mut Vec<FormatError>,
) -> Option<(T, String)> {
    let parsed = match near_sql(&file.name) {
        Some(why) => Err(why),
        None => parse(&file.name),
    };
    let read = parsed
        .map_err(|why| not_a_migration(&file.rel, &why))
        .and_then(|p| read_text(file).map(|text| (p, text)));
    match read {
        Ok(found) => Some(found),
        Err(e) => {
            errors.push(e);
            None
        }
    }
}

/// Lower-case hex of bytes.
pub(crate) fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(b"0123456789abcdef"[usize::from(byte >> 4)]));
        out.push(char::from(b"0123456789abcdef"[usize::from(byte & 15)]));
    }
    out
}

/// What a directory entry suggests about the layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Clue {
    /// A `<version>_<name>/` directory holding `up.sql`.
    Diesel,
    /// A `V<n>__<name>.sql` (or `U`, or `.rs`) file, here or in a sub-directory.
    Refinery,
    /// A `<digits>_....sql` file with a native section marker, header line or `issue_<N>` name.
    Native,
    /// A `<digits>_....sql` file without them.
    Numbered,
}

/// The layout of a migrations directory (its own listing and its engine sub-directories' listings): the
/// one layout their entries point to. An empty directory is native; entries pointing to two layouts are
/// an error naming one entry of each.
pub(crate) fn detect(listings: &[&Listing]) -> Result<Layout, FormatError> {
    let mut clues: Vec<(Clue, &str)> = Vec::new();
    for listing in listings {
        for dir in &listing.dirs {
            if dir.path.join("up.sql").is_file() {
                clues.push((Clue::Diesel, &dir.rel));
            } else if refinery::holds_migrations(&dir.path, 0) {
                clues.push((Clue::Refinery, &dir.rel));
            }
        }
        for file in &listing.files {
            if refinery::looks_like(&file.name) {
                clues.push((Clue::Refinery, &file.rel));
            } else if file.name.starts_with(|c: char| c.is_ascii_digit())
                && file.name.contains('_')
                && file.name.ends_with(".sql")
            {
                let clue = if looks_native(file) {
                    Clue::Native
                } else {
                    Clue::Numbered
                };
                clues.push((clue, &file.rel));
            }
        }
    }
    let has = |c: Clue| clues.iter().find(|(k, _)| *k == c).map(|(_, rel)| *rel);
    let numbered = has(Clue::Native).or_else(|| has(Clue::Numbered));
    let found: Vec<(&str, &str)> = [
        has(Clue::Diesel).map(|r| ("a diesel migration", r)),
        has(Clue::Refinery).map(|r| ("a refinery migration", r)),
        numbered.map(|r| ("a native or sqlx migration", r)),
    ]
    .into_iter()
    .flatten()
    .collect();
    if found.len() > 1 {
        let list: Vec<String> = found
            .iter()
            .map(|(what, rel)| format!("{rel} is {what}"))
            .collect();
        return Err(FormatError {
            file: found[1].1.to_string(),
            line: 1,
            kind: FormatErrorKind::Layout(format!(
                "the directory mixes layouts ({}); a migrations directory holds one layout",
                list.join(", ")
            )),
        });
    }
    Ok(if has(Clue::Diesel).is_some() {
        Layout::Diesel
    } else if has(Clue::Refinery).is_some() {
        Layout::Refinery
    } else if has(Clue::Numbered).is_some() && has(Clue::Native).is_none() {
        Layout::Sqlx
    } else {
        Layout::Native
    })
}

/// `true` when a `<digits>_....sql` file is in migrator's own format: its name carries `_issue_<N>_`, or one
/// of its lines is a section marker (`-- ==== UP MIGRATION ====`) or a line of the native header
/// (`-- Issue #N`, `-- Generated:`, `-- Author:`, `-- Reviewed-by:`, `-- migrator:` ...). A native file
/// that lost its marker is still native (and refused for it); plain SQL under a timestamp name is sqlx's.
fn looks_native(file: &Entry) -> bool {
    let issue_name = file
        .name
        .split_once('_')
        .and_then(|(_, rest)| rest.strip_prefix("issue_"))
        .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()));
    issue_name
        || std::fs::read(&file.path).is_ok_and(|bytes| {
            String::from_utf8_lossy(&bytes)
                .lines()
                .any(|line| section_marker(line).is_some() || native_header_line(line))
        })
}

/// `true` for a comment line only migrator's own files carry.
fn native_header_line(line: &str) -> bool {
    const KEYS: [&str; 7] = [
        "issue #",
        "generated:",
        "author:",
        "estimated duration:",
        "downtime required:",
        "reviewed-by:",
        "imported-from:",
    ];
    let Some(comment) = line.trim().strip_prefix("--") else {
        return false;
    };
    let comment = comment.trim_start().to_ascii_lowercase();
    comment.starts_with("migrator:") || KEYS.iter().any(|k| comment.starts_with(k))
}
