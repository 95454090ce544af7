//! `red schema list` and `red schema show NAME`.

use clap::{Args, Subcommand, ValueEnum};

use crate::cli::args::{OutputFormat, output_format};
use crate::cli::{ExitStatus, Printer};
use crate::schemas;

/// `red schema …`
#[derive(Debug, Subcommand)]
pub enum SchemaCommand {
    /// List the embedded schemas.
    List(ListArgs),
    /// Print one schema.
    Show(ShowArgs),
}

/// Arguments of `red schema list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Output format.
    #[arg(long, default_value = "human", value_parser = output_format(
        "One schema per line with what it describes",
        "`{\"schemas\": [...]}`",
    ))]
    pub format: OutputFormat,
}

/// Arguments of `red schema show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The schema's name, as `red schema list` prints it.
    pub name: String,
    /// The document format to print.
    #[arg(long, value_enum, default_value_t = ShowFormat::Json)]
    pub to: ShowFormat,
    /// Report format: how an error is shown (the schema itself is printed as `--to` says).
    #[arg(long, value_enum, default_value_t = ShowReport::Human)]
    pub format: ShowReport,
}

/// The `--format` of `red schema show`: the report format of every command, and `yaml`, the
/// older spelling of `--to yaml`, still accepted but not listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ShowReport {
    /// Errors for people, on standard error.
    Human,
    /// Errors also as a JSON document on standard output.
    Json,
    /// `--to yaml` (an older spelling).
    #[value(hide = true)]
    Yaml,
}

impl ShowArgs {
    /// The document format, `--format yaml` counting as `--to yaml`.
    fn document_format(&self) -> ShowFormat {
        if self.format == ShowReport::Yaml {
            ShowFormat::Yaml
        } else {
            self.to
        }
    }
}

/// Document formats of `red schema show`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ShowFormat {
    /// The schema as the reference publishes it.
    Json,
    /// The same schema as YAML.
    Yaml,
}

/// Run `red schema …`.
pub fn run(command: &SchemaCommand, printer: &Printer) -> anyhow::Result<ExitStatus> {
    match command {
        SchemaCommand::List(args) => {
            match args.format {
                OutputFormat::Human => {
                    let width = schemas::ALL.iter().map(|s| s.name.len()).max().unwrap_or(0);
                    for schema in schemas::ALL {
                        printer.out(&format!("{:width$}  {}\n", schema.name, schema.describes));
                    }
                }
                OutputFormat::Json => {
                    let names: Vec<_> = schemas::ALL.iter().map(|s| s.name).collect();
                    printer.out_json(serde_json::json!({ "schemas": names }));
                }
            }
            Ok(ExitStatus::Success)
        }
        SchemaCommand::Show(args) => {
            let Some(schema) = schemas::find(&args.name) else {
                let names: Vec<_> = schemas::ALL.iter().map(|s| s.name).collect();
                return Err(crate::cli::usage(format!(
                    "no schema named `{}`; the schemas are: {}",
                    args.name,
                    names.join(", ")
                )));
            };
            match args.document_format() {
                ShowFormat::Json => printer.out(&format!("{}\n", schema.text.trim_end())),
                ShowFormat::Yaml => {
                    let parsed = crate::parse::tree(schema.text)?;
                    printer.out(&crate::convert::to_yaml(&parsed));
                }
            }
            Ok(ExitStatus::Success)
        }
    }
}
