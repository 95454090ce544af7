//! `red validate PATHS…`: check files (and the RED files of directories) and report every
//! problem, in parallel across files.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use rayon::prelude::*;

use crate::cli::args::CliCompat;
use crate::cli::{ExitStatus, Failure, Printer};
use crate::diagnostic::{self, FileReport, Severity, github, sarif};
use crate::redact::Redactor;
use crate::source::SourceFile;
use crate::validate::{self, Level, Options, walk};

/// Arguments of `red validate`.
#[derive(Debug, Args)]
#[command(
    after_help = "A directory is searched recursively for *.red.yml, *.red.yaml and \
    *.red.json files (hidden directories left out); files named on the command line are \
    checked whatever their names. See docs/validate.md."
)]
pub struct ValidateArgs {
    /// RED files (YAML or JSON) and directories to search; `-` reads standard input.
    #[arg(required = true, value_name = "PATHS")]
    pub files: Vec<PathBuf>,
    /// Leave out what this glob matches when searching directories (repeatable)
    ///
    /// A glob without `/` matches any file or directory name, one with `/` the whole path, `**`
    /// any number of directories.
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ValidateFormat::Human)]
    pub format: ValidateFormat,
    /// Apply only the rules of the reference validator (red-val 9.3)
    ///
    /// The verdicts are then identical to red-val's. By default engine settings and template
    /// placement are checked too.
    #[arg(long)]
    pub red_val: bool,
    /// Whose command-line rules the file is run with (as `red exec --cli-compat`)
    ///
    /// Pinning one silences the `argv-mode` warning about files whose argv differs between the
    /// two.
    #[arg(long, value_enum, value_name = "MODE")]
    pub cli_compat: Option<CliCompat>,
}

/// The report formats of `red validate`: the `human` and `json` of every command, and the two
/// formats CI systems read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ValidateFormat {
    /// Messages with source lines, for people.
    Human,
    /// One JSON document, for CI.
    Json,
    /// One SARIF 2.1.0 log, for code-scanning uploads.
    Sarif,
    /// GitHub Actions workflow commands, one annotation per finding.
    Github,
}

struct Outcome {
    report: FileReport,
    source: Option<SourceFile>,
    io_error: bool,
    secrets: Vec<String>,
}

/// Run `red validate`.
pub fn run(args: &ValidateArgs, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let files = match walk::files(&args.files, &walk::Exclude::new(&args.exclude)) {
        Ok(files) => files,
        Err(error @ walk::WalkError::Empty { .. }) => {
            return Err(crate::cli::usage_with_hint(
                error.to_string(),
                "name RED files explicitly, or check the `--exclude` globs",
            ));
        }
        Err(error) => return Err(error.into()),
    };
    let options = Options {
        level: if args.red_val {
            Level::RedVal
        } else {
            Level::Full
        },
    };
    let lint = args.cli_compat.is_none();
    let outcomes: Vec<Outcome> = files
        .par_iter()
        .map(|path| check(path, &options, lint))
        .collect();
    let io_error = outcomes.iter().any(|o| o.io_error);
    match args.format {
        ValidateFormat::Json => {
            let redactor = printer.redactor();
            let text = json(&outcomes, &redactor);
            printer.out_masked(&format!(
                "{}\n",
                with_error_keys(text, &outcomes, &redactor)
            ));
        }
        ValidateFormat::Sarif => {
            let log = with_reports(&outcomes, &printer.redactor(), |r| {
                sarif::render(r, !io_error)
            });
            printer.out_masked(&format!("{log}\n"));
        }
        ValidateFormat::Github => {
            printer.out_masked(&with_reports(
                &outcomes,
                &printer.redactor(),
                github::render,
            ));
            summary(&outcomes, printer);
        }
        ValidateFormat::Human => human(&outcomes, printer),
    }
    Ok(if io_error {
        ExitStatus::Error
    } else if outcomes.iter().any(|o| !o.report.valid) {
        ExitStatus::Failure
    } else {
        ExitStatus::Success
    })
}

/// The report for people, on stdout (a linter's findings are its data, so `red validate F >
/// log` keeps them): each file's findings, then its verdict line `FILE: valid` or
/// `FILE: invalid`; the count on stderr.
fn human(outcomes: &[Outcome], printer: &Printer) {
    for outcome in outcomes {
        let text = diagnostic::render_human(
            &outcome.report.diagnostics,
            outcome.source.as_ref(),
            &outcome.report.path,
            &printer.redactor().with(&outcome.secrets),
            printer.color_out(),
        );
        printer.out_masked(&text);
        let verdict = if outcome.report.valid {
            "valid"
        } else {
            "invalid"
        };
        printer.out(&format!("{}: {verdict}\n", outcome.report.path));
    }
    summary(outcomes, printer);
}

