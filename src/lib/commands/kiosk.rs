//! `red kiosk jobtypes` and `red kiosk submit`: send images (or zips of images) to a DeepCell
//! Kiosk, many jobs in flight at once, and collect the results (docs/kiosk.md).

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};
use serde::Serialize;

use crate::cli::{self, ExitStatus, Printer, values};
use crate::commands::remote::Format;
use crate::kiosk::{self, Client, JobRequest, Pace};

/// `red kiosk` subcommands.
#[derive(Debug, Subcommand)]
pub enum KioskCommand {
    /// List the job types (queues) a Kiosk offers.
    Jobtypes(JobtypesArgs),
    /// Upload files, run one job per file, wait for all, download the results.
    Submit(KioskSubmitArgs),
}

/// Arguments of `red kiosk jobtypes`.
#[derive(Debug, Args)]
pub struct JobtypesArgs {
    /// The Kiosk's base URL (`http://` is assumed without a scheme).
    #[arg(long, value_name = "URL")]
    pub url: String,
    /// How long one request may take (`30`, `90s`, `2m`).
    #[arg(long, value_name = "DURATION", default_value = "30", value_parser = values::duration)]
    pub request_timeout: Duration,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
}

/// Arguments of `red kiosk submit`.
#[derive(Debug, Args)]
pub struct KioskSubmitArgs {
    /// Images or `.zip` files; a directory is searched recursively for them.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// The Kiosk's base URL (`http://` is assumed without a scheme).
    #[arg(long, value_name = "URL")]
    pub url: String,
    /// The job type (queue), e.g. `mesmer`; checked against the Kiosk's list first.
    #[arg(long, value_name = "TYPE")]
    pub job_type: String,
    /// Download each result zip into this directory.
    #[arg(long, value_name = "DIR")]
    pub download: Option<PathBuf>,
    /// How many jobs may be in flight at once.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub jobs: u32,
    /// How many requests may be sent to the Kiosk at once [default: as many as `--jobs`]. With
    /// fewer requests than jobs, jobs wait in the Kiosk's queue while few connections are open.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub requests: Option<u32>,
    /// How long a job may take from upload to result before it counts as failed (`3600`, `1h`).
    #[arg(long, value_name = "DURATION", default_value = "3600", value_parser = values::duration)]
    pub timeout: Duration,
    /// How long one request may take (an upload the Kiosk never answers fails after this).
    #[arg(long, value_name = "DURATION", default_value = "60", value_parser = values::duration)]
    pub request_timeout: Duration,
    /// The longest wait between two polls of one job (polls are timed by the jobs that have ended).
    #[arg(long, value_name = "DURATION", default_value = "1", value_parser = values::duration)]
    pub poll: Duration,
    /// Rescale factor sent with each job (empty: the Kiosk detects it).
    #[arg(long)]
    pub scale: Option<String>,
    /// Channels sent with each job, comma-separated (e.g. `0,1`).
    #[arg(long)]
    pub channels: Option<String>,
    /// Seconds after which the Kiosk may forget a finished job.
    #[arg(long, value_name = "SECONDS", default_value_t = 3600, value_parser = values::int(1..=366 * 86_400))]
    pub expire: u64,
    /// Benchmark: submit the first file N times and report per-job and overall timings.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub benchmark: Option<u32>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
}

/// Run `red kiosk …`.
pub fn run(command: &KioskCommand, printer: &Printer) -> anyhow::Result<ExitStatus> {
    match command {
        KioskCommand::Jobtypes(args) => jobtypes(args, printer),
        KioskCommand::Submit(args) => submit(args, printer),
    }
}

pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

pub(crate) fn fail(printer: &Printer, error: &kiosk::Error) -> ExitStatus {
    let status = match error {
        kiosk::Error::UnknownJobType { .. } => ExitStatus::Failure,
        _ => ExitStatus::Error,
    };
    let failure = match error {
        kiosk::Error::Io { .. } => cli::Failure::new("io", error.to_string(), status)
            .hint(Some("check the path and its permissions")),
        kiosk::Error::UnknownJobType { .. } => {
            cli::Failure::new("kiosk", error.to_string(), status)
                .hint(Some("`red kiosk jobtypes --url URL` lists the job types"))
        }
        _ => cli::Failure::new("kiosk", error.to_string(), status).hint(Some(
            "check the Kiosk's URL and that it answers (`red kiosk jobtypes --url URL`)",
        )),
    };
    printer.fail(&failure)
}

