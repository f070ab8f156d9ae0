//! Tables: created from the issue, dropped (the DOWN re-creates them from the schema), renamed.

use super::{Phase, Planner};
use crate::error::GenError;
use crate::ident::Ident;
use crate::model::{
    ColumnSpec, ConstraintSpec, FkSpec, IndexKey, IndexSpec, KeyExpr, NamedConstraint,
};
use crate::render::{self, q};
use crate::sqlexpr::type_family;

impl Planner {
    pub(super) fn create_table(
        &mut self,
        table: &Ident,
        columns: &[ColumnSpec],
        constraints: &[NamedConstraint],
    ) -> Result<(), GenError> {
        if self.schema.table(table.as_str()).is_some() {
            return Err(self.refuse(format!(
                "table {table} already exists in the schema ({}); to change it, list the changes under `### Changes to `{table}``",
                self.source
            )));
        }
        if columns.is_empty() {
            return Err(self.refuse(format!("new table {table} has no column")));
        }
        self.check_column_count(table.as_str(), columns.len())?;
        self.note_name(table);
        let names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
        for (i, c) in columns.iter().enumerate() {
            self.note_name(&c.name);
            if names[..i].contains(&c.name.as_str()) {
                return Err(self.refuse(format!("column {table}.{} is listed twice", c.name)));
            }
        }
        let pks = columns.iter().filter(|c| c.primary_key).count()
            + constraints
                .iter()
                .filter(|c| matches!(c.constraint, ConstraintSpec::PrimaryKey(_)))
                .count();
        if pks > 1 {
            return Err(self.refuse(format!(
                "table {table} is given {pks} primary keys; a composite key is one `PRIMARY KEY (a, b)`"
            )));
        }
        for c in columns {
            if let Some(fk) = &c.references {
                self.check_fk(table, columns, std::slice::from_ref(&c.name), fk)?;
            }
            for (_, e) in &c.checks {
                self.check_expr_columns(table, &names, e.text())?;
            }
            if let Some(d) = &c.default {
                self.check_expr_columns(table, &[], d.text())?;
            }
        }
        for k in constraints {
            match &k.constraint {
                ConstraintSpec::PrimaryKey(cols) | ConstraintSpec::Unique(cols) => {
                    self.check_listed(table, &names, cols)?
                }
                ConstraintSpec::Check(e) => self.check_expr_columns(table, &names, e.text())?,
                ConstraintSpec::ForeignKey(cols, fk) => {
                    self.check_listed(table, &names, cols)?;
                    self.check_fk(table, columns, cols, fk)?;
                }
            }
        }
        let mut step = self.step(Phase::Ddl, format!("Create table {table}"));
        step.up.push(render::create_table_from_spec(
            table,
            columns,
            constraints,
            self.d,
        ));
        step.down.push(format!("DROP TABLE {}", table.sql(self.d)));
        self.created.insert(table.as_str().to_string());
        self.push(step)?;
        // Indexes the columns ask for, and one per foreign key no index covers.
        for c in columns {
            let fk_needs_index = c.references.is_some() && !c.primary_key && !c.unique;
            if c.indexed || fk_needs_index && !self.covered(table, std::slice::from_ref(&c.name)) {
                if !c.indexed {
                    self.notes.push(format!(
                        "{}: added an index on {table}({}) for its foreign key (deletes and key updates on {} would scan {table} without it)",
                        self.origin,
                        c.name,
                        c.references.as_ref().map_or("", |f| f.table.as_str())
                    ));
                }
                self.create_index(&index_on(table, &c.name))?;
            }
        }
        for k in constraints {
            if let ConstraintSpec::ForeignKey(cols, fk) = &k.constraint {
                if !self.covered(table, cols) {
                    self.notes.push(format!(
                        "{}: added an index on {table}({}) for its foreign key to {}",
                        self.origin,
                        cols.iter()
                            .map(Ident::as_str)
                            .collect::<Vec<_>>()
                            .join(", "),
                        fk.table
                    ));
                    self.create_index(&index_over(table, cols))?;
                }
            }
        }
        Ok(())
    }

    /// `true` when an index, the primary key or a UNIQUE of `table` starts with `columns`.
    pub(crate) fn covered(&self, table: &Ident, columns: &[Ident]) -> bool {
        let Some(t) = self.schema.table(table.as_str()) else {
            return false;
        };
        let prefix = |keys: &[String]| {
            keys.len() >= columns.len() && keys.iter().zip(columns).all(|(k, c)| k == c.as_str())
        };
        t.primary_key.as_ref().is_some_and(|pk| prefix(&pk.columns))
            || t.uniques.iter().any(|u| prefix(&u.columns))
            || t.indexes.iter().any(|i| {
                i.predicate.is_none()
                    && i.keys.iter().all(|k| k.is_column)
                    && prefix(&i.keys.iter().map(|k| k.expr.clone()).collect::<Vec<_>>())
            })
            || self.later.iter().any(|l| {
                matches!(&l.change, crate::model::Change::CreateIndex(i) if i.table == *table
                    && i.predicate.is_none()
                    && i.keys.len() >= columns.len()
                    && i.keys.iter().zip(columns).all(|(k, c)| k.key == KeyExpr::Column(c.clone())))
            })
    }

