//! Schema failures → diagnostics: our own short sentences, located, with hints.
//!
//! A message names the offending key, says what was expected and what was found (its type, and
//! its value when it is short and not a secret), and a hint says how to fix it: the allowed keys
//! with a did-you-mean for unknown keys, quoting for numbers and dates that should be strings.

use serde_json::Value;

use super::eval::{FailKind, Failure, type_phrase};
use super::path::{self, Seg};
use super::schema::JType;
use crate::diagnostic::Diagnostic;
use crate::tree::{Kind, NodeRef};

/// The diagnostic code of schema errors.
pub(crate) const CODE: &str = "schema";

/// "a string", "an integer", … for what a node is.
pub(crate) fn found_phrase(node: NodeRef<'_>) -> &'static str {
    match node.kind() {
        Kind::Null => "null",
        Kind::Bool => "a boolean",
        Kind::Int => "an integer",
        Kind::Float => "a floating-point number",
        Kind::Str => "a string",
        Kind::Timestamp => "a date",
        Kind::Binary => "binary data",
        Kind::Seq => "a list",
        Kind::Map => "a mapping",
        Kind::ForeignCollection => "a set",
    }
}

/// A short rendering of a scalar for a message, or `None` for secrets, collections and long text.
pub(crate) fn shown_value(node: NodeRef<'_>, segments: &[Seg<'_>]) -> Option<String> {
    if path::protected(segments)
        || matches!(node.kind(), Kind::Seq | Kind::Map | Kind::ForeignCollection)
    {
        return None;
    }
    let text = node.text();
    (text.chars().count() <= 40 && !text.is_empty()).then(|| path::quote(text))
}

/// Join phrases as "a, b, or c".
pub(crate) fn alternatives(phrases: &[String]) -> String {
    match phrases {
        [] => String::new(),
        [one] => one.clone(),
        [a, b] => format!("{a} or {b}"),
        [rest @ .., last] => format!("{}, or {last}", rest.join(", ")),
    }
}

fn listed(values: &[&str]) -> String {
    let quoted: Vec<String> = values.iter().map(|v| format!("`{v}`")).collect();
    quoted.join(", ")
}

fn enum_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Turn one failure into a diagnostic.
pub(crate) fn diagnostic(failure: &Failure<'_>) -> Diagnostic {
    let segments = failure.path.as_slice();
    let node = failure.node;
    let parent = segments.split_last().map_or(&[][..], |(_, p)| p);
    let (message, hint) = match &failure.kind {
        FailKind::Type(types) => type_message(node, segments, types),
        FailKind::Enum(values) => enum_message(node, segments, values),
        FailKind::Required(key) => (
            if segments.is_empty() {
                format!("missing required top-level key `{key}`")
            } else {
                format!(
                    "missing required key `{key}` in {}",
                    path::container(segments)
                )
            },
            None,
        ),
        FailKind::Unknown(allowed) => unknown_key_message(node, parent, allowed),
        FailKind::BadName => (
            format!(
                "key {} in {} is not a valid name",
                path::quote(node.text()),
                path::container(parent)
            ),
            Some("names may only contain ASCII letters, digits, `_` and `-`".to_owned()),
        ),
        FailKind::Minimum(min) => (
            format!("{} must be at least {min}", path::subject(segments)),
            None,
        ),
        FailKind::NoAlternative(described) => no_alternative_message(node, segments, described),
        FailKind::Exclusive(first, second) => (
            format!("`{first}` and `{second}` cannot be used together"),
            Some(format!("keep either `{first}` or `{second}`")),
        ),
        FailKind::NeedOneOf(keys) => need_one_of_message(segments, keys),
        FailKind::Ambiguous => (
            format!(
                "{} fits more than one of its allowed forms",
                path::subject(segments)
            ),
            None,
        ),
        FailKind::TooDeep => (
            format!(
                "{} is nested more than {} levels deep",
                path::subject(segments),
                super::eval::MAX_DEPTH
            ),
            None,
        ),
    };
    let mut diagnostic = Diagnostic::error(CODE, message)
        .at(node.span().start)
        .pointer(path::pointer(segments))
        .batch(path::batch(segments));
    if let Some(hint) = hint {
        diagnostic = diagnostic.hint(hint);
    }
    diagnostic
}

