//! `red submit FILE --kiosk URL --job-type T`: each batch of a RED file as one Kiosk job.
//!
//! Each batch's File input is received through its connector into a private run directory
//! (mode 0700, removed at the end), exactly as `red exec` stages it; it is uploaded to the
//! Kiosk, the job is followed as `red kiosk submit` follows one, and the result zip is delivered
//! where the batch's File output would go: `outputs/` (`outputs_<i>/` for batches) or through
//! the output's connector. The file's `cli` and `container` say which inputs and outputs exist;
//! its `execution` section is not used. Secrets stay in this process: access blocks go to the
//! connectors in memory.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use serde::Serialize;

use super::{ChildFailure, Outcome, Settings, one_job};
use crate::connector::{self, copy};
use crate::diagnostic::Diagnostic;
use crate::execute::docker::Cancellation;
use crate::execute::local::batch::receive_file_input;
use crate::execute::local::prepare::{self, Delivery, Input, Output};
use crate::execute::local::{ExecError, RunDir, Worker, blocking, output_dir};
use crate::execute::{Events, NoEvents};
use crate::fill::Filled;
use crate::kiosk::Client;
use crate::kiosk::pick::{self, PickError};
use crate::plan::{self, Plan};
use crate::tree::NodeRef;

/// Which File input and output carry the job, when a batch has several.
#[derive(Debug, Clone, Default)]
pub struct Choice {
    /// The input's name.
    pub input: Option<String>,
    /// The output's name.
    pub output: Option<String>,
}

/// Why the batches cannot be sent.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    /// Connectors, inputs or outputs that do not fit, located in the file.
    #[error("{} problem(s) with the file", .0.len())]
    Invalid(Vec<Diagnostic>),
    /// The plan and the connectors of a batch disagree (a bug in red).
    #[error("the plan of batch {0} does not match its connectors")]
    Mismatch(usize),
}

/// The jobs of `plan`, one per batch: its File input (staged under the name the Kiosk sees) and
/// the File output its result goes to, under `outputs` (default `./outputs`).
///
/// # Errors
/// Every problem of every batch at once ([`PrepareError::Invalid`]).
pub fn jobs(
    filled: &Filled,
    plan: &Plan,
    choice: &Choice,
    outputs: Option<&Path>,
) -> Result<Vec<Job>, PrepareError> {
    let root = filled.tree().root();
    let several = root.get("batches").is_some();
    let prepared = prepare::batches(filled, plan, several, true).map_err(PrepareError::Invalid)?;
    let mut problems = Vec::new();
    let mut jobs = Vec::with_capacity(prepared.len());
    for batch in prepared {
        let index = batch.plan.index;
        let chosen = pick::pick(
            &batch.plan.inputs,
            &batch.plan.outputs,
            choice.input.as_deref(),
            choice.output.as_deref(),
        );
        let chosen = match chosen {
            Ok(chosen) => chosen,
            Err(error) => {
                problems.push(pick_diagnostic(root, &error, index, several));
                continue;
            }
        };
        let (mut inputs, mut outputs_of) = (batch.inputs, batch.outputs);
        if chosen.input >= inputs.len() || chosen.output >= outputs_of.len() {
            return Err(PrepareError::Mismatch(index));
        }
        let input = inputs.swap_remove(chosen.input);
        let output = outputs_of.swap_remove(chosen.output);
        jobs.push(Job::new(
            index,
            input,
            output,
            output_dir(outputs, several, index),
        ));
    }
    if problems.is_empty() {
        Ok(jobs)
    } else {
        Err(PrepareError::Invalid(problems))
    }
}

impl Job {
    /// Staged under the upload name, so that the Kiosk sees the right extension.
    fn new(index: usize, mut input: Input, output: Output, out_dir: PathBuf) -> Self {
        let staged = input
            .target
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_owned();
        let upload = pick::upload_name(
            &staged,
            &[
                input.access.optional_str("path").ok().flatten(),
                input.access.optional_str("url").ok().flatten(),
            ],
        );
        input.target = format!("{}/{upload}", plan::INPUTS_DIR);
        Self {
            index,
            input,
            output,
            upload,
            out_dir,
        }
    }
}

