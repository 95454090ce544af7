//! `red submit FILE`: fill, check and send a RED file to a CC-Agency broker, print the
//! experiment and batch ids, and with `--wait` follow every batch to its end.
//!
//! Everything the broker checks on `POST /red` is checked first ([`agency::check`]), so a bad
//! file gets a located error instead of the broker's 400 text or bare 500 page. With `--kiosk`,
//! the batches go to a DeepCell Kiosk instead ([`crate::execute::kiosk::batches`]).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;

use crate::agency::{self, Client, State, SubmitFlags};
use crate::cli::agency as agency_cli;
use crate::cli::args::{AgencyArgs, KioskArgs, OutputFormat, SourceArgs, output_format};
use crate::cli::intake::Reporter;
use crate::cli::kiosk as kiosk_cli;
use crate::cli::runtime::{self, Threads};
use crate::cli::{ExitStatus, Printer, events, values};
use crate::execute::agency::{self as agency_engine, BatchEnd, SubmitError, Submitted};
use crate::execute::kiosk::Settings;
use crate::execute::kiosk::batches::{self as kiosk_batches, BatchOutcome, Choice, PrepareError};
use crate::execute::local::{ExecError, outputs_root};
use crate::kiosk::Pace;
use crate::plan::select::Selection;
use crate::plan::{self, PlanOptions};
use crate::run_lock::RunLock;

/// Arguments of `red submit`.
#[derive(Debug, Args)]
#[command(after_help = "The broker and user come from the file's \
    `execution.settings.access` unless flags, RED_AGENCY_* variables or the config file say \
    otherwise. See docs/remote.md. With --kiosk, each batch's File input goes to a DeepCell \
    Kiosk instead and the result zip to its File output; see docs/kiosk.md.")]
pub struct SubmitArgs {
    /// The RED file (YAML or JSON); `-` reads standard input.
    pub file: PathBuf,
    /// Where the values of `{{variables}}` come from.
    #[command(flatten)]
    pub sources: SourceArgs,
    /// How to reach the broker (overrides the file's access block).
    #[command(flatten)]
    pub agency: AgencyArgs,
    /// Follow every batch until it ends; exit 0 only if all succeeded.
    #[arg(long)]
    pub wait: bool,
    /// Do not run a failed batch a second time.
    #[arg(long)]
    pub disable_retry: bool,
    /// Tell the agent in the container to skip its connector checks.
    #[arg(long)]
    pub disable_connector_validation: bool,
    /// Output format.
    #[arg(long, default_value = "human", value_parser = output_format(
        "Lines for people",
        "One JSON document on standard output",
    ))]
    pub format: OutputFormat,
    /// Send only these batches (`3,7-9`; indices as `red plan` shows them).
    ///
    /// The broker numbers what it gets from 0; red reports the file's indices.
    #[arg(long, value_name = "LIST", value_parser = values::batches)]
    pub batches: Option<Selection>,
    /// Run on a DeepCell Kiosk instead (`--kiosk URL --job-type T`).
    #[command(flatten)]
    pub kiosk: KioskArgs,
}

