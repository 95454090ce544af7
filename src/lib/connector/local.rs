//! `red-connector-local`: a file or directory on this machine.
//!
//! Access block: `{path: "…"}`, absolute, or relative to the RED file's directory. As an input
//! the path is bind-mounted read-only into the container as it is (no copy, however large); as
//! an output the file or directory is copied to `path` (parent directories are created, an
//! existing file is replaced, an existing directory must be empty). The reference has no such
//! connector; it exists so that experiments and tests can run with no network at all.

use std::fs;
use std::path::{Path, PathBuf};

use super::copy::{copy_file, copy_tree, remove_any};
use super::{
    Access, AccessError, Connector, ConnectorError, Context, LOCAL, Listing, Operation, Received,
};

/// The local connector.
#[derive(Debug, Clone, Copy, Default)]
pub struct Local;

fn path_of(access: &Access) -> Result<&str, AccessError> {
    access.only(&["path"])?;
    let path = access.required_str("path")?;
    if path.is_empty() || path.contains('\0') {
        return Err(AccessError::field("path", "must be a non-empty path"));
    }
    Ok(path)
}

fn existing(path: &Path, directory: bool) -> Result<PathBuf, ConnectorError> {
    let canonical = fs::canonicalize(path)
        .map_err(|e| ConnectorError::io(format!("cannot find `{}`", path.display()), e))?;
    let metadata = fs::metadata(&canonical)
        .map_err(|e| ConnectorError::io(format!("cannot read `{}`", path.display()), e))?;
    match (directory, metadata.is_dir(), metadata.is_file()) {
        (true, true, _) | (false, _, true) => Ok(canonical),
        (true, _, _) => Err(ConnectorError::Content(format!(
            "`{}` is not a directory",
            path.display()
        ))),
        (false, _, _) => Err(ConnectorError::Content(format!(
            "`{}` is not a regular file",
            path.display()
        ))),
    }
}

/// A fresh name beside `destination` to build into before the final rename.
fn partial(destination: &Path) -> PathBuf {
    let parent = destination.parent().unwrap_or(Path::new("."));
    parent.join(format!(".red-partial-{}", uuid::Uuid::new_v4().as_simple()))
}

fn make_parent(destination: &Path) -> Result<(), ConnectorError> {
    if let Some(parent) = destination.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent)
            .map_err(|e| ConnectorError::io(format!("cannot create `{}`", parent.display()), e))?;
    }
    Ok(())
}

impl Connector for Local {
    fn command(&self) -> &str {
        LOCAL
    }

    fn check(
        &self,
        operation: Operation,
        access: &Access,
        _listing: Option<&Listing>,
    ) -> Result<(), ConnectorError> {
        if operation == Operation::MountDir {
            return self.unsupported(operation);
        }
        path_of(access)?;
        Ok(())
    }

    fn receive_file(
        &self,
        access: &Access,
        _destination: &Path,
        context: &Context,
    ) -> Result<Received, ConnectorError> {
        let path = context.local_path(path_of(access)?);
        existing(&path, false).map(Received::Bind)
    }

    fn receive_dir(
        &self,
        access: &Access,
        _destination: &Path,
        _listing: Option<&Listing>,
        context: &Context,
    ) -> Result<Received, ConnectorError> {
        let path = context.local_path(path_of(access)?);
        existing(&path, true).map(Received::Bind)
    }

    fn send_file(
        &self,
        access: &Access,
        source: &Path,
        context: &Context,
    ) -> Result<(), ConnectorError> {
        let destination = context.local_path(path_of(access)?);
        make_parent(&destination)?;
        if fs::symlink_metadata(&destination).is_ok_and(|m| m.is_dir()) {
            return Err(ConnectorError::Content(format!(
                "`{}` is a directory; give the path of the file to write",
                destination.display()
            )));
        }
        let partial = partial(&destination);
        let result = copy_file(source, &partial, context).and_then(|_| {
            fs::rename(&partial, &destination).map_err(|e| {
                ConnectorError::io(format!("cannot write `{}`", destination.display()), e)
            })
        });
        if result.is_err() {
            remove_any(&partial);
        }
        result
    }

