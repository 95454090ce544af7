//! The codec, and the session against an in-memory SFTP server that answers reads only once
//! several are waiting (so a client that sends one request at a time would time out).

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use super::codec::{self, Reader, kind, status};
use super::transfer::{self, Control};
use super::*;

#[test]
fn attributes_round_trip() {
    let attrs = Attrs {
        size: Some(1 << 40),
        uid_gid: Some((1000, 100)),
        permissions: Some(0o100_644),
        times: Some((1, 2)),
    };
    let mut wire = Vec::new();
    attrs.encode(&mut wire);
    assert_eq!(wire.len(), 4 + 8 + 8 + 4 + 8);
    let back = Attrs::decode(&mut Reader::new(&wire)).unwrap();
    assert_eq!(back, attrs);
    assert!(back.is_file() && !back.is_dir() && !back.is_symlink());
    let empty = Attrs::default();
    let mut wire = Vec::new();
    empty.encode(&mut wire);
    assert_eq!(wire, [0, 0, 0, 0]);
}

#[test]
fn short_input_is_an_error_not_a_panic() {
    let mut reader = Reader::new(&[0, 0, 0, 9, 1, 2]);
    assert!(matches!(reader.bytes(), Err(Error::Protocol(_))));
    let mut reader = Reader::new(&[0, 0, 0, 1]);
    assert!(Attrs::decode(&mut reader).is_err());
    let flags_only_size = [0, 0, 0, 1, 0, 0];
    assert!(Attrs::decode(&mut Reader::new(&flags_only_size)).is_err());
}

#[test]
fn packets_carry_their_length() {
    let mut packet = codec::start(kind::STAT, Some(7));
    codec::put_bytes(&mut packet, b"/x");
    let packet = codec::finish(packet);
    assert_eq!(
        packet,
        [0, 0, 0, 11, 17, 0, 0, 0, 7, 0, 0, 0, 2, b'/', b'x']
    );
}

#[test]
fn status_messages_name_the_path() {
    let error = Error::Status {
        code: status::NO_SUCH_FILE,
        path: "data/in.txt".into(),
        message: "No such file".into(),
    };
    let text = error.to_string();
    assert!(
        text.contains("`data/in.txt`") && text.contains("no such file"),
        "{text}"
    );
    assert!(error.is_not_found() && !error.is_connection());
}

/// The fake server's state: files by path, directories, and how it answers reads.
#[derive(Default)]
struct Fake {
    files: BTreeMap<String, Vec<u8>>,
    dirs: Vec<String>,
    handles: HashMap<Vec<u8>, (String, bool)>,
    /// Answer at most this many bytes per read.
    max_read: usize,
    /// Hold the first read replies until this many are waiting, then answer them last first.
    batch: usize,
    held: Vec<Vec<u8>>,
    /// Hang up at the first read instead of answering it.
    vanish_at_read: bool,
}

fn reply(kind: u8, id: u32, body: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut packet = codec::start(kind, Some(id));
    body(&mut packet);
    codec::finish(packet)
}

fn status_reply(id: u32, code: u32) -> Vec<u8> {
    reply(kind::STATUS, id, |p| {
        codec::put_u32(p, code);
        codec::put_bytes(p, b"");
        codec::put_bytes(p, b"");
    })
}

fn attrs_of(fake: &Fake, path: &str) -> Option<Attrs> {
    if let Some(data) = fake.files.get(path) {
        return Some(Attrs {
            size: Some(data.len() as u64),
            permissions: Some(0o100_644),
            ..Attrs::default()
        });
    }
    fake.dirs.iter().any(|d| d == path).then(|| Attrs {
        permissions: Some(0o040_755),
        ..Attrs::default()
    })
}

