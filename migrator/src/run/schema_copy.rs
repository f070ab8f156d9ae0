//! The in-place rehearsal's DOWN and UP again on a copy of the schema without rows, where the rows cannot
//! change what they do: a rehearsal that costs what the change costs, not what the tables hold.
//!
//! In place, a migration's DOWN and UP again run on the real tables under a savepoint that is rolled back.
//! On SQLite an `ALTER TABLE ... DROP COLUMN` rewrites every row of its table, so the DOWN of a one-line
//! `ADD COLUMN` on a table of 4 million rows took 1.6 s of a boot, only to be rolled back.
//!
//! A migration qualifies when its UP writes no row ([`super::down_chain::changes_only_the_schema`]) and
//! every statement of its DOWN is one whose success and effect the rows cannot change
//! ([`rows_cannot_change_the_outcome`], or the `DROP TABLE` of a table the UP itself created, still empty:
//! [`drops_one_of`]). Then:
//! - the DOWN meets, on the copy, the schema the UP left (the copy is made right after the UP, from the
//!   run's own transaction), and its statements fail or succeed there as they would on the tables;
//! - the UP again would meet, on the real tables, exactly the rows the UP met (the DOWN writes none and
//!   is checked to bring the schema back), and it succeeded on them: what is left to find is schema, and
//!   the copy has the schema.
//!
//! The checks are the general rehearsal's (`down_and_up_again`): the schema after the DOWN against the one
//! before the UP, after the UP again against the one after the UP. The engine refuses the copy where it
//! could answer differently ([`crate::engine::ScratchCopy::with_schema_copy`]); then, and for every
//! other migration, the DOWN and the UP again run in place as before.

use tracing::debug;

use super::rehearse::{Change, Schema};
use super::session::Session;
use crate::engine::Direction;
use crate::history::Status;
use crate::{Error, Migration, Migrator, Rehearsal, RehearsalPhase};

/// A problem the DOWN or the UP again ran into: the step, what happened and the differing objects.
pub(super) type Problem = (RehearsalPhase, String, Vec<String>);

impl<'s> Migrator<'s> {
    /// `true` when `m`'s DOWN and UP again can be rehearsed on a copy of the schema (see the module's
    /// documentation): its UP writes no row and its DOWN only holds statements the rows cannot change,
    /// not only drops of the tables the UP made.
    pub(super) fn rows_cannot_change_the_rollback(&self, m: &Migration) -> bool {
        let Some(down) = m.down.as_deref() else {
            return false;
        };
        !self.config().is_history(m)
            && m.up
                .iter()
                .all(|s| super::down_chain::changes_only_the_schema(&s.sql))
            && {
                // Drops of the UP's own tables go along; a DOWN of nothing else costs nothing in place
                // (the tables are empty) and stays there.
                let made_empty = tables_made_empty_by(&m.up);
                let mut rest = down
                    .iter()
                    .filter(|s| !drops_one_of(&s.sql, &made_empty))
                    .peekable();
                rest.peek().is_some() && rest.all(|s| rows_cannot_change_the_outcome(&s.sql))
            }
    }

    /// `m`'s DOWN and UP again, with their checks, on a copy of the schema the run's transaction holds
    /// now (right after `m`'s UP). `Ok(None)` when the engine made no copy (the caller rehearses in
    /// place); `Ok(Some(problem))` with what the rehearsal found there, if anything.
    pub(super) fn down_and_up_again_on_schema_copy(
        &self,
        session: &mut Session<'_>,
        m: &Migration,
        scope: &[&str],
        (after_up, up_change): (&Schema, &[Change]),
        rehearsal: &mut Rehearsal,
    ) -> Result<Option<Option<Problem>>, Error> {
        let Some(scratch) = session.engine.scratch() else {
            return Ok(None);
        };
        let mut found = None;
        let made = scratch.with_schema_copy(scope, &mut |copy| {
            let mut on_copy = Session::begin_nested(copy, self.config())?;
            // The copy has the history tables but not their rows: the row the UP wrote, for the
            // DOWN's claim to find.
            on_copy
                .history
                .clone()
                .claim(on_copy.engine, m, Direction::Up, Status::Applied)?;
            let outcome =
                self.down_and_up_again(&mut on_copy, m, scope, (after_up, up_change), rehearsal);
            let _ = on_copy.end(false);
            found = outcome?;
            Ok(())
        })?;
        if made {
            debug!(
                version = m.version,
                "DOWN and UP again rehearsed on a copy of the schema"
            );
            rehearsal.on_schema_copy += 1;
        }
        Ok(made.then_some(found))
    }
}

