//! `red mount` and `red::mount` with real FUSE mounts of a local directory.
//!
//! Enabled by the `fuse-tests` feature (`scripts/test` turns it on as root, as in CI, after
//! installing Debian's `fuse3`); then a missing `/dev/fuse` or `fusermount3` is a failure, not a
//! skip. Without the feature the tests are listed as ignored. Each test mounts its own temporary
//! directory, so they run in parallel.
#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use std::fs;
use std::os::unix::fs::{FileExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use red::mount::{
    self, Attrs, LocalRemote, MountGuard, OpenFlags, Options, Remote, RemoteError, is_mounted,
};

use crate::support::{Red, Running};

const MIB: u64 = 1024 * 1024;

/// Fail (never skip) when the feature is on and FUSE is missing.
fn require_fuse() {
    assert!(
        Path::new("/dev/fuse").exists(),
        "the FUSE tests are enabled but /dev/fuse is missing (install fuse3, load the fuse module)"
    );
    let found = Command::new("fusermount3")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "the FUSE tests are enabled but `fusermount3` is missing (apt-get install fuse3)"
    );
}

/// Deterministic bytes that differ at every offset (xorshift).
fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// A tree of many kinds of entries: empty, small, large, sparse, unicode names, a symlink,
/// a deep directory chain.
fn tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path();
    fs::write(root.join("empty"), b"").unwrap();
    fs::write(root.join("small.txt"), b"hello through fuse\n").unwrap();
    fs::write(root.join("big.bin"), pattern(24 * MIB as usize + 12345, 7)).unwrap();
    let sparse = fs::File::create(root.join("sparse.bin")).unwrap();
    sparse.set_len(40 * MIB).unwrap();
    sparse.write_all_at(b"middle", 20 * MIB).unwrap();
    sparse.write_all_at(b"end", 40 * MIB - 3).unwrap();
    fs::write(root.join("ünïcødé ☃ name.txt"), "snow\n").unwrap();
    std::os::unix::fs::symlink("small.txt", root.join("link")).unwrap();
    let mut deep = root.join("deep");
    for level in 0..12 {
        deep = deep.join(format!("level{level}"));
    }
    fs::create_dir_all(&deep).unwrap();
    fs::write(deep.join("leaf"), b"deep leaf").unwrap();
    let exec = root.join("script.sh");
    fs::write(&exec, b"#!/bin/sh\n").unwrap();
    fs::set_permissions(&exec, fs::Permissions::from_mode(0o750)).unwrap();
    dir
}

fn mount_local(src: &Path, options: Options) -> (tempfile::TempDir, MountGuard) {
    require_fuse();
    mount_remote(Arc::new(LocalRemote::new(src)), options)
}

fn mount_remote<R: Remote>(remote: Arc<R>, options: Options) -> (tempfile::TempDir, MountGuard) {
    require_fuse();
    let mnt = tempfile::tempdir().expect("mount dir");
    let guard = mount::mount(remote, "/", mnt.path(), options).expect("mount");
    assert!(is_mounted(mnt.path()));
    (mnt, guard)
}

/// Every entry below `dir`, relative, sorted.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![PathBuf::new()];
    while let Some(relative) = pending.pop() {
        let mut names: Vec<_> = fs::read_dir(dir.join(&relative))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        for name in names {
            let path = relative.join(name);
            if fs::symlink_metadata(dir.join(&path)).unwrap().is_dir() {
                pending.push(path.clone());
            }
            found.push(path);
        }
    }
    found.sort();
    found
}

