//! SQL text for one dialect: column definitions, CREATE TABLE, constraints and indexes, from the issue's
//! model (what the UP adds) and from the schema's (what a DOWN puts back). Only fragments live here; which
//! statements run when is the planner's decision ([`crate::plan`]).

use migrator_analyse::sql::sqlparser::keywords::Keyword;
use migrator_analyse::sql::sqlparser::tokenizer::Token;

use crate::dialect::Dialect;
use crate::ident::{quote, Ident};
use crate::model::{
    ColumnSpec, ConstraintSpec, FkSpec, IndexKey, IndexSpec, KeyExpr, NamedConstraint,
};
use crate::schema::{self, FkAction};

/// A quoted name.
pub fn q(name: &str, d: Dialect) -> String {
    quote(name, d)
}

fn join_names(ids: &[Ident], d: Dialect) -> String {
    ids.iter().map(|i| i.sql(d)).collect::<Vec<_>>().join(", ")
}

fn join_strs(names: &[String], d: Dialect) -> String {
    names.iter().map(|n| q(n, d)).collect::<Vec<_>>().join(", ")
}

/// A default expression from the issue for `d` (SQLite wants non-literal defaults in parentheses).
pub fn default_sql(e: &crate::model::SqlExpr, d: Dialect) -> String {
    let r = e.render(d);
    if d == Dialect::Sqlite && !e.is_literal() && !e.is_current_time() {
        format!("({r})")
    } else {
        r
    }
}

fn actions(on_delete: Option<FkAction>, on_update: Option<FkAction>) -> String {
    let mut s = String::new();
    if let Some(a) = on_delete.filter(|a| *a != FkAction::NoAction) {
        s.push_str(&format!(" ON DELETE {}", a.sql()));
    }
    if let Some(a) = on_update.filter(|a| *a != FkAction::NoAction) {
        s.push_str(&format!(" ON UPDATE {}", a.sql()));
    }
    s
}

/// `REFERENCES t(c) [ON DELETE ..]` of an issue's foreign key.
pub fn fk_clause(fk: &FkSpec, d: Dialect) -> String {
    let cols = if fk.columns.is_empty() {
        String::new()
    } else {
        format!("({})", join_names(&fk.columns, d))
    };
    format!(
        "REFERENCES {}{cols}{}",
        fk.table.sql(d),
        actions(fk.on_delete, fk.on_update)
    )
}

/// A column of the issue: `name TYPE [PRIMARY KEY] [NOT NULL] [UNIQUE] [DEFAULT x] [REFERENCES ...]
/// [CHECK (...)]`; `constraints` false leaves the UNIQUE, REFERENCES and CHECKs out (added separately).
pub fn spec_column(c: &ColumnSpec, d: Dialect, constraints: bool) -> String {
    let ty = c.ty.render(d);
    let mut s = format!("{} {ty}", c.name.sql(d));
    if c.primary_key {
        s.push_str(" PRIMARY KEY");
        // SQLite lets a non-INTEGER primary key hold NULL unless told otherwise.
        if d == Dialect::Sqlite && ty != "INTEGER" {
            s.push_str(" NOT NULL");
        }
    } else if c.not_null {
        s.push_str(" NOT NULL");
    }
    if c.unique && constraints {
        s.push_str(" UNIQUE");
    }
    if let Some(e) = &c.default {
        s.push_str(&format!(" DEFAULT {}", default_sql(e, d)));
    }
    if constraints {
        if let Some(fk) = &c.references {
            s.push(' ');
            s.push_str(&fk_clause(fk, d));
        }
        for (name, e) in &c.checks {
            if let Some(n) = name {
                s.push_str(&format!(" CONSTRAINT {}", n.sql(d)));
            }
            s.push_str(&format!(" CHECK ({})", e.render(d)));
        }
    }
    s
}

