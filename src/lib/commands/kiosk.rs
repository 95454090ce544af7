//! `red kiosk jobtypes` and `red kiosk submit`: send images (or zips of images) to a DeepCell
//! Kiosk, many jobs in flight at once, and collect the results (docs/kiosk.md).

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};

use crate::cli::args::{OutputFormat, output_format};
use crate::cli::kiosk::{self as kiosk_cli, EnvNames, env};
use crate::cli::log::{Level, Logging};
use crate::cli::runtime::{self, Threads};
use crate::cli::{ExitStatus, Failure, Printer, events, values};
use crate::execute::kiosk::{self as kiosk_engine, Outcome, Settings, summary};
use crate::kiosk::{Client, JobOptions, Model, Pace, Stagger, Stored};
use crate::output_file::{self, Privacy};

/// `red kiosk` subcommands.
#[derive(Debug, Subcommand)]
pub enum KioskCommand {
    /// List the job types (queues) a Kiosk offers.
    Jobtypes(JobtypesArgs),
    /// Upload files, run one job per file, wait for all, download the results.
    Submit(Box<KioskSubmitArgs>),
}

/// Arguments of `red kiosk jobtypes`.
#[derive(Debug, Args)]
pub struct JobtypesArgs {
    /// The Kiosk's base URL [default: `RED_KIOSK_URL`, then `API_HOST`]
    ///
    /// Without a scheme, `http://` is assumed.
    #[arg(short = 't', long, alias = "host", value_name = "URL")]
    pub url: Option<String>,
    /// How long one request may take (`30`, `90s`, `2m`).
    #[arg(long, value_name = "DURATION", default_value = "30", value_parser = values::duration)]
    pub request_timeout: Duration,
    /// Output format.
    #[arg(long, default_value = "human", value_parser = output_format(
        "Lines for people",
        "One JSON document on standard output",
    ))]
    pub format: OutputFormat,
}