#[test]
#[cfg_attr(not(feature = "fuse-tests"), ignore = "needs FUSE: see docs/sshfs.md")]
fn every_byte_and_attribute_reads_as_the_original() {
    let src = tree();
    let (mnt, guard) = mount_local(src.path(), Options::default());
    let original = walk(src.path());
    assert_eq!(walk(mnt.path()), original, "the same entries");
    assert!(original.len() > 15);
    for relative in &original {
        let (a, b) = (src.path().join(relative), mnt.path().join(relative));
        let (ma, mb) = (
            fs::symlink_metadata(&a).unwrap(),
            fs::symlink_metadata(&b).unwrap(),
        );
        assert_eq!(ma.file_type(), mb.file_type(), "{}", relative.display());
        assert_eq!(ma.mtime(), mb.mtime(), "{}", relative.display());
        assert_eq!(
            ma.mode() & 0o7555,
            mb.mode() & 0o7777,
            "{}: read-only mounts drop the write bits",
            relative.display()
        );
        if ma.is_file() {
            assert_eq!(ma.len(), mb.len(), "{}", relative.display());
            assert!(
                fs::read(&a).unwrap() == fs::read(&b).unwrap(),
                "{}",
                relative.display()
            );
        } else if ma.file_type().is_symlink() {
            assert_eq!(fs::read_link(&a).unwrap(), fs::read_link(&b).unwrap());
        }
    }
    // Following the link reads its target.
    assert_eq!(
        fs::read(mnt.path().join("link")).unwrap(),
        b"hello through fuse\n"
    );
    assert_eq!(
        fs::metadata(mnt.path().join("nothing-here"))
            .unwrap_err()
            .kind(),
        std::io::ErrorKind::NotFound
    );
    guard.unmount().expect("unmount");
    assert!(!is_mounted(mnt.path()));
}

/// Reads at pseudo-random offsets and lengths (up to 16 MiB), from several threads at once,
/// compared with the original bytes.
fn random_reads(mnt: &Path, original: &[u8], readers: u64) {
    std::thread::scope(|scope| {
        for reader in 0..readers {
            scope.spawn(move || {
                let file = fs::File::open(mnt.join("big.bin")).unwrap();
                let size = original.len() as u64;
                let mut state = 0x9e37_79b9_7f4a_7c15 ^ (reader + 1);
                for round in 0..40u64 {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    let len = match round % 4 {
                        0 => 16 * MIB,
                        1 => 1 + state % (2 * MIB),
                        2 => 1 + state % 4096,
                        _ => 1 + state % (300 * 1024),
                    }
                    .min(size);
                    let offset = (state >> 11) % (size - len + 1);
                    let mut buffer = vec![0; len as usize];
                    file.read_exact_at(&mut buffer, offset).unwrap();
                    let expected = &original[offset as usize..(offset + len) as usize];
                    assert!(buffer == expected, "{len} bytes at {offset} differ");
                }
                // A read across the end returns what is there.
                let mut tail = vec![0; 1000];
                let n = file.read_at(&mut tail, size - 10).unwrap();
                assert_eq!(&tail[..n], &original[original.len() - 10..]);
            });
        }
    });
}

#[test]
#[cfg_attr(not(feature = "fuse-tests"), ignore = "needs FUSE: see docs/sshfs.md")]
fn random_and_concurrent_reads_match_the_original() {
    let src = tree();
    let original = fs::read(src.path().join("big.bin")).unwrap();
    let (mnt, guard) = mount_local(src.path(), Options::default());
    random_reads(mnt.path(), &original, 1);
    random_reads(mnt.path(), &original, 4);
    guard.unmount().expect("unmount");
}

#[test]
#[cfg_attr(not(feature = "fuse-tests"), ignore = "needs FUSE: see docs/sshfs.md")]
fn direct_io_reads_match_the_original() {
    let src = tree();
    let original = fs::read(src.path().join("big.bin")).unwrap();
    let options = Options {
        direct_io: true,
        chunk: 256 * 1024,
        readahead: 4 * MIB,
        ..Options::default()
    };
    let (mnt, guard) = mount_local(src.path(), options);
    random_reads(mnt.path(), &original, 4);
    // A sequential stream in odd-sized reads.
    let mut file = fs::File::open(mnt.path().join("big.bin")).unwrap();
    let mut streamed = Vec::new();
    let mut buffer = vec![0; 100_003];
    loop {
        let n = std::io::Read::read(&mut file, &mut buffer).unwrap();
        if n == 0 {
            break;
        }
        streamed.extend_from_slice(&buffer[..n]);
    }
    assert!(streamed == original);
    let sparse = fs::read(mnt.path().join("sparse.bin")).unwrap();
    assert_eq!(sparse.len() as u64, 40 * MIB);
    assert_eq!(&sparse[20 * MIB as usize..20 * MIB as usize + 6], b"middle");
    assert!(sparse[..20 * MIB as usize].iter().all(|&b| b == 0));
    drop(file);
    guard.unmount().expect("unmount");
}

