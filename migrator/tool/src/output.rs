//! Generated Markdown on disk (the schema docs, the changelog): links from the output to the migration
//! files and to the issues, and writing the files or checking (`--check`) that the committed ones are
//! current.

use std::path::{Component, Path, PathBuf};

use crate::write::PlannedFile;

/// How generated pages link to the migrations and the issues.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Links {
    /// The migrations directory as seen from the page's directory (`../../migrations`), with `/`.
    pub migrations: Option<String>,
    /// The issues' web address, the number appended: `https://github.com/acme/crm/issues/`.
    pub issues: Option<String>,
}

impl Links {
    /// Links from pages in `page_dir` to the migrations in `migrations_dir`, and to the issues of `repo`
    /// (`owner/name`) on `server` (`https://github.com`, or GitHub Enterprise's address).
    pub fn new(page_dir: &Path, migrations_dir: &Path, repo: Option<&str>, server: &str) -> Links {
        Links {
            migrations: relative(page_dir, migrations_dir),
            issues: repo.map(|r| format!("{}/{r}/issues/", server.trim_end_matches('/'))),
        }
    }

    /// `[file](../migrations/file)`, or the file name in backticks without a link.
    pub fn migration(&self, file: &str) -> String {
        match &self.migrations {
            Some(dir) if dir.is_empty() => format!("[`{file}`]({file})"),
            Some(dir) => format!("[`{file}`]({dir}/{file})"),
            None => format!("`{file}`"),
        }
    }

    /// `[#234](https://github.com/o/r/issues/234)`, or `#234`.
    pub fn issue(&self, issue: u32) -> String {
        match &self.issues {
            Some(base) => format!("[#{issue}]({base}{issue})"),
            None => format!("#{issue}"),
        }
    }
}

/// The GitHub web address: `GITHUB_SERVER_URL` (set by GitHub Actions, also on Enterprise), else
/// `https://github.com`.
pub fn server_url() -> String {
    std::env::var("GITHUB_SERVER_URL")
        .ok()
        .filter(|s| s.starts_with("https://") || s.starts_with("http://"))
        .unwrap_or_else(|| "https://github.com".to_string())
}

/// An absolute, lexically normalised path (`.` and `..` resolved without touching the disk).
fn absolute(path: &Path) -> Option<PathBuf> {
    let joined = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().ok()?.join(path)
    };
    let mut out = PathBuf::new();
    for c in joined.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    Some(out)
}

/// `to` as seen from the directory `from`, with `/` separators (`""` for the same directory); `None` when
/// the paths cannot be made absolute or lie on different roots.
pub fn relative(from: &Path, to: &Path) -> Option<String> {
    let from = absolute(from)?;
    let to = absolute(to)?;
    let f: Vec<Component> = from.components().collect();
    let t: Vec<Component> = to.components().collect();
    if f.first() != t.first() {
        return None;
    }
    let common = f.iter().zip(&t).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<String> = vec!["..".to_string(); f.len() - common];
    parts.extend(
        t[common..]
            .iter()
            .map(|c| c.as_os_str().to_string_lossy().into_owned()),
    );
    Some(parts.join("/"))
}

/// Problems writing or checking generated files.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OutputError {
    /// The files are not what the generator writes now (`--check`).
    #[error("{} generated file(s) are stale; run the command without --check and commit the result:\n{}", .0.len(), .0.iter().map(|s| format!("  {s}")).collect::<Vec<_>>().join("\n"))]
    Stale(Vec<Stale>),
    /// Reading or writing failed; nothing was written.
    #[error("{path}: {message}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The operating system's message.
        message: String,
    },
}

/// One stale file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stale {
    /// The path.
    pub path: PathBuf,
    /// `missing`, `differs` or `not generated any more`.
    pub why: &'static str,
}

impl std::fmt::Display for Stale {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.why)
    }
}

/// The files of `owned` (a directory the generator owns, e.g. `docs/schema`) with the extension `md` that
/// are not among `files`: pages of tables that are gone.
fn leftovers(files: &[PlannedFile], owned: Option<&Path>) -> Vec<PathBuf> {
    let Some(dir) = owned else {
        return Vec::new();
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .filter(|p| !files.iter().any(|f| &f.path == p))
        .collect();
    out.sort();
    out
}

/// The files that differ from `files` on disk, and the generated-looking leftovers in `owned`.
pub fn stale(files: &[PlannedFile], owned: Option<&Path>) -> Vec<Stale> {
    let mut out = Vec::new();
    for f in files {
        match std::fs::read_to_string(&f.path) {
            Ok(text) if migrator_format::normalise(&text) == f.contents.as_str() => {}
            Ok(_) => out.push(Stale {
                path: f.path.clone(),
                why: "differs",
            }),
            Err(_) => out.push(Stale {
                path: f.path.clone(),
                why: "missing",
            }),
        }
    }
    out.extend(leftovers(files, owned).into_iter().map(|path| Stale {
        path,
        why: "not generated any more",
    }));
    out
}

/// Writes every file or none: each goes to a temporary file beside its target first, and only when all
/// are written are they renamed into place. (The generator's `write::write_all` refuses names outside
/// `[a-z0-9_.]`, which suits names taken from issues; these paths come from the command line and from
/// [`page_name`].)
fn write_files(files: &[PlannedFile]) -> Result<(), OutputError> {
    let io = |path: &Path, e: std::io::Error| OutputError::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let temp_of = |f: &PlannedFile| {
        let name = f.path.file_name().unwrap_or_default().to_string_lossy();
        let dir = f.path.parent().unwrap_or(Path::new("."));
        dir.join(format!(".{name}.{}.tmp", std::process::id()))
    };
    let mut staged = 0;
    let mut result = Ok(());
    for f in files {
        let dir = f.path.parent().unwrap_or(Path::new("."));
        let written = std::fs::create_dir_all(if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        })
        .and_then(|()| std::fs::write(temp_of(f), &f.contents));
        if let Err(e) = written {
            let _ = std::fs::remove_file(temp_of(f));
            result = Err(io(&f.path, e));
            break;
        }
        staged += 1;
    }
    let mut renamed = 0;
    if result.is_ok() {
        for f in files {
            if let Err(e) = std::fs::rename(temp_of(f), &f.path) {
                result = Err(io(&f.path, e));
                break;
            }
            renamed += 1;
            tracing::info!(path = %f.path.display(), "wrote");
        }
    }
    for f in &files[renamed..staged.max(renamed)] {
        let _ = std::fs::remove_file(temp_of(f));
    }
    result
}

