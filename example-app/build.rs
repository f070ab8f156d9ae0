// The one line a host needs so that adding or deleting a migration file rebuilds the binary (editing a
// file already does, through the macro's include_bytes!).
fn main() {
    println!("cargo:rerun-if-changed=../migrations");
    println!("cargo:rerun-if-changed=migrations-async");
}
