//! One experiment whose every figure can be checked against the real thing, for any connector:
//! a File input `f` and a Directory input `d` arrive through the connector under test, the
//! command copies them to the outputs `copy` (`copy.bin`) and `tree` (`tree/`), and the test
//! compares what `red exec --format json` and `.red/result.json` say (`bytes`, `transferred`,
//! `size`, `sha256`, `files`) with the sizes and digests of the data itself.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;
use sha2::{Digest, Sha256};

/// What one run of the experiment said.
pub(crate) struct Figures {
    pub(crate) dir: tempfile::TempDir,
    /// The batch of the `run-finished` summary.
    pub(crate) batch: Value,
    /// Every NDJSON event.
    pub(crate) events: Vec<Value>,
}

/// Lower-case hex SHA-256 of `bytes`.
pub(crate) fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .fold(String::new(), |mut text, byte| {
            let _ = write!(text, "{byte:02x}");
            text
        })
}

/// Run the experiment with `inputs_job` (the RED file's `inputs:` section) and `outputs_job`
/// (its `outputs:` section, or empty for directory mode), with `path` put first on `PATH`.
pub(crate) fn run(inputs_job: &str, outputs_job: &str, path: Option<&Path>) -> Figures {
    let red = format!(
        r#"redVersion: "9"
cli:
  cwlVersion: v1.0
  class: CommandLineTool
  baseCommand: [sh, -c, 'cat "$0" > copy.bin && cp -r "$1" tree']
  inputs:
    f: {{type: File, inputBinding: {{position: 0}}}}
    d: {{type: Directory, inputBinding: {{position: 1}}}}
  outputs:
    copy: {{type: File, outputBinding: {{glob: copy.bin}}}}
    tree: {{type: Directory, outputBinding: {{glob: tree}}}}
{inputs_job}
{outputs_job}
container:
  engine: docker
  settings:
    image: {{url: "red-test/busybox:latest"}}
    ram: 256
"#
    );
    let dir = tempfile::tempdir().expect("temp dir");
    fs::write(dir.path().join("figures.red.yml"), red).expect("red file");
    fs::create_dir(dir.path().join("tmp")).expect("tmp");
    let mut command = Command::new(env!("CARGO_BIN_EXE_red"));
    command
        .args(["exec", "figures.red.yml", "--format", "json"])
        .current_dir(dir.path())
        .env("TMPDIR", dir.path().join("tmp"))
        .stdin(Stdio::null());
    if let Some(path) = path {
        let rest = std::env::var("PATH").unwrap_or_default();
        command.env("PATH", format!("{}:{rest}", path.display()));
    }
    let output = command.output().expect("red exec");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let events: Vec<Value> = stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    let last = events.last().cloned().unwrap_or_default();
    assert_eq!(last["event"], "run-finished", "{stdout}");
    let batch = last["batches"][0].clone();
    let figures = Figures { dir, batch, events };
    figures.agree();
    figures
}

impl Figures {
    /// The events, the summary and `.red/result.json` say the same.
    fn agree(&self) {
        let record: Value = serde_json::from_str(
            &fs::read_to_string(self.dir.path().join("outputs/.red/result.json"))
                .expect("result.json"),
        )
        .expect("result.json is JSON");
        assert_eq!(record["inputs"], self.batch["inputs"], "{record}");
        assert_eq!(record["outputs"], self.batch["outputs"], "{record}");
        for staged in self.events.iter().filter(|e| e["event"] == "input-staged") {
            let mut event = staged.clone();
            if let Some(fields) = event.as_object_mut() {
                fields.remove("event");
                fields.remove("batch");
            }
            let name = staged["name"].as_str().unwrap_or_default();
            assert_eq!(event, *self.input(name), "the event and the summary differ");
        }
    }

    fn entry<'a>(&'a self, list: &str, name: &str) -> &'a Value {
        self.batch[list]
            .as_array()
            .and_then(|all| all.iter().find(|entry| entry["name"] == name))
            .unwrap_or_else(|| panic!("no {list} entry {name}: {}", self.batch))
    }

    pub(crate) fn input(&self, name: &str) -> &Value {
        self.entry("inputs", name)
    }

    pub(crate) fn output(&self, name: &str) -> &Value {
        self.entry("outputs", name)
    }

    /// Input `name` has `bytes` bytes and the connector moved `transferred`.
    pub(crate) fn assert_input(&self, name: &str, bytes: u64, transferred: u64) {
        let input = self.input(name);
        assert_eq!(input["bytes"], bytes, "{input}");
        assert_eq!(input["transferred"], transferred, "{input}");
    }

    /// Output `copy` is `bytes`, by size and digest; where it was delivered to the outputs
    /// directory, the file there is too. Input `f`, which it copies, was recorded with that
    /// digest as it arrived; the Directory input `d` has none.
    pub(crate) fn assert_copy(&self, bytes: &[u8]) {
        let (f, d) = (self.input("f"), self.input("d"));
        assert_eq!(f["sha256"], sha256(bytes), "{f}");
        assert_eq!(d["sha256"], Value::Null, "{d}");
        let copy = self.output("copy");
        assert_eq!(copy["size"], bytes.len(), "{copy}");
        assert_eq!(copy["sha256"], sha256(bytes), "{copy}");
        let delivered = copy["delivered"].as_str().unwrap_or_default();
        if delivered.starts_with('/') {
            assert!(fs::read(delivered).expect("delivered copy") == bytes);
        }
    }

    /// Output `tree` holds `files` files of `size` bytes in all.
    pub(crate) fn assert_tree(&self, size: u64, files: u64) {
        let tree = self.output("tree");
        assert_eq!(tree["size"], size, "{tree}");
        assert_eq!(tree["files"], files, "{tree}");
    }
}
