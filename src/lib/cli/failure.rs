//! What the edge knows about a failed command, rendered once by [`super::Printer::fail`]: as
//! `error: …` lines on stderr for people and, with `--format json`, as one error document on
//! stdout (a final NDJSON event for `red exec`), so a pipeline that reads stdout never gets
//! nothing. The shape is documented in `docs/exit-codes.md`.

use serde_json::{Map, Value};

use super::ExitStatus;
use crate::diagnostic::{Diagnostic, Severity};

/// The codes of error documents that are not a file's diagnostic codes (those are listed in
/// `docs/validate.md`); `docs/exit-codes.md` explains each.
pub const CODES: &[&str] = &[
    "usage",
    "io",
    "docker",
    "agency",
    "kiosk",
    "connector",
    "gpu",
    "failed",
];

/// How errors are shown, from the command's `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ErrorFormat {
    /// Only on stderr.
    #[default]
    Human,
    /// Also one pretty JSON document on stdout.
    Json,
    /// Also one NDJSON event (`"event": "error"`) on stdout.
    Ndjson,
}

/// A command's usage error found after the command line was parsed (exit 2, code `usage`).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Usage {
    message: String,
    hint: Option<String>,
}

/// A usage error with this message.
pub fn usage(message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Usage {
        message: message.into(),
        hint: None,
    })
}

/// A usage error with this message and hint.
pub fn usage_with_hint(message: impl Into<String>, hint: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Usage {
        message: message.into(),
        hint: Some(hint.into()),
    })
}

/// One failure: a stable code, what happened, why (causes), what to do, where, and the exit
/// status it calls for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// A stable identifier (a diagnostic code or one of [`CODES`]).
    pub code: &'static str,
    /// What went wrong, in one sentence.
    pub message: String,
    /// The underlying causes, outermost first.
    pub causes: Vec<String>,
    /// What to do about it.
    pub hint: Option<String>,
    /// The file concerned.
    pub path: Option<String>,
    /// Line in that file, 1-based.
    pub line: Option<u32>,
    /// Column in that file, 1-based.
    pub column: Option<u32>,
    /// The exit status.
    pub status: ExitStatus,
}

impl Failure {
    /// A failure with a code, a message and an exit status.
    #[must_use]
    pub fn new(code: &'static str, message: impl Into<String>, status: ExitStatus) -> Self {
        Self {
            code,
            message: message.into(),
            causes: Vec::new(),
            hint: None,
            path: None,
            line: None,
            column: None,
            status,
        }
    }

    /// Attach a hint.
    #[must_use]
    pub fn hint(mut self, hint: Option<impl Into<String>>) -> Self {
        self.hint = hint.map(Into::into);
        self
    }

    /// Attach the file concerned.
    #[must_use]
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.path = Some(path.into());
        self
    }

    /// The first error among a file's diagnostics, located in `path`.
    #[must_use]
    pub fn from_diagnostics(path: &str, diagnostics: &[Diagnostic], status: ExitStatus) -> Self {
        let first = diagnostics
            .iter()
            .find(|d| d.severity == Severity::Error)
            .or(diagnostics.first());
        let Some(diagnostic) = first else {
            return Self::new("failed", "the file has problems", status).path(path);
        };
        let mut failure = Self::new(diagnostic.code, diagnostic.message.clone(), status)
            .hint(diagnostic.hint.clone())
            .path(path);
        failure.line = diagnostic.line;
        failure.column = diagnostic.column;
        failure
    }

    /// An error a command returned: exit 2, its code and hint from the first cause `red` knows.
    #[must_use]
    pub fn from_error(error: &anyhow::Error) -> Self {
        let (code, hint) = classify(error);
        let mut failure = Self::new(code, error.to_string(), ExitStatus::Error).hint(hint);
        failure.causes = error.chain().skip(1).map(ToString::to_string).collect();
        failure
    }

    /// The lines for people: `error: …`, `caused by: …`, `help: …`.
    #[must_use]
    pub fn human(&self) -> String {
        let mut text = format!("error: {}\n", self.message);
        for cause in &self.causes {
            text.push_str(&format!("  caused by: {cause}\n"));
        }
        if let Some(hint) = &self.hint {
            text.push_str(&format!("  help: {hint}\n"));
        }
        text
    }

    /// The error document: `code`, `message`, `hint` (`null` when there is none), `causes`,
    /// and `path`, `line`, `column` where they are known.
    #[must_use]
    pub fn document(&self) -> Map<String, Value> {
        let mut document = Map::new();
        document.insert("code".into(), self.code.into());
        document.insert("message".into(), self.message.clone().into());
        document.insert("hint".into(), self.hint.clone().into());
        document.insert("causes".into(), self.causes.clone().into());
        if let Some(path) = &self.path {
            document.insert("path".into(), path.clone().into());
        }
        if let Some(line) = self.line {
            document.insert("line".into(), line.into());
        }
        if let Some(column) = self.column {
            document.insert("column".into(), column.into());
        }
        document.insert("exitCode".into(), exit_number(self.status).into());
        document
    }
}

