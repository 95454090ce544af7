//! The flags several commands share, and the one output format of every command that reports
//! either for people or as JSON.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use clap::ValueEnum;
use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};

use super::values;
use crate::plan::Mode;

/// How a command reports: lines for people, or JSON on standard output (one document, or NDJSON
/// events for `red exec`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// For people.
    Human,
    /// JSON on standard output.
    Json,
}

/// The `--format human|json` parser, with what each choice means for this command (the help
/// lists it under "Possible values").
pub(crate) fn output_format(
    human: &'static str,
    json: &'static str,
) -> impl TypedValueParser<Value = OutputFormat> {
    PossibleValuesParser::new([
        PossibleValue::new("human").help(human),
        PossibleValue::new("json").help(json),
    ])
    .map(|name| {
        if name == "json" {
            OutputFormat::Json
        } else {
            OutputFormat::Human
        }
    })
}

/// Where variable values come from; shared by every command that needs a filled document.
#[derive(Debug, Clone, Default, Args)]
pub struct SourceArgs {
    /// A variables file (repeatable; a later file overrides an earlier one).
    ///
    /// A YAML or JSON mapping of names to strings or numbers.
    #[arg(long = "vars", value_name = "VARS")]
    pub vars: Vec<PathBuf>,
    /// Also read values from environment variables `RED_VAR_<name>`.
    ///
    /// Characters other than letters, digits and `_` in the name become `_`.
    #[arg(long)]
    pub env: bool,
    /// Also look values up in the system keyring (the Secret Service).
    ///
    /// Entry NAME of the service `red`. Skipped with a note when no keyring answers.
    #[arg(long)]
    pub keyring: bool,
    /// Look values up in the keyring under this service instead of `red`.
    ///
    /// Implies --keyring.
    #[arg(long, value_name = "SERVICE")]
    pub keyring_service: Option<String>,
    /// Ask for every missing value on the terminal.
    ///
    /// Fails when there is no terminal.
    #[arg(long, conflicts_with = "no_prompt")]
    pub prompt: bool,
    /// Never ask: a missing value is an error.
    ///
    /// The error names every missing variable.
    #[arg(long, alias = "non-interactive")]
    pub no_prompt: bool,
}

impl SourceArgs {
    /// The keyring service to ask, if the keyring is a source.
    #[must_use]
    pub fn keyring_service(&self) -> Option<&str> {
        match &self.keyring_service {
            Some(service) => Some(service),
            None => self
                .keyring
                .then_some(crate::fill::keyring::DEFAULT_SERVICE),
        }
    }
}

/// The `--cli-compat` choices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CliCompat {
    /// CWL v1.0 as cwltool builds it.
    Cwl,
    /// cc-core 9.3 (the reference RED runner).
    Cc,
}

impl CliCompat {
    /// The plan's mode for this choice.
    #[must_use]
    pub fn mode(self) -> Mode {
        match self {
            Self::Cwl => Mode::Cwl,
            Self::Cc => Mode::Cc,
        }
    }
}

/// How to reach a CC-Agency broker.
#[derive(Debug, Clone, Args)]
pub struct AgencyArgs {
    /// The broker's base URL (default: `RED_AGENCY_URL`, then the config file).
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// The broker user (default: `RED_AGENCY_USER`, then the config file)
    ///
    /// The password comes from `RED_AGENCY_PASSWORD`, the config file or a prompt, never from a
    /// flag.
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,
    /// How long one request may take, connecting included (`30`, `2m`; at most 1 day).
    #[arg(long, value_name = "DURATION", default_value = "30", value_parser = values::duration_up_to_a_day)]
    pub request_timeout: Duration,
    /// The agency config file (default: `RED_AGENCY_CONFIG`, then the standard place)
    ///
    /// The standard place is `$XDG_CONFIG_HOME/red/agency.json`, else
    /// `~/.config/red/agency.json`.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

impl AgencyArgs {
    /// These flags with `--timeout`, the older spelling of `--request-timeout`, applied.
    #[must_use]
    pub fn with_old(&self, old: &OldRequestTimeout) -> Self {
        Self {
            request_timeout: old.timeout.unwrap_or(self.request_timeout),
            ..self.clone()
        }
    }
}

/// `--timeout`, the older spelling of `--request-timeout` on the broker commands that time no
/// job (`status`, `list`, `cancel`, `logs`): still accepted, not listed. (`submit --timeout` is
/// the time limit of one batch's job with `--kiosk`, as in `kiosk submit` and `exec`.)
#[derive(Debug, Clone, Default, Args)]
pub struct OldRequestTimeout {
    /// The older spelling of `--request-timeout`.
    #[arg(long = "timeout", value_name = "DURATION", hide = true,
          conflicts_with = "request_timeout", value_parser = values::duration_up_to_a_day)]
    pub timeout: Option<Duration>,
}

