//! `red vars` and `red fill` through the binary: listings, sources and precedence, private
//! output, located errors, the canary tests (no secret in any output on any path) and the
//! terminal prompt in a pseudo-terminal.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::support::{Run, Scratch};

const TEMPLATE: &str = include_str!("../fixtures/fill/template.red.yml");
const TEMPLATE_JSON: &str = include_str!("../fixtures/fill/template.red.json");
const VALUES: &str = include_str!("../fixtures/fill/values.yml");

fn workspace(files: &[(&str, &str)]) -> Scratch {
    let scratch = Scratch::new();
    for (name, text) in files {
        scratch.write(name, text);
    }
    scratch
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .expect("file exists")
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn vars_lists_names_uses_and_protection_never_values() {
    let dir = workspace(&[("t.red.yml", TEMPLATE)]);
    let run = dir.red().args(["vars", "t.red.yml"]).run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.stdout,
        "host\n  29:15    /inputs/text_file/connector/access/host\n\
         user\n  31:19    /inputs/text_file/connector/access/username\n  \
         33:19    /inputs/text_file/connector/access/filePath\n\
         ssh_password  (protected)\n  32:19    /inputs/text_file/connector/access/password\n\
         registry_user  (protected)\n  40:20    /container/settings/image/auth/_username\n\
         registry_password  (protected)\n  41:20    /container/settings/image/auth/_password\n"
    );
    let run = dir
        .red()
        .args(["vars", "t.red.yml", "--format", "json"])
        .run();
    let json: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON listing");
    let names: Vec<_> = json["variables"]
        .as_array()
        .expect("variables")
        .iter()
        .map(|v| (v["name"].as_str().unwrap_or(""), v["protected"] == true))
        .collect();
    assert_eq!(
        names,
        vec![
            ("host", false),
            ("user", false),
            ("ssh_password", true),
            ("registry_user", true),
            ("registry_password", true)
        ]
    );
    assert_eq!(json["variables"][1]["uses"][1]["line"], 33);
    assert_eq!(json["valid"], true);
}

#[test]
fn vars_reports_misplaced_placeholders_with_locations() {
    let bad = TEMPLATE
        .replace("baseCommand: \"grepwrap\"", "baseCommand: \"{{cmd}}\"")
        .replace("password: \"{{ssh_password}}\"", "password: \"{{}}\"")
        .replace("query_term:\n      type", "_query_term:\n      type");
    let dir = workspace(&[("t.red.yml", &bad)]);
    let run = dir.red().args(["vars", "t.red.yml"]).run();
    assert_eq!(run.code, 1);
    for expected in [
        "t.red.yml:6:16",
        "placeholders may only stand below an `access` or `auth` key",
        "t.red.yml:9:5",
        "protected key `_query_term` outside an `access` or `auth` block",
        "t.red.yml:32:19",
        "a placeholder has an empty name",
    ] {
        assert!(
            run.stderr.contains(expected),
            "missing {expected}:\n{}",
            run.stderr
        );
    }
    let run = dir
        .red()
        .args(["vars", "t.red.yml", "--format", "json"])
        .run();
    let json: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON listing");
    let located: Vec<_> = json["diagnostics"]
        .as_array()
        .expect("diagnostics")
        .iter()
        .map(|d| {
            (
                d["pointer"].as_str().unwrap_or("").to_owned(),
                d["line"].clone(),
            )
        })
        .collect();
    assert_eq!(
        located,
        vec![
            ("/cli/baseCommand".to_owned(), 6.into()),
            ("/cli/inputs/_query_term".to_owned(), 9.into()),
            (
                "/inputs/text_file/connector/access/password".to_owned(),
                32.into()
            ),
        ]
    );
}

#[test]
fn fill_writes_a_private_file_next_to_the_template() {
    let dir = workspace(&[("t.red.yml", TEMPLATE), ("v.yml", VALUES)]);
    let run = dir
        .red()
        .args(["fill", "t.red.yml", "--vars", "v.yml"])
        .run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    let out = dir.path().join("t.red.filled.yml");
    assert_eq!(mode(&out), 0o600);
    let filled = std::fs::read_to_string(&out).expect("filled file");
    let expected = TEMPLATE
        .replace("\"{{host}}\"", "\"example.org\"")
        .replace("'{{user}}'", "\"alice\"")
        .replace("\"{{ssh_password}}\"", "\"pa(ss*w\\\\rd\"")
        .replace("/home/{{user}}/in.txt", "\"/home/alice/in.txt\"")
        .replace("\"{{registry_user}}\"", "\"ünï✓\"")
        .replace("\"{{registry_password}}\"", "\"pa(ss*w\\\\rd-longer\"");
    assert_eq!(filled, expected);
    assert!(run.stderr.contains("filled 5 variables (3 protected)"));
    assert!(!run.all().contains("pa(ss"));
    // The filled file has no variables left, and filling it again changes nothing.
    let again = dir.red().args(["vars", "t.red.filled.yml"]).run();
    assert_eq!((again.code, again.stdout.as_str()), (0, ""));
    let twice = dir
        .red()
        .args(["fill", "t.red.filled.yml", "--no-prompt", "-o", "twice.yml"])
        .run();
    assert_eq!(twice.code, 0, "{}", twice.stderr);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("twice.yml")).expect("refilled"),
        filled
    );
}

