//! Converting another tool's migrations (diesel, sqlx, refinery) to migrator's own file format, once:
//! `migrator-tool import`. Each file records where it came from in an `-- Imported-from:` header and keeps
//! the original SQL verbatim in its UP and DOWN sections, and its version keeps the original's ordering key,
//! so a later adoption of the original tool's history table can match it.

use std::path::{Path, PathBuf};

use crate::file::parse_native;
use crate::read::decode;
use crate::{
    diesel_key, diesel_version, normalise, FormatError, FormatErrorKind, Layout, LoadedDir,
    Migration, Original,
};

/// The header keys of an imported file that carry the original tool's checksums.
const CHECKSUM_KEY: &str = "original-checksum";
const CHECKSUM_INT8_KEY: &str = "original-checksum-int8";

/// The `Original-checksum` header lines of an imported file, as the parser meets them.
#[derive(Debug, Default)]
pub(crate) struct ImportMeta {
    checksum: Option<String>,
    checksum_int8: Option<String>,
}

impl ImportMeta {
    /// Takes a header comment if it is an `Imported-from` or `Original-checksum` line; `false` otherwise.
    pub(crate) fn take(&mut self, comment: &str, _line: u32) -> bool {
        let Some((key, value)) = comment.split_once(':') else {
            return false;
        };
        let key = key.trim().to_ascii_lowercase();
        let value = value.trim().to_string();
        match key.as_str() {
            "imported-from" => true,
            CHECKSUM_KEY => {
                self.checksum = Some(value);
                true
            }
            CHECKSUM_INT8_KEY => {
                self.checksum_int8 = Some(value);
                true
            }
            _ => false,
        }
    }

    /// The original identity an `Imported-from: <tool> <name>` value describes, checked against the file
    /// name's `version`.
    pub(crate) fn original(&self, value: &str, version: u64) -> Result<Original, FormatErrorKind> {
        let bad = |why: String| FormatErrorKind::Imported(format!("Imported-from: {value}: {why}"));
        let (tool, name) = value
            .split_once(char::is_whitespace)
            .map(|(t, n)| (t, n.trim()))
            .ok_or_else(|| bad("write `<tool> <original file or directory name>`".into()))?;
        let layout = Layout::from_name(tool)
            .filter(|l| *l != Layout::Native)
            .ok_or_else(|| {
                bad(format!(
                    "unknown tool {tool:?}; known: diesel, sqlx, refinery"
                ))
            })?;
        let (original, key) = match layout {
            Layout::Diesel => {
                let text = diesel_version(name);
                let key = diesel_key(&text).map_err(bad)?;
                (
                    Original::Diesel {
                        version: text.into(),
                    },
                    key,
                )
            }
            Layout::Sqlx => {
                let number = crate::layout::sqlx::parse_name(name).map_err(bad)?.0;
                let checksum = self.checksum.clone().ok_or_else(|| {
                    bad(
                        "an import from sqlx needs its `-- Original-checksum: <SHA-384 hex>` line"
                            .into(),
                    )
                })?;
                if checksum.len() != 96 || !checksum.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(bad(format!(
                        "Original-checksum {checksum:?} is not 96 hex digits (SHA-384)"
                    )));
                }
                let key = u64::try_from(number).map_err(|_| bad("negative version".into()))?;
                (
                    Original::Sqlx {
                        version: number,
                        checksum: checksum.to_ascii_lowercase().into(),
                    },
                    key,
                )
            }
            _ => {
                let stem = name.strip_suffix(".sql").unwrap_or(name);
                let parsed = crate::layout::refinery::parse_stem(stem).map_err(bad)?;
                let number = |key: &str, value: &Option<String>| -> Result<u64, FormatErrorKind> {
                    value
                        .as_deref()
                        .ok_or_else(|| {
                            bad(format!(
                                "an import from refinery needs its `-- {key}: <number>` line"
                            ))
                        })?
                        .parse()
                        .map_err(|_| bad(format!("{key} is not a number")))
                };
                let key =
                    u64::try_from(parsed.version).map_err(|_| bad("negative version".into()))?;
                (
                    Original::Refinery {
                        version: parsed.version,
                        name: parsed.name.into(),
                        checksum: number("Original-checksum", &self.checksum)?,
                        checksum_int8: number("Original-checksum-int8", &self.checksum_int8)?,
                        unversioned: parsed.unversioned,
                    },
                    key,
                )
            }
        };
        if key != version {
            return Err(bad(format!(
                "the file name's version {version} is not this migration's key {key}; keep the version import gave the file"
            )));
        }
        Ok(original)
    }
}

/// One file `import` writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedFile {
    /// The path relative to the output directory (`postgres/...` for an engine variant).
    pub rel_path: String,
    /// The file's text.
    pub text: String,
    /// The original file or directory, relative to the source directory.
    pub from: String,
}

/// The native files for every migration of `loaded` (read from `src`), each checked by parsing it back:
/// same version, same original identity, same statements. An original whose SQL holds a line the native
/// format reads as a section marker or a `migrator:` directive cannot be imported verbatim and is refused.
pub fn import(src: &Path, loaded: &LoadedDir) -> Result<Vec<ImportedFile>, Vec<FormatError>> {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    let mut groups: Vec<(&str, Vec<&Migration>)> = vec![("", own(loaded, None))];
    for set in &loaded.engines {
        groups.push((set.engine.dir_name(), own(loaded, Some(set.engine))));
    }
    for (prefix, migrations) in groups {
        let width = migrations
            .iter()
            .map(|m| m.version.to_string().len())
            .max()
            .unwrap_or(1)
            .max(if loaded.layout == Layout::Diesel {
                crate::DIESEL_KEY_DIGITS
            } else {
                1
            });
        for m in migrations {
            match import_one(src, loaded.layout, prefix, width, m) {
                Ok(file) => files.push(file),
                Err(e) => errors.push(e),
            }
        }
    }
    if errors.is_empty() {
        Ok(files)
    } else {
        Err(errors)
    }
}

