//! Step 3 and 6 of red-val: job values against the `cli` description, and output globs.
//!
//! Every job (each batch, or the single `inputs`/`outputs` pair) is checked on its own: job keys
//! must be declared in `cli`, every non-optional input must be given in every job, lists must be
//! given where `[]` is declared and only there, primitive values must have the declared type
//! (`int`/`long` take integers only, `float`/`double` take integers or floats), and File and
//! Directory objects must have the declared `class`. Values the schema already rejected are
//! skipped here, so one mistake gives one diagnostic. cli keys outside the key pattern escape
//! the schema; the reference then crashes or accepts them depending on their shape, and the
//! same verdicts are given here with a proper message.

mod names;
mod values;

use super::path::{self, Seg};
use crate::diagnostic::Diagnostic;
use crate::tree::{NodeRef, Tree};

const CODE: &str = "cross-check";
const BASES: [&str; 8] = [
    "File",
    "Directory",
    "string",
    "int",
    "long",
    "float",
    "double",
    "boolean",
];
const NAME_HINT: &str = "names may only contain ASCII letters, digits, `_` and `-`";

/// The pointers of values the schema rejected: the cross-check leaves them alone.
pub(crate) struct Rejected {
    pointers: Vec<String>,
}

impl Rejected {
    pub(crate) fn new(mut pointers: Vec<String>) -> Self {
        pointers.sort();
        pointers.dedup();
        Self { pointers }
    }

    /// Whether the schema rejected nothing.
    pub(crate) fn is_empty(&self) -> bool {
        self.pointers.is_empty()
    }

    /// Whether the schema rejected this value, something inside it, or something around it.
    /// Binary searches, so a file with 100,000 rejected batches stays fast.
    pub(crate) fn touches(&self, segments: &[Seg<'_>]) -> bool {
        if self.pointers.is_empty() {
            return false;
        }
        let here = path::pointer(segments);
        let found = |p: &str| {
            self.pointers
                .binary_search_by(|x| x.as_str().cmp(p))
                .is_ok()
        };
        // The value itself or one of its ancestors (down to the root, `""`).
        let mut end = here.len();
        while let Some(prefix) = here.get(..end) {
            if found(prefix) {
                return true;
            }
            match prefix.rfind('/') {
                Some(i) => end = i,
                None => break,
            }
        }
        // Something inside it: the first pointer at or after `here/` starts with it.
        let inside = format!("{here}/");
        let i = self
            .pointers
            .partition_point(|p| p.as_str() < inside.as_str());
        self.pointers.get(i).is_some_and(|p| p.starts_with(&inside))
    }
}

/// Whether a key matches the RED key pattern `^[a-zA-Z0-9_-]+$` (Python `$`: a final `\n` is
/// allowed).
fn pattern(key: &str) -> bool {
    let body = key.strip_suffix('\n').unwrap_or(key);
    !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// A parsed cli input type: `T`, `T[]`, `T?`, `T[]?`.
#[derive(Debug, Clone, Copy)]
struct InputType<'a> {
    base: &'a str,
    array: bool,
    optional: bool,
}

fn parse_input_type(text: &str) -> Option<InputType<'_>> {
    let (rest, optional) = match text.strip_suffix('?') {
        Some(rest) => (rest, true),
        None => (text, false),
    };
    let (base, array) = match rest.strip_suffix("[]") {
        Some(base) => (base, true),
        None => (rest, false),
    };
    BASES.contains(&base).then_some(InputType {
        base,
        array,
        optional,
    })
}

fn parse_output_type(text: &str) -> Option<&str> {
    match text.strip_suffix('?') {
        Some("stdout" | "stderr") => None,
        Some(base) => ["File", "Directory"].contains(&base).then_some(base),
        None => ["File", "Directory", "stdout", "stderr"]
            .contains(&text)
            .then_some(text),
    }
}

#[derive(Clone, Copy)]
struct Job<'t> {
    /// The batch index, or `None` for the single-job form.
    batch: Option<usize>,
    inputs: Option<NodeRef<'t>>,
    outputs: Option<NodeRef<'t>>,
}

impl Job<'_> {
    /// Reset `scratch` to the path of this job's `section` (`inputs` or `outputs`).
    fn base<'t>(&self, scratch: &mut Vec<Seg<'t>>, section: &'t str) {
        scratch.clear();
        if let Some(i) = self.batch {
            scratch.extend([Seg::Key("batches"), Seg::Index(i)]);
        }
        scratch.push(Seg::Key(section));
    }
}

