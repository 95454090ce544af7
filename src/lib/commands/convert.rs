//! `red convert format|batches|cwl`: rewrite a file as JSON or YAML, one file per batch, or CWL.
//!
//! Every file is written by [`crate::output_file`]: whole or not at all (a temporary file renamed
//! into place), so a failure never leaves half a file behind; with mode 0600 when the document
//! holds a protected value; and a device or pipe named with `-o` is written through, never
//! replaced.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::{Args, Subcommand};
use rayon::prelude::*;

use crate::cli::documents::{DocumentFormat, load, privacy, shown, write_one};
use crate::cli::{ExitStatus, Printer, values};
use crate::convert::{self, Format, Value};
use crate::diagnostic::{self, Diagnostic};
use crate::output_file::{self, Privacy};
use crate::parse::Parsed;
use crate::validate::{self, Options};

/// `red convert …`
#[derive(Debug, Subcommand)]
pub enum ConvertCommand {
    /// Rewrite a YAML or JSON file in the other format, keeping key order and number spellings
    ///
    /// Any YAML or JSON file is accepted; it is not validated.
    Format(FormatArgs),
    /// Write one single-job RED file per batch of a RED file
    ///
    /// The file is validated first. Batch `i` becomes `DIR/batch_<i>.yml` (or `.json`): the
    /// document without `batches`, with the batch's `inputs`, `outputs`, `cloud` and `doc`.
    Batches(BatchesArgs),
    /// Write the `cli` as a CWL v1.0 CommandLineTool and one CWL job file per job
    ///
    /// The file is validated first. Writes `DIR/cli.cwl`, and `DIR/job.yml` for a single-job
    /// file or `DIR/job_<i>.yml` per batch. See docs/convert.md for what `location` holds.
    Cwl(CwlArgs),
}

/// Arguments of `red convert format`.
#[derive(Debug, Args)]
pub struct FormatArgs {
    /// The file to convert (YAML or JSON); `-` reads standard input.
    #[arg(value_hint = clap::ValueHint::FilePath)]
    pub file: PathBuf,
    /// The format to write.
    #[arg(long, value_enum)]
    pub to: DocumentFormat,
    /// Write here instead of standard output.
    #[arg(short, long, value_name = "OUT", value_hint = clap::ValueHint::FilePath)]
    pub output: Option<PathBuf>,
    /// Spaces per level in JSON output (0 writes one line).
    #[arg(long, default_value_t = 2, value_parser = values::count(0..=16))]
    pub indent: usize,
}

/// Arguments of `red convert batches`.
#[derive(Debug, Args)]
pub struct BatchesArgs {
    /// The RED file with `batches`; `-` reads standard input.
    #[arg(value_hint = clap::ValueHint::FilePath)]
    pub file: PathBuf,
    /// The directory to write the batch files into (created if missing).
    #[arg(short, long, value_name = "DIR", value_hint = clap::ValueHint::DirPath)]
    pub output: PathBuf,
    /// The format to write (default: the input's).
    #[arg(long, value_enum)]
    pub to: Option<DocumentFormat>,
    /// Spaces per level in JSON output (0 writes one line).
    #[arg(long, default_value_t = 2, value_parser = values::count(0..=16))]
    pub indent: usize,
}

/// Arguments of `red convert cwl`.
#[derive(Debug, Args)]
pub struct CwlArgs {
    /// The RED file; `-` reads standard input.
    #[arg(value_hint = clap::ValueHint::FilePath)]
    pub file: PathBuf,
    /// The directory to write `cli.cwl` and the job files into (created if missing).
    #[arg(short, long, value_name = "DIR", value_hint = clap::ValueHint::DirPath)]
    pub output: PathBuf,
}

/// Run `red convert …`.
pub fn run(command: &ConvertCommand, printer: &Printer) -> anyhow::Result<ExitStatus> {
    match command {
        ConvertCommand::Format(args) => format(args, printer),
        ConvertCommand::Batches(args) => batches(args, printer),
        ConvertCommand::Cwl(args) => cwl(args, printer),
    }
}

fn format(args: &FormatArgs, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let parsed = match load(&args.file, printer) {
        Ok(parsed) => parsed,
        Err(status) => return Ok(status),
    };
    let text = match convert::format(&parsed.tree, args.to.with_indent(args.indent)) {
        Ok(text) => text,
        Err(error) => return Ok(report_convert_error(&error, &parsed, &args.file, printer)),
    };
    match &args.output {
        Some(path) => write_one(path, &text, privacy(&parsed))?,
        None => printer.out(&text),
    }
    Ok(ExitStatus::Success)
}

fn batches(args: &BatchesArgs, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let parsed = match load_valid(&args.file, printer) {
        Ok(parsed) => parsed,
        Err(status) => return Ok(status),
    };
    let format = args
        .to
        .unwrap_or(if parsed.json {
            DocumentFormat::Json
        } else {
            DocumentFormat::Yaml
        })
        .with_indent(args.indent);
    let document = match convert::value(parsed.tree.root()) {
        Ok(document) => document,
        Err(error) => return Ok(report_convert_error(&error, &parsed, &args.file, printer)),
    };
    let list = match convert::batches::list(&document) {
        Ok(list) => list,
        Err(error) => return Ok(report_convert_error(&error, &parsed, &args.file, printer)),
    };
    // Every value of a batch file is a value of the document: if the document can be written
    // in this format, so can every batch file, and no error can stop the writing halfway.
    if let Err(error) = convert::emit(&document, format) {
        return Ok(report_convert_error(&error, &parsed, &args.file, printer));
    }
    let extension = format.extension();
    let privacy = privacy(&parsed);
    write_all(&args.output, |dir| {
        list.par_iter().enumerate().try_for_each(|(i, batch)| {
            let text = convert::emit(&convert::batches::job(&document, batch), format)
                .context("cannot write a batch file")?;
            let path = dir.join(format!("batch_{i}.{extension}"));
            write_file(&path, &text, privacy, dir != args.output)
        })
    })?;
    printer.note(&format!(
        "wrote {} batch file(s) to `{}`\n",
        list.len(),
        args.output.display()
    ));
    Ok(ExitStatus::Success)
}

