//! `red validate` and the validator library: verdict parity with red-val 9.3 on the real corpus,
//! our own fixtures for every rule, snapshots of both output formats, agreement with the
//! `jsonschema` crate, and robustness against random input.
#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use std::path::{Path, PathBuf};

use red::diagnostic::Severity;
use red::tree::{Kind, NodeRef};
use red::validate::{self, Level, Options};

use crate::support::Red;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// Load and validate a file; `Err` holds the diagnostics of an invalid (or unloadable) file.
fn verdict(path: &Path, level: Level) -> Result<(), Vec<red::diagnostic::Diagnostic>> {
    let parsed = red::load::file(path).map_err(|e| vec![e.diagnostic])?;
    validate::document(parsed, &Options { level })
        .map(|_| ())
        .map_err(|invalid| invalid.diagnostics)
}

struct Expected {
    file: String,
    valid: bool,
    engines_ok: bool,
}

fn expected() -> Vec<Expected> {
    let tsv = std::fs::read_to_string(fixtures().join("corpus/red/EXPECTED.tsv")).unwrap();
    let mut lines = tsv.lines();
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (file, verdict, engines) = (col("file"), col("verdict"), col("engines"));
    lines
        .map(|line| {
            let cells: Vec<&str> = line.split('\t').collect();
            let engines = cells[engines];
            Expected {
                file: cells[file].to_owned(),
                valid: cells[verdict] == "valid",
                engines_ok: engines.contains("container:ok") && engines.contains("execution:ok"),
            }
        })
        .collect()
}

#[test]
fn corpus_verdicts_match_red_val() {
    let rows = expected();
    assert_eq!(rows.len(), 194);
    let root = fixtures().join("corpus/red");
    let mut agree_red_val = 0;
    let mut agree_full = 0;
    let mut disagreements = Vec::new();
    for row in &rows {
        let path = root.join(&row.file);
        let red_val = verdict(&path, Level::RedVal);
        if let Err(diagnostics) = &red_val {
            let errors: Vec<_> = diagnostics
                .iter()
                .filter(|d| d.severity == Severity::Error)
                .collect();
            assert!(!errors.is_empty(), "{}: invalid without an error", row.file);
            assert!(
                errors
                    .iter()
                    .any(|d| d.line.is_some() && d.column.is_some()),
                "{}: no located error in {diagnostics:?}",
                row.file
            );
        }
        if red_val.is_ok() == row.valid {
            agree_red_val += 1;
        } else {
            disagreements.push(format!("red-val level: {} ({:?})", row.file, red_val));
        }
        let full = verdict(&path, Level::Full);
        if full.is_ok() == (row.valid && row.engines_ok) {
            agree_full += 1;
        } else {
            disagreements.push(format!("full level: {} ({:?})", row.file, full));
        }
    }
    println!(
        "corpus agreement: red-val level {agree_red_val}/{n}, full level {agree_full}/{n}",
        n = rows.len()
    );
    assert!(disagreements.is_empty(), "{disagreements:#?}");
}

#[test]
fn valid_fixtures_are_valid_at_every_level() {
    let files = files_in(&fixtures().join("red/valid"));
    assert!(files.len() >= 15);
    for path in files {
        for level in [Level::RedVal, Level::Full] {
            if let Err(d) = verdict(&path, level) {
                panic!("{} ({level:?}): {d:#?}", path.display());
            }
        }
    }
}

#[test]
fn invalid_fixtures_are_invalid_with_located_errors() {
    let files = files_in(&fixtures().join("red/invalid"));
    assert!(files.len() >= 40, "only {} invalid fixtures", files.len());
    for path in files {
        let Err(diagnostics) = verdict(&path, Level::Full) else {
            panic!("{} is valid", path.display());
        };
        for d in diagnostics.iter().filter(|d| d.severity == Severity::Error) {
            assert!(
                d.line.is_some() && d.column.is_some(),
                "{}: {d:?}",
                path.display()
            );
        }
    }
}

