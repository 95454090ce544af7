//! Pinning an image reference to what this host holds under it.
//!
//! A registry digest (`name@sha256:…`, from the image's `RepoDigests`) names the same bytes on
//! every host that pulls it. An image that was built or imported here has no registry digest;
//! its content id (`sha256:…`) is then the only exact name, valid on this host (and any host
//! that loads the same image), and the pin says so.

use crate::execute::docker::{ImageIds, pin, split_image_reference};

/// What `red lock` writes for an image, and what it has to say about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImagePin {
    /// The reference to write in place of the original.
    pub reference: String,
    /// A note for the user (a content id, an image left as it was), if any.
    pub note: Option<String>,
}

/// The pin of `image` given what this host knows of it (`None`: it is not here).
#[must_use]
pub fn pin(image: &str, identity: Option<&ImageIds>) -> ImagePin {
    // Pinned already: a digest reference, or a content id a lock wrote before.
    if image.contains('@') || pin::parse(image).is_some() {
        return ImagePin {
            reference: image.to_owned(),
            note: None,
        };
    }
    let Some(identity) = identity else {
        return ImagePin {
            reference: image.to_owned(),
            note: Some(format!(
                "image `{image}` is not on this host, so it was left unpinned (red lock never \
                 pulls; pull it, then lock again)"
            )),
        };
    };
    let (repository, _) = split_image_reference(image);
    let matching = identity
        .repo_digests
        .iter()
        .find(|digest| split_image_reference(digest).0 == repository)
        .or_else(|| identity.repo_digests.first());
    match matching {
        Some(digest) => {
            let (_, hash) = split_image_reference(digest);
            ImagePin {
                reference: format!("{repository}@{hash}"),
                note: None,
            }
        }
        None => ImagePin {
            reference: identity.id.clone(),
            note: Some(format!(
                "image `{image}` exists only on this host (no registry digest): pinned to its \
                 content id `{}`, which names it here and wherever the same image is loaded",
                identity.id
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(digests: &[&str]) -> ImageIds {
        ImageIds {
            id: "sha256:1111".into(),
            repo_digests: digests.iter().map(|d| (*d).to_owned()).collect(),
        }
    }

    #[test]
    fn a_pulled_image_is_pinned_to_its_registry_digest() {
        let pinned = pin(
            "registry.example:5000/team/tool:1.2",
            Some(&identity(&[
                "other/name@sha256:aaaa",
                "registry.example:5000/team/tool@sha256:bbbb",
            ])),
        );
        assert_eq!(
            pinned.reference,
            "registry.example:5000/team/tool@sha256:bbbb"
        );
        assert_eq!(pinned.note, None);
    }

    #[test]
    fn a_local_image_is_pinned_to_its_content_id_and_says_so() {
        let pinned = pin("red-test/busybox:latest", Some(&identity(&[])));
        assert_eq!(pinned.reference, "sha256:1111");
        assert!(
            pinned
                .note
                .unwrap_or_default()
                .contains("only on this host")
        );
    }

    #[test]
    fn a_pinned_or_absent_image_is_left_as_written() {
        let written = "busybox@sha256:cccc";
        assert_eq!(pin(written, Some(&identity(&[]))).reference, written);
        let content_id = format!("sha256:{}", "d".repeat(64));
        let again = pin(&content_id, Some(&identity(&[])));
        assert_eq!(
            (again.reference.as_str(), again.note),
            (content_id.as_str(), None)
        );
        let absent = pin("busybox", None);
        assert_eq!(absent.reference, "busybox");
        assert!(absent.note.unwrap_or_default().contains("never pulls"));
    }
}
