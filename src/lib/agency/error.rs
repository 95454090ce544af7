//! Every way a CC-Agency request can go wrong, as one enum, and the one function that turns a
//! broker answer (status, content type, body) into it.
//!
//! The broker answers errors in three shapes (docs/remote.md): a JSON *string*
//! `"400 Bad Request: …"` for 400, a werkzeug HTML page whose `<p>` holds the message for 401,
//! 404, 405, 415 and 500, and `{"msg": …}` from its JWT layer. [`from_response`] reads all three,
//! so a caller never sees HTML.

use std::time::Duration;

/// What went wrong talking to a CC-Agency broker.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The base URL cannot be used.
    #[error("`{url}` is not a usable CC-Agency URL: {reason}")]
    Url {
        /// The URL as given.
        url: String,
        /// Why not.
        reason: String,
    },
    /// 401: wrong user or password, unknown user, or a blocked account. Never retried.
    #[error("the broker at `{url}` refused the credentials of `{user}`: {message}")]
    Unauthorized {
        /// The base URL.
        url: String,
        /// The user name sent.
        user: String,
        /// The broker's words.
        message: String,
    },
    /// 400: the broker rejected the request; its message can span lines.
    #[error("the broker rejected the request: {message}")]
    BadRequest {
        /// The broker's words, without the `400 Bad Request:` prefix.
        message: String,
    },
    /// 404: no such experiment or batch (or no such log).
    #[error("not found on the broker: {message}")]
    NotFound {
        /// The broker's words.
        message: String,
    },
    /// Any other HTTP error status.
    #[error("the broker answered {status} to {method} `{path}`: {message}")]
    Status {
        /// The HTTP status.
        status: u16,
        /// The request method.
        method: &'static str,
        /// The request path below the base URL.
        path: String,
        /// The broker's words.
        message: String,
    },
    /// An answer longer than any answer of the API (see `docs/limits.md`): not a broker, or a
    /// broken one. Never retried.
    #[error(
        "the answer of `{url}` to {method} `{path}` is {}, more than red reads of such an answer",
        crate::net::BodyError::over(*limit)
    )]
    TooLarge {
        /// The base URL.
        url: String,
        /// The request method.
        method: &'static str,
        /// The request path below the base URL.
        path: String,
        /// The limit, in bytes.
        limit: u64,
    },
    /// The broker could not be reached (refused, DNS, TLS, reset).
    #[error("cannot reach the broker at `{url}`: {reason}")]
    Connect {
        /// The base URL.
        url: String,
        /// What the network layer said.
        reason: String,
    },
    /// No complete answer within the request timeout.
    #[error("the broker at `{url}` did not answer {method} `{path}` within {} s", timeout.as_secs_f64())]
    Timeout {
        /// The base URL.
        url: String,
        /// The request method.
        method: &'static str,
        /// The request path.
        path: String,
        /// The timeout that ran out.
        timeout: Duration,
    },
    /// A 200 answer whose body is not what the API documents.
    #[error("the broker's answer to {method} `{path}` is not what CC-Agency 9 sends: {reason}")]
    Body {
        /// The request method.
        method: &'static str,
        /// The request path.
        path: String,
        /// What did not fit.
        reason: String,
    },
    /// An id that is not 24 hexadecimal digits (the broker's ObjectId).
    #[error("`{0}` is not a CC-Agency id (24 hexadecimal digits)")]
    Id(String),
    /// The submitted document could not be turned into JSON.
    #[error("cannot encode the RED document as JSON: {0}")]
    Encode(String),
}

impl Error {
    /// Whether trying the same idempotent request again may help: connection failures,
    /// timeouts and 5xx answers (502, 503 and 504 typically come from a proxy in front of the
    /// broker). A 401 is never transient: repeating it gets the account blocked.
    #[must_use]
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Connect { .. } | Error::Timeout { .. } => true,
            Error::Status { status, .. } => (500..600).contains(status),
            _ => false,
        }
    }

    /// Whether the request surely never reached the broker (refused connection): the only
    /// failure after which a submit may be sent again without risking a duplicate experiment.
    #[must_use]
    pub fn never_sent(&self) -> bool {
        matches!(self, Error::Connect { reason, .. } if reason.starts_with(REFUSED))
    }

    /// A hint for people, if there is a useful one.
    #[must_use]
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            Error::Unauthorized { message, .. } if message.contains("blocked") => Some(
                "the account is blocked after repeated wrong passwords; wait before trying again",
            ),
            Error::Unauthorized { .. } => Some(
                "check the user name and password (RED_AGENCY_PASSWORD, the config file, or the \
                 RED file's `execution.settings.access.auth`); red does not retry, so the \
                 account is not blocked by it",
            ),
            Error::Connect { .. } => Some("check the URL and that the broker is running"),
            Error::Timeout { .. } => Some("raise `--timeout`, or check the broker's load"),
            Error::TooLarge { .. } => Some("check that the URL is the CC-Agency broker's"),
            Error::NotFound { .. } => Some("check the id (24 hexadecimal digits)"),
            _ => None,
        }
    }
}

/// How a refused connection's reason starts (see [`Error::never_sent`]).
pub(crate) const REFUSED: &str = "connection refused";

