//! How much `red` says on standard error: `-q`/`-v` pick a level, `RED_LOG` filters the debug
//! lines the library emits through `tracing` (the syntax of `RUST_LOG`).
//!
//! Two kinds of messages share the level. The printer's own notes, progress and warnings
//! ([`super::Printer::note`], [`super::Printer::warn`]) are lines for people and keep their
//! shape; the library's `tracing` events (`debug!` of which connector runs, which Docker call is
//! made, how long a step took) are formatted by `tracing-subscriber`. Both go through the
//! printer's redactor, so a secret registered with the printer never reaches a log line.
//!
//! A command may name a level by name and a log file (`red kiosk submit -L INFO --log-file F`,
//! kiosk-client's options): the level is the same level `-q`/`-v` pick, and the file receives the
//! same `tracing` events, with the time of day, from `info` up at the default level (the job
//! lines a client run is followed by), so there is one logging system whatever names it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

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

    /// A level by kiosk-client's names (`DEBUG`, `INFO`, `WARN`, `ERROR`, `CRITICAL`; any
    /// case; `WARNING` too).
    ///
    /// # Errors
    /// A message naming the accepted names.
    pub fn from_name(text: &str) -> Result<Self, String> {
        match text.trim().to_ascii_uppercase().as_str() {
            "DEBUG" => Ok(Self::Debug),
            "INFO" => Ok(Self::Info),
            "WARN" | "WARNING" => Ok(Self::Warn),
            "ERROR" | "CRITICAL" => Ok(Self::Error),
            _ => Err(format!(
                "`{text}` is not a log level: give DEBUG, INFO, WARN, ERROR or CRITICAL"
            )),
        }
    }

    /// The level of a run: `-L` (`named`) or `-q`/`-v` (not both), else the level the
    /// environment names, else the default.
    ///
    /// # Errors
    /// When `-L` and `-q`/`-v` are both given.
    pub fn choose(quiet: u8, verbose: u8, logging: &Logging) -> Result<Self, String> {
        let counted = quiet > 0 || verbose > 0;
        match (logging.named, counted) {
            (Some(_), true) => Err("give either `-L/--log-level` or `-q`/`-v`, not both".into()),
            (Some(level), false) => Ok(level),
            (None, true) => Ok(Self::from_counts(quiet, verbose)),
            (None, false) => Ok(logging.from_env.unwrap_or(Self::Info)),
        }
    }

    /// The `tracing` filter of the log file for this level when `RED_LOG` is unset: the
    /// stderr filter, with red's `info` lines from the default level up.
    fn file_directives(self) -> &'static str {
        match self {
            Self::Info => "warn,red=info",
            other => other.directives(),
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

/// What a command says about logging beyond `-q`/`-v` (only `red kiosk submit` says anything).
#[derive(Debug, Default)]
pub struct Logging {
    /// The level its `-L/--log-level` names.
    pub named: Option<Level>,
    /// The level its environment names (below `-q`/`-v`).
    pub from_env: Option<Level>,
    /// The log file.
    pub file: Option<PathBuf>,
}

/// Open a log file to append to (created with mode 0600: it may name hosts and files).
///
/// # Errors
/// When it cannot be opened.
pub(crate) fn open(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
}

fn filter(directives: &str) -> EnvFilter {
    std::env::var(FILTER_VARIABLE)
        .ok()
        .and_then(|text| EnvFilter::try_new(text).ok())
        .unwrap_or_else(|| EnvFilter::new(directives))
}

/// Install the subscriber of `tracing` events: lines on stderr through `redactor`, filtered by
/// `RED_LOG` when it is set and by `level` otherwise, and the same events (from `info` up at
/// the default level) with the time of day into `file` when there is one. A second call (tests
/// that run `red` in the same process) keeps the first subscriber.
pub(crate) fn install(
    level: Level,
    color: bool,
    redactor: Arc<RwLock<Redactor>>,
    file: Option<std::fs::File>,
) {
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(Redacting {
            redactor: Arc::clone(&redactor),
            file: None,
        })
        .with_ansi(color)
        .with_timer(tracing_subscriber::fmt::time::uptime())
        .with_target(true)
        .with_filter(filter(level.directives()));
    let file = file.map(|file| {
        tracing_subscriber::fmt::layer()
            .with_writer(Redacting {
                redactor,
                file: Some(Arc::new(Mutex::new(file))),
            })
            .with_ansi(false)
            .with_timer(tracing_subscriber::fmt::time::SystemTime)
            .with_target(true)
            .with_filter(filter(level.file_directives()))
    });
    let _ = tracing_subscriber::registry()
        .with(stderr)
        .with(file)
        .try_init();
}

/// Makes one [`Line`] per event, for stderr or for a log file.
struct Redacting {
    redactor: Arc<RwLock<Redactor>>,
    file: Option<Arc<Mutex<std::fs::File>>>,
}

impl<'a> MakeWriter<'a> for Redacting {
    type Writer = Line;

    fn make_writer(&'a self) -> Self::Writer {
        Line {
            text: Vec::new(),
            redactor: Arc::clone(&self.redactor),
            file: self.file.clone(),
        }
    }
}

/// One event's text, masked and written in one piece when it is dropped: to the log file when
/// there is one, else to stderr.
struct Line {
    text: Vec<u8>,
    redactor: Arc<RwLock<Redactor>>,
    file: Option<Arc<Mutex<std::fs::File>>>,
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
        let Some(masked) = self.masked() else {
            return;
        };
        match &self.file {
            Some(file) => {
                let mut file = file.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                let _ = file.write_all(masked.as_bytes());
            }
            None => {
                let _ = std::io::stderr().lock().write_all(masked.as_bytes());
            }
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
    fn a_named_level_and_the_counts_are_one_choice() {
        let named = |named, from_env| Logging {
            named,
            from_env,
            file: None,
        };
        assert_eq!(Level::from_name("debug"), Ok(Level::Debug));
        assert_eq!(Level::from_name("CRITICAL"), Ok(Level::Error));
        assert!(Level::from_name("loud").is_err());
        let info = named(Some(Level::Info), None);
        assert_eq!(Level::choose(0, 0, &info), Ok(Level::Info));
        assert!(Level::choose(0, 1, &info).is_err());
        // The environment is below the flags.
        let env = named(None, Some(Level::Debug));
        assert_eq!(Level::choose(0, 0, &env), Ok(Level::Debug));
        assert_eq!(Level::choose(1, 0, &env), Ok(Level::Warn));
        assert_eq!(Level::choose(0, 0, &Logging::default()), Ok(Level::Info));
    }

    #[test]
    fn a_line_is_masked_before_it_is_written() {
        let redactor = Arc::new(RwLock::new(Redactor::new(["canary-Zq81"])));
        let mut line = Redacting {
            redactor: Arc::clone(&redactor),
            file: None,
        }
        .make_writer();
        let _ = line.write_all(b"token canary-Zq81 sent");
        assert_eq!(line.masked().as_deref(), Some("token ******** sent"));
        line.text.clear();
    }
}
