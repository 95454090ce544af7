//! `red exec FILE`: run an experiment (every batch) here, through Docker.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, ValueEnum};

use crate::cli::args::{CliCompat, OutputFormat, SourceArgs, output_format};
use crate::cli::events::{Ndjson, Progress};
use crate::cli::intake::{self, Reporter};
use crate::cli::runtime::{self, Threads};
use crate::cli::{ExitStatus, Printer, values};
use crate::diagnostic::Diagnostic;
use crate::execute::docker::{Cancellation, ContainerUser, NetworkMode, PullPolicy};
use crate::execute::environment;
use crate::execute::local::{self, ExecError, ExecOptions, RunReport, State, provenance};
use crate::execute::{Events, NoEvents};
use crate::fill::Filled;
use crate::parse::Parsed;
use crate::plan::select::Selection;
use crate::plan::{self, Plan, PlanOptions};

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
    /// Batches run at once.
    ///
    /// Default: the file's `batchConcurrencyLimit`, else the number of cores.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub jobs: Option<u32>,
    /// Put outputs here instead of ./outputs.
    ///
    /// One batch's outputs go to DIR itself; batch `i` of several goes to DIR/<i>. Without it
    /// they go to ./outputs and ./outputs_<i>, as the reference runner puts them.
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
    /// Whose command-line rules to follow (default: cwl).
    ///
    /// CWL v1.0 as cwltool builds it, or cc-core 9.3. Naming one silences the warning about a
    /// file whose argv differs between the two.
    #[arg(long, value_enum, value_name = "MODE")]
    pub cli_compat: Option<CliCompat>,
    /// Report format: one line per batch, or NDJSON events.
    #[arg(long, default_value = "human", value_parser = output_format(
        "Progress on a terminal, then one line per batch",
        "NDJSON events on stdout, the last one the run's summary",
    ))]
    pub format: OutputFormat,
    /// Kill a batch's command after this long (`90`, `90s`, `15m`, `2h`).
    #[arg(long, value_name = "DURATION", value_parser = values::duration)]
    pub timeout: Option<Duration>,
    /// The container's network.
    #[arg(long, value_enum, default_value_t = Network::None)]
    pub network: Network,
    /// Who the command runs as: `invoking`, `image` or `UID:GID`.
    ///
    /// `invoking` is your uid:gid, so outputs are yours; `image` is the image's USER, as the
    /// reference runs it.
    #[arg(long, value_name = "WHO", default_value = "invoking", value_parser = parse_user)]
    pub user: ContainerUser,
    /// Start no new batch once one failed.
    #[arg(long)]
    pub fail_fast: bool,
    /// Fail a transfer attempt that moves less than 1 KiB in this long.
    ///
    /// An input or output transfer attempt that stalls this long (`30s`, `2m`) is tried again a
    /// few times. See docs/limits.md.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = values::duration)]
    pub stall_timeout: Duration,
    /// Pass this environment variable of this host into the container (repeatable).
    ///
    /// One that is not set is skipped; one that holds a secret is refused.
    #[arg(long, value_name = "NAME")]
    pub preserve_environment: Vec<String>,
    /// Do not check the access blocks with their connectors before the run.
    ///
    /// A CLI connector's `*-validate` is then never called; a wrong block fails its batch when
    /// the transfer reads it.
    #[arg(long)]
    pub disable_connector_validation: bool,
    /// Run only these batches (`3,7-9`; indices as `red plan` shows them).
    #[arg(long, value_name = "LIST", value_parser = values::batches)]
    pub batches: Option<Selection>,
    /// Rerun only the batches an earlier run did not finish.
    ///
    /// A batch whose record (`.red/result.json` in its outputs directory) says `succeeded` is
    /// kept as it is; every other one runs again. DIR is the earlier run's `--outputs`
    /// directory (default: `--outputs`, else ./outputs and ./outputs_<i>).
    #[arg(long, value_name = "DIR", num_args = 0..=1)]
    pub resume: Option<Option<PathBuf>>,
    /// Refuse an image that is not the one its reference pins (`name@sha256:…`).
    ///
    /// The pinned image then runs by its content id. An unpinned image gets a warning.
    #[arg(long)]
    pub verify: bool,
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
    filled: &Filled,
    report: &Reporter<'_>,
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