/// Engine problems are invisible to red-val: these fixtures pass at its level.
#[test]
fn engine_fixtures_pass_the_red_val_level() {
    for name in [
        "nvidia-docker",
        "engine-podman",
        "docker-ram-low",
        "docker-unknown-setting",
        "gpus-device-without-vram",
        "gpus-count-and-devices",
        "ccagency-retry",
        "ccfaice-insecure",
        "execution-slurm",
        "image-auth-secret-number",
    ] {
        let path = fixtures().join(format!("red/invalid/{name}.yml"));
        assert!(verdict(&path, Level::RedVal).is_ok(), "{name}");
        let Err(d) = verdict(&path, Level::Full) else {
            panic!("{name} valid at full level");
        };
        assert!(d.iter().all(|d| d.code == "engine"), "{name}: {d:?}");
    }
}

#[test]
fn batch_errors_name_their_batch() {
    let path = fixtures().join("red/invalid/batches-missing-everywhere.yml");
    let d = verdict(&path, Level::RedVal).unwrap_err();
    let batches: Vec<Option<usize>> = d.iter().map(|d| d.batch).collect();
    assert_eq!(batches, [Some(0), Some(1)]);
    let path = fixtures().join("red/invalid/batches-bad-batch-2.yml");
    let d = verdict(&path, Level::RedVal).unwrap_err();
    assert!(d.len() >= 3);
    assert!(d.iter().all(|d| d.batch == Some(2)), "{d:?}");
}

#[test]
fn secrets_are_not_echoed() {
    for name in ["image-auth-secret-number", "non-string-key-secret"] {
        let path = fixtures().join(format!("red/invalid/{name}.yml"));
        let (human, json) = run_both(&path);
        for secret in ["987654321", "s3cr3t-value"] {
            assert!(!human.contains(secret), "{name}: {human}");
            assert!(!json.contains(secret), "{name}: {json}");
        }
    }
}

fn run_both(path: &Path) -> (String, String) {
    let dir = fixtures().join("red");
    let relative = path.strip_prefix(&dir).unwrap();
    let run = |json: bool| {
        let format = if json { "json" } else { "human" };
        let run = Red::new()
            .current_dir(&dir)
            .args(["validate", "--format", format, relative.to_str().unwrap()])
            .run();
        assert_eq!(run.code, 1, "{}", relative.display());
        // The report is on stdout; stderr holds only the count (nothing with JSON).
        let count = if json {
            ""
        } else {
            "1 file checked, 0 valid, 1 invalid\n"
        };
        assert_eq!(run.stderr, count, "{}", relative.display());
        run.stdout
    };
    (run(false), run(true))
}

#[test]
fn invalid_fixture_outputs() {
    let mut settings = insta::Settings::clone_current();
    settings.set_prepend_module_to_snapshot(false);
    settings.set_snapshot_path("snapshots/validate");
    settings.bind(|| {
        for path in files_in(&fixtures().join("red/invalid")) {
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            let (human, json) = run_both(&path);
            insta::assert_snapshot!(format!("{name}.human"), human);
            insta::assert_snapshot!(format!("{name}.json"), json);
        }
    });
}

/// The tree as a JSON value, or `None` when it holds something JSON cannot (dates, binary,
/// non-string keys, infinities) or a key ending in a newline: the `jsonschema` crate's regexes
/// follow ECMA-262, where `$` does not match before a final newline, but red-val's Python `re`
/// does, and we follow red-val.
fn to_json(node: NodeRef<'_>) -> Option<serde_json::Value> {
    use serde_json::Value;
    Some(match node.kind() {
        Kind::Null => Value::Null,
        Kind::Bool => Value::Bool(node.as_bool()?),
        Kind::Int => match node.as_int().and_then(|v| i64::try_from(v).ok()) {
            Some(v) => Value::from(v),
            None => Value::from(
                node.as_f64()
                    .or_else(|| red::parse::scalar::int_decimal(node.text())?.parse().ok())?,
            ),
        },
        Kind::Float => Value::Number(serde_json::Number::from_f64(node.as_f64()?)?),
        Kind::Str => Value::String(node.text().to_owned()),
        Kind::Seq => Value::Array(node.items().map(to_json).collect::<Option<_>>()?),
        Kind::Map => {
            let mut map = serde_json::Map::new();
            for (k, v) in node.entries() {
                let key = k.as_str().filter(|k| !k.ends_with('\n'))?;
                map.insert(key.to_owned(), to_json(v)?);
            }
            Value::Object(map)
        }
        Kind::Timestamp | Kind::Binary | Kind::ForeignCollection => return None,
    })
}

