//! PostgreSQL's backups and scratch copies (capabilities of [`Postgres`]): `pg_dump --format=custom`,
//! checked with `pg_restore --list`; restores and scratch copies through a plain script that `psql`
//! replays in one transaction. The password reaches the client programs through `PGPASSWORD` in their
//! environment, never their command line.
//!
//! pg_dump's scripts run with an empty `search_path` (a defence against hostile schemas). A generated
//! column or an index whose expression calls a SQL function that names a type or table without its schema
//! cannot be restored that way, although the database itself works: the script is therefore replayed with
//! the search_path the source database had when it was dumped.

use std::path::{Path, PathBuf};
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};
use tracing::{info, warn};

use super::postgres::{db_error, query_rows, Postgres};
use super::{run_client, Backup, CopyFrom, Engine, ScratchCopy};
use crate::Error;

/// The line pg_dump puts first in every script; replaced by the source's search_path when replayed.
const EMPTY_SEARCH_PATH: &str = "SELECT pg_catalog.set_config('search_path', '', false);";

impl Postgres<'_> {
    /// The URL without its password, and the environment that carries the password.
    fn client_target(&self) -> Result<(String, Vec<(String, String)>), Error> {
        let url = self.url().ok_or_else(|| {
            Error::Backup(
                "backups and scratch copies need a Postgres engine made from a database URL".into(),
            )
        })?;
        let (bare, password) = crate::redact::split_password(url);
        let env = password
            .map(|p| vec![("PGPASSWORD".to_string(), p)])
            .unwrap_or_default();
        Ok((bare, env))
    }

    fn current_database(&mut self) -> Result<String, Error> {
        query_rows(self.conn, "SELECT current_database()::text")
            .ok()
            .and_then(|rows| rows.first()?.first()?.as_text())
            .ok_or_else(|| Error::Backup("cannot read the database's name".into()))
    }

    /// The search_path sessions of this database get, as a `set_config` line for a restore script.
    fn search_path_line(&mut self) -> String {
        let path = query_rows(self.conn, "SELECT current_setting('search_path')")
            .ok()
            .and_then(|rows| rows.first()?.first()?.as_text())
            .unwrap_or_else(|| "\"$user\", public".to_string());
        format!(
            "SELECT pg_catalog.set_config('search_path', {}, false);",
            super::postgres::DIALECT.literal(&path)
        )
    }

    /// Turns an archive into a script in a private temporary directory, with the search_path fixed, and
    /// replays it into `target_url` in one transaction after `prelude`. Nothing runs unless pg_restore read
    /// the whole archive.
    fn replay(
        &mut self,
        archive: &Path,
        target_url: &str,
        prelude: &str,
        flags: &[&str],
    ) -> Result<(), Error> {
        let (_, env) = self.client_target()?;
        let (target_bare, _) = crate::redact::split_password(target_url);
        let workdir = private_temp_dir()?;
        let script = workdir.join("restore.sql");
        let script_text = script.to_string_lossy().into_owned();
        let archive_text = archive.to_string_lossy().into_owned();
        let mut args = vec!["--no-owner", "--file", &script_text];
        args.extend_from_slice(flags);
        args.push(&archive_text);
        let result = (|| {
            run_client("pg_restore", &args, &env)?.ok_or_else(|| {
                Error::Backup(
                    "pg_restore is not installed (it comes with the PostgreSQL client)".into(),
                )
            })?;
            let text = std::fs::read_to_string(&script)
                .map_err(|e| crate::backup::io_error("reading", &script, e))?;
            let fixed = text.replace(EMPTY_SEARCH_PATH, &self.search_path_line());
            std::fs::write(&script, fixed)
                .map_err(|e| crate::backup::io_error("writing", &script, e))?;
            run_client(
                "psql",
                &[
                    "-X",
                    "--quiet",
                    "-v",
                    "ON_ERROR_STOP=1",
                    "--single-transaction",
                    "--dbname",
                    &target_bare,
                    "-c",
                    prelude,
                    "-f",
                    &script_text,
                ],
                &env,
            )?
            .ok_or_else(|| {
                Error::Backup("psql is not installed (it comes with the PostgreSQL client)".into())
            })
        })();
        let _ = std::fs::remove_dir_all(&workdir);
        result.map(|_| ())
    }

    /// Drops a database (a scratch copy), disconnecting what is left connected to it.
    fn drop_database(&mut self, quoted: &str) -> Result<(), Error> {
        // WITH (FORCE) is PostgreSQL 13+; older servers get the plain form.
        self.conn
            .batch_execute(&format!("DROP DATABASE IF EXISTS {quoted} WITH (FORCE)"))
            .or_else(|_| {
                self.conn
                    .batch_execute(&format!("DROP DATABASE IF EXISTS {quoted}"))
            })
            .map_err(|e| Error::Database {
                context: "dropping the scratch database".into(),
                source: db_error(e),
            })
    }

    /// Creates the scratch database `<database>_rehearsal`, restores `archive` into it (a dump made now
    /// when `None`), runs `run` on it, and drops it on every path.
    fn on_scratch_database(
        &mut self,
        from: CopyFrom<'_>,
        run: &mut dyn FnMut(&mut dyn Engine) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let url = self.url().map(str::to_string).unwrap_or_default();
        let name = scratch_database_name(&self.current_database()?);
        let scratch_url = url_with_database(&url, &name).ok_or_else(|| {
            Error::Backup(format!(
                "cannot point the database URL at a scratch database ({})",
                crate::redact::mask_url(&url)
            ))
        })?;
        let quoted = format!("\"{}\"", name.replace('"', "\"\""));
        self.drop_database(&quoted)?;
        self.conn
            .batch_execute(&format!("CREATE DATABASE {quoted} TEMPLATE template0"))
            .map_err(|e| Error::Backup(format!(
                "the rehearsal needs a scratch database and this role cannot create one ({}); grant CREATEDB to the migrating role, or turn require_test_run off",
                db_error(e)
            )))?;
        info!(database = %name, "scratch database created");
        let result = (|| {
            let made_now;
            let source = match from {
                CopyFrom::Empty => return self.run_on(&scratch_url, run),
                CopyFrom::Backup(path) => path,
                CopyFrom::Current => {
                    let dir = private_temp_dir()?;
                    made_now = dir.join("scratch.pgdump");
                    let written = self.write_backup(&made_now, Duration::from_secs(5));
                    if let Err(e) = written {
                        let _ = std::fs::remove_dir_all(&dir);
                        return Err(e);
                    }
                    &made_now
                }
            };
            let restored = self.replay(
                source,
                &scratch_url,
                "SET client_min_messages = warning",
                &["--no-acl"],
            );
            if matches!(from, CopyFrom::Current) {
                let _ = source.parent().map(std::fs::remove_dir_all);
            }
            restored.map_err(|e| {
                Error::Backup(format!(
                    "the scratch copy for the rehearsal (require_test_run) could not be made: {e}"
                ))
            })?;
            let mut conn = PgConnection::establish(&scratch_url).map_err(|e| {
                Error::Backup(format!(
                    "connecting to the scratch database: {}",
                    crate::redact::url_in(&e.to_string(), &scratch_url)
                ))
            })?;
            let mut scratch = Postgres::new(&mut conn, scratch_url.clone());
            run(&mut scratch)
        })();
        if let Err(e) = self.drop_database(&quoted) {
            warn!(database = %name, error = %e, "the scratch database could not be dropped");
        }
        result
    }
}

