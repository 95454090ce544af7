//! The command table: the whole command line of `red` ([`Cli`]), which command runs, and the exit
//! code. It sits above both [`crate::commands`] (one thin module per subcommand) and
//! [`crate::cli`] (what every command shares: flags, printing, errors, the runtime), so that
//! neither of those needs the other's top: commands use the edge's services, and only this
//! table knows every command.

use std::ffi::OsString;
use std::process::ExitCode;

use clap::{ArgMatches, CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::cli::{
    self, ColorChoice, ErrorFormat, ExitStatus, Failure, Printer, log, raw_error_format,
};
use crate::commands;

/// The help heading of the options every command takes.
const GLOBAL: &str = "Global options";

/// Validate, convert, fill, plan and run Reproducible Experiment Descriptions (RED files).
#[derive(Debug, Parser)]
#[command(name = "red", version = cli::VERSION, about, long_about = None, propagate_version = true, max_term_width = 100)]
pub struct Cli {
    /// When to use colours (shown here only, accepted by every command).
    #[arg(long, global = true, value_enum, value_name = "WHEN",
          default_value_t = ColorChoice::Auto, help_heading = GLOBAL)]
    pub color: ColorChoice,
    /// Say less: `-q` no notes or progress, `-qq` no warnings either.
    ///
    /// Errors always show.
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "verbose",
          help_heading = GLOBAL)]
    pub quiet: u8,
    /// Say more: `-v` debug lines, `-vv` trace lines.
    ///
    /// Debug lines say which Docker calls are made, where each value was found, how long the
    /// steps took.
    /// `RED_LOG` filters the debug lines as `RUST_LOG` does (`RED_LOG=red::execute=debug`).
    #[arg(short, long, global = true, action = clap::ArgAction::Count, help_heading = GLOBAL)]
    pub verbose: u8,
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check RED files against the RED 9 rules and report every problem.
    Validate(commands::validate::ValidateArgs),
    /// List or show the embedded RED 9 JSON Schemas, or check a file against one.
    #[command(subcommand)]
    Schema(commands::schema::SchemaCommand),
    /// Rewrite a file as JSON or YAML, one file per batch, or CWL.
    #[command(subcommand)]
    Convert(commands::convert::ConvertCommand),
    /// Convert a RED 5, 6, 7 or 8 file to RED 9, reporting every change.
    Upgrade(commands::upgrade::UpgradeArgs),
    /// List the `{{variables}}` of a RED file and where each is used; never prints a value.
    Vars(commands::vars::VarsArgs),
    /// Fill the `{{variables}}` of a RED file from files, the environment or a prompt.
    Fill(commands::fill::FillArgs),
    /// Show what running a file would do, batch by batch: argv, container, inputs, outputs.
    Plan(commands::plan::PlanArgs),
    /// Run an experiment here, every batch in its own Docker container.
    Exec(commands::exec::ExecArgs),
    /// Write a locked copy of a RED file: image pinned, inputs with sizes and checksums.
    Lock(commands::lock::LockArgs),
    /// Compare two runs: which outputs differ, and what differed in how they ran.
    Compare(commands::compare::CompareArgs),
    /// Send a RED file to a CC-Agency broker; with `--wait`, follow its batches to the end.
    Submit(commands::submit::SubmitArgs),
    /// Show the state of experiments and batches on a CC-Agency broker.
    Status(commands::status::StatusArgs),
    /// List batches on a CC-Agency broker, filtered and paged.
    List(commands::list::ListArgs),
    /// Cancel batches (or every unfinished batch of an experiment) on a CC-Agency broker.
    Cancel(commands::cancel::CancelArgs),
    /// Print the stdout or stderr a CC-Agency broker keeps for a batch.
    Logs(commands::logs::LogsArgs),
    /// Send images to a DeepCell Kiosk and collect the results.
    #[command(subcommand)]
    Kiosk(commands::kiosk::KioskCommand),
    /// List the GPUs red sees on this host (through `nvidia-smi`).
    Gpus(commands::gpus::GpusArgs),
    /// Measure data access as the Curious Containers study did: block reads, the CNN loader.
    #[command(subcommand)]
    Bench(commands::bench::BenchCommand),
    /// Mount a remote directory with red's own FUSE filesystem until Ctrl-C or `red umount`.
    Mount(commands::mount::MountArgs),
    /// Unmount a directory mounted by `red mount` (or any FUSE mount of this user).
    Umount(commands::mount::UmountArgs),
    /// Print the completion script for a shell: bash, zsh, fish, elvish or powershell.
    Completions(commands::completions::CompletionsArgs),
    /// Print red's man page or one command's; `--dir` writes them all.
    Man(commands::man::ManArgs),
}

/// The global options that every command accepts but only `red --help` shows.
const TOP_LEVEL_ONLY: [&str; 1] = ["color"];

/// red's command-line interface: [`Cli`] with `--color` shown once, in `red --help`, and hidden
/// from the help of every subcommand (which still accepts it, as a hidden copy of the same
/// global option).
#[must_use]
pub fn command() -> clap::Command {
    fn hide_in(command: clap::Command, hidden: &[clap::Arg]) -> clap::Command {
        let command = hidden.iter().fold(command, |c, arg| c.arg(arg.clone()));
        command.mut_subcommands(|sub| hide_in(sub, hidden))
    }
    let command = Cli::command();
    let hidden: Vec<clap::Arg> = command
        .get_arguments()
        .filter(|arg| TOP_LEVEL_ONLY.contains(&arg.get_id().as_str()))
        .map(|arg| arg.clone().hide(true))
        .collect();
    command.mut_subcommands(|sub| hide_in(sub, &hidden))
}