/// Arguments of `red kiosk submit`. Options that the environment can set too (docs/kiosk.md)
/// have no clap default: the default applies after the environment was read.
#[derive(Debug, Args)]
pub struct KioskSubmitArgs {
    /// Images or `.zip` files; a directory is searched recursively for them
    ///
    /// With `--in-bucket`, the paths are keys in the Kiosk's bucket instead.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// The Kiosk's base URL [default: `RED_KIOSK_URL`, then `API_HOST`]
    ///
    /// Without a scheme, `http://` is assumed.
    #[arg(short = 't', long, alias = "host", value_name = "URL")]
    pub url: Option<String>,
    /// The job type (queue), e.g. `mesmer`; checked against the Kiosk's list first.
    #[arg(short = 'j', long, value_name = "TYPE")]
    pub job_type: Option<String>,
    /// Download each result zip into this directory.
    #[arg(long, value_name = "DIR")]
    pub download: Option<PathBuf>,
    /// Write kiosk-client's summary file into this directory, and the results too
    ///
    /// The file is named `<N>jobs_<delay>delay_<id>.json`. The results are downloaded there
    /// unless `--download` or `--no-download-results` says otherwise.
    #[arg(long, value_name = "DIR")]
    pub output_dir: Option<PathBuf>,
    /// With `--output-dir`: do not download the results.
    #[arg(long, conflicts_with = "download")]
    pub no_download_results: bool,
    /// Upload the summary file to the Kiosk's bucket, through its front end as inputs are.
    #[arg(long)]
    pub upload_results: bool,
    /// With `--upload-results`: the bucket the Kiosk must store it in (`gs://NAME` or `NAME`)
    ///
    /// It is checked against where the Kiosk says it stored the file.
    #[arg(short = 'b', long, value_name = "BUCKET", requires = "upload_results")]
    pub storage_bucket: Option<String>,
    /// How many jobs may be in flight at once.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub jobs: u32,
    /// How many requests may be sent to the Kiosk at once [default: as many as `--jobs`]
    ///
    /// With fewer requests than jobs, jobs wait in the Kiosk's queue while few connections are
    /// open.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub requests: Option<u32>,
    /// How long a job may take from upload to result before it counts as failed (`3600`, `1h`).
    // `--job-timeout`, as `red submit --kiosk` spelled it, is accepted too.
    #[arg(long, alias = "job-timeout", value_name = "DURATION", default_value = "3600",
          value_parser = values::duration)]
    pub timeout: Duration,
    /// How long one request may take (an upload the Kiosk never answers fails after this).
    #[arg(long, value_name = "DURATION", default_value = "30", value_parser = values::duration)]
    pub request_timeout: Duration,
    /// The longest wait between two polls of one job [default: 1]
    ///
    /// Polls are timed by the jobs that have ended.
    #[arg(long, alias = "update-interval", value_name = "DURATION", value_parser = values::duration)]
    pub poll: Option<Duration>,
    /// The least time between two job creations [default: 0]
    ///
    /// Some Kiosks scale badly on a burst of new jobs.
    #[arg(long, value_name = "DURATION", value_parser = values::delay)]
    pub start_delay: Option<Duration>,
    /// Rescale factor sent with each job (empty: the Kiosk detects it).
    #[arg(short = 's', long)]
    pub scale: Option<String>,
    /// Channels sent with each job, comma-separated (e.g. `0,1`).
    #[arg(long)]
    pub channels: Option<String>,
    /// The model sent with each job, `NAME:VERSION` (none: the job type's own).
    #[arg(short = 'm', long, value_name = "NAME:VERSION", value_parser = Model::parse)]
    pub model: Option<Model>,
    /// The pre-processing function sent with each job (none: the job type's own).
    #[arg(long = "pre", alias = "preprocess", value_name = "FUNCTION")]
    pub preprocess: Option<String>,
    /// The post-processing function sent with each job (none: the job type's own).
    #[arg(long = "post", alias = "postprocess", value_name = "FUNCTION")]
    pub postprocess: Option<String>,
    /// The data type label sent with each job (none: the Kiosk detects it).
    #[arg(short = 'l', long, value_parser = ["0", "1", "2"])]
    pub label: Option<String>,
    /// Seconds after which the Kiosk may forget a finished job [default: 3600].
    #[arg(short = 'x', long, alias = "expire-time", value_name = "SECONDS",
          value_parser = values::int(1..=366 * 86_400))]
    pub expire: Option<u64>,
    /// Benchmark: submit the first file N times and report per-job and overall timings.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub benchmark: Option<u32>,
    /// The paths are keys of files already in the Kiosk's bucket: only jobs are created
    ///
    /// The keys are under `--upload-prefix`; nothing is uploaded.
    #[arg(long)]
    pub in_bucket: bool,
    /// With `--in-bucket`: the folder of the bucket the keys are in [default: uploads].
    #[arg(long, value_name = "PREFIX", requires = "in_bucket")]
    pub upload_prefix: Option<String>,
    /// How much is said: DEBUG, INFO, WARN, ERROR or CRITICAL
    ///
    /// These are kiosk-client's names for `-v`, the default, `-q` and `-qq`.
    #[arg(short = 'L', long, value_name = "LEVEL", value_parser = Level::from_name)]
    pub log_level: Option<Level>,
    /// Also write red's log lines, with the time of day, to this file (appended).
    #[arg(long, value_name = "FILE")]
    pub log_file: Option<PathBuf>,
    /// Output format.
    #[arg(long, default_value = "human", value_parser = output_format(
        "Lines for people",
        "One JSON document on standard output",
    ))]
    pub format: OutputFormat,
}

/// The level and log file `red kiosk submit` names (flags, then the environment), for the
/// logging that is set up before any command runs.
///
/// # Errors
/// A usage error for a level in the environment that is not one.
pub fn logging(command: &KioskCommand) -> anyhow::Result<Logging> {
    let KioskCommand::Submit(args) = command else {
        return Ok(Logging::default());
    };
    let from_env = match kiosk_cli::env_value(env::LOG_LEVEL) {
        Some((name, text)) => Some(
            Level::from_name(&text)
                .map_err(|why| crate::cli::usage(format!("`{name}` (for `--log-level`): {why}")))?,
        ),
        None => None,
    };
    let file = args
        .log_file
        .clone()
        .or_else(|| kiosk_cli::env_value(env::LOG_FILE).map(|(_, path)| PathBuf::from(path)));
    Ok(Logging {
        named: args.log_level,
        from_env,
        file,
    })
}

