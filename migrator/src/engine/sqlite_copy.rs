//! SQLite's backups and scratch copies (capabilities of [`Sqlite`]): a copy of a consistent snapshot
//! (rollback journal: the file's bytes, see [`super::sqlite_file_copy`]; WAL: the online backup API),
//! checked with `PRAGMA quick_check`; a restore through the backup API in reverse; a scratch copy beside
//! the database (or in memory) for the rehearsal.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::backup::StepResult;
use rusqlite::{Connection, OpenFlags, MAIN_DB};
use tracing::{debug, info, warn};

use super::sqlite::{context, Sqlite};
use super::{Backup, CopyFrom, Engine, ScratchCopy};
use crate::backup::PendingBackup;
use crate::Error;

impl Backup for Sqlite<'_> {
    fn identity(&mut self) -> Result<String, Error> {
        let file = self
            .file()
            .ok_or_else(|| Error::Backup("an in-memory database has no file to back up".into()))?;
        let canonical = std::fs::canonicalize(&file).unwrap_or(file);
        Ok(format!("sqlite:{}", canonical.display()))
    }

    fn stem(&self) -> String {
        self.file()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "memory".to_string())
    }

    fn extension(&self) -> &'static str {
        "sqlite"
    }

    fn default_dir(&self) -> Option<PathBuf> {
        let path = self.file()?;
        let mut name = path.file_name()?.to_os_string();
        name.push(".backups");
        Some(path.with_file_name(name))
    }

    fn write_backup(&mut self, target: &Path, lock_timeout: Duration) -> Result<(), Error> {
        self.start_backup(target, lock_timeout)?.wait().map(drop)
    }

    fn start_backup(
        &mut self,
        target: &Path,
        _lock_timeout: Duration,
    ) -> Result<PendingBackup, Error> {
        let source_path = self
            .file()
            .ok_or_else(|| Error::Backup("an in-memory database has no file to back up".into()))?;
        let partial = crate::backup::partial_path(target);
        match start_checked_copy(&source_path, &partial) {
            Ok(finishing) => Ok(PendingBackup::finishing(
                partial,
                target.to_path_buf(),
                finishing,
            )),
            Err(e) => {
                let _ = std::fs::remove_file(&partial);
                Err(e)
            }
        }
    }

    fn restore(&mut self, backup: &Path) -> Result<(), Error> {
        let path = self
            .file()
            .ok_or_else(|| Error::Usage("this database has no file to restore into".into()))?;
        let check = Connection::open_with_flags(backup, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .and_then(|c| c.query_row("PRAGMA quick_check", [], |r| r.get::<_, String>(0)))
            .map_err(|e| {
                Error::Backup(format!(
                    "{} is not a readable SQLite backup: {e}",
                    backup.display()
                ))
            })?;
        if check != "ok" {
            return Err(Error::Backup(format!(
                "{} fails PRAGMA quick_check: {check}",
                backup.display()
            )));
        }
        // The online backup API in reverse, on a connection of our own, replaces every page at once.
        let mut target =
            Connection::open(&path).map_err(|e| context("opening the database to restore", e))?;
        target
            .busy_timeout(Duration::from_secs(60))
            .map_err(|e| context("setting busy_timeout", e))?;
        target
            .restore(MAIN_DB, backup, None::<fn(rusqlite::backup::Progress)>)
            .map_err(|e| context("restoring the backup", e))
    }
}

