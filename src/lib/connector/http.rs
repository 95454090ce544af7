//! `red-connector-http`: files over HTTP(S).
//!
//! Access block (the reference's fields): `url` (required), `method` (`GET` for receiving, any
//! case), `auth` `{username, password, method: basic}`, `disableSSLVerification` (TLS
//! certificates are verified unless this is `true`). The download streams to the destination,
//! the status is checked (the reference's connector does too, but its agent keeps partial files),
//! and a failed or cancelled download leaves nothing behind.

use std::fs::{self, OpenOptions};
use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

use super::{
    Access, AccessError, Connector, ConnectorError, Context, HTTP, Listing, Operation, Received,
};

/// How long a read may wait for the next bytes.
const READ_TIMEOUT: Duration = Duration::from_secs(300);

/// The http connector.
#[derive(Debug, Default)]
pub struct Http;

impl Http {
    /// The connector.
    #[must_use]
    pub fn new() -> Self {
        Self
    }
}

/// The parts of an access block a request needs. Holds the password: not `Debug`.
struct Request<'a> {
    url: reqwest::Url,
    method: reqwest::Method,
    auth: Option<(&'a str, &'a str)>,
    insecure: bool,
}

fn parse(access: &Access, operation: Operation) -> Result<Request<'_>, AccessError> {
    access.only(&["url", "method", "auth", "disableSSLVerification"])?;
    let text = access.required_str("url")?;
    let url = reqwest::Url::parse(text)
        .map_err(|e| AccessError::field("url", &format!("is not a URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(AccessError::field(
            "url",
            "must start with `http://` or `https://`",
        ));
    }
    let default = if matches!(operation, Operation::SendFile | Operation::SendDir) {
        "POST"
    } else {
        "GET"
    };
    let method = access
        .optional_str("method")?
        .unwrap_or(default)
        .to_ascii_uppercase();
    let allowed: &[&str] = match operation {
        Operation::ReceiveFile | Operation::ReceiveDir => &["GET"],
        _ => &["PUT", "POST"],
    };
    if !allowed.contains(&method.as_str()) {
        return Err(
            AccessError::field("method", "is not a method this connector can use here")
                .hint(format!("use {}", allowed.join(" or "))),
        );
    }
    let method = reqwest::Method::from_bytes(method.as_bytes())
        .map_err(|_| AccessError::field("method", "is not an HTTP method"))?;
    let auth = match access.object()?.get("auth") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::Object(auth)) => {
            for key in auth.keys() {
                if !["username", "password", "method"].contains(&key.as_str()) {
                    return Err(AccessError::new(
                        format!("/auth/{}", crate::tree::escape_pointer_segment(key)),
                        format!("`auth.{key}` is not a field of this connector"),
                    ));
                }
            }
            let text = |key: &str| match auth.get(key) {
                Some(serde_json::Value::String(s)) => Ok(s.as_str()),
                _ => Err(AccessError::new(
                    format!("/auth/{key}"),
                    format!("`auth.{key}` must be a string"),
                )),
            };
            match auth.get("method").and_then(|m| m.as_str()) {
                None => {}
                Some(m) if m.eq_ignore_ascii_case("basic") => {}
                Some(_) => {
                    return Err(AccessError::new(
                        "/auth/method",
                        "only `basic` authentication is supported",
                    ));
                }
            }
            Some((text("username")?, text("password")?))
        }
        Some(_) => return Err(AccessError::field("auth", "must be a mapping")),
    };
    Ok(Request {
        url,
        method,
        auth,
        insecure: access
            .optional_bool("disableSSLVerification")?
            .unwrap_or(false),
    })
}

/// A URL for messages: no user info, no query (either may hold a token).
fn shown(url: &reqwest::Url) -> String {
    let mut url = url.clone();
    let _ = url.set_username("");
    let _ = url.set_password(None);
    url.set_query(None);
    url.to_string()
}

impl Connector for Http {
    fn command(&self) -> &str {
        HTTP
    }

    fn check(
        &self,
        operation: Operation,
        access: &Access,
        _listing: Option<&Listing>,
    ) -> Result<(), ConnectorError> {
        if operation != Operation::ReceiveFile {
            return self.unsupported(operation);
        }
        parse(access, operation)?;
        Ok(())
    }

    fn receive_file(
        &self,
        access: &Access,
        destination: &Path,
        context: &Context,
    ) -> Result<Received, ConnectorError> {
        let request = parse(access, Operation::ReceiveFile)?;
        let client = crate::net::blocking_builder(request.insecure)
            // The blocking client applies this to each read, not to the whole download.
            .timeout(READ_TIMEOUT)
            .build()
            .map_err(|e| ConnectorError::Remote(format!("cannot set up HTTP: {e}")))?;
        let mut builder = client.request(request.method, request.url.clone());
        if let Some((user, password)) = request.auth {
            builder = builder.basic_auth(user, Some(password));
        }
        let url = shown(&request.url);
        let mut response = builder.send().map_err(|e| {
            ConnectorError::Remote(format!("GET {url} failed: {}", e.without_url()))
        })?;
        let status = response.status();
        if !status.is_success() {
            return Err(ConnectorError::Remote(format!(
                "GET {url} answered {status}"
            )));
        }
        let total = response.content_length();
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(destination)
            .map_err(|e| {
                ConnectorError::io(format!("cannot create `{}`", destination.display()), e)
            })?;
        let mut buffer = vec![0u8; 256 * 1024];
        let result = (|| {
            loop {
                context.check_stop()?;
                let read = response
                    .read(&mut buffer)
                    .map_err(|e| ConnectorError::Remote(format!("reading {url} failed: {e}")))?;
                if read == 0 {
                    break;
                }
                file.write_all(buffer.get(..read).unwrap_or_default())
                    .map_err(|e| {
                        ConnectorError::io(format!("cannot write `{}`", destination.display()), e)
                    })?;
                context.progress.advance(read as u64, total);
            }
            file.sync_all().map_err(|e| {
                ConnectorError::io(format!("cannot write `{}`", destination.display()), e)
            })
        })();
        if result.is_err() {
            let _ = fs::remove_file(destination);
        }
        result.map(|()| Received::Staged)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_blocks_are_checked_without_echoing_values() {
        let ok = Access::new(serde_json::json!({
            "url": "https://example.org/f", "auth": {"username": "u", "password": "canary"}
        }));
        assert!(Http.check(Operation::ReceiveFile, &ok, None).is_ok());
        let bad_url = Access::new(serde_json::json!({"url": "ftp://canary@x/f"}));
        let Err(ConnectorError::Access(error)) = Http.check(Operation::ReceiveFile, &bad_url, None)
        else {
            panic!("ftp must be refused");
        };
        assert_eq!(error.pointer, "/url");
        assert!(!error.to_string().contains("canary"));
        let bad_auth = Access::new(serde_json::json!({
            "url": "http://x/f", "auth": {"username": "u", "pass": "canary"}
        }));
        let Err(ConnectorError::Access(error)) =
            Http.check(Operation::ReceiveFile, &bad_auth, None)
        else {
            panic!("an unknown auth field must be refused");
        };
        assert_eq!(error.pointer, "/auth/pass");
        let put = Access::new(serde_json::json!({"url": "http://x/f", "method": "put"}));
        assert!(Http.check(Operation::ReceiveFile, &put, None).is_err());
    }

    #[test]
    fn urls_in_messages_lose_credentials_and_queries() {
        let url = reqwest::Url::parse("https://user:pw@host/a?token=t").unwrap();
        assert_eq!(shown(&url), "https://host/a");
    }
}
