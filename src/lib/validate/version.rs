//! Files of older RED versions: one clear diagnostic instead of a wall of schema errors.
//!
//! RED 2–8 files differ from RED 9 in many places (connectors, `nvidia-docker`, `requirements`,
//! `null`s), so checking them against the RED 9 schema only buries the real news: this is an old
//! file. A `redVersion` that reads as 2 to 8 (`"8"`, `8`, `"8.0"`, `7.1`) is reported once, with
//! the way forward.

use crate::diagnostic::Diagnostic;
use crate::tree::{Kind, Tree};

/// The major version an old `redVersion` value names, if it names one of 2–8.
fn old_major(text: &str) -> Option<u32> {
    let text = text.trim();
    let text = text.strip_prefix(['v', 'V']).unwrap_or(text);
    let mut parts = text.split('.');
    let major = parts.next()?;
    if major.len() != 1 || !parts.all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())) {
        return None;
    }
    let major: u32 = major.parse().ok()?;
    (2..=8).contains(&major).then_some(major)
}

/// A diagnostic for a file whose `redVersion` says it is RED 2–8.
pub(crate) fn old_version(tree: &Tree) -> Option<Diagnostic> {
    let version = tree.root().get("redVersion")?;
    if !matches!(version.kind(), Kind::Str | Kind::Int | Kind::Float) {
        return None;
    }
    let major = old_major(version.text())?;
    let hint = if major >= 5 {
        "run `red upgrade FILE` to convert it to RED 9"
    } else {
        "`red upgrade` converts RED 5 to 8; a RED 2-4 file has to be rewritten as RED 9"
    };
    Some(
        Diagnostic::error(
            "old-version",
            format!("this is a RED {major} file; red validates RED 9"),
        )
        .at(version.span().start)
        .pointer("/redVersion")
        .hint(hint),
    )
}

#[cfg(test)]
mod tests {
    use super::old_major;

    #[test]
    fn old_versions_are_recognised() {
        for (text, major) in [
            ("8", 8),
            ("8.0", 8),
            ("7", 7),
            ("6.1.2", 6),
            (" 5 ", 5),
            ("2", 2),
        ] {
            assert_eq!(old_major(text), Some(major), "{text}");
        }
        for text in ["9", "10", "1", "", "8a", "88", "8.", "v9"] {
            assert_eq!(old_major(text), None, "{text}");
        }
    }
}
