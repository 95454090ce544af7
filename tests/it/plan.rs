//! `plan`: argv agreement with cwltool and cc-core on the CWL corpus, output collection on the
//! output corpus, our own trap cases, and `red plan` snapshots.

#![allow(clippy::unwrap_used)] // a test that cannot read its fixtures should fail loudly

use std::path::{Path, PathBuf};
use std::process::Command;

use red::plan::argv::{self, InputPaths, Mode};
use red::plan::outputs::{self, DirListing};
use red::tree::Tree;

use crate::support::{Red, root};

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

// ---------------------------------------------------------------------------------------------
// Our own cases for every trap docs/cli-semantics.md settles.

const HEAD: &str = "cwlVersion: v1.0\nclass: CommandLineTool\nbaseCommand: tool\noutputs: {}\n";

fn argv_of(inputs: &str, job: &str, mode: Mode) -> Result<Vec<String>, argv::ArgvError> {
    let tool = red::parse::tree(&format!("{HEAD}inputs:\n{inputs}")).unwrap();
    let job = red::parse::tree(job).unwrap();
    argv::build(tool.root(), job.root(), &InputPaths::new(), mode)
}

fn both(inputs: &str, job: &str) -> (Vec<String>, Vec<String>) {
    let cwl = argv_of(inputs, job, Mode::Cwl).unwrap();
    let cc = argv_of(inputs, job, Mode::Cc).unwrap();
    (cwl, cc)
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn float_text_follows_the_source_in_cwl_mode_and_python_in_cc_mode() {
    let inputs = "  a: {type: double, inputBinding: {position: 1}}\n  \
                  b: {type: double, inputBinding: {position: 2}}\n  \
                  c: {type: float, inputBinding: {position: 3}}\n  \
                  d: {type: float, inputBinding: {position: 4}}\n  \
                  e: {type: double, inputBinding: {position: 5}}\n";
    let (cwl, cc) = both(inputs, "{a: 1.50, b: 1e-7, c: -0.0, d: 2.5E-3, e: 1e16}");
    assert_eq!(
        cwl,
        strings(&[
            "tool",
            "1.50",
            "0.0000001",
            "-0.0",
            "0.0025",
            "10000000000000000"
        ])
    );
    assert_eq!(
        cc,
        strings(&["tool", "1.5", "1e-07", "-0.0", "0.0025", "1e+16"])
    );
}

#[test]
fn integers_print_their_value_not_their_spelling() {
    let inputs = "  a: {type: int, inputBinding: {position: 1}}\n  \
                  b: {type: long, inputBinding: {position: 2}}\n  \
                  c: {type: double, inputBinding: {position: 3}}\n";
    let (cwl, cc) = both(inputs, "{a: 0x1F, b: 9223372036854775807, c: 5}");
    assert_eq!(cwl, strings(&["tool", "31", "9223372036854775807", "5"]));
    assert_eq!(cwl, cc);
}

#[test]
fn large_integers_are_refused_in_cwl_mode_only() {
    let int = "  a: {type: int, inputBinding: {}}\n";
    let error = argv_of(int, "a: 3000000000", Mode::Cwl).unwrap_err();
    assert_eq!((error.at.line, error.at.column), (1, 4));
    assert!(error.to_string().contains("`int`"), "{error}");
    assert!(error.hint().unwrap().contains("long"));
    assert_eq!(
        argv_of(int, "a: 3000000000", Mode::Cc).unwrap(),
        strings(&["tool", "3000000000"])
    );
    let long = "  a: {type: long, inputBinding: {}}\n";
    assert!(argv_of(long, "a: 18446744073709551616", Mode::Cwl).is_err());
    assert_eq!(
        argv_of(long, "a: 18446744073709551616", Mode::Cc).unwrap(),
        strings(&["tool", "18446744073709551616"])
    );
}

#[test]
fn booleans_are_flags_and_python_words_inside_joined_arrays() {
    let inputs = "  t: {type: boolean, inputBinding: {prefix: -t, position: 1}}\n  \
                  f: {type: boolean, inputBinding: {prefix: -f, position: 2}}\n  \
                  n: {type: boolean, inputBinding: {position: 3}}\n  \
                  j: {type: 'boolean[]', inputBinding: {prefix: -j, itemSeparator: ',', position: 4}}\n  \
                  k: {type: 'boolean[]', inputBinding: {prefix: -k, position: 5}}\n";
    let (cwl, cc) = both(
        inputs,
        "{t: true, f: false, n: true, j: [true, false], k: [false]}",
    );
    assert_eq!(cwl, strings(&["tool", "-t", "-j", "True,False", "-k"]));
    assert_eq!(cc, cwl);
}

#[test]
fn empty_arrays_add_nothing_not_even_the_prefix() {
    let inputs = "  a: {type: 'string[]', inputBinding: {prefix: -a, position: 1}}\n  \
                  b: {type: 'int[]', inputBinding: {prefix: -b, itemSeparator: ',', position: 2}}\n  \
                  c: {type: 'File[]?', inputBinding: {position: 3}}\n";
    let (cwl, cc) = both(inputs, "{a: [], b: [], c: []}");
    assert_eq!(cwl, strings(&["tool"]));
    assert_eq!(cc, cwl);
}

#[test]
fn spaces_and_shell_characters_stay_inside_one_element() {
    let value = "a b; rm -rf / $HOME 'q' \"d\" * | > x\ty\nz é";
    let job = format!("s: {}", serde_json::to_string(value).unwrap());
    let inputs = "  s: {type: string, inputBinding: {prefix: '--s=', separate: false}}\n";
    let (cwl, cc) = both(inputs, &job);
    assert_eq!(cwl, vec!["tool".to_owned(), format!("--s={value}")]);
    assert_eq!(cc, cwl);
}

#[test]
fn missing_optional_inputs_add_nothing_and_missing_required_ones_are_located() {
    let inputs = "  a: {type: 'string?', inputBinding: {prefix: -a}}\n  \
                  b: {type: 'File?', inputBinding: {}}\n  \
                  c: {type: 'int[]?', inputBinding: {prefix: -c}}\n";
    let (cwl, cc) = both(inputs, "{}");
    assert_eq!(cwl, strings(&["tool"]));
    assert_eq!(cc, cwl);
    let error = argv_of(
        "  a: {type: string, inputBinding: {}}\n",
        "\n\nother: 1\n",
        Mode::Cwl,
    )
    .unwrap_err();
    assert!(error.at.line > 0, "{error}");
    let error = argv_of("  a: {type: string, inputBinding: {}}\n", "{}", Mode::Cc).unwrap_err();
    assert!(error.to_string().contains("required input `a`"), "{error}");
}

#[test]
fn position_ties_break_by_name_bytes_in_cwl_and_by_declaration_in_cc() {
    let inputs = "  b: {type: string, inputBinding: {position: 1}}\n  \
                  a: {type: string, inputBinding: {position: 1}}\n  \
                  _x: {type: string, inputBinding: {position: 1}}\n  \
                  B: {type: string, inputBinding: {position: 1}}\n  \
                  a-1: {type: string, inputBinding: {position: 1}}\n";
    let (cwl, cc) = both(inputs, "{b: b, a: a, _x: _x, B: B, a-1: a-1}");
    assert_eq!(cwl, strings(&["tool", "B", "_x", "a", "a-1", "b"]));
    assert_eq!(cc, strings(&["tool", "b", "a", "_x", "B", "a-1"]));
}

#[test]
fn prefixed_inputs_come_last_in_cc_mode_whatever_their_position() {
    let inputs = "  opt: {type: int, inputBinding: {prefix: -n, position: 0}}\n  \
                  file: {type: string, inputBinding: {position: 1}}\n";
    let (cwl, cc) = both(inputs, "{opt: 3, file: x.txt}");
    assert_eq!(cwl, strings(&["tool", "-n", "3", "x.txt"]));
    assert_eq!(cc, strings(&["tool", "x.txt", "-n", "3"]));
}

#[test]
fn empty_prefix_and_separate_without_prefix_differ_between_modes() {
    let empty = "  p: {type: string, inputBinding: {prefix: ''}}\n";
    let (cwl, cc) = both(empty, "p: v");
    assert_eq!(cwl, strings(&["tool", "", "v"]));
    assert_eq!(cc, strings(&["tool", "v"]));
    let lone = "  s: {type: string, inputBinding: {separate: false}}\n";
    let error = argv_of(lone, "s: v", Mode::Cwl).unwrap_err();
    assert_eq!(error.at.line, 6, "{error}");
    assert_eq!(
        argv_of(lone, "s: v", Mode::Cc).unwrap(),
        strings(&["tool", "v"])
    );
}

#[test]
fn outside_the_subset_is_refused_with_a_location() {
    for (inputs, line) in [
        ("  a: {type: string, inputBinding: {valueFrom: x}}\n", 6),
        ("  a: {type: string}\n", 6),
        ("  a: {type: 'string?[]', inputBinding: {}}\n", 6),
        ("  a: {type: int, inputBinding: {position: -1}}\n", 6),
    ] {
        let error = argv_of(inputs, "{}", Mode::Cwl).unwrap_err();
        assert_eq!(error.at.line, line, "{inputs}: {error}");
    }
    let error = argv_of(
        "  a: {type: 'string?', inputBinding: {}}\n",
        "a: null",
        Mode::Cc,
    )
    .unwrap_err();
    assert!(error.to_string().contains("null"), "{error}");
}

// ---------------------------------------------------------------------------------------------
// Output collection traps.

fn listing(entries: &[(&str, outputs::EntryKind)]) -> outputs::MemoryListing {
    outputs::MemoryListing::new(entries.iter().map(|(p, k)| ((*p).to_owned(), *k)))
}

fn want(name: &str, kind: outputs::EntryKind, optional: bool, glob: &str) -> outputs::Wanted {
    outputs::Wanted {
        name: name.into(),
        kind,
        optional,
        source: outputs::Source::Glob(glob.into()),
    }
}

#[test]
fn capture_files_never_pollute_a_glob() {
    use outputs::EntryKind::{Directory, File};
    let files = listing(&[
        ("only.txt", File),
        ("1234.stdout", File),
        ("sub", Directory),
    ]);
    let wanted = [want("f", File, false, "*")];
    let error = outputs::collect(&wanted, &files, &[]).unwrap_err();
    assert!(error.to_string().contains("matches 2 entries"), "{error}");
    let got = outputs::collect(&wanted, &files, &["1234.stdout".to_owned()]).unwrap();
    assert_eq!(got[0].path.as_deref(), Some("only.txt"));
}

#[test]
fn wrong_kind_matches_are_dropped_and_named_in_the_error() {
    use outputs::EntryKind::{Directory, File};
    let files = listing(&[("res-dir", Directory)]);
    let error = outputs::collect(&[want("f", File, false, "res-*")], &files, &[]).unwrap_err();
    assert!(error.to_string().contains("`res-dir`"), "{error}");
    let optional = outputs::collect(&[want("f", File, true, "res-*")], &files, &[]).unwrap();
    assert_eq!(optional[0].path, None);
    let dirs = outputs::collect(&[want("d", Directory, false, "res-*")], &files, &[]).unwrap();
    assert_eq!(dirs[0].path.as_deref(), Some("res-dir"));
}

#[test]
fn optional_outputs_still_refuse_ambiguity_and_escapes() {
    use outputs::EntryKind::File;
    let files = listing(&[("a.txt", File), ("b.txt", File), ("sub/c.txt", File)]);
    assert!(outputs::collect(&[want("f", File, true, "*.txt")], &files, &[]).is_err());
    assert!(outputs::collect(&[want("f", File, true, "../*.txt")], &files, &[]).is_err());
    assert!(outputs::collect(&[want("f", File, true, "/x/*.txt")], &files, &[]).is_err());
    let got = outputs::collect(&[want("f", File, false, "sub/*.txt")], &files, &[]).unwrap();
    assert_eq!(got[0].path.as_deref(), Some("sub/c.txt"));
}

// ---------------------------------------------------------------------------------------------
// The reproducibility lint and `red plan`.

fn plan_fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/plan")
        .join(name)
}

