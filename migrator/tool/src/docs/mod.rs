//! Schema docs from the real schema: the migrations of a directory are replayed one at a time on a scratch
//! database of the chosen engine (SQLite in memory, or a scratch database on a PostgreSQL server), the
//! schema is read after each ([`crate::schema`]), and the pages are written: one per table, an index
//! (`README.md`) and `er.md` with a Mermaid `erDiagram`.
//!
//! Data flows one way: replay → [`lineage::Lineage`] (diffs of consecutive schemas) and the final
//! [`Schema`] → pages ([`page`], [`er`]) → files, written or checked ([`crate::output`]). The output
//! depends only on the migration files and the engine: no timestamps, everything sorted, so `--check`
//! can tell stale docs in CI.
//!
//! From a `build.rs`:
//!
//! ```no_run
//! use migrator_tool::docs::{self, DocsOptions, Engine};
//! let options = DocsOptions::new("migrations".into(), "docs/schema".into(), Engine::Sqlite);
//! let outcome = docs::run(&options)?;
//! println!("cargo:warning={} pages, {} changed", outcome.pages, outcome.changed.len());
//! # Ok::<(), migrator_tool::docs::DocsError>(())
//! ```

pub mod er;
pub mod lineage;
pub mod page;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::PathBuf;

use migrator_analyse::Dialect;

use crate::output::{self, Links, OutputError};
use crate::schema::{Schema, SchemaError};
use crate::write::PlannedFile;
use lineage::Lineage;

/// Above this many tables, `er.md` draws the whole schema with names only and adds one diagram with
/// columns per module ([`er::modules`]).
pub const LARGE_SCHEMA_TABLES: usize = 25;

/// The engine the migrations are replayed on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Engine {
    /// SQLite, in memory.
    Sqlite,
    /// A scratch database on the PostgreSQL server of this URL (the role needs CREATEDB).
    Postgres(String),
}

/// Options of [`run`].
#[derive(Debug, Clone)]
pub struct DocsOptions {
    /// The migrations directory.
    pub dir: PathBuf,
    /// The docs directory (`docs/schema`): the tool owns its `.md` files.
    pub out: PathBuf,
    /// The engine.
    pub engine: Engine,
    /// Write nothing; fail with the stale files when the directory is not what would be written.
    pub check: bool,
    /// `owner/name`, to link issues.
    pub repo: Option<String>,
    /// GitHub's web address for issue links.
    pub server: String,
    /// [`LARGE_SCHEMA_TABLES`] unless set.
    pub large_schema_tables: usize,
}

impl DocsOptions {
    /// Options with the defaults: no issue links, write (not check).
    pub fn new(dir: PathBuf, out: PathBuf, engine: Engine) -> Self {
        DocsOptions {
            dir,
            out,
            engine,
            check: false,
            repo: None,
            server: output::server_url(),
            large_schema_tables: LARGE_SCHEMA_TABLES,
        }
    }
}

/// Problems of [`run`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DocsError {
    /// The migrations could not be loaded or replayed, or the schema not read.
    #[error(transparent)]
    Schema(#[from] SchemaError),
    /// Writing failed, or (`check`) the docs are stale.
    #[error(transparent)]
    Output(#[from] OutputError),
}

/// What [`run`] did.
#[derive(Debug, Clone)]
pub struct DocsOutcome {
    /// Tables documented.
    pub tables: usize,
    /// Pages generated (tables, index, ER diagram).
    pub pages: usize,
    /// Files written or removed (empty with `check`).
    pub changed: Vec<PathBuf>,
    /// The schema documented.
    pub schema: Schema,
}

/// The schema after every migration of `dir`, and the lineage.
pub fn replay(dir: &std::path::Path, engine: &Engine) -> Result<(Schema, Lineage), SchemaError> {
    let dialect = match engine {
        Engine::Sqlite => Dialect::Sqlite,
        Engine::Postgres(_) => Dialect::Postgres,
    };
    let mut lineage = Lineage::default();
    let mut last = Schema::default();
    let mut each = |m: &migrator_format::Migration, s: &Schema| {
        lineage.observe(m, s, dialect);
        last = s.clone();
    };
    let replay = match engine {
        Engine::Sqlite => Schema::replay_steps_sqlite(dir, &mut each)?,
        Engine::Postgres(url) => Schema::replay_steps_postgres(dir, url, &mut each)?,
    };
    tracing::info!(
        migrations = replay.migrations,
        engine = %replay.engine,
        tables = last.tables.len(),
        "replayed the migrations"
    );
    Ok((last, lineage))
}

/// The page file of every table: [`output::page_name`], never `README.md` or `er.md`.
fn page_names(schema: &Schema) -> page::PageNames {
    schema
        .tables
        .keys()
        .map(|key| {
            let mut name = output::page_name(key);
            if name == "readme.md" || name.starts_with("er.") || name.starts_with("er-") {
                name = format!("table-{name}");
            }
            (key.clone(), name)
        })
        .collect()
}

/// `er.md`: the whole schema, and above the size limit one diagram per module.
pub fn er_page(schema: &Schema, large: usize) -> String {
    let all: BTreeSet<String> = schema.tables.keys().cloned().collect();
    let mut out = String::from("# ER diagram\n\n[All tables](README.md)\n\n");
    if all.len() <= large {
        let _ = write!(
            out,
            "```mermaid\n{}```\n",
            er::diagram(schema, &all, er::Detail::Columns)
        );
        return out;
    }
    let modules = er::modules(schema);
    let _ = write!(
        out,
        "{} tables: the whole schema with names only, then one diagram with columns per module \
         (tables grouped by schema, or by the first word of their names; tables they reference from \
         other modules are drawn without columns).\n\n## All tables\n\n```mermaid\n{}```\n",
        all.len(),
        er::diagram(schema, &all, er::Detail::Names)
    );
    for (module, tables) in &modules {
        let _ = write!(
            out,
            "\n## {module}\n\n```mermaid\n{}```\n",
            er::diagram(schema, tables, er::Detail::Columns)
        );
    }
    out
}

/// The pages for `schema` and `lineage`, in `options.out`.
pub fn pages(schema: &Schema, lineage: &Lineage, options: &DocsOptions) -> Vec<PlannedFile> {
    let links = Links::new(
        &options.out,
        &options.dir,
        options.repo.as_deref(),
        &options.server,
    );
    let names = page_names(schema);
    let source = options
        .dir
        .file_name()
        .map_or_else(|| "migrations".into(), |n| n.to_string_lossy().into_owned());
    let mut files = vec![
        PlannedFile {
            path: options.out.join("README.md"),
            contents: page::index_page(schema, lineage, &links, &names, &source),
        },
        PlannedFile {
            path: options.out.join("er.md"),
            contents: er_page(schema, options.large_schema_tables),
        },
    ];
    let by_page: BTreeMap<&String, &String> = names.iter().map(|(k, v)| (v, k)).collect();
    for (name, key) in by_page {
        if let Some(table) = schema.tables.get(key) {
            files.push(PlannedFile {
                path: options.out.join(name),
                contents: page::table_page(schema, table, lineage, &links, &names),
            });
        }
    }
    files
}

/// Replays, renders, and writes (or checks) the docs of `options`.
pub fn run(options: &DocsOptions) -> Result<DocsOutcome, DocsError> {
    let (schema, lineage) = replay(&options.dir, &options.engine)?;
    let files = pages(&schema, &lineage, options);
    let changed = output::write_or_check(&files, Some(&options.out), options.check)?;
    Ok(DocsOutcome {
        tables: schema.tables.len(),
        pages: files.len(),
        changed,
        schema,
    })
}
