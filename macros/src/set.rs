//! The Rust source `embed_migrations!` expands to, written as text and handed to the compiler in one piece:
//! built token by token (with `quote!`, through the compiler's bridge or proc-macro2's own tokens) it cost
//! more than reading and parsing the directory, and the proc-macro is built at the host's opt-level, 0 in a
//! dev build unless the host sets `[profile.dev.build-override]`.
//!
//! The set is written as items: one `const` per migration (its sections, table names and suppressions in
//! `const`s of its own), one `const _` per file read (its `include_bytes!` makes rustc rebuild the host
//! when the file changes), and the arrays of the set and of each engine, which name the migrations'
//! `const`s. Editing one file changes the text of its own items only: with incremental compilation rustc
//! type-checks and evaluates that migration again and reuses the others, where one shared array of all
//! the statements and one of all the migrations had to be checked and evaluated whole after any edit.

use std::collections::HashMap;
use std::fmt::Write;
use std::path::Path;

use migrator_format::{
    Backfill, Engine, Header, Layout, LoadedDir, Migration, Original, Statement,
};

/// The block expression of the set read from `dir`: its items, then the `MigrationSet`.
pub(crate) fn set_source(dir: &Path, loaded: &LoadedDir) -> String {
    let mut out = Source(String::with_capacity(1024 * (loaded.files.len() + 1)));
    out.push("{ use ::migrator::__embed as __e;\n");
    for path in &loaded.files {
        out.push("const _: &[u8] = include_bytes!(");
        out.string(&path.to_string_lossy());
        out.push(");\n");
    }
    // A shared migration appears in every engine's set; its `const` is written once.
    let mut names: HashMap<&str, String> = HashMap::new();
    let shared = out.migrations(&loaded.migrations, "M", &mut names);
    let mut engine_arrays = Vec::with_capacity(loaded.engines.len());
    for (index, set) in loaded.engines.iter().enumerate() {
        let prefix = format!("M_{}", set.engine.dir_name().to_ascii_uppercase());
        let members = out.migrations(&set.migrations, &prefix, &mut names);
        engine_arrays.push((set.engine, format!("ENGINE_{index}"), members));
    }
    out.array("MIGRATIONS", &shared);
    for (_, name, members) in &engine_arrays {
        out.array(name, members);
    }
    let _ = write!(
        out.0,
        "static ENGINES: [__e::EngineMigrations; {}] = [",
        engine_arrays.len()
    );
    for (engine, name, _) in &engine_arrays {
        let _ = write!(
            out.0,
            "__e::engine_set(__e::Engine::{}, &{name}),",
            engine_variant(*engine)
        );
    }
    out.push("];\n::migrator::MigrationSet::from_static_engines(&MIGRATIONS, ");
    out.string(&dir.to_string_lossy());
    let _ = write!(
        out.0,
        ", __e::Layout::{}, &ENGINES) }}",
        layout_variant(loaded.layout)
    );
    out.0
}

fn layout_variant(layout: Layout) -> &'static str {
    match layout {
        Layout::Native => "Native",
        Layout::Diesel => "Diesel",
        Layout::Sqlx => "Sqlx",
        Layout::Refinery => "Refinery",
    }
}

fn engine_variant(engine: Engine) -> &'static str {
    match engine {
        Engine::Sqlite => "Sqlite",
        Engine::Postgres => "Postgres",
        Engine::MySql => "MySql",
    }
}

/// Rust source being written. `write!` to a `String` cannot fail.
struct Source(String);

impl Source {
    fn push(&mut self, text: &str) {
        self.0.push_str(text);
    }

    /// A string literal (`Debug` of a `str` is one: quotes, backslashes and control characters escaped).
    fn string(&mut self, text: &str) {
        let _ = write!(self.0, "{text:?}");
    }

    /// `__e::s("text")`: a borrowed string.
    fn cow(&mut self, text: &str) {
        self.push("__e::s(");
        self.string(text);
        self.push(")");
    }

    fn option_cow(&mut self, text: Option<&str>) {
        match text {
            Some(t) => {
                self.push("__e::some(");
                self.string(t);
                self.push(")");
            }
            None => self.push("__e::NONE"),
        }
    }

    /// `static <name>: [Migration; N] = [<members>];`
    fn array(&mut self, name: &str, members: &[String]) {
        let _ = writeln!(
            self.0,
            "static {name}: [__e::Migration; {}] = [{}];",
            members.len(),
            members.join(",")
        );
    }

