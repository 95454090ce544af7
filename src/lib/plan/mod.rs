//! Validated (and filled) document → [`Plan`]: what running each batch will do, decided up front.
//!
//! For every batch the plan holds the exact argv ([`argv`]), the container settings, one
//! connector action per file or directory input with its staged path
//! (`/cc/inputs/<id>/<basename>`), and each output's glob and destination ([`outputs`]).
//! Planning is pure: no I/O, no clock; ids are either stable placeholders (`<input-0>`) for
//! display and comparison, or fresh UUIDs for a run.
//!
//! The plan never holds a secret: connector `access` blocks and image credentials are
//! summarised with every protected value (`password`, `privateKey`, `_…`) shown as `********`.
//! [`lint`] compares the two argv modes and warns when an experiment's command line depends on
//! which tool runs it.

pub mod argv;
mod argv_error;
mod checks;
mod container;
mod glob_refs;
pub mod number;
pub mod outputs;
mod render;
pub mod select;
mod stage;
pub mod tool;

use serde::Serialize;

use crate::diagnostic::Diagnostic;
use crate::source::Location;
use crate::tree::{Kind, NodeRef, Tree, escape_pointer_segment};

pub use argv::{ArgvError, InputPaths, Mode};
pub use checks::{collisions, lint};
pub use container::{ContainerPlan, MAX_MEMORY_MB, MountPlan};
pub use render::render_human;
pub use stage::{summarise, to_json};

use checks::collision;
use container::container;
use stage::{Ids, stage};

/// The working directory of every experiment container.
pub const WORKING_DIR: &str = "/cc/outputs";
/// Where inputs are staged inside the container.
pub const INPUTS_DIR: &str = "/cc/inputs";
/// The text shown instead of a protected value.
pub const MASK: &str = "********";

/// How to plan.
#[derive(Debug, Clone, Copy, Default)]
pub struct PlanOptions {
    /// Which implementation's command line to build.
    pub mode: Mode,
    /// Stable placeholders (`<input-0>`) instead of fresh UUIDs for staging directories.
    pub stable_ids: bool,
}

/// Everything a run will do, batch by batch.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    /// The argv mode the plan was built in.
    pub mode: Mode,
    /// One entry per batch (the single-job form is batch 0).
    pub batches: Vec<BatchPlan>,
}

/// One batch.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchPlan {
    /// 0-based batch index.
    pub index: usize,
    /// The program and its arguments, run without a shell.
    pub argv: Vec<String>,
    /// Container settings.
    pub container: ContainerPlan,
    /// Connector actions, in input declaration order.
    pub inputs: Vec<InputPlan>,
    /// Output globs and destinations, in declaration order.
    pub outputs: Vec<OutputPlan>,
    /// Where standard output goes: the file in the container (`/cc/outputs/<cli.stdout>`), or
    /// `None` when `red` captures it outside the output directory (no `stdout:` name given).
    pub stdout: Option<String>,
    /// Where standard error goes, like `stdout`.
    pub stderr: Option<String>,
}

/// What a connector does for an input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// Copy a file in.
    ReceiveFile,
    /// Copy a directory in.
    ReceiveDir,
    /// Mount a directory (FUSE on the host, bind-mounted in).
    MountDir,
}

/// One connector action.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InputPlan {
    /// `key`, or `key:index` for an array item (the reference's naming).
    pub name: String,
    /// What the connector does.
    pub action: Action,
    /// `connector.command`.
    pub connector: String,
    /// `connector.access`, summarised (protected values masked).
    pub access: serde_json::Value,
    /// The path in the container.
    pub target: String,
    /// JSON pointer of the File or Directory object, where the executor reads the filled
    /// access block, listing, checksum and size.
    #[serde(skip)]
    pub pointer: String,
}

