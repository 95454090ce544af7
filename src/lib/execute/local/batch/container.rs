//! Step 3 of a batch: run the command in a container.
//!
//! The container gets the staged inputs bound read-only at their planned paths and the batch's
//! working directory bound read-write at `/cc/outputs`; the planned argv replaces the image's
//! entrypoint, and the command's standard output and error are captured into files. A command
//! that exits non-zero, is killed for memory or runs past the timeout fails the batch at the
//! `process` step; Docker failing to run it at all fails it at the `container` step.

use std::path::{Path, PathBuf};
use std::time::Instant;

use tokio::sync::SemaphorePermit;

use super::stage::Staged;
use super::{BatchRun, Failure, basename, make_dir};
use crate::execute::docker::{
    Bind, Capture, ContainerOutcome, Error as DockerError, RunSpec, run_container_then,
};
use crate::execute::local::report::{Event, Step};
use crate::plan::{BatchPlan, WORKING_DIR};

/// The host files of the command's standard output and error.
pub(super) struct Streams {
    pub(super) stdout: PathBuf,
    pub(super) stderr: PathBuf,
}

impl BatchRun<'_, '_> {
    /// Where the command's streams are captured: a file the tool named lives in the working
    /// directory (its parent made now: a tool may name `logs/out.txt`, and the reference fails
    /// on the missing directory); an unnamed one is kept in the records.
    pub(super) fn streams(&self, plan: &BatchPlan) -> Result<Streams, Failure> {
        let place = |named: &Option<String>, unnamed: &str| match named {
            Some(path) => self
                .dirs
                .work
                .join(path.trim_start_matches(WORKING_DIR).trim_start_matches('/')),
            None => self.dirs.records.join(unnamed),
        };
        let streams = Streams {
            stdout: place(&plan.stdout, "stdout.txt"),
            stderr: place(&plan.stderr, "stderr.txt"),
        };
        for stream in [&streams.stdout, &streams.stderr] {
            if let Some(parent) = stream.parent() {
                make_dir(parent, self.shared.work_mode())
                    .map_err(|m| Failure::new(Step::Container, m))?;
            }
        }
        Ok(streams)
    }

    /// Run the batch's command to its end and record how it ended. `slot` is given up as soon
    /// as the process stops (the next batch may start while this one delivers), unless
    /// `--fail-fast` keeps it until the batch's state is known.
    pub(super) async fn run_container(
        &mut self,
        plan: &BatchPlan,
        staged: &[Staged],
        streams: &Streams,
        slot: &mut Option<SemaphorePermit<'_>>,
    ) -> Result<(), Failure> {
        let spec = self.spec(plan, staged, streams);
        let shared = self.shared;
        let started = Instant::now();
        let outcome = run_container_then(
            shared.api,
            &spec,
            shared.options.timeout,
            shared.options.leave_container,
            shared.cancellation,
            || {
                if !shared.options.fail_fast {
                    drop(slot.take());
                }
            },
        )
        .await;
        self.report.timings.container = started.elapsed().as_secs_f64();
        // Streams the tool did not name are kept in the records; named ones live in the work
        // directory and are copied into the output directory afterwards.
        let kept = |named: &Option<String>, captured: &Path| match named {
            Some(path) => self.out_dir.join(basename(path)).display().to_string(),
            None => captured.display().to_string(),
        };
        self.report.stdout = Some(kept(&plan.stdout, &streams.stdout));
        self.report.stderr = Some(kept(&plan.stderr, &streams.stderr));
        match outcome {
            Ok(outcome) => self.exited(&outcome, plan.container.ram_mb),
            Err(DockerError::Interrupted { id }) => {
                if !id.is_empty() {
                    self.report.container = Some(id);
                }
                Err(Failure::new(Step::Container, "interrupted"))
            }
            Err(error) => Err(Failure::new(Step::Container, error_chain(&error))),
        }
    }

    /// What Docker is asked to run: the planned argv with the inputs and the working directory
    /// bound, the run's labels, memory limit, network, user and GPUs.
    fn spec(&self, plan: &BatchPlan, staged: &[Staged], streams: &Streams) -> RunSpec {
        let shared = self.shared;
        let mut binds: Vec<Bind> = staged.iter().map(|s| s.bind.clone()).collect();
        binds.push(Bind {
            host: self.dirs.work.clone(),
            container: WORKING_DIR.to_owned(),
            read_only: false,
        });
        RunSpec {
            image: shared.image.to_owned(),
            argv: plan.argv.clone(),
            working_dir: WORKING_DIR.to_owned(),
            user: shared.options.user,
            env: shared.options.env.clone(),
            binds,
            memory_mb: plan.container.ram_mb,
            network: shared.options.network,
            labels: RunSpec::labels_for(shared.run_id, self.index),
            gpus: shared.gpus.clone(),
            capture: Some(Capture {
                stdout: streams.stdout.clone(),
                stderr: streams.stderr.clone(),
            }),
        }
    }

    /// Record and announce how the process ended; anything but exit code 0 fails the batch.
    fn exited(&mut self, outcome: &ContainerOutcome, ram_mb: Option<u64>) -> Result<(), Failure> {
        let report = &mut self.report;
        report.container = Some(outcome.container_id.clone());
        report.exit_code = outcome.exit_code;
        report.oom_killed = outcome.oom_killed;
        report.timed_out = outcome.timed_out;
        self.shared.events.emit(&Event::ProcessExited {
            batch: self.index,
            exit_code: outcome.exit_code,
            oom_killed: outcome.oom_killed,
            timed_out: outcome.timed_out,
            seconds: report.timings.container,
        });
        if outcome.succeeded() {
            Ok(())
        } else {
            Err(Failure::new(Step::Process, why_it_failed(outcome, ram_mb)))
        }
    }
}

/// Why a command that ran did not succeed, for the report.
fn why_it_failed(outcome: &ContainerOutcome, ram_mb: Option<u64>) -> String {
    if let Some(start) = &outcome.start_error {
        format!("the command could not be started: {start}")
    } else if outcome.oom_killed {
        format!(
            "the command was killed for using more than the memory limit ({} MB)",
            ram_mb.map_or_else(|| "none".into(), |m| m.to_string())
        )
    } else if outcome.timed_out {
        "the command ran past the timeout and was killed".to_owned()
    } else {
        format!(
            "the command exited with code {}",
            outcome
                .exit_code
                .map_or_else(|| "?".into(), |c| c.to_string())
        )
    }
}

/// An error and its causes, one line.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
