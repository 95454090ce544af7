//! `red-connector-ssh`, built in: files and directories over SFTP through the system `ssh`.
//!
//! Access-compatible with the reference red-connector-ssh 1.3 (see `access.rs`), with what it
//! lacks: host keys are verified (known_hosts or a pinned `hostKey`), the port is honoured with
//! a key, keys of every type work (ed25519, ecdsa, rsa), and no secret reaches a command line.
//! A directory received without a listing lands at the destination itself (the reference's
//! `scp -r` nests it one level deeper); with a listing, every listed entry must exist and extra
//! remote entries are reported as notes.
//!
//! One connection per host, port, user and credentials is kept for the life of the connector
//! object (one run), and shared by the parallel transfers of a directory's files. Transient
//! failures (refused or broken connections, timeouts) are retried a few times on a new
//! connection; refusals (host key, credentials) are not.

mod access;
mod tree;

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::{
    Access, Connector, ConnectorError, Context, Listing, Mounted, Operation, Received, SSH,
};
use crate::mount::{self, Remote as _, RemoteError, sftp::SftpRemote};
use crate::sftp::{self, Session, transfer};
use crate::ssh::{self, Auth, Connection, Target};
use access::Settings;

/// Attempts per operation when the network fails (the first try included).
const ATTEMPTS: u32 = 3;
/// Files of a directory moved at once (all over one connection).
const PARALLEL_FILES: usize = 8;

/// The ssh connector. Keep one per run: it holds the connections.
pub struct Ssh {
    pool: Mutex<HashMap<String, Arc<Connection>>>,
    askpass_program: Option<PathBuf>,
    known_hosts: Option<PathBuf>,
    scratch: Option<PathBuf>,
}

impl std::fmt::Debug for Ssh {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ssh")
            .field("askpass_program", &self.askpass_program)
            .field("known_hosts", &self.known_hosts)
            .finish_non_exhaustive()
    }
}

/// A checked remote directory, ready to mount.
#[derive(Debug)]
pub struct MountSource {
    remote: SftpRemote,
    /// The directory's absolute path on the remote.
    pub root: String,
    /// Whether the access block asked for a writable mount (`writable: true`).
    pub writable: bool,
    /// `user@host:port`, for messages and the mount table.
    pub label: String,
}

impl MountSource {
    /// Mount the directory at `mountpoint` (its `source` in the mount table is set here).
    ///
    /// # Errors
    /// When FUSE refuses; the message carries every cause.
    pub fn mount(
        mut self,
        mountpoint: &Path,
        options: mount::Options,
    ) -> Result<mount::MountGuard, ConnectorError> {
        self.remote.add_lanes(options.connections);
        let options = mount::Options {
            source: format!("red:{}:{}", self.label, self.root),
            ..options
        };
        mount::mount(Arc::new(self.remote), &self.root, mountpoint, options).map_err(|e| {
            let mut text = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(cause) = source {
                text.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            ConnectorError::Remote(text)
        })
    }
}

impl Default for Ssh {
    fn default() -> Self {
        Self::new()
    }
}

impl Ssh {
    /// A connector with no connections yet; the askpass helper is this process's executable
    /// and host keys are checked against the user's known_hosts.
    #[must_use]
    pub fn new() -> Self {
        Self {
            pool: Mutex::new(HashMap::new()),
            askpass_program: None,
            known_hosts: None,
            scratch: None,
        }
    }

    /// Use `program` (a `red` binary) as the askpass helper: for tests, whose own executable
    /// is the test harness.
    #[must_use]
    pub fn with_askpass_program(mut self, program: PathBuf) -> Self {
        self.askpass_program = Some(program);
        self
    }

    /// Check host keys against `file` instead of the user's known_hosts (for tests; a pinned
    /// `hostKey` still wins).
    #[must_use]
    pub fn with_known_hosts(mut self, file: PathBuf) -> Self {
        self.known_hosts = Some(file);
        self
    }

