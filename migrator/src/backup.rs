//! Backup files: where they go, how they are named, kept and listed. Engines write them
//! ([`crate::engine::Backup`]); this module files them.
//!
//! Each database's backups live in a directory of their own, `<backup_dir>/<stem>-<12 hex digits>/`, where
//! the digits are a hash of the database's identity (SQLite: the canonical file path; PostgreSQL: the
//! server and database) and a file `identity` inside holds the identity itself: two databases never share
//! a directory, so pruning or listing one never touches another's files, and a restore refuses a file
//! filed under another database. Directories are created owner-only (0700) and never through a symlink;
//! files are created owner-only (0600) with `O_EXCL`, so a planted file or symlink is refused, not followed.

use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

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
/// pending version, `rollback`, or `restore`.
pub(crate) fn file_name(stem: &str, before: &str, extension: &str) -> String {
    let stem: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{stem}-{}-before-{before}.{extension}", utc_stamp())
}

pub(crate) fn io_error(what: &str, path: &Path, e: std::io::Error) -> Error {
    Error::Backup(format!("{what} {}: {e}", path.display()))
}

/// The per-user data directory for backups when an engine has no place beside the database
/// (PostgreSQL): `$XDG_DATA_HOME/migrator/backups`, else `$HOME/.local/share/migrator/backups`.
pub fn user_data_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_DATA_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|h| PathBuf::from(h).join(".local/share"))
        })?;
    Some(base.join("migrator").join("backups"))
}

/// Creates `dir` (and its parents) and makes sure it is a real directory of ours, not a symlink,
/// readable by the owner only.
pub(crate) fn ensure_dir(dir: &Path) -> Result<(), Error> {
    std::fs::create_dir_all(dir).map_err(|e| io_error("creating the backup directory", dir, e))?;
    let meta = std::fs::symlink_metadata(dir)
        .map_err(|e| io_error("reading the backup directory", dir, e))?;
    if meta.file_type().is_symlink() || !meta.is_dir() {
        return Err(Error::Backup(format!(
            "the backup directory {} is a symlink or not a directory; refusing to follow it (make it a real directory, or set backup_dir elsewhere)",
            dir.display()
        )));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        // SAFETY-free check of ownership: a directory someone else owns could be swapped under us.
        let uid = std::fs::metadata("/proc/self").map(|m| m.uid()).ok();
        if uid.is_some_and(|uid| uid != meta.uid()) {
            return Err(Error::Backup(format!(
                "the backup directory {} belongs to another user; refusing to write backups there",
                dir.display()
            )));
        }
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| io_error("restricting the backup directory", dir, e))?;
    }
    Ok(())
}

