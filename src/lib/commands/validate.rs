//! `red validate FILES…`: check files and report every problem, in parallel across files.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use rayon::prelude::*;

use crate::cli::{ExitStatus, Failure, Printer};
use crate::diagnostic::{self, FileReport, Severity};
use crate::redact::Redactor;
use crate::source::SourceFile;
use crate::validate::{self, Level, Options};

/// Arguments of `red validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// RED files to check (YAML or JSON); `-` reads standard input.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// Apply only the rules of the reference validator (red-val 9.3), for identical verdicts.
    /// By default engine settings and template placement are checked too.
    #[arg(long)]
    pub red_val: bool,
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Messages with source lines, for people.
    Human,
    /// One JSON document, for CI.
    Json,
}

struct Outcome {
    report: FileReport,
    source: Option<SourceFile>,
    io_error: bool,
    secrets: Vec<String>,
}

/// Run `red validate`.
pub fn run(args: &ValidateArgs, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let options = Options {
        level: if args.red_val {
            Level::RedVal
        } else {
            Level::Full
        },
    };
    let outcomes: Vec<Outcome> = args
        .files
        .par_iter()
        .map(|path| check(path, &options))
        .collect();
    match args.format {
        Format::Json => {
            let redactor = Redactor::new(outcomes.iter().flat_map(|o| o.secrets.iter()));
            let reports: Vec<FileReport> = outcomes.iter().map(|o| o.report.clone()).collect();
            let text = diagnostic::render_json(&reports, &redactor);
            printer.out(&format!(
                "{}\n",
                with_error_keys(text, &outcomes, &redactor)
            ));
        }
        Format::Human => {
            for outcome in &outcomes {
                let text = diagnostic::render_human(
                    &outcome.report.diagnostics,
                    outcome.source.as_ref(),
                    &outcome.report.path,
                    &Redactor::new(&outcome.secrets),
                    printer.color(),
                );
                printer.err(&text);
                if outcome.report.valid {
                    printer.err(&format!("{}: valid\n", outcome.report.path));
                }
            }
            let invalid = outcomes.iter().filter(|o| !o.report.valid).count();
            if outcomes.len() > 1 {
                printer.err(&format!(
                    "{} files checked, {} valid, {} invalid\n",
                    outcomes.len(),
                    outcomes.len() - invalid,
                    invalid
                ));
            }
        }
    }
    Ok(if outcomes.iter().any(|o| o.io_error) {
        ExitStatus::Error
    } else if outcomes.iter().any(|o| !o.report.valid) {
        ExitStatus::Failure
    } else {
        ExitStatus::Success
    })
}

/// The report with the error document's keys (`code`, `message`, `hint`, `path`, `line`,
/// `column`, …) of the first error in front when a file is invalid, as every command's
/// `--format json` has on failure (docs/exit-codes.md).
fn with_error_keys(report: String, outcomes: &[Outcome], redactor: &Redactor) -> String {
    let Some(first) = outcomes.iter().find(|o| !o.report.valid) else {
        return report;
    };
    let Ok(serde_json::Value::Object(files)) = serde_json::from_str(&report) else {
        return report;
    };
    let status = if outcomes.iter().any(|o| o.io_error) {
        ExitStatus::Error
    } else {
        ExitStatus::Failure
    };
    let failure = Failure::from_diagnostics(&first.report.path, &first.report.diagnostics, status);
    let mut document = serde_json::Value::Object(failure.document());
    redactor.redact_value(&mut document);
    let mut document = match document {
        serde_json::Value::Object(document) => document,
        _ => return report,
    };
    document.extend(files);
    serde_json::to_string_pretty(&document).unwrap_or(report)
}

fn check(path: &std::path::Path, options: &Options) -> Outcome {
    let display = path.display().to_string();
    match crate::load::file(path) {
        Err(error) => Outcome {
            report: FileReport {
                path: display,
                valid: false,
                red_version: None,
                diagnostics: vec![error.diagnostic],
            },
            // The file did not parse, so its secrets are a best guess; mask them in the quoted line.
            secrets: error
                .source
                .as_ref()
                .map(|source| crate::fill::guess_secret_texts(source.text()))
                .unwrap_or_default(),
            source: error.source,
            io_error: error.io,
        },
        Ok(parsed) => {
            let red_version = validate::red_version(&parsed.tree);
            let secrets = crate::fill::secret_texts(&parsed);
            let (parsed, diagnostics) = match validate::document(parsed, options) {
                Ok(validated) => {
                    let mut warnings = validated.warnings().to_vec();
                    if options.level == Level::Full {
                        // The reproducibility lint: the argv differs between cwl and cc semantics.
                        warnings.extend(crate::plan::lint(validated.tree()));
                    }
                    (validated.into_parsed(), warnings)
                }
                Err(invalid) => (invalid.parsed, invalid.diagnostics),
            };
            let valid = !diagnostics.iter().any(|d| d.severity == Severity::Error);
            Outcome {
                report: FileReport {
                    path: display,
                    valid,
                    red_version,
                    diagnostics,
                },
                source: Some(parsed.source),
                io_error: false,
                secrets,
            }
        }
    }
}
