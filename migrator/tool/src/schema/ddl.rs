//! Applying DDL statements, as `sqlparser` reads them, to a [`Schema`]: `CREATE TABLE`, `ALTER TABLE`
//! (columns, constraints, renames, defaults, types, identity), `CREATE INDEX`, `CREATE TRIGGER`,
//! `CREATE VIEW` and the matching `DROP`s. Every loader of the schema and the generator's planner go
//! through here, so the effect of a statement is written down once.

use migrator_analyse::sql::sqlparser::ast::{
    self, AlterColumnOperation, AlterTableOperation, ColumnDef, ColumnOption, Expr, ObjectType,
    OrderBySort, ReferentialAction, Statement, TableConstraint,
};
use migrator_analyse::sql::ReadStatement;

use super::names::{expression_columns, ident, key, named_tables};
use super::{
    Check, Column, FkAction, ForeignKey, Generated, Index, IndexKey, PrimaryKey, Schema, Table,
    Trigger, Unique, View,
};
use crate::dialect::Dialect;

/// What applying a statement did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The schema changed (or was confirmed, for `IF NOT EXISTS` on an existing object).
    Changed,
    /// The statement does not shape tables, indexes, triggers or views (SET, COMMENT, GRANT, functions,
    /// sequences, queries, ...).
    Skipped,
}

/// Reads `sql` (one statement) and applies it. `Err` holds the parser's or the schema's message.
pub fn apply_sql(schema: &mut Schema, sql: &str, dialect: Dialect) -> Result<Applied, String> {
    let read = migrator_analyse::sql::parse_statement(sql, dialect.analyse())?;
    apply(schema, &read, sql, dialect)
}

/// Applies one read statement; `sql` is its text (kept for triggers and SQLite tables).
pub fn apply(
    schema: &mut Schema,
    read: &ReadStatement,
    sql: &str,
    dialect: Dialect,
) -> Result<Applied, String> {
    match &read.statement {
        // A temporary table (a rebuild's copy of the rows) is not part of the schema.
        Statement::CreateTable(ct) if ct.temporary => return Ok(Applied::Skipped),
        Statement::CreateTable(ct) => {
            let name = key(&ct.name);
            if schema.tables.contains_key(&name) {
                return if ct.if_not_exists {
                    Ok(Applied::Changed)
                } else {
                    Err(format!("table {name} already exists"))
                };
            }
            if ct.query.is_some() {
                return Err(format!(
                    "CREATE TABLE {name} AS SELECT: the columns are not written out"
                ));
            }
            let mut table = Table {
                name: name.clone(),
                sql: (dialect == Dialect::Sqlite).then(|| sql.trim().to_string()),
                ..Table::default()
            };
            for def in &ct.columns {
                add_column(&mut table, def, dialect)?;
            }
            for c in &ct.constraints {
                add_constraint(&mut table, c, false, dialect)?;
            }
            schema.tables.insert(name, table);
        }
        Statement::AlterTable(at) => {
            let name = key(&at.name);
            if !schema.tables.contains_key(&name) {
                return if at.if_exists {
                    Ok(Applied::Changed)
                } else {
                    Err(format!("ALTER TABLE {name}: no such table"))
                };
            }
            for op in &at.operations {
                alter(schema, &name, op, dialect)?;
            }
        }
        Statement::CreateIndex(ci) => create_index(schema, ci, sql, dialect)?,
        Statement::Drop {
            object_type,
            names,
            if_exists,
            cascade,
            ..
        } => {
            for n in names {
                let k = key(n);
                if k.starts_with("temp.") {
                    continue;
                }
                drop_object(schema, *object_type, &k, *if_exists, *cascade)?;
            }
            if !matches!(
                object_type,
                ObjectType::Table
                    | ObjectType::Index
                    | ObjectType::View
                    | ObjectType::MaterializedView
            ) {
                return Ok(Applied::Skipped);
            }
        }
        Statement::CreateTrigger(ct) => {
            add_trigger(schema, &key(&ct.table_name), &key(&ct.name), sql)?;
        }
        Statement::DropTrigger(dt) => {
            let name = key(&dt.trigger_name);
            for t in schema.tables.values_mut() {
                t.triggers.retain(|tr| tr.name != name);
            }
        }
        Statement::CreateView(cv) => {
            let name = key(&cv.name);
            let tables = named_tables(&cv.query.to_string(), schema.tables.keys(), dialect);
            let text = match dialect {
                Dialect::Sqlite => sql.trim().to_string(),
                Dialect::Postgres => cv.query.to_string(),
            };
            schema.views.insert(
                name.clone(),
                View {
                    name,
                    sql: text,
                    materialized: cv.materialized,
                    tables,
                },
            );
        }
        _ => return Ok(Applied::Skipped),
    }
    Ok(Applied::Changed)
}

