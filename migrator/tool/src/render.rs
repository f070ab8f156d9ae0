//! Rendering changes for a dialect: the UP steps, their exact inverses for the DOWN, and what the metrics,
//! breaking-change and lossy lists need.

use std::collections::BTreeSet;

use crate::error::GenError;
use crate::ident::Ident;
use crate::model::{Change, Column, Index, Located, NamedConstraint, SqlType, TableConstraint};
use crate::schema::BaseSchema;
use crate::sql::{Dialect, Expr};

/// One UP step with its inverse.
#[derive(Clone, Debug, Default)]
pub struct Step {
    /// A `--` comment line (without the dashes) above the step.
    pub comment: String,
    /// UP statements (without `;`).
    pub up: Vec<String>,
    /// DOWN statements (without `;`), in the order they run.
    pub down: Vec<String>,
    /// `-- WARNING: ...` lines written in the DOWN for this step.
    pub down_warnings: Vec<String>,
    /// Extra comment lines written in the UP for this step (notes on dialect limits).
    pub notes: Vec<String>,
    /// For PostgreSQL: `ALTER TABLE t` clauses this step adds (`ADD COLUMN ...`), merged with neighbours.
    pub alter: Option<(Ident, Vec<String>, Vec<String>)>,
}

/// The rendered migration body and its analysis.
#[derive(Clone, Debug, Default)]
pub struct Rendered {
    /// Steps in UP order.
    pub steps: Vec<Step>,
    /// Data steps (backfills) that run after the schema steps; their inverse is nothing.
    pub data: Vec<Step>,
    /// PostgreSQL `CONCURRENTLY` was asked for: the file runs without a transaction.
    pub no_transaction: bool,
    /// Tables created.
    pub created: BTreeSet<String>,
    /// Existing tables changed.
    pub altered: BTreeSet<String>,
    /// Indexes created.
    pub indexes: usize,
    /// Statements that take locks on existing tables.
    pub blocking: Vec<String>,
    /// Breaking changes (drops, renames, type changes, NOT NULL without default, UNIQUE over existing rows).
    pub breaking: Vec<String>,
    /// What the DOWN cannot restore.
    pub lossy: Vec<String>,
    /// Notes on how the dialect shaped the output.
    pub notes: Vec<String>,
    /// Constraint steps waiting for the end of a run of added columns.
    pending_after: Vec<Step>,
}

/// The SQL type for `dialect`.
pub fn type_sql(ty: &SqlType, dialect: Dialect) -> String {
    let args = if ty.args.is_empty() {
        String::new()
    } else {
        format!("({})", ty.args.join(","))
    };
    match dialect {
        Dialect::Postgres => format!("{}{args}{}", ty.name, if ty.array { "[]" } else { "" }),
        Dialect::Sqlite => {
            if ty.array {
                return "TEXT".into();
            }
            match ty.name.as_str() {
                "UUID" | "JSON" | "JSONB" | "INET" | "CIDR" | "MACADDR" | "CITEXT" | "XML" => {
                    "TEXT".into()
                }
                "BYTEA" => "BLOB".into(),
                "SERIAL" | "BIGSERIAL" | "SMALLSERIAL" | "SERIAL4" | "SERIAL8" => "INTEGER".into(),
                "TIMESTAMPTZ" | "TIMESTAMP WITH TIME ZONE" | "TIMESTAMP WITHOUT TIME ZONE" => {
                    "TIMESTAMP".into()
                }
                "TIMETZ" | "TIME WITH TIME ZONE" | "TIME WITHOUT TIME ZONE" => "TIME".into(),
                "BOOL" => "BOOLEAN".into(),
                "DOUBLE PRECISION" | "FLOAT8" | "FLOAT4" => "REAL".into(),
                _ => format!("{}{args}", ty.name),
            }
        }
    }
}

fn default_sql(e: &Expr, dialect: Dialect) -> String {
    let r = e.render(dialect);
    if dialect == Dialect::Sqlite && !e.is_literal() && !e.is_current_time() {
        format!("({r})")
    } else {
        r
    }
}

fn fk_sql(fk: &crate::model::ForeignKey) -> String {
    let mut s = format!("REFERENCES {}", fk.table);
    if !fk.columns.is_empty() {
        s.push_str(&format!("({})", join(&fk.columns)));
    }
    if let Some(a) = fk.on_delete {
        s.push_str(&format!(" ON DELETE {}", a.sql()));
    }
    if let Some(a) = fk.on_update {
        s.push_str(&format!(" ON UPDATE {}", a.sql()));
    }
    s
}

