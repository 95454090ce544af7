//! One batch, start to end: receive inputs into the batch's private directory, run the command
//! in a container with the inputs bound read-only and the working directory bound read-write,
//! find the outputs, deliver them, and write the batch's record.
//!
//! Every step's failure ends the batch with a [`BatchReport`] that says which step failed and
//! why; mounts are undone and the container removed (unless `--leave-container`) on every path,
//! including cancellation, because they are owned by guards.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use crate::connector::content;
use crate::connector::copy::{self, place};
use crate::connector::{self, Mounted, Received};
use crate::execute::docker::{Bind, Capture, Error as DockerError, RunSpec, run_container_then};
use crate::plan::outputs::{self as globbing, Delivered, DirListing, EntryKind, Source, Wanted};
use crate::plan::{Action, OutputPlan, WORKING_DIR};

use super::prepare::{Batch, Delivery, Input};
use super::report::{BatchReport, Event, InputReport, OutputReport, State, Step, TransferCounter};
use super::{Shared, Worker, blocking_until};

/// The name of the directory, inside a batch's output directory, that holds `red`'s records of
/// it: `result.json`, and `stdout.txt` / `stderr.txt` when the tool did not name its own.
pub use crate::plan::outputs::RECORDS_DIR;

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

/// What a staged input left behind: the bind and, for a mount, its guard.
struct Staged {
    bind: Bind,
    mount: Option<Box<dyn Mounted>>,
    report: InputReport,
}