/// The Kiosk flags of `red submit`.
#[derive(Debug, Clone, Args)]
pub struct KioskArgs {
    /// Run each batch on this DeepCell Kiosk instead of a CC-Agency broker
    ///
    /// Each batch's File input is sent as one job, and the result zip delivered as its File
    /// output (docs/kiosk.md).
    #[arg(
        long,
        value_name = "URL",
        requires = "job_type",
        conflicts_with_all = ["url", "user", "config", "wait", "disable_retry", "disable_connector_validation"]
    )]
    pub kiosk: Option<String>,
    /// With `--kiosk`: the job type (queue), e.g. `mesmer`.
    #[arg(long, value_name = "TYPE", requires = "kiosk")]
    pub job_type: Option<String>,
    /// With `--kiosk`: the input to send, when a batch has several File inputs.
    #[arg(long, value_name = "NAME", requires = "kiosk")]
    pub input: Option<String>,
    /// With `--kiosk`: the output that receives the result zip, when there are several File
    /// outputs.
    #[arg(long, value_name = "NAME", requires = "kiosk")]
    pub output: Option<String>,
    /// With `--kiosk`: put results here instead of ./outputs (batch `i` of several goes to
    /// DIR/<i>).
    #[arg(long, value_name = "DIR", requires = "kiosk")]
    pub outputs: Option<PathBuf>,
    /// With `--kiosk`: batches in flight at once [default: 16].
    #[arg(long, value_name = "N", requires = "kiosk",
          value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub jobs: Option<u32>,
    /// With `--kiosk`: how long one batch's job may take from upload to result [default: 1h].
    // `--job-timeout` is the older spelling, still accepted.
    #[arg(long = "timeout", alias = "job-timeout", value_name = "DURATION", requires = "kiosk",
          value_parser = values::duration)]
    pub job_timeout: Option<Duration>,
    /// With `--kiosk`: the rescale factor sent with each job.
    #[arg(long, requires = "kiosk")]
    pub scale: Option<String>,
    /// With `--kiosk`: the channels sent with each job, comma-separated.
    #[arg(long, requires = "kiosk")]
    pub channels: Option<String>,
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use crate::app::{Cli, Command};
    use crate::commands::kiosk::KioskCommand;

    fn parse(args: &[&str]) -> Command {
        match Cli::try_parse_from(std::iter::once("red").chain(args.iter().copied())) {
            Ok(cli) => cli.command,
            Err(error) => panic!("{args:?}: {error}"),
        }
    }

    const BROKER: [&str; 4] = ["--url", "http://127.0.0.1:1", "--user", "u"];

    /// `--request-timeout` is one request everywhere; `--timeout`, its older spelling on the
    /// broker commands, still sets it there.
    #[test]
    fn request_timeouts_and_their_old_spelling() {
        let status = |extra: &[&str]| match parse(&[&["status"][..], &BROKER, extra].concat()) {
            Command::Status(args) => args.agency.with_old(&args.old).request_timeout,
            other => panic!("{other:?}"),
        };
        assert_eq!(status(&[]).as_secs(), 30);
        assert_eq!(status(&["--request-timeout", "7"]).as_secs(), 7);
        assert_eq!(status(&["--timeout", "9"]).as_secs(), 9);
        match parse(&[
            "kiosk",
            "submit",
            "--url",
            "http://k",
            "--job-type",
            "m",
            "f.png",
        ]) {
            Command::Kiosk(KioskCommand::Submit(args)) => {
                assert_eq!(args.request_timeout.as_secs(), 30);
            }
            other => panic!("{other:?}"),
        }
    }

    /// `--timeout` is one job's limit in `kiosk submit` and `submit --kiosk` alike;
    /// `--job-timeout` is accepted for it in both.
    #[test]
    fn job_timeouts_have_one_name() {
        let kiosk = ["--kiosk", "http://k", "--job-type", "m", "x.red.yml"];
        for flag in ["--timeout", "--job-timeout"] {
            match parse(&[&["submit", flag, "11"][..], &kiosk].concat()) {
                Command::Submit(args) => {
                    assert_eq!(args.kiosk.job_timeout.map(|d| d.as_secs()), Some(11));
                }
                other => panic!("{other:?}"),
            }
            let kiosk_submit = ["kiosk", "submit", "--url", "http://k", "--job-type", "m"];
            match parse(&[&kiosk_submit[..], &[flag, "12", "f.png"]].concat()) {
                Command::Kiosk(KioskCommand::Submit(args)) => {
                    assert_eq!(args.timeout.as_secs(), 12)
                }
                other => panic!("{other:?}"),
            }
        }
        // Without `--kiosk`, `submit --timeout` is refused, never taken as a request's limit.
        let refused = Cli::try_parse_from(["red", "submit", "--timeout", "5", "x.red.yml"]);
        assert!(refused.is_err());
    }
}
