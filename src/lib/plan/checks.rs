//! Checks that read a document the way planning does, without planning a run: whether its
//! command line depends on the tool that runs it ([`lint`], code `argv-mode`, for `red
//! validate` and `red plan`), and whether two outputs would be delivered to one path
//! ([`collisions`], code `output-collision`, which validation reports).

use super::argv::{self, ArgvError, InputPaths, Mode};
use super::stage::{Ids, stage};
use super::{Job, PlanError, Problem, jobs, outputs, tool, want};
use crate::diagnostic::Diagnostic;
use crate::source::Location;
use crate::tree::{NodeRef, Tree, escape_pointer_segment};

/// Warnings (code `argv-mode`) for a document whose argv differs between `cwl` and `cc` mode.
///
/// One warning for the first batch that differs, located at the `cli` section, with the number
/// of other batches that differ too in the message and both argvs in its notes. Documents that cannot be
/// planned give no warning: validation reports their errors.
#[must_use]
pub fn lint(tree: &Tree) -> Vec<Diagnostic> {
    let root = tree.root();
    let Some(cli) = root.get("cli") else {
        return Vec::new();
    };
    let Ok(tool) = tool::read(cli) else {
        return Vec::new();
    };
    let Ok(jobs) = jobs(tree) else {
        return Vec::new();
    };
    let mut first: Option<(usize, String, String, &'static str)> = None;
    let mut differing = 0usize;
    for job in jobs.iter() {
        let mut ids = Ids::new(true);
        let Ok((paths, _)) = stage(&tool, &job, &mut ids) else {
            continue;
        };
        let cwl = argv::build_for(&tool, job.inputs, &paths, Mode::Cwl);
        let cc = argv::build_for(&tool, job.inputs, &paths, Mode::Cc);
        if cwl == cc || (cwl.is_err() && cc.is_err()) {
            continue;
        }
        differing += 1;
        if first.is_none() {
            first = Some((
                job.index,
                describe(&cwl),
                describe(&cc),
                lint_hint(&cwl, &cc),
            ));
        }
    }
    let Some((index, cwl, cc, hint)) = first else {
        return Vec::new();
    };
    let others = match differing - 1 {
        0 => String::new(),
        1 => " (and in 1 other batch)".into(),
        n => format!(" (and in {n} other batches)"),
    };
    let batched = root.get("batches").is_some();
    vec![
        Diagnostic::warning(
            "argv-mode",
            format!("the argv differs between `cwl` and `cc` semantics{others}"),
        )
        .at(cli.span().start)
        .pointer("/cli")
        .batch(batched.then_some(index))
        .note(format!("cwl: {cwl}"))
        .note(format!("cc:  {cc}"))
        .hint(hint),
    ]
}

/// What to change so both tools build the same argv, from how the two argvs differ; the last
/// resort, pinning one tool's rules, is the `--cli-compat` flag of validate, plan and exec.
fn lint_hint(
    cwl: &Result<Vec<String>, ArgvError>,
    cc: &Result<Vec<String>, ArgvError>,
) -> &'static str {
    let (Ok(cwl), Ok(cc)) = (cwl, cc) else {
        return "one of the tools refuses this command line (docs/cli-semantics.md); or pin \
                the rules (`red exec --cli-compat cwl` or `cc`, and the same flag for `red \
                validate`)";
    };
    let same_number = |a: &String, b: &String| {
        a == b || matches!((a.parse::<f64>(), b.parse::<f64>()), (Ok(x), Ok(y)) if x == y)
    };
    if cwl.len() == cc.len() && cwl.iter().zip(cc).all(|(a, b)| same_number(a, b)) {
        return "write the number as Python prints it (`0.1`, `1e-05`), or pin the rules (`red \
                exec --cli-compat cwl` or `cc`, and the same flag for `red validate`)";
    }
    let (mut sorted_cwl, mut sorted_cc) = (cwl.clone(), cc.clone());
    sorted_cwl.sort();
    sorted_cc.sort();
    if sorted_cwl == sorted_cc {
        return "give prefixed inputs positions after the unprefixed ones and declare inputs in \
                position order (docs/cli-semantics.md), or pin the rules (`red exec --cli-compat \
                cwl` or `cc`, and the same flag for `red validate`)";
    }
    "give prefixed inputs positions after the unprefixed ones and write numbers as Python prints \
     them (docs/cli-semantics.md), or pin the rules (`red exec --cli-compat cwl` or `cc`, and the \
     same flag for `red validate`)"
}

