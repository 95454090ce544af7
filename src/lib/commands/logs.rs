//! `red logs BATCH`: the stdout and stderr a CC-Agency broker keeps for a batch (it keeps them
//! for failed batches, and for a `cli` that names `stdout:` or `stderr:`).

use clap::Args;

use crate::agency::{self, Stream};
use crate::cli::agency as agency_cli;
use crate::cli::args::{AgencyArgs, OldRequestTimeout};
use crate::cli::runtime::{self, Threads};
use crate::cli::{ExitStatus, Printer};

/// Arguments of `red logs`.
#[derive(Debug, Args)]
pub struct LogsArgs {
    /// The batch id (24 hex digits).
    pub batch: String,
    /// Only the standard output.
    #[arg(long, conflicts_with = "stderr")]
    pub stdout: bool,
    /// Only the standard error.
    #[arg(long)]
    pub stderr: bool,
    /// How to reach the broker.
    #[command(flatten)]
    pub agency: AgencyArgs,
    /// `--timeout`, the older spelling of `--request-timeout`.
    #[command(flatten)]
    pub old: OldRequestTimeout,
}

/// Run `red logs`.
pub fn run(args: &LogsArgs, printer: &Printer) -> anyhow::Result<ExitStatus> {
    if !agency::is_object_id(&args.batch) {
        return Ok(agency_cli::fail(
            printer,
            &agency::Error::Id(args.batch.clone()),
        ));
    }
    let streams: &[Stream] = match (args.stdout, args.stderr) {
        (true, _) => &[Stream::Stdout],
        (_, true) => &[Stream::Stderr],
        _ => &[Stream::Stdout, Stream::Stderr],
    };
    let client = agency_cli::client(
        &args.agency.with_old(&args.old),
        agency_cli::FileAccess::default(),
        printer,
    )?;
    runtime::interruptible(Threads::One, printer, "interrupted\n", |_| async {
        // A missing batch is an error; a missing log is normal.
        if let Err(error) = client.batch(&args.batch).await {
            return Ok(agency_cli::fail(printer, &error));
        }
        let mut found = 0;
        for stream in streams {
            match client.log(&args.batch, *stream).await {
                Ok(Some(text)) => {
                    found += 1;
                    if streams.len() > 1 {
                        printer.out(&format!(
                            "== {} of batch {} ==\n",
                            stream.as_str(),
                            args.batch
                        ));
                    }
                    printer.out(&text);
                    if !text.is_empty() && !text.ends_with('\n') {
                        printer.out("\n");
                    }
                }
                Ok(None) => printer.err(&format!(
                    "the broker keeps no {} for batch {} (only for failed batches and a `cli` \
                     that names `{}:`)\n",
                    stream.as_str(),
                    args.batch,
                    stream.as_str()
                )),
                Err(error) => return Ok(agency_cli::fail(printer, &error)),
            }
        }
        Ok(if found > 0 {
            ExitStatus::Success
        } else {
            ExitStatus::Failure
        })
    })
}