fn jobtypes(args: &JobtypesArgs, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let client = Client::new(&args.url, args.request_timeout)?;
    super::interruptible(runtime()?, printer, "interrupted\n", |_| async {
        match client.job_types().await {
            Ok(types) => {
                match args.format {
                    Format::Human => {
                        printer.out(&types.iter().map(|t| format!("{t}\n")).collect::<String>())
                    }
                    Format::Json => printer.out_json(serde_json::json!({ "jobTypes": types })),
                }
                Ok(ExitStatus::Success)
            }
            Err(error) => Ok(fail(printer, &error)),
        }
    })
}

/// One job's outcome.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Outcome {
    input: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) hash: Option<String>,
    /// `done`, `failed`, or `error` (red could not follow it).
    pub(crate) status: String,
    pub(crate) seconds: f64,
    #[serde(skip_serializing_if = "Option::is_none", rename = "outputUrl")]
    output_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) output: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) reason: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) failures: Vec<Failure>,
}

/// A failed image of a zip job.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Failure {
    pub(crate) child: String,
    pub(crate) reason: String,
}

impl Outcome {
    pub(crate) fn ok(&self) -> bool {
        self.status == "done" && self.failures.is_empty()
    }
}

/// Files to send: each path, or the job files under a directory, in name order.
fn collect(paths: &[PathBuf]) -> Result<Vec<PathBuf>, kiosk::Error> {
    let mut out = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path).map_err(|source| kiosk::Error::Io {
            action: "read",
            path: path.clone(),
            source,
        })?;
        if meta.is_dir() {
            let mut stack = vec![path.clone()];
            let mut found = Vec::new();
            while let Some(dir) = stack.pop() {
                let entries = std::fs::read_dir(&dir).map_err(|source| kiosk::Error::Io {
                    action: "read",
                    path: dir.clone(),
                    source,
                })?;
                for entry in entries.flatten() {
                    let child = entry.path();
                    match entry.file_type() {
                        Ok(t) if t.is_dir() => stack.push(child),
                        Ok(t) if t.is_file() && kiosk::is_job_file(&child) => found.push(child),
                        _ => {}
                    }
                }
            }
            found.sort();
            out.extend(found);
        } else {
            out.push(path.clone());
        }
    }
    Ok(out)
}

/// How every job of one run is made and followed.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) job_type: String,
    pub(crate) download: Option<PathBuf>,
    pub(crate) timeout: Duration,
    /// When to poll, shared by every job of the run.
    pub(crate) pace: Arc<Pace>,
    pub(crate) scale: Option<String>,
    pub(crate) channels: Option<String>,
    pub(crate) expire: u64,
    pub(crate) progress: bool,
}

#[expect(clippy::too_many_lines, reason = "issue 19: split by the engine work")]
fn submit(args: &KioskSubmitArgs, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let request_timeout = args.request_timeout;
    let mut files = match collect(&args.paths) {
        Ok(files) => files,
        Err(error) => return Ok(fail(printer, &error)),
    };
    if files.is_empty() {
        return Err(crate::cli::usage(
            "no image or `.zip` files among the paths given",
        ));
    }
    // Output names: one per job, unique even for equal basenames and benchmark copies.
    let mut names: Vec<String> = Vec::new();
    if let Some(count) = args.benchmark {
        let first = files.swap_remove(0);
        files = vec![first; count as usize];
    }
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for file in &files {
        let stem = file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "job".to_owned());
        let n = seen.entry(stem.clone()).or_insert(0);
        *n += 1;
        names.push(if *n == 1 { stem } else { format!("{stem}-{n}") });
    }
    if let Some(dir) = &args.download {
        std::fs::create_dir_all(dir)
            .map_err(|e| anyhow::anyhow!("cannot create `{}`: {e}", dir.display()))?;
    }
    // The download directory belongs to this run until it ends (held to the end of `submit`).
    let _lock = args
        .download
        .as_deref()
        .map(|dir| crate::run_lock::RunLock::acquire(dir, "--download"))
        .transpose()?;
    let settings = Arc::new(Settings {
        job_type: args.job_type.clone(),
        download: args.download.clone(),
        timeout: args.timeout,
        pace: Arc::new(Pace::new(args.poll)),
        scale: args.scale.clone(),
        channels: args.channels.clone(),
        expire: args.expire,
        progress: std::io::stderr().is_terminal(),
    });
    let mut client = Client::new(&args.url, request_timeout)?;
    if let Some(most) = args.requests {
        client = client.with_request_limit(most as usize);
    }
    let note = "interrupted; jobs already created go on at the Kiosk and expire on their own\n";
    let shown = printer.clone();
    let printer = printer.clone();
    super::interruptible(runtime()?, &shown, note, |_| async move {
        if let Err(error) = client.resolve().await {
            return Ok(fail(&printer, &error));
        }
        if let Err(error) = client.check_job_type(&args.job_type).await {
            return Ok(fail(&printer, &error));
        }
        let start = Instant::now();
        let limit = Arc::new(tokio::sync::Semaphore::new(args.jobs as usize));
        let total = files.len();
        let finished = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut set = tokio::task::JoinSet::new();
        for (index, (file, name)) in files.into_iter().zip(names).enumerate() {
            let (client, settings, limit, printer, finished) = (
                client.clone(),
                Arc::clone(&settings),
                Arc::clone(&limit),
                printer.clone(),
                Arc::clone(&finished),
            );
            set.spawn(async move {
                let _permit = limit.acquire_owned().await;
                let outcome = one_job(&client, &settings, &file, &name, &printer).await;
                let done = finished.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                if settings.progress {
                    printer.err(&format!(
                        "[{done}/{total}] {}: {}\n",
                        outcome.input, outcome.status
                    ));
                }
                (index, outcome)
            });
        }
        let mut outcomes: Vec<(usize, Outcome)> = Vec::new();
        while let Some(joined) = set.join_next().await {
            if let Ok(pair) = joined {
                outcomes.push(pair);
            }
        }
        outcomes.sort_by_key(|(i, _)| *i);
        let outcomes: Vec<Outcome> = outcomes.into_iter().map(|(_, o)| o).collect();
        let elapsed = start.elapsed().as_secs_f64();
        report(&outcomes, elapsed, args, &printer);
        Ok(
            if outcomes.len() == total && outcomes.iter().all(Outcome::ok) {
                ExitStatus::Success
            } else {
                ExitStatus::Failure
            },
        )
    })
}

