//! The front door of every command that runs a file: load → validate → variables → fill →
//! plan, each failure reported once, located, in the command's format.
//!
//! Every secret is registered with the [`Printer`] as soon as it is known (literal ones when the
//! template is read, typed or loaded ones when they arrive), so every message after that point,
//! and a panic, is masked. Diagnostics about a variables file never show its lines.

use std::path::Path;

use super::args::{OutputFormat, SourceArgs};
use super::{ExitStatus, Failure, Printer};
use crate::diagnostic::{self, Diagnostic, FileReport, Severity};
use crate::fill::{self, Filled, Secret, sources};
use crate::load;
use crate::parse::Parsed;
use crate::plan::{self, Plan, PlanOptions};
use crate::source::SourceFile;
use crate::template;
use crate::validate::{self, Level, Options};

/// Load, validate and fill a RED file: the one way every command gets a [`Filled`] document.
/// On failure everything has been reported and the exit status is returned.
pub(crate) fn obtain(
    report: &Reporter<'_>,
    file: &Path,
    value_sources: &SourceArgs,
) -> Result<(Filled, fill::Values, Vec<Diagnostic>), ExitStatus> {
    obtain_with(report, file, value_sources, false)
}

/// [`obtain`]; with `partial`, a variable without a value in the files or the environment is
/// left as written instead of asked for (unless `--prompt`) or refused ([`fill::apply_partial`]).
fn obtain_with(
    report: &Reporter<'_>,
    file: &Path,
    value_sources: &SourceArgs,
    partial: bool,
) -> Result<(Filled, fill::Values, Vec<Diagnostic>), ExitStatus> {
    let printer = report.printer;
    let started = std::time::Instant::now();
    let parsed = load_template(report, file)?;
    let template_source = parsed.source.clone();
    let validated = match validate::document(parsed, &Options { level: Level::Full }) {
        Ok(validated) => validated,
        Err(invalid) => {
            return Err(report.diagnostics(&invalid.diagnostics, Some(&invalid.parsed.source)));
        }
    };
    report.warnings(validated.warnings());
    tracing::debug!(file = report.path, elapsed = ?started.elapsed(), "loaded and validated");
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
    let prompter = match prompter(value_sources, partial, &mut terminal) {
        Ok(prompter) => prompter,
        Err(error) => return Err(report.source_error(&error, &warnings)),
    };
    if prompter.is_some() && report.format == OutputFormat::Human {
        // Warn before asking: a typo in a variables file is why a value is asked for.
        report.warnings(&warnings);
        warnings.clear();
    }
    let (resolved, notes) = resolve(
        printer,
        value_sources,
        &scan.variables,
        &files,
        env,
        prompter,
        partial,
    );
    warnings.extend(notes);
    let resolved = match resolved {
        Ok(resolved) => resolved,
        Err(error) => return Err(report.source_error(&error, &warnings)),
    };
    for variable in &scan.variables {
        if let Some(value) = resolved.values.entry(&variable.name) {
            tracing::debug!(variable = variable.name, from = %value.origin, "value found");
        }
    }
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
    let apply = if partial {
        fill::apply_partial
    } else {
        fill::apply
    };
    let filled = match apply(validated, &resolved.values) {
        Ok(filled) => filled,
        Err(error) => return Err(report.fill_error(&error, &template_source, &warnings)),
    };
    printer.protect(filled.secrets().iter().map(Secret::expose));
    tracing::debug!(file = report.path, elapsed = ?started.elapsed(), "filled");
    Ok((filled, resolved.values, warnings))
}

