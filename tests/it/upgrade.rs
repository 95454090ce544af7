//! `red upgrade`: every RED 2–8 file of the corpus either becomes a RED 9 file or is refused
//! with its reason (`tests/fixtures/upgrade/EXPECTED.tsv`).

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use red::convert::{self, Format};
use red::upgrade::{self, Error};

use crate::support::Red;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/upgrade")
}

fn schema(name: &str) -> jsonschema::Validator {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("schemas")
        .join(name);
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    jsonschema::draft4::new(&schema).unwrap()
}

/// Schema errors of an upgraded document: the RED 9 document schema and the engine settings.
fn schema_errors(json: &serde_json::Value) -> Vec<String> {
    let document = schema("red.json");
    let mut errors: Vec<String> = document
        .iter_errors(json)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect();
    for (section, prefix) in [
        ("container", "red-engine-container-"),
        ("execution", "red-engine-execution-"),
    ] {
        let Some(engine) = json.get(section) else {
            continue;
        };
        let name = engine["engine"].as_str().unwrap_or_default();
        let validator = schema(&format!("{prefix}{name}.json"));
        errors.extend(
            validator
                .iter_errors(&engine["settings"])
                .map(|e| format!("/{section}/settings{}: {e}", e.instance_path())),
        );
    }
    errors
}

#[test]
fn every_old_corpus_file_is_upgraded_or_refused_with_its_reason() {
    let expected = std::fs::read_to_string(dir().join("EXPECTED.tsv")).unwrap();
    let mut counts = std::collections::BTreeMap::<&str, usize>::new();
    for line in expected.lines().skip(1) {
        let fields: Vec<&str> = line.split('\t').collect();
        let [file, _version, outcome] = fields[..] else {
            panic!("bad line {line:?}");
        };
        *counts.entry(outcome).or_default() += 1;
        let text = std::fs::read_to_string(dir().join(file)).unwrap();
        let tree = red::parse::tree(&text).unwrap();
        let result = upgrade::document(&tree);
        match (outcome, result) {
            ("valid" | "still-invalid", Ok(upgraded)) => {
                assert!(!upgraded.notes.is_empty(), "{file}");
                assert!(upgraded.notes.iter().any(|n| n.pointer == "/redVersion"));
                let json = convert::emit(&upgraded.value, Format::Json { indent: 0 }).unwrap();
                let value: serde_json::Value = serde_json::from_str(&json).unwrap();
                let errors = schema_errors(&value);
                // `red::validate` applies the full RED 9 rules (schemas and semantics).
                let source = red::source::SourceFile::new(
                    red::source::Origin::Memory(file.to_owned()),
                    convert::emit(&upgraded.value, Format::Yaml).unwrap(),
                );
                let parsed = red::load::text(source).unwrap();
                let verdict = red::validate::document(parsed, &Default::default());
                if outcome == "valid" {
                    assert!(errors.is_empty(), "{file}: {errors:#?}");
                    assert!(
                        verdict.is_ok(),
                        "{file}: {:#?}",
                        verdict.err().map(|e| e.diagnostics)
                    );
                } else {
                    // Problems of the file itself that no mechanical rewrite can fix (an
                    // absolute output glob, a `position` that is a string).
                    assert_eq!(value["redVersion"], "9", "{file}");
                }
            }
            ("refused:python-connector", Err(error @ Error::PythonConnector { .. })) => {
                assert!(error.location().is_some(), "{file}");
                assert!(error.hint().is_some());
            }
            ("refused:no-container", Err(Error::NoContainer))
            | ("refused:no-job", Err(Error::NoJob)) => {}
            ("refused:unsupported-version", Err(error @ Error::Unsupported { .. })) => {
                assert!(error.location().is_some(), "{file}");
                assert!(error.hint().unwrap().contains("RED 2 and 3"), "{file}");
            }
            (outcome, result) => panic!(
                "{file}: expected {outcome}, got {:?}",
                result.map(|u| u.notes)
            ),
        }
    }
    assert_eq!(counts.values().sum::<usize>(), 112);
    assert_eq!(counts.get("valid"), Some(&66), "{counts:?}");
}

