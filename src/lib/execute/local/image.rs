//! The image of a run: made present (pulled when missing and allowed), and with `--verify`
//! checked against the pin its reference carries (`execute::docker::pin`).
//!
//! A verified image runs by its content id, so what runs is what was checked: a tag moved
//! between the check and the first container cannot slip another image in. An unpinned
//! reference has nothing to verify; `red exec` warns about it before the run
//! ([`unpinned_warning`]) and runs it as it always does.

use crate::diagnostic::Diagnostic;
use crate::execute::docker::pin::{self, ImageIds, Pin};
use crate::execute::docker::{Bollard, Cancellation, ensure_image};
use crate::fill::Filled;

use super::{ExecError, ExecOptions, registry_auth};

/// Where a file writes its image reference.
const IMAGE_POINTER: &str = "/container/settings/image/url";

/// Make `image` present and, with `options.verify` and a pin, check it; returns the reference
/// containers are created from (the content id of a verified image).
///
/// # Errors
/// Docker's, [`ExecError::Interrupted`], and [`ExecError::Verify`] when the image here is not
/// the pinned one.
pub(super) async fn ready(
    api: &Bollard,
    filled: &Filled,
    image: &str,
    options: &ExecOptions,
    cancellation: &Cancellation,
) -> Result<String, ExecError> {
    let auth = registry_auth(filled);
    let ensure = || async {
        cancellation
            .unless(ensure_image(api, image, options.pull, auth.as_ref()))
            .await
            .ok_or(ExecError::Interrupted)?
            .map_err(ExecError::from)
    };
    let Some(pin) = options.verify.then(|| pin::parse(image)).flatten() else {
        ensure().await?;
        return Ok(image.to_owned());
    };
    let lookup = pin.lookup(image);
    let found = match ask(api, lookup, cancellation).await? {
        Some(found) => found,
        None => {
            ensure().await?;
            ask(api, lookup, cancellation)
                .await?
                .ok_or_else(|| ExecError::Docker(missing(image)))?
        }
    };
    if !pin.matches(&found) {
        return Err(mismatch(filled, image, lookup, &pin, &found));
    }
    Ok(found.id)
}

async fn ask(
    api: &Bollard,
    image: &str,
    cancellation: &Cancellation,
) -> Result<Option<ImageIds>, ExecError> {
    cancellation
        .unless(api.image_ids(image))
        .await
        .ok_or(ExecError::Interrupted)?
        .map_err(ExecError::from)
}

fn missing(image: &str) -> crate::execute::docker::Error {
    crate::execute::docker::Error::ImageMissing {
        image: image.to_owned(),
    }
}

/// The located refusal: the image, its pin, and what this host has under that name.
fn mismatch(filled: &Filled, image: &str, lookup: &str, pin: &Pin, found: &ImageIds) -> ExecError {
    let message = format!(
        "image `{image}` is pinned to `{}`, but `{lookup}` on this host is another image ({})",
        pin.digest,
        pin::describe(found)
    );
    let diagnostic = Diagnostic::error("image-digest", message).hint(
        "make the pinned image present under that name (`docker pull`, `docker tag`), or pin \
         the image that is here",
    );
    ExecError::Verify(Box::new(at_image(filled, diagnostic)))
}

/// The warning `red exec --verify` gives for an image reference that pins nothing; `None` when
/// it is pinned.
#[must_use]
pub fn unpinned_warning(filled: &Filled, image: &str) -> Option<Diagnostic> {
    if pin::parse(image).is_some() {
        return None;
    }
    let diagnostic = Diagnostic::warning(
        "image-pin",
        format!(
            "--verify: image `{image}` is not pinned to a digest, so there is nothing to verify; \
             it runs as named"
        ),
    )
    .hint("pin it as `name@sha256:<digest>` (or `sha256:<id>` for an image only on this host)");
    Some(at_image(filled, diagnostic))
}

/// `diagnostic` pointed at the file's image reference, with its location when the file has
/// one there.
fn at_image(filled: &Filled, diagnostic: Diagnostic) -> Diagnostic {
    let diagnostic = diagnostic.pointer(IMAGE_POINTER);
    match filled.tree().root().pointer(IMAGE_POINTER) {
        Some(node) => diagnostic.at(node.span().start),
        None => diagnostic,
    }
}