fn describe(result: &Result<Vec<String>, ArgvError>) -> String {
    match result {
        Ok(argv) => serde_json::to_string(argv).unwrap_or_default(),
        Err(error) => format!("refused: {error}"),
    }
}

/// Errors (code `output-collision`) for outputs that would be delivered to one path of the
/// outputs directory, where the names are known before the run (globs without a wildcard in
/// their last part, stream file names): the later would replace the earlier. One error per
/// pair of outputs, at the later one, for the first batch where it happens. Files with output
/// connectors deliver nothing into an outputs directory and get none; documents that cannot be
/// planned get none either (validation or planning reports them).
#[must_use]
pub fn collisions(tree: &Tree) -> Vec<Diagnostic> {
    let root = tree.root();
    let Some(cli) = root.get("cli") else {
        return Vec::new();
    };
    let (Ok(tool), Ok(jobs)) = (tool::read(cli), jobs(tree)) else {
        return Vec::new();
    };
    if jobs
        .iter()
        .any(|job| job.outputs.is_some_and(|o| !o.is_empty()))
    {
        return Vec::new();
    }
    // Without `$(inputs…)` in a glob every batch delivers the same names.
    let per_job = tool
        .outputs
        .iter()
        .any(|o| o.glob.is_some_and(|g| g.contains("$(")));
    let mut found: Vec<((Option<usize>, usize), Diagnostic)> = Vec::new();
    for job in jobs.iter() {
        let mut ids = Ids::new(true);
        if let Ok((paths, _)) = stage(&tool, &job, &mut ids)
            && let Some((mut error, pair)) = collision(cli, &tool, &job, &paths, Mode::Cwl)
        {
            if !per_job {
                error.batch = None;
            }
            if !found.iter().any(|(seen, _)| *seen == pair) {
                found.push((pair, error.to_diagnostic()));
            }
        }
        if !per_job {
            break;
        }
    }
    found
        .into_iter()
        .map(|(_, diagnostic)| diagnostic)
        .collect()
}

/// The first output (or stream file) of a batch that would land on the name of an earlier one,
/// with the indices of both (outputs in declaration order, then the `stdout` and `stderr` files).
pub(super) fn collision(
    cli: NodeRef<'_>,
    tool: &tool::Tool<'_>,
    job: &Job<'_>,
    paths: &InputPaths,
    mode: Mode,
) -> Option<(PlanError, (Option<usize>, usize))> {
    let mut entries = Vec::with_capacity(tool.outputs.len() + 2);
    // What each entry is called in a message, where it is written, and its pointer.
    let mut owners: Vec<(String, Location, String)> = Vec::with_capacity(entries.capacity());
    for output in &tool.outputs {
        // A glob that cannot be resolved is reported by planning itself.
        let wanted = want(tool, output, job.inputs, paths, mode).ok()?;
        entries.push(outputs::Delivered::planned(&wanted.source));
        let pointer = format!("/cli/outputs/{}", escape_pointer_segment(output.name));
        let pointer = match output.kind {
            tool::OutputKind::File | tool::OutputKind::Directory => {
                format!("{pointer}/outputBinding/glob")
            }
            tool::OutputKind::Stdout | tool::OutputKind::Stderr => pointer,
        };
        owners.push((format!("output `{}`", output.name), output.at, pointer));
    }
    // A named stream file is kept in the outputs directory even when no output collects it.
    for (key, name) in [("stdout", tool.stdout), ("stderr", tool.stderr)] {
        let Some(name) = name else { continue };
        entries.push(outputs::Delivered::planned(&outputs::Source::Named(
            name.to_owned(),
        )));
        let at = cli.get(key).map_or(cli.span().start, |n| n.span().start);
        owners.push((
            format!("the `{key}` file `{name}`"),
            at,
            format!("/cli/{key}"),
        ));
    }
    let clash = outputs::clash(&entries)?;
    let (second, at, pointer) = owners.get(clash.second)?.clone();
    let message = match clash.first.and_then(|first| owners.get(first)) {
        Some((first, _, _)) => format!(
            "{second} would be delivered to `{}` in the outputs directory, where {first} is \
             delivered: one would replace the other",
            clash.name
        ),
        None => format!(
            "{second} would be delivered to `{}` in the outputs directory, which is red's \
             records directory",
            clash.name
        ),
    };
    let error = PlanError {
        problem: Box::new(Problem::Collision(message)),
        at: Some(at),
        pointer,
        batch: job.batched.then_some(job.index),
        hint: Some(
            "outputs are delivered by the last part of their path: give the files different \
             names, or collect their common directory as one Directory output"
                .into(),
        ),
    };
    Some((error, (clash.first, clash.second)))
}
