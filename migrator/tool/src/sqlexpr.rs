//! SQL expressions and types taken from an issue: read by `sqlparser` (through `migrator_analyse::sql`),
//! refused when they could be more than an expression, kept as `sqlparser` prints them, and rendered per
//! dialect. Nothing from the issue reaches the output as raw text: what is written is the parser's print.

use migrator_analyse::sql::sqlparser::ast::{DataType, Expr};
use migrator_analyse::sql::sqlparser::keywords::Keyword;
use migrator_analyse::sql::sqlparser::tokenizer::Token;

use crate::dialect::Dialect;

/// Keywords that may not appear inside an expression taken from an issue (they make it a query or a
/// statement).
const FORBIDDEN: &[Keyword] = &[
    Keyword::SELECT,
    Keyword::INSERT,
    Keyword::UPDATE,
    Keyword::DELETE,
    Keyword::DROP,
    Keyword::CREATE,
    Keyword::ALTER,
    Keyword::ATTACH,
    Keyword::DETACH,
    Keyword::PRAGMA,
    Keyword::GRANT,
    Keyword::REVOKE,
    Keyword::TRUNCATE,
    Keyword::COPY,
    Keyword::EXECUTE,
    Keyword::VACUUM,
    Keyword::BEGIN,
    Keyword::COMMIT,
    Keyword::ROLLBACK,
];

/// A validated expression (a default, a CHECK, an index key or predicate, a USING conversion), as
/// `sqlparser` prints it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SqlExpr(String);

impl SqlExpr {
    /// Reads `text` as one expression. Refused: anything `sqlparser` does not read as exactly one
    /// expression, sub-queries, and statement keywords.
    pub fn parse(text: &str) -> Result<SqlExpr, String> {
        let expr = migrator_analyse::sql::parse_expr(text, migrator_analyse::Dialect::Postgres)
            .map_err(|e| {
                format!(
                    "`{}` is not an expression: {e}",
                    crate::ident::shorten(text)
                )
            })?;
        SqlExpr::from_expr(&expr)
    }

    /// Takes an expression `sqlparser` read (inside a statement or a phrase).
    pub fn from_expr(expr: &Expr) -> Result<SqlExpr, String> {
        let printed = expr.to_string();
        let tokens =
            migrator_analyse::sql::tokenize(&printed, migrator_analyse::Dialect::Postgres)?;
        for t in &tokens {
            if let Token::Word(w) = &t.token {
                if w.quote_style.is_none() && FORBIDDEN.contains(&w.keyword) {
                    return Err(format!(
                        "the word `{}` inside an expression; refused",
                        w.value
                    ));
                }
            }
        }
        Ok(SqlExpr(printed))
    }

    /// `column IN (values...)`, for `one of (...)`.
    pub fn one_of(column: &str, values: &[String]) -> Result<SqlExpr, String> {
        SqlExpr::parse(&format!("{column} IN ({})", values.join(", ")))
    }

    /// The expression as printed by `sqlparser` (the PostgreSQL form).
    pub fn text(&self) -> &str {
        &self.0
    }

    fn words(&self) -> Vec<Token> {
        migrator_analyse::sql::tokenize(&self.0, migrator_analyse::Dialect::Postgres)
            .unwrap_or_default()
            .into_iter()
            .map(|t| t.token)
            .filter(|t| !matches!(t, Token::Whitespace(_)))
            .collect()
    }

    /// A constant: a string, a (signed) number, `NULL`, `TRUE` or `FALSE`, with an optional cast.
    pub fn is_literal(&self) -> bool {
        let tokens = self.words();
        let end = tokens
            .iter()
            .position(|t| matches!(t, Token::DoubleColon))
            .unwrap_or(tokens.len());
        let core = match tokens.first() {
            Some(Token::Minus | Token::Plus) => &tokens[1..end],
            _ => &tokens[..end],
        };
        matches!(core, [t] if matches!(t, Token::SingleQuotedString(_) | Token::Number(..))
            || matches!(t, Token::Word(w) if matches!(w.keyword, Keyword::NULL | Keyword::TRUE | Keyword::FALSE)))
    }

    /// `NULL`.
    pub fn is_null(&self) -> bool {
        self.0.eq_ignore_ascii_case("null")
    }