/// Adds a trigger read from its text (also used when `sqlparser` cannot read the trigger's body).
pub(crate) fn add_trigger(
    schema: &mut Schema,
    table: &str,
    name: &str,
    sql: &str,
) -> Result<(), String> {
    let t = schema
        .tables
        .get_mut(table)
        .ok_or_else(|| format!("trigger {name} is on {table}, which does not exist"))?;
    t.triggers.retain(|tr| tr.name != name);
    t.triggers.push(Trigger {
        name: name.to_string(),
        sql: sql.trim().to_string(),
    });
    Ok(())
}

/// Adds a view read from its text (when `sqlparser` cannot read the query).
pub(crate) fn add_view(schema: &mut Schema, name: &str, sql: &str, dialect: Dialect) {
    let tables = named_tables(sql, schema.tables.keys(), dialect);
    schema.views.insert(
        name.to_string(),
        View {
            name: name.to_string(),
            sql: sql.trim().to_string(),
            materialized: false,
            tables,
        },
    );
}

fn action(a: &Option<ReferentialAction>) -> FkAction {
    match a {
        None | Some(ReferentialAction::NoAction) => FkAction::NoAction,
        Some(ReferentialAction::Restrict) => FkAction::Restrict,
        Some(ReferentialAction::Cascade) => FkAction::Cascade,
        Some(ReferentialAction::SetNull) => FkAction::SetNull,
        Some(ReferentialAction::SetDefault) => FkAction::SetDefault,
    }
}

fn column_names(table: &Table) -> Vec<String> {
    table.columns.iter().map(|c| c.name.clone()).collect()
}

