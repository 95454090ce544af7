//! cli keys outside the key pattern, and absolute output globs (red-val step 6).
//!
//! Such cli keys escape the schema (it only has `patternProperties` for `cli.inputs` and
//! `cli.outputs`), and the reference then crashes on them or lets them through depending on
//! their shape. The same verdicts are given here, with a located message: an input is accepted
//! only if it is optional (`type: "X?"`), an output only if its description is complete enough
//! for the glob check and, when a job has outputs, its type parses.

use super::{CODE, NAME_HINT, Rejected, at, error, parse_input_type, parse_output_type, pattern};
use crate::diagnostic::Diagnostic;
use crate::tree::NodeRef;
use crate::validate::path::{self, Seg};

/// Inputs outside the pattern: an error unless optional (and only when there are jobs).
pub(super) fn cli_inputs(
    cli_inputs: NodeRef<'_>,
    any_jobs: bool,
    warnings: bool,
    out: &mut Vec<Diagnostic>,
) {
    for (key, desc) in cli_inputs.entries() {
        let Some(name) = key.as_str().filter(|k| !pattern(k)) else {
            continue;
        };
        let accepted = desc
            .get("type")
            .and_then(NodeRef::as_str)
            .and_then(parse_input_type)
            .is_some_and(|t| t.optional);
        let segs = [Seg::Key("cli"), Seg::Key("inputs"), Seg::Key(name)];
        if !accepted && any_jobs {
            out.push(
                error(
                    format!("cli input {} is not a valid input name", path::quote(name)),
                    key,
                    &segs,
                )
                .hint(NAME_HINT),
            );
        } else if warnings {
            out.push(
                Diagnostic::warning(
                    CODE,
                    format!(
                        "cli input {} can never be given a value: it is not a valid input name",
                        path::quote(name)
                    ),
                )
                .at(key.span().start)
                .pointer(path::pointer(&segs))
                .hint(NAME_HINT),
            );
        }
    }
}

/// Outputs: the glob check for every output, the name check for those outside the pattern.
pub(super) fn cli_outputs(
    cli_outputs: NodeRef<'_>,
    any_outputs: bool,
    rejected: &Rejected,
    warnings: bool,
    out: &mut Vec<Diagnostic>,
) {
    for (key, desc) in cli_outputs.entries() {
        let Some(name) = key.as_str() else { continue };
        let segs = [Seg::Key("cli"), Seg::Key("outputs"), Seg::Key(name)];
        if pattern(name) {
            if !rejected.touches(&segs) {
                check_glob(name, desc, &segs, out);
            }
            continue;
        }
        let ty = desc.get("type");
        let stream = ty
            .and_then(NodeRef::as_str)
            .is_some_and(|t| t == "stdout" || t == "stderr");
        let glob = desc.get("outputBinding").and_then(|b| b.get("glob"));
        let glob_ok = stream
            || glob
                .and_then(NodeRef::as_str)
                .is_some_and(|g| !g.starts_with('/'));
        let type_ok = !any_outputs
            || ty
                .and_then(NodeRef::as_str)
                .and_then(parse_output_type)
                .is_some();
        if desc.is_map() && ty.is_some() && glob_ok && type_ok {
            if warnings {
                out.push(
                    Diagnostic::warning(
                        CODE,
                        format!(
                            "cli output {} is not a valid output name",
                            path::quote(name)
                        ),
                    )
                    .at(key.span().start)
                    .pointer(path::pointer(&segs))
                    .hint(NAME_HINT),
                );
            }
        } else {
            out.push(
                error(
                    format!(
                        "cli output {} is not a valid output name",
                        path::quote(name)
                    ),
                    key,
                    &segs,
                )
                .hint(NAME_HINT),
            );
        }
    }
}

fn check_glob(name: &str, desc: NodeRef<'_>, segs: &[Seg<'_>], out: &mut Vec<Diagnostic>) {
    let stream = desc
        .get("type")
        .and_then(NodeRef::as_str)
        .is_some_and(|t| t == "stdout" || t == "stderr");
    let Some(glob) = desc.get("outputBinding").and_then(|b| b.get("glob")) else {
        return;
    };
    let Some(text) = glob.as_str().filter(|_| !stream) else {
        return;
    };
    let problem = if text.starts_with('/') {
        "is an absolute path"
    } else if text.split('/').any(|segment| segment == "..") {
        "leaves the output directory through a `..` segment"
    } else {
        return;
    };
    let segs = at(segs, &[Seg::Key("outputBinding"), Seg::Key("glob")]);
    out.push(
        Diagnostic::error(
            "absolute-glob",
            format!("the glob of output {} {problem}", path::quote(name)),
        )
        .at(glob.span().start)
        .pointer(path::pointer(&segs))
        .hint(
            "globs are matched in the tool's working directory (/cc/outputs); write a relative \
             path without `..`",
        ),
    );
}
