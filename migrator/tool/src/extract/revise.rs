//! Later statements revise earlier ones: a comment (or a later line of the body) that restates a table,
//! a column or an index replaces the earlier statement, and a change to something the issue itself
//! creates is folded into its definition, so the migration writes the final shape once.
//!
//! - a second `CREATE TABLE t` or `add column t.c` replaces the first (in its place);
//! - `NOT NULL`, nullable, defaults, types and renames of a column the issue defines change that
//!   definition; dropping it removes it;
//! - a PRIMARY KEY, UNIQUE, CHECK or FOREIGN KEY added to a table the issue creates joins its definition;
//! - dropping a table or index the issue creates removes both; a second index of the same name replaces
//!   the first.

use crate::ident::Ident;
use crate::model::{Change, ColumnSpec, ConstraintSpec, Located};

/// Folds revisions; returns the changes and one note per revision.
pub(super) fn fold(changes: Vec<Located>) -> (Vec<Located>, Vec<String>) {
    let mut out: Vec<Located> = Vec::with_capacity(changes.len());
    let mut notes = Vec::new();
    for l in changes {
        let origin = l.origin.clone();
        let mut note = |what: String, earlier: &Located| {
            notes.push(format!("{origin}: {what} (revises {})", earlier.origin));
        };
        match &l.change {
            Change::CreateTable { table, .. } => {
                if let Some(at) = out.iter().position(|e| matches!(&e.change, Change::CreateTable { table: t, .. } if t == table)) {
                    let placeholder = matches!(&out[at].change, Change::CreateTable { columns, .. } if columns.is_empty());
                    if !placeholder {
                        note(format!("table {table} restated"), &out[at]);
                    }
                    out[at] = l;
                    continue;
                }
            }
            Change::AddColumn { table, column } if created_at(&out, table).is_some() => {
                if let Some(at) = created_at(&out, table) {
                    if let Change::CreateTable { columns, .. } = &mut out[at].change {
                        match columns.iter_mut().find(|c| c.name == column.name) {
                            Some(c) => *c = column.clone(),
                            None => columns.push(column.clone()),
                        }
                    }
                    continue;
                }
            }
            Change::AddColumn { table, column } => {
                if let Some(at) = out.iter().position(|e| matches!(&e.change, Change::AddColumn { table: t, column: c } if t == table && c.name == column.name)) {
                    note(format!("column {table}.{} restated", column.name), &out[at]);
                    out[at] = l;
                    continue;
                }
            }
            Change::CreateIndex(index) if index.name.is_some() => {
                if let Some(at) = out.iter().position(|e| matches!(&e.change, Change::CreateIndex(i) if i.name == index.name)) {
                    note("index restated".into(), &out[at]);
                    out[at] = l;
                    continue;
                }
            }
            Change::DropIndex { name } => {
                if let Some(at) = out.iter().position(|e| matches!(&e.change, Change::CreateIndex(i) if i.name.as_ref() == Some(name))) {
                    note(format!("index {name} dropped again"), &out[at]);
                    out.remove(at);
                    continue;
                }
            }
            Change::DropTable { table } => {
                if let Some(at) = created_at(&out, table) {
                    note(format!("table {table} dropped again"), &out[at]);
                    out.remove(at);
                    out.retain(|e| e.change.table() != Some(table));
                    continue;
                }
            }
            Change::AddConstraint { table, constraint } => {
                if let Some(at) = created_at(&out, table) {
                    if let Change::CreateTable { columns, constraints, .. } = &mut out[at].change {
                        if let ConstraintSpec::PrimaryKey(_) = constraint.constraint {
                            for c in columns.iter_mut() {
                                c.primary_key = false;
                            }
                            constraints.retain(|k| !matches!(k.constraint, ConstraintSpec::PrimaryKey(_)));
                        }
                        constraints.push(constraint.clone());
                    }
                    continue;
                }
            }
            _ => {}
        }
        if let Some((table, column)) = column_target(&l.change) {
            if let Some((at, spec)) = defined_column(&mut out, &table, &column) {
                if apply_to_definition(&l.change, spec) {
                    let earlier = out[at].clone();
                    note(
                        format!("{} folded into the definition", l.change.describe()),
                        &earlier,
                    );
                    if matches!(l.change, Change::DropColumn { .. }) {
                        remove_column(&mut out, at, &column);
                    }
                    continue;
                }
            }
        }
        out.push(l);
    }
    (out, notes)
}

fn created_at(out: &[Located], table: &Ident) -> Option<usize> {
    out.iter()
        .position(|e| matches!(&e.change, Change::CreateTable { table: t, .. } if t == table))
}

/// The column a column-level change is about.
fn column_target(change: &Change) -> Option<(Ident, Ident)> {
    match change {
        Change::SetNotNull { table, column }
        | Change::DropNotNull { table, column }
        | Change::SetDefault { table, column, .. }
        | Change::DropDefault { table, column }
        | Change::AlterType { table, column, .. }
        | Change::DropColumn { table, column } => Some((table.clone(), column.clone())),
        Change::RenameColumn { table, from, .. } => Some((table.clone(), from.clone())),
        _ => None,
    }
}

/// The definition of `table.column` in an earlier CREATE TABLE or ADD COLUMN of the issue.
fn defined_column<'a>(
    out: &'a mut [Located],
    table: &Ident,
    column: &Ident,
) -> Option<(usize, &'a mut ColumnSpec)> {
    for (at, l) in out.iter_mut().enumerate().rev() {
        match &mut l.change {
            Change::CreateTable {
                table: t, columns, ..
            } if t == table => {
                return columns
                    .iter_mut()
                    .find(|c| &c.name == column)
                    .map(|c| (at, c));
            }
            Change::AddColumn {
                table: t,
                column: c,
            } if t == table && &c.name == column => {
                return Some((at, c));
            }
            _ => {}
        }
    }
    None
}

/// Changes the definition; `false` when the change cannot be folded (it then stays a change of its own).
fn apply_to_definition(change: &Change, spec: &mut ColumnSpec) -> bool {
    match change {
        Change::SetNotNull { .. } => spec.not_null = true,
        Change::DropNotNull { .. } => spec.not_null = spec.primary_key,
        Change::SetDefault { default, .. } => spec.default = Some(default.clone()),
        Change::DropDefault { .. } => spec.default = None,
        Change::AlterType {
            ty, using: None, ..
        } => spec.ty = ty.clone(),
        Change::RenameColumn { to, .. } => spec.name = to.clone(),
        Change::DropColumn { .. } => {}
        _ => return false,
    }
    true
}

fn remove_column(out: &mut Vec<Located>, at: usize, column: &Ident) {
    match &mut out[at].change {
        Change::CreateTable { columns, .. } => columns.retain(|c| &c.name != column),
        Change::AddColumn { .. } => {
            out.remove(at);
        }
        _ => {}
    }
}
