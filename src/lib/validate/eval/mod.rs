//! Walking a tree against a compiled schema, collecting structured failures.
//!
//! Two modes share the keyword semantics: [`Eval::valid`] only answers yes or no and stops at
//! the first problem (used to try `anyOf`/`oneOf` branches cheaply), [`Eval::check`] collects
//! every failure. When no branch of an `anyOf`/`oneOf` fits, the branch the user most likely
//! meant is chosen (by type, by a `class`/`type` discriminator, by which exclusive keys are
//! present) and only its failures are reported, instead of a blanket "matches no alternative".
//! Recursion follows the document's nesting and is bounded by [`MAX_DEPTH`].

use serde_json::Value;

mod choose;

use super::path::{Path, Seg};
use super::schema::{Additional, Compiled, JType, Node};
use crate::tree::{Kind, NodeRef};

/// How deep a document may nest before validation gives up on it (a 150-level listing is fine).
pub(crate) const MAX_DEPTH: usize = 400;

/// What is wrong with one value.
#[derive(Debug, Clone)]
pub(crate) enum FailKind {
    /// Wrong type; the allowed types.
    Type(Vec<JType>),
    /// Not one of the allowed values.
    Enum(Vec<&'static Value>),
    /// A required key is missing (the failure sits on the mapping).
    Required(&'static str),
    /// A key no property allows (the failure sits on the key).
    Unknown(Vec<&'static str>),
    /// A key that does not match the key pattern (the failure sits on the key).
    BadName,
    /// Below `minimum`.
    Minimum(f64),
    /// No alternative fits; how the alternatives read ("a string", "a list of strings", …).
    NoAlternative(Vec<String>),
    /// Two keys that exclude each other are both present (the failure sits on the second).
    Exclusive(&'static str, &'static str),
    /// None of several keys that select the form is present.
    NeedOneOf(Vec<&'static str>),
    /// Matches several alternatives of a `oneOf`.
    Ambiguous,
    /// Nested deeper than [`MAX_DEPTH`].
    TooDeep,
}

/// One schema failure, at a node.
#[derive(Debug, Clone)]
pub(crate) struct Failure<'t> {
    pub(crate) node: NodeRef<'t>,
    pub(crate) path: Vec<Seg<'t>>,
    pub(crate) kind: FailKind,
}

/// One validation run of a tree (or subtree) against a compiled schema.
pub(crate) struct Eval<'t> {
    schema: &'static Compiled,
    path: Path<'t>,
    pub(crate) failures: Vec<Failure<'t>>,
}

fn matches_type(ty: JType, node: NodeRef<'_>) -> bool {
    match (ty, node.kind()) {
        (JType::Object, Kind::Map)
        | (JType::Array, Kind::Seq)
        | (JType::String, Kind::Str)
        | (JType::Boolean, Kind::Bool)
        | (JType::Null, Kind::Null)
        | (JType::Number | JType::Integer, Kind::Int)
        | (JType::Number, Kind::Float) => true,
        (JType::Integer, Kind::Float) => node.as_f64().is_some_and(|v| v.fract() == 0.0),
        _ => false,
    }
}

fn enum_contains(values: &[Value], node: NodeRef<'_>) -> bool {
    values.iter().any(|v| match (v, node.kind()) {
        (Value::String(s), Kind::Str) => s == node.text(),
        (Value::Bool(b), Kind::Bool) => node.as_bool() == Some(*b),
        (Value::Null, Kind::Null) => true,
        (Value::Number(n), Kind::Int | Kind::Float) => n.as_f64() == node.as_f64(),
        _ => false,
    })
}

fn below_minimum(minimum: f64, node: NodeRef<'_>) -> bool {
    match node.kind() {
        Kind::Int => match node.as_int() {
            Some(v) => (v as f64) < minimum,
            None => node.text().starts_with('-'),
        },
        Kind::Float => node.as_f64().is_some_and(|v| v < minimum),
        _ => false,
    }
}

impl<'t> Eval<'t> {
    pub(crate) fn new(schema: &'static Compiled, prefix: Vec<Seg<'t>>) -> Self {
        Self {
            schema,
            path: Path::from(prefix),
            failures: Vec::new(),
        }
    }

    /// Check a node against the schema's root, collecting failures.
    pub(crate) fn run(&mut self, node: NodeRef<'t>) {
        self.check(self.schema.root, node, 0);
    }

    fn fail(&mut self, node: NodeRef<'t>, kind: FailKind) {
        self.failures.push(Failure {
            node,
            path: self.path.segments().to_vec(),
            kind,
        });
    }

    fn fail_at_child(&mut self, node: NodeRef<'t>, seg: Seg<'t>, kind: FailKind) {
        self.path.push(seg);
        self.fail(node, kind);
        self.path.pop();
    }

    /// Whether `node` satisfies schema `id`; stops at the first problem.
    pub(crate) fn valid(&self, id: usize, node: NodeRef<'t>, depth: usize) -> bool {
        if depth >= MAX_DEPTH && !node.is_empty() {
            return false;
        }
        let s = self.schema.node(id);
        if let Some(r) = s.reference
            && !self.valid(r, node, depth)
        {
            return false;
        }
        if !s.types.is_empty() && !s.types.iter().any(|&t| matches_type(t, node)) {
            return false;
        }
        if s.enumeration
            .as_ref()
            .is_some_and(|e| !enum_contains(e, node))
        {
            return false;
        }
        if s.minimum.is_some_and(|m| below_minimum(m, node)) {
            return false;
        }
        if node.kind() == Kind::Map {
            if s.required.iter().any(|k| node.get(k).is_none()) {
                return false;
            }
            for (key, value) in node.entries() {
                let Some(key) = key.as_str() else { continue };
                let mut matched = false;
                if let Some(p) = s.property(key) {
                    matched = true;
                    if !self.valid(p, value, depth + 1) {
                        return false;
                    }
                }
                for (pattern, p) in &s.patterns {
                    if pattern.matches(key) {
                        matched = true;
                        if !self.valid(*p, value, depth + 1) {
                            return false;
                        }
                    }
                }
                if !matched {
                    match s.additional {
                        Additional::Allowed => {}
                        Additional::Forbidden => return false,
                        Additional::Schema(a) => {
                            if !self.valid(a, value, depth + 1) {
                                return false;
                            }
                        }
                    }
                }
            }
        }
        if let (Some(items), Kind::Seq) = (s.items, node.kind())
            && !node.items().all(|item| self.valid(items, item, depth + 1))
        {
            return false;
        }
        if !s.any_of.is_empty() && !s.any_of.iter().any(|&b| self.valid(b, node, depth)) {
            return false;
        }
        if !s.one_of.is_empty()
            && s.one_of
                .iter()
                .filter(|&&b| self.valid(b, node, depth))
                .take(2)
                .count()
                != 1
        {
            return false;
        }
        true
    }

    fn check(&mut self, id: usize, node: NodeRef<'t>, depth: usize) {
        if depth >= MAX_DEPTH && !node.is_empty() {
            self.fail(node, FailKind::TooDeep);
            return;
        }
        let schema = self.schema;
        let s = schema.node(id);
        if let Some(r) = s.reference {
            self.check(r, node, depth);
        }
        if !s.types.is_empty() && !s.types.iter().any(|&t| matches_type(t, node)) {
            self.fail(node, FailKind::Type(s.types.clone()));
            return;
        }
        if let Some(values) = &s.enumeration
            && !enum_contains(values, node)
        {
            self.fail(node, FailKind::Enum(values.iter().collect()));
        }
        if let Some(m) = s.minimum
            && below_minimum(m, node)
        {
            self.fail(node, FailKind::Minimum(m));
        }
        if node.kind() == Kind::Map {
            self.check_map(s, node, depth);
        }
        if let (Some(items), Kind::Seq) = (s.items, node.kind()) {
            for (i, item) in node.items().enumerate() {
                self.path.push(Seg::Index(i));
                self.check(items, item, depth + 1);
                self.path.pop();
            }
        }
        if !s.any_of.is_empty() && !s.any_of.iter().any(|&b| self.valid(b, node, depth)) {
            self.choose(&s.any_of, node, depth);
        }
        if !s.one_of.is_empty() {
            let fitting = s
                .one_of
                .iter()
                .filter(|&&b| self.valid(b, node, depth))
                .take(2)
                .count();
            match fitting {
                0 => self.choose(&s.one_of, node, depth),
                1 => {}
                _ => self.fail(node, FailKind::Ambiguous),
            }
        }
    }

    fn check_map(&mut self, s: &'static Node, node: NodeRef<'t>, depth: usize) {
        for key in &s.required {
            if node.get(key).is_none() {
                self.fail(node, FailKind::Required(key));
            }
        }
        for (key_node, value) in node.entries() {
            let Some(key) = key_node.as_str() else {
                continue; // reported by the key check
            };
            self.path.push(Seg::Key(key));
            let mut matched = false;
            if let Some(p) = s.property(key) {
                matched = true;
                self.check(p, value, depth + 1);
            }
            for (pattern, p) in &s.patterns {
                if pattern.matches(key) {
                    matched = true;
                    self.check(*p, value, depth + 1);
                }
            }
            if !matched {
                match s.additional {
                    Additional::Allowed => {}
                    Additional::Forbidden if s.patterns.is_empty() => {
                        let allowed = s.properties.iter().map(|(k, _)| k.as_str()).collect();
                        self.fail(key_node, FailKind::Unknown(allowed));
                    }
                    Additional::Forbidden => self.fail(key_node, FailKind::BadName),
                    Additional::Schema(a) => self.check(a, value, depth + 1),
                }
            }
            self.path.pop();
        }
    }
}

/// "a string", "an integer", … for a schema type.
pub(crate) fn type_phrase(t: JType) -> &'static str {
    match t {
        JType::Object => "a mapping",
        JType::Array => "a list",
        JType::String => "a string",
        JType::Integer => "an integer",
        JType::Number => "a number",
        JType::Boolean => "a boolean",
        JType::Null => "null",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failures(schema: &str, yaml: &str) -> Vec<FailKind> {
        let compiled: &'static Compiled =
            Box::leak(Box::new(Compiled::compile("test", schema).unwrap()));
        let tree = crate::parse::tree(yaml).unwrap();
        let mut eval = Eval::new(compiled, Vec::new());
        eval.run(tree.root());
        assert_eq!(
            eval.failures.is_empty(),
            eval.valid(compiled.root, tree.root(), 0),
            "the two modes disagree on {yaml:?}"
        );
        eval.failures.into_iter().map(|f| f.kind).collect()
    }

    fn valid(schema: &str, yaml: &str) -> bool {
        failures(schema, yaml).is_empty()
    }

    #[test]
    fn integer_is_python_jsonschema_integer() {
        let s = r#"{"type": "integer"}"#;
        for ok in [
            "1",
            "-0",
            "1.0",
            "1e3",
            "-0.0",
            "123456789012345678901234567890",
        ] {
            assert!(valid(s, ok), "{ok}");
        }
        for bad in ["1.5", "true", "'1'", ".inf", ".nan", "2020-01-01", "null"] {
            assert!(!valid(s, bad), "{bad}");
        }
    }

    #[test]
    fn number_excludes_booleans_and_dates() {
        let s = r#"{"type": "number"}"#;
        for ok in ["1", "1.5", ".nan", "-.inf"] {
            assert!(valid(s, ok), "{ok}");
        }
        for bad in ["true", "2020-01-01", "'1'", "!!binary aGVsbG8="] {
            assert!(!valid(s, bad), "{bad}");
        }
    }

    #[test]
    fn enum_keeps_booleans_apart_from_numbers() {
        let s = r#"{"enum": [1, "9"]}"#;
        assert!(valid(s, "1"));
        assert!(valid(s, "1.0"));
        assert!(valid(s, "'9'"));
        assert!(!valid(s, "true"));
        assert!(!valid(s, "9"));
    }

    #[test]
    fn minimum_handles_floats_and_huge_integers() {
        let s = r#"{"type": "integer", "minimum": 256}"#;
        assert!(valid(s, "256"));
        assert!(valid(s, "512.0"));
        assert!(valid(s, "123456789012345678901234567890123456789012345"));
        assert!(!valid(s, "-123456789012345678901234567890123456789012345"));
        assert!(matches!(failures(s, "128")[..], [FailKind::Minimum(_)]));
    }

    #[test]
    fn pattern_keys_allow_one_final_newline() {
        let s = r#"{"type": "object", "patternProperties": {"^[a-zA-Z0-9_-]+$": {}},
                    "additionalProperties": false}"#;
        assert!(valid(s, "{\"text\\n\": 1, a-b_C9: 2}"));
        assert!(matches!(
            failures(s, "{\"text\\n\\n\": 1}")[..],
            [FailKind::BadName]
        ));
        assert!(matches!(
            failures(s, "{my key: 1}")[..],
            [FailKind::BadName]
        ));
    }

    #[test]
    fn unknown_keys_and_required_keys_are_each_reported() {
        let s = r#"{"type": "object", "properties": {"a": {}, "b": {}},
                    "required": ["a", "b"], "additionalProperties": false}"#;
        let found = failures(s, "{x: 1, y: 2}");
        assert_eq!(found.len(), 4, "{found:?}");
    }

    #[test]
    fn alternatives_blame_the_branch_the_class_names() {
        let s = r##"{"definitions": {
            "f": {"type": "object", "properties": {"class": {"enum": ["File"]}, "size": {"type": "integer"}},
                  "additionalProperties": false, "required": ["class"]},
            "d": {"type": "object", "properties": {"class": {"enum": ["Directory"]}},
                  "additionalProperties": false, "required": ["class"]}},
            "anyOf": [{"type": "string"}, {"$ref": "#/definitions/f"}, {"$ref": "#/definitions/d"}]}"##;
        assert!(valid(s, "{class: File, size: 3}"));
        assert!(matches!(
            failures(s, "{class: File, size: x}")[..],
            [FailKind::Type(_)]
        ));
        assert!(matches!(
            failures(s, "{class: Fle}")[..],
            [FailKind::Enum(_)]
        ));
        assert!(matches!(
            failures(s, "{size: 1}")[..],
            [FailKind::Required("class")]
        ));
        assert!(matches!(
            failures(s, "[1]")[..],
            [FailKind::NoAlternative(_)]
        ));
    }
}
