//! SQLite's table rebuild (sqlite.org/lang_altertable.html, "other kinds of table schema changes"), in the
//! form that keeps the table's text exact: the rows copied out to a temporary table, the table dropped and
//! created in its new shape, the rows copied back, its indexes, triggers and the views over it created
//! again, and `PRAGMA foreign_key_check` at the end. The runtime runs SQLite migrations with foreign keys
//! off and checks them after each one, as the procedure requires. (The usual form creates `new_t` and
//! renames it, which leaves SQLite's text of the table as `CREATE TABLE "t"`: a DOWN would not give the
//! schema back byte for byte.)
//!
//! The new shape is the table's own `CREATE TABLE` text, read by `sqlparser`, changed in its syntax tree
//! and printed again, so what the change does not touch (AUTOINCREMENT, COLLATE, constraint names) stays.

use migrator_analyse::sql::sqlparser::ast::{CreateTable, Statement};

use super::Planner;
use crate::dialect::Dialect;
use crate::error::GenError;
use crate::render::{self, q};
use crate::schema::{ddl, Schema, Table};

/// The `CREATE TABLE` text of `table` (SQLite's own when known), changed by `edit` in its syntax tree.
pub(crate) fn edit_create_table(
    table: &Table,
    edit: impl FnOnce(&mut CreateTable) -> Result<(), String>,
) -> Result<String, String> {
    let text = table
        .sql
        .clone()
        .unwrap_or_else(|| render::create_table_from_schema(table, &table.name, Dialect::Sqlite));
    let read = migrator_analyse::sql::parse_statement(&text, migrator_analyse::Dialect::Sqlite)?;
    let Statement::CreateTable(mut ct) = read.statement else {
        return Err(format!(
            "the definition of {} is not a CREATE TABLE",
            table.name
        ));
    };
    edit(&mut ct)?;
    Ok(Statement::CreateTable(ct).to_string())
}

/// The table a `CREATE TABLE` text defines.
pub(crate) fn table_of(sql: &str) -> Result<Table, String> {
    let mut s = Schema::default();
    ddl::apply_sql(&mut s, sql, Dialect::Sqlite)?;
    s.tables
        .into_values()
        .next()
        .ok_or_else(|| "no table".to_string())
}

impl Planner {
    /// The statements that rebuild `before` into the table `after_sql` defines (same name): the rows are
    /// copied out to a temporary table, the table dropped and created again from `after_sql` (so SQLite
    /// keeps that exact text, as no rename rewrites it), the rows copied back, the temporary table dropped,
    /// and the indexes, triggers and views over it created again. Columns of both are copied; `fill` gives
    /// the value of columns only `after` has (others take their default).
    pub(crate) fn sqlite_rebuild(
        &self,
        before: &Table,
        after_sql: &str,
        fill: &[(String, String)],
    ) -> Result<Vec<String>, GenError> {
        let d = Dialect::Sqlite;
        let after = table_of(after_sql)
            .map_err(|e| self.refuse(format!("rebuilding {}: {e}", before.name)))?;
        let name = &before.name;
        let copy = format!("_migrator_old_{name}");
        let mut out = Vec::new();
        let views = self.schema.views_on(name);
        for v in &views {
            out.push(format!("DROP VIEW {}", q(&v.name, d)));
        }
        out.push(format!(
            "CREATE TEMP TABLE {} AS SELECT * FROM {}",
            q(&copy, d),
            q(name, d)
        ));
        out.push(format!("DROP TABLE {}", q(name, d)));
        out.push(after_sql.trim().to_string());
        let mut into = Vec::new();
        let mut from = Vec::new();
        for c in &after.columns {
            if before.column(&c.name).is_some() {
                into.push(q(&c.name, d));
                from.push(q(&c.name, d));
            } else if let Some((_, value)) = fill.iter().find(|(n, _)| *n == c.name) {
                into.push(q(&c.name, d));
                from.push(value.clone());
            }
        }
        out.push(format!(
            "INSERT INTO {} ({})\nSELECT {} FROM temp.{}",
            q(name, d),
            into.join(", "),
            from.join(", "),
            q(&copy, d)
        ));
        out.push(format!("DROP TABLE temp.{}", q(&copy, d)));
        for i in &before.indexes {
            if i.columns.iter().all(|c| after.column(c).is_some()) {
                out.push(render::index_from_schema(i, name, d, false));
            }
        }
        for t in &before.triggers {
            out.push(t.sql.clone());
        }
        for v in &views {
            out.push(v.sql.clone());
        }
        out.push("PRAGMA foreign_key_check".to_string());
        Ok(out)
    }
}

impl Planner {
    /// An SQLite change by the table rebuild both ways: the UP rebuilds `t` into `after_sql`, the DOWN
    /// rebuilds it back into `t`'s own text.
    pub(crate) fn sqlite_rebuild_both(
        &self,
        step: &mut super::Step,
        t: &Table,
        after_sql: &str,
    ) -> Result<(), GenError> {
        step.up = self.sqlite_rebuild(t, after_sql, &[])?;
        step.down = self.sqlite_rebuild_from(t, t, &[])?;
        Ok(())
    }
}

/// The lint findings a table rebuild causes by its nature, allowed with the reason: the analyser reads
/// `_new_t` and `t` as two tables, so it sees a DROP TABLE of `t` (the rows were copied first) and the
/// foreign keys of `_new_t` without the indexes re-created on `t` after the rename.
pub(crate) fn allow_rebuilds(step: &mut super::Step) {
    let rebuilt: Vec<String> = step
        .up
        .iter()
        .chain(&step.down)
        .filter_map(|s| {
            let rest = s.strip_prefix("CREATE TEMP TABLE ")?;
            let (copy, _) = rest.split_once(" AS SELECT")?;
            copy.trim_matches('"')
                .strip_prefix("_migrator_old_")
                .map(str::to_string)
        })
        .collect();
    for t in rebuilt {
        let work = format!("rebuilds {t} (every row copied out and back)");
        if !step.heavy.contains(&work) {
            step.heavy.push(work);
        }
        let reasons = [
            ("destructive-operation", format!("the table rebuild drops {t} only after copying every row out to temp._migrator_old_{t}, and copies them back")),
            ("foreign-key-without-index", format!("the table rebuild re-creates {t} with the foreign keys and indexes it has")),
        ];
        for (id, reason) in reasons {
            if !step.allows.iter().any(|(i, r)| *i == id && *r == reason) {
                step.allows.push((id, reason));
            }
        }
    }
}
