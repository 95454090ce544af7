//! Step 5 of a batch: deliver the outputs found, and keep the stream files the tool named.
//!
//! An output goes where the plan says: copied into the outputs directory under its basename
//! (a file written whole or not at all), sent by its output connector, or only checked. Files
//! get their size and SHA-256 in the report; every delivery is announced as it happens, and the
//! first failure stops the rest. All of it blocks, so it runs on a blocking thread with
//! everything it needs owned by an [`Outputs`].

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Instant;

use super::container::Streams;
use super::{BatchRun, Failure, basename};
use crate::connector::copy::{self, place};
use crate::connector::{self, ConnectorError};
use crate::execute::local::prepare::{Batch, Delivery, Output};
use crate::execute::local::report::{Event, OutputReport, Step, TransferCounter};
use crate::execute::local::{Worker, blocking_until};
use crate::plan::outputs::{Collected, EntryKind};

/// The outputs step of one batch: its outputs and where they are, owned, so that the step can
/// run on a blocking thread.
pub(super) struct Outputs {
    /// The batch, without its inputs (they were staged).
    pub(super) batch: Batch,
    /// The container's working directory, where the outputs are found.
    pub(super) work: PathBuf,
    pub(super) streams: Streams,
    /// The batch's outputs directory.
    pub(super) out_dir: PathBuf,
    worker: Worker,
}

impl BatchRun<'_, '_> {
    /// Find and deliver every output, then keep the named stream files, on a blocking thread.
    pub(super) async fn collect_and_deliver(&mut self, outputs: Outputs) -> Result<(), Failure> {
        let started = Instant::now();
        let delivered = blocking_until(self.shared.cancellation, move || {
            let mut warnings = Vec::new();
            let result = outputs.deliver_all(&mut warnings);
            outputs.keep_named_streams(&mut warnings);
            (result, warnings)
        })
        .await;
        self.report.timings.outputs = started.elapsed().as_secs_f64();
        match delivered {
            Ok((result, warnings)) => {
                self.report.warnings.extend(warnings);
                result.map(|outputs| self.report.outputs = outputs)
            }
            Err(message) => Err(Failure::new(Step::Delivery, message)),
        }
    }
}

impl Outputs {
    pub(super) fn new(batch: Batch, run: &BatchRun<'_, '_>, streams: Streams) -> Self {
        Self {
            batch,
            work: run.dirs.work.clone(),
            streams,
            out_dir: run.out_dir.clone(),
            worker: run.shared.blocking_part(),
        }
    }

    /// Find every output by its glob, then deliver it; the first failure stops.
    fn deliver_all(&self, warnings: &mut Vec<String>) -> Result<Vec<OutputReport>, Failure> {
        let collected = self.find()?;
        let real_work = fs::canonicalize(&self.work).unwrap_or_else(|_| self.work.clone());
        let mut reports = Vec::with_capacity(collected.len());
        for (output, found) in self.batch.outputs.iter().zip(collected) {
            let report = match &found.path {
                Some(relative) => self.deliver(output, &found, relative, &real_work)?,
                None => missing(output),
            };
            if !report.skipped.is_empty() {
                warnings.push(format!(
                    "output `{}`: {} link(s) or special file(s) not copied: {}",
                    report.name,
                    report.skipped.len(),
                    report.skipped.join(", ")
                ));
            }
            if found.path.is_some() {
                self.worker.events.emit(&Event::OutputDelivered {
                    batch: self.batch.plan.index,
                    output: report.clone(),
                });
            }
            reports.push(report);
        }
        Ok(reports)
    }

