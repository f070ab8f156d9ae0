//! The queries of the [`LiveCheck`]s: read-only SQL, in the analysis's dialect, that sizes a statement or
//! finds what will make it fail on the database in hand (NULLs under a new NOT NULL, duplicates under a new
//! unique key, orphans under a new foreign key, rows a CHECK refuses, the schema objects that stop SQLite's
//! `DROP COLUMN`). Each failure check has a count query and a query that shows the offending rows.
//!
//! Names are quoted part by part (`"public"."contacts"`), which PostgreSQL and SQLite both read; the names
//! the analyser holds are already case-folded as the database folds them. Index keys that are expressions
//! (`lower(email)`) are used as written.

use crate::model::{LiveCheck, LiveCheckKind};

/// How many offending rows the show queries return.
pub(crate) const SHOW_LIMIT: u32 = 20;

/// `"a"."b"` for `a.b`; a quote inside a name is doubled.
pub(crate) fn quote_name(name: &str) -> String {
    name.split('.')
        .map(|part| format!("\"{}\"", part.replace('"', "\"\"")))
        .collect::<Vec<_>>()
        .join(".")
}

/// A key element: a plain column name is quoted, an expression used as written.
fn key(element: &str) -> String {
    let plain = !element.is_empty()
        && element
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
        && !element.starts_with(|c: char| c.is_ascii_digit());
    if plain {
        quote_name(element)
    } else {
        element.to_string()
    }
}

/// A single-quoted SQL string.
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

fn check(
    kind: LiveCheckKind,
    table: &str,
    columns: &[String],
    sql: String,
    show: Option<String>,
) -> LiveCheck {
    LiveCheck {
        kind,
        table: table.to_string(),
        columns: columns.to_vec(),
        sql,
        show_sql: show,
    }
}

/// Rows in `table`.
pub(crate) fn row_count(table: &str) -> LiveCheck {
    check(
        LiveCheckKind::RowCount,
        table,
        &[],
        format!("SELECT count(*) FROM {}", quote_name(table)),
        None,
    )
}

/// Rows of `table` holding a value in `column` (what a DROP COLUMN loses).
pub(crate) fn values_lost(table: &str, column: &str) -> LiveCheck {
    check(
        LiveCheckKind::RowCount,
        table,
        &[column.to_string()],
        format!(
            "SELECT count(*) FROM {} WHERE {} IS NOT NULL",
            quote_name(table),
            key(column)
        ),
        None,
    )
}

/// Rows an UPDATE/DELETE with `selection` (its WHERE, as written) touches.
pub(crate) fn rows_affected(table: &str, selection: Option<&str>) -> LiveCheck {
    let filter = selection.map(|s| format!(" WHERE {s}")).unwrap_or_default();
    check(
        LiveCheckKind::RowsAffected,
        table,
        &[],
        format!("SELECT count(*) FROM {}{filter}", quote_name(table)),
        None,
    )
}

/// NULLs in `column`: SET NOT NULL (or a PRIMARY KEY) fails over any.
pub(crate) fn nulls(table: &str, columns: &[String]) -> LiveCheck {
    let any_null = columns
        .iter()
        .map(|c| format!("{} IS NULL", key(c)))
        .collect::<Vec<_>>()
        .join(" OR ");
    let t = quote_name(table);
    check(
        LiveCheckKind::Nulls,
        table,
        columns,
        format!("SELECT count(*) FROM {t} WHERE {any_null}"),
        Some(format!(
            "SELECT * FROM {t} WHERE {any_null} LIMIT {SHOW_LIMIT}"
        )),
    )
}

/// Rows whose key (`columns`, all non-NULL, within the partial index's `predicate`) another row shares.
pub(crate) fn duplicates(table: &str, columns: &[String], predicate: Option<&str>) -> LiveCheck {
    let t = quote_name(table);
    let keys: Vec<String> = columns.iter().map(|c| key(c)).collect();
    let list = keys.join(", ");
    let mut filter: Vec<String> = keys.iter().map(|k| format!("{k} IS NOT NULL")).collect();
    if let Some(p) = predicate {
        filter.push(format!("({p})"));
    }
    let filter = filter.join(" AND ");
    let groups =
        format!("SELECT {list} FROM {t} WHERE {filter} GROUP BY {list} HAVING count(*) > 1");
    let tuple = if keys.len() == 1 {
        list.clone()
    } else {
        format!("({list})")
    };
    check(
        LiveCheckKind::Duplicates,
        table,
        columns,
        format!(
            "SELECT CAST(coalesce(sum(n), 0) AS bigint) FROM (SELECT count(*) AS n FROM {t} WHERE {filter} GROUP BY {list} HAVING count(*) > 1) AS d"
        ),
        Some(format!(
            "SELECT * FROM {t} WHERE {filter} AND {tuple} IN ({groups}) ORDER BY {list} LIMIT {SHOW_LIMIT}"
        )),
    )
}

