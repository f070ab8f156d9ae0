//! MySQL's backups and scratch databases (capabilities of [`MySql`]): `mysqldump` (or `mariadb-dump`) with
//! `--single-transaction`, replayed by the `mysql` client. The password reaches the client programs through
//! `MYSQL_PWD` in their environment, never their command line.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tracing::warn;

use super::mysql::{connect, context, MySql, DIALECT};
use super::{run_client, Backup, CopyFrom, Engine, ScratchCopy};
use crate::Error;

impl MySql<'_> {
    /// `--host`, `--port`, `--user`, the database, and `MYSQL_PWD` for the client programs.
    fn client_args(&self) -> (Vec<String>, String, Vec<(String, String)>) {
        let (bare, password) = crate::redact::split_password(&self.url);
        let rest = bare.split_once("://").map_or(bare.as_str(), |(_, r)| r);
        let rest = rest.split('?').next().unwrap_or_default();
        let (authority, database) = rest.split_once('/').unwrap_or((rest, ""));
        let (user, host) = authority.rsplit_once('@').unwrap_or(("root", authority));
        let (host, port) = host.split_once(':').unwrap_or((host, "3306"));
        let args = vec![
            format!("--host={host}"),
            format!("--port={port}"),
            format!("--user={user}"),
            "--protocol=tcp".into(),
        ];
        let env = password
            .map(|p| vec![("MYSQL_PWD".to_string(), p)])
            .unwrap_or_default();
        (args, database.to_string(), env)
    }

    fn url_for(&self, database: &str) -> String {
        let (head, query) = self
            .url
            .split_once('?')
            .map_or((self.url.as_str(), None), |(h, q)| (h, Some(q)));
        let base = head.rsplit_once('/').map_or(head, |(b, _)| b);
        format!(
            "{base}/{database}{}",
            query.map(|q| format!("?{q}")).unwrap_or_default()
        )
    }

    fn dump(&self, target: &Path) -> Result<(), Error> {
        let (mut args, database, env) = self.client_args();
        args.extend(
            [
                "--single-transaction",
                "--routines",
                "--triggers",
                "--skip-lock-tables",
                "--no-tablespaces",
            ]
            .map(String::from),
        );
        args.push(format!("--result-file={}", target.display()));
        args.push(database);
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let program = if run_client("mariadb-dump", &["--version"], &[])?.is_some() {
            "mariadb-dump"
        } else {
            "mysqldump"
        };
        run_client(program, &argv, &env)?
            .ok_or_else(|| {
                Error::Backup(
                    "mysqldump is not installed; put it on PATH, or turn require_backup off".into(),
                )
            })
            .map(|_| ())
    }

    fn load(&self, dump: &Path, database: &str) -> Result<(), Error> {
        let (mut args, _, env) = self.client_args();
        args.push(format!("--database={database}"));
        args.push(format!("--execute=SOURCE {}", dump.display()));
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let program = if run_client("mariadb", &["--version"], &[])?.is_some() {
            "mariadb"
        } else {
            "mysql"
        };
        run_client(program, &argv, &env)?
            .ok_or_else(|| Error::Backup("the mysql client is not installed".into()))
            .map(|_| ())
    }
}