/// Our schema verdict equals the `jsonschema` crate's on every document JSON can express.
#[test]
fn schema_verdicts_match_the_jsonschema_crate() {
    let schema: serde_json::Value =
        serde_json::from_str(red::schemas::find("red").unwrap().text).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let mut files = files_in(&fixtures().join("red/valid"));
    files.extend(files_in(&fixtures().join("red/invalid")));
    files.extend(files_in(&fixtures().join("corpus/red/real")));
    let (mut compared, mut valid, mut invalid) = (0, 0, 0);
    for path in files {
        let Ok(parsed) = red::load::file(&path) else {
            continue;
        };
        let Some(json) = to_json(parsed.tree.root()) else {
            continue;
        };
        let ours = validate::check(
            &parsed.tree,
            &Options {
                level: Level::RedVal,
            },
        );
        let ours_valid = !ours
            .iter()
            .any(|d| matches!(d.code, "schema" | "old-version" | "not-a-mapping"));
        let theirs = validator.is_valid(&json);
        assert_eq!(ours_valid, theirs, "{}: {ours:#?}", path.display());
        compared += 1;
        if theirs {
            valid += 1;
        } else {
            invalid += 1;
        }
    }
    println!("schema verdicts compared: {compared} ({valid} valid, {invalid} invalid)");
    assert!(compared > 250 && valid > 80 && invalid > 100);
}

#[test]
fn deep_listing_does_not_overflow_the_stack() {
    // A thread with a small stack, as test threads and rayon workers have.
    let handle = std::thread::Builder::new()
        .stack_size(1 << 20)
        .spawn(|| {
            let path = fixtures().join("red/valid/deep-listing.yml");
            verdict(&path, Level::Full).is_ok()
        })
        .unwrap();
    assert!(handle.join().unwrap());
}

/// A listing nested deeper than the validator follows is one clear error, not a stack overflow.
#[test]
fn absurd_nesting_is_an_error_not_a_crash() {
    let base = std::fs::read_to_string(fixtures().join("red/valid/base.yml")).unwrap();
    let mut listing = String::new();
    let mut indent = String::from("    ");
    for level in 0..400 {
        listing.push_str(&format!(
            "{indent}- class: Directory\n{indent}  basename: d{level}\n{indent}  listing:\n"
        ));
        indent.push_str("  ");
    }
    listing.push_str(&format!("{indent}- {{class: File, basename: leaf}}\n"));
    let text = base.replace(
        "          password: \"{{password}}\"\n",
        &format!(
            "          password: \"{{{{password}}}}\"\n  dir:\n    class: Directory\n    \
             connector: {{command: c, access: {{}}}}\n    listing:\n{listing}"
        ),
    );
    assert!(text.len() > base.len() + 10_000);
    let source = red::source::SourceFile::new(red::source::Origin::Memory("deep".into()), text);
    let parsed = red::load::text(source).unwrap();
    // The default stack of a spawned thread (2 MiB), in a debug build.
    let handle = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || validate::document(parsed, &Options::default()).unwrap_err())
        .unwrap();
    let invalid = handle.join().unwrap();
    assert_eq!(invalid.diagnostics.len(), 1, "{:#?}", invalid.diagnostics);
    assert!(invalid.diagnostics[0].message.contains("nested more than"));
}

mod fuzz {
    use proptest::prelude::*;

    use super::*;