/// Turn a non-success broker answer into an [`Error`].
#[must_use]
pub fn from_response(
    status: u16,
    content_type: &str,
    body: &str,
    method: &'static str,
    path: &str,
    url: &str,
    user: &str,
) -> Error {
    let message = message_of(content_type, body);
    match status {
        400 => Error::BadRequest {
            message: message
                .strip_prefix("400 Bad Request: ")
                .map(str::to_owned)
                .unwrap_or(message),
        },
        401 => Error::Unauthorized {
            url: url.to_owned(),
            user: user.to_owned(),
            message,
        },
        404 => Error::NotFound { message },
        _ => Error::Status {
            status,
            method,
            path: path.to_owned(),
            message,
        },
    }
}

/// The human text of an error body: a JSON string, `{"msg": …}`, an HTML page's `<p>` (or its
/// `<title>`), else the text itself, shortened.
#[must_use]
pub fn message_of(content_type: &str, body: &str) -> String {
    let trimmed = body.trim();
    if content_type.contains("json") || trimmed.starts_with('"') || trimmed.starts_with('{') {
        match serde_json::from_str::<serde_json::Value>(trimmed) {
            Ok(serde_json::Value::String(text)) => return text,
            Ok(serde_json::Value::Object(map)) => {
                if let Some(serde_json::Value::String(text)) =
                    map.get("msg").or_else(|| map.get("message"))
                {
                    return text.clone();
                }
            }
            _ => {}
        }
    }
    if trimmed.starts_with('<')
        && let Some(text) = element(trimmed, "p").or_else(|| element(trimmed, "title"))
    {
        return text;
    }
    if trimmed.is_empty() {
        return "(no message)".to_owned();
    }
    shorten(trimmed)
}

/// The text of the first `<tag>…</tag>`, entities decoded.
fn element(html: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = html.find(&open)? + open.len();
    let end = html.get(start..)?.find(&close)? + start;
    let text = unescape(html.get(start..end)?.trim());
    (!text.is_empty()).then_some(text)
}

fn unescape(text: &str) -> String {
    text.replace("&#34;", "\"")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

fn shorten(text: &str) -> String {
    const MAX: usize = 300;
    if text.chars().count() <= MAX {
        return text.to_owned();
    }
    let cut: String = text.chars().take(MAX).collect();
    format!("{cut}…")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(status: u16, content_type: &str, body: &str) -> Error {
        from_response(status, content_type, body, "GET", "/x", "http://b", "alice")
    }

    #[test]
    fn a_400_is_a_json_string_without_its_prefix() {
        let body = r#""400 Bad Request: Given RED data is invalid.\nRED-FILE does not comply""#;
        match map(400, "application/json", body) {
            Error::BadRequest { message } => {
                assert_eq!(
                    message,
                    "Given RED data is invalid.\nRED-FILE does not comply"
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_401_page_gives_its_paragraph() {
        let body = "<!doctype html>\n<html lang=en>\n<title>401 Unauthorized</title>\n\
            <h1>Unauthorized</h1>\n<p>Invalid username/password combination for user &#34;alice&#34;.</p>\n";
        let error = map(401, "text/html; charset=utf-8", body);
        assert!(!error.is_transient());
        match &error {
            Error::Unauthorized { message, user, .. } => {
                assert_eq!(
                    message,
                    "Invalid username/password combination for user \"alice\"."
                );
                assert_eq!(user, "alice");
            }
            other => panic!("{other:?}"),
        }
        assert!(error.hint().is_some_and(|h| h.contains("does not retry")));
    }

    #[test]
    fn a_bare_unauthorized_and_a_blocked_account() {
        assert!(matches!(map(401, "text/html", "Unauthorized"),
            Error::Unauthorized { message, .. } if message == "Unauthorized"));
        let blocked = map(
            401,
            "text/html",
            "<p>The user &#34;a&#34; is currently blocked due to invalid login attempts.</p>",
        );
        assert!(blocked.hint().is_some_and(|h| h.contains("blocked")));
    }

    #[test]
    fn jwt_errors_and_server_errors() {
        assert!(
            matches!(map(422, "application/json", r#"{"msg":"Token has expired"}"#),
            Error::Status { status: 422, message, .. } if message == "Token has expired")
        );
        let error = map(
            500,
            "text/html",
            "<title>500 Internal Server Error</title><h1>x</h1><p>Trustee service failed: down</p>",
        );
        assert!(error.is_transient());
        assert!(error.to_string().contains("Trustee service failed: down"));
        assert!(!error.to_string().contains('<'));
    }

    #[test]
    fn not_found_and_unsupported_media_type() {
        assert!(
            matches!(map(404, "text/html", "<p>Could not find Object.</p>"),
            Error::NotFound { message } if message == "Could not find Object.")
        );
        let page = "<p>Did not attempt to load JSON data because the request Content-Type was \
            not &#39;application/json&#39;.</p>";
        assert!(matches!(map(415, "text/html", page),
            Error::Status { status: 415, message, .. } if message.ends_with("'application/json'.")));
    }

    #[test]
    fn odd_bodies_are_shortened_text() {
        assert_eq!(message_of("text/plain", "  "), "(no message)");
        let long = "x".repeat(1000);
        assert!(message_of("text/plain", &long).chars().count() < 310);
        assert_eq!(message_of("application/json", "[1]"), "[1]");
    }
}
