//! `migrator-tool import --from diesel|sqlx|refinery SRC --out DIR`: converts another tool's migrations
//! once to migrator's own file format, for teams that want issue tags and review marks from now on.
//! Each file gets an `-- Imported-from: <tool> <original>` header and the original SQL verbatim; its
//! version keeps the original's ordering key (diesel's padded to 18 digits), so a database that tool
//! migrated can be adopted later. Engine sub-directories are imported into the same sub-directories.
//! Every file is written, or none. Exit codes: 0 imported, 1 refused input or a write failure, 2 usage.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::ValueEnum;
use migrator_format::{import, load_dir_as, Layout};
use migrator_tool::write::{write_all, PlannedFile};

/// The tools `import` reads.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum FromArg {
    /// diesel: `<version>_<name>/up.sql`, `down.sql`, `metadata.toml`.
    Diesel,
    /// sqlx: `<version>_<description>.sql`, or `.up.sql` and `.down.sql`.
    Sqlx,
    /// refinery: `V<version>__<name>.sql`, in sub-directories too.
    Refinery,
}

/// Arguments of `import`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The tool whose migrations directory SRC is.
    #[arg(long, value_enum)]
    from: FromArg,
    /// The migrations directory to convert.
    src: PathBuf,
    /// The directory to write the native files to; it must not exist or be empty.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
}

/// Runs `import`.
pub fn run(args: Args) -> ExitCode {
    let layout = match args.from {
        FromArg::Diesel => Layout::Diesel,
        FromArg::Sqlx => Layout::Sqlx,
        FromArg::Refinery => Layout::Refinery,
    };
    if !args.src.is_dir() {
        eprintln!("error: {}: no such directory", args.src.display());
        return ExitCode::from(2);
    }
    if let Err(why) = check_out(&args.out) {
        eprintln!("error: --out {}: {why}", args.out.display());
        return ExitCode::from(2);
    }
    tracing::info!(src = %args.src.display(), %layout, "loading");
    let loaded = match load_dir_as(&args.src, layout) {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("error: cannot import {}:\n{e}", args.src.display());
            return ExitCode::FAILURE;
        }
    };
    let files = match import::import(&args.src, &loaded) {
        Ok(files) => files,
        Err(errors) => {
            eprintln!("error: cannot import {}:", args.src.display());
            for e in errors {
                eprintln!("{e}");
            }
            return ExitCode::FAILURE;
        }
    };
    let planned: Vec<PlannedFile> = files
        .iter()
        .map(|f| PlannedFile {
            path: args.out.join(&f.rel_path),
            contents: f.text.clone(),
        })
        .collect();
    if let Err(e) = write_all(&planned) {
        eprintln!("error: nothing was written: {e}");
        return ExitCode::FAILURE;
    }
    for f in &files {
        println!("{} -> {}", f.from, f.rel_path);
    }
    println!(
        "imported {} {layout} migration(s) from {} into {}; each file names its original in `-- Imported-from:`",
        files.len(),
        args.src.display(),
        args.out.display()
    );
    ExitCode::SUCCESS
}

/// `--out` must not exist, or be an empty directory: an import never mixes with or overwrites files.
fn check_out(out: &Path) -> Result<(), String> {
    match std::fs::read_dir(out) {
        Ok(mut entries) => match entries.next() {
            None => Ok(()),
            Some(_) => Err("not empty; import writes into a new or empty directory".to_string()),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e.to_string()),
    }
}
