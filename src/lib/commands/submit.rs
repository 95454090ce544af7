//! `red submit FILE`: fill, check and send a RED file to a CC-Agency broker, print the
//! experiment and batch ids, and with `--wait` follow every batch to its end.
//!
//! Everything the broker checks on `POST /red` is checked here first ([`agency::check`]), so
//! a bad file gets a located error instead of the broker's 400 text or bare 500 page.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use serde::Serialize;

use crate::agency::{self, Batch, Client, State, Stream, SubmitFlags};
use crate::cli::{ExitStatus, Printer};
use crate::commands::fill::{self as fill_command, SourceArgs};
use crate::commands::remote::{self, Format, RemoteArgs};
use crate::commands::submit_kiosk::{self, KioskArgs};
use crate::plan;

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
    pub remote: RemoteArgs,
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
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// Run on a DeepCell Kiosk instead (`--kiosk URL --job-type T`).
    #[command(flatten)]
    pub kiosk: KioskArgs,
}

/// One batch in the JSON report.
#[derive(Serialize)]
struct BatchReport {
    id: String,
    index: usize,
    state: State,
    #[serde(skip_serializing_if = "Option::is_none", rename = "debugInfo")]
    debug_info: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stdout: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stderr: Option<String>,
}

/// Run `red submit`.
pub fn run(args: &SubmitArgs, printer: &Printer) -> anyhow::Result<ExitStatus> {
    if args.kiosk.kiosk.is_some() {
        return submit_kiosk::run(args, &args.kiosk, printer);
    }
    let report =
        fill_command::Report::for_file(printer, &args.file, matches!(args.format, Format::Json));
    let filled = match report.filled(&args.file, &args.sources) {
        Ok(filled) => filled,
        Err(status) => return Ok(status),
    };
    let problems = agency::check::submit(&filled);
    if !problems.is_empty() {
        return Ok(report.diagnostics(&problems, Some(filled.source())));
    }
    let client = remote::client(&args.remote, agency::check::access(&filled), printer)?;
    let document = plan::to_json(filled.tree().root());
    drop(filled);
    let flags = SubmitFlags {
        disable_retry: args.disable_retry,
        disable_connector_validation: args.disable_connector_validation,
    };
    let note = "interrupted; anything submitted goes on at the broker (`red list` shows it)\n";
    super::interruptible(
        remote::runtime()?,
        printer,
        note,
        |cancellation| async move {
            let experiment = match client.submit(&document, flags).await {
                Ok(id) => id,
                Err(error) => return Ok(remote::report(printer, &error)),
            };
            let batches = match client.experiment_batches(&experiment).await {
                Ok(batches) => batches,
                Err(error) => {
                    printer.err(&format!(
                    "submitted as experiment {experiment}, but its batches could not be listed\n"
                ));
                    return Ok(remote::report(printer, &error));
                }
            };
            if args.format == Format::Human {
                printer.err(&format!(
                    "submitted `{}` to {} as experiment {experiment} ({} batch{})\n",
                    args.file.display(),
                    client.base(),
                    batches.len(),
                    if batches.len() == 1 { "" } else { "es" }
                ));
                let mut text = format!("experiment {experiment}\n");
                for batch in &batches {
                    text.push_str(&format!("batch {} {}\n", batch.index, batch.id));
                }
                printer.out(&text);
            }
            if !args.wait {
                if args.format == Format::Json {
                    let batches: Vec<BatchReport> = batches.iter().map(plain_report).collect();
                    printer.out_json(serde_json::json!({
                        "experimentId": experiment,
                        "url": client.base(),
                        "batches": batches,
                    }));
                }
                return Ok(ExitStatus::Success);
            }
            let followed = tokio::select! {
                result = follow(&client, &experiment, batches, printer) => result,
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
                Err(error) => return Ok(remote::report(printer, &error)),
            };
            finish(&client, &experiment, &finished, args.format, printer).await
        },
    )
}

fn plain_report(batch: &Batch) -> BatchReport {
    BatchReport {
        id: batch.id.clone(),
        index: batch.index,
        state: batch.state,
        debug_info: None,
        stdout: None,
        stderr: None,
    }
}

