//! The byte copy behind a SQLite backup in rollback journal mode, and its proof.
//!
//! The database file is read through the file SQLite itself holds open (`SQLITE_FCNTL_FILE_POINTER`), never
//! through a descriptor of our own: closing a second descriptor of a file drops every POSIX lock the
//! process holds on it, SQLite's included. On Linux, when the connection's VFS is the unix one, the
//! descriptor inside SQLite's `unixFile` is used for an in-kernel copy (`copy_file_range`), after `fstat`
//! proved it is the database file (same device and inode); the copy's write-back to disk is started while
//! it is made (`sync_file_range`). Anywhere else the bytes go through the VFS's own `xRead` and a buffer.
//!
//! Then the copy is compared with the database byte for byte (both read back: the database through
//! SQLite's `xRead`, the copy through its own descriptor). The caller holds a read transaction on `conn`
//! for all of it, so the file is the committed state and no writer can change it, and makes the copy
//! durable (`fsync`) afterwards, which needs no lock.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use rusqlite::ffi;
use rusqlite::Connection;
use tracing::debug;

use crate::backup::io_error;
use crate::Error;

/// The bytes read, written or compared at a time through a buffer: 1 MiB (measured on 1.1 GB: a 4 MiB
/// buffer made read + write 4x slower and the comparison 1.7x slower than 1 MiB or 256 KiB, the buffers
/// no longer staying in the CPU's caches).
const CHUNK: usize = 1 << 20;

/// The bytes copied at a time in the kernel, after each of which the copy's write-back to disk is started.
#[cfg(target_os = "linux")]
const KERNEL_CHUNK: usize = 32 << 20;

/// How the bytes were copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Copied {
    /// In the kernel (`copy_file_range`) from SQLite's own descriptor.
    InKernel,
    /// Through SQLite's `xRead` into a buffer, then written.
    Buffered,
}

/// Copies the first `bytes` bytes of the database file of `conn` (the committed state: the caller holds a
/// read transaction) into the existing, empty file `partial` and proves the copy equals them byte for
/// byte. Returns the copy, still open: making it durable (`sync_all`) is the caller's, which may do it on
/// another thread once the read transaction has ended.
pub(super) fn copy_database_file(
    conn: &Connection,
    db_path: &Path,
    bytes: u64,
    partial: &Path,
) -> Result<(File, Copied), Error> {
    let mut file = SqliteFile::of(conn)?;
    let mut out = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(partial)
        .map_err(|e| io_error("opening", partial, e))?;
    let started = std::time::Instant::now();
    let copied = if in_kernel(&file, conn, db_path, &out, bytes) {
        Copied::InKernel
    } else {
        // Start again from nothing (an in-kernel copy may have been refused half way).
        out.set_len(0)
            .and_then(|()| out.seek(SeekFrom::Start(0)))
            .map_err(|e| io_error("truncating", partial, e))?;
        buffered_copy(&mut file, &mut out, bytes, partial)?;
        Copied::Buffered
    };
    let copy_ms = started.elapsed().as_millis() as u64;
    compare(&mut file, &mut out, bytes, partial)?;
    let compare_ms = started.elapsed().as_millis() as u64 - copy_ms;
    debug!(
        ?copied,
        bytes, copy_ms, compare_ms, "database file copied and compared"
    );
    Ok((out, copied))
}

