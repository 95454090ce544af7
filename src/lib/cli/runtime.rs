//! The one place a tokio runtime is built: commands get theirs from [`interruptible`] (remote
//! commands) or [`build`] (`red exec`, which races its own cancellation), never build their own.

use std::future::Future;
use std::time::Duration;

use super::{ExitStatus, Printer};
use crate::execute::docker::Cancellation;

/// How long the end of a command waits for its runtime's threads (a blocking thread stuck with
/// a peer is left to the end of the process).
pub(crate) const SHUTDOWN: Duration = Duration::from_millis(200);

/// The threads a command's asynchronous part needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Threads {
    /// One thread: request, answer, next request (the CC-Agency commands).
    One,
    /// Two worker threads: many jobs in flight whose work is waiting (the Kiosk).
    Two,
    /// A worker per core: batches that move data and run containers at once (`red exec`).
    PerCore,
}

/// Build the runtime.
///
/// # Errors
/// When the operating system refuses threads or the I/O driver.
pub(crate) fn build(threads: Threads) -> std::io::Result<tokio::runtime::Runtime> {
    match threads {
        Threads::One => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
        Threads::Two => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build(),
        Threads::PerCore => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build(),
    }
}

/// Ends `runtime` without waiting for a blocking thread stuck with a peer (its `Drop` would).
pub(crate) fn shut_down(runtime: tokio::runtime::Runtime) {
    runtime.shutdown_timeout(SHUTDOWN);
}

/// Run a command's asynchronous part on a runtime of `threads` until it ends or SIGINT, SIGTERM
/// or SIGHUP arrives; then `note` goes to stderr and the status is 130 at once, whatever the
/// part was waiting for. `work` gets the flag too, to say more where it knows more: it is polled
/// first, so its own answer to the signal wins.
///
/// # Errors
/// `work`'s own errors, and when the runtime or the signal handlers cannot be set up.
pub(crate) fn interruptible<F>(
    threads: Threads,
    printer: &Printer,
    note: &str,
    work: impl FnOnce(Cancellation) -> F,
) -> anyhow::Result<ExitStatus>
where
    F: Future<Output = anyhow::Result<ExitStatus>>,
{
    let runtime = build(threads)?;
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
    shut_down(runtime);
    result
}
