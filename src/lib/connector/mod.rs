//! Connectors: how an input gets from where it lives into a run, and how an output gets from a
//! run to where it belongs.
//!
//! A RED file names a connector by its `command` (`red-connector-ssh`, `red-connector-http`, …)
//! and gives it an `access` block. The reference runs each connector as a separate Python
//! process inside the container, with the access block (secrets included) in a file there.
//! `red` runs connectors on the host, in its own process (docs/architecture.md, "Local
//! execution"): built-in ones
//! for the common commands, and the reference's CLI-1 protocol for any other command.
//!
//! The interface is synchronous on purpose: a transfer is blocking I/O that the executor runs on
//! a blocking thread, and the [`Context`] carries what a long transfer needs to stop early or
//! report progress. Every connector checks its access block first (the `check_*` methods, the
//! reference's `*-validate`), so a wrong field fails before any container or transfer starts,
//! and the error names the field; the caller turns the field's pointer into file:line:column.
//!
//! Modules: [`local`], [`http`] (http and http-json) and [`external`] (CLI-1) are connectors;
//! [`content`] checks what arrived, or is about to leave, against the RED file's `checksum`,
//! `size` and `listing`; [`copy`] copies on this machine without following links.
//!
//! Access blocks hold filled secrets. [`Access`] does not print them: its `Debug` masks every
//! value under a protected key, and errors carry field names, never values.

pub mod content;
pub mod copy;
pub mod external;
pub mod http;
pub mod local;
pub mod ssh;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::Value;

use crate::template::is_protected_key;

/// The command name of the built-in local connector (a file or directory on this machine).
pub const LOCAL: &str = "red-connector-local";
/// The command name of the reference's http connector.
pub const HTTP: &str = "red-connector-http";
/// The command name of the reference's http-json connector (JSON bodies only).
pub const HTTP_JSON: &str = "red-connector-http-json";
/// The command name of the reference's ssh connector (built in: SFTP over the system `ssh`).
pub const SSH: &str = "red-connector-ssh";

/// A filled `connector.access` block. Holds secrets: never printed as is.
#[derive(Clone)]
pub struct Access {
    value: Value,
}

impl Access {
    /// Wrap a filled access block.
    #[must_use]
    pub fn new(value: Value) -> Self {
        Self { value }
    }

    /// The block as JSON, secrets included (for connectors and the CLI-1 access file only).
    #[must_use]
    pub fn value(&self) -> &Value {
        &self.value
    }

    /// The block as an object, or an error at its root.
    ///
    /// # Errors
    /// When the block is not a mapping.
    pub fn object(&self) -> Result<&serde_json::Map<String, Value>, AccessError> {
        self.value
            .as_object()
            .ok_or_else(|| AccessError::new("", "the access block must be a mapping"))
    }

    /// A string field that must be present.
    ///
    /// # Errors
    /// When it is missing or not a string.
    pub fn required_str(&self, key: &str) -> Result<&str, AccessError> {
        match self.object()?.get(key) {
            Some(Value::String(text)) => Ok(text),
            Some(_) => Err(AccessError::field(key, "must be a string")),
            None => Err(AccessError::new(
                "",
                format!("the access block needs `{key}`"),
            )),
        }
    }

    /// A string field that may be absent.
    ///
    /// # Errors
    /// When it is present but not a string.
    pub fn optional_str(&self, key: &str) -> Result<Option<&str>, AccessError> {
        match self.object()?.get(key) {
            Some(Value::String(text)) => Ok(Some(text)),
            Some(Value::Null) | None => Ok(None),
            Some(_) => Err(AccessError::field(key, "must be a string")),
        }
    }

    /// A boolean field that may be absent.
    ///
    /// # Errors
    /// When it is present but not a boolean.
    pub fn optional_bool(&self, key: &str) -> Result<Option<bool>, AccessError> {
        match self.object()?.get(key) {
            Some(Value::Bool(flag)) => Ok(Some(*flag)),
            Some(Value::Null) | None => Ok(None),
            Some(_) => Err(AccessError::field(key, "must be `true` or `false`")),
        }
    }

