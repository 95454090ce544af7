//! Content checks: is what arrived (or what is about to leave) what the RED file says?
//!
//! The executor calls [`verify_file`] after each file input is received and before each file
//! output is sent, and [`verify_listing`] for directories that come with a `listing`. A file must
//! exist and be a regular file; a declared `size` and `checksum` must match. Checksums are
//! written `sha1$<hex>` as the reference writes them; `sha256$<hex>` is accepted too. A listing is
//! checked recursively: every listed file and directory must exist, with its size and checksum
//! when given. Entries on disk that the listing does not name are returned, to be reported; they
//! are not an error (the reference ignores them).
//!
//! This module also parses listings ([`entries`]) for the connectors that fetch by listing. It
//! reads local files only; no network.

use std::collections::BTreeSet;
use std::fs::{self, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use serde_json::Value;
use sha1::Sha1;
use sha2::{Digest, Sha256};

use super::copy::hex;
use super::{ConnectorError, Listing};

/// The class of a listing entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// A regular file.
    File,
    /// A directory.
    Directory,
}

/// One entry of a RED `listing`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// File or directory.
    pub class: Class,
    /// Its name inside the parent (one path component, never `.` or `..`).
    pub basename: String,
    /// `sha1$…` or `sha256$…`, files only.
    pub checksum: Option<String>,
    /// Size in bytes, files only.
    pub size: Option<u64>,
    /// A directory's own listing, when given.
    pub listing: Option<Vec<Entry>>,
}

/// The entries of a listing, checked: each is a mapping with `class` `File` or `Directory` and a
/// `basename` that is one path component.
///
/// # Errors
/// [`ConnectorError::Content`] naming the first malformed entry.
pub fn entries(listing: &Listing) -> Result<Vec<Entry>, ConnectorError> {
    parse_entries(&listing.0, "")
}

fn parse_entries(value: &Value, at: &str) -> Result<Vec<Entry>, ConnectorError> {
    let items = value.as_array().ok_or_else(|| {
        ConnectorError::Content(format!("the listing{} must be a list", location(at)))
    })?;
    let mut seen = BTreeSet::new();
    items
        .iter()
        .map(|item| {
            let entry = parse_entry(item, at)?;
            if !seen.insert(entry.basename.clone()) {
                return Err(ConnectorError::Content(format!(
                    "the listing names `{}` twice",
                    join(at, &entry.basename)
                )));
            }
            Ok(entry)
        })
        .collect()
}

fn location(at: &str) -> String {
    if at.is_empty() {
        String::new()
    } else {
        format!(" of `{at}`")
    }
}

fn join(at: &str, name: &str) -> String {
    if at.is_empty() {
        name.to_owned()
    } else {
        format!("{at}/{name}")
    }
}

fn parse_entry(item: &Value, at: &str) -> Result<Entry, ConnectorError> {
    let bad =
        |what: &str| ConnectorError::Content(format!("a listing entry{} {what}", location(at)));
    let map = item.as_object().ok_or_else(|| bad("is not a mapping"))?;
    let basename = map
        .get("basename")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("has no string `basename`"))?;
    if basename.is_empty()
        || basename == "."
        || basename == ".."
        || basename.contains('/')
        || basename.contains('\0')
    {
        return Err(bad("has a `basename` that is not a single file name"));
    }
    let class = match map.get("class").and_then(Value::as_str) {
        Some("File") => Class::File,
        Some("Directory") => Class::Directory,
        _ => return Err(bad("has a `class` other than `File` or `Directory`")),
    };
    let path = join(at, basename);
    let checksum = match map.get("checksum") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => Some(text.clone()),
        Some(_) => return Err(bad("has a `checksum` that is not a string")),
    };
    let size = match map.get("size") {
        None | Some(Value::Null) => None,
        Some(value) => Some(
            value
                .as_u64()
                .ok_or_else(|| bad("has a negative or fractional `size`"))?,
        ),
    };
    let listing = match map.get("listing") {
        None | Some(Value::Null) => None,
        Some(value) => Some(parse_entries(value, &path)?),
    };
    Ok(Entry {
        class,
        basename: basename.to_owned(),
        checksum,
        size,
        listing,
    })
}

