//! Offline impact analysis and safety checks of migrator migrations, for PostgreSQL and SQLite.
//!
//! [`analyse`] reads every UP and DOWN statement of a [`Migration`] with `sqlparser` and reports, per
//! statement, the objects it creates, alters or drops, the lock it takes on each table (PostgreSQL rules keyed
//! by server major version; SQLite's database-wide write lock and the 12-step rebuild), the work it does
//! (scan, index build, rewrite) and whether it destroys data. The safety rules of `src/rules/` then turn that
//! into [`Finding`]s with a stable id, a severity and the safe alternative; `-- migrator:allow <id> <reason>`
//! marks a finding suppressed without hiding it. A statement the parser cannot read is reported as not
//! analysed, with the parser's reason, and is itself an error finding (`not-analysed`).
//!
//! Nothing here touches a database: figures that need live data (row counts, duplicates, NULLs) are left as
//! [`LiveCheck`] queries on each statement for the live preview to run.

mod depth;
mod functions;
mod gaps;
mod impact;
mod live;
mod model;
mod ops;
mod pgtype;
pub mod report;
mod rules;
mod scope;
pub mod sql;
mod state;
mod verdict;

use std::path::Path;

pub use migrator_format::Migration;
pub use model::*;
pub use rules::{rule_catalog, RuleInfo};
pub use state::Catalog;

use ops::{Op, Reading};
use scope::Scope;

/// Errors of [`lint_dir`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AnalyseError {
    /// The directory could not be read, or a file is not a well-formed migration.
    #[error("cannot load migrations from {dir}: {source}")]
    Load {
        /// The directory.
        dir: std::path::PathBuf,
        /// What the format crate reported (every bad file, with its line).
        #[source]
        source: migrator_format::SetError,
    },
}

/// Analyses one migration on its own: every statement of UP then DOWN, then the safety rules. Nothing is
/// known about the schema before it (see [`analyse_in`]).
pub fn analyse(migration: &Migration, opts: Options) -> Analysis {
    analyse_in(migration, opts, &mut Catalog::new())
}

/// Analyses one migration against what `catalog` knows of the schema before it (column types, indexes,
/// validated checks, function volatility, the session TimeZone), then advances `catalog` by its UP, so
/// that folding a directory in version order gives each migration the schema its predecessors built.
pub fn analyse_in(migration: &Migration, opts: Options, catalog: &mut Catalog) -> Analysis {
    let _span = tracing::debug_span!("analyse", file = %migration.file_name).entered();
    let mut statements = Vec::new();
    let mut findings = Vec::new();
    analyse_section(
        migration,
        Section::Up,
        &migration.up,
        opts,
        Scope::new(catalog, false),
        (&mut statements, &mut findings),
    );
    if let Some(down) = &migration.down {
        // The DOWN runs against the schema the UP left; what it changes is undone after (the next
        // migration runs after the UP, not after the DOWN).
        analyse_section(
            migration,
            Section::Down,
            down,
            opts,
            Scope::new(catalog, true),
            (&mut statements, &mut findings),
        );
    }
    verdict::apply_allows(migration, &mut findings);
    tracing::debug!(
        statements = statements.len(),
        findings = findings.len(),
        "analysed"
    );
    Analysis {
        version: migration.version,
        file: migration.file_name.to_string(),
        issue: migration.issue,
        dialect: opts.dialect,
        pg_version: (opts.dialect == Dialect::Postgres).then_some(opts.pg_version),
        no_transaction: migration.no_transaction,
        statements,
        findings,
    }
}

/// Reads, resolves and measures every statement of one section in order, then runs the rules over it.
fn analyse_section(
    migration: &Migration,
    section: Section,
    stmts: &[migrator_format::Statement],
    opts: Options,
    mut scope: Scope,
    (statements, findings): (&mut Vec<StatementAnalysis>, &mut Vec<Finding>),
) {
    let first = statements.len();
    let mut parsed: Vec<Option<Vec<Op>>> = Vec::with_capacity(stmts.len());
    for (index, stmt) in stmts.iter().enumerate() {
        let (status, kind, mut ops) = match ops::read(&stmt.sql, opts.dialect) {
            Reading::Analysed(p) => (Status::Analysed, p.kind, Some(p.ops)),
            Reading::NotUnderstood {
                form,
                reason,
                parsed,
            } => {
                tracing::debug!(line = stmt.line, %form, "statement read by its keywords");
                (
                    Status::NotUnderstood { form, reason },
                    parsed.kind,
                    Some(parsed.ops),
                )
            }
            Reading::NotAnalysed(reason) => {
                tracing::debug!(line = stmt.line, %reason, "statement not analysed");
                (Status::NotAnalysed { reason }, String::new(), None)
            }
        };
        for op in ops.iter_mut().flatten() {
            scope.resolve(op);
        }
        let imp = ops
            .as_deref()
            .map(|o| impact::statement_impact(o, opts, &|t| scope.is_new(t)))
            .unwrap_or_default();
        for op in ops.iter().flatten() {
            scope.apply(op, index);
        }
        statements.push(StatementAnalysis {
            section,
            index,
            line: stmt.line,
            sql: stmt.sql.to_string(),
            status,
            kind,
            objects: imp.objects,
            tables: imp.tables,
            needs_rebuild: imp.needs_rebuild,
            destructive: imp.destructive,
            live_checks: imp.live_checks,
        });
        parsed.push(ops);
    }
    let analysed = &statements[first..];
    let facts = rules::SectionFacts::new(analysed, &parsed, scope.created());
    for (index, stmt) in analysed.iter().enumerate() {
        let ctx = rules::Ctx {
            opts,
            migration,
            section,
            index,
            statement: stmt,
            ops: parsed[index].as_deref().unwrap_or_default(),
            facts: &facts,
            scope: &scope,
        };
        rules::run(&ctx, findings);
    }
    scope.finish();
}

/// Loads every migration of `dir` (with `migrator_format::load_dir`) and analyses each.
pub fn lint_dir(dir: &Path, opts: Options) -> Result<Vec<Analysis>, AnalyseError> {
    tracing::info!(dir = %dir.display(), "loading migrations");
    let migrations = migrator_format::load_dir(dir).map_err(|source| AnalyseError::Load {
        dir: dir.to_path_buf(),
        source,
    })?;
    tracing::info!(count = migrations.len(), "analysing migrations");
    Ok(analyse_all(&migrations, opts))
}

/// Analyses migrations in version order, each against the schema its predecessors built (column types,
/// indexes, checks, functions): what decides a type change or a SET NOT NULL often lies in an earlier file.
pub fn analyse_all(migrations: &[Migration], opts: Options) -> Vec<Analysis> {
    let mut catalog = Catalog::new();
    migrations
        .iter()
        .map(|m| analyse_in(m, opts, &mut catalog))
        .collect()
}
