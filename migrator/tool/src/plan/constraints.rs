//! Indexes and constraints. On PostgreSQL an index on an existing table is built `CONCURRENTLY` in the
//! online migration, a PRIMARY KEY or UNIQUE over existing rows is a concurrent unique index the
//! constraint then takes over (`USING INDEX`), and a CHECK or FOREIGN KEY is added `NOT VALID` and
//! validated online. SQLite builds indexes in the transaction and adds constraints by rebuilding the table.

use super::rebuild::edit_create_table;
use super::{Phase, Planner};
use crate::dialect::Dialect;
use crate::error::GenError;
use crate::ident::Ident;
use crate::model::{ConstraintSpec, IndexSpec, KeyExpr, NamedConstraint};
use crate::render::{self, q};

/// `PG`'s limit on the keys of one index (INDEX_MAX_KEYS).
const PG_MAX_INDEX_KEYS: usize = 32;

fn key_words(spec: &IndexSpec) -> String {
    spec.keys
        .iter()
        .map(|k| match &k.key {
            KeyExpr::Column(c) => c.as_str().to_string(),
            KeyExpr::Expr(_) => "expr".to_string(),
        })
        .collect::<Vec<_>>()
        .join("_")
}

impl Planner {
    pub(super) fn create_index(&mut self, spec: &IndexSpec) -> Result<(), GenError> {
        let t = self.table(&spec.table)?;
        let table = &spec.table;
        let names: Vec<&str> = t.columns.iter().map(|c| c.name.as_str()).collect();
        for k in &spec.keys {
            match &k.key {
                KeyExpr::Column(c) => {
                    self.column(table, c)?;
                }
                KeyExpr::Expr(e) => self.check_expr_columns(table, &names, e.text())?,
            }
        }
        if let Some(p) = &spec.predicate {
            self.check_expr_columns(table, &names, p.text())?;
        }
        if spec.keys.len() > PG_MAX_INDEX_KEYS {
            return Err(self.refuse(format!(
                "an index of {} keys: PostgreSQL allows {PG_MAX_INDEX_KEYS}",
                spec.keys.len()
            )));
        }
        if spec.method.is_some() && self.d == Dialect::Sqlite {
            return Err(self.refuse("SQLite has no index methods (USING ...)"));
        }
        let name = match &spec.name {
            Some(n) => {
                if self.schema.index(n.as_str()).is_some() {
                    return Err(self.refuse(format!(
                        "index {n} already exists in the schema ({})",
                        self.source
                    )));
                }
                self.note_name(n);
                n.clone()
            }
            None => self.fresh_name(&format!(
                "{}_{table}_{}",
                if spec.unique { "uq" } else { "idx" },
                key_words(spec)
            )),
        };
        let online = self.d == Dialect::Postgres && !self.is_new(table.as_str());
        let d = self.d;
        let phase = if online { Phase::Online } else { Phase::Ddl };
        let mut step = self.step(
            phase,
            format!(
                "{}ndex {name} on {table}",
                if spec.unique { "Unique i" } else { "I" }
            ),
        );
        step.up
            .push(render::index_from_spec(spec, &name, d, online));
        if online {
            step.down
                .push(format!("DROP INDEX CONCURRENTLY IF EXISTS {}", name.sql(d)));
        } else if !self.is_new(table.as_str()) {
            step.down.push(format!("DROP INDEX {}", name.sql(d)));
        }
        // An index of a table the issue creates goes with the table's DROP in the DOWN.
        if spec.unique && !self.is_new(table.as_str()) {
            step.breaking.push(format!(
                "unique index {name} on the rows {table} has: fails if they hold duplicates"
            ));
        }
        self.push(step)
    }

