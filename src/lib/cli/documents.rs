//! What the commands that read and write documents share (`red convert`, `red upgrade`): the
//! formats written, loading with a located diagnostic, naming a path, writing a file.

use std::path::Path;

use clap::ValueEnum;

use super::{ExitStatus, Printer};
use crate::convert::Format;
use crate::diagnostic;
use crate::output_file::{self, Privacy};
use crate::parse::Parsed;

/// The formats `red` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DocumentFormat {
    /// JSON.
    Json,
    /// YAML (block style).
    #[value(alias = "yml")]
    Yaml,
}

impl DocumentFormat {
    pub(crate) fn with_indent(self, indent: usize) -> Format {
        match self {
            DocumentFormat::Json => Format::Json { indent },
            DocumentFormat::Yaml => Format::Yaml,
        }
    }
}

/// Load a file, printing the diagnostic on failure (exit 2 for I/O, 1 for bad content).
pub(crate) fn load(path: &Path, printer: &Printer) -> Result<Parsed, ExitStatus> {
    crate::load::file(path).map_err(|error| {
        // The file did not parse: its secrets are a best guess, masked in the quoted line.
        let secrets = error
            .source
            .as_ref()
            .map(|source| crate::fill::guess_secret_texts(source.text()))
            .unwrap_or_default();
        let text = diagnostic::render_human(
            &[error.diagnostic],
            error.source.as_ref(),
            &shown(path),
            &printer.redactor().with(secrets),
            printer.color(),
        );
        printer.err_masked(&text);
        if error.io {
            ExitStatus::Error
        } else {
            ExitStatus::Failure
        }
    })
}

/// How a path given on the command line is named in messages (`-` is standard input).
pub(crate) fn shown(path: &Path) -> String {
    if path.as_os_str() == "-" {
        "<stdin>".to_owned()
    } else {
        path.display().to_string()
    }
}

/// How private a file written from `parsed` must be: 0600 when it holds a protected value.
pub(crate) fn privacy(parsed: &Parsed) -> Privacy {
    Privacy::holding_secret(!crate::fill::secret_texts(parsed).is_empty())
}

/// Write a file the user named (see [`crate::output_file`]).
pub(crate) fn write_one(path: &Path, text: &str, privacy: Privacy) -> anyhow::Result<()> {
    Ok(output_file::write(path, text.as_bytes(), privacy)?)
}
