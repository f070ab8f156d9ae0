//! `--migrate-preview`: what applying (and rolling back) an issue's migrations, or every pending one, would
//! do to this database, in the spec's "Preview Mode" layout or as versioned JSON.
//!
//! Data flows one way: the history says which migrations and where they stand; the offline analyser
//! (`migrator-analyse`, for this server's dialect and major version) says what each statement does;
//! [`crate::live`] calibrates its cost model on this database and estimates each statement; the backend
//! counts what each DOWN would destroy; `build` turns that into [`Sections`]; [`render_text`] and
//! [`render_json`] render them. A preview writes no history row and changes none of the application's
//! tables or indexes (the calibration creates and drops a scratch table of its own; `--rehearse` works on
//! a scratch copy).

mod build;
mod model;
mod text;

use std::collections::BTreeSet;
use std::path::Path;

use migrator_analyse::{Action, Analysis, Catalog, Dialect, ObjectKind, Options, Section};
use tracing::{debug, info, info_span};

pub use model::*;
pub use text::render as render_text;
pub use text::{bytes, duration, thousands};

use crate::live::{CheckBounds, EarlierChanges};
use crate::plan::status_entries;
use crate::HistoryRow;
use crate::{
    Engine, EngineKind, Error, Migration, MigrationSet, Migrator, Rehearsal, RehearsalPhase,
    StatusKind,
};

/// Builds the preview of `target` against the database behind `backend`, with estimated times. Reads only.
pub fn preview(
    migrator: &Migrator<'_>,
    backend: &mut dyn Engine,
    target: Target,
) -> Result<Preview, Error> {
    preview_with(migrator, backend, target, false)
}

/// [`preview`], and with `rehearse` the pending migrations are first run on a scratch copy of the
/// database ([`Migrator::rehearse`]: UPs, health checks, DOWNs, UPs again; the database itself is only
/// read), so their UP and DOWN times are measured ones, shown as `(measured)`.
pub fn preview_with(
    migrator: &Migrator<'_>,
    backend: &mut dyn Engine,
    target: Target,
    rehearse: bool,
) -> Result<Preview, Error> {
    let span = info_span!(
        "migrator.preview",
        engine = backend.dialect().kind.name(),
        ?target
    );
    let _enter = span.enter();
    let set = migrator.set_for(backend.dialect().kind);
    let rows = migrator.read_history(backend)?;
    let atomic = backend.dialect().atomicity != crate::engine::Atomicity::None;
    let selected = select(set, &rows, atomic, target)?;
    info!(migrations = selected.len(), "previewing");
    let database = backend.server_version()?;
    if selected.is_empty() {
        return Ok(Preview {
            schema_version: PREVIEW_SCHEMA_VERSION,
            target,
            database,
            calibration_ms: 0.0,
            migrations: Vec::new(),
            total: Sections::default(),
        });
    }
    let opts = analysis_options(backend.dialect().kind, &database)?;
    let rehearsal = if rehearse {
        let r = migrator.rehearse(backend)?;
        info!(
            took_ms = r.took.as_millis() as u64,
            "rehearsed the pending migrations on a copy"
        );
        Some(r)
    } else {
        None
    };
    let mut analyses = analyse_selected(backend, set, &selected, opts)?;
    let calibration = crate::live::calibrate(backend)?;
    debug!(took_ms = calibration.took.as_millis() as u64, "calibrated");
    let bounds = CheckBounds {
        lock_wait: migrator.config().lock_timeout,
        statement: migrator
            .config()
            .statement_timeout
            .unwrap_or(crate::live::DEFAULT_CHECK_TIMEOUT),
    };
    let mut earlier = EarlierChanges::default();
    let mut migrations = Vec::with_capacity(selected.len());
    for ((migration, state), analysis) in selected.into_iter().zip(analyses.iter_mut()) {
        if let Some(r) = &rehearsal {
            record_rehearsal(analysis, migration, r);
        }
        let analysis = &*analysis;
        // An applied migration's UP has run: nothing of it can fail on this data any more.
        let checks = if state == State::Applied {
            Vec::new()
        } else {
            crate::live::run_checks(backend, analysis, &mut earlier, bounds)?
        };
        let mut estimate = crate::live::estimate(backend, migration, analysis, &calibration)?;
        if let Some(up) = rehearsal
            .as_ref()
            .and_then(|r| r.up_time(migration.version))
        {
            let down = rehearsal.as_ref().and_then(|r| {
                r.steps
                    .iter()
                    .find(|s| s.version == migration.version && s.phase == RehearsalPhase::Down)
                    .map(|s| s.duration)
            });
            estimate.use_measured(up, down);
        }
        // The verdict against this host's policy (max_lock_duration is the configured lock timeout).
        estimate.downtime = estimate.downtime_over(migrator.config().lock_timeout);
        let data_loss = data_loss(backend, analysis, state)?;
        let files = generated_files(set.source_dir(), migration, analysis);
        debug!(version = migration.version, ?state, "estimated");
        migrations.push(MigrationPreview {
            version: migration.version,
            file: migration.file_name.to_string(),
            issue: migration.issue,
            state,
            sections: build::sections(build::Inputs {
                analysis,
                estimate: &estimate,
                data_loss,
                has_down: migration.down.as_ref().is_some_and(|d| !d.is_empty()),
                files,
                checks: &checks,
            }),
        });
    }
    let total = build::combine(migrations.iter().map(|m| &m.sections));
    Ok(Preview {
        schema_version: PREVIEW_SCHEMA_VERSION,
        target,
        database,
        calibration_ms: calibration.took.as_secs_f64() * 1000.0,
        migrations,
        total,
    })
}

