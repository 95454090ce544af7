//! Step 2 of a batch: receive every input.
//!
//! Each input gets a numbered directory under the batch's `inputs/` and arrives there under the
//! basename of its container path, through its connector (`receive-file`, `receive-dir`, or
//! `mount-dir`, which mounts instead of copying). What arrived is then checked against what the
//! RED file describes (the reference's content check: a File's `checksum` and `size`, a
//! Directory's `listing`). Connectors block, so all of this runs on a blocking thread; the
//! cancellation flag in the connector context stops them.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::{BatchRun, Failure, basename, make_dir};
use crate::connector::{self, ConnectorError, Mounted, Received, content, copy};
use crate::execute::docker::Bind;
use crate::execute::local::prepare::Input;
use crate::execute::local::report::{Event, InputReport, Step, TransferCounter};
use crate::execute::local::{Worker, blocking_until};
use crate::plan::Action;

/// What a staged input left behind: the bind and, for a mount, its guard.
pub(super) struct Staged {
    pub(super) bind: Bind,
    mount: Option<Box<dyn Mounted>>,
    report: InputReport,
}

impl BatchRun<'_, '_> {
    /// Receive every input on a blocking thread, in declaration order; the first failure stops
    /// (mounts made so far are undone when what was staged is dropped).
    pub(super) async fn stage(&mut self, inputs: Vec<Input>) -> Result<Vec<Staged>, Failure> {
        let started = Instant::now();
        let worker = self.shared.blocking_part();
        let (index, dir) = (self.index, self.dirs.inputs.clone());
        let staged = blocking_until(self.shared.cancellation, move || {
            let mut warnings = Vec::new();
            let staged = stage_inputs(index, inputs, &dir, &worker, &mut warnings);
            (staged, warnings)
        })
        .await;
        self.report.timings.inputs = started.elapsed().as_secs_f64();
        let staged = match staged {
            Ok((staged, warnings)) => {
                self.report.warnings.extend(warnings);
                staged?
            }
            Err(message) => return Err(Failure::new(Step::Inputs, message)),
        };
        self.report.inputs = staged.iter().map(|s| s.report.clone()).collect();
        Ok(staged)
    }
}

/// Receive every input, in declaration order; the first failure stops (mounts made so far are
/// undone when `staged` is dropped).
fn stage_inputs(
    batch_index: usize,
    inputs: Vec<Input>,
    dir: &Path,
    worker: &Worker,
    warnings: &mut Vec<String>,
) -> Result<Vec<Staged>, Failure> {
    let mut staged: Vec<Staged> = Vec::with_capacity(inputs.len());
    for (n, input) in inputs.into_iter().enumerate() {
        let holder = dir.join(n.to_string());
        staged.push(stage_one(batch_index, &input, &holder, worker, warnings)?);
    }
    Ok(staged)
}

/// Receive one input into `holder`, check it, and announce it.
fn stage_one(
    batch_index: usize,
    input: &Input,
    holder: &Path,
    worker: &Worker,
    warnings: &mut Vec<String>,
) -> Result<Staged, Failure> {
    let started = Instant::now();
    make_dir(holder, 0o755).map_err(|m| Failure::new(Step::Inputs, m))?;
    let destination = holder.join(basename(&input.target));
    let counter = Arc::new(TransferCounter {
        events: Arc::clone(&worker.events),
        batch: batch_index,
        name: input.name.clone(),
        bytes: AtomicU64::new(0),
        hash: Mutex::new(
            (input.action == Action::ReceiveFile)
                .then(|| content::StreamHash::new(content::needs_sha1(input.checksum.as_deref()))),
        ),
    });
    let context = &connector::Context {
        progress: Arc::clone(&counter) as Arc<dyn connector::Progress>,
        ..worker.connector_context.clone()
    };
    let (host, mount) = receive(input, destination, context)?;
    let sha256 = verify(input, &host, counter.take_hash(), warnings)?;
    let report = InputReport {
        name: input.name.clone(),
        connector: input.connector.command().to_owned(),
        path: input.target.clone(),
        action: action_name(input.action),
        bytes: match input.action {
            Action::MountDir => counter.bytes.load(Ordering::Relaxed),
            Action::ReceiveFile | Action::ReceiveDir => copy::measure(&host).bytes,
        },
        transferred: counter.bytes.load(Ordering::Relaxed),
        sha256,
        seconds: started.elapsed().as_secs_f64(),
    };
    worker.events.emit(&Event::InputStaged {
        batch: batch_index,
        input: report.clone(),
    });
    Ok(Staged {
        bind: Bind {
            host,
            container: input.target.clone(),
            read_only: true,
        },
        mount,
        report,
    })
}