/// Run `red submit`.
pub fn run(args: &SubmitArgs, printer: &Printer) -> anyhow::Result<ExitStatus> {
    if args.kiosk.kiosk.is_some() {
        return run_on_kiosk(args, printer);
    }
    let report = Reporter::for_file(printer, &args.file, args.format);
    let filled = match report.filled(&args.file, &args.sources) {
        Ok(filled) => filled,
        Err(status) => return Ok(status),
    };
    let problems = agency::check::submit(&filled);
    if !problems.is_empty() {
        return Ok(report.diagnostics(&problems, Some(filled.source())));
    }
    let client = agency_cli::client(&args.agency, agency::check::access(&filled), printer)?;
    let mut document = plan::to_json(filled.tree().root());
    drop(filled);
    let original = match &args.batches {
        Some(selection) => agency_engine::select(&mut document, selection)
            .map_err(|error| crate::cli::usage(format!("--batches {selection}: {error}")))?,
        None => Vec::new(),
    };
    let flags = SubmitFlags {
        disable_retry: args.disable_retry,
        disable_connector_validation: args.disable_connector_validation,
    };
    let note = "interrupted; anything submitted goes on at the broker (`red list` shows it)\n";
    runtime::interruptible(Threads::One, printer, note, |cancellation| async move {
        let submitted = match agency_engine::submit(&client, &document, flags).await {
            Ok(mut submitted) => {
                agency_engine::renumber(&mut submitted.batches, &original);
                submitted
            }
            Err(SubmitError::Submit(error)) => return Ok(agency_cli::fail(printer, &error)),
            Err(SubmitError::Listing { experiment, source }) => {
                printer.err(&format!(
                    "submitted as experiment {experiment}, but its batches could not be listed\n"
                ));
                return Ok(agency_cli::fail(printer, &source));
            }
        };
        if args.format == OutputFormat::Human {
            print_submitted(&args.file, &client, &submitted, printer);
        }
        let Submitted {
            experiment,
            batches,
        } = submitted;
        if !args.wait {
            if args.format == OutputFormat::Json {
                let batches: Vec<BatchEnd> = batches.iter().map(BatchEnd::plain).collect();
                printer.out_json(serde_json::json!({
                    "experimentId": experiment,
                    "url": client.base(),
                    "batches": batches,
                }));
            }
            return Ok(ExitStatus::Success);
        }
        let events = events::lines(printer, std::io::stderr().is_terminal());
        let followed = tokio::select! {
            result = agency_engine::follow(&client, &experiment, batches, &original, events.as_ref()) => result,
            () = cancellation.cancelled() => {
                printer.err(&format!(
                    "stopped following; the batches go on at the broker \
                     (`red cancel {experiment}` stops them)\n"
                ));
                return Ok(ExitStatus::Interrupted);
            }
        };
        let finished = match followed {
            Ok(batches) => batches,
            Err(error) => return Ok(agency_cli::fail(printer, &error)),
        };
        let ends = agency_engine::ends(&client, &finished).await;
        Ok(finish(&client, &experiment, &ends, args.format, printer))
    })
}

/// What was submitted, for people: a line on stderr, the ids on stdout.
fn print_submitted(file: &Path, client: &Client, submitted: &Submitted, printer: &Printer) {
    let (experiment, batches) = (&submitted.experiment, &submitted.batches);
    printer.note(&format!(
        "submitted `{}` to {} as experiment {experiment} ({} batch{})\n",
        file.display(),
        client.base(),
        batches.len(),
        if batches.len() == 1 { "" } else { "es" }
    ));
    let mut text = format!("experiment {experiment}\n");
    for batch in batches {
        text.push_str(&format!("batch {} {}\n", batch.index, batch.id));
    }
    printer.out(&text);
}

/// Report the end: every batch's state, and for each unsuccessful one its `debugInfo` and the
/// logs the broker keeps.
fn finish(
    client: &Client,
    experiment: &str,
    ends: &[BatchEnd],
    format: OutputFormat,
    printer: &Printer,
) -> ExitStatus {
    let succeeded = ends.iter().filter(|r| r.state == State::Succeeded).count();
    let all = succeeded == ends.len();
    match format {
        OutputFormat::Json => printer.out_json(serde_json::json!({
            "experimentId": experiment,
            "url": client.base(),
            "succeeded": all,
            "batches": ends,
        })),
        OutputFormat::Human => {
            let mut text = String::new();
            for end in ends {
                text.push_str(&format!("batch {} {}: {}\n", end.index, end.id, end.state));
                if end.state == State::Succeeded {
                    continue;
                }
                if let Some(info) = &end.debug_info {
                    text.push_str(&indented("debugInfo", info));
                }
                if let Some(out) = &end.stdout {
                    text.push_str(&indented("stdout", out));
                }
                if let Some(err) = &end.stderr {
                    text.push_str(&indented("stderr", err));
                }
            }
            printer.out(&text);
            printer.err(&format!(
                "{succeeded} of {} batch{} succeeded\n",
                ends.len(),
                if ends.len() == 1 { "" } else { "es" }
            ));
        }
    }
    if all {
        ExitStatus::Success
    } else {
        ExitStatus::Failure
    }
}

fn indented(label: &str, text: &str) -> String {
    let mut out = format!("  {label}:\n");
    for line in text.trim_end().lines() {
        out.push_str(&format!("    {line}\n"));
    }
    out
}

/// The default of `--jobs` with `--kiosk` (as `red kiosk submit`).
const DEFAULT_JOBS: u32 = 16;
/// The default of `--job-timeout`.
const DEFAULT_JOB_TIMEOUT: Duration = Duration::from_secs(3600);
/// The longest wait between two polls of one job.
const POLL: Duration = Duration::from_secs(1);
/// Seconds after which the Kiosk may forget a finished job.
const EXPIRE: u64 = 3600;

