//! What went wrong when reaching a host, in words a user can act on.
//!
//! `ssh` explains failures on its standard error; [`classify`] turns the known cases (unknown
//! or changed host key, refused credentials, refused or timed-out connection, unknown host)
//! into [`Error`] variants whose messages say what to do. Anything else keeps `ssh`'s own last
//! lines, with every secret of the target replaced first.

use std::process::ExitStatus;

use super::Target;
use crate::sftp;

/// Why a connection could not be made or used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The host's key is not in known_hosts and no key is pinned.
    #[error(
        "the host key of `{host}` port {port} is not known, so red refused the connection; to trust it, check its fingerprint with the server's owner and either add it to ~/.ssh/known_hosts (`ssh-keyscan -p {port} {host} >> ~/.ssh/known_hosts`) or pin it in the access block as `hostKey: \"ssh-ed25519 AAAA…\"`"
    )]
    UnknownHostKey {
        /// Host.
        host: String,
        /// Port.
        port: u16,
    },
    /// The host offered a key different from the known or pinned one.
    #[error(
        "the host key of `{host}` port {port} differs from the known or pinned one, so red refused the connection (the server was reinstalled, or someone is in between); if the change is expected, remove the old key (`ssh-keygen -R '[{host}]:{port}'`) or update `hostKey`"
    )]
    ChangedHostKey {
        /// Host.
        host: String,
        /// Port.
        port: u16,
    },
    /// The server refused the credentials.
    #[error("`{target}` refused the credentials{detail}")]
    Auth {
        /// `user@host:port`.
        target: String,
        /// More, when known (which method, a wrong passphrase).
        detail: String,
    },
    /// Nothing listens there.
    #[error("`{host}` refused a connection on port {port}: is the ssh server running there?")]
    Refused {
        /// Host.
        host: String,
        /// Port.
        port: u16,
    },
    /// No answer in time.
    #[error("`{host}` port {port} did not answer in time")]
    Timeout {
        /// Host.
        host: String,
        /// Port.
        port: u16,
    },
    /// The host name does not resolve.
    #[error("cannot resolve the host name `{0}`")]
    Resolve(String),
    /// The private key cannot be used.
    #[error("the private key cannot be read by ssh: {0}")]
    Key(String),
    /// The server has no SFTP subsystem.
    #[error("`{0}` offers no sftp subsystem")]
    NoSftp(String),
    /// The connection broke (reset, closed); a retry may help.
    #[error("the connection to `{target}` broke: {detail}")]
    Broken {
        /// `user@host:port`.
        target: String,
        /// What ssh said.
        detail: String,
    },
    /// Something else failed; `ssh`'s own words.
    #[error("ssh to `{target}` failed: {detail}")]
    Failed {
        /// `user@host:port`.
        target: String,
        /// What ssh said.
        detail: String,
    },
    /// The `ssh` program could not be started.
    #[error("cannot run `ssh` (is the OpenSSH client installed?): {0}")]
    Spawn(String),
    /// A value that cannot be given to ssh.
    #[error("{0}")]
    Usage(String),
    /// A local step failed.
    #[error("{0}")]
    Local(String),
    /// An SFTP request failed on a working connection.
    #[error(transparent)]
    Sftp(#[from] sftp::Error),
}

impl Error {
    pub(super) fn local(what: &str, error: &std::io::Error) -> Self {
        Self::Local(format!("{what}: {error}"))
    }

    /// Whether trying again on a new connection may succeed (network trouble, not a refusal).
    #[must_use]
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Timeout { .. } | Self::Broken { .. } | Self::Refused { .. } => true,
            Self::Sftp(error) => error.is_connection(),
            _ => false,
        }
    }
}

/// Replace every secret in ssh's standard error with `********` (foreign text: short secrets
/// as whole tokens, in every spelling; see `redact`).
pub(super) fn redact(text: &str, secrets: &[&str]) -> String {
    crate::redact::Redactor::new(secrets)
        .redact_foreign(text)
        .into_owned()
}

/// The last meaningful line of ssh's output, or what the session said.
fn detail(stderr: &str, fallback: &sftp::Error) -> String {
    stderr
        .lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty() && !l.starts_with('@'))
        .map_or_else(|| fallback.to_string(), str::to_owned)
}

/// Turn ssh's standard error (already redacted) and the session's error into an [`Error`].
pub(super) fn classify(
    target: &Target,
    stderr: &str,
    _status: Option<ExitStatus>,
    session: &sftp::Error,
) -> Error {
    let host = target.host.clone();
    let port = target.port;
    let lower = stderr.to_lowercase();
    let has = |needle: &str| lower.contains(needle);
    if has("remote host identification has changed") || has("host key for") && has("has changed") {
        Error::ChangedHostKey { host, port }
    } else if has("host key verification failed") || has("no ") && has("host key is known") {
        Error::UnknownHostKey { host, port }
    } else if has("incorrect passphrase") || has("bad passphrase") {
        Error::Auth {
            target: target.label(),
            detail: ": the passphrase does not open the private key".into(),
        }
    } else if has("permission denied") || has("too many authentication failures") {
        let methods = lower
            .rsplit_once("permission denied (")
            .and_then(|(_, rest)| rest.split_once(')'))
            .map(|(methods, _)| format!(" (the server accepts: {methods})"))
            .unwrap_or_default();
        Error::Auth {
            target: target.label(),
            detail: methods,
        }
    } else if has("connection refused") {
        Error::Refused { host, port }
    } else if has("timed out") || matches!(session, sftp::Error::Timeout { .. }) {
        Error::Timeout { host, port }
    } else if has("could not resolve hostname") || has("name or service not known") {
        Error::Resolve(host)
    } else if has("invalid format") || has("error in libcrypto") || has("bad permissions") {
        Error::Key(detail(stderr, session))
    } else if has("subsystem request failed") {
        Error::NoSftp(target.label())
    } else if has("connection reset") || has("connection closed") || has("broken pipe") {
        Error::Broken {
            target: target.label(),
            detail: detail(stderr, session),
        }
    } else {
        Error::Failed {
            target: target.label(),
            detail: detail(stderr, session),
        }
    }
}
