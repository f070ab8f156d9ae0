//! Columns of existing tables: added, dropped (the DOWN re-adds them with type, default, constraints and
//! indexes), renamed, retyped (the DOWN changes the type back; on PostgreSQL [`super::retype`] decides
//! whether a type change is one `ALTER COLUMN ... TYPE` or expand / backfill / contract), made NOT NULL or
//! nullable, given a default. On SQLite, what `ALTER TABLE` cannot do goes through the table rebuild.

use migrator_analyse::sql::sqlparser::ast::{ColumnOption, ColumnOptionDef};

use super::rebuild::edit_create_table;
use super::{Phase, Planner, Step};
use crate::dialect::Dialect;
use crate::error::GenError;
use crate::ident::Ident;
use crate::model::{ColumnSpec, ConstraintSpec, NamedConstraint, SqlExpr, SqlType};
use crate::render::{self, q};
use crate::schema::{Column, Table};
use crate::sqlexpr::type_family;

/// A value for every row of a column the DOWN puts back NOT NULL without a default; distinct per row when
/// the column is unique. `None` for types without an obvious one.
pub(crate) fn placeholder(data_type: &str, d: Dialect, unique: bool) -> Option<String> {
    let family = type_family(data_type, d)?;
    Some(
        match (d, family, unique) {
            (Dialect::Sqlite, "text", true) => "lower(hex(randomblob(16)))",
            (Dialect::Sqlite, "text", false) => "''",
            (Dialect::Sqlite, "blob", _) => "x''",
            (Dialect::Sqlite, _, _) => "0",
            (Dialect::Postgres, "text", true) => "gen_random_uuid()::text",
            (Dialect::Postgres, "text", false) => "''",
            (Dialect::Postgres, "uuid", _) => "gen_random_uuid()",
            (Dialect::Postgres, "integer" | "numeric" | "float", _) => "0",
            (Dialect::Postgres, "boolean", _) => "false",
            (Dialect::Postgres, "date", _) => "'1970-01-01'",
            (Dialect::Postgres, "timestamp" | "timestamptz", _) => "'epoch'",
            (Dialect::Postgres, "json" | "jsonb", _) => "'{}'",
            (Dialect::Postgres, "bytea", _) => "''",
            _ => return None,
        }
        .to_string(),
    )
}

/// SQLite's ADD COLUMN can add this column as it is (sqlite.org/lang_altertable.html, ADD COLUMN).
fn sqlite_can_add(c: &ColumnSpec) -> bool {
    let constant = c.default.as_ref().is_none_or(|d| d.is_literal());
    let has_value = c.default.as_ref().is_some_and(|d| !d.is_null());
    let needs_value = c.not_null && !has_value;
    let fk_with_default = c.references.is_some() && has_value;
    !(c.primary_key || !constant || needs_value || fk_with_default)
}

impl Planner {
    pub(super) fn add_column(
        &mut self,
        table: &Ident,
        column: &ColumnSpec,
    ) -> Result<(), GenError> {
        let t = self.table(table)?;
        if t.column(column.name.as_str()).is_some() {
            return Err(self.refuse(format!(
                "column {table}.{} already exists in the schema ({})",
                column.name, self.source
            )));
        }
        self.note_name(&column.name);
        self.check_column_count(table.as_str(), t.columns.len() + 1)?;
        if column.primary_key {
            return Err(self.refuse(format!(
                "adding a primary key column to the existing table {table} is not generated; write it by hand"
            )));
        }
        if column.ty.is_serial() {
            return Err(self.refuse(format!(
                "a {} column added to the existing table {table} numbers every row and rewrites the table; add an INTEGER column and fill it in a data step",
                column.ty.render(Dialect::Postgres)
            )));
        }
        let names: Vec<String> = t
            .columns
            .iter()
            .map(|c| c.name.clone())
            .chain([column.name.as_str().to_string()])
            .collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        for (_, e) in &column.checks {
            self.check_expr_columns(table, &names, e.text())?;
        }
        if let Some(d) = &column.default {
            self.check_expr_columns(table, &[], d.text())?;
        }
        if let Some(fk) = &column.references {
            self.check_fk(
                table,
                std::slice::from_ref(column),
                std::slice::from_ref(&column.name),
                fk,
            )?;
        }
        let has_value = column.default.as_ref().is_some_and(|d| !d.is_null());
        if column.not_null && !has_value {
            return Err(self.refuse(format!(
                "{table}.{} is NOT NULL without a default: the rows {table} has cannot get a value; give it a default (`default X`), make it nullable, or fill it with an UPDATE in a ```sql block of the issue",
                column.name
            )));
        }
        self.added
            .insert((table.as_str().to_string(), column.name.as_str().to_string()));
        match self.d {
            Dialect::Sqlite => self.add_column_sqlite(&t, table, column),
            Dialect::Postgres => self.add_column_postgres(table, column),
        }
    }