fn cwl(args: &CwlArgs, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let parsed = match load_valid(&args.file, printer) {
        Ok(parsed) => parsed,
        Err(status) => return Ok(status),
    };
    let result = (|| {
        let document = convert::value(parsed.tree.root())?;
        let tool = convert::emit(&convert::cwl::tool(&document)?, Format::Yaml)?;
        let mut files = vec![("cli.cwl".to_owned(), tool)];
        if document.get("batches").is_some() {
            for (i, batch) in convert::batches::list(&document)?.iter().enumerate() {
                let inputs = batch
                    .get("inputs")
                    .cloned()
                    .unwrap_or(Value::Map(Vec::new()));
                let job = convert::emit(&convert::cwl::job(&inputs)?, Format::Yaml)?;
                files.push((format!("job_{i}.yml"), job));
            }
        } else {
            let inputs = document
                .get("inputs")
                .cloned()
                .unwrap_or(Value::Map(Vec::new()));
            let job = convert::emit(&convert::cwl::job(&inputs)?, Format::Yaml)?;
            files.push(("job.yml".to_owned(), job));
        }
        Ok::<_, convert::Error>(files)
    })();
    let files = match result {
        Ok(files) => files,
        Err(error) => return Ok(report_convert_error(&error, &parsed, &args.file, printer)),
    };
    // Job files hold the inputs' access blocks, and so their protected values.
    let privacy = privacy(&parsed);
    write_all(&args.output, |dir| {
        files.iter().try_for_each(|(name, text)| {
            write_file(&dir.join(name), text, privacy, dir != args.output)
        })
    })?;
    printer.note(&format!(
        "wrote `cli.cwl` and {} job file(s) to `{}`\n",
        files.len() - 1,
        args.output.display()
    ));
    Ok(ExitStatus::Success)
}

/// Load and validate a RED file, printing every problem when it is invalid.
fn load_valid(path: &Path, printer: &Printer) -> Result<Parsed, ExitStatus> {
    let parsed = load(path, printer)?;
    let secrets = crate::fill::secret_texts(&parsed);
    match validate::document(parsed, &Options::default()) {
        Ok(validated) => Ok(validated.into_parsed()),
        Err(invalid) => {
            let text = diagnostic::render_human(
                &invalid.diagnostics,
                Some(&invalid.parsed.source),
                &shown(path),
                &printer.redactor().with(&secrets),
                printer.color(),
            );
            printer.err_masked(&text);
            printer.err(&format!(
                "error: `{}` is not a valid RED file; nothing was written\n",
                shown(path)
            ));
            Err(ExitStatus::Failure)
        }
    }
}

/// Print a conversion error at its place in the file; the input is at fault (exit 1).
fn report_convert_error(
    error: &convert::Error,
    parsed: &Parsed,
    path: &Path,
    printer: &Printer,
) -> ExitStatus {
    let mut diagnostic = Diagnostic::error("convert", error.to_string());
    if let Some(location) = error.location(&parsed.tree) {
        diagnostic = diagnostic.at(location);
    }
    if let Some(pointer) = error.pointer() {
        diagnostic = diagnostic.pointer(pointer);
    }
    if let Some(hint) = error.hint() {
        diagnostic = diagnostic.hint(hint);
    }
    let text = diagnostic::render_human(
        &[diagnostic],
        Some(&parsed.source),
        &shown(path),
        &printer.redactor().with(crate::fill::secret_texts(parsed)),
        printer.color(),
    );
    printer.err_masked(&text);
    ExitStatus::Failure
}

/// Write a set of files into `dir`, all or none. A new directory is filled under a temporary
/// name and renamed into place once complete (one rename for 100,000 files); into an existing
/// directory each file is written whole (temporary file and rename).
fn write_all(dir: &Path, write: impl FnOnce(&Path) -> anyhow::Result<()>) -> anyhow::Result<()> {
    match std::fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => return write(dir),
        Ok(_) => anyhow::bail!(
            "`{}` is not a directory; name a directory for the files (it is created if missing)",
            dir.display()
        ),
        Err(_) => {}
    }
    let name = dir
        .file_name()
        .with_context(|| format!("`{}` is not a directory name", dir.display()))?;
    let mut staging_name = std::ffi::OsString::from(".");
    staging_name.push(name);
    staging_name.push(format!(".{}.tmp", std::process::id()));
    let staging = dir.with_file_name(staging_name);
    std::fs::create_dir_all(&staging)
        .with_context(|| format!("cannot create the directory `{}`", dir.display()))?;
    let result = write(&staging).and_then(|()| {
        std::fs::rename(&staging, dir)
            .with_context(|| format!("cannot create the directory `{}`", dir.display()))
    });
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&staging);
    }
    result
}

/// Write one file: created directly when it is in a directory of our own that is not visible
/// yet, else through [`write_one`].
fn write_file(path: &Path, text: &str, privacy: Privacy, staged: bool) -> anyhow::Result<()> {
    if staged {
        Ok(output_file::create(path, text.as_bytes(), privacy)?)
    } else {
        write_one(path, text, privacy)
    }
}
