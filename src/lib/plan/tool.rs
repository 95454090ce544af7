//! The `cli` section read into a typed model: the RED subset of a CWL v1.0 CommandLineTool.
//!
//! This is the only place that interprets the `cli` mapping for planning. Anything outside the
//! RED subset (docs/cli-semantics.md: `arguments`, `valueFrom`, list-form inputs, shorthand
//! types, …) is a
//! located [`ArgvError`], so that `plan` never silently builds a command line for a tool it does
//! not understand. Input declaration order is kept: cc-core's ordering depends on it.

use crate::source::Location;
use crate::tree::{Kind, NodeRef, escape_pointer_segment};

use super::argv_error::{ArgvError, Place, Problem};

/// The base type of an input (`T` in `T`, `T[]`, `T?`, `T[]?`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BaseType {
    /// `File`.
    File,
    /// `Directory`.
    Directory,
    /// `string`.
    String,
    /// `int` (32-bit in CWL).
    Int,
    /// `long` (64-bit in CWL).
    Long,
    /// `float`.
    Float,
    /// `double`.
    Double,
    /// `boolean`.
    Boolean,
}

impl BaseType {
    fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "File" => Self::File,
            "Directory" => Self::Directory,
            "string" => Self::String,
            "int" => Self::Int,
            "long" => Self::Long,
            "float" => Self::Float,
            "double" => Self::Double,
            "boolean" => Self::Boolean,
            _ => return None,
        })
    }

    /// The CWL name of the type.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::File => "File",
            Self::Directory => "Directory",
            Self::String => "string",
            Self::Int => "int",
            Self::Long => "long",
            Self::Float => "float",
            Self::Double => "double",
            Self::Boolean => "boolean",
        }
    }
}

/// One declared input with its binding.
#[derive(Debug, Clone)]
pub struct Input<'t> {
    /// The input key.
    pub name: &'t str,
    /// Base type.
    pub base: BaseType,
    /// `T[]`.
    pub array: bool,
    /// `T?`.
    pub optional: bool,
    /// `inputBinding.prefix`, if present (may be empty).
    pub prefix: Option<&'t str>,
    /// `inputBinding.separate` (default true).
    pub separate: bool,
    /// Whether `separate` was written.
    pub separate_given: bool,
    /// `inputBinding.position` (default 0).
    pub position: i128,
    /// `inputBinding.itemSeparator`.
    pub item_separator: Option<&'t str>,
    /// Where the input is declared.
    pub at: Location,
}

/// What an output collects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputKind {
    /// A file found by glob.
    File,
    /// A directory found by glob.
    Directory,
    /// The captured standard output.
    Stdout,
    /// The captured standard error.
    Stderr,
}

/// One declared output.
#[derive(Debug, Clone)]
pub struct Output<'t> {
    /// The output key.
    pub name: &'t str,
    /// What it collects.
    pub kind: OutputKind,
    /// `File?` / `Directory?`.
    pub optional: bool,
    /// The glob as written (File/Directory only).
    pub glob: Option<&'t str>,
    /// Where the glob (or the output) is written.
    pub at: Location,
}

/// The RED `cli` section, checked and typed.
#[derive(Debug, Clone)]
pub struct Tool<'t> {
    /// `baseCommand` as written (`[]` when missing or null).
    pub base_command: Vec<&'t str>,
    /// Inputs in declaration order.
    pub inputs: Vec<Input<'t>>,
    /// Outputs in declaration order.
    pub outputs: Vec<Output<'t>>,
    /// `stdout` file name.
    pub stdout: Option<&'t str>,
    /// `stderr` file name.
    pub stderr: Option<&'t str>,
}

const TOOL_KEYS: &[&str] = &[
    "cwlVersion",
    "class",
    "baseCommand",
    "inputs",
    "outputs",
    "stdout",
    "stderr",
    "doc",
];
const BINDING_KEYS: &[&str] = &["prefix", "separate", "position", "itemSeparator"];

fn error(problem: Problem, node: NodeRef<'_>, pointer: String) -> ArgvError {
    ArgvError {
        problem,
        at: node.span().start,
        place: Place::Cli,
        pointer,
    }
}

fn key_pointer(parts: &[&str]) -> String {
    parts
        .iter()
        .map(|p| format!("/{}", escape_pointer_segment(p)))
        .collect()
}

fn string_field<'t>(
    node: NodeRef<'t>,
    key: &str,
    pointer: &[&str],
) -> Result<Option<&'t str>, ArgvError> {
    match node.get(key) {
        None => Ok(None),
        Some(value) => match value.as_str() {
            Some(text) => Ok(Some(text)),
            None => Err(error(
                Problem::WrongShape {
                    what: key.to_owned(),
                    expected: "a string",
                    found: value.type_name(),
                },
                value,
                key_pointer(&[pointer, &[key]].concat()),
            )),
        },
    }
}

