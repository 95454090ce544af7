//! What an HTTP answer that red cannot use says, in words a person can act on.
//!
//! A status alone ("answered 500 Internal Server Error") rarely tells what went wrong: the
//! server's page usually does. So an error status is shown with a short excerpt of a text body
//! (tags stripped, whitespace collapsed, at most [`EXCERPT_CHARS`] characters from the first
//! [`EXCERPT_READ`] bytes, never a secret of the request). A redirect red does not follow names
//! where it led and why; a `206` for a range red did not ask for says which range it got.

use std::fmt;
use std::time::Duration;

use reqwest::header::{CONTENT_RANGE, CONTENT_TYPE, LOCATION};
use reqwest::{Response, StatusCode};

use super::{MAX_REDIRECTS, shown};
use crate::net::excerpt;

/// The most of an error body read for its excerpt.
pub(super) const EXCERPT_READ: usize = 4096;
/// How long reading an error body for its excerpt may take.
const EXCERPT_WAIT: Duration = Duration::from_secs(5);

/// Why red stopped following redirects; found in a redirect error's causes.
#[derive(Debug)]
pub(super) struct RedirectRefused(String);

impl fmt::Display for RedirectRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RedirectRefused {}

/// Follow at most [`MAX_REDIRECTS`] redirects, only to http(s), and never around a loop.
pub(super) fn redirect_policy() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let next = attempt.url();
        if !matches!(next.scheme(), "http" | "https") {
            let why = not_http(&shown(next));
            return attempt.error(RedirectRefused(why));
        }
        if attempt.previous().contains(next) {
            let why = format!(
                "the redirects loop: they lead back to `{}` (red stops at a loop)",
                shown(next)
            );
            return attempt.error(RedirectRefused(why));
        }
        // The first of `previous` is the URL asked for, not a redirect.
        if attempt.previous().len() > MAX_REDIRECTS {
            let why =
                format!("more than {MAX_REDIRECTS} redirects (red follows at most that many)");
            return attempt.error(RedirectRefused(why));
        }
        attempt.follow()
    })
}

fn not_http(target: &str) -> String {
    format!(
        "redirected to `{target}`, which is not http(s): red follows only http and https redirects"
    )
}

/// The words for a redirect answer that came back unfollowed (its `Location` is missing, not a
/// URL, or not one the HTTP stack can follow, such as `file:///…`).
pub(super) fn unfollowed_redirect(response: &Response) -> String {
    let status = response.status();
    let Some(location) = response.headers().get(LOCATION) else {
        return format!("answered {status} without a `Location` to follow");
    };
    let Ok(text) = location.to_str() else {
        return format!("answered {status} with a `Location` that is not text");
    };
    match response.url().join(text) {
        Ok(target) if !matches!(target.scheme(), "http" | "https") => not_http(&shown(&target)),
        Ok(target) => format!(
            "answered {status}, a redirect to `{}` that could not be followed",
            shown(&target)
        ),
        Err(e) => format!("answered {status} with a `Location` that is not a URL ({e})"),
    }
}

/// What `method name` answered with an error `status`: the status, a hint where one helps,
/// and an excerpt of a text body. `secrets` are masked in the excerpt.
pub(super) async fn status_message(
    method: &str,
    name: &str,
    response: Response,
    secrets: &[&str],
) -> String {
    let status = response.status();
    if status.is_redirection() {
        return format!("{method} {name} {}", unfollowed_redirect(&response));
    }
    let hint = match status {
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
            " (check `auth.username` and `auth.password`)"
        }
        StatusCode::NOT_FOUND => " (check `url`)",
        _ => "",
    };
    match body_excerpt(response, secrets).await {
        Some(said) => {
            format!("{method} {name} answered {status}{hint}; the server said: \"{said}\"")
        }
        None => format!("{method} {name} answered {status}{hint}"),
    }
}

/// Up to [`EXCERPT_READ`] bytes of a text body, as an excerpt; `None` for a body that is not
/// text, is empty, or does not come within a few seconds.
async fn body_excerpt(mut response: Response, secrets: &[&str]) -> Option<String> {
    let textual = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|kind| {
            let kind = kind.to_ascii_lowercase();
            kind.starts_with("text/") || kind.contains("json") || kind.contains("xml")
        });
    if !textual {
        return None;
    }
    let mut body = Vec::new();
    let read = async {
        while body.len() < EXCERPT_READ {
            match response.chunk().await {
                Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                _ => break,
            }
        }
    };
    // A body that does not come in time is shown as what arrived.
    let _ = tokio::time::timeout(EXCERPT_WAIT, read).await;
    body.truncate(EXCERPT_READ);
    excerpt(&body, secrets)
}

/// What to do with an answer to a request for the bytes from `offset` on.
pub(super) enum Answer {
    /// Write its body where the file ends.
    Append,
    /// An error status.
    Error,
    /// Not usable, and asking again will not help.
    Wrong(String),
    /// Empty the file; with a reason, try again asking for the whole file, else write this
    /// body (the whole file).
    StartOver(Option<String>),
}