/// One output.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OutputPlan {
    /// The output key.
    pub name: String,
    /// `File`, `Directory`, `stdout` or `stderr`.
    pub class: &'static str,
    /// Whether no match is allowed.
    pub optional: bool,
    /// The resolved glob, relative to `/cc/outputs` (the capture file for stdout/stderr).
    pub glob: String,
    /// Where the result goes.
    pub destination: Destination,
}

/// Where a collected output goes.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Destination {
    /// Copied into a host directory (no output connectors anywhere in the file).
    Directory {
        /// The host directory, relative to where `red` runs.
        path: String,
    },
    /// Sent by an output connector.
    Connector {
        /// `connector.command`.
        command: String,
        /// `send-file` or `send-dir`.
        action: &'static str,
        /// `connector.access`, summarised.
        access: serde_json::Value,
        /// JSON pointer of the output object in the document (the executor reads the filled
        /// access block and listing there).
        #[serde(skip)]
        pointer: String,
    },
    /// Checked but not kept: the file uses output connectors and this output has none.
    Discarded,
}

/// Why a batch cannot be planned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    /// The command line cannot be built.
    #[error(transparent)]
    Argv(argv::Problem),
    /// A glob or a reference in it is refused.
    #[error("{0}")]
    Glob(String),
    /// A staging name or connector setting is refused.
    #[error("{0}")]
    Staging(String),
    /// The document does not have the shape planning needs.
    #[error("{0}")]
    Shape(String),
    /// Two outputs would be delivered to one path in the outputs directory.
    #[error("{0}")]
    Collision(String),
}

/// The diagnostic code of [`Problem::Collision`], in `red validate`, `red plan` and `red exec`.
pub const COLLISION_CODE: &str = "output-collision";

/// The code of every other plan error.
pub const PLAN_CODE: &str = "plan";

/// A located planning error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{problem}")]
pub struct PlanError {
    /// What is wrong (boxed: errors are rare, results are many).
    pub problem: Box<Problem>,
    /// Where.
    pub at: Option<Location>,
    /// JSON pointer from the document root.
    pub pointer: String,
    /// The batch concerned (`None` for the single-job form and for the `cli` section).
    pub batch: Option<usize>,
    /// What to do about it.
    pub hint: Option<String>,
}

impl PlanError {
    /// As a diagnostic (code `plan`).
    #[must_use]
    pub fn to_diagnostic(&self) -> Diagnostic {
        let code = match *self.problem {
            Problem::Collision(_) => COLLISION_CODE,
            _ => PLAN_CODE,
        };
        let mut diagnostic = Diagnostic::error(code, self.problem.to_string())
            .pointer(self.pointer.clone())
            .batch(self.batch);
        if let Some(at) = self.at {
            diagnostic = diagnostic.at(at);
        }
        if let Some(hint) = &self.hint {
            diagnostic = diagnostic.hint(hint.clone());
        }
        diagnostic
    }

    fn shape(message: String, node: NodeRef<'_>, pointer: String) -> Self {
        Self {
            problem: Box::new(Problem::Shape(message)),
            at: Some(node.span().start),
            pointer,
            batch: None,
            hint: None,
        }
    }
}

/// One job of the document: its inputs, outputs and where they sit.
#[derive(Clone, Copy)]
struct Job<'t> {
    index: usize,
    batched: bool,
    inputs: NodeRef<'t>,
    outputs: Option<NodeRef<'t>>,
}

impl Job<'_> {
    /// The job's JSON pointer: `/batches/N`, or the root for the single-job form.
    fn pointer(&self) -> String {
        if self.batched {
            format!("/batches/{}", self.index)
        } else {
            String::new()
        }
    }
}