/// Run `red submit FILE --kiosk URL --job-type T`.
fn run_on_kiosk(args: &SubmitArgs, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let kiosk = &args.kiosk;
    let (Some(url), Some(job_type)) = (&kiosk.kiosk, &kiosk.job_type) else {
        return Err(crate::cli::usage("`--kiosk URL` needs `--job-type TYPE`"));
    };
    let report = Reporter::for_file(printer, &args.file, args.format);
    let filled = match report.filled(&args.file, &args.sources) {
        Ok(filled) => filled,
        Err(status) => return Ok(status),
    };
    let mut plan = match report.planned(&filled, &PlanOptions::default()) {
        Ok(plan) => plan,
        Err(status) => return Ok(status),
    };
    if let Some(selection) = &args.batches {
        selection
            .apply(&mut plan)
            .map_err(|error| crate::cli::usage(format!("--batches {selection}: {error}")))?;
    }
    let choice = Choice {
        input: kiosk.input.clone(),
        output: kiosk.output.clone(),
    };
    let several = filled.tree().root().get("batches").is_some();
    let jobs = match kiosk_batches::jobs(&filled, &plan, &choice, kiosk.outputs.as_deref()) {
        Ok(jobs) => jobs,
        Err(PrepareError::Invalid(problems)) => {
            return Ok(report.diagnostics(&problems, Some(filled.source())));
        }
        Err(error @ PrepareError::Mismatch(_)) => return Err(error.into()),
    };
    drop(filled);
    // The results directory belongs to this run until it ends (held to the end of this function).
    let _lock = RunLock::acquire(
        &outputs_root(kiosk.outputs.as_deref(), several),
        "--outputs",
    )?;
    let settings = Settings {
        job_type: job_type.clone(),
        download: None,
        timeout: kiosk.job_timeout.unwrap_or(DEFAULT_JOB_TIMEOUT),
        pace: Arc::new(Pace::new(POLL)),
        options: crate::kiosk::JobOptions {
            scale: kiosk.scale.clone(),
            channels: kiosk.channels.clone(),
            ..crate::kiosk::JobOptions::default()
        },
        expire: EXPIRE,
        stagger: None,
        in_bucket: None,
        details: false,
    };
    let mut client = crate::kiosk::Client::new(url, args.agency.request_timeout)?;
    let limit = kiosk.jobs.unwrap_or(DEFAULT_JOBS) as usize;
    let base = crate::execute::local::base_dir(&args.file);
    let show = std::io::stderr().is_terminal()
        && printer.shows_progress()
        && args.format == OutputFormat::Human;
    let events = events::lines(printer, show);
    let note = "interrupted; jobs already created go on at the Kiosk and expire on their own\n";
    runtime::interruptible(Threads::Two, printer, note, |cancellation| async move {
        if let Err(error) = client.resolve().await {
            return Ok(kiosk_cli::fail(printer, &error));
        }
        if let Err(error) = client.check_job_type(job_type).await {
            return Ok(kiosk_cli::fail(printer, &error));
        }
        let started = Instant::now();
        let total = jobs.len();
        let run = kiosk_batches::run(
            &client,
            &settings,
            jobs,
            limit,
            base,
            &events,
            &cancellation,
        );
        let results = match run.await {
            Ok(results) => results,
            Err(ExecError::Interrupted) => {
                printer.err(note);
                return Ok(ExitStatus::Interrupted);
            }
            Err(error) => return Err(error.into()),
        };
        let elapsed = started.elapsed().as_secs_f64();
        let end = KioskEnd {
            url: client.base(),
            job_type,
            total,
            elapsed,
        };
        Ok(finish_on_kiosk(&results, &end, args.format, printer))
    })
}

/// What the summary of a Kiosk run says besides its batches.
struct KioskEnd<'a> {
    url: &'a str,
    job_type: &'a str,
    total: usize,
    elapsed: f64,
}

fn finish_on_kiosk(
    results: &[BatchOutcome],
    end: &KioskEnd<'_>,
    format: OutputFormat,
    printer: &Printer,
) -> ExitStatus {
    let (total, elapsed) = (end.total, end.elapsed);
    let succeeded = results.iter().filter(|r| r.state == "succeeded").count();
    let all = succeeded == total && results.len() == total;
    match format {
        OutputFormat::Json => printer.out_json(serde_json::json!({
            "kiosk": end.url,
            "jobType": end.job_type,
            "succeeded": all,
            "batches": results,
            "elapsed": elapsed,
        })),
        OutputFormat::Human => {
            printer.out(&kiosk_lines(results));
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

/// One line per batch (job, where the result went), its error and the failed images of a zip.
fn kiosk_lines(results: &[BatchOutcome]) -> String {
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
    text
}
