//! `red fill FILE [--vars VARS]… [--env] [--prompt|--no-prompt] [-o OUT]`: fill a RED file's
//! `{{variables}}` and write the result with mode 0600.
//!
//! Every secret is registered with the [`Printer`] as soon as it is known (literal ones when the
//! template is read, typed or loaded ones when they arrive), so every message after that point,
//! and a panic, is masked. Diagnostics about a variables file never show its lines.

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use serde::Serialize;

use crate::cli::{ExitStatus, Failure, Printer};
use crate::diagnostic::{self, Diagnostic, FileReport, Severity};
use crate::fill::{self, Filled, Secret, output, sources};
use crate::load;
use crate::output_file;
use crate::parse::Parsed;
use crate::source::SourceFile;
use crate::template;
use crate::validate::{self, Level, Options};

/// Arguments of `red fill`.
#[derive(Debug, Args)]
#[command(
    after_help = "Values are taken from the variables files (the last one given wins), \
    then from RED_VAR_<name> environment variables with --env, then from a prompt on the \
    terminal. See docs/credentials.md."
)]
pub struct FillArgs {
    /// The RED file with `{{variables}}` (YAML or JSON; `-` reads standard input).
    pub file: PathBuf,
    /// Where the values come from.
    #[command(flatten)]
    pub sources: SourceArgs,
    /// Where to write the filled file, with mode 0600; `-` writes it to standard output.
    /// Default: next to FILE, `.filled` before its extension (`exp.red.yml` →
    /// `exp.red.filled.yml`).
    #[arg(short, long, value_name = "OUT")]
    pub output: Option<PathBuf>,
    /// Format of the report (the filled document itself is always written as it was read).
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
}

/// Where variable values come from; shared by every command that needs a filled document.
#[derive(Debug, Clone, Default, Args)]
pub struct SourceArgs {
    /// A variables file: a YAML or JSON mapping of names to strings or numbers. May be given
    /// several times; a later file overrides an earlier one.
    #[arg(long = "vars", value_name = "VARS")]
    pub vars: Vec<PathBuf>,
    /// Also read values from environment variables `RED_VAR_<name>` (characters other than
    /// letters, digits and `_` in the name become `_`).
    #[arg(long)]
    pub env: bool,
    /// Also look values up in the system keyring (the Secret Service): entry NAME of the service
    /// `red`. Skipped with a note when no keyring answers.
    #[arg(long)]
    pub keyring: bool,
    /// Look values up in the keyring under this service instead of `red` (implies --keyring).
    #[arg(long, value_name = "SERVICE")]
    pub keyring_service: Option<String>,
    /// Ask for every missing value on the terminal (fails when there is no terminal).
    #[arg(long, conflicts_with = "no_prompt")]
    pub prompt: bool,
    /// Never ask: a missing value is an error that names every missing variable.
    #[arg(long, alias = "non-interactive")]
    pub no_prompt: bool,
}

impl SourceArgs {
    /// The keyring service to ask, if the keyring is a source.
    #[must_use]
    pub fn keyring_service(&self) -> Option<&str> {
        match &self.keyring_service {
            Some(service) => Some(service),
            None => self.keyring.then_some(fill::keyring::DEFAULT_SERVICE),
        }
    }
}

/// Report formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Messages for people, on standard error.
    Human,
    /// One JSON document on standard output.
    Json,
}

/// One filled variable in the JSON report.
#[derive(Serialize)]
struct FilledVariable<'a> {
    name: &'a str,
    protected: bool,
    source: String,
}

/// Run `red fill`.
pub fn run(args: &FillArgs, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let report = Report {
        printer,
        path: args.file.display().to_string(),
        format: args.format,
    };
    if args.format == Format::Json && is_stdout(args.output.as_deref()) {
        return Err(crate::cli::usage(
            "`--format json` writes the report to standard output; name a file with `-o`",
        ));
    }
    let output = match &args.output {
        Some(path) => path.clone(),
        None => match output::default_path(&args.file) {
            Some(path) => path,
            None => {
                return Err(crate::cli::usage(
                    "reading the template from standard input needs `-o OUT` (or `-o -` for \
                     standard output)",
                ));
            }
        },
    };
    if !is_stdout(Some(&output)) && same_file(&args.file, &output) {
        return Err(crate::cli::usage(format!(
            "`{}` is the template itself; write the filled file elsewhere",
            output.display()
        )));
    }
    let (filled, values, warnings) = match obtain(&report, &args.file, &args.sources) {
        Ok(done) => done,
        Err(status) => return Ok(status),
    };
    if is_stdout(Some(&output)) {
        report.warnings(&warnings);
        printer.out_secret(filled.source().text());
        return Ok(ExitStatus::Success);
    }
    if let Err(error) = output_file::write(
        &output,
        filled.source().text().as_bytes(),
        output_file::Privacy::Private,
    ) {
        report.warnings(&warnings);
        return Err(anyhow::Error::new(error).context(format!(
            "cannot write the filled file `{}`",
            output.display()
        )));
    }
    report.success(&filled, &values, &output, &warnings);
    Ok(ExitStatus::Success)
}