/// The migrations of the shared directory (`None`) or of an engine's sub-directory.
fn own(loaded: &LoadedDir, engine: Option<crate::Engine>) -> Vec<&Migration> {
    match engine {
        None => loaded.migrations.iter().collect(),
        Some(e) => {
            let prefix = format!("{}/", e.dir_name());
            loaded
                .for_engine(e)
                .iter()
                .filter(|m| m.file_name.starts_with(&prefix))
                .collect()
        }
    }
}

/// The original files of a migration: its UP file and its DOWN file, if any, relative to the source.
fn sources(layout: Layout, m: &Migration) -> (String, Option<String>) {
    let name = m.file_name.as_ref();
    match layout {
        Layout::Diesel => (
            format!("{name}/up.sql"),
            m.down.is_some().then(|| format!("{name}/down.sql")),
        ),
        Layout::Sqlx => (
            name.to_string(),
            m.down
                .is_some()
                .then(|| format!("{}.down.sql", name.strip_suffix(".up.sql").unwrap_or(name))),
        ),
        _ => (name.to_string(), None),
    }
}

fn read(src: &Path, rel: &str) -> Result<String, FormatError> {
    let path: PathBuf = src.join(rel);
    let bytes = std::fs::read(&path).map_err(|e| FormatError {
        file: rel.to_string(),
        line: 1,
        kind: FormatErrorKind::Read(e.to_string()),
    })?;
    Ok(normalise(&decode(rel, bytes)?).into_owned())
}

/// The name part of a native file name for an original name: lower-case ASCII letters, digits and
/// single underscores.
pub fn native_name(original: &str) -> String {
    let mut out = String::new();
    for c in original.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    let out = out.trim_matches('_');
    if out.is_empty() {
        "migration".to_string()
    } else {
        out.to_string()
    }
}

fn import_one(
    src: &Path,
    layout: Layout,
    prefix: &str,
    width: usize,
    m: &Migration,
) -> Result<ImportedFile, FormatError> {
    let (up_rel, down_rel) = sources(layout, m);
    let up = read(src, &up_rel)?;
    let down = down_rel.as_deref().map(|rel| read(src, rel)).transpose()?;
    let bare_from = |rel: &str| rel.rsplit('/').next().unwrap_or(rel).to_string();
    let from_name = match layout {
        Layout::Diesel => bare_from(&m.file_name),
        _ => bare_from(&up_rel),
    };
    let mut text = format!("-- Imported-from: {} {from_name}\n", layout.name());
    match &m.original {
        Some(Original::Sqlx { checksum, .. }) => {
            text.push_str(&format!("-- Original-checksum: {checksum}\n"));
        }
        Some(Original::Refinery {
            checksum,
            checksum_int8,
            ..
        }) => {
            text.push_str(&format!("-- Original-checksum: {checksum}\n"));
            text.push_str(&format!("-- Original-checksum-int8: {checksum_int8}\n"));
        }
        _ => {}
    }
    if m.no_transaction {
        text.push_str("-- migrator:no-transaction\n");
    }
    text.push_str("\n-- ============ UP MIGRATION ============\n");
    push_section(&mut text, &up);
    if let Some(down) = &down {
        text.push_str("-- ============ DOWN MIGRATION ============\n");
        push_section(&mut text, down);
    }
    let bare = format!("{:0width$}_{}.sql", m.version, native_name(&m.name));
    let rel_path = if prefix.is_empty() {
        bare.clone()
    } else {
        format!("{prefix}/{bare}")
    };
    let from = if layout == Layout::Diesel {
        format!("{}/", m.file_name)
    } else {
        up_rel.clone()
    };
    let refuse = |why: String| FormatError {
        file: from.clone(),
        line: 1,
        kind: FormatErrorKind::Imported(format!("cannot be imported verbatim: {why}")),
    };
    let back = parse_native(&rel_path, &bare, &text).map_err(|e| refuse(e.to_string()))?;
    let same = |a: &[crate::Statement], b: &[crate::Statement]| {
        a.len() == b.len()
            && a.iter()
                .zip(b)
                .all(|(x, y)| x.sql.replace('\r', "") == y.sql)
    };
    let down_same = match (&m.down, &back.down) {
        (None, None) => true,
        (Some(a), Some(b)) => same(a, b),
        _ => false,
    };
    if back.version != m.version
        || back.original != m.original
        || back.no_transaction != m.no_transaction
        || !same(&m.up, &back.up)
        || !down_same
    {
        return Err(refuse(
            "a line of its SQL reads as a section marker or a `-- migrator:` directive of the native format; convert it by hand".to_string(),
        ));
    }
    Ok(ImportedFile {
        rel_path,
        text,
        from,
    })
}

/// Appends a section body, newline-terminated.
fn push_section(text: &mut String, body: &str) {
    text.push_str(body);
    if !body.is_empty() && !body.ends_with('\n') {
        text.push('\n');
    }
}
