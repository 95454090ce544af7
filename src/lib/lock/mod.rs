//! `red lock`: a copy of a RED file that says exactly what it runs with, so that a rerun can
//! show it ran the same thing.
//!
//! The image reference is pinned to a digest ([`image`]), every File input gets the `size`
//! and `checksum` of what its connector delivers now, and every Directory input a `listing`
//! with every file's size and checksum ([`inputs`], [`listing`]). `red exec` already refuses an
//! input that differs from these (the content check of each batch's inputs step), so a locked
//! file is verified on every run without a new mechanism.
//!
//! Credentials needed to fetch come from the filled document; what is written is the template
//! as the user wrote it ([`document`]), so its `{{templates}}` stay templates and the locked
//! file is as publishable as the original.
//!
//! Listings are written inline (RED 9's `listing` of a Directory input) rather than to a side
//! file: RED has no key that could name a side file other than free-text `doc`, the validators
//! would not read one, and an inline listing is checked by every `red exec` of the locked file.

mod document;
mod image;
mod inputs;
mod listing;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use crate::connector;
use crate::diagnostic::Diagnostic;
use crate::execute::docker::{Bollard, Cancellation};
use crate::execute::local::{RunDir, blocking_until};
use crate::fill::Filled;
use crate::plan::Plan;

pub use document::locked_text;
pub use image::{ImagePin, pin};
pub use inputs::{InputLock, LockedInput};

/// How to lock.
#[derive(Debug, Clone)]
pub struct Options {
    /// Fetch inputs through their connectors; `false` (`--no-fetch`) reads local ones only.
    pub fetch: bool,
    /// Where relative local paths start (the RED file's directory).
    pub base_dir: PathBuf,
    /// When a transfer has stalled (see [`connector::Context::stall`]).
    pub stall: Duration,
}

/// What locking found: the pin, every input's lock, and what the user should know.
#[derive(Debug, Clone)]
pub struct Locked {
    /// The image's pin (`None` when the file runs no Docker image).
    pub image: Option<ImagePin>,
    /// Every input of every batch.
    pub inputs: Vec<LockedInput>,
    /// Images and inputs left as written, and why; a content id used as a pin.
    pub notes: Vec<String>,
}

/// Why a file could not be locked.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Connectors that do not exist or access blocks they refuse.
    #[error("{} connector problem(s)", .0.len())]
    Connectors(Vec<Diagnostic>),
    /// An input could not be fetched, or is not what the file already says it is.
    #[error("input `{name}`{}: {message}", batch.map(|b| format!(" of batch {b}")).unwrap_or_default())]
    Input {
        /// `key` or `key:index`.
        name: String,
        /// Its batch, in a file with `batches`.
        batch: Option<usize>,
        /// What happened.
        message: String,
    },
    /// The private scratch directory could not be made.
    #[error("cannot create the scratch directory `{path}`: {source}")]
    Scratch {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The thread that fetched the inputs failed (a bug, not a problem of the file).
    #[error("locking the inputs failed: {0}")]
    Worker(String),
    /// SIGINT, SIGTERM or SIGHUP.
    #[error("interrupted")]
    Interrupted,
}

/// Lock `filled`: pin its image (never pulling) and record its inputs.
///
/// # Errors
/// See [`Error`]; an image that cannot be pinned is a note, not an error.
pub async fn run(
    filled: &Filled,
    plan: &Plan,
    options: &Options,
    cancellation: &Cancellation,
) -> Result<Locked, Error> {
    let mut notes = Vec::new();
    let image = match plan.batches.first().map(|b| &b.container) {
        Some(container) if container.engine == "docker" => {
            Some(pin_image(&container.image, cancellation).await?)
        }
        _ => None,
    };
    let scratch = scratch()?;
    let pending = inputs::pending(filled, plan, &scratch.path)?;
    let stop = Arc::new(AtomicBool::new(false));
    let context = connector::Context {
        stall: options.stall,
        stop: Arc::clone(&stop),
        ..connector::Context::new(options.base_dir.clone())
    };
    let watcher = cancellation.mirror_into(stop);
    let (fetch, path) = (options.fetch, scratch.path.clone());
    let locked = blocking_until(cancellation, move || {
        inputs::lock_all(pending, &path, &context, fetch)
    })
    .await;
    watcher.abort();
    if cancellation.is_cancelled() {
        return Err(Error::Interrupted);
    }
    let locked = locked.map_err(Error::Worker)??;
    notes.extend(unlocked_notes(&locked));
    if let Some(note) = image.as_ref().and_then(|pin| pin.note.clone()) {
        notes.push(note);
    }
    Ok(Locked {
        image,
        inputs: locked,
        notes,
    })
}

/// The image's pin from the local daemon; a daemon that cannot be reached leaves it as written.
async fn pin_image(image: &str, cancellation: &Cancellation) -> Result<ImagePin, Error> {
    let unpinned = |why: String| ImagePin {
        reference: image.to_owned(),
        note: Some(format!("image `{image}` was left unpinned: {why}")),
    };
    let api = match cancellation.unless(Bollard::connect()).await {
        None => return Err(Error::Interrupted),
        Some(Ok(api)) => api,
        Some(Err(error)) => return Ok(unpinned(error.to_string())),
    };
    match cancellation.unless(api.image_ids(image)).await {
        None => Err(Error::Interrupted),
        Some(Ok(identity)) => Ok(pin(image, identity.as_ref())),
        Some(Err(error)) => Ok(unpinned(error.to_string())),
    }
}

/// One note per input left unlocked and reason, naming how many batches it concerns.
fn unlocked_notes(locked: &[LockedInput]) -> Vec<String> {
    let mut counted: Vec<(&str, &str, usize)> = Vec::new();
    for input in locked {
        let InputLock::Unlocked { reason } = &input.lock else {
            continue;
        };
        match counted
            .iter_mut()
            .find(|(name, why, _)| *name == input.name && *why == reason)
        {
            Some(entry) => entry.2 += 1,
            None => counted.push((&input.name, reason, 1)),
        }
    }
    counted
        .into_iter()
        .map(|(name, reason, count)| {
            let batches = if count > 1 {
                format!(" ({count} batches)")
            } else {
                String::new()
            };
            format!("input `{name}`{batches} was left unlocked: {reason}")
        })
        .collect()
}

/// A private directory (mode 0700) that fetched inputs pass through. It is removed as a run's
/// directory is ([`RunDir`]): never while something is still mounted inside it, which can be the
/// case when an interrupt leaves the fetching thread behind in the middle of a mount.
fn scratch() -> Result<RunDir, Error> {
    // A short name: the ssh connector's askpass socket is made inside, and a socket's path
    // must fit in 108 bytes.
    let id = uuid::Uuid::new_v4().as_u64_pair().0;
    let path = std::env::temp_dir().join(format!("red-lock-{id:016x}"));
    fs::create_dir(&path)
        .and_then(|()| fs::set_permissions(&path, fs::Permissions::from_mode(0o700)))
        .map_err(|source| Error::Scratch {
            path: path.clone(),
            source,
        })?;
    Ok(RunDir { path })
}
