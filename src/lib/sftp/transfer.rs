//! Whole-file transfers over one [`Session`] with many requests in flight.
//!
//! A download keeps [`WINDOW`] reads of [`Session::read_chunk`] bytes outstanding and writes
//! each answer at its offset (`pwrite`), so the link never waits for a round trip; an upload
//! does the same with writes. Short reads (a server that answers less than asked) are asked
//! again for the rest. Both check a stop flag between requests and report bytes as they land.

use std::collections::VecDeque;
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicBool, Ordering};

use super::{Attrs, Error, Handle, OpenFlags, Pending, Result, Session};

/// Requests in flight per file.
pub const WINDOW: usize = 32;

/// What a transfer reports to and is stopped by.
pub struct Control<'a> {
    /// Set to stop the transfer (it then fails with [`Error::Cancelled`]).
    pub stop: &'a AtomicBool,
    /// Called with each number of bytes moved.
    pub progress: &'a (dyn Fn(u64) + Sync),
    /// Called by a download with each piece written and its offset, in file order (a hash of
    /// the file is made from them while it streams in).
    pub landed: &'a (dyn Fn(u64, &[u8]) + Sync),
}

impl Control<'_> {
    fn check(&self) -> Result<()> {
        if self.stop.load(Ordering::Relaxed) {
            Err(Error::Cancelled)
        } else {
            Ok(())
        }
    }
}

fn local(what: &str, error: &std::io::Error) -> Error {
    Error::Local(format!("{what}: {error}"))
}

/// Copy the remote file `remote` into `file` (opened for writing, empty). `size` is the size
/// from an earlier stat, if any (saves a round trip; the copy stops there, as `scp` does).
/// Returns the bytes written.
///
/// # Errors
/// When the remote file cannot be read, the local one written, or the transfer is stopped.
pub fn download(
    session: &Session,
    remote: &str,
    size: Option<u64>,
    file: &File,
    control: &Control<'_>,
) -> Result<u64> {
    let handle = session.open(remote, OpenFlags::READ)?;
    let result = download_handle(session, &handle, size, file, control);
    let closed = session.close(&handle);
    let bytes = result?;
    closed?;
    Ok(bytes)
}

fn download_handle(
    session: &Session,
    handle: &Handle,
    size: Option<u64>,
    file: &File,
    control: &Control<'_>,
) -> Result<u64> {
    let size = match size {
        Some(size) => Some(size),
        None => session.fstat(handle)?.size,
    };
    let chunk = session.read_chunk();
    let mut queue: VecDeque<(u64, u32, Pending)> = VecDeque::new();
    let mut next = 0u64;
    let mut end: Option<u64> = None;
    let mut written = 0u64;
    loop {
        control.check()?;
        // Ask ahead up to the known size; without a size, one read at a time finds the end.
        while end.is_none() && queue.len() < WINDOW && size.map_or(queue.is_empty(), |s| next < s) {
            queue.push_back((next, chunk, session.read_start(handle, next, chunk)?));
            next += u64::from(chunk);
        }
        let Some((offset, asked, pending)) = queue.pop_front() else {
            break;
        };
        let data = pending.wait_data()?;
        if data.is_empty() {
            end = Some(end.map_or(offset, |e| e.min(offset)));
            continue;
        }
        file.write_all_at(&data, offset)
            .map_err(|e| local("cannot write the local file", &e))?;
        (control.landed)(offset, &data);
        let got = u32::try_from(data.len()).unwrap_or(asked);
        written += u64::from(got);
        (control.progress)(u64::from(got));
        let limit = end.or(size);
        if got < asked && limit.is_none_or(|e| offset + u64::from(got) < e) {
            let rest = offset + u64::from(got);
            let pending = session.read_start(handle, rest, asked - got)?;
            queue.push_front((rest, asked - got, pending));
        }
    }
    Ok(written)
}

/// Copy the local `file` to the remote path `remote`, creating or truncating it with `mode`.
/// Returns the bytes sent.
///
/// # Errors
/// When the remote file cannot be written, the local one read, or the transfer is stopped.
pub fn upload(
    session: &Session,
    file: &mut File,
    remote: &str,
    mode: u32,
    control: &Control<'_>,
) -> Result<u64> {
    let attrs = Attrs {
        permissions: Some(mode),
        ..Attrs::default()
    };
    let flags = OpenFlags::WRITE | OpenFlags::CREATE | OpenFlags::TRUNCATE;
    let handle = session.open_with(remote, flags, &attrs)?;
    let result = upload_handle(session, file, &handle, control);
    let closed = session.close(&handle);
    let bytes = result?;
    closed?;
    Ok(bytes)
}

fn upload_handle(
    session: &Session,
    file: &mut File,
    handle: &Handle,
    control: &Control<'_>,
) -> Result<u64> {
    let chunk = session.write_chunk() as usize;
    let mut queue: VecDeque<(u64, Pending)> = VecDeque::new();
    let mut buffer = vec![0u8; chunk];
    let mut offset = 0u64;
    let mut done = false;
    loop {
        control.check()?;
        while !done && queue.len() < WINDOW {
            let filled = fill(file, &mut buffer)?;
            if filled == 0 {
                done = true;
                break;
            }
            let data = buffer.get(..filled).unwrap_or_default();
            queue.push_back((filled as u64, session.write_start(handle, offset, data)?));
            offset += filled as u64;
        }
        let Some((bytes, pending)) = queue.pop_front() else {
            break;
        };
        pending.wait_ok()?;
        (control.progress)(bytes);
    }
    Ok(offset)
}

/// Read until `buffer` is full or the file ends.
fn fill(file: &mut File, buffer: &mut [u8]) -> Result<usize> {
    let mut filled = 0;
    while let Some(rest) = buffer.get_mut(filled..).filter(|r| !r.is_empty()) {
        match file.read(rest) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(local("cannot read the local file", &e)),
        }
    }
    Ok(filled)
}