/// Backs up the committed state of the database at `source_path` to `partial` (created owner-only, never
/// through a symlink). Rollback journal: the state is fixed (read transactions) when this returns, and the
/// threads returned copy it, compare and sync the copy, and check the state. WAL: the copy is made and
/// checked before this returns, and no thread is returned.
fn start_checked_copy(
    source_path: &Path,
    partial: &Path,
) -> Result<Vec<std::thread::JoinHandle<Result<(), Error>>>, Error> {
    // A separate read-only connection: the run's own connection holds the write lock and has written
    // nothing yet, so this one reads the last committed state. Memory-mapped reads (capped by SQLite's
    // compile-time limit) make quick_check about twice as fast on large files.
    let source = Connection::open_with_flags(source_path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| context("opening the database for the backup", e))?;
    source
        .execute_batch("PRAGMA mmap_size = 2147418112")
        .map_err(|e| context("opening the database for the backup", e))?;
    let journal_mode: String = source
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .map_err(|e| context("reading the journal mode", e))?;
    crate::backup::create_private_file(partial)?;
    let wal = journal_mode.eq_ignore_ascii_case("wal");
    debug!(journal_mode = %journal_mode, check = if wal { "after the copy" } else { "beside the copy" }, "backing up");
    if wal {
        // WAL: the committed state is the file plus the log, so the online backup API copies it page
        // by page (SQLite syncs the copy when the last step commits), and the copy is checked.
        let mut copy =
            Connection::open(partial).map_err(|e| context("creating the backup file", e))?;
        copy_pages(&source, &mut copy)?;
        quick_check(&copy)?;
        return Ok(Vec::new());
    }
    // Rollback journal: while a read transaction holds the SHARED lock no writer can commit, and the
    // file itself is the committed state. Two read-only connections that each hold a read transaction
    // see one state: on one thread the file's bytes are copied through SQLite's own file handle, compared
    // with them byte for byte and synced, while quick_check runs over the same state on another; so the
    // copy equals a state that passes quick_check. (Not with a file handle of our own: closing a second
    // descriptor of the database file drops every POSIX lock this process holds on it, SQLite's
    // included.) Both threads run while the caller goes on: the state is fixed from here, since a writer
    // (the run's own connection included) can change the file only by committing, and a commit needs the
    // read transactions gone, that is the backup finished.
    let reader = Connection::open_with_flags(source_path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| context("opening the database for the backup", e))?;
    for conn in [&source, &reader] {
        conn.execute_batch("BEGIN")
            .map_err(|e| context("starting the backup", e))?;
    }
    let snapshot = shape(&source, "reading the database for the backup")?;
    // The copier's read transaction is taken here, so that the state is fixed when this returns.
    let same = shape(&reader, "reading the database for the backup")?;
    if same != snapshot {
        return Err(Error::Backup(format!(
            "the database changed between the two reads of the backup ({} pages and {} schema entries, then {} and {})",
            snapshot.0, snapshot.1, same.0, same.1
        )));
    }
    let interrupt = source.get_interrupt_handle();
    let checker = spawn("backup-check", move || {
        let checking = std::time::Instant::now();
        let checked = quick_check(&source);
        debug!(
            took_ms = checking.elapsed().as_millis() as u64,
            ok = checked.is_ok(),
            "backup's quick_check done"
        );
        let _ = source.execute_batch("COMMIT");
        checked
    })?;
    let (source_path, partial) = (source_path.to_path_buf(), partial.to_path_buf());
    let copier = spawn("backup-copy", move || {
        let copied = copy_file_of(&reader, &source_path, snapshot, &partial);
        let _ = reader.execute_batch("COMMIT");
        drop(reader);
        let out = copied?;
        let syncing = std::time::Instant::now();
        out.sync_all()
            .map_err(|e| crate::backup::io_error("syncing", &partial, e))?;
        drop(out);
        let sync_ms = syncing.elapsed().as_millis() as u64;
        info!(path = %partial.display(), sync_ms, "backup copy written: copied, compared and synced");
        check_copy_shape(&partial, snapshot)
    });
    match copier {
        Ok(copier) => Ok(vec![checker, copier]),
        Err(e) => {
            interrupt.interrupt();
            let _ = checker.join();
            Err(e)
        }
    }
}

/// Starts a named thread whose events belong to the caller's span (the boot's, say).
fn spawn(
    name: &str,
    run: impl FnOnce() -> Result<(), Error> + Send + 'static,
) -> Result<std::thread::JoinHandle<Result<(), Error>>, Error> {
    let span = tracing::Span::current();
    std::thread::Builder::new()
        .name(name.to_string())
        .spawn(move || span.in_scope(run))
        .map_err(|e| Error::Backup(format!("cannot start a thread for the backup: {e}")))
}