    /// Deliver one output found at `relative` where its plan says, and report it.
    fn deliver(
        &self,
        output: &Output,
        found: &Collected,
        relative: &str,
        real_work: &Path,
    ) -> Result<OutputReport, Failure> {
        let name = &output.plan.name;
        let host = self.locate(&output.plan, relative, real_work)?;
        let shown_path = match relative {
            "<stdout>" | "<stderr>" => None,
            _ => Some(relative.to_owned()),
        };
        let (size, sha256, files) = if found.kind == EntryKind::File {
            let (size, digest) = copy::sha256(&host)
                .map_err(|e| Failure::new(Step::Outputs, format!("output `{name}`: {e}")))?;
            (Some(size), Some(digest), None)
        } else {
            // Figures also for a directory that is sent or discarded, not only one delivered
            // here (which the delivery counts again, as it moved it).
            let measured = copy::measure(&host);
            (Some(measured.bytes), None, Some(measured.files))
        };
        let mut report = OutputReport {
            name: name.clone(),
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
        let context = &connector::Context {
            progress: Arc::new(TransferCounter {
                events: Arc::clone(&self.worker.events),
                batch: self.batch.plan.index,
                name: name.clone(),
                bytes: AtomicU64::new(0),
                hash: std::sync::Mutex::new(None),
            }),
            ..self.worker.connector_context.clone()
        };
        let failed = |error: ConnectorError| {
            Failure::new(
                Step::Delivery,
                format!("output `{name}` could not be delivered: {error}"),
            )
        };
        match &output.delivery {
            Delivery::Discarded => report.delivered = "discarded (no output connector)".into(),
            Delivery::Directory => {
                let captured = shown_path.is_none();
                self.copy_into_outputs_dir(
                    &host,
                    relative,
                    captured,
                    found.kind,
                    context,
                    &mut report,
                )
                .map_err(failed)?;
            }
            Delivery::Connector {
                connector,
                access,
                listing,
            } => {
                let action = if found.kind == EntryKind::Directory {
                    connector
                        .send_dir(access, &host, listing.as_ref(), context)
                        .map_err(failed)?;
                    "send-dir"
                } else {
                    connector
                        .send_file(access, &host, context)
                        .map_err(failed)?;
                    "send-file"
                };
                report.delivered = format!("{} {action}", connector.command());
            }
        }
        Ok(report)
    }

    /// Copy an output into the outputs directory under its basename (`stdout.txt` and
    /// `stderr.txt` for captured streams).
    fn copy_into_outputs_dir(
        &self,
        host: &Path,
        relative: &str,
        captured: bool,
        kind: EntryKind,
        context: &connector::Context,
        report: &mut OutputReport,
    ) -> Result<(), ConnectorError> {
        let name = match relative {
            "<stdout>" => "stdout.txt",
            "<stderr>" => "stderr.txt",
            _ => basename(relative),
        };
        let destination = self.out_dir.join(name);
        // Streams red captured are kept in the records too: copy, do not move.
        let copied = if captured {
            let partial = self.out_dir.join(format!(".red-partial-{name}"));
            copy::remove_any(&partial);
            copy::copy_file(host, &partial, context).and_then(|bytes| {
                fs::rename(&partial, &destination)
                    .map(|()| copy::Copied {
                        files: 1,
                        bytes,
                        skipped: Vec::new(),
                    })
                    .map_err(|e| ConnectorError::io("cannot write", e))
            })?
        } else {
            place(host, &destination, context)?
        };
        if kind == EntryKind::Directory {
            report.size = Some(copied.bytes);
            report.files = Some(copied.files);
        }
        report.skipped = copied
            .skipped
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        report.delivered = destination.display().to_string();
        Ok(())
    }

    /// Copy the stream files a tool named (`stdout: out.txt`) into the output directory, as the
    /// reference does, unless an output already put them there.
    pub(super) fn keep_named_streams(&self, warnings: &mut Vec<String>) {
        for relative in self.named_streams() {
            let source = self.work.join(relative);
            let destination = self.out_dir.join(basename(relative));
            if fs::symlink_metadata(&destination).is_ok() || fs::symlink_metadata(&source).is_err()
            {
                continue;
            }
            if let Err(error) =
                copy::copy_file(&source, &destination, &self.worker.connector_context)
            {
                warnings.push(format!("`{relative}` was not kept: {error}"));
            }
        }
    }
}

/// The report of an optional output that was not there.
fn missing(output: &Output) -> OutputReport {
    OutputReport {
        name: output.plan.name.clone(),
        class: output.plan.class,
        path: None,
        size: None,
        sha256: None,
        files: None,
        delivered: "missing (optional)".into(),
        skipped: Vec::new(),
    }
}
