//! The migration file format of migrator, shared by the runtime, the `embed_migrations!` proc-macro and the
//! companion tool, so that the compile-time and run-time views of a migration directory cannot drift.
//!
//! Data flows one way: [`parse_file`] turns the text of one native file into a [`Migration`] (header,
//! directives, UP/DOWN statements with their line numbers, SHA-256 of the normalised text), and
//! [`load_dir`] reads a whole directory: it detects the [`Layout`] (native, diesel, sqlx, refinery), loads
//! or refuses every entry by name, keeps other tools' SQL verbatim with their identity ([`Original`]),
//! builds the per-[`Engine`] variant sets, and checks each set (no duplicate versions). [`import`] converts
//! another tool's directory to native files. See `README.md` beside this crate.
//!
//! The [`Migration`] type holds `Cow<'static, _>` fields so that a set the proc-macro embeds (as one string,
//! see [`embedded`]) borrows its strings from the binary, while the runtime and the tool build the same type
//! from files read at run time.

pub mod backfill;
mod checks;
pub mod embedded;
mod engine;
mod error;
mod file;
pub mod import;
mod layout;
mod model;
mod name;
pub mod policy;
mod read;
mod rows;
mod set;
mod split;

pub use backfill::{Backfill, BatchStatement};
pub use checks::{closest_check, is_known_check, CHECK_IDS};
pub use engine::EngineKind;
pub use error::{FormatError, FormatErrorKind, SetError};
pub use file::{checksum_hex, is_metrics_marker, normalise, parse_file};
pub use layout::refinery::checksum as refinery_checksum;
pub use model::{
    DownKind, Engine, EngineMigrations, Header, Layout, Migration, Original, Statement,
};
pub use name::{
    diesel_key, diesel_version, parse_file_name, parse_imported_file_name, version_now, FileName,
    DIESEL_KEY_DIGITS,
};
pub use policy::{Policy, PolicyError, POLICY_FILE};
pub use read::{decode, IGNORED};
pub use rows::rows_select;
pub use set::{load_dir, load_dir_as, migration_files, LoadedDir};
pub use split::{split_statements, statement_words, SplitError};
