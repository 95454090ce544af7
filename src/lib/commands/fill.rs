//! `red fill FILE [--vars VARS]… [--env] [--prompt|--no-prompt] [-o OUT]`: fill a RED file's
//! `{{variables}}` and write the result with mode 0600.
//!
//! The template goes through the front door ([`crate::cli::intake`]), which masks every secret
//! from the moment it is known.

use std::path::{Path, PathBuf};

use clap::Args;
use serde::Serialize;

use crate::cli::args::{OutputFormat, SourceArgs, output_format};
use crate::cli::intake::{Reporter, obtain};
use crate::cli::{ExitStatus, Printer};
use crate::diagnostic::Diagnostic;
use crate::fill::{self, Filled, output};
use crate::output_file;

/// Arguments of `red fill`.
#[derive(Debug, Args)]
#[command(
    after_help = "Values are taken from the variables files (the last one given wins), \
    then from RED_VAR_<name> environment variables with --env, then from a prompt on the \
    terminal. See docs/credentials.md."
)]
pub struct FillArgs {
    /// The RED file with `{{variables}}` (YAML or JSON; `-` reads standard input).
    pub file: PathBuf,
    /// Where the values come from.
    #[command(flatten)]
    pub sources: SourceArgs,
    /// Where to write the filled file (mode 0600); `-` writes it to standard output
    ///
    /// Default: next to FILE, `.filled` before its extension (`exp.red.yml` →
    /// `exp.red.filled.yml`).
    #[arg(short, long, value_name = "OUT")]
    pub output: Option<PathBuf>,
    /// Format of the report (the filled document itself is always written as it was read).
    #[arg(long, default_value = "human", value_parser = output_format(
        "Messages for people, on standard error",
        "One JSON document on standard output",
    ))]
    pub format: OutputFormat,
}

/// One filled variable in the JSON report.
#[derive(Serialize)]
struct FilledVariable<'a> {
    name: &'a str,
    protected: bool,
    source: String,
}

/// Run `red fill`.
pub fn run(args: &FillArgs, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let report = Reporter {
        printer,
        path: args.file.display().to_string(),
        format: args.format,
    };
    if args.format == OutputFormat::Json && is_stdout(args.output.as_deref()) {
        return Err(crate::cli::usage(
            "`--format json` writes the report to standard output; name a file with `-o`",
        ));
    }
    let output = match &args.output {
        Some(path) => path.clone(),
        None => match output::default_path(&args.file) {
            Some(path) => path,
            None => {
                return Err(crate::cli::usage(
                    "reading the template from standard input needs `-o OUT` (or `-o -` for \
                     standard output)",
                ));
            }
        },
    };
    if !is_stdout(Some(&output)) && same_file(&args.file, &output) {
        return Err(crate::cli::usage(format!(
            "`{}` is the template itself; write the filled file elsewhere",
            output.display()
        )));
    }
    let (filled, values, warnings) = match obtain(&report, &args.file, &args.sources) {
        Ok(done) => done,
        Err(status) => return Ok(status),
    };
    if is_stdout(Some(&output)) {
        report.warnings(&warnings);
        printer.out_secret(filled.source().text());
        return Ok(ExitStatus::Success);
    }
    if let Err(error) = output_file::write(
        &output,
        filled.source().text().as_bytes(),
        output_file::Privacy::Private,
    ) {
        report.warnings(&warnings);
        return Err(anyhow::Error::new(error).context(format!(
            "cannot write the filled file `{}`",
            output.display()
        )));
    }
    success(&report, &filled, &values, &output, &warnings);
    Ok(ExitStatus::Success)
}

fn is_stdout(path: Option<&Path>) -> bool {
    path.is_some_and(|p| p.as_os_str() == "-")
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

fn success(
    report: &Reporter<'_>,
    filled: &Filled,
    values: &fill::Values,
    output: &Path,
    warnings: &[Diagnostic],
) {
    let variables: Vec<FilledVariable<'_>> = filled
        .variables()
        .iter()
        .map(|v| FilledVariable {
            name: &v.name,
            protected: v.protected,
            source: values
                .entry(&v.name)
                .map(|value| value.origin.to_string())
                .unwrap_or_default(),
        })
        .collect();
    match report.format {
        OutputFormat::Human => {
            report.warnings(warnings);
            let protected = variables.iter().filter(|v| v.protected).count();
            report.printer.note(&format!(
                "filled {} variable{} ({protected} protected) into `{}` (mode 0600)\n",
                variables.len(),
                if variables.len() == 1 { "" } else { "s" },
                output.display()
            ));
        }
        OutputFormat::Json => {
            report.printer.out_json(serde_json::json!({
                "file": report.path,
                "output": output.display().to_string(),
                "variables": variables,
                "warnings": warnings,
            }));
        }
    }
}