impl Backup for MySql<'_> {
    fn identity(&mut self) -> Result<String, Error> {
        self.text(
            "SELECT CONCAT('mysql:', @@hostname, ':', @@port, '/', @@server_id, '/', DATABASE())",
        )
        .ok_or_else(|| Error::Backup("cannot read the database's identity".into()))
    }

    fn stem(&self) -> String {
        let (_, database, _) = self.client_args();
        if database.is_empty() {
            "mysql".into()
        } else {
            database
        }
    }

    fn extension(&self) -> &'static str {
        "mysql.sql"
    }

    fn default_dir(&self) -> Option<PathBuf> {
        crate::backup::user_data_dir()
    }

    fn write_backup(&mut self, target: &Path, _lock_timeout: Duration) -> Result<(), Error> {
        let partial = crate::backup::partial_path(target);
        drop(crate::backup::create_private_file(&partial)?);
        let result = self
            .dump(&partial)
            .and_then(|()| crate::backup::finish(&partial, target));
        if result.is_err() {
            let _ = std::fs::remove_file(&partial);
        }
        result
    }

    /// Not atomic (DDL commits implicitly): every table, view and routine is dropped, then the dump is
    /// replayed. The safety backup taken before a restore is what undoes a failed one.
    fn restore(&mut self, backup: &Path) -> Result<(), Error> {
        // Nothing is dropped unless the file is a complete dump.
        let text =
            std::fs::read(backup).map_err(|e| crate::backup::io_error("reading", backup, e))?;
        let head = String::from_utf8_lossy(&text[..text.len().min(400)]).into_owned();
        let tail = String::from_utf8_lossy(&text[text.len().saturating_sub(200)..]).into_owned();
        if !(head.contains("-- MySQL dump") || head.contains("-- MariaDB dump"))
            || !tail.contains("-- Dump completed")
        {
            return Err(Error::Backup(format!(
                "{} is not a complete mysqldump file; the database is unchanged",
                backup.display()
            )));
        }
        let drops: Vec<String> = self
            .rows("SELECT CONCAT(IF(table_type = 'VIEW', 'DROP VIEW IF EXISTS `', 'DROP TABLE IF EXISTS `'), REPLACE(table_name, '`', '``'), '`') FROM information_schema.tables WHERE table_schema = DATABASE()")
            .map_err(|e| context("listing the tables to restore over", e))?
            .iter()
            .filter_map(|r| r.first()?.as_text())
            .collect();
        let reset = format!(
            "SET FOREIGN_KEY_CHECKS = 0; {}; SET FOREIGN_KEY_CHECKS = 1",
            drops.join("; ")
        );
        if !drops.is_empty() {
            self.execute(&reset)
                .map_err(|e| context("clearing the database before the restore", e))?;
        }
        let (_, database, _) = self.client_args();
        self.load(backup, &database).map_err(|e| Error::Backup(format!("restoring {} failed part way (MySQL cannot restore atomically); restore the safety backup: {e}", backup.display())))
    }
}

impl ScratchCopy for MySql<'_> {
    fn with_scratch_copy(
        &mut self,
        from: CopyFrom<'_>,
        run: &mut dyn FnMut(&mut dyn Engine) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let (_, database, _) = self.client_args();
        let scratch = format!("{}_rehearsal", &database[..database.len().min(54)]);
        let quoted = DIALECT.ident(&scratch);
        self.execute(&format!("DROP DATABASE IF EXISTS {quoted}; CREATE DATABASE {quoted}"))
            .map_err(|e| Error::Backup(format!("the rehearsal needs a scratch database and this user cannot create one ({e}); grant CREATE, or turn require_test_run off")))?;
        let result = (|| {
            // A name of this call's own: two rehearsals of one process (threads) must not share it.
            static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
            let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let made_now = std::env::temp_dir().join(format!(
                "migrator-scratch-{}-{call}.sql",
                std::process::id()
            ));
            let dump = match from {
                CopyFrom::Backup(path) => Some(path.to_path_buf()),
                CopyFrom::Empty => None,
                CopyFrom::Current => {
                    let _ = std::fs::remove_file(&made_now);
                    drop(crate::backup::create_private_file(&made_now)?);
                    let dumped = self.dump(&made_now);
                    if dumped.is_err() {
                        let _ = std::fs::remove_file(&made_now);
                    }
                    dumped?;
                    Some(made_now.clone())
                }
            };
            if let Some(dump) = dump {
                let loaded = self.load(&dump, &scratch);
                if dump == made_now {
                    let _ = std::fs::remove_file(&made_now);
                }
                loaded?;
            }
            let url = self.url_for(&scratch);
            let mut conn = connect(&url).map_err(|e| {
                Error::Backup(format!(
                    "connecting to the scratch database: {}",
                    crate::redact::url_in(&e.to_string(), &url)
                ))
            })?;
            run(&mut MySql::new(&mut conn, url))
        })();
        if let Err(e) = self.execute(&format!("DROP DATABASE IF EXISTS {quoted}")) {
            warn!(error = %e, "the scratch database could not be dropped");
        }
        result
    }
}