/// Rows of `table` whose foreign key `columns` (all non-NULL: MATCH SIMPLE) match no row of `references`
/// on `referred`.
pub(crate) fn orphans(
    table: &str,
    columns: &[String],
    references: &str,
    referred: &[String],
) -> Option<LiveCheck> {
    if columns.is_empty() || columns.len() != referred.len() {
        return None;
    }
    let set: Vec<String> = columns
        .iter()
        .map(|c| format!("child.{} IS NOT NULL", key(c)))
        .collect();
    let join: Vec<String> = columns
        .iter()
        .zip(referred)
        .map(|(c, r)| format!("parent.{} = child.{}", key(r), key(c)))
        .collect();
    let from = format!(
        "FROM {} AS child WHERE {} AND NOT EXISTS (SELECT 1 FROM {} AS parent WHERE {})",
        quote_name(table),
        set.join(" AND "),
        quote_name(references),
        join.join(" AND ")
    );
    Some(check(
        LiveCheckKind::Orphans,
        table,
        columns,
        format!("SELECT count(*) {from}"),
        Some(format!("SELECT child.* {from} LIMIT {SHOW_LIMIT}")),
    ))
}

/// Rows a CHECK (`expr`, as written) refuses: those where it is false (NULL passes a CHECK).
pub(crate) fn check_violations(table: &str, expr: &str) -> LiveCheck {
    let t = quote_name(table);
    check(
        LiveCheckKind::CheckViolations,
        table,
        &[],
        format!("SELECT count(*) FROM {t} WHERE NOT ({expr})"),
        Some(format!(
            "SELECT * FROM {t} WHERE NOT ({expr}) LIMIT {SHOW_LIMIT}"
        )),
    )
}

/// SQLite: the schema objects that make `ALTER TABLE table DROP COLUMN column` fail, one row each (`why`,
/// `object`): the column is (part of) the PRIMARY KEY; an index uses it (a UNIQUE's own index, a plain,
/// expression or partial index); the CREATE TABLE names it again outside its own definition (a table
/// CHECK or key, another column's CHECK or generated expression: found by the name appearing twice, so
/// a column whose own CHECK repeats its name is reported too, although SQLite would drop it); a view or
/// trigger names both the table and the column. A column's own `REFERENCES` does not stop the drop.
pub(crate) fn sqlite_drop_column(table: &str, column: &str) -> LiveCheck {
    let t = literal(table);
    let c = literal(column);
    let w = glob_word(column);
    let objects = format!(
        "SELECT 'primary key' AS why, {t} AS object FROM pragma_table_info({t}) WHERE name = {c} COLLATE NOCASE AND pk > 0 \
         UNION SELECT 'index', il.name FROM pragma_index_list({t}) AS il JOIN pragma_index_info(il.name) AS ii WHERE ii.name = {c} COLLATE NOCASE \
         UNION SELECT 'index', m.name FROM sqlite_master AS m WHERE m.type = 'index' AND m.tbl_name = {t} COLLATE NOCASE AND m.sql IS NOT NULL AND (' ' || lower(m.sql) || ' ') GLOB '*{w}*' \
         UNION SELECT 'named elsewhere in CREATE TABLE (a CHECK, a table key or a generated column)', m.name FROM sqlite_master AS m WHERE m.type = 'table' AND m.name = {t} COLLATE NOCASE AND (' ' || lower(m.sql) || ' ') GLOB '*{w}*{w}*' \
         UNION SELECT m.type, m.name FROM sqlite_master AS m WHERE m.type IN ('view', 'trigger') AND (' ' || lower(m.sql) || ' ') GLOB '*{tw}*' AND (' ' || lower(m.sql) || ' ') GLOB '*{w}*'",
        tw = glob_word(table),
    );
    check(
        LiveCheckKind::SqliteDropColumnBlocked,
        table,
        &[column.to_string()],
        format!("SELECT count(*) FROM ({objects}) AS o"),
        Some(format!("{objects} LIMIT {SHOW_LIMIT}")),
    )
}

/// A GLOB fragment matching `name` (lower-cased) as a whole word: `[^a-z0-9_]name[^a-z0-9_]`. Quotes in
/// the name are doubled for the SQL string; GLOB's own metacharacters are bracketed.
fn glob_word(name: &str) -> String {
    let mut escaped = String::new();
    for ch in name.to_lowercase().chars() {
        match ch {
            '*' | '?' | '[' => {
                escaped.push('[');
                escaped.push(ch);
                escaped.push(']');
            }
            '\'' => escaped.push_str("''"),
            other => escaped.push(other),
        }
    }
    format!("[^a-z0-9_]{escaped}[^a-z0-9_]")
}
