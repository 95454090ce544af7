//! `red exec FILE`: run an experiment (every batch) here, through Docker.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::{Args, ValueEnum};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::cli::{ExitStatus, Printer, values};
use crate::commands::fill::{self as fill_command, SourceArgs};
use crate::commands::plan::CliCompat;
use crate::diagnostic::Diagnostic;
use crate::execute::docker::{Cancellation, ContainerUser, NetworkMode, PullPolicy};
use crate::execute::environment;
use crate::execute::local::{
    self, Event, Events, ExecError, ExecOptions, NoEvents, RunReport, State,
};
use crate::plan::{self, Mode, PlanOptions};

/// Arguments of `red exec`.
#[derive(Debug, Args)]
#[command(
    after_help = "Inputs are fetched on this machine and bind-mounted read-only; \
    outputs land in ./outputs (one batch) or ./outputs_<i> (batches), with red's record of \
    each batch in .red/ there. See docs/exec.md."
)]
pub struct ExecArgs {
    /// The RED file (YAML or JSON).
    pub file: PathBuf,
    /// Where the values of `{{variables}}` come from.
    #[command(flatten)]
    pub sources: SourceArgs,
    /// Batches run at once [default: the file's `batchConcurrencyLimit`, else the number of
    /// cores].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub jobs: Option<u32>,
    /// Put outputs here instead of ./outputs (batch `i` of several goes to DIR/<i>).
    #[arg(long, value_name = "DIR")]
    pub outputs: Option<PathBuf>,
    /// Never pull the image; fail when it is not on this host.
    #[arg(long, alias = "disable-pull")]
    pub no_pull: bool,
    /// Keep each container after it stopped (it is still stopped).
    #[arg(long)]
    pub leave_container: bool,
    /// Use only these GPUs (comma-separated indices, as `red gpus` lists them).
    #[arg(long, value_name = "IDS", value_delimiter = ',')]
    pub gpu_ids: Option<Vec<String>>,
    /// Whose command-line rules to follow: CWL v1.0 as cwltool builds it, or cc-core 9.3.
    #[arg(long, value_enum, default_value_t = CliCompat::Cwl)]
    pub cli_compat: CliCompat,
    /// Output format: a summary, or NDJSON events and a final summary line.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// Kill a batch's command after this long (`90`, `90s`, `15m`, `2h`).
    #[arg(long, value_name = "DURATION", value_parser = values::duration)]
    pub timeout: Option<Duration>,
    /// The container's network: none (only loopback), host, or Docker's bridge.
    #[arg(long, value_enum, default_value_t = Network::None)]
    pub network: Network,
    /// Who the command runs as: `invoking` (your uid:gid, so outputs are yours), `image` (the
    /// image's USER, as the reference), or `UID:GID`.
    #[arg(long, value_name = "WHO", default_value = "invoking", value_parser = parse_user)]
    pub user: ContainerUser,
    /// Start no new batch once one failed.
    #[arg(long)]
    pub fail_fast: bool,
    /// Fail a transfer attempt of an input or output that moves less than 1 KiB in this long
    /// (`30s`, `2m`); such an attempt is tried again a few times. See docs/limits.md.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = values::duration)]
    pub stall_timeout: Duration,
    /// Pass this environment variable of this host into the container (may be given several
    /// times; one that is not set is skipped). One that holds a secret is refused.
    #[arg(long, value_name = "NAME")]
    pub preserve_environment: Vec<String>,
    /// Do not check the access blocks with their connectors before the run (a CLI connector's
    /// `*-validate`); a wrong block then fails its batch when the transfer reads it.
    #[arg(long)]
    pub disable_connector_validation: bool,
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Progress on a terminal, then one line per batch.
    Human,
    /// NDJSON events on stdout, the last one the run's summary.
    Json,
}

/// The `--network` choices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Network {
    /// No network, only loopback.
    None,
    /// The host's network.
    Host,
    /// Docker's default bridge.
    Bridge,
}

fn parse_user(text: &str) -> Result<ContainerUser, String> {
    match text {
        "invoking" => Ok(ContainerUser::invoking()),
        "image" => Ok(ContainerUser::Image),
        _ => {
            let (uid, gid) = text
                .split_once(':')
                .ok_or_else(|| format!("`{text}` is not `invoking`, `image` or `UID:GID`"))?;
            let number = |s: &str| {
                s.parse::<u32>()
                    .map_err(|_| format!("`{s}` is not a numeric id"))
            };
            Ok(ContainerUser::Ids {
                uid: number(uid)?,
                gid: number(gid)?,
            })
        }
    }
}