    fn check_listed(&self, table: &Ident, names: &[&str], cols: &[Ident]) -> Result<(), GenError> {
        for c in cols {
            if !names.contains(&c.as_str()) {
                return Err(self.refuse(format!(
                    "the constraint names column {c}, which new table {table} does not have"
                )));
            }
        }
        Ok(())
    }

    /// The identifiers of an expression are columns of the table (or keywords and function names).
    pub(crate) fn check_expr_columns(
        &self,
        table: &Ident,
        columns: &[&str],
        expr: &str,
    ) -> Result<(), GenError> {
        use migrator_analyse::sql::sqlparser::keywords::Keyword;
        use migrator_analyse::sql::sqlparser::tokenizer::Token;
        let tokens: Vec<Token> =
            migrator_analyse::sql::tokenize(expr, migrator_analyse::Dialect::Postgres)
                .map_err(|e| self.refuse(e))?
                .into_iter()
                .map(|t| t.token)
                .filter(|t| !matches!(t, Token::Whitespace(_)))
                .collect();
        for (i, t) in tokens.iter().enumerate() {
            let Token::Word(w) = t else { continue };
            let call = matches!(tokens.get(i + 1), Some(Token::LParen));
            let cast = i > 0 && matches!(tokens[i - 1], Token::DoubleColon);
            let name = w.value.to_lowercase();
            if call || cast || (w.quote_style.is_none() && w.keyword != Keyword::NoKeyword) {
                continue;
            }
            if !columns.contains(&name.as_str()) {
                return Err(self.refuse(format!(
                    "`{expr}` names {name}, which is not a column of {table}{}",
                    if columns.is_empty() {
                        " (a default cannot name columns)"
                    } else {
                        ""
                    }
                )));
            }
        }
        Ok(())
    }

    /// A foreign key of `table` (whose columns are `columns` when it is being created): the target exists,
    /// its columns are a key of it, and the types agree.
    pub(crate) fn check_fk(
        &self,
        table: &Ident,
        columns: &[ColumnSpec],
        cols: &[Ident],
        fk: &FkSpec,
    ) -> Result<(), GenError> {
        let self_ref = fk.table == *table;
        let target_cols: Vec<String>;
        let target_types: Vec<String>;
        if self_ref && self.schema.table(table.as_str()).is_none() {
            let pk: Vec<&ColumnSpec> = columns.iter().filter(|c| c.primary_key).collect();
            target_cols = if fk.columns.is_empty() {
                pk.iter().map(|c| c.name.as_str().to_string()).collect()
            } else {
                fk.columns.iter().map(|c| c.as_str().to_string()).collect()
            };
            target_types = target_cols
                .iter()
                .map(|n| {
                    columns
                        .iter()
                        .find(|c| c.name.as_str() == n)
                        .map(|c| c.ty.render(self.d))
                        .unwrap_or_default()
                })
                .collect();
        } else {
            let target = self.table(&fk.table).map_err(|_| {
                self.refuse(format!(
                    "{table}({}) references table {}, which does not exist in the schema ({})",
                    cols.iter()
                        .map(Ident::as_str)
                        .collect::<Vec<_>>()
                        .join(", "),
                    fk.table,
                    self.source
                ))
            })?;
            target_cols = if fk.columns.is_empty() {
                target.primary_key_columns().to_vec()
            } else {
                fk.columns.iter().map(|c| c.as_str().to_string()).collect()
            };
            if target_cols.is_empty() {
                return Err(self.refuse(format!(
                    "{} has no primary key: name the referenced column (`references {}(col)`)",
                    fk.table, fk.table
                )));
            }
            for c in &target_cols {
                if target.column(c).is_none() {
                    return Err(self.refuse(format!(
                        "{table} references {}.{c}, which does not exist in the schema ({})",
                        fk.table, self.source
                    )));
                }
            }
            if !target.is_unique_key(&target_cols) {
                return Err(self.refuse(format!(
                    "{table} references {}({}), which is not the primary key or a UNIQUE key of {}: the database refuses such a foreign key",
                    fk.table,
                    target_cols.join(", "),
                    fk.table
                )));
            }
            target_types = target_cols
                .iter()
                .map(|c| {
                    target
                        .column(c)
                        .map(|c| c.data_type.clone())
                        .unwrap_or_default()
                })
                .collect();
        }
        if target_cols.len() != cols.len() {
            return Err(self.refuse(format!(
                "the foreign key of {table} has {} column(s) but {} has {} key column(s)",
                cols.len(),
                fk.table,
                target_cols.len()
            )));
        }
        for (c, target_type) in cols.iter().zip(&target_types) {
            let own_type = columns
                .iter()
                .find(|s| &s.name == c)
                .map(|s| s.ty.render(self.d))
                .or_else(|| {
                    self.schema
                        .column(table.as_str(), c.as_str())
                        .map(|col| col.data_type.clone())
                })
                .unwrap_or_default();
            let (a, b) = (
                type_family(&own_type, self.d),
                type_family(target_type, self.d),
            );
            if let (Some(a), Some(b)) = (a, b) {
                if a != b && !(self.d == Dialect::Postgres && numeric_pair(a, b)) {
                    return Err(self.refuse(format!(
                        "{table}.{c} is {own_type} but references {}.{} of type {target_type}: the types must match",
                        fk.table,
                        target_cols[cols.iter().position(|x| x == c).unwrap_or(0)]
                    )));
                }
            }
        }
        Ok(())
    }

