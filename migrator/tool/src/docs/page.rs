//! The Markdown pages: one per table (columns, indexes, foreign keys both ways, checks, triggers, the views
//! that use it, and the lineage of each column and index), and the index page.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::lineage::{Event, Lineage};
use crate::output::Links;
use crate::schema::{FkAction, Schema, Table};

/// Page file names by table key.
pub type PageNames = BTreeMap<String, String>;

/// A table cell: no line breaks, no `|`, code in backticks that cannot be closed early.
fn cell(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
}

fn code(text: &str) -> String {
    let t = cell(text);
    if t.contains('`') {
        format!("`` {t} ``")
    } else {
        format!("`{t}`")
    }
}

/// `[20240115143022](../../migrations/file) (#234)`.
fn origin(event: &Event, links: &Links) -> String {
    let version = event.origin.version.to_string();
    let migration = match &links.migrations {
        Some(dir) if dir.is_empty() => format!("[{version}]({})", event.origin.file),
        Some(dir) => format!("[{version}]({dir}/{})", event.origin.file),
        None => version,
    };
    match event.origin.issue {
        Some(issue) => format!("{migration} ({})", links.issue(issue)),
        None => migration,
    }
}

/// `added by X; type TEXT → INTEGER by Y`.
fn history(events: &[Event], links: &Links) -> String {
    events
        .iter()
        .map(|e| format!("{} by {}", e.what, origin(e, links)))
        .collect::<Vec<_>>()
        .join("; ")
}

fn table_link(key: &str, schema: &Schema, pages: &PageNames) -> String {
    let name = schema.tables.get(key).map_or(key, |t| t.name.as_str());
    match pages.get(key) {
        Some(page) => format!("[{}]({page})", code(name)),
        None => code(name),
    }
}

fn action(a: FkAction) -> &'static str {
    match a {
        FkAction::NoAction => "",
        other => other.sql(),
    }
}

/// The page of `table`.
pub fn table_page(
    schema: &Schema,
    table: &Table,
    lineage: &Lineage,
    links: &Links,
    pages: &PageNames,
) -> String {
    let mut out = format!("# Table {}\n\n", code(&table.name));
    out.push_str("[All tables](README.md) · [ER diagram](er.md)\n\n");
    let created = lineage.of_table(&table.name);
    if !created.is_empty() {
        let _ = writeln!(out, "History: {}.\n", history(created, links));
    }
    columns(&mut out, table, lineage, links);
    indexes(&mut out, table, lineage, links);
    foreign_keys(&mut out, schema, table, pages);
    if !table.checks.is_empty() || !table.uniques.is_empty() {
        out.push_str("\n## Constraints\n\n| constraint | kind | definition |\n|---|---|---|\n");
        for u in &table.uniques {
            let _ = writeln!(
                out,
                "| {} | UNIQUE | ({}) |",
                u.name.as_deref().map(code).unwrap_or_default(),
                cell(&u.columns.join(", "))
            );
        }
        for c in &table.checks {
            let _ = writeln!(
                out,
                "| {} | CHECK{} | {} |",
                c.name.as_deref().map(code).unwrap_or_default(),
                if c.not_valid { " (NOT VALID)" } else { "" },
                code(&c.expr)
            );
        }
    }
    if !table.triggers.is_empty() {
        out.push_str("\n## Triggers\n");
        for t in &table.triggers {
            let _ = write!(
                out,
                "\n### {}\n\n```sql\n{}\n```\n",
                code(&t.name),
                t.sql.trim()
            );
        }
    }
    let views = schema.views_on(&table.name);
    if !views.is_empty() {
        out.push_str("\n## Views that use it\n\n");
        for v in views {
            let kind = if v.materialized {
                "materialized view"
            } else {
                "view"
            };
            let _ = writeln!(out, "- {kind} {}", code(&v.name));
        }
    }
    out
}

fn columns(out: &mut String, table: &Table, lineage: &Lineage, links: &Links) {
    out.push_str("## Columns\n\n| column | type | null | default | key | lineage |\n|---|---|---|---|---|---|\n");
    let pk = table.primary_key_columns();
    for c in &table.columns {
        let mut keys = Vec::new();
        if pk.contains(&c.name) {
            keys.push("PK".to_string());
        }
        for fk in table
            .foreign_keys
            .iter()
            .filter(|fk| fk.columns.contains(&c.name))
        {
            keys.push(format!("FK → {}", fk.ref_table));
        }
        if table.uniques.iter().any(|u| u.columns == [c.name.clone()]) {
            keys.push("UNIQUE".to_string());
        }
        let mut default = c.default.as_deref().map(code).unwrap_or_default();
        if let Some(g) = &c.generated {
            default = format!(
                "generated {}{}",
                code(&g.expr),
                if g.stored { " stored" } else { "" }
            );
        }
        if let Some(i) = &c.identity {
            default = format!("identity ({})", cell(i));
        }
        let _ = writeln!(
            out,
            "| {} | {} | {} | {default} | {} | {} |",
            code(&c.name),
            if c.data_type.is_empty() {
                String::new()
            } else {
                code(&c.data_type)
            },
            if c.not_null || pk.contains(&c.name) {
                "not null"
            } else {
                "null"
            },
            cell(&keys.join(", ")),
            history(lineage.of_column(&table.name, &c.name), links)
        );
    }
}