/// The `--preserve-environment` entries; a refused name is a usage error, an unset one a
/// warning.
fn preserved_environment(
    args: &ExecArgs,
    filled: &crate::fill::Filled,
    report: &fill_command::Report<'_>,
) -> anyhow::Result<Vec<String>> {
    let read = |name: &str| std::env::var_os(name);
    let preserved = environment::preserve(
        &args.preserve_environment,
        filled.variables(),
        &report.printer.redactor(),
        &read,
    )
    .map_err(|error| {
        crate::cli::usage_with_hint(
            format!("--preserve-environment: {error}"),
            "give the container only variables without secrets; credentials belong in access \
             blocks, filled from `--vars`, `--env` or the prompt",
        )
    })?;
    if !preserved.unset.is_empty() {
        let names = crate::fill::sources::quote_list(&preserved.unset);
        report.warnings(&[Diagnostic::warning(
            "environment",
            format!("--preserve-environment: {names} not set on this host; not passed"),
        )]);
    }
    Ok(preserved.entries)
}

/// Run `red exec`.
pub fn run(args: &ExecArgs, printer: &Printer) -> anyhow::Result<ExitStatus> {
    if let Some(outputs) = &args.outputs {
        check_outputs_dir(outputs)?;
    }
    let report =
        fill_command::Report::for_file(printer, &args.file, matches!(args.format, Format::Json));
    let filled = match report.filled(&args.file, &args.sources) {
        Ok(filled) => filled,
        Err(status) => return Ok(status),
    };
    let root = filled.tree().root();
    if let Some(engine) = root.pointer("/execution/engine")
        && engine.as_str() == Some("ccagency")
    {
        let diagnostic = Diagnostic::error(
            "engine",
            "this file runs on a CC-Agency server (`execution.engine: ccagency`), not here",
        )
        .at(engine.span().start)
        .pointer("/execution/engine")
        .hint("submit it with `red submit`, or set `engine: ccfaice` to run it here");
        return Ok(report.diagnostics(&[diagnostic], Some(filled.source())));
    }
    let env = preserved_environment(args, &filled, &report)?;
    let options = PlanOptions {
        mode: match args.cli_compat {
            CliCompat::Cwl => Mode::Cwl,
            CliCompat::Cc => Mode::Cc,
        },
        stable_ids: false,
    };
    let plan = match plan::build(&filled, &options) {
        Ok(plan) => plan,
        Err(error) => {
            return Ok(report.diagnostics(&[error.to_diagnostic()], Some(filled.source())));
        }
    };
    let jobs = args.jobs.map_or_else(
        || {
            root.pointer("/execution/settings/batchConcurrencyLimit")
                .and_then(|n| n.as_int())
                .and_then(|n| usize::try_from(n).ok())
                .filter(|n| *n > 0)
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from))
        },
        |n| n as usize,
    );
    let exec_options = ExecOptions {
        jobs,
        outputs: args.outputs.clone(),
        base_dir: base_dir(&args.file),
        pull: if args.no_pull {
            PullPolicy::Never
        } else {
            PullPolicy::IfMissing
        },
        leave_container: args.leave_container,
        gpu_ids: args.gpu_ids.clone(),
        network: match args.network {
            Network::None => NetworkMode::None,
            Network::Host => NetworkMode::Host,
            Network::Bridge => NetworkMode::Bridge,
        },
        user: args.user,
        timeout: args.timeout,
        fail_fast: args.fail_fast,
        stall_timeout: args.stall_timeout,
        env,
        check_connectors: !args.disable_connector_validation,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let batches = plan.batches.len();
    let progress = (args.format == Format::Human && std::io::stderr().is_terminal())
        .then(|| Arc::new(Progress::new(batches, printer.redactor())));
    let events: Arc<dyn Events> = match (args.format, &progress) {
        (Format::Json, _) => Arc::new(Ndjson {
            printer: printer.clone(),
        }),
        (Format::Human, Some(progress)) => Arc::clone(progress) as Arc<dyn Events>,
        (Format::Human, None) => Arc::new(NoEvents),
    };
    let result = runtime.block_on(async {
        let cancellation = Cancellation::on_signals()?;
        let run = local::run(&filled, &plan, &exec_options, events, &cancellation);
        // Every wait inside watches the flag; should one not, the run is dropped here (its
        // guards remove the container and the run directory) rather than hold Ctrl-C.
        anyhow::Ok(tokio::select! {
            result = run => result,
            () = cancellation.cancelled_for(LAST_RESORT) => Err(ExecError::Interrupted),
        })
    });
    // Not the runtime's `Drop`: it would wait for a blocking thread stuck with a peer.
    runtime.shutdown_timeout(super::SHUTDOWN);
    let result = result?;
    if let Some(progress) = &progress {
        progress.finish();
    }
    match result {
        Ok(run) => Ok(finish(&run, args.format, printer)),
        Err(ExecError::Invalid(diagnostics)) => {
            Ok(report.diagnostics(&diagnostics, Some(filled.source())))
        }
        Err(ExecError::Interrupted) => {
            printer.err("interrupted\n");
            Ok(ExitStatus::Interrupted)
        }
        Err(error) => Err(error.into()),
    }
}

