//! Fenced `sql` blocks: split by `migrator_format`'s lexer, each statement read by `sqlparser` (the
//! PostgreSQL dialect, then SQLite's) and turned into changes. Queries are skipped, `BEGIN`/`COMMIT` too;
//! any other statement the generator does not write is reported with its line.

use migrator_analyse::sql::sqlparser::ast::{
    self, AlterColumnOperation, AlterTableOperation, ColumnDef, ColumnOption, Expr, ObjectName,
    ObjectType, Statement, TableConstraint,
};
use migrator_analyse::sql::{parse_statement, ReadStatement};

use crate::ident::Ident;
use crate::model::{
    Change, ColumnSpec, ConstraintSpec, DataKind, DataStep, FkAction, FkSpec, IndexKey, IndexSpec,
    KeyExpr, NamedConstraint, SqlExpr, SqlType,
};

/// What a block held.
pub(crate) struct Block {
    /// Changes with their 1-based line inside the part.
    pub changes: Vec<(usize, Change)>,
    /// Problems: line, the line's text, the reason.
    pub problems: Vec<(usize, String, String)>,
    /// Statements skipped (queries, transaction control): line and what.
    pub skipped: Vec<(usize, String)>,
}

/// Reads the body of a block whose first line is line `first_line` of its part.
pub(crate) fn read_block(body: &str, first_line: usize) -> Block {
    let mut block = Block {
        changes: Vec::new(),
        problems: Vec::new(),
        skipped: Vec::new(),
    };
    let line_text = |line: usize| {
        body.lines()
            .nth(line.saturating_sub(first_line))
            .unwrap_or("")
            .to_string()
    };
    let statements = match migrator_format::split_statements(body, first_line as u32) {
        Ok(s) => s,
        Err(e) => {
            let line = e.line as usize;
            block.problems.push((line, line_text(line), e.message));
            return block;
        }
    };
    for s in statements {
        let line = s.line as usize;
        let read = parse_statement(&s.sql, migrator_analyse::Dialect::Postgres)
            .or_else(|_| parse_statement(&s.sql, migrator_analyse::Dialect::Sqlite));
        match read
            .map_err(|e| format!("the statement cannot be read: {e}"))
            .and_then(|r| statement(&r))
        {
            Ok(Read::Changes(changes)) => {
                block.changes.extend(changes.into_iter().map(|c| (line, c)))
            }
            Ok(Read::Skipped(what)) => block.skipped.push((line, what)),
            Err(reason) => block.problems.push((line, line_text(line), reason)),
        }
    }
    block
}

enum Read {
    Changes(Vec<Change>),
    Skipped(String),
}

fn name(n: &ObjectName) -> Result<Ident, String> {
    let parts: Vec<String> = n.0.iter().map(ToString::to_string).collect();
    match parts.as_slice() {
        [one] => Ident::parse(one),
        [schema, one] if matches!(schema.to_ascii_lowercase().as_str(), "public" | "main") => {
            Ident::parse(one)
        }
        _ => Err(format!(
            "the name {n} is schema-qualified: only `public.` and `main.` are understood"
        )),
    }
}

fn ident(i: &ast::Ident) -> Result<Ident, String> {
    Ident::parse(&i.to_string())
}

fn idents(list: &[ast::Ident]) -> Result<Vec<Ident>, String> {
    list.iter().map(ident).collect()
}

fn action(a: &Option<ast::ReferentialAction>) -> Option<FkAction> {
    a.as_ref().map(|a| match a {
        ast::ReferentialAction::NoAction => FkAction::NoAction,
        ast::ReferentialAction::Restrict => FkAction::Restrict,
        ast::ReferentialAction::Cascade => FkAction::Cascade,
        ast::ReferentialAction::SetNull => FkAction::SetNull,
        ast::ReferentialAction::SetDefault => FkAction::SetDefault,
    })
}

fn column(def: &ColumnDef) -> Result<ColumnSpec, String> {
    let col = ident(&def.name)?;
    let ty = SqlType::from_data_type(&def.data_type).map_err(|e| format!("column {col}: {e}"))?;
    let mut spec = ColumnSpec::new(col.clone(), ty);
    for option in &def.options {
        let cname = option.name.as_ref().map(ident).transpose()?;
        match &option.option {
            ColumnOption::NotNull => spec.not_null = true,
            ColumnOption::Null => spec.not_null = false,
            ColumnOption::Default(e) => spec.default = Some(SqlExpr::from_expr(e)?),
            ColumnOption::PrimaryKey(_) => {
                spec.primary_key = true;
                spec.not_null = true;
            }
            ColumnOption::Unique(_) => spec.unique = true,
            ColumnOption::ForeignKey(fk) => {
                spec.references = Some(FkSpec {
                    table: name(&fk.foreign_table)?,
                    columns: idents(&fk.referred_columns)?,
                    on_delete: action(&fk.on_delete),
                    on_update: action(&fk.on_update),
                })
            }
            ColumnOption::Check(ck) => spec.checks.push((cname, SqlExpr::from_expr(&ck.expr)?)),
            other => {
                return Err(format!(
                    "column {col}: `{other}` is not generated (identity and generated columns, collations: write that migration by hand; BIGSERIAL gives an auto-numbered key)"
                ))
            }
        }
    }
    Ok(spec)
}