fn errno(result: std::io::Result<impl Sized>) -> Option<i32> {
    result.err().and_then(|e| e.raw_os_error())
}

#[test]
#[cfg_attr(not(feature = "fuse-tests"), ignore = "needs FUSE: see docs/sshfs.md")]
fn a_read_only_mount_refuses_every_change() {
    let src = tree();
    let (mnt, guard) = mount_local(src.path(), Options::default());
    let m = mnt.path();
    assert_eq!(errno(fs::write(m.join("new"), b"x")), Some(libc::EROFS));
    assert_eq!(
        errno(fs::OpenOptions::new().write(true).open(m.join("small.txt"))),
        Some(libc::EROFS)
    );
    assert_eq!(errno(fs::create_dir(m.join("dir"))), Some(libc::EROFS));
    assert_eq!(
        errno(fs::remove_file(m.join("small.txt"))),
        Some(libc::EROFS)
    );
    assert_eq!(
        errno(fs::rename(m.join("small.txt"), m.join("moved"))),
        Some(libc::EROFS)
    );
    assert_eq!(
        fs::read(src.path().join("small.txt")).unwrap(),
        b"hello through fuse\n"
    );
    assert!(!src.path().join("new").exists());
    guard.unmount().expect("unmount");
}

#[test]
#[cfg_attr(not(feature = "fuse-tests"), ignore = "needs FUSE: see docs/sshfs.md")]
fn a_read_write_mount_creates_writes_renames_and_removes() {
    let src = tree();
    let options = Options {
        read_write: true,
        ..Options::default()
    };
    let (mnt, guard) = mount_local(src.path(), options);
    let (m, s) = (mnt.path(), src.path());

    let data = pattern(3 * MIB as usize + 17, 99);
    fs::write(m.join("out.bin"), &data).unwrap();
    assert!(
        fs::read(s.join("out.bin")).unwrap() == data,
        "written through"
    );
    assert!(fs::read(m.join("out.bin")).unwrap() == data, "read back");

    // Overwrite in the middle, then read through the mount again (no stale read-ahead).
    let file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(m.join("out.bin"))
        .unwrap();
    let mut before = vec![0; 4096];
    file.read_exact_at(&mut before, MIB).unwrap();
    file.write_all_at(b"PATCHED", MIB).unwrap();
    file.sync_all().unwrap();
    let mut after = vec![0; 7];
    file.read_exact_at(&mut after, MIB).unwrap();
    assert_eq!(&after, b"PATCHED");
    file.set_len(100).unwrap();
    assert_eq!(fs::metadata(s.join("out.bin")).unwrap().len(), 100);
    drop(file);
    assert_eq!(fs::metadata(m.join("out.bin")).unwrap().len(), 100);

    fs::create_dir(m.join("made")).unwrap();
    fs::write(m.join("made/inner.txt"), b"inner").unwrap();
    fs::rename(m.join("made"), m.join("renamed")).unwrap();
    assert_eq!(fs::read(m.join("renamed/inner.txt")).unwrap(), b"inner");
    assert_eq!(fs::read(s.join("renamed/inner.txt")).unwrap(), b"inner");
    assert!(!m.join("made").exists());

    fs::rename(m.join("out.bin"), m.join("renamed/out.bin")).unwrap();
    assert_eq!(fs::metadata(s.join("renamed/out.bin")).unwrap().len(), 100);

    assert_eq!(
        errno(fs::remove_dir(m.join("renamed"))),
        Some(libc::ENOTEMPTY)
    );
    fs::remove_file(m.join("renamed/inner.txt")).unwrap();
    fs::remove_file(m.join("renamed/out.bin")).unwrap();
    fs::remove_dir(m.join("renamed")).unwrap();
    assert!(!s.join("renamed").exists());
    assert!(!m.join("renamed").exists());

    // Exclusive create of an existing file fails as on any filesystem.
    assert_eq!(
        errno(
            fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(m.join("small.txt"))
        ),
        Some(libc::EEXIST)
    );
    guard.unmount().expect("unmount");
}

