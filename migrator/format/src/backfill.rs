//! Backfill migrations: one `UPDATE` that the runtime runs in batches of key ranges, each batch a short
//! transaction that also records how far it got.
//!
//! ```sql
//! -- Issue #17: verified e-mail flag
//! -- migrator:backfill table=users key=id batch=1000 pause=50ms target=200ms
//!
//! -- ============ UP MIGRATION ============
//! UPDATE users SET email_verified = true WHERE email_verified IS NULL;
//! ```
//!
//! The directive names the table the `UPDATE` changes and an integer key column of it (the primary key,
//! or a column with a unique index; `NOT NULL`). The runtime adds `AND <key> > <from> AND <key> <= <to>`
//! to the statement's `WHERE` (the statement's own condition is kept in parentheses) and moves the range
//! forward batch by batch. Settings:
//!
//! | setting | meaning | default |
//! |---|---|---|
//! | `table=` | the table the UPDATE changes (`name` or `schema.name`) | required |
//! | `key=` | its integer key column the batches are ranges of | required |
//! | `batch=` | keys per batch (1 to 1,000,000) | 1000 |
//! | `pause=` | sleep between batches (`50ms`, `1s`, `0ms`; at most 1h) | SQLite: as long as the last batch took (the database has one write lock: the application's writers get it at least half of the time); other engines: none (their batches lock only their rows) |
//! | `target=` | a batch duration to aim at: the batch size adapts to it (`200ms`) | none |
//!
//! Checked here, at compile time for embedded migrations: the UP is exactly one `UPDATE` of that table
//! (no `WITH`, `RETURNING`, `ORDER BY` or `LIMIT`: the runtime bounds each batch itself), and the
//! migration is not also `no-transaction` (every batch is a transaction of its own).

use std::borrow::Cow;
use std::time::Duration;

use crate::policy::parse_duration;
use crate::split::{lex, qualified_name, Token, TokenKind};

/// Keys per batch when the directive does not say.
pub const DEFAULT_BATCH: u32 = 1000;
/// The largest `batch=`.
pub const MAX_BATCH: u32 = 1_000_000;
const MAX_PAUSE: Duration = Duration::from_secs(3600);
const MAX_TARGET: Duration = Duration::from_secs(600);
const KNOWN: &str = "table, key, batch, pause, target";

/// The `-- migrator:backfill` directive of a migration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backfill {
    /// The table the UPDATE changes, as written (`users` or `app.users`).
    pub table: Cow<'static, str>,
    /// Its integer key column.
    pub key: Cow<'static, str>,
    /// Keys per batch (where a `target` is set: the first batch's).
    pub batch: u32,
    /// Sleep between batches; `None`: the engine's default (see the module's table).
    pub pause: Option<Duration>,
    /// A batch duration to aim at: the batch size grows or shrinks towards it.
    pub target: Option<Duration>,
    /// The directive's line in the file.
    pub line: u32,
}

impl Backfill {
    /// Parses the settings after `-- migrator:backfill` (`table=users key=id batch=500`). The error says
    /// which setting is wrong and how to write it.
    pub fn parse_directive(settings: &str, line: u32) -> Result<Backfill, String> {
        let mut table = None;
        let mut key = None;
        let mut batch = None;
        let mut pause = None;
        let mut target = None;
        for setting in settings.split_whitespace() {
            let Some((name, value)) = setting.split_once('=') else {
                return Err(format!(
                    "backfill setting `{setting}` has no value; write name=value (known: {KNOWN})"
                ));
            };
            let twice = || format!("backfill setting `{name}` is given twice");
            match name {
                "table" => {
                    if !is_table_name(value) {
                        return Err(format!("backfill table `{value}` is not a plain table name (letters, digits and _, optionally schema.table)"));
                    }
                    set(&mut table, Cow::Owned(value.to_string()), twice)?;
                }
                "key" => {
                    if !is_ident(value) {
                        return Err(format!("backfill key `{value}` is not a plain column name (letters, digits and _)"));
                    }
                    set(&mut key, Cow::Owned(value.to_string()), twice)?;
                }
                "batch" => {
                    let n: u32 = value
                        .replace('_', "")
                        .parse()
                        .ok()
                        .filter(|n| (1..=MAX_BATCH).contains(n))
                        .ok_or_else(|| {
                            format!("backfill batch `{value}` is not a number of keys from 1 to {MAX_BATCH}")
                        })?;
                    set(&mut batch, n, twice)?;
                }
                "pause" => {
                    let d = duration(value, Duration::ZERO, MAX_PAUSE, "pause")?;
                    set(&mut pause, d, twice)?;
                }
                "target" => {
                    let d = duration(value, Duration::from_millis(1), MAX_TARGET, "target")?;
                    set(&mut target, d, twice)?;
                }
                other => {
                    return Err(format!(
                        "unknown backfill setting `{other}`; known: {KNOWN}"
                    ))
                }
            }
        }
        let missing = |what: &str| {
            format!("a backfill needs {what}=...: write `-- migrator:backfill table=<table> key=<integer key column>`")
        };
        Ok(Backfill {
            table: table.ok_or_else(|| missing("table"))?,
            key: key.ok_or_else(|| missing("key"))?,
            batch: batch.unwrap_or(DEFAULT_BATCH),
            pause,
            target,
            line,
        })
    }

