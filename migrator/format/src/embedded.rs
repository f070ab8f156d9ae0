//! The text `embed_migrations!` bakes into a host: a whole [`LoadedDir`] as one string literal, decoded
//! once, at the first use of the set, into the same [`Migration`]s the directory parses to (their strings
//! borrowed from the text, nothing copied but the statement lists).
//!
//! Why a text and not Rust items: a 1,000-migration set written as `const` items (one per migration, its
//! statements in `const`s of their own) is 1 MB of Rust that rustc lexes, resolves, checks, lints and
//! records in its incremental dep-graph on every build of the host, and editing one migration re-does all
//! of that: about 0.5 s of the host's 0.85 s rebuild (`-Z time-passes`, `bench/README.md`). One string
//! literal is one token. What the text costs instead is its decoding at start-up: see
//! `bench/README.md`, "the set as one string".
//!
//! The text is a sequence of fields, each written as its length in bytes, `:`, and its text (so reading a
//! statement is a slice, not a search). It starts with [`FORMAT`]; `embed_migrations!` also emits
//! `assert!(FORMAT == n)` so that a runtime built from another version of this crate fails to compile
//! instead of misreading the text.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt::Display;
use std::str::FromStr;
use std::time::Duration;

use crate::{Backfill, Engine, EngineMigrations, Header, Layout, LoadedDir, Migration, Original};
use crate::{EngineKind, Statement};

/// The version of the text's layout, written first and checked by the code the macro emits.
pub const FORMAT: u32 = 1;

/// A set decoded from its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbeddedSet {
    /// The directory's layout.
    pub layout: Layout,
    /// The shared migrations, sorted by version.
    pub migrations: Vec<Migration>,
    /// The engines' variant sets.
    pub engines: Vec<EngineMigrations>,
}

/// The text of `loaded`.
pub fn encode(loaded: &LoadedDir) -> String {
    let mut w = Writer(String::with_capacity(1024 * (loaded.migrations.len() + 1)));
    w.num(FORMAT);
    w.field(loaded.layout.name());
    // A migration shared by several engines' sets is written once and named by its index.
    let mut unique: Vec<&Migration> = Vec::with_capacity(loaded.migrations.len());
    let mut index: HashMap<(&str, u64), usize> = HashMap::with_capacity(loaded.migrations.len());
    let all = std::iter::once((None, &loaded.migrations[..])).chain(
        loaded
            .engines
            .iter()
            .map(|e| (Some(e.engine), &e.migrations[..])),
    );
    let mut lists: Vec<(Option<Engine>, Vec<usize>)> = Vec::new();
    for (engine, migrations) in all {
        let members = migrations
            .iter()
            .map(|m| {
                *index.entry((&m.file_name, m.version)).or_insert_with(|| {
                    unique.push(m);
                    unique.len() - 1
                })
            })
            .collect();
        lists.push((engine, members));
    }
    w.num(unique.len());
    for m in &unique {
        w.migration(m);
    }
    w.num(lists.len() - 1);
    for (engine, members) in &lists {
        if let Some(engine) = engine {
            w.field(engine.id());
        }
        w.num(members.len());
        for i in members {
            w.num(i);
        }
    }
    w.0
}

/// Decodes a text [`encode`] wrote; the error says where it stopped making sense.
pub fn decode(text: &'static str) -> Result<EmbeddedSet, String> {
    let mut r = Reader { rest: text };
    let format: u32 = r.num()?;
    if format != FORMAT {
        return Err(format!(
            "text of format {format}, this runtime reads {FORMAT}"
        ));
    }
    let layout = r.layout()?;
    let count: usize = r.num()?;
    let mut unique = Vec::with_capacity(count.min(text.len()));
    for _ in 0..count {
        unique.push(r.migration()?);
    }
    let engine_count: usize = r.num()?;
    let shared = r.indices(unique.len())?;
    let mut engines = Vec::with_capacity(engine_count.min(3));
    for _ in 0..engine_count {
        let id = r.field()?;
        let engine = EngineKind::ALL
            .into_iter()
            .find(|e| e.id() == id)
            .ok_or_else(|| format!("unknown engine `{id}`"))?;
        let members = r.indices(unique.len())?;
        engines.push(EngineMigrations {
            engine,
            migrations: Cow::Owned(members.iter().map(|&i| unique[i].clone()).collect()),
        });
    }
    // Without engine sets the shared list is every migration in order: moved, not cloned.
    let migrations = if engines.is_empty() && shared.iter().enumerate().all(|(n, &i)| n == i) {
        unique.truncate(shared.len());
        unique
    } else {
        shared.iter().map(|&i| unique[i].clone()).collect()
    };
    if !r.rest.is_empty() {
        return Err("text left after the set".to_string());
    }
    Ok(EmbeddedSet {
        layout,
        migrations,
        engines,
    })
}

