//! Reaching a host's SFTP server through the system OpenSSH client.
//!
//! A [`Connection`] is one `ssh -s … sftp` child whose standard input and output carry the
//! SFTP stream of an [`sftp::Session`]; its standard error is kept to explain failures. Using
//! the system client gives AES-GCM with hardware support, the agent, `~/.ssh/config` and
//! `known_hosts` as users know them (measured as the fastest transport: docs/sshfs.md, "Design").
//!
//! Host keys are always checked (`StrictHostKeyChecking=yes`): against the user's known_hosts,
//! or against a key pinned in the access block. Secrets never reach a command line or an
//! environment value: a private key is written to a 0600 file in a private 0700 directory that
//! is removed as soon as the session is up (or on any error), and a password or passphrase is
//! handed to `ssh` by the askpass helper ([`askpass`]) through a Unix socket in that directory.

pub mod askpass;
mod errors;
#[cfg(test)]
mod tests;

use std::ffi::OsString;
use std::fs::{self, DirBuilder, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

pub use errors::Error;

/// The size asked for the pipes to and from `ssh` (the kernel's default `fs.pipe-max-size`).
const PIPE_SIZE: usize = 1024 * 1024;

use crate::fill::Secret;
use crate::sftp;

/// How to authenticate.
#[derive(Debug, Clone)]
pub enum Auth {
    /// What `ssh` does by itself: the agent and the default keys (`~/.ssh/id_*`).
    Default,
    /// A password (password or keyboard-interactive authentication).
    Password(Secret),
    /// A private key in OpenSSH or PEM form, with its passphrase when it has one.
    Key {
        /// The key text.
        private_key: Secret,
        /// The passphrase, if the key is encrypted.
        passphrase: Option<Secret>,
    },
}

/// Where to connect and how.
#[derive(Debug, Clone)]
pub struct Target {
    /// Host name or address.
    pub host: String,
    /// Port (always passed to `ssh`).
    pub port: u16,
    /// Login name.
    pub user: String,
    /// Credentials.
    pub auth: Auth,
    /// A pinned host key, `"<type> <base64>"`: when set, only this key is accepted.
    pub host_key: Option<String>,
    /// The known_hosts file to check against instead of the user's (when no key is pinned).
    pub known_hosts: Option<PathBuf>,
    /// Time allowed for the TCP connection.
    pub connect_timeout: Duration,
    /// Time allowed from the start of `ssh` until the SFTP session answers (key exchange,
    /// banner and authentication included).
    pub start_timeout: Duration,
    /// Time allowed for each SFTP request.
    pub operation_timeout: Duration,
    /// `Ciphers` for `ssh`; `None` puts aes128-gcm first in OpenSSH's default list.
    pub ciphers: Option<String>,
    /// The program that acts as askpass helper (the `red` binary); `None`: this process's own
    /// executable.
    pub askpass_program: Option<PathBuf>,
    /// Where the private directory is made; `None`: the system's temporary directory.
    pub scratch: Option<PathBuf>,
}

impl Target {
    /// A target with the default port, timeouts and no credentials.
    #[must_use]
    pub fn new(host: impl Into<String>, user: impl Into<String>) -> Self {
        Self {
            host: host.into(),
            port: 22,
            user: user.into(),
            auth: Auth::Default,
            host_key: None,
            known_hosts: None,
            connect_timeout: Duration::from_secs(30),
            start_timeout: Duration::from_secs(90),
            operation_timeout: Duration::from_secs(120),
            ciphers: None,
            askpass_program: None,
            scratch: None,
        }
    }

    /// `user@host:port`, for messages.
    #[must_use]
    pub fn label(&self) -> String {
        format!("{}@{}:{}", self.user, self.host, self.port)
    }

    fn secrets(&self) -> Vec<&str> {
        match &self.auth {
            Auth::Default => Vec::new(),
            Auth::Password(password) => vec![password.expose()],
            Auth::Key {
                private_key,
                passphrase,
            } => {
                let mut all = vec![private_key.expose()];
                all.extend(passphrase.as_ref().map(Secret::expose));
                all
            }
        }
    }
}

/// Check a pinned host key and return it as `"<type> <base64>"`. A whole `ssh-keyscan` or
/// known_hosts line is accepted too (the host field is dropped).
///
/// # Errors
/// A message saying what is wrong (never the value).
pub fn normalize_host_key(text: &str) -> Result<String, String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let is_type =
        |w: &&str| w.starts_with("ssh-") || w.starts_with("ecdsa-sha2-") || w.starts_with("sk-");
    let start = words
        .iter()
        .position(is_type)
        .filter(|&at| at <= 1)
        .ok_or("must start with a key type such as `ssh-ed25519`")?;
    let key = words
        .get(start + 1)
        .filter(|k| {
            k.len() >= 16
                && k.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'=')
        })
        .ok_or("needs the base64 key after its type")?;
    Ok(format!(
        "{} {key}",
        words.get(start).copied().unwrap_or_default()
    ))
}