fn action_name(action: Action) -> &'static str {
    match action {
        Action::ReceiveFile => "receive-file",
        Action::ReceiveDir => "receive-dir",
        Action::MountDir => "mount-dir",
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

/// Receive every input, in declaration order; the first failure stops (mounts made so far are
/// undone when `staged` is dropped).
fn stage_inputs(
    batch_index: usize,
    inputs: Vec<Input>,
    dir: &Path,
    shared: &Worker,
    warnings: &mut Vec<String>,
) -> Result<Vec<Staged>, Failure> {
    let mut staged: Vec<Staged> = Vec::with_capacity(inputs.len());
    for (n, input) in inputs.into_iter().enumerate() {
        let started = Instant::now();
        let holder = dir.join(n.to_string());
        make_dir(&holder, 0o755).map_err(|m| Failure::new(Step::Inputs, m))?;
        let destination = holder.join(basename(&input.target));
        let counter = Arc::new(TransferCounter {
            events: Arc::clone(&shared.events),
            batch: batch_index,
            name: input.name.clone(),
            bytes: AtomicU64::new(0),
        });
        let context = &connector::Context {
            progress: Arc::clone(&counter) as Arc<dyn connector::Progress>,
            ..shared.connector_context.clone()
        };
        let fail = |error: connector::ConnectorError| {
            Failure::new(
                Step::Inputs,
                format!(
                    "input `{}`: `{}` could not {}: {error}",
                    input.name,
                    input.connector.command(),
                    action_name(input.action)
                ),
            )
        };
        let (host, mount) = match input.action {
            Action::ReceiveFile => {
                match input
                    .connector
                    .receive_file(&input.access, &destination, context)
                    .map_err(fail)?
                {
                    Received::Staged => (destination, None),
                    Received::Bind(path) => (path, None),
                }
            }
            Action::ReceiveDir => {
                match input
                    .connector
                    .receive_dir(&input.access, &destination, input.listing.as_ref(), context)
                    .map_err(fail)?
                {
                    Received::Staged => (destination, None),
                    Received::Bind(path) => (path, None),
                }
            }
            Action::MountDir => {
                make_dir(&destination, 0o755).map_err(|m| Failure::new(Step::Inputs, m))?;
                let guard = input
                    .connector
                    .mount_dir(&input.access, &destination, context)
                    .map_err(fail)?;
                (destination, Some(guard))
            }
        };
        // What arrived must be what the RED file describes (the reference's content check).
        let content_error = |error: connector::ConnectorError| {
            Failure::new(
                Step::Inputs,
                format!(
                    "input `{}` from `{}`: {error}",
                    input.name,
                    input.connector.command()
                ),
            )
        };
        if input.action == Action::ReceiveFile {
            content::verify_file(&host, input.checksum.as_deref(), input.size)
                .map_err(content_error)?;
        } else if !fs::metadata(&host).is_ok_and(|m| m.is_dir()) {
            return Err(content_error(connector::ConnectorError::Content(
                "no directory arrived".into(),
            )));
        } else if let Some(listing) = &input.listing {
            let extra = content::verify_listing(&host, listing).map_err(content_error)?;
            if !extra.is_empty() {
                warnings.push(format!(
                    "input `{}` holds {} entr{} its listing does not name: {}",
                    input.name,
                    extra.len(),
                    if extra.len() == 1 { "y" } else { "ies" },
                    extra.join(", ")
                ));
            }
        }
        let report = InputReport {
            name: input.name.clone(),
            connector: input.connector.command().to_owned(),
            path: input.target.clone(),
            action: action_name(input.action),
            bytes: match input.action {
                Action::MountDir => counter.bytes.load(Ordering::Relaxed),
                Action::ReceiveFile | Action::ReceiveDir => staged_size(&host),
            },
            transferred: counter.bytes.load(Ordering::Relaxed),
            seconds: started.elapsed().as_secs_f64(),
        };
        shared.events.emit(&Event::InputStaged {
            batch: batch_index,
            input: report.clone(),
        });
        staged.push(Staged {
            bind: Bind {
                host,
                container: input.target.clone(),
                read_only: true,
            },
            mount,
            report,
        });
    }
    Ok(staged)
}

/// Receive one File input into `dir` as `red exec` does (`dir/0/<basename of its target>`,
/// content checked against the file's `checksum` and `size`); returns where it landed. Used by
/// `red submit --kiosk`, which sends the file elsewhere instead of into a container.
pub(crate) fn receive_file_input(
    batch_index: usize,
    input: Input,
    dir: &Path,
    worker: &Worker,
) -> Result<PathBuf, String> {
    let mut warnings = Vec::new();
    let staged = stage_inputs(batch_index, vec![input], dir, worker, &mut warnings)
        .map_err(|failure| failure.message)?;
    staged
        .into_iter()
        .next()
        .map(|one| one.bind.host)
        .ok_or_else(|| "no input was received".to_owned())
}

/// Undo mounts; errors become warnings.
fn unmount_all(staged: &mut [Staged], warnings: &mut Vec<String>) {
    for one in staged.iter_mut().rev() {
        if let Some(mount) = one.mount.take()
            && let Err(error) = mount.unmount()
        {
            warnings.push(format!(
                "input `{}` could not be unmounted: {error}",
                one.report.name
            ));
        }
    }
}

/// What glob rules apply to an output of the plan.
fn wanted(output: &OutputPlan) -> Wanted {
    let kind = if output.class == "Directory" {
        EntryKind::Directory
    } else {
        EntryKind::File
    };
    let source = match output.class {
        "stdout" | "stderr" if output.glob.starts_with('<') => Source::Captured(output.class),
        "stdout" | "stderr" => Source::Named(output.glob.clone()),
        _ => Source::Glob(output.glob.clone()),
    };
    Wanted {
        name: output.name.clone(),
        kind,
        optional: output.optional,
        source,
    }
}

/// The host files of the command's standard output and error.
struct Streams {
    stdout: PathBuf,
    stderr: PathBuf,
}

/// Refuse, before anything is delivered, two outputs (or an output and a stream file the tool
/// named) that would land on one name in the outputs directory: the later would silently
/// replace the earlier. Planning refuses the clashes it can see in the names; this catches
/// those that wildcards hid until the run.
fn refuse_clashes(
    batch: &Batch,
    collected: &[globbing::Collected],
    work: &Path,
    out_dir: &Path,
) -> Result<(), Failure> {
    let mut entries = Vec::new();
    let mut owners = Vec::new();
    for (output, found) in batch.outputs.iter().zip(collected) {
        if let (Delivery::Directory, Some(relative)) = (&output.delivery, &found.path) {
            entries.push(Some(Delivered::found(relative)));
            owners.push(match relative.as_str() {
                "<stdout>" | "<stderr>" => format!("output `{}`", output.plan.name),
                _ => format!("output `{}` (`{relative}`)", output.plan.name),
            });
        }
    }
    if entries.is_empty() {
        return Ok(());
    }
    // Named stream files are kept beside the outputs (see `copy_named_streams`).
    for stream in [&batch.plan.stdout, &batch.plan.stderr]
        .into_iter()
        .flatten()
    {
        let relative = stream
            .trim_start_matches(WORKING_DIR)
            .trim_start_matches('/');
        if fs::symlink_metadata(work.join(relative)).is_ok() {
            entries.push(Some(Delivered::found(relative)));
            owners.push(format!("the stream file `{relative}`"));
        }
    }
    let Some(clash) = globbing::clash(&entries) else {
        return Ok(());
    };
    let second = owners.get(clash.second).cloned().unwrap_or_default();
    let target = out_dir.join(&clash.name);
    let message = match clash.first.and_then(|first| owners.get(first)) {
        Some(first) => format!(
            "{first} and {second} would both be delivered to `{}`; nothing was delivered \
             (give the files different names)",
            target.display()
        ),
        None => format!(
            "{second} would be delivered to `{}`, red's own records; nothing was delivered",
            target.display()
        ),
    };
    Err(Failure::new(Step::Outputs, message))
}

/// Find every output by its glob, then deliver it; the first failure stops.
fn collect_and_deliver(
    batch: &Batch,
    work: &Path,
    streams: &Streams,
    out_dir: &Path,
    shared: &Worker,
    warnings: &mut Vec<String>,
) -> Result<Vec<OutputReport>, Failure> {
    let wanted: Vec<Wanted> = batch.outputs.iter().map(|o| wanted(&o.plan)).collect();
    let listing = DirListing::new(work);
    let collected = globbing::collect(&wanted, &listing, &[])
        .map_err(|e| Failure::new(Step::Outputs, e.to_string()))?;
    refuse_clashes(batch, &collected, work, out_dir)?;
    let real_work = fs::canonicalize(work).unwrap_or_else(|_| work.to_path_buf());
    let mut reports = Vec::with_capacity(collected.len());
    for (output, found) in batch.outputs.iter().zip(collected) {
        let Some(relative) = found.path else {
            reports.push(OutputReport {
                name: output.plan.name.clone(),
                class: output.plan.class,
                path: None,
                size: None,
                sha256: None,
                files: None,
                delivered: "missing (optional)".into(),
                skipped: Vec::new(),
            });
            continue;
        };
        let host = match relative.as_str() {
            "<stdout>" => streams.stdout.clone(),
            "<stderr>" => streams.stderr.clone(),
            _ => {
                // The listing only offers paths whose real location is inside the work
                // directory; resolve once more so a link swapped in since is caught.
                let resolved = fs::canonicalize(work.join(&relative)).map_err(|e| {
                    Failure::new(Step::Outputs, format!("output `{}`: {e}", output.plan.name))
                })?;
                if !resolved.starts_with(&real_work) {
                    return Err(Failure::new(
                        Step::Outputs,
                        format!(
                            "output `{}`: `{relative}` leads outside the output directory",
                            output.plan.name
                        ),
                    ));
                }
                resolved
            }
        };
        let shown_path = match relative.as_str() {
            "<stdout>" | "<stderr>" => None,
            _ => Some(relative.clone()),
        };
        let (size, sha256, files) = if found.kind == EntryKind::File {
            let (size, digest) = copy::sha256(&host).map_err(|e| {
                Failure::new(Step::Outputs, format!("output `{}`: {e}", output.plan.name))
            })?;
            (Some(size), Some(digest), None)
        } else {
            (None, None, None)
        };
        let context = &connector::Context {
            progress: Arc::new(TransferCounter {
                events: Arc::clone(&shared.events),
                batch: batch.plan.index,
                name: output.plan.name.clone(),
                bytes: AtomicU64::new(0),
            }),
            ..shared.connector_context.clone()
        };
        let delivery_error = |error: connector::ConnectorError| {
            Failure::new(
                Step::Delivery,
                format!(
                    "output `{}` could not be delivered: {error}",
                    output.plan.name
                ),
            )
        };
        let mut report = OutputReport {
            name: output.plan.name.clone(),
            class: output.plan.class,
            path: shown_path
                .clone()
                .or_else(|| Some(format!("<{}>", output.plan.class))),
            size,
            sha256,
            files,
            delivered: String::new(),
            skipped: Vec::new(),
        };
        match &output.delivery {
            Delivery::Discarded => report.delivered = "discarded (no output connector)".into(),
            Delivery::Directory => {
                let name = match relative.as_str() {
                    "<stdout>" => "stdout.txt".to_owned(),
                    "<stderr>" => "stderr.txt".to_owned(),
                    _ => basename(&relative).to_owned(),
                };
                let destination = out_dir.join(&name);
                // Streams red captured are kept in the records too: copy, do not move.
                let copied = if shown_path.is_none() {
                    let partial = out_dir.join(format!(".red-partial-{name}"));
                    copy::remove_any(&partial);
                    copy::copy_file(&host, &partial, context)
                        .and_then(|bytes| {
                            fs::rename(&partial, &destination)
                                .map(|()| copy::Copied {
                                    files: 1,
                                    bytes,
                                    skipped: Vec::new(),
                                })
                                .map_err(|e| connector::ConnectorError::io("cannot write", e))
                        })
                        .map_err(delivery_error)?
                } else {
                    place(&host, &destination, context).map_err(delivery_error)?
                };
                if found.kind == EntryKind::Directory {
                    report.size = Some(copied.bytes);
                    report.files = Some(copied.files);
                }
                report.skipped = copied
                    .skipped
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect();
                report.delivered = destination.display().to_string();
            }
            Delivery::Connector {
                connector,
                access,
                listing,
            } => {
                if found.kind == EntryKind::Directory {
                    connector
                        .send_dir(access, &host, listing.as_ref(), context)
                        .map_err(delivery_error)?;
                } else {
                    connector
                        .send_file(access, &host, context)
                        .map_err(delivery_error)?;
                }
                report.delivered = format!(
                    "{} {}",
                    connector.command(),
                    if found.kind == EntryKind::Directory {
                        "send-dir"
                    } else {
                        "send-file"
                    }
                );
            }
        }
        if !report.skipped.is_empty() {
            warnings.push(format!(
                "output `{}`: {} link(s) or special file(s) not copied: {}",
                report.name,
                report.skipped.len(),
                report.skipped.join(", ")
            ));
        }
        shared.events.emit(&Event::OutputDelivered {
            batch: batch.plan.index,
            output: report.clone(),
        });
        reports.push(report);
    }
    Ok(reports)
}

/// Run one batch to its report. Never returns an error: failures are in the report.
pub(super) async fn run(
    batch: Batch,
    shared: &Shared<'_>,
    slot: Option<tokio::sync::SemaphorePermit<'_>>,
) -> BatchReport {
    let started = Instant::now();
    let index = batch.plan.index;
    let out_dir = shared.output_dir(index);
    let mut report = BatchReport::skipped(
        index,
        batch.plan.argv.clone(),
        out_dir.display().to_string(),
        "",
    );
    report.error = None;
    shared.events.emit(&Event::BatchStarted { batch: index });
    let mut slot = slot;
    let outcome = run_steps(batch, shared, &mut slot, &out_dir, &mut report).await;
    match outcome {
        Ok(()) => report.state = State::Succeeded,
        Err(failure) => {
            report.state = if shared.cancellation.is_cancelled() {
                State::Cancelled
            } else {
                State::Failed
            };
            report.failed_step = Some(failure.step);
            report.error = Some(failure.message);
            // Before the slot is given up, so a `--fail-fast` run starts nothing after this.
            shared
                .failed
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
    }
    drop(slot);
    report.timings.total = started.elapsed().as_secs_f64();
    write_record(&out_dir, &mut report);
    shared.events.emit(&Event::BatchFinished {
        batch: index,
        state: report.state,
        error: report.error.clone(),
    });
    report
}

/// Keep the command's streams and the result beside the outputs.
/// The bytes of a staged input: a file's size, or the sum over a directory's regular files
/// (symbolic links are not followed).
fn staged_size(path: &Path) -> u64 {
    let Ok(meta) = fs::symlink_metadata(path).or_else(|_| fs::metadata(path)) else {
        return 0;
    };
    if meta.is_file() {
        return meta.len();
    }
    if meta.is_symlink() {
        return fs::metadata(path).map_or(0, |m| if m.is_file() { m.len() } else { 0 });
    }
    let mut total = 0u64;
    let mut pending = vec![path.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            match entry.file_type() {
                Ok(kind) if kind.is_dir() => pending.push(entry.path()),
                Ok(kind) if kind.is_file() => {
                    total = total.saturating_add(entry.metadata().map_or(0, |m| m.len()));
                }
                _ => {}
            }
        }
    }
    total
}

fn write_record(out_dir: &Path, report: &mut BatchReport) {
    // The record names only stream files that are there: none when no container ran.
    for stream in [&mut report.stdout, &mut report.stderr] {
        if stream
            .as_ref()
            .is_some_and(|path| !Path::new(path).is_file())
        {
            *stream = None;
        }
    }
    let records = out_dir.join(RECORDS_DIR);
    if let Err(error) = fs::create_dir_all(&records) {
        report
            .warnings
            .push(format!("cannot create `{}`: {error}", records.display()));
        return;
    }
    let result = records.join("result.json");
    let written = serde_json::to_vec_pretty(&*report)
        .map_err(std::io::Error::other)
        .and_then(|mut json| {
            json.push(b'\n');
            fs::write(&result, json)
        });
    if let Err(error) = written {
        report
            .warnings
            .push(format!("cannot write `{}`: {error}", result.display()));
    }
}

async fn run_steps(
    batch: Batch,
    shared: &Shared<'_>,
    slot: &mut Option<tokio::sync::SemaphorePermit<'_>>,
    out_dir: &Path,
    report: &mut BatchReport,
) -> Result<(), Failure> {
    let index = batch.plan.index;
    let dir = shared.run_dir.join(format!("batch-{index}"));
    let inputs_dir = dir.join("inputs");
    let work = dir.join("work");
    let records = out_dir.join(RECORDS_DIR);
    for (path, mode) in [
        (&dir, 0o700),
        (&inputs_dir, 0o755),
        (&work, shared.work_mode()),
    ] {
        make_dir(path, mode).map_err(|m| Failure::new(Step::Inputs, m))?;
    }
    make_dir(&records, 0o755).map_err(|m| Failure::new(Step::Inputs, m))?;

    // Inputs, on a blocking thread.
    let inputs_started = Instant::now();
    let Batch {
        plan,
        inputs,
        outputs,
    } = batch;
    let staged = {
        let shared_inputs = shared.blocking_part();
        let inputs_dir = inputs_dir.clone();
        blocking_until(shared.cancellation, move || {
            let mut warnings = Vec::new();
            let staged = stage_inputs(index, inputs, &inputs_dir, &shared_inputs, &mut warnings);
            (staged, warnings)
        })
        .await
    };
    report.timings.inputs = inputs_started.elapsed().as_secs_f64();
    let mut staged = match staged {
        Ok((Ok(staged), warnings)) => {
            report.warnings.extend(warnings);
            staged
        }
        Ok((Err(failure), warnings)) => {
            report.warnings.extend(warnings);
            return Err(failure);
        }
        Err(message) => return Err(Failure::new(Step::Inputs, message)),
    };
    report.inputs = staged.iter().map(|s| s.report.clone()).collect();

    // The container.
    let streams = Streams {
        stdout: match &plan.stdout {
            Some(path) => work.join(path.trim_start_matches(WORKING_DIR).trim_start_matches('/')),
            None => records.join("stdout.txt"),
        },
        stderr: match &plan.stderr {
            Some(path) => work.join(path.trim_start_matches(WORKING_DIR).trim_start_matches('/')),
            None => records.join("stderr.txt"),
        },
    };
    for stream in [&streams.stdout, &streams.stderr] {
        if let Some(parent) = stream.parent() {
            // A tool may name `logs/out.txt`; the reference fails on the missing directory.
            make_dir(parent, shared.work_mode()).map_err(|m| Failure::new(Step::Container, m))?;
        }
    }
    let mut binds: Vec<Bind> = staged.iter().map(|s| s.bind.clone()).collect();
    binds.push(Bind {
        host: work.clone(),
        container: WORKING_DIR.to_owned(),
        read_only: false,
    });
    let spec = RunSpec {
        image: shared.image.to_owned(),
        argv: plan.argv.clone(),
        working_dir: WORKING_DIR.to_owned(),
        user: shared.options.user,
        env: shared.options.env.clone(),
        binds,
        memory_mb: plan.container.ram_mb,
        network: shared.options.network,
        labels: RunSpec::labels_for(shared.run_id, index),
        gpus: shared.gpus.clone(),
        capture: Some(Capture {
            stdout: streams.stdout.clone(),
            stderr: streams.stderr.clone(),
        }),
    };
    let container_started = Instant::now();
    let outcome = run_container_then(
        shared.api,
        &spec,
        shared.options.timeout,
        shared.options.leave_container,
        shared.cancellation,
        // With `--fail-fast` the slot is kept until the batch's state is known.
        || {
            if !shared.options.fail_fast {
                drop(slot.take());
            }
        },
    )
    .await;
    report.timings.container = container_started.elapsed().as_secs_f64();
    // Streams the tool did not name are kept in the records; named ones live in the work
    // directory and are copied into the output directory below.
    let kept = |named: &Option<String>, captured: &Path| match named {
        Some(path) => out_dir.join(basename(path)).display().to_string(),
        None => captured.display().to_string(),
    };
    report.stdout = Some(kept(&plan.stdout, &streams.stdout));
    report.stderr = Some(kept(&plan.stderr, &streams.stderr));
    let result = match outcome {
        Ok(outcome) => {
            report.container = Some(outcome.container_id.clone());
            report.exit_code = outcome.exit_code;
            report.oom_killed = outcome.oom_killed;
            report.timed_out = outcome.timed_out;
            shared.events.emit(&Event::ProcessExited {
                batch: index,
                exit_code: outcome.exit_code,
                oom_killed: outcome.oom_killed,
                timed_out: outcome.timed_out,
                seconds: report.timings.container,
            });
            if outcome.succeeded() {
                Ok(())
            } else {
                let why = if let Some(start) = &outcome.start_error {
                    format!("the command could not be started: {start}")
                } else if outcome.oom_killed {
                    format!(
                        "the command was killed for using more than the memory limit ({} MB)",
                        plan.container
                            .ram_mb
                            .map_or_else(|| "none".into(), |m| m.to_string())
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
                };
                Err(Failure::new(Step::Process, why))
            }
        }
        Err(DockerError::Interrupted { id }) => {
            if !id.is_empty() {
                report.container = Some(id);
            }
            Err(Failure::new(Step::Container, "interrupted"))
        }
        Err(error) => Err(Failure::new(Step::Container, error_chain(&error))),
    };
    let mut warnings = Vec::new();
    let delivered = match result {
        Ok(()) => {
            let outputs_started = Instant::now();
            let shared_outputs = shared.blocking_part();
            let batch = Batch {
                plan,
                inputs: Vec::new(),
                outputs,
            };
            let work_for_outputs = work.clone();
            let out_dir = out_dir.to_path_buf();
            let delivered = blocking_until(shared.cancellation, move || {
                let mut warnings = Vec::new();
                let result = collect_and_deliver(
                    &batch,
                    &work_for_outputs,
                    &streams,
                    &out_dir,
                    &shared_outputs,
                    &mut warnings,
                );
                copy_named_streams(
                    &batch,
                    &work_for_outputs,
                    &out_dir,
                    &shared_outputs,
                    &mut warnings,
                );
                (result, warnings)
            })
            .await;
            report.timings.outputs = outputs_started.elapsed().as_secs_f64();
            match delivered {
                Ok((result, more)) => {
                    warnings.extend(more);
                    result.map(|outputs| report.outputs = outputs)
                }
                Err(message) => Err(Failure::new(Step::Delivery, message)),
            }
        }
        Err(failure) => {
            // A failed command's named streams are still worth keeping (the reference does).
            let batch = Batch {
                plan,
                inputs: Vec::new(),
                outputs,
            };
            copy_named_streams(
                &batch,
                &work,
                out_dir,
                &shared.blocking_part(),
                &mut warnings,
            );
            Err(failure)
        }
    };
    unmount_all(&mut staged, &mut warnings);
    report.warnings.extend(warnings);
    delivered
}

/// Copy the stream files a tool named (`stdout: out.txt`) into the output directory, as the
/// reference does, unless an output already put them there.
fn copy_named_streams(
    batch: &Batch,
    work: &Path,
    out_dir: &Path,
    shared: &Worker,
    warnings: &mut Vec<String>,
) {
    for stream in [&batch.plan.stdout, &batch.plan.stderr]
        .into_iter()
        .flatten()
    {
        let relative = stream
            .trim_start_matches(WORKING_DIR)
            .trim_start_matches('/');
        let source = work.join(relative);
        let destination = out_dir.join(basename(relative));
        if fs::symlink_metadata(&destination).is_ok() || fs::symlink_metadata(&source).is_err() {
            continue;
        }
        if let Err(error) = copy::copy_file(&source, &destination, &shared.connector_context) {
            warnings.push(format!("`{relative}` was not kept: {error}"));
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn output(class: &'static str, glob: &str) -> OutputPlan {
        OutputPlan {
            name: "o".into(),
            class,
            optional: false,
            glob: glob.into(),
            destination: crate::plan::Destination::Discarded,
        }
    }

    #[test]
    fn plan_outputs_become_glob_rules() {
        assert_eq!(
            wanted(&output("File", "*.txt")).source,
            Source::Glob("*.txt".into())
        );
        assert_eq!(
            wanted(&output("stdout", "<stdout>")).source,
            Source::Captured("stdout")
        );
        assert_eq!(
            wanted(&output("stderr", "logs/err.txt")).source,
            Source::Named("logs/err.txt".into())
        );
        assert_eq!(wanted(&output("Directory", "d")).kind, EntryKind::Directory);
    }

    #[test]
    fn basenames_of_container_paths() {
        assert_eq!(basename("/cc/inputs/x/data.csv"), "data.csv");
        assert_eq!(basename("plain"), "plain");
    }
}
