//! Before anything runs: find every connector a plan names, read its filled access block and
//! listing from the document, and check them (the reference's `*-validate`), so that a wrong
//! field fails with its file:line:column before any image is pulled or container created.

use std::path::Path;
use std::sync::Arc;

use crate::connector::{self, Access, Connector, ConnectorError, Listing, Operation};
use crate::diagnostic::Diagnostic;
use crate::fill::Filled;
use crate::plan::{self, Action, BatchPlan, Destination, OutputPlan, Plan};
use crate::tree::NodeRef;

/// One input, ready to receive.
pub(crate) struct Input {
    pub(crate) name: String,
    pub(crate) action: Action,
    pub(crate) connector: Arc<dyn Connector>,
    pub(crate) access: Access,
    pub(crate) listing: Option<Listing>,
    /// The File's `checksum` (`sha1$…`) and `size`, checked once it is received.
    pub(crate) checksum: Option<String>,
    /// Where the File's `checksum` key is written (`file:line:column`), for a mismatch.
    pub(crate) checksum_at: Option<String>,
    pub(crate) size: Option<u64>,
    /// Path in the container.
    pub(crate) target: String,
}

/// How one output leaves the run.
pub(crate) enum Delivery {
    /// Copied into the batch's output directory under its basename.
    Directory,
    /// Sent by a connector.
    Connector {
        connector: Arc<dyn Connector>,
        access: Access,
        listing: Option<Listing>,
    },
    /// Checked, not kept.
    Discarded,
}

/// One output, ready to collect.
pub(crate) struct Output {
    pub(crate) plan: OutputPlan,
    pub(crate) delivery: Delivery,
}

/// One batch, ready to run.
pub(crate) struct Batch {
    pub(crate) plan: BatchPlan,
    pub(crate) inputs: Vec<Input>,
    pub(crate) outputs: Vec<Output>,
}

/// Give every ssh input and output of `batches` one ssh connector whose private directories
/// (key file, askpass socket) are made inside `dir`, a directory the caller removes at its end
/// whatever happens. A transfer that an interrupt leaves behind in a connection (the ssh
/// client's wait for a banner does not watch the stop flag) then leaves nothing behind either.
pub(crate) fn keep_ssh_files_in(batches: &mut [Batch], dir: &Path) {
    let ssh: Arc<dyn Connector> =
        Arc::new(connector::ssh::Ssh::new().with_scratch_dir(dir.to_path_buf()));
    let is_ssh = |connector: &Arc<dyn Connector>| connector.command() == connector::SSH;
    for batch in batches {
        for input in &mut batch.inputs {
            if is_ssh(&input.connector) {
                input.connector = Arc::clone(&ssh);
            }
        }
        for output in &mut batch.outputs {
            if let Delivery::Connector { connector, .. } = &mut output.delivery
                && is_ssh(connector)
            {
                *connector = Arc::clone(&ssh);
            }
        }
    }
}

fn operation(action: Action) -> Operation {
    match action {
        Action::ReceiveFile => Operation::ReceiveFile,
        Action::ReceiveDir => Operation::ReceiveDir,
        Action::MountDir => Operation::MountDir,
    }
}

/// The deepest node on `pointer`'s path that exists, and its pointer.
fn nearest<'t>(root: NodeRef<'t>, pointer: &str) -> (NodeRef<'t>, String) {
    let mut current = pointer.to_owned();
    loop {
        if let Some(node) = root.pointer(&current) {
            return (node, current);
        }
        match current.rfind('/') {
            Some(cut) => current.truncate(cut),
            None => return (root, String::new()),
        }
    }
}

struct Checker<'f> {
    filled: &'f Filled,
    diagnostics: Vec<Diagnostic>,
    /// One connector object per command for the whole run, so that a connector can keep
    /// connections (ssh) or what it learnt (an external one's `cli-version`) between calls.
    connectors: std::collections::HashMap<String, Arc<dyn Connector>>,
    /// Whether to call [`Connector::check`]; without it a wrong access block fails its batch
    /// when the transfer reads it.
    check: bool,
}