    fn add_column_sqlite(
        &mut self,
        t: &Table,
        table: &Ident,
        column: &ColumnSpec,
    ) -> Result<(), GenError> {
        let d = self.d;
        let mut step = self.step(Phase::Ddl, format!("Add column {table}.{}", column.name));
        let mut plain = column.clone();
        plain.unique = false;
        plain.indexed = false;
        if sqlite_can_add(column) {
            step.up.push(format!(
                "ALTER TABLE {} ADD COLUMN {}",
                table.sql(d),
                render::spec_column(&plain, d, true)
            ));
            if column.references.is_some() {
                // A column in a foreign key cannot be dropped: the DOWN rebuilds the table as it was.
                step.down = self.sqlite_rebuild_back(t)?;
            } else {
                step.down.push(format!(
                    "ALTER TABLE {} DROP COLUMN {}",
                    table.sql(d),
                    column.name.sql(d)
                ));
            }
        } else {
            let def = render::spec_column(&plain, d, true);
            let after = edit_create_table(t, |ct| {
                ct.columns.push(parse_column_def(&def)?);
                Ok(())
            })
            .map_err(|e| self.refuse(e))?;
            step.notes.push(format!(
                "SQLite cannot ALTER TABLE ADD COLUMN {} as written (a non-constant default or a key): {table} is rebuilt, every row copied",
                column.name
            ));
            step.up = self.sqlite_rebuild(t, &after, &[])?;
            step.down.push(format!(
                "ALTER TABLE {} DROP COLUMN {}",
                table.sql(d),
                column.name.sql(d)
            ));
        }
        self.push(step)?;
        self.column_indexes(table, column)
    }

    /// The unique and plain indexes an added column asks for (and one for its foreign key).
    fn column_indexes(&mut self, table: &Ident, column: &ColumnSpec) -> Result<(), GenError> {
        let one = [column.name.clone()];
        if column.unique {
            let mut i = super::tables::index_on(table, &column.name);
            i.unique = true;
            self.create_index(&i)?;
        }
        if column.indexed
            || (column.references.is_some() && !column.unique && !self.covered(table, &one))
        {
            if !column.indexed {
                self.notes.push(format!(
                    "{}: added an index on {table}({}) for its foreign key",
                    self.origin, column.name
                ));
            }
            self.create_index(&super::tables::index_on(table, &column.name))?;
        }
        Ok(())
    }

