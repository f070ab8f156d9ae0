//! Identifiers: validated once where they are read, quoted when rendered.
//!
//! An identifier is 1 to 63 ASCII letters, digits and underscores, not starting with a digit. Names written
//! bare are folded to lower case (as both databases do); anything else (quotes, semicolons, spaces, comment
//! markers) is refused, so hostile text from an issue can never reach the generated SQL. Reserved words are
//! rendered in double quotes.

use std::fmt;

use crate::dialect::Dialect;

/// A validated SQL identifier (table, column, index or constraint name), lower case.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ident(String);

/// Longest identifier PostgreSQL keeps (NAMEDATALEN - 1).
pub const MAX_IDENT_LEN: usize = 63;

/// PostgreSQL's reserved key words (SQL Key Words appendix: "reserved", and "reserved (can be function or
/// type)", which cannot name a column either): a name among them must be written in double quotes.
const POSTGRES_RESERVED: &[&str] = &[
    "all",
    "analyse",
    "analyze",
    "and",
    "any",
    "array",
    "as",
    "asc",
    "asymmetric",
    "authorization",
    "binary",
    "both",
    "case",
    "cast",
    "check",
    "collate",
    "collation",
    "column",
    "concurrently",
    "constraint",
    "create",
    "cross",
    "current_catalog",
    "current_date",
    "current_role",
    "current_schema",
    "current_time",
    "current_timestamp",
    "current_user",
    "default",
    "deferrable",
    "desc",
    "distinct",
    "do",
    "else",
    "end",
    "except",
    "false",
    "fetch",
    "for",
    "foreign",
    "freeze",
    "from",
    "full",
    "grant",
    "group",
    "having",
    "ilike",
    "in",
    "initially",
    "inner",
    "intersect",
    "into",
    "is",
    "isnull",
    "join",
    "lateral",
    "leading",
    "left",
    "like",
    "limit",
    "localtime",
    "localtimestamp",
    "natural",
    "not",
    "notnull",
    "null",
    "offset",
    "on",
    "only",
    "or",
    "order",
    "outer",
    "overlaps",
    "placing",
    "primary",
    "references",
    "returning",
    "right",
    "select",
    "session_user",
    "similar",
    "some",
    "symmetric",
    "system_user",
    "table",
    "tablesample",
    "then",
    "to",
    "trailing",
    "true",
    "union",
    "unique",
    "user",
    "using",
    "variadic",
    "verbose",
    "when",
    "where",
    "window",
    "with",
];

thread_local! {
    /// An in-memory SQLite database to ask whether a word can be a bare name, and the answers so far.
    static SQLITE_PROBE: (Option<rusqlite::Connection>, std::cell::RefCell<std::collections::HashMap<String, bool>>) =
        (rusqlite::Connection::open_in_memory().ok(), Default::default());
}

/// `true` when `name` (a plain identifier) cannot be written bare in `dialect`: PostgreSQL's list of
/// reserved words; for SQLite, the bundled SQLite itself is asked (a bare column and table of that name).
pub fn is_reserved(name: &str, dialect: Dialect) -> bool {
    match dialect {
        Dialect::Postgres => POSTGRES_RESERVED.contains(&name),
        Dialect::Sqlite => SQLITE_PROBE.with(|(conn, cache)| {
            if let Some(known) = cache.borrow().get(name) {
                return *known;
            }
            let refused = conn.as_ref().is_some_and(|c| {
                c.execute_batch(&format!(
                    "CREATE TEMP TABLE probe ({name} INTEGER); DROP TABLE probe; \
                     CREATE TEMP TABLE {name} (x INTEGER); DROP TABLE {name};"
                ))
                .is_err()
            });
            cache.borrow_mut().insert(name.to_string(), refused);
            refused
        }),
    }
}

/// `name` as SQL for `dialect`: bare, or in double quotes when it is reserved there or is not a plain
/// lower-case identifier (a name from a schema may be `"Mixed"` case).
pub fn quote(name: &str, dialect: Dialect) -> String {
    let plain = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if plain && !is_reserved(name, dialect) {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

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

    /// Builds an identifier from generated parts (index and constraint names); a name over the length
    /// limit is cut and ends in a hash of the whole, so two long names stay apart.
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
            let hash = s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
            });
            s.truncate(MAX_IDENT_LEN - 9);
            s.push_str(&format!("_{:08x}", hash as u32));
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

    /// The name as SQL for `dialect` (quoted when reserved there).
    pub fn sql(&self, dialect: Dialect) -> String {
        quote(&self.0, dialect)
    }
}

/// The bare name, for messages (SQL uses [`Ident::sql`]).
impl fmt::Display for Ident {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
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
        assert_eq!(
            Ident::parse("\"order\"").unwrap().sql(Dialect::Postgres),
            "\"order\""
        );
        assert!(is_reserved("order", Dialect::Sqlite) && !is_reserved("type", Dialect::Sqlite));
        assert!(is_reserved("user", Dialect::Postgres) && !is_reserved("user", Dialect::Sqlite));
        assert_eq!(
            Ident::generated(&"x".repeat(80)).as_str().len(),
            MAX_IDENT_LEN
        );
        assert!(Ident::parse("id\"; DROP TABLE users; --").is_err());
        assert!(Ident::parse("1abc").is_err());
        assert!(Ident::parse("a b").is_err());
        assert!(Ident::parse("").is_err());
        assert!(Ident::parse(&"a".repeat(64)).is_err());
        assert_eq!(Ident::generated("idx_A.b").as_str(), "idx_a_b");
    }
}
