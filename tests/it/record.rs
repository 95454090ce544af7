//! The record side of a rerun, end to end: `red lock` against a real HTTP peer and local
//! files, the provenance crate of a real `red exec` in Docker, and `red compare` of two runs.
//!
//! Locking and running need the `docker-tests` feature (the image is pinned from the local
//! daemon and runs there) and the HTTP ones `peer-tests` too; a missing daemon, image or
//! Python then fails the test.

use std::fs;
use std::path::Path;

use crate::support::peers::{HttpServer, SERVER_PASSWORD};
use crate::support::{BUSYBOX, Run, Scratch};

const CANARY: &str = "canary-registry-secret-in-lock";

/// A RED file running `script` with `sh -c` in busybox, `inputs` (cli and job parts) and
/// File outputs `outputs` (names, globbed by name).
fn red_file(script: &str, inputs_cli: &str, inputs_job: &str, outputs: &[&str]) -> String {
    let outputs_cli: String = outputs
        .iter()
        .map(|name| {
            format!("    {name}:\n      type: File\n      outputBinding: {{glob: {name}.txt}}\n")
        })
        .collect();
    let script = serde_json::to_string(script).expect("json");
    format!(
        "redVersion: \"9\"\ncli:\n  cwlVersion: v1.0\n  class: CommandLineTool\n  baseCommand: [sh, -c, {script}]\n  inputs:\n{inputs_cli}\n  outputs:\n{outputs_cli}{inputs_job}\ncontainer:\n  engine: docker\n  settings:\n    image:\n      url: {BUSYBOX}\n      auth:\n        username: someone\n        password: '{{{{registry_password}}}}'\nexecution:\n  engine: ccfaice\n  settings: {{}}\n"
    )
}

fn red(scratch: &Scratch, args: &[&str]) -> Run {
    scratch
        .red()
        .args(args)
        .env("TMPDIR", scratch.tmp().to_str().expect("utf-8"))
        .run()
}

fn exec(scratch: &Scratch, file: &str, outputs: &str) -> Run {
    red(
        scratch,
        &[
            "exec",
            file,
            "--vars",
            "vars.yml",
            "--no-pull",
            "--outputs",
            outputs,
        ],
    )
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// Every file below `dir`, as text (lossy), for looking for secrets.
fn every_file(dir: &Path) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(&dir).expect("read dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let text = String::from_utf8_lossy(&fs::read(&path).expect("read")).into_owned();
                found.push((path.display().to_string(), text));
            }
        }
    }
    found
}

/// The crate of an outputs directory holds what the Process Run Crate profile requires.
fn assert_process_run_crate(dir: &Path) -> serde_json::Value {
    let metadata = json(&fs::read_to_string(dir.join("ro-crate-metadata.json")).expect("crate"));
    let graph = metadata["@graph"].as_array().expect("graph").clone();
    let entity = |id: &str| {
        graph
            .iter()
            .find(|e| e["@id"] == id)
            .unwrap_or_else(|| panic!("no entity {id} in {metadata}"))
            .clone()
    };
    assert_eq!(
        metadata["@context"][0],
        "https://w3id.org/ro/crate/1.1/context"
    );
    let descriptor = entity("ro-crate-metadata.json");
    assert_eq!(
        descriptor["conformsTo"]["@id"],
        "https://w3id.org/ro/crate/1.1"
    );
    let root = entity("./");
    assert_eq!(root["@type"], "Dataset");
    let profile = root["conformsTo"]["@id"].as_str().expect("conformsTo");
    assert!(
        profile.starts_with("https://w3id.org/ro/wfrun/process/"),
        "{profile}"
    );
    assert_eq!(entity(profile)["@type"], "CreativeWork");
    let action = entity(root["mentions"]["@id"].as_str().expect("mentions"));
    assert_eq!(action["@type"], "CreateAction");
    let tool = entity(action["instrument"]["@id"].as_str().expect("instrument"));
    assert!(
        tool["@type"].to_string().contains("SoftwareApplication"),
        "{tool}"
    );
    for key in [
        "startTime",
        "endTime",
        "actionStatus",
        "exitCode",
        "object",
        "result",
    ] {
        assert!(!action[key].is_null(), "the action has no {key}: {action}");
    }
    // Every file the crate names is in it.
    for part in root["hasPart"].as_array().expect("hasPart") {
        let id = part["@id"].as_str().expect("id");
        assert!(dir.join(id).exists(), "{id} is not in the crate");
        entity(id);
    }
    let image = entity(action["containerImage"]["@id"].as_str().expect("image"));
    assert_eq!(image["name"], "red-test/busybox");
    assert_eq!(image["sha256"].as_str().map(str::len), Some(64), "{image}");
    metadata
}

