//! `red submit FILE --kiosk URL --job-type T`: run a RED file's batches on a DeepCell Kiosk
//! instead of a CC-Agency broker (docs/kiosk.md).
//!
//! Each batch's File input is received through its connector into a private run directory
//! (mode 0700, removed at the end), exactly as `red exec` stages it; it is uploaded to the
//! Kiosk, the job is followed as `red kiosk submit` follows one, and the result zip is delivered
//! where the batch's File output would go: `outputs/` (`outputs_<i>/` for batches) or through
//! the output's connector. The file's `cli` and `container` say which inputs and outputs exist;
//! its `execution` section is not used. Secrets stay in this process: access blocks go to the
//! connectors in memory, and every line printed is masked.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clap::Args;
use serde::Serialize;

use crate::cli::{ExitStatus, Printer, values};
use crate::commands::exec::base_dir;
use crate::commands::fill::{self as fill_command};
use crate::commands::kiosk::{self as kiosk_command, Outcome, Settings};
use crate::commands::remote::Format;
use crate::commands::submit::SubmitArgs;
use crate::connector::{self, copy};
use crate::diagnostic::Diagnostic;
use crate::execute::local::batch::receive_file_input;
use crate::execute::local::prepare::{self, Delivery, Input, Output};
use crate::execute::local::{NoEvents, RunDir, Worker, blocking, output_dir, outputs_root};
use crate::kiosk::pick::{self, PickError};
use crate::kiosk::{Client, Pace};
use crate::plan::{self, PlanOptions};
use crate::run_lock::RunLock;
use crate::tree::NodeRef;

/// The Kiosk flags of `red submit`.
#[derive(Debug, Clone, Args)]
pub struct KioskArgs {
    /// Run each batch on this DeepCell Kiosk instead of a CC-Agency broker: its File input is
    /// sent as one job, the result zip delivered as its File output (docs/kiosk.md).
    #[arg(
        long,
        value_name = "URL",
        requires = "job_type",
        conflicts_with_all = ["url", "user", "config", "wait", "disable_retry", "disable_connector_validation"]
    )]
    pub kiosk: Option<String>,
    /// With `--kiosk`: the job type (queue), e.g. `mesmer`.
    #[arg(long, value_name = "TYPE", requires = "kiosk")]
    pub job_type: Option<String>,
    /// With `--kiosk`: the input to send, when a batch has several File inputs.
    #[arg(long, value_name = "NAME", requires = "kiosk")]
    pub input: Option<String>,
    /// With `--kiosk`: the output that receives the result zip, when there are several File
    /// outputs.
    #[arg(long, value_name = "NAME", requires = "kiosk")]
    pub output: Option<String>,
    /// With `--kiosk`: put results here instead of ./outputs (batch `i` of several goes to
    /// DIR/<i>).
    #[arg(long, value_name = "DIR", requires = "kiosk")]
    pub outputs: Option<PathBuf>,
    /// With `--kiosk`: batches in flight at once [default: 16].
    #[arg(long, value_name = "N", requires = "kiosk",
          value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub jobs: Option<u32>,
    /// With `--kiosk`: how long one batch's job may take from upload to result [default: 1h].
    #[arg(long, value_name = "DURATION", requires = "kiosk", value_parser = values::duration)]
    pub job_timeout: Option<Duration>,
    /// With `--kiosk`: the rescale factor sent with each job.
    #[arg(long, requires = "kiosk")]
    pub scale: Option<String>,
    /// With `--kiosk`: the channels sent with each job, comma-separated.
    #[arg(long, requires = "kiosk")]
    pub channels: Option<String>,
}

/// The default of `--jobs` (as `red kiosk submit`).
const DEFAULT_JOBS: u32 = 16;
/// The default of `--job-timeout`, seconds.
const DEFAULT_JOB_TIMEOUT: Duration = Duration::from_secs(3600);
/// The longest wait between two polls of one job.
const POLL: Duration = Duration::from_secs(1);
/// Seconds after which the Kiosk may forget a finished job.
const EXPIRE: u64 = 3600;