    /// Make the short-lived private directories (key file, askpass socket) under `dir`
    /// instead of the system's temporary directory.
    #[must_use]
    pub fn with_scratch_dir(mut self, dir: PathBuf) -> Self {
        self.scratch = Some(dir);
        self
    }

    /// Where an access block for `operation` connects, and its remote path (`~/` removed):
    /// for the SSHFS mount, which builds on the same checks and connections.
    ///
    /// # Errors
    /// [`ConnectorError::Access`] naming the field.
    pub fn target(
        &self,
        access: &Access,
        operation: Operation,
    ) -> Result<(Target, String), ConnectorError> {
        let Settings { target, path } = self.settings(access, operation)?;
        Ok((target, path))
    }

    /// A working connection to `target` from this connector's pool (opened when needed, with
    /// the same retries as the transfers).
    ///
    /// # Errors
    /// When the connection cannot be made (the message says why and what to do).
    pub fn connect(
        &self,
        target: &Target,
        context: &Context,
    ) -> Result<Arc<Connection>, ConnectorError> {
        self.with_session(target, context, |_| Ok(()))?;
        self.connection(target)
            .map_err(|e| ConnectorError::Remote(e.to_string()))
    }

    /// The remote directory an access block's `dirPath` names, over a pooled connection and
    /// checked to be a directory: what `mount: true` inputs and `red mount` serve.
    ///
    /// # Errors
    /// A wrong access block, a failed connection, or a path that is not a directory.
    pub fn mount_source(
        &self,
        access: &Access,
        context: &Context,
    ) -> Result<MountSource, ConnectorError> {
        let Settings { target, path } = self.settings(access, Operation::MountDir)?;
        let writable = access.optional_bool("writable")?.unwrap_or(false);
        let connection = self.connect(&target, context)?;
        let label = target.label();
        let remote = SftpRemote::new(target, connection);
        let failed = |e: RemoteError| ConnectorError::Remote(format!("`{path}` on `{label}`: {e}"));
        let root = remote.absolute(&path).map_err(failed)?;
        if remote.stat(&root).map_err(failed)?.kind != mount::Kind::Directory {
            return Err(ConnectorError::Content(format!(
                "`{path}` on `{label}` is not a directory"
            )));
        }
        Ok(MountSource {
            remote,
            root,
            writable,
            label,
        })
    }

    /// The number of connections held.
    #[must_use]
    pub fn connections(&self) -> usize {
        self.pool().len()
    }

