//! Reading a range of a file as many requests in flight, assembled where the replies land.
//!
//! The range is split into requests of [`Session::read_chunk`] bytes, at most [`WINDOW`] of
//! them in flight (the first ones of several ranges go out in one write); the reader thread
//! reads each reply's data straight into its place in the range's buffer (a [`Sink`]). The
//! bookkeeping runs on the reader thread too, as each reply arrives: it sends the next request,
//! asks again for the rest of a short reply, and, when the last reply is in, hands the buffer to
//! the caller's callback. A mounted file's read-ahead thereby costs no thread of its own and
//! one wake-up per range, not one per reply.
//!
//! Replies may come in any order. The range ends at the first gap: at the end of the file (an
//! `EOF` status, or a reply that stays short), or where the file was shorter when one request
//! was answered than when a later one was (it grew meanwhile).

use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use super::channel::{self, Outbox, Reply, Shared, Sink, lock};
use super::codec::{self, kind};
use super::transfer::WINDOW;
use super::{Error, Handle, Result, Session};

/// What a range read hands back: the buffer, and how many bytes from its start were read.
pub type RangeDone = Box<dyn FnOnce(Result<(Vec<u8>, usize)>) + Send>;

/// One range to read: `buffer.len()` bytes at `offset`, into `buffer`.
pub struct RangeRead {
    pub offset: u64,
    pub buffer: Vec<u8>,
    pub done: RangeDone,
}

struct Range {
    shared: Arc<Shared>,
    handle: Handle,
    offset: u64,
    piece: usize,
    buffer: Arc<Mutex<Vec<u8>>>,
    progress: Mutex<Progress>,
}

struct Progress {
    /// Requests sent and not yet answered.
    in_flight: usize,
    /// Where the next request of the first pass starts.
    next: usize,
    /// Where the file ends, as far as the replies have shown (the range's length until then).
    end: usize,
    /// `(at, bytes)` of every reply that brought data.
    landed: Vec<(usize, usize)>,
    error: Option<Error>,
    done: Option<RangeDone>,
}

impl Progress {
    /// The bytes read from the start of the range without a gap.
    fn filled(&mut self) -> usize {
        self.landed.sort_unstable();
        let mut filled = 0;
        for &(at, bytes) in &self.landed {
            if at > filled {
                break;
            }
            filled = filled.max(at + bytes);
        }
        filled.min(self.end)
    }
}

/// Start reading the ranges of `handle`, the first requests of all of them in one write. Each
/// range's `done` runs once, on whichever thread has its last reply (usually the reader thread,
/// possibly this one), with the buffer and the bytes read: fewer than asked only at the end of
/// the file. A buffer's old contents past those bytes are left as they were.
pub(super) fn start(session: &Session, handle: &Handle, reads: Vec<RangeRead>) {
    let mut outbox = Outbox::new(&session.shared);
    for read in reads {
        let len = read.buffer.len();
        if len == 0 {
            (read.done)(Ok((read.buffer, 0)));
            continue;
        }
        let range = Arc::new(Range {
            shared: Arc::clone(&session.shared),
            handle: handle.clone(),
            offset: read.offset,
            piece: session.read_chunk() as usize,
            buffer: Arc::new(Mutex::new(read.buffer)),
            progress: Mutex::new(Progress {
                in_flight: 0,
                next: 0,
                end: len,
                landed: Vec::new(),
                error: None,
                done: Some(read.done),
            }),
        });
        // Every request of the first window is counted before any is sent, so an early answer
        // cannot find the range finished.
        let first: Vec<(usize, usize)> = {
            let mut progress = lock(&range.progress);
            let mut first = Vec::new();
            while progress.next < len && first.len() < WINDOW {
                let room = range.piece.min(len - progress.next);
                first.push((progress.next, room));
                progress.next += room;
            }
            progress.in_flight = first.len();
            first
        };
        for (at, room) in first {
            range.request(&mut outbox, at, room);
        }
    }
    outbox.send();
}

impl Range {
    fn request(self: &Arc<Self>, outbox: &mut Outbox<'_>, at: usize, room: usize) {
        let sink = Sink {
            buffer: Arc::clone(&self.buffer),
            at,
            room,
        };
        let range = Arc::clone(self);
        let answered = sink.clone();
        let len = u32::try_from(room).unwrap_or(u32::MAX);
        outbox.call(
            kind::READ,
            Some(sink),
            |p| {
                codec::put_bytes(p, &self.handle.0);
                codec::put_u64(p, self.offset + at as u64);
                codec::put_u32(p, len);
            },
            Box::new(move |reply| range.answered(&answered, reply)),
        );
    }

    fn answered(self: &Arc<Self>, sink: &Sink, reply: Result<Reply>) {
        let got = reply.and_then(|reply| channel::landed(reply, sink, "handle"));
        let mut more = Vec::new();
        let finished = {
            let mut progress = lock(&self.progress);
            progress.in_flight -= 1;
            match got {
                Ok(0) => progress.end = progress.end.min(sink.at),
                Ok(bytes) => {
                    progress.landed.push((sink.at, bytes));
                    if bytes < sink.room && sink.at + bytes < progress.end {
                        // A short answer before the end: ask for the rest.
                        more.push((sink.at + bytes, sink.room - bytes));
                    }
                }
                Err(error) => {
                    progress.error.get_or_insert(error);
                }
            }
            if progress.error.is_none() {
                let wanted = progress.end;
                if more.is_empty() && progress.next < wanted {
                    let room = self.piece.min(wanted - progress.next);
                    more.push((progress.next, room));
                    progress.next += room;
                }
            } else {
                more.clear();
            }
            progress.in_flight += more.len();
            (progress.in_flight == 0).then(|| {
                let result = match progress.error.take() {
                    Some(error) => Err(error),
                    None => Ok(progress.filled()),
                };
                (result, progress.done.take())
            })
        };
        if !more.is_empty() {
            let mut outbox = Outbox::new(&self.shared);
            for (at, room) in more {
                self.request(&mut outbox, at, room);
            }
            outbox.send();
        }
        if let Some((result, Some(done))) = finished {
            let buffer = std::mem::take(&mut *lock(&self.buffer));
            done(result.map(|filled| (buffer, filled)));
        }
    }
}

/// Read `len` bytes at `offset`, waiting at most `timeout` for the whole range; shorter at the
/// end of the file.
pub(super) fn read_exact(
    session: &Session,
    handle: &Handle,
    offset: u64,
    len: usize,
    timeout: std::time::Duration,
) -> Result<Vec<u8>> {
    let (sender, receiver) = mpsc::sync_channel(1);
    let read = RangeRead {
        offset,
        buffer: vec![0; len],
        done: Box::new(move |result| {
            let _ = sender.send(result);
        }),
    };
    start(session, handle, vec![read]);
    match receiver.recv_timeout(timeout) {
        Ok(result) => result.map(|(mut buffer, filled)| {
            buffer.truncate(filled);
            buffer
        }),
        Err(mpsc::RecvTimeoutError::Timeout) => Err(Error::Timeout {
            operation: "read `handle`".into(),
            seconds: timeout,
        }),
        Err(mpsc::RecvTimeoutError::Disconnected) => Err(session
            .shared
            .closed_error()
            .unwrap_or(Error::Closed { reason: None })),
    }
}