#[test]
#[cfg_attr(
    not(feature = "docker-tests"),
    ignore = "needs Docker: see docs/testing.md"
)]
fn two_runs_of_one_file_compare_identical_and_carry_their_provenance() {
    let scratch = Scratch::new();
    scratch.write("data.txt", "one\ntwo\n");
    scratch.write("vars.yml", format!("registry_password: {CANARY}\n"));
    scratch.write(
        "same.red.yml",
        red_file(
            "sort -r \"$0\" > sorted.txt",
            "    data:\n      type: File\n      inputBinding: {position: 0}",
            "inputs:\n  data:\n    class: File\n    connector:\n      command: red-connector-local\n      access:\n        path: data.txt\n",
            &["sorted"],
        ),
    );
    for dir in ["a", "b"] {
        let run = exec(&scratch, "same.red.yml", dir);
        assert_eq!(run.code, 0, "{run:?}");
    }
    let metadata = assert_process_run_crate(&scratch.path().join("a"));
    let text = metadata.to_string();
    assert!(text.contains("sha256"), "{text}");
    assert!(
        scratch
            .read("a/.red/red.yml")
            .contains("{{registry_password}}")
    );
    for (path, content) in every_file(&scratch.path().join("a")) {
        assert!(!content.contains(CANARY), "a secret in {path}");
    }
    let compared = red(&scratch, &["compare", "a", "b"]);
    assert_eq!(compared.code, 0, "{compared:?}");
    assert!(
        compared.stdout.contains("identical: 3 output(s)"),
        "{compared:?}"
    );
    let compared = red(&scratch, &["compare", "a", "b", "--format", "json"]);
    assert_eq!(compared.code, 0, "{compared:?}");
    let report = json(&compared.stdout);
    assert_eq!(report["identical"], true);
    assert_eq!(report["setup"], serde_json::json!([]), "{report}");
    scratch.assert_tmp_empty();
}

#[test]
#[cfg_attr(
    not(feature = "docker-tests"),
    ignore = "needs Docker: see docs/testing.md"
)]
fn a_nondeterministic_experiment_is_shown_where_it_differs() {
    let scratch = Scratch::new();
    scratch.write("vars.yml", format!("registry_password: {CANARY}\n"));
    scratch.write(
        "random.red.yml",
        red_file(
            "echo fixed > same.txt; cat /proc/sys/kernel/random/uuid > id.txt",
            "    {}",
            "inputs: {}\n",
            &["same", "id"],
        ),
    );
    for dir in ["a", "b"] {
        let run = exec(&scratch, "random.red.yml", dir);
        assert_eq!(run.code, 0, "{run:?}");
    }
    let compared = red(&scratch, &["compare", "a", "b", "--format", "json"]);
    assert_eq!(compared.code, 1, "{compared:?}");
    let report = json(&compared.stdout);
    assert_eq!(report["identical"], false);
    let different = report["different"].as_array().expect("different");
    assert_eq!(different.len(), 1, "{report}");
    assert_eq!(different[0]["path"], "id.txt");
    assert_eq!(different[0]["a"]["size"], 37);
    assert_ne!(different[0]["a"]["sha256"], different[0]["b"]["sha256"]);
    let line = &different[0]["firstDifference"];
    assert_eq!(line["line"], 1);
    assert_eq!(
        line["a"].as_str().map(str::trim),
        Some(scratch.read("a/id.txt").trim())
    );
    assert!(report["same"].to_string().contains("same.txt"), "{report}");
    let human = red(&scratch, &["compare", "a", "b"]);
    assert_eq!(human.code, 1);
    assert!(
        human.stdout.contains("differs: id.txt (37 bytes"),
        "{human:?}"
    );
    assert!(human.stdout.contains("  line 1: "), "{human:?}");
}