/// The text being written: every field is its length in bytes, `:`, and its text.
struct Writer(String);

impl Writer {
    fn field(&mut self, text: &str) {
        use std::fmt::Write;
        let _ = write!(self.0, "{}:{text}", text.len());
    }

    fn num(&mut self, n: impl Display) {
        self.field(&n.to_string());
    }

    /// `-` for none, `+text` for some.
    fn opt(&mut self, text: Option<&str>) {
        match text {
            None => self.field("-"),
            Some(t) => self.field(&format!("+{t}")),
        }
    }

    fn statements(&mut self, statements: &[Statement]) {
        self.num(statements.len());
        for s in statements {
            self.num(s.line);
            self.field(&s.sql);
        }
    }

    fn migration(&mut self, m: &Migration) {
        self.num(m.version);
        self.field(&m.name);
        self.field(&m.issue.map(|n| n.to_string()).unwrap_or_default());
        self.opt(m.title.as_deref());
        self.field(&m.file_name);
        self.field(&m.checksum);
        self.num(u8::from(m.no_transaction));
        let h = &m.header;
        if *h == Header::default() {
            self.field("-");
        } else {
            self.field("+");
            for value in [
                &h.generated,
                &h.author,
                &h.estimated_duration,
                &h.downtime_required,
                &h.reviewed_by,
                &h.imported_from,
            ] {
                self.opt(value.as_deref());
            }
        }
        self.backfill(m.backfill.as_ref());
        self.statements(&m.up);
        match &m.down {
            None => self.field("-"),
            Some(down) => {
                self.field("+");
                self.statements(down);
            }
        }
        self.num(m.tables.len());
        for table in m.tables.iter() {
            self.field(table);
        }
        self.num(m.allows.len());
        for (id, reason) in m.allows.iter() {
            self.field(id);
            self.field(reason);
        }
        self.field(m.layout.name());
        self.original(m.original.as_ref())
    }

    fn backfill(&mut self, backfill: Option<&Backfill>) {
        let Some(b) = backfill else {
            return self.field("-");
        };
        self.field("+");
        self.field(&b.table);
        self.field(&b.key);
        self.num(b.batch);
        let millis = |d: Option<Duration>| d.map(|d| d.as_millis().to_string());
        self.opt(millis(b.pause).as_deref());
        self.opt(millis(b.target).as_deref());
        self.num(b.line);
    }

    fn original(&mut self, original: Option<&Original>) {
        match original {
            None => self.field("-"),
            Some(Original::Diesel { version }) => {
                self.field("diesel");
                self.field(version)
            }
            Some(Original::Sqlx { version, checksum }) => {
                self.field("sqlx");
                self.num(version);
                self.field(checksum)
            }
            Some(Original::Refinery {
                version,
                name,
                checksum,
                checksum_int8,
                unversioned,
            }) => {
                self.field("refinery");
                self.num(version);
                self.field(name);
                self.num(checksum);
                self.num(checksum_int8);
                self.num(u8::from(*unversioned));
            }
        }
    }
}

/// The text being read, field by field.
struct Reader {
    rest: &'static str,
}