    pub(super) fn drop_table(&mut self, table: &Ident) -> Result<(), GenError> {
        let t = self.table(table)?;
        let referencing: Vec<String> = self
            .schema
            .referencing(table.as_str())
            .into_iter()
            .filter(|(from, _)| from.name != t.name)
            .map(|(from, fk)| format!("{}({})", from.name, fk.columns.join(", ")))
            .collect();
        if !referencing.is_empty() {
            return Err(self.refuse(format!(
                "table {table} is referenced by {}: drop those foreign keys (or tables) first",
                referencing.join(", ")
            )));
        }
        let views: Vec<String> = self
            .schema
            .views_on(table.as_str())
            .iter()
            .map(|v| v.name.clone())
            .collect();
        if !views.is_empty() {
            return Err(self.refuse(format!(
                "table {table} is used by the view(s) {}: drop or change them first",
                views.join(", ")
            )));
        }
        let d = self.d;
        let mut step = self.step(Phase::Ddl, format!("Drop table {table}"));
        step.up.push(format!("DROP TABLE {}", q(&t.name, d)));
        step.down
            .push(render::create_table_from_schema(&t, &t.name, d));
        for c in t.checks.iter().filter(|c| c.not_valid) {
            step.down.push(format!(
                "ALTER TABLE {} ADD {} NOT VALID",
                q(&t.name, d),
                render::schema_check(c, d)
            ));
        }
        for f in t.foreign_keys.iter().filter(|f| f.not_valid) {
            step.down.push(format!(
                "ALTER TABLE {} ADD {} NOT VALID",
                q(&t.name, d),
                render::schema_fk(f, d)
            ));
        }
        for i in &t.indexes {
            step.down
                .push(render::index_from_schema(i, &t.name, d, false));
        }
        if d == Dialect::Postgres && !t.indexes.is_empty() {
            step.allows.push((
                "pg-index-not-concurrent",
                format!("the DOWN builds the indexes of {table} right after re-creating it, empty"),
            ));
        }
        for tr in &t.triggers {
            step.down.push(tr.sql.clone());
        }
        step.lossy.push(format!(
            "table {table} is re-created by the DOWN as it was (columns, keys, indexes, triggers), but its rows are only in the pre-migration backup"
        ));
        step.breaking
            .push(format!("drop table {table}: its rows are deleted"));
        step.allows.push((
            "destructive-operation",
            format!(
                "the issue drops table {table} ({}); its rows are in the pre-migration backup",
                self.origin
            ),
        ));
        self.push(step)
    }

    pub(super) fn rename_table(&mut self, from: &Ident, to: &Ident) -> Result<(), GenError> {
        self.table(from)?;
        if self.schema.table(to.as_str()).is_some() {
            return Err(self.refuse(format!("cannot rename {from} to {to}: table {to} exists")));
        }
        self.note_name(to);
        let d = self.d;
        let mut step = self.step(Phase::Ddl, format!("Rename table {from} to {to}"));
        step.up.push(format!(
            "ALTER TABLE {} RENAME TO {}",
            from.sql(d),
            to.sql(d)
        ));
        step.down.push(format!(
            "ALTER TABLE {} RENAME TO {}",
            to.sql(d),
            from.sql(d)
        ));
        if !self.is_new(from.as_str()) {
            step.breaking.push(format!(
                "rename table {from} to {to}: running clients that use the old name break"
            ));
            step.allows.push((
                "rename-breaks-clients",
                format!("the issue renames table {from} to {to} ({})", self.origin),
            ));
        } else {
            self.created.insert(to.as_str().to_string());
        }
        self.push(step)
    }
}

use crate::dialect::Dialect;

/// Integer and numeric families compare on PostgreSQL (`integer` references `bigint` fine).
fn numeric_pair(a: &str, b: &str) -> bool {
    matches!(a, "integer" | "numeric") && matches!(b, "integer" | "numeric")
}

/// A plain index over `columns` of `table` (named by the planner).
pub(super) fn index_over(table: &Ident, columns: &[Ident]) -> IndexSpec {
    IndexSpec {
        name: None,
        table: table.clone(),
        unique: false,
        keys: columns
            .iter()
            .map(|c| IndexKey {
                key: KeyExpr::Column(c.clone()),
                desc: false,
            })
            .collect(),
        predicate: None,
        method: None,
    }
}

/// A plain index over one column.
pub(super) fn index_on(table: &Ident, column: &Ident) -> IndexSpec {
    index_over(table, std::slice::from_ref(column))
}