#[test]
fn fill_to_stdout_only_when_asked_and_json_stays_json() {
    let dir = workspace(&[
        ("t.red.json", TEMPLATE_JSON),
        (
            "v.json",
            "{\"host\": \"h\", \"user\": \"u\", \"pw\": \"p\\\"w\"}",
        ),
    ]);
    let run = dir
        .red()
        .args(["fill", "t.red.json", "--vars", "v.json", "-o", "-"])
        .run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).expect("filled JSON");
    assert_eq!(
        json.pointer("/inputs/text_file/connector/access/auth/password"),
        Some(&serde_json::Value::from("p\"w"))
    );
    assert!(!dir.path().join("t.red.filled.json").exists());
    // Standard input as the template needs an explicit output.
    let run = dir.red().args(["fill", "-", "--no-prompt"]).run();
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("needs `-o OUT`"), "{}", run.stderr);
    // The template is never overwritten.
    let run = dir
        .red()
        .args(["fill", "t.red.json", "-o", "./t.red.json"])
        .run();
    assert_eq!(run.code, 2);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("t.red.json")).expect("template"),
        TEMPLATE_JSON
    );
}

#[test]
fn precedence_is_files_in_order_then_environment() {
    let dir = workspace(&[
        ("t.red.yml", TEMPLATE),
        (
            "a.yml",
            "host: from-a\nuser: from-a\nunused_one: x\ntypo_pw: y\n",
        ),
        ("b.yml", "user: from-b\nregistry_user: from-b\n"),
    ]);
    let env = [
        ("RED_VAR_user", "from-env"),
        ("RED_VAR_ssh_password", "env-pw"),
        ("RED_VAR_registry_password", "env-rpw"),
    ];
    let run = dir
        .red()
        .args([
            "fill",
            "t.red.yml",
            "--vars",
            "a.yml",
            "--vars",
            "b.yml",
            "--env",
            "-o",
            "-",
        ])
        .envs(&env)
        .run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    for line in [
        "host: \"from-a\"",
        "username: \"from-b\"",
        "password: \"env-pw\"",
        "_username: \"from-b\"",
        "_password: \"env-rpw\"",
    ] {
        assert!(run.stdout.contains(line), "missing {line}");
    }
    assert!(
        run.stderr
            .contains("`a.yml` sets `unused_one`, `typo_pw`, which `t.red.yml` does not use"),
        "{}",
        run.stderr
    );
    // Without --env the environment is not read.
    let run = dir
        .red()
        .args(["fill", "t.red.yml", "--vars", "a.yml", "-o", "-"])
        .envs(&env)
        .run();
    assert_eq!(run.code, 1);
    assert!(
        run.stderr
            .contains("no value for `ssh_password`, `registry_user`, `registry_password`"),
        "{}",
        run.stderr
    );
}

#[test]
fn fill_report_as_json() {
    let dir = workspace(&[("t.red.yml", TEMPLATE), ("v.yml", VALUES)]);
    let run = dir
        .red()
        .args([
            "fill",
            "t.red.yml",
            "--vars",
            "v.yml",
            "--env",
            "--format",
            "json",
            "-o",
            "out.yml",
        ])
        .envs(&[("RED_VAR_host", "ignored-because-the-file-wins")])
        .run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON report");
    assert_eq!(json["output"], "out.yml");
    assert_eq!(json["variables"][0]["name"], "host");
    assert_eq!(json["variables"][0]["source"], "v.yml:1:1");
    assert_eq!(json["variables"][2]["protected"], true);
    assert!(!run.stdout.contains("pa(ss"));
}

// ---------------------------------------------------------------------------------------------
// Canary tests: secrets made to break a naive masker, then every error path.

