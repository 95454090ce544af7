//! The few facts the benchmarks read from Linux `/proc`: CPU time of the calling thread, bytes
//! the process read through system calls, and dropping the page cache (root only).
//!
//! All readings are best effort: a kernel without these files gives `None`, never an error.

use std::path::PathBuf;

/// Errors of this module.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Writing to `/proc/sys/vm/drop_caches` failed (usually: not root).
    #[error("cannot drop the page cache through `{}`", path.display())]
    DropCaches {
        /// The file written.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// CPU time the calling thread has used so far, in seconds (from `/proc/thread-self/schedstat`,
/// whose first field is nanoseconds on a CPU).
#[must_use]
pub fn thread_cpu_seconds() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let nanos: u64 = text.split_whitespace().next()?.parse().ok()?;
    Some(nanos as f64 / 1e9)
}

/// Bytes this process has passed through `read`-like system calls so far (`rchar` of
/// `/proc/self/io`), whether they came from the disk, the page cache or a FUSE server.
#[must_use]
pub fn process_read_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/io").ok()?;
    text.lines()
        .find_map(|line| line.strip_prefix("rchar:"))
        .and_then(|value| value.trim().parse().ok())
}

/// Write back dirty pages and drop the page cache, dentries and inodes, so that the next read
/// comes from the storage. Needs root.
pub fn drop_caches() -> Result<(), Error> {
    let path = PathBuf::from("/proc/sys/vm/drop_caches");
    // `sync` first: dirty pages cannot be dropped.
    let _ = std::process::Command::new("sync").status();
    std::fs::write(&path, b"3\n").map_err(|source| Error::DropCaches { path, source })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn read_bytes_grow_after_a_read() {
        let Some(before) = process_read_bytes() else {
            return; // not Linux, or /proc hidden
        };
        let text = std::fs::read("/proc/self/stat").unwrap();
        assert!(!text.is_empty());
        let after = process_read_bytes().unwrap();
        assert!(after > before);
    }
}
