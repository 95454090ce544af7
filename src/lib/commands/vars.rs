//! `red vars FILE [--format json]`: list a RED file's `{{variables}}`, where each is used and
//! whether it is protected. Never prints a value: the listing holds names, positions and key
//! paths only, and every line goes through the printer's redactor.

use std::fmt::Write as _;
use std::path::PathBuf;

use clap::Args;
use serde::Serialize;

use crate::cli::args::{OutputFormat, output_format};
use crate::cli::intake::{Reporter, load_template};
use crate::cli::{ExitStatus, Printer};
use crate::diagnostic::Diagnostic;
use crate::template::{self, Variable};

/// Arguments of `red vars`.
#[derive(Debug, Args)]
pub struct VarsArgs {
    /// The RED file (YAML or JSON; `-` reads standard input).
    pub file: PathBuf,
    /// Output format.
    #[arg(long, default_value = "human", value_parser = output_format(
        "A listing for people on standard output; problems with the file on standard error",
        "One JSON document on standard output, problems included",
    ))]
    pub format: OutputFormat,
}

#[derive(Serialize)]
struct JsonUse<'a> {
    pointer: &'a str,
    line: u32,
    column: u32,
    protected: bool,
}

#[derive(Serialize)]
struct JsonVariable<'a> {
    name: &'a str,
    protected: bool,
    uses: Vec<JsonUse<'a>>,
}

#[derive(Serialize)]
struct JsonListing<'a> {
    file: &'a str,
    valid: bool,
    variables: Vec<JsonVariable<'a>>,
    diagnostics: &'a [Diagnostic],
}

/// Run `red vars`.
pub fn run(args: &VarsArgs, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let report = Reporter {
        printer,
        path: args.file.display().to_string(),
        format: args.format,
    };
    let parsed = match load_template(&report, &args.file) {
        Ok(parsed) => parsed,
        Err(status) => return Ok(status),
    };
    let scan = template::scan(&parsed.tree);
    let status = if scan.is_ok() {
        ExitStatus::Success
    } else {
        ExitStatus::Failure
    };
    match args.format {
        OutputFormat::Human => {
            if !scan.is_ok() {
                report.diagnostics(&scan.diagnostics, Some(&parsed.source));
            } else if scan.variables.is_empty() {
                printer.note(&format!("`{}` has no variables\n", report.path));
            }
            printer.out(&human(&scan.variables));
        }
        OutputFormat::Json => {
            let listing = JsonListing {
                file: &report.path,
                valid: scan.is_ok(),
                variables: scan.variables.iter().map(json_variable).collect(),
                diagnostics: &scan.diagnostics,
            };
            printer.out_json(serde_json::to_value(&listing).unwrap_or_default());
        }
    }
    Ok(status)
}

fn json_variable(variable: &Variable) -> JsonVariable<'_> {
    JsonVariable {
        name: &variable.name,
        protected: variable.protected,
        uses: variable
            .uses
            .iter()
            .map(|u| JsonUse {
                pointer: &u.pointer,
                line: u.location.line,
                column: u.location.column,
                protected: u.protected,
            })
            .collect(),
    }
}

/// One block per variable: `name` (with `(protected)`), then `  line:column  pointer` per use.
fn human(variables: &[Variable]) -> String {
    let mut out = String::new();
    for variable in variables {
        let _ = writeln!(
            out,
            "{}{}",
            variable.name,
            if variable.protected {
                "  (protected)"
            } else {
                ""
            }
        );
        for usage in &variable.uses {
            let _ = writeln!(out, "  {:<8} {}", usage.location.to_string(), usage.pointer);
        }
    }
    out
}
