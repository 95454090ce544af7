//! `red mount` and `red umount`: mount a remote directory with red's own FUSE filesystem, in
//! the foreground until Ctrl-C, SIGTERM, SIGHUP or `red umount`, and always unmount on the way
//! out. The filesystem is `crate::mount`; this module reads arguments, picks the remote and
//! waits.

use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;

use crate::cli::values;
use crate::cli::{ExitStatus, Printer};
use crate::connector::ssh::Ssh;
use crate::connector::{Access, ConnectorError, Context};
use crate::mount::{self, LocalRemote, Options};

/// Arguments of `red mount`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  red mount ssh://alice@data.example.org:22/srv/data /mnt/data\n  \
    red mount access.json /mnt/data --read-write\n  red mount --local /srv/data /mnt/data\n\n\
    See docs/sshfs.md for the options, the faults and the figures."
)]
pub struct MountArgs {
    /// What to mount and where: `ACCESS MOUNTPOINT`, `ssh://… MOUNTPOINT` or `MOUNTPOINT`
    ///
    /// `ACCESS` is a RED access block (a file or inline JSON), `ssh://user@host:port/absolute/path`
    /// an address; with `--local`, only the `MOUNTPOINT` is given.
    #[arg(value_names = ["SOURCE", "MOUNTPOINT"], num_args = 1..=2, required = true)]
    pub targets: Vec<String>,
    /// With an `ssh://` address: trust this host key instead of ~/.ssh/known_hosts
    ///
    /// The key is written as `ssh-keyscan` prints it: `ssh-ed25519 AAAA…`.
    #[arg(long, value_name = "KEY")]
    pub host_key: Option<String>,
    /// With an `ssh://` address: log in with this private key file
    ///
    /// The key must be unencrypted. Without this option the agent and the default keys are
    /// used.
    #[arg(long, value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
    pub identity: Option<PathBuf>,
    /// Mount this local directory (measures the FUSE layer alone; used by the tests).
    #[arg(long, value_name = "DIR", value_hint = clap::ValueHint::DirPath)]
    pub local: Option<PathBuf>,
    /// Allow changes (create, write, rename, remove); read-only otherwise.
    #[arg(long)]
    pub read_write: bool,
    /// Bypass the page cache: every read is served by red (no stale pages, no re-use).
    #[arg(long)]
    pub direct_io: bool,
    /// Largest read-ahead window of a sequential reader (K, M, G suffixes are binary).
    #[arg(long, value_name = "SIZE", default_value = "16M", value_parser = values::size(0..=1 << 30))]
    pub readahead: u64,
    /// Bytes per read-ahead chunk (fetched as requests of at most the server's read limit).
    #[arg(long, value_name = "SIZE", default_value = "1M", value_parser = values::size(4096..=64 << 20))]
    pub chunk: u64,
    /// SSH connections an `ssh://` or access-block mount reads over (1 to 16)
    ///
    /// Each is one `ssh` process with its own server session; a file of 8 MiB or more that is
    /// only read is read over all of them at once. More than one pays off on a link one
    /// connection cannot fill.
    #[arg(long, value_name = "N", default_value_t = mount::DEFAULT_CONNECTIONS,
        value_parser = clap::value_parser!(u8).range(1..=16), conflicts_with = "local")]
    pub connections: u8,
    /// How long any remote call may take before the read or listing fails with EIO (`20`, `1m`).
    #[arg(long, value_name = "DURATION", default_value = "20", value_parser = values::duration)]
    pub timeout: Duration,
    /// How long attributes and directory listings are trusted (`10`, `1m`).
    #[arg(long, value_name = "DURATION", default_value = "10", value_parser = values::duration)]
    pub cache_ttl: Duration,
    /// Let other users (and root, e.g. the Docker daemon) see the mount
    ///
    /// Unless red runs as root, this needs `user_allow_other` in /etc/fuse.conf.
    #[arg(long)]
    pub allow_other: bool,
    /// Mount, print the mount point once ready, and leave it running in a child process
    ///
    /// Stop it with `red umount MOUNTPOINT`.
    #[arg(long)]
    pub background: bool,
}

/// Arguments of `red umount`.
#[derive(Debug, Args)]
pub struct UmountArgs {
    /// The mount point.
    #[arg(value_hint = clap::ValueHint::DirPath)]
    pub mountpoint: PathBuf,
}

/// Where the files come from.
enum Source {
    Local(PathBuf),
    /// An access block of `red-connector-ssh` (with `dirPath`).
    Ssh(Access),
}