impl Postgres<'_> {
    /// Runs `run` on an engine over the database of `url`.
    fn run_on(
        &self,
        url: &str,
        run: &mut dyn FnMut(&mut dyn Engine) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let mut conn = PgConnection::establish(url).map_err(|e| {
            Error::Backup(format!(
                "connecting to the scratch database: {}",
                crate::redact::url_in(&e.to_string(), url)
            ))
        })?;
        let mut scratch = Postgres::new(&mut conn, url.to_string());
        run(&mut scratch)
    }
}

impl Backup for Postgres<'_> {
    fn identity(&mut self) -> Result<String, Error> {
        let rows = query_rows(
            self.conn,
            "SELECT (SELECT system_identifier::text FROM pg_control_system()) || '/' || d.oid::text || '/' || d.datname::text
             FROM pg_database d WHERE d.datname = current_database()",
        )
        .map_err(|e| Error::Database { context: "reading the database's identity".into(), source: e })?;
        rows.first()
            .and_then(|r| r.first()?.as_text())
            .map(|id| format!("postgres:{id}"))
            .ok_or_else(|| Error::Backup("cannot read the database's identity".into()))
    }

    fn stem(&self) -> String {
        self.url()
            .and_then(|url| {
                url.split('?')
                    .next()?
                    .rsplit('/')
                    .next()
                    .map(str::to_string)
            })
            .filter(|s| !s.is_empty() && !s.contains('@'))
            .unwrap_or_else(|| "postgres".to_string())
    }

    fn extension(&self) -> &'static str {
        "pgdump"
    }

    fn default_dir(&self) -> Option<PathBuf> {
        crate::backup::user_data_dir()
    }

    fn write_backup(&mut self, target: &Path, lock_timeout: Duration) -> Result<(), Error> {
        let (bare, env) = self.client_target()?;
        let partial = crate::backup::partial_path(target);
        // Created owner-only before pg_dump writes into it.
        drop(crate::backup::create_private_file(&partial)?);
        let partial_text = partial.to_string_lossy().into_owned();
        // pg_dump takes ACCESS SHARE on every table: it must not queue behind a held lock for longer than a
        // migration would.
        let lock_wait = format!("--lock-wait-timeout={}", lock_timeout.as_millis().max(1));
        let result = (|| {
            match run_client("pg_dump", &["--format=custom", &lock_wait, "--file", &partial_text, "--dbname", &bare], &env) {
                Ok(Some(_)) => {}
                Ok(None) => return Err(Error::Backup("pg_dump is not installed (it comes with the PostgreSQL client); put it on PATH, or turn require_backup off".into())),
                Err(Error::Backup(m)) if m.contains("could not obtain lock") || m.contains("lock timeout") => {
                    return Err(Error::Backup(format!("pg_dump waited longer than max_lock_duration ({} ms) for a table lock another session holds: {m}", lock_timeout.as_millis())));
                }
                Err(e) => return Err(e),
            }
            run_client("pg_restore", &["--list", &partial_text], &env)?;
            crate::backup::finish(&partial, target)
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&partial);
        }
        result.map_err(|e| match e {
            Error::Backup(m) => Error::Backup(format!(
                "the backup could not be made: {}",
                crate::redact::url_in(&m, &bare)
            )),
            other => other,
        })
    }

    fn restore(&mut self, backup: &Path) -> Result<(), Error> {
        let url = self.url().map(str::to_string).ok_or_else(|| {
            Error::Usage("restoring needs a Postgres engine made from a database URL".to_string())
        })?;
        // Replace, not merge: every user schema is dropped and the archive replayed, in one psql
        // transaction, so a failure leaves the database as it was.
        let schemas = query_rows(
            self.conn,
            "SELECT nspname::text FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema'",
        )
        .map_err(|e| Error::Database { context: "listing schemas".into(), source: e })?;
        let mut reset: String = schemas
            .iter()
            .filter_map(|r| r.first()?.as_text())
            .map(|s| format!("DROP SCHEMA \"{}\" CASCADE; ", s.replace('"', "\"\"")))
            .collect();
        reset.push_str("CREATE SCHEMA IF NOT EXISTS public;");
        self.replay(backup, &url, &reset, &[]).map_err(|e| match e {
            Error::Backup(message) => Error::Backup(format!(
                "restoring {} failed, the database is unchanged: {message}",
                backup.display()
            )),
            other => other,
        })
    }
}