/// What [`Faulty`] does with each call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Serve,
    Hang,
    Disconnected,
}

/// A local remote that can be made to hang (calls block until the mode changes) or to lose
/// its connection (calls and reconnects fail) while a test runs.
struct Faulty {
    inner: LocalRemote,
    mode: Mutex<Mode>,
    changed: Condvar,
    reconnects: AtomicU64,
}

impl Faulty {
    fn new(root: &Path) -> Self {
        Self {
            inner: LocalRemote::new(root),
            mode: Mutex::new(Mode::Serve),
            changed: Condvar::new(),
            reconnects: AtomicU64::new(0),
        }
    }

    fn set(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
        self.changed.notify_all();
    }

    fn gate(&self) -> Result<(), RemoteError> {
        let mut mode = self.mode.lock().unwrap();
        while *mode == Mode::Hang {
            mode = self.changed.wait(mode).unwrap();
        }
        match *mode {
            Mode::Disconnected => Err(RemoteError::Disconnected),
            _ => Ok(()),
        }
    }
}

impl Remote for Faulty {
    type Handle = fs::File;
    fn stat(&self, path: &str) -> Result<Attrs, RemoteError> {
        self.gate()?;
        self.inner.stat(path)
    }
    fn lstat(&self, path: &str) -> Result<Attrs, RemoteError> {
        self.gate()?;
        self.inner.lstat(path)
    }
    fn read_dir(&self, path: &str) -> Result<Vec<(String, Attrs)>, RemoteError> {
        self.gate()?;
        self.inner.read_dir(path)
    }
    fn read_link(&self, path: &str) -> Result<String, RemoteError> {
        self.gate()?;
        self.inner.read_link(path)
    }
    fn open(&self, path: &str, flags: OpenFlags) -> Result<fs::File, RemoteError> {
        self.gate()?;
        self.inner.open(path, flags)
    }
    fn read(&self, handle: &fs::File, offset: u64, len: u32) -> Result<Vec<u8>, RemoteError> {
        self.gate()?;
        self.inner.read(handle, offset, len)
    }
    fn write(&self, handle: &fs::File, offset: u64, data: &[u8]) -> Result<(), RemoteError> {
        self.gate()?;
        self.inner.write(handle, offset, data)
    }
    fn fsync(&self, handle: &fs::File) -> Result<(), RemoteError> {
        self.gate()?;
        self.inner.fsync(handle)
    }
    fn close(&self, handle: fs::File) -> Result<(), RemoteError> {
        self.inner.close(handle)
    }
    fn mkdir(&self, path: &str, perm: u16) -> Result<(), RemoteError> {
        self.gate()?;
        self.inner.mkdir(path, perm)
    }
    fn rmdir(&self, path: &str) -> Result<(), RemoteError> {
        self.gate()?;
        self.inner.rmdir(path)
    }
    fn remove(&self, path: &str) -> Result<(), RemoteError> {
        self.gate()?;
        self.inner.remove(path)
    }
    fn rename(&self, from: &str, to: &str) -> Result<(), RemoteError> {
        self.gate()?;
        self.inner.rename(from, to)
    }
    fn truncate(&self, path: &str, size: u64) -> Result<(), RemoteError> {
        self.gate()?;
        self.inner.truncate(path, size)
    }
    fn chmod(&self, path: &str, perm: u16) -> Result<(), RemoteError> {
        self.gate()?;
        self.inner.chmod(path, perm)
    }
    fn reconnect(&self) -> Result<(), RemoteError> {
        self.reconnects.fetch_add(1, Ordering::Relaxed);
        self.gate()
    }
}