    /// Refuse fields outside `allowed` (the reference's schemas forbid them too).
    ///
    /// # Errors
    /// At the first unknown field.
    pub fn only(&self, allowed: &[&str]) -> Result<(), AccessError> {
        for key in self.object()?.keys() {
            if !allowed.contains(&key.as_str()) {
                return Err(AccessError::field(key, "is not a field of this connector")
                    .hint(format!("the fields are {}", backticked(allowed))));
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Access({})", masked(&self.value, false))
    }
}

/// A copy of `value` with everything under a protected key replaced by `********`.
#[must_use]
pub fn masked(value: &Value, protected: bool) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), masked(v, protected || is_secret_key(k))))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(|v| masked(v, protected)).collect()),
        _ if protected => Value::String(crate::plan::MASK.into()),
        other => other.clone(),
    }
}

/// Whether a key's value is a secret in an access block: the protected keys, and a key's
/// `passphrase` (not protected in RED, but a secret all the same).
#[must_use]
pub fn is_secret_key(key: &str) -> bool {
    is_protected_key(key) || crate::template::normalize_key(key) == "passphrase"
}

fn backticked(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A wrong access block: which field (a JSON pointer below `access`, empty for the block
/// itself), what is wrong with it, and what to do. Never holds a value from the block.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct AccessError {
    /// JSON pointer below the access block (`/auth/username`), or empty.
    pub pointer: String,
    /// What is wrong.
    pub message: String,
    /// What to do about it.
    pub hint: Option<String>,
}

impl AccessError {
    /// An error at `pointer` (relative to the access block).
    #[must_use]
    pub fn new(pointer: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            pointer: pointer.into(),
            message: message.into(),
            hint: None,
        }
    }

    /// An error about the top-level field `key`: "`key` <problem>".
    #[must_use]
    pub fn field(key: &str, problem: &str) -> Self {
        Self::new(
            format!("/{}", crate::tree::escape_pointer_segment(key)),
            format!("`{key}` {problem}"),
        )
    }

    /// Add what to do.
    #[must_use]
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

/// What a connector is asked to do (for messages and for [`ConnectorError::Unsupported`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// Fetch one file.
    ReceiveFile,
    /// Fetch a directory.
    ReceiveDir,
    /// Mount a directory.
    MountDir,
    /// Deliver one file.
    SendFile,
    /// Deliver a directory.
    SendDir,
}

impl Operation {
    /// The reference's subcommand name (`receive-file`, …).
    #[must_use]
    pub fn subcommand(self) -> &'static str {
        match self {
            Self::ReceiveFile => "receive-file",
            Self::ReceiveDir => "receive-dir",
            Self::MountDir => "mount-dir",
            Self::SendFile => "send-file",
            Self::SendDir => "send-dir",
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.subcommand())
    }
}

/// Why a connector failed. Messages name paths, hosts and fields, never secret values.
#[derive(Debug, thiserror::Error)]
pub enum ConnectorError {
    /// The command is not a connector `red` knows or can find.
    #[error("no connector `{command}`")]
    Unknown {
        /// The `connector.command` of the file.
        command: String,
    },
    /// The connector exists but cannot do this.
    #[error("connector `{command}` cannot {operation}")]
    Unsupported {
        /// The connector.
        command: String,
        /// What was asked.
        operation: Operation,
    },
    /// The access block is wrong.
    #[error(transparent)]
    Access(#[from] AccessError),
    /// A local file operation failed.
    #[error("{what}")]
    Io {
        /// What was being done, with the path.
        what: String,
        /// The system's error.
        #[source]
        source: std::io::Error,
    },
    /// The remote side refused or failed (HTTP status, SFTP status, connector exit code).
    #[error("{0}")]
    Remote(String),
    /// The data arrived but is not what the RED file says (checksum, size, listing).
    #[error("{0}")]
    Content(String),
    /// The run is being cancelled.
    #[error("cancelled")]
    Cancelled,
}

impl ConnectorError {
    /// An I/O error with what was being done.
    #[must_use]
    pub fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            what: what.into(),
            source,
        }
    }
}

/// A RED `listing`: the entries a directory input or output must have, as written.
#[derive(Debug, Clone)]
pub struct Listing(pub Value);

/// How a received input is made visible to the container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    /// The connector wrote it at the destination path it was given (in the run directory).
    Staged,
    /// The connector wrote nothing: this host path is bind-mounted read-only instead (a local
    /// file or directory needs no copy).
    Bind(PathBuf),
}

impl Received {
    /// The outcome of a transfer into `destination`: [`Received::Staged`] when it worked;
    /// otherwise whatever part of it was written is removed, so nothing partial is left.
    ///
    /// # Errors
    /// The transfer's own error.
    pub fn staged_or_removed(
        result: Result<(), ConnectorError>,
        destination: &Path,
    ) -> Result<Self, ConnectorError> {
        if result.is_err() {
            copy::remove_any(destination);
        }
        result.map(|()| Self::Staged)
    }
}