/// Proves that `out` holds exactly the first `bytes` bytes of the database file: same length, same bytes.
pub(super) fn compare(
    file: &mut SqliteFile<'_>,
    out: &mut File,
    bytes: u64,
    partial: &Path,
) -> Result<(), Error> {
    let length = out
        .metadata()
        .map_err(|e| io_error("reading", partial, e))?
        .len();
    if length != bytes {
        return Err(Error::Backup(format!(
            "the copy {} holds {length} bytes, the database {bytes}",
            partial.display()
        )));
    }
    out.seek(SeekFrom::Start(0))
        .map_err(|e| io_error("reading back", partial, e))?;
    let mut ours = vec![0u8; CHUNK];
    let mut theirs = vec![0u8; CHUNK];
    let mut offset = 0u64;
    while offset < bytes {
        let len = chunk_at(offset, bytes);
        file.read_at(&mut ours[..len], offset)?;
        out.read_exact(&mut theirs[..len])
            .map_err(|e| io_error("reading back", partial, e))?;
        if ours[..len] != theirs[..len] {
            let at = ours[..len]
                .iter()
                .zip(&theirs[..len])
                .position(|(a, b)| a != b)
                .unwrap_or(0) as u64;
            return Err(Error::Backup(format!(
                "the copy {} differs from the database at byte {}",
                partial.display(),
                offset + at
            )));
        }
        offset += len as u64;
    }
    Ok(())
}

/// The length of the chunk at `offset` of a file of `bytes` bytes.
fn chunk_at(offset: u64, bytes: u64) -> usize {
    usize::try_from(bytes - offset).map_or(CHUNK, |left| left.min(CHUNK))
}

/// Copies through SQLite's `xRead` and a buffer.
fn buffered_copy(
    file: &mut SqliteFile<'_>,
    out: &mut File,
    bytes: u64,
    partial: &Path,
) -> Result<(), Error> {
    let mut buffer = vec![0u8; CHUNK];
    let mut offset = 0u64;
    while offset < bytes {
        let len = chunk_at(offset, bytes);
        file.read_at(&mut buffer[..len], offset)?;
        out.write_all(&buffer[..len])
            .map_err(|e| io_error("writing", partial, e))?;
        offset += len as u64;
    }
    Ok(())
}

