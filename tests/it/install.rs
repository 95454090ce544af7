//! What installing red on a person's machine brings besides the binary: shell completions,
//! checked in the real shells, and man pages, rendered and looked up the way the README installs
//! them. The shells and `groff`/`man` come from `scripts/setup`; a missing one fails the test.

use std::path::Path;
use std::process::{Command, Output};

use clap::CommandFactory;

use crate::support::Red;

/// The script `red completions SHELL` prints (exit 0, nothing on stderr).
fn completions(shell: &str) -> String {
    let run = Red::new().args(["completions", shell]).run();
    assert_eq!(run.code, 0, "{shell}: {}", run.stderr);
    assert!(run.stderr.is_empty(), "{shell}: {}", run.stderr);
    assert!(!run.stdout.is_empty(), "{shell}: empty script");
    run.stdout
}

/// Run a tool this test needs, failing with what to install when it is missing.
fn tool(program: &str, args: &[&str], dir: &Path) -> Output {
    Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program} ({e}): scripts/setup installs it"))
}

/// The names of the visible commands of red, one level down.
fn command_names() -> Vec<String> {
    red::app::Cli::command()
        .get_subcommands()
        .filter(|c| !c.is_hide_set())
        .map(|c| c.get_name().to_owned())
        .collect()
}

/// What bash offers for the command line `words` (the last one being completed), with the
/// script where the README installs it under `home` and found there by bash-completion, and
/// the completion function called the way bash calls it.
fn bash_complete(home: &Path, words: &[&str]) -> Vec<String> {
    let cword = words.len() - 1;
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let previous = if cword == 0 { "" } else { words[cword - 1] };
    let program = format!(
        "source /usr/share/bash-completion/bash_completion || exit 3\n\
         _completion_loader red\n\
         complete -p red | grep -q -- '-F _red' || exit 4\n\
         COMP_WORDS=({}); COMP_CWORD={cword}; COMP_LINE='{}'; COMP_POINT=${{#COMP_LINE}}\n\
         _red red '{}' '{previous}'\n\
         printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        quoted.join(" "),
        words.join(" "),
        words[cword],
    );
    let output = Command::new("bash")
        .args(["--norc", "--noprofile", "-c", &program])
        .env("HOME", home)
        .env_remove("XDG_DATA_HOME")
        .env_remove("BASH_COMPLETION_USER_DIR")
        .output()
        .expect("bash");
    assert!(
        output.status.success(),
        "bash (bash-completion comes from scripts/setup): {output:?}"
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

/// The README's step, `red completions bash > ~/.local/share/bash-completion/completions/red`,
/// then `red ex<TAB>` in a real bash.
#[test]
fn bash_completes_commands_options_and_values() {
    let home = tempfile::tempdir().unwrap();
    let completions_dir = home.path().join(".local/share/bash-completion/completions");
    std::fs::create_dir_all(&completions_dir).unwrap();
    std::fs::write(completions_dir.join("red"), completions("bash")).unwrap();
    let home = home.path();
    assert_eq!(bash_complete(home, &["red", "ex"]), ["exec"]);
    let all = bash_complete(home, &["red", ""]);
    for name in command_names() {
        assert!(all.contains(&name), "{name} not offered: {all:?}");
    }
    assert_eq!(bash_complete(home, &["red", "kiosk", "su"]), ["submit"]);
    let options = bash_complete(home, &["red", "exec", "--no-p"]);
    assert!(options.contains(&"--no-pull".to_owned()), "{options:?}");
    let shells = bash_complete(home, &["red", "completions", ""]);
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        assert!(shells.contains(&shell.to_owned()), "{shell}: {shells:?}");
    }
}

#[test]
fn zsh_and_fish_load_their_scripts() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("_red"), completions("zsh")).unwrap();
    let zsh = tool("zsh", &["-n", "_red"], dir.path());
    assert!(zsh.status.success(), "zsh -n: {zsh:?}");
    let loaded = tool(
        "zsh",
        &[
            "-f",
            "-c",
            "autoload -U compinit && compinit -u -D && source ./_red",
        ],
        dir.path(),
    );
    assert!(
        loaded.status.success() && loaded.stderr.is_empty(),
        "zsh: {loaded:?}"
    );

    std::fs::write(dir.path().join("red.fish"), completions("fish")).unwrap();
    let fish = tool("fish", &["--no-config", "-n", "red.fish"], dir.path());
    assert!(fish.status.success(), "fish -n: {fish:?}");
    let offered = tool(
        "fish",
        &["--no-config", "-c", "source red.fish; complete -C 'red ex'"],
        dir.path(),
    );
    let offered = String::from_utf8_lossy(&offered.stdout);
    let first: Vec<&str> = offered
        .lines()
        .filter_map(|l| l.split('\t').next())
        .collect();
    assert_eq!(first, ["exec"], "{offered}");
}