/// The jobs of a document, read from the tree as they are walked: a file of 100,000 batches
/// is linted without a list of 100,000 jobs beside its tree.
enum Jobs<'t> {
    Batches(NodeRef<'t>),
    Single(Job<'t>),
}

impl<'t> Jobs<'t> {
    fn len(&self) -> usize {
        match self {
            Jobs::Batches(batches) => batches.len(),
            Jobs::Single(_) => 1,
        }
    }

    fn iter(&self) -> impl Iterator<Item = Job<'t>> + use<'t> {
        let (single, batches) = match self {
            Jobs::Batches(batches) => (None, Some(*batches)),
            Jobs::Single(job) => (Some(*job), None),
        };
        let batched = batches.into_iter().flat_map(|batches| {
            batches.items().enumerate().map(|(index, batch)| Job {
                index,
                batched: true,
                inputs: batch.get("inputs").unwrap_or(batch),
                outputs: batch.get("outputs"),
            })
        });
        single.into_iter().chain(batched)
    }
}

fn jobs(tree: &Tree) -> Result<Jobs<'_>, PlanError> {
    let root = tree.root();
    if let Some(batches) = root.get("batches") {
        if batches.kind() != Kind::Seq {
            return Err(PlanError::shape(
                "`batches` must be a list".into(),
                batches,
                "/batches".into(),
            ));
        }
        return Ok(Jobs::Batches(batches));
    }
    let inputs = root.get("inputs").ok_or_else(|| {
        PlanError::shape(
            "the file has neither `inputs` nor `batches`".into(),
            root,
            String::new(),
        )
    })?;
    Ok(Jobs::Single(Job {
        index: 0,
        batched: false,
        inputs,
        outputs: root.get("outputs"),
    }))
}

/// A validated, filled document: what [`build`] plans. Only `fill::Filled` (which only
/// `fill::apply` makes) is one, since the trait is sealed; that is what guarantees no unvalidated
/// or unfilled file is planned.
///
/// A trait rather than the type itself so that `plan` does not import `fill`: `fill` imports
/// `validate`, and validation asks planning where outputs land ([`collisions`]).
pub trait Plannable: sealed::Sealed {
    /// The document's tree.
    fn tree(&self) -> &Tree;
}

/// Seals [`Plannable`]: the trait is public, but only this crate can name `Sealed`.
pub(crate) mod sealed {
    /// Implemented by the one type that may be planned.
    pub trait Sealed {}
}

/// Plan every batch of a validated, filled document.
pub fn build(filled: &impl Plannable, options: &PlanOptions) -> Result<Plan, PlanError> {
    build_tree(filled.tree(), options)
}