/// A private directory (mode 0700) for the key file, the pinned known_hosts and the askpass
/// socket; removed when dropped.
struct PrivateDir(PathBuf);

impl PrivateDir {
    fn new(scratch: Option<&Path>) -> std::io::Result<Self> {
        let mut base = scratch.map_or_else(std::env::temp_dir, Path::to_path_buf);
        // A Unix socket path must fit in 108 bytes with its NUL, and what is added to `base`
        // (`/red-ssh-<32 hex>/askpass.sock`) takes 54 of them.
        if base.as_os_str().len() > 107 - 54 {
            base = PathBuf::from("/tmp");
        }
        let path = base.join(format!("red-ssh-{}", uuid::Uuid::new_v4().as_simple()));
        DirBuilder::new().mode(0o700).create(&path)?;
        Ok(Self(path))
    }

    fn write(&self, name: &str, text: &str) -> std::io::Result<PathBuf> {
        let path = self.0.join(name);
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)?;
        file.write_all(text.as_bytes())?;
        if !text.ends_with('\n') {
            file.write_all(b"\n")?;
        }
        file.sync_all()?;
        Ok(path)
    }
}

impl Drop for PrivateDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// The last part of `ssh`'s standard error, and whether it has ended.
#[derive(Default)]
struct Stderr {
    text: Mutex<(String, bool)>,
    ended: Condvar,
}

/// How much of `ssh`'s standard error is kept.
const STDERR_KEPT: usize = 8 * 1024;

impl Stderr {
    fn collect(self: &Arc<Self>, mut pipe: impl Read + Send + 'static) -> std::io::Result<()> {
        let this = Arc::clone(self);
        std::thread::Builder::new()
            .name("ssh-stderr".into())
            .spawn(move || {
                let mut buffer = [0u8; 4096];
                loop {
                    let read = pipe.read(&mut buffer).unwrap_or(0);
                    let mut state = this.text.lock().unwrap_or_else(PoisonError::into_inner);
                    if read == 0 {
                        state.1 = true;
                        this.ended.notify_all();
                        return;
                    }
                    state.0.push_str(&String::from_utf8_lossy(
                        buffer.get(..read).unwrap_or_default(),
                    ));
                    if state.0.len() > STDERR_KEPT {
                        let mut cut = state.0.len() - STDERR_KEPT;
                        while !state.0.is_char_boundary(cut) {
                            cut += 1;
                        }
                        state.0.drain(..cut);
                    }
                }
            })
            .map(drop)
    }

    /// The text so far, after waiting a little for `ssh` to finish writing it.
    fn text(&self) -> String {
        let state = self.text.lock().unwrap_or_else(PoisonError::into_inner);
        let (state, _) = self
            .ended
            .wait_timeout_while(state, Duration::from_secs(3), |s| !s.1)
            .unwrap_or_else(PoisonError::into_inner);
        state.0.clone()
    }
}