    /// `CURRENT_TIMESTAMP` and friends, or `now()`.
    pub fn is_current_time(&self) -> bool {
        matches!(
            self.0.to_ascii_lowercase().as_str(),
            "current_timestamp" | "current_date" | "current_time" | "localtimestamp" | "now()"
        )
    }

    /// Calls a function PostgreSQL evaluates per row (a default with it rewrites the table).
    pub fn is_volatile(&self) -> bool {
        let lower = self.0.to_ascii_lowercase();
        [
            "random(",
            "gen_random_uuid(",
            "uuid_generate_v",
            "clock_timestamp(",
            "nextval(",
            "timeofday(",
        ]
        .iter()
        .any(|f| lower.contains(f))
    }

    /// The expression for `dialect`. On SQLite `now()` becomes `CURRENT_TIMESTAMP`, `gen_random_uuid()`
    /// a random hex text, `TRUE`/`FALSE` 1/0, and `::type` casts are dropped.
    pub fn render(&self, dialect: Dialect) -> String {
        render_statement(&self.0, dialect)
    }
}

/// SQL text printed by `sqlparser` (an expression, a data step) for `dialect`: as it is for PostgreSQL; for
/// SQLite `now()` becomes `CURRENT_TIMESTAMP`, `gen_random_uuid()` a random hex text, `TRUE`/`FALSE` 1/0,
/// and `::type` casts are dropped.
pub fn render_statement(text: &str, dialect: Dialect) -> String {
    {
        if dialect == Dialect::Postgres {
            return text.to_string();
        }
        let tokens: Vec<Token> =
            migrator_analyse::sql::tokenize(text, migrator_analyse::Dialect::Postgres)
                .unwrap_or_default()
                .into_iter()
                .map(|t| t.token)
                .filter(|t| !matches!(t, Token::Whitespace(_)))
                .collect();
        let mut out: Vec<String> = Vec::new();
        let mut i = 0;
        let call = |i: usize, names: &[&str]| {
            matches!(tokens.get(i), Some(Token::Word(w)) if names.iter().any(|n| w.value.eq_ignore_ascii_case(n)))
                && matches!(tokens.get(i + 1), Some(Token::LParen))
                && matches!(tokens.get(i + 2), Some(Token::RParen))
        };
        while i < tokens.len() {
            if call(i, &["now"]) {
                out.push("CURRENT_TIMESTAMP".into());
                i += 3;
            } else if call(i, &["gen_random_uuid", "uuid_generate_v4"]) {
                out.push("lower(hex(randomblob(16)))".into());
                i += 3;
            } else if matches!(tokens[i], Token::DoubleColon) {
                i = skip_type(&tokens, i + 1);
            } else {
                out.push(match &tokens[i] {
                    Token::Word(w) if w.quote_style.is_none() && w.keyword == Keyword::TRUE => {
                        "1".into()
                    }
                    Token::Word(w) if w.quote_style.is_none() && w.keyword == Keyword::FALSE => {
                        "0".into()
                    }
                    other => other.to_string(),
                });
                i += 1;
            }
        }
        join_tokens(&out)
    }
}

/// The index after a cast's type: a word, the words of a multi-word type, `(n[, m])`, `[]`.
fn skip_type(tokens: &[Token], mut i: usize) -> usize {
    const CONTINUE: &[&str] = &["varying", "precision", "with", "without", "time", "zone"];
    if matches!(tokens.get(i), Some(Token::Word(_))) {
        i += 1;
    }
    while matches!(tokens.get(i), Some(Token::Word(w)) if CONTINUE.iter().any(|c| w.value.eq_ignore_ascii_case(c)))
    {
        i += 1;
    }
    if matches!(tokens.get(i), Some(Token::LParen)) {
        while i < tokens.len() && !matches!(tokens[i], Token::RParen) {
            i += 1;
        }
        i += 1;
    }
    while matches!(tokens.get(i), Some(Token::LBracket | Token::RBracket)) {
        i += 1;
    }
    i
}

/// Keywords a `(` follows with a space (everything else before `(` is a function name).
const SPACED: &[&str] = &[
    "IN", "AND", "OR", "NOT", "WHEN", "THEN", "ELSE", "ANY", "ALL", "SOME", "VALUES", "AS", "ON",
    "WHERE", "SET", "BY", "FROM", "SELECT", "CASE", "IS", "LIKE", "BETWEEN", "EXISTS", "USING",
];