/// The words of the command line that may be paths (every argument but the program's name and
/// the options' names): masking never changes what the user typed.
fn command_line_words(args: &[OsString]) -> Vec<String> {
    args.iter()
        .skip(1)
        .filter_map(|arg| arg.to_str())
        .filter_map(|arg| match arg.strip_prefix("--") {
            Some(option) => option.split_once('=').map(|(_, value)| value),
            None if arg.starts_with('-') && arg != "-" => None,
            None => Some(arg),
        })
        .map(str::to_owned)
        .collect()
}

/// Run `red` with these arguments and return the process exit code.
pub fn main<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    // Started by ssh as its askpass helper (a link named `red-askpass`): no command line.
    if let Some(code) = crate::ssh::askpass::run_if_invoked(&args) {
        return code;
    }
    let words = command_line_words(&args);
    let raw_format = raw_error_format(&args);
    let parsed = command()
        .try_get_matches_from(args)
        .and_then(|matches| Cli::from_arg_matches(&matches).map(|cli| (cli, matches)));
    let (cli, matches) = match parsed {
        Ok(parsed) => parsed,
        Err(error) => return command_line_error(&error, raw_format),
    };
    let printer = Printer::new(cli.color).with_errors(error_format(&matches));
    let (level, log_file) = match logging(&cli) {
        Ok(chosen) => chosen,
        Err(error) => return printer.fail(&Failure::from_error(&error)).into(),
    };
    let printer = printer.with_level(level);
    printer.keep(words);
    printer.install_panic_hook();
    log::install(level, printer.color(), printer.shared_redactor(), log_file);
    let result = match cli.command {
        Command::Validate(args) => commands::validate::run(&args, &printer),
        Command::Schema(command) => commands::schema::run(&command, &printer),
        Command::Convert(command) => commands::convert::run(&command, &printer),
        Command::Upgrade(args) => commands::upgrade::run(&args, &printer),
        Command::Vars(args) => commands::vars::run(&args, &printer),
        Command::Fill(args) => commands::fill::run(&args, &printer),
        Command::Plan(args) => commands::plan::run(&args, &printer),
        Command::Exec(args) => commands::exec::run(&args, &printer),
        Command::Lock(args) => commands::lock::run(&args, &printer),
        Command::Compare(args) => commands::compare::run(&args, &printer),
        Command::Submit(args) => commands::submit::run(&args, &printer),
        Command::Status(args) => commands::status::run(&args, &printer),
        Command::List(args) => commands::list::run(&args, &printer),
        Command::Cancel(args) => commands::cancel::run(&args, &printer),
        Command::Logs(args) => commands::logs::run(&args, &printer),
        Command::Kiosk(command) => commands::kiosk::run(&command, &printer),
        Command::Gpus(args) => commands::gpus::run(&args, &printer),
        Command::Bench(command) => commands::bench::run(&command, &printer),
        Command::Mount(args) => commands::mount::run(&args, &printer),
        Command::Umount(args) => commands::mount::umount(&args, &printer),
        Command::Completions(args) => commands::completions::run(&args, &printer, &command()),
        Command::Man(args) => commands::man::run(&args, &printer, &command()),
    };
    match result {
        Ok(status) => status.into(),
        Err(error) => printer.fail(&Failure::from_error(&error)).into(),
    }
}

/// The level (`-q`/`-v`, or a command's `-L` and environment) and the log file of this run.
fn logging(cli: &Cli) -> anyhow::Result<(log::Level, Option<std::fs::File>)> {
    let chosen = match &cli.command {
        Command::Kiosk(command) => commands::kiosk::logging(command)?,
        _ => log::Logging::default(),
    };
    let level = log::Level::choose(cli.quiet, cli.verbose, &chosen).map_err(cli::usage)?;
    let file = chosen
        .file
        .map(|path| {
            log::open(&path)
                .map_err(|e| anyhow::anyhow!("cannot open the log file `{}`: {e}", path.display()))
        })
        .transpose()?;
    Ok((level, file))
}

/// How errors are shown: with `--format json` on the command that runs, also as JSON on stdout
/// (NDJSON for `red exec`, whose stdout is a stream of events).
fn error_format(matches: &ArgMatches) -> ErrorFormat {
    let mut names = Vec::new();
    let mut current = matches;
    while let Some((name, sub)) = current.subcommand() {
        names.push(name);
        current = sub;
    }
    let json = current
        .try_get_raw("format")
        .ok()
        .flatten()
        .and_then(|mut values| values.next())
        .is_some_and(|value| value == "json");
    match (json, names.as_slice()) {
        (false, _) => ErrorFormat::Human,
        (true, ["exec"]) => ErrorFormat::Ndjson,
        (true, _) => ErrorFormat::Json,
    }
}

/// A command line that did not parse: clap's message (or help and version, exit 0) and, when
/// `--format json` was asked for, a `usage` error document on stdout.
fn command_line_error(error: &clap::Error, format: ErrorFormat) -> ExitCode {
    let _ = error.print();
    if !error.use_stderr() {
        return ExitCode::from(0);
    }
    if format != ErrorFormat::Human {
        let text = error.render().to_string();
        let message = text
            .lines()
            .next()
            .unwrap_or_default()
            .trim_start_matches("error: ")
            .to_owned();
        let hint = text
            .lines()
            .find(|l| l.starts_with("Usage: "))
            .map(|usage| format!("{usage}; `--help` lists the options"));
        let failure = Failure::new("usage", message, ExitStatus::Error).hint(hint);
        Printer::new(ColorChoice::Never)
            .with_errors(format)
            .error_document(&failure, serde_json::Map::new());
    }
    ExitStatus::Error.into()
}
