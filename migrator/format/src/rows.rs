//! The rows a data-changing statement touches, as a `SELECT` the database can count or plan.
//!
//! The runtime's `max_rows_affected` check and the live preview ask the database how many rows a pending
//! `UPDATE`, `DELETE` or `INSERT` would change before running it. [`rows_select`] cuts the statement at its
//! top-level clause keywords (with [`lex`](crate::split)'s tokens: strings, quoted identifiers, comments and
//! parentheses are skipped whole) and re-assembles the clauses that choose rows into a `SELECT`:
//!
//! | statement | rows `SELECT` |
//! |---|---|
//! | `UPDATE t [AS a] [JOIN ...] SET ... [FROM f] [WHERE w]` | `SELECT p FROM t [AS a] [JOIN ...][, f][ WHERE w]` |
//! | `DELETE FROM t [USING u] [WHERE w]` | `SELECT p FROM t[, u][ WHERE w]` (MySQL's `DELETE FROM t USING refs`: `FROM refs`) |
//! | `INSERT INTO t [(cols)] <VALUES ... / SELECT ...> [ON CONFLICT ...] [RETURNING ...]` | `SELECT p FROM (<source>) AS source_rows` |
//!
//! The clauses are copied as written, so the `SELECT` reads the same tables, joins and condition as the
//! statement. A statement this cannot cut safely (a `WITH` before it, `WHERE CURRENT OF`, `INSERT ...
//! DEFAULT VALUES` or MySQL's `INSERT ... SET`, more than one statement) gets `None`: it is not estimated.
//! The cut is by clause keywords only, not a full parse: the runtime links no SQL parser (the offline
//! analyser, `migrator-analyse`, reads statements with `sqlparser`).

use crate::split::{lex, qualified_name, Token, TokenKind};
use crate::EngineKind;

/// `SELECT <projection> FROM ...` over the rows `sql` (one `UPDATE`, `DELETE`, `INSERT` or `REPLACE`
/// statement of `engine`'s dialect) changes, or inserts; `None` for any other statement and for forms the
/// module's table does not cover.
pub fn rows_select(sql: &str, engine: EngineKind, projection: &str) -> Option<String> {
    let scan = Scan::new(sql)?;
    let first = scan.tokens.first()?;
    let head = first.text(sql).to_ascii_uppercase();
    let from = match head.as_str() {
        "UPDATE" => scan.update()?,
        "DELETE" => scan.delete(engine)?,
        "INSERT" | "REPLACE" => scan.insert()?,
        _ => return None,
    };
    Some(format!("SELECT {projection} FROM {from}"))
}

/// Words that end the row-choosing part of a statement.
const TAIL: [&str; 3] = ["RETURNING", "ORDER", "LIMIT"];

/// One statement's tokens and which of them sit outside every parenthesis.
struct Scan<'s> {
    sql: &'s str,
    tokens: Vec<Token>,
    top: Vec<bool>,
}

impl<'s> Scan<'s> {
    /// Lexes `sql`; `None` when it does not lex, its parentheses do not balance, or it holds more than one
    /// statement.
    fn new(sql: &'s str) -> Option<Scan<'s>> {
        let mut tokens = lex(sql, 1).ok()?;
        while tokens
            .last()
            .is_some_and(|t| t.kind == TokenKind::Punct(';'))
        {
            tokens.pop();
        }
        let mut depth = 0i32;
        let mut top = Vec::with_capacity(tokens.len());
        for t in &tokens {
            match t.kind {
                TokenKind::Punct('(') => {
                    top.push(depth == 0);
                    depth += 1;
                }
                TokenKind::Punct(')') => {
                    depth -= 1;
                    top.push(depth == 0);
                }
                TokenKind::Punct(';') if depth == 0 => return None,
                _ => top.push(depth == 0),
            }
            if depth < 0 {
                return None;
            }
        }
        (depth == 0).then_some(Scan { sql, tokens, top })
    }

    /// `true` when token `i` is the bare word `word`.
    fn is(&self, i: usize, word: &str) -> bool {
        self.tokens
            .get(i)
            .is_some_and(|t| t.is_word(self.sql, word))
    }

    /// The first index from `from` on of a top-level bare word among `words` (a `FROM` after `DISTINCT`,
    /// as in `IS DISTINCT FROM`, is an operator, not a clause); the token count when there is none.
    fn next(&self, from: usize, words: &[&str]) -> usize {
        (from..self.tokens.len())
            .find(|&i| {
                self.top[i]
                    && words.iter().any(|w| self.is(i, w))
                    && !(self.is(i, "FROM") && i > 0 && self.is(i - 1, "DISTINCT"))
            })
            .unwrap_or(self.tokens.len())
    }

    /// The text from token `from` to the end of token `to - 1`; `None` when that is no token.
    fn text(&self, from: usize, to: usize) -> Option<&'s str> {
        (from < to && to <= self.tokens.len())
            .then(|| &self.sql[self.tokens[from].start..self.tokens[to - 1].end])
    }

