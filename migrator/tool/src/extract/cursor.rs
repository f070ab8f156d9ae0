//! A cursor over the tokens of a table cell or a sentence, as `sqlparser`'s tokenizer splits them: the
//! words of the issue's own grammar are matched here, and the SQL inside (types, defaults, checks,
//! predicates) is handed to `sqlparser`'s parser at the cursor, which reports how far it read.

use migrator_analyse::sql::sqlparser::dialect::Precedence;
use migrator_analyse::sql::sqlparser::parser::{Parser, ParserError};
use migrator_analyse::sql::sqlparser::tokenizer::Token;

use crate::ident::{shorten, Ident};
use crate::model::{FkAction, SqlExpr, SqlType};

/// Markdown markup removed before tokenizing: backticks and `**` outside string literals, and the arrow
/// `→` written as `->`.
pub(crate) fn plain(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_str = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\'' {
            in_str = !in_str;
        }
        if !in_str {
            if c == '`' {
                continue;
            }
            if c == '*' && chars.peek() == Some(&'*') {
                chars.next();
                continue;
            }
            if c == '→' || c == '⟶' {
                out.push_str("->");
                continue;
            }
            if c == '—' || c == '–' {
                out.push(',');
                continue;
            }
        }
        out.push(c);
    }
    out
}

/// The tokens of one cell or sentence and a position in them.
pub(crate) struct Cursor {
    toks: Vec<Token>,
    pos: usize,
}

fn parser_message(e: ParserError) -> String {
    let text = e.to_string();
    let text = text.strip_prefix("sql parser error: ").unwrap_or(&text);
    text.split(" at Line:").next().unwrap_or(text).to_string()
}

impl Cursor {
    /// Tokenizes `text` (already [`plain`]). Comment markers are refused: an issue's cell or sentence has
    /// no business hiding text from the reader.
    pub(crate) fn new(text: &str) -> Result<Cursor, String> {
        let tokens = migrator_analyse::sql::tokenize(text, migrator_analyse::Dialect::Postgres)
            .map_err(|e| format!("cannot read `{}`: {e}", shorten(text)))?;
        let mut toks = Vec::new();
        for t in tokens {
            match t.token {
                Token::Whitespace(w) => {
                    if !matches!(
                        w,
                        migrator_analyse::sql::sqlparser::tokenizer::Whitespace::Space
                            | migrator_analyse::sql::sqlparser::tokenizer::Whitespace::Tab
                            | migrator_analyse::sql::sqlparser::tokenizer::Whitespace::Newline
                    ) {
                        return Err("a comment marker (`--` or `/*`) is not allowed here".into());
                    }
                }
                other => toks.push(other),
            }
        }
        Ok(Cursor { toks, pos: 0 })
    }

    /// A cursor over tokens taken from another cursor.
    pub(crate) fn from_tokens(toks: Vec<Token>) -> Cursor {
        Cursor { toks, pos: 0 }
    }

    /// `true` when every token was read.
    pub(crate) fn done(&self) -> bool {
        self.pos >= self.toks.len()
    }

    /// The current token.
    pub(crate) fn peek(&self) -> Option<&Token> {
        self.toks.get(self.pos)
    }

    /// The token `n` ahead.
    pub(crate) fn peek_at(&self, n: usize) -> Option<&Token> {
        self.toks.get(self.pos + n)
    }

    /// Skips one token.
    pub(crate) fn advance(&mut self) {
        self.pos += 1;
    }

    /// Is the token `n` ahead the bare word `w` (any case)?
    pub(crate) fn word_at(&self, n: usize, w: &str) -> bool {
        matches!(self.peek_at(n), Some(Token::Word(x)) if x.quote_style.is_none() && x.value.eq_ignore_ascii_case(w))
    }

    /// Reads the word `w` if it is next.
    pub(crate) fn eat(&mut self, w: &str) -> bool {
        let yes = self.word_at(0, w);
        if yes {
            self.pos += 1;
        }
        yes
    }

    /// Reads the words `ws` if they are all next.
    pub(crate) fn eat_all(&mut self, ws: &[&str]) -> bool {
        let yes = ws.iter().enumerate().all(|(n, w)| self.word_at(n, w));
        if yes {
            self.pos += ws.len();
        }
        yes
    }

    /// Reads the token `t` if it is next.
    pub(crate) fn eat_tok(&mut self, t: &Token) -> bool {
        let yes = self.peek() == Some(t);
        if yes {
            self.pos += 1;
        }
        yes
    }

