//! The plumbing under a [`Session`](super::Session): the queue to the writer thread, the
//! table of requests waiting for replies, and the reader thread that matches each reply to its
//! request id. A request is registered before it is sent, so a reply can never arrive for an
//! unknown id; when the stream ends every waiting request fails with the reason.
//!
//! A read may name a [`Sink`]: the reader thread then reads the reply's data from the stream
//! straight into its place in the caller's buffer. A range read of many requests (a chunk of a
//! mounted file) is assembled where it lands, not copied together afterwards.
//!
//! A request is answered either to a thread waiting on its [`Pending`] or to a callback that the
//! reader thread runs itself ([`Outbox`]): a mounted file's read-ahead completes its chunks there,
//! without waking a thread for every reply. A callback must never wait for another reply (only
//! the reader thread could deliver it) and must not block on the stream.

use std::collections::HashMap;
use std::io::Read;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use super::codec::{self, Reader, kind, status};
use super::{EndReason, Error, Result};

/// A reply packet: its kind and its body (what follows the kind and the request id). For
/// `DATA`, the body is the data itself (its length prefix is consumed by the reader thread, so
/// the bytes land in their own buffer once and are never moved again).
#[derive(Debug)]
pub(super) struct Reply {
    kind: u8,
    body: Vec<u8>,
    /// For a `DATA` reply read into the request's [`Sink`]: how many bytes landed there (the
    /// body is then empty).
    landed: usize,
}

pub(super) type Waiter = SyncSender<Result<Reply>>;

/// What the reader thread runs with a request's reply.
pub(super) type Callback = Box<dyn FnOnce(Result<Reply>) + Send>;

/// Where the data of a read reply goes: `buffer[at..at + room]`.
#[derive(Debug, Clone)]
pub(super) struct Sink {
    pub(super) buffer: Arc<Mutex<Vec<u8>>>,
    pub(super) at: usize,
    pub(super) room: usize,
}

/// Who gets a reply.
pub(super) enum Answer {
    /// A thread waiting on a [`Pending`].
    Wait(Waiter),
    /// A callback run on the thread that has the reply (the reader thread, or the one that
    /// found the session closed).
    Call(Callback),
}

impl Answer {
    fn give(self, reply: Result<Reply>) {
        match self {
            Self::Wait(waiter) => {
                let _ = waiter.try_send(reply);
            }
            Self::Call(callback) => callback(reply),
        }
    }
}

/// A request waiting for its reply.
pub(super) struct Entry {
    pub(super) answer: Answer,
    pub(super) sink: Option<Sink>,
}

/// The stream to the server. A thread that sends a request writes it itself when nothing is
/// waiting to be written: the stream is non-blocking, so the write never waits, and whatever
/// the stream does not take at once is left for the writer thread, which waits until it can
/// write it. A request thus costs no hand-off to another thread (on a tree of small files the
/// writer thread's wake-ups were 15 % of the mount's CPU samples: docs/sshfs.md, "Sending"),
/// and still nothing that sends can be held up by a server that stops reading.
pub(super) struct Outlet {
    state: Mutex<Outgoing>,
    wake: Condvar,
}

struct Outgoing {
    /// The stream, for senders; `None` once the session is closed (the writer thread keeps its
    /// own handle until it has written what is left).
    stream: Option<Arc<OwnedFd>>,
    /// Bytes that go out before any other, in order.
    backlog: Vec<u8>,
    /// Whether the writer thread is writing bytes it took from the backlog (senders then add
    /// to the backlog, so nothing is written out of order).
    writing: bool,
}

impl Outlet {
    /// An outlet to `stream`, made non-blocking, and the writer thread's handle to it.
    pub(super) fn new(stream: OwnedFd) -> Result<(Self, Arc<OwnedFd>)> {
        let flags = rustix::fs::fcntl_getfl(&stream)
            .map_err(|e| Error::Local(format!("cannot read the stream's flags: {e}")))?;
        rustix::fs::fcntl_setfl(&stream, flags | rustix::fs::OFlags::NONBLOCK)
            .map_err(|e| Error::Local(format!("cannot make the stream non-blocking: {e}")))?;
        let stream = Arc::new(stream);
        let outlet = Self {
            state: Mutex::new(Outgoing {
                stream: Some(Arc::clone(&stream)),
                backlog: Vec::new(),
                writing: false,
            }),
            wake: Condvar::new(),
        };
        Ok((outlet, stream))
    }

    /// Refuse further packets; the writer thread writes what is left and ends.
    pub(super) fn close(&self) {
        lock(&self.state).stream = None;
        self.wake.notify_all();
    }
}

pub(super) struct Shared {
    pub(super) outlet: Outlet,
    pub(super) pending: Mutex<HashMap<u32, Entry>>,
    pub(super) closed: Mutex<Option<Option<String>>>,
    pub(super) next_id: AtomicU32,
}

