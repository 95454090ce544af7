//! The embedded JSON Schemas, compiled once into a small graph the validator walks.
//!
//! The `jsonschema` crate cannot be used here: it sees JSON values, not our tree, so it knows
//! neither YAML timestamps nor the source position of a value, and its messages are not ours.
//! The RED schemas use only a dozen keywords (`type`, `enum`, `required`, `properties`,
//! `patternProperties`, `additionalProperties`, `items`, `$ref`, `anyOf`, `oneOf`, `minimum`,
//! `definitions`); this module compiles exactly those and rejects anything else, so a schema
//! update that needs more fails the unit tests instead of being silently ignored.

use std::collections::HashMap;
use std::sync::LazyLock;

use serde_json::Value;

/// Why an embedded schema could not be compiled (a bug in `schemas/`, caught by the tests).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompileError {
    /// The text is not JSON.
    #[error("schema `{name}` is not JSON: {message}")]
    Json {
        /// The schema's name.
        name: &'static str,
        /// The JSON parser's message.
        message: String,
    },
    /// A keyword or construct the interpreter does not implement.
    #[error("schema `{name}` uses unsupported `{what}`")]
    Unsupported {
        /// The schema's name.
        name: &'static str,
        /// The keyword or value.
        what: String,
    },
    /// The schema itself is not embedded.
    #[error("schema `{name}` is not embedded")]
    Missing {
        /// The schema's name.
        name: &'static str,
    },
}

/// A JSON type name of the `type` keyword.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JType {
    Object,
    Array,
    String,
    Integer,
    Number,
    Boolean,
    Null,
}

/// What `additionalProperties` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Additional {
    Allowed,
    Forbidden,
    Schema(usize),
}

/// The only kind of pattern the RED schemas use: `^[class]+$`, matched as Python's `re.search`
/// does, where `$` also matches before one final newline (so `"key\n"` is accepted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeyPattern {
    pub(crate) source: String,
    ranges: Vec<(char, char)>,
}

impl KeyPattern {
    fn parse(source: &str) -> Option<Self> {
        let class = source.strip_prefix("^[")?.strip_suffix("]+$")?;
        let chars: Vec<char> = class.chars().collect();
        let mut ranges = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            let c = *chars.get(i)?;
            if matches!(c, '\\' | '[' | ']' | '^') {
                return None;
            }
            match (chars.get(i + 1), chars.get(i + 2)) {
                (Some('-'), Some(&end)) => {
                    ranges.push((c, end));
                    i += 3;
                }
                _ => {
                    ranges.push((c, c));
                    i += 1;
                }
            }
        }
        Some(Self {
            source: source.to_owned(),
            ranges,
        })
    }

    /// Whether `key` matches.
    pub(crate) fn matches(&self, key: &str) -> bool {
        let body = key.strip_suffix('\n').unwrap_or(key);
        let in_class = |c: char| self.ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi);
        !body.is_empty()
            && if body.is_ascii() {
                body.bytes().all(|b| in_class(char::from(b)))
            } else {
                body.chars().all(in_class)
            }
    }
}

/// One compiled schema object.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub(crate) types: Vec<JType>,
    pub(crate) enumeration: Option<Vec<Value>>,
    pub(crate) required: Vec<String>,
    pub(crate) properties: Vec<(String, usize)>,
    pub(crate) patterns: Vec<(KeyPattern, usize)>,
    pub(crate) additional: Additional,
    pub(crate) items: Option<usize>,
    pub(crate) reference: Option<usize>,
    pub(crate) any_of: Vec<usize>,
    pub(crate) one_of: Vec<usize>,
    pub(crate) minimum: Option<f64>,
}

impl Node {
    const EMPTY: Node = Node {
        types: Vec::new(),
        enumeration: None,
        required: Vec::new(),
        properties: Vec::new(),
        patterns: Vec::new(),
        additional: Additional::Allowed,
        items: None,
        reference: None,
        any_of: Vec::new(),
        one_of: Vec::new(),
        minimum: None,
    };