/// Joins printed tokens with the spacing `sqlparser` uses: none inside calls and before `,` `)`.
fn join_tokens(parts: &[String]) -> String {
    let mut out = String::new();
    for (n, p) in parts.iter().enumerate() {
        let prev = if n > 0 { parts[n - 1].as_str() } else { "" };
        let glue = out.is_empty()
            || matches!(p.as_str(), ")" | "," | "." | "]")
            || prev == "("
            || prev == "."
            || prev == "["
            || (p == "("
                && prev
                    .chars()
                    .last()
                    .is_some_and(|c| c.is_alphanumeric() || c == '_')
                && !SPACED.iter().any(|k| prev.eq_ignore_ascii_case(k)));
        if !glue {
            out.push(' ');
        }
        out.push_str(p);
    }
    out
}

/// A column type: upper-case name words, numeric arguments, and whether it is an array.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SqlType {
    /// Upper-case words, e.g. `VARCHAR`, `DOUBLE PRECISION`, `TIMESTAMP WITH TIME ZONE`.
    pub name: String,
    /// Numeric arguments, e.g. `["3", "2"]` for `DECIMAL(3,2)`.
    pub args: Vec<String>,
    /// An array type (`TEXT[]`).
    pub array: bool,
}

impl SqlType {
    /// Reads a type as written in an issue (`VARCHAR(20)`, `timestamptz`, `text[]`).
    pub fn parse(text: &str) -> Result<SqlType, String> {
        let ty = migrator_analyse::sql::parse_data_type(text, migrator_analyse::Dialect::Postgres)
            .map_err(|e| {
                format!(
                    "`{}` is not a column type: {e}",
                    crate::ident::shorten(text)
                )
            })?;
        SqlType::from_data_type(&ty)
    }

    /// Takes a type `sqlparser` read.
    pub fn from_data_type(ty: &DataType) -> Result<SqlType, String> {
        let printed = ty.to_string();
        let (core, array) = match printed.strip_suffix("[]") {
            Some(c) => (c.to_string(), true),
            None => (printed.clone(), false),
        };
        let (name, args) = match core.split_once('(') {
            Some((n, rest)) => (
                n.trim().to_string(),
                rest.trim_end_matches(')')
                    .split(',')
                    .map(|a| a.trim().to_string())
                    .collect::<Vec<_>>(),
            ),
            None => (core.trim().to_string(), Vec::new()),
        };
        let name_ok = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == ' ' || c == '_');
        let args_ok = args
            .iter()
            .all(|a| !a.is_empty() && a.bytes().all(|b| b.is_ascii_digit()));
        if !(name_ok && args_ok) {
            return Err(format!("`{printed}` is not a plain column type"));
        }
        Ok(SqlType {
            name: name.to_ascii_uppercase(),
            args,
            array,
        })
    }

    /// The type for `dialect`: on SQLite, `UUID`/`JSON(B)`/`INET` become `TEXT`, `BYTEA` `BLOB`, serials
    /// `INTEGER`, time zone types their plain forms, arrays `TEXT`.
    pub fn render(&self, dialect: Dialect) -> String {
        let args = if self.args.is_empty() {
            String::new()
        } else {
            format!("({})", self.args.join(","))
        };
        match dialect {
            Dialect::Postgres => {
                format!("{}{args}{}", self.name, if self.array { "[]" } else { "" })
            }
            Dialect::Sqlite if self.array => "TEXT".into(),
            Dialect::Sqlite => match self.name.as_str() {
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
                _ => format!("{}{args}", self.name),
            },
        }
    }

    /// `true` for the serial pseudo-types (a sequence behind an integer).
    pub fn is_serial(&self) -> bool {
        self.name.contains("SERIAL")
    }
}