pub(super) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    /// Mark the session closed and answer every waiting request with the reason.
    pub(super) fn close(&self, reason: Option<String>) {
        {
            let mut closed = lock(&self.closed);
            if closed.is_none() {
                *closed = Some(reason.clone());
            }
        }
        self.outlet.close();
        // Taken out of the table first: a callback may send a request of its own.
        let answers: Vec<Answer> = lock(&self.pending)
            .drain()
            .map(|(_, entry)| entry.answer)
            .collect();
        for answer in answers {
            answer.give(Err(Error::Closed {
                reason: reason.clone(),
            }));
        }
    }

    pub(super) fn closed_error(&self) -> Option<Error> {
        lock(&self.closed).as_ref().map(|reason| Error::Closed {
            reason: reason.clone(),
        })
    }
}

/// A request sent and not yet answered. Dropping it forgets the reply.
pub struct Pending {
    pub(super) id: u32,
    pub(super) receiver: Receiver<Result<Reply>>,
    pub(super) shared: Arc<Shared>,
    pub(super) operation: &'static str,
    pub(super) path: String,
    pub(super) timeout: Duration,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending")
            .field("id", &self.id)
            .field("operation", &self.operation)
            .finish_non_exhaustive()
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        lock(&self.shared.pending).remove(&self.id);
    }
}

impl Pending {
    /// Wait no later than `deadline` for the answer (nor longer than the session's timeout).
    #[must_use]
    pub fn until(mut self, deadline: Instant) -> Self {
        self.timeout = self
            .timeout
            .min(deadline.saturating_duration_since(Instant::now()));
        self
    }

    fn wait(&self) -> Result<Reply> {
        match self.receiver.recv_timeout(self.timeout) {
            Ok(reply) => reply,
            Err(RecvTimeoutError::Timeout) => Err(Error::Timeout {
                operation: format!("{} `{}`", self.operation, self.path),
                seconds: self.timeout,
            }),
            Err(RecvTimeoutError::Disconnected) => Err(self
                .shared
                .closed_error()
                .unwrap_or(Error::Closed { reason: None })),
        }
    }

    fn status_error(&self, body: &[u8]) -> Error {
        status_error(body, &self.path)
    }

    /// Wait for an `OK` status.
    ///
    /// # Errors
    /// Any other status, a timeout, or a closed session.
    pub fn wait_ok(self) -> Result<()> {
        let reply = self.wait()?;
        match reply.kind {
            kind::STATUS => match self.status_error(&reply.body) {
                Error::Status { code, .. } if code == status::OK => Ok(()),
                error => Err(error),
            },
            other => Err(unexpected(other)),
        }
    }

    /// Wait for the data of a read: empty at the end of the file; may be shorter than asked.
    ///
    /// # Errors
    /// An error status, a timeout, or a closed session.
    pub fn wait_data(self) -> Result<Vec<u8>> {
        let reply = self.wait()?;
        match reply.kind {
            kind::DATA => Ok(reply.body),
            kind::STATUS => match self.status_error(&reply.body) {
                Error::Status { code, .. } if code == status::EOF => Ok(Vec::new()),
                error => Err(error),
            },
            other => Err(unexpected(other)),
        }
    }

    pub(super) fn wait_kind(self, wanted: u8) -> Result<Vec<u8>> {
        let reply = self.wait()?;
        if reply.kind == wanted {
            Ok(reply.body)
        } else if reply.kind == kind::STATUS {
            Err(self.status_error(&reply.body))
        } else {
            Err(unexpected(reply.kind))
        }
    }
}

fn status_error(body: &[u8], path: &str) -> Error {
    let mut reader = Reader::new(body);
    let code = reader.u32().unwrap_or(status::FAILURE);
    let message = reader.string().unwrap_or_default();
    Error::Status {
        code,
        path: path.to_owned(),
        message,
    }
}

/// How many bytes of a read reply are now in `sink`'s place (0 at the end of the file). A reply
/// the reader thread could not place (larger than asked, or the buffer was taken) is copied
/// there, cut to the room.
pub(super) fn landed(reply: Reply, sink: &Sink, path: &str) -> Result<usize> {
    match reply.kind {
        kind::DATA if reply.body.is_empty() => Ok(reply.landed),
        kind::DATA => {
            let len = reply.body.len().min(sink.room);
            let mut buffer = lock(&sink.buffer);
            let place = buffer
                .get_mut(sink.at..sink.at + len)
                .ok_or_else(|| Error::Local("the read buffer is gone".into()))?;
            place.copy_from_slice(&reply.body[..len]);
            Ok(len)
        }
        kind::STATUS => match status_error(&reply.body, path) {
            Error::Status { code, .. } if code == status::EOF => Ok(0),
            error => Err(error),
        },
        other => Err(unexpected(other)),
    }
}

