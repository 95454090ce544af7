//! `red kiosk jobtypes` and `red kiosk submit`: send images (or zips of images) to a DeepCell
//! Kiosk, many jobs in flight at once, and collect the results (docs/kiosk.md).

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};

use crate::cli::args::{OutputFormat, output_format};
use crate::cli::kiosk as kiosk_cli;
use crate::cli::runtime::{self, Threads};
use crate::cli::{ExitStatus, Printer, events, values};
use crate::execute::kiosk::{self as kiosk_engine, Outcome, Settings};
use crate::kiosk::{Client, Pace};

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
    #[arg(long, default_value = "human", value_parser = output_format(
        "Lines for people",
        "One JSON document on standard output",
    ))]
    pub format: OutputFormat,
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
    #[arg(long, default_value = "human", value_parser = output_format(
        "Lines for people",
        "One JSON document on standard output",
    ))]
    pub format: OutputFormat,
}

/// Run `red kiosk …`.
pub fn run(command: &KioskCommand, printer: &Printer) -> anyhow::Result<ExitStatus> {
    match command {
        KioskCommand::Jobtypes(args) => jobtypes(args, printer),
        KioskCommand::Submit(args) => submit(args, printer),
    }
}

fn jobtypes(args: &JobtypesArgs, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let client = Client::new(&args.url, args.request_timeout)?;
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

fn submit(args: &KioskSubmitArgs, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let files = match kiosk_engine::collect(&args.paths) {
        Ok(files) => files,
        Err(error) => return Ok(kiosk_cli::fail(printer, &error)),
    };
    if files.is_empty() {
        return Err(crate::cli::usage(
            "no image or `.zip` files among the paths given",
        ));
    }
    let files = named(files, args.benchmark);
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
    });
    let mut client = Client::new(&args.url, args.request_timeout)?;
    if let Some(most) = args.requests {
        client = client.with_request_limit(most as usize);
    }
    let events = events::lines(printer, std::io::stderr().is_terminal());
    let note = "interrupted; jobs already created go on at the Kiosk and expire on their own\n";
    runtime::interruptible(Threads::Two, printer, note, |_| async move {
        if let Err(error) = client.resolve().await {
            return Ok(kiosk_cli::fail(printer, &error));
        }
        if let Err(error) = client.check_job_type(&args.job_type).await {
            return Ok(kiosk_cli::fail(printer, &error));
        }
        let start = Instant::now();
        let total = files.len();
        let outcomes =
            kiosk_engine::submit_files(&client, &settings, files, args.jobs as usize, &events)
                .await;
        report(&outcomes, start.elapsed().as_secs_f64(), args, printer);
        Ok(
            if outcomes.len() == total && outcomes.iter().all(Outcome::ok) {
                ExitStatus::Success
            } else {
                ExitStatus::Failure
            },
        )
    })
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
        OutputFormat::Json => printer.out_json(serde_json::json!({
            "url": args.url,
            "jobType": args.job_type,
            "jobs": outcomes,
            "succeeded": ok,
            "elapsed": elapsed,
            "timings": {"min": pick(0.0), "median": pick(0.5), "max": pick(1.0), "jobsPerSecond": rate},
        })),
        OutputFormat::Human => {
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
