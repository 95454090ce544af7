//! Literal redaction of secrets in anything `red` prints.
//!
//! The reference joined secrets into one unescaped regular expression, so a password with a `(`
//! crashed its error printer and a `.` masked every character. Here secrets are matched as plain
//! text with Aho-Corasick, leftmost-longest, so a secret that is a prefix of another is replaced
//! whole and no input can make redaction fail.

use std::borrow::Cow;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use zeroize::Zeroizing;

/// What a redacted secret is replaced with.
pub const MASK: &str = "********";

/// Replaces every known secret with [`MASK`]. `Debug` shows only how many secrets it knows.
#[derive(Clone, Default)]
pub struct Redactor {
    /// The secrets, kept to build a larger redactor ([`Redactor::with`]); zeroed on drop.
    patterns: Vec<Zeroizing<String>>,
    matcher: Option<AhoCorasick>,
    /// The secrets as they appear inside JSON strings (escaped), for JSON output.
    json_matcher: Option<AhoCorasick>,
    /// The matcher could not be built (limits of the automaton): every text is withheld.
    failed: bool,
}

impl Redactor {
    /// A redactor that changes nothing.
    #[must_use]
    pub fn none() -> Self {
        Self::default()
    }

    /// A redactor for these secrets. Empty and whitespace-only values are ignored: masking them
    /// would mangle every message without protecting anything.
    #[must_use]
    pub fn new<I, S>(secrets: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut plain: Vec<Zeroizing<String>> = secrets
            .into_iter()
            .map(|s| Zeroizing::new(s.as_ref().to_owned()))
            .filter(|s| !s.trim().is_empty())
            .collect();
        plain.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        plain.dedup_by(|a, b| a.as_str() == b.as_str());
        if plain.is_empty() {
            return Self::default();
        }
        let escaped: Vec<Zeroizing<String>> = plain
            .iter()
            .map(|s| {
                let quoted = Zeroizing::new(serde_json::to_string(s.as_str()).unwrap_or_default());
                let inner = quoted
                    .get(1..quoted.len().saturating_sub(1))
                    .unwrap_or_default();
                Zeroizing::new(inner.to_owned())
            })
            .collect();
        let build = |patterns: &[Zeroizing<String>]| {
            AhoCorasickBuilder::new()
                .match_kind(MatchKind::LeftmostLongest)
                .build(patterns.iter().map(|p| p.as_bytes()))
                .ok()
        };
        let matcher = build(&plain);
        let json_matcher = build(&escaped);
        Self {
            failed: matcher.is_none() || json_matcher.is_none(),
            matcher,
            json_matcher,
            patterns: plain,
        }
    }

    /// A redactor for these secrets and every secret this one knows.
    #[must_use]
    pub fn with<I, S>(&self, more: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let more: Vec<Zeroizing<String>> = more
            .into_iter()
            .map(|s| Zeroizing::new(s.as_ref().to_owned()))
            .collect();
        Self::new(
            self.patterns
                .iter()
                .map(|p| p.as_str())
                .chain(more.iter().map(|p| p.as_str())),
        )
    }

    /// A redactor for the secrets of both.
    #[must_use]
    pub fn merged(&self, other: &Redactor) -> Self {
        self.with(other.patterns.iter().map(|p| p.as_str()))
    }

    /// Number of distinct secrets known.
    #[must_use]
    pub fn len(&self) -> usize {
        self.patterns.len()
    }

    /// Whether any secret is known.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.matcher.is_none() && !self.failed
    }

    /// The text with every secret replaced.
    #[must_use]
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        if self.failed {
            return Cow::Borrowed(MASK);
        }
        Self::apply(self.matcher.as_ref(), text)
    }

    /// JSON text with every secret replaced, whether it appears raw or escaped.
    #[must_use]
    pub fn redact_json(&self, text: &str) -> String {
        if self.failed {
            return serde_json::Value::from(MASK).to_string();
        }
        let once = Self::apply(self.json_matcher.as_ref(), text);
        Self::apply(self.matcher.as_ref(), &once).into_owned()
    }

    /// Mask every string (and object key) inside a JSON value. Numbers, booleans and the
    /// structure are left alone, so the result is still the same shape of valid JSON whatever
    /// the secrets are (a secret `0` or `"` cannot break it).
    pub fn redact_value(&self, value: &mut serde_json::Value) {
        if self.is_empty() {
            return;
        }
        let mut stack = vec![value];
        while let Some(value) = stack.pop() {
            match value {
                serde_json::Value::String(text) => {
                    if let Cow::Owned(masked) = self.redact(text) {
                        *text = masked;
                    }
                }
                serde_json::Value::Array(items) => stack.extend(items.iter_mut()),
                serde_json::Value::Object(map) => {
                    if map.keys().any(|k| matches!(self.redact(k), Cow::Owned(_))) {
                        let entries = std::mem::take(map);
                        for (key, item) in entries {
                            map.insert(self.redact(&key).into_owned(), item);
                        }
                    }
                    stack.extend(map.values_mut());
                }
                _ => {}
            }
        }
    }

    fn apply<'a>(matcher: Option<&AhoCorasick>, text: &'a str) -> Cow<'a, str> {
        match matcher {
            Some(m) if m.is_match(text) => {
                Cow::Owned(m.replace_all(text, &vec![MASK; m.patterns_len()]))
            }
            _ => Cow::Borrowed(text),
        }
    }
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redactor")
            .field("secrets", &self.patterns.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_longest_first() {
        let redactor = Redactor::new(["pa(ss", "pa(ss.word*", ".", "  "]);
        assert_eq!(
            redactor.redact("x pa(ss.word* y pa(ss z."),
            "x ******** y ******** z********"
        );
        assert_eq!(redactor.redact("nothing here"), "nothing here");
    }

    #[test]
    fn grows_and_never_shows_its_secrets() {
        let redactor = Redactor::new(["a(b"]).with(["c\\d", "a(b"]);
        assert_eq!(redactor.len(), 2);
        assert_eq!(redactor.redact("a(b c\\d"), "******** ********");
        assert!(!format!("{redactor:?}").contains("a(b"));
    }

    #[test]
    fn json_values_keep_their_shape() {
        let redactor = Redactor::new(["0", "\"", "k(ey"]);
        let mut value = serde_json::json!({"line": 40, "m": "a\"b 0", "k(ey": ["k(ey", 0]});
        redactor.redact_value(&mut value);
        assert_eq!(
            value,
            serde_json::json!({"line": 40, "m": "a********b ********", "********": ["********", 0]})
        );
    }

    #[test]
    fn json_escaped_secrets() {
        let redactor = Redactor::new(["a\"b\\c"]);
        let json = serde_json::to_string(&serde_json::json!({"m": "x a\"b\\c y"})).unwrap();
        assert!(!redactor.redact_json(&json).contains("b\\\\c"));
    }
}