impl Reader {
    fn field(&mut self) -> Result<&'static str, String> {
        let bytes = self.rest.as_bytes();
        let mut len = 0usize;
        let mut at = 0;
        loop {
            match bytes.get(at) {
                Some(b':') if at > 0 => break,
                Some(&digit @ b'0'..=b'9') if at < 9 => {
                    len = len * 10 + usize::from(digit - b'0');
                    at += 1;
                }
                _ => return Err(format!("no field length at `{}`", preview(self.rest))),
            }
        }
        let start = at + 1;
        let field = self
            .rest
            .get(start..start + len)
            .ok_or("a field's length past the end of the text")?;
        self.rest = &self.rest[start + len..];
        Ok(field)
    }

    fn num<T: FromStr>(&mut self) -> Result<T, String> {
        let field = self.field()?;
        field
            .parse()
            .map_err(|_| format!("`{field}` where a number belongs"))
    }

    /// A count, then that many indices below `below`.
    fn indices(&mut self, below: usize) -> Result<Vec<usize>, String> {
        let n: usize = self.num()?;
        let mut indices = Vec::with_capacity(n.min(below));
        for _ in 0..n {
            let i: usize = self.num()?;
            if i >= below {
                return Err(format!("migration index {i} of {below}"));
            }
            indices.push(i);
        }
        Ok(indices)
    }

    fn flag(&mut self) -> Result<bool, String> {
        Ok(self.num::<u8>()? == 1)
    }

    fn opt(&mut self) -> Result<Option<&'static str>, String> {
        let field = self.field()?;
        match field.strip_prefix('+') {
            Some(text) => Ok(Some(text)),
            None if field == "-" => Ok(None),
            None => Err(format!("`{field}` where `-` or `+text` belongs")),
        }
    }

    fn opt_cow(&mut self) -> Result<Option<Cow<'static, str>>, String> {
        Ok(self.opt()?.map(Cow::Borrowed))
    }

    fn cow(&mut self) -> Result<Cow<'static, str>, String> {
        Ok(Cow::Borrowed(self.field()?))
    }

    fn layout(&mut self) -> Result<Layout, String> {
        let name = self.field()?;
        Layout::from_name(name).ok_or_else(|| format!("unknown layout `{name}`"))
    }

    fn statements(&mut self) -> Result<Vec<Statement>, String> {
        let n: usize = self.num()?;
        let mut statements = Vec::with_capacity(n.min(self.rest.len()));
        for _ in 0..n {
            let line = self.num()?;
            statements.push(Statement {
                sql: self.cow()?,
                line,
            });
        }
        Ok(statements)
    }

    fn migration(&mut self) -> Result<Migration, String> {
        let version = self.num()?;
        let name = self.cow()?;
        let issue = match self.field()? {
            "" => None,
            n => Some(n.parse().map_err(|_| format!("`{n}` is not an issue"))?),
        };
        let title = self.opt_cow()?;
        let file_name = self.cow()?;
        let checksum = self.cow()?;
        let no_transaction = self.flag()?;
        let header = match self.opt()? {
            None => Header::default(),
            Some(_) => Header {
                generated: self.opt_cow()?,
                author: self.opt_cow()?,
                estimated_duration: self.opt_cow()?,
                downtime_required: self.opt_cow()?,
                reviewed_by: self.opt_cow()?,
                imported_from: self.opt_cow()?,
            },
        };
        let backfill = self.backfill()?;
        let up = Cow::Owned(self.statements()?);
        let down = match self.opt()? {
            None => None,
            Some(_) => Some(Cow::Owned(self.statements()?)),
        };
        let n: usize = self.num()?;
        let tables = (0..n).map(|_| self.cow()).collect::<Result<Vec<_>, _>>()?;
        let n: usize = self.num()?;
        let allows = (0..n)
            .map(|_| Ok((self.cow()?, self.cow()?)))
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Migration {
            version,
            name,
            issue,
            title,
            file_name,
            checksum,
            no_transaction,
            header,
            backfill,
            up,
            down,
            tables: Cow::Owned(tables),
            allows: Cow::Owned(allows),
            layout: self.layout()?,
            original: self.original()?,
        })
    }

    fn backfill(&mut self) -> Result<Option<Backfill>, String> {
        if self.opt()?.is_none() {
            return Ok(None);
        }
        let millis = |text: Option<&str>| -> Result<Option<Duration>, String> {
            text.map(|t| {
                t.parse()
                    .map(Duration::from_millis)
                    .map_err(|_| format!("`{t}` is not milliseconds"))
            })
            .transpose()
        };
        Ok(Some(Backfill {
            table: self.cow()?,
            key: self.cow()?,
            batch: self.num()?,
            pause: millis(self.opt()?)?,
            target: millis(self.opt()?)?,
            line: self.num()?,
        }))
    }

    fn original(&mut self) -> Result<Option<Original>, String> {
        Ok(Some(match self.field()? {
            "-" => return Ok(None),
            "diesel" => Original::Diesel {
                version: self.cow()?,
            },
            "sqlx" => Original::Sqlx {
                version: self.num()?,
                checksum: self.cow()?,
            },
            "refinery" => Original::Refinery {
                version: self.num()?,
                name: self.cow()?,
                checksum: self.num()?,
                checksum_int8: self.num()?,
                unversioned: self.flag()?,
            },
            other => return Err(format!("unknown original tool `{other}`")),
        }))
    }
}