/// A file name for a page about `name` (a table, a schema): lower-case letters, digits and `_` kept,
/// anything else (quotes, dots, slashes, spaces, capitals) turned into `-` plus a short hash of the exact
/// name, so two names never share a page and no name can leave the directory.
pub fn page_name(name: &str) -> String {
    let plain = !name.is_empty()
        && name.len() <= 100
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if plain {
        return format!("{name}.md");
    }
    let slug: String = name
        .chars()
        .take(60)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let hash = migrator_format::checksum_hex(name);
    format!("{}-{}.md", slug.trim_matches('-'), &hash[..8])
}

/// With `check`, fails with [`OutputError::Stale`] unless every file is current; otherwise writes the files
/// that changed (all or none) and removes the leftovers of `owned`. Returns the paths written or removed.
pub fn write_or_check(
    files: &[PlannedFile],
    owned: Option<&Path>,
    check: bool,
) -> Result<Vec<PathBuf>, OutputError> {
    let stale = stale(files, owned);
    if check {
        return if stale.is_empty() {
            Ok(Vec::new())
        } else {
            Err(OutputError::Stale(stale))
        };
    }
    let changed: Vec<PlannedFile> = files
        .iter()
        .filter(|f| stale.iter().any(|s| s.path == f.path))
        .cloned()
        .collect();
    write_files(&changed)?;
    let mut touched: Vec<PathBuf> = changed.into_iter().map(|f| f.path).collect();
    for path in leftovers(files, owned) {
        std::fs::remove_file(&path).map_err(|e| OutputError::Io {
            path: path.clone(),
            message: e.to_string(),
        })?;
        tracing::info!(path = %path.display(), "removed a page no longer generated");
        touched.push(path);
    }
    Ok(touched)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths() {
        let r = |a: &str, b: &str| relative(Path::new(a), Path::new(b)).unwrap();
        assert_eq!(r("/r/docs/schema", "/r/migrations"), "../../migrations");
        assert_eq!(r("/r/docs", "/r/docs"), "");
        assert_eq!(r("/r", "/r/migrations"), "migrations");
        assert_eq!(r("/r/docs/./x/..", "/r/m"), "../m");
    }

    #[test]
    fn links() {
        let l = Links::new(
            Path::new("/r/docs"),
            Path::new("/r/migrations"),
            Some("acme/crm"),
            "https://github.example.com/",
        );
        assert_eq!(l.migration("a.sql"), "[`a.sql`](../migrations/a.sql)");
        assert_eq!(
            l.issue(7),
            "[#7](https://github.example.com/acme/crm/issues/7)"
        );
        assert_eq!(Links::default().issue(7), "#7");
        assert_eq!(Links::default().migration("a.sql"), "`a.sql`");
    }

    #[test]
    fn page_names_stay_in_their_directory() {
        assert_eq!(page_name("contacts"), "contacts.md");
        let odd = page_name("../Odd Table");
        assert!(
            odd.starts_with("odd-table-") && odd.ends_with(".md"),
            "{odd}"
        );
        assert_ne!(page_name("Users"), page_name("USERS"));
        assert!(!page_name("a/b").contains('/'));
        assert!(page_name("").ends_with(".md"));
    }

    #[test]
    fn check_then_write() {
        let dir = tempfile::tempdir().unwrap();
        let owned = dir.path().join("schema");
        std::fs::create_dir(&owned).unwrap();
        std::fs::write(owned.join("gone.md"), "old").unwrap();
        let files = vec![PlannedFile {
            path: owned.join("a.md"),
            contents: "# a\n".into(),
        }];
        let e = write_or_check(&files, Some(&owned), true).unwrap_err();
        let OutputError::Stale(s) = e else {
            panic!("{e}")
        };
        assert_eq!(
            s.iter().map(|s| s.why).collect::<Vec<_>>(),
            ["missing", "not generated any more"]
        );
        let touched = write_or_check(&files, Some(&owned), false).unwrap();
        assert_eq!(touched.len(), 2);
        assert!(write_or_check(&files, Some(&owned), true)
            .unwrap()
            .is_empty());
        assert!(!owned.join("gone.md").exists());
    }
}
