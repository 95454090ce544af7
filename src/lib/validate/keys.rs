//! Step 1 of red-val: every mapping key, anywhere in the document, must be a string.
//!
//! YAML lets `42: x`, `true: x`, `null: x` or `? [a, b]` be keys; JSON tools and the reference
//! cannot handle them, so each one is an error at the key's own position. The walk is
//! iterative, so no nesting depth can overflow the stack.

use super::path::{self, Seg};
use super::report::found_phrase;
use crate::diagnostic::Diagnostic;
use crate::tree::{Kind, NodeRef, Tree};

/// Every non-string key, in document order.
pub(crate) fn check(tree: &Tree) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    // A flat scan first: the walk that builds paths only runs when there is something to report.
    let any = tree
        .nodes()
        .filter(|n| n.is_map())
        .any(|m| m.entries().any(|(k, _)| k.kind() != Kind::Str));
    if !any {
        return out;
    }
    let mut segments: Vec<Seg<'_>> = Vec::new();
    // (node, depth of its parent path, the segment leading to it)
    let mut stack: Vec<(NodeRef<'_>, usize, Option<Seg<'_>>)> = vec![(tree.root(), 0, None)];
    while let Some((node, depth, seg)) = stack.pop() {
        segments.truncate(depth);
        if let Some(seg) = seg {
            segments.push(seg);
        }
        let here = segments.len();
        match node.kind() {
            Kind::Map => {
                for (key, value) in node.entries().rev() {
                    match key.as_str() {
                        Some(k) => stack.push((value, here, Some(Seg::Key(k)))),
                        None => {
                            out.push(report(key, &segments));
                            stack.push((value, here, Some(Seg::Key(key.text()))));
                        }
                    }
                }
            }
            Kind::Seq => {
                let len = node.len();
                for (i, item) in node.items().rev().enumerate() {
                    stack.push((item, here, Some(Seg::Index(len - 1 - i))));
                }
            }
            _ => {}
        }
    }
    out.sort_by_key(Diagnostic::order_key);
    out
}

fn report(key: NodeRef<'_>, parent: &[Seg<'_>]) -> Diagnostic {
    let place = if parent.is_empty() {
        "at the top level".to_owned()
    } else {
        format!("in {}", path::container(parent))
    };
    let shown = match key.kind() {
        Kind::Map | Kind::Seq | Kind::ForeignCollection => String::new(),
        _ if path::protected(parent) => String::new(),
        _ => format!(" {}", path::quote(key.text())),
    };
    let mut diagnostic = Diagnostic::error(
        "non-string-key",
        format!(
            "mapping keys must be strings, but the key{shown} {place} is {}",
            found_phrase(key)
        ),
    )
    .at(key.span().start)
    .pointer(path::pointer(parent))
    .batch(path::batch(parent));
    if !matches!(key.kind(), Kind::Map | Kind::Seq | Kind::ForeignCollection) {
        diagnostic = diagnostic.hint("put the key in quotes");
    }
    diagnostic
}