    /// Checks the UP statements of a backfill migration: exactly one `UPDATE` of the directive's table
    /// that the runtime can bound. On error: the line to point at and what is wrong.
    pub fn check_up(&self, up: &[crate::Statement]) -> Result<(), (u32, String)> {
        match up {
            [one] => BatchStatement::new(&one.sql, self)
                .map(|_| ())
                .map_err(|e| (one.line, e)),
            [] => Err((self.line, "a backfill migration's UP holds one UPDATE statement; this one holds none".to_string())),
            [_, second, ..] => Err((
                second.line,
                format!(
                    "a backfill migration's UP holds exactly one UPDATE (the runtime runs it batch by batch); this one holds {} statements: put the others in a migration of their own",
                    up.len()
                ),
            )),
        }
    }
}

fn set<T>(slot: &mut Option<T>, value: T, twice: impl Fn() -> String) -> Result<(), String> {
    if slot.is_some() {
        return Err(twice());
    }
    *slot = Some(value);
    Ok(())
}

fn duration(value: &str, min: Duration, max: Duration, what: &str) -> Result<Duration, String> {
    // Whole milliseconds: what the embedded form keeps.
    parse_duration(value)
        .map(|d| Duration::from_millis(d.as_millis() as u64))
        .filter(|d| *d >= min && *d <= max)
        .ok_or_else(|| {
            format!(
                "backfill {what} `{value}` is not a duration from {} to {} (write 50ms, 1s, 2m)",
                show(min),
                show(max)
            )
        })
}

fn show(d: Duration) -> String {
    if d.as_millis() < 1000 {
        format!("{}ms", d.as_millis())
    } else {
        format!("{}s", d.as_secs())
    }
}

fn is_ident(text: &str) -> bool {
    let mut chars = text.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn is_table_name(text: &str) -> bool {
    match text.split_once('.') {
        Some((schema, table)) => is_ident(schema) && is_ident(table),
        None => is_ident(text),
    }
}

/// Words that may follow the table of an UPDATE without being its alias.
const NOT_ALIASES: [&str; 8] = [
    "SET",
    "JOIN",
    "INNER",
    "LEFT",
    "RIGHT",
    "CROSS",
    "NATURAL",
    "STRAIGHT_JOIN",
];

/// A backfill's UPDATE, cut where the runtime adds the key range: what comes before `WHERE`, the
/// statement's own condition, and the name the key is qualified with (the table's alias when it has one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchStatement {
    head: String,
    condition: Option<String>,
    column: String,
}

