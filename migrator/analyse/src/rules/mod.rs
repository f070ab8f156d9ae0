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
mod not_understood;
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
mod pg_lock_table;
mod pg_refresh_materialized_view_not_concurrent;
mod pg_set_not_null;
mod pg_vacuum_full;
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

use std::collections::HashMap;

use serde::Serialize;

use crate::model::{
    Action, Dialect, Finding, Lock, ObjectKind, Options, Section, Severity, StatementAnalysis,
};
use crate::ops::{Constraint, ObjectTypeName, Op};
use crate::scope::Scope;
use crate::Migration;

/// What a rule sees: the statement, its section, the migration, and what the section's walk learnt.
pub(crate) struct Ctx<'a> {
    pub opts: Options,
    pub migration: &'a Migration,
    pub section: Section,
    /// 0-based index of the statement in its section.
    pub index: usize,
    pub statement: &'a StatementAnalysis,
    /// This statement's ops (empty when not analysed).
    pub ops: &'a [Op],
    /// Facts about the whole section, computed once.
    pub facts: &'a SectionFacts,
    /// The schema as the section leaves it (indexes created anywhere in it included).
    pub scope: &'a Scope<'a>,
}

impl Ctx<'_> {
    pub fn pg(&self) -> bool {
        self.opts.dialect == Dialect::Postgres
    }

    /// The table existed before this statement (it is not created earlier in the section).
    pub fn existing(&self, table: &str) -> bool {
        self.facts.existing_at(table, self.index)
    }

    /// The section runs inside one transaction.
    pub fn in_transaction(&self) -> bool {
        !self.migration.no_transaction
    }
}

/// Facts about a whole section that rules ask per statement, computed in one pass so that a section of
/// 20,000 statements costs linear time (a rule that scanned the section for each statement was quadratic).
#[derive(Debug, Default)]
pub(crate) struct SectionFacts {
    /// Table -> the statement that created it.
    created: HashMap<String, usize>,
    /// The first statement doing DDL on a table that existed before the section.
    first_ddl_on_existing: Option<usize>,
    /// Constraint name -> the last statement adding a constraint of that name (PostgreSQL's own name
    /// for an unnamed one); `primary key of <table>` for a primary key.
    constraint_added: HashMap<String, usize>,
    /// Table -> the key column sets (sorted) a PRIMARY KEY, UNIQUE or unique index of the section adds.
    keys_added: HashMap<String, Vec<Vec<String>>>,
    /// Table renames: (from, to, statement).
    renames: Vec<(String, String, usize)>,
    /// Constraint name -> the first statement adding it NOT VALID.
    not_valid_added: HashMap<String, usize>,
    /// Table -> the first statement dropping it.
    dropped: HashMap<String, usize>,
    /// The last statement running `PRAGMA foreign_key_check`.
    last_foreign_key_check: Option<usize>,
    /// The first statement doing slow work on a table while the transaction already holds ACCESS EXCLUSIVE
    /// on other tables, with those tables.
    slow_under_held_lock: Option<(usize, Vec<String>)>,
}

