//! Bringing a database under migrator that was built by other means: a baseline (every migration up to a
//! version is recorded as applied, nothing is run).

use tracing::{info, info_span};

use super::session::Session;
use crate::engine::Engine;
use crate::history::Status;
use crate::{Error, Migration, Migrator};

impl Migrator<'_> {
    /// Records every migration of the set up to `version` (which must be in the set) as applied without
    /// running it: a `baselined` event each. Migrations already recorded keep their rows. Returns how
    /// many were recorded.
    pub fn baseline(&self, engine: &mut dyn Engine, version: u64) -> Result<usize, Error> {
        let _span = info_span!("migrator.baseline", version).entered();
        let set = self.set_for(engine.dialect().kind);
        if set.get(version).is_none() {
            return Err(Error::Usage(format!(
                "version {version} is not a migration of this set; a baseline names the newest migration the database already has"
            )));
        }
        let session = Session::begin(engine, self.config())?;
        let rows = session.history.read(session.engine)?;
        let targets: Vec<&Migration> = set
            .migrations()
            .iter()
            .filter(|m| m.version <= version)
            .filter(|m| {
                !rows
                    .iter()
                    .any(|r| r.version == m.version && r.status != Status::Failed)
            })
            .collect();
        let detail = format!("baseline up to {version}: recorded as applied, not run");
        let result = session
            .history
            .adopt(session.engine, &targets, "baselined", &detail);
        session.end(result.is_ok())?;
        let n = result?;
        info!(recorded = n, "baseline recorded");
        Ok(n)
    }
}
