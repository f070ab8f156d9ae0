//! Facts the offline analyser cannot know, read from the live server into its
//! [`migrator_analyse::Catalog`] before the preview analyses: the declared volatility of the functions the
//! migrations' DEFAULTs call (`pg_proc.provolatile`) and the session TimeZone. Offline a function nobody
//! declared is VOLATILE (PostgreSQL's own default); live, the server's word decides.

use migrator_analyse::{Catalog, Volatility};
use tracing::debug;

use crate::engine::Engine;
use crate::{EngineKind, Error};

/// Fills `catalog` with what the server in hand says about `functions` (names without schema, as
/// [`migrator_analyse::default_functions`] gives them) and its TimeZone. PostgreSQL only; other engines
/// have no function volatility and leave the catalog as it is. A function with overloads (or in several
/// schemas) counts as its most volatile one; a function the server does not have stays unknown.
pub fn server_facts(
    engine: &mut dyn Engine,
    functions: &[String],
    catalog: &mut Catalog,
) -> Result<(), Error> {
    if engine.dialect().kind != EngineKind::Postgres {
        return Ok(());
    }
    let context = |e| Error::Database {
        context: "reading function volatility and the TimeZone from the server's catalog"
            .to_string(),
        source: e,
    };
    if !functions.is_empty() {
        let names: Vec<String> = functions
            .iter()
            .map(|f| engine.dialect().literal(f))
            .collect();
        let sql = format!(
            "SELECT proname::text, max(CASE provolatile WHEN 'v' THEN 2 WHEN 's' THEN 1 ELSE 0 END) \
             FROM pg_catalog.pg_proc WHERE proname IN ({}) GROUP BY proname",
            names.join(", ")
        );
        for row in engine.query(&sql).map_err(context)? {
            let (Some(name), Some(level)) = (
                row.first().and_then(|v| v.as_text()),
                row.get(1).and_then(|v| v.as_i64()),
            ) else {
                continue;
            };
            let volatility = match level {
                0 => Volatility::Immutable,
                1 => Volatility::Stable,
                _ => Volatility::Volatile,
            };
            debug!(function = %name, ?volatility, "volatility from pg_proc");
            catalog.set_function_volatility(&name, volatility);
        }
    }
    let zone = engine
        .query("SELECT current_setting('TimeZone')")
        .map_err(context)?;
    if let Some(zone) = zone
        .first()
        .and_then(|r| r.first())
        .and_then(|v| v.as_text())
    {
        debug!(%zone, "session TimeZone");
        catalog.set_time_zone(&zone);
    }
    Ok(())
}
