//! The output contract every command keeps (docs/cli.md): data on stdout, messages on stderr,
//! `-q`/`-v` and `RED_LOG` for how much is said, `--color` shown once, short help with `-h`.

use crate::support::{Red, root};

fn example(name: &str) -> String {
    root().join("examples").join(name).display().to_string()
}

/// `--color` is in `red --help` and in no subcommand's help, yet every command accepts it.
#[test]
fn color_is_shown_once_and_accepted_everywhere() {
    let top = Red::new().args(["--help"]).run();
    assert!(top.stdout.contains("--color <WHEN>"), "{}", top.stdout);
    for command in ["validate", "exec", "schema", "kiosk"] {
        let help = Red::new().args([command, "--help"]).run();
        assert!(
            !help.stdout.contains("--color"),
            "{command}: {}",
            help.stdout
        );
        assert!(
            help.stdout.contains("-q, --quiet"),
            "{command}: {}",
            help.stdout
        );
    }
    let nested = Red::new()
        .args(["schema", "list", "--color", "never"])
        .run();
    assert_eq!(nested.code, 0, "{}", nested.stderr);
}

/// `-h` is the summary: one line per option, no lists of possible values.
#[test]
fn short_help_is_a_summary() {
    let short = Red::new().args(["exec", "-h"]).run();
    let long = Red::new().args(["exec", "--help"]).run();
    assert_eq!(short.code, 0);
    assert!(
        !short.stdout.contains("Possible values:"),
        "{}",
        short.stdout
    );
    assert!(long.stdout.contains("Possible values:"), "{}", long.stdout);
    assert!(short.stdout.lines().count() < long.stdout.lines().count());
    insta::assert_snapshot!("short-help-exec", short.stdout);
}

/// `-q` leaves out notes; the default shows them; `-v` and `RED_LOG` add debug lines.
#[test]
fn quiet_and_verbose_set_what_is_said() {
    let plan = |flags: &[&str], env: Option<&str>| {
        let mut red = Red::new()
            .args(flags)
            .args(["plan", &example("agency.red.yml")]);
        if let Some(filter) = env {
            red = red.env("RED_LOG", filter);
        }
        red.run()
    };
    let default = plan(&[], None);
    assert_eq!(default.code, 0, "{}", default.stderr);
    assert!(
        default.stderr.contains("note: not filled"),
        "{}",
        default.stderr
    );
    assert!(!default.stderr.contains("DEBUG"), "{}", default.stderr);
    let quiet = plan(&["-q"], None);
    assert_eq!(quiet.code, 0, "{}", quiet.stderr);
    assert_eq!(quiet.stderr, "");
    assert_eq!(quiet.stdout, default.stdout);
    let verbose = plan(&["-v"], None);
    assert!(
        verbose.stderr.contains("DEBUG red::cli::intake"),
        "{}",
        verbose.stderr
    );
    assert_eq!(verbose.stdout, default.stdout);
    let filtered = plan(&[], Some("red::cli=debug"));
    assert!(
        filtered.stderr.contains("DEBUG red::cli::intake"),
        "{}",
        filtered.stderr
    );
    let both = plan(&["-q", "-v"], None);
    assert_eq!(both.code, 2, "{}", both.stderr);
}

/// A debug line never shows a protected value: values are named with where they came from.
#[test]
fn debug_lines_name_sources_never_values() {
    let run = Red::new()
        .file(
            "vars.yml",
            "agency_user: canary-user-Wq3\nagency_password: canary-pass-Wq3\n",
        )
        .args([
            "-vv",
            "plan",
            &example("agency.red.yml"),
            "--vars",
            "vars.yml",
        ])
        .run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("agency_password"), "{}", run.stderr);
    assert!(!run.stderr.contains("canary-pass-Wq3"), "{}", run.stderr);
    assert!(!run.stdout.contains("canary-pass-Wq3"), "{}", run.stdout);
}