fn indexes(out: &mut String, table: &Table, lineage: &Lineage, links: &Links) {
    let mut rows = Vec::new();
    if let Some(pk) = &table.primary_key {
        rows.push(format!(
            "| {} | ({}) | primary key | | |",
            pk.name.as_deref().map(code).unwrap_or_default(),
            cell(&pk.columns.join(", "))
        ));
    }
    for i in &table.indexes {
        let keys: Vec<String> = i
            .keys
            .iter()
            .map(|k| format!("{}{}", k.expr, if k.desc { " DESC" } else { "" }))
            .collect();
        let mut kind = if i.unique { "unique" } else { "" }.to_string();
        if let Some(m) = &i.method {
            kind = format!("{kind} {m}").trim().to_string();
        }
        rows.push(format!(
            "| {} | ({}) | {kind} | {} | {} |",
            code(&i.name),
            cell(&keys.join(", ")),
            i.predicate.as_deref().map(code).unwrap_or_default(),
            history(lineage.of_index(&table.name, &i.name), links)
        ));
    }
    if rows.is_empty() {
        return;
    }
    out.push_str(
        "\n## Indexes\n\n| index | keys | kind | where | lineage |\n|---|---|---|---|---|\n",
    );
    for r in rows {
        out.push_str(&r);
        out.push('\n');
    }
}

fn foreign_keys(out: &mut String, schema: &Schema, table: &Table, pages: &PageNames) {
    if !table.foreign_keys.is_empty() {
        out.push_str("\n## References\n\n| columns | references | on delete | on update | constraint |\n|---|---|---|---|---|\n");
        for fk in &table.foreign_keys {
            let _ = writeln!(
                out,
                "| ({}) | {} ({}) | {} | {} | {}{} |",
                cell(&fk.columns.join(", ")),
                table_link(&fk.ref_table, schema, pages),
                cell(&fk.ref_columns.join(", ")),
                action(fk.on_delete),
                action(fk.on_update),
                fk.name.as_deref().map(code).unwrap_or_default(),
                if fk.not_valid { " (NOT VALID)" } else { "" }
            );
        }
    }
    let incoming = schema.referencing(&table.name);
    if !incoming.is_empty() {
        out.push_str("\n## Referenced by\n\n| table | columns | references | on delete |\n|---|---|---|---|\n");
        for (t, fk) in incoming {
            let _ = writeln!(
                out,
                "| {} | ({}) | ({}) | {} |",
                table_link(&t.name, schema, pages),
                cell(&fk.columns.join(", ")),
                cell(&fk.ref_columns.join(", ")),
                action(fk.on_delete)
            );
        }
    }
}

/// The index page: every table with its size and origin, the views, and the diagrams.
pub fn index_page(
    schema: &Schema,
    lineage: &Lineage,
    links: &Links,
    pages: &PageNames,
    source: &str,
) -> String {
    let mut out = String::from("# Schema\n\n");
    let _ = writeln!(
        out,
        "The schema the migrations of `{source}` build, read from a database they were replayed on. \
         Written by `migrator-tool docs`: edit the migrations, not these pages. \
         [ER diagram](er.md).\n"
    );
    out.push_str(
        "| table | columns | references | referenced by | created by |\n|---|---|---|---|---|\n",
    );
    for (key, t) in &schema.tables {
        let created = lineage
            .of_table(key)
            .iter()
            .rev()
            .find(|e| e.what == "created")
            .map(|e| origin(e, links))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {created} |",
            table_link(key, schema, pages),
            t.columns.len(),
            t.foreign_keys.len(),
            schema.referencing(key).len()
        );
    }
    if !schema.views.is_empty() {
        out.push_str("\n## Views\n\n");
        for v in schema.views.values() {
            let _ = writeln!(
                out,
                "- {} on {}",
                code(&v.name),
                v.tables
                    .iter()
                    .map(|t| table_link(t, schema, pages))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    out
}
