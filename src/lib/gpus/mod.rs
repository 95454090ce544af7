//! GPUs on the host: what `nvidia-smi` reports, and which of them an experiment gets.
//!
//! The reference finds GPUs by pulling and running an `nvidia/cuda` image (a tag that no longer
//! exists; docs/gpus.md). `red` asks the host instead: [`discover`] runs
//! `nvidia-smi --query-gpu=index,uuid,name,memory.total --format=csv,noheader,nounits` and
//! [`parse_nvidia_smi`] reads its output. Nothing here talks to Docker and no image is ever pulled
//! to find a GPU.
//!
//! [`select`] matches the `gpus` requirement of a RED file's docker engine (`{vendor, count}` or
//! `{vendor, devices: [{vramMin}]}`) against the GPUs found. Each required device gets a distinct
//! GPU with at least its minimum memory. Requirements are served smallest first, each taking the
//! smallest GPU that is large enough; for thresholds this greedy order finds a match whenever one
//! exists (the reference's first-fit in file order can fail where a match exists).
//!
//! Parsing and matching are pure; only [`discover`] runs a process.

use std::fmt;
use std::io::ErrorKind;
use std::process::Command;

/// The arguments `red` passes to `nvidia-smi`.
pub const NVIDIA_SMI_ARGS: [&str; 2] = [
    "--query-gpu=index,uuid,name,memory.total",
    "--format=csv,noheader,nounits",
];

/// Errors of GPU discovery and matching.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `nvidia-smi` is not on `PATH`.
    #[error("no NVIDIA GPUs found: `nvidia-smi` is not installed")]
    NotInstalled,
    /// `nvidia-smi` could not be started.
    #[error("could not run `nvidia-smi`")]
    Spawn(#[source] std::io::Error),
    /// `nvidia-smi` ran and failed (no driver loaded, for instance).
    #[error("`nvidia-smi` failed with exit code {code}: {message}")]
    Failed {
        /// Its exit code, or -1 when it was killed by a signal.
        code: i32,
        /// The first line of what it printed on stderr (or stdout).
        message: String,
    },
    /// A line of `nvidia-smi` output is not `index, uuid, name, memory`.
    #[error("line {line} of the `nvidia-smi` output is not `index, uuid, name, memory`: `{text}`")]
    Parse {
        /// 1-based line number.
        line: usize,
        /// The line.
        text: String,
    },
    /// `--gpu-ids` named a GPU that is not there.
    #[error("GPU `{id}` was asked for with --gpu-ids, but the GPUs here are: {available}")]
    UnknownId {
        /// The id as given.
        id: String,
        /// The GPUs found, as `index (name, N MiB)`, or `none`.
        available: String,
    },
    /// The requirements cannot be met by the GPUs available.
    #[error("the experiment needs {wanted}, but {found}")]
    Insufficient {
        /// What was asked, in words.
        wanted: String,
        /// What is there, in words.
        found: String,
    },
}

/// One GPU as `nvidia-smi` lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Gpu {
    /// The index `nvidia-smi` and `NVIDIA_VISIBLE_DEVICES` use.
    pub index: u32,
    /// The GPU's UUID (`GPU-…`).
    pub uuid: String,
    /// The model name, e.g. `NVIDIA H100 80GB HBM3`.
    pub name: String,
    /// Total memory in MiB; `None` when the driver does not report it (`[N/A]`).
    pub memory_mib: Option<u64>,
    /// The vendor; always `nvidia` for GPUs found by `nvidia-smi`.
    pub vendor: Vendor,
}

/// GPU vendors the RED schema knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Vendor {
    /// NVIDIA.
    Nvidia,
}

impl fmt::Display for Vendor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Vendor::Nvidia => f.write_str("nvidia"),
        }
    }
}

/// One required device: a vendor and, optionally, a minimum memory in MB (RED's `vramMin`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceRequirement {
    /// The vendor required.
    pub vendor: Vendor,
    /// The minimum memory; RED calls it MB and the reference compares it with MiB as is.
    pub vram_min: Option<u64>,
}

impl DeviceRequirement {
    /// `count` devices of any size (`gpus: {vendor, count}`).
    #[must_use]
    pub fn count(vendor: Vendor, count: usize) -> Vec<Self> {
        vec![
            Self {
                vendor,
                vram_min: None
            };
            count
        ]
    }
}

