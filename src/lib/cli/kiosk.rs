//! How a Kiosk client error is shown, for `red kiosk` and `red submit --kiosk`.

use super::{ExitStatus, Failure, Printer};
use crate::kiosk;

/// Show a Kiosk error with its hint: an unknown job type is the input's fault (1), anything else
/// the infrastructure's (2).
pub(crate) fn fail(printer: &Printer, error: &kiosk::Error) -> ExitStatus {
    let status = match error {
        kiosk::Error::UnknownJobType { .. } => ExitStatus::Failure,
        _ => ExitStatus::Error,
    };
    let failure = match error {
        kiosk::Error::Io { .. } => Failure::new("io", error.to_string(), status)
            .hint(Some("check the path and its permissions")),
        kiosk::Error::UnknownJobType { .. } => Failure::new("kiosk", error.to_string(), status)
            .hint(Some("`red kiosk jobtypes --url URL` lists the job types")),
        _ => Failure::new("kiosk", error.to_string(), status).hint(Some(
            "check the Kiosk's URL and that it answers (`red kiosk jobtypes --url URL`)",
        )),
    };
    printer.fail(&failure)
}