/// SQLite opens the copy and reads the page count and schema size of the state copied (an empty
/// database, with no page yet, is copied as one empty page).
fn check_copy_shape(partial: &Path, snapshot: (i64, i64)) -> Result<(), Error> {
    let copy = Connection::open_with_flags(partial, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| context("opening the backup to check it", e))?;
    let copied_shape = shape(&copy, "checking the backup")?;
    if copied_shape == (snapshot.0.max(1), snapshot.1) || copied_shape == snapshot {
        Ok(())
    } else {
        Err(Error::Backup(format!(
            "the copy has {} pages and {} schema entries, the database {} and {}",
            copied_shape.0, copied_shape.1, snapshot.0, snapshot.1
        )))
    }
}

/// Copies the database file of `conn` (in rollback journal mode, inside a read transaction, so the file
/// is the committed state and no writer can change it) to `partial` and proves the copy equals it byte
/// for byte (see [`super::sqlite_file_copy`]); returns the copy, not yet synced. `snapshot` is the page
/// count and schema size `conn` saw in that transaction.
fn copy_file_of(
    conn: &Connection,
    source_path: &Path,
    snapshot: (i64, i64),
    partial: &Path,
) -> Result<std::fs::File, Error> {
    let (pages, _) = snapshot;
    let page_size: i64 = conn
        .query_row("PRAGMA page_size", [], |r| r.get(0))
        .map_err(|e| context("reading the page size", e))?;
    let total = u64::try_from(pages * page_size).unwrap_or(0);
    super::sqlite_file_copy::copy_database_file(conn, source_path, total, partial)
        .map(|(out, _)| out)
}

fn quick_check(conn: &Connection) -> Result<(), Error> {
    let verdict: String = conn
        .query_row("PRAGMA quick_check", [], |r| r.get(0))
        .map_err(|e| context("checking the backup", e))?;
    if verdict == "ok" {
        Ok(())
    } else {
        Err(Error::Backup(format!(
            "the database fails PRAGMA quick_check: {verdict}"
        )))
    }
}

/// Page count and schema size: what a copy of a snapshot must show too.
fn shape(conn: &Connection, what: &str) -> Result<(i64, i64), Error> {
    conn.query_row(
        "SELECT (SELECT page_count FROM pragma_page_count()), (SELECT count(*) FROM sqlite_schema)",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .map_err(|e| context(what, e))
}

impl ScratchCopy for Sqlite<'_> {
    fn with_scratch_copy(
        &mut self,
        from: CopyFrom<'_>,
        run: &mut dyn FnMut(&mut dyn Engine) -> Result<(), Error>,
    ) -> Result<(), Error> {
        // A file database gets its scratch copy beside it (same file system, so space and speed are the
        // database's own; a copy left by a crash is overwritten next time); an in-memory one, in memory.
        let scratch_path = self.file().map(|path| {
            let mut name = path.file_name().unwrap_or_default().to_os_string();
            name.push(".rehearsal");
            path.with_file_name(name)
        });
        let scratch = match from {
            CopyFrom::Empty => Connection::open_in_memory()
                .map_err(|e| context("creating the empty scratch database", e))?,
            CopyFrom::Backup(backup) => self.open_scratch(scratch_path.as_deref(), Some(backup))?,
            CopyFrom::Current => self.open_scratch(scratch_path.as_deref(), None)?,
        };
        let scratch_path = scratch_path.filter(|_| !matches!(from, CopyFrom::Empty));
        // The copy behaves as the host's connection does (foreign keys are enforced at the end of each
        // migration when the host turned them on).
        if self.foreign_keys_were_on {
            scratch
                .execute_batch("PRAGMA foreign_keys = ON")
                .map_err(|e| context("configuring the rehearsal copy", e))?;
        }
        debug!(copy = ?scratch_path, "rehearsal copy made");
        let result = run(&mut Sqlite::new(&scratch));
        let _ = scratch.execute_batch("ROLLBACK");
        let closed = scratch.close();
        if let Some(path) = &scratch_path {
            remove_scratch(path);
        }
        if let Err((_, e)) = closed {
            warn!(error = %e, "closing the rehearsal copy failed");
        }
        result
    }

    fn run_is_a_copy(&self) -> bool {
        !self.commit_each
    }

    fn with_schema_copy(
        &mut self,
        tables: &[&str],
        run: &mut dyn FnMut(&mut dyn Engine) -> Result<(), Error>,
    ) -> Result<bool, Error> {
        self.schema_copy(tables, run)
    }

    fn with_page_copy(
        &mut self,
        max_bytes: u64,
        run: &mut dyn FnMut(&mut dyn Engine) -> Result<(), Error>,
    ) -> Result<bool, Error> {
        self.page_copy(max_bytes, run)
    }
}

