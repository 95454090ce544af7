//! The agency config file: where `red status`, `list`, `cancel` and `logs` (and `red submit`
//! for a file without an access block) find the broker URL, the user and, optionally, the
//! password (docs/remote.md).
//!
//! It is a JSON object `{"url": …, "username": …, "password": …}`, every key optional. A file
//! that holds a password must not be readable by others (mode 0600), like an SSH key.

use std::path::{Path, PathBuf};

use crate::fill::Secret;

/// What went wrong reading the config file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read the agency config file `{path}`: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not the expected JSON object. The text is never quoted: it may hold a
    /// password.
    #[error(
        "the agency config file `{path}` is not a JSON object of strings `url`, `username`, `password`: {reason}"
    )]
    Format {
        /// The file.
        path: PathBuf,
        /// What did not fit (line and column, no text).
        reason: String,
    },
    /// A password in a file others may read.
    #[error(
        "the agency config file `{path}` holds a password but others may read it (mode {mode:o})"
    )]
    Permissions {
        /// The file.
        path: PathBuf,
        /// Its mode bits.
        mode: u32,
    },
}

/// The contents of the config file.
#[derive(Debug, Default)]
pub struct Config {
    /// The broker's base URL.
    pub url: Option<String>,
    /// The user.
    pub username: Option<String>,
    /// The password.
    pub password: Option<Secret>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    url: Option<String>,
    username: Option<String>,
    password: Option<String>,
}

/// The largest config file red reads (it holds a URL, a user and a password).
const MAX_CONFIG: u64 = 64 * 1024;

/// Read the config file at `path`; a missing file is an empty config.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let bytes = match crate::source::read_bytes(path, MAX_CONFIG) {
        Ok(bytes) => zeroize::Zeroizing::new(bytes),
        Err(crate::source::Error::Read { source, .. })
            if source.kind() == std::io::ErrorKind::NotFound =>
        {
            return Ok(Config::default());
        }
        Err(crate::source::Error::Read { source, .. }) => {
            return Err(ConfigError::Read {
                path: path.to_owned(),
                source,
            });
        }
        Err(error) => {
            return Err(ConfigError::Read {
                path: path.to_owned(),
                source: std::io::Error::new(std::io::ErrorKind::FileTooLarge, error.to_string()),
            });
        }
    };
    let raw: Raw = serde_json::from_slice(&bytes).map_err(|e| ConfigError::Format {
        path: path.to_owned(),
        reason: format!("line {} column {}", e.line(), e.column()),
    })?;
    if raw.password.is_some() {
        check_private(path)?;
    }
    Ok(Config {
        url: raw.url,
        username: raw.username,
        password: raw.password.map(Secret::new),
    })
}

#[cfg(unix)]
fn check_private(path: &Path) -> Result<(), ConfigError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)
        .map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(ConfigError::Permissions {
            path: path.to_owned(),
            mode: mode & 0o777,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_path: &Path) -> Result<(), ConfigError> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, text: &str, mode: u32) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join("agency.json");
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("{e}"));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
            .unwrap_or_else(|e| panic!("{e}"));
        path
    }

    #[test]
    fn a_private_file_is_read_and_a_missing_one_is_empty() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let missing = load(&dir.path().join("none.json")).unwrap_or_else(|e| panic!("{e}"));
        assert!(missing.url.is_none() && missing.password.is_none());
        let path = write(
            dir.path(),
            r#"{"url":"http://127.0.0.1:1","username":"u","password":"pw-canary"}"#,
            0o600,
        );
        let config = load(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.url.as_deref(), Some("http://127.0.0.1:1"));
        assert_eq!(
            config.password.as_ref().map(Secret::expose),
            Some("pw-canary")
        );
    }

    #[test]
    fn a_readable_password_file_is_refused_and_bad_json_not_quoted() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = write(dir.path(), r#"{"password":"pw-canary"}"#, 0o644);
        assert!(matches!(
            load(&path),
            Err(ConfigError::Permissions { mode: 0o644, .. })
        ));
        let path = write(dir.path(), r#"{"password": pw-canary}"#, 0o600);
        let error = load(&path).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(error.contains("line 1"), "{error}");
        assert!(!error.contains("pw-canary"), "{error}");
    }
}
