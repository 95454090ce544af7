//! CI-native validation: `red validate DIR` (recursion, `--exclude`), the SARIF and GitHub
//! formats, the pre-commit hook, `--cli-compat` pinning on validate, and `red plan` without
//! credentials.
#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use crate::support::{Red, root};

/// A valid RED file (its argv is the same in `cwl` and `cc` semantics).
const VALID: &str = "redVersion: \"9\"\ncli:\n  cwlVersion: v1.0\n  class: CommandLineTool\n  \
    baseCommand: [wc]\n  inputs: {}\n  outputs: {}\ninputs: {}\ncontainer:\n  engine: docker\n  \
    settings:\n    image:\n      url: busybox\n    ram: 256\n";

/// A valid file whose argv differs between the two semantics (the prefixed input comes first
/// in cwl, in declaration order in cc).
const DIFFERING: &str = "redVersion: \"9\"\ncli:\n  cwlVersion: v1.0\n  class: CommandLineTool\n  \
    baseCommand: [wc]\n  inputs:\n    n:\n      type: int\n      inputBinding: {position: 1}\n    \
    l:\n      type: boolean\n      inputBinding: {prefix: -l}\n  outputs: {}\n\
    inputs: {n: 3, l: true}\ncontainer:\n  engine: docker\n  settings:\n    image:\n      \
    url: busybox\n    ram: 256\n";

/// An invalid file: its container engine (line 10, column 11) is also its image password, a
/// canary that no report may show.
const INVALID: &str = "redVersion: \"9\"\ncli:\n  cwlVersion: v1.0\n  class: CommandLineTool\n  \
    baseCommand: [wc]\n  inputs: {}\n  outputs: {}\ninputs: {}\ncontainer:\n  \
    engine: pw-canary-42x\n  settings:\n    image:\n      url: busybox\n      \
    auth: {username: u, password: pw-canary-42x}\n    ram: 256\n";

fn paths(json: &serde_json::Value) -> Vec<String> {
    json["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap().to_owned())
        .collect()
}

fn json(run: &crate::support::Run) -> serde_json::Value {
    serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}\n{}", run.stdout, run.stderr))
}

#[test]
fn a_directory_is_searched_for_red_files_in_a_fixed_order() {
    let run = Red::new()
        .file("tree/z.red.yml", VALID)
        .file("tree/b/c.red.yaml", VALID)
        .file("tree/a.red.json", "{\"redVersion\": \"9\"}")
        .file("tree/b/notes.yml", "not: red")
        .file("tree/b/c.red.yml.bak", "not red")
        .file("tree/.git/hooks.red.yml", "hidden: [")
        .file("extra.yml", VALID)
        .args(["validate", "extra.yml", "tree", "--format", "json"])
        .run();
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(
        paths(&json(&run)),
        [
            "extra.yml",
            "tree/a.red.json",
            "tree/b/c.red.yaml",
            "tree/z.red.yml"
        ]
    );
}

#[test]
fn exclude_leaves_out_names_and_paths_found_in_directories() {
    let run = Red::new()
        .file("t/keep.red.yml", VALID)
        .file("t/broken.red.yml", INVALID)
        .file("t/old/one.red.yml", INVALID)
        .file("t/deep/er/x.red.json", INVALID)
        .args(["validate", "./t", "--format", "json"])
        .args(["--exclude", "broken.red.yml", "--exclude", "t/old"])
        .args(["--exclude", "t/**/*.json"])
        .run();
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(paths(&json(&run)), ["./t/keep.red.yml"]);
    // Named on the command line, a file is checked even where a glob matches it.
    let run = Red::new()
        .file("broken.red.yml", INVALID)
        .args(["validate", "broken.red.yml", "--exclude", "*.red.yml"])
        .run();
    assert_eq!(run.code, 1, "{}", run.stderr);
}

#[test]
fn a_link_loop_is_walked_once() {
    let red = Red::new()
        .file("t/a.red.yml", VALID)
        .file("t/sub/b.red.yml", VALID);
    std::os::unix::fs::symlink("..", red.dir().join("t/sub/up")).unwrap();
    std::os::unix::fs::symlink("sub", red.dir().join("t/again")).unwrap();
    let run = red.args(["validate", "t", "--format", "json"]).run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(paths(&json(&run)), ["t/a.red.yml", "t/again/b.red.yml"]);
}

