//! The Rust source `embed_migrations!` expands to, written as text and handed to the compiler in one piece.
//!
//! The set itself is one string literal: the text `migrator_format::embedded::encode` writes (every
//! migration's fields and statements), which the runtime decodes at the set's first use. Around it: one
//! `const _` per file read, whose `include_bytes!` makes rustc rebuild the host when the file changes, and
//! an assertion that the runtime reads the text's format.
//!
//! Written as Rust items instead (a `const` per migration, its statements in `const`s of their own), a
//! 1,000-migration set was 1 MB of Rust that rustc lexed, resolved, checked, linted and recorded in its
//! incremental dep-graph on every rebuild of the host: about 0.5 s of the 0.85 s a rebuild took after
//! editing one migration (`-Z time-passes`; `bench/README.md`, "the set as one string").

use std::fmt::Write;
use std::path::Path;

use migrator_format::embedded::{encode, FORMAT};
use migrator_format::LoadedDir;

/// The block expression of the set read from `dir`: the files' `include_bytes!`, the format check, then
/// the `MigrationSet`.
pub(crate) fn set_source(dir: &Path, loaded: &LoadedDir) -> String {
    let text = encode(loaded);
    let mut out = String::with_capacity(text.len() * 5 / 4 + 128 * (loaded.files.len() + 2));
    out.push_str("{ ");
    for path in &loaded.files {
        // `write!` to a `String` cannot fail.
        let _ = writeln!(
            out,
            "const _: &[u8] = include_bytes!({:?});",
            path.to_string_lossy()
        );
    }
    let _ = write!(
        out,
        "const _: () = assert!(::migrator::__embed::FORMAT == {FORMAT}, \"embed_migrations! and the migrator runtime come from different versions of migrator-format\");\n\
         ::migrator::MigrationSet::from_embedded({text:?}, {:?}) }}",
        dir.to_string_lossy()
    );
    out
}