impl ScratchCopy for Postgres<'_> {
    fn with_scratch_copy(
        &mut self,
        from: CopyFrom<'_>,
        run: &mut dyn FnMut(&mut dyn Engine) -> Result<(), Error>,
    ) -> Result<(), Error> {
        self.on_scratch_database(from, run)
    }
}

/// A new directory only this user can enter, for scripts and dumps that must not be swapped or read.
fn private_temp_dir() -> Result<PathBuf, Error> {
    let base = std::env::temp_dir();
    for attempt in 0..100u32 {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir = base.join(format!("migrator-{}-{nanos}-{attempt}", std::process::id()));
        let mut builder = std::fs::DirBuilder::new();
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        match builder.create(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                return Err(crate::backup::io_error(
                    "creating a private directory in",
                    &base,
                    e,
                ))
            }
        }
    }
    Err(Error::Backup(format!(
        "cannot create a private directory in {}",
        base.display()
    )))
}

/// The scratch database of a rehearsal: `<database>_rehearsal`, within PostgreSQL's 63-byte names.
fn scratch_database_name(database: &str) -> String {
    const SUFFIX: &str = "_rehearsal";
    let mut keep = database.len().min(63 - SUFFIX.len());
    while !database.is_char_boundary(keep) {
        keep -= 1;
    }
    format!("{}{SUFFIX}", &database[..keep])
}

/// `url` pointing at another database: the path of a `postgres://` URL is replaced (percent-encoded), a
/// keyword/value connection string gets a `dbname` that overrides its own. `None` for other forms.
pub(super) fn url_with_database(url: &str, database: &str) -> Option<String> {
    let encoded: String = database
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect();
    for scheme in ["postgres://", "postgresql://"] {
        if let Some(rest) = url.strip_prefix(scheme) {
            let (before_query, query) = match rest.split_once('?') {
                Some((head, query)) => (head, Some(query)),
                None => (rest, None),
            };
            let authority = before_query.split('/').next().unwrap_or_default();
            let mut out = format!("{scheme}{authority}/{encoded}");
            if let Some(query) = query {
                out.push('?');
                out.push_str(query);
            }
            return Some(out);
        }
    }
    if url.contains('=') {
        let quoted = database.replace('\\', "\\\\").replace('\'', "\\'");
        return Some(format!("{url} dbname='{quoted}'"));
    }
    None
}