/// Load, validate and fill a RED file: the one way every command gets a [`Filled`] document.
/// On failure everything has been reported and the exit status is returned.
pub(crate) fn obtain(
    report: &Report<'_>,
    file: &Path,
    value_sources: &SourceArgs,
) -> Result<(Filled, fill::Values, Vec<Diagnostic>), ExitStatus> {
    let printer = report.printer;
    let parsed = load_template(report, file)?;
    let template_source = parsed.source.clone();
    let validated = match validate::document(parsed, &Options { level: Level::Full }) {
        Ok(validated) => validated,
        Err(invalid) => {
            return Err(report.diagnostics(&invalid.diagnostics, Some(&invalid.parsed.source)));
        }
    };
    report.warnings(validated.warnings());
    let scan = template::scan(validated.tree());
    if !scan.is_ok() {
        return Err(report.diagnostics(&scan.diagnostics, Some(&template_source)));
    }
    let mut files = Vec::new();
    for path in &value_sources.vars {
        match sources::read_file(path) {
            Ok(file) => {
                protect_values(printer, &scan.variables, &file);
                files.push(file);
            }
            Err(error) => return Err(report.source_error(&error, &[])),
        }
    }
    let mut warnings = fill::short_secret_warnings(validated.tree());
    for (path, names) in sources::unused(&scan.variables, &files) {
        warnings.push(
            Diagnostic::warning(
                "vars",
                format!(
                    "`{}` sets {}, which `{}` does not use",
                    path.display(),
                    sources_quote(&names),
                    report.path
                ),
            )
            .hint("check the names for typos"),
        );
    }
    let env_reader = |name: &str| std::env::var_os(name);
    let env: Option<sources::EnvReader<'_>> = value_sources.env.then_some(&env_reader);
    let mut terminal = sources::TerminalPrompter::default();
    let prompter: Option<&mut dyn sources::Prompter> = if value_sources.no_prompt {
        None
    } else if value_sources.prompt || sources::terminal_available() {
        if !sources::terminal_available() {
            return Err(report.source_error(&sources::Error::NoTerminal, &warnings));
        }
        Some(&mut terminal)
    } else {
        None
    };
    if prompter.is_some() && report.format == Format::Human {
        // Warn before asking: a typo in a variables file is why a value is asked for.
        report.warnings(&warnings);
        warnings.clear();
    }
    let mut system_keyring = value_sources
        .keyring_service()
        .map(fill::keyring::SystemKeyring::new);
    let mut keyring = system_keyring
        .as_mut()
        .map(|k| sources::KeyringSource::new(k as &mut dyn fill::keyring::Keyring));
    let resolved = sources::resolve(&scan.variables, &files, env, keyring.as_mut(), prompter);
    if let Some(keyring) = keyring {
        warnings.extend(keyring.notes);
        if keyring.stored > 0 {
            let plural = if keyring.stored == 1 { "" } else { "s" };
            printer.err(&format!(
                "stored {} value{plural} in the keyring\n",
                keyring.stored
            ));
        }
    }
    let resolved = match resolved {
        Ok(resolved) => resolved,
        Err(error) => return Err(report.source_error(&error, &warnings)),
    };
    printer.protect(
        scan.variables
            .iter()
            .filter(|v| v.protected)
            .filter_map(|v| resolved.values.get(&v.name))
            .map(Secret::expose),
    );
    warnings.extend(fill::short_value_warnings(
        &scan.variables,
        &resolved.values,
    ));
    let filled = match fill::apply(validated, &resolved.values) {
        Ok(filled) => filled,
        Err(error) => return Err(report.fill_error(&error, &template_source, &warnings)),
    };
    printer.protect(filled.secrets().iter().map(Secret::expose));
    Ok((filled, resolved.values, warnings))
}