/// The migrations `target` names, each with its state in `rows` (the history).
fn select<'s>(
    set: &'s MigrationSet,
    rows: &[HistoryRow],
    atomic: bool,
    target: Target,
) -> Result<Vec<(&'s Migration, State)>, Error> {
    let entries = status_entries(set, rows, atomic);
    let state_of = |version: u64| match entries.iter().find(|e| e.version == version) {
        Some(e) => match e.kind {
            StatusKind::Pending | StatusKind::RolledBackChanged => State::Pending,
            StatusKind::Applied => State::Applied,
            StatusKind::RolledBack => State::RolledBack,
            _ => State::Other,
        },
        None => State::Other,
    };
    let selected = match target {
        Target::Issue(issue) => {
            let chosen: Vec<_> = set
                .of_issue(issue)
                .map(|m| (m, state_of(m.version)))
                .collect();
            if chosen.is_empty() {
                let known: BTreeSet<u32> =
                    set.migrations().iter().filter_map(|m| m.issue).collect();
                return Err(Error::NoSuchIssue {
                    issue,
                    known: known.into_iter().collect(),
                });
            }
            chosen
        }
        Target::Pending => set
            .migrations()
            .iter()
            .map(|m| (m, state_of(m.version)))
            .filter(|(_, s)| *s == State::Pending)
            .collect(),
    };
    Ok(selected)
}

/// The analyser's options for the engine behind the preview and its server version.
fn analysis_options(kind: EngineKind, database: &str) -> Result<Options, Error> {
    Ok(Options {
        dialect: match kind {
            EngineKind::Sqlite => Dialect::Sqlite,
            EngineKind::Postgres => Dialect::Postgres,
            EngineKind::MySql => {
                return Err(Error::Usage(
                    "the preview's analysis does not read MySQL yet; preview the migrations on PostgreSQL or SQLite".to_string(),
                ))
            }
        },
        pg_version: pg_major(database).unwrap_or(migrator_analyse::DEFAULT_PG_VERSION),
    })
}

/// The analyses of the `selected` migrations, in their order: the server's facts first (the volatility of
/// the functions their DEFAULTs call, the TimeZone), then every migration of the set folded in version
/// order, so that each is analysed against the schema its predecessors built (column types, indexes,
/// checks, functions), as `lint` does.
fn analyse_selected(
    backend: &mut dyn Engine,
    set: &MigrationSet,
    selected: &[(&Migration, State)],
    opts: Options,
) -> Result<Vec<Analysis>, Error> {
    let mut catalog = Catalog::new();
    let mut functions: Vec<String> = Vec::new();
    for (m, _) in selected {
        for f in migrator_analyse::default_functions(m, opts.dialect) {
            if !functions.contains(&f) {
                functions.push(f);
            }
        }
    }
    crate::live::server_facts(backend, &functions, &mut catalog)?;
    let last = selected.iter().map(|(m, _)| m.version).max().unwrap_or(0);
    let mut by_version = std::collections::BTreeMap::new();
    for m in set.migrations().iter().filter(|m| m.version <= last) {
        let analysis = migrator_analyse::analyse_in(m, opts, &mut catalog);
        if selected.iter().any(|(s, _)| s.version == m.version) {
            by_version.insert(m.version, analysis);
        }
    }
    Ok(selected
        .iter()
        .filter_map(|(m, _)| by_version.remove(&m.version))
        .collect())
}

