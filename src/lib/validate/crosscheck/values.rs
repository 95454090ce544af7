//! One job value against its declared cli type: list or not, primitive type, File/Directory
//! `class`. `int`/`long` take integers only (not `1.0`, not `true`), `float`/`double` take
//! integers or floats, as red-val decides.

use super::{InputType, error};
use crate::diagnostic::Diagnostic;
use crate::tree::{Kind, NodeRef};
use crate::validate::path::{self, Seg};
use crate::validate::report::found_phrase;

fn written(ty: InputType<'_>) -> String {
    format!("{}{}", ty.base, if ty.array { "[]" } else { "" })
}

pub(super) fn check_value<'t>(
    name: &str,
    ty: InputType<'_>,
    value: NodeRef<'t>,
    segs: &mut Vec<Seg<'t>>,
    out: &mut Vec<Diagnostic>,
) {
    if ty.array && !value.is_seq() {
        out.push(
            error(
                format!(
                    "input {} is declared as a list (`{}`), but its value is not a list",
                    path::quote(name),
                    written(ty)
                ),
                value,
                segs,
            )
            .hint("write the value as a list, e.g. `[value]`"),
        );
        return;
    }
    if !ty.array && value.is_seq() {
        let written = written(ty);
        out.push(
            error(
                format!(
                    "input {} is declared as `{written}`, but its value is a list",
                    path::quote(name)
                ),
                value,
                segs,
            )
            .hint(format!(
                "give a single value, or declare it as `{written}[]`"
            )),
        );
        return;
    }
    if ty.array {
        for (i, item) in value.items().enumerate() {
            segs.push(Seg::Index(i));
            check_item(name, ty, item, Some(i), segs, out);
            segs.pop();
        }
    } else {
        check_item(name, ty, value, None, segs, out);
    }
}

fn check_item<'t>(
    name: &str,
    ty: InputType<'_>,
    item: NodeRef<'t>,
    index: Option<usize>,
    segs: &mut Vec<Seg<'t>>,
    out: &mut Vec<Diagnostic>,
) {
    let subject = || match index {
        Some(i) => format!("item {i} of input {}", path::quote(name)),
        None => format!("input {}", path::quote(name)),
    };
    let ok = match ty.base {
        "File" | "Directory" => item.is_map(),
        "string" => item.kind() == Kind::Str,
        "int" | "long" => item.kind() == Kind::Int,
        "float" | "double" => matches!(item.kind(), Kind::Int | Kind::Float),
        _ => item.kind() == Kind::Bool,
    };
    if !ok {
        let expected = match ty.base {
            "File" => "a `File` object",
            "Directory" => "a `Directory` object",
            "string" => "a string",
            "int" | "long" => "an integer",
            "float" | "double" => "a number",
            _ => "a boolean",
        };
        let mut d = error(
            format!(
                "{} must be {expected} (declared `{}`), not {}",
                subject(),
                ty.base,
                found_phrase(item)
            ),
            item,
            segs,
        );
        if let Some(hint) = value_hint(ty.base, item) {
            d = d.hint(hint);
        }
        out.push(d);
        return;
    }
    if matches!(ty.base, "File" | "Directory")
        && let Some((_, class)) = item.get_entry("class")
        && class.as_str() != Some(ty.base)
    {
        segs.push(Seg::Key("class"));
        out.push(
            error(
                format!(
                    "{} is declared as `{}`, but its `class` is {}",
                    subject(),
                    ty.base,
                    path::quote(class.text())
                ),
                class,
                segs,
            )
            .hint(format!(
                "use `class: {}` or change the type in `cli.inputs`",
                ty.base
            )),
        );
        segs.pop();
    }
}

/// The hint for a string that reads as a number: a finite one only lacks quotes' removal;
/// `NaN`, `inf` or `Infinity` are strings in YAML whether quoted or not, and JSON has no such
/// numbers, so removing quotes would not help.
fn number_text_hint(text: &str) -> Option<String> {
    let number = text.trim().parse::<f64>().ok()?;
    Some(if number.is_finite() {
        "remove the quotes around the number".to_owned()
    } else {
        "YAML spells these numbers `.nan`, `.inf` and `-.inf` (unquoted); JSON has none".to_owned()
    })
}

fn value_hint(base: &str, item: NodeRef<'_>) -> Option<String> {
    match (base, item.kind()) {
        ("int" | "long", Kind::Float) if item.as_f64().is_some_and(|v| v.fract() == 0.0) => {
            Some("write the number without a decimal point or exponent".to_owned())
        }
        ("int" | "long" | "float" | "double", Kind::Bool) => {
            Some("booleans are not numbers; write a number".to_owned())
        }
        ("int" | "long" | "float" | "double", Kind::Str) => number_text_hint(item.text()),
        ("boolean", Kind::Str) => Some("write `true` or `false` without quotes".to_owned()),
        ("string", _) => Some("put the value in quotes to make it a string".to_owned()),
        _ => None,
    }
}