    fn send_dir(
        &self,
        access: &Access,
        source: &Path,
        _listing: Option<&Listing>,
        context: &Context,
    ) -> Result<(), ConnectorError> {
        let destination = context.local_path(path_of(access)?);
        make_parent(&destination)?;
        match fs::symlink_metadata(&destination) {
            Ok(m) if m.is_dir() => {
                let empty = fs::read_dir(&destination)
                    .map(|mut entries| entries.next().is_none())
                    .unwrap_or(false);
                if !empty {
                    return Err(ConnectorError::Content(format!(
                        "`{}` exists and is not empty; red does not merge into it",
                        destination.display()
                    )));
                }
                let _ = fs::remove_dir(&destination);
            }
            Ok(_) => {
                return Err(ConnectorError::Content(format!(
                    "`{}` exists and is not a directory",
                    destination.display()
                )));
            }
            Err(_) => {}
        }
        let partial = partial(&destination);
        let result = copy_tree(source, &partial, context).and_then(|_| {
            fs::rename(&partial, &destination).map_err(|e| {
                ConnectorError::io(format!("cannot write `{}`", destination.display()), e)
            })
        });
        if result.is_err() {
            remove_any(&partial);
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access(path: &str) -> Access {
        Access::new(serde_json::json!({ "path": path }))
    }

    #[test]
    fn inputs_are_bound_where_they_are_relative_to_the_red_file() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("data")).unwrap();
        fs::write(dir.path().join("data/in.txt"), "x").unwrap();
        let context = Context::new(dir.path().to_path_buf());
        let received = Local
            .receive_file(&access("data/in.txt"), Path::new("/unused"), &context)
            .unwrap();
        let expected = fs::canonicalize(dir.path().join("data/in.txt")).unwrap();
        assert_eq!(received, Received::Bind(expected));
        assert!(
            Local
                .receive_file(&access("data"), Path::new("/u"), &context)
                .is_err()
        );
        assert!(
            Local
                .receive_dir(&access("data"), Path::new("/u"), None, &context)
                .is_ok()
        );
    }

    #[test]
    fn access_blocks_are_checked() {
        let wrong = Access::new(serde_json::json!({ "path": "x", "host": "h" }));
        let Err(ConnectorError::Access(error)) = Local.check(Operation::ReceiveFile, &wrong, None)
        else {
            panic!("an unknown field must be refused");
        };
        assert_eq!(error.pointer, "/host");
        let missing = Access::new(serde_json::json!({}));
        assert!(Local.check(Operation::SendFile, &missing, None).is_err());
        assert!(matches!(
            Local.check(Operation::MountDir, &access("x"), None),
            Err(ConnectorError::Unsupported { .. })
        ));
    }

    #[test]
    fn outputs_are_copied_and_a_full_directory_is_never_merged_into() {
        let dir = tempfile::tempdir().unwrap();
        let context = Context::new(dir.path().to_path_buf());
        let produced = dir.path().join("produced");
        fs::create_dir(&produced).unwrap();
        fs::write(produced.join("r.txt"), "result").unwrap();
        Local
            .send_file(&access("out/deep/r.txt"), &produced.join("r.txt"), &context)
            .unwrap();
        assert_eq!(
            fs::read_to_string(dir.path().join("out/deep/r.txt")).unwrap(),
            "result"
        );
        Local
            .send_dir(&access("tree"), &produced, None, &context)
            .unwrap();
        assert!(dir.path().join("tree/r.txt").is_file());
        let again = Local.send_dir(&access("tree"), &produced, None, &context);
        assert!(matches!(again, Err(ConnectorError::Content(_))));
    }
}
