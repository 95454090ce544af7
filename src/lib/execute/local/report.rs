//! What a local run reports: events while it runs (for progress and NDJSON) and one result per
//! batch (for the summary, `--format json` and each batch's `.red/result.json`).
//!
//! Nothing here holds a secret: messages come from connector and Docker errors, which name
//! fields, paths and hosts only, and everything printed still passes through the redactor.

use serde::Serialize;

/// How a batch ended, in the CC-Agency's words where they exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Every step worked and the command exited 0.
    Succeeded,
    /// A step failed or the command did not exit 0.
    Failed,
    /// The run was interrupted while this batch ran.
    Cancelled,
    /// Never started: an earlier batch failed under `--fail-fast`, or the run was interrupted.
    Skipped,
}

impl State {
    /// The lower-case name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
            Self::Skipped => "skipped",
        }
    }
}

/// Where in a batch a failure happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Step {
    /// Receiving or mounting inputs.
    Inputs,
    /// Creating, running or waiting for the container.
    Container,
    /// The command itself (non-zero exit, OOM kill, timeout, not startable).
    Process,
    /// Finding outputs by glob.
    Outputs,
    /// Copying or sending outputs.
    Delivery,
}

/// Seconds spent in each step of a batch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Timings {
    /// Receiving and mounting inputs.
    pub inputs: f64,
    /// The container, from create to removal.
    pub container: f64,
    /// Collecting and delivering outputs.
    pub outputs: f64,
    /// The whole batch.
    pub total: f64,
}

/// One input as staged.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InputReport {
    /// `key` or `key:index`.
    pub name: String,
    /// The connector command.
    pub connector: String,
    /// The path in the container.
    pub path: String,
    /// `receive-file`, `receive-dir` or `mount-dir`.
    pub action: &'static str,
    /// The input's size as the container sees it: a file's size, or the sum over a
    /// directory's files; for a mount, what was read while staging (data is read on demand).
    pub bytes: u64,
    /// Bytes the connector moved while staging (0 for a local bind, whose data is not copied).
    pub transferred: u64,
    /// SHA-256 of a File input as it arrived, lower-case hex, computed while it streamed in
    /// (read once from where it is for a local bind); `None` for directories and mounts.
    pub sha256: Option<String>,
    /// Seconds it took.
    pub seconds: f64,
}

/// One output as collected and delivered.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OutputReport {
    /// The output key.
    pub name: String,
    /// `File`, `Directory`, `stdout` or `stderr`.
    pub class: &'static str,
    /// The path found, relative to `/cc/outputs`; `None` for a missing optional output.
    pub path: Option<String>,
    /// Bytes (a file's size, or the sum over a directory's files).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// SHA-256 of a file, lower-case hex.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Number of files of a directory output.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub files: Option<u64>,
    /// Where it went: a host path, `<command> send-file`, or `discarded`.
    pub delivered: String,
    /// Links and special files of a directory output that were not copied.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<String>,
}

/// The result of one batch.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchReport {
    /// 0-based batch index.
    pub batch: usize,
    /// How it ended.
    pub state: State,
    /// The step that failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed_step: Option<Step>,
    /// What went wrong, in one sentence.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The command's exit code (`None` when it did not run or was killed at the timeout).
    pub exit_code: Option<i64>,
    /// The kernel's OOM killer ended it.
    pub oom_killed: bool,
    /// It ran past `--timeout`.
    pub timed_out: bool,
    /// The argv run in the container.
    pub command: Vec<String>,
    /// The container id (removed unless `--leave-container`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// Inputs staged.
    pub inputs: Vec<InputReport>,
    /// Outputs collected.
    pub outputs: Vec<OutputReport>,
    /// The host directory of this batch's outputs and records.
    pub output_dir: String,
    /// Host files holding the command's standard output and error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stdout: Option<String>,
    /// See `stdout`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stderr: Option<String>,
    /// Things worth knowing that did not fail the batch.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Seconds per step.
    pub timings: Timings,
    /// When it ran, the image, the host and `red`'s version.
    #[serde(flatten)]
    pub setup: super::facts::Setup,
}

impl BatchReport {
    /// A batch that never started.
    #[must_use]
    pub fn skipped(batch: usize, command: Vec<String>, output_dir: String, why: &str) -> Self {
        Self {
            batch,
            state: State::Skipped,
            failed_step: None,
            error: Some(why.to_owned()),
            exit_code: None,
            oom_killed: false,
            timed_out: false,
            command,
            container: None,
            inputs: Vec::new(),
            outputs: Vec::new(),
            output_dir,
            stdout: None,
            stderr: None,
            warnings: Vec::new(),
            timings: Timings::default(),
            setup: super::facts::Setup::default(),
        }
    }
}

