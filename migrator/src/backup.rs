//! Backups before applying (the spec's `require_backup`): one per boot that applies something, named after
//! the database, the time and the first pending version, kept to the newest `backups_to_keep`.

use std::path::{Path, PathBuf};

use crate::Error;

/// One backup file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupFile {
    /// Its path.
    pub path: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
}

/// `YYYYMMDDTHHMMSSZ` of now, UTC.
pub(crate) fn utc_stamp() -> String {
    let now = migrator_format::version_now().to_string();
    format!(
        "{}T{}Z",
        &now[..8.min(now.len())],
        now.get(8..).unwrap_or("")
    )
}

/// The file name of a new backup: `<stem>-<UTC time>-before-<what>.<extension>`, where `what` is the first
/// pending version, or `restore` for the copy taken before a restore.
pub(crate) fn file_name(stem: &str, before: &str, extension: &str) -> String {
    format!("{stem}-{}-before-{before}.{extension}", utc_stamp())
}

/// Creates the backup directory, readable by the owner only.
pub(crate) fn ensure_dir(dir: &Path) -> Result<(), Error> {
    std::fs::create_dir_all(dir).map_err(|e| io_error("creating the backup directory", dir, e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| io_error("restricting the backup directory", dir, e))?;
    }
    Ok(())
}

/// Makes a file readable and writable by its owner only.
pub(crate) fn owner_only(path: &Path) -> Result<(), Error> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| io_error("restricting the backup file", path, e))?;
    }
    let _ = path;
    Ok(())
}

pub(crate) fn io_error(what: &str, path: &Path, e: std::io::Error) -> Error {
    Error::Backup(format!("{what} {}: {e}", path.display()))
}

/// The backups of `stem` in `dir`, newest first.
pub fn list(dir: &Path, stem: &str) -> Result<Vec<BackupFile>, Error> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_error("listing backups in", dir, e)),
    };
    let prefix = format!("{stem}-");
    let mut files = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(&prefix) && name.contains("-before-") && !name.ends_with(".partial") {
            let bytes = entry.metadata().map_or(0, |m| m.len());
            files.push(BackupFile {
                path: entry.path(),
                bytes,
            });
        }
    }
    // The UTC stamp sorts by time.
    files.sort_by(|a, b| b.path.cmp(&a.path));
    Ok(files)
}

/// Deletes all but the newest `keep` backups of `stem`; returns what was deleted.
pub(crate) fn prune(dir: &Path, stem: &str, keep: usize) -> Result<Vec<PathBuf>, Error> {
    let mut deleted = Vec::new();
    for old in list(dir, stem)?.into_iter().skip(keep.max(1)) {
        std::fs::remove_file(&old.path)
            .map_err(|e| io_error("deleting an old backup", &old.path, e))?;
        deleted.push(old.path);
    }
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_sort_by_time_and_names_carry_the_version() {
        let stamp = utc_stamp();
        assert_eq!(stamp.len(), 16);
        assert!(stamp.starts_with("20") && stamp.ends_with('Z'));
        let name = file_name("app", "20240115143022", "sqlite");
        assert!(name.starts_with("app-20") && name.ends_with("-before-20240115143022.sqlite"));
    }

    #[test]
    fn retention_keeps_the_newest() {
        let dir = tempfile::tempdir().unwrap();
        for stamp in ["20240101T000000Z", "20240102T000000Z", "20240103T000000Z"] {
            std::fs::write(
                dir.path().join(format!("app-{stamp}-before-1.sqlite")),
                b"x",
            )
            .unwrap();
        }
        std::fs::write(
            dir.path().join("other-20240101T000000Z-before-1.sqlite"),
            b"x",
        )
        .unwrap();
        let deleted = prune(dir.path(), "app", 2).unwrap();
        assert_eq!(deleted.len(), 1);
        assert!(deleted[0].to_string_lossy().contains("20240101T000000Z"));
        assert_eq!(list(dir.path(), "app").unwrap().len(), 2);
        assert_eq!(list(dir.path(), "other").unwrap().len(), 1);
    }
}
