//! `red man [COMMAND…]`: print a man page (roff) on stdout, or with `--dir` write every page
//! (`red.1`, `red-exec.1`, …) into a directory that `man` searches (README, "Install").

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use crate::cli::generate;
use crate::cli::{ExitStatus, Printer};

/// Arguments of `red man`.
#[derive(Debug, Args)]
#[command(
    after_help = "Read one page with `red man exec | man -l -`. Install them all beside the \
    `red` that `cargo install` made, where `man` looks first while ~/.cargo/bin comes first on PATH:
  red man --dir ~/.cargo/share/man/man1
See docs/install.md."
)]
pub struct ManArgs {
    /// The command whose page to print (`exec`, `kiosk submit`); none for red's own page.
    #[arg(value_name = "COMMAND", conflicts_with = "dir")]
    pub command: Vec<String>,
    /// Write every page into this directory (made if missing) instead of printing one
    ///
    /// The pages are `red.1`, `red-exec.1` and one for every other subcommand.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// Run `red man` for `red`, the whole command line.
pub fn run(args: &ManArgs, printer: &Printer, red: &clap::Command) -> anyhow::Result<ExitStatus> {
    if let Some(dir) = &args.dir {
        return write_all(red, dir, printer);
    }
    let path: Vec<&str> = args.command.iter().map(String::as_str).collect();
    let Some(page) = generate::man_page(red, &path)? else {
        return Err(unknown(red, &path));
    };
    printer.out(&String::from_utf8_lossy(&page.roff));
    Ok(ExitStatus::Success)
}

/// Write every page into `dir`, naming each file on stderr.
fn write_all(
    red: &clap::Command,
    dir: &std::path::Path,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let pages = generate::man_pages(red)?;
    for page in &pages {
        let file = dir.join(page.file_name());
        std::fs::write(&file, &page.roff)
            .with_context(|| format!("cannot write {}", file.display()))?;
    }
    printer.err(&format!(
        "wrote {} man pages to {}\n",
        pages.len(),
        dir.display()
    ));
    Ok(ExitStatus::Success)
}

/// A usage error for a command that has no page, naming the commands that do under the
/// longest part of `path` that exists.
fn unknown(red: &clap::Command, path: &[&str]) -> anyhow::Error {
    let (depth, names) = (0..path.len())
        .rev()
        .find_map(|depth| generate::command_names(red, &path[..depth]).map(|names| (depth, names)))
        .unwrap_or_default();
    let known = path[..depth].join(" ");
    let parent = format!("red {known}");
    let parent = parent.trim_end();
    let hint = if names.is_empty() {
        format!("`{parent}` has no commands: `red man {known}` prints its page")
    } else {
        format!("`{parent}` has: {}", names.join(", "))
    };
    crate::cli::usage_with_hint(format!("no man page for `red {}`", path.join(" ")), hint)
}