/// A key the schema does not allow where it stands, with the closest allowed one.
fn unknown_key_message(
    node: NodeRef<'_>,
    parent: &[Seg<'_>],
    allowed: &[&str],
) -> (String, Option<String>) {
    let key = node.text();
    let place = if parent.is_empty() {
        "at the top level".to_owned()
    } else {
        format!("in {}", path::container(parent))
    };
    let mut hint = String::new();
    if let Some(close) = path::did_you_mean(key, allowed) {
        hint.push_str(&format!("did you mean `{close}`? "));
    }
    if allowed.is_empty() {
        hint.push_str("no keys are allowed here: write `{}`");
    } else {
        hint.push_str(&format!("allowed keys: {}", listed(allowed)));
    }
    (
        format!("unknown key {} {place}", path::quote(key)),
        Some(hint),
    )
}

/// A value that fits none of the forms allowed where it stands.
fn no_alternative_message(
    node: NodeRef<'_>,
    segments: &[Seg<'_>],
    described: &[String],
) -> (String, Option<String>) {
    let mut described = described.to_vec();
    // "null" reads best last: "a string, a list of strings, or null".
    described.sort_by_key(|d| d == "null");
    (
        format!(
            "{} must be {}, not {}",
            path::subject(segments),
            alternatives(&described),
            found_phrase(node)
        ),
        null_hint(node),
    )
}

/// A mapping that needs one of several keys and has none.
fn need_one_of_message(segments: &[Seg<'_>], keys: &[&str]) -> (String, Option<String>) {
    let names: Vec<String> = keys.iter().map(|k| format!("`{k}`")).collect();
    (
        format!(
            "{} needs {}",
            if segments.is_empty() {
                "the document".to_owned()
            } else {
                path::subject(segments)
            },
            alternatives(&names)
        ),
        (keys == ["inputs", "batches"])
            .then(|| "use `inputs` for a single job, or `batches` for a list of jobs".to_owned()),
    )
}

fn null_hint(node: NodeRef<'_>) -> Option<String> {
    match node.kind() {
        Kind::Null => Some("remove the key instead of leaving its value empty".to_owned()),
        Kind::Timestamp => Some("quote the date to make it a string".to_owned()),
        _ => None,
    }
}

fn type_message(
    node: NodeRef<'_>,
    segments: &[Seg<'_>],
    types: &[JType],
) -> (String, Option<String>) {
    let expected: Vec<String> = types.iter().map(|&t| type_phrase(t).to_owned()).collect();
    let mut message = format!(
        "{} must be {}, not {}",
        path::subject(segments),
        alternatives(&expected),
        found_phrase(node)
    );
    if types.contains(&JType::Integer)
        && node.kind() == Kind::Float
        && let Some(value) = shown_value(node, segments)
    {
        message.push_str(&format!(" ({value})"));
    }
    let hint = match (types, node.kind()) {
        ([JType::Object], Kind::Null) => Some("write `{}` for an empty mapping".to_owned()),
        ([JType::Array], Kind::Null) => Some("write `[]` for an empty list".to_owned()),
        ([JType::String], Kind::Timestamp | Kind::Int | Kind::Float | Kind::Bool) => {
            Some("put the value in quotes to make it a string".to_owned())
        }
        _ => null_hint(node),
    };
    (message, hint)
}

fn enum_message(
    node: NodeRef<'_>,
    segments: &[Seg<'_>],
    values: &[&Value],
) -> (String, Option<String>) {
    let allowed: Vec<String> = values.iter().map(|v| enum_text(v)).collect();
    let allowed_refs: Vec<&str> = allowed.iter().map(String::as_str).collect();
    let subject = path::subject(segments);
    let found = match shown_value(node, segments) {
        Some(value) if node.kind() == Kind::Str => value,
        Some(value) => format!("{} ({value})", found_phrase(node)),
        None => found_phrase(node).to_owned(),
    };
    let message = if allowed.len() == 1 {
        let article = if node.kind() != Kind::Str && values.iter().all(|v| v.is_string()) {
            "the string "
        } else {
            ""
        };
        format!(
            "{subject} must be {article}`{}`, not {found}",
            allowed_refs.join("")
        )
    } else if allowed.len() <= 6 {
        let names: Vec<String> = allowed.iter().map(|a| format!("`{a}`")).collect();
        format!("{subject} must be {}, not {found}", alternatives(&names))
    } else {
        format!("{subject} {found} is not one of the allowed values")
    };
    let mut hint = None;
    let text = node.text();
    if node.kind() == Kind::Str && text.ends_with("?[]") {
        let base = text.trim_end_matches("?[]");
        hint = Some(format!("write `{base}[]?`: the `?` comes last"));
    } else if node.kind() != Kind::Str && allowed_refs.len() == 1 {
        hint = Some(format!(
            "write it as a string: `\"{}\"`",
            allowed_refs.join("").escape_debug()
        ));
    } else if node.kind() != Kind::Str && allowed_refs.contains(&text) {
        hint = Some(format!(
            "write it as a string: `\"{}\"`",
            node.text().escape_debug()
        ));
    } else if let Some(close) = node
        .as_str()
        .and_then(|text| path::did_you_mean(text, &allowed_refs))
        .filter(|_| !path::protected(segments))
    {
        hint = Some(format!("did you mean `{close}`?"));
    }
    if hint.is_none() && allowed.len() > 6 {
        if matches!(segments.last(), Some(Seg::Key("type"))) && allowed_refs.contains(&"File") {
            hint = Some(
                "use `File`, `Directory`, `string`, `int`, `long`, `float`, `double` or `boolean`, \
                 followed by `[]` for a list and then `?` if optional"
                    .to_owned(),
            );
        } else {
            hint = Some(format!("allowed values: {}", listed(&allowed_refs)));
        }
    }
    (message, hint)
}
