//! The spec's `require_review` rule: statements of the listed kinds (by default those of `Policy::SPEC`:
//! DROP TABLE, DROP COLUMN and ALTER TYPE) may only run when the migration file carries a review mark,
//! `-- Reviewed-by: name`, which is part of the file's checksum.

use migrator_format::statement_words;

use crate::Migration;

/// A statement that needs a review mark its file does not carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreviewed {
    /// Version.
    pub version: u64,
    /// File.
    pub file: String,
    /// Line of the statement.
    pub line: u32,
    /// The kind it falls under, as the policy names it.
    pub kind: String,
    /// The statement's first line.
    pub statement: String,
}

/// The UP statements of `migration` that fall under one of `kinds`, when the file has no review mark.
pub fn unreviewed(migration: &Migration, kinds: &[String]) -> Vec<Unreviewed> {
    if kinds.is_empty()
        || migration
            .header
            .reviewed_by
            .as_deref()
            .is_some_and(|r| !r.trim().is_empty())
    {
        return Vec::new();
    }
    let mut found = Vec::new();
    for statement in migration.up.iter() {
        let Ok(words) = statement_words(&statement.sql) else {
            continue;
        };
        if let Some(kind) = kinds.iter().find(|k| falls_under(&words, k)) {
            found.push(Unreviewed {
                version: migration.version,
                file: migration.file_name.to_string(),
                line: statement.line,
                kind: kind.clone(),
                statement: statement.sql.lines().next().unwrap_or("").to_string(),
            });
        }
    }
    found
}

/// Whether a statement's words fall under a policy kind such as `DROP TABLE` or `ALTER TYPE`.
fn falls_under(words: &[String], kind: &str) -> bool {
    let kind: Vec<String> = kind
        .split_whitespace()
        .map(str::to_ascii_uppercase)
        .collect();
    let starts_alter_table = words.len() > 1 && words[0] == "ALTER" && words[1] == "TABLE";
    match kind
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        // ALTER TABLE t DROP [COLUMN] c: PostgreSQL and SQLite accept the bare form.
        ["DROP", "COLUMN"] if starts_alter_table => words.windows(2).any(|w| {
            w[0] == "DROP"
                && !matches!(
                    w[1].as_str(),
                    "CONSTRAINT"
                        | "DEFAULT"
                        | "NOT"
                        | "IDENTITY"
                        | "EXPRESSION"
                        | "ROW"
                        | "TRIGGER"
                )
        }),
        // ALTER TYPE name ..., and ALTER TABLE t ALTER [COLUMN] c [SET DATA] TYPE x.
        ["ALTER", "TYPE"] => {
            let changes_type = |i: usize| {
                (i >= 2 && words[i - 2] == "ALTER")
                    || (i >= 3 && words[i - 3] == "ALTER" && words[i - 2] == "COLUMN")
                    || (i >= 2 && words[i - 2] == "SET" && words[i - 1] == "DATA")
            };
            (words.len() > 1 && words[0] == "ALTER" && words[1] == "TYPE")
                || (starts_alter_table
                    && (2..words.len()).any(|i| words[i] == "TYPE" && changes_type(i)))
        }
        kind => words
            .windows(kind.len())
            .any(|w| w.iter().zip(kind).all(|(a, b)| a == b)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds_of(sql: &str) -> Vec<&'static str> {
        let words = statement_words(sql).unwrap();
        ["DROP TABLE", "DROP COLUMN", "ALTER TYPE", "TRUNCATE"]
            .into_iter()
            .filter(|k| falls_under(&words, k))
            .collect()
    }

    #[test]
    fn recognises_the_reviewed_kinds_and_their_safe_neighbours() {
        assert_eq!(
            kinds_of("DROP TABLE IF EXISTS users CASCADE"),
            ["DROP TABLE"]
        );
        assert_eq!(
            kinds_of("ALTER TABLE contacts DROP COLUMN IF EXISTS score"),
            ["DROP COLUMN"]
        );
        assert_eq!(kinds_of("alter table contacts drop score"), ["DROP COLUMN"]);
        assert_eq!(
            kinds_of("ALTER TABLE contacts ALTER COLUMN score TYPE numeric(5,2)"),
            ["ALTER TYPE"]
        );
        assert_eq!(
            kinds_of("ALTER TABLE c ALTER score SET DATA TYPE bigint"),
            ["ALTER TYPE"]
        );
        assert_eq!(kinds_of("ALTER TYPE mood ADD VALUE 'meh'"), ["ALTER TYPE"]);
        assert_eq!(kinds_of("TRUNCATE audit"), ["TRUNCATE"]);
        for safe in [
            "ALTER TABLE contacts DROP CONSTRAINT chk",
            "ALTER TABLE contacts ALTER COLUMN x DROP NOT NULL",
            "ALTER TABLE contacts ALTER COLUMN x DROP DEFAULT",
            "ALTER TABLE contacts ADD COLUMN type TEXT",
            "DROP INDEX idx",
            "CREATE TABLE drop_table_log (kind TEXT DEFAULT 'DROP TABLE')",
            "-- DROP TABLE users\nSELECT 1",
        ] {
            assert!(kinds_of(safe).is_empty(), "{safe}: {:?}", kinds_of(safe));
        }
    }
}
