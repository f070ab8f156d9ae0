//! The safety rules, one per file (squawk-style). Each has a stable id, a default severity, and a check
//! that reads the statement's [`Op`]s and its section, and pushes [`Hit`]s.
//!
//! Checks that need live data (row counts over `max_rows_affected`, duplicates under a new UNIQUE, NULLs
//! under SET NOT NULL, relfilenode changes) are not rules here: the statement's `live_checks` carry the
//! queries, and the live preview turns their answers into findings.

mod access_exclusive_held;
mod backfill_in_ddl_transaction;
mod constraint_dropped;
mod destructive_operation;
mod down_data_loss;
mod foreign_key_without_index;
mod not_analysed;
mod pg_add_column_default_rewrite;
mod pg_add_column_generated_rewrite;
mod pg_add_column_not_null_without_default;
mod pg_check_not_valid;
mod pg_column_type_rewrite;
mod pg_concurrently_in_transaction;
mod pg_constraint_builds_index;
mod pg_drop_index_not_concurrent;
mod pg_foreign_key_not_valid;
mod pg_index_not_concurrent;
mod pg_set_not_null;
mod pg_validate_in_same_transaction;
mod pg_version_unsupported;
mod rename_breaks_clients;
mod sqlite_add_column_refused;
mod sqlite_foreign_keys_pragma_in_transaction;
mod sqlite_rebuild_without_foreign_key_check;
mod sqlite_table_rebuild_needed;
mod update_delete_without_where;
mod vacuum_in_transaction;

#[cfg(test)]
pub(crate) mod test_util;

use std::collections::HashSet;

use serde::Serialize;

use crate::model::{Dialect, Finding, Options, Section, Severity, StatementAnalysis};
use crate::ops::Op;
use crate::Migration;

/// What a rule sees: the statement, its section, the migration.
pub(crate) struct Ctx<'a> {
    pub opts: Options,
    pub migration: &'a Migration,
    pub section: Section,
    /// 0-based index of the statement in its section.
    pub index: usize,
    pub statement: &'a StatementAnalysis,
    /// Every statement of the section.
    pub statements: &'a [StatementAnalysis],
    /// This statement's ops (empty when not analysed).
    pub ops: &'a [Op],
    /// Every statement's ops in the section (`None`: not analysed).
    pub section_ops: &'a [Option<Vec<Op>>],
    /// Tables created earlier in the section.
    pub new_tables: &'a HashSet<String>,
}

impl Ctx<'_> {
    pub fn pg(&self) -> bool {
        self.opts.dialect == Dialect::Postgres
    }

    /// The table existed before this section (it is not created earlier in it).
    pub fn existing(&self, table: &str) -> bool {
        !self.new_tables.contains(table)
    }

    /// The section runs inside one transaction.
    pub fn in_transaction(&self) -> bool {
        !self.migration.no_transaction
    }

    /// Ops of the other statements of the section, with their index.
    pub fn all_ops(&self) -> impl Iterator<Item = (usize, &Op)> {
        self.section_ops
            .iter()
            .enumerate()
            .flat_map(|(i, ops)| ops.iter().flatten().map(move |op| (i, op)))
    }
}

/// One problem a rule found in a statement.
pub(crate) struct Hit {
    pub message: String,
    pub safe_alternative: String,
    /// Overrides the rule's default severity (e.g. by server version).
    pub severity: Option<Severity>,
}

impl Hit {
    pub fn new(message: impl Into<String>, safe_alternative: impl Into<String>) -> Self {
        Hit {
            message: message.into(),
            safe_alternative: safe_alternative.into(),
            severity: None,
        }
    }

    pub fn severity(mut self, severity: Severity) -> Self {
        self.severity = Some(severity);
        self
    }
}

/// A rule: id, default severity, the check number in safety-checks.md, and the check.
pub(crate) struct Rule {
    pub id: &'static str,
    pub severity: Severity,
    pub dialects: &'static [Dialect],
    pub summary: &'static str,
    pub check: fn(&Ctx, &mut Vec<Hit>),
}

const PG: &[Dialect] = &[Dialect::Postgres];
const SQLITE: &[Dialect] = &[Dialect::Sqlite];
const BOTH: &[Dialect] = &[Dialect::Postgres, Dialect::Sqlite];

/// Every rule, in report order.
pub(crate) const RULES: &[&Rule] = &[
    &not_analysed::RULE,
    &pg_index_not_concurrent::RULE,
    &pg_drop_index_not_concurrent::RULE,
    &pg_concurrently_in_transaction::RULE,
    &pg_version_unsupported::RULE,
    &pg_foreign_key_not_valid::RULE,
    &pg_check_not_valid::RULE,
    &pg_validate_in_same_transaction::RULE,
    &pg_set_not_null::RULE,
    &pg_add_column_not_null_without_default::RULE,
    &pg_add_column_default_rewrite::RULE,
    &pg_add_column_generated_rewrite::RULE,
    &pg_column_type_rewrite::RULE,
    &pg_constraint_builds_index::RULE,
    &destructive_operation::RULE,
    &rename_breaks_clients::RULE,
    &constraint_dropped::RULE,
    &access_exclusive_held::RULE,
    &foreign_key_without_index::RULE,
    &update_delete_without_where::RULE,
    &backfill_in_ddl_transaction::RULE,
    &vacuum_in_transaction::RULE,
    &sqlite_table_rebuild_needed::RULE,
    &sqlite_add_column_refused::RULE,
    &sqlite_rebuild_without_foreign_key_check::RULE,
    &sqlite_foreign_keys_pragma_in_transaction::RULE,
    &down_data_loss::RULE,
];

/// A rule as the outside sees it (for docs and `--format json`).
#[derive(Debug, Clone, Serialize)]
pub struct RuleInfo {
    /// The stable id.
    pub id: &'static str,
    /// The default severity.
    pub severity: Severity,
    /// The dialects it applies to.
    pub dialects: &'static [Dialect],
    /// What it catches.
    pub summary: &'static str,
}

/// The catalogue of rules.
pub fn rule_catalog() -> Vec<RuleInfo> {
    RULES
        .iter()
        .map(|r| RuleInfo {
            id: r.id,
            severity: r.severity,
            dialects: r.dialects,
            summary: r.summary,
        })
        .collect()
}

/// Runs every rule of the dialect on one statement.
pub(crate) fn run(ctx: &Ctx, out: &mut Vec<Finding>) {
    let mut hits = Vec::new();
    for rule in RULES {
        if !rule.dialects.contains(&ctx.opts.dialect) {
            continue;
        }
        (rule.check)(ctx, &mut hits);
        for hit in hits.drain(..) {
            out.push(Finding {
                id: rule.id,
                severity: hit.severity.unwrap_or(rule.severity),
                version: ctx.migration.version,
                file: ctx.migration.file_name.to_string(),
                section: ctx.section,
                statement: ctx.index,
                line: ctx.statement.line,
                message: hit.message,
                safe_alternative: hit.safe_alternative,
                suppressed: None,
            });
        }
    }
}