#[test]
fn a_directory_without_red_files_is_a_usage_error() {
    let run = Red::new()
        .file("t/x.yml", VALID)
        .file("t/y.red.yml", VALID)
        .args(["validate", "t", "--exclude", "y.*"])
        .run();
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("`t` holds no RED file"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("--exclude"), "{}", run.stderr);
}

/// The SARIF log of invalid, warned-about and valid files validates against the published
/// SARIF 2.1.0 schema (tests/fixtures/sarif), points at lines, and masks the file's secrets.
#[test]
fn sarif_validates_against_the_published_schema() {
    let run = Red::new()
        .file("t/bad.red.yml", INVALID)
        .file("t/warn.red.yml", DIFFERING)
        .file("t/ok.red.yml", VALID)
        .args(["validate", "t", "--format", "sarif"])
        .run();
    assert_eq!(run.code, 1, "{}", run.stderr);
    let log = json(&run);
    let schema_text =
        std::fs::read_to_string(root().join("tests/fixtures/sarif/sarif-schema-2.1.0.json"))
            .unwrap();
    let schema: serde_json::Value = serde_json::from_str(&schema_text).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&log)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}\n{log:#}");
    // The schema is enforced: a level SARIF does not know is refused.
    let mut broken = log.clone();
    broken["runs"][0]["results"][0]["level"] = "fatal".into();
    assert!(!validator.is_valid(&broken));
    let run0 = &log["runs"][0];
    assert_eq!(run0["tool"]["driver"]["name"], "red");
    let rules = run0["tool"]["driver"]["rules"].as_array().unwrap();
    let results = run0["results"].as_array().unwrap();
    let schema_error = results
        .iter()
        .find(|r| r["ruleId"] == "engine")
        .unwrap_or_else(|| panic!("{log:#}"));
    assert_eq!(schema_error["level"], "error");
    let location = &schema_error["locations"][0]["physicalLocation"];
    assert_eq!(location["artifactLocation"]["uri"], "t/bad.red.yml");
    assert_eq!(location["region"]["startLine"], 10);
    assert_eq!(location["region"]["startColumn"], 11);
    let message = schema_error["message"]["text"].as_str().unwrap();
    assert!(
        message.starts_with("container engine `********`"),
        "{message}"
    );
    let warning = results.iter().find(|r| r["ruleId"] == "argv-mode").unwrap();
    assert_eq!(warning["level"], "warning");
    for result in results {
        let index = usize::try_from(result["ruleIndex"].as_u64().unwrap()).unwrap();
        assert_eq!(rules[index]["id"], result["ruleId"]);
    }
    assert!(!run.stdout.contains("pw-canary-42x"), "{}", run.stdout);
}