/// A mounted directory; dropping it unmounts (errors are then only logged), [`Mounted::unmount`]
/// unmounts and reports.
pub trait Mounted: Send {
    /// Unmount now.
    ///
    /// # Errors
    /// When the mount cannot be removed.
    fn unmount(self: Box<Self>) -> Result<(), ConnectorError>;
}

/// Bytes moved, reported while a transfer runs.
pub trait Progress: Send + Sync {
    /// `bytes` more were moved; `total` is the size when known.
    fn advance(&self, bytes: u64, total: Option<u64>);

    /// `data` was written at `offset` of the file being received, in file order (an offset of
    /// 0 again means the transfer started over). A receiver that hashes what arrives sees every
    /// byte as it streams in, so the file is never read a second time for it; the default
    /// ignores it. Connectors that write a received file themselves call it.
    fn landed(&self, offset: u64, data: &[u8]) {
        let _ = (offset, data);
    }

    /// A warning about the transfer that does not fail it (extra entries beside a listing,
    /// links left out); the run shows it to the user.
    fn note(&self, message: &str) {
        let _ = message;
    }
}

/// A [`Progress`] that ignores everything.
#[derive(Debug, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn advance(&self, _bytes: u64, _total: Option<u64>) {}
}

/// What a transfer needs from the run: where relative paths start, a stop flag, progress.
#[derive(Clone)]
pub struct Context {
    /// Where relative local paths start (the RED file's directory).
    pub base_dir: PathBuf,
    /// Set when the run is cancelled; long transfers check it between chunks.
    pub stop: Arc<AtomicBool>,
    /// Where progress goes.
    pub progress: Arc<dyn Progress>,
    /// A transfer that moves less than [`STALL_MIN_BYTES`] in this long has stalled: the
    /// attempt fails (and may be tried again) instead of waiting on (`--stall-timeout`).
    pub stall: Duration,
}

/// The default of [`Context::stall`].
pub const DEFAULT_STALL_TIMEOUT: Duration = Duration::from_secs(30);

/// The least a transfer must move in every [`Context::stall`] period not to have stalled, so a
/// peer trickling a byte at a time cannot hold a run forever.
pub const STALL_MIN_BYTES: u64 = 1024;

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("base_dir", &self.base_dir)
            .field("stopped", &self.stopped())
            .finish_non_exhaustive()
    }
}

impl Context {
    /// A context with no progress and a fresh stop flag.
    #[must_use]
    pub fn new(base_dir: PathBuf) -> Self {
        Self {
            base_dir,
            stop: Arc::new(AtomicBool::new(false)),
            progress: Arc::new(NoProgress),
            stall: DEFAULT_STALL_TIMEOUT,
        }
    }

    /// Whether the run is being cancelled.
    #[must_use]
    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// [`ConnectorError::Cancelled`] once the run is being cancelled.
    ///
    /// # Errors
    /// When the stop flag is set.
    pub fn check_stop(&self) -> Result<(), ConnectorError> {
        if self.stopped() {
            Err(ConnectorError::Cancelled)
        } else {
            Ok(())
        }
    }

    /// A local path from an access block: absolute as is, relative from [`Self::base_dir`].
    #[must_use]
    pub fn local_path(&self, path: &str) -> PathBuf {
        let path = Path::new(path);
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.base_dir.join(path)
        }
    }
}

/// One connector. Every operation has a check of the access block (no I/O beyond what is
/// cheap and local) and the operation itself. The defaults refuse with
/// [`ConnectorError::Unsupported`], so a connector implements what it can.
///
/// Receive operations get a destination that does not exist yet, inside a private run
/// directory whose parent exists; send operations get a path inside the run's outputs.
pub trait Connector: Send + Sync {
    /// The command name RED files use for it.
    fn command(&self) -> &str;

    /// Refuse `operation` unless this connector implements it.
    ///
    /// # Errors
    /// [`ConnectorError::Unsupported`].
    fn unsupported(&self, operation: Operation) -> Result<(), ConnectorError> {
        Err(ConnectorError::Unsupported {
            command: self.command().to_owned(),
            operation,
        })
    }

    /// Check an access block for `operation` (the reference's `*-validate`).
    ///
    /// # Errors
    /// [`ConnectorError::Access`] naming the field, or `Unsupported`.
    fn check(
        &self,
        operation: Operation,
        access: &Access,
        listing: Option<&Listing>,
    ) -> Result<(), ConnectorError>;