    /// The schema of a named property.
    pub(crate) fn property(&self, key: &str) -> Option<usize> {
        self.properties
            .iter()
            .find(|(name, _)| name == key)
            .map(|&(_, id)| id)
    }
}

static EMPTY_NODE: Node = Node::EMPTY;

/// A compiled schema: a graph of [`Node`]s with `$ref`s resolved to indices.
#[derive(Debug, Clone)]
pub(crate) struct Compiled {
    pub(crate) nodes: Vec<Node>,
    pub(crate) root: usize,
}

impl Compiled {
    pub(crate) fn node(&self, id: usize) -> &Node {
        self.nodes.get(id).unwrap_or(&EMPTY_NODE)
    }

    /// Follow `$ref`s from a node to the first node that has keywords of its own.
    pub(crate) fn resolve(&self, mut id: usize) -> &Node {
        for _ in 0..16 {
            let node = self.node(id);
            match node.reference {
                Some(target) if node.types.is_empty() && node.enumeration.is_none() => {
                    id = target;
                }
                _ => return node,
            }
        }
        self.node(id)
    }

    pub(crate) fn compile(name: &'static str, text: &str) -> Result<Self, CompileError> {
        let value: Value = serde_json::from_str(text).map_err(|e| CompileError::Json {
            name,
            message: e.to_string(),
        })?;
        let mut compiler = Compiler {
            name,
            nodes: Vec::new(),
            definitions: HashMap::new(),
        };
        if let Some(definitions) = value.get("definitions").and_then(Value::as_object) {
            for key in definitions.keys() {
                let id = compiler.alloc();
                compiler.definitions.insert(key.clone(), id);
            }
            for (key, schema) in definitions {
                let id = compiler.definitions.get(key).copied().unwrap_or_default();
                let node = compiler.build(schema)?;
                if let Some(slot) = compiler.nodes.get_mut(id) {
                    *slot = node;
                }
            }
        }
        let root = compiler.compile(&value)?;
        Ok(Self {
            nodes: compiler.nodes,
            root,
        })
    }
}

struct Compiler {
    name: &'static str,
    nodes: Vec<Node>,
    definitions: HashMap<String, usize>,
}

impl Compiler {
    fn alloc(&mut self) -> usize {
        self.nodes.push(Node::EMPTY);
        self.nodes.len() - 1
    }

    fn unsupported(&self, what: impl Into<String>) -> CompileError {
        CompileError::Unsupported {
            name: self.name,
            what: what.into(),
        }
    }

    fn compile(&mut self, value: &Value) -> Result<usize, CompileError> {
        let node = self.build(value)?;
        self.nodes.push(node);
        Ok(self.nodes.len() - 1)
    }

    fn compile_all(&mut self, value: &Value) -> Result<Vec<usize>, CompileError> {
        let list = value
            .as_array()
            .ok_or_else(|| self.unsupported("non-list"))?;
        list.iter().map(|v| self.compile(v)).collect()
    }

