//! The migration file format of migrator, shared by the runtime, the `embed_migrations!` proc-macro and the
//! companion tool, so that the compile-time and run-time views of a migration directory cannot drift.
//!
//! Data flows one way: [`parse_file`] turns the text of one file into a [`Migration`] (header, directives,
//! UP/DOWN statements with their line numbers, SHA-256 of the normalised text), and [`load_dir`] does it for
//! every `.sql` file of a directory and checks the set (no duplicate versions).
//!
//! The [`Migration`] type holds `Cow<'static, _>` fields so the proc-macro can emit it as static data (no code
//! runs at start-up) while the runtime and the tool build the same type from files read at run time.

mod checks;
mod error;
mod file;
mod model;
mod name;
pub mod policy;
mod set;
mod split;

pub use checks::{closest_check, is_known_check, CHECK_IDS};
pub use error::{FormatError, FormatErrorKind, SetError};
pub use file::{checksum_hex, is_metrics_marker, normalise, parse_file};
pub use model::{embed, Header, Migration, Statement};
pub use name::{parse_file_name, version_now, FileName};
pub use policy::{Policy, PolicyError, POLICY_FILE};
pub use set::{load_dir, migration_files};
pub use split::{split_statements, statement_words, SplitError};