fn document(name: &str) -> Tree {
    tree(&plan_fixture(name))
}

#[test]
fn lint_warns_with_both_argvs_when_the_modes_differ() {
    let warnings = red::plan::lint(&document("batches.red.yml"));
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    let warning = &warnings[0];
    assert_eq!(warning.code, "argv-mode");
    assert_eq!(warning.severity, red::diagnostic::Severity::Warning);
    assert_eq!((warning.line, warning.batch), (Some(3), Some(0)));
    // A short message; the two argvs under it, one line each.
    assert_eq!(
        warning.message,
        "the argv differs between `cwl` and `cc` semantics (and in 1 other batch)"
    );
    assert_eq!(
        warning.notes,
        [
            r#"cwl: ["wc","-l","/cc/inputs/<input-0>/words.txt"]"#,
            r#"cc:  ["wc","/cc/inputs/<input-0>/words.txt","-l"]"#,
        ]
    );
    // Only the order differs, so the hint is about positions, and names the flag that pins.
    let hint = warning.hint.as_deref().unwrap_or_default();
    assert!(hint.starts_with("give prefixed inputs positions"), "{hint}");
    assert!(
        hint.contains("`red exec --cli-compat cwl` or `cc`"),
        "{hint}"
    );
}

#[test]
fn lint_hint_names_a_number_spelling_difference() {
    let warnings = red::plan::lint(&document("single.red.yml"));
    let hint = warnings[0].hint.as_deref().unwrap_or_default();
    assert!(
        hint.starts_with("write the number as Python prints it"),
        "{hint}"
    );
}