/// The first 12 hex digits of the SHA-256 of `text`: a short name that stays unique in practice.
pub(crate) fn short_hash(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .take(6)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The directory of one database's backups under `base`, created if needed, with its identity checked.
pub(crate) fn database_dir(base: &Path, stem: &str, identity: &str) -> Result<PathBuf, Error> {
    let hex = short_hash(identity);
    let safe_stem: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    ensure_dir(base)?;
    let dir = base.join(format!("{safe_stem}-{hex}"));
    ensure_dir(&dir)?;
    let marker = dir.join("identity");
    match std::fs::read_to_string(&marker) {
        Ok(found) if found.trim_end() == identity => {}
        // A boot killed while it claimed the directory (before this marker was written atomically) left
        // it empty: the directory's name carries this identity's hash, so it is ours to claim.
        Ok(found) if found.trim().is_empty() => write_marker(&marker, identity)?,
        Ok(found) => {
            return Err(Error::Backup(format!(
                "{} holds the backups of {}, not of {identity}; refusing to mix them (set backup_dir elsewhere)",
                dir.display(),
                found.trim_end()
            )))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => write_marker(&marker, identity)?,
        Err(e) => return Err(io_error("reading", &marker, e)),
    }
    Ok(dir)
}

/// Writes a backup directory's identity marker whole or not at all (a temporary file, synced, then
/// renamed), so a boot killed meanwhile never leaves a marker that names no database.
fn write_marker(marker: &Path, identity: &str) -> Result<(), Error> {
    let partial = partial_path(marker);
    let mut file = create_private_file(&partial)?;
    file.write_all(format!("{identity}\n").as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| io_error("writing", &partial, e))?;
    std::fs::rename(&partial, marker).map_err(|e| io_error("writing", marker, e))
}

/// Refuses a backup file that is filed under another database's directory.
pub(crate) fn check_belongs(backup: &Path, own_dir: &Path) -> Result<(), Error> {
    let Some(parent) = backup.parent() else {
        return Ok(());
    };
    let marker = parent.join("identity");
    let Ok(theirs) = std::fs::read_to_string(&marker) else {
        return Ok(());
    };
    let ours = std::fs::read_to_string(own_dir.join("identity")).unwrap_or_default();
    if theirs.trim_end() != ours.trim_end() {
        return Err(Error::Refused(format!(
            "{} is a backup of {}, not of this database ({}); nothing was restored",
            backup.display(),
            theirs.trim_end(),
            ours.trim_end()
        )));
    }
    Ok(())
}

/// Creates a new file readable and writable by its owner only; an existing file or symlink at `path` is
/// an error (`O_EXCL`), never followed.
pub(crate) fn create_private_file(path: &Path) -> Result<std::fs::File, Error> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
        .open(path)
        .map_err(|e| io_error("creating", path, e))
}

/// The temporary name a backup is written under: the target with the process id, so a writer orphaned by
/// a killed boot never collides with a new one. A leftover of our own is removed first.
pub(crate) fn partial_path(target: &Path) -> PathBuf {
    let mut name = target.as_os_str().to_os_string();
    name.push(format!(".{}.partial", std::process::id()));
    let path = PathBuf::from(name);
    let _ = std::fs::remove_file(&path);
    path
}

/// Gives a finished (durable) backup its final name, makes sure it is owner-only, and makes the name
/// durable too: the directory is synced after the rename, so a crash cannot leave the backup under its
/// temporary name (where `prune` would take it for an orphan) once the run has gone on.
pub(crate) fn finish(partial: &Path, target: &Path) -> Result<(), Error> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(partial, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| io_error("restricting the backup file", partial, e))?;
    }
    std::fs::rename(partial, target).map_err(|e| io_error("finishing the backup", target, e))?;
    #[cfg(unix)]
    if let Some(dir) = target.parent() {
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| io_error("syncing the backup directory", dir, e))?;
    }
    Ok(())
}

/// The part of a backup still running on threads of its own (see [`crate::engine::Backup::start_backup`]).
type Finishing = std::thread::JoinHandle<Result<(), Error>>;

/// A backup under way: the state it copies is fixed, and the copy, its comparison and `fsync`, and the
/// check of the state run on threads of their own while the caller goes on;
/// [`PendingBackup::wait`] waits for them. Only then does the backup get its final name. The boot applies
/// its migrations meanwhile, inside its run's transaction, and waits before it commits: nothing is
/// committed before the backup of the state before it is durable and checked.
///
/// Dropped without [`PendingBackup::wait`] (an error path), it still waits for its threads, and keeps the
/// backup when they succeeded.
#[must_use = "a pending backup is only known to be good once `wait` returns Ok"]
pub struct PendingBackup {
    partial: PathBuf,
    target: PathBuf,
    finishing: Vec<Finishing>,
    waited: bool,
}

impl PendingBackup {
    /// A backup already durable, checked and under its final name.
    pub fn written(target: &Path) -> Self {
        PendingBackup {
            partial: target.to_path_buf(),
            target: target.to_path_buf(),
            finishing: Vec::new(),
            waited: true,
        }
    }

    /// A backup being written to `partial` by the threads `finishing`; `target` is its final name.
    pub fn finishing(partial: PathBuf, target: PathBuf, finishing: Vec<Finishing>) -> Self {
        PendingBackup {
            partial,
            target,
            finishing,
            waited: false,
        }
    }

    /// Waits for the last steps; on success the backup has its final name and its path is returned. On
    /// failure the partial file is deleted and the first error is returned.
    pub fn wait(mut self) -> Result<PathBuf, Error> {
        self.complete()?;
        Ok(self.target.clone())
    }

    fn complete(&mut self) -> Result<(), Error> {
        if self.waited {
            return Ok(());
        }
        self.waited = true;
        let mut outcome = Ok(());
        for handle in self.finishing.drain(..) {
            let result = handle.join().unwrap_or_else(|_| {
                Err(Error::Backup(
                    "a thread finishing the backup panicked".to_string(),
                ))
            });
            if outcome.is_ok() {
                outcome = result;
            }
        }
        let outcome = outcome.and_then(|()| finish(&self.partial, &self.target));
        if outcome.is_err() {
            let _ = std::fs::remove_file(&self.partial);
        }
        outcome
    }
}