/// The jobs of the document, read from the tree as they are walked (a list of 100,000 batches
/// is checked without a second list beside it).
fn jobs(root: NodeRef<'_>) -> impl Iterator<Item = Job<'_>> {
    let batches = root.get("batches");
    let single = batches.is_none().then(|| Job {
        batch: None,
        inputs: root.get("inputs"),
        outputs: root.get("outputs"),
    });
    let batched = batches.into_iter().flat_map(|batches| {
        batches
            .items()
            .enumerate()
            .filter(|(_, b)| b.is_map())
            .map(|(i, b)| Job {
                batch: Some(i),
                inputs: b.get("inputs"),
                outputs: b.get("outputs"),
            })
    });
    single.into_iter().chain(batched)
}

fn at<'t>(segments: &[Seg<'t>], more: &[Seg<'t>]) -> Vec<Seg<'t>> {
    let mut v = segments.to_vec();
    v.extend_from_slice(more);
    v
}

fn error(message: String, node: NodeRef<'_>, segments: &[Seg<'_>]) -> Diagnostic {
    Diagnostic::error(CODE, message)
        .at(node.span().start)
        .pointer(path::pointer(segments))
        .batch(path::batch(segments))
}

/// Check every job against `cli`; `rejected` holds what the schema already reported.
pub(crate) fn check(tree: &Tree, rejected: &Rejected, warnings: bool) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let root = tree.root();
    let Some(cli) = root.get("cli").filter(|c| c.is_map()) else {
        return out;
    };
    let cli_inputs = cli.get("inputs").filter(|n| n.is_map());
    let cli_outputs = cli.get("outputs").filter(|n| n.is_map());
    if let Some(cli_inputs) = cli_inputs {
        let declared: Vec<&str> = cli_inputs
            .entries()
            .filter_map(|(k, _)| k.as_str())
            .collect();
        let mut scratch = Vec::with_capacity(8);
        let typed = typed_inputs(cli_inputs, rejected);
        for job in jobs(root) {
            check_job_inputs(
                &job,
                cli_inputs,
                &typed,
                &declared,
                rejected,
                &mut scratch,
                &mut out,
            );
        }
        names::cli_inputs(cli_inputs, jobs(root).next().is_some(), warnings, &mut out);
    }
    if let Some(cli_outputs) = cli_outputs {
        let declared: Vec<&str> = cli_outputs
            .entries()
            .filter_map(|(k, _)| k.as_str())
            .collect();
        let mut scratch = Vec::with_capacity(8);
        for job in jobs(root) {
            check_job_outputs(
                &job,
                cli_outputs,
                &declared,
                rejected,
                &mut scratch,
                &mut out,
            );
        }
        let any_outputs = jobs(root).any(|j| j.outputs.is_some());
        names::cli_outputs(cli_outputs, any_outputs, rejected, warnings, &mut out);
    }
    out
}

/// A cli input the schema accepted, with its parsed type (computed once, used for every job).
struct CliInput<'t> {
    name: &'t str,
    ty: InputType<'t>,
    declared_as: &'t str,
}

fn typed_inputs<'t>(cli_inputs: NodeRef<'t>, rejected: &Rejected) -> Vec<CliInput<'t>> {
    cli_inputs
        .entries()
        .filter_map(|(key, desc)| {
            let name = key.as_str().filter(|k| pattern(k))?;
            let declared_as = desc.get("type").and_then(NodeRef::as_str)?;
            let ty = parse_input_type(declared_as)?;
            let cli_segs = [Seg::Key("cli"), Seg::Key("inputs"), Seg::Key(name)];
            (!rejected.touches(&cli_segs)).then_some(CliInput {
                name,
                ty,
                declared_as,
            })
        })
        .collect()
}