pub(super) fn answer_to(response: &Response, offset: u64) -> Answer {
    let status = response.status();
    let range = ContentRange::of(response);
    match status {
        StatusCode::PARTIAL_CONTENT if range.is_some_and(|r| r.resumes(offset)) => Answer::Append,
        StatusCode::PARTIAL_CONTENT if offset == 0 => Answer::Wrong(match range {
            Some(range) => {
                format!("answered {status} with the bytes {range} to a request for the whole file")
            }
            None => format!("answered {status} without a usable `Content-Range`"),
        }),
        StatusCode::PARTIAL_CONTENT => Answer::StartOver(Some(match range {
            Some(range) => format!(
                "asked for bytes from {offset} on, but the server answered with range {range}"
            ),
            None => format!(
                "asked for bytes from {offset} on, but the server answered {status} without a \
                 usable `Content-Range`"
            ),
        })),
        StatusCode::RANGE_NOT_SATISFIABLE if offset > 0 => Answer::StartOver(Some(format!(
            "asked for bytes from {offset} on, but the server answered {status} (the file is \
             shorter now)"
        ))),
        StatusCode::OK if offset > 0 => Answer::StartOver(None),
        _ if status.is_redirection() => Answer::Wrong(unfollowed_redirect(response)),
        _ if status.is_success() => Answer::Append,
        _ => Answer::Error,
    }
}

/// A `Content-Range: bytes FIRST-LAST/COMPLETE` header (`COMPLETE` may be `*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct ContentRange {
    pub(super) first: u64,
    pub(super) last: u64,
    pub(super) complete: Option<u64>,
}

impl ContentRange {
    /// The header of `response`, when it has one that parses.
    pub(super) fn of(response: &Response) -> Option<Self> {
        let text = response.headers().get(CONTENT_RANGE)?.to_str().ok()?;
        Self::parse(text)
    }

    fn parse(text: &str) -> Option<Self> {
        let (span, complete) = text.trim().strip_prefix("bytes ")?.split_once('/')?;
        let (first, last) = span.split_once('-')?;
        let range = Self {
            first: first.trim().parse().ok()?,
            last: last.trim().parse().ok()?,
            complete: match complete.trim() {
                "*" => None,
                n => Some(n.parse().ok()?),
            },
        };
        (range.first <= range.last).then_some(range)
    }

    /// Whether it starts at `offset` and runs to the end of the file.
    pub(super) fn resumes(&self, offset: u64) -> bool {
        self.first == offset
            && self
                .complete
                .is_none_or(|n| self.last.checked_add(1) == Some(n))
    }
}

impl fmt::Display for ContentRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.first, self.last)?;
        match self.complete {
            Some(n) => write!(f, " of {n} bytes"),
            None => f.write_str(" of an unknown size"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::EXCERPT_CHARS;

    #[test]
    fn an_html_page_becomes_one_short_line() {
        let page = b"<!doctype html><html><head><title>500 Internal Server Error</title>\
            <style>body { color: red }</style><script>var x = '<b>';</script></head>\
            <body><h1>Internal\n\n   Server Error</h1><p>The database &amp; cache are down.</p>\
            </body></html>";
        assert_eq!(
            excerpt(page, &[]).as_deref(),
            Some("500 Internal Server Error Internal Server Error The database & cache are down.")
        );
        let long = "word ".repeat(100);
        let cut = excerpt(long.as_bytes(), &[]).unwrap();
        assert_eq!(cut.chars().count(), EXCERPT_CHARS + 1);
        assert!(cut.ends_with('…'));
        assert_eq!(excerpt(b"  <p> </p>\r\n\t", &[]), None);
        assert_eq!(excerpt(b"<unclosed", &[]), None);
        assert_eq!(
            excerpt(b"bad token canary-tok\x00\x1b[31m", &["canary-tok"]).as_deref(),
            Some("bad token ******** [31m")
        );
        // Not valid UTF-8: still one line, never a panic.
        assert!(
            excerpt(&[0xff, b'o', b'k', 0xc3], &[])
                .unwrap()
                .contains("ok")
        );
    }

    #[test]
    fn content_ranges_parse_and_say_whether_they_resume() {
        let range = ContentRange::parse("bytes 100-199/200").unwrap();
        assert!(range.resumes(100));
        assert!(!range.resumes(0));
        assert_eq!(range.to_string(), "100-199 of 200 bytes");
        // Starts right but stops short of the end: not a resume.
        assert!(
            !ContentRange::parse("bytes 100-149/200")
                .unwrap()
                .resumes(100)
        );
        assert!(ContentRange::parse("bytes 5-9/*").unwrap().resumes(5));
        for bad in [
            "bytes */200",
            "100-199/200",
            "bytes 9-5/10",
            "bytes a-b/c",
            "",
        ] {
            assert_eq!(ContentRange::parse(bad), None, "{bad}");
        }
    }
}
