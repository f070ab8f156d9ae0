//! The impact model: for each [`Op`], the objects changed, the lock per table, the work, and the queries a
//! live preview runs. PostgreSQL rows follow `postgres-locks.md`, keyed on the server major version.

use crate::live;
use crate::model::{
    Action, Dialect, LiveCheck, Lock, ObjectChange, ObjectKind, Options, TableImpact, Work,
};
use crate::ops::{Constraint, ObjectTypeName, Op};
use crate::pgtype::{self, Change};

/// What [`statement_impact`] computes for one statement.
#[derive(Debug, Default)]
pub(crate) struct Impact {
    pub objects: Vec<ObjectChange>,
    pub tables: Vec<TableImpact>,
    pub needs_rebuild: bool,
    pub destructive: bool,
    pub live_checks: Vec<LiveCheck>,
}

impl Impact {
    fn object(
        &mut self,
        action: Action,
        object: ObjectKind,
        name: &str,
        table: Option<&str>,
        detail: Option<String>,
    ) {
        self.objects.push(ObjectChange {
            action,
            object,
            name: name.to_string(),
            table: table.map(str::to_string),
            detail,
        });
    }

    fn live(&mut self, check: LiveCheck) {
        if !self.live_checks.contains(&check) {
            self.live_checks.push(check);
        }
    }
}

/// What `ALTER COLUMN ... TYPE` does to the table, from the resolved facts of the op.
pub(crate) fn type_change(op: &Op, version: u32) -> Option<Change> {
    let Op::AlterColumnType {
        data_type,
        using,
        from_type,
        utc,
        ..
    } = op
    else {
        return None;
    };
    if *using {
        return Some(Change::Rewrite(
            "a USING expression computes every value again".into(),
        ));
    }
    Some(pgtype::change(
        from_type.as_deref(),
        data_type,
        version,
        *utc,
    ))
}

/// Whether adding this column rewrites the table on PostgreSQL `version`.
pub(crate) fn add_column_rewrites(column: &crate::ops::Column, version: u32) -> bool {
    let default_rewrites = column.default.as_ref().is_some_and(|d| {
        d.volatility == crate::model::Volatility::Volatile || (version < 11 && !d.null)
    });
    default_rewrites || column.serial() || column.identity || column.generated_stored
}

struct Builder<'a> {
    opts: Options,
    /// Whether a table was created earlier in the section.
    is_new: &'a dyn Fn(&str) -> bool,
    out: Impact,
}

