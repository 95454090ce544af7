//! The access block of `red-connector-ssh`, checked field by field.
//!
//! The fields are those of the reference 1.3 (`host`, `port`, `auth{username, password |
//! privateKey [+ passphrase]}`, `filePath` or `dirPath`, `timeout`, `authTimeout`,
//! `bannerTimeout`), plus red's own `hostKey` (a pinned host key) and `ciphers` (as the
//! reference's mount-dir has it). Errors name the field by its pointer and never repeat a value.

use std::time::Duration;

use serde_json::{Map, Value};

use crate::connector::{Access, AccessError, Operation};
use crate::fill::Secret;
use crate::ssh::{self, Auth, Target};

const COMMON: [&str; 8] = [
    "host",
    "port",
    "auth",
    "timeout",
    "authTimeout",
    "bannerTimeout",
    "hostKey",
    "ciphers",
];

/// What an access block asks for: where to connect and which remote path.
#[derive(Debug, Clone)]
pub(super) struct Settings {
    pub(super) target: Target,
    /// The remote path, `~/` removed (relative paths start at the login directory).
    pub(super) path: String,
}

/// The name of the path field for an operation.
pub(super) fn path_field(operation: Operation) -> &'static str {
    match operation {
        Operation::ReceiveFile | Operation::SendFile => "filePath",
        Operation::ReceiveDir | Operation::SendDir | Operation::MountDir => "dirPath",
    }
}

/// The block with one leading `_` removed from every key (`_password` is a protected
/// `password`, as CC-Agency passes it); a key given both ways is an error.
fn normalized(value: &Value, at: &str) -> Result<Value, AccessError> {
    let Value::Object(map) = value else {
        return Ok(value.clone());
    };
    let mut out = Map::new();
    for (key, inner) in map {
        let name = crate::template::normalize_key(key);
        let pointer = format!("{at}/{}", crate::tree::escape_pointer_segment(key));
        let inner = if name == "auth" {
            normalized(inner, &pointer)?
        } else {
            inner.clone()
        };
        if out.insert(name.to_owned(), inner).is_some() {
            return Err(AccessError::new(
                pointer,
                format!("`{name}` is given twice (with and without `_`)"),
            ));
        }
    }
    Ok(Value::Object(out))
}

/// Read and check the access block for `operation`.
pub(super) fn settings(access: &Access, operation: Operation) -> Result<Settings, AccessError> {
    let access = &Access::new(normalized(access.object().map(|_| access.value())?, "")?);
    let field = path_field(operation);
    let mut allowed = COMMON.to_vec();
    allowed.push(field);
    if operation == Operation::MountDir {
        allowed.push("writable");
        access.optional_bool("writable")?;
    }
    access.only(&allowed)?;
    let host = access.required_str("host")?;
    if host.is_empty() || host.starts_with('-') || host.chars().any(char::is_whitespace) {
        return Err(AccessError::field("host", "must be a host name or address"));
    }
    let object = access.object()?;
    let auth = object
        .get("auth")
        .ok_or_else(|| AccessError::new("", "the access block needs `auth`"))?;
    let (user, auth) = auth_of(auth)?;
    let mut target = Target::new(host, user);
    target.auth = auth;
    if let Some(port) = object.get("port").filter(|v| !v.is_null()) {
        target.port = port
            .as_u64()
            .and_then(|p| u16::try_from(p).ok())
            .filter(|&p| p > 0)
            .ok_or_else(|| AccessError::field("port", "must be a port number (1 to 65535)"))?;
    }
    let seconds = |key: &str| -> Result<Option<Duration>, AccessError> {
        match object.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(value) => value
                .as_f64()
                .filter(|s| s.is_finite() && *s > 0.0 && *s < 1e9)
                .map(|s| Some(Duration::from_secs_f64(s)))
                .ok_or_else(|| AccessError::field(key, "must be a positive number of seconds")),
        }
    };
    if let Some(timeout) = seconds("timeout")? {
        target.connect_timeout = timeout;
        target.operation_timeout = timeout;
    }
    let auth_timeout = seconds("authTimeout")?.unwrap_or(Duration::from_secs(60));
    let banner_timeout = seconds("bannerTimeout")?.unwrap_or(Duration::from_secs(60));
    target.start_timeout = auth_timeout + banner_timeout;
    if let Some(key) = access.optional_str("hostKey")? {
        let key = ssh::normalize_host_key(key).map_err(|m| {
            AccessError::field("hostKey", &m).hint(
                "give the server's public host key as `<type> <base64>`, for example a line of \
                 `ssh-keyscan -t ed25519 HOST` without the host name",
            )
        })?;
        target.host_key = Some(key);
    }
    target.ciphers = ciphers(object)?;
    let path = access.required_str(field)?;
    if path.is_empty() || path.contains('\0') {
        return Err(AccessError::field(field, "must be a non-empty path"));
    }
    Ok(Settings {
        target,
        path: strip_home(path),
    })
}