    fn add_column_postgres(&mut self, table: &Ident, column: &ColumnSpec) -> Result<(), GenError> {
        let d = self.d;
        let mut plain = column.clone();
        plain.unique = false;
        plain.indexed = false;
        plain.references = None;
        plain.checks.clear();
        let volatile = column.default.as_ref().filter(|e| e.is_volatile()).cloned();
        if volatile.is_some() {
            plain.default = None;
            plain.not_null = false;
        }
        let mut step = self.step(Phase::Ddl, format!("Add column {table}.{}", column.name));
        step.up.push(format!(
            "ALTER TABLE {} ADD COLUMN {}",
            table.sql(d),
            render::spec_column(&plain, d, false)
        ));
        step.down.push(format!(
            "ALTER TABLE {} DROP COLUMN {}",
            table.sql(d),
            column.name.sql(d)
        ));
        if let Some(e) = &volatile {
            step.up.push(format!(
                "ALTER TABLE {} ALTER COLUMN {} SET DEFAULT {}",
                table.sql(d),
                column.name.sql(d),
                e.render(d)
            ));
            step.notes.push(format!(
                "{} is evaluated per row: a column added with it rewrites {table} under an exclusive lock, so the column is added empty, new rows get the default, and a data step fills the rows {table} has",
                e.text()
            ));
        }
        self.push(step)?;
        if let Some(e) = volatile {
            let mut fill = self.step(
                Phase::Data,
                format!("Fill {table}.{} on the existing rows", column.name),
            );
            fill.up.push(format!(
                "UPDATE {} SET {} = {} WHERE {} IS NULL",
                table.sql(d),
                column.name.sql(d),
                e.render(d),
                column.name.sql(d)
            ));
            fill.down.push(format!(
                "UPDATE {} SET {} = NULL WHERE {} IS NOT NULL",
                table.sql(d),
                column.name.sql(d),
                column.name.sql(d)
            ));
            self.as_backfill(&mut fill, table);
            self.push(fill)?;
            if column.not_null {
                self.set_not_null_postgres(table, &column.name)?;
            }
        }
        for (name, e) in &column.checks {
            self.add_constraint(
                table,
                &NamedConstraint {
                    name: name.clone(),
                    constraint: ConstraintSpec::Check(e.clone()),
                },
            )?;
        }
        if let Some(fk) = &column.references {
            self.add_constraint(
                table,
                &NamedConstraint {
                    name: None,
                    constraint: ConstraintSpec::ForeignKey(vec![column.name.clone()], fk.clone()),
                },
            )?;
        }
        self.column_indexes(table, column)
    }

    /// The DOWN that puts `t` back as it is now, by a table rebuild (SQLite): the columns the UP adds are
    /// not copied.
    pub(crate) fn sqlite_rebuild_back(&self, t: &Table) -> Result<Vec<String>, GenError> {
        self.sqlite_rebuild_from(t, t, &[])
    }

    pub(super) fn drop_column(&mut self, table: &Ident, column: &Ident) -> Result<(), GenError> {
        let t = self.table(table)?;
        let col = self.column(table, column)?;
        let c = column.as_str().to_string();
        if t.primary_key_columns().contains(&c) {
            return Err(self.refuse(format!(
                "{table}.{column} is (part of) the primary key of {table}: dropping it is not generated; write that migration by hand"
            )));
        }
        let referencing: Vec<String> = self
            .schema
            .referencing(table.as_str())
            .into_iter()
            .filter(|(_, fk)| {
                fk.ref_columns.contains(&c)
                    || (fk.ref_columns.is_empty() && t.primary_key_columns().contains(&c))
            })
            .map(|(from, fk)| format!("{}({})", from.name, fk.columns.join(", ")))
            .collect();
        if !referencing.is_empty() {
            return Err(self.refuse(format!(
                "{table}.{column} is referenced by {}: drop those foreign keys first",
                referencing.join(", ")
            )));
        }
        let views: Vec<String> = self
            .schema
            .views_on(table.as_str())
            .iter()
            .filter(|v| {
                crate::schema::expression_columns(&v.sql, std::slice::from_ref(&c), self.d)
                    .contains(&c)
            })
            .map(|v| v.name.clone())
            .collect();
        if !views.is_empty() {
            return Err(self.refuse(format!(
                "{table}.{column} is used by the view(s) {}: change them first",
                views.join(", ")
            )));
        }
        let mut step = self.step(Phase::Ddl, format!("Drop column {table}.{column}"));
        step.breaking
            .push(format!("drop column {table}.{column}: its data is deleted"));
        step.lossy.push(format!(
            "column {table}.{column} is put back by the DOWN ({col}), but its values are only in the pre-migration backup"
        ));
        step.allows.push((
            "destructive-operation",
            format!(
                "the issue drops {table}.{column} ({}); its values are in the pre-migration backup",
                self.origin
            ),
        ));
        match self.d {
            Dialect::Postgres => self.drop_column_postgres(&t, &col, &mut step)?,
            Dialect::Sqlite => self.drop_column_sqlite(&t, &col, &mut step)?,
        }
        self.push(step)
    }

