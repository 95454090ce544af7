//! The SFTP version 3 wire format (draft-ietf-secsh-filexfer-02): packet kinds, attribute
//! blocks, and a reader over a packet's body that fails instead of panicking on short input.
//!
//! Everything here is pure byte work, so it is tested on its own; the session puts packets on
//! the wire and matches replies to requests.

use super::{Error, Result};

/// Packet kinds (only those `red` sends or expects).
pub(crate) mod kind {
    pub(crate) const INIT: u8 = 1;
    pub(crate) const VERSION: u8 = 2;
    pub(crate) const OPEN: u8 = 3;
    pub(crate) const CLOSE: u8 = 4;
    pub(crate) const READ: u8 = 5;
    pub(crate) const WRITE: u8 = 6;
    pub(crate) const LSTAT: u8 = 7;
    pub(crate) const FSTAT: u8 = 8;
    pub(crate) const SETSTAT: u8 = 9;
    pub(crate) const FSETSTAT: u8 = 10;
    pub(crate) const OPENDIR: u8 = 11;
    pub(crate) const READDIR: u8 = 12;
    pub(crate) const REMOVE: u8 = 13;
    pub(crate) const MKDIR: u8 = 14;
    pub(crate) const RMDIR: u8 = 15;
    pub(crate) const REALPATH: u8 = 16;
    pub(crate) const STAT: u8 = 17;
    pub(crate) const RENAME: u8 = 18;
    pub(crate) const READLINK: u8 = 19;
    pub(crate) const STATUS: u8 = 101;
    pub(crate) const HANDLE: u8 = 102;
    pub(crate) const DATA: u8 = 103;
    pub(crate) const NAME: u8 = 104;
    pub(crate) const ATTRS: u8 = 105;
    pub(crate) const EXTENDED: u8 = 200;
    pub(crate) const EXTENDED_REPLY: u8 = 201;
}

/// Status codes of a `STATUS` reply.
pub(crate) mod status {
    pub(crate) const OK: u32 = 0;
    pub(crate) const EOF: u32 = 1;
    pub(crate) const NO_SUCH_FILE: u32 = 2;
    pub(crate) const PERMISSION_DENIED: u32 = 3;
    pub(crate) const FAILURE: u32 = 4;
    pub(crate) const BAD_MESSAGE: u32 = 5;
    pub(crate) const NO_CONNECTION: u32 = 6;
    pub(crate) const CONNECTION_LOST: u32 = 7;
    pub(crate) const OP_UNSUPPORTED: u32 = 8;
}

const ATTR_SIZE: u32 = 0x1;
const ATTR_UIDGID: u32 = 0x2;
const ATTR_PERMISSIONS: u32 = 0x4;
const ATTR_ACMODTIME: u32 = 0x8;
const ATTR_EXTENDED: u32 = 0x8000_0000;

/// The file-type bits of `permissions` (as in `st_mode`).
const TYPE_MASK: u32 = 0o170_000;

/// File attributes; a field is `None` when the server did not send it (or, in a request, when
/// it is not to be changed).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attrs {
    /// Size in bytes.
    pub size: Option<u64>,
    /// Owner and group ids.
    pub uid_gid: Option<(u32, u32)>,
    /// `st_mode`: type and permission bits.
    pub permissions: Option<u32>,
    /// Access and modification times, seconds since the epoch.
    pub times: Option<(u32, u32)>,
}

impl Attrs {
    /// Whether these are a directory's attributes.
    #[must_use]
    pub fn is_dir(&self) -> bool {
        self.permissions.is_some_and(|p| p & TYPE_MASK == 0o040_000)
    }

    /// Whether these are a regular file's attributes.
    #[must_use]
    pub fn is_file(&self) -> bool {
        self.permissions.is_some_and(|p| p & TYPE_MASK == 0o100_000)
    }

    /// Whether these are a symbolic link's attributes (from `lstat` or `readdir`).
    #[must_use]
    pub fn is_symlink(&self) -> bool {
        self.permissions.is_some_and(|p| p & TYPE_MASK == 0o120_000)
    }

    /// The modification time, when sent.
    #[must_use]
    pub fn mtime(&self) -> Option<u32> {
        self.times.map(|(_, m)| m)
    }

