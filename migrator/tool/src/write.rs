//! Writing the generated files atomically, and finding an earlier migration of the same issue.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::GenError;

/// A file to write: its final path and its contents.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedFile {
    /// Final path.
    pub path: PathBuf,
    /// Contents.
    pub contents: String,
}

/// `true` for a file name made only of `[a-z0-9_.]`, not starting with a dot: it cannot name another
/// directory, whatever the directory it is joined to.
pub fn safe_file_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && !name.contains("..")
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'.')
}

/// The files of an earlier generation of this issue and name in `dir` (any version):
/// `<version>_issue_<issue>_<name>.sql` and its parts (`_data`, `_online`, `_partN`), sorted by name.
pub fn find_existing(dir: &Path, issue: u32, name: &str) -> Vec<(PathBuf, u64)> {
    let stem = format!("issue_{issue}_{name}");
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<(PathBuf, u64)> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let file = e.file_name().to_string_lossy().into_owned();
            let base = file.strip_suffix(".sql")?;
            let (stamp, rest) = base.split_at_checked(14)?;
            let rest = rest.strip_prefix('_')?;
            let ours = rest == stem
                || rest
                    .strip_prefix(&stem)
                    .and_then(|r| r.strip_prefix('_'))
                    .is_some_and(|part| {
                        part == "data"
                            || part == "online"
                            || part.strip_prefix("part").is_some_and(|n| {
                                !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())
                            })
                    });
            (ours && stamp.bytes().all(|b| b.is_ascii_digit()))
                .then(|| Some((e.path(), stamp.parse().ok()?)))?
        })
        .collect();
    found.sort();
    found
}

/// Writes every file or none: each goes to a temporary file in its target directory first, and only when
/// all are written are they renamed into place. Directories created for the purpose are removed again on
/// failure.
pub fn write_all(files: &[PlannedFile]) -> Result<(), GenError> {
    let mut created_dirs: Vec<PathBuf> = Vec::new();
    let mut temps: Vec<(PathBuf, &PlannedFile)> = Vec::new();
    let result = stage(files, &mut created_dirs, &mut temps);
    if let Err(e) = result {
        cleanup(&temps, &created_dirs);
        return Err(e);
    }
    let mut done: Vec<&Path> = Vec::new();
    for (temp, file) in &temps {
        if let Err(e) = std::fs::rename(temp, &file.path) {
            for d in &done {
                let _ = std::fs::remove_file(d);
            }
            cleanup(&temps, &created_dirs);
            return Err(GenError::Write {
                path: file.path.clone(),
                message: e.to_string(),
            });
        }
        done.push(&file.path);
        tracing::info!(path = %file.path.display(), "wrote");
    }
    Ok(())
}

fn stage<'a>(
    files: &'a [PlannedFile],
    created_dirs: &mut Vec<PathBuf>,
    temps: &mut Vec<(PathBuf, &'a PlannedFile)>,
) -> Result<(), GenError> {
    for file in files {
        let fail = |e: std::io::Error| GenError::Write {
            path: file.path.clone(),
            message: e.to_string(),
        };
        let name = file
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if !safe_file_name(&name) {
            return Err(GenError::Write {
                path: file.path.clone(),
                message: "unsafe file name".into(),
            });
        }
        let dir = file.path.parent().unwrap_or(Path::new("."));
        if !dir.as_os_str().is_empty() && !dir.exists() {
            let mut missing = Vec::new();
            let mut d = Some(dir);
            while let Some(p) = d.filter(|p| !p.as_os_str().is_empty() && !p.exists()) {
                missing.push(p.to_path_buf());
                d = p.parent();
            }
            std::fs::create_dir_all(dir).map_err(fail)?;
            created_dirs.extend(missing);
        }
        let temp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)
            .map_err(fail)?;
        temps.push((temp, file));
        f.write_all(file.contents.as_bytes()).map_err(fail)?;
        f.sync_all().map_err(fail)?;
    }
    Ok(())
}

fn cleanup(temps: &[(PathBuf, &PlannedFile)], created_dirs: &[PathBuf]) {
    for (t, _) in temps {
        let _ = std::fs::remove_file(t);
    }
    // Deepest first; remove_dir only removes empty directories.
    for d in created_dirs {
        let _ = std::fs::remove_dir(d);
    }
}

/// A line diff of `old` and `new`: the `-`/`+` lines of a changed issue's file (a Myers diff: `similar`).
pub fn diff(old: &str, new: &str) -> String {
    let mut out = String::new();
    for change in similar::TextDiff::from_lines(old, new).iter_all_changes() {
        let sign = match change.tag() {
            similar::ChangeTag::Equal => continue,
            similar::ChangeTag::Delete => '-',
            similar::ChangeTag::Insert => '+',
        };
        out.push_str(&format!(
            "{sign} {}\n",
            change.value().trim_end_matches('\n')
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_diff() {
        assert!(safe_file_name("20240115143022_issue_1_x.sql"));
        assert!(!safe_file_name("../x.sql"));
        assert!(!safe_file_name(".hidden"));
        assert!(!safe_file_name("a/b"));
        assert_eq!(diff("a\nb\nc\n", "a\nx\nc\n"), "- b\n+ x\n");
    }
}
