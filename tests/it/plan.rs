//! `plan`: argv agreement with cwltool and cc-core on the CWL corpus, output collection on the
//! output corpus, our own trap cases, and `red plan` snapshots.

#![allow(clippy::unwrap_used)] // a test that cannot read its fixtures should fail loudly

use std::path::{Path, PathBuf};
use std::process::Command;

use red::plan::argv::{self, InputPaths, Mode};
use red::plan::outputs::{self, DirListing};
use red::tree::Tree;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cwl")
}

fn tree(path: &Path) -> Tree {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    red::parse::tree(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// (case, agreement) rows of a corpus `CASES.tsv`.
fn cases(corpus: &str) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(fixtures().join(corpus).join("CASES.tsv")).unwrap();
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let mut cols = line.split('\t');
            Some((cols.next()?.to_owned(), cols.nth(1)?.to_owned()))
        })
        .collect()
}

fn expected_argv(path: &Path) -> Option<Vec<String>> {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn run_argv(case: &Path, mode: Mode) -> Result<Vec<String>, argv::ArgvError> {
    let tool = tree(&case.join("tool.yml"));
    let job = tree(&case.join("job.yml"));
    let paths = InputPaths::from_cwl_job(job.root());
    argv::build(tool.root(), job.root(), &paths, mode)
}

/// Compare one mode over the whole argv corpus; returns (agreeing, total, failures).
fn agreement(mode: Mode) -> (usize, usize, Vec<String>) {
    let mut failures = Vec::new();
    let all = cases("argv");
    for (case, agreement) in &all {
        let dir = fixtures().join("argv").join(case);
        let expected = match mode {
            // Outside the RED subset cwltool still builds a command line; red refuses the
            // file as red-val does, so cwl mode must refuse it too.
            Mode::Cwl if agreement == "cc-core-rejects" => None,
            Mode::Cwl => expected_argv(&dir.join("expected.json")),
            Mode::Cc => expected_argv(&dir.join("expected.cc-core.json")),
        };
        match (expected, run_argv(&dir, mode)) {
            (Some(want), Ok(got)) if want == got => {}
            (None, Err(error)) if error.at.line > 0 => {}
            (None, Err(error)) => {
                failures.push(format!("{case}: refused without a location: {error}"))
            }
            (want, got) => failures.push(format!("{case}: expected {want:?}, got {got:?}")),
        }
    }
    (all.len() - failures.len(), all.len(), failures)
}

#[test]
fn argv_corpus_cwl_mode_matches_cwltool() {
    let (ok, total, failures) = agreement(Mode::Cwl);
    println!("argv cwl {ok}/{total}");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(total, 90);
}

#[test]
fn argv_corpus_cc_mode_matches_cc_core() {
    let (ok, total, failures) = agreement(Mode::Cc);
    println!("argv cc {ok}/{total}");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(total, 90);
}

/// What red collects for an output case: `Ok([(key, relpath or null)])` or `Err(message)`.
type Outcome = Result<Vec<(String, Option<String>)>, String>;

/// Run an output case for real: the tool in a fresh working directory, then collection.
fn run_outputs_case(case: &Path) -> Outcome {
    let tool = tree(&case.join("tool.yml"));
    let job = tree(&case.join("job.yml"));
    let paths = InputPaths::from_cwl_job(job.root());
    let mode = Mode::Cwl;
    let wanted = red::plan::wanted(
        tool.root().get("cli").unwrap_or(tool.root()),
        job.root(),
        &paths,
        mode,
    )
    .map_err(|e| format!("refused: {e}"))?;
    let argv = argv::build(tool.root(), job.root(), &paths, mode).map_err(|e| e.to_string())?;
    let scratch = tempfile::tempdir().unwrap();
    let workdir = scratch.path().join("outputs");
    std::fs::create_dir(&workdir).unwrap();
    let capture = |name: Option<&str>, fallback: &str| {
        let path = match name {
            Some(name) => workdir.join(name),
            None => scratch.path().join(fallback),
        };
        std::fs::File::create(path).unwrap()
    };
    let status = Command::new(&argv[0])
        .args(&argv[1..])
        .current_dir(&workdir)
        .stdout(capture(
            tool.root().get("stdout").and_then(|n| n.as_str()),
            "stdout",
        ))
        .stderr(capture(
            tool.root().get("stderr").and_then(|n| n.as_str()),
            "stderr",
        ))
        .status()
        .unwrap();
    if !status.success() {
        return Err(format!("exit status {status}"));
    }
    let collected =
        outputs::collect(&wanted, &DirListing::new(&workdir), &[]).map_err(|e| e.to_string())?;
    let mut pairs: Vec<(String, Option<String>)> =
        collected.into_iter().map(|c| (c.name, c.path)).collect();
    pairs.sort();
    Ok(pairs)
}

fn expected_outcome(path: &Path) -> Outcome {
    let value: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    if value["status"] != "ok" {
        return Err(value["status"].to_string());
    }
    let mut pairs: Vec<(String, Option<String>)> = value["outputs"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v["relpath"].as_str().map(str::to_owned)))
        .collect();
    pairs.sort();
    Ok(pairs)
}

#[test]
fn outputs_corpus_collects_as_documented() {
    let all = cases("outputs");
    let mut failures = Vec::new();
    for (case, _) in &all {
        let dir = fixtures().join("outputs").join(case);
        // red follows cwltool, except where docs/cli-semantics.md decides otherwise:
        let expected = match case.as_str() {
            // a `..` glob is refused (CWL v1.2), although both references accept it
            "out_parent_dir" => Err("refused".to_owned()),
            // wrong-kind matches are dropped before counting, as cc-core does
            "out_file_glob_matches_file_and_dir" => {
                expected_outcome(&dir.join("expected.cc-core.json"))
            }
            _ => expected_outcome(&dir.join("expected.json")),
        };
        let got = run_outputs_case(&dir);
        let agree = match (&expected, &got) {
            (Ok(want), Ok(got)) => want == got,
            (Err(want), Err(got)) => want != "refused" || got.starts_with("refused"),
            _ => false,
        };
        if !agree {
            failures.push(format!("{case}: expected {expected:?}, got {got:?}"));
        }
    }
    println!("outputs {}/{}", all.len() - failures.len(), all.len());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(all.len(), 19);
}
