//! `embed_migrations!("migrations")`: reads the directory at compile time with the shared parser of
//! `migrator-format`, refuses malformed files with a compile error naming file and line, and emits the set
//! as static data (no code runs at start-up, and 1,000 migrations cost the compiler little).
//!
//! `embed_policy!("migration_safety.yaml")`: reads and checks the safety policy file at compile time (a bad
//! file is a compile error naming file, line and key) and emits it as a static `migrator::Policy`.
//!
//! Use them through the `migrator` crate, which re-exports them.

use std::path::PathBuf;

use std::collections::HashMap;

use migrator_format::{load_dir, Layout, Migration, Original, Policy, Statement};
use proc_macro::TokenStream;
use proc_macro2::TokenStream as Tokens;
use quote::quote;
use syn::LitStr;

/// Embeds the migrations of a directory (relative to the crate's `Cargo.toml`) as a `migrator::MigrationSet`.
///
/// Every file is parsed and checksummed at compile time; editing a file rebuilds the crate. For a new or
/// deleted file to rebuild it too, the host's `build.rs` holds one line:
/// `println!("cargo:rerun-if-changed=migrations");`
#[proc_macro]
pub fn embed_migrations(input: TokenStream) -> TokenStream {
    let literal = syn::parse_macro_input!(input as LitStr);
    match expand(&literal.value()) {
        Ok(tokens) => tokens.into(),
        Err(message) => syn::Error::new(literal.span(), message)
            .to_compile_error()
            .into(),
    }
}

/// Embeds a safety policy file (`migration_safety.yaml`, relative to the crate's `Cargo.toml`) as a
/// `migrator::Policy`, usable in a `static`:
///
/// ```ignore
/// static POLICY: migrator::Policy = migrator::embed_policy!("migration_safety.yaml");
/// let config = migrator::Config::from_policy(&POLICY);
/// ```
///
/// The file is parsed at compile time with the runtime's parser: an unknown key, a wrong type or a bad
/// value is a compile error naming the file, the line and the key. Editing the file rebuilds the crate. A
/// missing file is a compile error too (without a policy file, use `Config::default()`, which holds the
/// spec's policy).
#[proc_macro]
pub fn embed_policy(input: TokenStream) -> TokenStream {
    let literal = syn::parse_macro_input!(input as LitStr);
    match expand_policy(&literal.value()) {
        Ok(tokens) => tokens.into(),
        Err(message) => syn::Error::new(literal.span(), message)
            .to_compile_error()
            .into(),
    }
}

fn manifest_path(relative: &str, macro_name: &str) -> Result<PathBuf, String> {
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR")
        .map_err(|_| format!("CARGO_MANIFEST_DIR is not set; {macro_name} runs under cargo"))?;
    Ok(PathBuf::from(manifest_dir).join(relative))
}

fn expand_policy(relative: &str) -> Result<Tokens, String> {
    policy_tokens(&manifest_path(relative, "embed_policy!")?, relative)
}

