//! The RED 5–8 → 9 rewrite rules, one method per part of the document (docs/upgrade.md).

use std::borrow::Cow;

use super::{Error, Note};
use crate::convert::Value;
use crate::tree::{Tree, escape_pointer_segment};

/// Settings keys RED 9 engines do not know, per engine, with why they go.
const DROPPED_CCAGENCY: &[(&str, &str)] = &[
    (
        "retryIfFailed",
        "RED 9 agencies decide retries themselves; disable them when submitting instead",
    ),
    ("disablePull", "not a RED 9 setting"),
    ("outdir", "not a RED 9 setting"),
    ("doc", "RED 9 engine settings have no `doc`"),
];
const DROPPED_CCFAICE: &[(&str, &str)] = &[
    (
        "insecure",
        "RED 9 has no such setting; FUSE mounts need no extra container privileges with `red`",
    ),
    ("doc", "RED 9 engine settings have no `doc`"),
];

/// The upgrade of one document: the value being rewritten and the notes so far.
pub(super) struct Upgrade<'t> {
    tree: &'t Tree,
    pub(super) value: Value<'t>,
    pub(super) notes: Vec<Note>,
}

impl<'t> Upgrade<'t> {
    pub(super) fn new(tree: &'t Tree, value: Value<'t>) -> Self {
        Self {
            tree,
            value,
            notes: Vec::new(),
        }
    }

    fn note(&mut self, pointer: &str, message: impl Into<String>) {
        let location = self
            .tree
            .root()
            .pointer(pointer)
            .map(|node| node.span().start);
        self.notes.push(Note {
            pointer: pointer.to_owned(),
            location,
            message: message.into(),
        });
    }