/// Copies in the kernel from SQLite's own descriptor of the database file when there is one and the file
/// systems allow it; false when the copy must be made through a buffer instead.
#[cfg(target_os = "linux")]
fn in_kernel(
    file: &SqliteFile<'_>,
    conn: &Connection,
    db_path: &Path,
    out: &File,
    bytes: u64,
) -> bool {
    let Some(fd) = file.descriptor(conn, db_path) else {
        debug!("no verified descriptor of the database file, copying through a buffer");
        return false;
    };
    match kernel_copy(fd, out, bytes) {
        Ok(()) => true,
        Err(e) => {
            // Not every file system copies in the kernel (EXDEV, EOPNOTSUPP, ...).
            debug!(error = %e, "in-kernel copy refused, copying through a buffer");
            false
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn in_kernel(_: &SqliteFile<'_>, _: &Connection, _: &Path, _: &File, _: u64) -> bool {
    false
}

/// Copies `bytes` bytes from the descriptor `from` (read at explicit offsets: its file position is never
/// moved) to `to` in the kernel, starting the write-back of each chunk as soon as it is copied.
#[cfg(target_os = "linux")]
fn kernel_copy(from: std::os::raw::c_int, to: &File, bytes: u64) -> std::io::Result<()> {
    use std::os::unix::io::AsRawFd;
    let (mut at_in, mut at_out): (libc::loff_t, libc::loff_t) = (0, 0);
    let total = libc::loff_t::try_from(bytes).map_err(std::io::Error::other)?;
    while at_in < total {
        let want =
            usize::try_from(total - at_in).map_or(KERNEL_CHUNK, |left| left.min(KERNEL_CHUNK));
        let started = at_out;
        // SAFETY: both descriptors are open for the whole call (`from` by SQLite's connection, which the
        // caller borrows; `to` by `to`), and the offsets point to live integers.
        let n = unsafe {
            libc::copy_file_range(from, &mut at_in, to.as_raw_fd(), &mut at_out, want, 0)
        };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        // SAFETY: `to` is open. Only a hint that starts write-back early, so the final fsync waits for
        // less; its failure changes nothing (the fsync reports any write error).
        unsafe {
            libc::sync_file_range(
                to.as_raw_fd(),
                started,
                at_out - started,
                libc::SYNC_FILE_RANGE_WRITE,
            );
        }
    }
    Ok(())
}

#[cfg(target_os = "linux")]
/// The head of the unix VFS's `unixFile` (sqlite3.c: `pMethod`, `pVfs`, `pInode`, then the descriptor
/// `h`), unchanged since SQLite 3.7. Only `h` is read, and only after the VFS is known to be a unix one
/// whose files are at least this large; [`SqliteFile::descriptor`] then proves the number is the database
/// file's descriptor with `fstat`.
#[repr(C)]
struct UnixFileHead {
    methods: *const std::ffi::c_void,
    vfs: *const std::ffi::c_void,
    inode: *const std::ffi::c_void,
    h: std::os::raw::c_int,
}

/// The pointer a file control that answers with one pointer (`SQLITE_FCNTL_FILE_POINTER`,
/// `SQLITE_FCNTL_VFS_POINTER`) gives for the main database of `conn`; null when it fails.
fn pointer_of<T>(conn: &Connection, op: std::os::raw::c_int) -> *mut T {
    let mut pointer: *mut T = std::ptr::null_mut();
    // SAFETY: the handle is live for the borrow of `conn`; these file controls write one pointer to
    // their argument, which points to `pointer`.
    let rc = unsafe {
        ffi::sqlite3_file_control(
            conn.handle(),
            c"main".as_ptr(),
            op,
            (&mut pointer as *mut *mut T).cast(),
        )
    };
    if rc == ffi::SQLITE_OK {
        pointer
    } else {
        std::ptr::null_mut()
    }
}

/// The main database file of a connection, as SQLite holds it open (`SQLITE_FCNTL_FILE_POINTER`): read
/// through the VFS's own `xRead`, so no second descriptor of the file is ever opened or closed.
pub(super) struct SqliteFile<'c> {
    file: *mut ffi::sqlite3_file,
    read: unsafe extern "C" fn(
        *mut ffi::sqlite3_file,
        *mut std::ffi::c_void,
        std::ffi::c_int,
        ffi::sqlite3_int64,
    ) -> std::ffi::c_int,
    _conn: std::marker::PhantomData<&'c Connection>,
}

impl<'c> SqliteFile<'c> {
    /// The main database file of `conn`.
    pub(super) fn of(conn: &'c Connection) -> Result<Self, Error> {
        // SQLite owns the file and keeps it open until the connection closes (it outlives `'c`).
        let file = pointer_of::<ffi::sqlite3_file>(conn, ffi::SQLITE_FCNTL_FILE_POINTER);
        // SAFETY: a non-null file from SQLite points to a valid sqlite3_file whose methods table, when
        // set, stays valid while the file is open.
        let read = (!file.is_null())
            .then(|| unsafe { (*file).pMethods.as_ref() })
            .flatten()
            .and_then(|methods| methods.xRead);
        match read {
            Some(read) => Ok(SqliteFile {
                file,
                read,
                _conn: std::marker::PhantomData,
            }),
            None => Err(Error::Backup(
                "SQLite did not give access to the database file (SQLITE_FCNTL_FILE_POINTER)"
                    .into(),
            )),
        }
    }

    #[cfg(target_os = "linux")]
    /// The descriptor SQLite's unix VFS holds for the file, when the connection's VFS is a unix one and
    /// `fstat` shows the descriptor is the file at `db_path` (same device and inode); else `None`. The
    /// descriptor stays open while `conn` is, and is only ever read at explicit offsets, never closed.
    pub(super) fn descriptor(
        &self,
        conn: &Connection,
        db_path: &Path,
    ) -> Option<std::os::raw::c_int> {
        use std::os::unix::fs::MetadataExt;
        // The connection's VFS stays registered while the connection is open.
        let vfs = pointer_of::<ffi::sqlite3_vfs>(conn, ffi::SQLITE_FCNTL_VFS_POINTER);
        // SAFETY: a non-null VFS from SQLite is a valid sqlite3_vfs whose name is a C string.
        let vfs = unsafe { vfs.as_ref() }?;
        let unix = !vfs.zName.is_null()
            // SAFETY: as above.
            && unsafe { std::ffi::CStr::from_ptr(vfs.zName) }
                .to_bytes()
                .starts_with(b"unix");
        let big_enough = usize::try_from(vfs.szOsFile)
            .is_ok_and(|size| size >= std::mem::size_of::<UnixFileHead>());
        if !unix || !big_enough {
            return None;
        }
        // SAFETY: a unix VFS allocates `szOsFile` bytes for each file, at least a `UnixFileHead`, and
        // `self.file` is one of them, open while `conn` is; reading an integer from it is in bounds.
        let fd = unsafe { (*self.file.cast::<UnixFileHead>()).h };
        let ours = std::fs::metadata(db_path).ok()?;
        // SAFETY: `fstat` writes into the zeroed struct it is given; any integer is a valid argument.
        let mut stat: libc::stat = unsafe { std::mem::zeroed() };
        let found = unsafe { libc::fstat(fd, &mut stat) } == 0;
        (found && stat.st_dev as u64 == ours.dev() && stat.st_ino as u64 == ours.ino())
            .then_some(fd)
    }

    /// Fills `buffer` from `offset`: every byte there must exist (a short read is an error).
    pub(super) fn read_at(&mut self, buffer: &mut [u8], offset: u64) -> Result<(), Error> {
        let (Ok(len), Ok(at)) = (i32::try_from(buffer.len()), i64::try_from(offset)) else {
            return Err(Error::Backup(
                "a read beyond what SQLite can address".into(),
            ));
        };
        // SAFETY: `buffer` is valid for `len` bytes; the file is open (see `of`), and only this thread
        // uses the connection while the copy runs.
        let rc = unsafe { (self.read)(self.file, buffer.as_mut_ptr().cast(), len, at) };
        if rc == ffi::SQLITE_OK {
            Ok(())
        } else {
            Err(Error::Backup(format!(
                "reading the database file at byte {offset} failed (SQLite error code {rc})"
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};
    use std::time::{Duration, Instant};

    use rusqlite::Connection;

    use super::*;
    use crate::engine::sqlite::Sqlite;
    use crate::engine::Engine;

    /// A database of about `mb` MB in rollback journal mode: a table with an index, so the copy spans
    /// many chunks and quick_check has b-trees to walk.
    fn database(dir: &Path, mb: usize) -> PathBuf {
        let path = dir.join("app.db");
        let conn = Connection::open(&path).unwrap();
        let rows = mb * 1024 * 1024 / 300;
        conn.execute_batch(&format!(
            "CREATE TABLE notes (id INTEGER PRIMARY KEY, title TEXT NOT NULL, body TEXT);
             CREATE INDEX notes_title ON notes (title);
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {rows})
             INSERT INTO notes SELECT i, 'note ' || i, hex(randomblob(100)) FROM n;"
        ))
        .unwrap();
        path
    }

    fn backup_into(db: &Path, target: &Path) -> Result<(), Error> {
        let conn = Connection::open(db).unwrap();
        let mut engine = Sqlite::new(&conn);
        let backup = engine.backup().unwrap();
        backup.write_backup(target, Duration::from_secs(5))
    }

    #[test]
    fn the_copy_is_the_file_byte_for_byte_and_the_runs_write_lock_stays_held() {
        let dir = tempfile::tempdir().unwrap();
        let db = database(dir.path(), 3);
        // The run's own connection holds the write lock (as a boot does while it takes the backup).
        let run = Connection::open(&db).unwrap();
        run.execute_batch("BEGIN IMMEDIATE").unwrap();
        let target = dir.path().join("app-before-1.sqlite");
        backup_into(&db, &target).unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), std::fs::read(&db).unwrap());
        // Reading through SQLite's own descriptor closed none of ours: the lock is still there.
        let other = Connection::open(&db).unwrap();
        let refused = other.execute_batch("BEGIN IMMEDIATE").unwrap_err();
        assert!(refused.to_string().contains("locked"), "{refused}");
        run.execute_batch("INSERT INTO notes (title) VALUES ('after'); COMMIT")
            .unwrap();
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".partial"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn on_linux_the_copy_is_made_in_the_kernel_from_sqlites_verified_descriptor() {
        let dir = tempfile::tempdir().unwrap();
        let db = database(dir.path(), 2);
        let conn = Connection::open(&db).unwrap();
        conn.execute_batch("BEGIN; SELECT count(*) FROM notes;")
            .unwrap();
        let file = SqliteFile::of(&conn).unwrap();
        assert!(file.descriptor(&conn, &db).is_some());
        // Another file at the path the descriptor is checked against is not the database file.
        let elsewhere = dir.path().join("elsewhere.db");
        std::fs::copy(&db, &elsewhere).unwrap();
        assert!(file.descriptor(&conn, &elsewhere).is_none());
        let bytes = std::fs::metadata(&db).unwrap().len();
        let partial = dir.path().join("copy.partial");
        std::fs::File::create(&partial).unwrap();
        assert_eq!(
            copy_database_file(&conn, &db, bytes, &partial).unwrap().1,
            Copied::InKernel
        );
        assert_eq!(
            std::fs::read(&partial).unwrap(),
            std::fs::read(&db).unwrap()
        );
    }

    #[test]
    fn a_flipped_byte_a_truncated_or_a_longer_copy_is_caught() {
        let dir = tempfile::tempdir().unwrap();
        let db = database(dir.path(), 3);
        let conn = Connection::open(&db).unwrap();
        conn.execute_batch("BEGIN; SELECT count(*) FROM notes;")
            .unwrap();
        let original = std::fs::read(&db).unwrap();
        let bytes = original.len() as u64;
        let copy = dir.path().join("copy.sqlite");
        let mut file = SqliteFile::of(&conn).unwrap();
        let check = |content: &[u8], file: &mut SqliteFile<'_>| {
            std::fs::write(&copy, content).unwrap();
            let mut out = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(&copy)
                .unwrap();
            compare(file, &mut out, bytes, &copy)
        };
        check(&original, &mut file).unwrap();
        // One bit, in the last chunk (past the first MiB), and in the header.
        for at in [original.len() - 5, 100] {
            let mut flipped = original.clone();
            flipped[at] ^= 0x10;
            let caught = check(&flipped, &mut file).unwrap_err().to_string();
            assert!(
                caught.contains(&format!("differs from the database at byte {at}")),
                "{caught}"
            );
        }
        let caught = check(&original[..original.len() - 4096], &mut file)
            .unwrap_err()
            .to_string();
        assert!(
            caught.contains(&format!("the database {bytes}")),
            "{caught}"
        );
        let mut longer = original.clone();
        longer.extend_from_slice(&[0; 4096]);
        assert!(check(&longer, &mut file).is_err());
    }

    #[test]
    fn a_corrupt_database_gets_no_backup() {
        let dir = tempfile::tempdir().unwrap();
        let db = database(dir.path(), 2);
        // Bytes flipped in the middle of a b-tree page: the file opens, quick_check fails.
        let mut content = std::fs::read(&db).unwrap();
        let middle = content.len() / 2 / 4096 * 4096;
        for b in &mut content[middle + 8..middle + 24] {
            *b ^= 0xff;
        }
        std::fs::write(&db, &content).unwrap();
        let target = dir.path().join("app-before-1.sqlite");
        let refused = backup_into(&db, &target).unwrap_err().to_string();
        assert!(refused.contains("quick_check"), "{refused}");
        assert!(!target.exists());
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["app.db"], "no partial file left");
    }

    /// Environment variable naming the database the child process backs up until it is killed.
    const CHILD_DB: &str = "MIGRATOR_TEST_BACKUP_CHILD_DB";

    /// Run by `a_kill_during_the_backup_leaves_the_database_and_the_backup_dir_consistent` in a child
    /// process: backs the database up again and again (as boots do) until killed.
    #[test]
    #[ignore = "run as a child process by the kill test"]
    fn child_backs_up_until_killed() {
        let Some(db) = std::env::var_os(CHILD_DB).map(PathBuf::from) else {
            return;
        };
        let base = db.with_file_name("backups");
        let dir = crate::backup::database_dir(&base, "app.db", "sqlite:test").unwrap();
        for round in 0.. {
            let target = dir.join(format!(
                "app.db-20260101T0000{round:02}Z-before-{round}.sqlite"
            ));
            // A child started again after a kill goes on from the backups the last one finished.
            if target.exists() {
                continue;
            }
            backup_into(&db, &target).unwrap();
        }
    }

    /// Starts the backing-up child and kills it once a backup is being written (a partial file exists
    /// and has bytes).
    fn kill_the_child_mid_backup(db: &Path, backups: &Path) {
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "engine::sqlite_file_copy::tests::child_backs_up_until_killed",
                "--exact",
                "--ignored",
                "--test-threads=1",
            ])
            .env(CHILD_DB, db)
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let started = Instant::now();
        let partial_written = || {
            std::fs::read_dir(backups)
                .into_iter()
                .flatten()
                .flat_map(|d| std::fs::read_dir(d.unwrap().path()).into_iter().flatten())
                .any(|f| {
                    let f = f.unwrap();
                    f.file_name().to_string_lossy().ends_with(".partial")
                        && f.metadata().is_ok_and(|m| m.len() > 0)
                })
        };
        while !partial_written() {
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "no backup started"
            );
            assert!(child.try_wait().unwrap().is_none(), "the child stopped");
            std::thread::sleep(Duration::from_millis(2));
        }
        child.kill().unwrap();
        child.wait().unwrap();
    }

    #[test]
    fn a_kill_during_the_backup_leaves_the_database_and_the_backup_dir_consistent() {
        let dir = tempfile::tempdir().unwrap();
        let db = database(dir.path(), 24);
        let before = std::fs::read(&db).unwrap();
        let backups = dir.path().join("backups");
        // The kill can land just after the backup seen in progress was renamed into place and before
        // the next one's partial file exists (no orphan then): try again, a few times at most.
        for _ in 0..5 {
            kill_the_child_mid_backup(&db, &backups);
            let own = crate::backup::database_dir(&backups, "app.db", "sqlite:test").unwrap();
            if !crate::backup::orphaned_partials(&own, Duration::ZERO).is_empty() {
                break;
            }
        }

        // The database is untouched and sound.
        assert_eq!(std::fs::read(&db).unwrap(), before);
        let conn = Connection::open(&db).unwrap();
        let verdict: String = conn
            .query_row("PRAGMA quick_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(verdict, "ok");
        // The directory still names its database; every listed backup is whole; the killed one is an
        // orphan that the next prune deletes (once old enough), not a backup.
        let own = crate::backup::database_dir(&backups, "app.db", "sqlite:test").unwrap();
        for listed in crate::backup::list(&own).unwrap() {
            assert_eq!(std::fs::read(&listed.path).unwrap(), before, "{listed:?}");
        }
        let orphans = crate::backup::orphaned_partials(&own, Duration::ZERO);
        assert_eq!(orphans.len(), 1, "{orphans:?}");
        assert!(crate::backup::orphaned_partials(&own, Duration::from_secs(3600)).is_empty());
        let old = std::time::SystemTime::now() - Duration::from_secs(7200);
        std::fs::File::options()
            .write(true)
            .open(&orphans[0])
            .unwrap()
            .set_modified(old)
            .unwrap();
        let deleted = crate::backup::prune(&own, 10).unwrap();
        assert_eq!(deleted, orphans);
        let target = own.join("app.db-20260102T000000Z-before-2.sqlite");
        backup_into(&db, &target).unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), before);
    }
}
