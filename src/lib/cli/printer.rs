//! All output goes through [`Printer`]: data to stdout, messages to stderr, colour only on a
//! terminal (and never with `NO_COLOR`).

use std::io::{IsTerminal, Write};

/// The `--color` choices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    /// Colour when standard error is a terminal and `NO_COLOR` is unset.
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
}

impl Printer {
    /// A printer for the chosen colour mode.
    #[must_use]
    pub fn new(choice: ColorChoice) -> Self {
        let color = match choice {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
            }
        };
        Self { color }
    }

    /// Whether messages on stderr may use colour.
    #[must_use]
    pub fn color(&self) -> bool {
        self.color
    }

    /// Write data to stdout. A closed pipe (`red … | head`) is not an error.
    pub fn out(&self, text: &str) {
        let mut stdout = std::io::stdout().lock();
        let _ = stdout
            .write_all(text.as_bytes())
            .and_then(|()| stdout.flush());
    }

    /// Write a message to stderr.
    pub fn err(&self, text: &str) {
        let mut stderr = std::io::stderr().lock();
        let _ = stderr.write_all(text.as_bytes());
    }

    /// Render an error and its causes, once: `error: …` then `caused by: …` lines.
    pub fn error_chain(&self, error: &anyhow::Error) {
        let mut text = format!("error: {error}\n");
        for cause in error.chain().skip(1) {
            text.push_str(&format!("  caused by: {cause}\n"));
        }
        self.err(&text);
    }
}
