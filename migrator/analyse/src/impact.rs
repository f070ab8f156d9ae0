//! The impact model: for each [`Op`], the objects changed, the lock per table, the work, and the queries a
//! live preview runs. PostgreSQL rows follow `postgres-locks.md`, keyed on the server major version.

use std::collections::HashSet;

use crate::model::{
    Action, Dialect, LiveCheck, LiveCheckKind, Lock, ObjectChange, ObjectKind, Options,
    TableImpact, Work,
};
use crate::ops::{Constraint, ObjectTypeName, Op};

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

    fn live(&mut self, kind: LiveCheckKind, table: &str, sql: String) {
        let check = LiveCheck {
            kind,
            table: table.to_string(),
            sql,
        };
        if !self.live_checks.contains(&check) {
            self.live_checks.push(check);
        }
    }
}

/// Whether a new column type may be binary-coercible from the old one (no rewrite): `text`, unbounded or
/// widened `varchar`, `numeric` with raised precision. The old type is not known offline.
pub(crate) fn maybe_coercible(data_type: &str) -> bool {
    let t = data_type.trim();
    t == "text"
        || t.starts_with("varchar")
        || t.starts_with("character varying")
        || t.starts_with("numeric")
        || t.starts_with("decimal")
        || t == "citext"
}

/// Whether adding this column rewrites the table on PostgreSQL `version`.
pub(crate) fn add_column_rewrites(column: &crate::ops::Column, version: u32) -> bool {
    let default_rewrites = column
        .default
        .as_ref()
        .is_some_and(|d| d.volatile || (version < 11 && !d.null));
    default_rewrites || column.serial() || column.identity || column.generated_stored
}

struct Builder<'a> {
    opts: Options,
    new_tables: &'a HashSet<String>,
    out: Impact,
}