/// Poll the experiment's batches until all are terminal, backing off while nothing changes.
/// On a terminal, each change of state is a line on stderr.
async fn follow(
    client: &Client,
    experiment: &str,
    mut batches: Vec<Batch>,
    printer: &Printer,
) -> Result<Vec<Batch>, agency::Error> {
    const FIRST: Duration = Duration::from_millis(500);
    const MAX: Duration = Duration::from_secs(5);
    let progress = std::io::stderr().is_terminal();
    let mut seen: HashMap<String, State> =
        batches.iter().map(|b| (b.id.clone(), b.state)).collect();
    // Each poll makes the broker list every batch of the experiment and hash the password once:
    // a big experiment is polled less often (5 ms per batch: every 5 s to 10 s for 1,000).
    let per_batch =
        Duration::from_millis(5).saturating_mul(u32::try_from(batches.len()).unwrap_or(u32::MAX));
    let floor = FIRST.max(per_batch);
    let ceiling = MAX.max(floor.saturating_mul(2));
    let mut delay = floor;
    while !batches.iter().all(|b| b.state.is_terminal()) {
        tokio::time::sleep(delay).await;
        batches = client.experiment_batches(experiment).await?;
        let mut changed = false;
        for batch in &batches {
            let before = seen.insert(batch.id.clone(), batch.state);
            if before == Some(batch.state) {
                continue;
            }
            changed = true;
            if progress {
                let retry = matches!(before, Some(State::Processing | State::Scheduled))
                    && batch.state == State::Registered;
                let done = batches.iter().filter(|b| b.state.is_terminal()).count();
                printer.err(&format!(
                    "[{done}/{}] batch {} {}: {}{}\n",
                    batches.len(),
                    batch.index,
                    batch.id,
                    batch.state,
                    if retry {
                        " (a failed attempt, tried again)"
                    } else {
                        ""
                    }
                ));
            }
        }
        delay = if changed {
            floor
        } else {
            (delay * 3 / 2).min(ceiling)
        };
    }
    Ok(batches)
}

/// Report the end: every batch's state, and for each unsuccessful one its `debugInfo` and the
/// logs the broker keeps.
async fn finish(
    client: &Client,
    experiment: &str,
    batches: &[Batch],
    format: Format,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let mut reports = Vec::new();
    for batch in batches {
        let mut report = plain_report(batch);
        if batch.state != State::Succeeded {
            match client.batch(&batch.id).await {
                Ok(full) => report.debug_info = full.debug_info(),
                Err(error) => report.debug_info = Some(format!("(not available: {error})")),
            }
            if batch.state == State::Failed {
                report.stdout = client.log(&batch.id, Stream::Stdout).await.ok().flatten();
                report.stderr = client.log(&batch.id, Stream::Stderr).await.ok().flatten();
            }
        }
        reports.push(report);
    }
    let succeeded = reports
        .iter()
        .filter(|r| r.state == State::Succeeded)
        .count();
    let all = succeeded == reports.len();
    match format {
        Format::Json => printer.out_json(serde_json::json!({
            "experimentId": experiment,
            "url": client.base(),
            "succeeded": all,
            "batches": reports,
        })),
        Format::Human => {
            let mut text = String::new();
            for report in &reports {
                text.push_str(&format!(
                    "batch {} {}: {}\n",
                    report.index, report.id, report.state
                ));
                if report.state == State::Succeeded {
                    continue;
                }
                if let Some(info) = &report.debug_info {
                    text.push_str(&indented("debugInfo", info));
                }
                if let Some(out) = &report.stdout {
                    text.push_str(&indented("stdout", out));
                }
                if let Some(err) = &report.stderr {
                    text.push_str(&indented("stderr", err));
                }
            }
            text.push_str(&format!(
                "{succeeded} of {} batch{} succeeded\n",
                reports.len(),
                if reports.len() == 1 { "" } else { "es" }
            ));
            printer.err(&text);
        }
    }
    Ok(if all {
        ExitStatus::Success
    } else {
        ExitStatus::Failure
    })
}

fn indented(label: &str, text: &str) -> String {
    let mut out = format!("  {label}:\n");
    for line in text.trim_end().lines() {
        out.push_str(&format!("    {line}\n"));
    }
    out
}