/// Requests whose replies go to callbacks, gathered to go out in one write (one packet
/// through `ssh`, `sshd` and the server instead of one each). Each callback runs exactly once:
/// with the reply, or with the error that kept its request from being sent or answered (the
/// session closed), possibly before [`Outbox::send`] returns.
pub(super) struct Outbox<'a> {
    shared: &'a Shared,
    bytes: Vec<u8>,
    ids: Vec<u32>,
}

impl<'a> Outbox<'a> {
    pub(super) fn new(shared: &'a Shared) -> Self {
        Self {
            shared,
            bytes: Vec::new(),
            ids: Vec::new(),
        }
    }

    /// Add a request answered to `callback`.
    pub(super) fn call(
        &mut self,
        kind: u8,
        sink: Option<Sink>,
        body: impl FnOnce(&mut Vec<u8>),
        callback: Callback,
    ) {
        let id = self.shared.next_id.fetch_add(1, Ordering::Relaxed);
        lock(&self.shared.pending).insert(
            id,
            Entry {
                answer: Answer::Call(callback),
                sink,
            },
        );
        let mut packet = codec::start(kind, Some(id));
        body(&mut packet);
        self.bytes.extend_from_slice(&codec::finish(packet));
        self.ids.push(id);
    }

    /// Send the requests added.
    pub(super) fn send(self) {
        if self.ids.is_empty() {
            return;
        }
        if send(self.shared, self.bytes).is_err() {
            for id in self.ids {
                // Unless closing the session answered it already.
                let entry = lock(&self.shared.pending).remove(&id);
                if let Some(entry) = entry {
                    let error = self
                        .shared
                        .closed_error()
                        .unwrap_or(Error::Closed { reason: None });
                    entry.answer.give(Err(error));
                }
            }
        }
    }
}

fn unexpected(kind: u8) -> Error {
    Error::Protocol(format!("unexpected reply of type {kind}"))
}

pub(super) fn send(shared: &Shared, packet: Vec<u8>) -> Result<()> {
    let mut state = lock(&shared.outlet.state);
    let Some(stream) = state.stream.clone() else {
        drop(state);
        return Err(shared
            .closed_error()
            .unwrap_or(Error::Closed { reason: None }));
    };
    let mut rest = packet.as_slice();
    if !state.writing && state.backlog.is_empty() {
        while !rest.is_empty() {
            match rustix::io::write(&*stream, rest) {
                Ok(0) => break,
                Ok(written) => rest = rest.get(written..).unwrap_or_default(),
                Err(rustix::io::Errno::INTR) => {}
                // Full, or failed: the writer thread waits for room, or reports the failure
                // with the stream's reason.
                Err(_) => break,
            }
        }
        if rest.is_empty() {
            return Ok(());
        }
    }
    state.backlog.extend_from_slice(rest);
    drop(state);
    shared.outlet.wake.notify_one();
    Ok(())
}

/// Write all of `bytes` to the non-blocking `stream`, waiting for room when it is full.
fn write_waiting(stream: &OwnedFd, mut bytes: &[u8]) -> std::io::Result<()> {
    use rustix::event::{PollFd, PollFlags, poll};
    while !bytes.is_empty() {
        match rustix::io::write(stream, bytes) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(written) => bytes = bytes.get(written..).unwrap_or_default(),
            Err(rustix::io::Errno::INTR) => {}
            Err(rustix::io::Errno::AGAIN) => {
                let mut ready = [PollFd::new(stream, PollFlags::OUT)];
                match poll(&mut ready, None) {
                    Ok(_) | Err(rustix::io::Errno::INTR) => {}
                    Err(error) => return Err(error.into()),
                }
            }
            Err(error) => return Err(error.into()),
        }
    }
    Ok(())
}

/// Start the thread that writes what senders left in the outlet's backlog, to `stream`.
pub(super) fn spawn_writer(
    stream: Arc<OwnedFd>,
    shared: Arc<Shared>,
    end: Arc<dyn EndReason>,
) -> Result<()> {
    let body = move || {
        loop {
            let bytes = {
                let mut state = lock(&shared.outlet.state);
                loop {
                    if !state.backlog.is_empty() {
                        break;
                    }
                    state.writing = false;
                    if state.stream.is_none() {
                        return; // closed and written out: dropping `stream` ends it
                    }
                    state = shared
                        .outlet
                        .wake
                        .wait(state)
                        .unwrap_or_else(PoisonError::into_inner);
                }
                state.writing = true;
                std::mem::take(&mut state.backlog)
            };
            if let Err(error) = write_waiting(&stream, &bytes) {
                let reason = end.reason().unwrap_or_else(|| error.to_string());
                shared.close(Some(reason));
                lock(&shared.outlet.state).backlog.clear();
                return;
            }
        }
    };
    thread::Builder::new()
        .name("sftp-writer".into())
        .spawn(body)
        .map(drop)
        .map_err(|e| Error::Local(format!("cannot start the sftp writer thread: {e}")))
}