/// The device requirements of a docker engine's `gpus` setting (`{vendor, count}` or
/// `{vendor, devices: [{vramMin}]}`), as the schema has already validated it. A vendor other than
/// `nvidia` (the only one the schema allows) or a count that is not a non-negative integer gives
/// `None`.
#[must_use]
pub fn requirements(gpus: crate::tree::NodeRef<'_>) -> Option<Vec<DeviceRequirement>> {
    let vendor = match gpus.get("vendor")?.as_str()? {
        "nvidia" => Vendor::Nvidia,
        _ => return None,
    };
    if let Some(count) = gpus.get("count") {
        let count = usize::try_from(count.as_int()?).ok()?;
        return Some(DeviceRequirement::count(vendor, count));
    }
    gpus.get("devices")?
        .items()
        .map(|device| {
            let vram_min = match device.get("vramMin") {
                None => None,
                Some(min) => Some(u64::try_from(min.as_int()?).ok()?),
            };
            Some(DeviceRequirement { vendor, vram_min })
        })
        .collect()
}

/// What a container gets: nothing when there is no requirement and no `--gpu-ids`; all the
/// listed GPUs for `--gpu-ids` alone; otherwise a match of the requirements among the found
/// GPUs (restricted to `--gpu-ids` when given).
///
/// # Errors
/// [`Error::UnknownId`] and [`Error::Insufficient`].
pub fn choose(
    requirements: &[DeviceRequirement],
    found: &[Gpu],
    gpu_ids: Option<&[String]>,
) -> Result<Option<Selection>, Error> {
    let candidates = match gpu_ids {
        Some(ids) => restrict(found, ids)?,
        None => found.to_vec(),
    };
    match (requirements.is_empty(), gpu_ids.is_some()) {
        (true, false) => Ok(None),
        (true, true) => Ok(Some(Selection { gpus: candidates })),
        (false, _) => select(requirements, &candidates).map(Some),
    }
}

/// The GPUs chosen for one container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    /// The chosen GPUs, in index order.
    pub gpus: Vec<Gpu>,
}

impl Selection {
    /// The device ids for Docker's device request and `NVIDIA_VISIBLE_DEVICES` (indices).
    #[must_use]
    pub fn device_ids(&self) -> Vec<String> {
        self.gpus.iter().map(|gpu| gpu.index.to_string()).collect()
    }

    /// The value of `NVIDIA_VISIBLE_DEVICES`: the indices, comma-separated.
    #[must_use]
    pub fn visible_devices(&self) -> String {
        self.device_ids().join(",")
    }
}

/// Run `nvidia-smi` on this host and parse what it lists.
///
/// # Errors
/// [`Error::NotInstalled`] when it is not on `PATH`, [`Error::Failed`] when it exits non-zero,
/// [`Error::Parse`] when its output is not what `red` asked for.
pub fn discover() -> Result<Vec<Gpu>, Error> {
    let output = match Command::new("nvidia-smi").args(NVIDIA_SMI_ARGS).output() {
        Ok(output) => output,
        Err(error) if error.kind() == ErrorKind::NotFound => return Err(Error::NotInstalled),
        Err(error) => return Err(Error::Spawn(error)),
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let message = stderr
            .lines()
            .chain(stdout.lines())
            .map(str::trim)
            .find(|line| !line.is_empty())
            .unwrap_or("no message")
            .to_owned();
        return Err(Error::Failed {
            code: output.status.code().unwrap_or(-1),
            message,
        });
    }
    parse_nvidia_smi(&stdout)
}

/// Parse the output of `nvidia-smi --query-gpu=index,uuid,name,memory.total
/// --format=csv,noheader,nounits`: one `index, uuid, name, MiB` line per GPU. Blank lines are
/// skipped; a name may itself contain `, `.
///
/// # Errors
/// [`Error::Parse`] naming the first line that does not fit.
pub fn parse_nvidia_smi(text: &str) -> Result<Vec<Gpu>, Error> {
    let mut gpus = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let bad = || Error::Parse {
            line: number + 1,
            text: line.to_owned(),
        };
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let [index, uuid, name @ .., memory] = fields.as_slice() else {
            return Err(bad());
        };
        if name.is_empty() || uuid.is_empty() {
            return Err(bad());
        }
        let index = index.parse::<u32>().map_err(|_| bad())?;
        let memory_mib = if memory.starts_with('[') {
            None // `[N/A]`, `[Not Supported]`
        } else {
            Some(memory.parse::<u64>().map_err(|_| bad())?)
        };
        gpus.push(Gpu {
            index,
            uuid: (*uuid).to_owned(),
            name: name.join(", "),
            memory_mib,
            vendor: Vendor::Nvidia,
        });
    }
    Ok(gpus)
}

