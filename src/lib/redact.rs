//! Literal masking of secrets in anything `red` prints.
//!
//! The reference joined secrets into one unescaped regular expression, so a password with a `(`
//! crashed its error printer and a `.` masked every character. Here secrets are matched as plain
//! text with Aho-Corasick, so no input can make masking fail.
//!
//! Masking must hide every secret and change nothing else. Two rules make that possible:
//!
//! - A secret of at least [`RELIABLE`] characters is masked wherever it appears, in every
//!   spelling a program is likely to print it (raw, JSON-escaped with or without `\uHHHH` (four hex digits) for
//!   non-ASCII, Python `repr`, `ascii` and bytes `repr`), leftmost-longest, so a secret that is a
//!   prefix of another is replaced whole.
//! - A shorter secret (`p`, `red`, `valid`) is also a piece of ordinary words, key names and file
//!   names, so masking it in free text would mangle them. It is masked only in text that comes
//!   from a file or another program ([`Redactor::redact_foreign`]: quoted source lines, a
//!   connector's or ssh's standard error), and there only as a whole token. Commands warn about
//!   such values (`fill::short_secret_warnings`).
//!
//! Texts registered with [`Redactor::keep`] (the words of the command line: paths the user
//! typed) are never changed by a secret that lies inside them, and JSON documents are masked
//! value by value: keys and structure stay as they are.

use std::borrow::Cow;
use std::ops::Range;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use zeroize::Zeroizing;

/// What a masked secret is replaced with.
pub const MASK: &str = "********";

/// Secrets with fewer characters than this are masked only as whole tokens of foreign text.
pub const RELIABLE: usize = 8;