/// A table constraint of the issue.
pub fn constraint_clause(c: &NamedConstraint, d: Dialect) -> String {
    let body = match &c.constraint {
        ConstraintSpec::PrimaryKey(cols) => format!("PRIMARY KEY ({})", join_names(cols, d)),
        ConstraintSpec::Unique(cols) => format!("UNIQUE ({})", join_names(cols, d)),
        ConstraintSpec::Check(e) => format!("CHECK ({})", e.render(d)),
        ConstraintSpec::ForeignKey(cols, fk) => {
            format!("FOREIGN KEY ({}) {}", join_names(cols, d), fk_clause(fk, d))
        }
    };
    match &c.name {
        Some(n) => format!("CONSTRAINT {} {body}", n.sql(d)),
        None => body,
    }
}

/// `CREATE TABLE` of the issue.
pub fn create_table_from_spec(
    table: &Ident,
    columns: &[ColumnSpec],
    constraints: &[NamedConstraint],
    d: Dialect,
) -> String {
    let mut lines: Vec<String> = columns.iter().map(|c| spec_column(c, d, true)).collect();
    lines.extend(constraints.iter().map(|c| constraint_clause(c, d)));
    format!(
        "CREATE TABLE {} (\n    {}\n)",
        table.sql(d),
        lines.join(",\n    ")
    )
}

/// A key of an index of the issue.
pub fn key_sql(k: &IndexKey, d: Dialect) -> String {
    let key = match &k.key {
        KeyExpr::Column(c) => c.sql(d),
        KeyExpr::Expr(e) => format!("({})", e.render(d)),
    };
    format!("{key}{}", if k.desc { " DESC" } else { "" })
}

/// `CREATE [UNIQUE] INDEX [CONCURRENTLY] name ON t [USING m] (keys) [WHERE p]` of the issue.
pub fn index_from_spec(i: &IndexSpec, name: &Ident, d: Dialect, concurrently: bool) -> String {
    let keys: Vec<String> = i.keys.iter().map(|k| key_sql(k, d)).collect();
    let mut s = format!(
        "CREATE {}INDEX{} {} ON {}{} ({})",
        if i.unique { "UNIQUE " } else { "" },
        if concurrently { " CONCURRENTLY" } else { "" },
        name.sql(d),
        i.table.sql(d),
        i.method
            .as_ref()
            .map(|m| format!(" USING {}", m.as_str()))
            .unwrap_or_default(),
        keys.join(", ")
    );
    if let Some(p) = &i.predicate {
        s.push_str(&format!(" WHERE {}", p.render(d)));
    }
    s
}

/// A column of the schema, as the database knows it (`name TYPE [GENERATED ...] [NOT NULL] [DEFAULT x]`).
pub fn schema_column(c: &schema::Column, d: Dialect) -> String {
    let mut s = q(&c.name, d);
    if !c.data_type.is_empty() {
        s.push(' ');
        s.push_str(&c.data_type);
    }
    if let Some(g) = &c.generated {
        s.push_str(&format!(
            " GENERATED ALWAYS AS ({}){}",
            g.expr,
            if g.stored { " STORED" } else { "" }
        ));
    }
    if let Some(i) = &c.identity {
        s.push_str(&format!(" GENERATED {i} AS IDENTITY"));
    }
    if c.not_null {
        s.push_str(" NOT NULL");
    }
    if let Some(def) = &c.default {
        s.push_str(&format!(" DEFAULT {def}"));
    }
    s
}

fn named(name: &Option<String>, d: Dialect, body: String) -> String {
    match name {
        Some(n) => format!("CONSTRAINT {} {body}", q(n, d)),
        None => body,
    }
}

/// A primary key of the schema.
pub fn schema_pk(pk: &schema::PrimaryKey, d: Dialect) -> String {
    named(
        &pk.name,
        d,
        format!("PRIMARY KEY ({})", join_strs(&pk.columns, d)),
    )
}

/// A UNIQUE constraint of the schema.
pub fn schema_unique(u: &schema::Unique, d: Dialect) -> String {
    named(&u.name, d, format!("UNIQUE ({})", join_strs(&u.columns, d)))
}

/// A CHECK of the schema (without its NOT VALID), in the text the database gave: on PostgreSQL that is
/// `pg_get_constraintdef`'s, the text `pg_dump` writes, so the CHECK a DOWN puts back reads the same as it
/// does on a copy restored from a dump (the rehearsal's).
pub fn schema_check(c: &schema::Check, d: Dialect) -> String {
    named(&c.name, d, format!("CHECK ({})", c.expr))
}

