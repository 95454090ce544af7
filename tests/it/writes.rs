//! Every file a command writes where `-o` says (`red fill`, `red convert format|batches|cwl`,
//! `red upgrade`): a device, a pipe or `/dev/stdout` is written through and never replaced, and a
//! file that holds a protected value is private (mode 0600), whichever command writes it.

#![allow(clippy::unwrap_used)]

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{Red, Run};

const CANARY: &str = "canary-Pw-41d7";
const TEMPLATE: &str = include_str!("../fixtures/fill/template.red.yml");
const VALUES: &str = include_str!("../fixtures/fill/values.yml");
const RED8: &str = include_str!(
    "../fixtures/upgrade/curious-containers__red-guide-vagrant__grepwrap__b14903e9.red.yml"
);

/// A filled RED 9 file with two batches and a registry password.
fn filled_batches() -> String {
    format!(
        "\
redVersion: '9'
cli:
  cwlVersion: v1.0
  class: CommandLineTool
  baseCommand: echo
  inputs:
    text: {{type: string, inputBinding: {{position: 0}}}}
  outputs: {{}}
batches:
- inputs: {{text: hello}}
- inputs: {{text: world}}
container:
  engine: docker
  settings:
    image:
      url: 'busybox:1'
      auth: {{username: alice, password: {CANARY}}}
"
    )
}

/// A filled RED 8 file (its ssh password given).
fn filled_red8() -> String {
    RED8.replace("{{ssh_username}}", "alice")
        .replace("{{ssh_password}}", CANARY)
}

/// A scratch directory with the files every command here reads.
fn workspace() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in [
        ("t.red.yml", TEMPLATE.to_owned()),
        ("v.yml", VALUES.to_owned()),
        ("batches.red.yml", filled_batches()),
        ("old.red.yml", filled_red8()),
    ] {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    dir
}

fn red(dir: &Path, args: &[&str]) -> Run {
    Red::new().current_dir(dir).args(args).run()
}

/// The commands that write one file, each with the output path last.
fn single_file_commands() -> Vec<Vec<&'static str>> {
    vec![
        vec!["fill", "t.red.yml", "--vars", "v.yml", "-o"],
        vec!["convert", "format", "--to", "json", "batches.red.yml", "-o"],
        vec!["upgrade", "old.red.yml", "-o"],
    ]
}

fn with_output<'a>(command: &[&'a str], output: &'a str) -> Vec<&'a str> {
    let mut args = command.to_vec();
    args.push(output);
    args
}

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap()
        .permissions()
        .mode()
        & 0o777
}

fn assert_dev_null_intact() {
    let meta = std::fs::symlink_metadata("/dev/null").unwrap();
    assert!(meta.file_type().is_char_device(), "/dev/null was replaced");
    assert_eq!(meta.permissions().mode() & 0o777, 0o666);
}

#[test]
fn dev_null_stays_a_device_whatever_writes_to_it() {
    let dir = workspace();
    for command in single_file_commands() {
        let output = red(dir.path(), &with_output(&command, "/dev/null"));
        assert_eq!(output.code, 0, "{command:?}: {}", output.stderr);
        assert_dev_null_intact();
    }
    for command in [
        ["convert", "batches", "batches.red.yml", "-o", "/dev/null"],
        ["convert", "cwl", "batches.red.yml", "-o", "/dev/null"],
    ] {
        let output = red(dir.path(), &command);
        assert_eq!(output.code, 2, "{command:?}: {}", output.stderr);
        assert!(
            output.stderr.contains("`/dev/null` is not a directory"),
            "{}",
            output.stderr
        );
        assert_dev_null_intact();
    }
}

