//! Image pins: a reference that names the content it wants, checked by `red exec --verify`.
//!
//! A tag (`busybox:1.36`) can be moved to another image at any time; a digest cannot. A RED file
//! pins its image with `name@sha256:<digest>` (a registry's manifest digest, as Docker lists it
//! in `RepoDigests`), `name:tag@sha256:<digest>` (both: the tag must still be that image), or a
//! bare `sha256:<id>` (an image's content id, for an image that exists only on one host). This
//! module reads the pin out of a reference and says whether what the daemon has is it; the
//! daemon is asked by [`super::Bollard::image_ids`].

/// What the daemon says identifies an image.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ImageIds {
    /// The content id, `sha256:<hex>`.
    pub id: String,
    /// `name@sha256:<hex>` for every registry the image came from or went to.
    pub repo_digests: Vec<String>,
}

/// The pin of an image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pin {
    /// The name with its tag when one is written (`busybox:1.36`), for a `name:tag@digest`
    /// reference: the tag must lead to the pinned image too.
    pub tagged: Option<String>,
    /// `sha256:<64 lower-case hex digits>`.
    pub digest: String,
}

/// The pin of `reference`, or `None` when it pins nothing (a name or a name with a tag).
#[must_use]
pub fn parse(reference: &str) -> Option<Pin> {
    let reference = reference.trim();
    if let Some(digest) = digest(reference) {
        return Some(Pin {
            tagged: None,
            digest,
        });
    }
    let (name, pinned) = reference.rsplit_once('@')?;
    let digest = digest(pinned)?;
    // A tag is a `:` after the last `/` (a `:` before it is a registry's port).
    let last = name.rsplit('/').next().unwrap_or(name);
    Some(Pin {
        tagged: last.contains(':').then(|| name.to_owned()),
        digest,
    })
}

/// `sha256:<64 hex digits>`, lower-cased, or `None`.
fn digest(text: &str) -> Option<String> {
    let hex = text.strip_prefix("sha256:")?;
    (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| format!("sha256:{}", hex.to_ascii_lowercase()))
}

impl Pin {
    /// What to ask the daemon for: the tagged name when there is one (it must still lead to the
    /// pinned image), else the reference itself (Docker finds a digest reference by its digest).
    #[must_use]
    pub fn lookup<'a>(&'a self, reference: &'a str) -> &'a str {
        self.tagged.as_deref().unwrap_or(reference)
    }

    /// Whether `found` is the pinned image: its content id or one of its repository digests.
    #[must_use]
    pub fn matches(&self, found: &ImageIds) -> bool {
        found.id.eq_ignore_ascii_case(&self.digest)
            || found.repo_digests.iter().any(|named| {
                named
                    .rsplit_once('@')
                    .is_some_and(|(_, digest)| digest.eq_ignore_ascii_case(&self.digest))
            })
    }
}

/// How `found` differs from the pin, in words: its content id and repository digests.
#[must_use]
pub fn describe(found: &ImageIds) -> String {
    if found.repo_digests.is_empty() {
        format!("content id `{}`, no repository digest", found.id)
    } else {
        format!(
            "content id `{}`, repository digests `{}`",
            found.id,
            found.repo_digests.join("`, `")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn pins_are_read_from_the_three_forms_and_only_from_them() {
        let bare = parse(D).unwrap();
        assert_eq!((bare.tagged, bare.digest.as_str()), (None, D));
        let named = parse(&format!("registry:5000/team/tool@{D}")).unwrap();
        assert_eq!(named.tagged, None);
        assert_eq!(named.lookup("x"), "x");
        let tagged = parse(&format!(
            "registry:5000/tool:1.2@{}",
            D.to_uppercase().replace("SHA256", "sha256")
        ))
        .unwrap();
        assert_eq!(tagged.tagged.as_deref(), Some("registry:5000/tool:1.2"));
        assert_eq!(tagged.digest, D);
        for unpinned in [
            "busybox",
            "busybox:1.36",
            "registry:5000/tool",
            "tool@sha256:abc",
            "tool@md5:0123",
            "sha256:xyz",
        ] {
            assert_eq!(parse(unpinned), None, "{unpinned}");
        }
    }

    #[test]
    fn an_image_matches_by_content_id_or_repository_digest() {
        let pin = parse(D).unwrap();
        let other = D.replace("0123", "9999");
        assert!(pin.matches(&ImageIds {
            id: D.into(),
            repo_digests: vec![]
        }));
        assert!(pin.matches(&ImageIds {
            id: other.clone(),
            repo_digests: vec![format!("busybox@{D}")]
        }));
        let found = ImageIds {
            id: other.clone(),
            repo_digests: vec![format!("busybox@{other}")],
        };
        assert!(!pin.matches(&found));
        let said = describe(&found);
        assert!(said.contains(&other) && said.contains("busybox@"), "{said}");
    }
}
