//! `red upgrade FILE`: rewrite a RED 5–8 file as RED 9, saying what changed, and check the result.

use std::fmt::Write as _;
use std::path::PathBuf;

use clap::Args;

use crate::cli::documents::{DocumentFormat, load, privacy, shown, write_one};
use crate::cli::{ExitStatus, Printer};
use crate::convert;
use crate::diagnostic::{self, Diagnostic};
use crate::source::{Origin, SourceFile};
use crate::upgrade;
use crate::validate::{self, Options};

/// Arguments of `red upgrade`.
#[derive(Debug, Args)]
pub struct UpgradeArgs {
    /// The RED 5, 6, 7 or 8 file; `-` reads standard input.
    #[arg(value_hint = clap::ValueHint::FilePath)]
    pub file: PathBuf,
    /// Write the RED 9 file here instead of standard output.
    #[arg(short, long, value_name = "OUT", value_hint = clap::ValueHint::FilePath)]
    pub output: Option<PathBuf>,
    /// The document format to write (default: the input's).
    // `--format` is the older spelling, still accepted.
    #[arg(long, value_enum, alias = "format")]
    pub to: Option<DocumentFormat>,
}

/// Run `red upgrade`.
pub fn run(args: &UpgradeArgs, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let path = shown(&args.file);
    let parsed = match load(&args.file, printer) {
        Ok(parsed) => parsed,
        Err(status) => return Ok(status),
    };
    let redactor = printer.redactor().with(crate::fill::secret_texts(&parsed));
    let upgraded = match upgrade::document(&parsed.tree) {
        Ok(upgraded) => upgraded,
        Err(error) => {
            let mut diagnostic = Diagnostic::error("upgrade", error.to_string());
            if let Some(location) = error.location() {
                diagnostic = diagnostic.at(location);
            }
            if let Some(hint) = error.hint() {
                diagnostic = diagnostic.hint(hint);
            }
            let text = diagnostic::render_human(
                &[diagnostic],
                Some(&parsed.source),
                &path,
                &redactor,
                printer.color(),
            );
            printer.err_masked(&text);
            return Ok(ExitStatus::Failure);
        }
    };
    let format = args
        .to
        .unwrap_or(if parsed.json {
            DocumentFormat::Json
        } else {
            DocumentFormat::Yaml
        })
        .with_indent(2);
    let text = match convert::emit(&upgraded.value, format) {
        Ok(text) => text,
        Err(error) => {
            let mut diagnostic = Diagnostic::error("convert", error.to_string());
            if let Some(location) = error.location(&parsed.tree) {
                diagnostic = diagnostic.at(location);
            }
            printer.err_masked(&diagnostic::render_human(
                &[diagnostic],
                Some(&parsed.source),
                &path,
                &redactor,
                printer.color(),
            ));
            return Ok(ExitStatus::Failure);
        }
    };
    printer.note(&redactor.redact(&notes(&path, &upgraded)));
    match &args.output {
        Some(output) => write_one(output, &text, privacy(&parsed))?,
        None => printer.out(&text),
    }
    // The result must be a valid RED 9 file; if the original had other problems, say so.
    let written = args
        .output
        .as_ref()
        .map_or_else(|| "<upgraded>".to_owned(), |o| o.display().to_string());
    let source = SourceFile::new(Origin::Memory(written.clone()), text);
    let Ok(reparsed) = crate::load::text(source) else {
        anyhow::bail!("the upgraded text does not parse; this is a bug in red");
    };
    match validate::document(reparsed, &Options::default()) {
        Ok(_) => Ok(ExitStatus::Success),
        Err(invalid) => {
            printer.err_masked(&diagnostic::render_human(
                &invalid.diagnostics,
                Some(&invalid.parsed.source),
                &written,
                &redactor,
                printer.color(),
            ));
            printer.err(
                "error: the upgraded file is not yet valid RED 9; the problems above were not made by the upgrade and need a person\n",
            );
            Ok(ExitStatus::Failure)
        }
    }
}

/// The notes as lines for standard error.
fn notes(path: &str, upgraded: &upgrade::Upgraded<'_>) -> String {
    let mut text = String::new();
    if upgraded.notes.is_empty() {
        let _ = writeln!(
            text,
            "note: `{path}` is RED {} already; nothing to change",
            upgraded.from
        );
        return text;
    }
    let _ = writeln!(
        text,
        "note: upgraded `{path}` from RED {} to RED 9 ({} change(s)):",
        upgraded.from,
        upgraded.notes.len()
    );
    for note in &upgraded.notes {
        match note.location {
            Some(location) => {
                let _ = writeln!(text, "  {path}:{location}: {}", note.message);
            }
            None => {
                let _ = writeln!(text, "  {path} `{}`: {}", note.pointer, note.message);
            }
        }
    }
    text
}