impl Builder<'_> {
    /// Records a lock and work on `table`, keeping the strongest of each.
    fn lock(&mut self, table: &str, pg_lock: Lock, work: Work, brief: bool) {
        let new_table = (self.is_new)(table);
        self.lock_as(table, pg_lock, work, brief, new_table);
    }

    fn is_new(&self, table: &str) -> bool {
        (self.is_new)(table)
    }

    /// Records a lock and work on `table`; `new_table` when the table is new (created earlier in the
    /// section, or by this very statement).
    fn lock_as(&mut self, table: &str, pg_lock: Lock, work: Work, brief: bool, new_table: bool) {
        if table.is_empty() {
            return;
        }
        let lock = match self.opts.dialect {
            Dialect::Postgres => pg_lock,
            Dialect::Sqlite => Lock::DatabaseWrite,
        };
        if let Some(t) = self.out.tables.iter_mut().find(|t| t.table == table) {
            t.lock = t.lock.max(lock);
            t.work = t.work.max(work);
            t.brief = t.brief && brief;
        } else {
            self.out.tables.push(TableImpact {
                table: table.to_string(),
                lock,
                brief,
                blocks_reads: false,
                blocks_writes: false,
                work,
                new_table,
            });
        }
        if !new_table
            && matches!(
                work,
                Work::Scan | Work::IndexBuild | Work::Rewrite | Work::Rebuild
            )
        {
            self.out.live(live::row_count(table));
        }
    }

    fn pg(&self) -> bool {
        self.opts.dialect == Dialect::Postgres
    }

    /// SQLite: the change needs the 12-step rebuild of `table`.
    fn rebuild(&mut self, table: &str) {
        self.out.needs_rebuild = true;
        self.lock(table, Lock::AccessExclusive, Work::Rebuild, false);
    }

    fn alter_or_rebuild(&mut self, table: &str, pg_lock: Lock, pg_work: Work, brief: bool) {
        if self.pg() {
            self.lock(table, pg_lock, pg_work, brief);
        } else {
            self.rebuild(table);
        }
    }

    /// A new column (with its type as the detail), its inline `REFERENCES` and CHECKs (`check <summary>`).
    fn column_objects(&mut self, table: &str, column: &crate::ops::Column) {
        self.out.object(
            Action::Create,
            ObjectKind::Column,
            &format!("{table}.{}", column.name),
            Some(table),
            Some(column.data_type.clone()),
        );
        if let Some(r) = &column.references {
            self.out.object(
                Action::Create,
                ObjectKind::ForeignKey,
                &format!("{table}.{}", column.name),
                Some(table),
                Some(fk_detail(None, r, &column.referred_columns)),
            );
            self.lock(r, Lock::ShareRowExclusive, Work::None, true);
        }
        for (i, summary) in column.checks.iter().enumerate() {
            let suffix = if i == 0 {
                String::new()
            } else {
                format!("{}", i + 1)
            };
            self.out.object(
                Action::Create,
                ObjectKind::Constraint,
                &format!("{table}_{}_check{suffix}", column.name),
                Some(table),
                Some(format!("check {summary}")),
            );
        }
    }

    fn op(&mut self, op: &Op) {
        match op {
            Op::CreateTable { .. } => self.create_table(op),
            Op::CreateIndex { .. } | Op::DropIndex { .. } | Op::Reindex { .. } => self.index(op),
            Op::AddColumn { .. }
            | Op::DropColumn { .. }
            | Op::AlterColumnType { .. }
            | Op::SetNotNull { .. }
            | Op::DropNotNull { .. }
            | Op::SetDefault { .. }
            | Op::DropDefault { .. }
            | Op::AddIdentity { .. } => self.column(op),
            Op::AddConstraint { .. }
            | Op::DropConstraint { .. }
            | Op::ValidateConstraint { .. } => self.constraint(op),
            Op::Insert { .. } | Op::Update { .. } | Op::Delete { .. } | Op::Truncate { .. } => {
                self.rows(op)
            }
            _ => self.other(op),
        }
    }

    fn create_table(&mut self, op: &Op) {
        let Op::CreateTable {
            table,
            columns,
            constraints,
            ..
        } = op
        else {
            return;
        };
        self.out
            .object(Action::Create, ObjectKind::Table, table, None, None);
        for c in columns {
            self.column_objects(table, c);
        }
        for (name, c) in constraints {
            let (kind, suffix, detail) = match c {
                Constraint::Check { summary, .. } => {
                    (ObjectKind::Constraint, "check", format!("check {summary}"))
                }
                Constraint::ForeignKey {
                    columns,
                    references,
                    referred,
                } => {
                    self.lock(references, Lock::ShareRowExclusive, Work::None, true);
                    (
                        ObjectKind::ForeignKey,
                        "fkey",
                        fk_detail(Some(columns), references, referred),
                    )
                }
                _ => continue,
            };
            let n = name.clone().unwrap_or_else(|| format!("{table}_{suffix}"));
            self.out
                .object(Action::Create, kind, &n, Some(table), Some(detail));
        }
        // The table is created by this very statement: new, empty.
        self.lock_as(table, Lock::AccessExclusive, Work::None, true, true);
    }

    fn index(&mut self, op: &Op) {
        match op {
            Op::CreateIndex {
                name,
                table,
                columns,
                unique,
                concurrently,
                predicate,
            } => {
                let n = name.clone().unwrap_or_else(|| format!("{table}_idx"));
                self.out.object(
                    Action::Create,
                    ObjectKind::Index,
                    &n,
                    Some(table),
                    Some(format!(
                        "{}({})",
                        if *unique { "unique " } else { "" },
                        columns.join(", ")
                    )),
                );
                let lock = if *concurrently {
                    Lock::ShareUpdateExclusive
                } else {
                    Lock::Share
                };
                self.lock(table, lock, Work::IndexBuild, false);
                if *unique && !self.is_new(table) {
                    self.out
                        .live(live::duplicates(table, columns, predicate.as_deref()));
                }
            }
            Op::DropIndex {
                names,
                concurrently,
                tables,
            } => {
                for (n, table) in names.iter().zip(tables) {
                    self.out
                        .object(Action::Drop, ObjectKind::Index, n, table.as_deref(), None);
                    if let Some(t) = table {
                        let lock = exclusive_unless_concurrent(*concurrently);
                        self.lock(t, lock, Work::None, true);
                    }
                }
            }
            Op::Reindex {
                what,
                name,
                concurrently,
                table,
            } => {
                self.out.object(
                    Action::Alter,
                    ObjectKind::Index,
                    &format!("{what} {name}"),
                    table.as_deref(),
                    Some("reindex".into()),
                );
                if let Some(t) = table {
                    // REINDEX takes SHARE on the table (writes wait; reads through the index too).
                    let lock = if *concurrently {
                        Lock::ShareUpdateExclusive
                    } else {
                        Lock::Share
                    };
                    self.lock(t, lock, Work::IndexBuild, false);
                }
            }
            _ => {}
        }
    }

    fn column(&mut self, op: &Op) {
        let v = self.opts.pg_version;
        match op {
            Op::AddColumn { table, column } => {
                self.column_objects(table, column);
                let rewrites = self.pg() && add_column_rewrites(column, v);
                let builds_index = self.pg() && (column.unique || column.primary_key);
                let work = if rewrites {
                    Work::Rewrite
                } else if builds_index {
                    Work::IndexBuild
                } else {
                    Work::None
                };
                self.lock(table, Lock::AccessExclusive, work, work == Work::None);
            }
            Op::DropColumn { table, column } => {
                self.out.destructive = true;
                self.out.object(
                    Action::Drop,
                    ObjectKind::Column,
                    &format!("{table}.{column}"),
                    Some(table),
                    None,
                );
                let work = if self.pg() { Work::None } else { Work::Rewrite };
                self.lock(table, Lock::AccessExclusive, work, self.pg());
                if !self.is_new(table) {
                    self.out.live(live::values_lost(table, column));
                    if !self.pg() {
                        self.out.live(live::sqlite_drop_column(table, column));
                    }
                }
            }
            Op::AlterColumnType {
                table,
                column,
                data_type,
                indexed,
                ..
            } => {
                self.out.object(
                    Action::Alter,
                    ObjectKind::Column,
                    &format!("{table}.{column}"),
                    Some(table),
                    Some(format!("type {data_type}")),
                );
                let work = match type_change(op, v) {
                    Some(Change::Same | Change::NoRewrite) => Work::None,
                    Some(Change::IndexesRebuilt) if *indexed == Some(false) => Work::None,
                    Some(Change::IndexesRebuilt) => Work::IndexBuild,
                    _ => Work::Rewrite,
                };
                self.alter_or_rebuild(table, Lock::AccessExclusive, work, work == Work::None);
            }
            Op::SetNotNull {
                table,
                column,
                proved,
            } => {
                self.out.object(
                    Action::Alter,
                    ObjectKind::Column,
                    &format!("{table}.{column}"),
                    Some(table),
                    Some("set not null".into()),
                );
                let skips_scan = *proved && v >= 12;
                let work = if skips_scan { Work::None } else { Work::Scan };
                self.alter_or_rebuild(table, Lock::AccessExclusive, work, skips_scan);
                if !self.is_new(table) && !*proved {
                    self.out
                        .live(live::nulls(table, std::slice::from_ref(column)));
                }
            }
            Op::DropNotNull { table, column }
            | Op::SetDefault { table, column }
            | Op::DropDefault { table, column }
            | Op::AddIdentity { table, column } => {
                let what = match op {
                    Op::DropNotNull { .. } => "drop not null",
                    Op::SetDefault { .. } => "set default",
                    Op::DropDefault { .. } => "drop default",
                    _ => "add identity",
                };
                self.out.object(
                    Action::Alter,
                    ObjectKind::Column,
                    &format!("{table}.{column}"),
                    Some(table),
                    Some(what.into()),
                );
                self.alter_or_rebuild(table, Lock::AccessExclusive, Work::None, true);
            }
            _ => {}
        }
    }

    fn constraint(&mut self, op: &Op) {
        match op {
            Op::AddConstraint {
                table,
                name,
                constraint,
                not_valid,
            } => self.add_constraint(table, name.as_deref(), constraint, *not_valid),
            Op::DropConstraint { table, name, .. } => {
                self.out.object(
                    Action::Drop,
                    ObjectKind::Constraint,
                    name,
                    Some(table),
                    None,
                );
                self.alter_or_rebuild(table, Lock::AccessExclusive, Work::None, true);
            }
            Op::ValidateConstraint { table, name, known } => {
                self.out.object(
                    Action::Alter,
                    ObjectKind::Constraint,
                    name,
                    Some(table),
                    Some("validate".into()),
                );
                self.alter_or_rebuild(table, Lock::ShareUpdateExclusive, Work::Scan, false);
                if let Some(c) = known {
                    self.validation_checks(table, c);
                }
            }
            _ => {}
        }
    }

    fn add_constraint(
        &mut self,
        table: &str,
        name: Option<&str>,
        constraint: &Constraint,
        not_valid: bool,
    ) {
        let n = name.map_or_else(|| format!("{table}_constraint"), str::to_string);
        let existing = !self.is_new(table);
        match constraint {
            Constraint::ForeignKey {
                columns,
                references,
                referred,
            } => {
                self.out.object(
                    Action::Create,
                    ObjectKind::ForeignKey,
                    &n,
                    Some(table),
                    Some(fk_detail(Some(columns), references, referred)),
                );
                let work = if not_valid { Work::None } else { Work::Scan };
                self.alter_or_rebuild(table, Lock::ShareRowExclusive, work, not_valid);
                if self.pg() {
                    self.lock(references, Lock::ShareRowExclusive, Work::None, not_valid);
                }
            }
            Constraint::Check { summary, .. } => {
                self.out.object(
                    Action::Create,
                    ObjectKind::Constraint,
                    &n,
                    Some(table),
                    Some(format!("check {summary}")),
                );
                let work = if not_valid { Work::None } else { Work::Scan };
                self.alter_or_rebuild(table, Lock::AccessExclusive, work, not_valid);
            }
            Constraint::Unique { columns } | Constraint::PrimaryKey { columns } => {
                self.out.object(
                    Action::Create,
                    ObjectKind::Constraint,
                    &n,
                    Some(table),
                    Some(format!("({})", columns.join(", "))),
                );
                self.alter_or_rebuild(table, Lock::AccessExclusive, Work::IndexBuild, false);
                if existing {
                    self.out.live(live::duplicates(table, columns, None));
                    if matches!(constraint, Constraint::PrimaryKey { .. }) {
                        self.out.live(live::nulls(table, columns));
                    }
                }
            }
            Constraint::Exclude => {
                self.out.object(
                    Action::Create,
                    ObjectKind::Constraint,
                    &n,
                    Some(table),
                    None,
                );
                self.alter_or_rebuild(table, Lock::AccessExclusive, Work::IndexBuild, false);
            }
            Constraint::UsingIndex | Constraint::Other => {
                self.out.object(
                    Action::Create,
                    ObjectKind::Constraint,
                    &n,
                    Some(table),
                    None,
                );
                self.alter_or_rebuild(table, Lock::AccessExclusive, Work::None, true);
            }
        }
        if existing && !not_valid {
            self.validation_checks(table, constraint);
        }
    }

    /// The failure checks of validating `constraint` over the rows of `table`.
    fn validation_checks(&mut self, table: &str, constraint: &Constraint) {
        if self.is_new(table) {
            return;
        }
        match constraint {
            Constraint::ForeignKey {
                columns,
                references,
                referred,
            } => {
                if let Some(c) = live::orphans(table, columns, references, referred) {
                    self.out.live(c);
                }
            }
            Constraint::Check { expr, .. } => self.out.live(live::check_violations(table, expr)),
            _ => {}
        }
    }

    fn rows(&mut self, op: &Op) {
        match op {
            Op::Truncate { tables } => {
                self.out.destructive = true;
                for t in tables {
                    self.out.object(
                        Action::Drop,
                        ObjectKind::Rows,
                        t,
                        Some(t),
                        Some("truncate".into()),
                    );
                    self.lock(t, Lock::AccessExclusive, Work::Rewrite, false);
                }
            }
            Op::Insert { table, .. } => {
                self.out.object(
                    Action::Alter,
                    ObjectKind::Rows,
                    table,
                    Some(table),
                    Some("insert".into()),
                );
                self.lock(table, Lock::RowExclusive, Work::Rows, false);
            }
            Op::Update { table, selection } | Op::Delete { table, selection } => {
                let delete = matches!(op, Op::Delete { .. });
                self.out.object(
                    if delete { Action::Drop } else { Action::Alter },
                    ObjectKind::Rows,
                    table,
                    Some(table),
                    Some(if delete { "delete" } else { "update" }.into()),
                );
                if delete && selection.is_none() {
                    self.out.destructive = true;
                }
                self.lock(table, Lock::RowExclusive, Work::Rows, false);
                if !self.is_new(table) {
                    self.out
                        .live(live::rows_affected(table, selection.as_deref()));
                }
            }
            _ => {}
        }
    }

    fn other(&mut self, op: &Op) {
        use Action::*;
        use Lock::*;
        match op {
            Op::RenameTable { from, to } => {
                self.out.object(
                    Rename,
                    ObjectKind::Table,
                    from,
                    None,
                    Some(format!("to {to}")),
                );
                self.lock(from, AccessExclusive, Work::None, true);
            }
            Op::RenameColumn { table, from, to } => {
                self.out.object(
                    Rename,
                    ObjectKind::Column,
                    &format!("{table}.{from}"),
                    Some(table),
                    Some(format!("to {to}")),
                );
                self.lock(table, AccessExclusive, Work::None, true);
            }
            Op::RenameIndex { from, to } => {
                self.out.object(
                    Rename,
                    ObjectKind::Index,
                    from,
                    None,
                    Some(format!("to {to}")),
                );
            }
            Op::RenameConstraint { table, from, to } => {
                self.out.object(
                    Rename,
                    ObjectKind::Constraint,
                    from,
                    Some(table),
                    Some(format!("to {to}")),
                );
                self.lock(table, AccessExclusive, Work::None, true);
            }
            Op::RenameOther { table, what } => {
                self.out
                    .object(Rename, ObjectKind::Other, what, Some(table), None);
                self.lock(table, AccessExclusive, Work::None, true);
            }
            Op::DetachPartition {
                table,
                concurrently,
            } => {
                self.out.object(
                    Alter,
                    ObjectKind::Table,
                    table,
                    None,
                    Some("detach partition".into()),
                );
                let lock = exclusive_unless_concurrent(*concurrently);
                self.lock(table, lock, Work::None, true);
            }
            Op::AlterTableOther { table, what } => {
                self.out.object(
                    Alter,
                    ObjectKind::Table,
                    table,
                    None,
                    Some(what.to_lowercase()),
                );
                self.lock(table, AccessExclusive, Work::None, true);
            }
            Op::Drop { kind, names, .. } => self.drop(*kind, names),
            Op::DropTrigger { name, table } => {
                self.out
                    .object(Drop, ObjectKind::Trigger, name, table.as_deref(), None);
                if let Some(t) = table {
                    self.lock(t, AccessExclusive, Work::None, true);
                }
            }
            Op::DropFunction { names } => {
                for n in names {
                    self.out.object(Drop, ObjectKind::Function, n, None, None);
                }
            }
            Op::CreateView { name, materialized } => {
                self.out.object(
                    Create,
                    ObjectKind::View,
                    name,
                    None,
                    materialized.then(|| "materialized".to_string()),
                );
            }
            Op::CreateTrigger { name, table } => {
                self.out
                    .object(Create, ObjectKind::Trigger, name, Some(table), None);
                self.lock(table, ShareRowExclusive, Work::None, true);
            }
            Op::CreateFunction { name, .. } => {
                self.out
                    .object(Create, ObjectKind::Function, name, None, None)
            }
            Op::CreateType { name } => self.out.object(Create, ObjectKind::Type, name, None, None),
            Op::CreateSequence { name } => {
                self.out
                    .object(Create, ObjectKind::Sequence, name, None, None)
            }
            Op::CreateSchema { name } => {
                self.out
                    .object(Create, ObjectKind::Schema, name, None, None)
            }
            Op::CreateExtension { name } => {
                self.out
                    .object(Create, ObjectKind::Extension, name, None, None)
            }
            Op::CreateStatistics { table: Some(t) } => {
                self.lock(t, ShareUpdateExclusive, Work::None, true);
            }
            Op::Vacuum {
                full,
                table: Some(t),
            } => {
                if *full || !self.pg() {
                    self.lock(t, AccessExclusive, Work::Rewrite, false);
                } else {
                    self.lock(t, ShareUpdateExclusive, Work::Scan, false);
                }
            }
            Op::Cluster { table: Some(t) } => {
                self.lock(t, AccessExclusive, Work::Rewrite, false);
            }
            Op::LockTable { tables, mode } => {
                for t in tables {
                    // Held until the transaction ends: not brief, whatever follows.
                    self.lock(t, *mode, Work::None, false);
                }
            }
            Op::RefreshMaterializedView { name, concurrently } => {
                self.out
                    .object(Alter, ObjectKind::View, name, None, Some("refresh".into()));
                let lock = if *concurrently {
                    Exclusive
                } else {
                    AccessExclusive
                };
                self.lock(name, lock, Work::Rewrite, false);
            }
            _ => {}
        }
    }

    fn drop(&mut self, kind: ObjectTypeName, names: &[String]) {
        let object = match kind {
            ObjectTypeName::Table => ObjectKind::Table,
            ObjectTypeName::View | ObjectTypeName::MaterializedView => ObjectKind::View,
            ObjectTypeName::Index => ObjectKind::Index,
            ObjectTypeName::Schema | ObjectTypeName::Database => ObjectKind::Schema,
            ObjectTypeName::Sequence => ObjectKind::Sequence,
            ObjectTypeName::Type => ObjectKind::Type,
            ObjectTypeName::Other => ObjectKind::Other,
        };
        for n in names {
            self.out.object(Action::Drop, object, n, None, None);
            match kind {
                ObjectTypeName::Table => {
                    self.out.destructive = true;
                    self.lock(n, Lock::AccessExclusive, Work::None, true);
                    if !self.is_new(n) {
                        self.out.live(live::row_count(n));
                    }
                }
                ObjectTypeName::Schema | ObjectTypeName::Database => {
                    self.out.destructive = true;
                }
                ObjectTypeName::MaterializedView => {
                    self.lock(n, Lock::AccessExclusive, Work::None, true)
                }
                _ => {}
            }
        }
    }
}