/// Run `red kiosk …`.
pub fn run(command: &KioskCommand, printer: &Printer) -> anyhow::Result<ExitStatus> {
    match command {
        KioskCommand::Jobtypes(args) => jobtypes(args, printer),
        KioskCommand::Submit(args) => submit(args, printer),
    }
}

fn jobtypes(args: &JobtypesArgs, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let url = required(
        kiosk_cli::setting(printer, args.url.clone(), "--url", env::URL, text)?,
        "--url",
        env::URL,
    )?;
    let client = Client::new(&url, args.request_timeout)?;
    runtime::interruptible(Threads::Two, printer, "interrupted\n", |_| async {
        match client.job_types().await {
            Ok(types) => {
                match args.format {
                    OutputFormat::Human => {
                        printer.out(&types.iter().map(|t| format!("{t}\n")).collect::<String>())
                    }
                    OutputFormat::Json => {
                        printer.out_json(serde_json::json!({ "jobTypes": types }))
                    }
                }
                Ok(ExitStatus::Success)
            }
            Err(error) => Ok(kiosk_cli::fail(printer, &error)),
        }
    })
}

/// The options of one run once the flags and then the environment are read, defaults applied.
#[derive(Debug)]
struct Resolved {
    url: String,
    job_type: String,
    poll: Duration,
    start_delay: Duration,
    expire: u64,
    requests: Option<u32>,
    options: JobOptions,
    upload_prefix: String,
    output_dir: Option<PathBuf>,
    bucket: Option<String>,
    gpus: u32,
}

#[allow(clippy::unnecessary_wraps)]
fn text(value: &str) -> Result<String, String> {
    Ok(value.to_owned())
}

fn ranged(range: std::ops::RangeInclusive<u64>) -> impl Fn(&str) -> Result<u64, String> {
    move |value: &str| {
        value
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|n| range.contains(n))
            .ok_or_else(|| {
                format!(
                    "`{value}` is not a whole number from {} to {}",
                    range.start(),
                    range.end()
                )
            })
    }
}

fn label(value: &str) -> Result<String, String> {
    match value.trim() {
        label @ ("0" | "1" | "2") => Ok(label.to_owned()),
        _ => Err(format!("`{value}` is not a label: give 0, 1 or 2")),
    }
}

/// A value the run cannot do without.
fn required<T>(value: Option<T>, option: &str, names: EnvNames) -> anyhow::Result<T> {
    value.ok_or_else(|| {
        crate::cli::usage(format!(
            "no `{option}`: give it, or set `{}` (or kiosk-client's `{}`)",
            names.red, names.kiosk_client
        ))
    })
}

/// What is sent with each job, from the flags and the environment.
fn job_options(args: &KioskSubmitArgs, printer: &Printer) -> anyhow::Result<JobOptions> {
    let set = |flag: Option<String>, option: &str, names: EnvNames| {
        kiosk_cli::setting(printer, flag, option, names, text)
    };
    Ok(JobOptions {
        scale: set(args.scale.clone(), "--scale", env::SCALE)?,
        channels: args.channels.clone(),
        model: kiosk_cli::setting(
            printer,
            args.model.clone(),
            "--model",
            env::MODEL,
            Model::parse,
        )?,
        preprocess: set(args.preprocess.clone(), "--pre", env::PREPROCESS)?,
        postprocess: set(args.postprocess.clone(), "--post", env::POSTPROCESS)?,
        label: kiosk_cli::setting(printer, args.label.clone(), "--label", env::LABEL, label)?,
    })
}

