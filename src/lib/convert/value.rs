//! An owned-or-borrowed, ordered document value that keeps every scalar's text as written.
//!
//! [`crate::tree::Tree`] is read-only and compact; conversions and upgrades need to build new
//! documents (a batch file is the document minus `batches` plus one batch; an upgraded file has
//! keys renamed, dropped and added). [`Value`] is that editable form: mappings are ordered lists
//! of entries (key order is the document's), numbers keep their lexeme (`1.50`, `0x1F`), and text
//! borrows from the tree where it can, so building a value for a 4 MB file copies pointers, not
//! strings. The emitters in [`super::json`] and [`super::yaml`] print values.

use std::borrow::Cow;

use super::{Error, MAX_DEPTH};
use crate::tree::{Kind, NodeRef};

/// One document value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// An integer, as its source lexeme (`42`, `0x1F`, `010`, `1_000`).
    Int(Cow<'a, str>),
    /// A floating-point number, as its source lexeme (`1.50`, `1e3`, `.inf`).
    Float(Cow<'a, str>),
    /// Text.
    Str(Cow<'a, str>),
    /// A YAML timestamp, as written (`2020-01-01`).
    Timestamp(Cow<'a, str>),
    /// A `!!binary` scalar: its base64 text as written.
    Binary(Cow<'a, str>),
    /// A sequence.
    Seq(Vec<Value<'a>>),
    /// A mapping, entries in document order; keys may be any value.
    Map(Vec<(Value<'a>, Value<'a>)>),
    /// A `!!set`, `!!omap` or `!!pairs` collection: neither JSON nor plain YAML can hold it.
    Foreign,
}

impl<'a> Value<'a> {
    /// The value of a tree node, borrowing its text. Aliases are expanded (the parser bounds
    /// their expansion); nesting deeper than [`MAX_DEPTH`] is refused, since the emitters
    /// recurse.
    pub fn from_node(node: NodeRef<'a>) -> Result<Self, Error> {
        Self::build(node, 0)
    }

    fn build(node: NodeRef<'a>, depth: usize) -> Result<Self, Error> {
        if depth > MAX_DEPTH {
            return Err(Error::TooDeep {
                limit: MAX_DEPTH,
                location: node.span().start,
            });
        }
        Ok(match node.kind() {
            Kind::Null => Value::Null,
            Kind::Bool => Value::Bool(node.as_bool() == Some(true)),
            Kind::Int => Value::Int(Cow::Borrowed(node.text())),
            Kind::Float => Value::Float(Cow::Borrowed(node.text())),
            Kind::Str => Value::Str(Cow::Borrowed(node.text())),
            Kind::Timestamp => Value::Timestamp(Cow::Borrowed(node.text())),
            Kind::Binary => Value::Binary(Cow::Borrowed(node.text())),
            Kind::Seq => Value::Seq(
                node.items()
                    .map(|item| Self::build(item, depth + 1))
                    .collect::<Result<_, _>>()?,
            ),
            Kind::Map => Value::Map(
                node.entries()
                    .map(|(key, item)| {
                        Ok((Self::build(key, depth + 1)?, Self::build(item, depth + 1)?))
                    })
                    .collect::<Result<_, Error>>()?,
            ),
            Kind::ForeignCollection => Value::Foreign,
        })
    }

    /// A string value.
    #[must_use]
    pub fn string(text: impl Into<Cow<'a, str>>) -> Self {
        Value::Str(text.into())
    }

    /// The text of a string value.
    #[must_use]
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(text) => Some(text),
            _ => None,
        }
    }

    /// Whether this is `null`.
    #[must_use]
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The entries of a mapping (empty for anything else).
    #[must_use]
    pub fn entries(&self) -> &[(Value<'a>, Value<'a>)] {
        match self {
            Value::Map(entries) => entries,
            _ => &[],
        }
    }

    /// The value under a string key of a mapping.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&Value<'a>> {
        self.entries()
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(_, v)| v)
    }

    /// The value under a string key of a mapping, for editing.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Value<'a>> {
        match self {
            Value::Map(entries) => entries
                .iter_mut()
                .find(|(k, _)| k.as_str() == Some(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// Remove a string key from a mapping, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<Value<'a>> {
        let Value::Map(entries) = self else {
            return None;
        };
        let index = entries.iter().position(|(k, _)| k.as_str() == Some(key))?;
        Some(entries.remove(index).1)
    }

    /// Set a string key of a mapping: replaced in place if present, appended otherwise.
    /// Does nothing on a value that is not a mapping.
    pub fn set(&mut self, key: &'a str, value: Value<'a>) {
        if let Some(slot) = self.get_mut(key) {
            *slot = value;
        } else if let Value::Map(entries) = self {
            entries.push((Value::string(key), value));
        }
    }

    /// Rename a string key of a mapping, keeping its position. Returns whether it was there.
    pub fn rename(&mut self, from: &str, to: &'a str) -> bool {
        let Value::Map(entries) = self else {
            return false;
        };
        match entries.iter_mut().find(|(k, _)| k.as_str() == Some(from)) {
            Some((key, _)) => {
                *key = Value::string(to);
                true
            }
            None => false,
        }
    }

    /// The items of a sequence (empty for anything else).
    #[must_use]
    pub fn items(&self) -> &[Value<'a>] {
        match self {
            Value::Seq(items) => items,
            _ => &[],
        }
    }

    /// The name of the value's type as users know it.
    #[must_use]
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Int(_) => "integer",
            Value::Float(_) => "number",
            Value::Str(_) => "string",
            Value::Timestamp(_) => "timestamp",
            Value::Binary(_) => "binary",
            Value::Seq(_) => "list",
            Value::Map(_) => "mapping",
            Value::Foreign => "set",
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn editing_keeps_order() {
        let tree = crate::parse::tree("a: 1\nb: 2\nc: 3\n").unwrap();
        let mut value = Value::from_node(tree.root()).unwrap();
        assert!(value.rename("b", "B"));
        value.set("a", Value::Null);
        value.set("d", Value::Bool(true));
        assert_eq!(value.remove("c"), Some(Value::Int("3".into())));
        let keys: Vec<_> = value
            .entries()
            .iter()
            .filter_map(|(k, _)| k.as_str())
            .collect();
        assert_eq!(keys, ["a", "B", "d"]);
        assert!(value.get("a").is_some_and(Value::is_null));
    }
}