/// The rehearsal ran the migration's UP (and DOWN) on a copy without error: every statement the analyser
/// could not read was accepted by the database itself.
fn record_rehearsal(analysis: &mut Analysis, migration: &Migration, rehearsal: &Rehearsal) {
    let ran = |phase: RehearsalPhase| {
        rehearsal
            .steps
            .iter()
            .any(|s| s.version == migration.version && s.phase == phase)
    };
    let undecided: Vec<(Section, usize)> =
        analysis.undecided().map(|s| (s.section, s.index)).collect();
    for (section, index) in undecided {
        let phase = match section {
            Section::Up => RehearsalPhase::Up,
            Section::Down => RehearsalPhase::Down,
        };
        if ran(phase) {
            analysis.record_engine_verdict(section, index, Ok(()), &migration.allows);
        }
    }
}

/// The preview as the JSON document of `--format json` (`schema_version` [`PREVIEW_SCHEMA_VERSION`]).
pub fn render_json(preview: &Preview) -> Result<String, Error> {
    serde_json::to_string_pretty(preview)
        .map(|mut s| {
            s.push('\n');
            s
        })
        .map_err(|e| Error::Usage(format!("cannot write the preview as JSON: {e}")))
}

/// `15` of `PostgreSQL 15.8`.
fn pg_major(version: &str) -> Option<u32> {
    version
        .strip_prefix("PostgreSQL ")?
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// What the DOWN would destroy now: the rows of each table it drops and the non-NULL values of each column
/// it drops, counted on the database. Objects the UP of a pending migration creates do not exist yet: a
/// rollback right after applying loses nothing of them.
fn data_loss(
    backend: &mut dyn Engine,
    analysis: &Analysis,
    state: State,
) -> Result<Vec<DataLoss>, Error> {
    let up_creates: BTreeSet<&str> = analysis
        .statements
        .iter()
        .filter(|s| s.section == Section::Up)
        .flat_map(|s| &s.objects)
        .filter(|o| o.action == Action::Create)
        .map(|o| o.name.as_str())
        .collect();
    let mut out = Vec::new();
    let dropped = analysis
        .statements
        .iter()
        .filter(|s| s.section == Section::Down)
        .flat_map(|s| &s.objects)
        .filter(|o| o.action == Action::Drop)
        .filter(|o| matches!(o.object, ObjectKind::Table | ObjectKind::Column));
    for o in dropped {
        if state == State::Pending && up_creates.contains(o.name.as_str()) {
            continue;
        }
        let (table, column) = match o.object {
            ObjectKind::Column => match o.name.rsplit_once('.') {
                Some((t, c)) => (t, Some(c)),
                None => continue,
            },
            _ => (o.name.as_str(), None),
        };
        if table.starts_with("schema_migrations")
            || crate::live::stats(backend)?
                .table_stats(table, false)?
                .is_none()
        {
            continue;
        }
        let rows = match crate::live::stats(backend)?.count_rows(table, column) {
            Ok(rows) => rows,
            // DROP COLUMN IF EXISTS of a column that is not there: nothing to lose.
            Err(e) if column.is_some() => {
                debug!(error = %e, name = %o.name, "column not counted");
                continue;
            }
            Err(e) => return Err(e),
        };
        if rows > 0 {
            out.push(DataLoss {
                object: if column.is_some() { "column" } else { "table" }.to_string(),
                name: o.name.clone(),
                rows,
            });
        }
    }
    Ok(out)
}

/// The migration file and the companions `migrator-tool generate` writes beside the migrations
/// directory (`rollback/<version>_rollback.sql`, `docs/schema/<table>.md`), those that exist.
fn generated_files(source_dir: &str, migration: &Migration, analysis: &Analysis) -> Vec<String> {
    let dir = Path::new(source_dir);
    let label = dir.file_name().map_or_else(
        || "migrations".to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let mut files = vec![format!("{label}/{}", migration.file_name)];
    let Some(root) = dir.parent() else {
        return files;
    };
    let rollback = format!("rollback/{:014}_rollback.sql", migration.version);
    if root.join(&rollback).is_file() {
        files.push(rollback);
    }
    let tables: BTreeSet<&str> = analysis
        .statements
        .iter()
        .filter(|s| s.section == Section::Up)
        .flat_map(|s| &s.tables)
        .map(|t| t.table.as_str())
        .filter(|t| {
            !t.starts_with("schema_migrations")
                && t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        })
        .collect();
    for table in tables {
        let doc = format!("docs/schema/{table}.md");
        if root.join(&doc).is_file() {
            files.push(doc);
        }
    }
    files
}

#[cfg(test)]
mod tests {
    #[test]
    fn pg_major_reads_the_server_version() {
        assert_eq!(super::pg_major("PostgreSQL 15.8"), Some(15));
        assert_eq!(super::pg_major("PostgreSQL 17devel"), Some(17));
        assert_eq!(super::pg_major("SQLite 3.50.2"), None);
    }
}
