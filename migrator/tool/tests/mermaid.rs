//! The ER diagrams are accepted by Mermaid's own parser and render: Mermaid's CLI (`mmdc`, installed into
//! `target/mermaid-cli` by `scripts/mermaid-cli.sh`, which `.ci/run` calls) with Debian's chromium turns
//! `er.md` into one SVG per diagram, and each SVG holds one entity node per table the diagram declares.
//!
//! Without mmdc or chromium the tests print `SKIPPED` and pass, except with `CI=true`, where they fail.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use migrator_tests::Workspace;

fn tools() -> Option<(PathBuf, PathBuf)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mmdc = std::env::var_os("MERMAID_CLI")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target/mermaid-cli/node_modules/.bin/mmdc"));
    let chromium = std::env::var_os("PUPPETEER_EXECUTABLE_PATH")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    if mmdc.exists() && chromium.exists() {
        return Some((mmdc, chromium));
    }
    let why = format!(
        "Mermaid's CLI ({}) or chromium ({}) not installed; run scripts/mermaid-cli.sh and apt-get install chromium",
        mmdc.display(),
        chromium.display()
    );
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{why}");
    }
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "\n*** SKIPPED: {why} ***\n");
    None
}

/// The entity ids each ```mermaid block of `markdown` declares (`name {`, `name`, `id["label"]`).
fn declared(markdown: &str) -> Vec<BTreeSet<String>> {
    let mut out = Vec::new();
    let mut current: Option<BTreeSet<String>> = None;
    for line in markdown.lines() {
        match (line, &mut current) {
            ("```mermaid", _) => current = Some(BTreeSet::new()),
            ("```", Some(_)) => out.extend(current.take()),
            (l, Some(set)) if l.starts_with("    ") && !l.starts_with("     ") => {
                let l = l.trim();
                if l == "}" || l.contains("--") || l.contains("..") {
                    continue;
                }
                let id = l.split(['{', '[', ' ']).next().unwrap_or(l);
                set.insert(id.to_string());
            }
            _ => {}
        }
    }
    out
}

/// The entity nodes of an SVG Mermaid drew: `<g class="node default" id="...-entity-<id>-<n>"`.
fn drawn(svg: &str) -> BTreeSet<String> {
    svg.split("<g class=\"node default\"")
        .skip(1)
        .filter_map(|g| {
            let id = g.split("id=\"").nth(1)?.split('"').next()?;
            let (_, rest) = id.split_once("entity-")?;
            let (name, n) = rest.rsplit_once('-')?;
            n.bytes()
                .all(|b| b.is_ascii_digit())
                .then(|| name.to_string())
        })
        .collect()
}

/// Renders every diagram of `er` (an er.md) and checks each SVG against its declarations.
fn renders(er: &Path, work: &Path, mmdc: &Path, chromium: &Path) -> usize {
    let config = work.join("puppeteer.json");
    std::fs::write(
        &config,
        format!(
            r#"{{"executablePath": "{}", "args": ["--no-sandbox", "--disable-gpu"]}}"#,
            chromium.display()
        ),
    )
    .unwrap();
    let out = work.join("rendered.md");
    let run = Command::new(mmdc)
        .arg("--puppeteerConfigFile")
        .arg(&config)
        .arg("--input")
        .arg(er)
        .arg("--output")
        .arg(&out)
        .arg("--quiet")
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "mmdc refused {}:\n{}{}",
        er.display(),
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    let expected = declared(&std::fs::read_to_string(er).unwrap());
    assert!(!expected.is_empty());
    for (i, entities) in expected.iter().enumerate() {
        let svg = std::fs::read_to_string(work.join(format!("rendered-{}.svg", i + 1)))
            .unwrap_or_else(|e| panic!("diagram {} was not rendered: {e}", i + 1));
        assert_eq!(
            &drawn(&svg),
            entities,
            "diagram {} of {}",
            i + 1,
            er.display()
        );
    }
    expected.len()
}

fn generate(dir: &Path, out: &Path) {
    let run = Command::new(env!("CARGO_BIN_EXE_migrator-tool"))
        .args([
            "docs",
            "--dir",
            dir.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
}

#[test]
fn the_example_apps_diagram_parses_and_draws_every_table() {
    let Some((mmdc, chromium)) = tools() else {
        return;
    };
    let ws = Workspace::new();
    let out = ws.path().join("schema");
    generate(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations"),
        &out,
    );
    let er = out.join("er.md");
    assert_eq!(renders(&er, ws.path(), &mmdc, &chromium), 1);
    let tables = declared(&std::fs::read_to_string(&er).unwrap()).remove(0);
    assert_eq!(
        tables.into_iter().collect::<Vec<_>>(),
        [
            "activities",
            "contact_enrichment",
            "contacts",
            "user_preferences",
            "users"
        ]
    );
}

/// 34 tables in four modules (blog, shop, crm and loose ones), keys across modules, a self-reference, a
/// composite key, a quoted name with a space and a table in another word of the alphabet.
fn large_schema(ws: &Workspace) {
    let mut sql = String::new();
    for module in ["blog", "shop", "crm"] {
        sql.push_str(&format!(
            "CREATE TABLE {module}_owner (id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE, parent_id INTEGER REFERENCES {module}_owner(id));\n"
        ));
        for i in 0..9 {
            sql.push_str(&format!(
                "CREATE TABLE {module}_item_{i} (id INTEGER PRIMARY KEY, owner_id INTEGER NOT NULL REFERENCES {module}_owner(id), \
                 amount NUMERIC(10,2), label VARCHAR(40), crm_ref INTEGER REFERENCES crm_owner(id));\n"
            ));
        }
    }
    sql.push_str(
        "CREATE TABLE \"Audit Log\" (id INTEGER PRIMARY KEY, at TIMESTAMP NOT NULL, who INTEGER REFERENCES crm_owner(id));
         CREATE TABLE tag (name TEXT PRIMARY KEY);
         CREATE TABLE shop_item_tag (item_id INTEGER NOT NULL REFERENCES shop_item_0(id), tag TEXT NOT NULL REFERENCES tag(name), PRIMARY KEY (item_id, tag));
         CREATE TABLE settings (key TEXT PRIMARY KEY, value BLOB);",
    );
    ws.add(20240101000000, Some(1), "large", &sql, None);
}

#[test]
fn a_large_schema_has_a_diagram_per_module_and_all_parse() {
    let Some((mmdc, chromium)) = tools() else {
        return;
    };
    let ws = Workspace::new();
    large_schema(&ws);
    let out = ws.path().join("schema");
    generate(&ws.migrations(), &out);
    let er = out.join("er.md");
    let text = std::fs::read_to_string(&er).unwrap();
    let headings: Vec<&str> = text.lines().filter(|l| l.starts_with("## ")).collect();
    assert_eq!(
        headings,
        ["## All tables", "## blog", "## crm", "## other", "## shop"]
    );
    let diagrams = declared(&text);
    assert_eq!(diagrams[0].len(), 34, "the whole schema");
    assert!(diagrams[0].iter().any(|e| e.starts_with("e_Audit_Log_")));
    assert_eq!(renders(&er, ws.path(), &mmdc, &chromium), 5);
}