impl BatchStatement {
    /// Cuts `sql`, the UP of a migration with `backfill`; the error says why the statement cannot be run
    /// in batches.
    pub fn new(sql: &str, backfill: &Backfill) -> Result<BatchStatement, String> {
        let tokens = lex(sql, 1).map_err(|e| e.message)?;
        let word = |i: usize| tokens.get(i).filter(|t| t.kind == TokenKind::Word);
        let is = |i: usize, w: &str| word(i).is_some_and(|t| t.is_word(sql, w));
        if !is(0, "UPDATE") {
            return Err(format!(
                "a backfill migration's UP is one UPDATE of {}; this statement starts with `{}`",
                backfill.table,
                tokens.first().map_or("", |t| t.text(sql))
            ));
        }
        // UPDATE [OR <conflict>] [ONLY] <table> [[AS] alias] SET ...
        let mut at = 1;
        if is(at, "OR") {
            at += 2;
        }
        if is(at, "ONLY") {
            at += 1;
        }
        let (name_tokens, after_name) = qualified_name(sql, &tokens, at)
            .ok_or_else(|| "the UPDATE names no table".to_string())?;
        let written: Vec<String> = name_tokens.iter().filter_map(|t| t.ident(sql)).collect();
        let wanted: Vec<String> = backfill
            .table
            .split('.')
            .map(str::to_ascii_lowercase)
            .collect();
        let matches = written.len() >= wanted.len()
            && written[written.len() - wanted.len()..]
                .iter()
                .zip(&wanted)
                .all(|(a, b)| a.eq_ignore_ascii_case(b));
        if !matches {
            return Err(format!(
                "the UPDATE changes {} but the backfill directive names table={}",
                written.join("."),
                backfill.table
            ));
        }
        let last_name = name_tokens[name_tokens.len() - 1];
        let mut qualifier = last_name.text(sql).to_string();
        let mut next = after_name;
        if is(next, "AS") {
            next += 1;
        }
        let keyword = |t: &Token| NOT_ALIASES.iter().any(|w| t.is_word(sql, w));
        if let Some(alias) = tokens
            .get(next)
            .filter(|t| matches!(t.kind, TokenKind::Word | TokenKind::QuotedIdent) && !keyword(t))
        {
            qualifier = alias.text(sql).to_string();
        }
        let mut depth = 0i32;
        let mut where_at = None;
        for (i, t) in tokens.iter().enumerate() {
            match t.kind {
                TokenKind::Punct('(') => depth += 1,
                TokenKind::Punct(')') => depth -= 1,
                TokenKind::Word if depth == 0 => {
                    for refused in ["RETURNING", "ORDER", "LIMIT"] {
                        if t.is_word(sql, refused) {
                            return Err(format!(
                                "a backfill's UPDATE cannot have {refused} (line {}): the runtime bounds every batch by a range of {} itself",
                                t.line, backfill.key
                            ));
                        }
                    }
                    if t.is_word(sql, "WHERE") && where_at.is_none() {
                        where_at = Some(i);
                    }
                }
                _ => {}
            }
        }
        let column = format!("{qualifier}.{}", backfill.key);
        Ok(match where_at {
            Some(i) => BatchStatement {
                head: sql[..tokens[i].start].trim_end().to_string(),
                condition: Some(sql[tokens[i].end..].trim().to_string()),
                column,
            },
            None => BatchStatement {
                head: sql.trim_end().to_string(),
                condition: None,
                column,
            },
        })
    }

    /// The statement for the keys after `after` (all keys from the first when `None`) up to and including
    /// `upto`.
    pub fn sql(&self, after: Option<i64>, upto: i64) -> String {
        let column = &self.column;
        let mut range = match after {
            Some(after) => format!("{column} > {after} AND {column} <= {upto}"),
            None => format!("{column} <= {upto}"),
        };
        if let Some(condition) = &self.condition {
            range = format!("({condition}) AND {range}");
        }
        format!("{}\nWHERE {range}", self.head)
    }