/// Replaces every known secret with [`MASK`]. `Debug` shows only how many secrets it knows.
#[derive(Clone, Default)]
pub struct Redactor {
    /// The secrets, kept to build a larger redactor ([`Redactor::with`]); zeroed on drop.
    patterns: Vec<Zeroizing<String>>,
    /// Every spelling of every secret of at least [`RELIABLE`] characters.
    long: Option<AhoCorasick>,
    /// Every spelling of every shorter secret (matched overlapping, then checked as tokens).
    short: Option<AhoCorasick>,
    /// Texts that are never changed, and their matcher.
    kept: Vec<String>,
    keep: Option<AhoCorasick>,
    /// A matcher could not be built (limits of the automaton): every text is withheld.
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
        Self::build(
            secrets
                .into_iter()
                .map(|s| Zeroizing::new(s.as_ref().to_owned()))
                .collect(),
            Vec::new(),
        )
    }

    fn build(mut plain: Vec<Zeroizing<String>>, mut kept: Vec<String>) -> Self {
        plain.retain(|s| !s.trim().is_empty());
        plain.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        plain.dedup_by(|a, b| a.as_str() == b.as_str());
        kept.retain(|k| !k.is_empty());
        kept.sort();
        kept.dedup();
        let mut long = Vec::new();
        let mut short = Vec::new();
        for secret in &plain {
            let target = if secret.chars().count() >= RELIABLE {
                &mut long
            } else {
                &mut short
            };
            target.extend(spellings(secret));
        }
        let build = |patterns: &[Zeroizing<String>], kind: MatchKind| {
            if patterns.is_empty() {
                return Ok(None);
            }
            AhoCorasickBuilder::new()
                .match_kind(kind)
                .build(patterns.iter().map(|p| p.as_bytes()))
                .map(Some)
        };
        let long = build(&long, MatchKind::LeftmostLongest);
        let short = build(&short, MatchKind::Standard);
        let keep = if kept.is_empty() {
            Ok(None)
        } else {
            AhoCorasickBuilder::new()
                .match_kind(MatchKind::LeftmostLongest)
                .build(&kept)
                .map(Some)
        };
        match (long, short, keep) {
            (Ok(long), Ok(short), Ok(keep)) => Self {
                patterns: plain,
                long,
                short,
                kept,
                keep,
                failed: false,
            },
            _ => Self {
                patterns: plain,
                kept,
                failed: true,
                ..Self::default()
            },
        }
    }

    /// A redactor for these secrets and every secret this one knows (and the same kept texts).
    #[must_use]
    pub fn with<I, S>(&self, more: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut all = self.patterns.clone();
        all.extend(
            more.into_iter()
                .map(|s| Zeroizing::new(s.as_ref().to_owned())),
        );
        Self::build(all, self.kept.clone())
    }

    /// A redactor for the secrets and kept texts of both.
    #[must_use]
    pub fn merged(&self, other: &Redactor) -> Self {
        let mut all = self.patterns.clone();
        all.extend(other.patterns.iter().cloned());
        let mut kept = self.kept.clone();
        kept.extend(other.kept.iter().cloned());
        Self::build(all, kept)
    }

    /// This redactor, leaving every occurrence of these texts unchanged by the secrets that lie
    /// inside it: the paths a user gave on the command line are shown as given even where a
    /// secret is part of them. A secret that only overlaps a kept text is still masked (a kept
    /// `1` must not unmask `s3cret1xyz`).
    #[must_use]
    pub fn keep<I, S>(&self, texts: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut kept = self.kept.clone();
        kept.extend(texts.into_iter().map(|t| t.as_ref().to_owned()));
        Self::build(self.patterns.clone(), kept)
    }

    /// Number of distinct secrets known.
    #[must_use]
    pub fn len(&self) -> usize {
        self.patterns.len()
    }

    /// Whether any secret is known.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Red's own text (a message, a summary) with every secret of at least [`RELIABLE`]
    /// characters replaced. Shorter secrets are left: they are parts of words.
    #[must_use]
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        self.mask(text, false)
    }

    /// Text from a file or another program (a quoted source line, a connector's standard
    /// error): long secrets replaced wherever they are, shorter ones where they stand as a
    /// whole token.
    #[must_use]
    pub fn redact_foreign<'a>(&self, text: &'a str) -> Cow<'a, str> {
        self.mask(text, true)
    }

    /// Mask every string value inside a JSON value with [`Redactor::redact`]. Keys, numbers,
    /// booleans and the structure are left alone, so the result is the same shape of valid JSON
    /// whatever the secrets are (a secret `0`, `"` or `path` cannot break it).
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
                serde_json::Value::Object(map) => stack.extend(map.values_mut()),
                _ => {}
            }
        }
    }

    fn mask<'a>(&self, text: &'a str, foreign: bool) -> Cow<'a, str> {
        if self.failed {
            return Cow::Borrowed(MASK);
        }
        let mut found: Vec<Range<usize>> = Vec::new();
        if let Some(long) = &self.long {
            found.extend(long.find_iter(text).map(|m| m.range()));
        }
        if foreign && let Some(short) = &self.short {
            found.extend(
                short
                    .find_overlapping_iter(text)
                    .map(|m| m.range())
                    .filter(|r| is_token(text, r)),
            );
        }
        if found.is_empty() {
            return Cow::Borrowed(text);
        }
        let kept: Vec<Range<usize>> = self
            .keep
            .as_ref()
            .map(|keep| keep.find_iter(text).map(|m| m.range()).collect())
            .unwrap_or_default();
        // Earliest first, the longest of those starting at one place first.
        found.sort_by_key(|r| (r.start, std::cmp::Reverse(r.end)));
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        for range in found {
            let inside = |k: &Range<usize>| k.start <= range.start && range.end <= k.end;
            if range.start < at || kept.iter().any(inside) {
                continue;
            }
            out.push_str(&text[at..range.start]);
            out.push_str(MASK);
            at = range.end;
        }
        if at == 0 && out.is_empty() {
            return Cow::Borrowed(text);
        }
        out.push_str(&text[at..]);
        Cow::Owned(out)
    }
}

/// Whether the match stands alone: no letter, digit, `_`, `.`, `-` or `/` right before or after
/// it (so `p` is a token in `password: p` but not in `path` or `p.yml`), and no backslash right
/// before it (the `n` of `\n` is part of an escape).
fn is_token(text: &str, range: &Range<usize>) -> bool {
    let word = |c: char| c.is_alphanumeric() || matches!(c, '_' | '.' | '-' | '/');
    let before = text[..range.start].chars().next_back();
    let after = text[range.end..].chars().next();
    !before.is_some_and(|c| word(c) || c == '\\') && !after.is_some_and(word)
}