impl Sqlite<'_> {
    /// The scratch connection: a copy of the backup file, a fresh online copy, or an in-memory copy.
    fn open_scratch(
        &mut self,
        scratch_path: Option<&Path>,
        from_backup: Option<&Path>,
    ) -> Result<Connection, Error> {
        match (scratch_path, from_backup) {
            (Some(path), Some(backup)) => {
                remove_scratch(path);
                crate::backup::copy_private(backup, path)?;
                Connection::open(path).map_err(|e| context("opening the rehearsal copy", e))
            }
            (Some(path), None) => {
                remove_scratch(path);
                // Read through a connection of our own: the run's connection holds the write lock.
                let source = Connection::open_with_flags(
                    self.file().unwrap_or_default(),
                    OpenFlags::SQLITE_OPEN_READ_ONLY,
                )
                .map_err(|e| context("opening the database for the rehearsal copy", e))?;
                crate::backup::create_private_file(path)?;
                let mut copy = Connection::open(path)
                    .map_err(|e| context("creating the rehearsal copy", e))?;
                copy_pages(&source, &mut copy)?;
                Ok(copy)
            }
            (None, _) => {
                let mut copy = Connection::open_in_memory()
                    .map_err(|e| context("creating the rehearsal copy", e))?;
                // An in-memory database has no other connection to see it, and the run has applied
                // nothing yet: its transaction is closed for the copy (the backup API cannot read from
                // a connection in a write transaction) and opened again.
                let reopen = self.in_open_run();
                if reopen {
                    self.conn
                        .execute_batch("COMMIT")
                        .map_err(|e| context("pausing the run for the rehearsal copy", e))?;
                }
                let copied = copy_pages(self.conn, &mut copy);
                if reopen {
                    self.conn
                        .execute_batch("BEGIN IMMEDIATE")
                        .map_err(|e| context("resuming the run after the rehearsal copy", e))?;
                }
                copied.map(|()| copy)
            }
        }
    }
}

fn remove_scratch(path: &Path) {
    for suffix in ["", "-journal", "-wal", "-shm"] {
        let mut name = path.as_os_str().to_os_string();
        name.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(name));
    }
}

/// Copies every page of `source` into `copy` with the online backup API, in one step; a writer elsewhere
/// can make the source busy for a moment, which is waited out for up to 30 s.
pub(super) fn copy_pages(source: &Connection, copy: &mut Connection) -> Result<(), Error> {
    let backup =
        rusqlite::backup::Backup::new(source, copy).map_err(|e| context("starting the copy", e))?;
    let mut busy_for = Duration::ZERO;
    loop {
        match backup
            .step(-1)
            .map_err(|e| context("copying the database", e))?
        {
            StepResult::Done => return Ok(()),
            StepResult::More => {}
            _ if busy_for < Duration::from_secs(30) => {
                std::thread::sleep(Duration::from_millis(20));
                busy_for += Duration::from_millis(20);
            }
            _ => {
                return Err(Error::Backup(
                    "the database stayed busy for 30 s during the copy".to_string(),
                ))
            }
        }
    }
}
