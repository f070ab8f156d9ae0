//! Async hosts (feature `tokio`): the boot, admin actions and backfills called from tokio tasks.
//!
//! ```ignore
//! static MIGRATIONS: MigrationSet = embed_migrations!("migrations");
//!
//! let config = Config { backfill: BackfillMode::Background, ..Config::default() };
//! let migrator = AsyncMigrator::new(Migrator::new(&MIGRATIONS).with_config(config));
//! let booted = migrator.boot(Url::new("postgres://app@db/crm")).await?;
//! // serve requests; the backfill runs meanwhile, then the migrations that waited for it
//! let report = booted.backfill.expect("a backfill").wait().await?;
//! ```
//!
//! **Why `spawn_blocking`.** The engines are synchronous (rusqlite; diesel's `PgConnection` and
//! `MysqlConnection`), and a boot is a handful of blocking round trips, file copies (backups) and sleeps
//! (lock polling, throttled batches). Each call here runs that work on tokio's blocking pool, so the
//! runtime's worker threads keep serving while a boot waits for a lock or a backfill sleeps between
//! batches. An async driver for each engine would duplicate every engine for no gain in throughput: the
//! migration lock lets one process migrate at a time anyway.
//!
//! **Cancellation.** A future of this module that is dropped (a `select!`, a timeout, a shutdown) asks
//! the blocking work to stop at its next safe point: before the next migration, between two backfill
//! batches. What is running when it is dropped (one migration's transaction, one batch) completes or rolls
//! back as a unit, the lock is released by its guard, and the next boot finds every migration either
//! applied or pending, never half applied. Nothing is killed mid-transaction: tokio cannot interrupt a
//! blocking thread, and a migration must not be interrupted anyway.
//!
//! **Connections.** Each call opens what it needs through a [`Connect`]: a [`Url`] (a new connection per
//! call, the usual choice: the boot also opens its own lock connection), an SQLite connection the host
//! shares (`Arc<Mutex<rusqlite::Connection>>`), or the host's own pool through [`FromFn`] (an r2d2 or
//! deadpool-diesel `PgConnection`: `Postgres::new(&mut conn, url)`). Connections of async drivers (sqlx,
//! tokio-postgres) cannot carry the engines.

use std::sync::{Arc, Mutex};

use tokio::task::JoinHandle;

use crate::backfill::{BackfillMode, Progress, Stop};
use crate::connect::{Create, Database};
use crate::{Config, Engine, Error, Migrator, Report};

/// The work a [`Connect`] runs with an engine.
pub type Work<'a> = dyn FnMut(&mut dyn Engine) -> Result<(), Error> + 'a;

/// Where the blocking thread of a call gets its engine.
pub trait Connect: Send + Sync + 'static {
    /// Runs `work` once with an engine over a connection of this source, on the calling (blocking)
    /// thread, and returns its result.
    fn with_engine(&self, work: &mut Work<'_>) -> Result<(), Error>;
}

/// A database URL (`sqlite:PATH`, `postgres://...`, `mysql://...`): every call opens a connection of its
/// own and closes it after. Its `Debug` masks the password.
#[derive(Clone)]
pub struct Url(String);

impl Url {
    /// The URL (a missing SQLite file is created).
    pub fn new(url: impl Into<String>) -> Self {
        Url(url.into())
    }
}

impl std::fmt::Debug for Url {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Url")
            .field(&crate::redact::mask_url(&self.0))
            .finish()
    }
}

impl Connect for Url {
    fn with_engine(&self, work: &mut Work<'_>) -> Result<(), Error> {
        let mut db = Database::open(&self.0, Create::Yes)?;
        db.with_engine(|engine| work(engine))
    }
}

/// An SQLite connection the host shares with its request handlers: a call holds the mutex for its
/// duration (SQLite has one writer anyway).
#[cfg(feature = "sqlite")]
impl Connect for Arc<Mutex<rusqlite::Connection>> {
    fn with_engine(&self, work: &mut Work<'_>) -> Result<(), Error> {
        let conn = self
            .lock()
            .map_err(|_| Error::Usage("the shared SQLite connection's mutex is poisoned (a thread panicked while holding it)".to_string()))?;
        let mut engine = crate::Sqlite::new(&conn);
        work(&mut engine)
    }
}

/// The host's own source of connections, as a closure that gets a connection (from its pool), wraps it
/// in an engine and runs the work:
///
/// ```ignore
/// let pool = r2d2::Pool::new(ConnectionManager::<PgConnection>::new(&url))?;
/// let connect = FromFn(move |work: &mut Work<'_>| {
///     let mut conn = pool.get().map_err(|e| Error::Usage(e.to_string()))?;
///     work(&mut Postgres::new(&mut conn, url.clone()))
/// });
/// ```
pub struct FromFn<F>(pub F);