/// How long after SIGINT/SIGTERM a run that has not ended is dropped.
const LAST_RESORT: Duration = Duration::from_secs(3);

/// `--outputs` must name a directory or nothing yet: anything else is a usage error, found
/// before anything runs.
fn check_outputs_dir(outputs: &Path) -> anyhow::Result<()> {
    match std::fs::metadata(outputs) {
        Ok(meta) if !meta.is_dir() => Err(crate::cli::usage_with_hint(
            format!("`--outputs {}` is not a directory", outputs.display()),
            "name a directory, or a path that does not exist yet (red creates it)",
        )),
        _ => Ok(()),
    }
}

/// The directory relative local paths start from: the RED file's own.
pub(crate) fn base_dir(file: &Path) -> PathBuf {
    let parent = file.parent().filter(|p| !p.as_os_str().is_empty());
    let dir = parent.map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    std::fs::canonicalize(&dir).unwrap_or(dir)
}

fn finish(run: &RunReport, format: Format, printer: &Printer) -> ExitStatus {
    match format {
        Format::Json => {
            let mut value = serde_json::to_value(run).unwrap_or_default();
            if let Some(object) = value.as_object_mut() {
                object.insert("event".into(), "run-finished".into());
            }
            printer.redactor().redact_value(&mut value);
            printer.out(&format!("{value}\n"));
        }
        Format::Human => printer.err(&human_summary(run)),
    }
    match run.state {
        State::Succeeded => ExitStatus::Success,
        State::Cancelled => ExitStatus::Interrupted,
        State::Failed | State::Skipped => ExitStatus::Failure,
    }
}

fn human_summary(run: &RunReport) -> String {
    use std::fmt::Write as _;
    let mut text = String::new();
    for batch in &run.batches {
        let _ = write!(text, "batch {}: {}", batch.batch, batch.state.as_str());
        if let Some(code) = batch
            .exit_code
            .filter(|c| *c != 0 || batch.state != State::Succeeded)
        {
            let _ = write!(text, " (exit code {code})");
        }
        let _ = writeln!(text, ", outputs in {}", batch.output_dir);
        if let Some(error) = &batch.error {
            let _ = writeln!(text, "  error: {error}");
        }
        for warning in &batch.warnings {
            let _ = writeln!(text, "  warning: {warning}");
        }
        // Only a file that is there: when no container ran, there is none to read.
        if batch.state == State::Failed
            && let Some(stderr) = batch.stderr.as_ref().filter(|s| Path::new(s).is_file())
        {
            let _ = writeln!(text, "  the command's stderr: {stderr}");
        }
    }
    let done = run
        .batches
        .iter()
        .filter(|b| b.state == State::Succeeded)
        .count();
    let _ = writeln!(
        text,
        "{}: {done} of {} batch(es) succeeded in {:.2}s",
        run.state.as_str(),
        run.batches.len(),
        run.seconds
    );
    text
}

/// NDJSON events on stdout, every string masked.
struct Ndjson {
    printer: Printer,
}