/// The impact of one statement's ops. `is_new` tells whether a table was created earlier in the section.
pub(crate) fn statement_impact(ops: &[Op], opts: Options, is_new: &dyn Fn(&str) -> bool) -> Impact {
    let mut b = Builder {
        opts,
        is_new,
        out: Impact::default(),
    };
    for op in ops {
        b.op(op);
    }
    for t in &mut b.out.tables {
        t.blocks_reads = t.lock.blocks_reads();
        t.blocks_writes = t.lock.blocks_writes();
    }
    b.out
}

/// The lock of a statement that takes ACCESS EXCLUSIVE, or only SHARE UPDATE EXCLUSIVE when run
/// CONCURRENTLY (DROP INDEX, REINDEX, DETACH PARTITION).
fn exclusive_unless_concurrent(concurrently: bool) -> Lock {
    if concurrently {
        Lock::ShareUpdateExclusive
    } else {
        Lock::AccessExclusive
    }
}

/// A foreign key's detail: `references contacts(id)` for a column's own `REFERENCES` (the object is named
/// `table.column`), `(a, b) references contacts(id)` for a table constraint. The referenced columns are
/// left out when the SQL leaves them out (the referenced table's primary key).
fn fk_detail(columns: Option<&[String]>, references: &str, referred: &[String]) -> String {
    let local = columns.map_or_else(String::new, |c| format!("({}) ", c.join(", ")));
    if referred.is_empty() {
        format!("{local}references {references}")
    } else {
        format!("{local}references {references}({})", referred.join(", "))
    }
}
