//! What the broker checks on `POST /red`, checked here first, with a location in the file.
//!
//! The broker answers some of these with a 400 whose text names no place in the file, and one
//! (`{{…}}` or a protected key outside `access`/`auth`) with a bare HTML 500. `red submit`
//! runs [`submit`] on the filled, validated document, so the user meets a located error
//! instead. Placement of variables and protected keys is already checked by the template scan
//! every filled document passes; this module adds what only CC-Agency requires.

use crate::diagnostic::Diagnostic;
use crate::fill::{Filled, Secret};
use crate::tree::NodeRef;

const CODE: &str = "agency";

fn at(node: NodeRef<'_>, pointer: &str, message: String) -> Diagnostic {
    Diagnostic::error(CODE, message)
        .at(node.span().start)
        .pointer(pointer.to_owned())
}

/// Every reason the broker would reject this document, as located errors.
#[must_use]
pub fn submit(filled: &Filled) -> Vec<Diagnostic> {
    let root = filled.tree().root();
    let mut out = Vec::new();
    // Outputs: at top level without `batches`, on every batch with them.
    match root.get("batches").filter(|b| b.is_seq()) {
        Some(batches) => {
            for (index, batch) in batches.items().enumerate() {
                if batch.get("outputs").is_none() {
                    out.push(
                        at(
                            batch,
                            &format!("/batches/{index}"),
                            format!("batch {index} has no `outputs`; CC-Agency needs them on every batch"),
                        )
                        .batch(Some(index))
                        .hint(
                            "results leave an agency only through output connectors: add \
                             `outputs:` with a connector for each output of the `cli`",
                        ),
                    );
                }
            }
        }
        None => {
            if root.get("outputs").is_none() {
                out.push(
                    at(
                        root,
                        "",
                        "the file has no `outputs`; CC-Agency needs them".to_owned(),
                    )
                    .hint(
                        "results leave an agency only through output connectors: add \
                             `outputs:` with a connector for each output of the `cli`",
                    ),
                );
            }
        }
    }
    // Container: docker with `ram`.
    if let Some(container) = root.get("container") {
        if let Some(engine) = container
            .get("engine")
            .filter(|e| e.as_str() != Some("docker"))
        {
            out.push(
                at(
                    engine,
                    "/container/engine",
                    format!(
                        "CC-Agency runs only the `docker` container engine, not `{}`",
                        engine.text()
                    ),
                )
                .hint("use `engine: docker`"),
            );
        }
        let settings = container.get("settings");
        if settings.and_then(|s| s.get("ram")).is_none() {
            let (node, pointer) = match settings {
                Some(settings) => (settings, "/container/settings"),
                None => (container, "/container"),
            };
            out.push(
                at(
                    node,
                    pointer,
                    "CC-Agency needs `container.settings.ram` (megabytes, at least 256)".to_owned(),
                )
                .hint("add `ram: 1024` (or what the tool needs) to the container settings"),
            );
        }
    }
    // Execution: absent or ccagency.
    if let Some(engine) = root
        .pointer("/execution/engine")
        .filter(|e| e.as_str() != Some("ccagency"))
    {
        out.push(
            at(
                engine,
                "/execution/engine",
                format!(
                    "the execution engine is `{}`; `red submit` sends files to CC-Agency",
                    engine.text()
                ),
            )
            .hint("set `execution.engine: ccagency` with its `access`, or run the file with `red exec`"),
        );
    }
    out
}

/// Where the RED file says to submit to: `execution.settings.access` of a ccagency file.
#[derive(Debug, Default)]
pub struct Access {
    /// `access.url`.
    pub url: Option<String>,
    /// `access.auth.username` (or `_username`).
    pub username: Option<String>,
    /// `access.auth.password` (or `_password`), kept wrapped.
    pub password: Option<Secret>,
}

/// Read the agency access block of a filled document (every part optional).
#[must_use]
pub fn access(filled: &Filled) -> Access {
    const AUTH: &str = "/execution/settings/access/auth";
    let root = filled.tree().root();
    let text = |pointer: &str| {
        root.pointer(pointer)
            .and_then(|n| n.as_str())
            .map(str::to_owned)
    };
    Access {
        url: text("/execution/settings/access/url"),
        username: text(&format!("{AUTH}/username")).or_else(|| text(&format!("{AUTH}/_username"))),
        password: filled
            .secret(&format!("{AUTH}/password"))
            .or_else(|| filled.secret(&format!("{AUTH}/_password"))),
    }
}