impl SectionFacts {
    /// Walks the section's statements once.
    pub fn new(
        statements: &[StatementAnalysis],
        ops: &[Option<Vec<Op>>],
        created: &HashMap<String, usize>,
    ) -> SectionFacts {
        let mut facts = SectionFacts {
            created: created.clone(),
            ..SectionFacts::default()
        };
        for (index, statement_ops) in ops.iter().enumerate() {
            for op in statement_ops.iter().flatten() {
                if facts.first_ddl_on_existing.is_none() && facts.is_ddl_on_existing(op, index) {
                    facts.first_ddl_on_existing = Some(index);
                }
                match op {
                    Op::AddConstraint {
                        table,
                        name,
                        constraint,
                        ..
                    } => {
                        let name = name
                            .clone()
                            .unwrap_or_else(|| crate::state::default_name(table, constraint));
                        facts.constraint_added.insert(name, index);
                        if let Constraint::PrimaryKey { columns } | Constraint::Unique { columns } =
                            constraint
                        {
                            facts.add_key(table, columns);
                        }
                        if matches!(constraint, Constraint::PrimaryKey { .. }) {
                            facts
                                .constraint_added
                                .insert(format!("primary key of {table}"), index);
                        }
                    }
                    Op::RenameTable { from, to } => {
                        facts.renames.push((from.clone(), to.clone(), index));
                    }
                    Op::CreateIndex {
                        table,
                        columns,
                        unique: true,
                        predicate: None,
                        ..
                    } => facts.add_key(table, columns),
                    _ => {}
                }
                match op {
                    Op::AddConstraint {
                        name: Some(n),
                        not_valid: true,
                        ..
                    } => {
                        facts.not_valid_added.entry(n.clone()).or_insert(index);
                    }
                    Op::Drop {
                        kind: ObjectTypeName::Table,
                        names,
                        ..
                    } => {
                        for n in names {
                            facts.dropped.entry(n.clone()).or_insert(index);
                        }
                    }
                    Op::Pragma { name, .. } if name == "foreign_key_check" => {
                        facts.last_foreign_key_check = Some(index);
                    }
                    _ => {}
                }
            }
        }
        facts.slow_under_held_lock = slow_under_held_lock(statements);
        facts
    }

    /// `table` existed before statement `index` (not created earlier in the section).
    pub fn existing_at(&self, table: &str, index: usize) -> bool {
        let key = table
            .strip_prefix("public.")
            .or_else(|| table.strip_prefix("main."))
            .unwrap_or(table);
        !matches!(self.created.get(key), Some(&c) if c < index)
    }

    fn is_ddl_on_existing(&self, op: &Op, index: usize) -> bool {
        match op {
            Op::Insert { .. }
            | Op::Update { .. }
            | Op::Delete { .. }
            | Op::Pragma { .. }
            | Op::Other { .. }
            | Op::SetTimeZone { .. }
            | Op::CreateTable { .. }
            | Op::CreateView { .. }
            | Op::CreateFunction { .. }
            | Op::CreateType { .. } => false,
            Op::AddColumn { table, .. }
            | Op::AlterColumnType { table, .. }
            | Op::SetNotNull { table, .. }
            | Op::AddConstraint { table, .. }
            | Op::CreateIndex { table, .. }
            | Op::DropColumn { table, .. } => self.existing_at(table, index),
            _ => true,
        }
    }

    /// Whether a statement before `index` did DDL on an existing table (its locks are then held by the
    /// transaction while statement `index` runs).
    pub fn ddl_before(&self, index: usize) -> bool {
        self.first_ddl_on_existing.is_some_and(|i| i < index)
    }

    fn add_key(&mut self, table: &str, columns: &[String]) {
        let mut key = columns.to_vec();
        key.sort();
        self.keys_added
            .entry(table.to_string())
            .or_default()
            .push(key);
    }

    /// Whether the constraint `name` of `table`, dropped by statement `index`, is replaced rather than
    /// loosened: added again under its name by it or a later statement, a primary key replaced by a new
    /// one, or a UNIQUE / PRIMARY KEY (`known`, its definition) whose columns a new key of the section
    /// covers exactly.
    pub fn constraint_replaced(
        &self,
        table: &str,
        name: &str,
        known: Option<&Constraint>,
        index: usize,
    ) -> bool {
        let again = |key: &str| self.constraint_added.get(key).is_some_and(|&i| i >= index);
        let pkey = name == "primary key" || name.ends_with("_pkey");
        let same_key = match known {
            Some(Constraint::PrimaryKey { columns } | Constraint::Unique { columns }) => {
                let mut wanted = columns.clone();
                wanted.sort();
                self.keys_added
                    .get(table)
                    .is_some_and(|keys| keys.contains(&wanted))
            }
            _ => false,
        };
        again(name) || (pkey && again(&format!("primary key of {table}"))) || same_key
    }