fn resolve(args: &KioskSubmitArgs, printer: &Printer) -> anyhow::Result<Resolved> {
    let set = |flag: Option<String>, option: &str, names: EnvNames| {
        kiosk_cli::setting(printer, flag, option, names, text)
    };
    let url = set(args.url.clone(), "--url", env::URL)?;
    let job_type = set(args.job_type.clone(), "--job-type", env::JOB_TYPE)?;
    let options = job_options(args, printer)?;
    let poll = kiosk_cli::setting(printer, args.poll, "--poll", env::POLL, values::duration)?;
    let start_delay = kiosk_cli::setting(
        printer,
        args.start_delay,
        "--start-delay",
        env::START_DELAY,
        values::delay,
    )?;
    let expire = kiosk_cli::setting(
        printer,
        args.expire,
        "--expire",
        env::EXPIRE,
        ranged(1..=366 * 86_400),
    )?;
    let requests = kiosk_cli::setting(
        printer,
        args.requests.map(u64::from),
        "--requests",
        env::REQUESTS,
        ranged(1..=1024),
    )?;
    let upload_prefix = if args.in_bucket {
        set(
            args.upload_prefix.clone(),
            "--upload-prefix",
            env::UPLOAD_PREFIX,
        )?
    } else {
        None
    };
    let output_dir = match &args.output_dir {
        Some(dir) => Some(dir.clone()),
        None => set(None, "--output-dir", env::OUTPUT_DIR)?.map(PathBuf::from),
    };
    let bucket = if args.upload_results {
        set(
            args.storage_bucket.clone(),
            "--storage-bucket",
            env::STORAGE_BUCKET,
        )?
    } else {
        None
    };
    let gpus = summary_gpus()?;
    Ok(Resolved {
        url: required(url, "--url", env::URL)?,
        job_type: required(job_type, "--job-type", env::JOB_TYPE)?,
        poll: poll.unwrap_or(Duration::from_secs(1)),
        start_delay: start_delay.unwrap_or(Duration::ZERO),
        expire: expire.unwrap_or(3600),
        requests: requests.and_then(|n| u32::try_from(n).ok()),
        options,
        upload_prefix: in_bucket(upload_prefix.as_deref().unwrap_or("uploads")),
        output_dir,
        bucket,
        gpus,
    })
}

/// A folder of the bucket as a key prefix: `uploads`, also from `gs://bucket/uploads/` (as
/// kiosk-client takes it).
fn in_bucket(prefix: &str) -> String {
    let path = match prefix.split_once("://") {
        Some((_, rest)) => rest.split_once('/').map_or("", |(_, path)| path),
        None => prefix,
    };
    path.trim_matches('/').to_owned()
}

/// The GPUs the summary file's name counts (`NUM_GPUS`, as kiosk-client names it; no flag).
fn summary_gpus() -> anyhow::Result<u32> {
    match kiosk_cli::env_value(env::NUM_GPUS) {
        Some((name, value)) => ranged(0..=1_000_000)(&value)
            .map(|n| u32::try_from(n).unwrap_or(0))
            .map_err(|why| crate::cli::usage(format!("`{name}`: {why}"))),
        None => Ok(0),
    }
}

/// The files of the run: the job files under the paths, or with `--in-bucket` the keys as given.
fn files(args: &KioskSubmitArgs) -> Result<Vec<PathBuf>, crate::kiosk::Error> {
    if args.in_bucket {
        Ok(args.paths.clone())
    } else {
        kiosk_engine::collect(&args.paths)
    }
}