    /// Writes the `const` of each migration not written yet; returns the names of all of them, in order.
    fn migrations<'a>(
        &mut self,
        migrations: &'a [Migration],
        prefix: &str,
        names: &mut HashMap<&'a str, String>,
    ) -> Vec<String> {
        migrations
            .iter()
            .map(|m| {
                if let Some(name) = names.get(m.file_name.as_ref()) {
                    return name.clone();
                }
                let name = format!("{prefix}_{}", m.version);
                self.migration(&name, m);
                names.insert(&m.file_name, name.clone());
                name
            })
            .collect()
    }

    /// `const <name>: Migration = { <its sections' consts> Migration { ... } };`
    fn migration(&mut self, name: &str, m: &Migration) {
        let _ = write!(self.0, "const {name}: __e::Migration = {{ ");
        self.statements("UP", &m.up);
        if let Some(down) = &m.down {
            self.statements("DOWN", down);
        }
        if !m.tables.is_empty() {
            self.push("const TABLES: &[__e::Str] = &[");
            for table in m.tables.iter() {
                self.cow(table);
                self.push(",");
            }
            self.push("];\n");
        }
        if !m.allows.is_empty() {
            self.push("const ALLOWS: &[(__e::Str, __e::Str)] = &[");
            for (id, reason) in m.allows.iter() {
                self.push("(");
                self.cow(id);
                self.push(",");
                self.cow(reason);
                self.push("),");
            }
            self.push("];\n");
        }
        let _ = write!(self.0, "__e::Migration {{ version: {}, name: ", m.version);
        self.cow(&m.name);
        match m.issue {
            Some(n) => {
                let _ = write!(self.0, ", issue: __e::issue({n})");
            }
            None => self.push(", issue: __e::NO_ISSUE"),
        }
        self.push(", title: ");
        self.option_cow(m.title.as_deref());
        self.push(", file_name: ");
        self.cow(&m.file_name);
        self.push(", checksum: ");
        self.cow(&m.checksum);
        let _ = write!(self.0, ", no_transaction: {}, backfill: ", m.no_transaction);
        self.backfill(m.backfill.as_ref());
        self.push(", header: ");
        self.header(&m.header);
        self.push(", up: __e::section(UP), down: ");
        self.push(match m.down {
            Some(_) => "__e::some_section(DOWN)",
            None => "__e::NO_SECTION",
        });
        self.push(", tables: ");
        self.push(match m.tables.is_empty() {
            true => "__e::NO_NAMES",
            false => "__e::names(TABLES)",
        });
        self.push(", allows: ");
        self.push(match m.allows.is_empty() {
            true => "__e::NO_ALLOWS",
            false => "__e::allows(ALLOWS)",
        });
        let _ = write!(
            self.0,
            ", layout: __e::Layout::{}, original: ",
            layout_variant(m.layout)
        );
        self.original(m.original.as_ref());
        self.push(" } };\n");
    }

    /// `const <name>: &[Statement] = &[...];` (a `const` may borrow its array for `'static`).
    fn statements(&mut self, name: &str, statements: &[Statement]) {
        let _ = write!(self.0, "const {name}: &[__e::Statement] = &[");
        for s in statements {
            self.push("__e::stmt(");
            self.string(&s.sql);
            let _ = write!(self.0, ", {}),", s.line);
        }
        self.push("];\n");
    }

    /// Most files have no header lines: one name for all of them.
    fn header(&mut self, h: &Header) {
        if *h == Header::default() {
            return self.push("__e::NO_HEADER");
        }
        let fields = [
            ("generated", &h.generated),
            ("author", &h.author),
            ("estimated_duration", &h.estimated_duration),
            ("downtime_required", &h.downtime_required),
            ("reviewed_by", &h.reviewed_by),
            ("imported_from", &h.imported_from),
        ];
        self.push("__e::Header {");
        for (field, value) in fields {
            let _ = write!(self.0, "{field}: ");
            self.option_cow(value.as_deref());
            self.push(",");
        }
        self.push("}");
    }

    fn backfill(&mut self, backfill: Option<&Backfill>) {
        let Some(b) = backfill else {
            return self.push("__e::NO_BACKFILL");
        };
        // `pause_ms` u64::MAX: the engine's default pause; `target_ms` 0: no target duration.
        let pause_ms = b.pause.map_or(u64::MAX, |p| p.as_millis() as u64);
        let target_ms = b.target.map_or(0, |t| t.as_millis() as u64);
        self.push("__e::backfill(");
        self.string(&b.table);
        self.push(", ");
        self.string(&b.key);
        let _ = write!(
            self.0,
            ", {}, {pause_ms}, {target_ms}, {})",
            b.batch, b.line
        );
    }

    fn original(&mut self, original: Option<&Original>) {
        match original {
            None => self.push("__e::NO_ORIGINAL"),
            Some(Original::Diesel { version }) => {
                self.push("__e::diesel(");
                self.string(version);
                self.push(")");
            }
            Some(Original::Sqlx { version, checksum }) => {
                let _ = write!(self.0, "__e::sqlx({version}, ");
                self.string(checksum);
                self.push(")");
            }
            Some(Original::Refinery {
                version,
                name,
                checksum,
                checksum_int8,
                unversioned,
            }) => {
                let _ = write!(self.0, "__e::refinery({version}, ");
                self.string(name);
                let _ = write!(self.0, ", {checksum}, {checksum_int8}, {unversioned})");
            }
        }
    }
}
