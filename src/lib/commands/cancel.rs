//! `red cancel ID…`: cancel batches on a CC-Agency broker; an experiment id cancels each of its
//! unfinished batches (the broker has no experiment-level cancel).

use clap::Args;

use crate::agency::{self, Batch, State};
use crate::cli::agency as agency_cli;
use crate::cli::args::{AgencyArgs, OldRequestTimeout, OutputFormat, output_format};
use crate::cli::runtime::{self, Threads};
use crate::cli::{ExitStatus, Printer};

/// Arguments of `red cancel`.
#[derive(Debug, Args)]
pub struct CancelArgs {
    /// Experiment or batch ids (24 hex digits).
    #[arg(required = true)]
    pub ids: Vec<String>,
    /// How to reach the broker.
    #[command(flatten)]
    pub agency: AgencyArgs,
    /// `--timeout`, the older spelling of `--request-timeout`.
    #[command(flatten)]
    pub old: OldRequestTimeout,
    /// Output format.
    #[arg(long, default_value = "human", value_parser = output_format(
        "Lines for people",
        "One JSON document on standard output",
    ))]
    pub format: OutputFormat,
}

/// Run `red cancel`.
pub fn run(args: &CancelArgs, printer: &Printer) -> anyhow::Result<ExitStatus> {
    if let Some(bad) = args.ids.iter().find(|id| !agency::is_object_id(id)) {
        return Ok(agency_cli::fail(printer, &agency::Error::Id(bad.clone())));
    }
    let client = agency_cli::client(
        &args.agency.with_old(&args.old),
        agency_cli::FileAccess::default(),
        printer,
    )?;
    let note = "interrupted; batches asked to stop before this may be cancelling (`red status` shows them)\n";
    runtime::interruptible(Threads::One, printer, note, |_| async {
        let mut after: Vec<(Batch, bool)> = Vec::new();
        for id in &args.ids {
            let targets = match client.experiment_batches(id).await {
                Ok(batches) if !batches.is_empty() => batches,
                Ok(_) => match client.batch(id).await {
                    Ok(batch) => vec![batch],
                    Err(error) => return Ok(agency_cli::fail(printer, &error)),
                },
                Err(error) => return Ok(agency_cli::fail(printer, &error)),
            };
            for batch in targets {
                if batch.state.is_terminal() {
                    after.push((batch, false));
                    continue;
                }
                match client.cancel(&batch.id).await {
                    Ok(done) => after.push((done, true)),
                    Err(error) => return Ok(agency_cli::fail(printer, &error)),
                }
            }
        }
        match args.format {
            OutputFormat::Human => {
                let mut text = String::new();
                for (batch, asked) in &after {
                    let note = match (asked, batch.state) {
                        (true, State::Cancelled) => "cancelled",
                        (_, state) if state.is_terminal() => "had already ended; left as it was",
                        _ => "not cancelled",
                    };
                    text.push_str(&format!(
                        "batch {} {} ({}): {}: {note}\n",
                        batch.index, batch.id, batch.experiment_id, batch.state
                    ));
                }
                printer.out(&text);
            }
            OutputFormat::Json => {
                let batches: Vec<_> = after
                    .iter()
                    .map(|(b, asked)| {
                        serde_json::json!({
                            "id": b.id, "index": b.index, "experimentId": b.experiment_id,
                            "state": b.state, "cancelRequested": asked,
                        })
                    })
                    .collect();
                printer.out_json(serde_json::json!({ "batches": batches }));
            }
        }
        Ok(if after.iter().all(|(b, _)| b.state.is_terminal()) {
            ExitStatus::Success
        } else {
            ExitStatus::Error
        })
    })
}