/// Shells not on the test machine: their scripts offer every command and complete its
/// arguments (the scripts dispatch on `red;COMMAND`).
#[test]
fn elvish_and_powershell_scripts_name_every_command() {
    for shell in ["elvish", "powershell"] {
        let script = completions(shell);
        for name in command_names() {
            let offered = [
                format!("cand {name} '"),
                format!("::new('{name}', '{name}'"),
            ];
            assert!(
                offered.iter().any(|o| script.contains(o)),
                "{shell}: {name}"
            );
            assert!(script.contains(&format!("'red;{name}'")), "{shell}: {name}");
        }
    }
}

/// Every spelling clap does not show (hidden aliases, hidden options and commands), as it
/// would appear in a completion script.
fn hidden_spellings(command: &clap::Command, found: &mut Vec<String>) {
    for arg in command.get_arguments() {
        let longs = arg
            .get_long()
            .into_iter()
            .chain(arg.get_aliases().into_iter().flatten());
        let visible: Vec<&str> = arg.get_visible_aliases().unwrap_or_default();
        for long in longs {
            if arg.is_hide_set() || (Some(long) != arg.get_long() && !visible.contains(&long)) {
                found.push(format!("--{long}"));
            }
        }
    }
    for sub in command.get_subcommands() {
        let visible: Vec<&str> = sub.get_visible_aliases().collect();
        if sub.is_hide_set() {
            found.push(sub.get_name().to_owned());
        }
        found.extend(
            sub.get_all_aliases()
                .filter(|a| !visible.contains(a))
                .map(str::to_owned),
        );
        hidden_spellings(sub, found);
    }
}

/// Every spelling clap shows: visible long options and their visible aliases, and the names
/// and visible aliases of visible commands.
fn shown_spellings(command: &clap::Command, found: &mut Vec<String>) {
    for arg in command.get_arguments().filter(|arg| !arg.is_hide_set()) {
        let visible: Vec<&str> = arg.get_visible_aliases().unwrap_or_default();
        found.extend(
            arg.get_long()
                .into_iter()
                .chain(visible)
                .map(|l| format!("--{l}")),
        );
    }
    for sub in command.get_subcommands().filter(|sub| !sub.is_hide_set()) {
        found.push(sub.get_name().to_owned());
        found.extend(sub.get_visible_aliases().map(str::to_owned));
        shown_spellings(sub, found);
    }
}

/// Old spellings kept as hidden aliases work on the command line but are never offered. A
/// script is checked word by word, so a spelling hidden in one command but shown in another
/// (`upgrade --format`, the old name of `--to`, beside every other command's `--format`) is
/// not counted.
#[test]
fn hidden_spellings_are_never_offered() {
    let mut hidden = Vec::new();
    hidden_spellings(&red::app::Cli::command(), &mut hidden);
    let mut shown = Vec::new();
    shown_spellings(&red::app::Cli::command(), &mut shown);
    hidden.retain(|spelling| !shown.contains(spelling));
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let script = completions(shell);
        let words: Vec<&str> = script
            .split(|c: char| !(c.is_alphanumeric() || c == '-' || c == '_'))
            .collect();
        for spelling in &hidden {
            assert!(
                !words.contains(&spelling.as_str()),
                "{shell} offers {spelling}"
            );
        }
    }
}