    /// Whether table `name`, renamed by statement `index`, is created again by a later statement (the
    /// rebuild `ALTER TABLE x RENAME TO x_old; CREATE TABLE x ...; INSERT ...; DROP TABLE x_old`): clients
    /// find the name again at COMMIT.
    pub fn recreated_after(&self, name: &str, index: usize) -> bool {
        self.created.get(name).is_some_and(|&c| c > index)
    }

    /// Whether dropping table `name` at statement `index` drops the old copy of a rebuild: a table renamed
    /// away from a name created again (`x_old` above), or a table whose name a later rename takes over
    /// (SQLite's `DROP TABLE x; ALTER TABLE new_x RENAME TO x`). Its rows live on in the new table.
    pub fn rebuild_drop(&self, name: &str, index: usize) -> bool {
        self.renames.iter().any(|(from, to, at)| {
            to == name && ((*at < index && self.recreated_after(from, *at)) || *at > index)
        })
    }

    /// Whether constraint `name` is added NOT VALID before statement `index`.
    pub fn added_not_valid_before(&self, name: &str, index: usize) -> bool {
        self.not_valid_added.get(name).is_some_and(|&i| i < index)
    }

    /// Whether table `name` is dropped before statement `index`.
    pub fn dropped_before(&self, name: &str, index: usize) -> bool {
        self.dropped.get(name).is_some_and(|&i| i < index)
    }

    /// Whether `PRAGMA foreign_key_check` runs after statement `index`.
    pub fn foreign_key_check_after(&self, index: usize) -> bool {
        self.last_foreign_key_check.is_some_and(|i| i > index)
    }

    /// The tables held under ACCESS EXCLUSIVE when statement `index` does its slow work, if it is the
    /// section's first statement to do so.
    pub fn held_during(&self, index: usize) -> Option<&[String]> {
        match &self.slow_under_held_lock {
            Some((i, held)) if *i == index => Some(held),
            _ => None,
        }
    }
}

/// The first statement whose slow work (not brief, on an existing table) runs while ACCESS EXCLUSIVE locks
/// taken by earlier statements are held on other existing tables: those tables wait for it. A second lock
/// on a table already held blocks nothing new, so it does not count.
fn slow_under_held_lock(statements: &[StatementAnalysis]) -> Option<(usize, Vec<String>)> {
    let mut held: Vec<&str> = Vec::new();
    let mut held_set: std::collections::HashSet<&str> = std::collections::HashSet::new();
    for (index, s) in statements.iter().enumerate() {
        let slow: Vec<&str> = s
            .tables
            .iter()
            .filter(|t| !t.brief && !t.new_table)
            .map(|t| t.table.as_str())
            .collect();
        // A table or view this statement drops: its readers fail after COMMIT anyway (and
        // destructive-operation says so); its lock does not count as held.
        let dropped = |table: &str| {
            s.objects.iter().any(|o| {
                o.action == Action::Drop
                    && matches!(o.object, ObjectKind::Table | ObjectKind::View)
                    && o.name == table
            })
        };
        if !slow.is_empty() {
            let others: Vec<String> = held
                .iter()
                .filter(|h| !slow.contains(h))
                .map(|h| h.to_string())
                .collect();
            if !others.is_empty() {
                return Some((index, others));
            }
        }
        for t in &s.tables {
            if t.lock == Lock::AccessExclusive
                && !t.new_table
                && !dropped(&t.table)
                && held_set.insert(&t.table)
            {
                held.push(&t.table);
            }
        }
    }
    None
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
    &not_understood::RULE,
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
    &pg_vacuum_full::RULE,
    &pg_lock_table::RULE,
    &pg_refresh_materialized_view_not_concurrent::RULE,
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

#[cfg(test)]
mod tests {
    use super::RULES;

    /// The ids `-- migrator:allow` accepts (checked by the file parser, the macro and the runtime) are
    /// exactly the rules' ids.
    #[test]
    fn rule_ids_are_the_format_check_ids() {
        let mut ids: Vec<&str> = RULES.iter().map(|r| r.id).collect();
        ids.sort_unstable();
        assert_eq!(ids, migrator_format::CHECK_IDS);
    }
}