impl Fake {
    #[allow(
        clippy::too_many_lines,
        reason = "a test fake: one arm per SFTP request"
    )]
    fn handle(&mut self, packet: &[u8]) -> Vec<Vec<u8>> {
        let mut r = Reader::new(packet);
        let kind = r.u8().unwrap();
        if kind == kind::INIT {
            let mut out = codec::start(kind::VERSION, None);
            codec::put_u32(&mut out, 3);
            codec::put_bytes(&mut out, b"posix-rename@openssh.com");
            codec::put_bytes(&mut out, b"1");
            return vec![codec::finish(out)];
        }
        let id = r.u32().unwrap();
        let path_of = |r: &mut Reader<'_>| r.string().unwrap();
        match kind {
            kind::OPEN | kind::OPENDIR => {
                let path = path_of(&mut r);
                let write = kind == kind::OPEN && r.u32().unwrap() & 0x02 != 0;
                if write {
                    self.files.insert(path.clone(), Vec::new());
                } else if attrs_of(self, &path).is_none() {
                    return vec![status_reply(id, status::NO_SUCH_FILE)];
                }
                let handle = format!("h{id}").into_bytes();
                // The flag: whether a directory's entries were already sent.
                self.handles.insert(handle.clone(), (path, false));
                vec![reply(kind::HANDLE, id, |p| codec::put_bytes(p, &handle))]
            }
            kind::READ => {
                let (path, _) = self.handles[r.bytes().unwrap()].clone();
                let offset = r.u64().unwrap() as usize;
                let len = (r.u32().unwrap() as usize).min(self.max_read);
                let data = &self.files[&path];
                let answer = if offset >= data.len() {
                    status_reply(id, status::EOF)
                } else {
                    let end = (offset + len).min(data.len());
                    reply(kind::DATA, id, |p| codec::put_bytes(p, &data[offset..end]))
                };
                self.held.push(answer);
                if self.held.len() >= self.batch {
                    // Only the first batch is held: it proves the client sent that many.
                    self.batch = 1;
                    let mut out = std::mem::take(&mut self.held);
                    out.reverse();
                    out
                } else {
                    Vec::new()
                }
            }
            kind::WRITE => {
                let (path, _) = self.handles[r.bytes().unwrap()].clone();
                let offset = r.u64().unwrap() as usize;
                let data = r.bytes().unwrap();
                let file = self.files.get_mut(&path).unwrap();
                if file.len() < offset + data.len() {
                    file.resize(offset + data.len(), 0);
                }
                file[offset..offset + data.len()].copy_from_slice(data);
                vec![status_reply(id, status::OK)]
            }
            kind::READDIR => {
                let handle = r.bytes().unwrap().to_vec();
                let (path, listed) = self.handles[&handle].clone();
                if listed {
                    // Second call: the listing is over.
                    return vec![status_reply(id, status::EOF)];
                }
                self.handles.insert(handle, (path.clone(), true));
                let prefix = format!("{path}/");
                let names: Vec<String> = self
                    .files
                    .keys()
                    .chain(self.dirs.iter())
                    .filter_map(|k| k.strip_prefix(&prefix))
                    .filter(|rest| !rest.contains('/'))
                    .map(str::to_owned)
                    .collect();
                vec![reply(kind::NAME, id, |p| {
                    codec::put_u32(p, names.len() as u32 + 1);
                    for name in [".".to_owned()].iter().chain(&names) {
                        codec::put_bytes(p, name.as_bytes());
                        codec::put_bytes(p, b"");
                        let attrs = attrs_of(self, &format!("{prefix}{name}")).unwrap_or_default();
                        attrs.encode(p);
                    }
                })]
            }
            kind::CLOSE => {
                self.handles.remove(r.bytes().unwrap());
                vec![status_reply(id, status::OK)]
            }
            kind::STAT | kind::LSTAT => match attrs_of(self, &path_of(&mut r)) {
                Some(attrs) => vec![reply(kind::ATTRS, id, |p| attrs.encode(p))],
                None => vec![status_reply(id, status::NO_SUCH_FILE)],
            },
            kind::FSTAT => {
                let (path, _) = self.handles[r.bytes().unwrap()].clone();
                let attrs = attrs_of(self, &path).unwrap();
                vec![reply(kind::ATTRS, id, |p| attrs.encode(p))]
            }
            kind::MKDIR => {
                self.dirs.push(path_of(&mut r));
                vec![status_reply(id, status::OK)]
            }
            kind::EXTENDED => {
                assert_eq!(r.string().unwrap(), "posix-rename@openssh.com");
                let (from, to) = (path_of(&mut r), path_of(&mut r));
                let data = self.files.remove(&from).unwrap();
                self.files.insert(to, data);
                vec![status_reply(id, status::OK)]
            }
            _ => vec![status_reply(id, status::OP_UNSUPPORTED)],
        }
    }
}