/// The tokens of the policy file at `path`, named `shown` in errors.
fn policy_tokens(path: &std::path::Path, shown: &str) -> Result<Tokens, String> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        format!(
            "policy file {} cannot be read: {e}; the path is relative to the crate's Cargo.toml",
            path.display()
        )
    })?;
    let policy =
        Policy::from_str(&text, shown).map_err(|e| format!("invalid safety policy: {e}"))?;
    let path_text = path.to_string_lossy();
    let kinds: Vec<&str> = policy.review_kinds().collect();
    let count = kinds.len();
    let backup = policy.require_backup;
    let test_run = policy.require_test_run;
    let (secs, nanos) = (
        policy.max_lock_duration.as_secs(),
        policy.max_lock_duration.subsec_nanos(),
    );
    let rows = match policy.max_rows_affected {
        Some(n) => quote! { ::core::option::Option::Some(#n) },
        None => quote! { ::core::option::Option::None },
    };
    let history_until = match policy.history_until {
        Some(v) => quote! { ::core::option::Option::Some(#v) },
        None => quote! { ::core::option::Option::None },
    };
    let (reviewed_versions, reviewers): (Vec<u64>, Vec<&str>) = policy
        .reviewed
        .iter()
        .map(|(v, r)| (*v, r.as_ref()))
        .unzip();
    let reviewed_count = reviewed_versions.len();
    let history_table = policy.history_table.as_ref();
    Ok(quote! {{
        // Makes rustc rebuild the host when the file is edited.
        const _: &str = include_str!(#path_text);
        static REQUIRE_REVIEW: [::std::borrow::Cow<'static, str>; #count] =
            [#(::std::borrow::Cow::Borrowed(#kinds)),*];
        static REVIEWED: [(u64, ::std::borrow::Cow<'static, str>); #reviewed_count] =
            [#((#reviewed_versions, ::std::borrow::Cow::Borrowed(#reviewers))),*];
        ::migrator::Policy {
            require_review: ::std::borrow::Cow::Borrowed(&REQUIRE_REVIEW),
            require_backup: #backup,
            max_lock_duration: ::std::time::Duration::new(#secs, #nanos),
            max_rows_affected: #rows,
            require_test_run: #test_run,
            history_until: #history_until,
            reviewed: ::std::borrow::Cow::Borrowed(&REVIEWED),
            history_table: ::std::borrow::Cow::Borrowed(#history_table),
        }
    }})
}

fn expand(relative: &str) -> Result<Tokens, String> {
    let dir = manifest_path(relative, "embed_migrations!")?;
    let dir = dir.canonicalize().map_err(|e| {
        format!(
            "migration directory {} cannot be opened: {e}; the path is relative to the crate's Cargo.toml",
            dir.display()
        )
    })?;
    let loaded =
        load_dir(&dir).map_err(|e| format!("invalid migrations in {}:\n{e}", dir.display()))?;

    // Three shared arrays (statements, table names, suppressions) and one array of migrations per set that
    // borrow sub-slices of them: a handful of items however many migrations there are, which keeps rustc
    // fast. A shared migration appears in every engine's set; its entry is built once.
    let mut pools = Pools::default();
    let mut built: HashMap<String, Tokens> = HashMap::new();
    let mut entries_of = |migrations: &[Migration], pools: &mut Pools| -> Vec<Tokens> {
        migrations
            .iter()
            .map(|m| {
                built
                    .entry(m.file_name.to_string())
                    .or_insert_with(|| migration_tokens(m, pools))
                    .clone()
            })
            .collect()
    };
    let entries = entries_of(&loaded.migrations, &mut pools);
    let mut engine_items = Vec::new();
    let mut engine_sets = Vec::new();
    for (index, set) in loaded.engines.iter().enumerate() {
        let ident = quote::format_ident!("ENGINE_{}", index);
        let set_entries = entries_of(&set.migrations, &mut pools);
        let count = set_entries.len();
        engine_items.push(quote! {
            static #ident: [::migrator::Migration; #count] = [#(#set_entries),*];
        });
        let engine = engine_tokens(set.engine);
        engine_sets.push(quote! { ::migrator::__embed::engine_set(#engine, &#ident) });
    }
    let includes: Vec<Tokens> = loaded
        .files
        .iter()
        .map(|path| {
            let path = path.to_string_lossy();
            quote! { include_bytes!(#path) }
        })
        .collect();
    let include_count = includes.len();
    let count = entries.len();
    let engine_count = engine_sets.len();
    let layout = layout_tokens(loaded.layout);
    let (statement_count, statements) = (pools.statements.len(), &pools.statements);
    let (name_count, names) = (pools.names.len(), &pools.names);
    let (allow_count, allows) = (pools.allows.len(), &pools.allows);
    let dir_text = dir.to_string_lossy();
    Ok(quote! {{
        // Makes rustc rebuild the host when a file is edited (the build script line covers added and
        // deleted files).
        static SOURCES: [&[u8]; #include_count] = [#(#includes),*];
        let _ = &SOURCES;
        static STATEMENTS: [::migrator::Statement; #statement_count] = [#(#statements),*];
        static NAMES: [::std::borrow::Cow<'static, str>; #name_count] = [#(#names),*];
        static ALLOWS: [(::std::borrow::Cow<'static, str>, ::std::borrow::Cow<'static, str>); #allow_count] = [#(#allows),*];
        static MIGRATIONS: [::migrator::Migration; #count] = [#(#entries),*];
        #(#engine_items)*
        static ENGINES: [::migrator::__embed::EngineMigrations; #engine_count] = [#(#engine_sets),*];
        ::migrator::MigrationSet::from_static_engines(&MIGRATIONS, #dir_text, #layout, &ENGINES)
    }})
}

fn layout_tokens(layout: Layout) -> Tokens {
    match layout {
        Layout::Native => quote! { ::migrator::__embed::Layout::Native },
        Layout::Diesel => quote! { ::migrator::__embed::Layout::Diesel },
        Layout::Sqlx => quote! { ::migrator::__embed::Layout::Sqlx },
        Layout::Refinery => quote! { ::migrator::__embed::Layout::Refinery },
    }
}

fn engine_tokens(engine: migrator_format::Engine) -> Tokens {
    match engine {
        migrator_format::Engine::Sqlite => quote! { ::migrator::__embed::Engine::Sqlite },
        migrator_format::Engine::Postgres => quote! { ::migrator::__embed::Engine::Postgres },
        migrator_format::Engine::MySql => quote! { ::migrator::__embed::Engine::MySql },
    }
}

fn original_tokens(original: Option<&Original>) -> Tokens {
    match original {
        None => quote! { ::migrator::__embed::NO_ORIGINAL },
        Some(Original::Diesel { version }) => {
            let version = version.as_ref();
            quote! { ::migrator::__embed::diesel(#version) }
        }
        Some(Original::Sqlx { version, checksum }) => {
            let checksum = checksum.as_ref();
            quote! { ::migrator::__embed::sqlx(#version, #checksum) }
        }
        Some(Original::Refinery {
            version,
            name,
            checksum,
            checksum_int8,
            unversioned,
        }) => {
            let name = name.as_ref();
            quote! { ::migrator::__embed::refinery(#version, #name, #checksum, #checksum_int8, #unversioned) }
        }
    }
}

/// The shared arrays the migrations borrow from.
#[derive(Default)]
struct Pools {
    statements: Vec<Tokens>,
    names: Vec<Tokens>,
    allows: Vec<Tokens>,
}

impl Pools {
    /// Appends a section's statements; returns `(start, len)`.
    fn section(&mut self, statements: &[Statement]) -> (usize, usize) {
        let start = self.statements.len();
        for s in statements {
            let (sql, line) = (s.sql.as_ref(), s.line);
            self.statements
                .push(quote! { ::migrator::__embed::stmt(#sql, #line) });
        }
        (start, statements.len())
    }
}

fn cow(text: &str) -> Tokens {
    quote! { ::migrator::__embed::s(#text) }
}

fn option_cow(text: Option<&str>) -> Tokens {
    match text {
        Some(t) => quote! { ::migrator::__embed::some(#t) },
        None => quote! { ::migrator::__embed::NONE },
    }
}

fn backfill_tokens(backfill: Option<&migrator_format::Backfill>) -> Tokens {
    let Some(b) = backfill else {
        return quote! { ::migrator::__embed::NO_BACKFILL };
    };
    let (table, key, batch, line) = (b.table.as_ref(), b.key.as_ref(), b.batch, b.line);
    let pause_ms = b.pause.map_or(u64::MAX, |p| p.as_millis() as u64);
    let target_ms = b.target.map_or(0, |t| t.as_millis() as u64);
    quote! { ::migrator::__embed::backfill(#table, #key, #batch, #pause_ms, #target_ms, #line) }
}

fn migration_tokens(m: &Migration, pools: &mut Pools) -> Tokens {
    let (up_start, up_len) = pools.section(&m.up);
    let down = match &m.down {
        Some(down) => {
            let (start, len) = pools.section(down);
            quote! { ::migrator::__embed::some_section_at(&STATEMENTS, #start, #len) }
        }
        None => quote! { ::migrator::__embed::NO_SECTION },
    };
    let names_start = pools.names.len();
    let names_len = m.tables.len();
    pools.names.extend(m.tables.iter().map(|t| cow(t)));
    let allows_start = pools.allows.len();
    let allows_len = m.allows.len();
    pools.allows.extend(m.allows.iter().map(|(id, reason)| {
        let (id, reason) = (cow(id), cow(reason));
        quote! { (#id, #reason) }
    }));

    let version = m.version;
    let name = cow(&m.name);
    let issue = match m.issue {
        Some(n) => quote! { ::migrator::__embed::issue(#n) },
        None => quote! { ::migrator::__embed::NO_ISSUE },
    };
    let title = option_cow(m.title.as_deref());
    let file_name = cow(&m.file_name);
    let checksum = cow(&m.checksum);
    let no_transaction = m.no_transaction;
    let h = &m.header;
    let (generated, author, duration, downtime, reviewed, imported) = (
        option_cow(h.generated.as_deref()),
        option_cow(h.author.as_deref()),
        option_cow(h.estimated_duration.as_deref()),
        option_cow(h.downtime_required.as_deref()),
        option_cow(h.reviewed_by.as_deref()),
        option_cow(h.imported_from.as_deref()),
    );
    let layout = layout_tokens(m.layout);
    let original = original_tokens(m.original.as_ref());
    let backfill = backfill_tokens(m.backfill.as_ref());
    quote! {
        ::migrator::Migration {
            version: #version,
            name: #name,
            issue: #issue,
            title: #title,
            file_name: #file_name,
            checksum: #checksum,
            no_transaction: #no_transaction,
            backfill: #backfill,
            header: ::migrator::Header {
                generated: #generated,
                author: #author,
                estimated_duration: #duration,
                downtime_required: #downtime,
                reviewed_by: #reviewed,
                imported_from: #imported,
            },
            up: ::migrator::__embed::section_at(&STATEMENTS, #up_start, #up_len),
            down: #down,
            tables: ::migrator::__embed::names_at(&NAMES, #names_start, #names_len),
            allows: ::migrator::__embed::allows_at(&ALLOWS, #allows_start, #allows_len),
            layout: #layout,
            original: #original,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_policy_file_is_an_error_naming_file_line_and_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("migration_safety.yaml");
        let missing = policy_tokens(&path, "migration_safety.yaml").unwrap_err();
        assert!(missing.starts_with("policy file "), "{missing}");
        std::fs::write(
            &path,
            "migration_safety:\n  require_backup: [all]\n  max_rows_affected: lots\n",
        )
        .unwrap();
        assert_eq!(
            policy_tokens(&path, "migration_safety.yaml").unwrap_err(),
            "invalid safety policy: migration_safety.yaml:3: max_rows_affected: \"lots\" is not a row count: use a whole number such as 1000000, or none for no limit"
        );
        std::fs::write(&path, "migration_safety:\n  require_review: [TRUNCATE]\n  max_lock_duration: 1.5s\n  max_rows_affected: none\n").unwrap();
        let tokens = policy_tokens(&path, "migration_safety.yaml")
            .unwrap()
            .to_string();
        for part in [
            "\"TRUNCATE\"",
            "Duration :: new (1u64 , 500000000u32)",
            "Option :: None",
            "require_backup : true",
        ] {
            assert!(tokens.contains(part), "{part} in {tokens}");
        }
    }
}
