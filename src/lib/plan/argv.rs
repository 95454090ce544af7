//! The command line of one batch, built from the `cli` section and the batch's inputs.
//!
//! Two modes (docs/cli-semantics.md):
//! - [`Mode::Cwl`]: what cwltool builds. Bindings sorted by `(position, input name by bytes)`,
//!   numbers printed as written in the source, `prefix: ""` an empty element, `separate: false`
//!   without a prefix and out-of-range `int`/`long` values refused.
//! - [`Mode::Cc`]: what cc-core 9.3 builds. Unprefixed inputs first, sorted by position with ties
//!   in declaration order, then prefixed inputs in declaration order; Python `str()` of numbers;
//!   `baseCommand` items stripped of surrounding whitespace.
//!
//! Pure: file and directory values are rendered from [`InputPaths`], which the caller fills
//! (the planner with `/cc/inputs/<id>/<basename>`, tests with the corpus paths). Every refusal
//! is an [`ArgvError`] located at the offending node.

use std::collections::HashMap;

use crate::tree::{Kind, NodeRef, escape_pointer_segment};

pub use super::argv_error::{ArgvError, Place, Problem};
use super::number;
use super::tool::{self, BaseType, Input, Tool};

/// Which implementation's command line to reproduce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// CWL v1.0 as cwltool builds it (the default).
    #[default]
    Cwl,
    /// cc-core 9.3 (`--cli-compat cc`).
    Cc,
}

impl Mode {
    /// The name used on the command line.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Cwl => "cwl",
            Self::Cc => "cc",
        }
    }
}

/// Staged container paths of file and directory inputs, by input key and array index.
#[derive(Debug, Clone, Default)]
pub struct InputPaths {
    paths: HashMap<(String, Option<usize>), String>,
}

impl InputPaths {
    /// No paths.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Record the path of `key` (or of item `index` of the array `key`).
    pub fn insert(&mut self, key: &str, index: Option<usize>, path: String) {
        self.paths.insert((key.to_owned(), index), path);
    }

    /// The path of `key` or of one of its items.
    #[must_use]
    pub fn get(&self, key: &str, index: Option<usize>) -> Option<&str> {
        self.paths.get(&(key.to_owned(), index)).map(String::as_str)
    }

    /// Paths taken from CWL job objects that carry a `path` (`{class: File, path: /x}`).
    #[must_use]
    pub fn from_cwl_job(job: NodeRef<'_>) -> Self {
        fn path_of(node: NodeRef<'_>) -> Option<&str> {
            node.get("path").and_then(|p| p.as_str())
        }
        let mut paths = Self::new();
        for (key, value) in job.entries() {
            let Some(key) = key.as_str() else { continue };
            if let Some(path) = path_of(value) {
                paths.insert(key, None, path.to_owned());
            }
            for (index, item) in value.items().enumerate() {
                if let Some(path) = path_of(item) {
                    paths.insert(key, Some(index), path.to_owned());
                }
            }
        }
        paths
    }
}

/// Build the argv for one batch from the `cli` section and the batch's `inputs`.
pub fn build(
    cli: NodeRef<'_>,
    job_inputs: NodeRef<'_>,
    paths: &InputPaths,
    mode: Mode,
) -> Result<Vec<String>, ArgvError> {
    let tool = tool::read(cli)?;
    build_for(&tool, job_inputs, paths, mode)
}