    /// The key column as the statement's range names it (`users.id`, `u.id`).
    pub fn column(&self) -> &str {
        &self.column
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn directive(text: &str) -> Result<Backfill, String> {
        Backfill::parse_directive(text, 3)
    }

    fn users() -> Backfill {
        directive("table=users key=id").unwrap()
    }

    #[test]
    fn the_directive_reads_every_setting_and_has_defaults() {
        let b =
            directive("table=app.users key=user_id batch=5_000 pause=50ms target=1.5s").unwrap();
        assert_eq!(
            (b.table.as_ref(), b.key.as_ref(), b.batch, b.line),
            ("app.users", "user_id", 5000, 3)
        );
        assert_eq!(b.pause, Some(Duration::from_millis(50)));
        assert_eq!(b.target, Some(Duration::from_millis(1500)));
        let d = users();
        assert_eq!((d.batch, d.pause, d.target), (1000, None, None));
        assert_eq!(
            directive("table=t key=id pause=0ms").unwrap().pause,
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn bad_directives_say_what_to_write() {
        for (text, says) in [
            ("key=id", "needs table="),
            ("table=users", "needs key="),
            ("table=users key=id batch=0", "from 1 to 1000000"),
            ("table=users key=id batch=lots", "not a number"),
            ("table=users key=id pause=5", "not a duration"),
            (
                "table=users key=id pause=2h",
                "not a duration from 0ms to 3600s",
            ),
            ("table=users key=id target=0ms", "from 1ms"),
            (
                "table=users key=id size=10",
                "unknown backfill setting `size`",
            ),
            ("table=users key=id key=x", "given twice"),
            ("table=users;drop key=id", "not a plain table name"),
            ("table=users key=\"id\"", "not a plain column name"),
            ("table=users key", "has no value"),
        ] {
            let e = directive(text).unwrap_err();
            assert!(e.contains(says), "{text}: {e}");
        }
    }

    #[test]
    fn the_range_is_added_to_the_statements_own_condition() {
        let b = users();
        let s = BatchStatement::new(
            "UPDATE users SET verified = true WHERE verified IS NULL OR email LIKE '%WHERE%'",
            &b,
        )
        .unwrap();
        assert_eq!(
            s.sql(Some(1000), 2000),
            "UPDATE users SET verified = true\nWHERE (verified IS NULL OR email LIKE '%WHERE%') AND users.id > 1000 AND users.id <= 2000"
        );
        assert_eq!(
            s.sql(None, 10),
            "UPDATE users SET verified = true\nWHERE (verified IS NULL OR email LIKE '%WHERE%') AND users.id <= 10"
        );
        let no_where = BatchStatement::new("UPDATE users SET n = n + 1", &b).unwrap();
        assert_eq!(
            no_where.sql(Some(5), 6),
            "UPDATE users SET n = n + 1\nWHERE users.id > 5 AND users.id <= 6"
        );
    }

    #[test]
    fn aliases_schemas_and_subqueries_are_understood() {
        let b = users();
        let s = BatchStatement::new(
            "UPDATE ONLY public.users AS u SET score = (SELECT count(*) FROM posts p WHERE p.user_id = u.id) FROM plans WHERE plans.id = u.plan_id",
            &b,
        )
        .unwrap();
        assert_eq!(s.column(), "u.id");
        assert!(s
            .sql(Some(1), 2)
            .ends_with("WHERE (plans.id = u.plan_id) AND u.id > 1 AND u.id <= 2"));
        let mysql = BatchStatement::new(
            "UPDATE `users` u JOIN plans p ON p.id = u.plan_id SET u.tier = p.tier",
            &b,
        )
        .unwrap();
        assert_eq!(mysql.column(), "u.id");
        let join = BatchStatement::new(
            "UPDATE users INNER JOIN plans ON plans.id = users.plan_id SET users.tier = plans.tier",
            &b,
        )
        .unwrap();
        assert_eq!(join.column(), "users.id");
        let cast = BatchStatement::new(
            "UPDATE users SET seen = now()::timestamp with time zone",
            &b,
        )
        .unwrap();
        assert!(cast.sql(None, 1).ends_with("WHERE users.id <= 1"));
        let sqlite = BatchStatement::new("UPDATE OR IGNORE \"users\" SET n = 1", &b).unwrap();
        assert_eq!(sqlite.column(), "\"users\".id");
        let qualified = directive("table=app.users key=id").unwrap();
        assert!(BatchStatement::new("UPDATE app.users SET n = 1", &qualified).is_ok());
        assert!(BatchStatement::new("UPDATE users SET n = 1", &qualified).is_err());
    }

    #[test]
    fn statements_that_cannot_be_bounded_are_refused() {
        let b = users();
        for (sql, says) in [
            ("DELETE FROM users WHERE x", "starts with `DELETE`"),
            (
                "UPDATE accounts SET n = 1",
                "changes accounts but the backfill directive names table=users",
            ),
            (
                "UPDATE users SET n = 1 RETURNING id",
                "cannot have RETURNING",
            ),
            (
                "UPDATE users SET n = 1 ORDER BY id LIMIT 10",
                "cannot have ORDER",
            ),
            (
                "WITH x AS (SELECT 1) UPDATE users SET n = 1",
                "starts with `WITH`",
            ),
            ("UPDATE users SET n = 'x", "unterminated"),
        ] {
            let e = BatchStatement::new(sql, &b).unwrap_err();
            assert!(e.contains(says), "{sql}: {e}");
        }
        // A LIMIT inside a sub-query is the statement's own business.
        assert!(BatchStatement::new(
            "UPDATE users SET n = (SELECT v FROM t ORDER BY v LIMIT 1)",
            &b
        )
        .is_ok());
    }
}
