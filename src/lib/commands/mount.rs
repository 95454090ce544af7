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

use crate::bench::stats::parse_size;
use crate::cli::{ExitStatus, Printer};
use crate::mount::{self, LocalRemote, Options};

/// Arguments of `red mount`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  red mount ssh://alice@data.example.org:22/srv/data /mnt/data\n  \
    red mount access.json /mnt/data --read-write\n  red mount --local /srv/data /mnt/data\n\n\
    See docs/mount.md for the options, the faults and the figures."
)]
pub struct MountArgs {
    /// What to mount and where: `ACCESS MOUNTPOINT` (a RED access block file or inline JSON),
    /// `ssh://user@host:port/absolute/path MOUNTPOINT`, or only `MOUNTPOINT` with `--local`.
    #[arg(value_names = ["SOURCE", "MOUNTPOINT"], num_args = 1..=2, required = true)]
    pub targets: Vec<String>,
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
    #[arg(long, value_name = "SIZE", default_value = "16M", value_parser = parse_size)]
    pub readahead: u64,
    /// Bytes per remote read request.
    #[arg(long, value_name = "SIZE", default_value = "512K", value_parser = parse_size)]
    pub chunk: u64,
    /// Seconds any remote call may take before the read or listing fails with EIO.
    #[arg(long, value_name = "SECONDS", default_value_t = 20.0)]
    pub timeout: f64,
    /// Seconds attributes and directory listings are trusted.
    #[arg(long, value_name = "SECONDS", default_value_t = 10.0)]
    pub cache_ttl: f64,
    /// Let other users (and root, e.g. the Docker daemon) see the mount; needs
    /// `user_allow_other` in /etc/fuse.conf unless red runs as root.
    #[arg(long)]
    pub allow_other: bool,
    /// Mount, print the mount point once it is ready, and leave it running in a child process
    /// (stop it with `red umount MOUNTPOINT`).
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
}

fn source(args: &MountArgs) -> anyhow::Result<(Source, PathBuf)> {
    match (&args.local, args.targets.as_slice()) {
        (Some(dir), [mountpoint]) => {
            let dir = std::fs::canonicalize(dir).with_context(|| {
                format!("cannot use `{}` as the local directory", dir.display())
            })?;
            if !dir.is_dir() {
                anyhow::bail!("`{}` is not a directory", dir.display());
            }
            Ok((Source::Local(dir), PathBuf::from(mountpoint)))
        }
        (Some(_), _) => anyhow::bail!("with `--local DIR`, give only the mount point"),
        (None, [_]) => anyhow::bail!(
            "give what to mount and where: `red mount ACCESS MOUNTPOINT` or `red mount --local DIR MOUNTPOINT`"
        ),
        (None, [what, _]) => {
            let kind = if what.starts_with("ssh://") {
                "an `ssh://` address"
            } else if what.trim_start().starts_with('{') {
                "an inline access block"
            } else if Path::new(what).is_file() {
                "an access block file"
            } else {
                anyhow::bail!(
                    "`{what}` is neither an `ssh://user@host:port/path` address, inline JSON, nor an existing access block file"
                );
            };
            anyhow::bail!(
                "mounting {kind} needs the SFTP transport (issue 6), which this build does not have yet; `--local DIR` works"
            )
        }
        (None, _) => anyhow::bail!("give what to mount and where"),
    }
}

fn seconds(value: f64, option: &str) -> anyhow::Result<Duration> {
    if value.is_finite() && value > 0.0 {
        Ok(Duration::from_secs_f64(value))
    } else {
        anyhow::bail!("`{option}` must be a positive number of seconds")
    }
}

/// Run `red mount`.
pub fn run(args: &MountArgs, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let (source, mountpoint) = source(args)?;
    let options = Options {
        read_write: args.read_write,
        direct_io: args.direct_io,
        readahead: args.readahead,
        chunk: args.chunk,
        timeout: seconds(args.timeout, "--timeout")?,
        cache_ttl: seconds(args.cache_ttl, "--cache-ttl")?,
        allow_other: args.allow_other,
        ..Options::default()
    };
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
    let guard = match &source {
        Source::Local(dir) => {
            let options = Options {
                source: format!("red:local:{}", dir.display()),
                ..options
            };
            mount::mount(Arc::new(LocalRemote::new(dir)), "/", &mountpoint, options)?
        }
    };
    printer.err(&format!(
        "mounted at `{}`; Ctrl-C or `red umount {}` unmounts\n",
        mountpoint.display(),
        mountpoint.display()
    ));
    let stopped_by = runtime.block_on(wait_for_stop(&guard, signals));
    guard
        .unmount()
        .with_context(|| format!("after {stopped_by}"))?;
    printer.err(&format!(
        "unmounted `{}` ({stopped_by})\n",
        mountpoint.display()
    ));
    Ok(ExitStatus::Success)
}

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
    printer.err(&format!("unmounted `{}`\n", args.mountpoint.display()));
    Ok(ExitStatus::Success)
}