    fn pool(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Connection>>> {
        self.pool.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn settings(&self, access: &Access, operation: Operation) -> Result<Settings, ConnectorError> {
        let mut settings = access::settings(access, operation)?;
        settings
            .target
            .askpass_program
            .clone_from(&self.askpass_program);
        settings.target.known_hosts.clone_from(&self.known_hosts);
        settings.target.scratch.clone_from(&self.scratch);
        Ok(settings)
    }

    /// A working connection to `target`, from the pool or new.
    fn connection(&self, target: &Target) -> Result<Arc<Connection>, ssh::Error> {
        let key = pool_key(target);
        if let Some(connection) = self.pool().get(&key).filter(|c| c.is_alive()) {
            return Ok(Arc::clone(connection));
        }
        let connection = Arc::new(Connection::open(target)?);
        self.pool().insert(key, Arc::clone(&connection));
        Ok(connection)
    }

    fn forget(&self, target: &Target) {
        self.pool().remove(&pool_key(target));
    }

    /// Run `work` on a session to `target`, again on a new connection when the network fails.
    fn with_session<T>(
        &self,
        target: &Target,
        context: &Context,
        work: impl Fn(&Session) -> Result<T, ConnectorError>,
    ) -> Result<T, ConnectorError> {
        let mut attempt = 1;
        loop {
            context.check_stop()?;
            let result = self
                .connection(target)
                .map_err(Failure::Ssh)
                .and_then(|connection| work(connection.session()).map_err(Failure::Work));
            let error = match result {
                Ok(value) => return Ok(value),
                Err(error) => error,
            };
            if attempt >= ATTEMPTS || !error.is_transient() || context.stopped() {
                return Err(error.into_connector());
            }
            self.forget(target);
            std::thread::sleep(Duration::from_millis(500 << attempt));
            attempt += 1;
        }
    }
}

/// A failure inside [`Ssh::with_session`], before it is known whether to retry.
enum Failure {
    Ssh(ssh::Error),
    Work(ConnectorError),
}

impl Failure {
    fn is_transient(&self) -> bool {
        match self {
            Self::Ssh(error) => error.is_transient(),
            Self::Work(ConnectorError::Remote(text)) => text.starts_with(BROKEN),
            Self::Work(_) => false,
        }
    }

    fn into_connector(self) -> ConnectorError {
        match self {
            Self::Ssh(error) => ConnectorError::Remote(error.to_string()),
            Self::Work(error) => error,
        }
    }
}

/// How a connection-level SFTP failure starts its message (so it is retried).
const BROKEN: &str = "the connection failed: ";

/// An SFTP error as a connector error naming the host.
fn remote(target: &Target, error: sftp::Error) -> ConnectorError {
    match error {
        sftp::Error::Cancelled => ConnectorError::Cancelled,
        error if error.is_connection() => {
            ConnectorError::Remote(format!("{BROKEN}{}: {error}", target.label()))
        }
        sftp::Error::Local(what) => ConnectorError::Io {
            what,
            source: std::io::Error::other("local file"),
        },
        error => ConnectorError::Remote(format!("{}: {error}", target.label())),
    }
}

/// The pool key: host, port, user and a digest of the credentials and pinned key (two blocks
/// for the same login with different keys get different connections).
fn pool_key(target: &Target) -> String {
    let mut digest = Sha256::new();
    match &target.auth {
        Auth::Default => digest.update(b"default"),
        Auth::Password(password) => {
            digest.update(b"password\0");
            digest.update(password.expose());
        }
        Auth::Key {
            private_key,
            passphrase,
        } => {
            digest.update(b"key\0");
            digest.update(private_key.expose());
            digest.update(b"\0");
            digest.update(passphrase.as_ref().map(|p| p.expose()).unwrap_or_default());
        }
    }
    digest.update(b"\0");
    digest.update(target.host_key.as_deref().unwrap_or_default());
    digest.update(b"\0");
    digest.update(target.ciphers.as_deref().unwrap_or_default());
    let digest = digest.finalize();
    let short: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("{}#{short}", target.label())
}

/// Join a remote directory and a name.
fn join(dir: &str, name: &str) -> String {
    match dir {
        "" | "." => name.to_owned(),
        "/" => format!("/{name}"),
        _ => format!("{}/{name}", dir.trim_end_matches('/')),
    }
}

/// The parent of a remote path, if it has one worth creating.
fn parent(path: &str) -> Option<&str> {
    let trimmed = path.trim_end_matches('/');
    let (parent, _) = trimmed.rsplit_once('/')?;
    if parent.is_empty() {
        Some("/")
    } else {
        Some(parent)
    }
}

/// Create the remote directory `path` and its missing parents.
fn make_dirs(session: &Session, path: &str) -> Result<(), sftp::Error> {
    match session.stat(path) {
        Ok(attrs) if attrs.is_dir() => return Ok(()),
        Ok(_) => {
            return Err(sftp::Error::Status {
                code: 4,
                path: path.to_owned(),
                message: "exists and is not a directory".into(),
            });
        }
        Err(error) if error.is_not_found() => {}
        Err(error) => return Err(error),
    }
    if let Some(parent) = parent(path) {
        make_dirs(session, parent)?;
    }
    match session.mkdir(path, &sftp::Attrs::default()) {
        Ok(()) => Ok(()),
        // Made meanwhile by a parallel transfer: fine if it is a directory now.
        Err(error) => match session.stat(path) {
            Ok(attrs) if attrs.is_dir() => Ok(()),
            _ => Err(error),
        },
    }
}

fn create_local(path: &Path, mode: u32) -> Result<File, ConnectorError> {
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)
        .map_err(|e| ConnectorError::io(format!("cannot create `{}`", path.display()), e))
}

/// Fetch the remote file `remote` (size from a stat, when known) to the local `local`.
fn fetch(
    session: &Session,
    target: &Target,
    remote_path: &str,
    size: Option<u64>,
    local: &Path,
    context: &Context,
) -> Result<u64, ConnectorError> {
    let file = create_local(local, 0o644)?;
    let progress = |bytes| context.progress.advance(bytes, size);
    let landed = |offset, data: &[u8]| context.progress.landed(offset, data);
    let control = transfer::Control {
        stop: &context.stop,
        progress: &progress,
        landed: &landed,
    };
    transfer::download(session, remote_path, size, &file, &control).map_err(|e| remote(target, e))
}

/// Deliver the local file `local` to `remote_path` through a temporary name beside it, so a
/// broken transfer never leaves a half file under the final name.
fn deliver(
    session: &Session,
    target: &Target,
    local: &Path,
    remote_path: &str,
    context: &Context,
) -> Result<u64, ConnectorError> {
    let mut file = File::open(local)
        .map_err(|e| ConnectorError::io(format!("cannot open `{}`", local.display()), e))?;
    let metadata = file
        .metadata()
        .map_err(|e| ConnectorError::io(format!("cannot read `{}`", local.display()), e))?;
    let size = metadata.len();
    let mode = metadata.permissions().mode() & 0o777;
    let name = format!(".red-partial-{}", uuid::Uuid::new_v4().as_simple());
    let partial = parent(remote_path).map_or_else(|| name.clone(), |p| join(p, &name));
    let progress = |bytes| context.progress.advance(bytes, Some(size));
    let control = transfer::Control {
        stop: &context.stop,
        progress: &progress,
        landed: &|_, _| {},
    };
    let result = transfer::upload(session, &mut file, &partial, mode, &control)
        .and_then(|bytes| session.rename(&partial, remote_path).map(|()| bytes));
    if result.is_err() {
        let _ = session.remove(&partial);
    }
    result.map_err(|e| remote(target, e))
}

impl Connector for Ssh {
    fn command(&self) -> &str {
        SSH
    }