/// A file with an HTTP input behind basic auth, a local file and a local directory.
fn lockable(scratch: &Scratch, server: &HttpServer) {
    scratch.write("local.txt", "local data\n");
    scratch.write("dir/a.txt", "a\n");
    scratch.write("dir/sub/b.txt", "bb\n");
    scratch.write(
        "vars.yml",
        format!("http_password: {SERVER_PASSWORD}\nregistry_password: {CANARY}\n"),
    );
    let job = format!(
        "inputs:\n  remote:\n    class: File\n    connector:\n      command: red-connector-http\n      access:\n        url: {}\n        auth:\n          username: tester\n          password: '{{{{http_password}}}}'\n  local:\n    class: File\n    connector:\n      command: red-connector-local\n      access:\n        path: local.txt\n  dir:\n    class: Directory\n    connector:\n      command: red-connector-local\n      access:\n        path: dir\n",
        server.url("/private/remote.txt")
    );
    scratch.write(
        "lock.red.yml",
        red_file(
            "cat \"$0\" \"$1\" \"$2/sub/b.txt\" > all.txt",
            "    remote:\n      type: File\n      inputBinding: {position: 0}\n    local:\n      type: File\n      inputBinding: {position: 1}\n    dir:\n      type: Directory\n      inputBinding: {position: 2}",
            &job,
            &["all"],
        ),
    );
}

#[test]
#[cfg_attr(
    not(all(feature = "docker-tests", feature = "peer-tests")),
    ignore = "needs Docker and the HTTP peer: see docs/testing.md"
)]
fn a_locked_file_pins_records_keeps_templates_validates_and_is_verified() {
    let scratch = Scratch::new();
    let server = HttpServer::start(true);
    server.serve("remote.txt", b"remote data\n");
    lockable(&scratch, &server);
    let locked = red(
        &scratch,
        &[
            "lock",
            "lock.red.yml",
            "--vars",
            "vars.yml",
            "-o",
            "locked.red.yml",
        ],
    );
    assert_eq!(locked.code, 0, "{locked:?}");
    let text = scratch.read("locked.red.yml");
    // The secrets that fetched the input are templates still.
    assert!(text.contains("'{{http_password}}'"), "{text}");
    assert!(text.contains("'{{registry_password}}'"), "{text}");
    for secret in [SERVER_PASSWORD, CANARY] {
        assert!(!text.contains(secret), "{text}");
        assert!(!locked.all().contains(secret), "{locked:?}");
    }
    let locked_doc = json(
        &red(
            &scratch,
            &["convert", "format", "locked.red.yml", "--to", "json"],
        )
        .stdout,
    );
    let sha256 = |bytes: &[u8]| format!("sha256${}", crate::support::figures::sha256(bytes));
    let remote = &locked_doc["inputs"]["remote"];
    assert_eq!(remote["size"], 12);
    assert_eq!(remote["checksum"], sha256(b"remote data\n"));
    assert_eq!(
        locked_doc["inputs"]["local"]["checksum"],
        sha256(b"local data\n")
    );
    let listing = &locked_doc["inputs"]["dir"]["listing"];
    assert_eq!(listing[0]["basename"], "a.txt");
    assert_eq!(listing[0]["checksum"], sha256(b"a\n"));
    assert_eq!(listing[1]["listing"][0]["size"], 3);
    // A test image exists only here: its content id, said as such.
    let image = locked_doc["container"]["settings"]["image"]["url"]
        .as_str()
        .unwrap_or("");
    assert!(image.starts_with("sha256:") && image.len() == 71, "{image}");
    assert!(locked.stderr.contains("only on this host"), "{locked:?}");
    let validated = red(&scratch, &["validate", "--red-val", "locked.red.yml"]);
    assert_eq!(validated.code, 0, "{validated:?}");
    scratch.assert_tmp_empty();
    // It runs, and a run of it refuses an input that changed since.
    let run = exec(&scratch, "locked.red.yml", "out");
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(scratch.read("out/all.txt"), "remote data\nlocal data\nbb\n");
    server.serve("remote.txt", b"remote data, changed\n");
    let refused = exec(&scratch, "locked.red.yml", "changed");
    assert_eq!(refused.code, 1, "{refused:?}");
    // The batch's record is data: on stdout.
    assert!(refused.stdout.contains("input `remote`"), "{refused:?}");
    assert!(refused.stdout.contains("the RED file says"), "{refused:?}");
}

