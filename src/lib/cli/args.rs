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
    /// Ask for every missing value on the terminal.
    ///
    /// Fails when there is no terminal.
    #[arg(long, conflicts_with = "no_prompt")]
    pub prompt: bool,
    /// Never ask: a missing value is an error.
    ///
    /// The error names every missing variable.
    #[arg(long)]
    pub no_prompt: bool,
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
    /// The broker user (default: `RED_AGENCY_USER`, then the config file). The password comes
    /// from `RED_AGENCY_PASSWORD`, the config file or a prompt, never from a flag.
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,
    /// How long one request may take, connecting included (`30`, `2m`; at most 1 day).
    #[arg(long, value_name = "DURATION", default_value = "30", value_parser = values::duration_up_to_a_day)]
    pub timeout: Duration,
    /// The agency config file (default: `RED_AGENCY_CONFIG`, else
    /// `$XDG_CONFIG_HOME/red/agency.json`, else `~/.config/red/agency.json`).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// The Kiosk flags of `red submit`.
#[derive(Debug, Clone, Args)]
pub struct KioskArgs {
    /// Run each batch on this DeepCell Kiosk instead of a CC-Agency broker: its File input is
    /// sent as one job, the result zip delivered as its File output (docs/kiosk.md).
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
    #[arg(long, value_name = "DURATION", requires = "kiosk", value_parser = values::duration)]
    pub job_timeout: Option<Duration>,
    /// With `--kiosk`: the rescale factor sent with each job.
    #[arg(long, requires = "kiosk")]
    pub scale: Option<String>,
    /// With `--kiosk`: the channels sent with each job, comma-separated.
    #[arg(long, requires = "kiosk")]
    pub channels: Option<String>,
}