    fn check(
        &self,
        operation: Operation,
        access: &Access,
        listing: Option<&Listing>,
    ) -> Result<(), ConnectorError> {
        self.settings(access, operation)?;
        if let Some(listing) = listing {
            tree::entries(listing)?;
        }
        Ok(())
    }

    fn receive_file(
        &self,
        access: &Access,
        destination: &Path,
        context: &Context,
    ) -> Result<Received, ConnectorError> {
        let Settings { target, path } = self.settings(access, Operation::ReceiveFile)?;
        let result = self.with_session(&target, context, |session| {
            let attrs = session.stat(&path).map_err(|e| remote(&target, e))?;
            if attrs.is_dir() {
                return Err(ConnectorError::Content(format!(
                    "`{path}` on `{}` is a directory; give `dirPath` to receive a directory",
                    target.label()
                )));
            }
            fetch(session, &target, &path, attrs.size, destination, context)
        });
        if result.is_err() {
            let _ = fs::remove_file(destination);
        }
        result.map(|_| Received::Staged)
    }

    fn mount_dir(
        &self,
        access: &Access,
        mountpoint: &Path,
        context: &Context,
    ) -> Result<Box<dyn Mounted>, ConnectorError> {
        let source = self.mount_source(access, context)?;
        let options = mount::Options {
            read_write: source.writable,
            // The Docker daemon (root) must see a mount made by another user.
            allow_other: !rustix::process::getuid().is_root(),
            ..mount::Options::default()
        };
        source
            .mount(mountpoint, options)
            .map(|guard| Box::new(guard) as Box<dyn Mounted>)
    }

