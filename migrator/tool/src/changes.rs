//! What a migration changes, in words, from the offline analysis (`migrator-analyse`): tables and columns
//! added, dropped, renamed and altered, indexes, constraints, foreign keys, triggers, views, data changes,
//! and which of them break clients. The changelog and the issue comment both print these lines.

use std::collections::BTreeMap;

use migrator_analyse::{Action, Analysis, ObjectChange, ObjectKind, Section, Severity};

/// One change, as a line of Markdown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The sentence (identifiers in backticks).
    pub text: String,
    /// Existing clients may break: a table or column dropped or renamed, a type changed, NOT NULL set.
    pub breaking: bool,
}

/// A safety finding worth telling the reader (unsuppressed warnings and errors).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// The finding's id.
    pub id: &'static str,
    /// Its severity.
    pub severity: Severity,
    /// Its message.
    pub message: String,
}

/// The changes of one migration's UP and its findings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// What the UP changes, in statement order (a new table's columns, indexes and keys folded into it).
    pub changes: Vec<Change>,
    /// Unsuppressed warnings and errors of the analysis (UP and DOWN).
    pub warnings: Vec<Warning>,
}

/// A new table and what the same UP adds to it.
#[derive(Default)]
struct NewTable {
    columns: usize,
    indexes: usize,
    keys: Vec<String>,
    checks: usize,
    triggers: usize,
}

fn code(name: &str) -> String {
    format!("`{name}`")
}

