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
    let timing = std::env::var_os("MIGRATOR_EMBED_TIMING").is_some();
    let started = std::time::Instant::now();
    let dir = manifest_path(relative, "embed_migrations!")?;
    let dir = dir.canonicalize().map_err(|e| {
        format!(
            "migration directory {} cannot be opened: {e}; the path is relative to the crate's Cargo.toml",
            dir.display()
        )
    })?;
    let loaded =
        load_dir(&dir).map_err(|e| format!("invalid migrations in {}:\n{e}", dir.display()))?;
    let parsed = started.elapsed();
    // The tokens are built with proc-macro2's own implementation and handed to the compiler as one text:
    // building 100,000s of tokens one by one through the compiler's bridge costs more than parsing the
    // directory.
    proc_macro2::fallback::force();
    let tokens = set_tokens(&dir, &loaded);
    proc_macro2::fallback::unforce();
    if timing {
        eprintln!(
            "embed_migrations!({relative}): {} files read and parsed in {parsed:?}, tokens built in {:?}",
            loaded.files.len(),
            started.elapsed() - parsed
        );
    }
    Ok(tokens)
}

/// The set as items: one `const` per migration (its statements, table names and suppressions in `const`s
/// of its own), one `const _` per file read (its `include_bytes!` makes rustc rebuild the host when the
/// file changes), and the arrays of the set and of each engine, which name the migrations' `const`s.
///
/// Editing one file changes the tokens of its own items only: with incremental compilation rustc
/// type-checks and evaluates that migration again and reuses every other one, so a rebuild costs about
/// the same whether the directory holds 10 migrations or 1,000.
fn set_tokens(dir: &std::path::Path, loaded: &migrator_format::LoadedDir) -> Tokens {
    let mut items = Vec::with_capacity(loaded.migrations.len() + loaded.files.len());
    // A shared migration appears in every engine's set; its `const` is emitted once.
    let mut idents: HashMap<String, proc_macro2::Ident> = HashMap::new();
    let mut set_of = |migrations: &'_ [Migration], prefix: &str| -> Vec<proc_macro2::Ident> {
        migrations
            .iter()
            .map(|m| {
                if let Some(ident) = idents.get(m.file_name.as_ref()) {
                    return ident.clone();
                }
                let ident = quote::format_ident!("{}_{}", prefix, m.version);
                items.push(migration_tokens(&ident, m));
                idents.insert(m.file_name.to_string(), ident.clone());
                ident
            })
            .collect()
    };
    let shared = set_of(&loaded.migrations, "M");
    let mut engine_sets = Vec::with_capacity(loaded.engines.len());
    for (index, set) in loaded.engines.iter().enumerate() {
        let prefix = format!("M_{}", set.engine.dir_name().to_ascii_uppercase());
        let members = set_of(&set.migrations, &prefix);
        let array = quote::format_ident!("ENGINE_{}", index);
        let count = members.len();
        let engine = engine_tokens(set.engine);
        engine_sets.push((
            quote! { static #array: [__e::Migration; #count] = [#(#members),*]; },
            quote! { __e::engine_set(#engine, &#array) },
        ));
    }
    let (engine_arrays, engine_entries): (Vec<Tokens>, Vec<Tokens>) =
        engine_sets.into_iter().unzip();
    let includes = loaded.files.iter().map(|path| {
        let path = path.to_string_lossy();
        quote! { const _: &[u8] = include_bytes!(#path); }
    });
    let count = shared.len();
    let engine_count = engine_entries.len();
    let layout = layout_tokens(loaded.layout);
    let dir_text = dir.to_string_lossy();
    quote! {{
        use ::migrator::__embed as __e;
        #(#includes)*
        #(#items)*
        static MIGRATIONS: [__e::Migration; #count] = [#(#shared),*];
        #(#engine_arrays)*
        static ENGINES: [__e::EngineMigrations; #engine_count] = [#(#engine_entries),*];
        ::migrator::MigrationSet::from_static_engines(&MIGRATIONS, #dir_text, #layout, &ENGINES)
    }}
}

fn layout_tokens(layout: Layout) -> Tokens {
    match layout {
        Layout::Native => quote! { __e::Layout::Native },
        Layout::Diesel => quote! { __e::Layout::Diesel },
        Layout::Sqlx => quote! { __e::Layout::Sqlx },
        Layout::Refinery => quote! { __e::Layout::Refinery },
    }
}

fn engine_tokens(engine: migrator_format::Engine) -> Tokens {
    match engine {
        migrator_format::Engine::Sqlite => quote! { __e::Engine::Sqlite },
        migrator_format::Engine::Postgres => quote! { __e::Engine::Postgres },
        migrator_format::Engine::MySql => quote! { __e::Engine::MySql },
    }
}

fn original_tokens(original: Option<&Original>) -> Tokens {
    match original {
        None => quote! { __e::NO_ORIGINAL },
        Some(Original::Diesel { version }) => {
            let version = version.as_ref();
            quote! { __e::diesel(#version) }
        }
        Some(Original::Sqlx { version, checksum }) => {
            let checksum = checksum.as_ref();
            quote! { __e::sqlx(#version, #checksum) }
        }
        Some(Original::Refinery {
            version,
            name,
            checksum,
            checksum_int8,
            unversioned,
        }) => {
            let name = name.as_ref();
            quote! { __e::refinery(#version, #name, #checksum, #checksum_int8, #unversioned) }
        }
    }
}

/// The statements of a section, as a slice expression.
fn statements_tokens(statements: &[Statement]) -> Tokens {
    let statements = statements.iter().map(|s| {
        let (sql, line) = (s.sql.as_ref(), s.line);
        quote! { __e::stmt(#sql, #line) }
    });
    quote! { &[#(#statements),*] }
}

fn cow(text: &str) -> Tokens {
    quote! { __e::s(#text) }
}

fn option_cow(text: Option<&str>) -> Tokens {
    match text {
        Some(t) => quote! { __e::some(#t) },
        None => quote! { __e::NONE },
    }
}

fn backfill_tokens(backfill: Option<&migrator_format::Backfill>) -> Tokens {
    let Some(b) = backfill else {
        return quote! { __e::NO_BACKFILL };
    };
    let (table, key, batch, line) = (b.table.as_ref(), b.key.as_ref(), b.batch, b.line);
    let pause_ms = b.pause.map_or(u64::MAX, |p| p.as_millis() as u64);
    let target_ms = b.target.map_or(0, |t| t.as_millis() as u64);
    quote! { __e::backfill(#table, #key, #batch, #pause_ms, #target_ms, #line) }
}

/// The header's tokens (most files have none: one name for all of them).
fn header_tokens(h: &migrator_format::Header) -> Tokens {
    if *h == migrator_format::Header::default() {
        return quote! { __e::NO_HEADER };
    }
    let (generated, author, duration, downtime, reviewed, imported) = (
        option_cow(h.generated.as_deref()),
        option_cow(h.author.as_deref()),
        option_cow(h.estimated_duration.as_deref()),
        option_cow(h.downtime_required.as_deref()),
        option_cow(h.reviewed_by.as_deref()),
        option_cow(h.imported_from.as_deref()),
    );
    quote! {
        __e::Header {
            generated: #generated,
            author: #author,
            estimated_duration: #duration,
            downtime_required: #downtime,
            reviewed_by: #reviewed,
            imported_from: #imported,
        }
    }
}

/// `const <ident>: Migration`, with its sections, table names and suppressions in `const`s of its own (a
/// `const` may borrow them for `'static`).
fn migration_tokens(ident: &proc_macro2::Ident, m: &Migration) -> Tokens {
    let up = statements_tokens(&m.up);
    let (down_item, down) = match &m.down {
        Some(down) => {
            let statements = statements_tokens(down);
            (
                quote! { const DOWN: &[__e::Statement] = #statements; },
                quote! { __e::some_section(DOWN) },
            )
        }
        None => (quote! {}, quote! { __e::NO_SECTION }),
    };
    let (tables_item, tables) = if m.tables.is_empty() {
        (quote! {}, quote! { __e::NO_NAMES })
    } else {
        let tables = m.tables.iter().map(|t| cow(t));
        (
            quote! { const TABLES: &[__e::Str] = &[#(#tables),*]; },
            quote! { __e::names(TABLES) },
        )
    };
    let (allows_item, allows) = if m.allows.is_empty() {
        (quote! {}, quote! { __e::NO_ALLOWS })
    } else {
        let allows = m.allows.iter().map(|(id, reason)| {
            let (id, reason) = (cow(id), cow(reason));
            quote! { (#id, #reason) }
        });
        (
            quote! { const ALLOWS: &[(__e::Str, __e::Str)] = &[#(#allows),*]; },
            quote! { __e::allows(ALLOWS) },
        )
    };
    let version = m.version;
    let name = cow(&m.name);
    let issue = match m.issue {
        Some(n) => quote! { __e::issue(#n) },
        None => quote! { __e::NO_ISSUE },
    };
    let title = option_cow(m.title.as_deref());
    let file_name = cow(&m.file_name);
    let checksum = cow(&m.checksum);
    let no_transaction = m.no_transaction;
    let header = header_tokens(&m.header);
    let layout = layout_tokens(m.layout);
    let original = original_tokens(m.original.as_ref());
    let backfill = backfill_tokens(m.backfill.as_ref());
    quote! {
        const #ident: __e::Migration = {
            const UP: &[__e::Statement] = #up;
            #down_item
            #tables_item
            #allows_item
            __e::Migration {
                version: #version,
                name: #name,
                issue: #issue,
                title: #title,
                file_name: #file_name,
                checksum: #checksum,
                no_transaction: #no_transaction,
                backfill: #backfill,
                header: #header,
                up: __e::section(UP),
                down: #down,
                tables: #tables,
                allows: #allows,
                layout: #layout,
                original: #original,
            }
        };
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
