//! The edge: what every command shares (flag groups, printing, the runtime, exit codes) and the
//! one place errors are rendered. The command table that parses the command line and picks the
//! command is [`crate::app`].
//!
//! Commands return an [`ExitStatus`] or an `anyhow` error; the error chain is rendered here, once,
//! as `error: …` followed by `caused by: …` lines. Exit codes are documented in
//! `docs/exit-codes.md`: 0 success, 1 invalid input or failed experiment, 2 usage or
//! infrastructure error, 130 interrupted.

pub(crate) mod agency;
pub mod args;
pub(crate) mod documents;
pub(crate) mod events;
mod failure;
pub mod generate;
pub(crate) mod intake;
pub(crate) mod kiosk;
pub mod log;
mod printer;
pub(crate) mod runtime;
pub mod values;

use std::process::ExitCode;

pub(crate) use failure::raw_error_format;
pub use failure::{CODES, ErrorFormat, Failure, Usage, usage, usage_with_hint};
pub use printer::{ColorChoice, Printer};

/// How `red` ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// Everything succeeded.
    Success,
    /// The input was invalid or the experiment failed.
    Failure,
    /// Usage error, or `red` or its infrastructure failed.
    Error,
    /// Interrupted by a signal, after cleanup.
    Interrupted,
}

impl From<ExitStatus> for ExitCode {
    fn from(status: ExitStatus) -> Self {
        ExitCode::from(match status {
            ExitStatus::Success => 0,
            ExitStatus::Failure => 1,
            ExitStatus::Error => 2,
            ExitStatus::Interrupted => 130,
        })
    }
}

/// What `red --version` prints after `red `: the version and the project's name, since another
/// `red` (Debian's restricted `ed`) may come first on `PATH`.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (Reproducible Experiment Description toolkit)"
);
