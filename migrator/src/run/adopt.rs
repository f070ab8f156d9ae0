//! Bringing a database under migrator that was built by other means:
//!
//! - **adoption** of another tool's history table (diesel's `__diesel_schema_migrations`, sqlx's
//!   `_sqlx_migrations`, refinery's `refinery_schema_history`): each row is matched to a migration of the
//!   set by the version that tool records (and, for sqlx and refinery, its checksum), and recorded as
//!   applied with an `adopted` event; nothing is run. A row the set does not have, or whose checksum differs,
//!   refuses the boot with both sides shown. The boot adopts before it plans, so a diesel project's first
//!   boot under migrator re-runs nothing;
//! - a **baseline**: every migration up to a version is recorded as applied, nothing is run.

use std::collections::HashMap;

use tracing::{info, info_span};

use super::session::Session;
use crate::engine::{DbErrorKind, Engine, EngineKind, Value};
use crate::history::Status;
use crate::{Error, Migration, MigrationSet, Migrator};
use migrator_format::Original;

/// A migration tool whose history table migrator can adopt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerTool {
    /// diesel_migrations: `__diesel_schema_migrations (version, run_on)`.
    Diesel,
    /// sqlx: `_sqlx_migrations (version, description, installed_on, success, checksum, execution_time)`.
    Sqlx,
    /// refinery: `refinery_schema_history (version, name, applied_on, checksum)`.
    Refinery,
}

impl PeerTool {
    /// Every tool, in the order their tables are looked for.
    pub const ALL: [PeerTool; 3] = [PeerTool::Diesel, PeerTool::Sqlx, PeerTool::Refinery];

    /// The tool's name.
    pub fn name(self) -> &'static str {
        match self {
            PeerTool::Diesel => "diesel",
            PeerTool::Sqlx => "sqlx",
            PeerTool::Refinery => "refinery",
        }
    }

    /// Its history table.
    pub fn table(self) -> &'static str {
        match self {
            PeerTool::Diesel => "__diesel_schema_migrations",
            PeerTool::Sqlx => "_sqlx_migrations",
            PeerTool::Refinery => "refinery_schema_history",
        }
    }

    /// The query that reads its rows as `(version text, checksum text or NULL)`: applied ones only.
    fn query(self, kind: EngineKind) -> String {
        let (hex, text) = match kind {
            EngineKind::Postgres => ("encode(checksum, 'hex')", "TEXT"),
            EngineKind::MySql => ("LOWER(HEX(checksum))", "CHAR(20)"),
            EngineKind::Sqlite => ("lower(hex(checksum))", "TEXT"),
        };
        match self {
            PeerTool::Diesel => {
                format!("SELECT CAST(version AS {text}), NULL FROM __diesel_schema_migrations")
            }
            PeerTool::Sqlx => {
                format!("SELECT CAST(version AS {text}), {hex} FROM _sqlx_migrations WHERE success")
            }
            PeerTool::Refinery => format!(
                "SELECT CAST(version AS {text}), CAST(checksum AS {text}) FROM refinery_schema_history"
            ),
        }
    }
}

/// One row of a peer's history: the version as that tool records it, and its checksum when it keeps one.
#[derive(Debug, Clone)]
struct PeerRow {
    version: String,
    checksum: Option<String>,
}

/// What adopting found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Adoption {
    /// The tools whose tables were found, with how many rows each held.
    pub found: Vec<(PeerTool, usize)>,
    /// Migrations recorded as applied (adopted) now.
    pub adopted: Vec<u64>,
}

/// Reads the applied rows of `tool`'s history table; `None` when the table does not exist.
fn peer_rows(engine: &mut dyn Engine, tool: PeerTool) -> Result<Option<Vec<PeerRow>>, Error> {
    let sql = tool.query(engine.dialect().kind);
    match engine.query(&sql) {
        Ok(rows) => Ok(Some(
            rows.iter()
                .map(|r| PeerRow {
                    version: r
                        .first()
                        .and_then(Value::as_text)
                        .unwrap_or_default()
                        .trim()
                        .to_string(),
                    checksum: r.get(1).and_then(Value::as_text),
                })
                .collect(),
        )),
        Err(e) if e.kind == DbErrorKind::MissingObject => Ok(None),
        Err(e) => Err(Error::Database {
            context: format!("reading {}", tool.table()),
            source: e,
        }),
    }
}

