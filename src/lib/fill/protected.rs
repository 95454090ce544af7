//! What a document protects: the texts to mask (every spelling of each value below a protected
//! key, or a best guess for a file that did not parse), and the warnings about protected values
//! too short to be masked reliably (docs/credentials.md).

use super::*;

/// Every scalar below a protected key: a flat scan of the arena for protected keys (no
/// recursion, and fast on 100,000 batches), then a walk of only the values below them.
fn protected_scalars(tree: &Tree) -> Vec<NodeRef<'_>> {
    let mut stack: Vec<NodeRef<'_>> = tree
        .nodes()
        .filter(|n| n.is_map())
        .flat_map(|map| map.entries())
        .filter(|(key, _)| key.as_str().is_some_and(template::is_protected_key))
        .map(|(_, value)| value)
        .collect();
    let mut scalars = Vec::new();
    while let Some(node) = stack.pop() {
        match node.kind() {
            Kind::Map => stack.extend(node.entries().map(|(_, value)| value)),
            Kind::Seq => stack.extend(node.items()),
            Kind::ForeignCollection => {}
            _ => scalars.push(node),
        }
    }
    scalars
}

/// Every text that must be masked for a document: each value below a protected key, and each
/// way it is spelled in the source (a quoted value's escapes, each line of a block or
/// multi-line value), so that neither a message nor a quoted source line can show it.
#[must_use]
pub fn secret_texts(parsed: &Parsed) -> Vec<String> {
    let mut out = Vec::new();
    for node in protected_scalars(&parsed.tree) {
        spellings(&parsed.source, node, &mut out);
    }
    out.sort();
    out.dedup();
    out
}

/// One warning per protected value written in the document with fewer than
/// [`crate::redact::RELIABLE`] characters: red cannot mask such a value in its own messages
/// without mangling words, key names and file names, so it says where the value is (never the
/// value). Values that hold placeholders are not values yet and are left out.
#[must_use]
pub fn short_secret_warnings(tree: &Tree) -> Vec<Diagnostic> {
    // Pointers are worked out only when a short value was found.
    let mut short: HashSet<NodeId> = protected_scalars(tree)
        .into_iter()
        .filter(|node| {
            let text = node.text();
            text.chars().count() < crate::redact::RELIABLE
                && !text.trim().is_empty()
                && !template::has_brackets(text)
        })
        .map(|node| node.id())
        .collect();
    let mut out = Vec::new();
    let mut walk = vec![(tree.root(), String::new())];
    while let Some((node, pointer)) = walk.pop() {
        if short.is_empty() {
            break;
        }
        if short.remove(&node.id()) {
            out.push(short_secret_warning(node, pointer));
            continue;
        }
        match node.kind() {
            Kind::Map => walk.extend(node.entries().map(|(key, value)| {
                let name = key.as_str().unwrap_or_else(|| key.text());
                let segment = crate::tree::escape_pointer_segment(name);
                (value, format!("{pointer}/{segment}"))
            })),
            Kind::Seq => walk.extend(
                node.items()
                    .enumerate()
                    .map(|(index, item)| (item, format!("{pointer}/{index}"))),
            ),
            _ => {}
        }
    }
    out.sort_by_key(Diagnostic::order_key);
    out
}

fn short_secret_warning(node: NodeRef<'_>, pointer: String) -> Diagnostic {
    short_secret_diagnostic("this protected value")
        .at(node.span().start)
        .pointer(pointer)
}

/// One warning per protected variable whose value has fewer than
/// [`crate::redact::RELIABLE`] characters, located at the variable's first use and naming
/// where the value came from (never the value).
#[must_use]
pub fn short_value_warnings(variables: &[Variable], values: &Values) -> Vec<Diagnostic> {
    variables
        .iter()
        .filter(|v| v.protected)
        .filter_map(|variable| {
            let value = values.entry(&variable.name)?;
            let text = value.secret.expose();
            if text.trim().is_empty() || text.chars().count() >= crate::redact::RELIABLE {
                return None;
            }
            let what = format!(
                "the value of protected variable `{}` (from {})",
                variable.name, value.origin
            );
            let mut warning = short_secret_diagnostic(&what);
            if let Some(first) = variable.uses.first() {
                warning = warning.at(first.location).pointer(first.pointer.clone());
            }
            Some(warning)
        })
        .collect()
}

fn short_secret_diagnostic(what: &str) -> Diagnostic {
    Diagnostic::warning(
        "short-secret",
        format!(
            "{what} has fewer than {} characters, so red cannot mask it reliably in what it \
             prints",
            crate::redact::RELIABLE
        ),
    )
    .hint(
        "use a secret of 8 characters or more; red masks this one only in quoted lines of the \
         file and in the output of connectors",
    )
}

/// A best guess at the secrets of a file that could not be parsed: the text after `key:` on
/// every line whose key is protected, as written, and without quotes, brackets, tags and
/// anchors. Used to mask messages about such a file, which never quote its lines anyway.
#[must_use]
pub fn guess_secret_texts(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line
            .trim_start()
            .trim_start_matches("- ")
            .trim_start_matches(['{', ',', ' ']);
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let key = key.trim().trim_matches(['"', '\'']);
        if !template::is_protected_key(key) {
            continue;
        }
        let mut value = value.trim();
        out.push(value.to_owned());
        while value.starts_with(['!', '&']) {
            value = value
                .split_once(char::is_whitespace)
                .map_or("", |(_, rest)| rest.trim_start());
        }
        for candidate in [
            value,
            value.trim_matches(['[', ']', '{', '}', ',', ' ']),
            value
                .trim_matches(['[', ']', '{', '}', ',', ' '])
                .trim_matches(['"', '\'']),
        ] {
            out.push(candidate.to_owned());
        }
    }
    out.retain(|s| !s.trim().is_empty());
    out.sort();
    out.dedup();
    out
}

fn spellings(source: &SourceFile, node: NodeRef<'_>, out: &mut Vec<String>) {
    let value = node.text();
    out.push(value.to_owned());
    let lines = |text: &str, out: &mut Vec<String>| {
        if text.contains('\n') {
            out.extend(
                text.lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(str::to_owned),
            );
        }
    };
    lines(value, out);
    let Some(range) = scalar_range(source, node) else {
        return;
    };
    let written = &source.text()[range];
    if node.style() == Style::Quoted {
        let Some(body) = written.get(1..written.len().saturating_sub(1)) else {
            return;
        };
        if body != value {
            out.push(body.to_owned());
        }
        lines(body, out);
    } else if node.style() != Style::Quoted {
        lines(written, out);
    }
}