/// Refuse a mount point that is the source directory, inside it, or above it: red would serve
/// the mount from the mount itself, and every access would wait on itself until it failed.
fn check_apart(dir: &Path, mountpoint: &Path) -> anyhow::Result<()> {
    let Ok(point) = std::fs::canonicalize(mountpoint) else {
        return Ok(()); // a missing mount point is reported when mounting
    };
    if point.starts_with(dir) || dir.starts_with(&point) {
        let how = if point == dir {
            "is the directory to mount"
        } else if point.starts_with(dir) {
            "is inside the directory to mount"
        } else {
            "contains the directory to mount"
        };
        anyhow::bail!(
            "the mount point `{}` {how} (`{}`); choose a mount point outside it",
            point.display(),
            dir.display()
        );
    }
    Ok(())
}

fn source(args: &MountArgs) -> anyhow::Result<(Source, PathBuf)> {
    match (&args.local, args.targets.as_slice()) {
        (Some(dir), [mountpoint]) => {
            let dir = std::fs::canonicalize(dir).with_context(|| {
                format!("cannot use `{}` as the local directory", dir.display())
            })?;
            if !dir.is_dir() {
                return Err(crate::cli::usage(format!(
                    "`{}` is not a directory",
                    dir.display()
                )));
            }
            check_apart(&dir, Path::new(mountpoint))?;
            Ok((Source::Local(dir), PathBuf::from(mountpoint)))
        }
        (Some(_), _) => Err(crate::cli::usage(
            "with `--local DIR`, give only the mount point",
        )),
        (None, [_]) => Err(crate::cli::usage(
            "give what to mount and where: `red mount ssh://user@host/path MOUNTPOINT`, `red mount ACCESS MOUNTPOINT` or `red mount --local DIR MOUNTPOINT`",
        )),
        (None, [what, mountpoint]) => {
            if !what.starts_with("ssh://") && (args.host_key.is_some() || args.identity.is_some()) {
                return Err(crate::cli::usage(
                    "`--host-key` and `--identity` go with an `ssh://` address; in an access block, use `hostKey` and `auth.privateKey`",
                ));
            }
            let access = if what.starts_with("ssh://") {
                let mut access = ssh_address(what)?;
                if let Some(key) = &args.host_key {
                    access["hostKey"] = key.as_str().into();
                }
                if let Some(file) = &args.identity {
                    let key = crate::source::read_bytes(file, MAX_KEY_FILE)
                        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
                        .with_context(|| {
                            format!("cannot read the key file `{}`", file.display())
                        })?;
                    access["auth"]["privateKey"] = key.into();
                }
                Access::new(access)
            } else if what.trim_start().starts_with('{') {
                inline_access(what)?
            } else if Path::new(what).is_file() {
                access_file(Path::new(what))?
            } else {
                return Err(crate::cli::usage(format!(
                    "`{what}` is neither an `ssh://user@host:port/path` address, inline JSON, nor an existing access block file"
                )));
            };
            Ok((Source::Ssh(access), PathBuf::from(mountpoint)))
        }
        (None, _) => Err(crate::cli::usage("give what to mount and where")),
    }
}

/// `ssh://[user@]host[:port]/path` as an access block that logs in with the agent or the
/// default keys (a password never goes in an address: use an access block file for one).
/// The path is absolute; `/~/data` starts at the login's home.
fn ssh_address(address: &str) -> anyhow::Result<serde_json::Value> {
    let url = reqwest::Url::parse(address)
        .with_context(|| format!("`{address}` is not an `ssh://user@host:port/path` address"))?;
    if url.password().is_some() {
        return Err(crate::cli::usage(
            "an address must not hold a password (it would be visible to every user of this machine); put it in an access block file with mode 0600 and mount that file",
        ));
    }
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .with_context(|| format!("`{address}` names no host"))?
        .trim_start_matches('[')
        .trim_end_matches(']');
    let user = match url.username() {
        "" => login_name()
            .context("the address names no user and red cannot tell who you are; write `ssh://user@host/path`")?,
        user => percent_decoded(user)?,
    };
    let path = percent_decoded(url.path())?;
    let path = match path.strip_prefix("/~") {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => format!("~{rest}"),
        _ if path.is_empty() => "/".to_owned(),
        _ => path,
    };
    let mut block = serde_json::json!({
        "host": host,
        "auth": {"username": user},
        "dirPath": path,
    });
    if let Some(port) = url.port() {
        block["port"] = port.into();
    }
    Ok(block)
}