#[test]
fn github_annotations_name_file_line_and_code_and_hide_secrets() {
    let run = Red::new()
        .file("a,b.red.yml", INVALID)
        .file("w.red.yml", DIFFERING)
        .args(["validate", "a,b.red.yml", "w.red.yml", "--format", "github"])
        .run();
    assert_eq!(run.code, 1, "{}", run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(
        lines.iter().any(|l| l.starts_with(
            "::error file=a%2Cb.red.yml,line=10,col=11,title=engine::container engine `********`"
        )),
        "{}",
        run.stdout
    );
    let warning = lines
        .iter()
        .find(|l| l.starts_with("::warning file=w.red.yml,line=3,col=3,title=argv-mode::"))
        .unwrap_or_else(|| panic!("{}", run.stdout));
    // The two argvs are on lines of their own in the annotation.
    assert!(
        warning.contains("%0Acwl: [\"wc\",\"-l\",\"3\"]%0Acc:  "),
        "{warning}"
    );
    assert!(!run.stdout.contains("pw-canary-42x"), "{}", run.stdout);
    assert!(
        run.stderr.contains("2 files checked, 1 valid, 1 invalid"),
        "{}",
        run.stderr
    );
}

/// `.pre-commit-hooks.yaml` parses, runs `red validate` on the files pre-commit passes, and
/// its `files` regex takes exactly the names `red validate DIR` takes.
#[test]
fn the_pre_commit_hook_takes_the_names_a_walk_takes() {
    let path = root().join(".pre-commit-hooks.yaml");
    let parsed = red::load::file(&path).unwrap();
    let hooks = parsed.tree.root();
    let ids: Vec<&str> = hooks
        .items()
        .map(|h| h.get("id").and_then(|i| i.as_str()).unwrap())
        .collect();
    assert!(ids.contains(&"red-validate"), "{ids:?}");
    for hook in hooks.items() {
        let field = |key: &str| {
            hook.get(key)
                .map(|v| v.text().to_owned())
                .unwrap_or_default()
        };
        assert_eq!(field("entry"), "red validate");
        assert_eq!(field("pass_filenames"), "true");
        assert!(matches!(field("language").as_str(), "rust" | "system"));
        let regex = regex::Regex::new(&field("files")).unwrap();
        for name in [
            "a.red.yml",
            "dir/b.red.yaml",
            "c.red.json",
            "a.yml",
            "a.red.yml.bak",
            "red.yml",
            "x.RED.yml",
            "a.redxyml",
            "dir.red.yml/readme.md",
        ] {
            let file = name.rsplit('/').next().unwrap();
            assert_eq!(
                regex.is_match(name),
                red::validate::walk::is_red_name(file),
                "{name}"
            );
        }
    }
}

#[test]
fn pinning_the_cli_rules_silences_the_argv_warning() {
    let red = || Red::new().file("w.red.yml", DIFFERING);
    let run = red().args(["validate", "w.red.yml"]).run();
    assert_eq!(run.code, 0, "{}", run.stdout);
    // A short warning, and the difference under it.
    assert!(
        run.stdout
            .contains("warning[argv-mode]: the argv differs between `cwl` and `cc` semantics\n"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("note: cwl: [\"wc\",\"-l\",\"3\"]\n"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("note: cc:  [\"wc\",\"3\",\"-l\"]\n"),
        "{}",
        run.stdout
    );
    for mode in ["cwl", "cc"] {
        let run = red()
            .args(["validate", "w.red.yml", "--cli-compat", mode])
            .run();
        assert_eq!(run.code, 0, "{}", run.stdout);
        assert!(!run.stdout.contains("argv-mode"), "{mode}: {}", run.stdout);
    }
}

#[test]
fn every_example_is_valid_without_a_warning() {
    let run = Red::new()
        .args(["validate", root().join("examples").to_str().unwrap()])
        .run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!run.stderr.contains("warning"), "{}", run.stderr);
    assert!(run.stderr.contains("4 files checked"), "{}", run.stderr);
}

/// Without values, `red plan` shows the plan with the variables as written and names them;
/// `--vars` still fills them.
#[test]
fn plan_without_credentials_shows_unfilled_variables() {
    let example = root().join("examples/batches.red.yml");
    let example = example.to_str().unwrap();
    let run = Red::new().args(["plan", example]).run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("{{ssh_user}}"), "{}", run.stdout);
    assert!(
        run.stderr
            .contains("note: not filled: `ssh_user`, `ssh_password`"),
        "{}",
        run.stderr
    );
    let run = Red::new()
        .file(
            "v.yml",
            "ssh_user: carol-user\nssh_password: pw-canary-77y\n",
        )
        .args(["plan", example, "--vars", "v.yml", "--format", "json"])
        .run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    let plan = json(&run);
    assert_eq!(plan["unfilled"], serde_json::json!([]));
    assert!(run.stdout.contains("carol-user"), "{}", run.stdout);
    assert!(!run.stdout.contains("pw-canary-77y"), "{}", run.stdout);
    assert!(!run.stderr.contains("not filled"), "{}", run.stderr);
}

/// Every SARIF rule is a code docs/validate.md lists.
#[test]
fn sarif_rules_are_documented_codes() {
    let docs = std::fs::read_to_string(root().join("docs/validate.md")).unwrap();
    for (code, description) in red::diagnostic::sarif::RULES {
        assert!(docs.contains(&format!("| `{code}` |")), "{code}");
        assert!(!description.is_empty(), "{code}");
    }
}
