//! `red gpus`: list the GPUs `red` sees on this host, as `red exec` would match them.

use clap::Args;

use crate::cli::args::{OutputFormat, output_format};
use crate::cli::{ExitStatus, Printer};
use crate::gpus;

/// Arguments of `red gpus`.
#[derive(Debug, Args)]
pub struct GpusArgs {
    /// Output format.
    #[arg(long, default_value = "human", value_parser = output_format(
        "One GPU per line: index, memory, name, UUID",
        "`{\"gpus\": [{\"index\", \"uuid\", \"name\", \"memoryMib\", \"vendor\"}], \"note\": …}`",
    ))]
    pub format: OutputFormat,
}

/// Run `red gpus`. A host without `nvidia-smi` has no GPUs for `red`: that is a normal answer
/// (exit 0, an empty list), not an error; `nvidia-smi` failing is one (exit 2).
pub fn run(args: &GpusArgs, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let (found, note) = match gpus::discover() {
        Ok(found) => (found, None),
        Err(error @ gpus::Error::NotInstalled) => (Vec::new(), Some(error.to_string())),
        Err(error) => return Err(anyhow::Error::new(error).context("cannot list GPUs")),
    };
    match args.format {
        OutputFormat::Json => {
            let document = serde_json::json!({ "gpus": found, "note": note });
            printer.out_json(document);
        }
        OutputFormat::Human => {
            if let Some(note) = &note {
                printer.note(&format!("{note}\n"));
            } else if found.is_empty() {
                printer.note("no NVIDIA GPUs found: `nvidia-smi` lists none\n");
            }
            for gpu in &found {
                let memory = gpu
                    .memory_mib
                    .map_or_else(|| "?".to_owned(), |m| m.to_string());
                printer.out(&format!(
                    "{:>2}  {:>7} MiB  {}  {}\n",
                    gpu.index, memory, gpu.name, gpu.uuid
                ));
            }
        }
    }
    Ok(ExitStatus::Success)
}