    fn drop_column_postgres(
        &self,
        t: &Table,
        col: &Column,
        step: &mut Step,
    ) -> Result<(), GenError> {
        let d = self.d;
        let tq = q(&t.name, d);
        let c = &col.name;
        step.up
            .push(format!("ALTER TABLE {tq} DROP COLUMN {}", q(c, d)));
        // The DOWN: the column as it was, then what the drop took with it.
        let unique = t
            .uniques
            .iter()
            .any(|u| u.columns == std::slice::from_ref(c))
            || t.indexes
                .iter()
                .any(|i| i.unique && i.columns == [c.clone()]);
        let mut readd = col.clone();
        let mut drop_default = false;
        if col.not_null
            && col.default.is_none()
            && col.generated.is_none()
            && col.identity.is_none()
        {
            let value = placeholder(&col.data_type, d, unique).ok_or_else(|| {
                self.refuse(format!(
                    "{}.{c} is NOT NULL without a default and of type {}: the DOWN could not put it back on a table with rows; write that migration by hand",
                    t.name, col.data_type
                ))
            })?;
            readd.default = Some(value);
            drop_default = true;
            step.lossy.push(format!(
                "the DOWN fills {}.{c} with a placeholder on the rows it has",
                t.name
            ));
        }
        step.down.push(format!(
            "ALTER TABLE {tq} ADD COLUMN {}",
            render::schema_column(&readd, d)
        ));
        if drop_default {
            step.down.push(format!(
                "ALTER TABLE {tq} ALTER COLUMN {} DROP DEFAULT",
                q(c, d)
            ));
        }
        let mine = |cols: &[String]| cols.contains(c);
        for u in t.uniques.iter().filter(|u| mine(&u.columns)) {
            step.down.push(format!(
                "ALTER TABLE {tq} ADD {}",
                render::schema_unique(u, d)
            ));
            step.allows.push((
                "pg-constraint-builds-index",
                format!(
                    "the DOWN restores the UNIQUE {} the drop of {c} removed",
                    u.name.as_deref().unwrap_or("")
                ),
            ));
        }
        for k in t.checks.iter().filter(|k| mine(&k.columns)) {
            let nv = if k.not_valid { " NOT VALID" } else { "" };
            step.down.push(format!(
                "ALTER TABLE {tq} ADD {}{nv}",
                render::schema_check(k, d)
            ));
            step.allows.push((
                "pg-check-not-valid",
                format!("the DOWN restores the CHECK on {c} as it was"),
            ));
        }
        for f in t.foreign_keys.iter().filter(|f| mine(&f.columns)) {
            let nv = if f.not_valid { " NOT VALID" } else { "" };
            step.down.push(format!(
                "ALTER TABLE {tq} ADD {}{nv}",
                render::schema_fk(f, d)
            ));
            step.allows.push((
                "pg-foreign-key-not-valid",
                format!("the DOWN restores the foreign key on {c} as it was"),
            ));
        }
        for i in t.indexes.iter().filter(|i| mine(&i.columns)) {
            step.down
                .push(render::index_from_schema(i, &t.name, d, false));
            step.allows.push((
                "pg-index-not-concurrent",
                format!(
                    "the DOWN re-creates index {} the drop of {c} removed",
                    i.name
                ),
            ));
        }
        if step.down.len() > 1 {
            step.allows.push((
                "pg-access-exclusive-held",
                format!("the DOWN puts {}.{c} back with what its drop took, in the one transaction of the rollback", t.name),
            ));
        }
        Ok(())
    }

