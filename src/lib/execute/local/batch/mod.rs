//! One batch, start to end: the heart of `red exec`.
//!
//! A [`BatchRun`] carries one batch through its steps, in this order, each in its own file:
//!
//! 1. [`BatchRun::make_dirs`] (here): the batch's private directory under the run directory
//!    (`inputs/`, and `work/`, which becomes the container's `/cc/outputs`) and the records
//!    directory (`.red/`) of its outputs directory.
//! 2. `stage.rs`: receive every input into `inputs/` (or mount it there) through its connector,
//!    on a blocking thread, and check that what arrived is what the RED file describes.
//! 3. `container.rs`: run the planned argv in a container, with the inputs bound read-only and
//!    the working directory bound read-write; the command's exit decides the batch.
//! 4. `collect.rs`: find the outputs in the working directory by their globs, and refuse two
//!    that would land on one name before anything is delivered.
//! 5. `deliver.rs`: copy each output into the outputs directory or send it through its
//!    connector, and keep the stream files the tool named.
//! 6. `record.rs`: write `.red/result.json`, the batch's [`BatchReport`].
//!
//! Every step's failure ends the batch with a report that says which step failed and why (a
//! [`Failure`]); mounts are undone and the container removed (unless `--leave-container`) on
//! every path, including cancellation, because they are owned by guards.

mod collect;
mod container;
mod deliver;
mod record;
mod stage;
#[cfg(test)]
mod tests;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::Instant;

use tokio::sync::SemaphorePermit;

use super::prepare::Batch;
use super::report::{BatchReport, Event, State, Step};
use super::{Shared, facts};

/// The name of the directory, inside a batch's output directory, that holds `red`'s records of
/// it: `result.json`, and `stdout.txt` / `stderr.txt` when the tool did not name its own.
pub use crate::plan::outputs::{RECORD_FILE, RECORDS_DIR};
pub(crate) use stage::receive_file_input;

/// A failure of one step.
struct Failure {
    step: Step,
    message: String,
}

impl Failure {
    fn new(step: Step, message: impl Into<String>) -> Self {
        Self {
            step,
            message: message.into(),
        }
    }
}

/// Where one batch works: its private directory in the run directory, and the records
/// directory of its outputs directory.
struct Dirs {
    /// `<run dir>/batch-<i>`, mode 0700.
    root: PathBuf,
    /// Where the inputs are received, one numbered directory each.
    inputs: PathBuf,
    /// The container's working directory (`/cc/outputs`).
    work: PathBuf,
    /// `<outputs dir>/.red`.
    records: PathBuf,
}

/// One batch being run: what it shares with the other batches of the run, where it writes, and
/// the report its steps fill in.
struct BatchRun<'r, 'a> {
    shared: &'r Shared<'a>,
    index: usize,
    /// The host directory that receives the batch's outputs and records.
    out_dir: PathBuf,
    dirs: Dirs,
    report: BatchReport,
}

/// Run one batch when its turn comes, or skip it: the run was interrupted, or an earlier batch
/// failed under `--fail-fast`. Never returns an error: failures are in the report.
pub(super) async fn run_or_skip(batch: Batch, shared: &Shared<'_>) -> BatchReport {
    let index = batch.plan.index;
    // The semaphore is never closed, so this only waits for a free slot.
    let slot = shared.slots.acquire().await.ok();
    let skip = if shared.cancellation.is_cancelled() {
        Some("the run was interrupted before this batch started")
    } else if shared.options.fail_fast && shared.failed.load(Ordering::Relaxed) {
        Some("an earlier batch failed (--fail-fast)")
    } else {
        None
    };
    let Some(why) = skip else {
        return run(batch, shared, slot).await;
    };
    let report = BatchReport::skipped(
        index,
        batch.plan.argv.clone(),
        shared.output_dir(index).display().to_string(),
        why,
    );
    shared.events.emit(&Event::BatchFinished {
        batch: index,
        state: report.state,
        error: report.error.clone(),
    });
    report
}

