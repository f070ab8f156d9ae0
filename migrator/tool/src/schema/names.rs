//! How names are folded and keyed, and which columns or tables a piece of SQL names.

use migrator_analyse::sql::sqlparser::ast::{Ident, ObjectName, ObjectNamePart};
use migrator_analyse::sql::sqlparser::tokenizer::Token;

use crate::dialect::Dialect;

/// A name as the databases fold it: `"Quoted"` keeps its case (without the quotes), anything else is
/// lower-cased.
pub fn fold(name: &str) -> String {
    let t = name.trim();
    for (open, close) in [('"', '"'), ('`', '`'), ('[', ']')] {
        if t.len() >= 2 && t.starts_with(open) && t.ends_with(close) {
            return t[1..t.len() - 1].to_string();
        }
    }
    t.to_lowercase()
}

/// The key of a table, view or index name: folded, with a leading `public.` or `main.` dropped.
pub fn object_key(name: &str) -> String {
    let parts: Vec<String> = split_qualified(name).iter().map(|p| fold(p)).collect();
    key_of_parts(parts)
}

fn key_of_parts(mut parts: Vec<String>) -> String {
    if parts.len() > 1 && matches!(parts[0].as_str(), "public" | "main") {
        parts.remove(0);
    }
    parts.join(".")
}

/// Splits `a.b` at dots outside double quotes.
fn split_qualified(name: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    for (i, c) in name.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '.' if !quoted => {
                parts.push(&name[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&name[start..]);
    parts
}

/// A `sqlparser` identifier, folded.
pub(crate) fn ident(i: &Ident) -> String {
    if i.quote_style.is_some() {
        i.value.clone()
    } else {
        i.value.to_lowercase()
    }
}

/// The key of a `sqlparser` object name.
pub(crate) fn key(name: &ObjectName) -> String {
    key_of_parts(
        name.0
            .iter()
            .map(|part| match part {
                ObjectNamePart::Identifier(i) => ident(i),
                other => other.to_string().to_lowercase(),
            })
            .collect(),
    )
}

/// The bare words of `sql` (identifiers, folded; quoted ones unquoted), each with whether a `(` follows it
/// (a function call). Text that does not tokenize gives no words.
fn words(sql: &str, dialect: Dialect) -> Vec<(String, bool)> {
    let Ok(tokens) = migrator_analyse::sql::tokenize(sql, dialect.analyse()) else {
        return Vec::new();
    };
    let tokens: Vec<&Token> = tokens
        .iter()
        .map(|t| &t.token)
        .filter(|t| !matches!(t, Token::Whitespace(_)))
        .collect();
    tokens
        .iter()
        .enumerate()
        .filter_map(|(i, t)| match t {
            Token::Word(w) => {
                let name = if w.quote_style.is_some() {
                    w.value.clone()
                } else {
                    w.value.to_lowercase()
                };
                Some((name, matches!(tokens.get(i + 1), Some(Token::LParen))))
            }
            _ => None,
        })
        .collect()
}

/// The columns of `columns` that the expression `expr` names (not as a function name), in the order of
/// `columns`.
pub fn expression_columns(expr: &str, columns: &[String], dialect: Dialect) -> Vec<String> {
    let named: Vec<String> = words(expr, dialect)
        .into_iter()
        .filter(|(_, call)| !call)
        .map(|(w, _)| w)
        .collect();
    columns
        .iter()
        .filter(|c| named.contains(c))
        .cloned()
        .collect()
}

/// The keys of `tables` that the SQL text names (a view's query, a trigger's body).
pub(crate) fn named_tables<'a>(
    sql: &str,
    tables: impl Iterator<Item = &'a String>,
    dialect: Dialect,
) -> Vec<String> {
    let named: Vec<String> = words(sql, dialect).into_iter().map(|(w, _)| w).collect();
    tables
        .filter(|t| {
            let bare = t.rsplit('.').next().unwrap_or(t);
            named.iter().any(|w| w == *t || w == bare)
        })
        .cloned()
        .collect()
}
