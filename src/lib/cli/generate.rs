//! Shell completions and man pages, generated from the clap definition that parses the command
//! line, so neither can drift from what `red` accepts. Spellings kept only for old habits (hidden
//! aliases, hidden options) stay out of both: they work when typed but are never offered
//! (`tests/it/install.rs` checks both).

use clap::Command;
use clap::builder::Resettable;
pub use clap_complete::Shell;

/// The completion script of `shell` for the binary `red`, whose command line is `red`.
#[must_use]
pub fn completion_script(red: &Command, shell: Shell) -> Vec<u8> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut offered(red), "red", &mut script);
    script
}

/// `command` as completions offer it. The generators leave out aliases that are not visible
/// but list hidden options and commands, so those are left out here, and so are the relations
/// between arguments, which may name what was left out; only conflicts between offered options
/// stay (zsh offers one of two that exclude each other).
fn offered(command: &Command) -> Command {
    let args = command
        .get_arguments()
        .filter(|arg| !arg.is_hide_set())
        .map(|arg| {
            let conflicts = command
                .get_arg_conflicts_with(arg)
                .into_iter()
                .filter(|other| !other.is_hide_set())
                .map(|other| other.get_id().clone())
                .collect::<Vec<_>>();
            arg.clone()
                .requires(Resettable::Reset)
                .conflicts_with(Resettable::Reset)
                .conflicts_with_all(conflicts)
                .overrides_with(Resettable::Reset)
                .required_unless_present(Resettable::Reset)
                .group(Resettable::Reset)
        });
    let mut offered = Command::new(command.get_name().to_owned())
        .visible_aliases(command.get_visible_aliases().map(str::to_owned))
        .args(args)
        .subcommands(visible(command).map(offered));
    if let Some(about) = command.get_about() {
        offered = offered.about(about.clone());
    }
    if let Some(version) = command.get_version() {
        offered = offered.version(version.to_owned());
    }
    // The one setting red's commands use that completions show: `-V` on every command.
    if command.is_propagate_version_set() {
        offered = offered.propagate_version(true);
    }
    offered
}

/// One man page: its name (`red`, `red-exec`, `red-kiosk-submit`) and its roff source.
#[derive(Debug, Clone)]
pub struct ManPage {
    /// The command's full name, words joined with `-`.
    pub name: String,
    /// The page, in roff (`man -l` or `groff -man` renders it).
    pub roff: Vec<u8>,
}

impl ManPage {
    /// The file name `man` looks for in a `man1` directory: `red-exec.1`.
    #[must_use]
    pub fn file_name(&self) -> String {
        format!("{}.1", self.name)
    }
}

/// The command tree as the pages show it: built, so that each command knows its full name, and
/// without the `help` command (the pages are the help).
fn documented(red: &Command) -> Command {
    let mut command = red.clone().disable_help_subcommand(true);
    command.build();
    command
}

/// The visible commands under `command`.
fn visible(command: &Command) -> impl Iterator<Item = &Command> {
    command.get_subcommands().filter(|sub| !sub.is_hide_set())
}

/// The names of the visible commands under the command at `path`, for a message that lists
/// what exists; `None` when no visible command has that path.
#[must_use]
pub fn command_names(red: &Command, path: &[&str]) -> Option<Vec<String>> {
    let root = documented(red);
    let command = find(&root, path)?;
    Some(
        visible(command)
            .map(|sub| sub.get_name().to_owned())
            .collect(),
    )
}

fn find<'a>(root: &'a Command, path: &[&str]) -> Option<&'a Command> {
    path.iter().try_fold(root, |command, word| {
        visible(command).find(|sub| sub.get_name() == *word)
    })
}

/// The man page of the command at `path` (`[]` for `red` itself, `["kiosk", "submit"]` for
/// `red-kiosk-submit`); `None` when no visible command has that path.
///
/// # Errors
/// Never in practice: the page is rendered into memory.
pub fn man_page(red: &Command, path: &[&str]) -> std::io::Result<Option<ManPage>> {
    let root = documented(red);
    find(&root, path).cloned().map(render).transpose()
}