fn sources_quote(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn is_stdout(path: Option<&Path>) -> bool {
    path.is_some_and(|p| p.as_os_str() == "-")
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// Register the values of a variables file whose variables are protected.
fn protect_values(printer: &Printer, variables: &[template::Variable], file: &sources::VarsFile) {
    printer.protect(
        file.entries
            .iter()
            .filter(|(name, _, _)| variables.iter().any(|v| v.protected && &v.name == name))
            .map(|(_, secret, _)| secret.expose()),
    );
}

/// Read and parse the template, registering its literal secrets; on failure report it and
/// return the exit status.
pub(crate) fn load_template(report: &Report<'_>, path: &Path) -> Result<Parsed, ExitStatus> {
    match load::file(path) {
        Ok(parsed) => {
            report.printer.protect(fill::secret_texts(&parsed));
            Ok(parsed)
        }
        Err(error) => {
            // The file did not parse, so its secrets are not known for sure: mask a guess and
            // never quote its lines.
            if let Some(source) = &error.source {
                report
                    .printer
                    .protect(fill::guess_secret_texts(source.text()));
            }
            let path = report.path.clone();
            Err(report.diagnostics_at(&path, &[error.diagnostic], None, error.io))
        }
    }
}

/// Writes what a command found, in the chosen format, always through the printer.
pub(crate) struct Report<'p> {
    pub(crate) printer: &'p Printer,
    pub(crate) path: String,
    pub(crate) format: Format,
}

impl<'p> Report<'p> {
    /// A report about `file` for a command that runs it (JSON when `json`).
    pub(crate) fn for_file(printer: &'p Printer, file: &Path, json: bool) -> Self {
        Self {
            printer,
            path: file.display().to_string(),
            format: if json { Format::Json } else { Format::Human },
        }
    }

    /// [`obtain`] the filled document of `file`, printing its warnings; on failure everything
    /// has been reported and the exit status is returned.
    pub(crate) fn filled(&self, file: &Path, sources: &SourceArgs) -> Result<Filled, ExitStatus> {
        let (filled, _values, warnings) = obtain(self, file, sources)?;
        self.warnings(&warnings);
        Ok(filled)
    }

    /// Print diagnostics about the file (`source` is the text they point into, if its lines may
    /// be shown) and return the status they call for.
    pub(crate) fn diagnostics(
        &self,
        diagnostics: &[Diagnostic],
        source: Option<&SourceFile>,
    ) -> ExitStatus {
        self.diagnostics_at(&self.path, diagnostics, source, false)
    }

    fn diagnostics_at(
        &self,
        path: &str,
        diagnostics: &[Diagnostic],
        source: Option<&SourceFile>,
        io: bool,
    ) -> ExitStatus {
        let redactor = self.printer.redactor();
        let valid = !diagnostics.iter().any(|d| d.severity == Severity::Error);
        let status = match (valid, io) {
            (true, _) => ExitStatus::Success,
            (false, true) => ExitStatus::Error,
            (false, false) => ExitStatus::Failure,
        };
        match self.format {
            Format::Human => self.printer.err_masked(&diagnostic::render_human(
                diagnostics,
                source,
                path,
                &redactor,
                self.printer.color(),
            )),
            Format::Json => {
                let report = FileReport {
                    path: path.to_owned(),
                    valid,
                    red_version: None,
                    diagnostics: diagnostics.to_vec(),
                }
                .masked(&redactor);
                let mut files = serde_json::Map::new();
                files.insert("files".into(), serde_json::json!([report]));
                if valid {
                    self.printer
                        .out_json_masked(&serde_json::Value::Object(files));
                } else {
                    // The error document, with the file's report beside it.
                    let failure = Failure::from_diagnostics(path, diagnostics, status);
                    self.printer.error_document(&failure, files);
                }
            }
        }
        status
    }

    fn source_error(&self, error: &sources::Error, warnings: &[Diagnostic]) -> ExitStatus {
        let path = match error.place() {
            Some((path, _)) => path.display().to_string(),
            None => self.path.clone(),
        };
        let mut diagnostics = warnings.to_vec();
        diagnostics.push(error.diagnostic());
        // A variables file's lines are never shown: any of them may be a password.
        self.diagnostics_at(&path, &diagnostics, None, error.is_io())
    }

    fn fill_error(
        &self,
        error: &fill::Error,
        template: &SourceFile,
        warnings: &[Diagnostic],
    ) -> ExitStatus {
        let mut diagnostics = warnings.to_vec();
        diagnostics.extend(error.diagnostics());
        match error {
            fill::Error::Invalid { text, redactor, .. } => {
                self.printer.protect_all(redactor);
                self.diagnostics(&diagnostics, Some(text))
            }
            _ => self.diagnostics(&diagnostics, Some(template)),
        }
    }

    pub(crate) fn warnings(&self, warnings: &[Diagnostic]) {
        if !warnings.is_empty() && self.format == Format::Human {
            self.diagnostics(warnings, None);
        }
    }

    fn success(
        &self,
        filled: &Filled,
        values: &fill::Values,
        output: &Path,
        warnings: &[Diagnostic],
    ) {
        let variables: Vec<FilledVariable<'_>> = filled
            .variables()
            .iter()
            .map(|v| FilledVariable {
                name: &v.name,
                protected: v.protected,
                source: values
                    .entry(&v.name)
                    .map(|value| value.origin.to_string())
                    .unwrap_or_default(),
            })
            .collect();
        match self.format {
            Format::Human => {
                self.warnings(warnings);
                let protected = variables.iter().filter(|v| v.protected).count();
                self.printer.err(&format!(
                    "filled {} variable{} ({protected} protected) into `{}` (mode 0600)\n",
                    variables.len(),
                    if variables.len() == 1 { "" } else { "s" },
                    output.display()
                ));
            }
            Format::Json => {
                self.printer.out_json(serde_json::json!({
                    "file": self.path,
                    "output": output.display().to_string(),
                    "variables": variables,
                    "warnings": warnings,
                }));
            }
        }
    }
}
