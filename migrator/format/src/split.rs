//! A small SQL lexer and statement splitter for the PostgreSQL and SQLite dialects.
//!
//! It knows enough to find statement boundaries safely: `'...'` strings (with `''`), `E'...'` strings (with
//! backslash escapes), `"..."`, `` `...` `` and `[...]` identifiers, `$tag$...$tag$` dollar quotes, `--` and
//! nested `/* */` comments, parentheses, and the `BEGIN ... END` bodies of `CREATE TRIGGER` (SQLite) and
//! `BEGIN ATOMIC` (PostgreSQL), whose inner semicolons do not end the statement.

/// A statement boundary could not be found: an unterminated string, identifier, comment or body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct SplitError {
    /// 1-based line where the unterminated construct starts.
    pub line: u32,
    /// What is unterminated.
    pub message: String,
}

/// A token of the SQL text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenKind {
    /// A bare word: keyword or unquoted identifier (also numbers and parameters).
    Word,
    /// A quoted identifier (`"x"`, `` `x` ``, `[x]`).
    QuotedIdent,
    /// A string literal or dollar-quoted body.
    Literal,
    /// One punctuation character.
    Punct(char),
}

/// A token with its byte span and 1-based line.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Token {
    pub kind: TokenKind,
    pub start: usize,
    pub end: usize,
    pub line: u32,
}

impl Token {
    /// The token's text in `src`.
    pub fn text<'s>(&self, src: &'s str) -> &'s str {
        &src[self.start..self.end]
    }

    /// `true` when the token is the bare word `word` (ASCII case-insensitive).
    pub fn is_word(&self, src: &str, word: &str) -> bool {
        self.kind == TokenKind::Word && self.text(src).eq_ignore_ascii_case(word)
    }

    /// The identifier the token names: bare words as written (lower-cased), quoted ones unquoted.
    pub fn ident(&self, src: &str) -> Option<String> {
        let text = self.text(src);
        match self.kind {
            TokenKind::Word => Some(text.to_ascii_lowercase()),
            TokenKind::QuotedIdent => {
                let inner = &text[1..text.len().saturating_sub(1)];
                Some(match text.as_bytes()[0] {
                    b'"' => inner.replace("\"\"", "\""),
                    b'`' => inner.replace("``", "`"),
                    _ => inner.to_string(),
                })
            }
            _ => None,
        }
    }
}

fn is_ident_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || c >= 0x80
}

fn is_ident_continue(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80
}

/// Lexes `src`, whose first line is line `first_line` of the file. Comments and white space are dropped.
pub(crate) fn lex(src: &str, first_line: u32) -> Result<Vec<Token>, SplitError> {
    let bytes = src.as_bytes();
    let mut tokens = Vec::with_capacity(src.len() / 4);
    let mut i = 0;
    let mut line = first_line;
    let unterminated = |line: u32, what: &str| SplitError {
        line,
        message: format!("unterminated {what}"),
    };
    while i < bytes.len() {
        let c = bytes[i];
        let start = i;
        let start_line = line;
        match c {
            b'\n' => {
                line += 1;
                i += 1;
            }
            _ if c.is_ascii_whitespace() => i += 1,
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                let mut depth = 0usize;
                loop {
                    if i >= bytes.len() {
                        return Err(unterminated(start_line, "/* comment"));
                    }
                    if bytes[i] == b'/' && bytes.get(i + 1) == Some(&b'*') {
                        depth += 1;
                        i += 2;
                    } else if bytes[i] == b'*' && bytes.get(i + 1) == Some(&b'/') {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        if bytes[i] == b'\n' {
                            line += 1;
                        }
                        i += 1;
                    }
                }
            }
            b'\'' => {
                i = scan_quoted(bytes, i, b'\'', false, &mut line)
                    .ok_or_else(|| unterminated(start_line, "string literal"))?;
                tokens.push(tok(TokenKind::Literal, start, i, start_line));
            }
            b'E' | b'e' if bytes.get(i + 1) == Some(&b'\'') => {
                i = scan_quoted(bytes, i + 1, b'\'', true, &mut line)
                    .ok_or_else(|| unterminated(start_line, "E'' string literal"))?;
                tokens.push(tok(TokenKind::Literal, start, i, start_line));
            }
            b'"' | b'`' => {
                i = scan_quoted(bytes, i, c, false, &mut line)
                    .ok_or_else(|| unterminated(start_line, "quoted identifier"))?;
                tokens.push(tok(TokenKind::QuotedIdent, start, i, start_line));
            }
            b'[' => {
                let close = bytes[i..]
                    .iter()
                    .position(|&b| b == b']')
                    .ok_or_else(|| unterminated(start_line, "[identifier]"))?;
                line += count_lines(&bytes[i..i + close]);
                i += close + 1;
                tokens.push(tok(TokenKind::QuotedIdent, start, i, start_line));
            }
            b'$' => {
                // `$tag$` or `$$` opens a dollar quote; `$1` or `$name` (no closing `$`) is a parameter.
                let mut j = i + 1;
                if bytes.get(j).is_some_and(|&b| is_ident_start(b)) {
                    while bytes
                        .get(j)
                        .is_some_and(|&b| is_ident_continue(b) && b != b'$')
                    {
                        j += 1;
                    }
                }
                if bytes.get(j) == Some(&b'$') {
                    let delimiter = &bytes[i..=j];
                    let body_start = j + 1;
                    let close = find(&bytes[body_start..], delimiter)
                        .ok_or_else(|| unterminated(start_line, "dollar-quoted string"))?;
                    line += count_lines(&bytes[body_start..body_start + close]);
                    i = body_start + close + delimiter.len();
                    tokens.push(tok(TokenKind::Literal, start, i, start_line));
                } else {
                    i = j.max(i + 1);
                    while bytes.get(i).is_some_and(|&b| is_ident_continue(b)) {
                        i += 1;
                    }
                    tokens.push(tok(TokenKind::Word, start, i, start_line));
                }
            }
            _ if is_ident_start(c) || c.is_ascii_digit() => {
                while i < bytes.len()
                    && (is_ident_continue(bytes[i]) || bytes[i] == b'.' && c.is_ascii_digit())
                {
                    i += 1;
                }
                tokens.push(tok(TokenKind::Word, start, i, start_line));
            }
            _ => {
                // Punctuation; multi-byte UTF-8 outside words cannot start here (>= 0x80 is an ident start).
                i += 1;
                tokens.push(tok(TokenKind::Punct(c as char), start, i, start_line));
            }
        }
    }
    Ok(tokens)
}

