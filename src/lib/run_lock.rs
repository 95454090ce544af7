//! An outputs directory belongs to one run at a time.
//!
//! `red exec`, `red submit --kiosk` and `red kiosk submit --download` write a run's results into
//! a directory the user names (or `./outputs`). Two runs writing into the same directory at
//! once would leave a mix: one run's `out.txt` beside another's `.red/stdout.txt`, every record
//! claiming success. So a run first takes an exclusive lock on `<dir>/.red/lock` (`flock`, so
//! the kernel drops it when the process ends, however it ends) and writes its pid there; a
//! second run finds the lock held and stops before it touches anything, naming the first run's
//! pid. The lock file is removed when the run ends; a lock left by a killed run is no obstacle,
//! since nobody holds it.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::plan::outputs::RECORDS_DIR;

/// The lock file's name inside the records directory (`.red`).
pub const LOCK_FILE: &str = "lock";

/// Why a directory could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Another run holds the directory.
    #[error(
        "`{}` is in use by another red run ({}, holding `{}`); wait for it to end, or give \
         this run another directory with `{option} DIR`",
        .dir.display(),
        .pid.map_or_else(|| "pid unknown".to_owned(), |pid| format!("pid {pid}")),
        .lock.display()
    )]
    Busy {
        /// The outputs directory.
        dir: PathBuf,
        /// The lock file.
        lock: PathBuf,
        /// The other run's process id, as it wrote it.
        pid: Option<u32>,
        /// The option that names another directory (`--outputs`, `--download`).
        option: &'static str,
    },
    /// The lock file could not be made or locked.
    #[error("cannot lock the outputs directory `{}` (at `{}`)", .dir.display(), .lock.display())]
    Io {
        /// The outputs directory.
        dir: PathBuf,
        /// The lock file.
        lock: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// The held lock of one outputs directory; released (and its file removed) when dropped.
#[derive(Debug)]
pub struct RunLock {
    file: File,
    path: PathBuf,
}

impl RunLock {
    /// Take `dir` for this process: create `dir/.red/lock` (and the directories above it) and
    /// lock it exclusively, without waiting. `option` is how the user names another directory,
    /// for the message when `dir` is taken.
    ///
    /// # Errors
    /// [`Error::Busy`] when another process holds it, [`Error::Io`] when it cannot be made.
    pub fn acquire(dir: &Path, option: &'static str) -> Result<Self, Error> {
        let records = dir.join(RECORDS_DIR);
        let path = records.join(LOCK_FILE);
        let io = |source| Error::Io {
            dir: dir.to_owned(),
            lock: path.clone(),
            source,
        };
        // A holder removes the file (and an empty `.red`) as it lets go; a file opened just
        // before that is no longer the lock, so open again.
        for _ in 0..100 {
            fs::create_dir_all(&records).map_err(io)?;
            let mut file = match open(&path) {
                Ok(file) => file,
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => continue,
                Err(error) => return Err(io(error)),
            };
            match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => {}
                Err(rustix::io::Errno::WOULDBLOCK) => {
                    return Err(Error::Busy {
                        dir: dir.to_owned(),
                        lock: path.clone(),
                        pid: holder(&mut file),
                        option,
                    });
                }
                Err(errno) => return Err(io(errno.into())),
            }
            if !same_file(&file, &path) {
                continue;
            }
            let written = file
                .set_len(0)
                .and_then(|()| file.rewind())
                .and_then(|()| writeln!(file, "{}", std::process::id()))
                .and_then(|()| file.flush());
            written.map_err(io)?;
            return Ok(Self { file, path });
        }
        Err(io(std::io::Error::other(
            "the lock file kept being replaced",
        )))
    }

    /// The lock file.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        // Removed while still held, so nobody can be holding the name meanwhile; whoever opened
        // it and waits sees a different file at the path and opens again.
        if same_file(&self.file, &self.path) {
            let _ = fs::remove_file(&self.path);
            if let Some(records) = self.path.parent() {
                let _ = fs::remove_dir(records);
            }
        }
        let _ = rustix::fs::flock(&self.file, rustix::fs::FlockOperation::Unlock);
    }
}

fn open(path: &Path) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true).write(true).create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o644);
    }
    options.open(path)
}

/// Whether the open `file` is the one at `path` now.
fn same_file(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), fs::metadata(path)) {
        (Ok(open), Ok(named)) => open.dev() == named.dev() && open.ino() == named.ino(),
        _ => false,
    }
}

/// The pid the holder wrote (it writes it right after locking: wait a moment for it).
fn holder(file: &mut File) -> Option<u32> {
    for _ in 0..20 {
        let mut text = String::new();
        if file.rewind().is_ok()
            && file.read_to_string(&mut text).is_ok()
            && let Ok(pid) = text.trim().parse()
        {
            return Some(pid);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    None
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_is_held_by_one_lock_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let outputs = dir.path().join("outputs");
        let first = RunLock::acquire(&outputs, "--outputs").unwrap();
        assert_eq!(
            fs::read_to_string(first.path()).unwrap().trim(),
            std::process::id().to_string()
        );
        // A second open file description conflicts even in the same process.
        let error = RunLock::acquire(&outputs, "--outputs").unwrap_err();
        let Error::Busy { pid, .. } = &error else {
            panic!("{error}");
        };
        assert_eq!(*pid, Some(std::process::id()));
        let message = error.to_string();
        assert!(
            message.contains(&format!("pid {}", std::process::id())),
            "{message}"
        );
        assert!(message.contains("outputs") && message.contains("--outputs DIR"));
        drop(first);
        assert!(
            !outputs.join(".red").exists(),
            "the empty records directory stays"
        );
        let again = RunLock::acquire(&outputs, "--outputs").unwrap();
        drop(again);
    }

    #[test]
    fn the_records_directory_stays_when_it_holds_records() {
        let dir = tempfile::tempdir().unwrap();
        let lock = RunLock::acquire(dir.path(), "--outputs").unwrap();
        fs::write(dir.path().join(".red/result.json"), "{}").unwrap();
        drop(lock);
        assert!(dir.path().join(".red/result.json").exists());
        assert!(!dir.path().join(".red/lock").exists());
    }

    #[test]
    fn a_stale_lock_file_is_no_obstacle() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join(".red")).unwrap();
        fs::write(dir.path().join(".red/lock"), "999999999\n").unwrap();
        let lock = RunLock::acquire(dir.path(), "--outputs").unwrap();
        assert_eq!(
            fs::read_to_string(lock.path()).unwrap().trim(),
            std::process::id().to_string()
        );
    }

    #[test]
    fn a_file_where_the_directory_should_be_is_an_io_error() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file");
        fs::write(&file, "x").unwrap();
        assert!(matches!(
            RunLock::acquire(&file, "--outputs"),
            Err(Error::Io { .. })
        ));
    }

    #[test]
    fn racing_threads_get_one_lock() {
        let dir = tempfile::tempdir().unwrap();
        let outputs = dir.path().join("o");
        let held: Vec<_> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..8)
                .map(|_| scope.spawn(|| RunLock::acquire(&outputs, "--outputs").ok()))
                .collect();
            handles
                .into_iter()
                .filter_map(|h| h.join().unwrap())
                .collect()
        });
        assert_eq!(held.len(), 1);
    }
}