fn check_job_inputs<'t>(
    job: &Job<'t>,
    cli_inputs: NodeRef<'t>,
    typed: &[CliInput<'t>],
    declared: &[&str],
    rejected: &Rejected,
    segs: &mut Vec<Seg<'t>>,
    out: &mut Vec<Diagnostic>,
) {
    let Some(inputs) = job.inputs.filter(|i| i.is_map()) else {
        return;
    };
    job.base(segs, "inputs");
    let base = segs.len();
    for (key, _) in inputs.entries() {
        let Some(name) = key.as_str() else { continue };
        if cli_inputs.get(name).is_some() {
            continue;
        }
        segs.truncate(base);
        segs.push(Seg::Key(name));
        if rejected.touches(segs) {
            continue;
        }
        let hint = match path::did_you_mean(name, declared) {
            Some(close) => format!("did you mean `{close}`? declare it in `cli.inputs` otherwise"),
            None => "declare it in `cli.inputs`, or remove it".to_owned(),
        };
        out.push(
            error(
                format!(
                    "input {} is not declared in `cli.inputs`",
                    path::quote(name)
                ),
                key,
                segs,
            )
            .hint(hint),
        );
    }
    for &CliInput {
        name,
        ty,
        declared_as,
    } in typed
    {
        segs.truncate(base);
        segs.push(Seg::Key(name));
        if rejected.touches(segs) {
            continue;
        }
        let Some(value) = inputs.get(name) else {
            if !ty.optional {
                out.push(
                    error(
                        format!("required input {} is missing", path::quote(name)),
                        inputs,
                        segs.get(..base).unwrap_or_default(),
                    )
                    .hint(format!(
                        "give it a value, or declare it optional in `cli.inputs` (`{declared_as}?`)"
                    )),
                );
            }
            continue;
        };
        values::check_value(name, ty, value, segs, out);
    }
}

fn check_job_outputs<'t>(
    job: &Job<'t>,
    cli_outputs: NodeRef<'t>,
    declared: &[&str],
    rejected: &Rejected,
    segs: &mut Vec<Seg<'t>>,
    out: &mut Vec<Diagnostic>,
) {
    let Some(outputs) = job.outputs.filter(|o| o.is_map()) else {
        return;
    };
    job.base(segs, "outputs");
    let base = segs.len();
    for (key, value) in outputs.entries() {
        let Some(name) = key.as_str() else { continue };
        segs.truncate(base);
        segs.push(Seg::Key(name));
        let Some(desc) = cli_outputs.get(name) else {
            if rejected.touches(segs) {
                continue;
            }
            let hint = match path::did_you_mean(name, declared) {
                Some(close) => {
                    format!("did you mean `{close}`? declare it in `cli.outputs` otherwise")
                }
                None => "declare it in `cli.outputs`, or remove it".to_owned(),
            };
            out.push(
                error(
                    format!(
                        "output {} is not declared in `cli.outputs`",
                        path::quote(name)
                    ),
                    key,
                    segs,
                )
                .hint(hint),
            );
            continue;
        };
        let cli_segs = [Seg::Key("cli"), Seg::Key("outputs"), Seg::Key(name)];
        if rejected.touches(&cli_segs) || rejected.touches(segs) {
            continue;
        }
        let Some(base_type) = desc
            .get("type")
            .and_then(NodeRef::as_str)
            .and_then(parse_output_type)
        else {
            continue;
        };
        if let Some((_, class)) = value.get_entry("class")
            && class.as_str() != Some(base_type)
        {
            segs.push(Seg::Key("class"));
            out.push(
                error(
                    format!(
                        "output {} is declared as `{base_type}`, but its `class` is {}",
                        path::quote(name),
                        path::quote(class.text())
                    ),
                    class,
                    segs,
                )
                .hint(format!(
                    "use `class: {base_type}` or change the type in `cli.outputs`"
                )),
            );
            segs.pop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejected_values_are_found_above_at_and_below() {
        let rejected = Rejected::new(vec![
            "/batches/2/inputs/text".to_owned(),
            "/cli/inputs/a-b".to_owned(),
        ]);
        let touches = |segs: &[Seg<'_>]| rejected.touches(segs);
        let batch = |i| [Seg::Key("batches"), Seg::Index(i), Seg::Key("inputs")];
        assert!(touches(&batch(2)));
        assert!(!touches(&batch(1)));
        assert!(touches(&[
            Seg::Key("batches"),
            Seg::Index(2),
            Seg::Key("inputs"),
            Seg::Key("text"),
            Seg::Index(0)
        ]));
        assert!(!touches(&[
            Seg::Key("cli"),
            Seg::Key("inputs"),
            Seg::Key("a")
        ]));
        assert!(touches(&[Seg::Key("cli")]));
        assert!(Rejected::new(vec![String::new()]).touches(&[Seg::Key("x")]));
        assert!(!Rejected::new(Vec::new()).touches(&[]));
    }

    #[test]
    fn types_parse_as_red_val_does() {
        let t = parse_input_type("string[]?").unwrap();
        assert!(t.array && t.optional && t.base == "string");
        assert!(parse_input_type("string?[]").is_none());
        assert!(parse_input_type("integer").is_none());
        assert_eq!(parse_output_type("File?"), Some("File"));
        assert_eq!(parse_output_type("stdout?"), None);
        assert!(pattern("text\n") && !pattern("text\n\n") && !pattern("my key"));
    }
}