impl Drop for PendingBackup {
    fn drop(&mut self) {
        if let Err(e) = self.complete() {
            tracing::warn!(error = %e, "a backup left unfinished failed");
        }
    }
}

impl std::fmt::Debug for PendingBackup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingBackup")
            .field("target", &self.target)
            .field("finishing", &self.finishing.len())
            .finish()
    }
}

/// Copies `from` into a new owner-only file `to` (which must not exist).
pub(crate) fn copy_private(from: &Path, to: &Path) -> Result<(), Error> {
    let mut source = std::fs::File::open(from).map_err(|e| io_error("opening", from, e))?;
    let mut target = create_private_file(to)?;
    std::io::copy(&mut source, &mut target)
        .map_err(|e| io_error("copying the backup to", to, e))?;
    Ok(())
}

/// The backups in one database's directory, newest first.
pub fn list(dir: &Path) -> Result<Vec<BackupFile>, Error> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_error("listing backups in", dir, e)),
    };
    let mut files = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let is_file = entry.file_type().is_ok_and(|t| t.is_file());
        if is_file && name.contains("-before-") && !name.ends_with(".partial") {
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

/// Deletes all but the newest `keep` backups of one database's directory, and the partial files a killed
/// writer left there (see [`orphaned_partials`]); returns what was deleted.
pub(crate) fn prune(dir: &Path, keep: usize) -> Result<Vec<PathBuf>, Error> {
    let mut deleted = Vec::new();
    for orphan in orphaned_partials(dir, ORPHAN_AGE) {
        if std::fs::remove_file(&orphan).is_ok() {
            deleted.push(orphan);
        }
    }
    for old in list(dir)?.into_iter().skip(keep.max(1)) {
        std::fs::remove_file(&old.path)
            .map_err(|e| io_error("deleting an old backup", &old.path, e))?;
        deleted.push(old.path);
    }
    Ok(deleted)
}

/// How long a partial file must have been left untouched before it counts as orphaned: a writer in another
/// PID namespace (a container sharing the directory) is invisible here, but it writes or renames its file
/// within seconds, not an hour.
const ORPHAN_AGE: std::time::Duration = std::time::Duration::from_secs(3600);

/// The partial files in `dir` (`<name>.<pid>.partial`, see [`partial_path`]) whose writer no longer runs
/// and that nobody modified for `age`: what a boot killed while writing a backup leaves, as large as the
/// database. Where it cannot be told whether a process runs (no `/proc`), none.
pub(crate) fn orphaned_partials(dir: &Path, age: std::time::Duration) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let proc_fs = Path::new("/proc/self").exists();
    let mut orphans = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let pid = name
            .strip_suffix(".partial")
            .and_then(|rest| rest.rsplit_once('.'))
            .and_then(|(_, pid)| pid.parse::<u32>().ok());
        let Some(pid) = pid else { continue };
        let runs = !proc_fs
            || pid == std::process::id()
            || Path::new("/proc").join(pid.to_string()).exists();
        let untouched = entry
            .metadata()
            .ok()
            .filter(|m| m.is_file())
            .and_then(|m| m.modified().ok())
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|idle| idle >= age);
        if !runs && untouched {
            orphans.push(entry.path());
        }
    }
    orphans
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(dir: &Path, outcomes: Vec<Result<(), Error>>) -> (PendingBackup, PathBuf, PathBuf) {
        let target = dir.join("app.db-20260101T000000Z-before-1.sqlite");
        let partial = partial_path(&target);
        std::fs::write(&partial, b"copy").unwrap();
        let finishing = outcomes
            .into_iter()
            .map(|outcome| std::thread::spawn(move || outcome))
            .collect();
        (
            PendingBackup::finishing(partial.clone(), target.clone(), finishing),
            partial,
            target,
        )
    }

    #[test]
    fn a_pending_backup_gets_its_name_only_when_every_step_succeeded() {
        let dir = tempfile::tempdir().unwrap();
        let (backup, partial, target) = pending(dir.path(), vec![Ok(()), Ok(())]);
        assert_eq!(backup.wait().unwrap(), target);
        assert!(target.is_file() && !partial.exists());

        let dir = tempfile::tempdir().unwrap();
        let failed = Err(Error::Backup(
            "the database fails PRAGMA quick_check".into(),
        ));
        let (backup, partial, target) = pending(dir.path(), vec![Ok(()), failed]);
        let e = backup.wait().unwrap_err().to_string();
        assert!(e.contains("quick_check"), "{e}");
        assert!(!target.exists() && !partial.exists(), "nothing is left");
    }

    #[test]
    fn a_pending_backup_dropped_unwaited_still_finishes() {
        let dir = tempfile::tempdir().unwrap();
        let (backup, partial, target) = pending(dir.path(), vec![Ok(())]);
        drop(backup);
        assert!(target.is_file() && !partial.exists());
        let dir = tempfile::tempdir().unwrap();
        let (backup, partial, target) =
            pending(dir.path(), vec![Err(Error::Backup("no space".into()))]);
        drop(backup);
        assert!(!target.exists() && !partial.exists());
    }

    #[test]
    fn stamps_sort_by_time_and_names_carry_the_version() {
        let stamp = utc_stamp();
        assert_eq!(stamp.len(), 16);
        assert!(stamp.starts_with("20") && stamp.ends_with('Z'));
        let name = file_name("app", "20240115143022", "sqlite");
        assert!(name.starts_with("app-20") && name.ends_with("-before-20240115143022.sqlite"));
    }

    #[test]
    fn a_claim_cut_short_by_a_kill_is_taken_over_and_a_foreign_one_refused() {
        let base = tempfile::tempdir().unwrap();
        let dir = database_dir(base.path(), "app", "sqlite:/data/app.db").unwrap();
        let marker = dir.join("identity");
        assert_eq!(
            std::fs::read_to_string(&marker).unwrap(),
            "sqlite:/data/app.db\n"
        );
        // What a boot killed between creating the marker and writing it left (before the atomic write).
        std::fs::write(&marker, b"").unwrap();
        assert_eq!(
            database_dir(base.path(), "app", "sqlite:/data/app.db").unwrap(),
            dir
        );
        assert_eq!(
            std::fs::read_to_string(&marker).unwrap(),
            "sqlite:/data/app.db\n"
        );
        std::fs::write(&marker, b"sqlite:/data/other.db\n").unwrap();
        let refused = database_dir(base.path(), "app", "sqlite:/data/app.db").unwrap_err();
        assert!(
            refused
                .to_string()
                .contains("holds the backups of sqlite:/data/other.db"),
            "{refused}"
        );
        let names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["identity"], "no temporary marker left behind");
    }

    #[test]
    fn two_databases_with_one_name_prefix_never_share_backups() {
        let base = tempfile::tempdir().unwrap();
        let app = database_dir(base.path(), "app", "postgres://h:5432/app").unwrap();
        let app_eu = database_dir(base.path(), "app", "postgres://h:5432/app-eu").unwrap();
        assert_ne!(app, app_eu);
        for stamp in ["20240101T000000Z", "20240102T000000Z", "20240103T000000Z"] {
            std::fs::write(app.join(format!("app-{stamp}-before-1.pgdump")), b"x").unwrap();
        }
        std::fs::write(app_eu.join("app-eu-20240101T000000Z-before-1.pgdump"), b"x").unwrap();
        let deleted = prune(&app, 2).unwrap();
        assert_eq!(deleted.len(), 1);
        assert!(deleted[0].to_string_lossy().contains("20240101T000000Z"));
        assert_eq!(list(&app).unwrap().len(), 2);
        assert_eq!(list(&app_eu).unwrap().len(), 1);
        let theirs = app_eu.join("app-eu-20240101T000000Z-before-1.pgdump");
        assert!(check_belongs(&theirs, &app).is_err());
        assert!(check_belongs(&theirs, &app_eu).is_ok());
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_are_refused_not_followed() {
        let base = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        let link = base.path().join("backups");
        std::os::unix::fs::symlink(elsewhere.path(), &link).unwrap();
        assert!(ensure_dir(&link).is_err());
        let target = elsewhere.path().join("victim");
        std::fs::write(&target, b"keep").unwrap();
        let planted = base.path().join("planted");
        std::os::unix::fs::symlink(&target, &planted).unwrap();
        assert!(create_private_file(&planted).is_err());
        assert_eq!(std::fs::read(&target).unwrap(), b"keep");
    }
}
