//! Attributes and directory listings, cached for the mount's TTL.
//!
//! The kernel asks for attributes often (every `stat`, every lookup), so each answer is kept
//! for `cache_ttl`, the same time the kernel is told to trust it. A directory listing also
//! fills the attribute cache for every entry, so `ls -l` and a walk cost one remote call per
//! directory. Anything that changes a path forgets what is cached about it and its directory.

use std::sync::Arc;
use std::time::Instant;

use fuser::{FileAttr, FileType, Generation, INodeNo, ReplyEntry};

use super::fs::{RemoteFs, lock};
use super::inodes;
use super::remote::{Attrs, Kind, Remote, RemoteError};

/// A cached value and when it was fetched.
pub(super) struct Cached<T> {
    value: T,
    at: Instant,
}

/// A directory's entries and their attributes.
pub(super) type Listing = Arc<Vec<(String, Attrs)>>;

impl<R: Remote> RemoteFs<R> {
    fn fresh<T: Clone>(&self, cached: Option<&Cached<T>>) -> Option<T> {
        cached
            .filter(|c| c.at.elapsed() < self.options.cache_ttl)
            .map(|c| c.value.clone())
    }

    /// Attributes of a relative path (not following a final link), from the caches when fresh.
    pub(super) fn attrs_of(&self, path: &str) -> Result<Attrs, RemoteError> {
        if let Some(attrs) = self.fresh(lock(&self.attrs).get(path)) {
            return Ok(attrs);
        }
        if !path.is_empty() {
            let (parent, name) = path.rsplit_once('/').unwrap_or(("", path));
            if let Some(listing) = self.fresh(lock(&self.listings).get(parent)) {
                return listing
                    .iter()
                    .find(|(entry, _)| entry == name)
                    .map(|(_, attrs)| *attrs)
                    .ok_or(RemoteError::NotFound);
            }
        }
        let remote_path = self.remote_path(path);
        let attrs = self.call(move |remote| remote.lstat(&remote_path))?;
        self.remember(path, attrs);
        Ok(attrs)
    }

    pub(super) fn remember(&self, path: &str, attrs: Attrs) {
        lock(&self.attrs).insert(
            path.to_owned(),
            Cached {
                value: attrs,
                at: Instant::now(),
            },
        );
    }

    /// Forget what is cached about `path` and its directory's listing.
    pub(super) fn invalidate(&self, path: &str) {
        lock(&self.attrs).remove(path);
        lock(&self.listings).remove(inodes::parent_of(path));
    }

    pub(super) fn listing(&self, path: &str) -> Result<Listing, RemoteError> {
        if let Some(listing) = self.fresh(lock(&self.listings).get(path)) {
            return Ok(listing);
        }
        let remote_path = self.remote_path(path);
        let listing = Arc::new(self.call(move |remote| remote.read_dir(&remote_path))?);
        let now = Instant::now();
        {
            let mut attrs = lock(&self.attrs);
            for (name, entry) in listing.iter() {
                attrs.insert(
                    inodes::child(path, name),
                    Cached {
                        value: *entry,
                        at: now,
                    },
                );
            }
        }
        lock(&self.listings).insert(
            path.to_owned(),
            Cached {
                value: Arc::clone(&listing),
                at: now,
            },
        );
        Ok(listing)
    }

    pub(super) fn file_attr(&self, ino: u64, attrs: &Attrs) -> FileAttr {
        let kind = match attrs.kind {
            Kind::Directory => FileType::Directory,
            Kind::Symlink => FileType::Symlink,
            Kind::File | Kind::Other => FileType::RegularFile,
        };
        let mut perm = attrs.perm & 0o7777;
        if !self.options.read_write {
            perm &= !0o222;
        }
        FileAttr {
            ino: INodeNo(ino),
            size: attrs.size,
            blocks: attrs.size.div_ceil(512),
            atime: attrs.atime.unwrap_or(attrs.mtime),
            mtime: attrs.mtime,
            ctime: attrs.mtime,
            crtime: attrs.mtime,
            kind,
            perm,
            nlink: if kind == FileType::Directory { 2 } else { 1 },
            uid: self.uid,
            gid: self.gid,
            rdev: 0,
            blksize: 128 * 1024,
            flags: 0,
        }
    }

    /// Count a lookup of `path` and answer with its entry.
    pub(super) fn reply_entry(&self, path: &str, attrs: &Attrs, reply: ReplyEntry) {
        let ino = lock(&self.inodes).lookup(path);
        reply.entry(
            &self.options.cache_ttl,
            &self.file_attr(ino, attrs),
            Generation(0),
        );
    }
}