/// A parsed `checksum` value: the algorithm and the expected lower-case hex digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Algorithm {
    Sha1,
    Sha256,
}

fn parse_checksum(checksum: &str) -> Result<(Algorithm, String), ConnectorError> {
    let (name, digest) = checksum.split_once('$').ok_or_else(|| {
        ConnectorError::Content(format!(
            "checksum `{checksum}` is not written `sha1$<hex>` or `sha256$<hex>`"
        ))
    })?;
    let (algorithm, length) = match name.to_ascii_lowercase().as_str() {
        "sha1" => (Algorithm::Sha1, 40),
        "sha256" => (Algorithm::Sha256, 64),
        _ => {
            return Err(ConnectorError::Content(format!(
                "checksum algorithm `{name}` is not supported (use `sha1` or `sha256`)"
            )));
        }
    };
    if digest.len() != length || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ConnectorError::Content(format!(
            "checksum `{checksum}` does not have {length} hex digits"
        )));
    }
    Ok((algorithm, digest.to_ascii_lowercase()))
}

/// The digests of one file, lower-case hex: always SHA-256 (what `red` records), SHA-1 too when
/// a `sha1$…` checksum is to be checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hashes {
    /// SHA-256.
    pub sha256: String,
    /// SHA-1, when asked for.
    pub sha1: Option<String>,
}

/// The hashes of a file made from its pieces as they land ([`super::Progress::landed`]), so a
/// received file is never read a second time to check or record it. Pieces must come in file
/// order; one at offset 0 starts over (a transfer that restarted), any other gap or overlap
/// spoils the result and [`Self::finish`] then gives nothing (the caller reads the file).
pub struct StreamHash {
    sha256: Sha256,
    sha1: Option<Sha1>,
    next: u64,
    spoilt: bool,
}

impl StreamHash {
    /// A fresh hash; `sha1` when a `sha1$…` checksum is to be checked as well.
    #[must_use]
    pub fn new(sha1: bool) -> Self {
        Self {
            sha256: Sha256::new(),
            sha1: sha1.then(Sha1::new),
            next: 0,
            spoilt: false,
        }
    }

    /// `data` was written at `offset`.
    pub fn landed(&mut self, offset: u64, data: &[u8]) {
        if offset == 0 && (self.next != 0 || self.spoilt) {
            *self = Self::new(self.sha1.is_some());
        }
        if self.spoilt || offset != self.next {
            self.spoilt = true;
            return;
        }
        self.sha256.update(data);
        if let Some(sha1) = &mut self.sha1 {
            sha1.update(data);
        }
        self.next += data.len() as u64;
    }

    /// The hashes, when every byte of a file of `len` bytes went through in order.
    #[must_use]
    pub fn finish(self, len: u64) -> Option<Hashes> {
        (!self.spoilt && self.next == len).then(|| Hashes {
            sha256: hex(&self.sha256.finalize()),
            sha1: self.sha1.map(|sha1| hex(&sha1.finalize())),
        })
    }
}

/// Hash a file, reading it once (never through a symbolic link).
///
/// # Errors
/// When it cannot be opened or read.
pub fn hash_file(path: &Path, sha1: bool) -> Result<Hashes, ConnectorError> {
    let mut file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| ConnectorError::io(format!("cannot open `{}`", path.display()), e))?;
    let mut hash = StreamHash::new(sha1);
    let mut buffer = vec![0u8; 1 << 20];
    let mut offset = 0u64;
    loop {
        let read = match file.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(ConnectorError::io(
                    format!("cannot read `{}`", path.display()),
                    e,
                ));
            }
        };
        hash.landed(offset, buffer.get(..read).unwrap_or_default());
        offset += read as u64;
    }
    hash.finish(offset).ok_or_else(|| {
        ConnectorError::Content(format!("`{}` changed while it was read", path.display()))
    })
}

/// Whether checking `checksum` needs SHA-1 (a malformed checksum needs nothing: it is refused
/// when compared).
#[must_use]
pub fn needs_sha1(checksum: Option<&str>) -> bool {
    checksum.is_some_and(|c| matches!(parse_checksum(c), Ok((Algorithm::Sha1, _))))
}

