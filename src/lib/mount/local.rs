//! [`LocalRemote`]: a [`Remote`] over a directory of this machine.
//!
//! It lets the tests mount real files without a server, and `red mount --local` measure the
//! FUSE layer alone (the ceiling any transport behind it can reach). Reads and writes are
//! positional (`pread`/`pwrite`), so many threads share one open file safely.

use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use super::remote::{Attrs, Kind, OpenFlags, Remote, RemoteError};

/// A [`Remote`] whose `/` is a local directory.
#[derive(Debug, Clone)]
pub struct LocalRemote {
    root: PathBuf,
}

impl LocalRemote {
    /// Serve the files under `root`.
    #[must_use]
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The local path of a remote path; `..` is refused so nothing outside the root is reached.
    fn local(&self, path: &str) -> Result<PathBuf, RemoteError> {
        let mut local = self.root.clone();
        for component in Path::new(path).components() {
            match component {
                Component::RootDir | Component::CurDir => {}
                Component::Normal(name) => local.push(name),
                Component::ParentDir | Component::Prefix(_) => {
                    return Err(RemoteError::PermissionDenied);
                }
            }
        }
        Ok(local)
    }
}

fn attrs(metadata: &fs::Metadata) -> Attrs {
    let file_type = metadata.file_type();
    let kind = if file_type.is_file() {
        Kind::File
    } else if file_type.is_dir() {
        Kind::Directory
    } else if file_type.is_symlink() {
        Kind::Symlink
    } else {
        Kind::Other
    };
    Attrs {
        kind,
        size: metadata.len(),
        perm: u16::try_from(metadata.mode() & 0o7777).unwrap_or(0o600),
        mtime: metadata.modified().unwrap_or(std::time::UNIX_EPOCH),
        atime: metadata.accessed().ok(),
        uid: Some(metadata.uid()),
        gid: Some(metadata.gid()),
    }
}

fn io(error: &std::io::Error) -> RemoteError {
    RemoteError::from_io(error)
}

impl Remote for LocalRemote {
    type Handle = File;

    fn stat(&self, path: &str) -> Result<Attrs, RemoteError> {
        fs::metadata(self.local(path)?)
            .map(|m| attrs(&m))
            .map_err(|e| io(&e))
    }

    fn lstat(&self, path: &str) -> Result<Attrs, RemoteError> {
        fs::symlink_metadata(self.local(path)?)
            .map(|m| attrs(&m))
            .map_err(|e| io(&e))
    }

    fn read_dir(&self, path: &str) -> Result<Vec<(String, Attrs)>, RemoteError> {
        let mut entries = Vec::new();
        for entry in fs::read_dir(self.local(path)?).map_err(|e| io(&e))? {
            let entry = entry.map_err(|e| io(&e))?;
            // Names that are not UTF-8 cannot be named through the remote's paths: skip them.
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            match entry.metadata() {
                Ok(metadata) => entries.push((name, attrs(&metadata))),
                // Removed between the listing and the stat: no longer an entry.
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                Err(error) => return Err(io(&error)),
            }
        }
        Ok(entries)
    }

    fn read_link(&self, path: &str) -> Result<String, RemoteError> {
        let target = fs::read_link(self.local(path)?).map_err(|e| io(&e))?;
        target
            .into_os_string()
            .into_string()
            .map_err(|_| RemoteError::Failure("the link target is not UTF-8".into()))
    }

    fn open(&self, path: &str, flags: OpenFlags) -> Result<File, RemoteError> {
        let local = self.local(path)?;
        let mut options = OpenOptions::new();
        options
            .read(flags.read || !flags.write)
            .write(flags.write && !flags.append)
            .append(flags.append)
            .truncate(flags.truncate && flags.write)
            .mode(0o644);
        if flags.create && flags.exclusive {
            options.create_new(true);
        } else if flags.create {
            options.create(true);
        }
        let file = options.open(&local).map_err(|e| io(&e))?;
        if file.metadata().map_err(|e| io(&e))?.is_dir() {
            return Err(RemoteError::IsDirectory);
        }
        Ok(file)
    }