/// `true` for a statement whose success and effect on the schema are the same whatever rows the tables
/// hold (SQLite): `CREATE TABLE` with a column list, `CREATE VIEW`, `CREATE TRIGGER`, `DROP INDEX|VIEW|
/// TRIGGER`, a `CREATE INDEX` (not `UNIQUE`) on plain columns without `WHERE`, `ALTER TABLE ... RENAME`
/// and `DROP COLUMN`, and an `ADD COLUMN` without `NOT NULL`, `CHECK`, `REFERENCES`, a generated value or a
/// `DEFAULT` other than a constant (SQLite refuses those only when the table holds rows, or checks them
/// against the rows). `DROP TABLE` is not one: with foreign keys on, the check after the migration
/// reports the rows that referenced it (but see [`drops_one_of`]: the drop of a table the UP made empty).
pub(crate) fn rows_cannot_change_the_outcome(sql: &str) -> bool {
    let Ok(words) = migrator_format::statement_words(sql) else {
        return false;
    };
    let word = |i: usize| words.get(i).map(String::as_str);
    match (word(0), word(1)) {
        (Some("ALTER"), Some("TABLE")) => alter_ignores_rows(&words[2..]),
        (Some("DROP"), Some("INDEX" | "VIEW" | "TRIGGER")) => true,
        (Some("CREATE"), Some("VIEW" | "TRIGGER")) => true,
        (Some("CREATE"), Some("INDEX")) => index_on_plain_columns(&words[2..]),
        (Some("CREATE"), Some("TABLE")) => super::down_chain::changes_only_the_schema(sql),
        _ => false,
    }
}

/// A table named `[schema .] name`, lower-cased, the schema `main` when none is written (SQLite's names are
/// case-insensitive, quoted or not).
type TableName = (String, String);

/// The tables `up` creates new and leaves empty: each `CREATE TABLE name (...)` without `IF NOT EXISTS` (it
/// fails if the table exists, so the table is the UP's own). The caller has checked that `up` writes no
/// row, so nothing fills them. None when a statement of `up` renames anything: a table it made could have
/// been renamed away and another, full one renamed to its name.
fn tables_made_empty_by(up: &[migrator_format::Statement]) -> Vec<TableName> {
    let mut made = Vec::new();
    for statement in up {
        let Ok(words) = migrator_format::statement_words(&statement.sql) else {
            return Vec::new();
        };
        if words.iter().any(|w| w == "RENAME") {
            return Vec::new();
        }
        if let [create, table, rest @ ..] = words.as_slice() {
            if create == "CREATE" && table == "TABLE" && rest.first().is_some_and(|w| w != "IF") {
                if let Some((name, [open, ..])) = table_name(rest) {
                    if open == "(" {
                        made.push(name);
                    }
                }
            }
        }
    }
    made
}

/// `true` for `DROP TABLE [IF EXISTS] [schema .] name` and nothing more, of a table in `made_empty`. The
/// table is empty when the DOWN runs (the DOWN writes no row before it: its other statements are ones the
/// rows cannot change), so the drop removes no row another table could refer to, and the check after the
/// migration finds on the tables what it finds on the copy.
fn drops_one_of(sql: &str, made_empty: &[TableName]) -> bool {
    let Ok(words) = migrator_format::statement_words(sql) else {
        return false;
    };
    let rest = match words.as_slice() {
        [drop, table, if_, exists, rest @ ..]
            if drop == "DROP" && table == "TABLE" && if_ == "IF" && exists == "EXISTS" =>
        {
            rest
        }
        [drop, table, rest @ ..] if drop == "DROP" && table == "TABLE" => rest,
        _ => return false,
    };
    matches!(table_name(rest), Some((name, [])) if made_empty.contains(&name))
}