    fn receive_dir(
        &self,
        access: &Access,
        destination: &Path,
        listing: Option<&Listing>,
        context: &Context,
    ) -> Result<Received, ConnectorError> {
        let Settings { target, path } = self.settings(access, Operation::ReceiveDir)?;
        let result = tree::receive(self, &target, &path, destination, listing, context);
        Received::staged_or_removed(result, destination)
    }

    fn send_file(
        &self,
        access: &Access,
        source: &Path,
        context: &Context,
    ) -> Result<(), ConnectorError> {
        let Settings { target, path } = self.settings(access, Operation::SendFile)?;
        self.with_session(&target, context, |session| {
            if let Some(parent) = parent(&path) {
                make_dirs(session, parent).map_err(|e| remote(&target, e))?;
            }
            deliver(session, &target, source, &path, context)
        })
        .map(drop)
    }

    fn send_dir(
        &self,
        access: &Access,
        source: &Path,
        listing: Option<&Listing>,
        context: &Context,
    ) -> Result<(), ConnectorError> {
        let Settings { target, path } = self.settings(access, Operation::SendDir)?;
        tree::send(self, &target, source, &path, listing, context)
    }
}

/// A `mount: true` input of the ssh connector is red's own FUSE mount ([`crate::mount`]); the
/// mount module knows nothing of connectors, so the connector side adapts its guard here.
impl Mounted for mount::MountGuard {
    fn unmount(self: Box<Self>) -> Result<(), ConnectorError> {
        mount::MountGuard::unmount(*self).map_err(|error| ConnectorError::Remote(error.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_paths_join_and_split() {
        assert_eq!(join(".", "a"), "a");
        assert_eq!(join("/", "a"), "/a");
        assert_eq!(join("d/", "a"), "d/a");
        assert_eq!(parent("a/b/c"), Some("a/b"));
        assert_eq!(parent("/a"), Some("/"));
        assert_eq!(parent("a"), None);
    }

    #[test]
    fn pool_keys_tell_credentials_apart_without_showing_them() {
        let mut one = Target::new("h", "u");
        one.auth = Auth::Password(crate::fill::Secret::new("canary-1".into()));
        let mut two = one.clone();
        two.auth = Auth::Password(crate::fill::Secret::new("canary-2".into()));
        assert_ne!(pool_key(&one), pool_key(&two));
        assert_eq!(pool_key(&one), pool_key(&one.clone()));
        assert!(!pool_key(&one).contains("canary"));
    }

    #[test]
    fn mount_blocks_are_checked_like_the_others() {
        let access = Access::new(serde_json::json!({
            "host": "h", "auth": {"username": "u"}, "dirPath": "d"
        }));
        assert!(Ssh::new().check(Operation::MountDir, &access, None).is_ok());
        let file = Access::new(serde_json::json!({
            "host": "h", "auth": {"username": "u"}, "filePath": "f"
        }));
        assert!(Ssh::new().check(Operation::MountDir, &file, None).is_err());
        assert!(
            Ssh::new()
                .check(Operation::ReceiveDir, &access, None)
                .is_ok()
        );
        let Err(ConnectorError::Access(error)) =
            Ssh::new().check(Operation::ReceiveFile, &access, None)
        else {
            panic!("dirPath is not a field of receive-file");
        };
        assert_eq!(error.pointer, "/dirPath");
        let listing = Listing(serde_json::json!([{"class": "File", "basename": "../x"}]));
        assert!(
            Ssh::new()
                .check(Operation::ReceiveDir, &access, Some(&listing))
                .is_err()
        );
    }
}
