//! All output goes through [`Printer`]: data to stdout, messages to stderr, colour only on a
//! terminal (and never with `NO_COLOR`). Messages have a level ([`super::log::Level`], from
//! `-q`/`-v`): [`Printer::note`] is left out by `-q`, [`Printer::warn`] by `-qq`, errors
//! ([`Printer::err`], [`Printer::fail`]) always show.
//!
//! The printer is also the one redaction layer: every text it writes passes through the
//! [`Redactor`] of the secrets commands have registered with [`Printer::protect`], and the panic
//! hook ([`Printer::install_panic_hook`]) shares the same redactor. The only unmasked output is
//! [`Printer::out_secret`], for `red fill -o -`; [`Printer::err_masked`] and
//! [`Printer::out_masked`] take diagnostics their caller has masked part by part.

use std::io::{IsTerminal, Write};
use std::sync::{Arc, RwLock};

use serde_json::{Map, Value};

use super::ExitStatus;
use super::failure::{ErrorFormat, Failure};
use super::log::Level;
use crate::redact::Redactor;

/// The `--color` choices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    /// Colour on a terminal (stdout and stderr each decide for themselves) unless `NO_COLOR` is
    /// set.
    Auto,
    /// Always colour.
    Always,
    /// Never colour.
    Never,
}

/// Writes command output.
#[derive(Debug, Clone)]
pub struct Printer {
    color: bool,
    color_out: bool,
    level: Level,
    errors: ErrorFormat,
    redactor: Arc<RwLock<Redactor>>,
}

impl Printer {
    /// A printer for the chosen colour mode.
    #[must_use]
    pub fn new(choice: ColorChoice) -> Self {
        let auto = |terminal: bool| terminal && std::env::var_os("NO_COLOR").is_none();
        let (color, color_out) = match choice {
            ColorChoice::Always => (true, true),
            ColorChoice::Never => (false, false),
            ColorChoice::Auto => (
                auto(std::io::stderr().is_terminal()),
                auto(std::io::stdout().is_terminal()),
            ),
        };
        Self {
            color,
            color_out,
            level: Level::Info,
            errors: ErrorFormat::Human,
            redactor: Arc::default(),
        }
    }

    /// The same printer, showing errors also on stdout in this format.
    #[must_use]
    pub fn with_errors(mut self, errors: ErrorFormat) -> Self {
        self.errors = errors;
        self
    }

    /// The same printer, saying as much as `level` asks for.
    #[must_use]
    pub fn with_level(mut self, level: Level) -> Self {
        self.level = level;
        self
    }

    /// How much this printer says.
    #[must_use]
    pub fn level(&self) -> Level {
        self.level
    }

    /// Whether progress (bars, lines as batches start and end) is shown: not with `-q`.
    #[must_use]
    pub fn shows_progress(&self) -> bool {
        self.level >= Level::Info
    }

    /// How errors are shown.
    #[must_use]
    pub fn errors(&self) -> ErrorFormat {
        self.errors
    }