#[test]
fn lint_is_silent_when_both_modes_agree() {
    assert_eq!(red::plan::lint(&document("agree.red.yml")), []);
    // single.red.yml differs only in float text: still a warning.
    let warnings = red::plan::lint(&document("single.red.yml"));
    assert_eq!(warnings.len(), 1);
    let notes = warnings[0].notes.join("\n");
    assert!(notes.contains("\"0.0000001\""), "{notes}");
    assert!(notes.contains("\"1e-07\""), "{notes}");
}

fn red_plan(args: &[&str]) -> (i32, String, String) {
    let run = Red::new()
        .current_dir(&root())
        .args(["plan"])
        .args(args)
        .run();
    (run.code, run.stdout, run.stderr)
}

const SECRETS: &[&str] = &[
    "hunter2-secret",
    "tok-secret-123",
    "BEGIN KEY",
    "pw-secret-2",
    "img-secret",
];

#[test]
fn red_plan_human_snapshot() {
    let (code, stdout, stderr) = red_plan(&["tests/fixtures/plan/batches.red.yml"]);
    assert_eq!((code, stderr.as_str()), (0, ""));
    for secret in SECRETS {
        assert!(!stdout.contains(secret), "{secret} leaked");
    }
    insta::assert_snapshot!("plan_human_batches", stdout);
}