/// The largest packet accepted from a server (OpenSSH sends at most 256 KiB plus headers).
const MAX_PACKET: usize = 16 * 1024 * 1024;

/// One packet from the server, split as the reader thread needs it.
enum Packet {
    /// `VERSION`: everything after the kind byte.
    Version(Vec<u8>),
    /// A reply to request `id`.
    Reply(u32, Reply),
}

fn invalid(message: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, message)
}

/// Read exactly `length` bytes into a new buffer, without zeroing it first.
fn read_vec(input: &mut impl Read, length: usize) -> std::io::Result<Vec<u8>> {
    let mut buffer = Vec::with_capacity(length);
    input.take(length as u64).read_to_end(&mut buffer)?;
    if buffer.len() < length {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    Ok(buffer)
}

fn read_u32(input: &mut impl Read) -> std::io::Result<u32> {
    let mut word = [0u8; 4];
    input.read_exact(&mut word)?;
    Ok(u32::from_be_bytes(word))
}

/// The next packet; `None` at the end of the stream. A `DATA` reply's bytes are read straight
/// into the request's sink when it has one and they fit, else into their own buffer (no header
/// to strip later).
fn read_packet(input: &mut impl Read, shared: &Shared) -> std::io::Result<Option<Packet>> {
    let mut length = [0u8; 4];
    match input.read_exact(&mut length) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let length = u32::from_be_bytes(length) as usize;
    if length == 0 || length > MAX_PACKET {
        return Err(invalid(format!("a packet of {length} bytes is not sftp")));
    }
    let mut kind = [0u8; 1];
    input.read_exact(&mut kind)?;
    let kind = kind[0];
    if kind == kind::VERSION {
        return Ok(Some(Packet::Version(read_vec(input, length - 1)?)));
    }
    if length < 5 {
        return Err(invalid(format!(
            "a reply of {length} bytes has no request id"
        )));
    }
    let id = read_u32(input)?;
    let rest = length - 5;
    if kind == kind::DATA && rest >= 4 {
        let data = read_u32(input)? as usize;
        if data != rest - 4 {
            return Err(invalid(format!(
                "a data reply of {length} bytes says it holds {data}"
            )));
        }
        let sink = lock(&shared.pending)
            .get(&id)
            .and_then(|entry| entry.sink.clone());
        if let Some(sink) = sink.filter(|sink| data <= sink.room) {
            let mut buffer = lock(&sink.buffer);
            if let Some(place) = buffer.get_mut(sink.at..sink.at + data) {
                input.read_exact(place)?;
                return Ok(Some(Packet::Reply(
                    id,
                    Reply {
                        kind,
                        body: Vec::new(),
                        landed: data,
                    },
                )));
            }
        }
        let body = read_vec(input, data)?;
        return Ok(Some(Packet::Reply(
            id,
            Reply {
                kind,
                body,
                landed: 0,
            },
        )));
    }
    let body = read_vec(input, rest)?;
    Ok(Some(Packet::Reply(
        id,
        Reply {
            kind,
            body,
            landed: 0,
        },
    )))
}

pub(super) fn spawn_reader<R: Read + Send + 'static>(
    input: R,
    shared: Arc<Shared>,
    version: SyncSender<Result<Vec<u8>>>,
    end: Arc<dyn EndReason>,
) -> Result<()> {
    let body = move || {
        // A small buffer: headers come from it, while the data of a large reply is read
        // straight into its own buffer (BufReader passes large reads through once it is empty).
        let mut input = std::io::BufReader::with_capacity(16 * 1024, input);
        let mut version = Some(version);
        let reason = loop {
            let packet = match read_packet(&mut input, &shared) {
                Ok(Some(packet)) => packet,
                Ok(None) => break end.reason(),
                Err(error) => break Some(end.reason().unwrap_or_else(|| error.to_string())),
            };
            match packet {
                Packet::Version(body) => {
                    if let Some(version) = version.take() {
                        let _ = version.send(Ok(body));
                    }
                }
                Packet::Reply(id, reply) => {
                    let entry = lock(&shared.pending).remove(&id);
                    if let Some(entry) = entry {
                        entry.answer.give(Ok(reply));
                    }
                }
            }
        };
        if let Some(version) = version.take() {
            let _ = version.send(Err(Error::Closed {
                reason: reason.clone(),
            }));
        }
        shared.close(reason);
    };
    thread::Builder::new()
        .name("sftp-reader".into())
        .spawn(body)
        .map(drop)
        .map_err(|e| Error::Local(format!("cannot start the sftp reader thread: {e}")))
}
