//! HTTP clients: one place where `reqwest` is set up, so every client (connectors, CC-Agency,
//! Kiosk) verifies TLS the same way and has timeouts.
//!
//! reqwest is built with rustls and no crypto provider of its own (`rustls-no-provider`), so that
//! only `ring` is linked; [`install_tls`] makes it the process's provider before any client.

use std::time::Duration;

/// How long connecting may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// Make `ring` the process-wide rustls provider. Idempotent.
pub fn install_tls() {
    // An error means a provider is installed already, which is all that is needed.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A blocking client builder with the TLS provider installed, a connect timeout and red's
/// user agent. `insecure` turns certificate verification off (an access block's explicit
/// `disableSSLVerification: true`).
pub fn blocking_builder(insecure: bool) -> reqwest::blocking::ClientBuilder {
    install_tls();
    reqwest::blocking::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .user_agent(concat!("red/", env!("CARGO_PKG_VERSION")))
        .tls_danger_accept_invalid_certs(insecure)
}

/// The async counterpart of [`blocking_builder`].
pub fn async_builder(insecure: bool) -> reqwest::ClientBuilder {
    install_tls();
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .user_agent(concat!("red/", env!("CARGO_PKG_VERSION")))
        .tls_danger_accept_invalid_certs(insecure)
}

/// An async client for a remote API (CC-Agency, the Kiosk): every request ends within
/// `timeout`, and connecting within the shorter of `timeout` and [`CONNECT_TIMEOUT`].
///
/// # Errors
/// When the TLS back end cannot be set up.
pub fn api_client(timeout: Duration) -> reqwest::Result<reqwest::Client> {
    async_builder(false)
        .timeout(timeout)
        .connect_timeout(timeout.min(CONNECT_TIMEOUT))
        .build()
}

/// The most red reads of one JSON answer from a remote API (a status, a job, a version, an
/// upload's key): such answers are kilobytes; anything past this is not the API red expects.
pub const MAX_ANSWER: u64 = 4 * 1024 * 1024;

/// The most red reads of an answer that lists many things (CC-Agency's batches and experiments)
/// or carries a batch's stdout or stderr.
pub const MAX_LIST_ANSWER: u64 = 64 * 1024 * 1024;

/// Why a body could not be read.
#[derive(Debug)]
pub enum BodyError {
    /// The body is longer than the limit (by its `Content-Length`, or as it arrived).
    TooLarge {
        /// The limit, in bytes.
        limit: u64,
    },
    /// The network failed while reading.
    Network(reqwest::Error),
}

impl BodyError {
    /// The limit as people read it, for messages: "over 4 MiB".
    #[must_use]
    pub fn over(limit: u64) -> String {
        format!("over {}", crate::source::show_size(limit))
    }
}

/// Read a whole answer body, at most `limit` bytes: refused from its `Content-Length` when that
/// says more, otherwise as soon as the bytes that arrived go past the limit. This is the one way
/// red reads an answer into memory; a file download streams to disk instead ([`save_body`]).
///
/// # Errors
/// [`BodyError::TooLarge`] past the limit, [`BodyError::Network`] when reading fails.
pub async fn read_body(mut response: reqwest::Response, limit: u64) -> Result<Vec<u8>, BodyError> {
    if response
        .content_length()
        .is_some_and(|length| length > limit)
    {
        return Err(BodyError::TooLarge { limit });
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(BodyError::Network)? {
        if (body.len() + chunk.len()) as u64 > limit {
            return Err(BodyError::TooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Why a body could not be saved.
#[derive(Debug)]
pub enum SaveError {
    /// The network failed while reading.
    Network(reqwest::Error),
    /// The file could not be written.
    Write(std::io::Error),
}

/// Stream an answer body into `file` chunk by chunk (never the whole body in memory); returns
/// the bytes written.
///
/// # Errors
/// When reading the body or writing the file fails.
pub async fn save_body(
    mut response: reqwest::Response,
    file: &mut tokio::fs::File,
) -> Result<u64, SaveError> {
    use tokio::io::AsyncWriteExt as _;
    let mut written = 0u64;
    while let Some(chunk) = response.chunk().await.map_err(SaveError::Network)? {
        file.write_all(&chunk).await.map_err(SaveError::Write)?;
        written += chunk.len() as u64;
    }
    file.flush().await.map_err(SaveError::Write)?;
    Ok(written)
}

/// The most characters of a page excerpt ([`excerpt`]).
pub const EXCERPT_CHARS: usize = 200;

/// A body as one short line: tags (and what `<script>` and `<style>` hold) removed, the
/// common entities decoded, control characters and runs of whitespace made one space, cut at
/// [`EXCERPT_CHARS`] characters, every secret masked. `None` when nothing is left.
pub fn excerpt(body: &[u8], secrets: &[&str]) -> Option<String> {
    let text = String::from_utf8_lossy(body);
    let mut plain = String::with_capacity(text.len());
    let mut rest = text.as_ref();
    while let Some(open) = rest.find('<') {
        plain.push_str(&rest[..open]);
        plain.push(' ');
        let tag = &rest[open..];
        let skip_to = if starts_with_ignoring_case(tag, "<script") {
            "</script"
        } else if starts_with_ignoring_case(tag, "<style") {
            "</style"
        } else {
            ">"
        };
        rest = match find_ascii_case_insensitive(tag, skip_to) {
            Some(end) => {
                let after = &tag[end..];
                after.find('>').map_or("", |close| &after[close + 1..])
            }
            None => "",
        };
    }
    plain.push_str(rest);
    let mut decoded = decode_entities(&plain);
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        decoded = decoded.replace(secret, crate::redact::MASK);
    }
    let mut line = decoded
        .split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|word| !word.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        line = line.replace(secret, crate::redact::MASK);
    }
    if line.is_empty() {
        return None;
    }
    if line.chars().count() > EXCERPT_CHARS {
        line = line.chars().take(EXCERPT_CHARS).collect::<String>();
        line.push('…');
    }
    Some(line)
}

fn starts_with_ignoring_case(text: &str, prefix: &str) -> bool {
    text.as_bytes()
        .get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix.as_bytes()))
}

fn find_ascii_case_insensitive(haystack: &str, needle: &str) -> Option<usize> {
    haystack
        .as_bytes()
        .windows(needle.len())
        .position(|window| window.eq_ignore_ascii_case(needle.as_bytes()))
}

fn decode_entities(text: &str) -> String {
    [
        ("&lt;", "<"),
        ("&gt;", ">"),
        ("&quot;", "\""),
        ("&#39;", "'"),
        ("&apos;", "'"),
        ("&nbsp;", " "),
        ("&amp;", "&"),
    ]
    .iter()
    .fold(text.to_owned(), |text, (entity, plain)| {
        text.replace(entity, plain)
    })
}
