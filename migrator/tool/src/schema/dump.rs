//! Reading a schema dump: `pg_dump --schema-only` output or SQLite's `.schema`.
//!
//! The text is split into statements by `migrator_format`'s lexer (dollar-quoted function bodies, nested
//! comments and trigger bodies stay whole); psql meta-commands (`\restrict KEY`, `\connect`) are lines of
//! their own and are blanked first, keeping line numbers. Each statement is read by `sqlparser` and applied
//! by [`super::ddl`].

use migrator_analyse::sql::parse_statement;

use super::ddl::{self, Applied};
use super::names::object_key;
use super::{DumpSummary, Schema};
use crate::dialect::Dialect;

/// A statement of a dump that shapes the schema but cannot be read or applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{origin}:{line}: {message} (in: {text})")]
pub struct DumpError {
    /// The dump's name (its path).
    pub origin: String,
    /// 1-based line of the statement.
    pub line: u32,
    /// The statement's first line, shortened.
    pub text: String,
    /// What went wrong.
    pub message: String,
}

/// Blanks psql meta-command lines (`\restrict`, `\unrestrict`, `\connect`, ...), keeping line numbers.
fn without_meta_commands(text: &str) -> String {
    text.split('\n')
        .map(|line| {
            if line.trim_start().starts_with('\\') {
                ""
            } else {
                line
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `true` for statements that shape tables, indexes, triggers or views: those must be read.
fn shapes_schema(words: &[String]) -> bool {
    let w: Vec<&str> = words.iter().map(String::as_str).take(6).collect();
    let after_create: Vec<&str> = w
        .iter()
        .skip(1)
        .copied()
        .filter(|x| {
            !matches!(
                *x,
                "UNIQUE" | "OR" | "REPLACE" | "TEMP" | "TEMPORARY" | "MATERIALIZED" | "UNLOGGED"
            )
        })
        .collect();
    match w.first().copied() {
        Some("CREATE") => matches!(
            after_create.first().copied(),
            Some("TABLE" | "INDEX" | "VIEW" | "TRIGGER")
        ),
        Some("ALTER") => w.get(1) == Some(&"TABLE"),
        Some("DROP") => matches!(
            w.get(1).copied(),
            Some("TABLE" | "INDEX" | "VIEW" | "TRIGGER")
        ),
        _ => false,
    }
}

/// SQLite's own tables (`sqlite_sequence`, `sqlite_stat1`) show up in `.schema`: they are not the
/// application's.
fn internal_sqlite(words: &[String]) -> bool {
    words.get(1).is_some_and(|w| w == "TABLE")
        && words
            .get(2)
            .is_some_and(|w| w.to_ascii_lowercase().starts_with("sqlite_"))
}

/// The name after `CREATE [TEMP] TRIGGER|VIEW [IF NOT EXISTS]`, and for a trigger the table after `ON`,
/// for statements `sqlparser` cannot read whole (SQLite trigger bodies, some view queries).
fn fallback_names(words: &[String]) -> Option<(String, String, Option<String>)> {
    let kind_at = words.iter().position(|w| w == "TRIGGER" || w == "VIEW")?;
    let mut i = kind_at + 1;
    if words.get(i).is_some_and(|w| w == "IF") {
        i += 3;
    }
    let mut name = words.get(i)?.clone();
    if words.get(i + 1).is_some_and(|w| w == ".") {
        name = format!("{name}.{}", words.get(i + 2)?);
    }
    let table = if words[kind_at] == "TRIGGER" {
        let on = words.iter().position(|w| w == "ON")?;
        let mut t = words.get(on + 1)?.clone();
        if words.get(on + 2).is_some_and(|w| w == ".") {
            t = format!("{t}.{}", words.get(on + 3)?);
        }
        Some(object_key(&t))
    } else {
        None
    };
    Some((words[kind_at].clone(), object_key(&name), table))
}

/// `pg_dump` writes an identity column as `ALTER TABLE ... ADD GENERATED ALWAYS AS IDENTITY (SEQUENCE NAME
/// ... START WITH 1 ...)`; `sqlparser` does not read the sequence options, which the schema does not keep:
/// the statement without them.
fn without_identity_options(sql: &str) -> Option<String> {
    let upper = sql.to_ascii_uppercase();
    let at = upper.find(" AS IDENTITY")? + " AS IDENTITY".len();
    sql[at..]
        .trim_start()
        .starts_with('(')
        .then(|| sql[..at].to_string())
}

/// Reads one statement and applies it, with the fallbacks for what `sqlparser` does not read whole
/// (identity options, SQLite trigger bodies, some view queries). `words` are its
/// [`migrator_format::statement_words`].
fn apply_text(
    schema: &mut Schema,
    sql: &str,
    words: &[String],
    dialect: Dialect,
) -> Result<Applied, String> {
    let parsed = parse_statement(sql, dialect.analyse()).or_else(|e| {
        without_identity_options(sql)
            .ok_or(e)
            .and_then(|sql| parse_statement(&sql, dialect.analyse()))
    });
    match parsed {
        Ok(read) => ddl::apply(schema, &read, sql, dialect),
        Err(parse_error) => match fallback_names(words) {
            Some((kind, name, Some(table))) if kind == "TRIGGER" => {
                ddl::add_trigger(schema, &table, &name, sql).map(|()| Applied::Changed)
            }
            Some((_, name, None)) => {
                ddl::add_view(schema, &name, sql, dialect);
                Ok(Applied::Changed)
            }
            _ if shapes_schema(words) => Err(parse_error),
            _ => Ok(Applied::Skipped),
        },
    }
}

/// Applies one statement of SQL text to `schema` (the generator's own statements, as the planner
/// writes them).
pub(crate) fn apply_statement(
    schema: &mut Schema,
    sql: &str,
    dialect: Dialect,
) -> Result<Applied, String> {
    let words = migrator_format::statement_words(sql).map_err(|e| e.message.clone())?;
    apply_text(schema, sql, &words, dialect)
}

pub(super) fn read(
    text: &str,
    dialect: Dialect,
    origin: &str,
) -> Result<(Schema, DumpSummary), DumpError> {
    let text = without_meta_commands(text);
    let fail = |line: u32, sql: &str, message: String| DumpError {
        origin: origin.to_string(),
        line,
        text: crate::ident::shorten(sql.lines().next().unwrap_or("").trim()),
        message,
    };
    let statements = migrator_format::split_statements(&text, 1)
        .map_err(|e| fail(e.line, "", e.message.clone()))?;
    let mut schema = Schema::default();
    let mut summary = DumpSummary::default();
    for s in &statements {
        let words = migrator_format::statement_words(&s.sql)
            .map_err(|e| fail(s.line, &s.sql, e.message.clone()))?;
        if dialect == Dialect::Sqlite && internal_sqlite(&words) {
            summary.skipped += 1;
            continue;
        }
        let result = apply_text(&mut schema, &s.sql, &words, dialect);
        match result {
            Ok(Applied::Changed) => summary.applied += 1,
            Ok(Applied::Skipped) => summary.skipped += 1,
            Err(message) if shapes_schema(&words) => {
                return Err(fail(s.line, &s.sql, message));
            }
            Err(_) => summary.skipped += 1,
        }
    }
    schema.normalise();
    tracing::debug!(
        origin,
        tables = schema.tables.len(),
        applied = summary.applied,
        skipped = summary.skipped,
        "read a schema dump"
    );
    Ok((schema, summary))
}