fn submit(args: &KioskSubmitArgs, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let run = resolve(args, printer)?;
    if args.upload_results && run.output_dir.is_none() {
        return Err(crate::cli::usage(
            "`--upload-results` uploads the summary file: give `--output-dir DIR` too",
        ));
    }
    let files = match files(args) {
        Ok(files) => files,
        Err(error) => return Ok(kiosk_cli::fail(printer, &error)),
    };
    if files.is_empty() {
        return Err(crate::cli::usage(
            "no image or `.zip` files among the paths given",
        ));
    }
    let files = named(files, args.benchmark);
    let download = args
        .download
        .clone()
        .or_else(|| run.output_dir.clone().filter(|_| !args.no_download_results));
    for dir in download.iter().chain(&run.output_dir) {
        std::fs::create_dir_all(dir)
            .map_err(|e| anyhow::anyhow!("cannot create `{}`: {e}", dir.display()))?;
    }
    // The download directory belongs to this run until it ends (held to the end of `submit`).
    let _lock = download
        .as_deref()
        .map(|dir| crate::run_lock::RunLock::acquire(dir, "--download"))
        .transpose()?;
    let settings = Arc::new(Settings {
        job_type: run.job_type.clone(),
        download,
        timeout: args.timeout,
        pace: Arc::new(Pace::new(run.poll)),
        options: run.options.clone(),
        expire: run.expire,
        stagger: (!run.start_delay.is_zero()).then(|| Arc::new(Stagger::new(run.start_delay))),
        in_bucket: args.in_bucket.then(|| run.upload_prefix.clone()),
        details: run.output_dir.is_some(),
    });
    let mut client = Client::new(&run.url, args.request_timeout)?;
    if let Some(most) = run.requests {
        client = client.with_request_limit(most as usize);
    }
    let events = events::lines(printer, std::io::stderr().is_terminal());
    let note = "interrupted; jobs already created go on at the Kiosk and expire on their own\n";
    runtime::interruptible(Threads::Two, printer, note, |_| async move {
        if let Err(error) = client.resolve().await {
            return Ok(kiosk_cli::fail(printer, &error));
        }
        if let Err(error) = client.check_job_type(&run.job_type).await {
            return Ok(kiosk_cli::fail(printer, &error));
        }
        let start = Instant::now();
        let total = files.len();
        let outcomes =
            kiosk_engine::submit_files(&client, &settings, files, args.jobs as usize, &events)
                .await;
        let elapsed = start.elapsed().as_secs_f64();
        let kept = keep_summary(&client, &run, args.upload_results, &outcomes, elapsed).await;
        report(&outcomes, elapsed, &kept, args, &run, printer);
        if let Some(problem) = &kept.problem {
            return Ok(printer.fail(&Failure::from_error(problem)));
        }
        Ok(
            if outcomes.len() == total && outcomes.iter().all(Outcome::ok) {
                ExitStatus::Success
            } else {
                ExitStatus::Failure
            },
        )
    })
}

/// Where the summary file went, and what went wrong keeping it.
#[derive(Debug, Default)]
struct Kept {
    path: Option<PathBuf>,
    stored: Option<Stored>,
    problem: Option<anyhow::Error>,
}

/// Write the summary file into `--output-dir` and, with `--upload-results`, upload it to the
/// Kiosk's bucket (checked against `--storage-bucket`).
async fn keep_summary(
    client: &Client,
    run: &Resolved,
    upload: bool,
    outcomes: &[Outcome],
    elapsed: f64,
) -> Kept {
    let mut kept = Kept::default();
    let Some(dir) = &run.output_dir else {
        return kept;
    };
    let start_delay = run.start_delay.as_secs_f64();
    let document = summary::document(&summary::Run {
        outcomes,
        options: &run.options,
        start_delay,
        elapsed,
    });
    let name = summary::file_name(run.gpus, outcomes.len(), start_delay);
    let path = dir.join(&name);
    let mut text = serde_json::to_string_pretty(&document).unwrap_or_default();
    text.push('\n');
    if let Err(error) = output_file::write(&path, text.as_bytes(), Privacy::Shared) {
        kept.problem = Some(error.into());
        return kept;
    }
    kept.path = Some(path.clone());
    if !upload {
        return kept;
    }
    match client.upload_stored(&name, &path).await {
        Ok(stored) => {
            kept.problem = wrong_bucket(&stored, run.bucket.as_deref());
            kept.stored = Some(stored);
        }
        Err(error) => {
            kept.problem = Some(anyhow::Error::new(error).context(format!(
                "the summary `{}` was written but not uploaded",
                path.display()
            )));
        }
    }
    kept
}