#[test]
fn red_plan_json_snapshot_cc_mode() {
    let (code, stdout, stderr) = red_plan(&[
        "tests/fixtures/plan/batches.red.yml",
        "--cli-compat",
        "cc",
        "--format",
        "json",
    ]);
    assert_eq!((code, stderr.as_str()), (0, ""));
    for secret in SECRETS {
        assert!(!stdout.contains(secret), "{secret} leaked");
    }
    let value: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(value["batches"].as_array().map(Vec::len), Some(2));
    assert_eq!(value["batches"][0]["argv"][2], "-l");
    insta::assert_snapshot!("plan_json_batches_cc", stdout);
}

#[test]
fn red_plan_fresh_ids_are_uuids() {
    let (code, stdout, _) = red_plan(&[
        "tests/fixtures/plan/batches.red.yml",
        "--format",
        "json",
        "--fresh-ids",
    ]);
    assert_eq!(code, 0);
    let value: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let target = value["batches"][0]["inputs"][0]["target"].as_str().unwrap();
    let id = target
        .strip_prefix("/cc/inputs/")
        .unwrap()
        .strip_suffix("/words.txt")
        .unwrap();
    assert_eq!(id.len(), 36, "{target}");
    assert_eq!(id.matches('-').count(), 4, "{target}");
}

#[test]
fn red_plan_refuses_an_escaping_glob_with_a_location() {
    let (code, stdout, stderr) = red_plan(&["tests/fixtures/plan/escape.red.yml"]);
    assert_eq!(code, 1);
    assert_eq!(stdout, "");
    assert!(stderr.contains("escape.red.yml:13:"), "{stderr}");
    assert!(stderr.contains("leaves the output directory"), "{stderr}");
}

// ---------------------------------------------------------------------------------------------
// The 12 adapted CWL conformance tests for outputs, checked against the official checksums.