impl<F> Connect for FromFn<F>
where
    F: Fn(&mut Work<'_>) -> Result<(), Error> + Send + Sync + 'static,
{
    fn with_engine(&self, work: &mut Work<'_>) -> Result<(), Error> {
        (self.0)(work)
    }
}

/// Sets its flag when dropped before it is disarmed: the drop of a call's future.
struct StopOnDrop(Option<Stop>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        if let Some(stop) = self.0.take() {
            stop.stop();
        }
    }
}

/// A [`Migrator`] for async code: every method runs the synchronous runtime on tokio's blocking pool.
/// Cheap to clone.
#[derive(Clone)]
pub struct AsyncMigrator {
    migrator: Arc<Migrator<'static>>,
}

/// What [`AsyncMigrator::boot`] returns: the boot's report and, when the boot started a backfill in
/// [`BackfillMode::Background`], the task that runs it (and then the migrations that wait for it).
#[derive(Debug)]
pub struct Booted {
    /// The boot's report.
    pub report: Report,
    /// The background backfill, when one was started or found under way.
    pub backfill: Option<BackfillTask>,
}

impl AsyncMigrator {
    /// Wraps a migrator over a `'static` set (`embed_migrations!`, or a loaded set leaked with
    /// `Box::leak`).
    pub fn new(migrator: Migrator<'static>) -> Self {
        Self {
            migrator: Arc::new(migrator),
        }
    }

    /// The synchronous migrator inside.
    pub fn migrator(&self) -> &Migrator<'static> {
        &self.migrator
    }

    /// A copy of the migrator whose runs stop with `stop` (or the configuration's own stop flag).
    fn with_stop(&self, stop: Stop) -> Migrator<'static> {
        let config = Config {
            stop,
            ..self.migrator.config().clone()
        };
        Migrator::new(self.migrator.set()).with_config(config)
    }

    /// Runs `work` with the migrator and an engine of `connect` on the blocking pool. Dropping the
    /// returned future asks the work to stop at its next safe point (see the module's notes).
    pub async fn run<C, R, F>(&self, connect: C, work: F) -> Result<R, Error>
    where
        C: Connect,
        R: Send + 'static,
        F: FnOnce(&Migrator<'static>, &mut dyn Engine) -> Result<R, Error> + Send + 'static,
    {
        self.run_shared(Arc::new(connect), work).await
    }

    async fn run_shared<C, R, F>(&self, connect: Arc<C>, work: F) -> Result<R, Error>
    where
        C: Connect,
        R: Send + 'static,
        F: FnOnce(&Migrator<'static>, &mut dyn Engine) -> Result<R, Error> + Send + 'static,
    {
        let stop = self.migrator.config().stop.child();
        let mut on_drop = StopOnDrop(Some(stop.clone()));
        let migrator = self.with_stop(stop);
        let handle = tokio::task::spawn_blocking(move || {
            let mut work = Some(work);
            let mut out = None;
            connect.with_engine(&mut |engine| {
                let work = work.take().ok_or_else(|| {
                    Error::Usage("the connection source ran the work twice".to_string())
                })?;
                out = Some(work(&migrator, engine)?);
                Ok(())
            })?;
            out.ok_or_else(|| {
                Error::Usage("the connection source did not run the work".to_string())
            })
        });
        let result = join(handle).await;
        on_drop.0 = None;
        result
    }

    /// The boot ([`Migrator::boot`]) on the blocking pool. With [`BackfillMode::Background`], a backfill
    /// the boot started (or found under way) runs in a [`BackfillTask`] over connections of the same
    /// source; the migrations after it are applied by that task when the backfill is done.
    pub async fn boot<C: Connect>(&self, connect: C) -> Result<Booted, Error> {
        let connect = Arc::new(connect);
        let report = self
            .run_shared(connect.clone(), |m, engine| m.boot(engine))
            .await?;
        let running = report
            .steps
            .iter()
            .any(|s| s.outcome == crate::Outcome::BackfillRunning);
        let backfill = (running && self.migrator.config().backfill == BackfillMode::Background)
            .then(|| self.spawn_backfill_shared(connect));
        Ok(Booted { report, backfill })
    }

    /// [`Migrator::backfill`] (run the pending backfills and what waits for them) in a task of its own;
    /// its progress is readable while it runs.
    pub fn spawn_backfill<C: Connect>(&self, connect: C) -> BackfillTask {
        self.spawn_backfill_shared(Arc::new(connect))
    }

    fn spawn_backfill_shared<C: Connect>(&self, connect: Arc<C>) -> BackfillTask {
        let stop = self.migrator.config().stop.child();
        let migrator = self.with_stop(stop.clone());
        let progress = Arc::new(Mutex::new(None));
        let latest = progress.clone();
        let handle = tokio::task::spawn_blocking(move || {
            let mut out = None;
            connect.with_engine(&mut |engine| {
                let report = migrator.backfill(engine, &mut |p| {
                    if let Ok(mut slot) = latest.lock() {
                        *slot = Some(p.clone());
                    }
                })?;
                out = Some(report);
                Ok(())
            })?;
            out.ok_or_else(|| {
                Error::Usage("the connection source did not run the work".to_string())
            })
        });
        BackfillTask {
            handle: Some(handle),
            stop,
            progress,
        }
    }

    /// An admin command ([`crate::admin::run`]) on the blocking pool; returns what it printed.
    pub async fn admin<C: Connect>(
        &self,
        connect: C,
        command: crate::admin::AdminCommand,
    ) -> Result<String, Error> {
        self.run(connect, move |m, engine| {
            let mut out = Vec::new();
            crate::admin::run(m, engine, &command, &mut out)?;
            Ok(String::from_utf8_lossy(&out).into_owned())
        })
        .await
    }

    /// The admin flags of a host's arguments ([`crate::admin::main`]): `None` when there is no
    /// `--migrate-` flag (the host goes on); otherwise the action runs on the blocking pool, prints to
    /// stdout (errors to stderr) and the exit code is returned.
    pub async fn admin_main<C, I, S>(&self, connect: C, args: I) -> Option<i32>
    where
        C: Connect,
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let command = match crate::admin::parse(args) {
            Ok(None) => return None,
            Ok(Some(command)) => command,
            Err(e) => {
                eprintln!("error: {e}");
                return Some(e.exit_code());
            }
        };
        let result = self
            .run(connect, move |m, engine| {
                crate::admin::run(m, engine, &command, &mut std::io::stdout())
            })
            .await;
        Some(match result {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("error: {e}");
                e.exit_code()
            }
        })
    }
}