/// Upload `file`, create its job, follow it to its end and download the result into
/// `settings.download`; every failure is in the outcome.
pub(crate) async fn one_job(
    client: &Client,
    settings: &Settings,
    file: &Path,
    name: &str,
    printer: &Printer,
) -> Outcome {
    let start = Instant::now();
    let basename = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| name.to_owned());
    let mut outcome = Outcome {
        input: file.display().to_string(),
        hash: None,
        status: "error".to_owned(),
        seconds: 0.0,
        output_url: None,
        output: None,
        reason: None,
        failures: Vec::new(),
    };
    let result = async {
        let uploaded = client.upload(&basename, file).await?;
        let hash = client
            .predict(&JobRequest {
                job_type: settings.job_type.clone(),
                image_name: basename.clone(),
                uploaded_name: uploaded,
                scale: settings.scale.clone(),
                channels: settings.channels.clone(),
            })
            .await?;
        outcome.hash = Some(hash.clone());
        follow(client, settings, &hash, start, &mut outcome, printer).await
    }
    .await;
    if let Err(error) = result {
        outcome.reason = Some(error.to_string());
    }
    outcome.seconds = start.elapsed().as_secs_f64();
    outcome
}

/// Poll until the job ends (or its time is up), then download and expire.
async fn follow(
    client: &Client,
    settings: &Settings,
    hash: &str,
    start: Instant,
    outcome: &mut Outcome,
    printer: &Printer,
) -> Result<(), kiosk::Error> {
    const GRACE: Duration = Duration::from_secs(30);
    let mut errors = 0;
    let mut last_status: Option<String> = None;
    let created = Instant::now();
    let mut delay = settings.pace.first();
    let mut polls = 0;
    let fields = loop {
        if start.elapsed() > settings.timeout {
            outcome.reason = Some(format!(
                "no result within {} s (last status: {})",
                settings.timeout.as_secs_f64(),
                last_status.as_deref().unwrap_or("none")
            ));
            let _ = client.expire(hash, settings.expire).await;
            return Ok(());
        }
        tokio::time::sleep(delay).await;
        polls += 1;
        delay = settings.pace.next(delay, polls);
        match client.fields(hash).await {
            Ok(fields) if fields.is_finished() => {
                settings.pace.ended(created.elapsed());
                break fields;
            }
            Ok(fields) => {
                errors = 0;
                if fields.status.is_none() && start.elapsed() > GRACE {
                    outcome.reason = Some("the Kiosk forgot the job (no status)".to_owned());
                    return Ok(());
                }
                if settings.progress
                    && fields.status != last_status
                    && let Some(status) = &fields.status
                {
                    let progress = fields
                        .progress
                        .map(|p| format!(" {p}%"))
                        .unwrap_or_default();
                    printer.err(&format!("  {}: {status}{progress}\n", outcome.input));
                }
                last_status = fields.status;
            }
            // A poll is a read: a few transient failures in a row are tolerated.
            Err(error)
                if errors < 4
                    && matches!(
                        error,
                        kiosk::Error::Connect { .. }
                            | kiosk::Error::Timeout { .. }
                            | kiosk::Error::Status {
                                status: 500..=599,
                                ..
                            }
                    ) =>
            {
                errors += 1;
            }
            Err(error) => return Err(error),
        }
    };
    outcome.status = fields.status.clone().unwrap_or_default();
    outcome.output_url = fields.output_url.clone();
    outcome.reason = fields
        .reason
        .as_deref()
        .map(|r| kiosk::last_line(r).to_owned());
    outcome.failures = fields
        .failures
        .iter()
        .map(|(child, reason)| Failure {
            child: child.clone(),
            reason: kiosk::last_line(reason).to_owned(),
        })
        .collect();
    if let (Some(dir), "done") = (&settings.download, outcome.status.as_str()) {
        deliver(client, dir, hash, outcome).await;
    }
    let _ = client.expire(hash, settings.expire).await;
    Ok(())
}

