//! `red gpus` with a stand-in `nvidia-smi` on `PATH` that prints a recorded-format sample
//! (tests/fixtures/gpus/) after checking it was asked the right query. This project's machines
//! have no GPU; the parser is tested on those samples.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::support::{Red, root};

/// A `PATH` directory holding an `nvidia-smi` script with this body.
fn fake_nvidia_smi(dir: &Path, body: &str) -> String {
    let bin = dir.join("fake-bin");
    std::fs::create_dir_all(&bin).expect("bin dir");
    let script = bin.join("nvidia-smi");
    std::fs::write(&script, format!("#!/bin/sh\n{body}\n")).expect("script");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    bin.to_string_lossy().into_owned()
}

fn printing(sample: &str) -> String {
    let fixture = root().join("tests/fixtures/gpus").join(sample);
    format!(
        "[ \"$*\" = \"--query-gpu=index,uuid,name,memory.total --format=csv,noheader,nounits\" ] \
         || {{ echo \"unexpected arguments: $*\" >&2; exit 9; }}\nexec /bin/cat '{}'",
        fixture.display()
    )
}

#[test]
fn lists_gpus_as_json() {
    let scratch = tempfile::tempdir().expect("temp dir");
    let path = fake_nvidia_smi(scratch.path(), &printing("workstation-mixed.csv"));
    let run = Red::new()
        .env("PATH", &path)
        .args(["gpus", "--format", "json"])
        .run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    let gpus = json["gpus"].as_array().expect("gpus array");
    let summary: Vec<(u64, &str, u64, &str)> = gpus
        .iter()
        .map(|g| {
            (
                g["index"].as_u64().unwrap_or(99),
                g["name"].as_str().unwrap_or(""),
                g["memoryMib"].as_u64().unwrap_or(0),
                g["vendor"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (0, "NVIDIA GeForce RTX 3090", 24576, "nvidia"),
            (1, "Tesla T4", 15360, "nvidia"),
            (2, "NVIDIA A100-SXM4-40GB", 40960, "nvidia"),
        ]
    );
    assert!(
        gpus.iter()
            .all(|g| g["uuid"].as_str().is_some_and(|u| u.starts_with("GPU-")))
    );
    assert!(json["note"].is_null());
}

#[test]
fn lists_gpus_for_people() {
    let scratch = tempfile::tempdir().expect("temp dir");
    let path = fake_nvidia_smi(scratch.path(), &printing("h100-80gb-hbm3-x8.csv"));
    let run = Red::new().env("PATH", &path).args(["gpus"]).run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 8);
    assert!(
        lines[0].starts_with(" 0    81559 MiB  NVIDIA H100 80GB HBM3  GPU-"),
        "{}",
        lines[0]
    );
    assert!(
        lines[7].starts_with(" 7    81559 MiB  NVIDIA H100 80GB HBM3  GPU-"),
        "{}",
        lines[7]
    );
}

#[test]
fn no_nvidia_smi_means_no_gpus_not_an_error() {
    let scratch = tempfile::tempdir().expect("temp dir");
    let empty = scratch.path().join("empty");
    std::fs::create_dir_all(&empty).expect("dir");
    let path = empty.to_string_lossy().into_owned();
    let run = Red::new().env("PATH", &path).args(["gpus"]).run();
    assert_eq!((run.code, run.stdout.as_str()), (0, ""));
    assert_eq!(
        run.stderr,
        "no NVIDIA GPUs found: `nvidia-smi` is not installed\n"
    );
    let run = Red::new()
        .env("PATH", &path)
        .args(["gpus", "--format", "json"])
        .run();
    assert_eq!(run.code, 0);
    assert_eq!(
        run.stdout,
        "{\n  \"gpus\": [],\n  \"note\": \"no NVIDIA GPUs found: `nvidia-smi` is not installed\"\n}\n"
    );
}

#[test]
fn a_failing_nvidia_smi_is_an_infrastructure_error() {
    let scratch = tempfile::tempdir().expect("temp dir");
    let message = "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.";
    let path = fake_nvidia_smi(scratch.path(), &format!("echo \"{message}\"\nexit 9"));
    let run = Red::new().env("PATH", &path).args(["gpus"]).run();
    assert_eq!(run.code, 2);
    assert_eq!(
        run.stderr,
        format!(
            "error: cannot list GPUs\n  caused by: `nvidia-smi` failed with exit code 9: {message}\n  \
             help: check that `nvidia-smi` runs on this host (it comes with the NVIDIA driver)\n"
        )
    );
}

#[test]
fn garbage_from_nvidia_smi_names_the_line() {
    let scratch = tempfile::tempdir().expect("temp dir");
    let path = fake_nvidia_smi(
        scratch.path(),
        "echo '0, GPU-a, Tesla T4, 15360'\necho 'No devices were found'",
    );
    let run = Red::new()
        .env("PATH", &path)
        .args(["gpus", "--format", "json"])
        .run();
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("line 2 of the `nvidia-smi` output is not `index, uuid, name, memory`: `No devices were found`"),
        "{}",
        run.stderr
    );
}