    fn drop_column_sqlite(&self, t: &Table, col: &Column, step: &mut Step) -> Result<(), GenError> {
        let d = self.d;
        let c = &col.name;
        let tq = q(&t.name, d);
        let in_unique = t.uniques.iter().any(|u| u.columns.contains(c));
        let in_fk = t.foreign_keys.iter().any(|f| f.columns.contains(c));
        let in_other_check = t
            .checks
            .iter()
            .any(|k| k.columns.contains(c) && k.columns.len() > 1);
        let in_trigger = t.triggers.iter().any(|tr| {
            crate::schema::expression_columns(&tr.sql, std::slice::from_ref(c), d).contains(c)
        });
        if in_unique || in_fk || in_other_check || in_trigger || col.generated.is_some() {
            let after = edit_create_table(t, |ct| {
                ct.columns
                    .retain(|x| crate::schema::names::ident(&x.name) != *c);
                ct.constraints
                    .retain(|k| !constraint_names_column(&k.to_string(), c));
                Ok(())
            })
            .map_err(|e| self.refuse(e))?;
            step.notes.push(format!(
                "SQLite cannot DROP COLUMN {c} (a key, a constraint or a trigger uses it): {} is rebuilt, every row copied",
                t.name
            ));
            step.up = self.sqlite_rebuild(t, &after, &[])?;
        } else {
            for i in t.indexes.iter().filter(|i| i.columns.contains(c)) {
                step.up.push(format!("DROP INDEX {}", q(&i.name, d)));
            }
            step.up
                .push(format!("ALTER TABLE {tq} DROP COLUMN {}", q(c, d)));
        }
        // The DOWN rebuilds the table as it was, the dropped column filled for the rows it has.
        let fill = if col.not_null && col.default.is_none() {
            let unique = in_unique || t.indexes.iter().any(|i| i.unique && i.columns.contains(c));
            placeholder(&col.data_type, d, unique).unwrap_or_else(|| "0".into())
        } else {
            col.default.clone().unwrap_or_else(|| "NULL".into())
        };
        let mut after_up = t.clone();
        after_up.columns.retain(|x| &x.name != c);
        step.down = self.sqlite_rebuild_from(&after_up, t, &[(c.clone(), fill)])?;
        Ok(())
    }

    /// Rebuilds the table as `now` is into exactly `target` (its own text), filling columns only `target`
    /// has.
    pub(crate) fn sqlite_rebuild_from(
        &self,
        now: &Table,
        target: &Table,
        fill: &[(String, String)],
    ) -> Result<Vec<String>, GenError> {
        let exact = render::create_table_from_schema(target, &target.name, Dialect::Sqlite);
        let mut now = now.clone();
        now.indexes = target.indexes.clone();
        now.triggers = target.triggers.clone();
        self.sqlite_rebuild(&now, &exact, fill)
    }

    pub(super) fn rename_column(
        &mut self,
        table: &Ident,
        from: &Ident,
        to: &Ident,
    ) -> Result<(), GenError> {
        self.column(table, from)?;
        if self.schema.column(table.as_str(), to.as_str()).is_some() {
            return Err(self.refuse(format!(
                "cannot rename {table}.{from} to {to}: {table}.{to} exists"
            )));
        }
        self.note_name(to);
        let d = self.d;
        let mut step = self.step(Phase::Ddl, format!("Rename column {table}.{from} to {to}"));
        step.up.push(format!(
            "ALTER TABLE {} RENAME COLUMN {} TO {}",
            table.sql(d),
            from.sql(d),
            to.sql(d)
        ));
        step.down.push(format!(
            "ALTER TABLE {} RENAME COLUMN {} TO {}",
            table.sql(d),
            to.sql(d),
            from.sql(d)
        ));
        step.breaking.push(format!(
            "rename column {table}.{from} to {to}: running clients that use the old name break"
        ));
        step.allows.push((
            "rename-breaks-clients",
            format!("the issue renames {table}.{from} to {to} ({})", self.origin),
        ));
        self.push(step)
    }

