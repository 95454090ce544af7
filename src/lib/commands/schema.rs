//! `red schema list`, `red schema show NAME` and `red schema validate NAME FILE`.

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};

use crate::cli::args::{OutputFormat, output_format};
use crate::cli::intake::{Reporter, load_template};
use crate::cli::{ExitStatus, Printer};
use crate::schemas;
use crate::validate;

/// `red schema …`
#[derive(Debug, Subcommand)]
pub enum SchemaCommand {
    /// List the embedded schemas.
    List(ListArgs),
    /// Print one schema.
    Show(ShowArgs),
    /// Check a file against one schema alone (a RED file, or a fragment such as an engine's
    /// settings), as `faice schema validate` does.
    Validate(ValidateArgs),
}

/// Arguments of `red schema validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// The schema's name, as `red schema list` prints it.
    pub name: String,
    /// The file to check (YAML or JSON); `-` reads standard input.
    pub file: PathBuf,
    /// Output format.
    #[arg(long, default_value = "human", value_parser = output_format(
        "Messages with source lines, on standard error",
        "One JSON document on standard output, as `red validate` writes it",
    ))]
    pub format: OutputFormat,
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
        SchemaCommand::Validate(args) => validate_file(args, printer),
        SchemaCommand::Show(args) => {
            let schema = find(&args.name)?;
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

/// The schema of this name, or a usage error that lists the names there are.
fn find(name: &str) -> anyhow::Result<&'static schemas::Schema> {
    schemas::find(name).ok_or_else(|| {
        let names: Vec<_> = schemas::ALL.iter().map(|s| s.name).collect();
        crate::cli::usage(format!(
            "no schema named `{name}`; the schemas are: {}",
            names.join(", ")
        ))
    })
}

/// Run `red schema validate`: the file's problems located as `red validate` locates them.
fn validate_file(args: &ValidateArgs, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let schema = find(&args.name)?;
    let report = Reporter::for_file(printer, &args.file, args.format);
    let parsed = match load_template(&report, &args.file) {
        Ok(parsed) => parsed,
        Err(status) => return Ok(status),
    };
    let diagnostics = validate::against_schema(&parsed.tree, schema.name).unwrap_or_default();
    let status = report.diagnostics(&diagnostics, Some(&parsed.source));
    if status == ExitStatus::Success && args.format == OutputFormat::Human {
        printer.err(&format!(
            "{}: valid against `{}`\n",
            args.file.display(),
            schema.name
        ));
    }
    Ok(status)
}