    /// Append the wire form.
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        let mut flags = 0;
        if self.size.is_some() {
            flags |= ATTR_SIZE;
        }
        if self.uid_gid.is_some() {
            flags |= ATTR_UIDGID;
        }
        if self.permissions.is_some() {
            flags |= ATTR_PERMISSIONS;
        }
        if self.times.is_some() {
            flags |= ATTR_ACMODTIME;
        }
        put_u32(out, flags);
        if let Some(size) = self.size {
            put_u64(out, size);
        }
        if let Some((uid, gid)) = self.uid_gid {
            put_u32(out, uid);
            put_u32(out, gid);
        }
        if let Some(permissions) = self.permissions {
            put_u32(out, permissions);
        }
        if let Some((atime, mtime)) = self.times {
            put_u32(out, atime);
            put_u32(out, mtime);
        }
    }

    /// Read the wire form (extended attributes are skipped).
    pub(crate) fn decode(reader: &mut Reader<'_>) -> Result<Self> {
        let flags = reader.u32()?;
        let mut attrs = Self::default();
        if flags & ATTR_SIZE != 0 {
            attrs.size = Some(reader.u64()?);
        }
        if flags & ATTR_UIDGID != 0 {
            attrs.uid_gid = Some((reader.u32()?, reader.u32()?));
        }
        if flags & ATTR_PERMISSIONS != 0 {
            attrs.permissions = Some(reader.u32()?);
        }
        if flags & ATTR_ACMODTIME != 0 {
            attrs.times = Some((reader.u32()?, reader.u32()?));
        }
        if flags & ATTR_EXTENDED != 0 {
            let count = reader.u32()?;
            for _ in 0..count {
                reader.bytes()?;
                reader.bytes()?;
            }
        }
        Ok(attrs)
    }
}

/// Append a big-endian `u32`.
pub(crate) fn put_u32(out: &mut Vec<u8>, value: u32) {
    out.extend_from_slice(&value.to_be_bytes());
}

/// Append a big-endian `u64`.
pub(crate) fn put_u64(out: &mut Vec<u8>, value: u64) {
    out.extend_from_slice(&value.to_be_bytes());
}

/// Append a length-prefixed byte string.
///
/// Lengths above `u32::MAX` cannot be framed; callers keep data far below (one packet).
pub(crate) fn put_bytes(out: &mut Vec<u8>, value: &[u8]) {
    put_u32(out, u32::try_from(value.len()).unwrap_or(u32::MAX));
    out.extend_from_slice(value);
}

/// Start a packet: room for the length, then kind and (for requests) the id.
pub(crate) fn start(kind: u8, id: Option<u32>) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    put_u32(&mut out, 0);
    out.push(kind);
    if let Some(id) = id {
        put_u32(&mut out, id);
    }
    out
}

/// Fill in the length of a packet made by [`start`].
pub(crate) fn finish(mut packet: Vec<u8>) -> Vec<u8> {
    let length = u32::try_from(packet.len().saturating_sub(4)).unwrap_or(u32::MAX);
    if let Some(head) = packet.get_mut(..4) {
        head.copy_from_slice(&length.to_be_bytes());
    }
    packet
}

/// A cursor over a packet body that reports short or malformed input as [`Error::Protocol`].
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    data: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Self { data }
    }

    fn take(&mut self, count: usize) -> Result<&'a [u8]> {
        if self.data.len() < count {
            return Err(Error::Protocol("a reply ended early".into()));
        }
        let (head, rest) = self.data.split_at(count);
        self.data = rest;
        Ok(head)
    }

    #[cfg(test)]
    pub(crate) fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?.first().copied().unwrap_or_default())
    }

    pub(crate) fn u32(&mut self) -> Result<u32> {
        let mut word = [0u8; 4];
        word.copy_from_slice(self.take(4)?);
        Ok(u32::from_be_bytes(word))
    }

    pub(crate) fn u64(&mut self) -> Result<u64> {
        let mut word = [0u8; 8];
        word.copy_from_slice(self.take(8)?);
        Ok(u64::from_be_bytes(word))
    }

    pub(crate) fn bytes(&mut self) -> Result<&'a [u8]> {
        let length = self.u32()? as usize;
        self.take(length)
    }

    pub(crate) fn string(&mut self) -> Result<String> {
        Ok(String::from_utf8_lossy(self.bytes()?).into_owned())
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}

/// Flags of an `OPEN` request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenFlags(pub u32);

impl OpenFlags {
    /// Open for reading.
    pub const READ: Self = Self(0x01);
    /// Open for writing.
    pub const WRITE: Self = Self(0x02);
    /// Writes go to the end.
    pub const APPEND: Self = Self(0x04);
    /// Create when missing.
    pub const CREATE: Self = Self(0x08);
    /// Truncate an existing file.
    pub const TRUNCATE: Self = Self(0x10);
    /// Fail when the file exists (with [`Self::CREATE`]).
    pub const EXCLUSIVE: Self = Self(0x20);
}

impl std::ops::BitOr for OpenFlags {
    type Output = Self;
    fn bitor(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }
}