/// Run every job, at most `limit` at once, until all have ended or `cancellation` is set; the
/// outcomes come in batch order. A line per ended batch goes to `events`.
///
/// # Errors
/// No run directory, or [`ExecError::Interrupted`] (the jobs already created go on at the
/// Kiosk and expire on their own).
pub async fn run(
    client: &Client,
    settings: &Settings,
    jobs: Vec<Job>,
    limit: usize,
    base_dir: PathBuf,
    events: &Arc<dyn Events>,
    cancellation: &Cancellation,
) -> Result<Vec<BatchOutcome>, ExecError> {
    let run_dir = RunDir::create(&uuid::Uuid::new_v4().simple().to_string())?;
    let stop = Arc::new(AtomicBool::new(false));
    let worker = Worker {
        connector_context: connector::Context {
            base_dir,
            stop: Arc::clone(&stop),
            progress: Arc::new(connector::NoProgress),
            stall: connector::DEFAULT_STALL_TIMEOUT,
        },
        events: Arc::new(NoEvents),
    };
    let total = jobs.len();
    let slots = Arc::new(tokio::sync::Semaphore::new(limit));
    let mut set = tokio::task::JoinSet::new();
    for job in jobs {
        let (client, settings, worker, slots) = (
            client.clone(),
            settings.clone(),
            worker.clone(),
            Arc::clone(&slots),
        );
        let dir = run_dir.path.join(format!("batch-{}", job.index));
        set.spawn(async move {
            let _slot = slots.acquire_owned().await;
            one_batch(job, &dir, &client, settings, &worker).await
        });
    }
    let mut results: Vec<BatchOutcome> = Vec::with_capacity(total);
    let interrupted = loop {
        tokio::select! {
            joined = set.join_next() => match joined {
                Some(Ok(result)) => {
                    events.progress(&format!(
                        "[{}/{total}] batch {}: {}\n",
                        results.len() + 1,
                        result.index,
                        result.state
                    ));
                    results.push(result);
                }
                Some(Err(error)) => {
                    events.problem(&format!("error: a batch's task failed: {error}\n"));
                }
                None => break false,
            },
            () = cancellation.cancelled() => break true,
        }
    };
    if interrupted {
        stop.store(true, Ordering::Relaxed);
        set.shutdown().await;
        drop(run_dir);
        return Err(ExecError::Interrupted);
    }
    drop(run_dir);
    results.sort_by_key(|r| r.index);
    Ok(results)
}

/// One batch, ready to send.
pub struct Job {
    index: usize,
    input: Input,
    output: Output,
    /// The name the received file is uploaded under.
    upload: String,
    /// The output directory (Directory destinations).
    out_dir: PathBuf,
}

/// One batch's end, as reported.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchOutcome {
    /// The batch.
    pub index: usize,
    /// The File input sent.
    pub input: String,
    /// The File output that receives the result.
    pub output: String,
    /// The Kiosk's job key (its Redis hash).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job: Option<String>,
    /// `succeeded`, `failed` (the Kiosk job failed) or `error` (red could not carry it out).
    pub state: &'static str,
    /// The Kiosk's status of the job (`done`, `failed`), when it ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kiosk_status: Option<String>,
    /// Where the result went: a path, or the connector and its action.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivered: Option<String>,
    /// What went wrong.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The failed images of a zip job.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<ChildFailure>,
    /// Seconds the batch took.
    pub seconds: f64,
}

impl BatchOutcome {
    fn new(job: &Job) -> Self {
        Self {
            index: job.index,
            input: job.input.name.clone(),
            output: job.output.plan.name.clone(),
            job: None,
            state: "error",
            kiosk_status: None,
            delivered: None,
            error: None,
            failures: Vec::new(),
            seconds: 0.0,
        }
    }
}

/// The first of `pointers` that exists in the document, and where it is.
fn locate(root: NodeRef<'_>, pointers: &[String]) -> (String, crate::source::Location) {
    for pointer in pointers {
        if let Some(node) = root.pointer(pointer) {
            return (pointer.clone(), node.span().start);
        }
    }
    (String::new(), root.span().start)
}

