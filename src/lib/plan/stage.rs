//! Staging: where each File and Directory input lands in the container, and which connector
//! action puts it there.
//!
//! Paths follow the reference: `/cc/inputs/<id>/<basename>`, `basename` defaulting to the input
//! key, one id per input and per array item; a File may name its own absolute `dirname`.
//! Basenames and dirnames that would escape their directory are refused with a location.
//! Connector `access` blocks are kept as nodes and summarised (protected values masked) only
//! when a plan is printed.

use crate::template::is_protected_key;
use crate::tree::{Kind, NodeRef, escape_pointer_segment};

use super::{Action, INPUTS_DIR, InputPaths, Job, MASK, PlanError, Problem, WORKING_DIR, tool};

/// Staging directory ids: placeholders or fresh UUIDs.
pub(super) struct Ids {
    pub(super) stable: bool,
    next: usize,
}

impl Ids {
    pub(super) fn new(stable: bool) -> Self {
        Self { stable, next: 0 }
    }

    pub(super) fn fresh(&mut self) -> String {
        let n = self.next;
        self.next += 1;
        if self.stable {
            format!("<input-{n}>")
        } else {
            uuid::Uuid::new_v4().to_string()
        }
    }

    pub(super) fn reset(&mut self) {
        self.next = 0;
    }
}

/// A staged file or directory input.
pub(super) struct Staged<'t> {
    pub(super) name: String,
    pub(super) action: Action,
    pub(super) connector: String,
    /// `connector.access`, summarised only when a plan is printed (the lint never needs it).
    pub(super) access: Option<NodeRef<'t>>,
    pub(super) target: String,
    /// JSON pointer of the File or Directory object in the document.
    pub(super) pointer: String,
}

/// A JSON copy of a node with every value under a protected key replaced by [`MASK`].
#[must_use]
pub fn summarise(node: NodeRef<'_>, protected: bool) -> serde_json::Value {
    copy(node, protected, true)
}

/// A JSON copy of a node, secrets included: what a connector is handed, never printed.
#[must_use]
pub fn to_json(node: NodeRef<'_>) -> serde_json::Value {
    copy(node, false, false)
}

fn copy(node: NodeRef<'_>, protected: bool, mask: bool) -> serde_json::Value {
    use serde_json::Value;
    if mask && protected && !matches!(node.kind(), Kind::Map | Kind::Seq) {
        return Value::String(MASK.into());
    }
    match node.kind() {
        Kind::Map => Value::Object(
            node.entries()
                .map(|(k, v)| {
                    let key = k.text().to_owned();
                    let hidden = protected || is_protected_key(&key);
                    (key, copy(v, hidden, mask))
                })
                .collect(),
        ),
        Kind::Seq => Value::Array(node.items().map(|i| copy(i, protected, mask)).collect()),
        Kind::Null => Value::Null,
        Kind::Bool => Value::Bool(node.as_bool().unwrap_or(false)),
        Kind::Int => node
            .as_int()
            .and_then(|v| i64::try_from(v).ok())
            .map_or_else(|| Value::String(node.text().into()), Value::from),
        Kind::Float => node
            .as_f64()
            .and_then(serde_json::Number::from_f64)
            .map_or_else(|| Value::String(node.text().into()), Value::Number),
        _ => Value::String(node.text().into()),
    }
}

/// Stage every file and directory input of a job: the paths for argv and the connector actions.
pub(super) fn stage<'t>(
    tool: &tool::Tool<'_>,
    job: &Job<'t>,
    ids: &mut Ids,
) -> Result<(InputPaths, Vec<Staged<'t>>), PlanError> {
    let mut paths = InputPaths::new();
    let mut staged = Vec::new();
    for input in &tool.inputs {
        if !matches!(input.base, tool::BaseType::File | tool::BaseType::Directory) {
            continue;
        }
        let Some(value) = job.inputs.get(input.name) else {
            continue;
        };
        let pointer = format!(
            "{}/inputs/{}",
            job.pointer(),
            escape_pointer_segment(input.name)
        );
        if value.kind() == Kind::Seq {
            for (index, item) in value.items().enumerate() {
                let one = stage_one(input, item, Some(index), &format!("{pointer}/{index}"), ids)
                    .map_err(|e| in_job(e, job))?;
                if let Some(one) = one {
                    paths.insert(input.name, Some(index), one.target.clone());
                    staged.push(one);
                }
            }
        } else if let Some(one) =
            stage_one(input, value, None, &pointer, ids).map_err(|e| in_job(e, job))?
        {
            paths.insert(input.name, None, one.target.clone());
            staged.push(one);
        }
    }
    Ok((paths, staged))
}