/// Keep only the GPUs named by `--gpu-ids` (indices or UUIDs), in the order found.
///
/// # Errors
/// [`Error::UnknownId`] for an id that matches no GPU.
pub fn restrict(gpus: &[Gpu], ids: &[String]) -> Result<Vec<Gpu>, Error> {
    for id in ids {
        if !gpus.iter().any(|gpu| gpu_has_id(gpu, id)) {
            return Err(Error::UnknownId {
                id: id.clone(),
                available: describe_gpus(gpus),
            });
        }
    }
    Ok(gpus
        .iter()
        .filter(|gpu| ids.iter().any(|id| gpu_has_id(gpu, id)))
        .cloned()
        .collect())
}

fn gpu_has_id(gpu: &Gpu, id: &str) -> bool {
    let id = id.trim();
    id == gpu.uuid || id.parse::<u32>().is_ok_and(|index| index == gpu.index)
}

/// Choose a distinct GPU for every requirement.
///
/// Requirements are served from the smallest minimum up, each taking the smallest GPU (by
/// memory, then index) that is large enough; this finds a match whenever one exists. A GPU
/// whose memory is unknown only serves requirements without a minimum. The result is in index
/// order.
///
/// # Errors
/// [`Error::Insufficient`] naming what was asked and what is there.
pub fn select(requirements: &[DeviceRequirement], gpus: &[Gpu]) -> Result<Selection, Error> {
    let mut order: Vec<&DeviceRequirement> = requirements.iter().collect();
    order.sort_by_key(|requirement| requirement.vram_min.unwrap_or(0));
    let mut free: Vec<&Gpu> = gpus.iter().collect();
    free.sort_by_key(|gpu| (gpu.memory_mib.is_some(), gpu.memory_mib, gpu.index));
    let mut chosen = Vec::with_capacity(requirements.len());
    for requirement in order {
        let fits = |gpu: &&Gpu| {
            gpu.vendor == requirement.vendor
                && match requirement.vram_min {
                    None => true,
                    Some(min) => gpu.memory_mib.is_some_and(|memory| memory >= min),
                }
        };
        let Some(position) = free.iter().position(fits) else {
            return Err(Error::Insufficient {
                wanted: describe_requirements(requirements),
                found: match gpus.len() {
                    0 => "no GPU is available".to_owned(),
                    _ => format!("the GPUs available are: {}", describe_gpus(gpus)),
                },
            });
        };
        chosen.push(free.remove(position).clone());
    }
    chosen.sort_by_key(|gpu| gpu.index);
    Ok(Selection { gpus: chosen })
}

/// `2 nvidia GPUs (one with at least 16000 MB)` and the like.
fn describe_requirements(requirements: &[DeviceRequirement]) -> String {
    let vendors: Vec<String> = {
        let mut vendors: Vec<String> = requirements.iter().map(|r| r.vendor.to_string()).collect();
        vendors.dedup();
        vendors
    };
    let count = requirements.len();
    let mut text = format!(
        "{count} {} GPU{}",
        vendors.join("/"),
        if count == 1 { "" } else { "s" }
    );
    let minimums: Vec<String> = requirements
        .iter()
        .filter_map(|r| r.vram_min)
        .map(|min| format!("{min} MB"))
        .collect();
    if !minimums.is_empty() {
        text.push_str(&format!(" with at least {}", minimums.join(", ")));
    }
    text
}

/// `0 (NVIDIA H100 80GB HBM3, 81559 MiB), 1 (…)`, or `none`.
fn describe_gpus(gpus: &[Gpu]) -> String {
    if gpus.is_empty() {
        return "none".to_owned();
    }
    let described: Vec<String> = gpus
        .iter()
        .map(|gpu| match gpu.memory_mib {
            Some(memory) => format!("{} ({}, {memory} MiB)", gpu.index, gpu.name),
            None => format!("{} ({}, memory unknown)", gpu.index, gpu.name),
        })
        .collect();
    described.join(", ")
}

#[cfg(test)]
mod tests;
