//! What a batch's record says about the setup it ran in, beyond the RED file: when it ran, the
//! image as this host holds it, the host, and `red`'s version. `red compare` reads these from
//! two runs' records to say what differed; the provenance crate repeats them.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::execute::docker::ImageIds;
use crate::gpus::Selection;

/// The setup of one batch (flattened into its record).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Setup {
    /// When the batch started (RFC 3339, UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
    /// When it ended, its record written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_time: Option<String>,
    /// The image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<ImageFacts>,
    /// The host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<HostFacts>,
    /// The version of `red` that ran it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub red_version: String,
}

/// The image a batch ran in.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageFacts {
    /// The reference as the RED file writes it.
    pub reference: String,
    /// Its content id on this host (`sha256:…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The registry digests it was pulled by (`name@sha256:…`), empty for a local image.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub repo_digests: Vec<String>,
}

impl ImageFacts {
    /// The facts of `reference` from what the daemon said (`None`: it could not say).
    #[must_use]
    pub fn new(reference: &str, identity: Option<ImageIds>) -> Self {
        let identity = identity.unwrap_or_default();
        Self {
            reference: reference.to_owned(),
            id: Some(identity.id).filter(|id| !id.is_empty()),
            repo_digests: identity.repo_digests,
        }
    }

    /// The most exact name: a registry digest, else the content id, else the reference.
    #[must_use]
    pub fn digest(&self) -> &str {
        self.repo_digests
            .first()
            .and_then(|d| d.split_once('@').map(|(_, hash)| hash))
            .or(self.id.as_deref())
            .unwrap_or(&self.reference)
    }
}

/// The machine a batch ran on: what can change a result without changing the RED file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HostFacts {
    /// `linux`.
    pub os: String,
    /// The kernel release (`uname -r`).
    pub kernel: String,
    /// The CPU architecture (`x86_64`).
    pub arch: String,
    /// CPUs available to `red`.
    pub cpus: usize,
    /// The GPUs handed to the container (`index: name (uuid)`), none without GPUs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gpus: Vec<String>,
}

impl HostFacts {
    /// This host, with the GPUs chosen for the run.
    #[must_use]
    pub fn here(gpus: Option<&Selection>) -> Self {
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|text| text.trim().to_owned())
            .unwrap_or_default();
        Self {
            os: std::env::consts::OS.to_owned(),
            kernel,
            arch: std::env::consts::ARCH.to_owned(),
            cpus: std::thread::available_parallelism().map_or(1, usize::from),
            gpus: gpus
                .map(|selection| {
                    selection
                        .gpus
                        .iter()
                        .map(|gpu| format!("{}: {} ({})", gpu.index, gpu.name, gpu.uuid))
                        .collect()
                })
                .unwrap_or_default(),
        }
    }
}

/// `red`'s version.
pub const RED_VERSION: &str = env!("CARGO_PKG_VERSION");

/// A time as RFC 3339 in UTC, to the millisecond (`2026-12-07T06:43:53.120Z`).
#[must_use]
pub fn timestamp(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let seconds = since.as_secs();
    let days = i64::try_from(seconds / 86_400).unwrap_or(0);
    let of_day = seconds % 86_400;
    // Days to a civil date (proleptic Gregorian), after Howard Hinnant's `civil_from_days`.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60,
        since.subsec_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(timestamp(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let leap = UNIX_EPOCH + Duration::from_millis(951_782_400_250);
        assert_eq!(timestamp(leap), "2000-02-29T00:00:00.250Z");
        let late = UNIX_EPOCH + Duration::from_secs(1_796_622_233);
        assert_eq!(timestamp(late), "2026-12-07T05:43:53.000Z");
    }

    #[test]
    fn the_most_exact_image_name_is_preferred() {
        let mut facts = ImageFacts::new("busybox", None);
        assert_eq!(facts.digest(), "busybox");
        facts.id = Some("sha256:11".into());
        assert_eq!(facts.digest(), "sha256:11");
        facts.repo_digests = vec!["busybox@sha256:22".into()];
        assert_eq!(facts.digest(), "sha256:22");
    }
}