/// Let the input's connector put it at `destination` (or mount it there); returns the host path
/// to bind (a connector may offer a path of its own instead of a copy) and a mount's guard.
fn receive(
    input: &Input,
    destination: PathBuf,
    context: &connector::Context,
) -> Result<(PathBuf, Option<Box<dyn Mounted>>), Failure> {
    let fail = |error: ConnectorError| {
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
    let connector = &input.connector;
    let received = match input.action {
        Action::ReceiveFile => connector.receive_file(&input.access, &destination, context),
        Action::ReceiveDir => {
            connector.receive_dir(&input.access, &destination, input.listing.as_ref(), context)
        }
        Action::MountDir => {
            make_dir(&destination, 0o755).map_err(|m| Failure::new(Step::Inputs, m))?;
            let guard = connector
                .mount_dir(&input.access, &destination, context)
                .map_err(fail)?;
            return Ok((destination, Some(guard)));
        }
    };
    Ok(match received.map_err(fail)? {
        Received::Staged => (destination, None),
        Received::Bind(path) => (path, None),
    })
}

/// What arrived must be what the RED file describes (the reference's content check); entries
/// of a directory its listing does not name are only a warning. Returns a File input's SHA-256.
fn verify(
    input: &Input,
    host: &Path,
    streamed: Option<content::StreamHash>,
    warnings: &mut Vec<String>,
) -> Result<Option<String>, Failure> {
    let content_error = |error: ConnectorError| {
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
        return verify_file(input, host, streamed)
            .map(Some)
            .map_err(content_error);
    }
    if !fs::metadata(host).is_ok_and(|m| m.is_dir()) {
        return Err(content_error(ConnectorError::Content(
            "no directory arrived".into(),
        )));
    }
    if let Some(listing) = &input.listing {
        let extra = content::verify_listing(host, listing).map_err(content_error)?;
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
    Ok(None)
}

/// A File input's size and checksum, from the hash made while it streamed in. A file the
/// connector did not stream through `red` (a local bind, an external connector, which writes it
/// itself) is read once here instead. Returns its SHA-256.
fn verify_file(
    input: &Input,
    host: &Path,
    streamed: Option<content::StreamHash>,
) -> Result<String, ConnectorError> {
    let len = content::check_regular(host, input.size)?;
    let hashes = match streamed.and_then(|hash| hash.finish(len)) {
        Some(hashes) => hashes,
        None => content::hash_file(host, content::needs_sha1(input.checksum.as_deref()))?,
    };
    if let Some(checksum) = &input.checksum
        && let Err(mismatch) = content::compare(checksum, &hashes)?
    {
        let at = input
            .checksum_at
            .as_ref()
            .map_or_else(String::new, |at| format!(" (at {at})"));
        return Err(ConnectorError::Content(format!(
            "it arrived with {mismatch}{at}; nothing was run"
        )));
    }
    Ok(hashes.sha256)
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
pub(super) fn unmount_all(staged: &mut [Staged], warnings: &mut Vec<String>) {
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

fn action_name(action: Action) -> &'static str {
    match action {
        Action::ReceiveFile => "receive-file",
        Action::ReceiveDir => "receive-dir",
        Action::MountDir => "mount-dir",
    }
}
