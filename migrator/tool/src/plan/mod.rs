//! From the issue's changes and the schema they apply to, to steps: each with the UP statements, the
//! DOWN statements that put the schema back exactly, the phase it runs in, and what the generated file must
//! say about it (lossy data, breaking changes, notes, the lint findings the issue asked for).
//!
//! Every reference is checked against a working copy of the schema, and every step's UP is applied to that
//! copy through the same DDL reader the schema loaders use, so the next change sees the effect of the
//! previous ones.
//!
//! Phases: [`Phase::Ddl`] runs in the main transaction; [`Phase::Data`] holds the data steps that write
//! existing tables (in a migration of their own, so no DDL lock is held while they run);
//! [`Phase::Online`] is PostgreSQL's no-transaction migration: `CREATE INDEX CONCURRENTLY` on existing
//! tables, `VALIDATE CONSTRAINT` of what the DDL added `NOT VALID`, and `SET NOT NULL` behind a validated
//! CHECK. [`Phase::Backfill`] is a data step on an existing table with an integer key, written as a backfill
//! migration of its own (`-- migrator:backfill`): the runtime runs its UPDATE in batches of key ranges. With
//! it, a NOT NULL column added to a populated table becomes expand (the column added nullable), backfill,
//! and contract (PostgreSQL: CHECK `NOT VALID`, `VALIDATE`, `SET NOT NULL`; SQLite: the table rebuild).
//! A PostgreSQL type change that rewrites a populated table becomes expand (`<c>_new` and a trigger that
//! keeps it converted), backfill and contract (the old column dropped, `<c>_new` renamed); [`retype`]
//! decides, and says in the file why a change stays one `ALTER COLUMN ... TYPE`.

mod columns;
mod constraints;
mod data;
mod limits;
mod rebuild;
mod retype;
mod shadow;
mod tables;

use std::collections::BTreeSet;

use crate::dialect::Dialect;
use crate::error::GenError;
use crate::ident::Ident;
use crate::model::{Change, Located, Origin};
use crate::schema::{Schema, Table};

/// When a step runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    /// In the main transaction.
    Ddl,
    /// In a transaction of data steps on existing tables.
    Data,
    /// A backfill migration of its own: one UPDATE the runtime runs in batches of key ranges.
    Backfill,
    /// PostgreSQL, outside a transaction, after the others.
    Online,
}

/// One step: UP statements and their exact inverse.
#[derive(Debug, Clone)]
pub struct Step {
    /// A `--` comment above the step.
    pub comment: String,
    /// When it runs.
    pub phase: Phase,
    /// UP statements (without `;`).
    pub up: Vec<String>,
    /// DOWN statements (without `;`), in the order they run.
    pub down: Vec<String>,
    /// `-- NOTE:` lines in the UP.
    pub notes: Vec<String>,
    /// Data the DOWN cannot bring back (it still restores the schema).
    pub lossy: Vec<String>,
    /// Breaking changes.
    pub breaking: Vec<String>,
    /// Lint findings the step means to cause, with the reason written in the file's
    /// `-- migrator:allow` line.
    pub allows: Vec<(&'static str, String)>,
    /// Work that scales with a table's rows the analyser does not see as such (an SQLite rebuild).
    pub heavy: Vec<String>,
    /// [`Phase::Backfill`]: the table and the integer key column its batches are ranges of.
    pub backfill: Option<BackfillKey>,
}

/// What a `-- migrator:backfill table=... key=...` directive names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackfillKey {
    /// The table the UPDATE changes.
    pub table: String,
    /// Its integer key column.
    pub key: String,
}

/// The steps for an issue.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Steps in issue order.
    pub steps: Vec<Step>,
    /// Notes for the output (reserved words, added indexes, revisions).
    pub notes: Vec<String>,
    /// The schema after every step.
    pub schema: Schema,
}

