//! `$(inputs.…)` parameter references in output globs, resolved against one batch's inputs.
//!
//! Only `outputBinding.glob` is interpolated (as in cc-core; never `stdout`, `stderr` or input
//! bindings). Supported: `$(inputs.key)`, `.attr`, `['attr']`, `["attr"]`, `[n]`. A File or
//! Directory exposes only its staged-path attributes (`path`, `basename`, `dirname`, and for files
//! `nameroot`, `nameext`), so a reference can never pull connector settings (or a secret) into a
//! glob. Scalars print as in the argv of the mode: cwl mode writes booleans as JSON (`true`),
//! cc mode as Python (`True`).

use crate::tree::{Kind, NodeRef};

use super::argv::{InputPaths, Mode};
use super::number;
use super::tool::{BaseType, Tool};

/// Why a reference cannot be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum RefError {
    #[error("the reference `{text}` in a glob is not of the form `$(inputs.name…)`")]
    Syntax { text: String },
    #[error("the glob refers to input `{input}`, which has no value in this batch")]
    NoValue { input: String },
    #[error("the glob reference `{text}` does not name a single text value")]
    NotScalar { text: String },
}

enum Segment {
    Name(String),
    Index(usize),
}

/// Replace every `$(…)` in `glob`.
pub(crate) fn resolve(
    glob: &str,
    tool: &Tool<'_>,
    job: NodeRef<'_>,
    paths: &InputPaths,
    mode: Mode,
) -> Result<String, RefError> {
    let mut out = String::new();
    let mut rest = glob;
    while let Some(start) = rest.find("$(") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find(')').ok_or_else(|| RefError::Syntax {
            text: rest[start..].to_owned(),
        })?;
        let text = &rest[start..start + 2 + end + 1];
        out.push_str(&value(&after[..end], text, tool, job, paths, mode)?);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn parse(expression: &str, text: &str) -> Result<Vec<Segment>, RefError> {
    let syntax = || RefError::Syntax { text: text.into() };
    let mut rest = expression.strip_prefix("inputs").ok_or_else(syntax)?;
    let mut segments = Vec::new();
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('.') {
            let len = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
                .unwrap_or(after.len());
            if len == 0 {
                return Err(syntax());
            }
            segments.push(Segment::Name(after[..len].to_owned()));
            rest = &after[len..];
        } else if let Some(after) = rest.strip_prefix('[') {
            let close = after.find(']').ok_or_else(syntax)?;
            let inner = &after[..close];
            let quoted = ['\'', '"'].iter().find_map(|q| {
                inner
                    .strip_prefix(*q)
                    .and_then(|s| s.strip_suffix(*q))
                    .map(str::to_owned)
            });
            segments.push(match quoted {
                Some(name) => Segment::Name(name),
                None => Segment::Index(inner.parse().map_err(|_| syntax())?),
            });
            rest = &after[close + 1..];
        } else {
            return Err(syntax());
        }
    }
    if segments.is_empty() {
        return Err(syntax());
    }
    Ok(segments)
}

fn value(
    expression: &str,
    text: &str,
    tool: &Tool<'_>,
    job: NodeRef<'_>,
    paths: &InputPaths,
    mode: Mode,
) -> Result<String, RefError> {
    let segments = parse(expression, text)?;
    let not_scalar = || RefError::NotScalar { text: text.into() };
    let mut iter = segments.into_iter();
    let Some(Segment::Name(key)) = iter.next() else {
        return Err(not_scalar());
    };
    let input = tool
        .inputs
        .iter()
        .find(|i| i.name == key)
        .ok_or_else(|| RefError::NoValue { input: key.clone() })?;
    let mut node = job
        .get(&key)
        .ok_or_else(|| RefError::NoValue { input: key.clone() })?;
    let mut index = None;
    if let Some(Segment::Index(i)) = peek_index(&mut iter) {
        node = node.item(i).ok_or_else(not_scalar)?;
        index = Some(i);
    }
    let attribute = match iter.next() {
        None => None,
        Some(Segment::Name(name)) => Some(name),
        Some(Segment::Index(_)) => return Err(not_scalar()),
    };
    if iter.next().is_some() {
        return Err(not_scalar());
    }
    if matches!(input.base, BaseType::File | BaseType::Directory) {
        let path = paths.get(&key, index).ok_or_else(not_scalar)?;
        return path_attribute(path, attribute.as_deref(), input.base).ok_or_else(not_scalar);
    }
    if attribute.is_some() {
        return Err(not_scalar());
    }
    scalar(node, mode).ok_or_else(not_scalar)
}

fn peek_index(iter: &mut std::vec::IntoIter<Segment>) -> Option<Segment> {
    match iter.as_slice().first() {
        Some(Segment::Index(_)) => iter.next(),
        _ => None,
    }
}

fn path_attribute(path: &str, attribute: Option<&str>, base: BaseType) -> Option<String> {
    let (dirname, basename) = path.rsplit_once('/').unwrap_or(("", path));
    // `os.path.splitext`: leading dots do not start an extension.
    let split = basename
        .char_indices()
        .skip_while(|(_, c)| *c == '.')
        .filter(|(_, c)| *c == '.')
        .last()
        .map(|(i, _)| i);
    let (nameroot, nameext) = match split {
        Some(i) => (&basename[..i], &basename[i..]),
        None => (basename, ""),
    };
    Some(
        match (attribute?, base) {
            ("path", _) => path,
            ("basename", _) => basename,
            ("dirname", BaseType::File) => dirname,
            ("nameroot", BaseType::File) => nameroot,
            ("nameext", BaseType::File) => nameext,
            _ => return None,
        }
        .to_owned(),
    )
}

fn scalar(node: NodeRef<'_>, mode: Mode) -> Option<String> {
    match node.kind() {
        Kind::Str => Some(node.text().to_owned()),
        Kind::Int => number::int_text(node.text()),
        Kind::Float => match mode {
            Mode::Cwl => number::float_text_cwl(node.text()),
            Mode::Cc => node.as_f64().map(number::float_text_python),
        },
        Kind::Bool => {
            let value = node.as_bool()?;
            Some(
                match (mode, value) {
                    (Mode::Cwl, true) => "true",
                    (Mode::Cwl, false) => "false",
                    (Mode::Cc, true) => "True",
                    (Mode::Cc, false) => "False",
                }
                .to_owned(),
            )
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitext_like_python() {
        let attr = |p: &str, a: &str| path_attribute(p, Some(a), BaseType::File);
        assert_eq!(attr("/d/words.txt", "nameroot").as_deref(), Some("words"));
        assert_eq!(attr("/d/words.txt", "nameext").as_deref(), Some(".txt"));
        assert_eq!(attr("/d/.cshrc", "nameroot").as_deref(), Some(".cshrc"));
        assert_eq!(attr("/d/.cshrc", "nameext").as_deref(), Some(""));
        assert_eq!(attr("/d/a.tar.gz", "nameext").as_deref(), Some(".gz"));
        assert_eq!(attr("/d/a.tar.gz", "dirname").as_deref(), Some("/d"));
        assert_eq!(
            path_attribute("/d/x", Some("nameroot"), BaseType::Directory),
            None
        );
    }
}
