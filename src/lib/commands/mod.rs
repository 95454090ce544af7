//! One thin module per subcommand: read arguments, call the library, print, return a status.

pub mod bench;
pub mod cancel;
pub mod completions;
pub mod convert;
pub mod exec;
pub mod fill;
pub mod gpus;
pub mod kiosk;
pub mod list;
pub mod logs;
pub mod man;
pub mod mount;
pub mod plan;
pub mod remote;
pub mod schema;
pub mod status;
pub mod submit;
pub mod submit_kiosk;
pub mod upgrade;
pub mod validate;
pub mod vars;

use std::future::Future;
use std::time::Duration;

use crate::cli::{ExitStatus, Printer};
use crate::execute::docker::Cancellation;

/// How long the end of a command waits for its runtime's threads (a blocking thread stuck with
/// a peer is left to the end of the process).
pub(crate) const SHUTDOWN: Duration = Duration::from_millis(200);

/// Run a command's asynchronous part on `runtime` until it ends or SIGINT, SIGTERM or SIGHUP
/// arrives; then `note` goes to stderr and the status is 130 at once, whatever the part was
/// waiting for. `work` gets the flag too, to say more where it knows more: it is polled first,
/// so its own answer to the signal wins.
///
/// # Errors
/// `work`'s own errors, and when the signal handlers cannot be installed.
pub(crate) fn interruptible<F>(
    runtime: tokio::runtime::Runtime,
    printer: &Printer,
    note: &str,
    work: impl FnOnce(Cancellation) -> F,
) -> anyhow::Result<ExitStatus>
where
    F: Future<Output = anyhow::Result<ExitStatus>>,
{
    let result = runtime.block_on(async {
        let cancellation = Cancellation::on_signals()?;
        let work = work(cancellation.clone());
        tokio::select! {
            biased;
            result = work => result,
            () = cancellation.cancelled() => {
                printer.err(note);
                Ok(ExitStatus::Interrupted)
            }
        }
    });
    // Not the runtime's `Drop`: it would wait for every blocking thread.
    runtime.shutdown_timeout(SHUTDOWN);
    result
}