fn join(ids: &[Ident]) -> String {
    ids.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A column definition. `checks` says whether CHECKs are written inline.
fn column_sql(c: &Column, dialect: Dialect, checks: bool) -> String {
    let ty = type_sql(&c.ty, dialect);
    let mut s = format!("{} {ty}", c.name);
    if c.primary_key {
        s.push_str(" PRIMARY KEY");
        // SQLite lets a non-INTEGER primary key hold NULL unless told otherwise.
        if dialect == Dialect::Sqlite && ty != "INTEGER" {
            s.push_str(" NOT NULL");
        }
    } else if c.not_null {
        s.push_str(" NOT NULL");
    }
    if c.unique {
        s.push_str(" UNIQUE");
    }
    if let Some(d) = &c.default {
        s.push_str(&format!(" DEFAULT {}", default_sql(d, dialect)));
    }
    if let Some(fk) = &c.references {
        s.push(' ');
        s.push_str(&fk_sql(fk));
    }
    if checks {
        for (name, e) in &c.checks {
            if let Some(n) = name {
                s.push_str(&format!(" CONSTRAINT {n}"));
            }
            s.push_str(&format!(" CHECK ({})", e.render(dialect)));
        }
    }
    s
}

fn constraint_sql(c: &NamedConstraint, dialect: Dialect) -> String {
    let body = match &c.constraint {
        TableConstraint::PrimaryKey(cols) => format!("PRIMARY KEY ({})", join(cols)),
        TableConstraint::Unique(cols) => format!("UNIQUE ({})", join(cols)),
        TableConstraint::Check(e) => format!("CHECK ({})", e.render(dialect)),
        TableConstraint::ForeignKey(cols, fk) => {
            format!("FOREIGN KEY ({}) {}", join(cols), fk_sql(fk))
        }
    };
    match &c.name {
        Some(n) => format!("CONSTRAINT {n} {body}"),
        None => body,
    }
}

fn index_sql(i: &Index, dialect: Dialect) -> String {
    let keys: Vec<String> = i
        .keys
        .iter()
        .map(|k| format!("{}{}", k.column, if k.desc { " DESC" } else { "" }))
        .collect();
    let concurrently = if i.concurrently && dialect == Dialect::Postgres {
        " CONCURRENTLY"
    } else {
        ""
    };
    let mut s = format!(
        "CREATE {}INDEX{concurrently} {} ON {} ({})",
        if i.unique { "UNIQUE " } else { "" },
        i.name,
        i.table,
        keys.join(", ")
    );
    if let Some(p) = &i.predicate {
        s.push_str(&format!(" WHERE {}", p.render(dialect)));
    }
    s
}

/// Renders every change for `dialect`.
pub fn render(
    changes: &[Located],
    dialect: Dialect,
    issue: u32,
    base: Option<&BaseSchema>,
) -> Result<Rendered, GenError> {
    let mut r = Rendered::default();
    let unsupported = |l: &Located, message: String| GenError::Unsupported {
        issue,
        origin: l.origin.to_string(),
        message,
    };
    for l in changes {
        if !matches!(l.change, Change::AddColumn { .. }) {
            let pending = std::mem::take(&mut r.pending_after);
            r.steps.extend(pending);
        }
        let existing = |r: &Rendered, t: &Ident| !r.created.contains(t.as_str());
        let mut step = Step {
            comment: format!("{} (from {})", capitalise(&l.change.describe()), l.origin),
            ..Step::default()
        };
        match &l.change {
            Change::CreateTable {
                table,
                columns,
                constraints,
            } => {
                let mut lines: Vec<String> = columns
                    .iter()
                    .map(|c| column_sql(c, dialect, true))
                    .collect();
                lines.extend(constraints.iter().map(|c| constraint_sql(c, dialect)));
                step.up.push(format!(
                    "CREATE TABLE {table} (\n    {}\n)",
                    lines.join(",\n    ")
                ));
                step.down.push(format!("DROP TABLE IF EXISTS {table}"));
                r.created.insert(table.as_str().to_string());
            }
            Change::DropTable { table } => {
                step.up.push(format!("DROP TABLE {table}"));
                r.breaking
                    .push(format!("drop table {table}: its rows are deleted"));
                if let Some(def) = base.and_then(|b| b.tables.get(table.as_str())) {
                    let mut lines: Vec<String> = def
                        .columns
                        .iter()
                        .map(|c| column_sql(c, dialect, true))
                        .collect();
                    lines.extend(def.constraints.iter().map(|c| constraint_sql(c, dialect)));
                    step.down.push(format!(
                        "CREATE TABLE {table} (\n    {}\n)",
                        lines.join(",\n    ")
                    ));
                    for i in base.into_iter().flat_map(|b| b.indexes_of(table.as_str())) {
                        step.down.push(index_sql(i, dialect));
                    }
                    let w = format!("table {table} is recreated empty by the DOWN (from the base schema); its rows are restored only from the pre-migration backup");
                    step.down_warnings.push(format!("WARNING: lossy: {w}"));
                    r.lossy.push(w);
                } else {
                    let w = format!("table {table} and its rows cannot be restored by the DOWN (its definition is not in the issue; pass --base-schema); restore it from the pre-migration backup");
                    step.down_warnings.push(format!("WARNING: lossy: {w}"));
                    r.lossy.push(w);
                }
                r.altered.insert(table.as_str().to_string());
                r.blocking.push(format!("DROP TABLE {table}"));
            }
            Change::RenameTable { from, to } => {
                step.up.push(format!("ALTER TABLE {from} RENAME TO {to}"));
                step.down.push(format!("ALTER TABLE {to} RENAME TO {from}"));
                r.breaking.push(format!(
                    "rename table {from} to {to}: running clients that use the old name break"
                ));
                r.altered.insert(to.as_str().to_string());
                r.blocking
                    .push(format!("ALTER TABLE {from} RENAME (brief lock)"));
            }
            Change::AddColumn { table, column } => {
                let is_existing = existing(&r, table);
                add_column(&mut r, &mut step, l, table, column, dialect, is_existing)
                    .map_err(|m| unsupported(l, m))?;
            }
            Change::DropColumn { table, column } => {
                step.up
                    .push(format!("ALTER TABLE {table} DROP COLUMN {column}"));
                r.breaking
                    .push(format!("drop column {table}.{column}: its data is deleted"));
                let def = base.and_then(|b| b.column(table.as_str(), column.as_str()));
                let re_addable = def.filter(|c| {
                    let literal_default = c
                        .default
                        .as_ref()
                        .is_some_and(|d| d.is_literal() && !d.is_null());
                    !c.primary_key
                        && (!c.not_null || literal_default)
                        && (dialect == Dialect::Postgres
                            || (!c.unique && c.default.as_ref().is_none_or(Expr::is_literal)))
                });
                if let Some(c) = re_addable {
                    step.down.push(format!(
                        "ALTER TABLE {table} ADD COLUMN {}",
                        column_sql(c, dialect, true)
                    ));
                    let w = format!("column {table}.{column} is re-added by the DOWN (from the base schema) but its data is lost; restore it from the pre-migration backup");
                    step.down_warnings.push(format!("WARNING: lossy: {w}"));
                    r.lossy.push(w);
                } else {
                    let why = if def.is_some() {
                        "its definition cannot be re-added with ADD COLUMN"
                    } else {
                        "its definition is not in the issue; pass --base-schema"
                    };
                    let w = format!("column {table}.{column} and its data cannot be restored by the DOWN ({why}); restore it from the pre-migration backup");
                    step.down_warnings.push(format!("WARNING: lossy: {w}"));
                    r.lossy.push(w);
                }
                if existing(&r, table) {
                    r.altered.insert(table.as_str().to_string());
                    r.blocking.push(format!(
                        "ALTER TABLE {table} DROP COLUMN{}",
                        if dialect == Dialect::Sqlite {
                            " (rewrites the table)"
                        } else {
                            " (brief lock)"
                        }
                    ));
                }
            }
            Change::RenameColumn { table, from, to } => {
                step.up
                    .push(format!("ALTER TABLE {table} RENAME COLUMN {from} TO {to}"));
                step.down
                    .push(format!("ALTER TABLE {table} RENAME COLUMN {to} TO {from}"));
                r.breaking.push(format!("rename column {table}.{from} to {to}: running clients that use the old name break"));
                if existing(&r, table) {
                    r.altered.insert(table.as_str().to_string());
                    r.blocking
                        .push(format!("ALTER TABLE {table} RENAME COLUMN (brief lock)"));
                }
            }
            Change::AlterType { table, column, ty } => {
                if dialect == Dialect::Sqlite {
                    return Err(unsupported(l, format!("changing the type of {table}.{column} needs SQLite's 12-step table rebuild, which this tool does not generate; write that migration by hand")));
                }
                step.up.push(format!(
                    "ALTER TABLE {table} ALTER COLUMN {column} TYPE {}",
                    type_sql(ty, dialect)
                ));
                r.breaking.push(format!("type change of {table}.{column} to {}: may rewrite the table and fail on values that do not convert", type_sql(ty, dialect)));
                if let Some(old) = base.and_then(|b| b.column(table.as_str(), column.as_str())) {
                    step.down.push(format!(
                        "ALTER TABLE {table} ALTER COLUMN {column} TYPE {}",
                        type_sql(&old.ty, dialect)
                    ));
                    let w = format!("the DOWN changes {table}.{column} back to {} (from the base schema); values that do not fit the old type make it fail", type_sql(&old.ty, dialect));
                    step.down_warnings.push(format!("WARNING: lossy: {w}"));
                    r.lossy.push(w);
                } else {
                    let w = format!("the type of {table}.{column} before this migration is not in the issue, so the DOWN cannot change it back (pass --base-schema); restore from the backup or write the inverse by hand");
                    step.down_warnings.push(format!("WARNING: lossy: {w}"));
                    r.lossy.push(w);
                }
                r.altered.insert(table.as_str().to_string());
                r.blocking.push(format!("ALTER TABLE {table} ALTER COLUMN {column} TYPE (may rewrite the table under an exclusive lock)"));
            }
            Change::CreateIndex(index) => {
                let i = index.clone();
                if i.concurrently {
                    if dialect == Dialect::Postgres {
                        r.no_transaction = true;
                    } else {
                        step.notes.push(
                            "CONCURRENTLY dropped: SQLite builds indexes inside the transaction"
                                .into(),
                        );
                    }
                }
                step.up.push(index_sql(&i, dialect));
                let conc = if i.concurrently && dialect == Dialect::Postgres {
                    " CONCURRENTLY"
                } else {
                    ""
                };
                step.down
                    .push(format!("DROP INDEX{conc} IF EXISTS {}", i.name));
                r.indexes += 1;
                if existing(&r, &i.table) {
                    r.altered.insert(i.table.as_str().to_string());
                    if i.unique {
                        r.breaking.push(format!(
                            "unique index {} on existing rows of {}: fails if they hold duplicates",
                            i.name, i.table
                        ));
                    }
                    if !(i.concurrently && dialect == Dialect::Postgres) {
                        r.blocking.push(format!(
                            "CREATE INDEX {} ON {} (blocks writes while it builds)",
                            i.name, i.table
                        ));
                    }
                }
            }
            Change::DropIndex { name, concurrently } => {
                let conc = if *concurrently && dialect == Dialect::Postgres {
                    r.no_transaction = true;
                    " CONCURRENTLY"
                } else {
                    ""
                };
                step.up.push(format!("DROP INDEX{conc} IF EXISTS {name}"));
                r.breaking
                    .push(format!("drop index {name}: queries that used it slow down"));
                if let Some(def) = base.and_then(|b| b.indexes.get(name.as_str())) {
                    let mut def = def.clone();
                    def.concurrently = !conc.is_empty();
                    step.down.push(index_sql(&def, dialect));
                } else {
                    let w = format!("index {name} cannot be recreated by the DOWN (its definition is not in the issue; pass --base-schema); recreate it by hand if the rollback needs it");
                    step.down_warnings.push(format!("WARNING: lossy: {w}"));
                    r.lossy.push(w);
                }
                if conc.is_empty() {
                    r.blocking
                        .push(format!("DROP INDEX {name} (exclusive lock on its table)"));
                }
            }
            Change::AddConstraint { table, constraint } => {
                let is_existing = existing(&r, table);
                add_constraint(&mut r, &mut step, table, constraint, dialect, is_existing)
                    .map_err(|m| unsupported(l, m))?;
            }
        }
        r.steps.push(step);
    }
    let pending = std::mem::take(&mut r.pending_after);
    if dialect == Dialect::Postgres {
        merge_alters(&mut r.steps);
    }
    r.steps.extend(pending);
    if dialect == Dialect::Postgres {
        merge_alters(&mut r.steps);
    }
    Ok(r)
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

fn add_column(
    r: &mut Rendered,
    step: &mut Step,
    l: &Located,
    table: &Ident,
    column: &Column,
    dialect: Dialect,
    existing: bool,
) -> Result<(), String> {
    let name = &column.name;
    if column.primary_key {
        return Err(format!("adding a primary key column {table}.{name} to an existing table is not generated; write it by hand"));
    }
    let mut col = column.clone();
    let has_default = col.default.as_ref().is_some_and(|d| !d.is_null());
    if col.not_null && !has_default && existing {
        if dialect == Dialect::Sqlite {
            return Err(format!("SQLite cannot add the NOT NULL column {table}.{name} without a default; give it a default (`default X`) or make it nullable"));
        }
        r.breaking.push(format!("NOT NULL column {table}.{name} without a default: fails if {table} has rows, and breaks INSERTs that omit it"));
    }
    let mut backfill: Option<String> = None;
    let mut after: Vec<(String, String)> = Vec::new();
    if dialect == Dialect::Sqlite {
        if let Some(d) = col.default.clone() {
            if !d.is_literal() {
                if col.not_null {
                    return Err(format!("SQLite cannot add {table}.{name} NOT NULL with the non-constant default {}: that needs the 12-step table rebuild, which this tool does not generate", d.render(dialect)));
                }
                col.default = None;
                backfill = Some(d.render(dialect));
                let note = format!("SQLite cannot add a column with the non-constant default {}: existing rows are backfilled, new rows get NULL unless the application sets {table}.{name}", d.render(dialect));
                step.notes.push(note.clone());
                r.notes.push(format!("{}: {note}", l.origin));
            }
        }
        if col.references.is_some() && col.default.as_ref().is_some_and(|d| !d.is_null()) {
            return Err(format!("SQLite cannot add the foreign key column {table}.{name} with a non-NULL default while foreign keys are on"));
        }
        if col.unique {
            col.unique = false;
            let idx = crate::sql::index_name(
                table,
                &[crate::model::IndexKey {
                    column: name.clone(),
                    desc: false,
                }],
                true,
            );
            after.push((
                format!("CREATE UNIQUE INDEX {idx} ON {table} ({name})"),
                format!("DROP INDEX IF EXISTS {idx}"),
            ));
            r.indexes += 1;
        }
        step.up.push(format!(
            "ALTER TABLE {table} ADD COLUMN {}",
            column_sql(&col, dialect, true)
        ));
        step.down
            .push(format!("ALTER TABLE {table} DROP COLUMN {name}"));
    } else {
        step.alter = Some((
            table.clone(),
            vec![format!("ADD COLUMN {}", column_sql(&col, dialect, false))],
            vec![format!("DROP COLUMN IF EXISTS {name}")],
        ));
        for (n, (cname, e)) in col.checks.iter().enumerate() {
            let cname = cname.clone().unwrap_or_else(|| {
                let suffix = if n == 0 {
                    String::new()
                } else {
                    format!("_{}", n + 1)
                };
                Ident::generated(&format!("chk_{}_{}{suffix}", table.as_str(), name.as_str()))
            });
            after.push((
                format!(
                    "ALTER TABLE {table}\nADD CONSTRAINT {cname}\nCHECK ({})",
                    e.render(dialect)
                ),
                format!("ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {cname}"),
            ));
        }
    }
    if col.unique && existing && has_default {
        r.breaking.push(format!(
            "UNIQUE column {table}.{name} with a default: fails if {table} has more than one row"
        ));
    }
    for (up, down) in after {
        let mut s = Step {
            comment: format!("Constraint on {table}.{name} (from {})", l.origin),
            ..Step::default()
        };
        s.up.push(up);
        s.down.push(down);
        r.data_or_after_push(s);
    }
    if existing {
        r.altered.insert(table.as_str().to_string());
        r.blocking.push(format!(
            "ALTER TABLE {table} ADD COLUMN {name} (brief lock)"
        ));
        let fill = backfill.or_else(|| {
            column
                .default
                .as_ref()
                .filter(|d| d.is_literal() && !d.is_null())
                .map(|d| d.render(dialect))
        });
        if let Some(value) = fill {
            let mut s = Step {
                comment: format!(
                    "Existing rows of {table} get the default of {name} (from {})",
                    l.origin
                ),
                ..Step::default()
            };
            s.up.push(format!(
                "UPDATE {table}\nSET {name} = {value}\nWHERE {name} IS NULL"
            ));
            r.data.push(s);
        }
    }
    Ok(())
}

impl Rendered {
    /// Constraint steps that follow the column steps (PostgreSQL CHECKs, SQLite UNIQUE indexes).
    fn data_or_after_push(&mut self, s: Step) {
        self.pending_after.push(s);
    }
}

fn add_constraint(
    r: &mut Rendered,
    step: &mut Step,
    table: &Ident,
    c: &NamedConstraint,
    dialect: Dialect,
    existing: bool,
) -> Result<(), String> {
    if existing {
        r.altered.insert(table.as_str().to_string());
    }
    match &c.constraint {
        TableConstraint::Unique(cols) => {
            let keys: Vec<crate::model::IndexKey> = cols.iter().map(|c| crate::model::IndexKey { column: c.clone(), desc: false }).collect();
            let name = c.name.clone().unwrap_or_else(|| crate::sql::index_name(table, &keys, true));
            let idx = Index { name: name.clone(), table: table.clone(), unique: true, keys, predicate: None, concurrently: false };
            step.up.push(index_sql(&idx, dialect));
            step.down.push(format!("DROP INDEX IF EXISTS {name}"));
            r.indexes += 1;
            if existing {
                r.breaking.push(format!("unique constraint {name} on existing rows of {table}: fails if they hold duplicates"));
                r.blocking.push(format!("CREATE UNIQUE INDEX {name} ON {table} (blocks writes while it builds)"));
            }
            Ok(())
        }
        TableConstraint::Check(_) | TableConstraint::ForeignKey(..) if dialect == Dialect::Sqlite => Err(format!(
            "SQLite cannot add a CHECK or FOREIGN KEY constraint to the existing table {table} without the 12-step rebuild, which this tool does not generate"
        )),
        TableConstraint::PrimaryKey(_) => Err(format!("adding a primary key to {table} is not generated; write it by hand")),
        TableConstraint::Check(_) | TableConstraint::ForeignKey(..) => {
            let kind = if matches!(c.constraint, TableConstraint::Check(_)) { "chk" } else { "fk" };
            let name = c.name.clone().unwrap_or_else(|| Ident::generated(&format!("{kind}_{}", table.as_str())));
            let named = NamedConstraint { name: Some(name.clone()), constraint: c.constraint.clone() };
            step.up.push(format!("ALTER TABLE {table}\nADD {}", constraint_sql(&named, dialect)));
            step.down.push(format!("ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {name}"));
            if existing {
                r.breaking.push(format!("constraint {name} on existing rows of {table}: fails if rows violate it"));
                r.blocking.push(format!("ALTER TABLE {table} ADD CONSTRAINT {name} (scans the table under lock)"));
            }
            Ok(())
        }
    }
}

/// PostgreSQL: consecutive `ADD COLUMN`s on one table become one `ALTER TABLE` (one lock).
fn merge_alters(steps: &mut Vec<Step>) {
    let mut out: Vec<Step> = Vec::with_capacity(steps.len());
    for s in steps.drain(..) {
        if let (Some(prev), Some((t, up, down))) = (out.last_mut(), s.alter.as_ref()) {
            if let Some((pt, pup, pdown)) = prev.alter.as_mut() {
                if pt == t {
                    pup.extend(up.iter().cloned());
                    pdown.extend(down.iter().cloned());
                    prev.notes.extend(s.notes.iter().cloned());
                    if !prev.comment.starts_with("Add columns to") {
                        prev.comment = format!("Add columns to {t}");
                    }
                    continue;
                }
            }
        }
        out.push(s);
    }
    for s in &mut out {
        if let Some((t, up, down)) = s.alter.take() {
            s.up.insert(0, format!("ALTER TABLE {t}\n{}", up.join(",\n")));
            s.down
                .push(format!("ALTER TABLE {t}\n{}", down.join(",\n")));
        }
    }
    *steps = out;
}