/// SHA-1 (FIPS 180-4), enough to compare with the conformance `sha1$…` checksums.
fn sha1(data: &[u8]) -> String {
    let mut h: [u32; 5] = [
        0x6745_2301,
        0xEFCD_AB89,
        0x98BA_DCFE,
        0x1032_5476,
        0xC3D2_E1F0,
    ];
    let mut message = data.to_vec();
    message.push(0x80);
    while message.len() % 64 != 56 {
        message.push(0);
    }
    message.extend_from_slice(&((data.len() as u64) * 8).to_be_bytes());
    for block in message.chunks(64) {
        let mut w = [0u32; 80];
        for (i, word) in block.chunks(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (i, wi) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A82_7999),
                20..=39 => (b ^ c ^ d, 0x6ED9_EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1B_BCDC),
                _ => (b ^ c ^ d, 0xCA62_C1D6),
            };
            let t = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(k)
                .wrapping_add(*wi);
            (e, d, c, b, a) = (d, c, b.rotate_left(30), a, t);
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e]) {
            *x = x.wrapping_add(y);
        }
    }
    h.iter().map(|x| format!("{x:08x}")).collect()
}

#[test]
fn sha1_matches_known_digests() {
    assert_eq!(sha1(b""), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    assert_eq!(
        sha1(b"Hello world!\n"),
        "47a013e660d408619d894b20806b1d5086aab03b"
    );
}

/// Stage the conformance input files (`hello.txt` has the official content; `hello.tar` holds
/// it and a `goodbye.txt`) and return their paths by input key.
fn stage_conformance_inputs(job: &Tree, dir: &Path) -> InputPaths {
    let mut paths = InputPaths::new();
    for (key, value) in job.root().entries() {
        let source = value.get("path").and_then(|p| p.as_str()).unwrap();
        let name = source.rsplit('/').next().unwrap();
        let target = dir.join(name);
        std::fs::write(dir.join("hello.txt"), b"Hello world!\n").unwrap();
        if name == "hello.tar" {
            std::fs::write(dir.join("goodbye.txt"), b"Goodbye, world, 24 bytes\n").unwrap();
            let status = Command::new("tar")
                .args(["cf", "hello.tar", "goodbye.txt", "hello.txt"])
                .current_dir(dir)
                .status()
                .unwrap();
            assert!(status.success());
        }
        paths.insert(key.as_str().unwrap(), None, target.display().to_string());
    }
    paths
}

fn check_conformance_case(case: &Path) -> Result<(), String> {
    let tool = tree(&case.join("tool.yml"));
    let job = tree(&case.join("job.yml"));
    let scratch = tempfile::tempdir().unwrap();
    let inputs = scratch.path().join("inputs");
    let workdir = scratch.path().join("outputs");
    std::fs::create_dir(&inputs).unwrap();
    std::fs::create_dir(&workdir).unwrap();
    let paths = stage_conformance_inputs(&job, &inputs);
    let wanted =
        red::plan::wanted(tool.root(), job.root(), &paths, Mode::Cwl).map_err(|e| e.to_string())?;
    let argv =
        argv::build(tool.root(), job.root(), &paths, Mode::Cwl).map_err(|e| e.to_string())?;
    let stream_file = |key: &str| match tool.root().get(key).and_then(|n| n.as_str()) {
        Some(name) => workdir.join(name),
        None => scratch.path().join(key),
    };
    let status = Command::new(&argv[0])
        .args(&argv[1..])
        .current_dir(&workdir)
        .stdout(std::fs::File::create(stream_file("stdout")).unwrap())
        .stderr(std::fs::File::create(stream_file("stderr")).unwrap())
        .status()
        .unwrap();
    if !status.success() {
        return Err(format!("exit status {status}"));
    }
    let collected =
        outputs::collect(&wanted, &DirListing::new(&workdir), &[]).map_err(|e| e.to_string())?;
    let expected: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(case.join("conformance_expected.json")).unwrap(),
    )
    .unwrap();
    let expected = expected.as_object().unwrap();
    if expected.len() != collected.len() {
        return Err(format!(
            "expected {} outputs, collected {collected:?}",
            expected.len()
        ));
    }
    for got in &collected {
        let want = &expected[&got.name];
        let path = match got.path.as_deref() {
            None if want.is_null() => continue,
            None => return Err(format!("`{}` not collected", got.name)),
            Some("<stdout>") => scratch.path().join("stdout"),
            Some("<stderr>") => scratch.path().join("stderr"),
            Some(relative) => workdir.join(relative),
        };
        if let Some(listing) = want["listing"].as_array() {
            let mut names: Vec<String> = std::fs::read_dir(&path)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            let wanted: Vec<&str> = listing
                .iter()
                .filter_map(|f| f["basename"].as_str())
                .collect();
            if names != wanted {
                return Err(format!(
                    "`{}` lists {names:?}, expected {wanted:?}",
                    got.name
                ));
            }
            let hello = std::fs::read(path.join("hello.txt")).unwrap();
            let want_hello = listing
                .iter()
                .find(|f| f["basename"] == "hello.txt")
                .unwrap();
            if format!("sha1${}", sha1(&hello)) != want_hello["checksum"] {
                return Err("hello.txt checksum differs".into());
            }
            continue;
        }
        let content = std::fs::read(&path).unwrap();
        let checksum = format!("sha1${}", sha1(&content));
        if checksum != want["checksum"] || Some(content.len() as u64) != want["size"].as_u64() {
            return Err(format!(
                "`{}`: {checksum}, {} bytes; expected {want}",
                got.name,
                content.len()
            ));
        }
    }
    Ok(())
}