/// The table name at the start of `words` (`name` or `schema . name`) and the words after it.
fn table_name(words: &[String]) -> Option<(TableName, &[String])> {
    match words {
        [schema, dot, name, rest @ ..] if dot == "." => {
            Some(((schema.to_lowercase(), name.to_lowercase()), rest))
        }
        [name, rest @ ..] if name != "(" => Some((("main".to_string(), name.to_lowercase()), rest)),
        _ => None,
    }
}

/// After `ALTER TABLE`: `name [. name] RENAME ...`, `DROP [COLUMN] ...`, or an `ADD [COLUMN]` whose
/// definition the rows cannot refuse.
fn alter_ignores_rows(rest: &[String]) -> bool {
    let action = match rest {
        [_, dot, _, action @ ..] if dot == "." => action,
        [_, action @ ..] => action,
        [] => return false,
    };
    match action.first().map(String::as_str) {
        Some("RENAME" | "DROP") => true,
        Some("ADD") => added_column_ignores_rows(&action[1..]),
        _ => false,
    }
}

/// The definition of an added column (after `ADD`): none of the constraints SQLite checks against the
/// rows, and a `DEFAULT` that is a constant.
fn added_column_ignores_rows(definition: &[String]) -> bool {
    const CHECKED: [&str; 8] = [
        "NOT",
        "CHECK",
        "REFERENCES",
        "GENERATED",
        "AS",
        "PRIMARY",
        "UNIQUE",
        "CONSTRAINT",
    ];
    if definition.iter().any(|w| CHECKED.contains(&w.as_str())) {
        return false;
    }
    let Some(at) = definition.iter().position(|w| w == "DEFAULT") else {
        return true;
    };
    let value = &definition[at + 1..];
    let constant = |w: &str| {
        w == "'"
            || w == "NULL"
            || w == "TRUE"
            || w == "FALSE"
            || w.starts_with(|c: char| c.is_ascii_digit() || c == '.')
    };
    match value {
        [sign, number, rest @ ..] if sign == "-" || sign == "+" => {
            constant(number) && !rest.contains(&"(".to_string())
        }
        [first, rest @ ..] => constant(first) && !rest.iter().any(|w| w == "("),
        [] => false,
    }
}

/// After `CREATE INDEX`: `[IF NOT EXISTS] name [. name] ON table ( column [COLLATE c] [ASC|DESC], ... )`
/// and nothing after the list (no `WHERE`): no expression that a row's value could make fail.
fn index_on_plain_columns(rest: &[String]) -> bool {
    let Some(open) = rest.iter().position(|w| w == "(") else {
        return false;
    };
    let list = &rest[open + 1..];
    let Some(close) = list.iter().position(|w| w == ")") else {
        return false;
    };
    close + 1 == list.len() && !list[..close].iter().any(|w| w == "(" || w == "'")
}

#[cfg(test)]
mod tests {
    use super::{drops_one_of, rows_cannot_change_the_outcome, tables_made_empty_by};

    fn statements(sql: &[&str]) -> Vec<migrator_format::Statement> {
        sql.iter()
            .map(|s| migrator_format::Statement {
                sql: s.to_string().into(),
                line: 1,
            })
            .collect()
    }