fn key_columns(columns: &[ast::IndexColumn]) -> Result<Vec<Ident>, String> {
    columns
        .iter()
        .map(|c| match &c.column.expr {
            Expr::Identifier(i) => ident(i),
            other => Err(format!("`{other}` in a key: only columns are understood")),
        })
        .collect()
}

fn constraint(c: &TableConstraint) -> Result<NamedConstraint, String> {
    let named = |n: &Option<ast::Ident>| n.as_ref().map(ident).transpose();
    Ok(match c {
        TableConstraint::PrimaryKey(pk) => NamedConstraint {
            name: named(&pk.name)?,
            constraint: ConstraintSpec::PrimaryKey(key_columns(&pk.columns)?),
        },
        TableConstraint::Unique(u) => NamedConstraint {
            name: named(&u.name)?,
            constraint: ConstraintSpec::Unique(key_columns(&u.columns)?),
        },
        TableConstraint::Check(ck) => NamedConstraint {
            name: named(&ck.name)?,
            constraint: ConstraintSpec::Check(SqlExpr::from_expr(&ck.expr)?),
        },
        TableConstraint::ForeignKey(fk) => NamedConstraint {
            name: named(&fk.name)?,
            constraint: ConstraintSpec::ForeignKey(
                idents(&fk.columns)?,
                FkSpec {
                    table: name(&fk.foreign_table)?,
                    columns: idents(&fk.referred_columns)?,
                    on_delete: action(&fk.on_delete),
                    on_update: action(&fk.on_update),
                },
            ),
        },
        other => return Err(format!("the constraint `{other}` is not generated")),
    })
}

fn index(ci: &ast::CreateIndex) -> Result<IndexSpec, String> {
    let mut keys = Vec::new();
    for c in &ci.columns {
        let key = match &c.column.expr {
            Expr::Identifier(i) => KeyExpr::Column(ident(i)?),
            other => KeyExpr::Expr(SqlExpr::from_expr(other)?),
        };
        keys.push(IndexKey {
            key,
            desc: matches!(c.column.options.sort, Some(ast::OrderBySort::Desc)),
        });
    }
    let method = match &ci.using {
        None => None,
        Some(m) if m.to_string().eq_ignore_ascii_case("btree") => None,
        Some(m) => Some(Ident::parse(&m.to_string())?),
    };
    Ok(IndexSpec {
        name: ci.name.as_ref().map(name).transpose()?,
        table: name(&ci.table_name)?,
        unique: ci.unique,
        keys,
        predicate: ci.predicate.as_ref().map(SqlExpr::from_expr).transpose()?,
        method,
    })
}

fn alter(table: &Ident, op: &AlterTableOperation) -> Result<Option<Change>, String> {
    use AlterTableOperation as A;
    let t = table.clone();
    Ok(Some(match op {
        A::AddColumn { column_def, .. } => Change::AddColumn {
            table: t,
            column: column(column_def)?,
        },
        A::DropColumn { column_names, .. } if column_names.len() == 1 => Change::DropColumn {
            table: t,
            column: ident(&column_names[0])?,
        },
        A::RenameColumn {
            old_column_name,
            new_column_name,
        } => Change::RenameColumn {
            table: t,
            from: ident(old_column_name)?,
            to: ident(new_column_name)?,
        },
        A::RenameTable { table_name } => Change::RenameTable {
            from: t,
            to: match table_name {
                ast::RenameTableNameKind::As(n) | ast::RenameTableNameKind::To(n) => name(n)?,
            },
        },
        A::AddConstraint { constraint: c, .. } => Change::AddConstraint {
            table: t,
            constraint: constraint(c)?,
        },
        A::DropConstraint { name: n, .. } => Change::DropConstraint {
            table: t,
            name: ident(n)?,
        },
        // The generator validates every constraint it adds; a VALIDATE of the issue's own is implied.
        A::ValidateConstraint { .. } => return Ok(None),
        A::AlterColumn { column_name, op } => {
            let column = ident(column_name)?;
            match op {
                AlterColumnOperation::SetNotNull => Change::SetNotNull { table: t, column },
                AlterColumnOperation::DropNotNull => Change::DropNotNull { table: t, column },
                AlterColumnOperation::SetDefault { value } => Change::SetDefault {
                    table: t,
                    column,
                    default: SqlExpr::from_expr(value)?,
                },
                AlterColumnOperation::DropDefault => Change::DropDefault { table: t, column },
                AlterColumnOperation::SetDataType {
                    data_type, using, ..
                } => Change::AlterType {
                    table: t,
                    column,
                    ty: SqlType::from_data_type(data_type)?,
                    using: using.as_ref().map(SqlExpr::from_expr).transpose()?,
                },
                other => return Err(format!("`ALTER COLUMN {column} {other}` is not generated")),
            }
        }
        other => return Err(format!("`ALTER TABLE {table} {other}` is not generated")),
    }))
}