#[test]
#[cfg_attr(
    not(all(feature = "docker-tests", feature = "peer-tests")),
    ignore = "needs Docker and the HTTP peer: see docs/testing.md"
)]
fn without_fetching_only_local_inputs_are_locked_and_the_rest_is_named() {
    let scratch = Scratch::new();
    let server = HttpServer::start(true);
    server.serve("remote.txt", b"remote data\n");
    lockable(&scratch, &server);
    let locked = red(
        &scratch,
        &["lock", "lock.red.yml", "--vars", "vars.yml", "--no-fetch"],
    );
    assert_eq!(locked.code, 0, "{locked:?}");
    assert!(
        locked
            .stderr
            .contains("input `remote` was left unlocked: --no-fetch"),
        "{locked:?}"
    );
    assert!(
        locked.stderr.contains("locked 2 of 3 input(s)"),
        "{locked:?}"
    );
    assert!(
        !server.requests().contains("remote.txt"),
        "{}",
        server.requests()
    );
    let doc = json(
        &scratch
            .red()
            .args(["convert", "format", "-", "--to", "json"])
            .stdin(locked.stdout.as_bytes())
            .run()
            .stdout,
    );
    assert!(doc["inputs"]["remote"].get("checksum").is_none(), "{doc}");
    assert_eq!(doc["inputs"]["local"]["size"], 11);
}

#[test]
fn compare_refuses_what_is_not_a_run() {
    let scratch = Scratch::new();
    scratch.write("plain/file.txt", "x");
    let run = red(&scratch, &["compare", "plain", "missing"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr
            .contains("not the outputs directory of a red run"),
        "{run:?}"
    );
}

/// The Python that has roc-validator: `RED_ROCRATE_PYTHON`, else `rocrate-python` in the
/// peers' bin directory (scripts/peers-up installs it).
fn rocrate_python() -> std::path::PathBuf {
    let python = std::env::var_os("RED_ROCRATE_PYTHON").map_or_else(
        || crate::support::peers::peers_bin().join("rocrate-python"),
        std::path::PathBuf::from,
    );
    assert!(
        python.exists(),
        "no roc-validator at {}: run scripts/peers-up (or set RED_ROCRATE_PYTHON)",
        python.display()
    );
    python
}

fn rocrate_validate(dir: &Path, profile: &str) -> std::process::Output {
    std::process::Command::new(rocrate_python())
        .arg(crate::support::root().join("tests/peers/rocrate_validate.py"))
        .arg(dir)
        .arg(profile)
        .output()
        .expect("run roc-validator")
}

#[test]
#[cfg_attr(
    not(all(feature = "docker-tests", feature = "peer-tests")),
    ignore = "needs Docker and roc-validator (scripts/peers-up): see docs/testing.md"
)]
fn the_crate_of_a_run_passes_a_real_ro_crate_validator() {
    let scratch = Scratch::new();
    scratch.write("vars.yml", format!("registry_password: {CANARY}\n"));
    scratch.write(
        "v.red.yml",
        red_file("echo out > out.txt", "    {}", "inputs: {}\n", &["out"]),
    );
    let run = exec(&scratch, "v.red.yml", "run");
    assert_eq!(run.code, 0, "{run:?}");
    for profile in ["ro-crate-1.1", "process-run-crate-0.5"] {
        let checked = rocrate_validate(&scratch.path().join("run"), profile);
        let said = String::from_utf8_lossy(&checked.stdout);
        assert!(
            checked.status.success(),
            "{profile}: {said}{}",
            String::from_utf8_lossy(&checked.stderr)
        );
        assert!(said.contains("0 issue(s)"), "{said}");
    }
    // The validator does find a crate that lacks what RO-Crate requires.
    let metadata = scratch.path().join("run/ro-crate-metadata.json");
    let mut broken = json(&fs::read_to_string(&metadata).expect("crate"));
    for entity in broken["@graph"].as_array_mut().expect("graph") {
        if entity["@id"] == "./" {
            entity.as_object_mut().expect("root").remove("license");
        }
    }
    fs::write(&metadata, broken.to_string()).expect("write");
    let checked = rocrate_validate(&scratch.path().join("run"), "process-run-crate-0.5");
    assert!(
        !checked.status.success(),
        "{}",
        String::from_utf8_lossy(&checked.stdout)
    );
}
