//! Locking inputs: each is fetched through its connector, as `red exec` would fetch it, into
//! a private temporary directory; what arrived is measured and hashed, then removed. A local
//! file or directory is read where it is (its connector offers it instead of a copy), which is
//! all `--no-fetch` reads.
//!
//! An input that several batches share (the same connector, access block and listing) is
//! fetched once.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde_json::Value;

use super::{Error, listing};
use crate::connector::{self, ConnectorError, Received, content, copy};
use crate::execute::local::prepare::{self, Input};
use crate::fill::Filled;
use crate::plan::{Action, Plan};

/// What was recorded for one input.
#[derive(Debug, Clone, PartialEq)]
pub enum InputLock {
    /// A file: its `size` and `checksum` (`sha256$<hex>`).
    File {
        /// Bytes.
        size: u64,
        /// Lower-case hex.
        sha256: String,
    },
    /// A directory: its `listing`, every file with its size and checksum.
    Directory {
        /// The RED listing.
        listing: Value,
    },
    /// Left as written, and why.
    Unlocked {
        /// Why (`--no-fetch`, a mount that cannot be read here).
        reason: String,
    },
}

/// One input of one batch and its lock.
#[derive(Debug, Clone)]
pub struct LockedInput {
    /// `key` or `key:index`.
    pub name: String,
    /// The batch, in a file with `batches`.
    pub batch: Option<usize>,
    /// JSON pointer of the File or Directory object in the document.
    pub pointer: String,
    /// What was recorded.
    pub lock: InputLock,
}

/// One input to lock, with where it is in the document.
pub(super) struct Pending {
    input: Input,
    batch: Option<usize>,
    pointer: String,
}

/// Every input of `plan`, its connector found and its access block checked (all problems at
/// once, located).
///
/// The ssh inputs share one connector whose private directories (key file, askpass socket) are
/// made inside `scratch`: an interrupt that leaves the fetching thread behind in a connection
/// then leaves nothing behind once `scratch` is removed.
pub(super) fn pending(filled: &Filled, plan: &Plan, scratch: &Path) -> Result<Vec<Pending>, Error> {
    let several = filled.tree().root().get("batches").is_some();
    let mut prepared = prepare::batches(filled, plan, several, true).map_err(Error::Connectors)?;
    prepare::keep_ssh_files_in(&mut prepared, scratch);
    let mut pending = Vec::new();
    for (batch, planned) in prepared.into_iter().zip(&plan.batches) {
        for (input, planned_input) in batch.inputs.into_iter().zip(&planned.inputs) {
            pending.push(Pending {
                input,
                batch: several.then_some(planned.index),
                pointer: planned_input.pointer.clone(),
            });
        }
    }
    Ok(pending)
}

/// Lock every pending input, fetching into `scratch` (an empty private directory).
pub(super) fn lock_all(
    pending: Vec<Pending>,
    scratch: &Path,
    context: &connector::Context,
    fetch: bool,
) -> Result<Vec<LockedInput>, Error> {
    let mut done: HashMap<String, InputLock> = HashMap::new();
    let mut locked = Vec::with_capacity(pending.len());
    for Pending {
        input,
        batch: batch_index,
        pointer,
    } in pending
    {
        let key = format!(
            "{}\0{:?}\0{}\0{:?}",
            input.connector.command(),
            input.action,
            input.access.value(),
            input.listing.as_ref().map(|l| &l.0)
        );
        let lock = match done.get(&key) {
            Some(lock) => lock.clone(),
            None => {
                let holder = scratch.join(done.len().to_string());
                let lock =
                    lock_one(&input, &holder, context, fetch).map_err(|message| Error::Input {
                        name: input.name.clone(),
                        batch: batch_index,
                        message,
                    })?;
                copy::remove_any(&holder);
                done.insert(key, lock.clone());
                lock
            }
        };
        locked.push(LockedInput {
            name: input.name,
            batch: batch_index,
            pointer,
            lock,
        });
    }
    Ok(locked)
}

/// Fetch one input into `holder` (or read it where it is) and record it.
fn lock_one(
    input: &Input,
    holder: &Path,
    context: &connector::Context,
    fetch: bool,
) -> Result<InputLock, String> {
    let command = input.connector.command();
    let local = command == connector::LOCAL && input.action != Action::MountDir;
    if !fetch && !local {
        return Ok(InputLock::Unlocked {
            reason: format!("--no-fetch: `{command}` would have to transfer it"),
        });
    }
    fs::create_dir_all(holder).map_err(|e| format!("cannot create `{}`: {e}", holder.display()))?;
    let destination = holder.join("input");
    let failed = |error: ConnectorError| format!("`{command}` could not fetch it: {error}");
    let differs = |error: ConnectorError| format!("it is not what the file says: {error}");
    match input.action {
        Action::ReceiveFile => {
            let hashing = Arc::new(Hashing(Mutex::new(Some(content::StreamHash::new(
                content::needs_sha1(input.checksum.as_deref()),
            )))));
            let context = connector::Context {
                progress: Arc::clone(&hashing) as Arc<dyn connector::Progress>,
                ..context.clone()
            };
            let path = received(
                input
                    .connector
                    .receive_file(&input.access, &destination, &context),
                destination,
            )
            .map_err(failed)?;
            file_lock(&path, input.checksum.as_deref(), input.size, hashing.take()).map_err(differs)
        }
        Action::ReceiveDir => {
            let path = received(
                input.connector.receive_dir(
                    &input.access,
                    &destination,
                    input.listing.as_ref(),
                    context,
                ),
                destination,
            )
            .map_err(failed)?;
            directory(&path, input).map_err(differs)
        }
        Action::MountDir => {
            fs::create_dir_all(&destination)
                .map_err(|e| format!("cannot create `{}`: {e}", destination.display()))?;
            let mount = input
                .connector
                .mount_dir(&input.access, &destination, context)
                .map_err(failed)?;
            let listed = directory(&destination, input).map_err(differs);
            mount
                .unmount()
                .map_err(|e| format!("could not unmount it: {e}"))?;
            listed
        }
    }
}