/// A column definition with its inline constraints.
fn add_column(table: &mut Table, def: &ColumnDef, dialect: Dialect) -> Result<(), String> {
    let name = ident(&def.name);
    if table.column(&name).is_some() {
        return Err(format!("column {}.{name} already exists", table.name));
    }
    let data_type = match def.data_type {
        ast::DataType::Unspecified => String::new(),
        ref t => t.to_string(),
    };
    table.columns.push(Column {
        name: name.clone(),
        data_type,
        ..Column::default()
    });
    for option in &def.options {
        let constraint_name = option.name.as_ref().map(ident);
        let inline = |c: TableConstraintKind| (constraint_name.clone(), c);
        let made = match &option.option {
            ColumnOption::NotNull => {
                column_mut(table, &name)?.not_null = true;
                None
            }
            ColumnOption::Null => None,
            ColumnOption::Default(e) => {
                column_mut(table, &name)?.default = Some(e.to_string());
                None
            }
            ColumnOption::PrimaryKey(_) => Some(inline(TableConstraintKind::PrimaryKey)),
            ColumnOption::Unique(_) => Some(inline(TableConstraintKind::Unique)),
            ColumnOption::ForeignKey(fk) => {
                table.foreign_keys.push(ForeignKey {
                    name: constraint_name
                        .clone()
                        .or_else(|| fk.name.as_ref().map(ident)),
                    columns: vec![name.clone()],
                    ref_table: key(&fk.foreign_table),
                    ref_columns: fk.referred_columns.iter().map(ident).collect(),
                    on_delete: action(&fk.on_delete),
                    on_update: action(&fk.on_update),
                    not_valid: false,
                });
                None
            }
            ColumnOption::Check(ck) => {
                let columns = column_names(table);
                table.checks.push(Check {
                    name: constraint_name
                        .clone()
                        .or_else(|| ck.name.as_ref().map(ident)),
                    expr: ck.expr.to_string(),
                    columns: expression_columns(&ck.expr.to_string(), &columns, dialect),
                    not_valid: false,
                });
                None
            }
            ColumnOption::Generated {
                generated_as,
                generation_expr,
                generation_expr_mode,
                ..
            } => {
                let column = column_mut(table, &name)?;
                match generation_expr {
                    Some(e) => {
                        column.generated = Some(Generated {
                            expr: e.to_string(),
                            stored: matches!(generated_as, ast::GeneratedAs::ExpStored)
                                || matches!(
                                    generation_expr_mode,
                                    Some(ast::GeneratedExpressionMode::Stored)
                                ),
                        })
                    }
                    None => column.identity = Some(identity_kind(Some(generated_as))),
                }
                None
            }
            // Collation, comments and dialect options do not change what the tool checks.
            _ => None,
        };
        match made {
            Some((cname, TableConstraintKind::PrimaryKey)) => {
                table.primary_key = Some(PrimaryKey {
                    name: cname,
                    columns: vec![name.clone()],
                });
                if dialect == Dialect::Postgres {
                    column_mut(table, &name)?.not_null = true;
                }
            }
            Some((cname, TableConstraintKind::Unique)) => table.uniques.push(Unique {
                name: cname,
                columns: vec![name.clone()],
            }),
            None => {}
        }
    }
    Ok(())
}

enum TableConstraintKind {
    PrimaryKey,
    Unique,
}

fn identity_kind(g: Option<&ast::GeneratedAs>) -> String {
    match g {
        Some(ast::GeneratedAs::ByDefault) => "BY DEFAULT".to_string(),
        _ => "ALWAYS".to_string(),
    }
}

fn column_mut<'t>(table: &'t mut Table, name: &str) -> Result<&'t mut Column, String> {
    let tname = table.name.clone();
    table
        .columns
        .iter_mut()
        .find(|c| c.name == name)
        .ok_or_else(|| format!("column {tname}.{name} does not exist"))
}

fn index_column_names(columns: &[ast::IndexColumn]) -> Vec<String> {
    columns
        .iter()
        .map(|c| match &c.column.expr {
            Expr::Identifier(i) => ident(i),
            other => other.to_string(),
        })
        .collect()
}

fn check_columns_exist(table: &Table, columns: &[String], what: &str) -> Result<(), String> {
    for c in columns {
        if table.column(c).is_none() {
            return Err(format!(
                "{what} names column {c}, which {} does not have",
                table.name
            ));
        }
    }
    Ok(())
}