#[test]
fn a_fifo_receives_what_is_written_and_stays_a_fifo() {
    let dir = workspace();
    for command in single_file_commands() {
        let fifo = dir.path().join("pipe");
        let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
        assert!(made.success());
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || std::fs::read_to_string(fifo).unwrap())
        };
        let output = red(dir.path(), &with_output(&command, "pipe"));
        assert_eq!(output.code, 0, "{command:?}: {}", output.stderr);
        // Checked before the reader is joined: a replaced FIFO never gets a writer.
        assert!(
            std::fs::symlink_metadata(&fifo)
                .unwrap()
                .file_type()
                .is_fifo(),
            "{command:?} replaced the FIFO"
        );
        let received = reader.join().unwrap();
        assert!(received.contains("redVersion"), "{command:?}: {received}");
        std::fs::remove_file(&fifo).unwrap();
    }
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|name| name.to_string_lossy().starts_with('.'))
        .collect();
    assert!(left.is_empty(), "temporary files left: {left:?}");
}

#[test]
fn dev_stdout_is_written_through_to_the_pipe() {
    let dir = workspace();
    let output = red(
        dir.path(),
        &[
            "convert",
            "format",
            "--to",
            "json",
            "batches.red.yml",
            "-o",
            "/dev/stdout",
        ],
    );
    assert_eq!(output.code, 0, "{}", output.stderr);
    let text = output.stdout.clone();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(json["redVersion"], "9");
    assert!(
        std::fs::symlink_metadata("/dev/stdout")
            .unwrap()
            .is_symlink()
    );
}

#[test]
fn directories_and_sockets_are_refused_and_left_alone() {
    let dir = workspace();
    let socket = dir.path().join("sock");
    let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    std::fs::create_dir(dir.path().join("subdir")).unwrap();
    for target in ["sock", "subdir"] {
        for command in single_file_commands() {
            let output = red(dir.path(), &with_output(&command, target));
            assert_eq!(output.code, 2, "{command:?}: {}", output.stderr);
            assert!(
                output.stderr.contains(&format!("`{target}` is a")),
                "{}",
                output.stderr
            );
        }
    }
    assert!(
        std::fs::symlink_metadata(&socket)
            .unwrap()
            .file_type()
            .is_socket()
    );
    assert!(
        std::fs::read_dir(dir.path().join("subdir"))
            .unwrap()
            .next()
            .is_none()
    );
}

#[test]
fn a_file_holding_a_protected_value_is_private_whichever_command_writes_it() {
    let dir = workspace();
    for (command, written) in [
        (
            vec![
                "convert",
                "format",
                "--to",
                "json",
                "batches.red.yml",
                "-o",
                "f.json",
            ],
            "f.json",
        ),
        (
            vec!["upgrade", "old.red.yml", "-o", "up.red.yml"],
            "up.red.yml",
        ),
        (
            vec!["fill", "t.red.yml", "--vars", "v.yml", "-o", "filled.yml"],
            "filled.yml",
        ),
    ] {
        // An existing world-readable file does not lend the new one its mode.
        std::fs::write(dir.path().join(written), "old").unwrap();
        std::fs::set_permissions(
            dir.path().join(written),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        let output = red(dir.path(), &command);
        assert_eq!(output.code, 0, "{command:?}: {}", output.stderr);
        assert_eq!(mode(&dir.path().join(written)), 0o600, "{command:?}");
    }
    let text = std::fs::read_to_string(dir.path().join("up.red.yml")).unwrap();
    assert!(text.contains(CANARY), "the upgrade kept the password");
    for existing in [false, true] {
        for (kind, files) in [
            ("batches", vec!["batch_0.yml", "batch_1.yml"]),
            ("cwl", vec!["cli.cwl", "job_0.yml", "job_1.yml"]),
        ] {
            let out: PathBuf = dir.path().join(format!("{kind}-{existing}"));
            if existing {
                std::fs::create_dir(&out).unwrap();
            }
            let output = red(
                dir.path(),
                &[
                    "convert",
                    kind,
                    "batches.red.yml",
                    "-o",
                    out.to_str().unwrap(),
                ],
            );
            assert_eq!(output.code, 0, "{kind}: {}", output.stderr);
            for file in files {
                assert_eq!(mode(&out.join(file)), 0o600, "{kind} {file}");
            }
        }
    }
}