/// Read and check the `cli` mapping.
pub fn read(cli: NodeRef<'_>) -> Result<Tool<'_>, ArgvError> {
    if cli.kind() != Kind::Map {
        return Err(error(
            Problem::WrongShape {
                what: "cli".into(),
                expected: "a mapping",
                found: cli.type_name(),
            },
            cli,
            String::new(),
        ));
    }
    for (key, _) in cli.entries() {
        let name = key.as_str().unwrap_or_default();
        if !TOOL_KEYS.contains(&name) {
            return Err(error(
                Problem::Unsupported {
                    what: format!("the key `{}`", key.text()),
                },
                key,
                key_pointer(&[name]),
            ));
        }
    }
    match cli.get("cwlVersion") {
        Some(v) if v.as_str() == Some("v1.0") => {}
        Some(v) => {
            return Err(error(
                Problem::Unsupported {
                    what: format!("cwlVersion `{}`", v.text()),
                },
                v,
                "/cwlVersion".into(),
            ));
        }
        None => return Err(missing(cli, "cwlVersion")),
    }
    match cli.get("class") {
        Some(v) if v.as_str() == Some("CommandLineTool") => {}
        Some(v) => {
            return Err(error(
                Problem::Unsupported {
                    what: format!("class `{}`", v.text()),
                },
                v,
                "/class".into(),
            ));
        }
        None => return Err(missing(cli, "class")),
    }
    Ok(Tool {
        base_command: base_command(cli)?,
        inputs: inputs(cli)?,
        outputs: outputs(cli)?,
        stdout: string_field(cli, "stdout", &[])?,
        stderr: string_field(cli, "stderr", &[])?,
    })
}

fn missing(node: NodeRef<'_>, key: &str) -> ArgvError {
    error(Problem::Missing { key: key.into() }, node, String::new())
}

fn base_command(cli: NodeRef<'_>) -> Result<Vec<&str>, ArgvError> {
    let Some(node) = cli.get("baseCommand") else {
        return Ok(Vec::new());
    };
    match node.kind() {
        Kind::Null => Ok(Vec::new()),
        Kind::Str => Ok(vec![node.text()]),
        Kind::Seq => node
            .items()
            .enumerate()
            .map(|(i, item)| {
                item.as_str().ok_or_else(|| {
                    error(
                        Problem::WrongShape {
                            what: "baseCommand item".into(),
                            expected: "a string",
                            found: item.type_name(),
                        },
                        item,
                        format!("/baseCommand/{i}"),
                    )
                })
            })
            .collect(),
        _ => Err(error(
            Problem::WrongShape {
                what: "baseCommand".into(),
                expected: "a string or a list of strings",
                found: node.type_name(),
            },
            node,
            "/baseCommand".into(),
        )),
    }
}

fn section<'t>(cli: NodeRef<'t>, key: &str) -> Result<NodeRef<'t>, ArgvError> {
    let node = cli.get(key).ok_or_else(|| missing(cli, key))?;
    if node.kind() != Kind::Map {
        return Err(error(
            Problem::WrongShape {
                what: key.into(),
                expected: "a mapping of names to declarations",
                found: node.type_name(),
            },
            node,
            key_pointer(&[key]),
        ));
    }
    Ok(node)
}

