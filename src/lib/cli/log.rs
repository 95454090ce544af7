//! How much `red` says on standard error: `-q`/`-v` pick a level, `RED_LOG` filters the debug
//! lines the library emits through `tracing` (the syntax of `RUST_LOG`).
//!
//! Two kinds of messages share the level. The printer's own notes, progress and warnings
//! ([`super::Printer::note`], [`super::Printer::warn`]) are lines for people and keep their
//! shape; the library's `tracing` events (`debug!` of which connector runs, which Docker call is
//! made, how long a step took) are formatted by `tracing-subscriber`. Both go through the
//! printer's redactor, so a secret registered with the printer never reaches a log line.

use std::io::Write;
use std::sync::{Arc, RwLock};

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

use crate::redact::Redactor;

/// The environment variable that filters the debug lines (`RED_LOG=debug`,
/// `RED_LOG=red::execute=trace,red::net=debug`).
pub const FILTER_VARIABLE: &str = "RED_LOG";

/// How much is said: `-qq` errors only, `-q` warnings and errors, the default adds notes and
/// progress, `-v` debug lines, `-vv` trace lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Errors only (`-qq`).
    Error,
    /// Warnings too (`-q`).
    Warn,
    /// Notes and progress too (the default).
    Info,
    /// red's debug lines too (`-v`).
    Debug,
    /// red's trace lines and its libraries' debug lines too (`-vv` and more).
    Trace,
}

impl Level {
    /// The level for `-q` given `quiet` times and `-v` given `verbose` times.
    #[must_use]
    pub fn from_counts(quiet: u8, verbose: u8) -> Self {
        match (quiet, verbose) {
            (0, 0) => Self::Info,
            (0, 1) => Self::Debug,
            (0, _) => Self::Trace,
            (1, _) => Self::Warn,
            _ => Self::Error,
        }
    }

    /// The `tracing` filter for this level when `RED_LOG` is unset.
    fn directives(self) -> &'static str {
        match self {
            Self::Error => "error",
            Self::Warn => "warn",
            Self::Info => "warn",
            Self::Debug => "warn,red=debug",
            Self::Trace => "debug,red=trace",
        }
    }
}

/// Install the subscriber of `tracing` events: lines on stderr through `redactor`, filtered by
/// `RED_LOG` when it is set and by `level` otherwise. A second call (tests that run `red` in
/// the same process) keeps the first subscriber.
pub(crate) fn install(level: Level, color: bool, redactor: Arc<RwLock<Redactor>>) {
    let filter = std::env::var(FILTER_VARIABLE)
        .ok()
        .and_then(|text| EnvFilter::try_new(text).ok())
        .unwrap_or_else(|| EnvFilter::new(level.directives()));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(Redacting(redactor))
        .with_ansi(color)
        .with_timer(tracing_subscriber::fmt::time::uptime())
        .with_target(true)
        .try_init();
}

/// Makes one [`Line`] per event.
struct Redacting(Arc<RwLock<Redactor>>);

impl<'a> MakeWriter<'a> for Redacting {
    type Writer = Line;

    fn make_writer(&'a self) -> Self::Writer {
        Line {
            text: Vec::new(),
            redactor: Arc::clone(&self.0),
        }
    }
}

/// One event's text, masked and written to stderr in one piece when it is dropped.
struct Line {
    text: Vec<u8>,
    redactor: Arc<RwLock<Redactor>>,
}

impl Write for Line {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.text.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Line {
    /// The text with every secret masked; `None` when the redactor cannot be read (poisoned or
    /// being replaced): then the line is dropped, never shown unmasked.
    fn masked(&self) -> Option<String> {
        let redactor = self.redactor.try_read().ok()?;
        Some(
            redactor
                .redact(&String::from_utf8_lossy(&self.text))
                .into_owned(),
        )
    }
}

impl Drop for Line {
    fn drop(&mut self) {
        if let Some(masked) = self.masked() {
            let _ = std::io::stderr().lock().write_all(masked.as_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_map_to_levels() {
        assert_eq!(Level::from_counts(0, 0), Level::Info);
        assert_eq!(Level::from_counts(1, 0), Level::Warn);
        assert_eq!(Level::from_counts(2, 0), Level::Error);
        assert_eq!(Level::from_counts(5, 0), Level::Error);
        assert_eq!(Level::from_counts(0, 1), Level::Debug);
        assert_eq!(Level::from_counts(0, 3), Level::Trace);
    }

    #[test]
    fn a_line_is_masked_before_it_is_written() {
        let redactor = Arc::new(RwLock::new(Redactor::new(["canary-Zq81"])));
        let mut line = Redacting(Arc::clone(&redactor)).make_writer();
        let _ = line.write_all(b"token canary-Zq81 sent");
        assert_eq!(line.masked().as_deref(), Some("token ******** sent"));
        line.text.clear();
    }
}