/// Download a finished job's result into `dir`. A result that was asked for and did not arrive
/// fails the job (status `error`, with the reason): the job did not give what it was run for.
async fn deliver(client: &Client, dir: &Path, hash: &str, outcome: &mut Outcome) {
    let Some(url) = outcome.output_url.clone() else {
        outcome.status = "error".to_owned();
        outcome.reason = Some("the Kiosk finished the job but named no result to download".into());
        return;
    };
    let dest = dir.join(format!("{}.zip", unique_name(outcome, hash)));
    match client.download(&url, &dest).await {
        Ok(_) => outcome.output = Some(dest.display().to_string()),
        Err(error) => {
            outcome.status = "error".to_owned();
            outcome.reason = Some(format!("the result was not downloaded: {error}"));
        }
    }
}

/// The result's file name: the input's stem and the last part of the job's hash (unique).
fn unique_name(outcome: &Outcome, hash: &str) -> String {
    let stem = Path::new(&outcome.input)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "job".to_owned());
    let tail: String = hash
        .rsplit(':')
        .next()
        .unwrap_or("")
        .chars()
        .take(8)
        .collect();
    format!("{stem}-{tail}")
}

fn report(outcomes: &[Outcome], elapsed: f64, args: &KioskSubmitArgs, printer: &Printer) {
    let ok = outcomes.iter().filter(|o| o.ok()).count();
    let mut times: Vec<f64> = outcomes.iter().map(|o| o.seconds).collect();
    times.sort_by(f64::total_cmp);
    let pick = |q: f64| -> f64 {
        if times.is_empty() {
            return 0.0;
        }
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )]
        let i = ((times.len() - 1) as f64 * q).round() as usize;
        times.get(i).copied().unwrap_or(0.0)
    };
    #[allow(clippy::cast_precision_loss)]
    let rate = if elapsed > 0.0 {
        outcomes.len() as f64 / elapsed
    } else {
        0.0
    };
    match args.format {
        Format::Json => printer.out_json(serde_json::json!({
            "url": args.url,
            "jobType": args.job_type,
            "jobs": outcomes,
            "succeeded": ok,
            "elapsed": elapsed,
            "timings": {"min": pick(0.0), "median": pick(0.5), "max": pick(1.0), "jobsPerSecond": rate},
        })),
        Format::Human => {
            let mut text = String::new();
            for o in outcomes {
                let detail = match (o.status.as_str(), &o.output, &o.reason) {
                    ("done", Some(path), _) => format!(" -> {path}"),
                    ("done", None, _) => o.output_url.as_ref().map(|u| format!(" {u}")).unwrap_or_default(),
                    (_, _, Some(reason)) => format!(": {reason}"),
                    _ => String::new(),
                };
                text.push_str(&format!("{:<6} {:>7.2} s  {}{detail}\n", o.status, o.seconds, o.input));
                for f in &o.failures {
                    text.push_str(&format!("       failed in the zip: {}: {}\n", f.child, f.reason));
                }
            }
            printer.out(&text);
            let mut summary = format!(
                "{ok} of {} job{} succeeded in {elapsed:.2} s ({rate:.2} jobs/s)\n",
                outcomes.len(),
                if outcomes.len() == 1 { "" } else { "s" }
            );
            if args.benchmark.is_some() {
                summary.push_str(&format!(
                    "per job: min {:.2} s, median {:.2} s, max {:.2} s; {} in flight at most\n",
                    pick(0.0),
                    pick(0.5),
                    pick(1.0),
                    args.jobs
                ));
            }
            printer.err(&summary);
        }
    }
}
