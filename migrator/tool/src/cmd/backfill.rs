//! `backfill`: runs the pending backfill migrations of `--dir` on the database now, batch by batch with a
//! progress bar on stderr, then applies the migrations that waited for them: the host's
//! `--migrate-backfill`, for operators without the host binary.

use std::process::ExitCode;

use migrator::admin::ProgressLine;
use migrator::render::{self, Style};

use super::database::{self, Create, DbArgs};

/// Arguments of `backfill`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    db: DbArgs,
    /// No progress bar (the report at the end only).
    #[arg(long)]
    quiet: bool,
}

/// Runs the backfills (several processes may run them at once: their batches take turns).
pub fn run(args: Args) -> ExitCode {
    database::run(&args.db, Create::No, |migrator, engine, out| {
        let mut bar = ProgressLine::stderr();
        let quiet = args.quiet;
        let report = migrator.backfill(engine, &mut |progress| {
            if !quiet {
                bar.draw(progress);
            }
        });
        bar.finish();
        out.write_all(render::report(&report?, Style::from_env()).as_bytes())
            .map_err(|e| migrator::Error::Usage(format!("cannot write the output: {e}")))
    })
}
