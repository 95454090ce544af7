//! The command line itself: help, version, usage errors, exit codes, and the test layout.

use crate::support::{Red, root};

/// The version line names the project: Debian's `ed` package has a `red` of its own.
#[test]
fn version_is_printed() {
    let run = Red::new().args(["--version"]).run();
    assert_eq!(run.code, 0);
    assert_eq!(
        run.stdout.trim(),
        format!(
            "red {} (Reproducible Experiment Description toolkit)",
            env!("CARGO_PKG_VERSION")
        )
    );
}

#[test]
fn no_arguments_is_a_usage_error() {
    let run = Red::new().run();
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("Usage: red"), "{}", run.stderr);
}

#[test]
fn unknown_option_is_a_usage_error() {
    let run = Red::new()
        .args(["validate", "--no-such-flag", "x.yml"])
        .run();
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("--no-such-flag"), "{}", run.stderr);
}

/// Every subcommand has complete help that exits 0 (snapshots keep the texts reviewed).
#[test]
fn every_command_has_help() {
    let top = Red::new().args(["--help"]).run();
    assert_eq!(top.code, 0);
    let commands: Vec<String> = top
        .stdout
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .filter(|c| c != "help")
        .collect();
    assert!(commands.contains(&"validate".to_owned()), "{}", top.stdout);
    insta::assert_snapshot!("help", top.stdout);
    for command in commands {
        let run = Red::new().args([command.as_str(), "--help"]).run();
        assert_eq!(run.code, 0, "{command}: {}", run.stderr);
        assert!(run.stdout.contains("Usage: red"), "{command}");
        insta::assert_snapshot!(format!("help-{command}"), run.stdout);
    }
}

#[test]
fn missing_file_is_an_io_error() {
    let run = Red::new().args(["validate", "does-not-exist.yml"]).run();
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stdout.contains("does-not-exist.yml"), "{}", run.stdout);
}

#[test]
fn examples_are_valid() {
    let mut files: Vec<String> = std::fs::read_dir(root().join("examples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains(".red."))
        .map(|p| p.display().to_string())
        .collect();
    files.sort();
    assert!(files.len() >= 4, "{files:?}");
    let run = Red::new().args(["validate"]).args(&files).run();
    assert_eq!(run.code, 0, "{}", run.stderr);
}

/// Every `tests/it/*.rs` file is declared in `main.rs`, so no test file is silently skipped.
#[test]
fn no_forgotten_test_files() {
    let main = std::fs::read_to_string(root().join("tests/it/main.rs")).unwrap();
    for entry in std::fs::read_dir(root().join("tests/it")).unwrap() {
        let path = entry.unwrap().path();
        let Some(stem) = path.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        if path.extension().is_some_and(|e| e == "rs") && stem != "main" {
            assert!(
                main.contains(&format!("mod {stem};")),
                "tests/it/{stem}.rs is not declared in main.rs"
            );
        }
    }
}

/// Every test that runs the `red` binary does it through `support::Red`, so each run has its
/// scratch directory as `HOME` and none of the test's own `RED_VAR_*` or `RUST_LOG`. The one
/// other use of the binary's path is as the askpass program of the ssh connector.
#[test]
fn cli_tests_run_red_through_support() {
    let binary = concat!("CARGO_BIN_EXE_", "red");
    for entry in std::fs::read_dir(root().join("tests/it")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for line in text.lines().filter(|l| l.contains(binary)) {
            assert!(
                line.contains("with_askpass_program"),
                "{} runs red without support::Red: {line}",
                path.display()
            );
        }
    }
}

/// Every script in `scripts/` answers `--help` (and `-h`) with the comment block at its top and
/// does nothing else: it runs with a `PATH` that holds only `sed`, so a script that went on to
/// install, build or start anything would fail for want of the tool.
#[test]
fn every_script_answers_help_and_does_nothing() {
    use std::os::unix::fs::PermissionsExt;
    let tools = tempfile::tempdir().unwrap();
    let sed = ["/usr/bin/sed", "/bin/sed"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .expect("sed");
    std::os::unix::fs::symlink(sed, tools.path().join("sed")).unwrap();
    let mut checked = 0;
    for entry in std::fs::read_dir(root().join("scripts")).unwrap() {
        let path = entry.unwrap().path();
        let executable = path.metadata().unwrap().permissions().mode() & 0o111 != 0;
        if !path.is_file() || !executable {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let usage: Vec<&str> = text
            .lines()
            .skip(1)
            .take_while(|l| l.starts_with('#'))
            .map(|l| l.trim_start_matches('#').strip_prefix(' ').unwrap_or(""))
            .collect();
        for flag in ["--help", "-h"] {
            let output = std::process::Command::new("/bin/bash")
                .arg(&path)
                .arg(flag)
                .env_clear()
                .env("PATH", tools.path())
                .current_dir(tools.path())
                .output()
                .unwrap();
            let name = path.display();
            assert!(output.status.success(), "{name} {flag}: {output:?}");
            let stdout = String::from_utf8_lossy(&output.stdout);
            assert_eq!(stdout.lines().collect::<Vec<_>>(), usage, "{name} {flag}");
            assert!(output.stderr.is_empty(), "{name} {flag}: {output:?}");
        }
        assert!(usage.len() > 1, "{}: no usage comment", path.display());
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} scripts found");
}

/// Numbers no option can use are usage errors naming the range, never a panic (exit 101): these
/// four once reached `Duration::from_secs_f64` unchecked.
#[test]
fn numbers_out_of_range_are_usage_errors() {
    let cases: [&[&str]; 5] = [
        &["exec", "f.yml", "--timeout", "99999999999999999999h"],
        &["bench", "io", "f.bin", "--duration", "1e300"],
        &["mount", "--local", "a", "b", "--timeout", "1e300"],
        &["mount", "--local", "a", "b", "--cache-ttl", "1e300"],
        &["bench", "io", "f.bin", "--readers", "18446744073709551615"],
    ];
    for args in cases {
        let run = Red::new().args(args).run();
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(
            run.stderr.contains(" to ") || run.stderr.contains("..="),
            "{args:?}: {}",
            run.stderr
        );
        assert!(!run.stderr.contains("panicked"), "{args:?}: {}", run.stderr);
    }
}
