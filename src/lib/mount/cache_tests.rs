//! The read cache against an in-memory remote that records every byte range asked of it:
//! reads at any offset fetch their own bytes and the planned read-ahead, nothing more, and
//! readers of one file never ask for the same bytes twice.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::ops::Range;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use fuser::FileHandle;

use super::Options;
use super::fs::RemoteFs;
use super::remote::{Attrs, BackgroundRead, Kind, OpenFlags, Remote, RemoteError};

const K: u64 = 1024;
const M: u64 = 1024 * K;
/// The chunk of these tests: requests of at most 64 KiB.
const CHUNK: u64 = 64 * K;

/// One file in memory; every read asked of it is recorded.
struct Memory {
    data: Vec<u8>,
    asked: Mutex<Vec<Range<u64>>>,
}

impl Memory {
    fn new(size: usize) -> Arc<Self> {
        // Bytes that differ from one offset to the next (not a short period).
        let data = (0..size as u64)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        Arc::new(Self {
            data,
            asked: Mutex::new(Vec::new()),
        })
    }

    fn slice(&self, offset: u64, len: u64) -> &[u8] {
        let from = (offset as usize).min(self.data.len());
        let to = (offset.saturating_add(len) as usize).min(self.data.len());
        &self.data[from..to]
    }

    fn asked(&self) -> Vec<Range<u64>> {
        let mut asked = self.asked.lock().unwrap().clone();
        asked.sort_by_key(|range| range.start);
        asked
    }
}

impl Remote for Memory {
    type Handle = ();

    fn stat(&self, _path: &str) -> Result<Attrs, RemoteError> {
        Ok(Attrs {
            kind: Kind::File,
            size: self.data.len() as u64,
            perm: 0o444,
            mtime: SystemTime::UNIX_EPOCH,
            atime: None,
            uid: None,
            gid: None,
        })
    }
    fn lstat(&self, path: &str) -> Result<Attrs, RemoteError> {
        self.stat(path)
    }
    fn read_dir(&self, _path: &str) -> Result<Vec<(String, Attrs)>, RemoteError> {
        Ok(Vec::new())
    }
    fn read_link(&self, _path: &str) -> Result<String, RemoteError> {
        Err(RemoteError::Unsupported)
    }
    fn open(&self, _path: &str, _flags: OpenFlags) -> Result<(), RemoteError> {
        Ok(())
    }
    fn read(&self, _handle: &(), offset: u64, len: u32) -> Result<Vec<u8>, RemoteError> {
        self.asked
            .lock()
            .unwrap()
            .push(offset..offset + u64::from(len));
        Ok(self.slice(offset, u64::from(len)).to_vec())
    }
    /// Answered on a thread of its own, a little later, as a session's reader thread does.
    fn read_start(
        &self,
        _handle: &(),
        reads: Vec<BackgroundRead>,
    ) -> Result<(), Vec<BackgroundRead>> {
        let mut asked = self.asked.lock().unwrap();
        let answers: Vec<_> = reads
            .into_iter()
            .map(|mut read| {
                let len = read.buffer.len() as u64;
                asked.push(read.offset..read.offset + len);
                let bytes = self.slice(read.offset, len);
                read.buffer[..bytes.len()].copy_from_slice(bytes);
                (read, bytes.len())
            })
            .collect();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(1));
            for (read, filled) in answers {
                (read.done)(Ok((read.buffer, filled)));
            }
        });
        Ok(())
    }
    fn write(&self, _handle: &(), _offset: u64, _data: &[u8]) -> Result<(), RemoteError> {
        Err(RemoteError::PermissionDenied)
    }
    fn fsync(&self, _handle: &()) -> Result<(), RemoteError> {
        Ok(())
    }
    fn close(&self, _handle: ()) -> Result<(), RemoteError> {
        Ok(())
    }
    fn mkdir(&self, _path: &str, _perm: u16) -> Result<(), RemoteError> {
        Err(RemoteError::PermissionDenied)
    }
    fn rmdir(&self, _path: &str) -> Result<(), RemoteError> {
        Err(RemoteError::PermissionDenied)
    }
    fn remove(&self, _path: &str) -> Result<(), RemoteError> {
        Err(RemoteError::PermissionDenied)
    }
    fn rename(&self, _from: &str, _to: &str) -> Result<(), RemoteError> {
        Err(RemoteError::PermissionDenied)
    }
    fn truncate(&self, _path: &str, _size: u64) -> Result<(), RemoteError> {
        Err(RemoteError::PermissionDenied)
    }
    fn chmod(&self, _path: &str, _perm: u16) -> Result<(), RemoteError> {
        Err(RemoteError::PermissionDenied)
    }
}

/// A filesystem over `memory` with 64 KiB chunks and a read-ahead window of up to 1 MiB.
fn filesystem(memory: &Arc<Memory>) -> RemoteFs<Memory> {
    let options = Options {
        chunk: CHUNK,
        readahead: M,
        // red's own window, as with `--direct-io` or where the kernel's read-ahead cannot be
        // raised (`readahead::own_window`).
        kernel_readahead: false,
        workers: 2,
        ..Options::default()
    };
    RemoteFs::new(Arc::clone(memory), "/", options).unwrap()
}