/// The ways a program is likely to print `secret`: as is, inside a JSON string (as serde and
/// JavaScript write it, and with `\uHHHH` (four hex digits) for everything outside ASCII, as Python's `json.dumps`
/// and Java write it), and inside Python's `repr` of a `str` (either quote), `ascii` and the
/// `repr` of its UTF-8 bytes.
fn spellings(secret: &str) -> Vec<Zeroizing<String>> {
    let mut out: Vec<Zeroizing<String>> = vec![Zeroizing::new(secret.to_owned())];
    let quoted = Zeroizing::new(serde_json::to_string(secret).unwrap_or_default());
    if let Some(inner) = quoted.get(1..quoted.len().saturating_sub(1)) {
        out.push(Zeroizing::new(inner.to_owned()));
    }
    out.push(json_ascii(secret, false));
    out.push(json_ascii(secret, true));
    for style in [Py::Single, Py::Double, Py::Ascii, Py::Bytes] {
        out.push(python(secret, style));
    }
    out.retain(|s| !s.is_empty());
    out.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    out.dedup_by(|a, b| a.as_str() == b.as_str());
    out
}

/// A JSON string body with every character outside printable ASCII as `\uHHHH` (four hex digits) (UTF-16).
fn json_ascii(secret: &str, upper: bool) -> Zeroizing<String> {
    use std::fmt::Write as _;
    let mut out = Zeroizing::new(String::with_capacity(secret.len() * 2));
    for c in secret.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    let _ = if upper {
                        write!(out, "\\u{unit:04X}")
                    } else {
                        write!(out, "\\u{unit:04x}")
                    };
                }
            }
        }
    }
    out
}

/// Which Python rendering.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Py {
    /// `repr(str)` between single quotes: `'` escaped.
    Single,
    /// `repr(str)` between double quotes (a value with `'` and no `"`).
    Double,
    /// `ascii(str)`: everything outside ASCII escaped.
    Ascii,
    /// `repr(value.encode())`: the UTF-8 bytes, `\xNN` outside ASCII.
    Bytes,
}

