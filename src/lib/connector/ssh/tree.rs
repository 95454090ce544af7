//! Directories over SFTP: walking a tree or following a RED `listing`, and moving its files in
//! parallel over one connection.
//!
//! With a listing, every listed entry must exist with the listed class (all missing ones are
//! named in one error) and only listed entries move; entries the listing does not name are
//! reported through [`crate::connector::Progress::note`]. A listed directory without its own
//! `listing` is created empty, as the reference does. Without a listing, the whole tree moves;
//! symbolic links to files are followed on the remote side, other links and special files are
//! left out with a note (a link to a directory could loop).

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use serde_json::Value;

use super::{PARALLEL_FILES, Ssh, deliver, fetch, join, make_dirs, remote};
use crate::connector::{ConnectorError, Context, Listing, Progress};
use crate::sftp::Session;
use crate::ssh::Target;

/// One entry to move, relative to the directory (`/`-separated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Entry {
    pub(super) path: String,
    pub(super) directory: bool,
    /// Size, when known from a stat.
    pub(super) size: Option<u64>,
    /// For a listed directory: whether the listing says what is inside it.
    pub(super) listed_inside: bool,
}

fn listing_error(message: String) -> ConnectorError {
    ConnectorError::Content(format!("the listing {message}"))
}

/// The entries of a RED listing, parents before children; basenames are checked so that no
/// entry can point outside the directory.
pub(super) fn entries(listing: &Listing) -> Result<Vec<Entry>, ConnectorError> {
    let mut out = Vec::new();
    collect(&listing.0, "", &mut out)?;
    Ok(out)
}

fn collect(value: &Value, prefix: &str, out: &mut Vec<Entry>) -> Result<(), ConnectorError> {
    let Value::Array(items) = value else {
        return Err(listing_error("must be a list".into()));
    };
    for item in items {
        let basename = item
            .get("basename")
            .and_then(Value::as_str)
            .ok_or_else(|| listing_error("has an entry without a `basename`".into()))?;
        if basename.is_empty() || basename == "." || basename == ".." || basename.contains('/') {
            return Err(listing_error(format!(
                "entry `{basename}` is not a plain name (no `/`, `.` or `..`)"
            )));
        }
        let path = join(prefix, basename);
        let directory = match item.get("class").and_then(Value::as_str) {
            Some("File") => false,
            Some("Directory") => true,
            _ => {
                return Err(listing_error(format!(
                    "entry `{path}` needs `class: File` or `class: Directory`"
                )));
            }
        };
        let inside = item.get("listing").filter(|v| !v.is_null());
        out.push(Entry {
            path: path.clone(),
            directory,
            size: None,
            listed_inside: directory && inside.is_some(),
        });
        if let (true, Some(inside)) = (directory, inside) {
            collect(inside, &path, out)?;
        }
    }
    Ok(())
}

/// Run `work` on every item with up to `workers` threads; the first error stops the rest.
fn parallel<T: Sync>(
    items: &[T],
    workers: usize,
    context: &Context,
    work: impl Fn(&T) -> Result<(), ConnectorError> + Sync,
) -> Result<(), ConnectorError> {
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let first: Mutex<Option<ConnectorError>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..workers.min(items.len()).max(1) {
            scope.spawn(|| {
                while !failed.load(Ordering::Relaxed) && !context.stopped() {
                    let Some(item) = items.get(next.fetch_add(1, Ordering::Relaxed)) else {
                        return;
                    };
                    if let Err(error) = work(item) {
                        failed.store(true, Ordering::Relaxed);
                        let mut first = first.lock().unwrap_or_else(PoisonError::into_inner);
                        if first.is_none() || matches!(*first, Some(ConnectorError::Cancelled)) {
                            *first = Some(error);
                        }
                    }
                }
            });
        }
    });
    if let Some(error) = first.into_inner().unwrap_or_else(PoisonError::into_inner) {
        return Err(error);
    }
    context.check_stop()
}