impl Events for Ndjson {
    fn emit(&self, event: &Event) {
        let mut value = serde_json::to_value(event).unwrap_or_default();
        self.printer.redactor().redact_value(&mut value);
        self.printer.out(&format!("{value}\n"));
    }
}

/// The terminal display: an overall bar and one line per running batch.
struct Progress {
    bars: MultiProgress,
    overall: ProgressBar,
    running: Mutex<Vec<(usize, ProgressBar)>>,
    redactor: crate::redact::Redactor,
}

impl Progress {
    fn new(batches: usize, redactor: crate::redact::Redactor) -> Self {
        let bars = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        let overall = bars.add(ProgressBar::new(batches as u64));
        overall.set_style(
            ProgressStyle::with_template(
                "{elapsed_precise} [{bar:30}] {pos}/{len} batches  eta {eta}  {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        Self {
            bars,
            overall,
            running: Mutex::new(Vec::new()),
            redactor,
        }
    }

    fn line(&self, batch: usize, message: &str) {
        let message = self.redactor.redact(message).into_owned();
        let Ok(mut running) = self.running.lock() else {
            return;
        };
        if let Some((_, bar)) = running.iter().find(|(b, _)| *b == batch) {
            bar.set_message(message);
            return;
        }
        let bar = self
            .bars
            .insert_before(&self.overall, ProgressBar::new_spinner());
        bar.set_style(
            ProgressStyle::with_template("  {spinner} batch {prefix}: {msg} ({elapsed})")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_prefix(batch.to_string());
        bar.set_message(message);
        bar.enable_steady_tick(Duration::from_millis(120));
        running.push((batch, bar));
    }

    fn done(&self, batch: usize) {
        let Ok(mut running) = self.running.lock() else {
            return;
        };
        if let Some(at) = running.iter().position(|(b, _)| *b == batch) {
            let (_, bar) = running.remove(at);
            bar.finish_and_clear();
            self.bars.remove(&bar);
        }
    }

    fn finish(&self) {
        self.overall.finish_and_clear();
        let _ = self.bars.clear();
    }
}

impl Events for Progress {
    fn emit(&self, event: &Event) {
        match event {
            Event::RunStarted { image, .. } => self.overall.set_message(image.clone()),
            Event::BatchStarted { batch } => self.line(*batch, "receiving inputs"),
            Event::InputStaged { batch, input } => {
                self.line(*batch, &format!("input `{}` ready", input.name));
            }
            Event::ProcessExited { batch, .. } => self.line(*batch, "collecting outputs"),
            Event::OutputDelivered { batch, output } => {
                self.line(*batch, &format!("output `{}` delivered", output.name));
            }
            Event::BatchFinished { batch, .. } => {
                self.done(*batch);
                self.overall.inc(1);
            }
        }
    }

    fn transfer(&self, batch: usize, name: &str, bytes: u64, total: Option<u64>) {
        let done = indicatif::HumanBytes(bytes);
        let message = match total {
            Some(total) => format!("`{name}`: {done} of {}", indicatif::HumanBytes(total)),
            None => format!("`{name}`: {done}"),
        };
        self.line(batch, &message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stderr_file_is_named_only_when_it_is_there() {
        let dir = tempfile::tempdir().unwrap();
        let there = dir.path().join("stderr.txt");
        std::fs::write(&there, "boom\n").unwrap();
        let batch = |stderr: &Path| {
            let mut batch = local::BatchReport::skipped(0, Vec::new(), "outputs".into(), "why");
            batch.state = State::Failed;
            batch.stderr = Some(stderr.display().to_string());
            batch
        };
        let run = |batch| RunReport {
            run_id: "r".into(),
            state: State::Failed,
            batches: vec![batch],
            seconds: 0.0,
        };
        let missing = human_summary(&run(batch(&dir.path().join("none.txt"))));
        assert!(!missing.contains("the command's stderr"), "{missing}");
        let present = human_summary(&run(batch(&there)));
        assert!(present.contains("the command's stderr"), "{present}");
    }

    #[test]
    fn users() {
        assert_eq!(parse_user("image").unwrap(), ContainerUser::Image);
        assert_eq!(
            parse_user("1000:100").unwrap(),
            ContainerUser::Ids {
                uid: 1000,
                gid: 100
            }
        );
        assert!(parse_user("1000").is_err());
        assert!(parse_user("a:b").is_err());
    }
}