fn fault_options() -> Options {
    Options {
        timeout: Duration::from_secs(1),
        cache_ttl: Duration::from_millis(100),
        direct_io: true,
        workers: 8,
        ..Options::default()
    }
}

#[test]
#[cfg_attr(not(feature = "fuse-tests"), ignore = "needs FUSE: see docs/sshfs.md")]
fn a_hanging_remote_fails_reads_with_eio_and_recovers() {
    let src = tree();
    let remote = Arc::new(Faulty::new(src.path()));
    let (mnt, guard) = mount_remote(Arc::clone(&remote), fault_options());
    let big = fs::File::open(mnt.path().join("big.bin")).unwrap();
    let mut buffer = vec![0; 4096];
    big.read_exact_at(&mut buffer, 0).unwrap();

    remote.set(Mode::Hang);
    // A read far from the cached read-ahead, and an open, both give up with EIO.
    assert_eq!(
        errno(big.read_exact_at(&mut buffer, 20 * MIB)),
        Some(libc::EIO)
    );
    assert_eq!(
        errno(fs::read(mnt.path().join("small.txt"))),
        Some(libc::EIO)
    );

    remote.set(Mode::Serve);
    big.read_exact_at(&mut buffer, 20 * MIB).unwrap();
    let original = fs::read(src.path().join("big.bin")).unwrap();
    assert!(buffer[..] == original[20 * MIB as usize..20 * MIB as usize + 4096]);
    assert_eq!(
        fs::read(mnt.path().join("small.txt")).unwrap(),
        b"hello through fuse\n"
    );
    drop(big);
    guard.unmount().expect("unmount");
}

#[test]
#[cfg_attr(not(feature = "fuse-tests"), ignore = "needs FUSE: see docs/sshfs.md")]
fn a_lost_connection_gives_eio_and_reconnects_on_the_next_call() {
    let src = tree();
    let remote = Arc::new(Faulty::new(src.path()));
    let (mnt, guard) = mount_remote(Arc::clone(&remote), fault_options());
    let big = fs::File::open(mnt.path().join("big.bin")).unwrap();
    let mut buffer = vec![0; 4096];

    remote.set(Mode::Disconnected);
    assert_eq!(
        errno(big.read_exact_at(&mut buffer, 10 * MIB)),
        Some(libc::EIO)
    );
    assert_eq!(remote.reconnects.load(Ordering::Relaxed), 0);
    assert_eq!(
        errno(big.read_exact_at(&mut buffer, 12 * MIB)),
        Some(libc::EIO)
    );
    assert!(
        remote.reconnects.load(Ordering::Relaxed) >= 1,
        "tried to reconnect"
    );

    remote.set(Mode::Serve);
    big.read_exact_at(&mut buffer, 12 * MIB).unwrap();
    let original = fs::read(src.path().join("big.bin")).unwrap();
    assert!(buffer[..] == original[12 * MIB as usize..12 * MIB as usize + 4096]);
    drop(big);
    guard.unmount().expect("unmount");
}