/// The family of a type as the database prints it (a schema's `data_type`) or as an issue writes it, for
/// comparing a foreign key's columns with the columns it references: `integer`, `text`, `uuid`, ...;
/// `None` when unknown (no check).
pub fn type_family(data_type: &str, dialect: Dialect) -> Option<&'static str> {
    let t = data_type.to_ascii_lowercase();
    let t = t.trim();
    if dialect == Dialect::Sqlite {
        // SQLite's affinity rules (datatype3.html, 3.1), with UUID and JSON kept as text.
        return Some(if t.contains("int") || t.contains("serial") {
            "integer"
        } else if t.contains("char")
            || t.contains("clob")
            || t.contains("text")
            || t == "uuid"
            || t.starts_with("json")
        {
            "text"
        } else if t.contains("blob") || t.is_empty() || t == "bytea" {
            "blob"
        } else if t.contains("real") || t.contains("floa") || t.contains("doub") {
            "real"
        } else {
            "numeric"
        });
    }
    let base = t.split(['(', '[']).next().unwrap_or("").trim();
    Some(match base {
        "smallint" | "integer" | "int" | "int2" | "int4" | "int8" | "bigint" | "serial"
        | "bigserial" | "smallserial" | "serial4" | "serial8" => "integer",
        "text" | "varchar" | "character varying" | "char" | "character" | "citext" | "bpchar" => {
            "text"
        }
        "uuid" => "uuid",
        "numeric" | "decimal" => "numeric",
        "real" | "double precision" | "float" | "float4" | "float8" => "float",
        "boolean" | "bool" => "boolean",
        "date" => "date",
        "timestamp" | "timestamp without time zone" => "timestamp",
        "timestamptz" | "timestamp with time zone" => "timestamptz",
        "json" => "json",
        "jsonb" => "jsonb",
        "bytea" => "bytea",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expressions_are_validated_and_rendered_per_dialect() {
        let e = SqlExpr::parse("confidence_score >= 0 AND confidence_score <= 1").unwrap();
        assert_eq!(
            e.render(Dialect::Sqlite),
            "confidence_score >= 0 AND confidence_score <= 1"
        );
        assert_eq!(
            SqlExpr::parse("now()").unwrap().render(Dialect::Sqlite),
            "CURRENT_TIMESTAMP"
        );
        assert_eq!(
            SqlExpr::parse("gen_random_uuid()")
                .unwrap()
                .render(Dialect::Sqlite),
            "lower(hex(randomblob(16)))"
        );
        assert_eq!(
            SqlExpr::parse("'{}'::jsonb")
                .unwrap()
                .render(Dialect::Sqlite),
            "'{}'"
        );
        assert_eq!(
            SqlExpr::parse("'x'::character varying = a")
                .unwrap()
                .render(Dialect::Sqlite),
            "'x' = a"
        );
        assert_eq!(
            SqlExpr::parse("'it''s'").unwrap().render(Dialect::Postgres),
            "'it''s'"
        );
        assert_eq!(SqlExpr::parse("true").unwrap().render(Dialect::Sqlite), "1");
        assert_eq!(
            SqlExpr::parse("lower(email)")
                .unwrap()
                .render(Dialect::Sqlite),
            "lower(email)"
        );
        assert!(SqlExpr::parse("'{}'::jsonb").unwrap().is_literal());
        assert!(SqlExpr::parse("-1").unwrap().is_literal());
        assert!(!SqlExpr::parse("now()").unwrap().is_literal());
        assert!(SqlExpr::parse("gen_random_uuid()").unwrap().is_volatile());
        assert!(SqlExpr::parse("1; DROP TABLE x").is_err());
        assert!(SqlExpr::parse("(SELECT 1)").is_err());
        assert!(SqlExpr::parse("1 -- x").unwrap().text() == "1");
    }

    #[test]
    fn types_read_and_render() {
        let t = SqlType::parse("varchar(20)").unwrap();
        assert_eq!(
            (t.name.as_str(), t.args.as_slice()),
            ("VARCHAR", &["20".to_string()][..])
        );
        assert_eq!(
            SqlType::parse("DECIMAL(3, 2)")
                .unwrap()
                .render(Dialect::Postgres),
            "DECIMAL(3,2)"
        );
        assert_eq!(
            SqlType::parse("uuid").unwrap().render(Dialect::Sqlite),
            "TEXT"
        );
        assert!(SqlType::parse("text[]").unwrap().array);
        assert!(SqlType::parse("varchar(20); drop table x").is_err());
        assert_eq!(
            type_family("character varying(20)", Dialect::Postgres),
            Some("text")
        );
        assert_eq!(type_family("UUID", Dialect::Sqlite), Some("text"));
    }
}