/// A declared checksum that the file does not have: both, written as the RED file writes them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("checksum `{actual}`, the RED file says `{expected}`")]
pub struct Mismatch {
    /// What the RED file says.
    pub expected: String,
    /// What the file has, in the same algorithm.
    pub actual: String,
}

/// Compare `checksum` (`sha1$…` or `sha256$…`) with a file's `hashes`.
///
/// # Errors
/// [`ConnectorError::Content`] for a malformed checksum or one whose algorithm was not hashed;
/// `Ok(Err(Mismatch))` when it differs.
pub fn compare(checksum: &str, hashes: &Hashes) -> Result<Result<(), Mismatch>, ConnectorError> {
    let (algorithm, expected) = parse_checksum(checksum)?;
    let (name, actual) = match algorithm {
        Algorithm::Sha256 => ("sha256", Some(&hashes.sha256)),
        Algorithm::Sha1 => ("sha1", hashes.sha1.as_ref()),
    };
    let actual = actual.ok_or_else(|| {
        ConnectorError::Content(format!("no {name} was computed to check `{checksum}`"))
    })?;
    Ok(if *actual == expected {
        Ok(())
    } else {
        Err(Mismatch {
            expected: checksum.to_owned(),
            actual: format!("{name}${actual}"),
        })
    })
}

/// The `sha1$<hex>` checksum of a file, as the reference writes checksums.
///
/// # Errors
/// When the file cannot be read.
pub fn sha1(path: &Path) -> Result<String, ConnectorError> {
    let hashes = hash_file(path, true)?;
    Ok(format!("sha1${}", hashes.sha1.unwrap_or_default()))
}

/// Check that `path` is a regular file (not a symbolic link) and has `size` bytes when one is
/// given; returns its length.
///
/// # Errors
/// [`ConnectorError::Content`] when it is missing, not a regular file, or of another size.
pub fn check_regular(path: &Path, size: Option<u64>) -> Result<u64, ConnectorError> {
    let metadata = match fs::symlink_metadata(path) {
        Ok(metadata) => metadata,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(ConnectorError::Content(format!(
                "`{}` does not exist",
                path.display()
            )));
        }
        Err(e) => {
            return Err(ConnectorError::io(
                format!("cannot read `{}`", path.display()),
                e,
            ));
        }
    };
    if metadata.is_symlink() {
        return Err(ConnectorError::Content(format!(
            "`{}` is a symbolic link, not a regular file",
            path.display()
        )));
    }
    if !metadata.is_file() {
        return Err(ConnectorError::Content(format!(
            "`{}` is not a regular file",
            path.display()
        )));
    }
    if let Some(expected) = size
        && metadata.len() != expected
    {
        return Err(ConnectorError::Content(format!(
            "`{}` has {} bytes, the RED file says {expected}",
            path.display(),
            metadata.len()
        )));
    }
    Ok(metadata.len())
}

/// Check that `path` is a regular file (not a symbolic link: an output that links elsewhere
/// would deliver a file from outside the run) with the given checksum and size.
///
/// # Errors
/// [`ConnectorError::Content`] when it is missing, not a regular file, or differs;
/// [`ConnectorError::Io`] when it cannot be read.
pub fn verify_file(
    path: &Path,
    checksum: Option<&str>,
    size: Option<u64>,
) -> Result<(), ConnectorError> {
    check_regular(path, size)?;
    if let Some(checksum) = checksum {
        let (algorithm, _) = parse_checksum(checksum)?;
        let hashes = hash_file(path, algorithm == Algorithm::Sha1)?;
        if let Err(mismatch) = compare(checksum, &hashes)? {
            return Err(ConnectorError::Content(format!(
                "`{}` has {mismatch}",
                path.display()
            )));
        }
    }
    Ok(())
}