/// Every man page: `red` first, then each visible command, depth first.
///
/// # Errors
/// Never in practice: the pages are rendered into memory.
pub fn man_pages(red: &Command) -> std::io::Result<Vec<ManPage>> {
    let mut pages = Vec::new();
    collect(documented(red), &mut pages)?;
    Ok(pages)
}

fn collect(command: Command, pages: &mut Vec<ManPage>) -> std::io::Result<()> {
    let children: Vec<Command> = visible(&command).cloned().collect();
    pages.push(render(command)?);
    children
        .into_iter()
        .try_for_each(|child| collect(child, pages))
}

fn render(command: Command) -> std::io::Result<ManPage> {
    let name = command
        .get_display_name()
        .unwrap_or_else(|| command.get_name())
        .to_owned();
    let man = clap_mangen::Man::new(command)
        .title(name.to_uppercase())
        .date("\\&")
        .source(format!("red {}", env!("CARGO_PKG_VERSION")))
        .manual("User Commands");
    let mut roff = Vec::new();
    man.render(&mut roff)?;
    Ok(ManPage {
        name,
        roff: ascii_roff(&String::from_utf8_lossy(&roff)).into_bytes(),
    })
}

/// `text` with every character outside ASCII written as a roff escape (`…` as `\[u2026]`):
/// groff reads its input as Latin-1 unless a preprocessor converts it, so the help texts' UTF-8
/// would come out as garbage with a warning; the escape reads the same in groff and mandoc.
fn ascii_roff(text: &str) -> String {
    use std::fmt::Write as _;
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        if character.is_ascii() {
            escaped.push(character);
        } else {
            let _ = write!(escaped, "\\[u{:04X}]", u32::from(character));
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use clap::{Arg, ArgAction};

    use super::*;

    /// A command with what completions must leave out: a hidden alias, a hidden option that a
    /// visible one conflicts with, and a hidden command.
    fn with_hidden_spellings() -> Command {
        let exec = Command::new("exec")
            .arg(
                Arg::new("no_pull")
                    .long("no-pull")
                    .alias("disable-pull")
                    .action(ArgAction::SetTrue)
                    .conflicts_with("old"),
            )
            .arg(
                Arg::new("old")
                    .long("old-way")
                    .hide(true)
                    .action(ArgAction::SetTrue),
            );
        Command::new("red")
            .version("1")
            .propagate_version(true)
            .subcommand(exec)
            .subcommand(Command::new("secret").hide(true))
    }

    fn bash(command: &mut Command) -> String {
        let mut script = Vec::new();
        clap_complete::generate(Shell::Bash, command, "red", &mut script);
        String::from_utf8_lossy(&script).into_owned()
    }

    #[test]
    fn characters_outside_ascii_become_roff_escapes() {
        assert_eq!(
            ascii_roff("pins (`name@sha256:…`) é"),
            "pins (`name@sha256:\\[u2026]`) \\[u00E9]"
        );
    }

    #[test]
    fn hidden_options_and_commands_are_not_offered() {
        // What the generator alone offers: the reason for `offered`.
        let unfiltered = bash(&mut with_hidden_spellings());
        assert!(unfiltered.contains("--old-way") && unfiltered.contains("secret"));

        let script = bash(&mut offered(&with_hidden_spellings()));
        assert!(
            script.contains("opts=\"-h -V --no-pull --help --version\""),
            "{script}"
        );
        for hidden in ["--old-way", "disable-pull", "secret"] {
            assert!(!script.contains(hidden), "{hidden}: {script}");
        }
    }

    #[test]
    fn pages_leave_out_the_help_command() {
        let pages = man_pages(&crate::app::command()).unwrap_or_default();
        let names: Vec<&str> = pages.iter().map(|page| page.name.as_str()).collect();
        assert_eq!(names.first(), Some(&"red"));
        assert!(names.contains(&"red-kiosk-submit"), "{names:?}");
        assert!(
            !names.iter().any(|name| name.ends_with("-help")),
            "{names:?}"
        );
        assert!(man_page(&crate::app::command(), &["help"]).is_ok_and(|page| page.is_none()));
    }
}