/// Run one batch to its report, holding `slot` (one of `--jobs`) until its process stops, or
/// with `--fail-fast` until its state is known. Never returns an error: failures are in the
/// report.
pub(super) async fn run(
    batch: Batch,
    shared: &Shared<'_>,
    slot: Option<SemaphorePermit<'_>>,
) -> BatchReport {
    let started = Instant::now();
    let mut run = BatchRun::new(&batch, shared);
    shared
        .events
        .emit(&Event::BatchStarted { batch: run.index });
    let mut slot = slot;
    let outcome = run.steps(batch, &mut slot).await;
    run.settle(outcome);
    drop(slot);
    run.report.timings.total = started.elapsed().as_secs_f64();
    run.report.setup.end_time = Some(facts::timestamp(std::time::SystemTime::now()));
    run.write_record();
    shared.events.emit(&Event::BatchFinished {
        batch: run.index,
        state: run.report.state,
        error: run.report.error.clone(),
    });
    run.report
}

impl<'r, 'a> BatchRun<'r, 'a> {
    fn new(batch: &Batch, shared: &'r Shared<'a>) -> Self {
        let index = batch.plan.index;
        let out_dir = shared.output_dir(index);
        let root = shared.run_dir.join(format!("batch-{index}"));
        let dirs = Dirs {
            inputs: root.join("inputs"),
            work: root.join("work"),
            records: out_dir.join(RECORDS_DIR),
            root,
        };
        let mut report = BatchReport::skipped(
            index,
            batch.plan.argv.clone(),
            out_dir.display().to_string(),
            "",
        );
        report.error = None;
        report.setup = shared.setup.clone();
        report.setup.start_time = Some(facts::timestamp(std::time::SystemTime::now()));
        Self {
            shared,
            index,
            out_dir,
            dirs,
            report,
        }
    }

    /// The steps, in order; the first failure ends the batch.
    async fn steps(
        &mut self,
        batch: Batch,
        slot: &mut Option<SemaphorePermit<'_>>,
    ) -> Result<(), Failure> {
        self.make_dirs()?;
        let Batch {
            plan,
            inputs,
            outputs,
        } = batch;
        let mut staged = self.stage(inputs).await?;
        let streams = self.streams(&plan)?;
        let ran = self.run_container(&plan, &staged, &streams, slot).await;
        let outputs = deliver::Outputs::new(
            Batch {
                plan,
                inputs: Vec::new(),
                outputs,
            },
            self,
            streams,
        );
        let delivered = match ran {
            Ok(()) => self.collect_and_deliver(outputs).await,
            Err(failure) => {
                // A failed command's named streams are still worth keeping (the reference does).
                outputs.keep_named_streams(&mut self.report.warnings);
                Err(failure)
            }
        };
        stage::unmount_all(staged.as_mut_slice(), &mut self.report.warnings);
        delivered
    }

    /// Make the batch's private directories and its records directory.
    fn make_dirs(&self) -> Result<(), Failure> {
        let dirs = &self.dirs;
        for (path, mode) in [
            (&dirs.root, 0o700),
            (&dirs.inputs, 0o755),
            (&dirs.work, self.shared.work_mode()),
            (&dirs.records, 0o755),
        ] {
            make_dir(path, mode).map_err(|m| Failure::new(Step::Inputs, m))?;
        }
        Ok(())
    }

    /// The batch's state from how its steps ended. A failure marks the run as failed before the
    /// slot is given up, so a `--fail-fast` run starts nothing after this batch.
    fn settle(&mut self, outcome: Result<(), Failure>) {
        let report = &mut self.report;
        match outcome {
            Ok(()) => report.state = State::Succeeded,
            Err(failure) => {
                report.state = if self.shared.cancellation.is_cancelled() {
                    State::Cancelled
                } else {
                    State::Failed
                };
                report.failed_step = Some(failure.step);
                report.error = Some(failure.message);
                self.shared.failed.store(true, Ordering::Relaxed);
            }
        }
    }
}

/// The basename of a container path (`/cc/inputs/x/data.csv` → `data.csv`).
fn basename(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

fn make_dir(path: &Path, mode: u32) -> Result<(), String> {
    fs::create_dir_all(path).map_err(|e| format!("cannot create `{}`: {e}", path.display()))?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .map_err(|e| format!("cannot set the mode of `{}`: {e}", path.display()))
}
