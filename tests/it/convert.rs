//! `red convert format|batches|cwl`: round trips on every fixture, files written, errors.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use red::convert::{self, Format, Value};

use crate::support::{Red, Run};

fn fixtures(folder: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(folder);
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| !path.ends_with("EXPECTED.tsv"))
        .collect();
    files.sort();
    files
}

fn fixture(folder: &str, name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(folder)
        .join(name)
}

fn stderr(output: &Run) -> String {
    output.stderr.clone()
}

fn stdout(output: &Run) -> String {
    output.stdout.clone()
}

/// YAML → JSON → YAML gives the same tree and the same YAML text, for every corpus file.
#[test]
fn every_fixture_round_trips() {
    let mut checked = 0;
    // The shipped examples too, once the project has them.
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let examples: Vec<PathBuf> = std::fs::read_dir(examples)
        .map(|entries| {
            entries
                .map(|entry| entry.unwrap().path())
                .filter(|path| {
                    path.extension()
                        .is_some_and(|e| e == "yml" || e == "yaml" || e == "json")
                })
                .collect()
        })
        .unwrap_or_default();
    for path in fixtures("convert")
        .into_iter()
        .chain(fixtures("upgrade"))
        .chain(examples)
    {
        let text = std::fs::read_to_string(&path).unwrap();
        let tree = red::parse::tree(&text).unwrap();
        let original = Value::from_node(tree.root()).unwrap();
        let yaml = convert::format(&tree, Format::Yaml).unwrap();
        let json = convert::format(&tree, Format::Json { indent: 4 }).unwrap();
        assert!(
            serde_json::from_str::<serde_json::Value>(&json).is_ok(),
            "{}: not JSON",
            path.display()
        );
        for (name, text) in [("yaml", &yaml), ("json", &json)] {
            let again = red::parse::tree(text).unwrap();
            assert_eq!(
                Value::from_node(again.root()).unwrap(),
                original,
                "{}: the {name} output reads back differently",
                path.display()
            );
        }
        let from_json = red::parse::tree(&json).unwrap();
        assert_eq!(convert::format(&from_json, Format::Yaml).unwrap(), yaml);
        checked += 1;
    }
    assert!(checked > 180, "only {checked} fixtures");
}

#[test]
fn format_keeps_order_and_numbers() {
    let input = "z: 1.50\na: 0x1F\nt: 2020-01-01\nn: '010'\ns: |\n  two\n  lines\n";
    let output = Red::new()
        .args(["convert", "format", "--to", "json", "-"])
        .stdin(input.as_bytes())
        .run();
    assert_eq!(output.code, 0, "{}", stderr(&output));
    insta::assert_snapshot!(stdout(&output), @r#"
    {
      "z": 1.50,
      "a": 31,
      "t": "2020-01-01",
      "n": "010",
      "s": "two\nlines\n"
    }
    "#);
    let back = Red::new()
        .args(["convert", "format", "--to", "yaml", "-"])
        .stdin(stdout(&output).as_bytes())
        .run();
    insta::assert_snapshot!(stdout(&back), @r"
    z: 1.50
    a: 31
    t: '2020-01-01'
    n: '010'
    s: |
      two
      lines
    ");
}

#[test]
fn format_writes_the_output_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.json");
    let output = Red::new()
        .args([
            "convert",
            "format",
            "--to",
            "json",
            "--indent",
            "0",
            fixture(
                "upgrade",
                "curious-containers__red-guide-vagrant__grepwrap__278c6fcc.red.yml",
            )
            .to_str()
            .unwrap(),
            "-o",
            out.to_str().unwrap(),
        ])
        .run();
    assert_eq!(output.code, 0, "{}", stderr(&output));
    assert!(stdout(&output).is_empty());
    let text = std::fs::read_to_string(&out).unwrap();
    assert_eq!(text.lines().count(), 1);
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(value["redVersion"], "8");
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(names.len(), 1, "a temporary file was left behind");
}

#[test]
fn infinity_is_refused_with_its_location() {
    let output = Red::new()
        .args(["convert", "format", "--to", "json", "-"])
        .stdin("a:\n  b: [1, -.inf]\n".as_bytes())
        .run();
    assert_eq!(output.code, 1);
    insta::assert_snapshot!(stderr(&output), @r"
    error[convert]: the number `-.inf` cannot be written as JSON
     --> <stdin>:2:10
      |
    2 |   b: [1, -.inf]
      |          ^
      |
    note: at `/a/b/1`
    help: JSON has no infinity or NaN; write the value as a string, or keep the file in YAML
    ");
}

#[test]
fn missing_and_broken_files() {
    let output = Red::new()
        .args(["convert", "format", "--to", "json", "/nonexistent/red.yml"])
        .run();
    assert_eq!(output.code, 2);
    assert!(stderr(&output).contains("cannot read the file"));
    let output = Red::new()
        .args(["convert", "format", "--to", "yaml", "-"])
        .stdin("a: [1\n".as_bytes())
        .run();
    assert_eq!(output.code, 1);
    assert!(stderr(&output).contains("<stdin>:"), "{}", stderr(&output));
    let output = Red::new()
        .args(["convert", "format", "-"])
        .stdin("a: 1\n".as_bytes())
        .run();
    assert_eq!(output.code, 2, "--to is required");
}

const BATCHES: &str = "\
redVersion: '9'
doc: experiment
cli:
  cwlVersion: v1.0
  class: CommandLineTool
  baseCommand: echo
  inputs:
    text: {type: string, inputBinding: {position: 0}}
  outputs: {}
batches:
- inputs: {text: hello}
  doc: first batch
- inputs: {text: '010'}
  outputs: {}
container:
  engine: docker
  settings: {image: {url: 'busybox:1'}}
";

#[test]
fn batches_one_file_each() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("jobs");
    let output = Red::new()
        .args(["convert", "batches", "-", "-o", out.to_str().unwrap()])
        .stdin(BATCHES.as_bytes())
        .run();
    assert_eq!(output.code, 0, "{}", stderr(&output));
    let mut names: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["batch_0.yml", "batch_1.yml"]);
    insta::assert_snapshot!(std::fs::read_to_string(out.join("batch_0.yml")).unwrap(), @r"
    redVersion: '9'
    doc: |-
      experiment

      first batch
    cli:
      cwlVersion: v1.0
      class: CommandLineTool
      baseCommand: echo
      inputs:
        text:
          type: string
          inputBinding:
            position: 0
      outputs: {}
    inputs:
      text: hello
    outputs: {}
    container:
      engine: docker
      settings:
        image:
          url: busybox:1
    ");
    // Into an existing directory, as JSON.
    let output = Red::new()
        .args([
            "convert",
            "batches",
            "-",
            "-o",
            out.to_str().unwrap(),
            "--to",
            "json",
        ])
        .stdin(BATCHES.as_bytes())
        .run();
    assert_eq!(output.code, 0, "{}", stderr(&output));
    let second: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("batch_1.json")).unwrap()).unwrap();
    assert_eq!(second["inputs"]["text"], "010");
    assert_eq!(second["doc"], "experiment");
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 4);
}