/// The invoking user's login name, as `ssh` would use it: `$USER`, `$LOGNAME`, else the
/// passwd entry of the real uid.
fn login_name() -> Option<String> {
    let named = |var: &str| std::env::var(var).ok().filter(|u| !u.is_empty());
    named("USER").or_else(|| named("LOGNAME")).or_else(|| {
        let uid = rustix::process::getuid().as_raw().to_string();
        std::fs::read_to_string("/etc/passwd")
            .ok()?
            .lines()
            .find_map(|line| {
                let mut fields = line.split(':');
                let name = fields.next()?;
                (fields.nth(1)? == uid).then(|| name.to_owned())
            })
    })
}

fn percent_decoded(text: &str) -> anyhow::Result<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while let Some(&byte) = bytes.get(at) {
        if byte == b'%' {
            let hex = bytes
                .get(at + 1..at + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .with_context(|| format!("`{text}` has a broken %-escape"))?;
            out.push(hex);
            at += 3;
        } else {
            out.push(byte);
            at += 1;
        }
    }
    String::from_utf8(out).with_context(|| format!("`{text}` is not UTF-8 once decoded"))
}

/// An access block given on the command line: fine for where and who, refused when it holds
/// a secret (every user of the machine can read a command line).
fn inline_access(text: &str) -> anyhow::Result<Access> {
    let value: serde_json::Value =
        serde_json::from_str(text).context("the inline access block is not valid JSON")?;
    if holds_secret(&value) {
        return Err(crate::cli::usage(
            "the inline access block holds a secret, which every user of this machine could read on the command line; put it in a file with mode 0600 and mount that file",
        ));
    }
    Ok(Access::new(value))
}

fn holds_secret(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::Object(map) => map
            .iter()
            .any(|(key, inner)| crate::connector::is_secret_key(key) || holds_secret(inner)),
        serde_json::Value::Array(items) => items.iter().any(holds_secret),
        _ => false,
    }
}

/// An access block file (JSON or YAML), filled: template variables are refused by name.
fn access_file(path: &Path) -> anyhow::Result<Access> {
    let parsed = crate::load::file(path).map_err(|e| {
        let at = match (e.diagnostic.line, e.diagnostic.column) {
            (Some(line), Some(column)) => format!(":{line}:{column}"),
            _ => String::new(),
        };
        let hint = e
            .diagnostic
            .hint
            .as_ref()
            .map_or(String::new(), |h| format!(" (hint: {h})"));
        anyhow::anyhow!("{}{at}: {}{hint}", path.display(), e.diagnostic.message)
    })?;
    let value = crate::plan::to_json(parsed.tree.root());
    let text = value.to_string();
    if let Some(start) = text.find("{{") {
        let name: String = text[start + 2..]
            .chars()
            .take_while(|c| *c != '}')
            .collect();
        anyhow::bail!(
            "`{}` still holds the template variable `{{{{{}}}}}`; write the value into the file (mode 0600) before mounting it",
            path.display(),
            name.trim()
        );
    }
    Ok(Access::new(value))
}

/// A connector error in one line, with the field it is about and the hint.
fn connector_message(error: &ConnectorError) -> String {
    match error {
        ConnectorError::Access(access) => {
            let mut text = if access.pointer.is_empty() {
                format!("the access block: {}", access.message)
            } else {
                format!(
                    "the access block at `{}`: {}",
                    access.pointer, access.message
                )
            };
            if let Some(hint) = &access.hint {
                text.push_str(&format!(" (hint: {hint})"));
            }
            text
        }
        other => other.to_string(),
    }
}

/// The largest private key file `--identity` reads.
const MAX_KEY_FILE: u64 = 1024 * 1024;