    pub(super) fn alter_type(
        &mut self,
        table: &Ident,
        column: &Ident,
        ty: &SqlType,
        using: Option<&SqlExpr>,
    ) -> Result<(), GenError> {
        let t = self.table(table)?;
        let col = self.column(table, column)?;
        let d = self.d;
        let new_type = ty.render(d);
        let referenced: Vec<String> = self
            .schema
            .referencing(table.as_str())
            .into_iter()
            .filter(|(_, fk)| fk.ref_columns.contains(&col.name))
            .map(|(from, fk)| format!("{}({})", from.name, fk.columns.join(", ")))
            .collect();
        if !referenced.is_empty() {
            return Err(self.refuse(format!(
                "{table}.{column} is referenced by {}: change their types in the same issue by hand",
                referenced.join(", ")
            )));
        }
        let why = match d {
            Dialect::Postgres => match self.retype_how(&t, &col, &new_type, using) {
                super::retype::Retype::ExpandContract(why) => {
                    return self.retype_expand_contract(table, &col, ty, using, why)
                }
                super::retype::Retype::Alter(why) => Some(why),
            },
            Dialect::Sqlite => None,
        };
        let mut step = self.step(
            Phase::Ddl,
            format!("Change the type of {table}.{column} to {new_type}"),
        );
        step.breaking.push(format!(
            "type change of {table}.{column} from {} to {new_type}: may rewrite the table and fails on values that do not convert",
            col.data_type
        ));
        step.lossy.push(format!(
            "the DOWN changes {table}.{column} back to {}; values that do not fit it make the rollback fail",
            col.data_type
        ));
        match d {
            Dialect::Postgres => {
                let using_up = using
                    .map(|u| format!(" USING {}", u.render(d)))
                    .unwrap_or_default();
                step.up.push(format!(
                    "ALTER TABLE {} ALTER COLUMN {} TYPE {new_type}{using_up}",
                    table.sql(d),
                    column.sql(d)
                ));
                // PostgreSQL re-reads the CHECKs over the column for its type; it does so again on the
                // way back, as a dump and restore would.
                step.down.push(format!(
                    "ALTER TABLE {} ALTER COLUMN {} TYPE {} USING {}::{}",
                    table.sql(d),
                    column.sql(d),
                    col.data_type,
                    column.sql(d),
                    col.data_type
                ));
                step.allows.push(("pg-column-type-rewrite", format!("the issue changes the type of {table}.{column} ({}); schedule it for a quiet moment", self.origin)));
                step.notes.extend(why);
            }
            Dialect::Sqlite => {
                let after = edit_create_table(&t, |ct| {
                    let def = ct
                        .columns
                        .iter_mut()
                        .find(|x| crate::schema::names::ident(&x.name) == col.name)
                        .ok_or("column not in the table's definition")?;
                    def.data_type = migrator_analyse::sql::parse_data_type(
                        &new_type,
                        migrator_analyse::Dialect::Sqlite,
                    )?;
                    Ok(())
                })
                .map_err(|e| self.refuse(e))?;
                self.sqlite_rebuild_both(&mut step, &t, &after)?;
            }
        }
        self.push(step)
    }