/// The result of a whole run.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunReport {
    /// The run id (the `org.red.run` label of its containers).
    pub run_id: String,
    /// `succeeded` only when every batch succeeded; `cancelled` when interrupted.
    pub state: State,
    /// Every batch this run ran, in index order.
    pub batches: Vec<BatchReport>,
    /// Batches a resume left as they were: their record says an earlier run finished them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub kept: Vec<usize>,
    /// Seconds from start to end.
    pub seconds: f64,
}

/// Something that happened during a run, as one NDJSON line (`{"event": "batch-started", …}`).
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Event {
    /// The run begins.
    RunStarted {
        /// The run id.
        #[serde(rename = "runId")]
        run_id: String,
        /// Number of batches.
        batches: usize,
        /// How many run at once.
        jobs: usize,
        /// The image.
        image: String,
    },
    /// A batch is not run: `--resume` found a record saying an earlier run finished it, and its
    /// outputs and record are left as they are.
    BatchKept {
        /// The batch.
        batch: usize,
        /// Its outputs directory, holding the earlier run's record.
        #[serde(rename = "outputDir")]
        output_dir: String,
    },
    /// A batch begins.
    BatchStarted {
        /// The batch.
        batch: usize,
    },
    /// One input is in place.
    InputStaged {
        /// The batch.
        batch: usize,
        /// The input.
        #[serde(flatten)]
        input: InputReport,
    },
    /// The command ended.
    ProcessExited {
        /// The batch.
        batch: usize,
        /// Its exit code.
        #[serde(rename = "exitCode")]
        exit_code: Option<i64>,
        /// Killed for memory.
        #[serde(rename = "oomKilled")]
        oom_killed: bool,
        /// Killed at the timeout.
        #[serde(rename = "timedOut")]
        timed_out: bool,
        /// Seconds the container took.
        seconds: f64,
    },
    /// One output was delivered.
    OutputDelivered {
        /// The batch.
        batch: usize,
        /// The output.
        #[serde(flatten)]
        output: OutputReport,
    },
    /// A batch ended.
    BatchFinished {
        /// The batch.
        batch: usize,
        /// How.
        state: State,
        /// Why it failed.
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
}

/// Where events go: a progress display, an NDJSON stream, or nowhere.
pub trait Events: Send + Sync {
    /// Record one event.
    fn emit(&self, event: &Event);

    /// Bytes moved so far by the connector of input or output `name` of `batch` (`total` when
    /// known). Called often: only a display should care; the default ignores it.
    fn transfer(&self, batch: usize, name: &str, bytes: u64, total: Option<u64>) {
        let _ = (batch, name, bytes, total);
    }

    /// A line of progress for people, from an engine that has no [`Event`] for it (the remote
    /// engines: a job's status, a batch's new state); the default ignores it.
    fn progress(&self, line: &str) {
        let _ = line;
    }

    /// A problem that ends no run but must be seen (a batch's task that panicked); the default
    /// ignores it.
    fn problem(&self, line: &str) {
        let _ = line;
    }
}

/// Counts the bytes of one transfer and passes the running total on to [`Events::transfer`];
/// for a File input it also hashes the pieces as they land.
pub(crate) struct TransferCounter {
    pub(crate) events: std::sync::Arc<dyn Events>,
    pub(crate) batch: usize,
    pub(crate) name: String,
    pub(crate) bytes: std::sync::atomic::AtomicU64,
    pub(crate) hash: std::sync::Mutex<Option<crate::connector::content::StreamHash>>,
}

impl TransferCounter {
    /// The hash made so far (taken out: it is finished once).
    pub(crate) fn take_hash(&self) -> Option<crate::connector::content::StreamHash> {
        self.hash.lock().ok().and_then(|mut hash| hash.take())
    }
}

impl crate::connector::Progress for TransferCounter {
    fn advance(&self, bytes: u64, total: Option<u64>) {
        let done = self
            .bytes
            .fetch_add(bytes, std::sync::atomic::Ordering::Relaxed)
            .saturating_add(bytes);
        self.events.transfer(self.batch, &self.name, done, total);
    }

    fn landed(&self, offset: u64, data: &[u8]) {
        if let Ok(mut hash) = self.hash.lock()
            && let Some(hash) = hash.as_mut()
        {
            hash.landed(offset, data);
        }
    }
}

/// Ignores every event.
#[derive(Debug, Default)]
pub struct NoEvents;

impl Events for NoEvents {
    fn emit(&self, _event: &Event) {}
}