fn pick_diagnostic(
    root: NodeRef<'_>,
    error: &PickError,
    index: usize,
    several: bool,
) -> Diagnostic {
    let part = if error.is_about_inputs() {
        "inputs"
    } else {
        "outputs"
    };
    let mut candidates = Vec::new();
    if several {
        candidates.push(format!("/batches/{index}/{part}"));
    }
    candidates.push(format!("/{part}"));
    candidates.push(format!("/cli/{part}"));
    let (pointer, at) = locate(root, &candidates);
    Diagnostic::error("kiosk", error.to_string())
        .at(at)
        .pointer(pointer)
        .batch(several.then_some(index))
        .hint(error.hint())
}

/// Carry one batch out: receive, send, follow, deliver. Never fails: errors are in the result.
async fn one_batch(
    job: Job,
    dir: &Path,
    client: &Client,
    mut settings: Settings,
    worker: &Worker,
) -> BatchOutcome {
    let started = Instant::now();
    let mut result = BatchOutcome::new(&job);
    let Job {
        index,
        input,
        output,
        upload,
        out_dir,
    } = job;
    let outcome = async {
        let result_dir = dir.join("result");
        for path in [dir, result_dir.as_path()] {
            make_private(path)?;
        }
        let received = {
            let (worker, dir) = (worker.clone(), dir.join("input"));
            blocking(move || receive_file_input(index, input, &dir, &worker))
                .await
                .and_then(|r| r)?
        };
        settings.download = Some(result_dir);
        let outcome: Outcome = one_job(client, &settings, &received, &upload, &NoEvents).await;
        Ok::<_, String>(outcome)
    }
    .await;
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(message) => {
            result.error = Some(message);
            result.seconds = started.elapsed().as_secs_f64();
            return result;
        }
    };
    result.job.clone_from(&outcome.hash);
    result.failures.clone_from(&outcome.failures);
    if outcome.hash.is_some() && outcome.status != "error" {
        result.kiosk_status = Some(outcome.status.clone());
    }
    match (&outcome.output, outcome.status.as_str()) {
        (Some(zip), "done") => {
            let (zip, worker) = (PathBuf::from(zip), worker.clone());
            let delivered = blocking(move || deliver_result(&output, &zip, &out_dir, &worker))
                .await
                .and_then(|r| r);
            match delivered {
                Ok(where_to) => {
                    result.delivered = Some(where_to);
                    if outcome.ok() {
                        result.state = "succeeded";
                    } else {
                        result.state = "failed";
                        result.error = Some(format!(
                            "{} image(s) of the zip failed at the Kiosk",
                            outcome.failures.len()
                        ));
                    }
                }
                Err(message) => result.error = Some(message),
            }
        }
        (_, "done") => {
            result.error = Some("the Kiosk finished the job without a result to download".into());
        }
        (_, "failed") => {
            result.state = "failed";
            result.error = Some(format!(
                "the Kiosk job failed: {}",
                outcome.reason.as_deref().unwrap_or("no reason given")
            ));
        }
        _ => result.error = outcome.reason.clone(),
    }
    result.seconds = started.elapsed().as_secs_f64();
    result
}

/// A directory only its owner may enter (mode 0700).
fn make_private(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(path)
        .and_then(|()| std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700)))
        .map_err(|e| format!("cannot create `{}`: {e}", path.display()))
}

/// Put the result zip where the output goes; returns where that is, in words.
fn deliver_result(
    output: &Output,
    zip: &Path,
    out_dir: &Path,
    worker: &Worker,
) -> Result<String, String> {
    let failed = |error: connector::ConnectorError| {
        format!(
            "output `{}` could not be delivered: {error}",
            output.plan.name
        )
    };
    match &output.delivery {
        Delivery::Directory => {
            std::fs::create_dir_all(out_dir)
                .map_err(|e| format!("cannot create `{}`: {e}", out_dir.display()))?;
            let destination = out_dir.join(pick::result_name(&output.plan));
            copy::place(zip, &destination, &worker.connector_context).map_err(failed)?;
            Ok(destination.display().to_string())
        }
        Delivery::Connector {
            connector, access, ..
        } => {
            connector
                .send_file(access, zip, &worker.connector_context)
                .map_err(failed)?;
            Ok(format!("{} send-file", connector.command()))
        }
        Delivery::Discarded => Err(format!(
            "output `{}` has no connector, so the result was discarded",
            output.plan.name
        )),
    }
}