/// Run `red exec`: the front door, the local engine, the summary.
pub fn run(args: &ExecArgs, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let outputs = outputs_dir(args)?;
    if let Some(outputs) = &outputs {
        check_outputs_dir(outputs)?;
    }
    let report = Reporter::for_file(printer, &args.file, args.format);
    let template = match refuse_remote(&report, &args.file) {
        Ok(template) => template,
        Err(status) => return Ok(status),
    };
    let filled = match report.filled(&args.file, &args.sources) {
        Ok(filled) => filled,
        Err(status) => return Ok(status),
    };
    if let Some(status) = refuse_agency_file(&report, &filled) {
        return Ok(status);
    }
    let mode = args.cli_compat.unwrap_or(CliCompat::Cwl);
    if args.cli_compat.is_none() {
        report.warnings(&plan::lint(filled.tree()));
    }
    let env = preserved_environment(args, &filled, &report)?;
    let options = PlanOptions {
        mode: mode.mode(),
        stable_ids: false,
    };
    let mut plan = match report.planned(&filled, &options) {
        Ok(plan) => plan,
        Err(status) => return Ok(status),
    };
    if let Some(selection) = &args.batches {
        selection
            .apply(&mut plan)
            .map_err(|error| crate::cli::usage(format!("--batches {selection}: {error}")))?;
    }
    if args.verify
        && args.format == OutputFormat::Human
        && let Some(batch) = plan.batches.first()
        && let Some(warning) = local::image::unpinned_warning(&filled, &batch.container.image)
    {
        // A warning: the status it gives is success.
        let _ = report.diagnostics(&[warning], Some(filled.source()));
    }
    let mut exec_options = exec_options(args, &filled, env);
    exec_options.outputs = outputs;
    // The provenance crate's copy of the file: as written, or (from standard input, which
    // cannot be read twice) the filled one with every secret masked.
    exec_options.documents = match &template {
        Some(template) => provenance::Documents::from_template(template),
        None => provenance::Documents::from_filled(&filled),
    }
    .ok()
    .map(Arc::new);
    let progress = (args.format == OutputFormat::Human
        && printer.shows_progress()
        && std::io::stderr().is_terminal())
    .then(|| Arc::new(Progress::new(plan.batches.len(), printer.redactor())));
    let events: Arc<dyn Events> = match (args.format, &progress) {
        (OutputFormat::Json, _) => Arc::new(Ndjson {
            printer: printer.clone(),
        }),
        (OutputFormat::Human, Some(progress)) => Arc::clone(progress) as Arc<dyn Events>,
        (OutputFormat::Human, None) => Arc::new(NoEvents),
    };
    let result = run_locally(&filled, &plan, &exec_options, events)?;
    if let Some(progress) = &progress {
        progress.finish();
    }
    match result {
        Ok(run) => Ok(finish(&run, args.format, printer)),
        Err(ExecError::Invalid(diagnostics)) => {
            Ok(report.diagnostics(&diagnostics, Some(filled.source())))
        }
        Err(ExecError::Verify(diagnostic)) => {
            Ok(report.diagnostics(&[*diagnostic], Some(filled.source())))
        }
        Err(ExecError::Interrupted) => {
            printer.err("interrupted\n");
            Ok(ExitStatus::Interrupted)
        }
        Err(error) => Err(error.into()),
    }
}

/// A file for CC-Agency is not run here (exit 2: the file is fine, this command cannot take it).
fn refuse_agency_file(report: &Reporter<'_>, filled: &Filled) -> Option<ExitStatus> {
    let diagnostic = local::remote_engine(filled.tree())?;
    Some(report.diagnostics_at(&report.path, &[diagnostic], Some(filled.source()), true))
}

/// The engine's options from the flags and the file's `batchConcurrencyLimit`.
fn exec_options(args: &ExecArgs, filled: &Filled, env: Vec<String>) -> ExecOptions {
    let jobs = args.jobs.map_or_else(
        || {
            filled
                .tree()
                .root()
                .pointer("/execution/settings/batchConcurrencyLimit")
                .and_then(|n| n.as_int())
                .and_then(|n| usize::try_from(n).ok())
                .filter(|n| *n > 0)
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from))
        },
        |n| n as usize,
    );
    ExecOptions {
        jobs,
        outputs: args.outputs.clone(),
        base_dir: local::base_dir(&args.file),
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
        documents: None,
        resume: args.resume.is_some(),
        verify: args.verify,
    }
}