    pub(super) fn drop_index(&mut self, name: &Ident) -> Result<(), GenError> {
        let Some((t, i)) = self
            .schema
            .index(name.as_str())
            .map(|(t, i)| (t.clone(), i.clone()))
        else {
            return Err(self.refuse(format!(
                "index {name} does not exist in the schema ({}) (an index that backs a PRIMARY KEY or UNIQUE constraint is dropped with the constraint)",
                self.source
            )));
        };
        let d = self.d;
        let online = d == Dialect::Postgres;
        let mut step = self.step(
            if online { Phase::Online } else { Phase::Ddl },
            format!("Drop index {name} of {}", t.name),
        );
        step.up.push(if online {
            format!("DROP INDEX CONCURRENTLY {}", name.sql(d))
        } else {
            format!("DROP INDEX {}", name.sql(d))
        });
        step.down
            .push(render::index_from_schema(&i, &t.name, d, online));
        step.breaking
            .push(format!("drop index {name}: queries that used it slow down"));
        self.push(step)
    }

    pub(super) fn add_constraint(
        &mut self,
        table: &Ident,
        c: &NamedConstraint,
    ) -> Result<(), GenError> {
        let t = self.table(table)?;
        let names: Vec<&str> = t.columns.iter().map(|c| c.name.as_str()).collect();
        let cols = |cols: &[Ident]| -> Result<(), GenError> {
            for col in cols {
                if !names.contains(&col.as_str()) {
                    return Err(self.refuse(format!(
                        "the constraint names {table}.{col}, which does not exist in the schema ({})",
                        self.source
                    )));
                }
            }
            Ok(())
        };
        let col_words =
            |cols: &[Ident]| cols.iter().map(Ident::as_str).collect::<Vec<_>>().join("_");
        let (base, what) = match &c.constraint {
            ConstraintSpec::PrimaryKey(k) => {
                cols(k)?;
                if t.primary_key.is_some() {
                    return Err(self.refuse(format!("{table} already has a primary key")));
                }
                (format!("{table}_pkey"), "primary key")
            }
            ConstraintSpec::Unique(k) => {
                cols(k)?;
                (format!("uq_{table}_{}", col_words(k)), "unique constraint")
            }
            ConstraintSpec::Check(e) => {
                self.check_expr_columns(table, &names, e.text())?;
                let named = crate::schema::expression_columns(
                    e.text(),
                    &t.columns.iter().map(|c| c.name.clone()).collect::<Vec<_>>(),
                    self.d,
                );
                (format!("{table}_{}_check", named.join("_")), "check")
            }
            ConstraintSpec::ForeignKey(k, fk) => {
                cols(k)?;
                self.check_fk(table, &[], k, fk)?;
                (format!("{table}_{}_fkey", col_words(k)), "foreign key")
            }
        };
        let name = match &c.name {
            Some(n) => {
                self.note_name(n);
                n.clone()
            }
            None => self.fresh_name(&base),
        };
        let named = NamedConstraint {
            name: Some(name.clone()),
            constraint: c.constraint.clone(),
        };
        match self.d {
            Dialect::Postgres => self.add_constraint_postgres(table, &name, &named, what),
            Dialect::Sqlite => self.add_constraint_sqlite(table, &named, what),
        }
    }