/// Build the argv from an already-read tool.
pub(crate) fn build_for(
    tool: &Tool<'_>,
    job: NodeRef<'_>,
    paths: &InputPaths,
    mode: Mode,
) -> Result<Vec<String>, ArgvError> {
    if job.kind() != Kind::Map {
        return Err(job_error(
            Problem::WrongShape {
                what: "inputs".into(),
                expected: "a mapping",
                found: job.type_name(),
            },
            job,
            String::new(),
        ));
    }
    for (key, _) in job.entries() {
        let name = key.as_str().unwrap_or_default();
        if !tool.inputs.iter().any(|input| input.name == name) {
            return Err(job_error(
                Problem::UnknownInput {
                    input: key.text().to_owned(),
                },
                key,
                pointer(name, None),
            ));
        }
    }
    let mut chunks: Vec<(&Input<'_>, Vec<String>)> = Vec::with_capacity(tool.inputs.len());
    for input in &tool.inputs {
        if mode == Mode::Cwl && input.separate_given && input.prefix.is_none() {
            return Err(ArgvError {
                problem: Problem::SeparateWithoutPrefix {
                    input: input.name.into(),
                },
                at: input.at,
                place: Place::Cli,
                pointer: format!("/inputs/{}", escape_pointer_segment(input.name)),
            });
        }
        let chunk = match job.get(input.name) {
            None if input.optional => Vec::new(),
            None => {
                return Err(job_error(
                    Problem::MissingRequired {
                        input: input.name.into(),
                    },
                    job,
                    String::new(),
                ));
            }
            Some(value) => bind(input, value, paths, mode)?,
        };
        chunks.push((input, chunk));
    }
    order(&mut chunks, mode);
    let mut argv: Vec<String> = match mode {
        Mode::Cwl => tool.base_command.iter().map(|s| (*s).to_owned()).collect(),
        Mode::Cc => tool
            .base_command
            .iter()
            .map(|s| s.trim().to_owned())
            .collect(),
    };
    argv.extend(chunks.into_iter().flat_map(|(_, chunk)| chunk));
    Ok(argv)
}

fn has_prefix(input: &Input<'_>, mode: Mode) -> bool {
    match mode {
        Mode::Cwl => input.prefix.is_some(),
        // cc-core tests the prefix for truth: `""` counts as no prefix.
        Mode::Cc => input.prefix.is_some_and(|p| !p.is_empty()),
    }
}

fn order(chunks: &mut [(&Input<'_>, Vec<String>)], mode: Mode) {
    match mode {
        Mode::Cwl => chunks.sort_by(|(a, _), (b, _)| {
            (a.position, a.name.as_bytes()).cmp(&(b.position, b.name.as_bytes()))
        }),
        Mode::Cc => chunks.sort_by_key(|(input, _)| {
            if has_prefix(input, mode) {
                (1, 0)
            } else {
                (0, input.position)
            }
        }),
    }
}

fn pointer(key: &str, index: Option<usize>) -> String {
    match index {
        Some(i) => format!("/{}/{i}", escape_pointer_segment(key)),
        None => format!("/{}", escape_pointer_segment(key)),
    }
}

fn job_error(problem: Problem, node: NodeRef<'_>, pointer: String) -> ArgvError {
    ArgvError {
        problem,
        at: node.span().start,
        place: Place::Job,
        pointer,
    }
}

/// The argv elements one input contributes.
fn bind(
    input: &Input<'_>,
    value: NodeRef<'_>,
    paths: &InputPaths,
    mode: Mode,
) -> Result<Vec<String>, ArgvError> {
    let prefixed = has_prefix(input, mode);
    let prefix = input.prefix.unwrap_or_default();
    let attach = |text: String| -> Vec<String> {
        if !prefixed {
            vec![text]
        } else if input.separate {
            vec![prefix.to_owned(), text]
        } else {
            vec![format!("{prefix}{text}")]
        }
    };
    if !input.array {
        if value.kind() == Kind::Seq {
            return Err(mismatch(input, value, None));
        }
        return Ok(match item_text(input, value, None, paths, mode)? {
            Item::Flag(true) if prefixed => vec![prefix.to_owned()],
            Item::Flag(_) => Vec::new(),
            Item::Text(text) => attach(text),
        });
    }
    if value.kind() != Kind::Seq {
        return Err(mismatch(input, value, None));
    }
    let items = value
        .items()
        .enumerate()
        .map(|(i, item)| item_text(input, item, Some(i), paths, mode))
        .collect::<Result<Vec<Item>, _>>()?;
    if items.is_empty() {
        return Ok(Vec::new());
    }
    if let Some(separator) = input.item_separator {
        let joined = items
            .iter()
            .map(|item| match item {
                // Both reference implementations print Python's `str(bool)` here.
                Item::Flag(b) => if *b { "True" } else { "False" }.to_owned(),
                Item::Text(text) => text.clone(),
            })
            .collect::<Vec<_>>()
            .join(separator);
        return Ok(attach(joined));
    }
    let mut out = if prefixed {
        vec![prefix.to_owned()]
    } else {
        Vec::new()
    };
    out.extend(items.into_iter().filter_map(|item| match item {
        Item::Flag(_) => None,
        Item::Text(text) => Some(text),
    }));
    Ok(out)
}

enum Item {
    Flag(bool),
    Text(String),
}

fn mismatch(input: &Input<'_>, value: NodeRef<'_>, index: Option<usize>) -> ArgvError {
    let found = match value.kind() {
        Kind::Map => value
            .get("class")
            .and_then(|c| c.as_str())
            .map_or_else(|| "mapping".to_owned(), |c| format!("{c} object")),
        Kind::Seq if index.is_some() => "nested list".to_owned(),
        _ => value.type_name().to_owned(),
    };
    let declared = format!(
        "{}{}{}",
        input.base.name(),
        if input.array { "[]" } else { "" },
        if input.optional { "?" } else { "" }
    );
    job_error(
        Problem::TypeMismatch {
            input: input.name.into(),
            declared,
            found,
        },
        value,
        pointer(input.name, index),
    )
}

fn item_text(
    input: &Input<'_>,
    value: NodeRef<'_>,
    index: Option<usize>,
    paths: &InputPaths,
    mode: Mode,
) -> Result<Item, ArgvError> {
    if value.kind() == Kind::Null {
        return Err(job_error(
            Problem::NullValue {
                input: input.name.into(),
            },
            value,
            pointer(input.name, index),
        ));
    }
    let wrong = || mismatch(input, value, index);
    let text = match input.base {
        BaseType::Boolean => return value.as_bool().map(Item::Flag).ok_or_else(wrong),
        BaseType::String => value.as_str().ok_or_else(wrong)?.to_owned(),
        BaseType::Int | BaseType::Long => {
            if value.kind() != Kind::Int {
                return Err(wrong());
            }
            let text = number::int_text(value.text()).ok_or_else(wrong)?;
            if mode == Mode::Cwl {
                check_range(input, value, index, &text)?;
            }
            text
        }
        BaseType::Float | BaseType::Double => match value.kind() {
            Kind::Int => number::int_text(value.text()).ok_or_else(wrong)?,
            Kind::Float => match mode {
                Mode::Cwl => number::float_text_cwl(value.text()).ok_or_else(wrong)?,
                Mode::Cc => number::float_text_python(value.as_f64().ok_or_else(wrong)?),
            },
            _ => return Err(wrong()),
        },
        BaseType::File | BaseType::Directory => {
            let class = value.get("class").and_then(|c| c.as_str());
            if value.kind() != Kind::Map || class != Some(input.base.name()) {
                return Err(wrong());
            }
            paths
                .get(input.name, index)
                .ok_or_else(|| {
                    job_error(
                        Problem::NoPath {
                            input: input.name.into(),
                        },
                        value,
                        pointer(input.name, index),
                    )
                })?
                .to_owned()
        }
    };
    Ok(Item::Text(text))
}

fn check_range(
    input: &Input<'_>,
    value: NodeRef<'_>,
    index: Option<usize>,
    text: &str,
) -> Result<(), ArgvError> {
    let (fits, declared) = match input.base {
        BaseType::Int => (
            value.as_int().is_some_and(|v| i32::try_from(v).is_ok()),
            "int",
        ),
        _ => (
            value.as_int().is_some_and(|v| i64::try_from(v).is_ok()),
            "long",
        ),
    };
    if fits {
        return Ok(());
    }
    Err(job_error(
        Problem::IntegerRange {
            input: input.name.into(),
            value: text.to_owned(),
            declared,
        },
        value,
        pointer(input.name, index),
    ))
}