/// The migration of `set` a peer row stands for, or why none does.
fn match_row<'s>(
    set: &'s MigrationSet,
    tool: PeerTool,
    row: &PeerRow,
) -> Result<&'s Migration, String> {
    let candidate = set.migrations().iter().find(|m| match (&m.original, tool) {
        (Some(Original::Diesel { version }), PeerTool::Diesel) => version.as_ref() == row.version,
        (Some(Original::Sqlx { version, .. }), PeerTool::Sqlx)
        | (Some(Original::Refinery { version, .. }), PeerTool::Refinery) => {
            version.to_string() == row.version
        }
        _ => false,
    });
    let Some(m) = candidate else {
        return Err(format!(
            "{} records version {} as applied, and no migration of this set is that {} migration (a migration deleted from the directory, or a set built from another branch)",
            tool.table(),
            row.version,
            tool.name()
        ));
    };
    let expected: Vec<String> = match &m.original {
        Some(Original::Sqlx { checksum, .. }) => vec![checksum.to_lowercase()],
        Some(Original::Refinery {
            checksum,
            checksum_int8,
            ..
        }) => {
            vec![checksum.to_string(), checksum_int8.to_string()]
        }
        _ => Vec::new(),
    };
    match &row.checksum {
        Some(found) if !expected.is_empty() && !expected.iter().any(|e| e == &found.to_lowercase()) => {
            Err(format!(
                "{} ({}) was applied by {} with checksum {found}, and the file now has {}: it was edited after it was applied; restore the file as it was, or put the change in a new migration",
                m.file_name,
                row.version,
                tool.name(),
                expected.join(" or ")
            ))
        }
        _ => Ok(m),
    }
}

impl Migrator<'_> {
    /// Adopts the history tables of diesel, sqlx and refinery found in the database: every migration
    /// they record as applied that migrator's history lacks is recorded as applied (`adopted`), nothing is
    /// run. Refused, changing nothing, when a row matches no migration of the set or its checksum differs.
    pub fn adopt(&self, engine: &mut dyn Engine) -> Result<Adoption, Error> {
        let _span = info_span!("migrator.adopt").entered();
        let set = self.set_for(engine.dialect().kind);
        let mut found = Vec::new();
        let mut matched: Vec<(&Migration, PeerTool)> = Vec::new();
        let mut problems = Vec::new();
        let tables = PeerTool::ALL.map(PeerTool::table);
        let exist = engine.tables_exist(&tables).map_err(|e| Error::Database {
            context: format!("looking for {}", tables.join(", ")),
            source: e,
        })?;
        for (tool, _) in PeerTool::ALL.into_iter().zip(exist).filter(|(_, e)| *e) {
            let Some(rows) = peer_rows(engine, tool)? else {
                continue;
            };
            found.push((tool, rows.len()));
            for row in &rows {
                match match_row(set, tool, row) {
                    Ok(m) => matched.push((m, tool)),
                    Err(problem) => problems.push(problem),
                }
            }
        }
        if found.is_empty() {
            return Ok(Adoption::default());
        }
        if !problems.is_empty() {
            return Err(Error::Refused(format!(
                "refusing to adopt the history of another migration tool: {} row(s) do not match this migration set\n  - {}\nwhat to do: deploy the migration set the database was migrated with; nothing was recorded",
                problems.len(),
                problems.join("\n  - ")
            )));
        }
        let session = Session::begin(engine, self.config())?;
        let recorded: HashMap<u64, Status> = session
            .history
            .read(session.engine)?
            .into_iter()
            .map(|r| (r.version, r.status))
            .collect();
        let mut adopted = Vec::new();
        let mut result = Ok(0);
        for (tool, _) in &found {
            let ours: Vec<&Migration> = matched
                .iter()
                .filter(|(m, t)| t == tool && !recorded.contains_key(&m.version))
                .map(|(m, _)| *m)
                .collect();
            if ours.is_empty() {
                continue;
            }
            let detail = format!("adopted from {} ({}); not run", tool.table(), tool.name());
            result = session
                .history
                .adopt(session.engine, &ours, "adopted", &detail);
            if result.is_err() {
                break;
            }
            adopted.extend(ours.iter().map(|m| m.version));
        }
        session.end(result.is_ok())?;
        result?;
        adopted.sort_unstable();
        info!(
            adopted = adopted.len(),
            tools = found.len(),
            "history of another tool adopted"
        );
        Ok(Adoption { found, adopted })
    }

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