fn tok(kind: TokenKind, start: usize, end: usize, line: u32) -> Token {
    Token {
        kind,
        start,
        end,
        line,
    }
}

fn count_lines(bytes: &[u8]) -> u32 {
    bytes.iter().filter(|&&b| b == b'\n').count() as u32
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Scans a quoted run starting at the opening `quote` at `open`; a doubled quote is an escaped quote, and
/// with `backslash` a backslash escapes the next byte. Returns the index after the closing quote.
fn scan_quoted(
    bytes: &[u8],
    open: usize,
    quote: u8,
    backslash: bool,
    line: &mut u32,
) -> Option<usize> {
    let mut i = open + 1;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'\n' {
            *line += 1;
        }
        if backslash && b == b'\\' {
            if bytes.get(i + 1) == Some(&b'\n') {
                *line += 1;
            }
            i += 2;
            continue;
        }
        if b == quote {
            if bytes.get(i + 1) == Some(&quote) {
                i += 2;
                continue;
            }
            return Some(i + 1);
        }
        i += 1;
    }
    None
}

/// The tokens of a (possibly schema-qualified) name starting at `at` (`t`, `s.t`, `"s"."t"`; not the
/// word `SET`), and the index after it.
pub(crate) fn qualified_name<'t>(
    sql: &str,
    tokens: &'t [Token],
    at: usize,
) -> Option<(Vec<&'t Token>, usize)> {
    let is_name = |t: &Token| matches!(t.kind, TokenKind::Word | TokenKind::QuotedIdent);
    let first = tokens
        .get(at)
        .filter(|t| is_name(t) && !t.is_word(sql, "SET"))?;
    let mut names = vec![first];
    let mut i = at + 1;
    while tokens
        .get(i)
        .is_some_and(|t| t.kind == TokenKind::Punct('.'))
    {
        let part = tokens.get(i + 1).filter(|t| is_name(t))?;
        names.push(part);
        i += 2;
    }
    Some((names, i))
}

/// The tokens of one statement as plain strings, for keyword checks: bare words upper-cased, quoted
/// identifiers unquoted, every literal as `'`, punctuation as itself. Comments are dropped.
pub fn statement_words(sql: &str) -> Result<Vec<String>, SplitError> {
    Ok(lex(sql, 1)?
        .iter()
        .map(|t| match t.kind {
            TokenKind::Word => t.text(sql).to_ascii_uppercase(),
            TokenKind::QuotedIdent => t.ident(sql).unwrap_or_default(),
            TokenKind::Literal => "'".to_string(),
            TokenKind::Punct(c) => c.to_string(),
        })
        .collect())
}

/// A statement found by [`split_statements`]: its text (first token to last token before `;`) and line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawStatement {
    /// The statement text, without the terminating semicolon.
    pub sql: String,
    /// 1-based line of the first token.
    pub line: u32,
}

/// Splits SQL text into statements. `first_line` is the file line of the text's first line.
///
/// Empty statements (`;;`) are dropped. A last statement without a semicolon is kept.
pub fn split_statements(src: &str, first_line: u32) -> Result<Vec<RawStatement>, SplitError> {
    let tokens = lex(src, first_line)?;
    Ok(group_statements(src, &tokens)?
        .into_iter()
        .map(|range| RawStatement {
            sql: src[tokens[range.start].start..tokens[range.end - 1].end].to_string(),
            line: tokens[range.start].line,
        })
        .collect())
}

