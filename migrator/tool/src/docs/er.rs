//! The Mermaid `erDiagram` of a schema: one entity per table (columns with type, PK/FK/UK and
//! nullability), one relationship per foreign key with its cardinality: the referenced side is "exactly
//! one" when the key's columns are NOT NULL and "zero or one" otherwise; the referencing side is "zero or
//! one" when the key's columns are unique in their table and "zero or many" otherwise; the line is solid
//! (identifying) when the key is part of the referencing table's primary key.
//!
//! Mermaid's grammar is narrow (entity and attribute names are words, types a word with parentheses): names
//! outside it get a word id and the real name as the entity's label; types keep letters, digits, `_`,
//! `(`, `)` and `-`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use crate::schema::{ForeignKey, Schema, Table};

/// Whether entities list their columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    /// Every column.
    Columns,
    /// Names only (a whole large schema stays readable).
    Names,
}

fn is_word(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// A word for `name`: itself when it is one, else its letters and digits plus a short hash.
fn word(name: &str) -> String {
    if is_word(name) {
        return name.to_string();
    }
    let slug: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let hash = migrator_format::checksum_hex(name);
    format!("e_{}_{}", slug.trim_matches('_'), &hash[..6])
}

/// The entity reference: its id, with the real name as label when they differ.
fn entity(name: &str) -> String {
    let id = word(name);
    if id == name {
        id
    } else {
        format!("{id}[\"{}\"]", name.replace('"', "'"))
    }
}

fn mermaid_type(data_type: &str) -> String {
    let t: String = data_type
        .chars()
        .map(|c| match c {
            ' ' => '_',
            ',' => '-',
            c if c.is_ascii_alphanumeric() || "_()-[]".contains(c) => c,
            _ => '_',
        })
        .collect();
    match t.chars().next() {
        None => "ANY".to_string(),
        Some(c) if c.is_ascii_alphabetic() || c == '_' => t,
        Some(_) => format!("T_{t}"),
    }
}

fn is_fk_column(table: &Table, column: &str) -> bool {
    table
        .foreign_keys
        .iter()
        .any(|fk| fk.columns.iter().any(|c| c == column))
}

fn is_unique_column(table: &Table, column: &str) -> bool {
    table.is_unique_key(&[column.to_string()])
}

fn entity_block(out: &mut String, table: &Table, detail: Detail) {
    if detail == Detail::Names || table.columns.is_empty() {
        let _ = writeln!(out, "    {}", entity(&table.name));
        return;
    }
    let _ = writeln!(out, "    {} {{", entity(&table.name));
    let pk = table.primary_key_columns();
    for c in &table.columns {
        let mut keys = Vec::new();
        if pk.contains(&c.name) {
            keys.push("PK");
        }
        if is_fk_column(table, &c.name) {
            keys.push("FK");
        }
        if !pk.contains(&c.name) && is_unique_column(table, &c.name) {
            keys.push("UK");
        }
        let keys = if keys.is_empty() {
            String::new()
        } else {
            format!(" {}", keys.join(", "))
        };
        let null = if c.not_null || pk.contains(&c.name) {
            "not null"
        } else {
            "null"
        };
        let _ = writeln!(
            out,
            "        {} {}{keys} \"{null}\"",
            mermaid_type(&c.data_type),
            word(&c.name)
        );
    }
    out.push_str("    }\n");
}

/// The relationship line of `fk` of `child`.
fn relationship(schema: &Schema, child: &Table, fk: &ForeignKey) -> String {
    let required = fk
        .columns
        .iter()
        .all(|c| child.column(c).is_some_and(|col| col.not_null));
    let parent_side = if required { "||" } else { "|o" };
    let child_side = if child.is_unique_key(&fk.columns) {
        "o|"
    } else {
        "o{"
    };
    let identifying = fk
        .columns
        .iter()
        .all(|c| child.primary_key_columns().contains(c));
    let line = if identifying { "--" } else { ".." };
    let parent = schema
        .tables
        .get(&fk.ref_table)
        .map_or(fk.ref_table.as_str(), |t| t.name.as_str());
    format!(
        "    {} {parent_side}{line}{child_side} {} : \"{}\"\n",
        word(parent),
        word(&child.name),
        fk.columns.join(", ").replace('"', "'")
    )
}

/// The diagram of `tables` (keys of `schema`), with the relationships among them; tables they reference
/// outside the set are drawn as bare entities so every relationship shows.
pub fn diagram(schema: &Schema, tables: &BTreeSet<String>, detail: Detail) -> String {
    let mut out = String::from("erDiagram\n");
    let mut outside = BTreeSet::new();
    let mut lines = Vec::new();
    for key in tables {
        let Some(t) = schema.tables.get(key) else {
            continue;
        };
        for fk in &t.foreign_keys {
            if !tables.contains(&fk.ref_table) {
                outside.insert(fk.ref_table.clone());
            }
            lines.push(relationship(schema, t, fk));
        }
    }
    for key in tables {
        if let Some(t) = schema.tables.get(key) {
            entity_block(&mut out, t, detail);
        }
    }
    for key in &outside {
        let name = schema
            .tables
            .get(key)
            .map_or(key.as_str(), |t| t.name.as_str());
        let _ = writeln!(out, "    {}", entity(name));
    }
    for l in lines {
        out.push_str(&l);
    }
    out
}

/// The module a table belongs to in a large schema: its schema when it has one (`audit.events`), else the
/// first word of its name (`comment_like` → `comment`).
pub fn module_of(table: &str) -> String {
    if let Some((schema, _)) = table.split_once('.') {
        return schema.to_string();
    }
    table.split('_').next().unwrap_or(table).to_string()
}

/// The tables grouped by [`module_of`]; modules of one table are gathered under `other`.
pub fn modules(schema: &Schema) -> BTreeMap<String, BTreeSet<String>> {
    let mut groups: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for key in schema.tables.keys() {
        groups
            .entry(module_of(key))
            .or_default()
            .insert(key.clone());
    }
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, tables) in groups {
        let module = if tables.len() == 1 {
            "other".to_string()
        } else {
            module
        };
        out.entry(module).or_default().extend(tables);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_types_and_modules() {
        assert_eq!(word("contacts"), "contacts");
        assert!(word("audit.events").starts_with("e_audit_events_"));
        assert!(entity("audit.events").ends_with("[\"audit.events\"]"));
        assert_eq!(
            mermaid_type("CHARACTER VARYING(20)"),
            "CHARACTER_VARYING(20)"
        );
        assert_eq!(mermaid_type("NUMERIC(3,2)"), "NUMERIC(3-2)");
        assert_eq!(mermaid_type(""), "ANY");
        assert_eq!(mermaid_type("\"char\""), "_char_");
        assert_eq!(module_of("comment_like"), "comment");
        assert_eq!(module_of("audit.events"), "audit");
    }
}