    /// Skips the modifier words at `at` (`OR <conflict>` of SQLite, MySQL's `LOW_PRIORITY`, `IGNORE`, ...).
    fn skip_modifiers(&self, mut at: usize) -> usize {
        loop {
            if self.is(at, "OR") {
                at += 2;
            } else if [
                "LOW_PRIORITY",
                "QUICK",
                "IGNORE",
                "DELAYED",
                "HIGH_PRIORITY",
            ]
            .iter()
            .any(|w| self.is(at, w))
            {
                at += 1;
            } else {
                return at;
            }
        }
    }

    /// ` WHERE <condition>` when token `at` is a top-level `WHERE` (to the first of [`TAIL`]); empty when
    /// it is not; `None` for `WHERE CURRENT OF` and an empty condition.
    fn condition(&self, at: usize) -> Option<String> {
        if !self.is(at, "WHERE") {
            return Some(String::new());
        }
        if self.is(at + 1, "CURRENT") && self.is(at + 2, "OF") {
            return None;
        }
        let end = self.next(at + 1, &TAIL);
        Some(format!(" WHERE {}", self.text(at + 1, end)?))
    }

    /// `UPDATE [modifiers] <target> SET ... [FROM <from>] [WHERE ...]`: `<target>[, <from>][ WHERE ...]`.
    fn update(&self) -> Option<String> {
        let at = self.skip_modifiers(1);
        let set = self.next(at, &["SET"]);
        let target = self.text(at, set)?;
        let ends = ["FROM", "WHERE", "RETURNING", "ORDER", "LIMIT"];
        let mut clause = self.next(set + 1, &ends);
        let mut tables = target.to_string();
        if self.is(clause, "FROM") {
            let end = self.next(clause + 1, &ends[1..]);
            tables = format!("{tables}, {}", self.text(clause + 1, end)?);
            clause = end;
        }
        Some(format!("{tables}{}", self.condition(clause)?))
    }

    /// `DELETE [modifiers] [<deleted>] FROM <tables> [USING <refs>] [WHERE ...]`: `<tables>[, <refs>][
    /// WHERE ...]`; MySQL's `USING` form names the rows' tables in `<refs>` alone.
    fn delete(&self, engine: EngineKind) -> Option<String> {
        let at = self.skip_modifiers(1);
        let from = self.next(at, &["FROM"]);
        let ends = ["USING", "WHERE", "RETURNING", "ORDER", "LIMIT"];
        let end = self.next(from + 1, &ends);
        let mut tables = self.text(from + 1, end)?.to_string();
        let mut clause = end;
        if self.is(clause, "USING") {
            let refs_end = self.next(clause + 1, &ends[1..]);
            let refs = self.text(clause + 1, refs_end)?;
            tables = match engine {
                EngineKind::MySql => refs.to_string(),
                EngineKind::Sqlite | EngineKind::Postgres => format!("{tables}, {refs}"),
            };
            clause = refs_end;
        }
        Some(format!("{tables}{}", self.condition(clause)?))
    }

    /// `INSERT [modifiers] [INTO] <table> [AS alias] [(<columns>)] [OVERRIDING ... VALUE] <source> [ON
    /// CONFLICT / ON DUPLICATE KEY ...] [RETURNING ...]`: `(<source>) AS source_rows`.
    fn insert(&self) -> Option<String> {
        let mut at = self.skip_modifiers(1);
        if self.is(at, "INTO") {
            at += 1;
        }
        at = qualified_name(self.sql, &self.tokens, at)?.1;
        if self.is(at, "AS") {
            at += 2;
        }
        let opens = |i: usize| self.tokens.get(i).map(|t| t.kind) == Some(TokenKind::Punct('('));
        let source_word = |i: usize| ["SELECT", "WITH", "VALUES"].iter().any(|w| self.is(i, w));
        if opens(at) && !source_word(at + 1) {
            at = self.after_group(at)?;
        }
        if self.is(at, "OVERRIDING") {
            at += 3;
        }
        if !(source_word(at) || opens(at)) {
            return None;
        }
        let mut end = at + 1;
        while end < self.tokens.len() {
            let upsert = self.is(end, "ON")
                && (self.is(end + 1, "CONFLICT") || self.is(end + 1, "DUPLICATE"));
            // MySQL 8's row alias: `VALUES (...) AS new ON DUPLICATE KEY UPDATE ...`.
            let row_alias = self.is(at, "VALUES") && self.is(end, "AS");
            if self.top[end] && (upsert || row_alias || self.is(end, "RETURNING")) {
                break;
            }
            end += 1;
        }
        Some(format!("({}) AS source_rows", self.text(at, end)?))
    }