/// Run `red mount`.
pub fn run(args: &MountArgs, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let (source, mountpoint) = source(args)?;
    let options = Options {
        read_write: args.read_write,
        direct_io: args.direct_io,
        readahead: args.readahead,
        chunk: args.chunk,
        timeout: args.timeout,
        cache_ttl: args.cache_ttl,
        allow_other: args.allow_other,
        connections: usize::from(args.connections),
        ..Options::default()
    };
    if mount::is_mounted(&mountpoint) {
        return Err(crate::cli::usage(format!(
            "`{}` is already a mount point; unmount it first (`red umount {}`) or choose another directory",
            mountpoint.display(),
            mountpoint.display()
        )));
    }
    if args.background {
        return background(&mountpoint, printer);
    }
    // Signals are caught from before the mount exists, so no signal can end red between
    // mounting and waiting (which would leave the mount behind).
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the signal handler")?;
    let signals = {
        use tokio::signal::unix::{SignalKind, signal};
        let _context = runtime.enter();
        (
            signal(SignalKind::terminate()).context("cannot catch SIGTERM")?,
            signal(SignalKind::hangup()).context("cannot catch SIGHUP")?,
            signal(SignalKind::interrupt()).context("cannot catch SIGINT")?,
        )
    };
    let guard = match source {
        Source::Local(dir) => {
            let options = Options {
                source: format!("red:local:{}", dir.display()),
                ..options
            };
            mount::mount(Arc::new(LocalRemote::new(&dir)), "/", &mountpoint, options)?
        }
        Source::Ssh(access) => {
            let connector = Ssh::new();
            let context = Context::new(std::env::current_dir().unwrap_or_default());
            let remote = connector
                .mount_source(&access, &context)
                .map_err(|e| anyhow::anyhow!("{}", connector_message(&e)))?;
            let options = Options {
                read_write: options.read_write || remote.writable,
                ..options
            };
            remote
                .mount(&mountpoint, options)
                .map_err(|e| anyhow::anyhow!("{}", connector_message(&e)))?
        }
    };
    printer.note(&format!(
        "mounted at `{}`; Ctrl-C or `red umount {}` unmounts\n",
        mountpoint.display(),
        mountpoint.display()
    ));
    let stopped_by = runtime.block_on(wait_for_stop(&guard, signals));
    guard
        .unmount_within(STOP_WAIT)
        .with_context(|| format!("after {stopped_by}"))?;
    printer.note(&format!(
        "unmounted `{}` ({stopped_by})\n",
        mountpoint.display()
    ));
    Ok(ExitStatus::Success)
}

/// How long unmounting may take after a stop signal before the FUSE connection is aborted.
const STOP_WAIT: Duration = Duration::from_secs(1);

/// Wait until a stop signal arrives or the mount is removed from outside; say which.
async fn wait_for_stop(
    guard: &mount::MountGuard,
    (mut terminate, mut hangup, mut interrupt): (
        tokio::signal::unix::Signal,
        tokio::signal::unix::Signal,
        tokio::signal::unix::Signal,
    ),
) -> &'static str {
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    loop {
        tokio::select! {
            _ = terminate.recv() => return "SIGTERM",
            _ = hangup.recv() => return "SIGHUP",
            _ = interrupt.recv() => return "interrupt",
            _ = tick.tick() => if guard.ended() { return "unmounted from outside" },
        }
    }
}

/// Start this same command without `--background` as a child, wait until its mount shows in
/// the mount table (or the child fails), and leave it running.
fn background(mountpoint: &Path, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let exe = std::env::current_exe().context("cannot find the red executable")?;
    let arguments = std::env::args_os()
        .skip(1)
        .filter(|arg| arg != "--background");
    // The child's messages go to a file that is removed at once: the parent reads it when the
    // child fails, and a child that outlives the parent never writes to a closed pipe.
    let log_path = std::env::temp_dir().join(format!("red-mount-{}.log", uuid::Uuid::new_v4()));
    let log = std::fs::File::create(&log_path).context("cannot create the background log")?;
    let mut reader = std::fs::File::open(&log_path).context("cannot read the background log")?;
    let _ = std::fs::remove_file(&log_path);
    let mut child = Command::new(exe)
        .args(arguments)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .process_group(0)
        .spawn()
        .context("cannot start the background mount")?;
    loop {
        if mount::is_mounted(mountpoint) {
            printer.out(&format!("{}\n", mountpoint.display()));
            return Ok(ExitStatus::Success);
        }
        if let Some(status) = child
            .try_wait()
            .context("cannot watch the background mount")?
        {
            let mut message = String::new();
            let _ = std::io::Read::read_to_string(&mut reader, &mut message);
            anyhow::bail!("the background mount ended ({status}): {}", message.trim());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Run `red umount`.
pub fn umount(args: &UmountArgs, printer: &Printer) -> anyhow::Result<ExitStatus> {
    mount::unmount(&args.mountpoint)?;
    printer.note(&format!("unmounted `{}`\n", args.mountpoint.display()));
    Ok(ExitStatus::Success)
}