/// The first characters of `text`, for an error.
fn preview(text: &str) -> &str {
    text.char_indices()
        .nth(20)
        .map_or(text, |(i, _)| &text[..i])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn round_trip(loaded: &LoadedDir) -> EmbeddedSet {
        let text: &'static str = Box::leak(encode(loaded).into_boxed_str());
        decode(text).unwrap()
    }

    fn assert_round_trip(dir: &Path) -> LoadedDir {
        let loaded = crate::load_dir(dir).unwrap();
        let set = round_trip(&loaded);
        assert_eq!(set.layout, loaded.layout, "{}", dir.display());
        assert_eq!(set.migrations, loaded.migrations, "{}", dir.display());
        assert_eq!(set.engines, loaded.engines, "{}", dir.display());
        loaded
    }

    #[test]
    fn the_workspaces_directories_decode_to_what_they_parse_to() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        for dir in [
            "migrations",
            "example-app/migrations-async",
            "tests/fixtures/layouts/diesel",
            "tests/fixtures/layouts/sqlx",
            "tests/fixtures/layouts/refinery",
        ] {
            let loaded = assert_round_trip(&root.join(dir));
            assert!(!loaded.migrations.is_empty(), "{dir}");
        }
        // The example's directory has engine variants (postgres/, mysql/) that share files.
        let example = crate::load_dir(&root.join("migrations")).unwrap();
        assert!(!example.engines.is_empty());
    }

    #[test]
    fn every_field_survives_the_text() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
        write(
            "20240101000000_issue_7_everything.sql",
            "-- Issue #7: every field: quotes \" ' \\ and 12:34 and é\n-- Author: Ann\n-- Reviewed-by: Bob\n\
             -- migrator:no-transaction\n-- migrator:allow update-delete-without-where it is small\n\
             -- ============ UP MIGRATION ============\nCREATE INDEX CONCURRENTLY i ON t (a);\n\
             -- ============ DOWN MIGRATION ============\n",
        );
        write(
            "20240102000000_issue_8_fill.sql",
            "-- migrator:backfill table=t key=id batch=500 pause=20ms target=1s\n\
             -- ============ UP MIGRATION ============\nUPDATE t SET a = '1:2' WHERE a IS NULL;\n",
        );
        std::fs::create_dir(dir.path().join("postgres")).unwrap();
        write(
            "postgres/20240102000000_issue_8_fill.sql",
            "-- ============ UP MIGRATION ============\nSELECT 1;\n-- ============ DOWN MIGRATION ============\nSELECT 2;\n",
        );
        let loaded = assert_round_trip(dir.path());
        let m = &loaded.migrations[0];
        assert_eq!(m.header.reviewed_by.as_deref(), Some("Bob"));
        assert!(m.no_transaction && !m.allows.is_empty() && m.title.is_some());
        assert_eq!(m.down.as_deref(), Some(&[][..]));
        assert!(loaded.migrations[1].backfill.is_some());
        assert_eq!(loaded.engines.len(), 1);
    }

    #[test]
    fn a_damaged_text_is_an_error_not_a_panic() {
        let root =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/layouts/refinery");
        let text = encode(&crate::load_dir(&root).unwrap());
        for cut in [0, 1, 2, text.len() / 3, text.len() / 2, text.len() - 1] {
            let damaged: &'static str = Box::leak(text[..cut].to_string().into_boxed_str());
            assert!(decode(damaged).is_err(), "cut at {cut}");
        }
        let longer: &'static str = Box::leak(format!("{text}1:x").into_boxed_str());
        assert!(decode(longer).is_err());
        let other_format: &'static str = Box::leak(text.replacen("1:1", "1:9", 1).into_boxed_str());
        assert!(decode(other_format).unwrap_err().contains("format 9"));
        let huge: &'static str = Box::leak(format!("1:1{}", "9".repeat(40)).into_boxed_str());
        assert!(decode(huge).is_err());
    }
}
