//! `red lock FILE`: write a locked copy of a RED file (image pinned, inputs with sizes,
//! checksums and listings), its templates kept. The work is in [`crate::lock`].

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::cli::args::{OutputFormat, SourceArgs};
use crate::cli::documents::{privacy, write_one};
use crate::cli::intake::{self, Reporter};
use crate::cli::runtime::{self, Threads};
use crate::cli::{ExitStatus, Printer, values};
use crate::execute::docker::Cancellation;
use crate::execute::local;
use crate::lock::{self, Locked, Options};
use crate::plan::PlanOptions;

/// Arguments of `red lock`.
#[derive(Debug, Args)]
#[command(
    after_help = "The image is pinned to a digest from the local Docker (never pulled); every \
    File input gets `size` and `checksum`, every Directory input a `listing`, from a fetch \
    through its connector. `{{variables}}` stay as written. See docs/lock.md."
)]
pub struct LockArgs {
    /// The RED file (YAML or JSON; not standard input, which can be read only once).
    pub file: PathBuf,
    /// Where the values of `{{variables}}` come from (needed to fetch, never written).
    #[command(flatten)]
    pub sources: SourceArgs,
    /// Write the locked file here instead of to standard output.
    #[arg(short = 'o', long, value_name = "OUT")]
    pub output: Option<PathBuf>,
    /// Transfer nothing: lock only local inputs, and say which were left unlocked.
    #[arg(long)]
    pub no_fetch: bool,
    /// Fail a transfer attempt that moves less than 1 KiB in this long.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = values::duration)]
    pub stall_timeout: Duration,
}

/// Run `red lock`.
pub fn run(args: &LockArgs, printer: &Printer) -> anyhow::Result<ExitStatus> {
    if args.file.as_os_str() == "-" {
        return Err(crate::cli::usage_with_hint(
            "red lock reads the file twice (to fetch with its values, to write it without \
             them), so it cannot read standard input",
            "save the document to a file first",
        ));
    }
    let report = Reporter::for_file(printer, &args.file, OutputFormat::Human);
    let template = match intake::load_template(&report, &args.file) {
        Ok(template) => template,
        Err(status) => return Ok(status),
    };
    let filled = match report.filled(&args.file, &args.sources) {
        Ok(filled) => filled,
        Err(status) => return Ok(status),
    };
    let plan = match report.planned(&filled, &PlanOptions::default()) {
        Ok(plan) => plan,
        Err(status) => return Ok(status),
    };
    let options = Options {
        fetch: !args.no_fetch,
        base_dir: local::base_dir(&args.file),
        stall: args.stall_timeout,
    };
    let runtime = runtime::build(Threads::PerCore)?;
    let result = runtime.block_on(async {
        let cancellation = Cancellation::on_signals()?;
        anyhow::Ok(lock::run(&filled, &plan, &options, &cancellation).await)
    });
    runtime::shut_down(runtime);
    let locked = match result? {
        Ok(locked) => locked,
        Err(lock::Error::Connectors(diagnostics)) => {
            return Ok(report.diagnostics(&diagnostics, Some(filled.source())));
        }
        Err(lock::Error::Interrupted) => {
            printer.err("interrupted\n");
            return Ok(ExitStatus::Interrupted);
        }
        Err(error @ lock::Error::Input { .. }) => {
            printer.err(&format!("error: {error}\n"));
            return Ok(ExitStatus::Failure);
        }
        Err(error) => return Err(error.into()),
    };
    write(args, printer, &template, &locked)
}

/// Write the locked document and say what was left as written.
fn write(
    args: &LockArgs,
    printer: &Printer,
    template: &crate::parse::Parsed,
    locked: &Locked,
) -> anyhow::Result<ExitStatus> {
    let text = lock::locked_text(template, locked.image.as_ref(), &locked.inputs)?;
    match &args.output {
        Some(path) => write_one(path, &text, privacy(template))?,
        None => printer.out(&text),
    }
    for note in &locked.notes {
        printer.warn(&format!("note: {note}\n"));
    }
    let files = locked
        .inputs
        .iter()
        .filter(|i| !matches!(i.lock, lock::InputLock::Unlocked { .. }))
        .count();
    printer.note(&format!(
        "locked {files} of {} input(s){}\n",
        locked.inputs.len(),
        args.output
            .as_ref()
            .map(|p| format!(" into {}", p.display()))
            .unwrap_or_default()
    ));
    Ok(ExitStatus::Success)
}