fn data(
    kind: DataKind,
    table: Ident,
    columns: Vec<Ident>,
    filtered: bool,
    s: &Statement,
) -> Change {
    Change::Data(DataStep {
        kind,
        table,
        columns,
        sql: s.to_string(),
        filtered,
    })
}

fn relation(t: &ast::TableFactor) -> Result<Ident, String> {
    match t {
        ast::TableFactor::Table { name: n, .. } => name(n),
        other => Err(format!("`{other}`: only a plain table is understood")),
    }
}

fn statement(read: &ReadStatement) -> Result<Read, String> {
    let s = &read.statement;
    let changes = match s {
        Statement::CreateTable(ct) => {
            if ct.query.is_some() {
                return Err(
                    "CREATE TABLE ... AS SELECT is not generated: write the columns out".into(),
                );
            }
            vec![Change::CreateTable {
                table: name(&ct.name)?,
                columns: ct.columns.iter().map(column).collect::<Result<_, _>>()?,
                constraints: ct
                    .constraints
                    .iter()
                    .map(constraint)
                    .collect::<Result<_, _>>()?,
            }]
        }
        Statement::CreateIndex(ci) => vec![Change::CreateIndex(index(ci)?)],
        Statement::Drop {
            object_type, names, ..
        } => {
            let mut out = Vec::new();
            for n in names {
                out.push(match object_type {
                    ObjectType::Table => Change::DropTable { table: name(n)? },
                    ObjectType::Index => Change::DropIndex { name: name(n)? },
                    other => return Err(format!("DROP {other} is not generated")),
                });
            }
            out
        }
        Statement::AlterTable(at) => {
            let table = name(&at.name)?;
            let mut out = Vec::new();
            for op in &at.operations {
                out.extend(alter(&table, op)?);
            }
            if out.is_empty() {
                return Ok(Read::Skipped("VALIDATE CONSTRAINT (implied)".into()));
            }
            out
        }
        Statement::Update(u) => {
            let table = relation(&u.table.relation)?;
            let mut columns = Vec::new();
            for a in &u.assignments {
                if let ast::AssignmentTarget::ColumnName(n) = &a.target {
                    columns.push(name(n)?);
                }
            }
            vec![data(
                DataKind::Update,
                table,
                columns,
                u.selection.is_some(),
                s,
            )]
        }
        Statement::Insert(ins) => {
            let table = match &ins.table {
                ast::TableObject::TableName(n) => name(n)?,
                other => return Err(format!("INSERT INTO {other}: only a table is understood")),
            };
            vec![data(DataKind::Insert, table, Vec::new(), true, s)]
        }
        Statement::Delete(d) => {
            let from = match &d.from {
                ast::FromTable::WithFromKeyword(t) | ast::FromTable::WithoutKeyword(t) => t,
            };
            let table = match from.first() {
                Some(t) => relation(&t.relation)?,
                None => return Err("DELETE without a table".into()),
            };
            vec![data(
                DataKind::Delete,
                table,
                Vec::new(),
                d.selection.is_some(),
                s,
            )]
        }
        Statement::Query(_) | Statement::Explain { .. } => {
            return Ok(Read::Skipped("a query".into()))
        }
        Statement::StartTransaction { .. } | Statement::Commit { .. } => {
            return Ok(Read::Skipped("transaction control".into()))
        }
        other => {
            let words: Vec<String> = other
                .to_string()
                .split_whitespace()
                .take(2)
                .map(str::to_uppercase)
                .collect();
            return Err(format!(
                "`{}` statements are not generated (tables, columns, indexes, constraints and data steps are); write that migration by hand",
                words.join(" ")
            ));
        }
    };
    Ok(Read::Changes(changes))
}