    /// The index after the parenthesised group opening at `at`.
    fn after_group(&self, at: usize) -> Option<usize> {
        (at + 1..self.tokens.len())
            .find(|&i| self.top[i] && self.tokens[i].kind == TokenKind::Punct(')'))
            .map(|i| i + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(sql: &str) -> Option<String> {
        rows_select(sql, EngineKind::Postgres, "count(*)")
    }

    #[test]
    fn updates_keep_their_tables_joins_and_condition() {
        for (sql, select) in [
            (
                "UPDATE events SET seen = 1 WHERE id > 1000",
                "SELECT count(*) FROM events WHERE id > 1000",
            ),
            ("UPDATE events SET seen = 1", "SELECT count(*) FROM events"),
            (
                "UPDATE ONLY app.\"Users\" AS u SET name = 'a WHERE b' FROM teams t WHERE t.id = u.team_id RETURNING u.id",
                "SELECT count(*) FROM ONLY app.\"Users\" AS u, teams t WHERE t.id = u.team_id",
            ),
            (
                "update OR ignore t SET a = (SELECT max(x) FROM y WHERE y.z = t.z) where a is null;",
                "SELECT count(*) FROM t WHERE a is null",
            ),
            (
                "UPDATE t SET flag = a IS DISTINCT FROM b, d = EXTRACT(YEAR FROM ts) WHERE c",
                "SELECT count(*) FROM t WHERE c",
            ),
            (
                "UPDATE LOW_PRIORITY t1 JOIN t2 ON t1.id = t2.id SET t1.a = t2.a WHERE t2.b = 1 ORDER BY t1.id LIMIT 10",
                "SELECT count(*) FROM t1 JOIN t2 ON t1.id = t2.id WHERE t2.b = 1",
            ),
            (
                "UPDATE t -- the SET below\nSET a = 1 /* WHERE */ WHERE b = $$x WHERE y$$",
                "SELECT count(*) FROM t WHERE b = $$x WHERE y$$",
            ),
        ] {
            assert_eq!(rows(sql).as_deref(), Some(select), "{sql}");
        }
    }

    #[test]
    fn deletes_keep_their_using_list() {
        assert_eq!(
            rows("DELETE FROM t USING u WHERE t.x = u.x").as_deref(),
            Some("SELECT count(*) FROM t, u WHERE t.x = u.x")
        );
        assert_eq!(
            rows("DELETE FROM queue WHERE done = 1 RETURNING id").as_deref(),
            Some("SELECT count(*) FROM queue WHERE done = 1")
        );
        assert_eq!(
            rows("DELETE FROM queue").as_deref(),
            Some("SELECT count(*) FROM queue")
        );
        let mysql = |sql| rows_select(sql, EngineKind::MySql, "count(*)");
        assert_eq!(
            mysql("DELETE t1 FROM t1 JOIN t2 ON t1.id = t2.id WHERE t2.gone").as_deref(),
            Some("SELECT count(*) FROM t1 JOIN t2 ON t1.id = t2.id WHERE t2.gone")
        );
        assert_eq!(
            mysql("DELETE QUICK FROM t1 USING t1 JOIN t2 ON t1.id = t2.id WHERE t2.gone LIMIT 5")
                .as_deref(),
            Some("SELECT count(*) FROM t1 JOIN t2 ON t1.id = t2.id WHERE t2.gone")
        );
    }

    #[test]
    fn inserts_count_their_source_rows() {
        for (sql, source) in [
            ("INSERT INTO t (a, b) VALUES (1, 2), (3, 4)", "VALUES (1, 2), (3, 4)"),
            (
                "INSERT INTO s.t SELECT a FROM u JOIN v ON u.id = v.id WHERE true ON CONFLICT (a) DO NOTHING",
                "SELECT a FROM u JOIN v ON u.id = v.id WHERE true",
            ),
            (
                "INSERT INTO t AS x (a) OVERRIDING SYSTEM VALUE SELECT 1 RETURNING *",
                "SELECT 1",
            ),
            ("INSERT INTO t (SELECT a FROM u)", "(SELECT a FROM u)"),
            (
                "REPLACE INTO t VALUES (1) AS new ON DUPLICATE KEY UPDATE a = new.a",
                "VALUES (1)",
            ),
            (
                "INSERT INTO t WITH w AS (SELECT 1) SELECT * FROM w",
                "WITH w AS (SELECT 1) SELECT * FROM w",
            ),
        ] {
            assert_eq!(
                rows(sql),
                Some(format!("SELECT count(*) FROM ({source}) AS source_rows")),
                "{sql}"
            );
        }
    }

    #[test]
    fn what_cannot_be_cut_is_not_estimated() {
        for sql in [
            "CREATE TABLE t (a int)",
            "WITH d AS (SELECT 1) DELETE FROM t WHERE a IN (SELECT * FROM d)",
            "UPDATE t SET a = 1 WHERE CURRENT OF c",
            "INSERT INTO t DEFAULT VALUES",
            "INSERT INTO t SET a = 1",
            "UPDATE t SET a = 1; DELETE FROM t",
            "UPDATE t SET a = (1",
            "UPDATE t SET a = 'open",
            "UPDATE SET a = 1",
            "DELETE FROM WHERE a",
            "",
        ] {
            assert_eq!(rows(sql), None, "{sql}");
        }
    }
}