/// Hashes a file as its connector writes it ([`connector::Progress::landed`]), so a fetched
/// file is never read a second time to lock it.
struct Hashing(Mutex<Option<content::StreamHash>>);

impl Hashing {
    fn take(&self) -> Option<content::StreamHash> {
        self.0.lock().ok().and_then(|mut hash| hash.take())
    }
}

impl connector::Progress for Hashing {
    fn advance(&self, _bytes: u64, _total: Option<u64>) {}

    fn landed(&self, offset: u64, data: &[u8]) {
        if let Ok(mut hash) = self.0.lock()
            && let Some(hash) = hash.as_mut()
        {
            hash.landed(offset, data);
        }
    }
}

/// A received file's lock, after checking it against the `checksum` and `size` the RED file
/// gives: from the hash made while it streamed in, or (a local file, a file an external
/// connector wrote itself) from reading it once.
fn file_lock(
    path: &Path,
    checksum: Option<&str>,
    size: Option<u64>,
    streamed: Option<content::StreamHash>,
) -> Result<InputLock, ConnectorError> {
    let size = content::check_regular(path, size)?;
    let hashes = match streamed.and_then(|hash| hash.finish(size)) {
        Some(hashes) => hashes,
        None => content::hash_file(path, content::needs_sha1(checksum))?,
    };
    if let Some(checksum) = checksum
        && let Err(mismatch) = content::compare(checksum, &hashes)?
    {
        return Err(ConnectorError::Content(format!(
            "`{}` has {mismatch}",
            path.display()
        )));
    }
    Ok(InputLock::File {
        size,
        sha256: hashes.sha256,
    })
}

/// Where a received input is: the destination, or the path its connector offers instead.
fn received(
    result: Result<Received, ConnectorError>,
    destination: PathBuf,
) -> Result<PathBuf, ConnectorError> {
    Ok(match result? {
        Received::Staged => destination,
        Received::Bind(path) => path,
    })
}

/// A directory input's listing, after checking it against the listing it has.
fn directory(path: &Path, input: &Input) -> Result<InputLock, ConnectorError> {
    if let Some(given) = &input.listing {
        content::verify_listing(path, given)?;
    }
    Ok(InputLock::Directory {
        listing: listing::of(path, input.listing.as_ref())?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connector::Progress as _;

    const HELLO_SHA256: &str = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";

    fn streamed(pieces: &[(u64, &[u8])]) -> Option<content::StreamHash> {
        let hashing = Hashing(Mutex::new(Some(content::StreamHash::new(false))));
        for (offset, data) in pieces {
            hashing.landed(*offset, data);
        }
        hashing.take()
    }

    #[test]
    fn a_streamed_file_is_locked_from_its_stream_not_read_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("input");
        // On disk "HELLO", streamed "hello": the lock is the stream's hash, so the file was
        // not read a second time.
        fs::write(&path, b"HELLO").unwrap();
        let lock = file_lock(&path, None, None, streamed(&[(0, b"he"), (2, b"llo")])).unwrap();
        assert!(
            matches!(&lock, InputLock::File { size: 5, sha256 } if sha256 == HELLO_SHA256),
            "{lock:?}"
        );
    }

    #[test]
    fn a_file_not_streamed_in_order_is_read_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("input");
        fs::write(&path, b"hello").unwrap();
        for hash in [None, streamed(&[(0, b"he"), (3, b"lo")])] {
            let lock = file_lock(&path, None, None, hash).unwrap();
            assert!(
                matches!(&lock, InputLock::File { sha256, .. } if sha256 == HELLO_SHA256),
                "{lock:?}"
            );
        }
    }

    #[test]
    fn a_declared_checksum_or_size_that_does_not_hold_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("input");
        fs::write(&path, b"hello").unwrap();
        let wrong = format!("sha256${}", "0".repeat(64));
        let error = file_lock(&path, Some(&wrong), None, streamed(&[(0, b"hello")])).unwrap_err();
        assert!(error.to_string().contains(&wrong), "{error}");
        let error = file_lock(&path, None, Some(4), None).unwrap_err();
        assert!(error.to_string().contains("the RED file says 4"), "{error}");
        let right = format!("sha256${HELLO_SHA256}");
        assert!(file_lock(&path, Some(&right), Some(5), streamed(&[(0, b"hello")])).is_ok());
    }
}