/// The secrets: regex metacharacters, a backslash, Unicode, one a prefix of another, and one
/// equal to a word that messages and key paths use (written literally in the template, as
/// `access.auth.password`, so that every path knows it). That one is shorter than 8 characters:
/// red's own words keep it (`file` stays `file`), and its place in the file is never quoted.
const CANARY_PAREN: &str = "CANARY(open";
const CANARY_STAR: &str = "CANARY*star.+?";
const CANARY_BACKSLASH: &str = "CANARY\\bslX";
const CANARY_UNICODE: &str = "CÄNÄRY✓ünï";
const CANARY_PREFIX: &str = "CANARYpre";
const CANARY_LONGER: &str = "CANARYpreTAILX";
const CANARY_WORD: &str = "file";

/// Fragments that must never be printed: each canary has at least one, and the tails catch a
/// secret masked only up to its prefix.
const FORBIDDEN: &[&str] = &[
    "CANARY",
    "CÄNÄRY",
    "TAILX",
    "bslX",
    "✓ünï",
    "(open",
    "*star",
    "password: \"file\"",
];

fn canary_template() -> String {
    TEMPLATE
        .replace("port: 22", "port: 22\n        _token: \"CANARYpre\"")
        .replace(
            "        filePath: /home/{{user}}/in.txt",
            "        filePath: /home/{{user}}/in.txt\n        privateKey: \"{{key}}\"\n        \
             auth:\n          password: \"file\"",
        )
}

fn canary_values() -> String {
    format!(
        "host: example.org\nuser: alice\nssh_password: {}\nregistry_user: {}\n\
         registry_password: {}\nkey: {}\n",
        serde_json::Value::from(CANARY_PAREN),
        serde_json::Value::from(CANARY_UNICODE),
        serde_json::Value::from(CANARY_LONGER),
        serde_json::Value::from(CANARY_BACKSLASH),
    )
}

fn assert_no_canary(run: &Run, what: &str) {
    for fragment in FORBIDDEN {
        assert!(
            !run.stdout.contains(fragment) && !run.stderr.contains(fragment),
            "{what}: `{fragment}` leaked\n--- stdout\n{}\n--- stderr\n{}",
            run.stdout,
            run.stderr
        );
    }
}

/// Run in human and JSON format, check the exit code and that nothing leaked.
fn check_paths(dir: &Scratch, cases: &[(&str, Vec<&str>, i32)]) {
    for (what, args, code) in cases {
        for format in ["human", "json"] {
            let mut args = args.clone();
            args.extend(["--format", format]);
            let run = dir
                .red()
                .args(&args)
                .envs(&[("RED_VAR_registry_user", CANARY_STAR)])
                .run();
            assert_eq!(run.code, *code, "{what} ({format}): {}", run.all());
            assert_no_canary(&run, &format!("{what} ({format})"));
            if format == "json" && !run.stdout.is_empty() {
                assert!(
                    serde_json::from_str::<serde_json::Value>(&run.stdout).is_ok(),
                    "{what}: JSON output expected:\n{}",
                    run.stdout
                );
            }
        }
    }
}

#[test]
fn canaries_reach_the_filled_file_and_nothing_else() {
    let template = canary_template();
    let values = canary_values();
    let dir = workspace(&[("t.red.yml", &template), ("v.yml", &values)]);
    // Positive control: the secrets do reach the file, so the checks below can fail.
    let run = dir
        .red()
        .args(["fill", "t.red.yml", "--vars", "v.yml", "-o", "-"])
        .run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    for canary in [CANARY_PAREN, CANARY_UNICODE, CANARY_LONGER, CANARY_PREFIX] {
        assert!(run.stdout.contains(canary), "{canary} not filled");
    }
    assert!(run.stdout.contains("CANARY\\\\bslX"));
    assert!(run.stdout.contains(&format!("password: \"{CANARY_WORD}\"")));
    assert_no_canary(
        &Run {
            code: 0,
            stdout: String::new(),
            stderr: run.stderr.clone(),
        },
        "stderr of -o -",
    );
    let env_values = values.replace("registry_user", "not_registry_user");
    std::fs::write(dir.path().join("env.yml"), env_values).expect("written");
    check_paths(
        &dir,
        &[
            ("vars", vec!["vars", "t.red.yml"], 0),
            (
                "success",
                vec![
                    "fill",
                    "t.red.yml",
                    "--vars",
                    "env.yml",
                    "--env",
                    "-o",
                    "out.yml",
                ],
                0,
            ),
        ],
    );
    let filled = std::fs::read_to_string(dir.path().join("out.yml")).expect("filled");
    assert!(filled.contains(CANARY_STAR));
    assert_eq!(mode(&dir.path().join("out.yml")), 0o600);
}