fn in_job(mut error: PlanError, job: &Job<'_>) -> PlanError {
    error.batch = job.batched.then_some(job.index);
    error
}

fn staging_error(message: String, node: NodeRef<'_>, pointer: String, hint: &str) -> PlanError {
    PlanError {
        problem: Box::new(Problem::Staging(message)),
        at: Some(node.span().start),
        pointer,
        batch: None,
        hint: Some(hint.into()),
    }
}

/// Stage one File or Directory object; `None` when the value is not one (argv reports that).
fn stage_one<'t>(
    input: &tool::Input<'_>,
    value: NodeRef<'t>,
    index: Option<usize>,
    pointer: &str,
    ids: &mut Ids,
) -> Result<Option<Staged<'t>>, PlanError> {
    let class = value.get("class").and_then(|c| c.as_str());
    if value.kind() != Kind::Map || class != Some(input.base.name()) {
        return Ok(None);
    }
    let name = match index {
        Some(i) => format!("{}:{i}", input.name),
        None => input.name.to_owned(),
    };
    let basename = match value.get("basename") {
        Some(node) => {
            let text = node.as_str().unwrap_or_default();
            if text.is_empty() || text == "." || text == ".." || text.contains(['/', '\0']) {
                return Err(staging_error(
                    format!(
                        "basename `{}` of input `{name}` is not a plain file name",
                        node.text()
                    ),
                    node,
                    format!("{pointer}/basename"),
                    "use a name without `/`, other than `.` and `..`",
                ));
            }
            text.to_owned()
        }
        // The reference names a staged input after its key, not after the remote file.
        None => input.name.to_owned(),
    };
    let dirname = match value.get("dirname") {
        Some(node) if input.base == tool::BaseType::File => {
            let text = node.as_str().unwrap_or_default();
            let clean = text.starts_with('/')
                && !text.split('/').any(|s| s == ".." || s == ".")
                && !text.contains('\0');
            if !clean || text.trim_end_matches('/') == WORKING_DIR {
                return Err(staging_error(
                    format!(
                        "dirname `{text}` of input `{name}` is not a usable absolute directory"
                    ),
                    node,
                    format!("{pointer}/dirname"),
                    "use an absolute path without `.` or `..`, outside `/cc/outputs`",
                ));
            }
            text.trim_end_matches('/').to_owned()
        }
        _ => format!("{INPUTS_DIR}/{}", ids.fresh()),
    };
    let connector = value.get("connector");
    let command = connector
        .and_then(|c| c.get("command"))
        .and_then(|c| c.as_str())
        .unwrap_or_default()
        .to_owned();
    let mount = connector
        .and_then(|c| c.get("mount"))
        .and_then(|m| m.as_bool())
        .unwrap_or(false);
    let action = match (input.base, mount) {
        (tool::BaseType::File, true) => {
            return Err(staging_error(
                format!("input `{name}` is a File, but only directories can be mounted"),
                value,
                format!("{pointer}/connector/mount"),
                "remove `mount: true`, or declare the input a Directory",
            ));
        }
        (tool::BaseType::File, false) => Action::ReceiveFile,
        (_, true) => Action::MountDir,
        (_, false) => Action::ReceiveDir,
    };
    let target = format!("{dirname}/{basename}");
    Ok(Some(Staged {
        name,
        action,
        connector: command,
        access: connector.and_then(|c| c.get("access")),
        target,
        pointer: pointer.to_owned(),
    }))
}
