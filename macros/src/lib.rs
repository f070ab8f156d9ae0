//! `embed_migrations!("migrations")`: reads the directory at compile time with the shared parser of
//! `migrator-format`, refuses malformed files with a compile error naming file and line, and emits the set
//! as one string literal that the runtime decodes at the set's first use (1,000 migrations cost the
//! compiler little, and editing one re-does little: see `set.rs`).
//!
//! `embed_policy!("migration_safety.yaml")`: reads and checks the safety policy file at compile time (a bad
//! file is a compile error naming file, line and key) and emits it as a static `migrator::Policy`.
//!
//! Use them through the `migrator` crate, which re-exports them.

mod set;

use std::path::PathBuf;

use migrator_format::{load_dir, Policy};
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
        Ok(tokens) => tokens,
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

fn expand(relative: &str) -> Result<TokenStream, String> {
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
    let source = set::set_source(&dir, &loaded);
    let tokens = source
        // The compiler's own lexer (proc-macro2's parse checks the text with its own lexer first, built
        // at the host's opt-level).
        .parse::<TokenStream>()
        .map_err(|e| format!("embed_migrations! wrote Rust the compiler does not read: {e}"))?;
    if timing {
        eprintln!(
            "embed_migrations!({relative}): {} files read and parsed in {parsed:?}, {} bytes of Rust written and read back in {:?}",
            loaded.files.len(),
            source.len(),
            started.elapsed() - parsed
        );
    }
    Ok(tokens)
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