/// The values of the sources: the files, the environment, the keyring (with `--keyring`, its
/// notes returned beside the result) and the prompter. A partial fill without a prompter leaves
/// a variable without a value as it is.
fn resolve(
    printer: &Printer,
    value_sources: &SourceArgs,
    variables: &[template::Variable],
    files: &[sources::VarsFile],
    env: Option<sources::EnvReader<'_>>,
    prompter: Option<&mut dyn sources::Prompter>,
    partial: bool,
) -> (Result<sources::Resolved, sources::Error>, Vec<Diagnostic>) {
    let mut system_keyring = value_sources
        .keyring_service()
        .map(fill::keyring::SystemKeyring::new);
    let mut keyring = system_keyring
        .as_mut()
        .map(|k| sources::KeyringSource::new(k as &mut dyn fill::keyring::Keyring));
    let resolved = if partial && prompter.is_none() {
        sources::available(variables, files, env).map(|mut resolved| {
            if let Some(keyring) = keyring.as_mut() {
                keyring.fill(variables, &mut resolved.values);
            }
            resolved
        })
    } else {
        sources::resolve(variables, files, env, keyring.as_mut(), prompter)
    };
    let Some(keyring) = keyring else {
        return (resolved, Vec::new());
    };
    if keyring.stored > 0 {
        let plural = if keyring.stored == 1 { "" } else { "s" };
        printer.err(&format!(
            "stored {} value{plural} in the keyring\n",
            keyring.stored
        ));
    }
    (resolved, keyring.notes)
}

/// Who is asked for a missing value: the terminal with `--prompt`, or when there is one and
/// neither `--no-prompt` nor a partial fill (a plan that only shows the document) says no.
fn prompter<'t>(
    value_sources: &SourceArgs,
    partial: bool,
    terminal: &'t mut sources::TerminalPrompter,
) -> Result<Option<&'t mut dyn sources::Prompter>, sources::Error> {
    if value_sources.no_prompt || (partial && !value_sources.prompt) {
        Ok(None)
    } else if value_sources.prompt || sources::terminal_available() {
        if !sources::terminal_available() {
            return Err(sources::Error::NoTerminal);
        }
        Ok(Some(terminal))
    } else {
        Ok(None)
    }
}

fn sources_quote(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
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
pub(crate) fn load_template(report: &Reporter<'_>, path: &Path) -> Result<Parsed, ExitStatus> {
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
pub(crate) struct Reporter<'p> {
    pub(crate) printer: &'p Printer,
    pub(crate) path: String,
    pub(crate) format: OutputFormat,
}

impl<'p> Reporter<'p> {
    /// A reporter about `file` for a command that runs it.
    pub(crate) fn for_file(printer: &'p Printer, file: &Path, format: OutputFormat) -> Self {
        Self {
            printer,
            path: file.display().to_string(),
            format,
        }
    }

    /// [`obtain`] the filled document of `file`, printing its warnings; on failure everything
    /// has been reported and the exit status is returned.
    pub(crate) fn filled(&self, file: &Path, sources: &SourceArgs) -> Result<Filled, ExitStatus> {
        let (filled, _values, warnings) = obtain(self, file, sources)?;
        self.warnings(&warnings);
        Ok(filled)
    }

    /// [`Reporter::filled`] for a document that is only shown: variables without a value are
    /// left as written ([`Filled::unfilled`] names them), and nothing is asked without
    /// `--prompt`.
    pub(crate) fn filled_partly(
        &self,
        file: &Path,
        sources: &SourceArgs,
    ) -> Result<Filled, ExitStatus> {
        let (filled, _values, warnings) = obtain_with(self, file, sources, true)?;
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

    pub(crate) fn diagnostics_at(
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
            OutputFormat::Human => {
                let text = diagnostic::render_human(
                    diagnostics,
                    source,
                    path,
                    &redactor,
                    self.printer.color(),
                );
                // Warnings alone are left out by `-qq`; errors always show.
                if valid {
                    self.printer.warn_masked(&text);
                } else {
                    self.printer.err_masked(&text);
                }
            }
            OutputFormat::Json => {
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

    /// Build the plan of `filled`; a file that cannot be planned is reported at its place.
    pub(crate) fn planned(
        &self,
        filled: &Filled,
        options: &PlanOptions,
    ) -> Result<Plan, ExitStatus> {
        plan::build(filled, options)
            .map_err(|error| self.diagnostics(&[error.to_diagnostic()], Some(filled.source())))
    }

    /// Print warnings (for people only: JSON reports carry them).
    pub(crate) fn warnings(&self, warnings: &[Diagnostic]) {
        if !warnings.is_empty() && self.format == OutputFormat::Human {
            self.diagnostics(warnings, None);
        }
    }
}
