//! Writing the locked document: the file as written (its `{{templates}}` untouched, so no
//! secret is ever in it), with the image pinned and every locked input's `checksum`, `size` or
//! `listing` set, in the file's own format.

use std::borrow::Cow;

use super::{ImagePin, InputLock, LockedInput};
use crate::convert::{self, Format, Value};
use crate::parse::Parsed;

/// The JSON pointer of the image reference.
const IMAGE_URL: &str = "/container/settings/image/url";

/// The text of the locked document.
///
/// # Errors
/// When the document cannot be written back in its format (files that parsed can).
pub fn locked_text(
    template: &Parsed,
    image: Option<&ImagePin>,
    inputs: &[LockedInput],
) -> Result<String, convert::Error> {
    let mut document = convert::value(template.tree.root())?;
    if let Some(pin) = image
        && let Some(url) = at(&mut document, IMAGE_URL)
    {
        *url = Value::string(pin.reference.clone());
    }
    for input in inputs {
        let Some(object) = at(&mut document, &input.pointer) else {
            continue;
        };
        match &input.lock {
            InputLock::File { size, sha256 } => {
                object.set("checksum", Value::string(format!("sha256${sha256}")));
                object.set("size", Value::Int(Cow::Owned(size.to_string())));
            }
            InputLock::Directory { listing } => object.set("listing", from_json(listing)),
            InputLock::Unlocked { .. } => {}
        }
    }
    let format = if template.json {
        Format::Json { indent: 2 }
    } else {
        Format::Yaml
    };
    convert::emit(&document, format)
}

/// The value at a JSON pointer, for editing.
fn at<'v, 'a>(value: &'v mut Value<'a>, pointer: &str) -> Option<&'v mut Value<'a>> {
    let mut current = value;
    for segment in pointer.split('/').skip(1) {
        let segment = segment.replace("~1", "/").replace("~0", "~");
        current = match current {
            Value::Map(_) => current.get_mut(&segment)?,
            Value::Seq(items) => items.get_mut(segment.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(current)
}

/// A JSON value as a document value.
fn from_json(value: &serde_json::Value) -> Value<'static> {
    match value {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(flag) => Value::Bool(*flag),
        serde_json::Value::Number(number) if number.is_f64() => {
            Value::Float(Cow::Owned(number.to_string()))
        }
        serde_json::Value::Number(number) => Value::Int(Cow::Owned(number.to_string())),
        serde_json::Value::String(text) => Value::string(text.clone()),
        serde_json::Value::Array(items) => Value::Seq(items.iter().map(from_json).collect()),
        serde_json::Value::Object(map) => Value::Map(
            map.iter()
                .map(|(key, item)| (Value::string(key.clone()), from_json(item)))
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> Parsed {
        crate::parse::document(crate::source::SourceFile::new(
            crate::source::Origin::Memory("t.yml".into()),
            text.to_owned(),
        ))
        .unwrap()
    }

    #[test]
    fn locks_are_set_and_templates_kept() {
        let template = parsed(
            "container:\n  settings:\n    image:\n      url: busybox\ninputs:\n  a:\n    class: File\n    connector:\n      command: red-connector-http\n      access:\n        url: http://h/{{name}}\n        password: '{{pw}}'\n  d:\n    class: Directory\n    connector: {command: x, access: {}}\n",
        );
        let inputs = [
            LockedInput {
                name: "a".into(),
                batch: None,
                pointer: "/inputs/a".into(),
                lock: InputLock::File {
                    size: 3,
                    sha256: "ab".into(),
                },
            },
            LockedInput {
                name: "d".into(),
                batch: None,
                pointer: "/inputs/d".into(),
                lock: InputLock::Directory {
                    listing: serde_json::json!([{"class": "File", "basename": "f", "size": 1}]),
                },
            },
        ];
        let pin = ImagePin {
            reference: "busybox@sha256:cd".into(),
            note: None,
        };
        let text = locked_text(&template, Some(&pin), &inputs).unwrap();
        assert!(text.contains("url: busybox@sha256:cd"), "{text}");
        assert!(
            text.contains("    checksum: sha256$ab\n    size: 3"),
            "{text}"
        );
        assert!(
            text.contains("'{{pw}}'") || text.contains("\"{{pw}}\""),
            "{text}"
        );
        assert!(text.contains("basename: f"), "{text}");
    }
}
