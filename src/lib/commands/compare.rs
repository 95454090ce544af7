//! `red compare RUN_A RUN_B`: compare two runs' outputs and how they ran. The work is in
//! [`crate::compare`].

use std::fmt::Write as _;
use std::path::PathBuf;

use clap::Args;

use crate::cli::args::{OutputFormat, output_format};
use crate::cli::{ExitStatus, Printer};
use crate::compare::{self, Comparison};

/// Arguments of `red compare`.
#[derive(Debug, Args)]
#[command(
    after_help = "Exit code 0 when every output is identical, 1 when one differs or is in one \
    run only, 2 when a directory is not a run's outputs directory. See docs/lock.md."
)]
pub struct CompareArgs {
    /// The first run's outputs directory (where its `.red/result.json` is, or its batches').
    pub run_a: PathBuf,
    /// The second run's outputs directory.
    pub run_b: PathBuf,
    /// Report format.
    #[arg(long, default_value = "human", value_parser = output_format(
        "What differs, one line each, on stdout",
        "One JSON document on stdout",
    ))]
    pub format: OutputFormat,
}

/// Run `red compare`.
pub fn run(args: &CompareArgs, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let comparison = compare::runs(&args.run_a, &args.run_b).map_err(|error| {
        crate::cli::usage_with_hint(
            error.to_string(),
            "name two outputs directories written by `red exec` (`outputs`, `outputs_<i>` or \
             an `--outputs` directory)",
        )
    })?;
    match args.format {
        OutputFormat::Json => printer.out_json_masked(&comparison),
        OutputFormat::Human => printer.out(&human(&comparison)),
    }
    Ok(if comparison.identical {
        ExitStatus::Success
    } else {
        ExitStatus::Failure
    })
}

fn short(sha256: &str) -> &str {
    sha256.get(..12).unwrap_or(sha256)
}

fn human(comparison: &Comparison) -> String {
    let mut text = String::new();
    for difference in &comparison.different {
        let (a, b) = (&difference.a, &difference.b);
        let _ = writeln!(
            text,
            "differs: {} ({} bytes, sha256 {}… / {} bytes, sha256 {}…)",
            difference.path,
            a.size,
            short(&a.sha256),
            b.size,
            short(&b.sha256)
        );
        if let Some(line) = &difference.first_difference {
            let shown = |l: &Option<String>| {
                l.as_ref()
                    .map_or("(end of file)".to_owned(), |l| format!("{l:?}"))
            };
            let _ = writeln!(
                text,
                "  line {}: {} / {}",
                line.line,
                shown(&line.a),
                shown(&line.b)
            );
        }
    }
    for (which, paths) in [
        ("first", &comparison.only_in_a),
        ("second", &comparison.only_in_b),
    ] {
        for path in paths {
            let _ = writeln!(text, "only in the {which} run: {path}");
        }
    }
    for difference in &comparison.setup {
        let batch = difference
            .batch
            .map(|b| format!("batch {b}: "))
            .unwrap_or_default();
        let _ = writeln!(
            text,
            "setup: {batch}{}: {} / {}",
            difference.what, difference.a, difference.b
        );
    }
    let differing =
        comparison.different.len() + comparison.only_in_a.len() + comparison.only_in_b.len();
    let _ = writeln!(
        text,
        "{}: {} output(s) identical, {differing} differ",
        if comparison.identical {
            "identical"
        } else {
            "different"
        },
        comparison.same.len()
    );
    text
}