/// Every entry below the remote `root`, parents first; links to directories and special
/// files are left out and named in the returned notes.
fn walk_remote(
    session: &Session,
    target: &Target,
    root: &str,
) -> Result<(Vec<Entry>, Vec<String>), ConnectorError> {
    let mut entries = Vec::new();
    let mut notes = Vec::new();
    let mut pending = vec![String::new()];
    while let Some(dir) = pending.pop() {
        let listed = session
            .read_dir(&join(root, &dir))
            .map_err(|e| remote(target, e))?;
        for (name, mut attrs) in listed {
            let path = join(&dir, &name);
            if attrs.is_symlink() {
                attrs = match session.stat(&join(root, &path)) {
                    Ok(followed) if followed.is_file() => followed,
                    _ => {
                        notes.push(format!("`{path}` is a link to a directory or to nothing"));
                        continue;
                    }
                };
            }
            if attrs.is_dir() {
                pending.push(path.clone());
            } else if !attrs.is_file() {
                notes.push(format!("`{path}` is not a regular file"));
                continue;
            }
            entries.push(Entry {
                path,
                directory: attrs.is_dir(),
                size: attrs.size,
                listed_inside: false,
            });
        }
    }
    Ok((entries, notes))
}

/// Check listed entries against the remote tree: all missing or mistyped ones in one error;
/// entries beside listed ones that the listing does not name come back as notes.
fn check_remote_listing(
    ssh: &Ssh,
    target: &Target,
    root: &str,
    listed: &mut [Entry],
    context: &Context,
) -> Result<Vec<String>, ConnectorError> {
    let problems = Mutex::new(Vec::new());
    let sizes = Mutex::new(Vec::new());
    let indexes: Vec<usize> = (0..listed.len()).collect();
    let entries: &[Entry] = listed;
    parallel(&indexes, PARALLEL_FILES, context, |&index| {
        let Some(entry) = entries.get(index) else {
            return Ok(());
        };
        let found = ssh.with_session(target, context, |session| {
            match session.stat(&join(root, &entry.path)) {
                Ok(attrs) => Ok(Some(attrs)),
                Err(error) if error.is_not_found() => Ok(None),
                Err(error) => Err(remote(target, error)),
            }
        })?;
        let problem = match &found {
            None => Some(format!("`{}` is missing", entry.path)),
            Some(attrs) if entry.directory && !attrs.is_dir() => {
                Some(format!("`{}` is not a directory", entry.path))
            }
            Some(attrs) if !entry.directory && !attrs.is_file() => {
                Some(format!("`{}` is not a regular file", entry.path))
            }
            Some(attrs) => {
                lock(&sizes).push((index, attrs.size));
                None
            }
        };
        lock(&problems).extend(problem);
        Ok(())
    })?;
    let mut problems = problems
        .into_inner()
        .unwrap_or_else(PoisonError::into_inner);
    if !problems.is_empty() {
        problems.sort();
        return Err(ConnectorError::Content(format!(
            "the remote directory `{root}` on `{}` does not match the listing: {}",
            target.label(),
            problems.join(", ")
        )));
    }
    for (index, size) in sizes.into_inner().unwrap_or_else(PoisonError::into_inner) {
        if let Some(entry) = listed.get_mut(index) {
            entry.size = size;
        }
    }
    let mut levels: Vec<&str> = vec![""];
    levels.extend(
        listed
            .iter()
            .filter(|e| e.listed_inside)
            .map(|e| e.path.as_str()),
    );
    let names: BTreeSet<&str> = listed.iter().map(|e| e.path.as_str()).collect();
    let mut notes = Vec::new();
    for level in levels {
        let present = ssh.with_session(target, context, |session| {
            session
                .read_dir(&join(root, level))
                .map_err(|e| remote(target, e))
        })?;
        for (name, _) in present {
            let path = join(level, &name);
            if !names.contains(path.as_str()) {
                notes.push(format!("`{path}` is not in the listing and was left out"));
            }
        }
    }
    Ok(notes)
}