/// The column part of `table.column`.
fn column_of(name: &str) -> &str {
    name.rsplit_once('.').map_or(name, |(_, c)| c)
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Summarises the UP section of `analysis`.
pub fn summarise(analysis: &Analysis) -> Summary {
    let objects: Vec<&ObjectChange> = analysis
        .statements
        .iter()
        .filter(|s| s.section == Section::Up)
        .flat_map(|s| &s.objects)
        .collect();
    let mut new_tables: BTreeMap<&str, NewTable> = BTreeMap::new();
    for o in &objects {
        if o.action == Action::Create && o.object == ObjectKind::Table {
            new_tables.insert(o.name.as_str(), NewTable::default());
        }
    }
    // Folded into their new table's line: its columns, indexes, keys and triggers.
    let mut rest = Vec::new();
    for o in objects {
        let owner = o.table.as_deref().and_then(|t| new_tables.get_mut(t));
        match (o.action, o.object, owner) {
            (Action::Create, ObjectKind::Column, Some(t)) => t.columns += 1,
            (Action::Create, ObjectKind::Index, Some(t)) => t.indexes += 1,
            (Action::Create, ObjectKind::Trigger, Some(t)) => t.triggers += 1,
            (Action::Create, ObjectKind::Constraint, Some(t)) => t.checks += 1,
            (Action::Create, ObjectKind::ForeignKey, Some(t)) => {
                t.keys.push(o.detail.clone().unwrap_or_default())
            }
            _ => rest.push(o),
        }
    }
    let mut changes = Vec::new();
    let mut added_columns: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut order: Vec<Option<String>> = Vec::new();
    for o in rest {
        if let (Action::Create, ObjectKind::Column, Some(table)) = (o.action, o.object, &o.table) {
            let column = match &o.detail {
                Some(t) => format!("{} {t}", code(column_of(&o.name))),
                None => code(column_of(&o.name)),
            };
            if !added_columns.contains_key(table) {
                order.push(Some(table.clone()));
            }
            added_columns.entry(table.clone()).or_default().push(column);
            continue;
        }
        if let Some(change) = describe(o, &new_tables) {
            order.push(None);
            changes.push(change);
        }
    }
    // Added columns are one line per table, where the table's first column appeared.
    let mut out = Vec::new();
    let mut plain = changes.into_iter();
    for slot in order {
        match slot {
            Some(table) => {
                let columns = added_columns.remove(&table).unwrap_or_default();
                out.push(Change {
                    text: format!(
                        "{}: added {} {}",
                        code(&table),
                        if columns.len() == 1 {
                            "column"
                        } else {
                            "columns"
                        },
                        columns.join(", ")
                    ),
                    breaking: false,
                });
            }
            None => out.extend(plain.next()),
        }
    }
    let warnings = analysis
        .findings
        .iter()
        .filter(|f| f.suppressed.is_none() && f.severity >= Severity::Warning)
        .map(|f| Warning {
            id: f.id,
            severity: f.severity,
            message: f.message.clone(),
        })
        .collect();
    Summary {
        changes: out,
        warnings,
    }
}

/// One object change in words; `None` for what says nothing to a reader (a new table's own parts, the
/// history table's bookkeeping).
fn describe(o: &ObjectChange, new_tables: &BTreeMap<&str, NewTable>) -> Option<Change> {
    if o.name.starts_with("schema_migrations") {
        return None;
    }
    let on = |t: &Option<String>| t.as_deref().map(|t| format!(" on {}", code(t)));
    let detail = o.detail.as_deref().unwrap_or("");
    let (text, breaking) = match (o.action, o.object) {
        (Action::Create, ObjectKind::Table) => {
            let t = new_tables.get(o.name.as_str())?;
            let mut parts = vec![plural(t.columns, "column", "columns")];
            if t.checks > 0 {
                parts.push(plural(t.checks, "constraint", "constraints"));
            }
            if t.indexes > 0 {
                parts.push(plural(t.indexes, "index", "indexes"));
            }
            if t.triggers > 0 {
                parts.push(plural(t.triggers, "trigger", "triggers"));
            }
            let mut text = format!("new table {} ({})", code(&o.name), parts.join(", "));
            if !t.keys.is_empty() {
                text.push_str(&format!("; {}", t.keys.join(", ")));
            }
            (text, false)
        }
        (Action::Drop, ObjectKind::Table) => (format!("dropped table {}", code(&o.name)), true),
        (Action::Rename, ObjectKind::Table) => (
            format!("renamed table {} {}", code(&o.name), rename_target(detail)),
            true,
        ),
        (Action::Drop, ObjectKind::Column) => (format!("dropped column {}", code(&o.name)), true),
        (Action::Rename, ObjectKind::Column) => (
            format!("renamed column {} {}", code(&o.name), rename_target(detail)),
            true,
        ),
        (Action::Alter, ObjectKind::Column) => {
            let breaking = detail.starts_with("type ") || detail == "set not null";
            (format!("column {}: {detail}", code(&o.name)), breaking)
        }
        (Action::Create, ObjectKind::Index) => (
            format!(
                "new index {}{}{}",
                code(&o.name),
                on(&o.table).unwrap_or_default(),
                if detail.is_empty() {
                    String::new()
                } else {
                    format!(" {detail}")
                }
            ),
            false,
        ),
        (Action::Create, ObjectKind::ForeignKey) => {
            (format!("foreign key {}: {detail}", code(&o.name)), false)
        }
        (Action::Create, ObjectKind::Constraint) => (
            format!(
                "constraint {}{}{}",
                code(&o.name),
                on(&o.table).unwrap_or_default(),
                if detail.is_empty() {
                    String::new()
                } else {
                    format!(": {detail}")
                }
            ),
            false,
        ),
        (_, ObjectKind::Rows) => {
            let verb = match detail {
                "insert" => "INSERT into",
                "delete" => "DELETE from",
                _ => "UPDATE of",
            };
            (format!("data: {verb} {}", code(&o.name)), false)
        }
        (action, kind) => {
            let verb = match action {
                Action::Create => "new",
                Action::Alter => "changed",
                Action::Rename => "renamed",
                Action::Drop => "dropped",
            };
            let mut text = format!("{verb} {} {}", kind_name(kind), code(&o.name));
            if let Some(t) = on(&o.table) {
                text.push_str(&t);
            }
            if !detail.is_empty() {
                text.push_str(&format!(" ({detail})"));
            }
            (text, false)
        }
    };
    Some(Change { text, breaking })
}

fn rename_target(detail: &str) -> String {
    match detail.strip_prefix("to ") {
        Some(to) => format!("to {}", code(to)),
        None => detail.to_string(),
    }
}

/// The kind's name as the analyser's JSON spells it (`foreign-key`), with spaces.
fn kind_name(kind: ObjectKind) -> String {
    serde_json::to_value(kind)
        .ok()
        .and_then(|v| v.as_str().map(|s| s.replace('-', " ")))
        .unwrap_or_else(|| "object".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use migrator_analyse::{Dialect, Options};

    fn summary(up: &str, dialect: Dialect) -> Summary {
        let text = format!(
            "-- Issue #9: t\n-- ============ UP MIGRATION ============\n{up}\n-- ============ DOWN MIGRATION ============\nSELECT 1;\n"
        );
        let m = migrator_format::parse_file("20240101000000_issue_9_t.sql", &text).unwrap();
        summarise(&migrator_analyse::analyse(&m, Options::new(dialect)))
    }

    fn lines(s: &Summary) -> Vec<String> {
        s.changes
            .iter()
            .map(|c| format!("{}{}", if c.breaking { "! " } else { "" }, c.text))
            .collect()
    }

    #[test]
    fn new_tables_fold_their_parts() {
        let s = summary(
            "CREATE TABLE a (id INTEGER PRIMARY KEY, b_id INTEGER REFERENCES b(id), name TEXT);
             CREATE INDEX a_name ON a (name);
             ALTER TABLE b ADD COLUMN note TEXT;
             ALTER TABLE b ADD COLUMN score INTEGER;
             CREATE INDEX b_note ON b (note);",
            Dialect::Sqlite,
        );
        assert_eq!(
            lines(&s),
            [
                "new table `a` (3 columns, 1 index); references b(id)",
                "`b`: added columns `note` text, `score` integer",
                "new index `b_note` on `b` (note)",
            ]
        );
    }

    #[test]
    fn breaking_changes_are_marked() {
        let s = summary(
            "ALTER TABLE users DROP COLUMN phone;
             ALTER TABLE users RENAME COLUMN name TO full_name;
             ALTER TABLE users ALTER COLUMN email TYPE citext;
             ALTER TABLE users ALTER COLUMN email SET NOT NULL;
             ALTER TABLE users ALTER COLUMN email SET DEFAULT 'x';
             ALTER TABLE old_things RENAME TO things;
             DROP TABLE legacy;
             UPDATE users SET email = lower(email) WHERE email IS NOT NULL;",
            Dialect::Postgres,
        );
        assert_eq!(
            lines(&s),
            [
                "! dropped column `users.phone`",
                "! renamed column `users.name` to `full_name`",
                "! column `users.email`: type citext",
                "! column `users.email`: set not null",
                "column `users.email`: set default",
                "! renamed table `old_things` to `things`",
                "! dropped table `legacy`",
                "data: UPDATE of `users`",
            ]
        );
        assert!(s.warnings.iter().any(|w| w.severity >= Severity::Warning));
    }
}