/// Start `red mount --local SRC MNT` and wait until the mount shows (or the process ends).
fn spawn_red_mount(src: &Path, mnt: &Path) -> Running {
    require_fuse();
    let mut red = Red::new()
        .args([
            "mount",
            "--local",
            src.to_str().unwrap(),
            mnt.to_str().unwrap(),
        ])
        .spawn();
    let started = Instant::now();
    while !is_mounted(mnt) {
        if !red.is_running() {
            let run = red.wait_at_most(Duration::from_secs(1));
            panic!("red mount ended before mounting: {run:?}");
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "red mount did not mount"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    red
}

fn stop_with(signal: &str) {
    let src = tree();
    let mnt = tempfile::tempdir().unwrap();
    let mut child = spawn_red_mount(src.path(), mnt.path());
    assert_eq!(
        fs::read(mnt.path().join("small.txt")).unwrap(),
        b"hello through fuse\n"
    );
    // Keep a file open: unmounting must still succeed.
    let open = fs::File::open(mnt.path().join("big.bin")).unwrap();
    let (run, _) = child.signal(signal, Duration::from_secs(60));
    drop(open);
    assert_eq!(run.code, 0, "{signal}: {run:?}");
    assert!(run.stderr.contains("unmounted"), "{}", run.stderr);
    assert!(!is_mounted(mnt.path()), "{signal} left the mount behind");
}

#[test]
#[cfg_attr(not(feature = "fuse-tests"), ignore = "needs FUSE: see docs/sshfs.md")]
fn sigterm_unmounts_and_ends_red_mount() {
    stop_with("-TERM");
}

#[test]
#[cfg_attr(not(feature = "fuse-tests"), ignore = "needs FUSE: see docs/sshfs.md")]
fn ctrl_c_unmounts_and_ends_red_mount() {
    stop_with("-INT");
}

#[test]
#[cfg_attr(not(feature = "fuse-tests"), ignore = "needs FUSE: see docs/sshfs.md")]
fn red_umount_ends_a_foreground_mount() {
    let src = tree();
    let mnt = tempfile::tempdir().unwrap();
    let mut child = spawn_red_mount(src.path(), mnt.path());
    let run = Red::new()
        .args(["umount", mnt.path().to_str().unwrap()])
        .run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(child.wait_at_most(Duration::from_secs(60)).code, 0);
    assert!(!is_mounted(mnt.path()));
}

#[test]
#[cfg_attr(not(feature = "fuse-tests"), ignore = "needs FUSE: see docs/sshfs.md")]
fn an_ending_red_mount_leaves_a_new_mount_at_the_same_path_alone() {
    let src = tree();
    let mnt = tempfile::tempdir().unwrap();
    let mut first = spawn_red_mount(src.path(), mnt.path());
    mount::unmount(mnt.path()).expect("unmount");
    // Mount again at once, while the first process is still noticing that it was unmounted.
    let mut second = spawn_red_mount(src.path(), mnt.path());
    assert_eq!(first.wait_at_most(Duration::from_secs(60)).code, 0);
    assert!(
        is_mounted(mnt.path()),
        "the first process unmounted the second mount"
    );
    assert_eq!(
        fs::read(mnt.path().join("small.txt")).unwrap(),
        b"hello through fuse\n"
    );
    mount::unmount(mnt.path()).expect("unmount");
    assert_eq!(second.wait_at_most(Duration::from_secs(60)).code, 0);
    assert!(!is_mounted(mnt.path()));
}

/// What cannot be mounted is refused before anything connects, and no secret is echoed.
#[test]
fn ssh_sources_are_checked_before_connecting() {
    let files = [
        (
            "access.yml",
            "host: 127.0.0.1\nauth: {username: a, password: '{{sftp_password}}'}\ndirPath: /srv\n",
        ),
        ("broken.yml", "host: [127.0.0.1\n"),
        (
            "unknown.json",
            r#"{"host": "127.0.0.1", "auth": {"username": "a"}, "dirPath": "/", "color": "red"}"#,
        ),
    ];
    let refused = |args: &[&str], expected: &str| {
        let red = files
            .iter()
            .fold(Red::new(), |red, (name, text)| red.file(name, text));
        let run = red.args(args).run();
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains(expected), "{args:?}: {}", run.stderr);
        assert!(!run.stderr.contains("canary"), "{args:?}: {}", run.stderr);
    };
    refused(
        &[
            "mount",
            "ssh://alice:canary-pw@127.0.0.1:2222/srv",
            "/nonexistent-mnt",
        ],
        "must not hold a password",
    );
    refused(
        &[
            "mount",
            r#"{"host": "127.0.0.1", "auth": {"username": "a", "password": "canary-pw"}, "dirPath": "/"}"#,
            "/nonexistent-mnt",
        ],
        "holds a secret",
    );
    refused(
        &["mount", "access.yml", "/nonexistent-mnt"],
        "still holds the template variable `{{sftp_password}}`",
    );
    refused(
        &[
            "mount",
            "access.yml",
            "/nonexistent-mnt",
            "--host-key",
            "ssh-ed25519 AAAA",
        ],
        "go with an `ssh://` address",
    );
    refused(&["mount", "broken.yml", "/nonexistent-mnt"], "broken.yml:");
    refused(&["mount", "unknown.json", "/nonexistent-mnt"], "`/color`");
    refused(&["mount", "/nonexistent-mnt"], "--local");
}

#[test]
#[cfg_attr(not(feature = "fuse-tests"), ignore = "needs FUSE: see docs/sshfs.md")]
fn a_mount_point_that_is_already_mounted_is_refused() {
    let src = tree();
    let mnt = tempfile::tempdir().unwrap();
    let mut first = spawn_red_mount(src.path(), mnt.path());
    for background in [false, true] {
        let mut args = vec![
            "mount",
            "--local",
            src.path().to_str().unwrap(),
            mnt.path().to_str().unwrap(),
        ];
        if background {
            args.push("--background");
        }
        let run = Red::new().args(args).run();
        assert_eq!(run.code, 2, "{}", run.stderr);
        assert!(
            run.stderr.contains("already a mount point"),
            "{}",
            run.stderr
        );
    }
    let run = Red::new()
        .args(["umount", mnt.path().to_str().unwrap()])
        .run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(first.wait_at_most(Duration::from_secs(60)).code, 0);
}

/// A mount point that is the source directory, inside it or above it is refused before
/// mounting (it once mounted, and every access then waited on the mount itself).
#[test]
fn a_mount_point_inside_its_own_source_is_refused() {
    let red = Red::new();
    let dir = red.dir().join("d");
    fs::create_dir_all(dir.join("sub")).unwrap();
    for (source, point, how) in [
        ("d", "d", "is the directory to mount"),
        ("d", "d/sub", "is inside the directory to mount"),
        ("d/sub", "d", "contains the directory to mount"),
        ("d", "d/sub/../sub", "is inside the directory to mount"),
    ] {
        let run = Red::new()
            .args(["mount", "--local"])
            .args(
                [
                    dir.parent().unwrap().join(source),
                    dir.parent().unwrap().join(point),
                ]
                .iter()
                .map(|p| p.to_str().unwrap().to_owned()),
            )
            .run();
        assert_eq!(run.code, 2, "{source} {point}: {}", run.stderr);
        assert!(run.stderr.contains(how), "{source} {point}: {}", run.stderr);
        assert!(!is_mounted(&dir.parent().unwrap().join(point)));
    }
}

/// A mount whose remote hangs, with a reader stuck in it, still ends within a bounded time
/// (what Ctrl-C relies on; the FUSE connection is aborted when unmounting does not finish).
#[test]
#[cfg_attr(not(feature = "fuse-tests"), ignore = "needs FUSE: see docs/sshfs.md")]
fn a_mount_with_a_stuck_reader_unmounts_within_a_bound() {
    let src = tree();
    let remote = Arc::new(Faulty::new(src.path()));
    let options = Options {
        timeout: Duration::from_secs(3600),
        ..fault_options()
    };
    let (mnt, guard) = mount_remote(Arc::clone(&remote), options);
    let path = mnt.path().join("small.txt");
    remote.set(Mode::Hang);
    let reader = std::thread::spawn(move || fs::read(path));
    std::thread::sleep(Duration::from_millis(300));
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(guard.unmount_within(Duration::from_secs(1)));
    });
    let result = finished.recv_timeout(Duration::from_secs(30));
    remote.set(Mode::Serve);
    let result = result.expect("unmounting a stuck mount ended");
    assert!(result.is_ok(), "{result:?}");
    assert!(!is_mounted(mnt.path()));
    let _ = reader.join().unwrap();
}