/// `N file(s) checked, …` on stderr, whatever the number of files (a note: `-q` leaves it out).
fn summary(outcomes: &[Outcome], printer: &Printer) {
    let invalid = outcomes.iter().filter(|o| !o.report.valid).count();
    printer.note(&format!(
        "{} file{} checked, {} valid, {} invalid\n",
        outcomes.len(),
        if outcomes.len() == 1 { "" } else { "s" },
        outcomes.len() - invalid,
        invalid
    ));
}

/// Render the reports with each file's own redactor (one file's secret never changes another
/// file's report).
fn with_reports(
    outcomes: &[Outcome],
    base: &Redactor,
    render: impl Fn(&[(FileReport, &Redactor)]) -> String,
) -> String {
    let redactors: Vec<Redactor> = outcomes.iter().map(|o| base.with(&o.secrets)).collect();
    let reports: Vec<(FileReport, &Redactor)> = outcomes
        .iter()
        .zip(&redactors)
        .map(|(o, r)| (o.report.clone(), r))
        .collect();
    render(&reports)
}

/// The `--format json` document: each file's report masked with its own secrets only, so one
/// file's secret never changes another file's report.
fn json(outcomes: &[Outcome], base: &Redactor) -> String {
    with_reports(outcomes, base, diagnostic::render_json)
}

/// The report with the error document's keys (`code`, `message`, `hint`, `path`, `line`,
/// `column`, …) of the first error in front when a file is invalid, as every command's
/// `--format json` has on failure (docs/exit-codes.md).
fn with_error_keys(report: String, outcomes: &[Outcome], base: &Redactor) -> String {
    let Some(first) = outcomes.iter().find(|o| !o.report.valid) else {
        return report;
    };
    let Ok(serde_json::Value::Object(files)) = serde_json::from_str(&report) else {
        return report;
    };
    let status = if outcomes.iter().any(|o| o.io_error) {
        ExitStatus::Error
    } else {
        ExitStatus::Failure
    };
    let failure = Failure::from_diagnostics(&first.report.path, &first.report.diagnostics, status);
    let mut document = serde_json::Value::Object(failure.document());
    base.with(&first.secrets).redact_value(&mut document);
    let mut document = match document {
        serde_json::Value::Object(document) => document,
        _ => return report,
    };
    document.extend(files);
    serde_json::to_string_pretty(&document).unwrap_or(report)
}

fn check(path: &std::path::Path, options: &Options, lint: bool) -> Outcome {
    let display = path.display().to_string();
    match crate::load::file(path) {
        Err(error) => Outcome {
            report: FileReport {
                path: display,
                valid: false,
                red_version: None,
                diagnostics: vec![error.diagnostic],
            },
            // The file did not parse, so its secrets are a best guess; mask them in the quoted line.
            secrets: error
                .source
                .as_ref()
                .map(|source| crate::fill::guess_secret_texts(source.text()))
                .unwrap_or_default(),
            source: error.source,
            io_error: error.io,
        },
        Ok(parsed) => checked(display, parsed, options, lint),
    }
}