/// A table constraint (`CONSTRAINT name ...` of CREATE TABLE or ALTER TABLE ADD).
fn add_constraint(
    table: &mut Table,
    c: &TableConstraint,
    not_valid: bool,
    dialect: Dialect,
) -> Result<(), String> {
    match c {
        TableConstraint::PrimaryKey(pk) => {
            let columns = index_column_names(&pk.columns);
            check_columns_exist(table, &columns, "the primary key")?;
            if dialect == Dialect::Postgres {
                for col in &columns {
                    column_mut(table, col)?.not_null = true;
                }
            }
            table.primary_key = Some(PrimaryKey {
                name: pk.name.as_ref().map(ident),
                columns,
            });
        }
        TableConstraint::Unique(u) => {
            let columns = index_column_names(&u.columns);
            check_columns_exist(table, &columns, "a UNIQUE constraint")?;
            table.uniques.push(Unique {
                name: u.name.as_ref().map(ident),
                columns,
            });
        }
        TableConstraint::ForeignKey(fk) => {
            let columns: Vec<String> = fk.columns.iter().map(ident).collect();
            check_columns_exist(table, &columns, "a foreign key")?;
            table.foreign_keys.push(ForeignKey {
                name: fk.name.as_ref().map(ident),
                columns,
                ref_table: key(&fk.foreign_table),
                ref_columns: fk.referred_columns.iter().map(ident).collect(),
                on_delete: action(&fk.on_delete),
                on_update: action(&fk.on_update),
                not_valid,
            });
        }
        TableConstraint::Check(ck) => {
            let expr = ck.expr.to_string();
            let columns = expression_columns(&expr, &column_names(table), dialect);
            table.checks.push(Check {
                name: ck.name.as_ref().map(ident),
                expr,
                columns,
                not_valid,
            });
        }
        // `ADD CONSTRAINT name PRIMARY KEY|UNIQUE USING INDEX idx`: the index becomes the constraint's.
        TableConstraint::PrimaryKeyUsingIndex(u) | TableConstraint::UniqueUsingIndex(u) => {
            let index = ident(&u.index_name);
            let at = table
                .indexes
                .iter()
                .position(|i| i.name == index)
                .ok_or_else(|| format!("USING INDEX {index}: {} has no such index", table.name))?;
            let columns: Vec<String> = table
                .indexes
                .remove(at)
                .keys
                .into_iter()
                .map(|k| k.expr)
                .collect();
            let name = u.name.as_ref().map(ident).or(Some(index));
            if matches!(c, TableConstraint::PrimaryKeyUsingIndex(_)) {
                if dialect == Dialect::Postgres {
                    for col in &columns {
                        column_mut(table, col)?.not_null = true;
                    }
                }
                table.primary_key = Some(PrimaryKey { name, columns });
            } else {
                table.uniques.push(Unique { name, columns });
            }
        }
        // EXCLUDE and the like: not modelled.
        _ => {}
    }
    Ok(())
}

fn alter(
    schema: &mut Schema,
    name: &str,
    op: &AlterTableOperation,
    dialect: Dialect,
) -> Result<(), String> {
    use AlterTableOperation as A;
    if let A::RenameTable { table_name } = op {
        let to = match table_name {
            ast::RenameTableNameKind::As(n) | ast::RenameTableNameKind::To(n) => key(n),
        };
        return rename_table(schema, name, &to);
    }
    let table = schema
        .tables
        .get_mut(name)
        .ok_or_else(|| format!("ALTER TABLE {name}: no such table"))?;
    table.sql = None;
    match op {
        A::AddColumn {
            column_def,
            if_not_exists,
            ..
        } if !(*if_not_exists && table.column(&ident(&column_def.name)).is_some()) => {
            add_column(table, column_def, dialect)?;
        }
        A::DropColumn {
            column_names,
            if_exists,
            ..
        } => {
            for c in column_names {
                let c = ident(c);
                if table.column(&c).is_none() {
                    if *if_exists {
                        continue;
                    }
                    return Err(format!("column {name}.{c} does not exist"));
                }
                drop_column(table, &c);
            }
        }
        A::RenameColumn {
            old_column_name,
            new_column_name,
        } => rename_column(table, &ident(old_column_name), &ident(new_column_name))?,
        A::AddConstraint {
            constraint,
            not_valid,
        } => add_constraint(table, constraint, *not_valid, dialect)?,
        A::DropConstraint {
            name: cname,
            if_exists,
            ..
        } => {
            let cname = ident(cname);
            if !drop_constraint(table, &cname) && !if_exists {
                return Err(format!("constraint {cname} of {name} does not exist"));
            }
        }
        A::ValidateConstraint { name: cname } => {
            let cname = ident(cname);
            for c in &mut table.checks {
                if c.name.as_deref() == Some(cname.as_str()) {
                    c.not_valid = false;
                }
            }
            for f in &mut table.foreign_keys {
                if f.name.as_deref() == Some(cname.as_str()) {
                    f.not_valid = false;
                }
            }
        }
        A::AlterColumn { column_name, op } => {
            let column = column_mut(table, &ident(column_name))?;
            match op {
                AlterColumnOperation::SetNotNull => column.not_null = true,
                AlterColumnOperation::DropNotNull => column.not_null = false,
                AlterColumnOperation::SetDefault { value } => {
                    column.default = Some(value.to_string())
                }
                AlterColumnOperation::DropDefault => column.default = None,
                AlterColumnOperation::SetDataType { data_type, .. } => {
                    column.data_type = data_type.to_string()
                }
                AlterColumnOperation::AddGenerated { generated_as, .. } => {
                    column.identity = Some(identity_kind(generated_as.as_ref()))
                }
                _ => {}
            }
        }
        // OWNER TO, ENABLE TRIGGER, SET (...), REPLICA IDENTITY, ...: nothing the model keeps.
        _ => {}
    }
    Ok(())
}

