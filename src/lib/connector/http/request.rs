//! The request side of the http connector: what an access block asks for ([`parse`]: URL,
//! method, credentials, TLS verification) and how one request is built and sent, answering a
//! digest challenge once; and how a request's URL and errors are shown (never a password,
//! a user name or a query).

use std::time::Duration;

use reqwest::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use reqwest::{Client, RequestBuilder, Response, StatusCode};

use super::{MAX_REDIRECTS, digest};
use crate::connector::{Access, AccessError, ConnectorError, Operation};

/// The parts of an access block a request needs. Holds the password: not `Debug`.
pub(super) struct Request<'a> {
    pub(super) url: reqwest::Url,
    pub(super) method: reqwest::Method,
    pub(super) auth: Option<Auth<'a>>,
    pub(super) insecure: bool,
}

/// Credentials, and for digest authentication the server's challenge once known.
pub(super) struct Auth<'a> {
    user: &'a str,
    pub(super) password: &'a str,
    digest: Option<digest::State>,
}

impl Request<'_> {
    pub(super) fn client(&self, stall: Duration) -> Result<Client, ConnectorError> {
        crate::net::async_builder(self.insecure)
            .connect_timeout(stall.min(crate::net::CONNECT_TIMEOUT))
            .redirect(super::answer::redirect_policy())
            .build()
            .map_err(|e| ConnectorError::Remote(format!("cannot set up HTTP: {}", describe(&e))))
    }

    pub(super) fn builder(
        &self,
        client: &Client,
        method: reqwest::Method,
        url: &reqwest::Url,
    ) -> RequestBuilder {
        let builder = client.request(method.clone(), url.clone());
        match &self.auth {
            None => builder,
            Some(Auth {
                user,
                password,
                digest: None,
            }) => builder.basic_auth(user, Some(password)),
            Some(Auth {
                user,
                password,
                digest: Some(state),
            }) => {
                let uri = match url.query() {
                    Some(query) => format!("{}?{query}", url.path()),
                    None => url.path().to_owned(),
                };
                match state.authorization(user, password, method.as_str(), &uri) {
                    Some(header) => builder.header(AUTHORIZATION, header),
                    None => builder,
                }
            }
        }
    }

    /// Send what `build` makes; with digest authentication, answer the server's challenge and
    /// send once more (`build` is called again, so a body can be made afresh).
    pub(super) async fn send(
        &self,
        mut build: impl FnMut() -> Result<RequestBuilder, ConnectorError>,
    ) -> Result<Result<Response, reqwest::Error>, ConnectorError> {
        let first = build()?.send().await;
        if let (
            Ok(response),
            Some(Auth {
                digest: Some(state),
                ..
            }),
        ) = (&first, &self.auth)
            && response.status() == StatusCode::UNAUTHORIZED
            && let Some(challenge) = digest::Challenge::parse(
                response
                    .headers()
                    .get_all(WWW_AUTHENTICATE)
                    .iter()
                    .filter_map(|v| v.to_str().ok()),
            )
            && state.learn(challenge)
        {
            return Ok(build()?.send().await);
        }
        Ok(first)
    }
}

pub(super) fn parse(access: &Access, operation: Operation) -> Result<Request<'_>, AccessError> {
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
    let sending = matches!(operation, Operation::SendFile | Operation::SendDir);
    let method = access
        .optional_str("method")?
        .unwrap_or(if sending { "POST" } else { "GET" })
        .to_ascii_uppercase();
    let allowed: &[&str] = if sending { &["PUT", "POST"] } else { &["GET"] };
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
        Some(serde_json::Value::Object(auth)) => Some(parse_auth(auth)?),
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

fn parse_auth(auth: &serde_json::Map<String, serde_json::Value>) -> Result<Auth<'_>, AccessError> {
    for key in auth.keys() {
        if !["username", "password", "method"].contains(&key.as_str()) {
            return Err(AccessError::new(
                format!("/auth/{}", crate::tree::escape_pointer_segment(key)),
                format!("`auth.{key}` is not a field of this connector"),
            )
            .hint("the fields of `auth` are `username`, `password`, `method`"));
        }
    }
    let text = |key: &str| match auth.get(key) {
        Some(serde_json::Value::String(s)) => Ok(s.as_str()),
        Some(_) => Err(AccessError::new(
            format!("/auth/{key}"),
            format!("`auth.{key}` must be a string"),
        )),
        None => Err(AccessError::new("/auth", format!("`auth` needs `{key}`"))),
    };
    let digest = match auth.get("method") {
        None | Some(serde_json::Value::Null) => false,
        Some(serde_json::Value::String(m)) if m.eq_ignore_ascii_case("basic") => false,
        Some(serde_json::Value::String(m)) if m.eq_ignore_ascii_case("digest") => true,
        Some(_) => {
            return Err(AccessError::new(
                "/auth/method",
                "`auth.method` must be `basic` or `digest`",
            ));
        }
    };
    Ok(Auth {
        user: text("username")?,
        password: text("password")?,
        digest: digest.then(digest::State::default),
    })
}

/// A URL for messages: no user info, no query (either may hold a token).
pub(super) fn shown(url: &reqwest::Url) -> String {
    let mut url = url.clone();
    let _ = url.set_username("");
    let _ = url.set_password(None);
    url.set_query(None);
    url.set_fragment(None);
    url.to_string()
}

/// A reqwest error and its causes, without the URL (the caller names a safe one).
pub(super) fn describe(error: &reqwest::Error) -> String {
    // A redirect red refused says why itself (where it led, a loop, too many).
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        if let Some(refused) = cause.downcast_ref::<super::RedirectRefused>() {
            return refused.to_string();
        }
        source = cause.source();
    }
    let mut text = if error.is_timeout() {
        "timed out".to_owned()
    } else if error.is_redirect() {
        format!("more than {MAX_REDIRECTS} redirects")
    } else if error.is_connect() {
        "cannot connect".to_owned()
    } else {
        "request failed".to_owned()
    };
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !cause_text.is_empty() && !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// Whether the error is a TLS failure (a certificate that does not verify): not transient.
pub(super) fn is_tls(error: &reqwest::Error) -> bool {
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        if cause.downcast_ref::<rustls::Error>().is_some()
            || cause
                .downcast_ref::<std::io::Error>()
                .and_then(|e| e.get_ref())
                .is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some())
        {
            return true;
        }
        source = cause.source();
    }
    false
}