/// One batch, ready to send.
struct Job {
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
struct BatchResult {
    index: usize,
    input: String,
    output: String,
    /// The Kiosk's job key (its Redis hash).
    #[serde(skip_serializing_if = "Option::is_none")]
    job: Option<String>,
    /// `succeeded`, `failed` (the Kiosk job failed) or `error` (red could not carry it out).
    state: &'static str,
    /// The Kiosk's status of the job (`done`, `failed`), when it ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    kiosk_status: Option<String>,
    /// Where the result went: a path, or the connector and its action.
    #[serde(skip_serializing_if = "Option::is_none")]
    delivered: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    failures: Vec<kiosk_command::Failure>,
    seconds: f64,
}

impl BatchResult {
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

/// Run `red submit FILE --kiosk URL --job-type T`.
pub(crate) fn run(
    args: &SubmitArgs,
    kiosk_args: &KioskArgs,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let (Some(url), Some(job_type)) = (&kiosk_args.kiosk, &kiosk_args.job_type) else {
        return Err(crate::cli::usage("`--kiosk URL` needs `--job-type TYPE`"));
    };
    let request_timeout = args.remote.timeout;
    let job_timeout = kiosk_args.job_timeout.unwrap_or(DEFAULT_JOB_TIMEOUT);
    let report =
        fill_command::Report::for_file(printer, &args.file, matches!(args.format, Format::Json));
    let filled = match report.filled(&args.file, &args.sources) {
        Ok(filled) => filled,
        Err(status) => return Ok(status),
    };
    let plan = match plan::build(&filled, &PlanOptions::default()) {
        Ok(plan) => plan,
        Err(error) => {
            return Ok(report.diagnostics(&[error.to_diagnostic()], Some(filled.source())));
        }
    };
    let root = filled.tree().root();
    let several = root.get("batches").is_some();
    let prepared = match prepare::batches(&filled, &plan, several, true) {
        Ok(prepared) => prepared,
        Err(diagnostics) => return Ok(report.diagnostics(&diagnostics, Some(filled.source()))),
    };
    let mut problems = Vec::new();
    let mut jobs = Vec::with_capacity(prepared.len());
    for batch in prepared {
        let index = batch.plan.index;
        let chosen = pick::pick(
            &batch.plan.inputs,
            &batch.plan.outputs,
            kiosk_args.input.as_deref(),
            kiosk_args.output.as_deref(),
        );
        let chosen = match chosen {
            Ok(chosen) => chosen,
            Err(error) => {
                problems.push(pick_diagnostic(root, &error, index, several));
                continue;
            }
        };
        let mut inputs = batch.inputs;
        let mut outputs = batch.outputs;
        if chosen.input >= inputs.len() || chosen.output >= outputs.len() {
            anyhow::bail!("the plan of batch {index} does not match its connectors");
        }
        let mut input = inputs.swap_remove(chosen.input);
        let output = outputs.swap_remove(chosen.output);
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
        // Staged under the upload name, so that the Kiosk sees the right extension.
        input.target = format!("{}/{upload}", plan::INPUTS_DIR);
        jobs.push(Job {
            index,
            input,
            output,
            upload,
            out_dir: output_dir(kiosk_args.outputs.as_deref(), several, index),
        });
    }
    if !problems.is_empty() {
        return Ok(report.diagnostics(&problems, Some(filled.source())));
    }
    drop(filled);
    // The results directory belongs to this run until it ends (held to the end of `run`).
    let _lock = RunLock::acquire(
        &outputs_root(kiosk_args.outputs.as_deref(), several),
        "--outputs",
    )?;
    let settings = Settings {
        job_type: job_type.clone(),
        download: None,
        timeout: job_timeout,
        pace: Arc::new(Pace::new(POLL)),
        scale: kiosk_args.scale.clone(),
        channels: kiosk_args.channels.clone(),
        expire: EXPIRE,
        progress: false,
    };
    let mut client = Client::new(url, request_timeout)?;
    let limit = kiosk_args.jobs.unwrap_or(DEFAULT_JOBS) as usize;
    let base = base_dir(&args.file);
    let note = "interrupted; jobs already created go on at the Kiosk and expire on their own\n";
    let shown = printer.clone();
    let printer = printer.clone();
    super::interruptible(
        kiosk_command::runtime()?,
        &shown,
        note,
        |cancellation| async move {
            if let Err(error) = client.resolve().await {
                return Ok(kiosk_command::fail(&printer, &error));
            }
            if let Err(error) = client.check_job_type(job_type).await {
                return Ok(kiosk_command::fail(&printer, &error));
            }
            let run_dir = RunDir::create(&uuid::Uuid::new_v4().simple().to_string())?;
            let stop = Arc::new(AtomicBool::new(false));
            let worker = Worker {
                connector_context: connector::Context {
                    base_dir: base,
                    stop: Arc::clone(&stop),
                    progress: Arc::new(connector::NoProgress),
                    stall: connector::DEFAULT_STALL_TIMEOUT,
                },
                events: Arc::new(NoEvents),
            };
            let started = Instant::now();
            let total = jobs.len();
            let progress = std::io::stderr().is_terminal() && args.format == Format::Human;
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
                let printer = printer.clone();
                set.spawn(async move {
                    let _slot = slots.acquire_owned().await;
                    one_batch(job, &dir, &client, settings, &worker, &printer).await
                });
            }
            let mut results: Vec<BatchResult> = Vec::with_capacity(total);
            let interrupted = loop {
                tokio::select! {
                    joined = set.join_next() => match joined {
                        Some(Ok(result)) => {
                            if progress {
                                printer.err(&format!(
                                    "[{}/{total}] batch {}: {}\n",
                                    results.len() + 1,
                                    result.index,
                                    result.state
                                ));
                            }
                            results.push(result);
                        }
                        Some(Err(error)) => {
                            printer.err(&format!("error: a batch's task failed: {error}\n"));
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
                printer.err(
                "interrupted; jobs already created go on at the Kiosk and expire on their own\n",
            );
                return Ok(ExitStatus::Interrupted);
            }
            drop(run_dir);
            results.sort_by_key(|r| r.index);
            Ok(finish(
                &results,
                total,
                started.elapsed().as_secs_f64(),
                client.base(),
                job_type,
                args.format,
                &printer,
            ))
        },
    )
}

/// Carry one batch out: receive, send, follow, deliver. Never fails: errors are in the result.
async fn one_batch(
    job: Job,
    dir: &Path,
    client: &Client,
    mut settings: Settings,
    worker: &Worker,
    printer: &Printer,
) -> BatchResult {
    let started = Instant::now();
    let mut result = BatchResult::new(&job);
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
        let outcome: Outcome =
            kiosk_command::one_job(client, &settings, &received, &upload, printer).await;
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
            let delivered = blocking(move || deliver(&output, &zip, &out_dir, &worker))
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
fn deliver(output: &Output, zip: &Path, out_dir: &Path, worker: &Worker) -> Result<String, String> {
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

fn finish(
    results: &[BatchResult],
    total: usize,
    elapsed: f64,
    url: &str,
    job_type: &str,
    format: Format,
    printer: &Printer,
) -> ExitStatus {
    let succeeded = results.iter().filter(|r| r.state == "succeeded").count();
    let all = succeeded == total && results.len() == total;
    match format {
        Format::Json => printer.out_json(serde_json::json!({
            "kiosk": url,
            "jobType": job_type,
            "succeeded": all,
            "batches": results,
            "elapsed": elapsed,
        })),
        Format::Human => {
            let mut text = String::new();
            for r in results {
                text.push_str(&format!("batch {}: {}", r.index, r.state));
                if let Some(job) = &r.job {
                    text.push_str(&format!(", Kiosk job {job}"));
                }
                if let Some(delivered) = &r.delivered {
                    text.push_str(&format!(", result -> {delivered}"));
                }
                text.push('\n');
                if let Some(error) = &r.error {
                    text.push_str(&format!("  error: {error}\n"));
                }
                for f in &r.failures {
                    text.push_str(&format!("  failed in the zip: {}: {}\n", f.child, f.reason));
                }
            }
            printer.out(&text);
            printer.err(&format!(
                "{succeeded} of {total} batch{} succeeded in {elapsed:.2} s\n",
                if total == 1 { "" } else { "es" }
            ));
        }
    }
    if all {
        ExitStatus::Success
    } else {
        ExitStatus::Failure
    }
}