#[test]
fn batches_of_every_fixture_are_single_job_files() {
    let dir = tempfile::tempdir().unwrap();
    let mut files = 0;
    for path in fixtures("convert") {
        let text = std::fs::read_to_string(&path).unwrap();
        let tree = red::parse::tree(&text).unwrap();
        let document = Value::from_node(tree.root()).unwrap();
        let Ok(list) = convert::batches::list(&document) else {
            continue;
        };
        for (i, batch) in list.iter().enumerate() {
            let job = convert::batches::job(&document, batch);
            assert!(job.get("batches").is_none());
            assert_eq!(
                job.get("inputs"),
                batch.get("inputs"),
                "{}#{i}",
                path.display()
            );
            let text = convert::emit(&job, Format::Yaml).unwrap();
            std::fs::write(dir.path().join(format!("{files}.yml")), text).unwrap();
            files += 1;
        }
    }
    assert!(files > 50, "{files}");
}

#[test]
fn batches_needs_batches() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("jobs");
    let single = BATCHES.replace("batches:\n- inputs: {text: hello}\n  doc: first batch\n- inputs: {text: '010'}\n  outputs: {}\n", "inputs: {text: hi}\n");
    let output = Red::new()
        .args(["convert", "batches", "-", "-o", out.to_str().unwrap()])
        .stdin(single.as_bytes())
        .run();
    assert_eq!(output.code, 1);
    assert!(
        stderr(&output).contains("has no `batches`"),
        "{}",
        stderr(&output)
    );
    assert!(!out.exists());
}

#[test]
fn batches_refuses_invalid_files() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("jobs");
    let output = Red::new()
        .args(["convert", "batches", "-", "-o", out.to_str().unwrap()])
        .stdin("- 1\n".as_bytes())
        .run();
    assert_eq!(output.code, 1);
    assert!(
        stderr(&output).contains("nothing was written"),
        "{}",
        stderr(&output)
    );
    assert!(!out.exists());
}

#[test]
fn cwl_tool_and_jobs() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("cwl");
    let output = Red::new()
        .args(["convert", "cwl", "-", "-o", out.to_str().unwrap()])
        .stdin(BATCHES.as_bytes())
        .run();
    assert_eq!(output.code, 0, "{}", stderr(&output));
    insta::assert_snapshot!(std::fs::read_to_string(out.join("cli.cwl")).unwrap(), @r"
    cwlVersion: v1.0
    class: CommandLineTool
    baseCommand: echo
    inputs:
      text:
        type: string
        inputBinding:
          position: 0
    outputs: {}
    hints:
      DockerRequirement:
        dockerPull: busybox:1
    ");
    assert_eq!(
        std::fs::read_to_string(out.join("job_1.yml")).unwrap(),
        "text: '010'\n"
    );
}

#[test]
fn cwl_of_a_single_job_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = fixture(
        "convert",
        "curious-containers__curious-containers__cc-faice__tests__red_files__input_output__24b134d7.red",
    );
    let output = Red::new()
        .args([
            "convert",
            "cwl",
            path.to_str().unwrap(),
            "-o",
            dir.path().to_str().unwrap(),
        ])
        .run();
    assert_eq!(output.code, 0, "{}", stderr(&output));
    let job = std::fs::read_to_string(dir.path().join("job.yml")).unwrap();
    assert!(job.contains("class: File\n"), "{job}");
    assert!(job.contains("location: "), "{job}");
    assert!(!job.contains("connector"), "{job}");
}

#[test]
fn unwritable_outputs_are_io_errors_and_leave_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, "x").unwrap();
    let target = blocker.join("out.json");
    let output = Red::new()
        .args([
            "convert",
            "format",
            "--to",
            "json",
            "-",
            "-o",
            target.to_str().unwrap(),
        ])
        .stdin("a: 1\n".as_bytes())
        .run();
    assert_eq!(output.code, 2);
    assert!(
        stderr(&output).contains("cannot write"),
        "{}",
        stderr(&output)
    );
    let jobs = blocker.join("jobs");
    let output = Red::new()
        .args(["convert", "batches", "-", "-o", jobs.to_str().unwrap()])
        .stdin(BATCHES.as_bytes())
        .run();
    assert_eq!(output.code, 2);
    assert!(
        stderr(&output).contains("cannot create the directory"),
        "{}",
        stderr(&output)
    );
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(left.len(), 1, "{left:?}");
}
