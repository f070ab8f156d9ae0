//! The workspace's one SQL reader, for the crates beside the analyser (the companion tool's generator and
//! its schema loaders): statements are split by `migrator_format`'s lexer and read by `sqlparser` in the
//! dialect the analyser uses, so what the generator writes, what a schema dump says and what the lint reads
//! are understood by the same parser. `sqlparser` is re-exported so every crate reads one version of it.

pub use sqlparser;

use sqlparser::ast::{DataType, Expr, Statement};
use sqlparser::dialect::{Dialect as SqlDialect, PostgreSqlDialect, SQLiteDialect};
use sqlparser::keywords::Keyword;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer};

use crate::Dialect;

static POSTGRES: PostgreSqlDialect = PostgreSqlDialect {};
static SQLITE: SQLiteDialect = SQLiteDialect {};

/// The `sqlparser` dialect for `dialect`.
pub fn sql_dialect(dialect: Dialect) -> &'static dyn SqlDialect {
    match dialect {
        Dialect::Postgres => &POSTGRES,
        Dialect::Sqlite => &SQLITE,
    }
}

/// A parser for `dialect` with no input yet (feed it with [`Parser::with_tokens_with_locations`]).
pub fn parser(dialect: Dialect) -> Parser<'static> {
    Parser::new(sql_dialect(dialect))
}

/// One statement read: what `sqlparser` made of it, and the PostgreSQL `CONCURRENTLY` of a
/// `DROP INDEX CONCURRENTLY`, which `sqlparser` does not read (it is taken out before parsing).
#[derive(Debug, Clone)]
pub struct ReadStatement {
    /// The statement.
    pub statement: Statement,
    /// The text said `DROP INDEX CONCURRENTLY`.
    pub drop_index_concurrently: bool,
}

/// Reads one statement (the text of one [`migrator_format::split_statements`] item, without its `;`).
/// `Err` holds the parser's message.
pub fn parse_statement(sql: &str, dialect: Dialect) -> Result<ReadStatement, String> {
    let words = migrator_format::statement_words(sql).map_err(|e| e.to_string())?;
    let concurrently = dialect == Dialect::Postgres
        && words.len() > 2
        && words[0] == "DROP"
        && words[1] == "INDEX"
        && words[2] == "CONCURRENTLY";
    let text = if concurrently {
        remove_first_word(sql, dialect)?
    } else {
        sql.to_string()
    };
    let mut statements =
        Parser::parse_sql(sql_dialect(dialect), &text).map_err(|e| e.to_string())?;
    match statements.len() {
        1 => Ok(ReadStatement {
            statement: statements.remove(0),
            drop_index_concurrently: concurrently,
        }),
        0 => Err("no statement found".to_string()),
        n => Err(format!("{n} statements where one was expected")),
    }
}

/// `sql` without its first `CONCURRENTLY` keyword (the caller has checked that it is one of the statement's
/// leading keywords), re-joined from `sqlparser`'s tokens.
fn remove_first_word(sql: &str, dialect: Dialect) -> Result<String, String> {
    let mut removed = false;
    Ok(tokenize(sql, dialect)?
        .into_iter()
        .filter(|t| {
            let drop = !removed
                && matches!(&t.token, Token::Word(w) if w.keyword == Keyword::CONCURRENTLY);
            removed |= drop;
            !drop
        })
        .map(|t| t.token.to_string())
        .collect())
}

/// The tokens of `text` (white space included, as `sqlparser` returns them).
pub fn tokenize(text: &str, dialect: Dialect) -> Result<Vec<TokenWithSpan>, String> {
    Tokenizer::new(sql_dialect(dialect), text)
        .tokenize_with_location()
        .map_err(|e| e.to_string())
}

/// Reads `text` as exactly one expression.
pub fn parse_expr(text: &str, dialect: Dialect) -> Result<Expr, String> {
    let mut p = parser(dialect)
        .try_with_sql(text)
        .map_err(|e| e.to_string())?;
    let expr = p.parse_expr().map_err(|e| e.to_string())?;
    expect_end(&p)?;
    Ok(expr)
}

/// Reads `text` as exactly one data type (`character varying(20)`, `numeric(3,2)`, `text[]`).
pub fn parse_data_type(text: &str, dialect: Dialect) -> Result<DataType, String> {
    let mut p = parser(dialect)
        .try_with_sql(text)
        .map_err(|e| e.to_string())?;
    let ty = p.parse_data_type().map_err(|e| e.to_string())?;
    expect_end(&p)?;
    Ok(ty)
}

fn expect_end(p: &Parser<'_>) -> Result<(), String> {
    match &p.peek_token().token {
        Token::EOF => Ok(()),
        other => Err(format!("unexpected `{other}` after the end")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_statements_expressions_and_types() {
        let read =
            parse_statement("DROP INDEX CONCURRENTLY IF EXISTS idx_a", Dialect::Postgres).unwrap();
        assert!(read.drop_index_concurrently);
        assert_eq!(read.statement.to_string(), "DROP INDEX IF EXISTS idx_a");
        assert!(parse_statement("CREATE TABLE t (a INT); SELECT 1", Dialect::Sqlite).is_err());
        assert_eq!(
            parse_expr("a >= 0 AND a <= 1", Dialect::Sqlite)
                .unwrap()
                .to_string(),
            "a >= 0 AND a <= 1"
        );
        assert!(parse_expr("1 2", Dialect::Sqlite).is_err());
        assert_eq!(
            parse_data_type("character varying(20)", Dialect::Postgres)
                .unwrap()
                .to_string(),
            "CHARACTER VARYING(20)"
        );
        assert!(tokenize("'a, b', c", Dialect::Postgres).unwrap().len() > 3);
    }
}