#[test]
fn canaries_stay_hidden_on_every_error_path() {
    let template = canary_template();
    let values = canary_values();
    let partial: String = values.lines().take(3).map(|l| format!("{l}\n")).collect();
    let bad_value = format!("{values}extra: [{CANARY_PAREN}]\n");
    let bad_tag = format!("{values}extra: !!int {CANARY_PAREN}\n");
    let bad_syntax = format!("{values}broken: \"{CANARY_PAREN}\n");
    let bad_name = format!("{values}? [{CANARY_PAREN}]\n: x\n");
    let brackets = values.replace("CANARY(open", "CANARY(open{{x}}");
    let unparsable = template.replace("_token: \"CANARYpre\"", "_token: [CANARYpre");
    let tagged = template.replace("_token: \"CANARYpre\"", "_token: !!int CANARYpre");
    let misplaced = template.replace(
        "query_term:    \"QU\"",
        "query_term:    \"QU\"\n  password: \"CANARYpre\"",
    );
    let stray = template.replace("_token: \"CANARYpre\"", "_token: \"CANARYpre}}\"");
    let dir = workspace(&[
        ("t.red.yml", &template),
        ("v.yml", &values),
        ("partial.yml", &partial),
        ("bad-value.yml", &bad_value),
        ("bad-tag.yml", &bad_tag),
        ("bad-syntax.yml", &bad_syntax),
        ("bad-name.yml", &bad_name),
        ("brackets.yml", &brackets),
        ("unparsable.red.yml", &unparsable),
        ("tagged.red.yml", &tagged),
        ("misplaced.red.yml", &misplaced),
        ("stray.red.yml", &stray),
    ]);
    let fill = |vars: &'static str| vec!["fill", "t.red.yml", "--vars", vars, "-o", "out.yml"];
    check_paths(
        &dir,
        &[
            ("value of a wrong type", fill("bad-value.yml"), 1),
            ("bad tag in a variables file", fill("bad-tag.yml"), 1),
            (
                "syntax error in a variables file",
                fill("bad-syntax.yml"),
                1,
            ),
            ("name that is not a string", fill("bad-name.yml"), 1),
            ("missing values", fill("partial.yml"), 1),
            ("value with brackets", fill("brackets.yml"), 1),
            ("variables file not found", fill("nowhere.yml"), 2),
            (
                "output directory missing",
                vec![
                    "fill",
                    "t.red.yml",
                    "--vars",
                    "v.yml",
                    "-o",
                    "no/such/out.yml",
                ],
                2,
            ),
            (
                "unparsable template",
                vec![
                    "fill",
                    "unparsable.red.yml",
                    "--vars",
                    "v.yml",
                    "-o",
                    "o.yml",
                ],
                1,
            ),
            (
                "unparsable template, vars",
                vec!["vars", "unparsable.red.yml"],
                1,
            ),
            (
                "tagged secret",
                vec!["fill", "tagged.red.yml", "--vars", "v.yml", "-o", "o.yml"],
                1,
            ),
            (
                "protected key outside access",
                vec![
                    "fill",
                    "misplaced.red.yml",
                    "--vars",
                    "v.yml",
                    "-o",
                    "o.yml",
                ],
                1,
            ),
            ("misplaced, vars", vec!["vars", "misplaced.red.yml"], 1),
            (
                "stray brackets in a literal secret",
                vec!["fill", "stray.red.yml", "--vars", "v.yml", "-o", "o.yml"],
                1,
            ),
            ("stray, vars", vec!["vars", "stray.red.yml"], 1),
        ],
    );
    // Without a template nothing is read, so no secret is known or printed.
    let run = dir
        .red()
        .args(["fill", "none.red.yml", "--vars", "v.yml", "-o", "o.yml"])
        .run();
    assert_eq!(run.code, 2);
    assert!(!run.all().contains("CANARY"));
    assert!(!dir.path().join("out.yml").exists());
    assert!(!dir.path().join("o.yml").exists());
}

#[test]
fn every_error_path_is_located() {
    let dir = workspace(&[("t.red.yml", TEMPLATE), ("bad.yml", "host: x\nuser: [1]\n")]);
    let run = dir
        .red()
        .args(["fill", "t.red.yml", "--vars", "bad.yml", "-o", "o.yml"])
        .run();
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("bad.yml:2:7"), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("the value of `user` in `bad.yml` must be a string or a number, not a list"),
        "{}",
        run.stderr
    );
}

// ---------------------------------------------------------------------------------------------
// The prompt, in a pseudo-terminal.