/// Two streams, as `ssh`'s standard input and output are: the session makes its output
/// non-blocking, which must not reach the stream it reads.
fn streams() -> ((UnixStream, UnixStream), (UnixStream, UnixStream)) {
    let (client_in, server_out) = UnixStream::pair().unwrap();
    let (client_out, server_in) = UnixStream::pair().unwrap();
    ((client_in, client_out), (server_in, server_out))
}

fn serve(fake: Arc<Mutex<Fake>>, (mut stream, mut writer): (UnixStream, UnixStream)) {
    loop {
        let mut length = [0u8; 4];
        if stream.read_exact(&mut length).is_err() {
            return;
        }
        let mut packet = vec![0u8; u32::from_be_bytes(length) as usize];
        if stream.read_exact(&mut packet).is_err() {
            return;
        }
        let mut fake = fake.lock().unwrap();
        if fake.vanish_at_read && packet.first() == Some(&kind::READ) {
            return;
        }
        for answer in fake.handle(&packet) {
            if writer.write_all(&answer).is_err() {
                return;
            }
        }
    }
}

fn session_with(fake: Fake) -> (Session, Arc<Mutex<Fake>>) {
    let (client, server) = streams();
    let fake = Arc::new(Mutex::new(fake));
    let state = Arc::clone(&fake);
    thread::spawn(move || serve(state, server));
    let timeouts = Timeouts {
        start: Duration::from_secs(10),
        operation: Duration::from_secs(10),
    };
    let end: Arc<dyn EndReason> = Arc::new(|| Some("the fake server stopped".to_owned()));
    let session = Session::start(client.0, client.1, timeouts, end).unwrap();
    (session, fake)
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 251) as u8).collect()
}

/// A session to a server holding `/big`, `len` bytes of [`pattern`], that answers at most
/// 20,000 bytes per read and holds its first `batch` read replies (see [`Fake::batch`]).
fn session_with_big_file(len: usize, batch: usize) -> (Session, Vec<u8>) {
    let data = pattern(len);
    let mut fake = Fake {
        max_read: 20_000,
        batch,
        ..Fake::default()
    };
    fake.files.insert("/big".into(), data.clone());
    (session_with(fake).0, data)
}

#[test]
fn a_download_keeps_many_reads_in_flight_and_asks_again_after_short_reads() {
    let (session, data) = session_with_big_file(8 * 32 * 1024 + 123, 8);
    assert!(session.has_extension("posix-rename@openssh.com"));
    assert_eq!(session.read_chunk(), 32 * 1024);
    let target = tempfile::tempfile().unwrap();
    let moved = Mutex::new(0u64);
    let stop = AtomicBool::new(false);
    let progress = |bytes| *moved.lock().unwrap() += bytes;
    // What lands is reported in file order, short reads included, so it can be hashed as it
    // streams: appending the pieces where they say gives the file.
    let pieces = Mutex::new(Vec::new());
    let landed = |offset: u64, piece: &[u8]| {
        let mut pieces = pieces.lock().unwrap();
        assert_eq!(offset, pieces.len() as u64, "a piece out of order");
        pieces.extend_from_slice(piece);
    };
    let control = Control {
        stop: &stop,
        progress: &progress,
        landed: &landed,
    };
    // Every read is answered with at most 20,000 bytes: the download must ask for the rest.
    // The first 8 replies are held until 8 reads wait, so the reads must be in flight together.
    let size = transfer::download(&session, "/big", None, &target, &control).unwrap();
    assert_eq!(size, data.len() as u64);
    assert_eq!(*moved.lock().unwrap(), data.len() as u64);
    let mut copied = Vec::new();
    let mut target = target;
    std::io::Seek::rewind(&mut target).unwrap();
    target.read_to_end(&mut copied).unwrap();
    assert!(copied == data, "the copy differs from the source");
    assert!(
        *pieces.lock().unwrap() == data,
        "the pieces differ from the source"
    );
}

