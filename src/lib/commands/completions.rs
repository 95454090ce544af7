//! `red completions SHELL`: print a shell's completion script on stdout, to be saved where the
//! shell looks for it (README, "Install").

use clap::Args;

use crate::cli::generate::{self, Shell};
use crate::cli::{ExitStatus, Printer};

/// Arguments of `red completions`.
#[derive(Debug, Args)]
#[command(
    after_help = "Save the script where the shell looks for it, for example:
  red completions bash > ~/.local/share/bash-completion/completions/red
  red completions zsh > ~/.zfunc/_red    (with `fpath+=~/.zfunc` before `compinit` in ~/.zshrc)
  red completions fish > ~/.config/fish/completions/red.fish
See docs/install.md."
)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: Shell,
}

/// Run `red completions` for `red`, the whole command line.
pub fn run(
    args: &CompletionsArgs,
    printer: &Printer,
    red: &clap::Command,
) -> anyhow::Result<ExitStatus> {
    let script = generate::completion_script(red, args.shell);
    printer.out(&String::from_utf8_lossy(&script));
    Ok(ExitStatus::Success)
}