    fn add_constraint_postgres(
        &mut self,
        table: &Ident,
        name: &Ident,
        c: &NamedConstraint,
        what: &str,
    ) -> Result<(), GenError> {
        let d = self.d;
        let (tq, nq) = (table.sql(d), name.sql(d));
        let clause = render::constraint_clause(c, d);
        let existing = !self.is_new(table.as_str());
        match &c.constraint {
            ConstraintSpec::PrimaryKey(cols) | ConstraintSpec::Unique(cols) if existing => {
                let pk = matches!(c.constraint, ConstraintSpec::PrimaryKey(_));
                if pk {
                    for col in cols {
                        if !self.column(table, col)?.not_null {
                            self.set_not_null_postgres(table, col)?;
                        }
                    }
                }
                let mut step = self.step(
                    Phase::Online,
                    format!("Add the {what} {name} to {table} from a concurrently built index"),
                );
                let keys = cols.iter().map(|c| c.sql(d)).collect::<Vec<_>>().join(", ");
                step.up.push(format!(
                    "CREATE UNIQUE INDEX CONCURRENTLY {nq} ON {tq} ({keys})"
                ));
                step.up.push(format!(
                    "ALTER TABLE {tq} ADD CONSTRAINT {nq} {} USING INDEX {nq}",
                    if pk { "PRIMARY KEY" } else { "UNIQUE" }
                ));
                step.down
                    .push(format!("ALTER TABLE {tq} DROP CONSTRAINT {nq}"));
                step.breaking.push(format!(
                    "{what} {name} on the rows {table} has: fails if they hold duplicates"
                ));
                self.push(step)
            }
            ConstraintSpec::Check(_) | ConstraintSpec::ForeignKey(..) if existing => {
                let mut step = self.step(
                    Phase::Ddl,
                    format!("Add the {what} {name} to {table}, not validated yet"),
                );
                step.up
                    .push(format!("ALTER TABLE {tq} ADD {clause} NOT VALID"));
                step.down
                    .push(format!("ALTER TABLE {tq} DROP CONSTRAINT {nq}"));
                step.breaking.push(format!(
                    "{what} {name} on the rows {table} has: the validation fails if rows break it"
                ));
                let fk_cols = match &c.constraint {
                    ConstraintSpec::ForeignKey(cols, _) => Some(cols.clone()),
                    _ => None,
                };
                let needs_index = fk_cols
                    .as_ref()
                    .is_some_and(|cols| !self.covered(table, cols));
                if fk_cols.is_some() {
                    step.allows.push((
                        "foreign-key-without-index",
                        if needs_index {
                            format!("the index on {table} for {name} is built CONCURRENTLY by the online migration of this issue")
                        } else {
                            format!("an index of {table} covers the columns of {name}")
                        },
                    ));
                }
                self.push(step)?;
                let mut validate = self.step(Phase::Online, format!("Validate {name} on {table}"));
                validate
                    .up
                    .push(format!("ALTER TABLE {tq} VALIDATE CONSTRAINT {nq}"));
                validate
                    .down
                    .push(format!("ALTER TABLE {tq} DROP CONSTRAINT {nq}"));
                validate
                    .down
                    .push(format!("ALTER TABLE {tq} ADD {clause} NOT VALID"));
                if fk_cols.is_some() {
                    validate.allows.push((
                        "foreign-key-without-index",
                        format!(
                            "the DOWN puts {name} back as the DDL migration of this issue left it"
                        ),
                    ));
                }
                self.push(validate)?;
                if let (true, Some(cols)) = (needs_index, fk_cols) {
                    self.notes.push(format!(
                        "{}: added an index on {table}({}) for the foreign key {name}",
                        self.origin,
                        cols.iter()
                            .map(Ident::as_str)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                    self.create_index(&super::tables::index_over(table, &cols))?;
                }
                Ok(())
            }
            _ => {
                let mut step = self.step(Phase::Ddl, format!("Add the {what} {name} to {table}"));
                step.up.push(format!("ALTER TABLE {tq} ADD {clause}"));
                step.down
                    .push(format!("ALTER TABLE {tq} DROP CONSTRAINT {nq}"));
                self.push(step)
            }
        }
    }

    fn add_constraint_sqlite(
        &mut self,
        table: &Ident,
        c: &NamedConstraint,
        what: &str,
    ) -> Result<(), GenError> {
        let d = self.d;
        let t = self.table(table)?;
        if let ConstraintSpec::Unique(cols) = &c.constraint {
            let mut spec = super::tables::index_over(table, cols);
            spec.name = c.name.clone();
            spec.unique = true;
            return self.create_index(&spec);
        }
        let clause = render::constraint_clause(c, d);
        let pk = matches!(c.constraint, ConstraintSpec::PrimaryKey(_));
        let after = edit_create_table(&t, |ct| {
            let mut p = migrator_analyse::sql::parser(migrator_analyse::Dialect::Sqlite)
                .try_with_sql(&clause)
                .map_err(|e| e.to_string())?;
            let k = p
                .parse_optional_table_constraint()
                .map_err(|e| e.to_string())?
                .ok_or("not a table constraint")?;
            if pk {
                for col in &mut ct.columns {
                    col.options.retain(|o| {
                        !matches!(
                            o.option,
                            migrator_analyse::sql::sqlparser::ast::ColumnOption::PrimaryKey(_)
                        )
                    });
                }
            }
            ct.constraints.push(k);
            Ok(())
        })
        .map_err(|e| self.refuse(e))?;
        let mut step = self.step(Phase::Ddl, format!("Add the {what} to {table}"));
        step.notes.push(format!(
            "SQLite cannot add a {what} to an existing table: {table} is rebuilt, every row copied"
        ));
        step.breaking.push(format!(
            "{what} on the rows {table} has: the rebuild fails if rows break it"
        ));
        self.sqlite_rebuild_both(&mut step, &t, &after)?;
        self.push(step)?;
        if let ConstraintSpec::ForeignKey(cols, _) = &c.constraint {
            if !self.covered(table, cols) {
                self.notes.push(format!(
                    "{}: added an index on {table} for its new foreign key",
                    self.origin
                ));
                self.create_index(&super::tables::index_over(table, cols))?;
            }
        }
        Ok(())
    }

    pub(super) fn drop_constraint(&mut self, table: &Ident, name: &Ident) -> Result<(), GenError> {
        let t = self.table(table)?;
        let n = Some(name.as_str().to_string());
        let d = self.d;
        let clause = if let Some(pk) = t.primary_key.as_ref().filter(|p| p.name == n) {
            (
                render::schema_pk(pk, d),
                false,
                "pg-constraint-builds-index",
                true,
            )
        } else if let Some(u) = t.uniques.iter().find(|u| u.name == n) {
            (
                render::schema_unique(u, d),
                false,
                "pg-constraint-builds-index",
                true,
            )
        } else if let Some(k) = t.checks.iter().find(|k| k.name == n) {
            (
                render::schema_check(k, d),
                k.not_valid,
                "pg-check-not-valid",
                false,
            )
        } else if let Some(f) = t.foreign_keys.iter().find(|f| f.name == n) {
            (
                render::schema_fk(f, d),
                f.not_valid,
                "pg-foreign-key-not-valid",
                false,
            )
        } else {
            return Err(self.refuse(format!(
                "{table} has no constraint named {name} in the schema ({})",
                self.source
            )));
        };
        let (clause, not_valid, rule, key) = clause;
        if key && !self.schema.referencing(table.as_str()).is_empty() {
            let refs: Vec<String> = self
                .schema
                .referencing(table.as_str())
                .iter()
                .map(|(f, _)| f.name.clone())
                .collect();
            return Err(self.refuse(format!(
                "{name} of {table} may be what {} reference: drop those foreign keys first",
                refs.join(", ")
            )));
        }
        let mut step = self.step(Phase::Ddl, format!("Drop constraint {name} of {table}"));
        step.breaking.push(format!(
            "drop constraint {name} of {table}: rows it refused are let in"
        ));
        step.allows.push((
            "constraint-dropped",
            format!("the issue drops {name} ({})", self.origin),
        ));
        match d {
            Dialect::Postgres => {
                let tq = q(&t.name, d);
                step.up
                    .push(format!("ALTER TABLE {tq} DROP CONSTRAINT {}", name.sql(d)));
                step.down.push(format!(
                    "ALTER TABLE {tq} ADD {clause}{}",
                    if not_valid { " NOT VALID" } else { "" }
                ));
                step.allows
                    .push((rule, format!("the DOWN restores {name} as it was")));
            }
            Dialect::Sqlite => {
                let target = name.as_str().to_string();
                let after = edit_create_table(&t, |ct| {
                    let before = ct.constraints.len();
                    ct.constraints.retain(|k| {
                        !k.to_string()
                            .to_lowercase()
                            .starts_with(&format!("constraint {target} "))
                    });
                    if ct.constraints.len() == before {
                        for col in &mut ct.columns {
                            col.options.retain(|o| {
                                o.name.as_ref().map(crate::schema::names::ident).as_deref()
                                    != Some(target.as_str())
                            });
                        }
                    }
                    Ok(())
                })
                .map_err(|e| self.refuse(e))?;
                self.sqlite_rebuild_both(&mut step, &t, &after)?;
            }
        }
        self.push(step)
    }
}
