//! A lock held by a dedicated connection (PostgreSQL's advisory lock, MySQL's `GET_LOCK`), which a
//! heartbeat thread keeps busy, so that `idle_session_timeout`, `wait_timeout` or a firewall that drops
//! idle connections does not end it, and which notices at once when the server ends it anyway: the run then
//! stops with [`Error::LockLost`] before its next migration.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use tracing::{debug, warn};

use super::LockGuard;
use crate::Error;

/// How often the lock's connection is pinged.
const HEARTBEAT: Duration = Duration::from_millis(250);

/// Where a connection handed over by the host goes back to when the lock is released.
pub(crate) type Slot<C> = Arc<Mutex<Option<C>>>;

/// The lock and the thread that keeps its connection alive.
pub(crate) struct HeartbeatLock<C: SimpleConnection + Send + 'static> {
    stop: Arc<AtomicBool>,
    lost: Arc<Mutex<Option<String>>>,
    thread: Option<JoinHandle<Option<C>>>,
    slot: Option<Slot<C>>,
    engine: &'static str,
}

impl<C: SimpleConnection + Send + 'static> HeartbeatLock<C> {
    /// Starts watching `conn`, which holds the lock; `unlock` releases it when the guard is dropped.
    pub fn start(mut conn: C, unlock: String, slot: Option<Slot<C>>, engine: &'static str) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let lost = Arc::new(Mutex::new(None));
        let (thread_stop, thread_lost) = (stop.clone(), lost.clone());
        let thread = std::thread::Builder::new()
            .name("migrator-lock".into())
            .spawn(move || {
                let mut last = Instant::now();
                loop {
                    if thread_stop.load(Ordering::Acquire) {
                        return match conn.batch_execute(&unlock) {
                            Ok(()) => {
                                debug!("migration lock released");
                                Some(conn)
                            }
                            Err(e) => {
                                warn!(error = %e, "unlock failed; closing the lock's connection releases the lock");
                                None
                            }
                        };
                    }
                    if last.elapsed() >= HEARTBEAT {
                        if let Err(e) = conn.batch_execute("SELECT 1") {
                            warn!(error = %e, "the migration lock's connection is gone: the lock is lost");
                            if let Ok(mut l) = thread_lost.lock() {
                                *l = Some(format!("its connection ended ({})", e.to_string().trim()));
                            }
                            return None;
                        }
                        last = Instant::now();
                    }
                    // Woken at once when the guard is dropped (`unpark`), so the release costs no wait.
                    std::thread::park_timeout(HEARTBEAT.saturating_sub(last.elapsed()));
                }
            })
            .ok();
        HeartbeatLock {
            stop,
            lost,
            thread,
            slot,
            engine,
        }
    }
}

impl<C: SimpleConnection + Send + 'static> LockGuard for HeartbeatLock<C> {
    fn check(&mut self) -> Result<(), Error> {
        let lost = self.lost.lock().ok().and_then(|l| l.clone());
        match lost {
            Some(message) => Err(Error::LockLost {
                message: format!("the {} migration lock was lost: {message}", self.engine),
            }),
            None if self.thread.is_none() => Err(Error::LockLost {
                message: "the lock's heartbeat thread could not be started".into(),
            }),
            None => Ok(()),
        }
    }
}

impl<C: SimpleConnection + Send + 'static> Drop for HeartbeatLock<C> {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = &self.thread {
            thread.thread().unpark();
        }
        let conn = self.thread.take().and_then(|t| t.join().ok()).flatten();
        if let (Some(slot), Some(conn)) = (&self.slot, conn) {
            if let Ok(mut s) = slot.lock() {
                *s = Some(conn);
            }
        }
    }
}