/// Drops a column and, as PostgreSQL does, the constraints and indexes that name it.
fn drop_column(table: &mut Table, column: &str) {
    let c = column.to_string();
    table.columns.retain(|x| x.name != c);
    if table
        .primary_key
        .as_ref()
        .is_some_and(|pk| pk.columns.contains(&c))
    {
        table.primary_key = None;
    }
    table.uniques.retain(|u| !u.columns.contains(&c));
    table.checks.retain(|k| !k.columns.contains(&c));
    table.foreign_keys.retain(|f| !f.columns.contains(&c));
    table.indexes.retain(|i| !i.columns.contains(&c));
}

fn rename_word(text: &str, from: &str, to: &str) -> String {
    // Expressions are printed by sqlparser: replace whole words only.
    let mut out = String::with_capacity(text.len());
    let bytes = text.as_bytes();
    let mut i = 0;
    let is_word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    while i < text.len() {
        if text[i..].starts_with(from)
            && (i == 0 || !is_word(bytes[i - 1]))
            && bytes.get(i + from.len()).is_none_or(|b| !is_word(*b))
        {
            out.push_str(to);
            i += from.len();
        } else {
            let ch = text[i..].chars().next().unwrap_or(' ');
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

fn rename_column(table: &mut Table, from: &str, to: &str) -> Result<(), String> {
    if table.column(to).is_some() {
        return Err(format!("column {}.{to} already exists", table.name));
    }
    column_mut(table, from)?.name = to.to_string();
    let swap = |cols: &mut Vec<String>| {
        for c in cols.iter_mut() {
            if c == from {
                *c = to.to_string();
            }
        }
    };
    if let Some(pk) = &mut table.primary_key {
        swap(&mut pk.columns);
    }
    for u in &mut table.uniques {
        swap(&mut u.columns);
    }
    for k in &mut table.checks {
        swap(&mut k.columns);
        k.expr = rename_word(&k.expr, from, to);
    }
    for f in &mut table.foreign_keys {
        swap(&mut f.columns);
    }
    for i in &mut table.indexes {
        swap(&mut i.columns);
        for k in &mut i.keys {
            k.expr = rename_word(&k.expr, from, to);
        }
        i.predicate = i.predicate.as_ref().map(|p| rename_word(p, from, to));
    }
    Ok(())
}

fn rename_table(schema: &mut Schema, from: &str, to: &str) -> Result<(), String> {
    if schema.tables.contains_key(to) {
        return Err(format!("table {to} already exists"));
    }
    let mut table = schema
        .tables
        .remove(from)
        .ok_or_else(|| format!("ALTER TABLE {from}: no such table"))?;
    table.name = to.to_string();
    table.sql = None;
    schema.tables.insert(to.to_string(), table);
    for t in schema.tables.values_mut() {
        for f in &mut t.foreign_keys {
            if f.ref_table == from {
                f.ref_table = to.to_string();
            }
        }
    }
    Ok(())
}

/// Drops the named constraint; `false` when the table has none of that name.
fn drop_constraint(table: &mut Table, name: &str) -> bool {
    let is = |n: &Option<String>| n.as_deref() == Some(name);
    let before = table.uniques.len() + table.checks.len() + table.foreign_keys.len();
    table.uniques.retain(|u| !is(&u.name));
    table.checks.retain(|c| !is(&c.name));
    table.foreign_keys.retain(|f| !is(&f.name));
    let mut dropped = before != table.uniques.len() + table.checks.len() + table.foreign_keys.len();
    if table.primary_key.as_ref().is_some_and(|pk| is(&pk.name)) {
        table.primary_key = None;
        dropped = true;
    }
    dropped
}

fn create_index(
    schema: &mut Schema,
    ci: &ast::CreateIndex,
    sql: &str,
    dialect: Dialect,
) -> Result<(), String> {
    let table_key = key(&ci.table_name);
    let table_name = table_key.clone();
    let Some(name) = ci.name.as_ref().map(key) else {
        return Err(format!(
            "CREATE INDEX on {table_name} without a name: name the index"
        ));
    };
    if schema.index(&name).is_some() {
        return if ci.if_not_exists {
            Ok(())
        } else {
            Err(format!("index {name} already exists"))
        };
    }
    let table = schema
        .tables
        .get_mut(&table_key)
        .ok_or_else(|| format!("index {name} is on {table_name}, which does not exist"))?;
    let all = column_names(table);
    let mut keys = Vec::new();
    let mut columns: Vec<String> = Vec::new();
    for c in &ci.columns {
        let (expr, is_column) = match &c.column.expr {
            Expr::Identifier(i) => (ident(i), true),
            other => (other.to_string(), false),
        };
        if is_column && table.column(&expr).is_none() {
            return Err(format!(
                "index {name} names column {expr}, which {table_name} does not have"
            ));
        }
        for col in expression_columns(&expr, &all, dialect) {
            if !columns.contains(&col) {
                columns.push(col);
            }
        }
        keys.push(IndexKey {
            expr,
            is_column,
            desc: matches!(c.column.options.sort, Some(OrderBySort::Desc)),
        });
    }
    let predicate = ci.predicate.as_ref().map(ToString::to_string);
    if let Some(p) = &predicate {
        for col in expression_columns(p, &all, dialect) {
            if !columns.contains(&col) {
                columns.push(col);
            }
        }
    }
    let method = ci
        .using
        .as_ref()
        .map(|m| m.to_string().to_lowercase())
        .filter(|m| m != "btree");
    table.indexes.push(Index {
        name,
        unique: ci.unique,
        keys,
        predicate,
        method,
        columns,
        // A CONCURRENTLY build's text would not re-create the index inside a transaction.
        sql: (!ci.concurrently).then(|| sql.trim().to_string()),
    });
    Ok(())
}

fn drop_object(
    schema: &mut Schema,
    kind: ObjectType,
    name: &str,
    if_exists: bool,
    cascade: bool,
) -> Result<(), String> {
    let missing = |what: &str| {
        if if_exists {
            Ok(())
        } else {
            Err(format!("DROP {what} {name}: it does not exist"))
        }
    };
    match kind {
        ObjectType::Table => {
            if schema.tables.remove(name).is_none() {
                return missing("TABLE");
            }
            for t in schema.tables.values_mut() {
                if cascade {
                    t.foreign_keys.retain(|f| f.ref_table != name);
                }
            }
        }
        ObjectType::Index => {
            let mut found = false;
            for t in schema.tables.values_mut() {
                let before = t.indexes.len();
                t.indexes.retain(|i| i.name != name);
                found |= t.indexes.len() != before;
            }
            if !found {
                return missing("INDEX");
            }
        }
        ObjectType::View | ObjectType::MaterializedView if schema.views.remove(name).is_none() => {
            return missing("VIEW");
        }
        _ => {}
    }
    Ok(())
}
