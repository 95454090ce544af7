//! HTTP digest authentication (RFC 7616), the reference's `auth.method: digest`.
//!
//! The server's `401` carries a `WWW-Authenticate: Digest …` challenge; every later request
//! answers it with a fresh client nonce and an incremented nonce count. Algorithms `MD5` (the
//! default) and `SHA-256`, quality of protection `auth` (or none, the RFC 2069 form). Only
//! computes headers; no I/O.

use std::sync::Mutex;

use md5::Md5;
use sha2::{Digest, Sha256};

use crate::connector::copy::hex;

/// A server's digest challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Challenge {
    realm: String,
    nonce: String,
    opaque: Option<String>,
    algorithm: Algorithm,
    qop: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Algorithm {
    Md5,
    Sha256,
}

impl Algorithm {
    fn hash(self, text: &str) -> String {
        match self {
            Self::Md5 => hex(&Md5::digest(text.as_bytes())),
            Self::Sha256 => hex(&Sha256::digest(text.as_bytes())),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Md5 => "MD5",
            Self::Sha256 => "SHA-256",
        }
    }
}

/// Split `a=b, c="d, e"` into pairs, honouring quotes.
fn parameters(text: &str) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let Some((name, after)) = rest.split_once('=') else {
            break;
        };
        let after = after.trim_start();
        let (value, remaining) = if let Some(quoted) = after.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let mut end = quoted.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, escaped)) = chars.next() {
                            value.push(escaped);
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    other => value.push(other),
                }
            }
            (value, quoted.get(end..).unwrap_or_default())
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (
                after.get(..end).unwrap_or_default().trim().to_owned(),
                after.get(end..).unwrap_or_default(),
            )
        };
        pairs.push((name.trim().to_ascii_lowercase(), value));
        rest = remaining.trim_start().trim_start_matches(',').trim_start();
    }
    pairs
}

impl Challenge {
    /// The digest challenge among `WWW-Authenticate` values, if one is usable.
    pub(crate) fn parse<'a>(headers: impl IntoIterator<Item = &'a str>) -> Option<Self> {
        headers.into_iter().find_map(|header| {
            let (scheme, rest) = header.trim().split_once(' ')?;
            if !scheme.eq_ignore_ascii_case("digest") {
                return None;
            }
            let pairs = parameters(rest);
            let get = |key: &str| pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
            let algorithm = match get("algorithm").map(|a| a.to_ascii_uppercase()).as_deref() {
                None | Some("MD5") => Algorithm::Md5,
                Some("SHA-256") => Algorithm::Sha256,
                Some(_) => return None,
            };
            let qop = match get("qop") {
                None => false,
                Some(options) => {
                    if !options.split(',').any(|o| o.trim() == "auth") {
                        return None;
                    }
                    true
                }
            };
            Some(Self {
                realm: get("realm")?,
                nonce: get("nonce")?,
                opaque: get("opaque"),
                algorithm,
                qop,
            })
        })
    }
}

/// What a digest-authenticated client remembers between requests.
#[derive(Debug, Default)]
pub(crate) struct State {
    inner: Mutex<Option<(Challenge, u32)>>,
}

impl State {
    /// Remember `challenge`. False when it is the one already answered (the credentials were
    /// refused, so asking again would not help).
    pub(crate) fn learn(&self, challenge: Challenge) -> bool {
        let Ok(mut inner) = self.inner.lock() else {
            return false;
        };
        if inner
            .as_ref()
            .is_some_and(|(known, _)| known.nonce == challenge.nonce)
        {
            return false;
        }
        *inner = Some((challenge, 0));
        true
    }

    /// The `Authorization` value for `method` on `uri` (path and query), once a challenge is
    /// known.
    pub(crate) fn authorization(
        &self,
        user: &str,
        password: &str,
        method: &str,
        uri: &str,
    ) -> Option<String> {
        let mut inner = self.inner.lock().ok()?;
        let (challenge, count) = inner.as_mut()?;
        *count += 1;
        let algorithm = challenge.algorithm;
        let ha1 = algorithm.hash(&format!("{user}:{}:{password}", challenge.realm));
        let ha2 = algorithm.hash(&format!("{method}:{uri}"));
        let cnonce = uuid::Uuid::new_v4().as_simple().to_string();
        let nc = format!("{count:08x}");
        let response = if challenge.qop {
            algorithm.hash(&format!(
                "{ha1}:{}:{nc}:{cnonce}:auth:{ha2}",
                challenge.nonce
            ))
        } else {
            algorithm.hash(&format!("{ha1}:{}:{ha2}", challenge.nonce))
        };
        let quote = |text: &str| text.replace('\\', "\\\\").replace('"', "\\\"");
        let mut header = format!(
            "Digest username=\"{}\", realm=\"{}\", nonce=\"{}\", uri=\"{}\", algorithm={}, response=\"{response}\"",
            quote(user),
            quote(&challenge.realm),
            quote(&challenge.nonce),
            quote(uri),
            algorithm.name(),
        );
        if challenge.qop {
            header.push_str(&format!(", qop=auth, nc={nc}, cnonce=\"{cnonce}\""));
        }
        if let Some(opaque) = &challenge.opaque {
            header.push_str(&format!(", opaque=\"{}\"", quote(opaque)));
        }
        Some(header)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rfc_2617_example_gives_its_response() {
        // RFC 2617 section 3.5 (MD5, qop=auth), with the example's client nonce and count.
        let challenge = Challenge::parse([
            r#"Basic realm="x""#,
            r#"Digest realm="testrealm@host.com", qop="auth,auth-int", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41""#,
        ])
        .unwrap();
        let algorithm = challenge.algorithm;
        let ha1 = algorithm.hash("Mufasa:testrealm@host.com:Circle Of Life");
        let ha2 = algorithm.hash("GET:/dir/index.html");
        let response = algorithm.hash(&format!(
            "{ha1}:{}:00000001:0a4f113b:auth:{ha2}",
            challenge.nonce
        ));
        assert_eq!(response, "6629fae49393a05397450978507c4ef1");
        let state = State::default();
        assert!(state.learn(challenge.clone()));
        assert!(
            !state.learn(challenge),
            "the same nonce twice means refused"
        );
        let header = state
            .authorization("Mufasa", "Circle Of Life", "GET", "/dir/index.html")
            .unwrap();
        assert!(header.starts_with("Digest username=\"Mufasa\""), "{header}");
        assert!(
            header.contains("nc=00000001") && header.contains("opaque=\"5ccc"),
            "{header}"
        );
        let again = state
            .authorization("Mufasa", "Circle Of Life", "GET", "/dir/index.html")
            .unwrap();
        assert!(again.contains("nc=00000002"), "{again}");
    }

    #[test]
    fn unusable_challenges_are_ignored() {
        assert!(Challenge::parse([r#"Digest realm="r", nonce="n", algorithm=MD5-sess"#]).is_none());
        assert!(Challenge::parse([r#"Digest realm="r", nonce="n", qop="auth-int""#]).is_none());
        assert!(Challenge::parse([r#"Digest realm="r""#]).is_none());
        let plain = Challenge::parse([r#"digest realm="a \"b\", c", nonce=xyz"#]).unwrap();
        assert_eq!(plain.realm, r#"a "b", c"#);
        assert_eq!(plain.nonce, "xyz");
        assert!(!plain.qop);
        let sha = Challenge::parse([r#"Digest realm="r", nonce="n", algorithm=SHA-256"#]).unwrap();
        assert_eq!(sha.algorithm, Algorithm::Sha256);
    }
}