    pub(super) fn set_not_null(&mut self, table: &Ident, column: &Ident) -> Result<(), GenError> {
        let col = self.column(table, column)?;
        if col.not_null {
            return Err(self.refuse(format!("{table}.{column} is already NOT NULL")));
        }
        match self.d {
            Dialect::Postgres => self.set_not_null_postgres(table, column),
            Dialect::Sqlite => {
                self.sqlite_column_edit(table, column, "Make {c} NOT NULL", |opts| {
                    opts.retain(|o| !matches!(o.option, ColumnOption::Null));
                    opts.push(ColumnOptionDef {
                        name: None,
                        option: ColumnOption::NotNull,
                    });
                })
            }
        }
    }

    /// NOT NULL on a populated column without a long exclusive lock, the contract of an expand/contract:
    /// one migration outside a transaction that adds a CHECK (c IS NOT NULL) `NOT VALID` (a brief lock;
    /// rows written before it are not checked, so writers that still omit the column keep working until
    /// then), validates it (a scan under a lock that lets reads and writes go on), then `SET NOT NULL`
    /// (PostgreSQL 12+ skips its scan thanks to the validated CHECK) and drops the CHECK. Its DOWN makes the
    /// column nullable again.
    pub(crate) fn set_not_null_postgres(
        &mut self,
        table: &Ident,
        column: &Ident,
    ) -> Result<(), GenError> {
        let d = self.d;
        let (tq, cq) = (table.sql(d), column.sql(d));
        let check = self.fresh_name(&format!("{table}_{column}_not_null"));
        let cn = check.sql(d);
        let mut online = self.step(
            Phase::Online,
            format!("Make {table}.{column} NOT NULL behind a validated check"),
        );
        online.up.push(format!(
            "ALTER TABLE {tq} ADD CONSTRAINT {cn} CHECK ({cq} IS NOT NULL) NOT VALID"
        ));
        online
            .up
            .push(format!("ALTER TABLE {tq} VALIDATE CONSTRAINT {cn}"));
        online
            .up
            .push(format!("ALTER TABLE {tq} ALTER COLUMN {cq} SET NOT NULL"));
        online
            .up
            .push(format!("ALTER TABLE {tq} DROP CONSTRAINT {cn}"));
        online
            .down
            .push(format!("ALTER TABLE {tq} ALTER COLUMN {cq} DROP NOT NULL"));
        online.breaking.push(format!("{table}.{column} becomes NOT NULL: the migration fails while rows hold NULL there, and INSERTs that omit it fail"));
        online.allows.push((
            "pg-set-not-null",
            format!("the validated CHECK {check} proves it, so PostgreSQL 12+ does not scan"),
        ));
        online.allows.push((
            "constraint-dropped",
            format!("{check} only carried the NOT NULL until SET NOT NULL took over"),
        ));
        self.push(online)
    }

    pub(super) fn drop_not_null(&mut self, table: &Ident, column: &Ident) -> Result<(), GenError> {
        let t = self.table(table)?;
        let col = self.column(table, column)?;
        if !col.not_null {
            return Err(self.refuse(format!("{table}.{column} is already nullable")));
        }
        if t.primary_key_columns().contains(&col.name) {
            return Err(self.refuse(format!(
                "{table}.{column} is in the primary key, which is always NOT NULL"
            )));
        }
        match self.d {
            Dialect::Postgres => {
                let d = self.d;
                let mut step = self.step(Phase::Ddl, format!("Make {table}.{column} nullable"));
                step.up.push(format!(
                    "ALTER TABLE {} ALTER COLUMN {} DROP NOT NULL",
                    table.sql(d),
                    column.sql(d)
                ));
                step.down.push(format!(
                    "ALTER TABLE {} ALTER COLUMN {} SET NOT NULL",
                    table.sql(d),
                    column.sql(d)
                ));
                step.lossy.push(format!("the DOWN makes {table}.{column} NOT NULL again, which fails once NULLs were written"));
                step.allows.push((
                    "constraint-dropped",
                    format!(
                        "the issue makes {table}.{column} nullable ({})",
                        self.origin
                    ),
                ));
                step.allows.push((
                    "pg-set-not-null",
                    format!("the DOWN puts the NOT NULL of {table}.{column} back"),
                ));
                self.push(step)
            }
            Dialect::Sqlite => {
                self.sqlite_column_edit(table, column, "Make {c} nullable", |opts| {
                    opts.retain(|o| !matches!(o.option, ColumnOption::NotNull));
                })
            }
        }
    }