/// A backfill running on the blocking pool ([`AsyncMigrator::spawn_backfill`], or started by a boot in
/// [`BackfillMode::Background`]). Dropping it stops the backfill at its next batch (every committed
/// batch stays; the next run resumes at the cursor); [`BackfillTask::detach`] lets it run on unattended.
#[must_use = "dropping a BackfillTask stops the backfill at its next batch; call .wait().await or .detach()"]
#[derive(Debug)]
pub struct BackfillTask {
    handle: Option<JoinHandle<Result<Report, Error>>>,
    stop: Stop,
    progress: Arc<Mutex<Option<Progress>>>,
}

impl BackfillTask {
    /// The progress after the latest batch (`None` before the first).
    pub fn progress(&self) -> Option<Progress> {
        self.progress.lock().ok().and_then(|p| p.clone())
    }

    /// `true` once the backfill (and what waited for it) is done, failed or stopped.
    pub fn is_finished(&self) -> bool {
        self.handle.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// Waits for the end: the report of the backfills and the migrations applied after them.
    pub async fn wait(mut self) -> Result<Report, Error> {
        let Some(handle) = self.handle.as_mut() else {
            return Err(Error::Usage(
                "the backfill task was already waited for".to_string(),
            ));
        };
        // The handle stays in `self` while awaited: a dropped `wait` stops the backfill too.
        let result = join(handle).await;
        self.handle = None;
        result
    }

    /// Stops the backfill at its next batch and waits for it: [`Error::Stopped`] when it stopped, the
    /// report when it had finished anyway.
    pub async fn stop(self) -> Result<Report, Error> {
        self.stop.stop();
        self.wait().await
    }

    /// Lets the backfill run on after this handle is dropped.
    pub fn detach(mut self) {
        self.handle = None;
    }
}

impl Drop for BackfillTask {
    fn drop(&mut self) {
        if self.handle.is_some() {
            self.stop.stop();
        }
    }
}

/// The result of a blocking task; a panic in it is resumed here, as the synchronous call would have.
async fn join<R, H>(handle: H) -> Result<R, Error>
where
    H: std::future::Future<Output = Result<Result<R, Error>, tokio::task::JoinError>>,
{
    match handle.await {
        Ok(result) => result,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => Err(Error::Stopped(
            "the migration task was cancelled (the tokio runtime shut down)".to_string(),
        )),
    }
}