/// One `ssh` child carrying one SFTP session. Dropping it ends the child.
pub struct Connection {
    session: Arc<sftp::Session>,
    child: Mutex<Child>,
    label: String,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("target", &self.label)
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// Start `ssh` for `target` and its SFTP session; the private directory with the key and
    /// the askpass socket is gone when this returns.
    ///
    /// # Errors
    /// An [`Error`] saying what failed in words a user can act on (unknown host key, refused
    /// credentials, connection refused, timeout, …).
    pub fn open(target: &Target) -> Result<Self, Error> {
        let dir = PrivateDir::new(target.scratch.as_deref())
            .map_err(|e| Error::local("cannot create a private directory", &e))?;
        let mut command = Command::new("ssh");
        let mut askpass = None;
        command.args(arguments(target, &dir, &mut askpass)?);
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .env_remove("SSH_ASKPASS")
            .env("SSH_ASKPASS_REQUIRE", "never");
        if let Some(helper) = &askpass {
            command
                .env("SSH_ASKPASS", &helper.1)
                .env("SSH_ASKPASS_REQUIRE", "force");
        }
        let mut child = command.spawn().map_err(|e| Error::Spawn(e.to_string()))?;
        let stderr = Arc::new(Stderr::default());
        let (Some(input), Some(output), Some(errors)) =
            (child.stdout.take(), child.stdin.take(), child.stderr.take())
        else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(Error::Spawn("ssh started without its pipes".into()));
        };
        // Pipes of 1 MiB instead of 64 KiB: ssh and red's reader thread hand over data in
        // fewer, larger steps, so each wakes the other a sixteenth as often during a transfer
        // (on a 2-core machine the wakeups cost more CPU than the copies). Where the kernel
        // refuses (a lower `fs.pipe-max-size`), the pipes stay as they are.
        for pipe in [input.as_fd(), output.as_fd()] {
            let _ = rustix::pipe::fcntl_setpipe_size(pipe, PIPE_SIZE);
        }
        if let Err(e) = stderr.collect(errors) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(Error::local("cannot read ssh's error output", &e));
        }
        let tail = Arc::clone(&stderr);
        let end: Arc<dyn sftp::EndReason> = Arc::new(move || {
            let text = tail.text();
            let text = text.trim();
            (!text.is_empty()).then(|| text.to_owned())
        });
        let timeouts = sftp::Timeouts {
            start: target.start_timeout + target.connect_timeout,
            operation: target.operation_timeout,
        };
        let started = sftp::Session::start(input, output, timeouts, end);
        // The key file, pinned key and askpass socket are needed only until here.
        drop(askpass);
        drop(dir);
        match started {
            Ok(session) => Ok(Self {
                session: Arc::new(session),
                child: Mutex::new(child),
                label: target.label(),
            }),
            Err(error) => {
                let _ = child.kill();
                let status = child.wait().ok();
                let text = errors::redact(&stderr.text(), &target.secrets());
                Err(errors::classify(target, &text, status, &error))
            }
        }
    }

    /// The SFTP session (shared: clone the `Arc` for other threads).
    #[must_use]
    pub fn session(&self) -> &Arc<sftp::Session> {
        &self.session
    }

    /// Whether the session still works (the child has not ended).
    #[must_use]
    pub fn is_alive(&self) -> bool {
        !self.session.is_closed()
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        let mut child = self.child.lock().unwrap_or_else(PoisonError::into_inner);
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// The askpass server and the helper path, kept alive until the session is up.
type Askpass = (askpass::Server, PathBuf);

fn option(args: &mut Vec<OsString>, name: &str, value: impl AsRef<std::ffi::OsStr>) {
    let mut text = OsString::from(format!("-o{name}="));
    text.push(value);
    args.push(text);
}

fn askpass_program(target: &Target) -> Result<PathBuf, Error> {
    match &target.askpass_program {
        Some(program) => Ok(program.clone()),
        None => std::env::current_exe().map_err(|e| Error::local("cannot find the red binary", &e)),
    }
}

fn start_askpass(
    target: &Target,
    dir: &PrivateDir,
    secret: &Secret,
    askpass: &mut Option<Askpass>,
) -> Result<(), Error> {
    let program = askpass_program(target)?;
    let started = askpass::Server::start(&dir.0, &program, secret.clone())
        .map_err(|e| Error::local("cannot start the askpass helper", &e))?;
    *askpass = Some(started);
    Ok(())
}

/// `ssh`'s arguments for `target`; writes the key and pinned key into `dir` and starts the
/// askpass server when a secret must be typed.
fn arguments(
    target: &Target,
    dir: &PrivateDir,
    askpass: &mut Option<Askpass>,
) -> Result<Vec<OsString>, Error> {
    if target.host.starts_with('-') || target.host.is_empty() || target.user.starts_with('-') {
        return Err(Error::Usage(format!(
            "`{}` is not a host and user ssh can take",
            target.label()
        )));
    }
    let mut args: Vec<OsString> = ["-s", "-T", "-x", "-a", "-e", "none"]
        .into_iter()
        .map(OsString::from)
        .collect();
    args.extend(["-p".into(), target.port.to_string().into()]);
    args.extend(["-l".into(), OsString::from(&target.user)]);
    let seconds = |d: Duration| d.as_secs().max(1).to_string();
    option(&mut args, "StrictHostKeyChecking", "yes");
    option(&mut args, "UpdateHostKeys", "no");
    option(&mut args, "ConnectTimeout", seconds(target.connect_timeout));
    option(&mut args, "ServerAliveInterval", "15");
    option(&mut args, "ServerAliveCountMax", "4");
    option(&mut args, "NumberOfPasswordPrompts", "1");
    option(&mut args, "ControlMaster", "no");
    option(&mut args, "ControlPath", "none");
    option(&mut args, "ClearAllForwardings", "yes");
    option(&mut args, "LogLevel", "ERROR");
    option(
        &mut args,
        "Ciphers",
        target
            .ciphers
            .as_deref()
            .unwrap_or("^aes128-gcm@openssh.com"),
    );
    if let Some(key) = &target.host_key {
        let key = normalize_host_key(key)
            .map_err(|m| Error::Usage(format!("the pinned host key {m}")))?;
        let file = dir
            .write("known_hosts", &format!("red-pinned-host {key}"))
            .map_err(|e| Error::local("cannot write the pinned host key", &e))?;
        option(&mut args, "UserKnownHostsFile", &file);
        option(&mut args, "GlobalKnownHostsFile", "/dev/null");
        option(&mut args, "HostKeyAlias", "red-pinned-host");
        option(&mut args, "CheckHostIP", "no");
    } else if let Some(file) = &target.known_hosts {
        option(&mut args, "UserKnownHostsFile", file);
    }
    match &target.auth {
        Auth::Default => option(&mut args, "BatchMode", "yes"),
        Auth::Password(password) => {
            option(&mut args, "BatchMode", "no");
            option(&mut args, "PubkeyAuthentication", "no");
            option(&mut args, "IdentityAgent", "none");
            option(
                &mut args,
                "PreferredAuthentications",
                "password,keyboard-interactive",
            );
            start_askpass(target, dir, password, askpass)?;
        }
        Auth::Key {
            private_key,
            passphrase,
        } => {
            let text = private_key.expose().replace("\r\n", "\n");
            let file = dir
                .write("key", &text)
                .map_err(|e| Error::local("cannot write the private key file", &e))?;
            option(&mut args, "IdentityFile", &file);
            option(&mut args, "IdentitiesOnly", "yes");
            option(&mut args, "IdentityAgent", "none");
            option(&mut args, "CertificateFile", "none");
            option(&mut args, "PreferredAuthentications", "publickey");
            match passphrase {
                Some(passphrase) => {
                    option(&mut args, "BatchMode", "no");
                    start_askpass(target, dir, passphrase, askpass)?;
                }
                None => option(&mut args, "BatchMode", "yes"),
            }
        }
    }
    args.extend(["--".into(), OsString::from(&target.host), "sftp".into()]);
    Ok(args)
}