fn ciphers(object: &Map<String, Value>) -> Result<Option<String>, AccessError> {
    let wrong = || AccessError::field("ciphers", "must be a cipher name or a list of them");
    let names: Vec<&str> = match object.get("ciphers") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(name)) => vec![name.as_str()],
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| i.as_str().ok_or_else(wrong))
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(wrong()),
    };
    let fine = |n: &&str| {
        !n.is_empty()
            && n.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-@.".contains(&b))
    };
    if names.is_empty() || !names.iter().all(fine) {
        return Err(wrong());
    }
    Ok(Some(names.join(",")))
}

/// A path relative to the login directory: `~/x` is `x`, `~` is `.` (SFTP has no `~`).
pub(super) fn strip_home(path: &str) -> String {
    if path == "~" {
        ".".into()
    } else if let Some(rest) = path.strip_prefix("~/") {
        let rest = rest.trim_start_matches('/');
        if rest.is_empty() {
            ".".into()
        } else {
            rest.into()
        }
    } else {
        path.into()
    }
}

fn auth_field(key: &str, problem: &str) -> AccessError {
    AccessError::new(format!("/auth/{key}"), format!("`auth.{key}` {problem}"))
}

fn auth_of(auth: &Value) -> Result<(String, Auth), AccessError> {
    let Value::Object(fields) = auth else {
        return Err(AccessError::field("auth", "must be a mapping")
            .hint("give `username` and either `password` or `privateKey`"));
    };
    for key in fields.keys() {
        if !["username", "password", "privateKey", "passphrase"].contains(&key.as_str()) {
            return Err(AccessError::new(
                format!("/auth/{}", crate::tree::escape_pointer_segment(key)),
                format!("`auth.{key}` is not a field of this connector"),
            )
            .hint("the fields are `username`, `password`, `privateKey`, `passphrase`"));
        }
    }
    let text = |key: &str| -> Result<Option<&str>, AccessError> {
        match fields.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) => Ok(Some(text)),
            Some(_) => Err(auth_field(key, "must be a string")),
        }
    };
    let user =
        text("username")?.ok_or_else(|| AccessError::new("/auth", "`auth` needs `username`"))?;
    if user.is_empty() || user.starts_with('-') || user.chars().any(char::is_whitespace) {
        return Err(auth_field("username", "must be a login name"));
    }
    let auth = match (text("password")?, text("privateKey")?, text("passphrase")?) {
        (Some(_), Some(_), _) => {
            return Err(AccessError::new(
                "/auth",
                "`auth` has both `password` and `privateKey`; give one of them",
            ));
        }
        (Some(_), None, Some(_)) => {
            return Err(auth_field("passphrase", "only goes with `privateKey`"));
        }
        (Some(password), None, None) => Auth::Password(Secret::new(password.to_owned())),
        (None, Some(key), passphrase) => {
            if !key.contains("PRIVATE KEY-----") {
                return Err(auth_field("privateKey", "does not hold a private key").hint(
                    "give the whole key file, from its `-----BEGIN` line to its `-----END` line",
                ));
            }
            Auth::Key {
                private_key: Secret::new(key.to_owned()),
                passphrase: passphrase.map(|p| Secret::new(p.to_owned())),
            }
        }
        // red's extension: no credentials means the agent and the default keys.
        (None, None, Some(_)) => {
            return Err(auth_field("passphrase", "only goes with `privateKey`"));
        }
        (None, None, None) => Auth::Default,
    };
    Ok((user.to_owned(), auth))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(value: Value, operation: Operation) -> Result<Settings, AccessError> {
        settings(&Access::new(value), operation)
    }

    #[test]
    fn a_full_block_is_read() {
        let settings = check(
            json!({"host": "example.org", "port": 2222, "timeout": 5,
                   "auth": {"username": "u", "password": "canary-pw"},
                   "filePath": "~/data/in.txt", "hostKey": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA"}),
            Operation::ReceiveFile,
        )
        .unwrap();
        assert_eq!(settings.path, "data/in.txt");
        assert_eq!(settings.target.port, 2222);
        assert_eq!(settings.target.operation_timeout, Duration::from_secs(5));
        assert!(matches!(settings.target.auth, Auth::Password(_)));
        assert!(!format!("{settings:?}").contains("canary"));
    }

    #[test]
    fn errors_point_at_the_field_and_never_echo_values() {
        let cases = [
            (
                json!({"host": "h", "auth": {"username": "u", "password": "canary-1", "privateKey": "canary-2"}, "filePath": "f"}),
                "/auth",
            ),
            (
                json!({"host": "h", "auth": {"username": "u", "password": "canary-1", "passphrase": "canary-2"}, "filePath": "f"}),
                "/auth/passphrase",
            ),
            (
                json!({"host": "h", "auth": {"username": "u", "privateKey": "canary-not-a-key"}, "filePath": "f"}),
                "/auth/privateKey",
            ),
            (
                json!({"host": "h", "auth": {"username": "u", "password": "canary", "token": "canary"}, "filePath": "f"}),
                "/auth/token",
            ),
            (
                json!({"host": "h", "port": 70000, "auth": {"username": "u", "password": "canary"}, "filePath": "f"}),
                "/port",
            ),
            (
                json!({"host": "h", "auth": {"username": "u", "password": "canary"}, "dirPath": "d"}),
                "/dirPath",
            ),
            (
                json!({"host": "-oProxyCommand=x", "auth": {"username": "u"}, "filePath": "f"}),
                "/host",
            ),
            (
                json!({"host": "h", "auth": {"username": "u"}, "filePath": "f", "hostKey": "canary"}),
                "/hostKey",
            ),
            (
                json!({"host": "h", "auth": {"username": "u"}, "filePath": "f", "timeout": -1}),
                "/timeout",
            ),
        ];
        for (value, pointer) in cases {
            let error = check(value, Operation::ReceiveFile).unwrap_err();
            assert_eq!(error.pointer, pointer, "{error}");
            let shown = format!("{error} {:?}", error.hint);
            assert!(!shown.contains("canary"), "{shown}");
        }
        let missing = check(
            json!({"host": "h", "auth": {"username": "u"}}),
            Operation::SendDir,
        );
        assert!(missing.unwrap_err().message.contains("dirPath"));
    }

    #[test]
    fn underscored_keys_are_the_same_fields() {
        let settings = check(
            json!({"_host": "h", "auth": {"_username": "u", "_password": "canary"}, "filePath": "f"}),
            Operation::SendFile,
        )
        .unwrap();
        assert_eq!(settings.target.user, "u");
        assert!(matches!(settings.target.auth, Auth::Password(_)));
        let twice = check(
            json!({"host": "h", "auth": {"password": "a", "_password": "b", "username": "u"}, "filePath": "f"}),
            Operation::SendFile,
        );
        assert!(twice.unwrap_err().pointer.starts_with("/auth/"));
    }

    #[test]
    fn mounts_may_be_writable() {
        let block =
            json!({"host": "h", "auth": {"username": "u"}, "dirPath": "d", "writable": true});
        assert!(check(block.clone(), Operation::MountDir).is_ok());
        assert_eq!(
            check(block, Operation::ReceiveDir).unwrap_err().pointer,
            "/writable"
        );
    }

    #[test]
    fn home_prefixes_are_removed() {
        assert_eq!(strip_home("~/a/b"), "a/b");
        assert_eq!(strip_home("~"), ".");
        assert_eq!(strip_home("~/"), ".");
        assert_eq!(strip_home("/abs"), "/abs");
        assert_eq!(strip_home("rel"), "rel");
    }

    #[test]
    fn ciphers_may_be_a_list() {
        let settings = check(
            json!({"host": "h", "auth": {"username": "u"}, "dirPath": "d",
                   "ciphers": ["aes128-gcm@openssh.com", "aes256-ctr"]}),
            Operation::ReceiveDir,
        )
        .unwrap();
        assert_eq!(
            settings.target.ciphers.as_deref(),
            Some("aes128-gcm@openssh.com,aes256-ctr")
        );
    }
}