/// `red man`'s page, as `groff` renders it for a terminal: no warnings.
fn render(roff: &str, dir: &Path) -> String {
    std::fs::write(dir.join("page.1"), roff).expect("write the page");
    let output = tool(
        "groff",
        &["-man", "-Tutf8", "-ww", "-P", "-cbou", "page.1"],
        dir,
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stderr.is_empty(),
        "groff: {stderr}"
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn man_page_of_red_names_every_command() {
    let run = Red::new().args(["man"]).run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("\n.TH RED 1 "), "{}", run.stdout);
    let dir = tempfile::tempdir().unwrap();
    let text = render(&run.stdout, dir.path());
    assert!(text.starts_with("RED(1)"), "{text}");
    assert!(
        text.contains("Reproducible Experiment Descriptions"),
        "{text}"
    );
    for name in command_names() {
        assert!(text.contains(&format!("red-{name}(1)")), "{name}: {text}");
        // Every command's own page renders without a warning (a `…` in a help text did not).
        let page = Red::new().args(["man", name.as_str()]).run();
        assert_eq!(page.code, 0, "{name}: {}", page.stderr);
        render(&page.stdout, dir.path());
    }
}

#[test]
fn man_page_of_one_command() {
    let run = Red::new().args(["man", "kiosk", "submit"]).run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    let dir = tempfile::tempdir().unwrap();
    let text = render(&run.stdout, dir.path());
    assert!(text.starts_with("RED-KIOSK-SUBMIT(1)"), "{text}");
    assert!(text.contains("--timeout"), "{text}");

    let exec = render(&Red::new().args(["man", "exec"]).run().stdout, dir.path());
    assert!(
        exec.starts_with("RED-EXEC(1)") && exec.contains("--no-pull"),
        "{exec}"
    );
}

#[test]
fn man_of_an_unknown_command_is_a_usage_error() {
    let run = Red::new().args(["man", "kiosk", "nope"]).run();
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    assert!(
        run.stderr.contains("no man page for `red kiosk nope`"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("`red kiosk` has: jobtypes, submit"),
        "{}",
        run.stderr
    );
}

/// `red man --dir` writes one page per command where `man` finds them: next to a `bin`
/// directory on `PATH`, as the README installs them beside `~/.cargo/bin`, so that they come
/// before the pages of another `red` later on `PATH`.
#[test]
fn man_dir_installs_pages_that_man_finds() {
    let home = tempfile::tempdir().unwrap();
    let bin = home.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let pages = home.path().join("share/man/man1");
    let run = Red::new()
        .args(["man", "--dir", pages.to_str().unwrap()])
        .run();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    let mut written: Vec<String> = std::fs::read_dir(&pages)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    written.sort();
    let mut expected = vec!["red.1".to_owned()];
    collect_pages(&red::app::Cli::command(), "red", &mut expected);
    expected.sort();
    assert_eq!(written, expected);
    assert!(
        run.stderr
            .contains(&format!("wrote {} man pages", expected.len())),
        "{}",
        run.stderr
    );

    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    for (page, title) in [("red", "RED(1)"), ("red-exec", "RED-EXEC(1)")] {
        let output = Command::new("man")
            .arg(page)
            .env("PATH", &path)
            .env_remove("MANPATH")
            .env("MANPAGER", "cat")
            .env("MANWIDTH", "100")
            .output()
            .expect("cannot run man: scripts/setup installs man-db");
        let text = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "man {page}: {output:?}");
        assert!(text.starts_with(title), "man {page}: {text}");
    }
}

fn collect_pages(command: &clap::Command, prefix: &str, pages: &mut Vec<String>) {
    for sub in command.get_subcommands().filter(|c| !c.is_hide_set()) {
        let name = format!("{prefix}-{}", sub.get_name());
        pages.push(format!("{name}.1"));
        collect_pages(sub, &name, pages);
    }
}

/// The README and docs/install.md give the steps these tests follow, and build with the locked
/// versions: every `cargo install` of red there has `--locked`.
#[test]
fn documented_steps_are_the_tested_ones() {
    let version = Red::new().args(["--version"]).run().stdout;
    for page in ["README.md", "docs/install.md"] {
        let text = std::fs::read_to_string(crate::support::root().join(page)).unwrap();
        for step in [
            "red completions bash > ~/.local/share/bash-completion/completions/red",
            "red man --dir ~/.cargo/share/man/man1",
            "cargo install --locked --path .",
            version.trim(),
        ] {
            assert!(text.contains(step), "{page}: {step}");
        }
        for line in text.lines().filter(|l| l.contains("cargo install --")) {
            assert!(line.contains("--locked"), "{page}: {line}");
        }
    }
}
