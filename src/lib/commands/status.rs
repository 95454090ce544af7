//! `red status [ID…]`: the state of experiments and batches on a CC-Agency broker; without ids,
//! how many of the user's batches are in each state.

use clap::Args;

use crate::agency::{self, BatchQuery, Client, State};
use crate::cli::agency as agency_cli;
use crate::cli::args::{AgencyArgs, OldRequestTimeout, OutputFormat, output_format};
use crate::cli::runtime::{self, Threads};
use crate::cli::{ExitStatus, Printer};

/// Arguments of `red status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Experiment or batch ids (24 hex digits); an experiment shows all its batches.
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

/// Run `red status`.
pub fn run(args: &StatusArgs, printer: &Printer) -> anyhow::Result<ExitStatus> {
    if let Some(bad) = args.ids.iter().find(|id| !agency::is_object_id(id)) {
        return Ok(agency_cli::fail(printer, &agency::Error::Id(bad.clone())));
    }
    let client = agency_cli::client(
        &args.agency.with_old(&args.old),
        agency_cli::FileAccess::default(),
        printer,
    )?;
    runtime::interruptible(Threads::One, printer, "interrupted\n", |_| async {
        let result = if args.ids.is_empty() {
            counts(&client, args.format, printer).await
        } else {
            batches(&client, &args.ids, args.format, printer).await
        };
        Ok(result.unwrap_or_else(|error| agency_cli::fail(printer, &error)))
    })
}

async fn counts(
    client: &Client,
    format: OutputFormat,
    printer: &Printer,
) -> Result<ExitStatus, agency::Error> {
    let mut counts = serde_json::Map::new();
    let mut text = format!("batches of `{}` at {}\n", client.username(), client.base());
    for state in State::ALL {
        let query = BatchQuery {
            state: Some(state),
            ..BatchQuery::default()
        };
        let count = client.count_batches(&query).await?;
        counts.insert(state.as_str().to_owned(), count.into());
        text.push_str(&format!("{:<10}  {count}\n", state.as_str()));
    }
    match format {
        OutputFormat::Human => printer.out(&text),
        OutputFormat::Json => printer.out_json(serde_json::json!({ "counts": counts })),
    }
    Ok(ExitStatus::Success)
}

async fn batches(
    client: &Client,
    ids: &[String],
    format: OutputFormat,
    printer: &Printer,
) -> Result<ExitStatus, agency::Error> {
    let mut found = Vec::new();
    for id in ids {
        let of_experiment = client.experiment_batches(id).await?;
        if of_experiment.is_empty() {
            found.push(client.batch(id).await?);
            continue;
        }
        for batch in of_experiment {
            // The list has no debugInfo: read an unsuccessful batch in full.
            if matches!(batch.state, State::Failed | State::Cancelled) {
                found.push(client.batch(&batch.id).await?);
            } else {
                found.push(batch);
            }
        }
    }
    match format {
        OutputFormat::Human => {
            let mut text = String::from(agency_cli::BATCH_HEADER);
            for batch in &found {
                text.push_str(&agency_cli::batch_line(batch));
                if matches!(batch.state, State::Failed | State::Cancelled)
                    && let Some(info) = batch.debug_info()
                {
                    for line in info.lines() {
                        text.push_str(&format!("       {line}\n"));
                    }
                }
            }
            printer.out(&text);
        }
        OutputFormat::Json => printer.out_json(serde_json::json!({ "batches": found })),
    }
    Ok(ExitStatus::Success)
}
