//! The system keyring as a source of variable values (`--keyring`, `--keyring-service NAME`).
//!
//! The reference (`faice exec`) looks every variable up in the system keyring under a service
//! name (`red` unless told otherwise), the variable's name being the entry's user name, and
//! offers to store the values typed at its prompt there. [`SystemKeyring`] does the same through
//! the `keyring` crate: the Secret Service over D-Bus on Linux, so entries written by the
//! reference, by `secret-tool store service red username NAME` or by `red` are the same entries.
//!
//! A keyring that cannot be reached (no session bus, no Secret Service on it, a locked keyring
//! that stays locked) is never an error: [`Unavailable`] says why, and the caller skips the
//! source with a note. Every call has a deadline, so a Secret Service that never answers cannot
//! hold the command. Values are wrapped in a [`Secret`] as soon as they arrive; messages name
//! services and variables, never a value.

use std::sync::mpsc;
use std::time::Duration;

use super::secret::Secret;

/// The service name values are looked up under unless `--keyring-service` names another (the
/// reference's default).
pub const DEFAULT_SERVICE: &str = "red";

/// How long one keyring call may take before the keyring counts as unavailable. Long enough
/// for a person to answer an unlock dialog of a desktop keyring.
const DEADLINE: Duration = Duration::from_secs(60);

/// Why the keyring cannot be used; the message names no value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Unavailable(pub String);

/// A keyring: values by variable name under one service.
pub trait Keyring {
    /// The service name.
    fn service(&self) -> &str;

    /// The value stored for variable `name`, `None` when there is none.
    ///
    /// # Errors
    /// [`Unavailable`] when the keyring cannot be asked.
    fn get(&mut self, name: &str) -> Result<Option<Secret>, Unavailable>;

    /// Store `value` for variable `name`, replacing what was there.
    ///
    /// # Errors
    /// [`Unavailable`] when the keyring cannot be written.
    fn set(&mut self, name: &str, value: &Secret) -> Result<(), Unavailable>;
}

/// The platform's keyring (the Secret Service on Linux).
#[derive(Debug, Clone)]
pub struct SystemKeyring {
    service: String,
}

impl SystemKeyring {
    /// The keyring under `service`.
    #[must_use]
    pub fn new(service: impl Into<String>) -> Self {
        Self {
            service: service.into(),
        }
    }
}

impl Keyring for SystemKeyring {
    fn service(&self) -> &str {
        &self.service
    }

    fn get(&mut self, name: &str) -> Result<Option<Secret>, Unavailable> {
        let (service, user) = (self.service.clone(), name.to_owned());
        with_deadline(move || {
            let entry = keyring::Entry::new(&service, &user).map_err(unavailable)?;
            match entry.get_password() {
                Ok(value) => Ok(Some(Secret::new(value))),
                Err(keyring::Error::NoEntry) => Ok(None),
                Err(error) => Err(unavailable(error)),
            }
        })
    }

    fn set(&mut self, name: &str, value: &Secret) -> Result<(), Unavailable> {
        let (service, user) = (self.service.clone(), name.to_owned());
        let value = value.clone();
        with_deadline(move || {
            let entry = keyring::Entry::new(&service, &user).map_err(unavailable)?;
            entry.set_password(value.expose()).map_err(unavailable)
        })
    }
}

/// Run a keyring call on its own thread and wait at most [`DEADLINE`] for it; a call that does
/// not answer is left behind (it ends with the process).
fn with_deadline<T: Send + 'static>(
    call: impl FnOnce() -> Result<T, Unavailable> + Send + 'static,
) -> Result<T, Unavailable> {
    let (sender, receiver) = mpsc::channel();
    std::thread::Builder::new()
        .name("keyring".to_owned())
        .spawn(move || {
            let _ = sender.send(call());
        })
        .map_err(|error| Unavailable(format!("cannot start the keyring call: {error}")))?;
    match receiver.recv_timeout(DEADLINE) {
        Ok(result) => result,
        Err(mpsc::RecvTimeoutError::Timeout) => Err(Unavailable(format!(
            "no answer within {} seconds",
            DEADLINE.as_secs()
        ))),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            Err(Unavailable("the keyring call failed".to_owned()))
        }
    }
}

/// The keyring crate's error as a reason; its texts describe the store, never a value
/// (`BadEncoding` and `BadDataFormat` carry the stored bytes, so they are named only).
fn unavailable(error: keyring::Error) -> Unavailable {
    Unavailable(match error {
        keyring::Error::NoDefaultStore => match keyring::Entry::store_status() {
            Err(reason) => format!("no Secret Service answers on the session bus ({reason})"),
            Ok(()) => "no Secret Service answers on the session bus".to_owned(),
        },
        keyring::Error::BadEncoding(_) => "a stored value is not UTF-8 text".to_owned(),
        keyring::Error::BadDataFormat(..) => "a stored value cannot be read".to_owned(),
        keyring::Error::Ambiguous(entries) => {
            format!("{} entries match; keep only one", entries.len())
        }
        keyring::Error::PlatformFailure(error) | keyring::Error::NoStorageAccess(error) => {
            error.to_string()
        }
        other => other.to_string(),
    })
}