    fn seeds() -> Vec<String> {
        let mut seeds: Vec<String> = files_in(&fixtures().join("red/valid"))
            .into_iter()
            .chain(files_in(&fixtures().join("red/invalid")))
            .map(|p| std::fs::read_to_string(p).unwrap())
            .collect();
        seeds.retain(|s| s.len() < 20_000);
        seeds
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        /// Mutated RED files load and validate without panicking, and every error is located.
        #[test]
        fn mutated_files_never_panic(
            seed in any::<prop::sample::Index>(),
            edits in prop::collection::vec((any::<prop::sample::Index>(), 0u8..6, any::<char>()), 1..8),
        ) {
            let seeds = seeds();
            let mut text: Vec<char> = seed.get(&seeds).chars().collect();
            for (at, op, c) in edits {
                if text.is_empty() { break; }
                let i = at.index(text.len());
                let pick = ['{', '}', '[', ']', ':', '-', ' ', '\n', '"', '&', '*', '!', '1', c];
                match op {
                    0 => { text.remove(i); }
                    1 => text.insert(i, pick[usize::from(c as u8) % pick.len()]),
                    2 => text.insert(i, c),
                    3 => { let n = text.len(); text.truncate(i.max(1).min(n)); }
                    4 => { let chunk: Vec<char> = text[i..].iter().take(40).copied().collect(); text.splice(i..i, chunk); }
                    _ => text[i] = pick[i % pick.len()],
                }
            }
            let text: String = text.into_iter().collect();
            let source = red::source::SourceFile::new(red::source::Origin::Memory("fuzz".into()), text);
            if let Ok(parsed) = red::load::text(source) {
                for level in [Level::RedVal, Level::Full] {
                    if let Err(invalid) = validate::document(parsed.clone(), &Options { level }) {
                        for d in invalid.diagnostics.iter().filter(|d| d.severity == Severity::Error) {
                            prop_assert!(!d.message.is_empty());
                        }
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Masking changes nothing but secrets (issue 17, section 1).

/// A valid RED file whose image credentials hold `password` (written as a JSON string), with
/// `extra` lines inserted before `container:` (to make it invalid where a test needs messages).
fn with_password(password: &str, extra: &str) -> String {
    let quoted = serde_json::to_string(password).unwrap();
    format!(
        "redVersion: \"9\"\ncli:\n  cwlVersion: v1.0\n  class: CommandLineTool\n  \
         baseCommand: [wc]\n  inputs: {{}}\n  outputs: {{}}\ninputs: {{}}\n{extra}container:\n  \
         engine: docker\n  settings:\n    image:\n      url: busybox\n      auth: {{username: \
         someone, password: {quoted}, bogus: 1}}\n    ram: 256\n"
    )
}

fn validate_json(red: crate::support::Red) -> serde_json::Value {
    let run = red.args(["--format", "json"]).run();
    serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}\n{}", run.stdout, run.stderr))
}

/// Every key of the shape docs/validate.md documents.
fn assert_report_shape(value: &serde_json::Value) {
    for file in value["files"].as_array().expect("files") {
        let object = file.as_object().expect("a file is an object");
        for key in ["path", "valid", "redVersion", "diagnostics"] {
            assert!(object.contains_key(key), "no `{key}` in {file}");
        }
        for d in file["diagnostics"].as_array().unwrap() {
            let d = d.as_object().unwrap();
            for key in [
                "severity", "code", "message", "pointer", "line", "column", "batch",
            ] {
                assert!(d.contains_key(key), "no `{key}` in {d:?}");
            }
        }
    }
}

#[test]
fn a_one_letter_password_masks_only_itself() {
    let red = || {
        crate::support::Red::new()
            .file("t.red.yml", with_password("p", ""))
            .args(["validate", "t.red.yml"])
    };
    let json = validate_json(red());
    assert_report_shape(&json);
    let text = json.to_string();
    assert!(
        !text.contains("********"),
        "nothing to mask in a report: {text}"
    );
    let pointers: Vec<&str> = json["files"][0]["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| d["pointer"].as_str())
        .collect();
    assert!(
        pointers.contains(&"/container/settings/image/auth/password"),
        "{pointers:?}"
    );
    let human = red().run();
    assert_eq!(human.code, 1, "{}", human.stdout);
    // The quoted line masks the value, and only the value.
    assert!(
        human
            .stdout
            .contains("auth: {username: someone, password: \"********\", bogus: 1}"),
        "{}",
        human.stdout
    );
    assert!(
        human
            .stdout
            .contains("at `/container/settings/image/auth/password`"),
        "{}",
        human.stdout
    );
    assert_eq!(
        human.stdout.matches("********").count(),
        2,
        "{}",
        human.stdout
    );
    assert!(human.stdout.contains("short-secret"), "{}", human.stdout);
}

#[test]
fn a_password_equal_to_a_report_key_leaves_the_report_alone() {
    for word in [
        "valid",
        "path",
        "message",
        "files",
        "diagnostics",
        "redVersion",
    ] {
        let text = with_password(word, "").replace(", bogus: 1", "");
        let json = validate_json(
            crate::support::Red::new()
                .file("t.red.yml", &text)
                .args(["validate", "t.red.yml"]),
        );
        assert_report_shape(&json);
        assert_eq!(json["files"][0]["valid"], true, "{word}: {json}");
        assert_eq!(json["files"][0]["path"], "t.red.yml", "{word}: {json}");
        let human = crate::support::Red::new()
            .file("t.red.yml", &text)
            .args(["validate", "t.red.yml"])
            .run();
        assert_eq!(human.code, 0, "{word}: {}", human.stdout);
        assert!(
            human.stdout.contains("t.red.yml: valid"),
            "{word}: {}",
            human.stdout
        );
    }
}

#[test]
fn file_names_given_on_the_command_line_are_never_masked() {
    for password in ["red", "kw2-red-secret"] {
        let text = with_password(password, "").replace(", bogus: 1", "");
        let name = format!("{}.yml", password.replace("red", "kw2.red"));
        let name = if password == "red" {
            "kw2.red.yml".to_owned()
        } else {
            name
        };
        let run = || {
            crate::support::Red::new()
                .file(&name, &text)
                .file("other.red.yml", with_password("0", "colour: 1\n"))
                .args(["validate", &name, "other.red.yml"])
        };
        let human = run().run();
        assert!(
            human.stdout.contains(&format!("{name}: valid")),
            "{password}: {}",
            human.stdout
        );
        let json = validate_json(run());
        assert_report_shape(&json);
        assert_eq!(json["files"][0]["path"], name.as_str(), "{json}");
    }
}

#[test]
fn one_file_s_secret_never_changes_another_file_s_report() {
    // The first file's password is a word of the second file's messages.
    let first = with_password("colour-setting", "").replace(", bogus: 1", "");
    let second = with_password("another-secret", "colour-setting: 1\n");
    let run = || {
        crate::support::Red::new()
            .file("a.red.yml", &first)
            .file("b.red.yml", &second)
            .args(["validate", "a.red.yml", "b.red.yml"])
    };
    let json = validate_json(run());
    assert_report_shape(&json);
    let messages = json["files"][1]["diagnostics"].to_string();
    assert!(messages.contains("colour-setting"), "{messages}");
    let human = run().run();
    assert!(human.stdout.contains("colour-setting"), "{}", human.stdout);
    assert!(!human.stdout.contains("another-secret"), "{}", human.stdout);
}

#[test]
fn short_protected_values_are_named_not_shown() {
    let run = crate::support::Red::new()
        .file(
            "t.red.yml",
            with_password("Qz7", "").replace(", bogus: 1", ""),
        )
        .args(["validate", "t.red.yml"])
        .run();
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(
        run.stdout.contains("warning[short-secret]"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("t.red.yml:14:43"), "{}", run.stdout);
    assert!(
        run.stdout
            .contains("/container/settings/image/auth/password"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("Qz7"), "{}", run.stdout);
}

/// A RED file with these `cli.outputs` (and `stdout:` when given), one job or two batches, no
/// output connectors: every output is delivered into `outputs/`.
fn delivering(outputs: &str, stdout: Option<&str>, batches: bool) -> String {
    let stdout = stdout.map_or_else(String::new, |name| format!("  stdout: {name}\n"));
    let jobs = if batches {
        "batches:\n- inputs: {name: a.txt}\n- inputs: {name: b.txt}\n"
    } else {
        "inputs: {name: a.txt}\n"
    };
    format!(
        "redVersion: '9'
cli:
  cwlVersion: v1.0
  class: CommandLineTool
  baseCommand: [sh]
{stdout}  inputs:
    name: {{type: string, inputBinding: {{position: 0}}}}
  outputs:
{outputs}{jobs}container:
  engine: docker
  settings: {{image: {{url: 'busybox:1'}}}}
"
    )
}

fn validate_text_json(text: &str) -> (i32, serde_json::Value) {
    let run = crate::support::Red::new()
        .file("e.red.yml", text)
        .args(["validate", "--format", "json", "e.red.yml"])
        .run();
    let json = serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {run:?}"));
    (run.code, json)
}

#[test]
fn outputs_delivered_to_one_path_are_refused_at_the_second_naming_the_first() {
    let file = delivering(
        "    first: {type: File, outputBinding: {glob: a/out.txt}}\n    \
         second: {type: File, outputBinding: {glob: b/out.txt}}\n",
        None,
        false,
    );
    let (code, json) = validate_text_json(&file);
    assert_eq!(code, 1, "{json}");
    let diagnostics = json["files"][0]["diagnostics"].as_array().unwrap();
    assert_eq!(diagnostics.len(), 1, "{json}");
    let d = &diagnostics[0];
    assert_eq!(d["code"], "output-collision");
    assert_eq!(d["pointer"], "/cli/outputs/second/outputBinding/glob");
    assert_eq!(
        (d["line"].as_u64(), d["column"].as_u64()),
        (Some(10), Some(48))
    );
    let message = d["message"].as_str().unwrap();
    assert!(
        message.contains("output `second`")
            && message.contains("output `first`")
            && message.contains("`out.txt`"),
        "{message}"
    );
    // `red plan` and `red exec` refuse it with the same error before anything runs.
    for command in ["plan", "exec"] {
        let run = crate::support::Red::new()
            .file("e.red.yml", &file)
            .args([command, "e.red.yml"])
            .run();
        assert_eq!(run.code, 1, "{}", run.snapshot());
        assert!(
            run.stderr.contains("error[output-collision]")
                && run.stderr.contains("e.red.yml:10:48"),
            "{}",
            run.snapshot()
        );
    }
}

#[test]
fn every_kind_of_collision_known_before_the_run_is_refused() {
    let cases = [
        // Directory outputs with one last part.
        (
            "    x: {type: Directory, outputBinding: {glob: a/d}}\n    \
             y: {type: Directory, outputBinding: {glob: b/d}}\n",
            None,
            false,
        ),
        // A stdout file named like a glob result.
        (
            "    log: {type: stdout}\n    res: {type: File, outputBinding: {glob: sub/out.txt}}\n",
            Some("out.txt"),
            false,
        ),
        // A named stdout file that no output collects is kept in `outputs/` too.
        (
            "    res: {type: File, outputBinding: {glob: sub/out.txt}}\n",
            Some("out.txt"),
            false,
        ),
        // The stream red captures is delivered as `stdout.txt`.
        (
            "    log: {type: stdout}\n    res: {type: File, outputBinding: {glob: stdout.txt}}\n",
            None,
            false,
        ),
        // Names made of input values, per batch.
        (
            "    x: {type: File, outputBinding: {glob: 'a/$(inputs.name)'}}\n    \
             y: {type: File, outputBinding: {glob: 'b/$(inputs.name)'}}\n",
            None,
            true,
        ),
        // red's own records directory.
        (
            "    r: {type: Directory, outputBinding: {glob: sub/.red}}\n",
            None,
            false,
        ),
    ];
    for (outputs, stdout, batches) in cases {
        let (code, json) = validate_text_json(&delivering(outputs, stdout, batches));
        assert_eq!(code, 1, "{outputs}: {json}");
        let codes: Vec<&str> = json["files"][0]["diagnostics"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|d| d["code"].as_str())
            .collect();
        assert_eq!(codes, ["output-collision"], "{outputs}: {json}");
    }
    for (outputs, stdout) in [
        // One file collected twice, distinct names, a name known only after the run.
        (
            "    log: {type: stdout}\n    res: {type: File, outputBinding: {glob: out.txt}}\n",
            Some("out.txt"),
        ),
        (
            "    x: {type: File, outputBinding: {glob: a/out.txt}}\n    \
             y: {type: File, outputBinding: {glob: b/other.txt}}\n",
            None,
        ),
        (
            "    x: {type: File, outputBinding: {glob: a/out.txt}}\n    \
             y: {type: File, outputBinding: {glob: 'b/*.txt'}}\n",
            None,
        ),
    ] {
        let (code, json) = validate_text_json(&delivering(outputs, stdout, false));
        assert_eq!(code, 0, "{outputs}: {json}");
    }
}

/// `red schema validate NAME FILE`: a fragment (an engine's settings) checked against one
/// schema, each problem at its file:line:column as `red validate` reports them; secrets in the
/// fragment are masked in the quoted lines.
#[test]
fn schema_validate_checks_a_fragment_against_one_schema() {
    let settings = "access:\n  url: http://127.0.0.1:1\n  auth:\n    username: someone\n    password: canary-schema-pw\n  extra: 1\n";
    let run = crate::support::Red::new()
        .file("settings.yml", settings)
        .args([
            "schema",
            "validate",
            "red-engine-execution-ccagency",
            "settings.yml",
        ])
        .run();
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("settings.yml:6:3"), "{run:?}");
    assert!(
        run.stderr.contains("unknown key `extra` in `access`"),
        "{run:?}"
    );
    assert!(!run.stderr.contains("canary"), "{run:?}");

    let run = crate::support::Red::new()
        .file("docker.yml", "image:\n  url: busybox\nram: lots\n")
        .args([
            "schema",
            "validate",
            "red-engine-container-docker",
            "docker.yml",
            "--format",
            "json",
        ])
        .run();
    assert_eq!(run.code, 1, "{run:?}");
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let diagnostic = &report["files"][0]["diagnostics"][0];
    assert_eq!(diagnostic["pointer"], "/ram", "{report}");
    assert_eq!(
        (diagnostic["line"].as_u64(), diagnostic["column"].as_u64()),
        (Some(3), Some(6))
    );
    assert_eq!(report["exitCode"], 1, "{report}");

    // Valid against its own schema, invalid as a whole RED file.
    let ok = "image:\n  url: busybox\nram: 256\n";
    let run = crate::support::Red::new()
        .file("docker.yml", ok)
        .args([
            "schema",
            "validate",
            "red-engine-container-docker",
            "docker.yml",
        ])
        .run();
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stderr
            .contains("docker.yml: valid against `red-engine-container-docker`")
    );
    let run = crate::support::Red::new()
        .file("docker.yml", ok)
        .args([
            "schema",
            "validate",
            "red",
            "docker.yml",
            "--format",
            "json",
        ])
        .run();
    assert_eq!(run.code, 1, "{run:?}");

    let run = crate::support::Red::new()
        .file("docker.yml", ok)
        .args(["schema", "validate", "red-engine-nope", "docker.yml"])
        .run();
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("the schemas are: red,"), "{run:?}");
}

/// Every embedded schema can be checked against, and the `red` schema alone accepts what
/// `red validate --red-val` accepts on the examples.
#[test]
fn every_schema_has_a_validator() {
    for schema in red::schemas::ALL {
        let tree = red::parse::tree("{}").unwrap();
        assert!(
            validate::against_schema(&tree, schema.name).is_some(),
            "{}",
            schema.name
        );
    }
    assert!(validate::against_schema(&red::parse::tree("{}").unwrap(), "nope").is_none());
    let examples = files_in(&Path::new(env!("CARGO_MANIFEST_DIR")).join("examples"));
    for path in examples
        .iter()
        .filter(|p| p.to_string_lossy().contains(".red."))
    {
        let parsed = red::load::file(path).unwrap();
        let diagnostics = validate::against_schema(&parsed.tree, "red").unwrap();
        assert!(
            diagnostics.is_empty(),
            "{}: {diagnostics:?}",
            path.display()
        );
    }
}
