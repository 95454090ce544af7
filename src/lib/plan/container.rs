//! The container settings of a batch: image, memory limit, GPUs, user, network and mounts,
//! read from the document's `container` section.

use serde::Serialize;

use super::stage::summarise;
use super::{PlanError, WORKING_DIR};
use crate::tree::NodeRef;

/// The largest memory limit in MB Docker can be given: it takes the limit in bytes as a signed
/// 64-bit number. `red validate` refuses a larger `ram` (`src/lib/validate/engines.rs`); the
/// Docker run (`execute::docker`) checks it again.
pub const MAX_MEMORY_MB: u64 = i64::MAX as u64 / (1024 * 1024);

/// Container settings for a batch.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerPlan {
    /// `container.engine`.
    pub engine: String,
    /// `container.settings.image.url`.
    pub image: String,
    /// Registry credentials, summarised (protected values masked).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_auth: Option<serde_json::Value>,
    /// Memory limit in MB (no swap); `None` is unlimited.
    pub ram_mb: Option<u64>,
    /// `container.settings.gpus` as written.
    pub gpus: Option<serde_json::Value>,
    /// The user the command runs as: `invoking` (the uid:gid of whoever runs `red`, so outputs
    /// belong to them), or a `uid:gid`.
    pub user: String,
    /// Working directory.
    pub working_dir: String,
    /// Docker network mode.
    pub network: String,
    /// Bind mounts.
    pub mounts: Vec<MountPlan>,
}

/// A bind mount into the container.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MountPlan {
    /// What is mounted: `outputs`, or `input <key>`.
    pub source: String,
    /// Path in the container.
    pub target: String,
    /// Read-only.
    pub read_only: bool,
}

pub(super) fn container(root: NodeRef<'_>) -> Result<ContainerPlan, PlanError> {
    let container = root.get("container").ok_or_else(|| {
        PlanError::shape(
            "the file has no `container` section".into(),
            root,
            String::new(),
        )
    })?;
    let settings = container.get("settings");
    let image = settings.and_then(|s| s.get("image"));
    let url = image
        .and_then(|i| i.get("url"))
        .and_then(|u| u.as_str())
        .ok_or_else(|| {
            PlanError::shape(
                "`container.settings.image.url` is missing".into(),
                container,
                "/container".into(),
            )
        })?;
    let ram_mb = settings.and_then(|s| s.get("ram")).and_then(|ram| {
        ram.as_int()
            .and_then(|v| u64::try_from(v).ok())
            .or_else(|| {
                ram.as_f64()
                    .filter(|v| v.fract() == 0.0 && *v >= 0.0)
                    .map(|v| v as u64)
            })
    });
    Ok(ContainerPlan {
        engine: container
            .get("engine")
            .and_then(|e| e.as_str())
            .unwrap_or("docker")
            .to_owned(),
        image: url.to_owned(),
        image_auth: image
            .and_then(|i| i.get("auth"))
            .map(|a| summarise(a, false)),
        ram_mb,
        gpus: settings
            .and_then(|s| s.get("gpus"))
            .map(|g| summarise(g, false)),
        user: "invoking".into(),
        working_dir: WORKING_DIR.into(),
        network: "none".into(),
        mounts: Vec::new(),
    })
}
