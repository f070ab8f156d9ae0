//! `embed_migrations!("migrations")`: reads the directory at compile time with the shared parser of
//! `migrator-format`, refuses malformed files with a compile error naming file and line, and emits the set
//! as static data (no code runs at start-up, and 1,000 migrations cost the compiler little).
//!
//! Use it through the `migrator` crate, which re-exports it.

use std::path::PathBuf;

use migrator_format::{load_dir, Migration, Statement};
use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as Tokens};
use quote::{format_ident, quote};
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

    let mut items = Vec::new();
    let mut entries = Vec::new();
    for (index, migration) in migrations.iter().enumerate() {
        let path = dir.join(migration.file_name.as_ref());
        let path = path.to_string_lossy();
        items.push(quote! { const _: &[u8] = include_bytes!(#path); });
        entries.push(migration_tokens(index, migration, &mut items));
    }
    let count = entries.len();
    let dir_text = dir.to_string_lossy();
    Ok(quote! {{
        #(#items)*
        static MIGRATIONS: [::migrator::Migration; #count] = [#(#entries),*];
        ::migrator::MigrationSet::from_static(&MIGRATIONS, #dir_text)
    }})
}

fn cow(text: &str) -> Tokens {
    quote! { ::std::borrow::Cow::Borrowed(#text) }
}

fn option_cow(text: Option<&str>) -> Tokens {
    match text {
        Some(t) => {
            let c = cow(t);
            quote! { ::std::option::Option::Some(#c) }
        }
        None => quote! { ::std::option::Option::None },
    }
}

fn statements_static(name: &proc_macro2::Ident, statements: &[Statement]) -> Tokens {
    let count = statements.len();
    let entries = statements.iter().map(|s| {
        let sql = cow(&s.sql);
        let line = s.line;
        quote! { ::migrator::Statement { sql: #sql, line: #line } }
    });
    quote! { static #name: [::migrator::Statement; #count] = [#(#entries),*]; }
}

fn migration_tokens(index: usize, m: &Migration, items: &mut Vec<Tokens>) -> Tokens {
    let up_name = format_ident!("UP_{}", index, span = Span::call_site());
    items.push(statements_static(&up_name, &m.up));
    let down = match &m.down {
        Some(down) => {
            let down_name = format_ident!("DOWN_{}", index);
            items.push(statements_static(&down_name, down));
            quote! { ::std::option::Option::Some(::std::borrow::Cow::Borrowed(&#down_name)) }
        }
        None => quote! { ::std::option::Option::None },
    };
    let tables_name = format_ident!("TABLES_{}", index);
    let table_count = m.tables.len();
    let tables = m.tables.iter().map(|t| cow(t));
    items.push(quote! { static #tables_name: [::std::borrow::Cow<'static, str>; #table_count] = [#(#tables),*]; });
    let allows_name = format_ident!("ALLOWS_{}", index);
    let allow_count = m.allows.len();
    let allows = m.allows.iter().map(|(id, reason)| {
        let (id, reason) = (cow(id), cow(reason));
        quote! { (#id, #reason) }
    });
    items.push(quote! {
        static #allows_name: [(::std::borrow::Cow<'static, str>, ::std::borrow::Cow<'static, str>); #allow_count] = [#(#allows),*];
    });

    let version = m.version;
    let name = cow(&m.name);
    let issue = match m.issue {
        Some(n) => quote! { ::std::option::Option::Some(#n) },
        None => quote! { ::std::option::Option::None },
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
            up: ::std::borrow::Cow::Borrowed(&#up_name),
            down: #down,
            tables: ::std::borrow::Cow::Borrowed(&#tables_name),
            allows: ::std::borrow::Cow::Borrowed(&#allows_name),
        }
    }
}