#[test]
fn reads_from_many_threads_are_in_flight_at_once() {
    let data = pattern(64 * 1024);
    let mut fake = Fake {
        max_read: usize::MAX,
        batch: 6,
        ..Fake::default()
    };
    fake.files.insert("/f".into(), data.clone());
    let (session, _) = session_with(fake);
    let session = Arc::new(session);
    let handle = session.open("/f", OpenFlags::READ).unwrap();
    // The server answers nothing until six reads wait: six threads must all be in flight.
    let results: Vec<_> = (0..6u64)
        .map(|i| {
            let session = Arc::clone(&session);
            let handle = handle.clone();
            thread::spawn(move || session.read(&handle, i * 1000, 1000).unwrap())
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().unwrap())
        .collect();
    for (i, chunk) in results.iter().enumerate() {
        assert_eq!(chunk.as_slice(), &data[i * 1000..(i + 1) * 1000]);
    }
    session.close(&handle).unwrap();
}

#[test]
fn uploads_listings_renames_and_errors() {
    let fake = Fake {
        max_read: usize::MAX,
        batch: 1,
        dirs: vec!["/d".into()],
        ..Fake::default()
    };
    let (session, state) = session_with(fake);
    let data = pattern(100_000);
    let mut source = tempfile::tempfile().unwrap();
    source.write_all(&data).unwrap();
    std::io::Seek::rewind(&mut source).unwrap();
    let stop = AtomicBool::new(false);
    let control = Control {
        stop: &stop,
        progress: &|_| {},
        landed: &|_, _| {},
    };
    let sent = transfer::upload(&session, &mut source, "/d/tmp", 0o644, &control).unwrap();
    assert_eq!(sent, data.len() as u64);
    session.rename("/d/tmp", "/d/out").unwrap();
    assert!(state.lock().unwrap().files["/d/out"] == data);
    session.mkdir("/d/sub", &Attrs::default()).unwrap();
    let mut names: Vec<_> = session
        .read_dir("/d")
        .unwrap()
        .into_iter()
        .map(|(name, attrs)| (name, attrs.is_dir()))
        .collect();
    names.sort();
    assert_eq!(names, [("out".into(), false), ("sub".into(), true)]);
    let missing = session.stat("/nope").unwrap_err();
    assert!(missing.is_not_found(), "{missing}");
    let read = session.read_exact_at(
        &session.open("/d/out", OpenFlags::READ).unwrap(),
        99_990,
        50,
    );
    assert_eq!(read.unwrap(), &data[99_990..]);
    assert!(matches!(
        session.fsync(&Handle(b"h".to_vec())),
        Err(Error::Unsupported(_))
    ));
}

#[test]
fn a_stopped_transfer_fails_as_cancelled() {
    let mut fake = Fake {
        max_read: usize::MAX,
        batch: 1,
        ..Fake::default()
    };
    fake.files.insert("/f".into(), pattern(10));
    let (session, _) = session_with(fake);
    let stop = AtomicBool::new(true);
    let control = Control {
        stop: &stop,
        progress: &|_| {},
        landed: &|_, _| {},
    };
    let target = tempfile::tempfile().unwrap();
    let result = transfer::download(&session, "/f", None, &target, &control);
    assert_eq!(result, Err(Error::Cancelled));
}

#[test]
fn a_server_that_goes_away_fails_every_waiting_request() {
    let (client, server) = streams();
    let timeouts = Timeouts {
        start: Duration::from_secs(10),
        operation: Duration::from_secs(10),
    };
    drop(server);
    let end: Arc<dyn EndReason> = Arc::new(|| Some("ssh: connection refused".to_owned()));
    let error = Session::start(client.0, client.1, timeouts, end).unwrap_err();
    assert_eq!(
        error,
        Error::Closed {
            reason: Some("ssh: connection refused".into())
        }
    );
}

#[test]
fn a_range_read_lands_every_reply_in_place_and_stops_at_the_end() {
    let (session, data) = session_with_big_file(8 * 32 * 1024 + 123, 0);
    let handle = session.open("/big", OpenFlags::READ).unwrap();
    // Requests of 32 KiB answered with 20,000 bytes each: every reply lands at its own offset
    // of the one buffer, and the rest of each request is asked for again.
    let read = session.read_exact_at(&handle, 1000, 200_000).unwrap();
    assert!(
        read == data[1000..201_000],
        "the range differs from the source"
    );
    // A range past the end comes back short, cut where the file ends.
    let tail = session.read_exact_at(&handle, 250_000, 100_000).unwrap();
    assert!(tail == data[250_000..], "the tail differs from the source");
    assert!(
        session
            .read_exact_at(&handle, 400_000, 10)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn a_range_read_in_the_background_takes_replies_in_any_order() {
    // 64 requests of 32 KiB, more than the window: the first eight replies come last first,
    // every reply is short (20,000 bytes), and the buffer starts out full of old bytes.
    let (session, data) = session_with_big_file(2 * 1024 * 1024 + 77, 8);
    let handle = session.open("/big", OpenFlags::READ).unwrap();
    let range = |offset: u64, len: usize| {
        let (sender, receiver) = std::sync::mpsc::channel();
        let read = RangeRead {
            offset,
            buffer: vec![0xAA; len],
            done: Box::new(move |result| sender.send(result).unwrap()),
        };
        session.read_ranges_start(&handle, vec![read]);
        receiver.recv_timeout(Duration::from_secs(10)).unwrap()
    };
    let (buffer, filled) = range(5, 2 * 1024 * 1024).unwrap();
    assert_eq!(filled, 2 * 1024 * 1024);
    assert!(
        buffer == data[5..5 + filled],
        "the range differs from the source"
    );
    let (buffer, filled) = range(2 * 1024 * 1024, 1024 * 1024).unwrap();
    assert_eq!(filled, 77, "the range stops at the end of the file");
    assert!(buffer[..filled] == data[2 * 1024 * 1024..]);
    assert_eq!(range(0, 0).unwrap().1, 0);
    session.close(&handle).unwrap();
}

#[test]
fn a_range_read_of_a_closed_session_answers_with_the_error() {
    let mut fake = Fake {
        vanish_at_read: true,
        ..Fake::default()
    };
    fake.files.insert("/f".into(), pattern(100_000));
    let (session, _) = session_with(fake);
    let handle = session.open("/f", OpenFlags::READ).unwrap();
    let range = || {
        let (sender, receiver) = std::sync::mpsc::channel();
        let read = RangeRead {
            offset: 0,
            buffer: vec![0; 100_000],
            done: Box::new(move |result| sender.send(result).unwrap()),
        };
        session.read_ranges_start(&handle, vec![read]);
        receiver.recv_timeout(Duration::from_secs(10)).unwrap()
    };
    // In flight when the server goes away, and sent after.
    for _ in 0..2 {
        let result = range();
        assert!(matches!(result, Err(Error::Closed { .. })), "{result:?}");
    }
}

#[test]
fn an_answer_waited_for_until_a_deadline_times_out_then_not_at_the_session_timeout() {
    let mut fake = Fake::default();
    fake.files.insert("/big".into(), pattern(1000));
    let (session, fake) = session_with(fake);
    // While the test holds the fake, the server answers nothing.
    let held = fake.lock().unwrap();
    let asked = Instant::now();
    let error = Session::attributes(
        session
            .stat_start("/big")
            .unwrap()
            .until(asked + Duration::from_millis(50)),
    )
    .expect_err("no answer comes");
    assert!(matches!(error, Error::Timeout { .. }), "{error}");
    // The session's own timeout is 10 s: the wait ended at the deadline, long before it.
    assert!(
        asked.elapsed() < Duration::from_secs(10),
        "{:?}",
        asked.elapsed()
    );
    drop(held);
    assert_eq!(
        session.stat("/big").unwrap().size,
        Some(1000),
        "the session still works"
    );
}

#[test]
fn requests_the_stream_cannot_take_wait_in_order_for_the_writer_thread() {
    let (session, fake) = session_with(Fake {
        batch: 1,
        ..Fake::default()
    });
    let flags = OpenFlags(OpenFlags::WRITE.0 | OpenFlags::CREATE.0);
    let handle = session.open("/up", flags).unwrap();
    let data = pattern(4 * 1024 * 1024);
    // While the test holds the fake, the server reads nothing more: the stream fills, senders
    // leave the rest to the writer thread, and none of them waits for it.
    let held = fake.lock().unwrap();
    let sent: Vec<_> = data
        .chunks(32 * 1024)
        .enumerate()
        .map(|(index, piece)| {
            session
                .write_start(&handle, (index * 32 * 1024) as u64, piece)
                .unwrap()
        })
        .collect();
    drop(held);
    for pending in sent {
        pending.wait_ok().unwrap();
    }
    session.close(&handle).unwrap();
    assert!(
        fake.lock().unwrap().files["/up"] == data,
        "every write landed whole"
    );
}