/// Progress of a whole directory: each file's bytes against the directory's total.
struct Totalled {
    inner: Arc<dyn Progress>,
    total: u64,
}

impl Progress for Totalled {
    fn advance(&self, bytes: u64, _file_total: Option<u64>) {
        self.inner.advance(bytes, Some(self.total));
    }

    fn note(&self, message: &str) {
        self.inner.note(message);
    }
}

/// `context` reporting against the total size of `entries`.
fn totalled(context: &Context, entries: &[Entry]) -> Context {
    let total = entries
        .iter()
        .filter(|e| !e.directory)
        .filter_map(|e| e.size)
        .sum();
    let mut context = context.clone();
    context.progress = Arc::new(Totalled {
        inner: Arc::clone(&context.progress),
        total,
    });
    context
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn make_local_dir(path: &Path) -> Result<(), ConnectorError> {
    match fs::create_dir(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && path.is_dir() => Ok(()),
        Err(e) => Err(ConnectorError::io(
            format!("cannot create `{}`", path.display()),
            e,
        )),
    }
}

/// Receive the remote directory `root` into `destination` (created here).
pub(super) fn receive(
    ssh: &Ssh,
    target: &Target,
    root: &str,
    destination: &Path,
    listing: Option<&Listing>,
    context: &Context,
) -> Result<(), ConnectorError> {
    let root_attrs = ssh.with_session(target, context, |session| {
        session.stat(root).map_err(|e| remote(target, e))
    })?;
    if !root_attrs.is_dir() {
        return Err(ConnectorError::Content(format!(
            "`{root}` on `{}` is not a directory",
            target.label()
        )));
    }
    let (entries, notes) = match listing {
        Some(listing) => {
            let mut listed = entries(listing)?;
            let notes = check_remote_listing(ssh, target, root, &mut listed, context)?;
            (listed, notes)
        }
        None => ssh.with_session(target, context, |session| {
            walk_remote(session, target, root)
        })?,
    };
    for note in &notes {
        context.progress.note(note);
    }
    make_local_dir(destination)?;
    for entry in entries.iter().filter(|e| e.directory) {
        make_local_dir(&destination.join(&entry.path))?;
    }
    let context = &totalled(context, &entries);
    let files: Vec<&Entry> = entries.iter().filter(|e| !e.directory).collect();
    parallel(&files, PARALLEL_FILES, context, |entry| {
        let local = destination.join(&entry.path);
        ssh.with_session(target, context, |session| {
            fetch(
                session,
                target,
                &join(root, &entry.path),
                entry.size,
                &local,
                context,
            )
        })
        .map(drop)
    })
}

/// Every entry below the local `root`, parents first, without following links; links and
/// special files are left out and named in the notes.
fn walk_local(root: &Path) -> Result<(Vec<Entry>, Vec<String>), ConnectorError> {
    let mut entries = Vec::new();
    let mut notes = Vec::new();
    let mut pending = vec![String::new()];
    while let Some(dir) = pending.pop() {
        let path = root.join(&dir);
        let read = fs::read_dir(&path)
            .map_err(|e| ConnectorError::io(format!("cannot read `{}`", path.display()), e))?;
        let mut names: Vec<_> = read
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        for name in names {
            let relative = join(&dir, &name);
            let metadata = fs::symlink_metadata(root.join(&relative)).map_err(|e| {
                ConnectorError::io(
                    format!("cannot read `{}`", root.join(&relative).display()),
                    e,
                )
            })?;
            if metadata.is_dir() {
                pending.push(relative.clone());
            } else if !metadata.is_file() {
                notes.push(format!(
                    "`{relative}` is a link or special file and was left out"
                ));
                continue;
            }
            entries.push(Entry {
                path: relative,
                directory: metadata.is_dir(),
                size: Some(metadata.len()),
                listed_inside: false,
            });
        }
    }
    Ok((entries, notes))
}

/// Check listed entries against the local tree (no links followed).
fn check_local_listing(root: &Path, listed: &[Entry]) -> Result<(), ConnectorError> {
    let mut problems = Vec::new();
    for entry in listed {
        match fs::symlink_metadata(root.join(&entry.path)) {
            Ok(m) if entry.directory && m.is_dir() => {}
            Ok(m) if !entry.directory && m.is_file() => {}
            Ok(_) => problems.push(format!("`{}` is not a {}", entry.path, class(entry))),
            Err(_) => problems.push(format!("`{}` is missing", entry.path)),
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ConnectorError::Content(format!(
            "the directory `{}` does not match the listing: {}",
            root.display(),
            problems.join(", ")
        )))
    }
}

fn class(entry: &Entry) -> &'static str {
    if entry.directory {
        "directory"
    } else {
        "regular file"
    }
}