#[test]
fn outputs_conformance_suite_matches_the_official_checksums() {
    let root = fixtures().join("outputs-conformance");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|case| {
            check_conformance_case(case)
                .err()
                .map(|e| format!("{}: {e}", case.file_name().unwrap().to_string_lossy()))
        })
        .collect();
    println!(
        "outputs conformance {}/{}",
        cases.len() - failures.len(),
        cases.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(cases.len(), 12);
}

/// 341 float spellings and what cwltool 3.3 prints for each (`tests/fixtures/cwl/floats-cwltool.tsv`,
/// made by running cwltool's own `tostr` on ruamel-loaded values).
#[test]
fn float_text_matches_cwltool_for_every_spelling() {
    let table = std::fs::read_to_string(fixtures().join("floats-cwltool.tsv")).unwrap();
    let inputs = "  a: {type: double, inputBinding: {}}\n";
    let mut failures = Vec::new();
    let mut not_floats = Vec::new();
    for line in table.lines() {
        let (lexeme, expected) = line.split_once('\t').unwrap();
        let value = red::parse::tree(&format!("a: {lexeme}")).unwrap();
        if value.root().get("a").map(|v| v.kind()) != Some(red::tree::Kind::Float) {
            // ruamel 0.19 reads `-.5` as a float; red's resolver follows the reference's
            // ruamel, for which a sign before a leading dot makes a string.
            not_floats.push(lexeme);
            continue;
        }
        match argv_of(inputs, &format!("a: {lexeme}"), Mode::Cwl) {
            Ok(argv) if argv[1] == expected => {}
            other => failures.push(format!("{lexeme}: expected {expected}, got {other:?}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {}:\n{}",
        failures.len(),
        table.lines().count(),
        failures.join("\n")
    );
    assert_eq!(not_floats, ["-.5"]);
}

proptest::proptest! {
    /// One plan entry per batch, in order, whatever the batch count and values.
    #[test]
    fn plan_has_one_entry_per_batch(flags in proptest::collection::vec(proptest::bool::ANY, 0..25)) {
        let batches: String = flags
            .iter()
            .map(|flag| format!("  - inputs: {{verbose: {flag}, name: 'x y'}}\n"))
            .collect();
        let text = format!(
            "redVersion: '9'\ncli:\n  cwlVersion: v1.0\n  class: CommandLineTool\n  \
             baseCommand: echo\n  inputs:\n    verbose: {{type: boolean, inputBinding: {{prefix: -v}}}}\n    \
             name: {{type: string, inputBinding: {{position: 1}}}}\n  outputs: {{}}\n\
             batches:\n{}container: {{engine: docker, settings: {{image: {{url: busybox}}}}}}\n",
            if batches.is_empty() { "  []\n".to_owned() } else { batches }
        );
        let source = red::source::SourceFile::new(red::source::Origin::Memory("p".into()), text);
        let parsed = red::load::text(source).unwrap();
        let validated = red::validate::document(parsed, &red::validate::Options::default()).unwrap();
        let filled = red::fill::apply(validated, &red::fill::Values::new()).unwrap();
        let options = red::plan::PlanOptions { mode: Mode::Cwl, stable_ids: true };
        let plan = red::plan::build(&filled, &options).unwrap();
        proptest::prop_assert_eq!(plan.batches.len(), flags.len());
        for (i, (batch, flag)) in plan.batches.iter().zip(&flags).enumerate() {
            proptest::prop_assert_eq!(batch.index, i);
            let expected: Vec<&str> = if *flag { vec!["echo", "-v", "x y"] } else { vec!["echo", "x y"] };
            proptest::prop_assert_eq!(&batch.argv, &expected);
        }
    }
}