    pub(super) fn run(&mut self) -> Result<(), Error> {
        self.refuse_python_connectors()?;
        if self.value.get("inputs").is_none() && self.value.get("batches").is_none() {
            return Err(Error::NoJob);
        }
        let docker_pull = self
            .value
            .get("cli")
            .and_then(|cli| cli.get("requirements"))
            .and_then(|r| r.get("DockerRequirement"))
            .and_then(|d| d.get("dockerPull"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        if self.value.get("container").is_none() && docker_pull.is_none() {
            return Err(Error::NoContainer);
        }
        self.drop_nulls();
        self.version();
        self.cli(docker_pull.as_deref());
        self.container();
        self.execution();
        Ok(())
    }

    fn refuse_python_connectors(&self) -> Result<(), Error> {
        let mut found = Vec::new();
        let mut stack = vec![(&self.value, String::new())];
        while let Some((value, pointer)) = stack.pop() {
            match value {
                Value::Map(entries) => {
                    if value.get("pyModule").is_some() || value.get("pyClass").is_some() {
                        found.push(pointer.clone());
                    }
                    for (key, item) in entries.iter().rev() {
                        let segment = key.as_str().map(escape_pointer_segment);
                        stack.push((item, format!("{pointer}/{}", segment.unwrap_or_default())));
                    }
                }
                Value::Seq(items) => {
                    for (i, item) in items.iter().enumerate().rev() {
                        stack.push((item, format!("{pointer}/{i}")));
                    }
                }
                _ => {}
            }
        }
        let Some(first) = found.first() else {
            return Ok(());
        };
        Err(Error::PythonConnector {
            location: self.tree.root().pointer(first).map(|n| n.span().start),
            pointer: first.clone(),
            count: found.len(),
        })
    }

    fn drop_nulls(&mut self) {
        let mut removed = Vec::new();
        drop_nulls(&mut self.value, &mut String::new(), &mut removed);
        for pointer in removed {
            self.note(
                &pointer,
                "removed a `null` value: RED 9 accepts no nulls here, and leaving the key out means the same",
            );
        }
    }

    fn version(&mut self) {
        let old = match self.value.get("redVersion") {
            Some(Value::Str(text) | Value::Int(text) | Value::Float(text)) => text.to_string(),
            _ => String::new(),
        };
        self.value.set("redVersion", Value::string("9"));
        self.note(
            "/redVersion",
            format!("set `redVersion` to \"9\" (was `{old}`)"),
        );
    }

    fn cli(&mut self, docker_pull: Option<&str>) {
        let Some(cli) = self.value.get_mut("cli") else {
            return;
        };
        let mut notes = Vec::new();
        let old = cli.get("cwlVersion").cloned();
        if old.as_ref().and_then(Value::as_str) != Some("v1.0") {
            let was = match &old {
                Some(Value::Str(t) | Value::Int(t) | Value::Float(t)) => format!("`{t}`"),
                Some(other) => format!("a {}", other.type_name()),
                None => "missing".to_owned(),
            };
            cli.set("cwlVersion", Value::string("v1.0"));
            notes.push((
                "/cli/cwlVersion",
                format!("set `cwlVersion` to the string \"v1.0\", the only one RED 9 accepts (was {was})"),
            ));
        }
        if cli.remove("requirements").is_some() {
            notes.push((
                "/cli/requirements",
                "removed `requirements`: RED 9 takes the image from the `container` section"
                    .to_owned(),
            ));
        }
        for (pointer, message) in notes {
            self.note(pointer, message);
        }
        let Some(image) = docker_pull else { return };
        match self
            .value
            .get("container")
            .and_then(|c| c.get("settings"))
            .and_then(|s| s.get("image"))
            .and_then(|i| i.get("url"))
            .and_then(Value::as_str)
        {
            None if self.value.get("container").is_none() => {
                let url = Value::Map(vec![(
                    Value::string("url"),
                    Value::string(image.to_owned()),
                )]);
                let settings = Value::Map(vec![(Value::string("image"), url)]);
                let container = Value::Map(vec![
                    (Value::string("engine"), Value::string("docker")),
                    (Value::string("settings"), settings),
                ]);
                self.value.set("container", container);
                self.note(
                    "/cli/requirements/DockerRequirement/dockerPull",
                    format!("created `container` with engine `docker` and image `{image}` from `DockerRequirement`"),
                );
            }
            Some(url) if url != image => {
                let message = format!(
                    "the `DockerRequirement` image `{image}` differs from the container image `{url}`; kept the container's"
                );
                self.note("/cli/requirements/DockerRequirement/dockerPull", message);
            }
            _ => {}
        }
    }

    fn container(&mut self) {
        let mut notes: Vec<(String, String)> = Vec::new();
        let Some(container) = self.value.get_mut("container") else {
            return;
        };
        if container.get("engine").and_then(Value::as_str) == Some("nvidia-docker") {
            container.set("engine", Value::string("docker"));
            notes.push((
                "/container/engine".to_owned(),
                "replaced engine `nvidia-docker` by `docker`: RED 9 requests NVIDIA GPUs in the docker settings".to_owned(),
            ));
            match container.get_mut("settings") {
                Some(settings) if settings.get("gpus").is_some() => {
                    if let Some(gpus) = settings.get_mut("gpus") {
                        let (new, message) = upgrade_gpus(gpus);
                        *gpus = new;
                        notes.push(("/container/settings/gpus".to_owned(), message));
                    }
                }
                _ => notes.push((
                    "/container/settings".to_owned(),
                    "`nvidia-docker` had no `gpus`; the container now gets no GPU unless you add `gpus: {vendor: nvidia, count: 1}`".to_owned(),
                )),
            }
        }
        if let Some(settings) = container.get_mut("settings") {
            for path in ["", "/image", "/image/auth", "/image/source"] {
                let target = if path.is_empty() {
                    Some(&mut *settings)
                } else {
                    path.split('/')
                        .skip(1)
                        .try_fold(&mut *settings, |value, key| value.get_mut(key))
                };
                if let Some(target) = target
                    && target.remove("doc").is_some()
                {
                    notes.push((
                        format!("/container/settings{path}/doc"),
                        "removed `doc`: RED 9 docker settings have no `doc`".to_owned(),
                    ));
                }
            }
        }
        for (pointer, message) in notes {
            self.note(&pointer, message);
        }
    }

    fn execution(&mut self) {
        let mut notes: Vec<(String, String)> = Vec::new();
        let Some(execution) = self.value.get_mut("execution") else {
            return;
        };
        let dropped = match execution.get("engine").and_then(Value::as_str) {
            Some("ccagency") => DROPPED_CCAGENCY,
            Some("ccfaice") => DROPPED_CCFAICE,
            _ => return,
        };
        let Some(settings) = execution.get_mut("settings") else {
            return;
        };
        for (key, why) in dropped {
            if let Some(old) = settings.remove(key) {
                let extra = if *key == "retryIfFailed" && old == Value::Bool(false) {
                    " (it was `false`: submit with retries disabled to keep that behaviour)"
                } else {
                    ""
                };
                notes.push((
                    format!("/execution/settings/{key}"),
                    format!("removed `{key}`: {why}{extra}"),
                ));
            }
        }
        for path in ["access", "access/auth"] {
            let target = path
                .split('/')
                .try_fold(&mut *settings, |value, key| value.get_mut(key));
            if let Some(target) = target
                && target.remove("doc").is_some()
            {
                notes.push((
                    format!("/execution/settings/{path}/doc"),
                    "removed `doc`: RED 9 engine settings have no `doc`".to_owned(),
                ));
            }
        }
        for (pointer, message) in notes {
            self.note(&pointer, message);
        }
    }
}

/// Remove `null` mapping values everywhere except `cli.baseCommand` (RED 9 allows it there),
/// collecting the pointers of what was removed.
fn drop_nulls(value: &mut Value<'_>, pointer: &mut String, removed: &mut Vec<String>) {
    match value {
        Value::Map(entries) => {
            let at_cli = pointer == "/cli";
            entries.retain(|(key, item)| {
                let keep = !item.is_null() || (at_cli && key.as_str() == Some("baseCommand"));
                if !keep {
                    let segment = key.as_str().map(escape_pointer_segment).unwrap_or_default();
                    removed.push(format!("{pointer}/{segment}"));
                }
                keep
            });
            for (key, item) in entries.iter_mut() {
                let len = pointer.len();
                pointer.push('/');
                pointer.push_str(&key.as_str().map(escape_pointer_segment).unwrap_or_default());
                drop_nulls(item, pointer, removed);
                pointer.truncate(len);
            }
        }
        Value::Seq(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                let len = pointer.len();
                pointer.push_str(&format!("/{i}"));
                drop_nulls(item, pointer, removed);
                pointer.truncate(len);
            }
        }
        _ => {}
    }
}

/// RED 6/7 `nvidia-docker` GPUs to RED 9 docker GPUs, with a note.
fn upgrade_gpus<'a>(gpus: &Value<'a>) -> (Value<'a>, String) {
    let vendor = (Value::string("vendor"), Value::string("nvidia"));
    match gpus {
        Value::Map(_) if gpus.get("vendor").is_some() => (gpus.clone(), "kept `gpus`".to_owned()),
        Value::Map(_) => {
            let mut entries = vec![vendor];
            if let Some(count) = gpus.get("count") {
                entries.push((Value::string("count"), count.clone()));
            }
            (
                Value::Map(entries),
                "`gpus: {count}` became `gpus: {vendor: nvidia, count}`".to_owned(),
            )
        }
        Value::Seq(items) => {
            let devices = items
                .iter()
                .map(|item| {
                    let vram = item.get("minVram").or_else(|| item.get("min_vram"));
                    Value::Map(
                        vram.map(|v| (Value::Str(Cow::Borrowed("vramMin")), v.clone()))
                            .into_iter()
                            .collect(),
                    )
                })
                .collect();
            (
                Value::Map(vec![vendor, (Value::string("devices"), Value::Seq(devices))]),
                "the `gpus` list became `gpus: {vendor: nvidia, devices: [...]}`, `minVram` renamed `vramMin`".to_owned(),
            )
        }
        other => (other.clone(), "left `gpus` as it was".to_owned()),
    }
}