fn exit_number(status: ExitStatus) -> u8 {
    match status {
        ExitStatus::Success => 0,
        ExitStatus::Failure => 1,
        ExitStatus::Error => 2,
        ExitStatus::Interrupted => 130,
    }
}

/// The code and hint of the first error in the chain `red` has a name for.
fn classify(error: &anyhow::Error) -> (&'static str, Option<String>) {
    for cause in error.chain() {
        if let Some(usage) = cause.downcast_ref::<Usage>() {
            let hint = usage.hint.clone().or_else(|| {
                Some("see `red help` or `red <command> --help` for the options".to_owned())
            });
            return ("usage", hint);
        }
        if let Some(error) = cause.downcast_ref::<crate::agency::Error>() {
            return ("agency", error.hint().map(str::to_owned));
        }
        if cause.is::<crate::kiosk::Error>() {
            return ("kiosk", Some(KIOSK_HINT.to_owned()));
        }
        if let Some(error) = cause.downcast_ref::<crate::execute::docker::Error>() {
            return ("docker", docker_hint(error));
        }
        if let Some(error) = cause.downcast_ref::<crate::execute::local::ExecError>() {
            return exec_code(error);
        }
        if cause.is::<crate::connector::ConnectorError>() {
            return ("connector", None);
        }
        if cause.is::<crate::gpus::Error>() {
            return (
                "gpu",
                Some(
                    "check that `nvidia-smi` runs on this host (it comes with the NVIDIA driver)"
                        .to_owned(),
                ),
            );
        }
        if cause.is::<std::io::Error>() {
            return (
                "io",
                Some("check the path, its permissions and free space".to_owned()),
            );
        }
    }
    ("failed", None)
}

const DOCKER_HINT: &str = "is the Docker daemon running? red uses `DOCKER_HOST`, else \
                           /var/run/docker.sock";
const KIOSK_HINT: &str = "check the Kiosk's URL and that it answers (`red kiosk jobtypes --url \
                          URL`)";

fn docker_hint(error: &crate::execute::docker::Error) -> Option<String> {
    use crate::execute::docker::Error;
    match error {
        Error::Connect { .. } => Some(DOCKER_HINT.to_owned()),
        Error::ImageMissing { .. } => {
            Some("pull the image (`docker pull IMAGE`), or run without `--no-pull`".to_owned())
        }
        _ => None,
    }
}

fn exec_code(error: &crate::execute::local::ExecError) -> (&'static str, Option<String>) {
    use crate::execute::local::ExecError;
    match error {
        ExecError::Docker(error) => ("docker", docker_hint(error)),
        ExecError::Gpu(_) => ("gpu", Some("`red gpus` lists the GPUs red sees".to_owned())),
        ExecError::RunDir { .. } => (
            "io",
            Some("check that the outputs directory can be written".to_owned()),
        ),
        _ => ("failed", None),
    }
}

/// How errors are shown for a command line that did not parse: JSON when it asks for
/// `--format json`, NDJSON when the command is `exec`.
pub(crate) fn raw_error_format(args: &[std::ffi::OsString]) -> ErrorFormat {
    let json = args
        .iter()
        .zip(args.iter().skip(1))
        .any(|(flag, value)| flag == "--format" && value == "json")
        || args.iter().any(|a| a == "--format=json");
    let exec = args
        .iter()
        .skip(1)
        .find(|a| !a.to_string_lossy().starts_with('-'))
        == Some(&"exec".into());
    match (json, exec) {
        (false, _) => ErrorFormat::Human,
        (true, true) => ErrorFormat::Ndjson,
        (true, false) => ErrorFormat::Json,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_have_every_key() {
        let error = usage("`--x` needs `--y`");
        let document = Failure::from_error(&error).document();
        assert_eq!(document["code"], "usage");
        assert_eq!(document["exitCode"], 2);
        assert!(document["hint"].is_string());
        let io = anyhow::Error::new(std::io::Error::other("gone")).context("cannot read `a`");
        let failure = Failure::from_error(&io);
        assert_eq!(failure.code, "io");
        assert_eq!(failure.causes, ["gone"]);
        assert!(failure.human().contains("caused by: gone"));
    }

    #[test]
    fn a_diagnostic_gives_its_place() {
        let diagnostic = Diagnostic::error("schema", "bad")
            .at(crate::source::Location::new(3, 4))
            .hint("fix it");
        let failure = Failure::from_diagnostics("f.yml", &[diagnostic], ExitStatus::Failure);
        let document = failure.document();
        assert_eq!(document["path"], "f.yml");
        assert_eq!(
            (document["line"].clone(), document["column"].clone()),
            (3.into(), 4.into())
        );
        assert_eq!(document["exitCode"], 1);
    }
}