/// Check a directory against a listing, recursively: every listed file exists with its size and
/// checksum, every listed directory exists (and matches its own listing when it has one).
/// Returns the entries on disk that the listing does not name (paths relative to `dir`, sorted),
/// looking only inside directories whose listing is given.
///
/// # Errors
/// [`ConnectorError::Content`] at the first listed entry that is missing or differs, or when
/// the listing is malformed.
pub fn verify_listing(dir: &Path, listing: &Listing) -> Result<Vec<String>, ConnectorError> {
    let entries = entries(listing)?;
    match fs::metadata(dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(ConnectorError::Content(format!(
                "`{}` is not a directory",
                dir.display()
            )));
        }
        Err(_) => {
            return Err(ConnectorError::Content(format!(
                "`{}` does not exist",
                dir.display()
            )));
        }
    }
    let mut extra = Vec::new();
    verify_entries(dir, Path::new(""), &entries, &mut extra)?;
    extra.sort();
    Ok(extra)
}

fn verify_entries(
    dir: &Path,
    relative: &Path,
    entries: &[Entry],
    extra: &mut Vec<String>,
) -> Result<(), ConnectorError> {
    for entry in entries {
        let path = dir.join(&entry.basename);
        match entry.class {
            Class::File => {
                verify_file(&path, entry.checksum.as_deref(), entry.size).map_err(|error| {
                    match error {
                        ConnectorError::Content(message) => {
                            ConnectorError::Content(format!("listing not fulfilled: {message}"))
                        }
                        other => other,
                    }
                })?
            }
            Class::Directory => {
                if !fs::metadata(&path).is_ok_and(|m| m.is_dir()) {
                    return Err(ConnectorError::Content(format!(
                        "listing not fulfilled: `{}` is not a directory",
                        path.display()
                    )));
                }
                if let Some(children) = &entry.listing {
                    verify_entries(&path, &relative.join(&entry.basename), children, extra)?;
                }
            }
        }
    }
    let listed: BTreeSet<&str> = entries.iter().map(|e| e.basename.as_str()).collect();
    let on_disk = fs::read_dir(dir)
        .map_err(|e| ConnectorError::io(format!("cannot list `{}`", dir.display()), e))?;
    for item in on_disk {
        let item =
            item.map_err(|e| ConnectorError::io(format!("cannot list `{}`", dir.display()), e))?;
        let name = item.file_name();
        if !listed.contains(name.to_string_lossy().as_ref()) {
            extra.push(relative.join(&name).display().to_string());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const HELLO_SHA1: &str = "sha1$aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d";
    const HELLO_SHA256: &str =
        "sha256$2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";

    #[test]
    fn files_are_checked_for_existence_size_and_both_checksums() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        fs::write(&file, "hello").unwrap();
        verify_file(&file, Some(HELLO_SHA1), Some(5)).unwrap();
        verify_file(&file, Some(HELLO_SHA256), None).unwrap();
        verify_file(
            &file,
            Some(&HELLO_SHA1.to_ascii_uppercase().replace("SHA1", "sha1")),
            None,
        )
        .unwrap();
        assert_eq!(sha1(&file).unwrap(), HELLO_SHA1);
        let wrong = verify_file(&file, None, Some(6)).unwrap_err().to_string();
        assert!(wrong.contains("5 bytes") && wrong.contains("6"), "{wrong}");
        let other = HELLO_SHA1.replace("aaf4", "baf4");
        let wrong = verify_file(&file, Some(&other), None)
            .unwrap_err()
            .to_string();
        assert!(wrong.contains(HELLO_SHA1), "{wrong}");
        assert!(matches!(
            verify_file(&dir.path().join("nope"), None, None),
            Err(ConnectorError::Content(_))
        ));
        assert!(matches!(
            verify_file(dir.path(), None, None),
            Err(ConnectorError::Content(_))
        ));
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        let error = verify_file(&link, None, None).unwrap_err().to_string();
        assert!(error.contains("symbolic link"), "{error}");
        for bad in ["md5$abc", "sha1", "sha1$xyz", "sha256$00"] {
            assert!(verify_file(&file, Some(bad), None).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_streamed_hash_is_the_file_hash_and_starts_over_or_gives_up_on_gaps() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        fs::write(&file, "hello").unwrap();
        let read = hash_file(&file, true).unwrap();
        assert_eq!(format!("sha256${}", read.sha256), HELLO_SHA256);
        assert_eq!(format!("sha1${}", read.sha1.clone().unwrap()), HELLO_SHA1);
        // In order, after a restart at 0: the same hashes as reading the file.
        let mut stream = StreamHash::new(true);
        stream.landed(0, b"junk!!");
        stream.landed(0, b"he");
        stream.landed(2, b"llo");
        assert_eq!(stream.finish(5), Some(read.clone()));
        // A gap, or fewer bytes than the file has: no answer, the caller reads the file.
        let mut gap = StreamHash::new(false);
        gap.landed(0, b"he");
        gap.landed(3, b"lo");
        assert_eq!(gap.finish(5), None);
        let mut short = StreamHash::new(false);
        short.landed(0, b"hell");
        assert_eq!(short.finish(5), None);
        assert!(needs_sha1(Some(HELLO_SHA1)) && !needs_sha1(Some(HELLO_SHA256)));
        assert!(!needs_sha1(None) && !needs_sha1(Some("md5$00")));
        let other = HELLO_SHA256.replace("2cf2", "0000");
        let mismatch = compare(&other, &read).unwrap().unwrap_err();
        assert_eq!(
            (mismatch.expected.as_str(), mismatch.actual.as_str()),
            (other.as_str(), HELLO_SHA256)
        );
        assert_eq!(compare(HELLO_SHA1, &read).unwrap(), Ok(()));
        let no_sha1 = Hashes {
            sha256: read.sha256.clone(),
            sha1: None,
        };
        assert!(compare(HELLO_SHA1, &no_sha1).is_err());
    }

    #[test]
    fn listings_are_checked_recursively_and_extra_entries_returned() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("sub/deeper")).unwrap();
        fs::write(dir.path().join("a.txt"), "hello").unwrap();
        fs::write(dir.path().join("sub/b.txt"), "bb").unwrap();
        fs::write(dir.path().join("sub/stray"), "").unwrap();
        fs::write(dir.path().join("stray"), "").unwrap();
        fs::write(dir.path().join("sub/deeper/unlisted"), "").unwrap();
        let listing = Listing(json!([
            {"class": "File", "basename": "a.txt", "checksum": HELLO_SHA1, "size": 5},
            {"class": "Directory", "basename": "sub", "listing": [
                {"class": "File", "basename": "b.txt", "size": 2},
                {"class": "Directory", "basename": "deeper"},
            ]},
        ]));
        let extra = verify_listing(dir.path(), &listing).unwrap();
        assert_eq!(extra, vec!["stray".to_owned(), "sub/stray".to_owned()]);

        let missing = Listing(json!([
            {"class": "Directory", "basename": "sub", "listing": [
                {"class": "File", "basename": "gone.txt"},
            ]},
        ]));
        let error = verify_listing(dir.path(), &missing)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("listing not fulfilled") && error.contains("gone.txt"),
            "{error}"
        );
        let wrong_size = Listing(json!([{"class": "File", "basename": "a.txt", "size": 1}]));
        assert!(verify_listing(dir.path(), &wrong_size).is_err());
        let file_as_dir = Listing(json!([{"class": "Directory", "basename": "a.txt"}]));
        assert!(verify_listing(dir.path(), &file_as_dir).is_err());
    }

    #[test]
    fn malformed_listings_are_refused() {
        for bad in [
            json!({"class": "File"}),
            json!([{"class": "File", "basename": "../x"}]),
            json!([{"class": "File", "basename": ".."}]),
            json!([{"class": "Link", "basename": "x"}]),
            json!([{"class": "File", "basename": "x", "size": -1}]),
            json!([{"class": "File", "basename": "x"}, {"class": "File", "basename": "x"}]),
            json!([{"class": "Directory", "basename": "d", "listing": [{"basename": "y"}]}]),
        ] {
            assert!(entries(&Listing(bad.clone())).is_err(), "{bad}");
        }
        let parsed = entries(&Listing(json!([
            {"class": "Directory", "basename": "d", "listing": [{"class": "File", "basename": "y"}]}
        ])))
        .unwrap();
        assert_eq!(
            parsed
                .first()
                .and_then(|d| d.listing.as_ref())
                .map(Vec::len),
            Some(1)
        );
    }
}