impl Checker<'_> {
    fn error(
        &mut self,
        pointer: &str,
        batch: Option<usize>,
        message: String,
        hint: Option<String>,
    ) {
        let (node, found) = nearest(self.filled.tree().root(), pointer);
        let mut diagnostic = Diagnostic::error("connector", message)
            .at(node.span().start)
            .pointer(found)
            .batch(batch);
        if let Some(hint) = hint {
            diagnostic = diagnostic.hint(hint);
        }
        self.diagnostics.push(diagnostic);
    }

    /// The connector, access block and listing of the object at `pointer`, checked for `op`.
    fn resolve(
        &mut self,
        pointer: &str,
        command: &str,
        op: Operation,
        batch: Option<usize>,
    ) -> Option<(Arc<dyn Connector>, Access, Option<Listing>)> {
        let root = self.filled.tree().root();
        let object = root.pointer(pointer)?;
        let found = match self.connectors.get(command) {
            Some(connector) => Ok(Arc::clone(connector)),
            None => connector::lookup(command),
        };
        let connector = match found {
            Ok(connector) => {
                self.connectors
                    .entry(command.to_owned())
                    .or_insert_with(|| Arc::clone(&connector));
                connector
            }
            Err(error) => {
                self.error(
                    &format!("{pointer}/connector/command"),
                    batch,
                    error.to_string(),
                    Some(format!(
                        "the built-in connectors are `{}`, `{}`, `{}` and `{}`; any other \
                         command must be a CLI-1 connector on PATH (docs/connectors.md)",
                        connector::LOCAL,
                        connector::HTTP,
                        connector::HTTP_JSON,
                        connector::SSH
                    )),
                );
                return None;
            }
        };
        let access = Access::new(
            object
                .get("connector")
                .and_then(|c| c.get("access"))
                .map_or(serde_json::Value::Null, plan::to_json),
        );
        let listing = object.get("listing").map(|l| Listing(plan::to_json(l)));
        if !self.check {
            return Some((connector, access, listing));
        }
        match connector.check(op, &access, listing.as_ref()) {
            Ok(()) => Some((connector, access, listing)),
            Err(ConnectorError::Access(error)) => {
                let message = format!("`{command}` access: {}", error.message);
                self.error(
                    &format!("{pointer}/connector/access{}", error.pointer),
                    batch,
                    message,
                    error.hint,
                );
                None
            }
            Err(error) => {
                self.error(
                    &format!("{pointer}/connector/command"),
                    batch,
                    error.to_string(),
                    None,
                );
                None
            }
        }
    }
}

/// `file:line:column` of `node`.
fn located(filled: &Filled, node: NodeRef<'_>) -> String {
    let at = node.span().start;
    format!("{}:{}:{}", filled.source().origin(), at.line, at.column)
}

/// Resolve every connector of `plan` and, with `check`, check its access block; all problems
/// at once, located.
pub(crate) fn batches(
    filled: &Filled,
    plan: &Plan,
    batched: bool,
    check: bool,
) -> Result<Vec<Batch>, Vec<Diagnostic>> {
    let mut checker = Checker {
        filled,
        diagnostics: Vec::new(),
        connectors: std::collections::HashMap::new(),
        check,
    };
    let mut prepared = Vec::with_capacity(plan.batches.len());
    for batch in &plan.batches {
        let index = batched.then_some(batch.index);
        let mut inputs = Vec::with_capacity(batch.inputs.len());
        for input in &batch.inputs {
            if let Some((connector, access, listing)) = checker.resolve(
                &input.pointer,
                &input.connector,
                operation(input.action),
                index,
            ) {
                let object = filled.tree().root().pointer(&input.pointer);
                let field = |key: &str| object.and_then(|o| o.get(key));
                inputs.push(Input {
                    name: input.name.clone(),
                    action: input.action,
                    connector,
                    access,
                    listing,
                    checksum: field("checksum")
                        .and_then(|c| c.as_str())
                        .map(str::to_owned),
                    checksum_at: object
                        .and_then(|o| o.get_entry("checksum"))
                        .map(|(key, _)| located(filled, key)),
                    size: field("size")
                        .and_then(|n| n.as_int())
                        .and_then(|n| u64::try_from(n).ok()),
                    target: input.target.clone(),
                });
            }
        }
        let mut outputs = Vec::with_capacity(batch.outputs.len());
        for output in &batch.outputs {
            let delivery = match &output.destination {
                Destination::Directory { .. } => Delivery::Directory,
                Destination::Discarded => Delivery::Discarded,
                Destination::Connector {
                    command,
                    action,
                    pointer,
                    ..
                } => {
                    let op = if *action == "send-dir" {
                        Operation::SendDir
                    } else {
                        Operation::SendFile
                    };
                    match checker.resolve(pointer, command, op, index) {
                        Some((connector, access, listing)) => Delivery::Connector {
                            connector,
                            access,
                            listing,
                        },
                        None => continue,
                    }
                }
            };
            outputs.push(Output {
                plan: output.clone(),
                delivery,
            });
        }
        prepared.push(Batch {
            plan: batch.clone(),
            inputs,
            outputs,
        });
    }
    if checker.diagnostics.is_empty() {
        Ok(prepared)
    } else {
        Err(checker.diagnostics)
    }
}
