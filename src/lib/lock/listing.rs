//! A Directory input's `listing` with every file's size and checksum, from what arrived.
//!
//! Without a listing in the file, every regular file and directory below the input is listed,
//! in name order; links and special files are left out (a run does not copy them either, so a
//! listing that named them could never be fulfilled). With a listing, only what it names is
//! listed, completed with sizes and checksums, since that is all a run fetches.

use std::fs;
use std::path::Path;

use serde_json::{Map, Value};

use crate::connector::content::{self, Class, Entry};
use crate::connector::{ConnectorError, Listing, copy};

/// The listing of `dir`, restricted to `given` when the file has one.
///
/// # Errors
/// When a file cannot be read, or `given` is malformed.
pub(super) fn of(dir: &Path, given: Option<&Listing>) -> Result<Value, ConnectorError> {
    match given {
        Some(listing) => Ok(complete(dir, &content::entries(listing)?)?),
        None => walk(dir),
    }
}

fn file_entry(path: &Path, basename: &str) -> Result<Value, ConnectorError> {
    let (size, sha256) = copy::sha256(path)?;
    let mut entry = Map::new();
    entry.insert("class".into(), "File".into());
    entry.insert("basename".into(), basename.into());
    entry.insert("checksum".into(), format!("sha256${sha256}").into());
    entry.insert("size".into(), size.into());
    Ok(Value::Object(entry))
}

fn directory_entry(basename: &str, listing: Value) -> Value {
    let mut entry = Map::new();
    entry.insert("class".into(), "Directory".into());
    entry.insert("basename".into(), basename.into());
    entry.insert("listing".into(), listing);
    Value::Object(entry)
}

fn complete(dir: &Path, entries: &[Entry]) -> Result<Value, ConnectorError> {
    let mut listed = Vec::with_capacity(entries.len());
    for entry in entries {
        let path = dir.join(&entry.basename);
        listed.push(match entry.class {
            Class::File => file_entry(&path, &entry.basename)?,
            Class::Directory => {
                let inner = match &entry.listing {
                    Some(inner) => complete(&path, inner)?,
                    None => walk(&path)?,
                };
                directory_entry(&entry.basename, inner)
            }
        });
    }
    Ok(Value::Array(listed))
}

fn walk(dir: &Path) -> Result<Value, ConnectorError> {
    let read = |e| ConnectorError::io(format!("cannot list `{}`", dir.display()), e);
    let mut names: Vec<_> = fs::read_dir(dir)
        .map_err(read)?
        .map(|entry| entry.map(|e| e.file_name()))
        .collect::<Result<_, _>>()
        .map_err(read)?;
    names.sort();
    let mut listed = Vec::with_capacity(names.len());
    for name in names {
        let Some(basename) = name.to_str() else {
            continue;
        };
        let path = dir.join(&name);
        let Ok(metadata) = fs::symlink_metadata(&path) else {
            continue;
        };
        if metadata.is_file() {
            listed.push(file_entry(&path, basename)?);
        } else if metadata.is_dir() {
            listed.push(directory_entry(basename, walk(&path)?));
        }
    }
    Ok(Value::Array(listed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_gets_its_size_and_checksum_and_links_are_left_out() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("b.txt"), "abc").unwrap();
        fs::create_dir(dir.path().join("a")).unwrap();
        fs::write(dir.path().join("a/inner"), "").unwrap();
        std::os::unix::fs::symlink("b.txt", dir.path().join("link")).unwrap();
        let listing = of(dir.path(), None).unwrap();
        assert_eq!(
            listing,
            serde_json::json!([
                {"class": "Directory", "basename": "a", "listing": [
                    {"class": "File", "basename": "inner", "size": 0, "checksum":
                     "sha256$e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}]},
                {"class": "File", "basename": "b.txt", "size": 3, "checksum":
                 "sha256$ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
            ])
        );
        // What `red exec` checks a directory with accepts it.
        assert!(
            content::verify_listing(dir.path(), &Listing(listing))
                .unwrap()
                .contains(&"link".to_owned())
        );
    }

    #[test]
    fn a_given_listing_is_completed_not_widened() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("kept"), "x").unwrap();
        fs::write(dir.path().join("other"), "y").unwrap();
        let given = Listing(serde_json::json!([{"class": "File", "basename": "kept"}]));
        let listing = of(dir.path(), Some(&given)).unwrap();
        let entries = listing.as_array().unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0]["size"], 1);
        assert!(
            entries[0]["checksum"]
                .as_str()
                .unwrap()
                .starts_with("sha256$")
        );
    }
}