    /// Fails with "expected `what`, found ...".
    pub(crate) fn unexpected<T>(&self, what: &str) -> Result<T, String> {
        let found = self.peek().map_or("the end".to_string(), |t| {
            format!("`{}`", shorten(&t.to_string()))
        });
        Err(format!("expected {what}, found {found}"))
    }

    /// `true` when the next token is a name (a word, bare or quoted).
    pub(crate) fn at_name(&self) -> bool {
        matches!(self.peek(), Some(Token::Word(_)))
    }

    /// Reads a name, validated.
    pub(crate) fn ident(&mut self, what: &str) -> Result<Ident, String> {
        match self.peek() {
            Some(Token::Word(w)) => {
                let id = Ident::parse(&w.value).map_err(|m| format!("{what}: {m}"))?;
                self.pos += 1;
                Ok(id)
            }
            _ => self.unexpected(what),
        }
    }

    /// Reads `name` or `public.name` / `main.name`.
    pub(crate) fn table_name(&mut self) -> Result<Ident, String> {
        let first = self.ident("a table name")?;
        if matches!(first.as_str(), "public" | "main") && self.peek() == Some(&Token::Period) {
            self.pos += 1;
            return self.ident("a table name");
        }
        Ok(first)
    }

    /// Reads `(a, b, c)`.
    pub(crate) fn ident_list(&mut self, what: &str) -> Result<Vec<Ident>, String> {
        if !self.eat_tok(&Token::LParen) {
            return self.unexpected("`(`");
        }
        let mut out = vec![self.ident(what)?];
        while self.eat_tok(&Token::Comma) {
            out.push(self.ident(what)?);
        }
        if !self.eat_tok(&Token::RParen) {
            return self.unexpected("`)`");
        }
        Ok(out)
    }

    /// Runs a `sqlparser` parse at the cursor and moves past what it read.
    fn sql<T>(
        &mut self,
        f: impl FnOnce(&mut Parser<'static>) -> Result<T, ParserError>,
    ) -> Result<T, String> {
        let mut parser = migrator_analyse::sql::parser(migrator_analyse::Dialect::Postgres)
            .with_tokens(self.toks[self.pos..].to_vec());
        let value = f(&mut parser).map_err(parser_message)?;
        self.pos += parser.index();
        Ok(value)
    }

    /// Reads a column type.
    pub(crate) fn data_type(&mut self) -> Result<SqlType, String> {
        if !self.at_name() {
            return self.unexpected("a column type");
        }
        let ty = self.sql(|p| p.parse_data_type())?;
        SqlType::from_data_type(&ty)
    }

    /// Reads an expression up to the end, a `,` or a `)` that closes nothing.
    pub(crate) fn expr(&mut self) -> Result<SqlExpr, String> {
        let e = self.sql(|p| p.parse_expr())?;
        SqlExpr::from_expr(&e)
    }

    /// Reads a default value: an expression that stops before `AND`/`OR` (which separate phrases).
    pub(crate) fn default_expr(&mut self) -> Result<SqlExpr, String> {
        let prec = migrator_analyse::sql::sql_dialect(migrator_analyse::Dialect::Postgres)
            .prec_value(Precedence::And);
        let e = self.sql(|p| p.parse_subexpr(prec))?;
        SqlExpr::from_expr(&e)
    }

    /// Reads `( expr )`.
    pub(crate) fn paren_expr(&mut self) -> Result<SqlExpr, String> {
        if !self.eat_tok(&Token::LParen) {
            return self.unexpected("`(`");
        }
        let e = self.expr()?;
        if !self.eat_tok(&Token::RParen) {
            return self.unexpected("`)`");
        }
        Ok(e)
    }

    /// Reads a literal value (a string or a signed number) as its SQL text.
    pub(crate) fn literal(&mut self) -> Option<String> {
        let neg = self.peek() == Some(&Token::Minus);
        let at = usize::from(neg);
        let text = match self.peek_at(at) {
            Some(Token::SingleQuotedString(s)) if !neg => format!("'{}'", s.replace('\'', "''")),
            Some(Token::Number(n, _)) => format!("{}{n}", if neg { "-" } else { "" }),
            _ => return None,
        };
        self.pos += at + 1;
        Some(text)
    }

    /// Reads a foreign key action after `ON DELETE` / `ON UPDATE`.
    pub(crate) fn fk_action(&mut self) -> Result<FkAction, String> {
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
}