/// The body of a Python literal for `secret` (without the quotes).
fn python(secret: &str, style: Py) -> Zeroizing<String> {
    use std::fmt::Write as _;
    let mut out = Zeroizing::new(String::with_capacity(secret.len() * 2));
    for c in secret.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' if style != Py::Double => out.push_str("\\'"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            ' '..='~' => out.push(c),
            _ if style == Py::Bytes => {
                let mut bytes = [0u8; 4];
                for byte in c.encode_utf8(&mut bytes).bytes() {
                    let _ = write!(out, "\\x{byte:02x}");
                }
            }
            _ if style != Py::Ascii && !c.is_control() && !c.is_whitespace() => out.push(c),
            _ => {
                let code = u32::from(c);
                let _ = match code {
                    0..=0xff => write!(out, "\\x{code:02x}"),
                    0x100..=0xffff => write!(out, "\\u{code:04x}"),
                    _ => write!(out, "\\U{code:08x}"),
                };
            }
        }
    }
    out
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
        let redactor = Redactor::new(["pa(ss.word", "pa(ss.word*+", "........", "  "]);
        assert_eq!(
            redactor.redact("x pa(ss.word*+ y pa(ss.word z........."),
            "x ******** y ******** z********."
        );
        assert_eq!(redactor.redact("nothing here"), "nothing here");
    }

    #[test]
    fn grows_and_never_shows_its_secrets() {
        let redactor = Redactor::new(["a(bcdefgh"]).with(["c\\defghij", "a(bcdefgh"]);
        assert_eq!(redactor.len(), 2);
        assert_eq!(redactor.redact("a(bcdefgh c\\defghij"), "******** ********");
        assert!(!format!("{redactor:?}").contains("a(b"));
    }

    #[test]
    fn short_secrets_leave_red_s_own_words_alone() {
        let redactor = Redactor::new(["p", "valid", "red"]);
        for text in [
            "at `/container/settings/image/auth/password`",
            "kw2.red.yml: valid",
            "1 files checked, 1 valid, 0 invalid",
        ] {
            assert_eq!(redactor.redact(text), text);
        }
    }

    #[test]
    fn short_secrets_are_masked_as_tokens_of_foreign_text() {
        let redactor = Redactor::new(["p", "valid", "red"]);
        assert_eq!(
            redactor.redact_foreign("        password: p"),
            "        password: ********"
        );
        assert_eq!(
            redactor.redact_foreign("{'password': 'p', 'x': \"valid\"} red"),
            "{'password': '********', 'x': \"********\"} ********"
        );
        for text in [
            "path: p.yml",
            "kw2.red.yml",
            "invalid",
            "red-connector",
            "a/p/b",
            "\\n",
        ] {
            assert_eq!(redactor.redact_foreign(text), text);
        }
        let newline = Redactor::new(["n"]);
        assert_eq!(newline.redact_foreign("\"a\\n\" n"), "\"a\\n\" ********");
    }

    #[test]
    fn json_keys_and_structure_are_never_masked() {
        let redactor = Redactor::new(["0", "\"", "path", "valid", "k(ey-long-enough"]);
        let mut value = serde_json::json!({
            "path": "x", "valid": true, "line": 40, "m": "a\"b 0 path",
            "k(ey-long-enough": ["k(ey-long-enough", 0],
        });
        redactor.redact_value(&mut value);
        assert_eq!(
            value,
            serde_json::json!({
                "path": "x", "valid": true, "line": 40, "m": "a\"b 0 path",
                "k(ey-long-enough": ["********", 0],
            })
        );
    }

    #[test]
    fn kept_texts_are_never_changed() {
        let redactor =
            Redactor::new(["experiment", "s3cret-value"]).keep(["dir/experiment.red.yml"]);
        assert_eq!(
            redactor.redact("dir/experiment.red.yml: experiment s3cret-value"),
            "dir/experiment.red.yml: ******** ********"
        );
        let digit = Redactor::new(["s3cret1xyz"]).keep(["1"]);
        assert_eq!(digit.redact("s3cret1xyz 1"), "******** 1");
        let merged = Redactor::new(["another-secret"]).merged(&redactor);
        assert_eq!(
            merged.redact("dir/experiment.red.yml another-secret"),
            "dir/experiment.red.yml ********"
        );
    }

    #[test]
    fn escaped_spellings_are_masked() {
        let redactor = Redactor::new([
            "Pässwort42",
            "it's a secret",
            "a\"b\\c\ndefgh",
            "tab\tand\u{7f}x",
        ]);
        for text in [
            r#"{"password": "P\u00e4sswort42"}"#,
            r#"{"password": "P\u00E4sswort42"}"#,
            r"{'password': 'Pässwort42'}",
            r"{'password': 'P\xe4sswort42'}",
            r"b'P\xc3\xa4sswort42'",
            r"{'password': 'it\'s a secret'}",
            r#"{'password': "it's a secret"}"#,
            r#"{"password": "it's a secret"}"#,
            r#"{"password": "a\"b\\c\ndefgh"}"#,
            r#"'a"b\\c\ndefgh'"#,
            r"'tab\tand\x7fx'",
            r#""tab\tand\u007fx""#,
        ] {
            let masked = redactor.redact(text);
            for fragment in ["sswort", "secret", "defgh", "and"] {
                assert!(!masked.contains(fragment), "{text} -> {masked}");
            }
        }
        let short = Redactor::new(["Päß"]);
        assert_eq!(
            short.redact_foreign(r#"{"pw": "P\u00e4\u00df", "x": 'P\xe4\xdf'}"#),
            r#"{"pw": "********", "x": '********'}"#
        );
    }

    #[test]
    fn astral_characters_are_escaped_as_surrogate_pairs() {
        let redactor = Redactor::new(["emoji😀secret"]);
        assert_eq!(
            redactor.redact(r#""emoji\ud83d\ude00secret" 'emoji\U0001f600secret'"#),
            r#""********" '********'"#
        );
    }
}