    fn build(&mut self, value: &Value) -> Result<Node, CompileError> {
        let object = value
            .as_object()
            .ok_or_else(|| self.unsupported(value.to_string()))?;
        let mut node = Node::EMPTY;
        for (keyword, arg) in object {
            match keyword.as_str() {
                "definitions" | "$schema" | "$id" | "title" | "description" => {}
                "type" => {
                    let names: Vec<&Value> = match arg {
                        Value::Array(list) => list.iter().collect(),
                        other => vec![other],
                    };
                    for name in names {
                        node.types.push(self.jtype(name)?);
                    }
                }
                "enum" => node.enumeration = Some(arg.as_array().cloned().unwrap_or_default()),
                "required" => {
                    node.required = arg
                        .as_array()
                        .map(|l| l.iter().filter_map(Value::as_str).map(str::to_owned))
                        .into_iter()
                        .flatten()
                        .collect();
                }
                "properties" => {
                    let map = arg
                        .as_object()
                        .ok_or_else(|| self.unsupported("properties"))?;
                    for (key, schema) in map {
                        let id = self.compile(schema)?;
                        node.properties.push((key.clone(), id));
                    }
                }
                "patternProperties" => {
                    let map = arg
                        .as_object()
                        .ok_or_else(|| self.unsupported("patternProperties"))?;
                    for (pattern, schema) in map {
                        let parsed = KeyPattern::parse(pattern)
                            .ok_or_else(|| self.unsupported(format!("pattern {pattern}")))?;
                        let id = self.compile(schema)?;
                        node.patterns.push((parsed, id));
                    }
                }
                "additionalProperties" => {
                    node.additional = match arg {
                        Value::Bool(true) => Additional::Allowed,
                        Value::Bool(false) => Additional::Forbidden,
                        other => Additional::Schema(self.compile(other)?),
                    };
                }
                "items" => node.items = Some(self.compile(arg)?),
                "$ref" => {
                    let target = arg
                        .as_str()
                        .and_then(|r| r.strip_prefix("#/definitions/"))
                        .and_then(|name| self.definitions.get(name))
                        .copied()
                        .ok_or_else(|| self.unsupported(format!("$ref {arg}")))?;
                    node.reference = Some(target);
                }
                "anyOf" => node.any_of = self.compile_all(arg)?,
                "oneOf" => node.one_of = self.compile_all(arg)?,
                "minimum" => {
                    node.minimum = Some(arg.as_f64().ok_or_else(|| self.unsupported("minimum"))?);
                }
                other => return Err(self.unsupported(other)),
            }
        }
        Ok(node)
    }

    fn jtype(&self, name: &Value) -> Result<JType, CompileError> {
        Ok(match name.as_str() {
            Some("object") => JType::Object,
            Some("array") => JType::Array,
            Some("string") => JType::String,
            Some("integer") => JType::Integer,
            Some("number") => JType::Number,
            Some("boolean") => JType::Boolean,
            Some("null") => JType::Null,
            _ => return Err(self.unsupported(format!("type {name}"))),
        })
    }
}

/// Every schema the validator needs, compiled.
#[derive(Debug, Clone)]
pub(crate) struct Schemas {
    pub(crate) red: Compiled,
    pub(crate) docker: Compiled,
    pub(crate) ccfaice: Compiled,
    pub(crate) ccagency: Compiled,
}

impl Schemas {
    /// The compiled schema of this name (as `red schema list` prints it).
    pub(crate) fn named(&self, name: &str) -> Option<&Compiled> {
        match name {
            "red" => Some(&self.red),
            "red-engine-container-docker" => Some(&self.docker),
            "red-engine-execution-ccfaice" => Some(&self.ccfaice),
            "red-engine-execution-ccagency" => Some(&self.ccagency),
            _ => None,
        }
    }
}

fn compile_named(name: &'static str) -> Result<Compiled, CompileError> {
    let schema = crate::schemas::find(name).ok_or(CompileError::Missing { name })?;
    Compiled::compile(name, schema.text)
}

fn compile_all() -> Result<Schemas, CompileError> {
    Ok(Schemas {
        red: compile_named("red")?,
        docker: compile_named("red-engine-container-docker")?,
        ccfaice: compile_named("red-engine-execution-ccfaice")?,
        ccagency: compile_named("red-engine-execution-ccagency")?,
    })
}

static SCHEMAS: LazyLock<Result<Schemas, CompileError>> = LazyLock::new(compile_all);

/// The compiled schemas (compiled on first use).
pub(crate) fn schemas() -> Result<&'static Schemas, &'static CompileError> {
    SCHEMAS.as_ref()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_schema_compiles() {
        let schemas = schemas().unwrap();
        assert!(schemas.red.nodes.len() > 50);
        assert!(!schemas.docker.nodes.is_empty());
    }

    #[test]
    fn key_pattern_follows_python_search() {
        let p = KeyPattern::parse("^[a-zA-Z0-9_-]+$").unwrap();
        for ok in ["a", "file_1", "A-b", "text\n", "0"] {
            assert!(p.matches(ok), "{ok:?}");
        }
        for bad in ["", "\n", "my file", "text\n\n", "é", "a.b", "\na"] {
            assert!(!p.matches(bad), "{bad:?}");
        }
    }
}
