//! What the Kiosk commands share: how a Kiosk client error is shown (`red kiosk` and `red submit
//! --kiosk`), and where an option of `red kiosk` comes from when its flag is not given: red's
//! variable (`RED_KIOSK_…`), then kiosk-client's (`API_HOST`, `SCALE`, …), so that a setup made
//! for kiosk-client works unchanged (docs/kiosk.md, "Configuration from the environment").

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

/// An option's two names in the environment: red's (`RED_KIOSK_…`) and kiosk-client's.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EnvNames {
    /// red's own name, read first.
    pub red: &'static str,
    /// kiosk-client's name, read when red's is unset.
    pub kiosk_client: &'static str,
}

/// The value of an option: the flag when given, else red's variable, else kiosk-client's (an
/// empty variable counts as unset, as kiosk-client reads them). A value from the environment is
/// read by `parse`, as the flag's would be; the printer notes where it came from, so that a
/// variable left in the environment for kiosk-client never acts unseen.
///
/// # Errors
/// A usage error naming the variable when its value cannot be read.
pub(crate) fn setting<T>(
    printer: &Printer,
    flag: Option<T>,
    option: &str,
    names: EnvNames,
    parse: impl Fn(&str) -> Result<T, String>,
) -> anyhow::Result<Option<T>> {
    if flag.is_some() {
        return Ok(flag);
    }
    let Some((name, text)) = env_value(names) else {
        return Ok(None);
    };
    let value = parse(&text)
        .map_err(|why| crate::cli::usage(format!("`{name}` (for `{option}`): {why}")))?;
    printer.note(&format!("{option} from `{name}` in the environment\n"));
    Ok(Some(value))
}

/// The first of `names` set to a non-empty value, with its name.
pub(crate) fn env_value(names: EnvNames) -> Option<(&'static str, String)> {
    [names.red, names.kiosk_client]
        .into_iter()
        .find_map(|name| {
            std::env::var(name)
                .ok()
                .filter(|v| !v.trim().is_empty())
                .map(|v| (name, v))
        })
}

/// Every option that the environment can set, with red's name and kiosk-client's.
pub(crate) mod env {
    use super::EnvNames;

    const fn names(red: &'static str, kiosk_client: &'static str) -> EnvNames {
        EnvNames { red, kiosk_client }
    }

    /// `--url`.
    pub(crate) const URL: EnvNames = names("RED_KIOSK_URL", "API_HOST");
    /// `--job-type`.
    pub(crate) const JOB_TYPE: EnvNames = names("RED_KIOSK_JOB_TYPE", "JOB_TYPE");
    /// `--model`.
    pub(crate) const MODEL: EnvNames = names("RED_KIOSK_MODEL", "MODEL");
    /// `--pre`.
    pub(crate) const PREPROCESS: EnvNames = names("RED_KIOSK_PREPROCESS", "PREPROCESS");
    /// `--post`.
    pub(crate) const POSTPROCESS: EnvNames = names("RED_KIOSK_POSTPROCESS", "POSTPROCESS");
    /// `--scale`.
    pub(crate) const SCALE: EnvNames = names("RED_KIOSK_SCALE", "SCALE");
    /// `--label`.
    pub(crate) const LABEL: EnvNames = names("RED_KIOSK_LABEL", "LABEL");
    /// `--poll`.
    pub(crate) const POLL: EnvNames = names("RED_KIOSK_POLL", "UPDATE_INTERVAL");
    /// `--start-delay`.
    pub(crate) const START_DELAY: EnvNames = names("RED_KIOSK_START_DELAY", "START_DELAY");
    /// `--expire`.
    pub(crate) const EXPIRE: EnvNames = names("RED_KIOSK_EXPIRE", "EXPIRE_TIME");
    /// `--upload-prefix`.
    pub(crate) const UPLOAD_PREFIX: EnvNames = names("RED_KIOSK_UPLOAD_PREFIX", "UPLOAD_PREFIX");
    /// `--output-dir`.
    pub(crate) const OUTPUT_DIR: EnvNames = names("RED_KIOSK_OUTPUT_DIR", "OUTPUT_DIR");
    /// `--storage-bucket`.
    pub(crate) const STORAGE_BUCKET: EnvNames = names("RED_KIOSK_STORAGE_BUCKET", "STORAGE_BUCKET");
    /// `--requests`.
    pub(crate) const REQUESTS: EnvNames =
        names("RED_KIOSK_REQUESTS", "CONCURRENT_REQUESTS_PER_HOST");
    /// `--log-level`.
    pub(crate) const LOG_LEVEL: EnvNames = names("RED_KIOSK_LOG_LEVEL", "LOG_LEVEL");
    /// `--log-file`.
    pub(crate) const LOG_FILE: EnvNames = names("RED_KIOSK_LOG_FILE", "LOG_FILE");
    /// The GPUs named in the summary file's name.
    pub(crate) const NUM_GPUS: EnvNames = names("RED_KIOSK_NUM_GPUS", "NUM_GPUS");
}
