//! `embed_migrations!("migrations")`: reads the directory at compile time with the shared parser of
//! `migrator-format`, refuses malformed files with a compile error naming file and line, and emits the set
//! as static data (no code runs at start-up, and 1,000 migrations cost the compiler little).
//!
//! Use it through the `migrator` crate, which re-exports it.

use std::path::PathBuf;

use migrator_format::{load_dir, Migration, Statement};
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

fn expand(relative: &str) -> Result<Tokens, String> {
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").map_err(|_| {
        "CARGO_MANIFEST_DIR is not set; embed_migrations! runs under cargo".to_string()
    })?;
    let dir = PathBuf::from(manifest_dir).join(relative);
    let dir = dir.canonicalize().map_err(|e| {
        format!(
            "migration directory {} cannot be opened: {e}; the path is relative to the crate's Cargo.toml",
            dir.display()
        )
    })?;
    let migrations =
        load_dir(&dir).map_err(|e| format!("invalid migrations in {}:\n{e}", dir.display()))?;

    // Three shared arrays (statements, table names, suppressions) and one array of migrations that borrow
    // sub-slices of them: a handful of items however many migrations there are, which keeps rustc fast.
    let mut pools = Pools::default();
    let mut includes = Vec::new();
    let mut entries = Vec::new();
    for migration in &migrations {
        let path = dir.join(migration.file_name.as_ref());
        let path = path.to_string_lossy();
        includes.push(quote! { include_str!(#path) });
        entries.push(migration_tokens(migration, &mut pools));
    }
    let count = entries.len();
    let (statement_count, statements) = (pools.statements.len(), &pools.statements);
    let (name_count, names) = (pools.names.len(), &pools.names);
    let (allow_count, allows) = (pools.allows.len(), &pools.allows);
    let dir_text = dir.to_string_lossy();
    Ok(quote! {{
        // Makes rustc rebuild the host when a file is edited (the build script line covers added and
        // deleted files).
        static SOURCES: [&str; #count] = [#(#includes),*];
        let _ = &SOURCES;
        static STATEMENTS: [::migrator::Statement; #statement_count] = [#(#statements),*];
        static NAMES: [::std::borrow::Cow<'static, str>; #name_count] = [#(#names),*];
        static ALLOWS: [(::std::borrow::Cow<'static, str>, ::std::borrow::Cow<'static, str>); #allow_count] = [#(#allows),*];
        static MIGRATIONS: [::migrator::Migration; #count] = [#(#entries),*];
        ::migrator::MigrationSet::from_static(&MIGRATIONS, #dir_text)
    }})
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
    let (generated, author, duration, downtime, reviewed) = (
        option_cow(h.generated.as_deref()),
        option_cow(h.author.as_deref()),
        option_cow(h.estimated_duration.as_deref()),
        option_cow(h.downtime_required.as_deref()),
        option_cow(h.reviewed_by.as_deref()),
    );
    quote! {
        ::migrator::Migration {
            version: #version,
            name: #name,
            issue: #issue,
            title: #title,
            file_name: #file_name,
            checksum: #checksum,
            no_transaction: #no_transaction,
            header: ::migrator::Header {
                generated: #generated,
                author: #author,
                estimated_duration: #duration,
                downtime_required: #downtime,
                reviewed_by: #reviewed,
            },
            up: ::migrator::__embed::section_at(&STATEMENTS, #up_start, #up_len),
            down: #down,
            tables: ::migrator::__embed::names_at(&NAMES, #names_start, #names_len),
            allows: ::migrator::__embed::allows_at(&ALLOWS, #allows_start, #allows_len),
        }
    }
}