impl Builder<'_> {
    /// Records a lock and work on `table`, keeping the strongest of each.
    fn lock(&mut self, table: &str, pg_lock: Lock, work: Work, brief: bool) {
        if table.is_empty() {
            return;
        }
        let lock = match self.opts.dialect {
            Dialect::Postgres => pg_lock,
            Dialect::Sqlite => Lock::DatabaseWrite,
        };
        let new_table = self.new_tables.contains(table);
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
            self.out.live(
                LiveCheckKind::RowCount,
                table,
                format!("SELECT count(*) FROM {table}"),
            );
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
        use Action::*;
        use Lock::*;
        let v = self.opts.pg_version;
        match op {
            Op::CreateTable {
                table,
                columns,
                constraints,
                ..
            } => {
                self.out
                    .object(Create, ObjectKind::Table, table, None, None);
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
                            self.lock(references, ShareRowExclusive, Work::None, true);
                            (
                                ObjectKind::ForeignKey,
                                "fkey",
                                fk_detail(Some(columns), references, referred),
                            )
                        }
                        _ => continue,
                    };
                    let n = name.clone().unwrap_or_else(|| format!("{table}_{suffix}"));
                    self.out.object(Create, kind, &n, Some(table), Some(detail));
                }
                self.lock(table, AccessExclusive, Work::None, true);
            }
            Op::CreateIndex {
                name,
                table,
                columns,
                unique,
                concurrently,
            } => {
                let n = name.clone().unwrap_or_else(|| format!("{table}_idx"));
                self.out.object(
                    Create,
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
                    ShareUpdateExclusive
                } else {
                    Share
                };
                self.lock(table, lock, Work::IndexBuild, false);
                if *unique && !self.new_tables.contains(table) {
                    self.out.live(
                        LiveCheckKind::Duplicates,
                        table,
                        duplicates_sql(table, columns),
                    );
                }
            }
            Op::DropIndex {
                names,
                concurrently,
            } => {
                for n in names {
                    self.out.object(Drop, ObjectKind::Index, n, None, None);
                    let lock = exclusive_unless_concurrent(*concurrently);
                    self.lock(n, lock, Work::None, true);
                }
            }
            Op::Reindex {
                target,
                concurrently,
            } => {
                self.out.object(
                    Alter,
                    ObjectKind::Index,
                    target,
                    None,
                    Some("reindex".into()),
                );
                let lock = exclusive_unless_concurrent(*concurrently);
                self.lock(target, lock, Work::IndexBuild, false);
            }
            Op::AddColumn { table, column } => {
                self.column_objects(table, column);
                let rewrites = self.pg() && add_column_rewrites(column, v);
                let work = if rewrites { Work::Rewrite } else { Work::None };
                self.lock(table, AccessExclusive, work, !rewrites);
            }
            Op::DropColumn { table, column } => {
                self.out.destructive = true;
                self.out.object(
                    Drop,
                    ObjectKind::Column,
                    &format!("{table}.{column}"),
                    Some(table),
                    None,
                );
                let work = if self.pg() { Work::None } else { Work::Rewrite };
                self.lock(table, AccessExclusive, work, self.pg());
                if !self.new_tables.contains(table) {
                    self.out.live(
                        LiveCheckKind::RowCount,
                        table,
                        format!("SELECT count(*) FROM {table} WHERE {column} IS NOT NULL"),
                    );
                }
            }
            Op::AlterColumnType {
                table,
                column,
                data_type,
                using,
            } => {
                self.out.object(
                    Alter,
                    ObjectKind::Column,
                    &format!("{table}.{column}"),
                    Some(table),
                    Some(format!("type {data_type}")),
                );
                let rewrites = *using || !maybe_coercible(data_type);
                let work = if rewrites { Work::Rewrite } else { Work::None };
                self.alter_or_rebuild(table, AccessExclusive, work, !rewrites);
            }
            Op::SetNotNull { table, column } => {
                self.out.object(
                    Alter,
                    ObjectKind::Column,
                    &format!("{table}.{column}"),
                    Some(table),
                    Some("set not null".into()),
                );
                self.alter_or_rebuild(table, AccessExclusive, Work::Scan, false);
                if !self.new_tables.contains(table) {
                    self.out.live(
                        LiveCheckKind::Nulls,
                        table,
                        format!("SELECT count(*) FROM {table} WHERE {column} IS NULL"),
                    );
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
                    Alter,
                    ObjectKind::Column,
                    &format!("{table}.{column}"),
                    Some(table),
                    Some(what.into()),
                );
                self.alter_or_rebuild(table, AccessExclusive, Work::None, true);
            }
            Op::AddConstraint {
                table,
                name,
                constraint,
                not_valid,
            } => {
                let n = name
                    .clone()
                    .unwrap_or_else(|| format!("{table}_constraint"));
                match constraint {
                    Constraint::ForeignKey {
                        columns,
                        references,
                        referred,
                    } => {
                        self.out.object(
                            Create,
                            ObjectKind::ForeignKey,
                            &n,
                            Some(table),
                            Some(fk_detail(Some(columns), references, referred)),
                        );
                        let work = if *not_valid { Work::None } else { Work::Scan };
                        self.alter_or_rebuild(table, ShareRowExclusive, work, *not_valid);
                        if self.pg() {
                            self.lock(references, ShareRowExclusive, Work::None, *not_valid);
                        }
                    }
                    Constraint::Check { summary, .. } => {
                        self.out.object(
                            Create,
                            ObjectKind::Constraint,
                            &n,
                            Some(table),
                            Some(format!("check {summary}")),
                        );
                        let work = if *not_valid { Work::None } else { Work::Scan };
                        self.alter_or_rebuild(table, AccessExclusive, work, *not_valid);
                    }
                    Constraint::Unique { columns } | Constraint::PrimaryKey { columns } => {
                        self.out.object(
                            Create,
                            ObjectKind::Constraint,
                            &n,
                            Some(table),
                            Some(format!("({})", columns.join(", "))),
                        );
                        self.alter_or_rebuild(table, AccessExclusive, Work::IndexBuild, false);
                        if !self.new_tables.contains(table) {
                            self.out.live(
                                LiveCheckKind::Duplicates,
                                table,
                                duplicates_sql(table, columns),
                            );
                        }
                    }
                    Constraint::Exclude => {
                        self.out
                            .object(Create, ObjectKind::Constraint, &n, Some(table), None);
                        self.alter_or_rebuild(table, AccessExclusive, Work::IndexBuild, false);
                    }
                    Constraint::UsingIndex | Constraint::Other => {
                        self.out
                            .object(Create, ObjectKind::Constraint, &n, Some(table), None);
                        self.alter_or_rebuild(table, AccessExclusive, Work::None, true);
                    }
                }
            }
            Op::DropConstraint { table, name } => {
                self.out
                    .object(Drop, ObjectKind::Constraint, name, Some(table), None);
                self.alter_or_rebuild(table, AccessExclusive, Work::None, true);
            }
            Op::ValidateConstraint { table, name } => {
                self.out.object(
                    Alter,
                    ObjectKind::Constraint,
                    name,
                    Some(table),
                    Some("validate".into()),
                );
                self.alter_or_rebuild(table, ShareUpdateExclusive, Work::Scan, false);
            }
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
            Op::Drop { kind, names, .. } => {
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
                    self.out.object(Drop, object, n, None, None);
                    match kind {
                        ObjectTypeName::Table => {
                            self.out.destructive = true;
                            self.lock(n, AccessExclusive, Work::None, true);
                            if !self.new_tables.contains(n) {
                                self.out.live(
                                    LiveCheckKind::RowCount,
                                    n,
                                    format!("SELECT count(*) FROM {n}"),
                                );
                            }
                        }
                        ObjectTypeName::Schema | ObjectTypeName::Database => {
                            self.out.destructive = true;
                        }
                        ObjectTypeName::MaterializedView => {
                            self.lock(n, AccessExclusive, Work::None, true)
                        }
                        _ => {}
                    }
                }
            }
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
            Op::Truncate { tables } => {
                self.out.destructive = true;
                for t in tables {
                    self.out
                        .object(Drop, ObjectKind::Rows, t, Some(t), Some("truncate".into()));
                    self.lock(t, AccessExclusive, Work::Rewrite, false);
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
            Op::CreateFunction { name } => {
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
            Op::Insert { table, .. } => {
                self.out.object(
                    Alter,
                    ObjectKind::Rows,
                    table,
                    Some(table),
                    Some("insert".into()),
                );
                self.lock(table, RowExclusive, Work::Rows, false);
            }
            Op::Update { table, selection } | Op::Delete { table, selection } => {
                let delete = matches!(op, Op::Delete { .. });
                self.out.object(
                    if delete { Drop } else { Alter },
                    ObjectKind::Rows,
                    table,
                    Some(table),
                    Some(if delete { "delete" } else { "update" }.into()),
                );
                if delete && selection.is_none() {
                    self.out.destructive = true;
                }
                self.lock(table, RowExclusive, Work::Rows, false);
                if !self.new_tables.contains(table) {
                    let filter = selection
                        .as_ref()
                        .map(|s| format!(" WHERE {s}"))
                        .unwrap_or_default();
                    self.out.live(
                        LiveCheckKind::RowsAffected,
                        table,
                        format!("SELECT count(*) FROM {table}{filter}"),
                    );
                }
            }
            Op::Vacuum { full, table } => {
                if let Some(t) = table {
                    if *full || !self.pg() {
                        self.lock(t, AccessExclusive, Work::Rewrite, false);
                    } else {
                        self.lock(t, ShareUpdateExclusive, Work::Scan, false);
                    }
                }
            }
            Op::Pragma { .. } | Op::Other { .. } => {}
        }
    }
}

fn duplicates_sql(table: &str, columns: &[String]) -> String {
    let cols = columns.join(", ");
    format!("SELECT count(*) FROM (SELECT 1 FROM {table} GROUP BY {cols} HAVING count(*) > 1) AS d")
}

/// The impact of one statement's ops. `new_tables` are the tables created earlier in the same section.
pub(crate) fn statement_impact(ops: &[Op], opts: Options, new_tables: &HashSet<String>) -> Impact {
    let mut b = Builder {
        opts,
        new_tables,
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
