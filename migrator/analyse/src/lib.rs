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

mod impact;
mod model;
mod ops;
pub mod report;
mod rules;
pub mod sql;

use std::collections::HashSet;
use std::path::Path;

pub use migrator_format::Migration;
pub use model::*;
pub use rules::{rule_catalog, RuleInfo};

use ops::Op;

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

/// Analyses one migration: every statement of UP then DOWN, then the safety rules.
pub fn analyse(migration: &Migration, opts: Options) -> Analysis {
    let _span = tracing::debug_span!("analyse", file = %migration.file_name).entered();
    let mut statements = Vec::new();
    let mut findings = Vec::new();
    let mut sections: Vec<(Section, &[migrator_format::Statement])> =
        vec![(Section::Up, &migration.up)];
    if let Some(down) = &migration.down {
        sections.push((Section::Down, down));
    }
    for (section, stmts) in sections {
        let first = statements.len();
        let mut parsed: Vec<Option<Vec<Op>>> = Vec::with_capacity(stmts.len());
        let mut new_before: Vec<HashSet<String>> = Vec::with_capacity(stmts.len());
        let mut new_tables = HashSet::new();
        for (index, stmt) in stmts.iter().enumerate() {
            new_before.push(new_tables.clone());
            let (status, kind, ops) = match ops::parse(&stmt.sql, opts.dialect) {
                Ok(p) => (Status::Analysed, p.kind, Some(p.ops)),
                Err(reason) => {
                    tracing::debug!(line = stmt.line, %reason, "statement not analysed");
                    (Status::NotAnalysed { reason }, String::new(), None)
                }
            };
            let imp = ops
                .as_deref()
                .map(|o| impact::statement_impact(o, opts, &new_tables))
                .unwrap_or_default();
            for op in ops.iter().flatten() {
                match op {
                    Op::CreateTable { table, .. } => {
                        new_tables.insert(table.clone());
                    }
                    Op::RenameTable { from, to } if new_tables.contains(from) => {
                        new_tables.insert(to.clone());
                    }
                    _ => {}
                }
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
        for (index, stmt) in analysed.iter().enumerate() {
            let ctx = rules::Ctx {
                opts,
                migration,
                section,
                index,
                statement: stmt,
                statements: analysed,
                ops: parsed[index].as_deref().unwrap_or_default(),
                section_ops: &parsed,
                new_tables: &new_before[index],
            };
            rules::run(&ctx, &mut findings);
        }
    }
    for f in &mut findings {
        if let Some((_, reason)) = migration.allows.iter().find(|(id, _)| id == f.id) {
            f.suppressed = Some(reason.to_string());
        }
    }
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

/// Loads every migration of `dir` (with `migrator_format::load_dir`) and analyses each.
pub fn lint_dir(dir: &Path, opts: Options) -> Result<Vec<Analysis>, AnalyseError> {
    tracing::info!(dir = %dir.display(), "loading migrations");
    let migrations = migrator_format::load_dir(dir).map_err(|source| AnalyseError::Load {
        dir: dir.to_path_buf(),
        source,
    })?;
    tracing::info!(count = migrations.len(), "analysing migrations");
    Ok(migrations.iter().map(|m| analyse(m, opts)).collect())
}
