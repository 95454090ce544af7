//! `red plan FILE`: show what running a file would do, batch by batch, without doing it.

use std::path::PathBuf;

use clap::Args;

use crate::cli::args::{CliCompat, OutputFormat, SourceArgs, output_format};
use crate::cli::intake::Reporter;
use crate::cli::{ExitStatus, Printer};
use crate::diagnostic;
use crate::plan::{self, PlanOptions};

/// Arguments of `red plan`.
#[derive(Debug, Args)]
#[command(after_help = "Nothing is contacted, pulled, written or run. \
    See docs/plan.md and, for the argv rules of each mode, docs/cli-semantics.md.")]
pub struct PlanArgs {
    /// The RED file (YAML or JSON); `-` reads standard input.
    pub file: PathBuf,
    /// Whose command-line rules to follow: CWL v1.0 as cwltool builds it, or cc-core 9.3.
    #[arg(long, value_enum, default_value_t = CliCompat::Cwl)]
    pub cli_compat: CliCompat,
    /// Output format.
    #[arg(long, default_value = "human", value_parser = output_format(
        "A readable summary",
        "One JSON document: `{\"batches\": […]}`",
    ))]
    pub format: OutputFormat,
    /// Where the values of `{{variables}}` come from (the plan never shows protected values);
    /// a variable without a value is shown as written, `{{name}}`, and nothing is asked for
    /// without `--prompt`.
    #[command(flatten)]
    pub sources: SourceArgs,
    /// Show fresh UUIDs for staging directories instead of stable `<input-N>` placeholders.
    #[arg(long)]
    pub fresh_ids: bool,
}

/// Run `red plan`.
pub fn run(args: &PlanArgs, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let report = Reporter::for_file(printer, &args.file, args.format);
    let filled = match report.filled_partly(&args.file, &args.sources) {
        Ok(filled) => filled,
        Err(status) => return Ok(status),
    };
    let path = &report.path;
    let options = PlanOptions {
        mode: args.cli_compat.mode(),
        stable_ids: !args.fresh_ids,
    };
    let plan = match plan::build(&filled, &options) {
        Ok(plan) => plan,
        Err(error) => {
            printer.err_masked(&diagnostic::render_human(
                &[error.to_diagnostic()],
                Some(filled.source()),
                path,
                &printer.redactor(),
                printer.color(),
            ));
            return Ok(ExitStatus::Failure);
        }
    };
    let text = match args.format {
        OutputFormat::Human => plan::render_human(&plan),
        OutputFormat::Json => {
            let value = serde_json::json!({
                "batches": plan.batches,
                "mode": plan.mode,
                "unfilled": filled.unfilled(),
            });
            format!("{}\n", serde_json::to_string_pretty(&value)?)
        }
    };
    printer.out(&text);
    if let Some(note) = plan::unfilled_note(filled.unfilled()) {
        printer.note(&note);
    }
    Ok(ExitStatus::Success)
}