#[test]
fn upgrade_prints_notes_and_writes_red9() {
    let file = dir().join("deep-projects__pcam-with-dvc-cc__cc_execution_file__869fa62e.red.yml");
    let out = tempfile::tempdir().unwrap();
    let target = out.path().join("red9.yml");
    let output = Red::new()
        .args([
            "upgrade",
            file.to_str().unwrap(),
            "-o",
            target.to_str().unwrap(),
        ])
        .run();
    assert_eq!(output.code, 0);
    assert!(output.stdout.is_empty());
    let stderr = output.stderr;
    let stderr = stderr.replace(file.to_str().unwrap(), "[FILE]");
    insta::assert_snapshot!(stderr, @r#"
    note: upgraded `[FILE]` from RED 7 to RED 9 (4 change(s)):
      [FILE]:70:11: replaced engine `nvidia-docker` by `docker`: RED 9 requests NVIDIA GPUs in the docker settings
      [FILE]:72:11: `gpus: {count}` became `gpus: {vendor: nvidia, count}`
      [FILE]:82:20: removed `retryIfFailed`: RED 9 agencies decide retries themselves; disable them when submitting instead (it was `false`: submit with retries disabled to keep that behaviour)
      [FILE]:83:13: set `redVersion` to "9" (was `7`)
    "#);
    let text = std::fs::read_to_string(&target).unwrap();
    let tail: String = text
        .lines()
        .skip_while(|l| !l.starts_with("container:"))
        .collect::<Vec<_>>()
        .join("\n");
    insta::assert_snapshot!(tail, @r"
    container:
      engine: docker
      settings:
        gpus:
          vendor: nvidia
          count: 1
        image:
          url: dckr.f4.htw-berlin.de/deepprojects/dvc_repro_starter_tf2.alpha:dev
          auth:
            password: '{{cbmi_password}}'
            username: '{{cbmi_username}}'
        ram: 131072
    execution:
      engine: ccagency
      settings:
        access:
          auth:
            password: '{{agency_password}}'
            username: '{{agency_username}}'
          url: https://agency.f4.htw-berlin.de/cc
        batchConcurrencyLimit: 12
    redVersion: '9'
    ");
}

#[test]
fn upgrade_refusals_are_located() {
    let file = dir().join("somnonetz__cc-tds-app__red__1c2c9c03.yml");
    let output = Red::new().args(["upgrade", file.to_str().unwrap()]).run();
    assert_eq!(output.code, 1);
    assert!(output.stdout.is_empty());
    let stderr = output.stderr;
    let stderr = stderr.replace(file.to_str().unwrap(), "[FILE]");
    insta::assert_snapshot!(stderr);

    let file = dir().join("curious-containers__red-guide-vagrant__red-docker__9abb3c37.yml");
    let output = Red::new().args(["upgrade", file.to_str().unwrap()]).run();
    assert_eq!(output.code, 1);
    let stderr = output.stderr;
    assert!(
        stderr.contains("RED 2 files cannot be upgraded automatically"),
        "{stderr}"
    );
    assert!(stderr.contains(":1:"), "{stderr}");
}

#[test]
fn json_in_json_out_and_red9_unchanged() {
    let out = tempfile::tempdir().unwrap();
    let file = dir().join("curious-containers__curious-containers.github.io__3060-cc-agency-api__codeblock-red7__82cb13dd.red.yml");
    let json = out.path().join("in.json");
    let output = Red::new()
        .args([
            "convert",
            "format",
            "--to",
            "json",
            file.to_str().unwrap(),
            "-o",
            json.to_str().unwrap(),
        ])
        .run();
    assert_eq!(output.code, 0);
    let output = Red::new().args(["upgrade", json.to_str().unwrap()]).run();
    assert_eq!(output.code, 0, "{}", output.stderr);
    let value: serde_json::Value = serde_json::from_str(&output.stdout).unwrap();
    assert_eq!(value["redVersion"], "9");
    assert!(
        value["execution"]["settings"]
            .get("retryIfFailed")
            .is_none()
    );
    // Upgrading the result again changes nothing.
    let red9 = out.path().join("red9.json");
    std::fs::write(&red9, &output.stdout).unwrap();
    let again = Red::new().args(["upgrade", red9.to_str().unwrap()]).run();
    assert_eq!(again.code, 0);
    assert_eq!(again.stdout, output.stdout);
    assert!(again.stderr.contains("nothing to change"));
}