    /// Mask these secrets, as well as those already known, in everything printed from now on.
    pub fn protect<I, S>(&self, secrets: I)
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        if let Ok(mut redactor) = self.redactor.write() {
            *redactor = redactor.with(secrets);
        }
    }

    /// Never change these texts (the words of the command line) by masking a secret inside them.
    pub fn keep<I, S>(&self, texts: I)
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        if let Ok(mut redactor) = self.redactor.write() {
            *redactor = redactor.keep(texts);
        }
    }

    /// Mask the secrets of `other` too.
    pub fn protect_all(&self, other: &Redactor) {
        if let Ok(mut redactor) = self.redactor.write() {
            *redactor = redactor.merged(other);
        }
    }

    /// The redactor of every secret registered so far.
    #[must_use]
    pub fn redactor(&self) -> Redactor {
        self.redactor
            .read()
            .map(|r| r.clone())
            .unwrap_or_else(|poisoned| poisoned.into_inner().clone())
    }

    fn redact(&self, text: &str) -> String {
        self.redactor().redact(text).into_owned()
    }

    /// Replace the process's panic hook by one that prints the panic message through this
    /// printer's redactor, so a panic can never show a secret.
    pub fn install_panic_hook(&self) {
        let redactor = Arc::clone(&self.redactor);
        std::panic::set_hook(Box::new(move |info| {
            let payload = info
                .payload()
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| info.payload().downcast_ref::<String>().cloned())
                .unwrap_or_default();
            let location = info
                .location()
                .map(|l| format!("{}:{}", l.file(), l.line()))
                .unwrap_or_default();
            // A panic while the redactor is being replaced cannot read it: say nothing then.
            let text = match redactor.try_read() {
                Ok(redactor) => panic_message(&payload, &location, &redactor),
                Err(_) => panic_message("", &location, &Redactor::none()),
            };
            let _ = std::io::stderr().lock().write_all(text.as_bytes());
        }));
    }

    /// Whether messages on stderr may use colour.
    #[must_use]
    pub fn color(&self) -> bool {
        self.color
    }

    /// Whether data on stdout may use colour (a report rendered for a terminal).
    #[must_use]
    pub fn color_out(&self) -> bool {
        self.color_out
    }

    /// The shared redactor itself, for the log lines of `tracing` (see [`super::log`]).
    pub(crate) fn shared_redactor(&self) -> Arc<RwLock<Redactor>> {
        Arc::clone(&self.redactor)
    }

    /// Write data to stdout, secrets masked. A closed pipe (`red … | head`) is not an error.
    pub fn out(&self, text: &str) {
        self.out_secret(&self.redact(text));
    }

    /// Write a JSON document to stdout (pretty, one trailing newline) with every string in it
    /// masked; the document stays valid JSON whatever the secrets are.
    pub fn out_json(&self, mut value: serde_json::Value) {
        self.redactor().redact_value(&mut value);
        let text = serde_json::to_string_pretty(&value).unwrap_or_else(|_| "null".to_owned());
        self.out_secret(&format!("{text}\n"));
    }

    /// Write a JSON document whose strings the caller has already masked field by field (a
    /// diagnostics report: messages and hints masked, key paths and file paths as they are).
    pub fn out_json_masked(&self, value: &impl serde::Serialize) {
        let text = serde_json::to_string_pretty(value).unwrap_or_else(|_| "null".to_owned());
        self.out_masked(&format!("{text}\n"));
    }

    /// Write data the caller has already masked part by part (a rendered diagnostics report).
    pub fn out_masked(&self, text: &str) {
        self.out_secret(text);
    }

    /// Write data to stdout **without** masking: only for a filled document the user asked to
    /// see with `red fill -o -`.
    pub fn out_secret(&self, text: &str) {
        let mut stdout = std::io::stdout().lock();
        let _ = stdout
            .write_all(text.as_bytes())
            .and_then(|()| stdout.flush());
    }

    /// Write a message to stderr, secrets masked.
    pub fn err(&self, text: &str) {
        let text = self.redact(text);
        let mut stderr = std::io::stderr().lock();
        let _ = stderr.write_all(text.as_bytes());
    }

    /// Write a note (what was done, what to do next) to stderr, secrets masked; `-q` leaves it
    /// out.
    pub fn note(&self, text: &str) {
        if self.level >= Level::Info {
            self.err(text);
        }
    }

    /// Write a warning to stderr, secrets masked; `-qq` leaves it out.
    pub fn warn(&self, text: &str) {
        if self.level >= Level::Warn {
            self.err(text);
        }
    }

    /// [`Printer::warn`] for text the caller has already masked part by part.
    pub fn warn_masked(&self, text: &str) {
        if self.level >= Level::Warn {
            self.err_masked(text);
        }
    }

    /// Write a message the caller has already masked part by part (rendered diagnostics, whose
    /// key paths and file paths must not be masked again) to stderr.
    pub fn err_masked(&self, text: &str) {
        let mut stderr = std::io::stderr().lock();
        let _ = stderr.write_all(text.as_bytes());
    }

    /// Render a failure, once: `error: …` lines on stderr and, with `--format json`, the error
    /// document on stdout; returns the exit status it calls for.
    pub fn fail(&self, failure: &Failure) -> ExitStatus {
        self.err(&failure.human());
        self.error_document(failure, Map::new());
        failure.status
    }

    /// Only the stdout part of [`Printer::fail`], with `extra` keys added to the document (a
    /// command's own report of the failure); nothing without `--format json`.
    pub fn error_document(&self, failure: &Failure, extra: Map<String, Value>) {
        let mut document = failure.document();
        document.extend(extra);
        match self.errors {
            ErrorFormat::Human => {}
            ErrorFormat::Json => self.out_json(Value::Object(document)),
            ErrorFormat::Ndjson => {
                let mut event = Map::new();
                event.insert("event".into(), "error".into());
                event.extend(document);
                let mut value = Value::Object(event);
                self.redactor().redact_value(&mut value);
                self.out_secret(&format!("{value}\n"));
            }
        }
    }
}

/// What the panic hook prints: the message masked, where it happened, and that it is a bug.
#[must_use]
pub(crate) fn panic_message(payload: &str, location: &str, redactor: &Redactor) -> String {
    let payload = redactor.redact(payload);
    let mut text = String::from("error: red stopped on an internal error");
    if !location.is_empty() {
        text.push_str(&format!(" at {location}"));
    }
    if !payload.is_empty() {
        text.push_str(&format!(": {payload}"));
    }
    text.push_str("\n  this is a bug in red; please report it\n");
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panic_messages_are_masked() {
        let redactor = Redactor::new(["pa(ss-word", "pa(ss-word-longer"]);
        let text = panic_message(
            "bad value pa(ss-word-longer and pa(ss-word",
            "src/x.rs:3",
            &redactor,
        );
        assert!(!text.contains("pa(ss"));
        assert!(text.contains("src/x.rs:3"));
        assert!(text.contains("bad value ******** and ********"));
    }

    #[test]
    fn levels_decide_what_is_said() {
        let quiet = Printer::new(ColorChoice::Never).with_level(Level::Warn);
        assert!(!quiet.shows_progress());
        let default = Printer::new(ColorChoice::Never);
        assert!(default.shows_progress());
        assert!(
            Printer::new(ColorChoice::Never)
                .with_level(Level::Debug)
                .shows_progress()
        );
    }

    #[test]
    fn protect_accumulates() {
        let printer = Printer::new(ColorChoice::Never);
        printer.protect(["one-secret"]);
        printer.protect(["two-secret"]);
        printer.keep(["dir/one-secret.yml"]);
        assert_eq!(
            printer.redact("one-secret two-secret three dir/one-secret.yml"),
            "******** ******** three dir/one-secret.yml"
        );
    }
}