/// The bucket named by `--storage-bucket` when the Kiosk says it stored the upload elsewhere.
fn wrong_bucket(stored: &Stored, wanted: Option<&str>) -> Option<anyhow::Error> {
    let wanted = wanted?;
    let name = wanted
        .trim_start_matches("gs://")
        .trim_start_matches("s3://")
        .trim_end_matches('/');
    match stored.bucket() {
        Some(bucket) if bucket != name => Some(anyhow::anyhow!(
            "the Kiosk stored the summary in the bucket `{bucket}` (as `{}`), not in `{wanted}` \
             (`--storage-bucket`): a Kiosk uploads into its own bucket",
            stored.key
        )),
        _ => None,
    }
}

/// Each file with the name of its result: unique even for equal basenames and benchmark copies
/// (`--benchmark N` sends the first file N times).
fn named(mut files: Vec<PathBuf>, benchmark: Option<u32>) -> Vec<(PathBuf, String)> {
    if let Some(count) = benchmark {
        let first = files.swap_remove(0);
        files = vec![first; count as usize];
    }
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    files
        .into_iter()
        .map(|file| {
            let stem = file
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "job".to_owned());
            let n = seen.entry(stem.clone()).or_insert(0);
            *n += 1;
            let name = if *n == 1 { stem } else { format!("{stem}-{n}") };
            (file, name)
        })
        .collect()
}

fn report(
    outcomes: &[Outcome],
    elapsed: f64,
    kept: &Kept,
    args: &KioskSubmitArgs,
    run: &Resolved,
    printer: &Printer,
) {
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
        OutputFormat::Json => {
            let mut document = serde_json::json!({
                "url": run.url,
                "jobType": run.job_type,
                "jobs": outcomes,
                "succeeded": ok,
                "elapsed": elapsed,
                "timings": {"min": pick(0.0), "median": pick(0.5), "max": pick(1.0), "jobsPerSecond": rate},
            });
            // Only where asked for: the document of a run without them stays as it was.
            if let Some(path) = &kept.path {
                document["summary"] = serde_json::json!(path);
            }
            if let Some(stored) = &kept.stored {
                document["summaryUpload"] =
                    serde_json::json!({"key": stored.key, "url": stored.url});
            }
            printer.out_json(document);
        }
        OutputFormat::Human => {
            printer.out(&job_lines(outcomes));
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
            summary.push_str(&kept_lines(kept));
            printer.err(&summary);
        }
    }
}

/// One line per job (`done  1.23 s  in/cells.png -> …`), and one per failed image of a zip.
fn job_lines(outcomes: &[Outcome]) -> String {
    let mut text = String::new();
    for o in outcomes {
        let detail = match (o.status.as_str(), &o.output, &o.reason) {
            ("done", Some(path), _) => format!(" -> {path}"),
            ("done", None, _) => o
                .output_url
                .as_ref()
                .map(|u| format!(" {u}"))
                .unwrap_or_default(),
            (_, _, Some(reason)) => format!(": {reason}"),
            _ => String::new(),
        };
        text.push_str(&format!(
            "{:<6} {:>7.2} s  {}{detail}\n",
            o.status, o.seconds, o.input
        ));
        for f in &o.failures {
            text.push_str(&format!(
                "       failed in the zip: {}: {}\n",
                f.child, f.reason
            ));
        }
    }
    text
}

/// Where the summary file went, for people.
fn kept_lines(kept: &Kept) -> String {
    let mut summary = String::new();
    if let Some(path) = &kept.path {
        summary.push_str(&format!("summary written to {}\n", path.display()));
    }
    if let Some(stored) = &kept.stored {
        let url = stored
            .url
            .as_deref()
            .map(|u| format!(" ({u})"))
            .unwrap_or_default();
        summary.push_str(&format!("summary uploaded as {}{url}\n", stored.key));
    }
    summary
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_folder_is_a_key_prefix_however_it_is_written() {
        assert_eq!(in_bucket("uploads"), "uploads");
        assert_eq!(in_bucket("/uploads/"), "uploads");
        assert_eq!(in_bucket("gs://kiosk-bucket/uploads/more"), "uploads/more");
        assert_eq!(in_bucket("gs://kiosk-bucket"), "");
    }
}