/// Send the local directory `source` to the remote `root` (created with its parents).
pub(super) fn send(
    ssh: &Ssh,
    target: &Target,
    source: &Path,
    root: &str,
    listing: Option<&Listing>,
    context: &Context,
) -> Result<(), ConnectorError> {
    let (entries, notes) = match listing {
        Some(listing) => {
            let listed = entries(listing)?;
            check_local_listing(source, &listed)?;
            (listed, Vec::new())
        }
        None => walk_local(source)?,
    };
    for note in &notes {
        context.progress.note(note);
    }
    ssh.with_session(target, context, |session| {
        make_dirs(session, root).map_err(|e| remote(target, e))?;
        for entry in entries.iter().filter(|e| e.directory) {
            make_dirs(session, &join(root, &entry.path)).map_err(|e| remote(target, e))?;
        }
        Ok(())
    })?;
    let context = &totalled(context, &entries);
    let files: Vec<&Entry> = entries.iter().filter(|e| !e.directory).collect();
    parallel(&files, PARALLEL_FILES, context, |entry| {
        let local = source.join(&entry.path);
        ssh.with_session(target, context, |session| {
            deliver(session, target, &local, &join(root, &entry.path), context)
        })
        .map(drop)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn listings_flatten_parents_first_and_refuse_escapes() {
        let listing = Listing(json!([
            {"class": "File", "basename": "a.txt", "size": 3},
            {"class": "Directory", "basename": "sub", "listing": [
                {"class": "File", "basename": "b.txt"}
            ]},
            {"class": "Directory", "basename": "empty"}
        ]));
        let paths: Vec<(String, bool, bool)> = entries(&listing)
            .unwrap()
            .into_iter()
            .map(|e| (e.path, e.directory, e.listed_inside))
            .collect();
        assert_eq!(
            paths,
            [
                ("a.txt".into(), false, false),
                ("sub".into(), true, true),
                ("sub/b.txt".into(), false, false),
                ("empty".into(), true, false)
            ]
        );
        for bad in ["..", "a/b", ""] {
            let listing = Listing(json!([{"class": "File", "basename": bad}]));
            assert!(entries(&listing).is_err(), "{bad}");
        }
        let listing = Listing(json!([{"class": "Link", "basename": "x"}]));
        assert!(entries(&listing).is_err());
    }

    #[test]
    fn local_walks_skip_links_and_listings_name_every_missing_entry() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("sub")).unwrap();
        fs::write(dir.path().join("sub/f"), "x").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", dir.path().join("link")).unwrap();
        let (found, notes) = walk_local(dir.path()).unwrap();
        let paths: Vec<&str> = found.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["sub", "sub/f"]);
        assert_eq!(notes.len(), 1);
        let listed = entries(&Listing(json!([
            {"class": "File", "basename": "one"},
            {"class": "File", "basename": "sub"},
            {"class": "File", "basename": "two"}
        ])))
        .unwrap();
        let error = check_local_listing(dir.path(), &listed)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("`one` is missing")
                && error.contains("`two` is missing")
                && error.contains("`sub` is not a regular file"),
            "{error}"
        );
    }
}