    /// Fetch one file to `destination`.
    ///
    /// # Errors
    /// When the transfer fails or is cancelled.
    fn receive_file(
        &self,
        access: &Access,
        destination: &Path,
        context: &Context,
    ) -> Result<Received, ConnectorError> {
        let _ = (access, destination, context);
        self.unsupported(Operation::ReceiveFile)
            .map(|()| Received::Staged)
    }

    /// Fetch a directory to `destination` (created by the connector); with a listing, only the
    /// listed entries, and every listed entry must exist.
    ///
    /// # Errors
    /// When the transfer fails or is cancelled.
    fn receive_dir(
        &self,
        access: &Access,
        destination: &Path,
        listing: Option<&Listing>,
        context: &Context,
    ) -> Result<Received, ConnectorError> {
        let _ = (access, destination, listing, context);
        self.unsupported(Operation::ReceiveDir)
            .map(|()| Received::Staged)
    }

    /// Mount a directory at `mountpoint` (an existing empty directory) until the returned guard
    /// is dropped or unmounted.
    ///
    /// # Errors
    /// When mounting fails.
    fn mount_dir(
        &self,
        access: &Access,
        mountpoint: &Path,
        context: &Context,
    ) -> Result<Box<dyn Mounted>, ConnectorError> {
        let _ = (access, mountpoint, context);
        Err(ConnectorError::Unsupported {
            command: self.command().to_owned(),
            operation: Operation::MountDir,
        })
    }

    /// Deliver one file.
    ///
    /// # Errors
    /// When the transfer fails or is cancelled.
    fn send_file(
        &self,
        access: &Access,
        source: &Path,
        context: &Context,
    ) -> Result<(), ConnectorError> {
        let _ = (access, source, context);
        self.unsupported(Operation::SendFile)
    }

    /// Deliver a directory.
    ///
    /// # Errors
    /// When the transfer fails or is cancelled.
    fn send_dir(
        &self,
        access: &Access,
        source: &Path,
        listing: Option<&Listing>,
        context: &Context,
    ) -> Result<(), ConnectorError> {
        let _ = (access, source, listing, context);
        self.unsupported(Operation::SendDir)
    }
}

/// The connector a RED file's `command` names: a built-in one, else an external CLI-1
/// connector when a program of that name is on `PATH` (or the command is an absolute path to
/// one), else an error.
///
/// # Errors
/// [`ConnectorError::Unknown`].
pub fn lookup(command: &str) -> Result<Arc<dyn Connector>, ConnectorError> {
    match command {
        LOCAL => Ok(Arc::new(local::Local)),
        HTTP => Ok(Arc::new(http::Http::new())),
        HTTP_JSON => Ok(Arc::new(http::Http::json())),
        SSH => Ok(Arc::new(ssh::Ssh::new())),
        _ => Ok(Arc::new(external::External::lookup(command)?)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_masks_protected_values() {
        let access = Access::new(serde_json::json!({
            "url": "http://127.0.0.1/x",
            "auth": {"username": "u", "password": "canary-pw", "_token": "canary-t",
                     "passphrase": "canary-pp"},
        }));
        let shown = format!("{access:?}");
        assert!(!shown.contains("canary"), "{shown}");
        assert!(shown.contains("http://127.0.0.1/x"));
    }

    #[test]
    fn field_errors_name_the_field_not_the_value() {
        let access = Access::new(serde_json::json!({"path": 3, "extra": "secret-value"}));
        let error = access.required_str("path").unwrap_err();
        assert_eq!(error.pointer, "/path");
        let error = access.only(&["path"]).unwrap_err();
        assert_eq!(error.pointer, "/extra");
        assert!(!error.to_string().contains("secret-value"));
    }

    #[test]
    fn unknown_commands_are_refused() {
        assert!(matches!(
            lookup("no-such-connector"),
            Err(ConnectorError::Unknown { .. })
        ));
        assert_eq!(
            lookup(LOCAL)
                .map(|c| c.command().to_owned())
                .ok()
                .as_deref(),
            Some(LOCAL)
        );
        assert_eq!(
            lookup(HTTP_JSON)
                .map(|c| c.command().to_owned())
                .ok()
                .as_deref(),
            Some(HTTP_JSON)
        );
        // Not built in but on PATH: an external connector.
        assert_eq!(
            lookup("true")
                .map(|c| c.command().to_owned())
                .ok()
                .as_deref(),
            Some("true")
        );
    }
}
