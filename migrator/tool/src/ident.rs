//! Identifiers: validated once where they are read, quoted when rendered.
//!
//! An identifier is 1 to 63 ASCII letters, digits and underscores, not starting with a digit. Names written
//! bare are folded to lower case (as both databases do); anything else (quotes, semicolons, spaces, comment
//! markers) is refused, so hostile text from an issue can never reach the generated SQL. Reserved words are
//! rendered in double quotes.

use std::fmt;

/// A validated SQL identifier (table, column, index or constraint name), lower case.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ident(String);

/// Longest identifier PostgreSQL keeps (NAMEDATALEN - 1).
pub const MAX_IDENT_LEN: usize = 63;

/// Words that must be quoted when used as a name in either dialect.
const RESERVED: &[&str] = &[
    "all",
    "alter",
    "analyse",
    "analyze",
    "and",
    "any",
    "array",
    "as",
    "asc",
    "between",
    "both",
    "case",
    "cast",
    "check",
    "collate",
    "column",
    "constraint",
    "create",
    "cross",
    "current_date",
    "current_time",
    "current_timestamp",
    "current_user",
    "default",
    "delete",
    "desc",
    "distinct",
    "do",
    "drop",
    "else",
    "end",
    "except",
    "exists",
    "false",
    "fetch",
    "for",
    "foreign",
    "from",
    "grant",
    "group",
    "having",
    "in",
    "index",
    "inner",
    "insert",
    "intersect",
    "into",
    "is",
    "join",
    "key",
    "leading",
    "left",
    "like",
    "limit",
    "natural",
    "not",
    "null",
    "offset",
    "on",
    "only",
    "or",
    "order",
    "outer",
    "primary",
    "references",
    "right",
    "select",
    "set",
    "some",
    "table",
    "then",
    "to",
    "trailing",
    "true",
    "union",
    "unique",
    "update",
    "user",
    "using",
    "values",
    "when",
    "where",
    "window",
    "with",
];

impl Ident {
    /// Validates `raw` (bare, or wrapped in backticks or double quotes) as an identifier.
    /// The error text says what is wrong; the caller adds where it came from.
    pub fn parse(raw: &str) -> Result<Ident, String> {
        let trimmed = raw.trim();
        let inner = strip_wrapping(trimmed);
        if inner.is_empty() {
            return Err("an empty name".to_string());
        }
        if inner.len() > MAX_IDENT_LEN {
            return Err(format!(
                "the name {:?} is longer than {MAX_IDENT_LEN} characters",
                shorten(inner)
            ));
        }
        let mut chars = inner.chars();
        let first_ok = chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
        if !first_ok || !inner.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!(
                "the name {:?} is not a plain identifier (ASCII letters, digits and underscores, not starting with a digit); refused",
                shorten(inner)
            ));
        }
        Ok(Ident(inner.to_ascii_lowercase()))
    }

    /// Builds an identifier from generated parts (index and constraint names), cut to the length limit.
    pub(crate) fn generated(name: &str) -> Ident {
        let mut s: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .collect();
        if s.len() > MAX_IDENT_LEN {
            s.truncate(MAX_IDENT_LEN);
        }
        if s.is_empty() || s.starts_with(|c: char| c.is_ascii_digit()) {
            s.insert(0, '_');
        }
        Ident(s)
    }

    /// The name as written in the issue, lower case, unquoted.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Renders the identifier for SQL: bare, or double-quoted when it is a reserved word.
impl fmt::Display for Ident {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if RESERVED.contains(&self.0.as_str()) {
            write!(f, "\"{}\"", self.0)
        } else {
            f.write_str(&self.0)
        }
    }
}

fn strip_wrapping(s: &str) -> &str {
    for (open, close) in [('`', '`'), ('"', '"'), ('[', ']')] {
        if s.len() >= 2 && s.starts_with(open) && s.ends_with(close) {
            let inner = &s[1..s.len() - 1];
            if !inner.contains(open) && !inner.contains(close) {
                return inner;
            }
        }
    }
    s
}

/// At most 60 characters of `s`, for error messages.
pub(crate) fn shorten(s: &str) -> String {
    if s.chars().count() <= 60 {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(57).collect();
        out.push_str("...");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_names_and_refuses_hostile_ones() {
        assert_eq!(Ident::parse("`Contact_ID`").unwrap().as_str(), "contact_id");
        assert_eq!(Ident::parse("\"order\"").unwrap().to_string(), "\"order\"");
        assert!(Ident::parse("id\"; DROP TABLE users; --").is_err());
        assert!(Ident::parse("1abc").is_err());
        assert!(Ident::parse("a b").is_err());
        assert!(Ident::parse("").is_err());
        assert!(Ident::parse(&"a".repeat(64)).is_err());
        assert_eq!(Ident::generated("idx_A.b").as_str(), "idx_a_b");
    }
}