fn open(fs: &RemoteFs<Memory>) -> FileHandle {
    FileHandle(
        fs.open_file("big.bin".into(), OpenFlags::read_only(), 2)
            .unwrap(),
    )
}

/// Read and check the bytes; true when they were joined from several pieces (a copy).
fn read(fs: &RemoteFs<Memory>, memory: &Memory, fh: FileHandle, offset: u64, len: u32) -> bool {
    let served = fs.read_at(fh, offset, len).unwrap();
    assert!(
        served.bytes() == memory.slice(offset, u64::from(len)),
        "the bytes at {offset} (+{len})"
    );
    served.joined()
}

fn total(ranges: &[Range<u64>]) -> u64 {
    ranges.iter().map(|range| range.end - range.start).sum()
}

#[test]
fn random_reads_at_unaligned_offsets_fetch_exactly_their_bytes() {
    let memory = Memory::new((32 * M) as usize);
    let fs = filesystem(&memory);
    let fh = open(&fs);
    // Jumps between 1 MiB blocks in a scrambled order (never to the next block, never to the
    // start of the file), each read starting at an odd offset inside its block and crossing
    // chunk lines: never sequential, so nothing is read ahead.
    let mut read_ranges = Vec::new();
    for step in 0..32u64 {
        let block = (step * 13 + 5) % 32;
        let offset = block * M + 4099 * (step + 1) % (M / 2);
        let len = 100_003 + 7919 * step;
        read(&fs, &memory, fh, offset, u32::try_from(len).unwrap());
        read_ranges.push(offset..offset + len);
    }
    read_ranges.sort_by_key(|range| range.start);
    let asked = memory.asked();
    assert_eq!(total(&asked), total(&read_ranges), "fetched {asked:?}");
    for range in &asked {
        assert!(
            read_ranges
                .iter()
                .any(|read| read.start <= range.start && range.end <= read.end),
            "{range:?} was fetched but not read"
        );
    }
}

#[test]
fn a_stream_from_an_unaligned_start_is_served_from_whole_pieces() {
    let memory = Memory::new((8 * M) as usize);
    let fs = filesystem(&memory);
    let fh = open(&fs);
    let start = 3 * M + 12_345;
    let mut joined = 0;
    let reads = 64;
    for i in 0..reads {
        joined += usize::from(read(
            &fs,
            &memory,
            fh,
            start + i * CHUNK,
            u32::try_from(CHUNK).unwrap(),
        ));
    }
    assert_eq!(joined, 0, "every read of the stream came from one piece");
    let asked = memory.asked();
    for range in &asked {
        assert_eq!(
            (range.start - start) % CHUNK,
            0,
            "pieces start where the stream's reads start: {range:?}"
        );
    }
    // What was read, plus at most one window ahead.
    assert!(
        total(&asked) <= reads * CHUNK + M,
        "fetched {}",
        total(&asked)
    );
    assert_eq!(asked.first().map(|range| range.start), Some(start));
}

#[test]
fn readers_of_one_file_never_fetch_the_same_bytes_twice() {
    let memory = Memory::new((6 * M) as usize);
    let fs = Arc::new(filesystem(&memory));
    let handles: Vec<FileHandle> = (0..4).map(|_| open(&fs)).collect();
    std::thread::scope(|scope| {
        for (reader, fh) in handles.iter().copied().enumerate() {
            let (fs, memory) = (Arc::clone(&fs), Arc::clone(&memory));
            scope.spawn(move || {
                // Overlapping regions: a stream through the middle of the file and random
                // 200 KB reads over the same bytes, from unaligned starts that differ per reader.
                let reader = reader as u64;
                let mut offset = M + 777 * reader;
                while offset < 4 * M {
                    read(&fs, &memory, fh, offset, 128 * 1024);
                    offset += 128 * K;
                }
                for step in 0..24u64 {
                    let at = (step * 5 + reader * 3) % 24 * 200_000 + 1_001 * reader;
                    read(&fs, &memory, fh, at, 200_000);
                }
            });
        }
    });
    let asked = memory.asked();
    for pair in asked.windows(2) {
        assert!(
            pair[0].end <= pair[1].start,
            "{:?} and {:?} were both fetched",
            pair[0],
            pair[1]
        );
    }
}

proptest::proptest! {
    #![proptest_config(proptest::test_runner::Config::with_cases(48))]
    #[test]
    fn reads_at_any_offset_return_the_files_bytes(
        reads in proptest::collection::vec((0u64..(3 * M), 1u32..(300 * 1024)), 1..40),
        size in 1u64..(3 * M),
    ) {
        let memory = Memory::new(size as usize);
        let fs = filesystem(&memory);
        let fh = open(&fs);
        for (offset, len) in reads {
            let served = fs.read_at(fh, offset, len).unwrap();
            proptest::prop_assert!(served.bytes() == memory.slice(offset, u64::from(len)));
        }
    }
}