/// Groups tokens into statements; each range excludes the terminating `;`.
pub(crate) fn group_statements(
    src: &str,
    tokens: &[Token],
) -> Result<Vec<std::ops::Range<usize>>, SplitError> {
    let mut statements = Vec::new();
    let mut start: Option<usize> = None;
    let mut parens = 0i32;
    let mut body_depth = 0i32;
    let mut creates = false;
    let mut trigger = false;
    for (index, token) in tokens.iter().enumerate() {
        let first = *start.get_or_insert(index);
        if index == first {
            parens = 0;
            body_depth = 0;
            creates = token.is_word(src, "CREATE");
            trigger = false;
        }
        match token.kind {
            TokenKind::Punct('(') => parens += 1,
            TokenKind::Punct(')') => parens -= 1,
            TokenKind::Punct(';') if parens <= 0 && body_depth <= 0 => {
                if index > first {
                    statements.push(first..index);
                }
                start = None;
            }
            TokenKind::Word if creates => {
                if body_depth == 0 && parens == 0 && token.is_word(src, "TRIGGER") {
                    trigger = true;
                }
                // BEGIN opens a body only in CREATE TRIGGER (SQLite) or as BEGIN ATOMIC (PostgreSQL), so a
                // column named `begin` does not; inside a body, CASE ... END nests.
                let opens_body = token.is_word(src, "BEGIN")
                    && (trigger
                        || tokens
                            .get(index + 1)
                            .is_some_and(|t| t.is_word(src, "ATOMIC")));
                if opens_body || (body_depth > 0 && token.is_word(src, "CASE")) {
                    body_depth += 1;
                } else if body_depth > 0 && token.is_word(src, "END") {
                    body_depth -= 1;
                }
            }
            _ => {}
        }
    }
    if let Some(first) = start {
        if body_depth > 0 {
            return Err(SplitError {
                line: tokens[first].line,
                message: "statement has a BEGIN without its END".to_string(),
            });
        }
        if parens > 0 {
            return Err(SplitError {
                line: tokens[first].line,
                message: "statement has an unclosed parenthesis".to_string(),
            });
        }
        statements.push(first..tokens.len());
    }
    Ok(statements)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sqls(src: &str) -> Vec<String> {
        split_statements(src, 1)
            .unwrap()
            .into_iter()
            .map(|s| s.sql)
            .collect()
    }

    #[test]
    fn splits_on_semicolons_outside_quotes_and_comments() {
        let src = "CREATE TABLE a (x TEXT DEFAULT ';');\n-- a comment; with a semicolon\nINSERT INTO a VALUES ('it''s; fine');\n/* block; /* nested; */ still */ SELECT 1;";
        assert_eq!(
            sqls(src),
            vec![
                "CREATE TABLE a (x TEXT DEFAULT ';')",
                "INSERT INTO a VALUES ('it''s; fine')",
                "SELECT 1"
            ]
        );
    }

    #[test]
    fn dollar_quotes_and_e_strings() {
        let src = "CREATE FUNCTION f() RETURNS trigger AS $body$ BEGIN NEW.x := 'a;b'; RETURN NEW; END; $body$ LANGUAGE plpgsql;\nSELECT E'it\\'s; ok', $$;$$, $1;";
        let got = sqls(src);
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(got[0].ends_with("LANGUAGE plpgsql"));
        assert_eq!(got[1], "SELECT E'it\\'s; ok', $$;$$, $1");
    }

    #[test]
    fn sqlite_trigger_bodies_keep_their_semicolons() {
        let src = "CREATE TRIGGER t AFTER UPDATE ON a FOR EACH ROW BEGIN\n  UPDATE a SET y = CASE WHEN 1 THEN 2 ELSE 3 END;\n  SELECT 1;\nEND;\nSELECT 2;";
        let got = split_statements(src, 10).unwrap();
        assert_eq!(got.len(), 2);
        assert!(got[0].sql.ends_with("END"));
        assert_eq!(got[1].line, 14);
    }

    #[test]
    fn begin_atomic_bodies() {
        let src = "CREATE FUNCTION g() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT 2; END;\nSELECT 3;";
        assert_eq!(sqls(src).len(), 2);
    }

    #[test]
    fn reports_lines_and_unterminated_constructs() {
        let got = split_statements("\n\n  SELECT 1;\nSELECT\n 2", 5).unwrap();
        assert_eq!(got[0].line, 7);
        assert_eq!(got[1].line, 8);
        let err = split_statements("SELECT 1;\nSELECT 'oops;", 1).unwrap_err();
        assert_eq!(err.line, 2);
        assert!(err.message.contains("string"));
        assert!(split_statements("SELECT $a$ x", 1).is_err());
        assert!(split_statements("/* x", 1).is_err());
    }

    #[test]
    fn a_column_named_begin_does_not_open_a_body() {
        let src = "CREATE TABLE periods (begin DATE, finish DATE);\nCREATE TABLE t (x INT);\nCREATE TEMP TRIGGER g AFTER INSERT ON t BEGIN SELECT 1; END;";
        let got = sqls(src);
        assert_eq!(got.len(), 3, "{got:?}");
        assert!(got[2].ends_with("END"));
    }

    #[test]
    fn bracket_and_backtick_identifiers() {
        assert_eq!(sqls("SELECT [a;b], `c;d` FROM t; SELECT 1").len(), 2);
    }
}
