//! A small SQL lexer and parser for the DDL subset issues use, shared by fenced `sql` blocks, table cells and
//! bullet sentences. Expressions (defaults, checks, index predicates) are kept as validated token lists and
//! re-rendered from tokens, so nothing from the issue reaches the output as raw text.

use crate::ident::{shorten, Ident};
use crate::model::{
    Change, Column, FkAction, ForeignKey, Index, IndexKey, NamedConstraint, SqlType,
    TableConstraint,
};

/// The kind of a token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokKind {
    /// A bare word: keyword or identifier (ASCII letters, digits, `_`, `$`).
    Word,
    /// A double-quoted or backticked identifier (text without the quotes).
    Quoted,
    /// A string literal (text without the quotes, `''` unescaped).
    Str,
    /// A number.
    Number,
    /// An operator (`=`, `<=`, `::`, `||`, ...).
    Op,
    /// `(`
    Open,
    /// `)`
    Close,
    /// `,`
    Comma,
    /// `.`
    Dot,
    /// `;`
    Semi,
}

/// A token with its text, its 0-based line offset inside the lexed text, and whether whitespace came before.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tok {
    /// Kind.
    pub kind: TokKind,
    /// Text (for `Str` and `Quoted`: the content).
    pub text: String,
    /// 0-based line inside the lexed text.
    pub line: usize,
    /// Whitespace preceded the token.
    pub space_before: bool,
}

impl Tok {
    fn is_word(&self, w: &str) -> bool {
        self.kind == TokKind::Word && self.text.eq_ignore_ascii_case(w)
    }
    fn show(&self) -> String {
        match self.kind {
            TokKind::Str => format!("'{}'", shorten(&self.text)),
            TokKind::Quoted => format!("\"{}\"", shorten(&self.text)),
            _ => shorten(&self.text),
        }
    }
}

/// A problem while reading SQL or constraint words: the message and the 0-based line offset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadError {
    /// 0-based line inside the text that was lexed.
    pub line: usize,
    /// What could not be read.
    pub message: String,
}

fn err<T>(line: usize, message: impl Into<String>) -> Result<T, ReadError> {
    Err(ReadError {
        line,
        message: message.into(),
    })
}

/// Lexes `src`. `comments` allows `--` and `/* */` comments (SQL blocks); elsewhere they are an error.
pub fn lex(src: &str, comments: bool) -> Result<Vec<Tok>, ReadError> {
    let chars: Vec<char> = src.chars().collect();
    let mut toks = Vec::new();
    let mut i = 0;
    let mut line = 0;
    let mut space = false;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '\n' {
            line += 1;
            space = true;
            i += 1;
            continue;
        }
        if c.is_whitespace() {
            space = true;
            i += 1;
            continue;
        }
        if (c == '-' && next == Some('-')) || (c == '/' && next == Some('*')) {
            if !comments {
                return err(line, "a comment marker (`--` or `/*`) is not allowed here");
            }
            if c == '-' {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            } else {
                let start = line;
                i += 2;
                loop {
                    match chars.get(i) {
                        None => return err(start, "unterminated /* comment"),
                        Some('*') if chars.get(i + 1) == Some(&'/') => {
                            i += 2;
                            break;
                        }
                        Some('\n') => line += 1,
                        _ => {}
                    }
                    i += 1;
                }
            }
            space = true;
            continue;
        }
        let start_line = line;
        let (kind, text) = if c.is_ascii_alphabetic() || c == '_' {
            let s = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            (TokKind::Word, chars[s..i].iter().collect())
        } else if c.is_ascii_digit() || (c == '.' && next.is_some_and(|n| n.is_ascii_digit())) {
            let s = i;
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                i += 1;
            }
            if i < chars.len() && (chars[i] == 'e' || chars[i] == 'E') {
                i += 1;
                if i < chars.len() && (chars[i] == '+' || chars[i] == '-') {
                    i += 1;
                }
                while i < chars.len() && chars[i].is_ascii_digit() {
                    i += 1;
                }
            }
            if i < chars.len() && (chars[i].is_ascii_alphabetic() || chars[i] == '_') {
                return err(line, "a number runs into a word");
            }
            (TokKind::Number, chars[s..i].iter().collect())
        } else if c == '\'' || c == '"' || c == '`' {
            let mut text = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => {
                        let what = if c == '\'' { "string" } else { "quoted name" };
                        return err(
                            start_line,
                            format!("unterminated {what} (missing closing {c})"),
                        );
                    }
                    Some(&q) if q == c => {
                        if chars.get(i + 1) == Some(&c) {
                            text.push(c);
                            i += 2;
                        } else {
                            i += 1;
                            break;
                        }
                    }
                    Some(&ch) => {
                        if ch == '\n' {
                            line += 1;
                        }
                        text.push(ch);
                        i += 1;
                    }
                }
            }
            let kind = if c == '\'' {
                TokKind::Str
            } else {
                TokKind::Quoted
            };
            (kind, text)
        } else {
            i += 1;
            match c {
                '(' => (TokKind::Open, "(".to_string()),
                ')' => (TokKind::Close, ")".to_string()),
                ',' => (TokKind::Comma, ",".to_string()),
                '.' => (TokKind::Dot, ".".to_string()),
                ';' => (TokKind::Semi, ";".to_string()),
                '=' | '<' | '>' | '!' | '+' | '-' | '*' | '/' | '%' | '|' | '&' | '~' | ':'
                | '^' => {
                    let mut op = c.to_string();
                    while let Some(&n) = chars.get(i) {
                        if "=<>!|:&".contains(n) && op.len() < 3 {
                            op.push(n);
                            i += 1;
                        } else {
                            break;
                        }
                    }
                    (TokKind::Op, op)
                }
                other => return err(line, format!("unexpected character {other:?}")),
            }
        };
        toks.push(Tok {
            kind,
            text,
            line: start_line,
            space_before: space,
        });
        space = false;
    }
    Ok(toks)
}