/// Validate a parsed file and collect its secrets; `lint` adds the `argv-mode` warning.
fn checked(
    display: String,
    parsed: crate::parse::Parsed,
    options: &Options,
    lint: bool,
) -> Outcome {
    let red_version = validate::red_version(&parsed.tree);
    let secrets = crate::fill::secret_texts(&parsed);
    let short = crate::fill::short_secret_warnings(&parsed.tree);
    let (parsed, mut diagnostics) = match validate::document(parsed, options) {
        Ok(validated) => {
            let mut warnings = validated.warnings().to_vec();
            if options.level == Level::Full && lint {
                // The reproducibility lint: the argv differs between cwl and cc semantics.
                warnings.extend(crate::plan::lint(validated.tree()));
            }
            (validated.into_parsed(), warnings)
        }
        Err(invalid) => (invalid.parsed, invalid.diagnostics),
    };
    if !short.is_empty() {
        diagnostics.extend(short);
        diagnostics.sort_by_key(crate::diagnostic::Diagnostic::order_key);
    }
    let valid = !diagnostics.iter().any(|d| d.severity == Severity::Error);
    Outcome {
        report: FileReport {
            path: display,
            valid,
            red_version,
            diagnostics,
        },
        source: Some(parsed.source),
        io_error: false,
        secrets,
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::source::Origin;

    /// Secrets made to collide with the report: its keys, its values, red's words, file names.
    const WORDS: &[&str] = &[
        "p",
        "a",
        "e",
        "1",
        "\"",
        ":",
        "path",
        "valid",
        "message",
        "files",
        "file",
        "red",
        "error",
        "code",
        "hint",
        "true",
        "null",
        "schema",
        "warning",
        "pointer",
        "severity",
        "redVersion",
        "diagnostics",
        "container",
        "settings",
        "password",
        "busybox",
    ];

    fn document(secret: &str, noise: &str) -> String {
        let quoted = serde_json::to_string(secret).unwrap_or_default();
        format!(
            "redVersion: \"9\"\ncli:\n  cwlVersion: v1.0\n  class: CommandLineTool\n  \
             baseCommand: [wc]\n  inputs: {{}}\n  outputs: {{}}\ninputs: {{}}\n{noise}\
             container:\n  engine: docker\n  settings:\n    image:\n      url: busybox\n      \
             auth:\n        username: someone\n        password: {quoted}\n    ram: 256\n"
        )
    }

    fn outcome(name: &str, text: String) -> Outcome {
        let source = SourceFile::new(Origin::Memory(name.to_owned()), text);
        let Ok(parsed) = crate::load::text(source) else {
            panic!("the test document parses");
        };
        checked(
            name.to_owned(),
            parsed,
            &Options { level: Level::Full },
            true,
        )
    }

    /// Every key of the documented shape (docs/validate.md), with the right types.
    fn assert_shape(value: &serde_json::Value, names: &[String]) {
        let files = value["files"].as_array().expect("files");
        assert_eq!(files.len(), names.len());
        for (file, name) in files.iter().zip(names) {
            assert_eq!(file["path"], name.as_str());
            assert!(file["valid"].is_boolean());
            assert_eq!(file["redVersion"], "9");
            for d in file["diagnostics"].as_array().expect("diagnostics") {
                assert!(matches!(d["severity"].as_str(), Some("error" | "warning")));
                for key in ["code", "message", "pointer"] {
                    assert!(d[key].is_string(), "{key} in {d}");
                }
                for key in ["line", "column", "batch"] {
                    assert!(d.get(key).is_some(), "{key} in {d}");
                }
            }
        }
    }

    fn secret() -> impl Strategy<Value = String> {
        prop_oneof![
            proptest::sample::select(WORDS).prop_map(str::to_owned),
            "[a-zA-Z0-9äß\"'\\\\.:/_-]{1,12}",
        ]
    }

    fn noise() -> impl Strategy<Value = String> {
        proptest::sample::select(vec![
            String::new(),
            "colour: 1\n".to_owned(),
            "execution: {engine: ccfaice, settings: {}, path: 1}\n".to_owned(),
            "outputs: {out: {class: File, connector: {command: c, access: {path: p, message: x}}}}\n"
                .to_owned(),
        ])
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Masking changes only the messages and hints of the file that holds the secret, and
        /// only for a secret long enough to be masked reliably; the JSON always parses and has
        /// its documented shape.
        #[test]
        fn json_reports_keep_their_shape(
            files in proptest::collection::vec((secret(), noise()), 1..4),
        ) {
            let names: Vec<String> = files
                .iter()
                .enumerate()
                .map(|(i, (secret, _))| format!("kw{i}.{}.yml", secret.replace(['/', '"', '\\'], "_")))
                .collect();
            let outcomes: Vec<Outcome> = files
                .iter()
                .zip(&names)
                .map(|((secret, noise), name)| outcome(name, document(secret, noise)))
                .collect();
            let base = Redactor::none().keep(&names);
            let masked: serde_json::Value =
                serde_json::from_str(&json(&outcomes, &base)).expect("valid JSON");
            let plain: serde_json::Value =
                serde_json::from_str(&json(&outcomes, &Redactor::none())).expect("valid JSON");
            assert_shape(&masked, &names);
            for (index, (secret, _)) in files.iter().enumerate() {
                let (m, p) = (&masked["files"][index], &plain["files"][index]);
                let (md, pd) = (m["diagnostics"].as_array().expect("list"), p["diagnostics"].as_array().expect("list"));
                prop_assert_eq!(md.len(), pd.len());
                for (m, p) in md.iter().zip(pd) {
                    for key in ["severity", "code", "pointer", "line", "column", "batch"] {
                        prop_assert_eq!(&m[key], &p[key]);
                    }
                    if secret.chars().count() < crate::redact::RELIABLE {
                        prop_assert_eq!(m, p);
                    }
                }
                let short = md.iter().filter(|d| d["code"] == "short-secret").count();
                let expected = usize::from(secret.chars().count() < crate::redact::RELIABLE);
                prop_assert_eq!(short, expected, "{}", m);
            }
        }
    }
}
