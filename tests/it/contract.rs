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

/// Every option's `-h` line is one summary of at most 100 characters; what else there is to
/// say goes after a blank line of its doc, into `--help`.
#[test]
fn every_short_help_is_one_summary() {
    fn walk(command: &clap::Command, path: &str, long: &mut Vec<String>) {
        for arg in command.get_arguments() {
            let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
            if help.chars().count() > 100 || help.contains('\n') {
                long.push(format!("red{path} {}: {help}", arg.get_id()));
            }
        }
        for sub in command.get_subcommands() {
            walk(sub, &format!("{path} {}", sub.get_name()), long);
        }
    }
    let mut long = Vec::new();
    walk(&red::app::command(), "", &mut long);
    assert!(
        long.is_empty(),
        "short help over one summary:\n{}",
        long.join("\n")
    );
}

/// The short help of every command, one snapshot: a change of any `-h` is reviewed.
#[test]
fn short_help_of_every_command() {
    fn walk(command: &clap::Command, path: &mut Vec<String>, out: &mut String) {
        let mut args = path.clone();
        args.push("-h".to_owned());
        let help = Red::new().args(&args).run();
        assert_eq!(help.code, 0, "red {}: {}", args.join(" "), help.stderr);
        out.push_str(&format!("===== red {}\n{}\n", args.join(" "), help.stdout));
        for sub in command.get_subcommands().filter(|s| s.get_name() != "help") {
            path.push(sub.get_name().to_owned());
            walk(sub, path, out);
            path.pop();
        }
    }
    let mut out = String::new();
    walk(&red::app::command(), &mut Vec::new(), &mut out);
    insta::assert_snapshot!("short-help-every-command", out);
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

/// `--to` is the document format; `--format yaml`, its older spelling on `upgrade` and
/// `schema show`, is still accepted (and not listed in the help).
#[test]
fn document_format_is_to_and_the_old_spelling_still_works() {
    let schema = |flags: &[&str]| {
        Red::new()
            .args(["schema", "show", "red-engine-container-docker"])
            .args(flags)
            .run()
    };
    let to = schema(&["--to", "yaml"]);
    assert_eq!(to.code, 0, "{}", to.stderr);
    assert!(to.stdout.starts_with("definitions:"), "{}", to.stdout);
    assert_eq!(schema(&["--format", "yaml"]).stdout, to.stdout);
    let help = Red::new().args(["schema", "show", "--help"]).run();
    assert!(!help.stdout.contains("yaml:  `--to"), "{}", help.stdout);

    let old = "redVersion: \"8\"\ncli:\n  cwlVersion: v1.0\n  class: CommandLineTool\n  \
               baseCommand: echo\n  inputs: {}\n  outputs: {}\ninputs: {}\noutputs: {}\n\
               container:\n  engine: docker\n  settings:\n    image: {url: busybox}\n    \
               ram: 256\n";
    let upgrade = |flag: &str| {
        Red::new()
            .file("old.red.yml", old)
            .args(["upgrade", "old.red.yml", flag, "json"])
            .run()
    };
    let to = upgrade("--to");
    assert_eq!(to.code, 0, "{}", to.stderr);
    assert!(to.stdout.starts_with('{'), "{}", to.stdout);
    assert_eq!(upgrade("--format").stdout, to.stdout);
    let help = Red::new().args(["upgrade", "--help"]).run();
    assert!(help.stdout.contains("--to <TO>"), "{}", help.stdout);
    assert!(!help.stdout.contains("--format"), "{}", help.stdout);
}

/// One JSON rule: a report is one pretty-printed document (NDJSON streams aside).
#[test]
fn json_reports_are_pretty() {
    for args in [
        vec!["schema", "list", "--format", "json"],
        vec!["gpus", "--format", "json"],
        vec!["vars", "--format", "json", "-"],
    ] {
        let run = Red::new().args(&args).stdin(b"redVersion: \"9\"\n").run();
        let value: serde_json::Value = serde_json::from_str(&run.stdout)
            .unwrap_or_else(|e| panic!("{args:?}: {e}\n{}", run.stdout));
        let pretty = serde_json::to_string_pretty(&value).unwrap_or_default();
        assert_eq!(run.stdout, format!("{pretty}\n"), "{args:?}");
    }
}

/// `red vars` on a file without variables says so on stderr; its data is empty (`[]` in JSON).
#[test]
fn vars_of_a_file_without_variables() {
    let file = example("hello.red.yml");
    let human = Red::new().args(["vars", &file]).run();
    assert_eq!(human.code, 0, "{}", human.stderr);
    assert_eq!(human.stdout, "");
    assert!(
        human.stderr.contains("has no variables"),
        "{}",
        human.stderr
    );
    let json = Red::new().args(["vars", "--format", "json", &file]).run();
    let value: serde_json::Value = serde_json::from_str(&json.stdout).unwrap_or_default();
    assert_eq!(value["variables"], serde_json::json!([]), "{}", json.stdout);
    assert_eq!(json.stderr, "");
}

/// `red validate F > log` keeps the report: findings and the verdict on stdout, the count on
/// stderr, for one file as for several.
#[test]
fn validate_reports_on_stdout_and_counts_on_stderr() {
    let bad = "redVersion: \"9\"\nbogus: 1\n";
    let one = Red::new()
        .file("bad.red.yml", bad)
        .args(["validate", "bad.red.yml"])
        .run();
    assert_eq!(one.code, 1);
    assert!(one.stdout.contains("error["), "{}", one.stdout);
    assert!(
        one.stdout.ends_with("bad.red.yml: invalid\n"),
        "{}",
        one.stdout
    );
    assert_eq!(one.stderr, "1 file checked, 0 valid, 1 invalid\n");
    let two = Red::new()
        .args([
            "validate",
            &example("hello.red.yml"),
            &example("batches.red.yml"),
        ])
        .run();
    assert_eq!(two.code, 0, "{}", two.stdout);
    assert!(
        two.stdout.contains("hello.red.yml: valid\n"),
        "{}",
        two.stdout
    );
    assert_eq!(two.stderr, "2 files checked, 2 valid, 0 invalid\n");
}

/// For every command that runs here without a service, `red CMD … > file` captures the data:
/// stdout is the same whatever `-q`/`-v` say, and with `-q` a successful run says nothing on
/// stderr.
#[test]
fn stdout_is_data_and_stderr_only_messages() {
    let hello = example("hello.red.yml");
    let agency = example("agency.red.yml");
    let cases: Vec<Vec<&str>> = vec![
        vec!["validate", &hello],
        vec!["validate", "--format", "json", &hello],
        vec!["schema", "list"],
        vec!["schema", "show", "red"],
        vec!["convert", "format", "--to", "json", &hello],
        vec!["vars", &agency],
        vec!["vars", "--format", "json", &agency],
        vec!["plan", &agency],
        vec!["plan", "--format", "json", &agency],
        vec!["fill", "--no-prompt", "-o", "-", &hello],
        vec!["gpus", "--format", "json"],
    ];
    for args in cases {
        let plain = Red::new().args(&args).run();
        assert_eq!(plain.code, 0, "{args:?}: {}", plain.stderr);
        assert!(!plain.stdout.is_empty(), "{args:?}: no data");
        let quiet = Red::new().args(["-q"]).args(&args).run();
        assert_eq!(quiet.stdout, plain.stdout, "{args:?}");
        assert_eq!(quiet.stderr, "", "{args:?}");
        let verbose = Red::new().args(["-v"]).args(&args).run();
        assert_eq!(verbose.stdout, plain.stdout, "{args:?}");
        for line in plain.stderr.lines() {
            assert!(
                !line.starts_with('{') && !line.starts_with("error"),
                "{args:?}: data or an error on stderr: {line}"
            );
        }
    }
}

/// One row per option of every command, from clap's own tree, so the table cannot go stale.
fn flag_table() -> String {
    fn cell(text: &str) -> String {
        text.replace('|', "\\|").replace('\n', " ")
    }
    fn walk(command: &clap::Command, path: &str, rows: &mut Vec<String>) {
        for arg in command.get_arguments() {
            let Some(long) = arg.get_long() else {
                continue;
            };
            let global = ["color", "quiet", "verbose", "help", "version"];
            if !path.is_empty() && global.contains(&arg.get_id().as_str()) {
                continue;
            }
            let short = arg
                .get_short()
                .map(|s| format!("-{s}, "))
                .unwrap_or_default();
            let value = if arg.get_action().takes_values() {
                arg.get_value_names()
                    .map(|names| format!(" <{}>", names.join(" ")))
                    .unwrap_or_default()
            } else {
                String::new()
            };
            let default: Vec<String> = arg
                .get_default_values()
                .iter()
                .map(|v| v.to_string_lossy().into_owned())
                .collect();
            let mut aliases: Vec<String> = arg
                .get_all_aliases()
                .unwrap_or_default()
                .iter()
                .map(|a| format!("`--{a}`"))
                .collect();
            if arg.is_hide_set() {
                aliases.push("hidden".to_owned());
            }
            let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
            rows.push(format!(
                "| `red{path}` | `{short}--{long}{}` | {} | {} | {} |",
                cell(&value),
                cell(&default.join(", ")),
                aliases.join(", "),
                cell(&help)
            ));
        }
        for sub in command.get_subcommands() {
            walk(sub, &format!("{path} {}", sub.get_name()), rows);
        }
    }
    let mut rows = Vec::new();
    walk(&red::app::command(), "", &mut rows);
    format!(
        "# Every flag of every command\n\n\
         Generated from red's command-line definition by `tests/it/contract.rs` (run \
         `RED_UPDATE_DOCS=1 cargo test --test it contract::` after changing a flag). The global \
         options are listed once, under `red`; every command takes them. \"Also\" names older \
         spellings that are still accepted; \"hidden\" ones are not in `--help`. What the words \
         mean is in [cli.md](cli.md).\n\n\
         | command | flag | default | also | meaning |\n| --- | --- | --- | --- | --- |\n{}\n",
        rows.join("\n")
    )
}

/// docs/flags.md is the table of every flag, as the code defines them.
#[test]
fn the_flag_table_is_current() {
    let path = root().join("docs/flags.md");
    let table = flag_table();
    if std::env::var_os("RED_UPDATE_DOCS").is_some() {
        std::fs::write(&path, &table).expect("write docs/flags.md");
    }
    let written = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        written == table,
        "docs/flags.md is stale: run `RED_UPDATE_DOCS=1 cargo test --test it contract::`"
    );
    // The vocabulary: one request is `--request-timeout`, one job or batch `--timeout`.
    for row in table.lines().filter(|r| r.contains("`--request-timeout <")) {
        assert!(row.contains("| 30 |"), "{row}");
    }
}
