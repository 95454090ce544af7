//! `red list`: the user's batches on a CC-Agency broker, newest first, filtered and paged by
//! the broker.

use clap::Args;

use crate::agency::{self, BatchQuery, State};
use crate::cli::agency as agency_cli;
use crate::cli::args::{AgencyArgs, OldRequestTimeout, OutputFormat, output_format};
use crate::cli::runtime::{self, Threads};
use crate::cli::{ExitStatus, Printer, values};

/// A `--state` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StateArg {
    /// Waiting for a node.
    Registered,
    /// Given to a node.
    Scheduled,
    /// Running.
    Processing,
    /// Finished well.
    Succeeded,
    /// Finished badly.
    Failed,
    /// Cancelled.
    Cancelled,
}

impl From<StateArg> for State {
    fn from(state: StateArg) -> Self {
        match state {
            StateArg::Registered => State::Registered,
            StateArg::Scheduled => State::Scheduled,
            StateArg::Processing => State::Processing,
            StateArg::Succeeded => State::Succeeded,
            StateArg::Failed => State::Failed,
            StateArg::Cancelled => State::Cancelled,
        }
    }
}

/// Arguments of `red list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only batches in this state.
    #[arg(long, value_enum)]
    pub state: Option<StateArg>,
    /// Only this experiment's batches.
    #[arg(long, value_name = "ID")]
    pub experiment: Option<String>,
    /// Only this user's batches (admins; other users always see only their own).
    #[arg(long, value_name = "USER")]
    pub owner: Option<String>,
    /// At most this many batches.
    #[arg(long, default_value_t = 20, value_parser = values::int(1..=1_000_000))]
    pub limit: u64,
    /// Skip this many first (paging).
    #[arg(long, default_value_t = 0, value_parser = values::int(0..=i64::MAX as u64))]
    pub skip: u64,
    /// Oldest first.
    #[arg(long)]
    pub ascending: bool,
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

/// Run `red list`.
pub fn run(args: &ListArgs, printer: &Printer) -> anyhow::Result<ExitStatus> {
    if let Some(id) = args
        .experiment
        .as_ref()
        .filter(|id| !agency::is_object_id(id))
    {
        return Ok(agency_cli::fail(printer, &agency::Error::Id(id.clone())));
    }
    let client = agency_cli::client(
        &args.agency.with_old(&args.old),
        agency_cli::FileAccess::default(),
        printer,
    )?;
    let query = BatchQuery {
        experiment: args.experiment.clone(),
        state: args.state.map(State::from),
        username: args.owner.clone(),
        node: None,
        skip: (args.skip > 0).then_some(args.skip),
        limit: Some(args.limit),
        ascending: args.ascending,
    };
    runtime::interruptible(Threads::One, printer, "interrupted\n", |_| async {
        let (batches, total) = match async {
            Ok::<_, agency::Error>((
                client.batches(&query).await?,
                client.count_batches(&query).await?,
            ))
        }
        .await
        {
            Ok(found) => found,
            Err(error) => return Ok(agency_cli::fail(printer, &error)),
        };
        match args.format {
            OutputFormat::Human => {
                let mut text = String::from(agency_cli::BATCH_HEADER);
                for batch in &batches {
                    text.push_str(&agency_cli::batch_line(batch));
                }
                printer.out(&text);
                printer.note(&format!(
                    "{} of {total} batch{} (skipped {})\n",
                    batches.len(),
                    if total == 1 { "" } else { "es" },
                    args.skip
                ));
            }
            OutputFormat::Json => printer.out_json(serde_json::json!({
                "total": total,
                "skip": args.skip,
                "batches": batches,
            })),
        }
        Ok(ExitStatus::Success)
    })
}
