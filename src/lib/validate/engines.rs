//! Engine checks (only at [`super::Level::Full`]): what running a file needs beyond red-val.
//!
//! red-val does not look inside `container.settings` or `execution.settings`; the reference
//! only checks them when it is about to run a file. Here they are checked up front: the
//! container engine must be `docker` (`nvidia-docker` is gone since RED 8), the optional
//! execution engine `ccfaice` or `ccagency`, and the settings must follow that engine's schema.
//! A `gpus.devices` entry without `vramMin` passes the schema but crashes the reference at run
//! time, so it is an error too, and so is a `ram` larger than Docker can be given.

use super::eval::Eval;
use super::path::{self, Seg};
use super::report;
use super::schema::Schemas;
use crate::diagnostic::Diagnostic;
use crate::tree::{NodeRef, Tree};

const CODE: &str = "engine";

/// Check `container` and `execution`; sections the schema rejected are skipped.
pub(crate) fn check(
    tree: &Tree,
    schemas: &'static Schemas,
    rejected: &super::crosscheck::Rejected,
) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let root = tree.root();
    for section in ["container", "execution"] {
        let Some(wrapper) = root.get(section).filter(|w| w.is_map()) else {
            continue;
        };
        if rejected.touches(&[Seg::Key(section)]) {
            continue;
        }
        let (Some(engine), Some(settings)) = (wrapper.get("engine"), wrapper.get("settings"))
        else {
            continue;
        };
        let name = engine.as_str().unwrap_or_default();
        let compiled = match (section, name) {
            ("container", "docker") => &schemas.docker,
            ("execution", "ccfaice") => &schemas.ccfaice,
            ("execution", "ccagency") => &schemas.ccagency,
            ("container", "nvidia-docker") => {
                out.push(
                    engine_error(
                        "the `nvidia-docker` engine is no longer supported".to_owned(),
                        engine,
                        section,
                    )
                    .hint(
                        "use `engine: docker` and ask for GPUs in its settings: \
                         `gpus: {vendor: nvidia, count: 1}`",
                    ),
                );
                continue;
            }
            _ => {
                let supported = if section == "container" {
                    "the only container engine is `docker`"
                } else {
                    "execution engines are `ccfaice` (run here) and `ccagency` (run on a CC-Agency server)"
                };
                out.push(
                    engine_error(
                        format!("{section} engine {} is not supported", path::quote(name)),
                        engine,
                        section,
                    )
                    .hint(supported),
                );
                continue;
            }
        };
        let prefix = vec![Seg::Key(section), Seg::Key("settings")];
        let mut eval = Eval::new(compiled, prefix);
        eval.run(settings);
        let failed = !eval.failures.is_empty();
        out.extend(eval.failures.iter().map(|f| {
            let mut d = report::diagnostic(f);
            d.code = CODE;
            d
        }));
        if section == "container" && !failed {
            gpu_devices(settings, &mut out);
            ram_limit(settings, &mut out);
        }
    }
    out
}

fn engine_error(message: String, engine: NodeRef<'_>, section: &'static str) -> Diagnostic {
    Diagnostic::error(CODE, message)
        .at(engine.span().start)
        .pointer(path::pointer(&[Seg::Key(section), Seg::Key("engine")]))
}

fn gpu_devices(settings: NodeRef<'_>, out: &mut Vec<Diagnostic>) {
    let Some(devices) = settings.get("gpus").and_then(|g| g.get("devices")) else {
        return;
    };
    for (i, device) in devices.items().enumerate() {
        if device.is_map() && device.get("vramMin").is_none() {
            let segs = [
                Seg::Key("container"),
                Seg::Key("settings"),
                Seg::Key("gpus"),
                Seg::Key("devices"),
                Seg::Index(i),
            ];
            out.push(
                Diagnostic::error(CODE, format!("GPU device {i} has no `vramMin`"))
                    .at(device.span().start)
                    .pointer(path::pointer(&segs))
                    .hint(
                        "give the minimum GPU memory in MB, e.g. `vramMin: 4096`, or use `count`",
                    ),
            );
        }
    }
}

/// A `ram` the schema accepts but Docker cannot be given (`MAX_MEMORY_MB`): refused here rather
/// than when the batch is about to start.
fn ram_limit(settings: NodeRef<'_>, out: &mut Vec<Diagnostic>) {
    let Some(ram) = settings.get("ram") else {
        return;
    };
    let limit = crate::plan::MAX_MEMORY_MB;
    let too_large = match ram.as_int() {
        Some(mb) => mb > i128::from(limit),
        None => ram.as_f64().is_some_and(|mb| mb > limit as f64),
    };
    if too_large {
        let segs = [Seg::Key("container"), Seg::Key("settings"), Seg::Key("ram")];
        out.push(
            Diagnostic::error(
                CODE,
                format!("`ram` is larger than Docker accepts (at most {limit} MB)"),
            )
            .at(ram.span().start)
            .pointer(path::pointer(&segs))
            .hint("`ram` is in MB: give the memory limit in MB, e.g. `ram: 4096` for 4 GiB"),
        );
    }
}