/// A FOREIGN KEY of the schema (without its NOT VALID).
pub fn schema_fk(f: &schema::ForeignKey, d: Dialect) -> String {
    let cols = if f.ref_columns.is_empty() {
        String::new()
    } else {
        format!("({})", join_strs(&f.ref_columns, d))
    };
    named(
        &f.name,
        d,
        format!(
            "FOREIGN KEY ({}) REFERENCES {}{cols}{}",
            join_strs(&f.columns, d),
            q(&f.ref_table, d),
            actions(Some(f.on_delete), Some(f.on_update))
        ),
    )
}

/// `CREATE TABLE name (...)` for a table of the schema: SQLite's own text when the database gave it (the
/// name swapped), else every column and constraint from the model, constraints with their names.
pub fn create_table_from_schema(t: &schema::Table, name: &str, d: Dialect) -> String {
    if let Some(sql) = &t.sql {
        if name == t.name {
            return sql.clone();
        }
        if let Some(renamed) = rename_create_table(sql, name, d) {
            return renamed;
        }
    }
    let mut lines: Vec<String> = t.columns.iter().map(|c| schema_column(c, d)).collect();
    lines.extend(t.primary_key.iter().map(|pk| schema_pk(pk, d)));
    lines.extend(t.uniques.iter().map(|u| schema_unique(u, d)));
    lines.extend(
        t.checks
            .iter()
            .filter(|c| !c.not_valid)
            .map(|c| schema_check(c, d)),
    );
    lines.extend(
        t.foreign_keys
            .iter()
            .filter(|f| !f.not_valid)
            .map(|f| schema_fk(f, d)),
    );
    format!(
        "CREATE TABLE {} (\n    {}\n)",
        q(name, d),
        lines.join(",\n    ")
    )
}

/// The `CREATE TABLE` text `sql` with the table's name replaced by `name`.
fn rename_create_table(sql: &str, name: &str, d: Dialect) -> Option<String> {
    let tokens = migrator_analyse::sql::tokenize(sql, d.analyse()).ok()?;
    let mut out = String::with_capacity(sql.len() + name.len());
    let mut seen_table = false;
    let mut replaced = false;
    for t in &tokens {
        match &t.token {
            Token::Word(w) if !replaced && seen_table => {
                if matches!(w.keyword, Keyword::IF | Keyword::NOT | Keyword::EXISTS)
                    && w.quote_style.is_none()
                {
                    out.push_str(&t.token.to_string());
                } else {
                    out.push_str(&q(name, d));
                    replaced = true;
                }
            }
            Token::Word(w) if !seen_table && w.keyword == Keyword::TABLE => {
                seen_table = true;
                out.push_str(&t.token.to_string());
            }
            other => out.push_str(&other.to_string()),
        }
    }
    replaced.then_some(out)
}

/// `CREATE INDEX` for an index of the schema: its own text when the database gave it, else rendered; with
/// `concurrently` (PostgreSQL) the keyword is put in.
pub fn index_from_schema(i: &schema::Index, table: &str, d: Dialect, concurrently: bool) -> String {
    let base = i.sql.clone().unwrap_or_else(|| {
        let keys: Vec<String> = i
            .keys
            .iter()
            .map(|k| {
                let key = if k.is_column {
                    q(&k.expr, d)
                } else {
                    format!("({})", k.expr)
                };
                format!("{key}{}", if k.desc { " DESC" } else { "" })
            })
            .collect();
        let mut s = format!(
            "CREATE {}INDEX {} ON {}{} ({})",
            if i.unique { "UNIQUE " } else { "" },
            q(&i.name, d),
            q(table, d),
            i.method
                .as_ref()
                .map(|m| format!(" USING {m}"))
                .unwrap_or_default(),
            keys.join(", ")
        );
        if let Some(p) = &i.predicate {
            s.push_str(&format!(" WHERE {p}"));
        }
        s
    });
    if concurrently && !base.to_ascii_uppercase().contains(" CONCURRENTLY ") {
        let upper = base.to_ascii_uppercase();
        if let Some(at) = upper.find("INDEX ") {
            return format!("{}INDEX CONCURRENTLY {}", &base[..at], &base[at + 6..]);
        }
    }
    base
}
