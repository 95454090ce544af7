//! `red status [ID…]`: the state of experiments and batches on a CC-Agency broker; without ids,
//! how many of the user's batches are in each state.

use clap::Args;

use crate::agency::{self, BatchQuery, Client, State};
use crate::cli::{ExitStatus, Printer};
use crate::commands::remote::{self, Format, RemoteArgs};

/// Arguments of `red status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Experiment or batch ids (24 hex digits); an experiment shows all its batches.
    pub ids: Vec<String>,
    /// How to reach the broker.
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
}

/// Run `red status`.
pub fn run(args: &StatusArgs, printer: &Printer) -> anyhow::Result<ExitStatus> {
    if let Some(bad) = args.ids.iter().find(|id| !agency::is_object_id(id)) {
        return Ok(remote::report(printer, &agency::Error::Id(bad.clone())));
    }
    let client = remote::client(&args.remote, remote::FileAccess::default(), printer)?;
    super::interruptible(remote::runtime()?, printer, "interrupted\n", |_| async {
        let result = if args.ids.is_empty() {
            counts(&client, args.format, printer).await
        } else {
            batches(&client, &args.ids, args.format, printer).await
        };
        Ok(result.unwrap_or_else(|error| remote::report(printer, &error)))
    })
}

async fn counts(
    client: &Client,
    format: Format,
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
        Format::Human => printer.out(&text),
        Format::Json => printer.out_json(serde_json::json!({ "counts": counts })),
    }
    Ok(ExitStatus::Success)
}

async fn batches(
    client: &Client,
    ids: &[String],
    format: Format,
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
        Format::Human => {
            let mut text = String::from(remote::BATCH_HEADER);
            for batch in &found {
                text.push_str(&remote::batch_line(batch));
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
        Format::Json => printer.out_json(serde_json::json!({ "batches": found })),
    }
    Ok(ExitStatus::Success)
}