/// Words that may not appear inside an expression taken from an issue (they would make it a statement).
const STATEMENT_WORDS: &[&str] = &[
    "select", "insert", "update", "delete", "drop", "create", "alter", "attach", "detach",
    "pragma", "grant", "revoke", "truncate", "copy", "execute", "vacuum", "begin", "commit",
    "rollback",
];

/// A validated SQL expression (a default, a check, an index predicate), kept as tokens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expr {
    toks: Vec<Tok>,
}

pub use crate::dialect::Dialect;

impl Expr {
    /// Validates tokens as an expression: balanced parentheses, no `;`, no statement keywords, quoted
    /// names that are plain identifiers.
    pub fn new(toks: Vec<Tok>) -> Result<Expr, ReadError> {
        let mut depth = 0i32;
        let first_line = toks.first().map_or(0, |t| t.line);
        if toks.is_empty() {
            return err(first_line, "an empty expression");
        }
        for t in &toks {
            match t.kind {
                TokKind::Open => depth += 1,
                TokKind::Close => {
                    depth -= 1;
                    if depth < 0 {
                        return err(t.line, "unbalanced `)` in an expression");
                    }
                }
                TokKind::Semi => return err(t.line, "`;` inside an expression; refused"),
                TokKind::Word
                    if STATEMENT_WORDS.contains(&t.text.to_ascii_lowercase().as_str()) =>
                {
                    return err(
                        t.line,
                        format!("the word `{}` inside an expression; refused", t.text),
                    )
                }
                TokKind::Quoted => {
                    Ident::parse(&t.text).map_err(|m| ReadError {
                        line: t.line,
                        message: m,
                    })?;
                }
                _ => {}
            }
        }
        if depth != 0 {
            return err(first_line, "unbalanced `(` in an expression");
        }
        Ok(Expr { toks })
    }

    /// `column IN (values...)` for `one of (...)`.
    fn one_of(column: &Ident, values: Vec<Tok>, line: usize) -> Result<Expr, ReadError> {
        let mut toks = vec![
            word(column.as_str(), line, false),
            word("IN", line, true),
            Tok {
                kind: TokKind::Open,
                text: "(".into(),
                line,
                space_before: true,
            },
        ];
        for (n, v) in values.into_iter().enumerate() {
            if n > 0 {
                toks.push(Tok {
                    kind: TokKind::Comma,
                    text: ",".into(),
                    line,
                    space_before: false,
                });
            }
            toks.push(Tok {
                space_before: n > 0,
                ..v
            });
        }
        toks.push(Tok {
            kind: TokKind::Close,
            text: ")".into(),
            line,
            space_before: false,
        });
        Expr::new(toks)
    }

    /// `true` for a constant: a string, a number (signed), `NULL`, `TRUE` or `FALSE`.
    pub fn is_literal(&self) -> bool {
        // A trailing cast (`'{}'::jsonb`) does not make a literal an expression.
        let end = self
            .toks
            .iter()
            .position(|t| t.kind == TokKind::Op && t.text == "::")
            .unwrap_or(self.toks.len());
        let toks: &[Tok] = match self.toks.first() {
            Some(t) if t.kind == TokKind::Op && (t.text == "-" || t.text == "+") => {
                &self.toks[1..end]
            }
            _ => &self.toks[..end],
        };
        matches!(toks, [t] if matches!(t.kind, TokKind::Str | TokKind::Number)
            || t.is_word("null") || t.is_word("true") || t.is_word("false"))
    }

    /// `true` for `NULL`.
    pub fn is_null(&self) -> bool {
        matches!(self.toks.as_slice(), [t] if t.is_word("null"))
    }

    /// `true` for `CURRENT_TIMESTAMP`-like keywords and `now()`.
    pub fn is_current_time(&self) -> bool {
        match self.toks.as_slice() {
            [t] => [
                "current_timestamp",
                "current_date",
                "current_time",
                "localtimestamp",
            ]
            .iter()
            .any(|w| t.is_word(w)),
            [t, o, c] => t.is_word("now") && o.kind == TokKind::Open && c.kind == TokKind::Close,
            _ => false,
        }
    }