    fn read(&self, handle: &File, offset: u64, len: u32) -> Result<Vec<u8>, RemoteError> {
        let want = usize::try_from(len).unwrap_or(usize::MAX);
        let mut buffer = vec![0; want];
        let mut filled = 0;
        while filled < want {
            let at = offset.saturating_add(filled as u64);
            match handle.read_at(&mut buffer[filled..], at) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
                Err(error) => return Err(io(&error)),
            }
        }
        buffer.truncate(filled);
        Ok(buffer)
    }

    fn write(&self, handle: &File, offset: u64, data: &[u8]) -> Result<(), RemoteError> {
        handle.write_all_at(data, offset).map_err(|e| io(&e))
    }

    fn fsync(&self, handle: &File) -> Result<(), RemoteError> {
        handle.sync_all().map_err(|e| io(&e))
    }

    fn close(&self, handle: File) -> Result<(), RemoteError> {
        drop(handle);
        Ok(())
    }

    fn mkdir(&self, path: &str, perm: u16) -> Result<(), RemoteError> {
        let local = self.local(path)?;
        fs::create_dir(&local).map_err(|e| io(&e))?;
        fs::set_permissions(&local, fs::Permissions::from_mode(u32::from(perm))).map_err(|e| io(&e))
    }

    fn rmdir(&self, path: &str) -> Result<(), RemoteError> {
        fs::remove_dir(self.local(path)?).map_err(|e| io(&e))
    }

    fn remove(&self, path: &str) -> Result<(), RemoteError> {
        fs::remove_file(self.local(path)?).map_err(|e| io(&e))
    }

    fn rename(&self, from: &str, to: &str) -> Result<(), RemoteError> {
        fs::rename(self.local(from)?, self.local(to)?).map_err(|e| io(&e))
    }

    fn truncate(&self, path: &str, size: u64) -> Result<(), RemoteError> {
        let file = OpenOptions::new()
            .write(true)
            .open(self.local(path)?)
            .map_err(|e| io(&e))?;
        file.set_len(size).map_err(|e| io(&e))
    }

    fn chmod(&self, path: &str, perm: u16) -> Result<(), RemoteError> {
        fs::set_permissions(
            self.local(path)?,
            fs::Permissions::from_mode(u32::from(perm)),
        )
        .map_err(|e| io(&e))
    }

    fn reconnect(&self) -> Result<(), RemoteError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parent_components_are_refused() {
        let remote = LocalRemote::new("/tmp");
        assert_eq!(
            remote.stat("/../etc/passwd"),
            Err(RemoteError::PermissionDenied)
        );
    }

    #[test]
    fn reads_stop_at_the_end_of_the_file() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("f"), b"0123456789").unwrap();
        let remote = LocalRemote::new(dir.path());
        let handle = remote.open("/f", OpenFlags::read_only()).unwrap();
        assert_eq!(remote.read(&handle, 4, 100).unwrap(), b"456789");
        assert!(remote.read(&handle, 10, 100).unwrap().is_empty());
        assert_eq!(remote.stat("/f").unwrap().size, 10);
        assert_eq!(remote.stat("/").unwrap().kind, Kind::Directory);
    }

    #[test]
    fn a_disconnect_makes_the_next_call_reconnect_first() {
        use super::super::remote::guarded;
        use std::sync::atomic::{AtomicBool, Ordering};
        let dir = tempfile::tempdir().unwrap();
        let remote = LocalRemote::new(dir.path());
        let flag = AtomicBool::new(false);
        let first: Result<(), RemoteError> =
            guarded(&remote, &flag, |_| Err(RemoteError::Disconnected));
        assert_eq!(first, Err(RemoteError::Disconnected));
        assert!(flag.load(Ordering::Acquire));
        let second = guarded(&remote, &flag, |remote| remote.stat("/"));
        assert_eq!(second.map(|a| a.kind), Ok(Kind::Directory));
        assert!(!flag.load(Ordering::Acquire), "reconnected");
    }
}