fn pty_template(dir: &Path) -> PathBuf {
    let text = TEMPLATE
        .replace("\"{{host}}\"", "\"h\"")
        .replace("\"{{registry_user}}\"", "\"literal-registry-user\"")
        .replace("\"{{registry_password}}\"", "\"literal-registry-password\"");
    let path = dir.join("t.red.yml");
    std::fs::write(&path, text).expect("template written");
    path
}

/// Wait until the program on the terminal has turned echo off (dialoguer reads keys in raw
/// mode), so typed text is only shown if the program chooses to show it.
fn wait_for_raw_mode(session: &mut expectrl::session::OsSession) {
    use expectrl::process::Termios;
    for _ in 0..500 {
        if !session.is_echo().unwrap_or(true) {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("the prompt never switched the terminal to raw mode");
}

#[test]
fn prompt_hides_protected_values_and_shows_the_others() {
    use expectrl::Expect;
    let dir = Scratch::new();
    let template = pty_template(dir.path());
    let out = dir.path().join("out.yml");
    let mut command = dir
        .red()
        .args([
            "fill",
            template.to_str().expect("utf-8"),
            "-o",
            out.to_str().expect("utf-8"),
        ])
        .env("TERM", "dumb")
        .into_command();
    // The pseudo-terminal is its standard input and output.
    command
        .stdin(Stdio::inherit())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit());
    let mut session = expectrl::Session::spawn(command).expect("spawned in a pty");
    session.set_expect_timeout(Some(std::time::Duration::from_secs(60)));
    let mut screen = Vec::new();
    let found = session.expect("user").expect("prompt for user");
    screen.extend_from_slice(found.before());
    screen.extend_from_slice(found.as_bytes());
    wait_for_raw_mode(&mut session);
    session.send("visible-alice\r").expect("typed");
    let found = session
        .expect("ssh_password (hidden)")
        .expect("prompt for password");
    screen.extend_from_slice(found.before());
    screen.extend_from_slice(found.as_bytes());
    wait_for_raw_mode(&mut session);
    session.send("HIDDENpw\r").expect("typed");
    let code = crate::support::pty::wait_for_exit(&mut session, &mut screen);
    let screen = String::from_utf8_lossy(&screen);
    assert_eq!(code, 0, "{screen}");
    assert!(
        screen.contains("visible-alice"),
        "visible input not echoed:\n{screen}"
    );
    assert!(
        !screen.contains("HIDDENpw"),
        "hidden input was shown:\n{screen}"
    );
    assert!(
        screen.contains("filled 2 variables (1 protected)"),
        "{screen}"
    );
    let filled = std::fs::read_to_string(&out).expect("filled file");
    assert!(filled.contains("password: \"HIDDENpw\""));
    assert!(filled.contains("username: \"visible-alice\""));
    assert_eq!(mode(&out), 0o600);
}

#[test]
fn no_terminal_means_no_prompt() {
    let dir = Scratch::new();
    pty_template(dir.path());
    let run = dir
        .red()
        .args(["fill", "t.red.yml", "--prompt", "-o", "o.yml"])
        .run();
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("cannot prompt"), "{}", run.stderr);
    let run = dir.red().args(["fill", "t.red.yml", "-o", "o.yml"]).run();
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("no value for `user`, `ssh_password`"),
        "{}",
        run.stderr
    );
}

#[test]
fn what_users_see() {
    let stray = TEMPLATE.replace("\"{{registry_password}}\"", "\"s3cr3t}}\"");
    let dir = workspace(&[
        ("t.red.yml", TEMPLATE),
        ("stray.red.yml", &stray),
        ("v.yml", VALUES),
        ("bad.yml", "host: x\nuser: [a]\n"),
        ("extra.yml", "host: x\nuser: y\nsh_password: typo\n"),
    ]);
    let mut seen = String::new();
    for args in [
        &["vars", "t.red.yml"][..],
        &["fill", "stray.red.yml", "--vars", "v.yml"],
        &["fill", "t.red.yml", "--vars", "bad.yml"],
        &["fill", "t.red.yml", "--vars", "extra.yml", "--no-prompt"],
        &["fill", "t.red.yml", "--vars", "v.yml", "-o", "out.yml"],
    ] {
        let run = dir.red().args(args).run();
        seen.push_str(&format!(
            "$ red {}\nexit: {}\n--- stdout\n{}--- stderr\n{}\n",
            args.join(" "),
            run.code,
            run.stdout,
            run.stderr
        ));
    }
    insta::assert_snapshot!("fill_what_users_see", seen);
}