    /// Renders the expression for `dialect`: `now()` becomes `CURRENT_TIMESTAMP` on SQLite,
    /// `gen_random_uuid()` a random hex text, `TRUE`/`FALSE` 1/0, `::type` casts are dropped.
    pub fn render(&self, dialect: Dialect) -> String {
        let mut out = String::new();
        let toks = &self.toks;
        let mut i = 0;
        let mut prev_open = true;
        while i < toks.len() {
            let t = &toks[i];
            let call = |name: &str| {
                t.is_word(name)
                    && toks.get(i + 1).is_some_and(|n| n.kind == TokKind::Open)
                    && toks.get(i + 2).is_some_and(|n| n.kind == TokKind::Close)
            };
            let mut piece: Option<String> = None;
            let mut skip = 1;
            if call("now") {
                skip = 3;
                piece = Some(match dialect {
                    Dialect::Sqlite => "CURRENT_TIMESTAMP".into(),
                    Dialect::Postgres => "NOW()".into(),
                });
            } else if call("gen_random_uuid") || call("uuid_generate_v4") {
                skip = 3;
                piece = Some(match dialect {
                    Dialect::Sqlite => "lower(hex(randomblob(16)))".into(),
                    Dialect::Postgres => "gen_random_uuid()".into(),
                });
            } else if dialect == Dialect::Sqlite && t.kind == TokKind::Op && t.text == "::" {
                // Drop a cast: `::word` or `::word(n)`.
                let mut j = i + 1;
                if toks.get(j).is_some_and(|n| n.kind == TokKind::Word) {
                    j += 1;
                    if toks.get(j).is_some_and(|n| n.kind == TokKind::Open) {
                        while toks.get(j).is_some_and(|n| n.kind != TokKind::Close) {
                            j += 1;
                        }
                        j += 1;
                    }
                }
                i = j;
                continue;
            } else if dialect == Dialect::Sqlite && (t.is_word("true") || t.is_word("false")) {
                piece = Some(if t.is_word("true") { "1" } else { "0" }.into());
            }
            let text = piece.unwrap_or_else(|| match t.kind {
                TokKind::Str => format!("'{}'", t.text.replace('\'', "''")),
                TokKind::Quoted => Ident::parse(&t.text)
                    .map(|id| id.to_string())
                    .unwrap_or_default(),
                _ => t.text.clone(),
            });
            let prev_kind = if i == 0 {
                None
            } else {
                toks.get(i - 1).map(|p| &p.kind)
            };
            let prev_cast = i > 0 && toks[i - 1].kind == TokKind::Op && toks[i - 1].text == "::";
            let space = if out.is_empty()
                || prev_open
                || prev_cast
                || matches!(t.kind, TokKind::Close | TokKind::Comma | TokKind::Dot)
                || (t.kind == TokKind::Op && t.text == "::")
            {
                false
            } else if t.kind == TokKind::Open {
                t.space_before
            } else {
                t.space_before
                    || t.kind == TokKind::Op
                    || matches!(prev_kind, Some(TokKind::Op) | Some(TokKind::Comma))
            };
            if space {
                out.push(' ');
            }
            out.push_str(&text);
            prev_open = matches!(t.kind, TokKind::Open | TokKind::Dot);
            i += skip;
        }
        out
    }

    /// Names the columns the expression mentions (bare words that are not keywords or function names).
    pub fn words(&self) -> impl Iterator<Item = &str> {
        self.toks
            .iter()
            .filter(|t| t.kind == TokKind::Word)
            .map(|t| t.text.as_str())
    }
}

fn word(text: &str, line: usize, space_before: bool) -> Tok {
    Tok {
        kind: TokKind::Word,
        text: text.into(),
        line,
        space_before,
    }
}

/// A cursor over tokens with the helpers the DDL and constraint grammars need.
pub struct Parser<'a> {
    toks: &'a [Tok],
    pos: usize,
    end_line: usize,
}

impl<'a> Parser<'a> {
    /// A parser over `toks`.
    pub fn new(toks: &'a [Tok]) -> Self {
        let end_line = toks.last().map_or(0, |t| t.line);
        Parser {
            toks,
            pos: 0,
            end_line,
        }
    }

    /// `true` when every token was consumed.
    pub fn done(&self) -> bool {
        self.pos >= self.toks.len()
    }

    /// The 0-based line of the current token.
    pub fn line(&self) -> usize {
        self.toks.get(self.pos).map_or(self.end_line, |t| t.line)
    }