fn build_tree(tree: &Tree, options: &PlanOptions) -> Result<Plan, PlanError> {
    let root = tree.root();
    let cli = root.get("cli").ok_or_else(|| {
        PlanError::shape("the file has no `cli` section".into(), root, String::new())
    })?;
    let tool = tool::read(cli).map_err(|e| argv_error(&e, "/cli", None))?;
    for (key, name) in [("stdout", tool.stdout), ("stderr", tool.stderr)] {
        if let Some(Err(error)) = name.map(|n| outputs::check_glob(key, n)) {
            let node = cli.get(key).unwrap_or(cli);
            return Err(PlanError {
                problem: Box::new(Problem::Glob(format!(
                    "the `{key}` file name `{}` is not a path inside `/cc/outputs`",
                    node.text()
                ))),
                at: Some(node.span().start),
                pointer: format!("/cli/{key}"),
                batch: None,
                hint: Some(format!("{error}; use a relative name without `..`")),
            });
        }
    }
    let jobs = jobs(tree)?;
    let connectors_mode = jobs
        .iter()
        .any(|job| job.outputs.is_some_and(|o| !o.is_empty()));
    let several = jobs.len() > 1;
    let container = container(root)?;
    let mut ids = Ids::new(options.stable_ids);
    let batches = jobs
        .iter()
        .map(|job| {
            let context = BatchContext {
                cli,
                tool: &tool,
                job: &job,
                several,
                connectors_mode,
            };
            context.plan(&container, options.mode, &mut ids)
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Plan {
        mode: options.mode,
        batches,
    })
}

/// The note `red plan` prints under a plan with variables left unfilled (`None` when every one
/// has a value): which ones, how they are shown, and how to fill them.
#[must_use]
pub fn unfilled_note(names: &[String]) -> Option<String> {
    if names.is_empty() {
        return None;
    }
    let list: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    Some(format!(
        "note: not filled: {} (shown as `{{{{name}}}}`, protected ones as `********`); \
         `--vars FILE` or `--env` fills them\n",
        list.join(", ")
    ))
}

fn argv_error(error: &ArgvError, cli_pointer: &str, job: Option<&Job<'_>>) -> PlanError {
    let base = match error.place {
        argv::Place::Cli => cli_pointer.to_owned(),
        argv::Place::Job => job.map_or_else(String::new, |j| format!("{}/inputs", j.pointer())),
    };
    PlanError {
        problem: Box::new(Problem::Argv(error.problem.clone())),
        at: Some(error.at),
        pointer: format!("{base}{}", error.pointer),
        batch: job.filter(|j| j.batched).map(|j| j.index),
        hint: error.hint(),
    }
}

struct BatchContext<'a, 't> {
    cli: NodeRef<'t>,
    tool: &'a tool::Tool<'t>,
    job: &'a Job<'t>,
    several: bool,
    connectors_mode: bool,
}

impl BatchContext<'_, '_> {
    fn plan(
        &self,
        container: &ContainerPlan,
        mode: Mode,
        ids: &mut Ids,
    ) -> Result<BatchPlan, PlanError> {
        if ids.stable {
            ids.reset();
        }
        let job = self.job;
        let (paths, staged) = stage(self.tool, job, ids)?;
        let argv = argv::build_for(self.tool, job.inputs, &paths, mode)
            .map_err(|e| argv_error(&e, "/cli", Some(job)))?;
        let mut container = container.clone();
        container.mounts = staged
            .iter()
            .map(|s| MountPlan {
                source: format!("input {}", s.name),
                target: s.target.clone(),
                read_only: true,
            })
            .collect();
        container.mounts.push(MountPlan {
            source: "outputs".into(),
            target: WORKING_DIR.into(),
            read_only: false,
        });
        let outputs = self
            .tool
            .outputs
            .iter()
            .map(|output| self.output(output, &paths, mode))
            .collect::<Result<Vec<_>, _>>()?;
        if !self.connectors_mode
            && let Some((error, _)) = collision(self.cli, self.tool, job, &paths, mode)
        {
            return Err(error);
        }
        let stream = |name: Option<&str>| name.map(|n| format!("{WORKING_DIR}/{n}"));
        Ok(BatchPlan {
            index: job.index,
            argv,
            container,
            inputs: staged
                .into_iter()
                .map(|s| InputPlan {
                    name: s.name,
                    action: s.action,
                    connector: s.connector,
                    access: s
                        .access
                        .map_or(serde_json::Value::Null, |a| summarise(a, false)),
                    target: s.target,
                    pointer: s.pointer,
                })
                .collect(),
            outputs,
            stdout: stream(self.tool.stdout),
            stderr: stream(self.tool.stderr),
        })
    }

    fn output(
        &self,
        output: &tool::Output<'_>,
        paths: &InputPaths,
        mode: Mode,
    ) -> Result<OutputPlan, PlanError> {
        let job = self.job;
        let wanted = want(self.tool, output, job.inputs, paths, mode).map_err(|mut e| {
            e.batch = job.batched.then_some(job.index);
            e
        })?;
        let glob = match wanted.source {
            outputs::Source::Glob(glob) | outputs::Source::Named(glob) => glob,
            outputs::Source::Captured(stream) => format!("<{stream}>"),
        };
        Ok(OutputPlan {
            name: output.name.to_owned(),
            class: match output.kind {
                tool::OutputKind::File => "File",
                tool::OutputKind::Directory => "Directory",
                tool::OutputKind::Stdout => "stdout",
                tool::OutputKind::Stderr => "stderr",
            },
            optional: output.optional,
            glob,
            destination: self.destination(output),
        })
    }

    fn destination(&self, output: &tool::Output<'_>) -> Destination {
        if !self.connectors_mode {
            return Destination::Directory {
                path: if self.several {
                    format!("outputs_{}", self.job.index)
                } else {
                    "outputs".into()
                },
            };
        }
        let connector = self
            .job
            .outputs
            .and_then(|o| o.get(output.name))
            .and_then(|o| o.get("connector"));
        match connector {
            None => Destination::Discarded,
            Some(connector) => Destination::Connector {
                command: connector
                    .get("command")
                    .and_then(|c| c.as_str())
                    .unwrap_or_default()
                    .to_owned(),
                action: if output.kind == tool::OutputKind::Directory {
                    "send-dir"
                } else {
                    "send-file"
                },
                access: connector
                    .get("access")
                    .map_or(serde_json::Value::Null, |a| summarise(a, false)),
                pointer: format!(
                    "{}/outputs/{}",
                    self.job.pointer(),
                    escape_pointer_segment(output.name)
                ),
            },
        }
    }
}

/// What to collect for each output of `cli`, for one batch's inputs and staged paths.
///
/// Globs have their `$(inputs.…)` references resolved and are checked (not absolute, no `..`).
/// Errors point into `/cli`.
pub fn wanted(
    cli: NodeRef<'_>,
    job_inputs: NodeRef<'_>,
    paths: &InputPaths,
    mode: Mode,
) -> Result<Vec<outputs::Wanted>, PlanError> {
    let tool = tool::read(cli).map_err(|e| argv_error(&e, "/cli", None))?;
    tool.outputs
        .iter()
        .map(|output| want(&tool, output, job_inputs, paths, mode))
        .collect()
}

fn want(
    tool: &tool::Tool<'_>,
    output: &tool::Output<'_>,
    job_inputs: NodeRef<'_>,
    paths: &InputPaths,
    mode: Mode,
) -> Result<outputs::Wanted, PlanError> {
    let glob_pointer = format!(
        "/cli/outputs/{}/outputBinding/glob",
        escape_pointer_segment(output.name)
    );
    let located = |message: String, hint: &str| PlanError {
        problem: Box::new(Problem::Glob(message)),
        at: Some(output.at),
        pointer: glob_pointer.clone(),
        batch: None,
        hint: Some(hint.into()),
    };
    let stream = |name: Option<&str>, which: &'static str| match name {
        Some(name) => outputs::Source::Named(name.to_owned()),
        None => outputs::Source::Captured(which),
    };
    let (kind, source) = match output.kind {
        tool::OutputKind::File | tool::OutputKind::Directory => {
            let raw = output.glob.unwrap_or_default();
            let resolved = glob_refs::resolve(raw, tool, job_inputs, paths, mode)
                .map_err(|e| located(e.to_string(), "see docs/cli-semantics.md, outputs"))?;
            outputs::check_glob(output.name, &resolved).map_err(|e| {
                located(
                    e.to_string(),
                    "globs are relative to `/cc/outputs` and must stay inside it",
                )
            })?;
            let kind = if output.kind == tool::OutputKind::File {
                outputs::EntryKind::File
            } else {
                outputs::EntryKind::Directory
            };
            (kind, outputs::Source::Glob(resolved))
        }
        tool::OutputKind::Stdout => (outputs::EntryKind::File, stream(tool.stdout, "stdout")),
        tool::OutputKind::Stderr => (outputs::EntryKind::File, stream(tool.stderr, "stderr")),
    };
    if let outputs::Source::Named(name) = &source {
        outputs::check_glob(output.name, name).map_err(|e| {
            located(
                e.to_string(),
                "stream file names are relative to `/cc/outputs` and must stay inside it",
            )
        })?;
    }
    Ok(outputs::Wanted {
        name: output.name.to_owned(),
        kind,
        optional: output.optional,
        source,
    })
}