fn inputs(cli: NodeRef<'_>) -> Result<Vec<Input<'_>>, ArgvError> {
    let section = section(cli, "inputs")?;
    section
        .entries()
        .map(|(key, value)| input(key, value))
        .collect()
}

fn input<'t>(key: NodeRef<'t>, value: NodeRef<'t>) -> Result<Input<'t>, ArgvError> {
    let name = key.as_str().unwrap_or_default();
    let base = ["inputs", name];
    if value.kind() != Kind::Map {
        return Err(error(
            Problem::WrongShape {
                what: format!("input `{name}`"),
                expected: "a mapping with `type` and `inputBinding`",
                found: value.type_name(),
            },
            value,
            key_pointer(&base),
        ));
    }
    for (field, _) in value.entries() {
        let field_name = field.as_str().unwrap_or_default();
        if !matches!(field_name, "type" | "inputBinding" | "doc") {
            return Err(error(
                Problem::Unsupported {
                    what: format!("the key `{}` in an input", field.text()),
                },
                field,
                key_pointer(&[&base[..], &[field_name]].concat()),
            ));
        }
    }
    let type_node = value.get("type").ok_or_else(|| missing(value, "type"))?;
    let (base_type, array, optional) =
        type_node.as_str().and_then(parse_type).ok_or_else(|| {
            error(
                Problem::UnsupportedType {
                    found: type_node.text().to_owned(),
                },
                type_node,
                key_pointer(&[&base[..], &["type"]].concat()),
            )
        })?;
    let binding = value
        .get("inputBinding")
        .ok_or_else(|| missing(value, "inputBinding"))?;
    let binding_pointer = [&base[..], &["inputBinding"]].concat();
    if binding.kind() != Kind::Map {
        return Err(error(
            Problem::WrongShape {
                what: "inputBinding".into(),
                expected: "a mapping",
                found: binding.type_name(),
            },
            binding,
            key_pointer(&binding_pointer),
        ));
    }
    for (field, _) in binding.entries() {
        let field_name = field.as_str().unwrap_or_default();
        if !BINDING_KEYS.contains(&field_name) {
            return Err(error(
                Problem::Unsupported {
                    what: format!("the key `{}` in an inputBinding", field.text()),
                },
                field,
                key_pointer(&[&binding_pointer[..], &[field_name]].concat()),
            ));
        }
    }
    let separate_node = binding.get("separate");
    let separate = match separate_node {
        None => true,
        Some(node) => node.as_bool().ok_or_else(|| {
            error(
                Problem::WrongShape {
                    what: "separate".into(),
                    expected: "a boolean",
                    found: node.type_name(),
                },
                node,
                key_pointer(&[&binding_pointer[..], &["separate"]].concat()),
            )
        })?,
    };
    Ok(Input {
        name,
        base: base_type,
        array,
        optional,
        prefix: string_field(binding, "prefix", &binding_pointer)?,
        separate,
        separate_given: separate_node.is_some(),
        position: position(binding, &binding_pointer)?,
        item_separator: string_field(binding, "itemSeparator", &binding_pointer)?,
        at: key.span().start,
    })
}

fn position(binding: NodeRef<'_>, pointer: &[&str]) -> Result<i128, ArgvError> {
    let Some(node) = binding.get("position") else {
        return Ok(0);
    };
    // red-val accepts `1.0` because JSON Schema counts it as an integer; so do we.
    let value = match node.kind() {
        Kind::Int => node.as_int(),
        Kind::Float => node
            .as_f64()
            .filter(|v| v.fract() == 0.0 && v.abs() < 1e18)
            .map(|v| v as i128),
        _ => None,
    };
    match value {
        Some(v) if v >= 0 => Ok(v),
        _ => Err(error(
            Problem::BadPosition {
                found: node.text().to_owned(),
            },
            node,
            key_pointer(&[pointer, &["position"]].concat()),
        )),
    }
}

/// `T`, `T[]`, `T?`, `T[]?` → (T, array, optional).
fn parse_type(text: &str) -> Option<(BaseType, bool, bool)> {
    let (rest, optional) = match text.strip_suffix('?') {
        Some(rest) => (rest, true),
        None => (text, false),
    };
    let (rest, array) = match rest.strip_suffix("[]") {
        Some(rest) => (rest, true),
        None => (rest, false),
    };
    Some((BaseType::parse(rest)?, array, optional))
}

fn outputs(cli: NodeRef<'_>) -> Result<Vec<Output<'_>>, ArgvError> {
    let section = section(cli, "outputs")?;
    section
        .entries()
        .map(|(key, value)| output(key, value))
        .collect()
}

fn output<'t>(key: NodeRef<'t>, value: NodeRef<'t>) -> Result<Output<'t>, ArgvError> {
    let name = key.as_str().unwrap_or_default();
    let base = ["outputs", name];
    let type_node = value.get("type").ok_or_else(|| missing(value, "type"))?;
    let (kind, optional) = match type_node.as_str() {
        Some("File") => (OutputKind::File, false),
        Some("File?") => (OutputKind::File, true),
        Some("Directory") => (OutputKind::Directory, false),
        Some("Directory?") => (OutputKind::Directory, true),
        Some("stdout") => (OutputKind::Stdout, false),
        Some("stderr") => (OutputKind::Stderr, false),
        _ => {
            return Err(error(
                Problem::UnsupportedOutputType {
                    found: type_node.text().to_owned(),
                },
                type_node,
                key_pointer(&[&base[..], &["type"]].concat()),
            ));
        }
    };
    if matches!(kind, OutputKind::Stdout | OutputKind::Stderr) {
        return Ok(Output {
            name,
            kind,
            optional,
            glob: None,
            at: key.span().start,
        });
    }
    let binding = value
        .get("outputBinding")
        .ok_or_else(|| missing(value, "outputBinding"))?;
    let glob_node = binding
        .get("glob")
        .ok_or_else(|| missing(binding, "glob"))?;
    let glob = glob_node.as_str().ok_or_else(|| {
        error(
            Problem::WrongShape {
                what: "glob".into(),
                expected: "a string",
                found: glob_node.type_name(),
            },
            glob_node,
            key_pointer(&[&base[..], &["outputBinding", "glob"]].concat()),
        )
    })?;
    Ok(Output {
        name,
        kind,
        optional,
        glob: Some(glob),
        at: glob_node.span().start,
    })
}