/// Plans `changes` against `schema` (where it came from: `source`, for messages).
pub fn plan(
    changes: &[Located],
    schema: &Schema,
    source: &str,
    dialect: Dialect,
    issue: u32,
) -> Result<Plan, GenError> {
    let changes = data::defer_not_null(changes, schema);
    let mut p = Planner {
        d: dialect,
        issue,
        schema: schema.clone(),
        source: source.to_string(),
        created: BTreeSet::new(),
        added: BTreeSet::new(),
        steps: Vec::new(),
        notes: Vec::new(),
        origin: Origin {
            part: "body".into(),
            line: 0,
        },
        later: Vec::new(),
        shadow: None,
    };
    if dialect == Dialect::Sqlite {
        match shadow::build(schema) {
            Ok(conn) => p.shadow = Some(conn),
            Err(e) => {
                tracing::debug!(error = %e, "no SQLite shadow of the schema; the model is kept by the DDL reader")
            }
        }
    }
    for (n, l) in changes.iter().enumerate() {
        p.origin = l.origin.clone();
        p.later = changes[n + 1..].to_vec();
        tracing::debug!(change = %l.change.describe(), origin = %l.origin, "planning");
        p.change(&l.change)?;
    }
    limits::check(&p)?;
    Ok(Plan {
        steps: p.steps,
        notes: p.notes,
        schema: p.schema,
    })
}

/// The planner's state.
pub(crate) struct Planner {
    pub(crate) d: Dialect,
    pub(crate) issue: u32,
    /// The working schema.
    pub(crate) schema: Schema,
    pub(crate) source: String,
    /// Tables the issue creates.
    pub(crate) created: BTreeSet<String>,
    /// Columns the issue adds to existing tables.
    pub(crate) added: BTreeSet<(String, String)>,
    pub(crate) steps: Vec<Step>,
    pub(crate) notes: Vec<String>,
    /// The change being planned comes from here.
    pub(crate) origin: Origin,
    /// The changes after the current one.
    pub(crate) later: Vec<Located>,
    /// SQLite: the schema in an in-memory database, which every UP statement runs on ([`shadow`]).
    shadow: Option<rusqlite::Connection>,
}

impl Planner {
    fn change(&mut self, change: &Change) -> Result<(), GenError> {
        match change {
            Change::CreateTable {
                table,
                columns,
                constraints,
            } => self.create_table(table, columns, constraints),
            Change::DropTable { table } => self.drop_table(table),
            Change::RenameTable { from, to } => self.rename_table(from, to),
            Change::AddColumn { table, column } => self.add_column(table, column),
            Change::DropColumn { table, column } => self.drop_column(table, column),
            Change::RenameColumn { table, from, to } => self.rename_column(table, from, to),
            Change::AlterType {
                table,
                column,
                ty,
                using,
            } => self.alter_type(table, column, ty, using.as_ref()),
            Change::SetNotNull { table, column } => self.set_not_null(table, column),
            Change::DropNotNull { table, column } => self.drop_not_null(table, column),
            Change::SetDefault {
                table,
                column,
                default,
            } => self.set_default(table, column, Some(default)),
            Change::DropDefault { table, column } => self.set_default(table, column, None),
            Change::CreateIndex(index) => self.create_index(index),
            Change::DropIndex { name } => self.drop_index(name),
            Change::AddConstraint { table, constraint } => self.add_constraint(table, constraint),
            Change::DropConstraint { table, name } => self.drop_constraint(table, name),
            Change::Data(step) => self.data(step),
        }
    }

    /// A refusal of the current change.
    pub(crate) fn refuse(&self, message: impl Into<String>) -> GenError {
        GenError::Unsupported {
            issue: self.issue,
            origin: self.origin.to_string(),
            message: message.into(),
        }
    }

    /// A new step for the current change.
    pub(crate) fn step(&self, phase: Phase, comment: impl Into<String>) -> Step {
        Step {
            comment: format!("{} (from {})", comment.into(), self.origin),
            phase,
            up: Vec::new(),
            down: Vec::new(),
            notes: Vec::new(),
            lossy: Vec::new(),
            breaking: Vec::new(),
            allows: Vec::new(),
            heavy: Vec::new(),
            backfill: None,
        }
    }