/// `--outputs`, or the directory `--resume DIR` names; both naming different directories is
/// a usage error.
fn outputs_dir(args: &ExecArgs) -> anyhow::Result<Option<PathBuf>> {
    match (&args.outputs, args.resume.as_ref().and_then(Option::as_ref)) {
        (Some(outputs), Some(resume)) if outputs != resume => Err(crate::cli::usage_with_hint(
            format!(
                "`--outputs {}` and `--resume {}` name different directories",
                outputs.display(),
                resume.display()
            ),
            "give the earlier run's outputs directory once, as `--resume DIR`",
        )),
        (Some(outputs), _) => Ok(Some(outputs.clone())),
        (None, resume) => Ok(resume.cloned()),
    }
}

/// The local engine on a runtime of its own, until it ends or, at the latest, [`LAST_RESORT`]
/// after a signal.
fn run_locally(
    filled: &Filled,
    plan: &Plan,
    options: &ExecOptions,
    events: Arc<dyn Events>,
) -> anyhow::Result<Result<RunReport, ExecError>> {
    let runtime = runtime::build(Threads::PerCore)?;
    let result = runtime.block_on(async {
        let cancellation = Cancellation::on_signals()?;
        let run = local::run(filled, plan, options, events, &cancellation);
        // Every wait inside watches the flag; should one not, the run is dropped here (its
        // guards remove the container and the run directory) rather than hold Ctrl-C.
        anyhow::Ok(tokio::select! {
            result = run => result,
            () = cancellation.cancelled_for(LAST_RESORT) => Err(ExecError::Interrupted),
        })
    });
    runtime::shut_down(runtime);
    result
}

/// A file that runs on CC-Agency is refused before any variable is asked for (the file is read
/// once more for it; standard input can be read once only, so it is checked after filling).
/// Returns the file as written (`None` for standard input), for the provenance crate.
fn refuse_remote(report: &Reporter<'_>, file: &Path) -> Result<Option<Parsed>, ExitStatus> {
    if file.as_os_str() == "-" {
        return Ok(None);
    }
    let parsed = intake::load_template(report, file)?;
    match local::remote_engine(&parsed.tree) {
        // Exit 2: the file is fine, this command cannot take it.
        Some(diagnostic) => {
            Err(report.diagnostics_at(&report.path, &[diagnostic], Some(&parsed.source), true))
        }
        None => Ok(Some(parsed)),
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

fn finish(run: &RunReport, format: OutputFormat, printer: &Printer) -> ExitStatus {
    match format {
        OutputFormat::Json => {
            let mut value = serde_json::to_value(run).unwrap_or_default();
            if let Some(object) = value.as_object_mut() {
                object.insert("event".into(), "run-finished".into());
            }
            printer.redactor().redact_value(&mut value);
            printer.out(&format!("{value}\n"));
        }
        OutputFormat::Human => {
            printer.out(&batch_lines(run));
            printer.err(&count_line(run));
        }
    }
    match run.state {
        State::Succeeded => ExitStatus::Success,
        State::Cancelled => ExitStatus::Interrupted,
        State::Failed | State::Skipped => ExitStatus::Failure,
    }
}

/// One record per batch, data on stdout: its state, where its outputs are, and what went wrong.
fn batch_lines(run: &RunReport) -> String {
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
    text
}

/// The run's end, a message on stderr: the batches an earlier run finished, and how many
/// batches succeeded.
fn count_line(run: &RunReport) -> String {
    use std::fmt::Write as _;
    let mut text = String::new();
    if !run.kept.is_empty() {
        let _ = writeln!(
            text,
            "kept {} batch(es) that an earlier run finished: {}",
            run.kept.len(),
            crate::plan::select::compact(&run.kept)
        );
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
            kept: Vec::new(),
            seconds: 0.0,
        };
        let missing = batch_lines(&run(batch(&dir.path().join("none.txt"))));
        assert!(!missing.contains("the command's stderr"), "{missing}");
        let present = batch_lines(&run(batch(&there)));
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