    /// The current token.
    pub fn peek(&self) -> Option<&'a Tok> {
        self.toks.get(self.pos)
    }

    /// Skips the current token.
    pub fn advance(&mut self) {
        self.pos += 1;
    }

    /// The kind of the token `n` ahead.
    pub fn peek_kind_at(&self, n: usize) -> Option<TokKind> {
        self.peek_at(n).map(|t| t.kind.clone())
    }

    fn peek_at(&self, n: usize) -> Option<&'a Tok> {
        self.toks.get(self.pos + n)
    }

    /// Is the token `n` ahead the word `w`?
    pub fn word_at(&self, n: usize, w: &str) -> bool {
        self.peek_at(n).is_some_and(|t| t.is_word(w))
    }

    /// Consumes the word `w` if it is next.
    pub fn eat(&mut self, w: &str) -> bool {
        if self.word_at(0, w) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// Consumes the words `ws` if they are all next.
    pub fn eat_all(&mut self, ws: &[&str]) -> bool {
        if ws.iter().enumerate().all(|(n, w)| self.word_at(n, w)) {
            self.pos += ws.len();
            true
        } else {
            false
        }
    }

    /// Consumes a token of `kind` if it is next.
    pub fn eat_kind(&mut self, kind: TokKind) -> bool {
        if self.peek().is_some_and(|t| t.kind == kind) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect_kind(&mut self, kind: TokKind, what: &str) -> Result<(), ReadError> {
        if self.eat_kind(kind) {
            Ok(())
        } else {
            self.unexpected(what)
        }
    }

    /// Fails with "expected `what`, found ...".
    pub fn unexpected<T>(&self, what: &str) -> Result<T, ReadError> {
        let found = self
            .peek()
            .map_or("the end".to_string(), |t| format!("`{}`", t.show()));
        err(self.line(), format!("expected {what}, found {found}"))
    }

    /// Reads an identifier (bare or quoted), validated.
    pub fn ident(&mut self, what: &str) -> Result<Ident, ReadError> {
        match self.peek() {
            Some(t) if matches!(t.kind, TokKind::Word | TokKind::Quoted) => {
                let id = Ident::parse(&t.text).map_err(|m| ReadError {
                    line: t.line,
                    message: format!("{what}: {m}"),
                })?;
                self.pos += 1;
                Ok(id)
            }
            _ => self.unexpected(what),
        }
    }

    /// Reads `schema.name` or `name`, keeping the name (a `public.`/`main.` qualifier is dropped).
    pub fn table_name(&mut self) -> Result<Ident, ReadError> {
        let first = self.ident("a table name")?;
        if self.peek().is_some_and(|t| t.kind == TokKind::Dot) {
            self.pos += 1;
            if !matches!(first.as_str(), "public" | "main") {
                return err(
                    self.line(),
                    format!("schema-qualified name `{first}.`: only `public.` and `main.` are understood"),
                );
            }
            return self.ident("a table name");
        }
        Ok(first)
    }

    /// Reads `(a, b, c)`.
    pub fn ident_list(&mut self, what: &str) -> Result<Vec<Ident>, ReadError> {
        self.expect_kind(TokKind::Open, "`(`")?;
        let mut out = vec![self.ident(what)?];
        while self.eat_kind(TokKind::Comma) {
            out.push(self.ident(what)?);
        }
        self.expect_kind(TokKind::Close, "`)`")?;
        Ok(out)
    }

    /// Reads a balanced parenthesised group and returns the tokens inside it.
    pub fn paren_group(&mut self) -> Result<Vec<Tok>, ReadError> {
        let start = self.line();
        self.expect_kind(TokKind::Open, "`(`")?;
        let from = self.pos;
        let mut depth = 1;
        while let Some(t) = self.peek() {
            match t.kind {
                TokKind::Open => depth += 1,
                TokKind::Close => {
                    depth -= 1;
                    if depth == 0 {
                        let inner = self.toks[from..self.pos].to_vec();
                        self.pos += 1;
                        return Ok(inner);
                    }
                }
                _ => {}
            }
            self.pos += 1;
        }
        err(start, "unclosed `(`")
    }

    /// Reads a type: words, `(n[, m])`, `[]`.
    pub fn sql_type(&mut self) -> Result<SqlType, ReadError> {
        const MULTI: &[&[&str]] = &[
            &["double", "precision"],
            &["character", "varying"],
            &["timestamp", "with", "time", "zone"],
            &["timestamp", "without", "time", "zone"],
            &["time", "with", "time", "zone"],
            &["time", "without", "time", "zone"],
        ];
        let Some(first) = self.peek().filter(|t| t.kind == TokKind::Word) else {
            return self.unexpected("a column type");
        };
        if is_constraint_start(first) {
            return self.unexpected("a column type");
        }
        let mut name = None;
        for words in MULTI {
            if self.eat_all(words) {
                name = Some(words.join(" ").to_ascii_uppercase());
                break;
            }
        }
        let name = match name {
            Some(n) => n,
            None => {
                self.pos += 1;
                first.text.to_ascii_uppercase()
            }
        };
        let mut args = Vec::new();
        if self.peek().is_some_and(|t| t.kind == TokKind::Open) {
            self.pos += 1;
            loop {
                match self.peek() {
                    Some(t)
                        if t.kind == TokKind::Number
                            && t.text.bytes().all(|b| b.is_ascii_digit()) =>
                    {
                        args.push(t.text.clone());
                        self.pos += 1;
                    }
                    _ => return self.unexpected("a whole number in the type's parentheses"),
                }
                if !self.eat_kind(TokKind::Comma) {
                    break;
                }
            }
            self.expect_kind(TokKind::Close, "`)`")?;
        }
        let mut array = false;
        if self
            .peek()
            .is_some_and(|t| t.kind == TokKind::Op && t.text == "[")
        {
            array = true;
        }
        // `[]` lexes as unexpected characters; arrays are written `TEXT ARRAY` or not at all here.
        if self.eat("array") {
            array = true;
        }
        Ok(SqlType { name, args, array })
    }

    /// Reads a default value: a literal, a signed number, a word, a call `f(...)`, or `( ... )`, with an
    /// optional `::type` cast.
    pub fn default_expr(&mut self) -> Result<Expr, ReadError> {
        let from = self.pos;
        match self.peek() {
            Some(t) if t.kind == TokKind::Op && (t.text == "-" || t.text == "+") => {
                self.pos += 1;
                if !self.eat_kind(TokKind::Number) {
                    return self.unexpected("a number after the sign");
                }
            }
            Some(t) if matches!(t.kind, TokKind::Str | TokKind::Number) => self.pos += 1,
            Some(t) if t.kind == TokKind::Word && !is_constraint_start(t) => {
                self.pos += 1;
                if self.peek().is_some_and(|t| t.kind == TokKind::Open) {
                    self.paren_group()?;
                }
            }
            Some(t) if t.kind == TokKind::Open => {
                self.paren_group()?;
            }
            _ => return self.unexpected("a default value"),
        }
        if self
            .peek()
            .is_some_and(|t| t.kind == TokKind::Op && t.text == "::")
        {
            self.pos += 1;
            self.sql_type()?;
        }
        Expr::new(self.toks[from..self.pos].to_vec())
    }

    /// Reads an expression from here to the end of the tokens.
    pub fn rest_expr(&mut self) -> Result<Expr, ReadError> {
        let from = self.pos;
        self.pos = self.toks.len();
        Expr::new(self.toks[from..].to_vec())
    }

    fn fk_action(&mut self) -> Result<FkAction, ReadError> {
        if self.eat("cascade") {
            Ok(FkAction::Cascade)
        } else if self.eat("restrict") {
            Ok(FkAction::Restrict)
        } else if self.eat_all(&["set", "null"]) {
            Ok(FkAction::SetNull)
        } else if self.eat_all(&["set", "default"]) {
            Ok(FkAction::SetDefault)
        } else if self.eat_all(&["no", "action"]) {
            Ok(FkAction::NoAction)
        } else {
            self.unexpected("CASCADE, RESTRICT, SET NULL, SET DEFAULT or NO ACTION")
        }
    }

    /// Reads `T[(c, ...)] [ON DELETE a] [ON UPDATE a]` after `REFERENCES`.
    pub fn references(&mut self) -> Result<ForeignKey, ReadError> {
        let table = self.table_name()?;
        let columns = if self.peek().is_some_and(|t| t.kind == TokKind::Open) {
            self.ident_list("a referenced column")?
        } else {
            Vec::new()
        };
        let mut fk = ForeignKey {
            table,
            columns,
            on_delete: None,
            on_update: None,
        };
        loop {
            if self.eat_all(&["on", "delete"]) {
                fk.on_delete = Some(self.fk_action()?);
            } else if self.eat_all(&["on", "update"]) {
                fk.on_update = Some(self.fk_action()?);
            } else {
                return Ok(fk);
            }
        }
    }

    /// Reads column constraints (SQL words or the phrases) into `column` until the end, a `,` at
    /// the top level when `stop_at_comma`, or `)`.
    ///
    /// Phrases: `primary key`, `not null` (also `required`, `non-null`), `null`/`nullable`/`optional`,
    /// `unique`, `default X`, `references T(c) [on delete ..] [on update ..]`, `check (expr)`,
    /// `one of (v, ...)`, `constraint NAME` before any of them. In phrase lists a `,`, `;` or `and` may
    /// separate phrases.
    pub fn column_constraints(
        &mut self,
        column: &mut Column,
        phrases: bool,
    ) -> Result<(), ReadError> {
        let mut name: Option<Ident> = None;
        loop {
            if phrases {
                while self.eat_kind(TokKind::Comma)
                    || self.eat_kind(TokKind::Semi)
                    || self.eat("and")
                {}
            }
            let Some(t) = self.peek() else { break };
            if matches!(t.kind, TokKind::Comma | TokKind::Close) {
                break;
            }
            if self.eat("constraint") {
                name = Some(self.ident("a constraint name")?);
                continue;
            }
            if self.eat_all(&["primary", "key"]) {
                column.primary_key = true;
                let _ = self.eat("asc") || self.eat("desc");
            } else if self.eat_all(&["not", "null"])
                || (phrases && (self.eat("required") || self.eat_all(&["non", "null"])))
            {
                column.not_null = true;
            } else if (phrases
                && self.word_at(0, "non")
                && self
                    .peek_at(1)
                    .is_some_and(|t| t.kind == TokKind::Op && t.text == "-")
                && self.word_at(2, "null"))
                || (phrases
                    && self.word_at(0, "not")
                    && self
                        .peek_at(1)
                        .is_some_and(|t| t.kind == TokKind::Op && t.text == "-")
                    && self.word_at(2, "null"))
            {
                self.pos += 3;
                column.not_null = true;
            } else if self.eat("null")
                || (phrases && (self.eat("nullable") || self.eat("optional")))
            {
                column.not_null = false;
            } else if self.eat("unique") {
                column.unique = true;
            } else if self.eat("default") {
                column.default = Some(self.default_expr()?);
            } else if self.eat("references") {
                column.references = Some(self.references()?);
            } else if self.eat("check") {
                let inner = self.paren_group()?;
                column.checks.push((name.take(), Expr::new(inner)?));
            } else if phrases && self.eat_all(&["one", "of"]) {
                let line = self.line();
                let values = if self.peek().is_some_and(|t| t.kind == TokKind::Open) {
                    let inner = self.paren_group()?;
                    let mut values = Vec::new();
                    for (n, v) in inner.into_iter().enumerate() {
                        let want_value = n % 2 == 0;
                        match v.kind {
                            TokKind::Str | TokKind::Number if want_value => values.push(v),
                            TokKind::Comma if !want_value => {}
                            _ => return err(v.line, format!("expected a list of literal values in `one of (...)`, found `{}`", v.show())),
                        }
                    }
                    values
                } else {
                    let mut values = Vec::new();
                    while let Some(v) = self
                        .peek()
                        .filter(|t| matches!(t.kind, TokKind::Str | TokKind::Number))
                    {
                        values.push(v.clone());
                        self.pos += 1;
                        if !(self.peek().is_some_and(|t| t.kind == TokKind::Comma)
                            && self
                                .peek_at(1)
                                .is_some_and(|t| matches!(t.kind, TokKind::Str | TokKind::Number)))
                        {
                            break;
                        }
                        self.pos += 1;
                    }
                    values
                };
                if values.is_empty() {
                    return err(
                        line,
                        "`one of` needs a list of values, e.g. one of ('a', 'b')",
                    );
                }
                column
                    .checks
                    .push((name.take(), Expr::one_of(&column.name, values, line)?));
            } else {
                return self.unexpected("a constraint (primary key, not null, unique, default X, references T(c), check (expr), one of (...))");
            }
            if name.is_some() {
                return err(
                    self.line(),
                    "a constraint name is only kept for CHECK constraints here",
                );
            }
        }
        Ok(())
    }

    /// Reads a column definition: `name type constraints...`.
    pub fn column_def(&mut self) -> Result<Column, ReadError> {
        let name = self.ident("a column name")?;
        let ty = self.sql_type()?;
        let mut column = Column::new(name, ty);
        self.column_constraints(&mut column, false)?;
        Ok(column)
    }
}

fn is_constraint_start(t: &Tok) -> bool {
    [
        "not",
        "null",
        "primary",
        "unique",
        "default",
        "references",
        "check",
        "constraint",
    ]
    .iter()
    .any(|w| t.is_word(w))
}

impl Column {
    /// A column with no constraints.
    pub fn new(name: Ident, ty: SqlType) -> Column {
        Column {
            name,
            ty,
            primary_key: false,
            not_null: false,
            unique: false,
            default: None,
            references: None,
            checks: Vec::new(),
        }
    }
}

/// Reads one SQL statement (its tokens, without the `;`) into changes.
pub fn statement(toks: &[Tok]) -> Result<Vec<Change>, ReadError> {
    let mut p = Parser::new(toks);
    let changes = if p.eat("create") {
        let unique = p.eat("unique");
        if p.eat("table") {
            if unique {
                return p.unexpected("INDEX after CREATE UNIQUE");
            }
            let _ = p.eat_all(&["if", "not", "exists"]);
            vec![create_table(&mut p)?]
        } else if p.eat("index") {
            vec![Change::CreateIndex(create_index(&mut p, unique)?)]
        } else {
            return p.unexpected(
                "TABLE or INDEX after CREATE (other CREATE statements are not generated)",
            );
        }
    } else if p.eat("drop") {
        if p.eat("table") {
            let _ = p.eat_all(&["if", "exists"]);
            let table = p.table_name()?;
            let _ = p.eat("cascade") || p.eat("restrict");
            vec![Change::DropTable { table }]
        } else if p.eat("index") {
            let concurrently = p.eat("concurrently");
            let _ = p.eat_all(&["if", "exists"]);
            let name = p.table_name()?;
            let _ = p.eat("cascade") || p.eat("restrict");
            vec![Change::DropIndex { name, concurrently }]
        } else {
            return p.unexpected("TABLE or INDEX after DROP");
        }
    } else if p.eat_all(&["alter", "table"]) {
        let _ = p.eat_all(&["if", "exists"]);
        let _ = p.eat("only");
        let table = p.table_name()?;
        let mut out = Vec::new();
        loop {
            out.push(alter_action(&mut p, &table)?);
            if !p.eat_kind(TokKind::Comma) {
                break;
            }
        }
        out
    } else {
        let first = p
            .peek()
            .map_or(String::new(), |t| t.text.to_ascii_uppercase());
        return err(
            p.line(),
            format!("`{}` statements are not understood (CREATE TABLE/INDEX, DROP TABLE/INDEX and ALTER TABLE are)", shorten(&first)),
        );
    };
    if !p.done() {
        return p.unexpected("the end of the statement");
    }
    Ok(changes)
}

fn create_table(p: &mut Parser<'_>) -> Result<Change, ReadError> {
    let table = p.table_name()?;
    p.expect_kind(TokKind::Open, "`(` after the table name")?;
    let mut columns = Vec::new();
    let mut constraints = Vec::new();
    loop {
        let name = if p.eat("constraint") {
            Some(p.ident("a constraint name")?)
        } else {
            None
        };
        if let Some(c) = table_constraint(p)? {
            constraints.push(NamedConstraint {
                name,
                constraint: c,
            });
        } else if name.is_some() {
            return p.unexpected("PRIMARY KEY, UNIQUE, CHECK or FOREIGN KEY after CONSTRAINT name");
        } else {
            columns.push(p.column_def()?);
        }
        if p.eat_kind(TokKind::Comma) {
            continue;
        }
        p.expect_kind(TokKind::Close, "`,` or `)` in the column list")?;
        break;
    }
    Ok(Change::CreateTable {
        table,
        columns,
        constraints,
    })
}

fn table_constraint(p: &mut Parser<'_>) -> Result<Option<TableConstraint>, ReadError> {
    Ok(Some(if p.eat_all(&["primary", "key"]) {
        TableConstraint::PrimaryKey(p.ident_list("a key column")?)
    } else if p.word_at(0, "unique") && p.peek_at(1).is_some_and(|t| t.kind == TokKind::Open) {
        p.eat("unique");
        TableConstraint::Unique(p.ident_list("a unique column")?)
    } else if p.eat("check") {
        TableConstraint::Check(Expr::new(p.paren_group()?)?)
    } else if p.eat_all(&["foreign", "key"]) {
        let cols = p.ident_list("a foreign key column")?;
        if !p.eat("references") {
            return p.unexpected("REFERENCES");
        }
        TableConstraint::ForeignKey(cols, p.references()?)
    } else {
        return Ok(None);
    }))
}

fn create_index(p: &mut Parser<'_>, unique: bool) -> Result<Index, ReadError> {
    let concurrently = p.eat("concurrently");
    let _ = p.eat_all(&["if", "not", "exists"]);
    let name = if p.word_at(0, "on") {
        None
    } else {
        Some(p.ident("an index name")?)
    };
    if !p.eat("on") {
        return p.unexpected("ON");
    }
    let _ = p.eat("only");
    let table = p.table_name()?;
    if p.eat("using") && !(p.eat("btree") || p.eat("hash")) {
        return p.unexpected("btree (other index methods are not portable to SQLite)");
    }
    let keys = index_keys(p)?;
    let predicate = if p.eat("where") {
        Some(p.rest_expr()?)
    } else {
        None
    };
    let name = name.unwrap_or_else(|| index_name(&table, &keys, unique));
    Ok(Index {
        name,
        table,
        unique,
        keys,
        predicate,
        concurrently,
    })
}

/// Reads `(col [ASC|DESC], ...)`.
pub fn index_keys(p: &mut Parser<'_>) -> Result<Vec<IndexKey>, ReadError> {
    p.expect_kind(TokKind::Open, "`(` and the indexed columns")?;
    let mut keys = Vec::new();
    loop {
        let column = p.ident("an indexed column (expression indexes are not generated)")?;
        let desc = p.eat("desc");
        if !desc {
            let _ = p.eat("asc");
        }
        keys.push(IndexKey { column, desc });
        if !p.eat_kind(TokKind::Comma) {
            break;
        }
    }
    p.expect_kind(TokKind::Close, "`)`")?;
    Ok(keys)
}

/// `idx_<table>_<col>_<col>` (or `uq_...` for unique indexes).
pub fn index_name(table: &Ident, keys: &[IndexKey], unique: bool) -> Ident {
    let cols: Vec<&str> = keys.iter().map(|k| k.column.as_str()).collect();
    let prefix = if unique { "uq" } else { "idx" };
    Ident::generated(&format!("{prefix}_{}_{}", table.as_str(), cols.join("_")))
}

fn alter_action(p: &mut Parser<'_>, table: &Ident) -> Result<Change, ReadError> {
    if p.eat("add") {
        let name = if p.eat("constraint") {
            Some(p.ident("a constraint name")?)
        } else {
            None
        };
        if let Some(constraint) = table_constraint(p)? {
            return Ok(Change::AddConstraint {
                table: table.clone(),
                constraint: NamedConstraint { name, constraint },
            });
        }
        if name.is_some() {
            return p.unexpected("a constraint after CONSTRAINT name");
        }
        let _ = p.eat("column");
        let _ = p.eat_all(&["if", "not", "exists"]);
        let column = p.column_def()?;
        return Ok(Change::AddColumn {
            table: table.clone(),
            column,
        });
    }
    if p.eat("drop") {
        if p.word_at(0, "constraint") {
            return p.unexpected("DROP COLUMN (dropping constraints is not generated)");
        }
        let _ = p.eat("column");
        let _ = p.eat_all(&["if", "exists"]);
        let column = p.ident("a column name")?;
        let _ = p.eat("cascade") || p.eat("restrict");
        return Ok(Change::DropColumn {
            table: table.clone(),
            column,
        });
    }
    if p.eat("rename") {
        if p.eat("to") {
            return Ok(Change::RenameTable {
                from: table.clone(),
                to: p.ident("a table name")?,
            });
        }
        let _ = p.eat("column");
        let from = p.ident("a column name")?;
        if !p.eat("to") {
            return p.unexpected("TO");
        }
        return Ok(Change::RenameColumn {
            table: table.clone(),
            from,
            to: p.ident("a column name")?,
        });
    }
    if p.eat("alter") {
        let _ = p.eat("column");
        let column = p.ident("a column name")?;
        if p.eat("type") || p.eat_all(&["set", "data", "type"]) {
            let ty = p.sql_type()?;
            if p.eat("using") {
                return p.unexpected("the end (USING conversions are not generated)");
            }
            return Ok(Change::AlterType {
                table: table.clone(),
                column,
                ty,
            });
        }
        return p.unexpected(
            "TYPE (SET/DROP NOT NULL and defaults on existing columns are not generated)",
        );
    }
    p.unexpected("ADD, DROP, RENAME or ALTER")
}

/// Splits the tokens of a SQL block into statements at `;` (the `;` is dropped).
pub fn split(toks: &[Tok]) -> Vec<&[Tok]> {
    toks.split(|t| t.kind == TokKind::Semi)
        .filter(|s| !s.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expr(src: &str) -> Expr {
        Expr::new(lex(src, false).unwrap()).unwrap()
    }

    #[test]
    fn expressions_render_per_dialect() {
        let e = expr("confidence_score >= 0 AND confidence_score <= 1");
        assert_eq!(
            e.render(Dialect::Sqlite),
            "confidence_score >= 0 AND confidence_score <= 1"
        );
        assert_eq!(expr("now()").render(Dialect::Sqlite), "CURRENT_TIMESTAMP");
        assert_eq!(expr("now()").render(Dialect::Postgres), "NOW()");
        assert_eq!(
            expr("gen_random_uuid()").render(Dialect::Sqlite),
            "lower(hex(randomblob(16)))"
        );
        assert_eq!(expr("'{}'::jsonb").render(Dialect::Sqlite), "'{}'");
        assert_eq!(expr("'it''s'").render(Dialect::Postgres), "'it''s'");
        assert_eq!(expr("true").render(Dialect::Sqlite), "1");
        assert_eq!(
            expr("x IN ('a', 'b')").render(Dialect::Postgres),
            "x IN ('a', 'b')"
        );
        assert_eq!(
            expr("lower(email)").render(Dialect::Postgres),
            "lower(email)"
        );
        assert!(Expr::new(lex("1; DROP TABLE x", false).unwrap()).is_err());
        assert!(lex("1 -- x", false).is_err());
        assert!(Expr::new(lex("(select 1)", false).unwrap()).is_err());
    }

    #[test]
    fn statements_parse() {
        let toks = lex("CREATE INDEX CONCURRENTLY idx_a ON activities (contact_id, created_at DESC) WHERE deleted_at IS NULL", true).unwrap();
        let c = statement(&toks).unwrap();
        let Change::CreateIndex(i) = &c[0] else {
            panic!()
        };
        assert!(i.concurrently && i.keys[1].desc);
        assert_eq!(
            i.predicate.as_ref().unwrap().render(Dialect::Sqlite),
            "deleted_at IS NULL"
        );
        let toks = lex(
            "ALTER TABLE t ADD COLUMN a INT NOT NULL DEFAULT 0, RENAME COLUMN b TO c",
            true,
        )
        .unwrap();
        assert_eq!(statement(&toks).unwrap().len(), 2);
        let toks = lex("GRANT ALL ON t TO u", true).unwrap();
        assert!(statement(&toks).unwrap_err().message.contains("GRANT"));
    }
}