    pub(super) fn set_default(
        &mut self,
        table: &Ident,
        column: &Ident,
        default: Option<&SqlExpr>,
    ) -> Result<(), GenError> {
        let col = self.column(table, column)?;
        if let Some(e) = default {
            self.check_expr_columns(table, &[], e.text())?;
        }
        let d = self.d;
        match d {
            Dialect::Postgres => {
                let what = if default.is_some() {
                    "Set the default of"
                } else {
                    "Drop the default of"
                };
                let mut step = self.step(Phase::Ddl, format!("{what} {table}.{column}"));
                let set = |v: Option<String>| match v {
                    Some(v) => format!(
                        "ALTER TABLE {} ALTER COLUMN {} SET DEFAULT {v}",
                        table.sql(d),
                        column.sql(d)
                    ),
                    None => format!(
                        "ALTER TABLE {} ALTER COLUMN {} DROP DEFAULT",
                        table.sql(d),
                        column.sql(d)
                    ),
                };
                step.up.push(set(default.map(|e| e.render(d))));
                step.down.push(set(col.default.clone()));
                self.push(step)
            }
            Dialect::Sqlite => {
                let value = default.map(|e| crate::render::default_sql(e, d));
                self.sqlite_column_edit(table, column, "Change the default of {c}", move |opts| {
                    opts.retain(|o| !matches!(o.option, ColumnOption::Default(_)));
                    if let Some(v) = value.as_deref().and_then(|v| {
                        migrator_analyse::sql::parse_expr(v, migrator_analyse::Dialect::Sqlite).ok()
                    }) {
                        opts.push(ColumnOptionDef {
                            name: None,
                            option: ColumnOption::Default(v),
                        });
                    }
                })
            }
        }
    }

    /// An SQLite change of one column's options, by a table rebuild both ways.
    fn sqlite_column_edit(
        &mut self,
        table: &Ident,
        column: &Ident,
        what: &str,
        edit: impl FnOnce(&mut Vec<ColumnOptionDef>),
    ) -> Result<(), GenError> {
        let t = self.table(table)?;
        let c = column.as_str().to_string();
        let after = edit_create_table(&t, |ct| {
            let def = ct
                .columns
                .iter_mut()
                .find(|x| crate::schema::names::ident(&x.name) == c)
                .ok_or("column not in the table's definition")?;
            edit(&mut def.options);
            Ok(())
        })
        .map_err(|e| self.refuse(e))?;
        let mut step = self.step(
            Phase::Ddl,
            what.replace("{c}", &format!("{table}.{column}")),
        );
        step.notes.push(format!(
            "SQLite's ALTER TABLE cannot change a column: {table} is rebuilt, every row copied"
        ));
        self.sqlite_rebuild_both(&mut step, &t, &after)?;
        self.push(step)
    }
}

/// A table constraint's text names `column` (in its column list).
fn constraint_names_column(text: &str, column: &str) -> bool {
    crate::schema::expression_columns(text, &[column.to_string()], Dialect::Sqlite)
        .contains(&column.to_string())
}

/// A column definition read by `sqlparser`.
fn parse_column_def(def: &str) -> Result<migrator_analyse::sql::sqlparser::ast::ColumnDef, String> {
    let mut p = migrator_analyse::sql::parser(migrator_analyse::Dialect::Sqlite)
        .try_with_sql(def)
        .map_err(|e| e.to_string())?;
    p.parse_column_def().map_err(|e| e.to_string())
}