    #[test]
    fn a_table_the_up_creates_may_be_dropped_on_the_copy() {
        let made = tables_made_empty_by(&statements(&[
            "ALTER TABLE contacts ADD COLUMN nickname TEXT",
            "CREATE TABLE contact_tags (contact_id INTEGER REFERENCES contacts(id), tag TEXT)",
            "CREATE TABLE \"Main\".\"Labels\" (name TEXT)",
            "CREATE TABLE IF NOT EXISTS notes (body TEXT)",
        ]));
        for sql in [
            "DROP TABLE contact_tags",
            "drop table if exists CONTACT_TAGS",
            "DROP TABLE main.contact_tags",
            "DROP TABLE labels",
        ] {
            assert!(drops_one_of(sql, &made), "{sql}");
        }
        for sql in [
            // Not made by the UP (`IF NOT EXISTS` may have met a full table), or not a plain drop.
            "DROP TABLE notes",
            "DROP TABLE contacts",
            "DROP TABLE other.contact_tags",
            "DROP VIEW contact_tags",
            "DROP TABLE contact_tags CASCADE",
        ] {
            assert!(!drops_one_of(sql, &made), "{sql}");
        }
        // A UP that renames: the name it created may now be another table's, rows and all.
        let renamed = tables_made_empty_by(&statements(&[
            "CREATE TABLE t (x INTEGER)",
            "ALTER TABLE t RENAME TO t_old",
            "ALTER TABLE big RENAME TO t",
        ]));
        assert!(!drops_one_of("DROP TABLE t", &renamed));
    }

    #[test]
    fn only_statements_the_rows_cannot_refuse_qualify() {
        for sql in [
            "ALTER TABLE contacts DROP COLUMN nickname",
            "alter table main.contacts drop nickname",
            "ALTER TABLE contacts RENAME COLUMN nick TO nickname",
            "ALTER TABLE contacts RENAME TO people",
            "ALTER TABLE contacts ADD COLUMN nickname TEXT",
            "ALTER TABLE contacts ADD nickname VARCHAR(40) DEFAULT 'none' COLLATE NOCASE",
            "ALTER TABLE contacts ADD COLUMN score REAL DEFAULT -1.5",
            "ALTER TABLE contacts ADD COLUMN archived BOOLEAN DEFAULT FALSE",
            "CREATE INDEX contacts_email ON contacts (email COLLATE NOCASE DESC, id)",
            "CREATE INDEX IF NOT EXISTS contacts_email ON contacts(email)",
            "DROP INDEX contacts_email",
            "DROP VIEW IF EXISTS v",
            "DROP TRIGGER t_touch",
            "CREATE VIEW v AS SELECT id FROM contacts",
            "CREATE TRIGGER t AFTER INSERT ON contacts BEGIN SELECT 1; END",
            "CREATE TABLE archive (id INTEGER PRIMARY KEY, body TEXT NOT NULL)",
        ] {
            assert!(rows_cannot_change_the_outcome(sql), "{sql}");
        }
        for sql in [
            "ALTER TABLE contacts ADD COLUMN n INTEGER NOT NULL DEFAULT 0",
            "ALTER TABLE contacts ADD COLUMN n INTEGER CHECK (n > 0)",
            "ALTER TABLE contacts ADD COLUMN org_id INTEGER REFERENCES orgs (id) DEFAULT 1",
            "ALTER TABLE contacts ADD COLUMN at TEXT DEFAULT CURRENT_TIMESTAMP",
            "ALTER TABLE contacts ADD COLUMN at TEXT DEFAULT (datetime('now'))",
            "ALTER TABLE contacts ADD COLUMN total INT GENERATED ALWAYS AS (a + b)",
            "CREATE UNIQUE INDEX contacts_email ON contacts (email)",
            "CREATE INDEX contacts_domain ON contacts (substr(email, instr(email, '@')))",
            "CREATE INDEX contacts_json ON contacts (json_extract(data, '$.x'))",
            "CREATE INDEX contacts_live ON contacts (email) WHERE deleted_at IS NULL",
            "CREATE TABLE copy AS SELECT * FROM contacts",
            "DROP TABLE contacts",
            "UPDATE contacts SET nickname = NULL",
            "INSERT INTO contacts (email) VALUES ('a')",
            "PRAGMA foreign_keys = ON",
        ] {
            assert!(!rows_cannot_change_the_outcome(sql), "{sql}");
        }
    }
}