    /// Applies the step's UP to the working schema and keeps the step.
    pub(crate) fn push(&mut self, mut step: Step) -> Result<(), GenError> {
        rebuild::allow_rebuilds(&mut step);
        for sql in &step.up {
            let applied = match &self.shadow {
                Some(conn) => shadow::apply(conn, sql).map(|s| self.schema = s),
                None => crate::schema::apply_statement(&mut self.schema, sql, self.d).map(|_| ()),
            };
            applied.map_err(|e| {
                self.refuse(format!(
                    "the generated statement does not apply to the schema ({e}): {}",
                    crate::ident::shorten(sql)
                ))
            })?;
        }
        self.steps.push(step);
        Ok(())
    }

    /// The table `t` of the working schema.
    pub(crate) fn table(&self, t: &Ident) -> Result<Table, GenError> {
        self.schema.table(t.as_str()).cloned().ok_or_else(|| {
            self.refuse(format!(
                "table {t} does not exist in the schema ({}){}",
                self.source,
                self.similar_table(t)
            ))
        })
    }

    fn similar_table(&self, t: &Ident) -> String {
        let known: Vec<&str> = self.schema.tables.keys().map(String::as_str).collect();
        let close: Vec<&str> = known
            .iter()
            .copied()
            .filter(|k| k.contains(t.as_str()) || t.as_str().contains(*k))
            .collect();
        if !close.is_empty() {
            format!("; did you mean {}?", close.join(", "))
        } else if known.is_empty() {
            "; the schema has no tables yet".to_string()
        } else {
            format!("; its tables are {}", known.join(", "))
        }
    }

    /// The column `t.c` of the working schema.
    pub(crate) fn column(&self, t: &Ident, c: &Ident) -> Result<crate::schema::Column, GenError> {
        let table = self.table(t)?;
        table.column(c.as_str()).cloned().ok_or_else(|| {
            let cols: Vec<&str> = table.columns.iter().map(|c| c.name.as_str()).collect();
            self.refuse(format!(
                "column {t}.{c} does not exist in the schema ({}); {t} has {}",
                self.source,
                cols.join(", ")
            ))
        })
    }

    /// `true` when the issue creates `t` (no online care needed, no rows yet).
    pub(crate) fn is_new(&self, t: &str) -> bool {
        self.created.contains(t)
    }

    /// Notes a name the issue introduces that is reserved in the target engine.
    pub(crate) fn note_name(&mut self, name: &Ident) {
        if crate::ident::is_reserved(name.as_str(), self.d) {
            let note = format!(
                "{}: `{name}` is a reserved word in {}: the generated SQL writes it in double quotes, and every query must too",
                self.origin,
                self.d.engine()
            );
            if !self.notes.contains(&note) {
                self.notes.push(note);
            }
        }
    }

    /// A name for a new index or constraint that the schema does not use yet.
    pub(crate) fn fresh_name(&self, base: &str) -> Ident {
        let taken = |n: &str| {
            self.schema.index(n).is_some()
                || self.schema.tables.contains_key(n)
                || self.schema.tables.values().any(|t| {
                    t.uniques.iter().any(|u| u.name.as_deref() == Some(n))
                        || t.checks.iter().any(|c| c.name.as_deref() == Some(n))
                        || t.foreign_keys.iter().any(|f| f.name.as_deref() == Some(n))
                        || t.primary_key
                            .as_ref()
                            .is_some_and(|p| p.name.as_deref() == Some(n))
                })
                || self
                    .steps
                    .iter()
                    .any(|s| s.up.iter().any(|u| u.contains(&format!(" {n} "))))
        };
        let first = Ident::generated(base);
        if !taken(first.as_str()) {
            return first;
        }
        (2..)
            .map(|k| Ident::generated(&format!("{base}_{k}")))
            .find(|c| !taken(c.as_str()))
            .unwrap_or(first)
    }
}
