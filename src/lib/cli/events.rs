//! Where an engine's [`Events`] go: NDJSON on stdout (`red exec --format json`), a progress
//! display on a terminal (`red exec`), or progress lines on stderr (the remote engines). Every
//! sink writes through the [`Printer`], so everything is masked.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::Printer;
use crate::execute::Events;
use crate::execute::local::Event;

/// Problems on stderr, and progress lines too when `show` (a terminal).
pub(crate) fn lines(printer: &Printer, show: bool) -> Arc<dyn Events> {
    Arc::new(Lines {
        printer: printer.clone(),
        show,
    })
}

/// Lines on stderr.
struct Lines {
    printer: Printer,
    show: bool,
}

impl Events for Lines {
    fn emit(&self, _event: &Event) {}

    fn progress(&self, line: &str) {
        if self.show {
            self.printer.note(line);
        }
    }

    fn problem(&self, line: &str) {
        self.printer.err(line);
    }
}

/// NDJSON events on stdout, every string masked.
pub(crate) struct Ndjson {
    pub(crate) printer: Printer,
}

impl Events for Ndjson {
    fn emit(&self, event: &Event) {
        let mut value = serde_json::to_value(event).unwrap_or_default();
        self.printer.redactor().redact_value(&mut value);
        self.printer.out(&format!("{value}\n"));
    }
}

/// The terminal display: an overall bar and one line per running batch.
pub(crate) struct Progress {
    bars: MultiProgress,
    overall: ProgressBar,
    running: Mutex<Vec<(usize, ProgressBar)>>,
    redactor: crate::redact::Redactor,
}

impl Progress {
    pub(crate) fn new(batches: usize, redactor: crate::redact::Redactor) -> Self {
        let bars = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        let overall = bars.add(ProgressBar::new(batches as u64));
        overall.set_style(
            ProgressStyle::with_template(
                "{elapsed_precise} [{bar:30}] {pos}/{len} batches  eta {eta}  {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        Self {
            bars,
            overall,
            running: Mutex::new(Vec::new()),
            redactor,
        }
    }

    fn line(&self, batch: usize, message: &str) {
        let message = self.redactor.redact(message).into_owned();
        let Ok(mut running) = self.running.lock() else {
            return;
        };
        if let Some((_, bar)) = running.iter().find(|(b, _)| *b == batch) {
            bar.set_message(message);
            return;
        }
        let bar = self
            .bars
            .insert_before(&self.overall, ProgressBar::new_spinner());
        bar.set_style(
            ProgressStyle::with_template("  {spinner} batch {prefix}: {msg} ({elapsed})")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_prefix(batch.to_string());
        bar.set_message(message);
        bar.enable_steady_tick(Duration::from_millis(120));
        running.push((batch, bar));
    }

    fn done(&self, batch: usize) {
        let Ok(mut running) = self.running.lock() else {
            return;
        };
        if let Some(at) = running.iter().position(|(b, _)| *b == batch) {
            let (_, bar) = running.remove(at);
            bar.finish_and_clear();
            self.bars.remove(&bar);
        }
    }

    pub(crate) fn finish(&self) {
        self.overall.finish_and_clear();
        let _ = self.bars.clear();
    }
}

impl Events for Progress {
    fn emit(&self, event: &Event) {
        match event {
            Event::RunStarted { image, batches, .. } => {
                // A resume runs fewer batches than the file has.
                self.overall.set_length(*batches as u64);
                self.overall.set_message(image.clone());
            }
            Event::BatchKept { .. } => {}
            Event::BatchStarted { batch } => self.line(*batch, "receiving inputs"),
            Event::InputStaged { batch, input } => {
                self.line(*batch, &format!("input `{}` ready", input.name));
            }
            Event::ProcessExited { batch, .. } => self.line(*batch, "collecting outputs"),
            Event::OutputDelivered { batch, output } => {
                self.line(*batch, &format!("output `{}` delivered", output.name));
            }
            Event::BatchFinished { batch, .. } => {
                self.done(*batch);
                self.overall.inc(1);
            }
        }
    }

    fn transfer(&self, batch: usize, name: &str, bytes: u64, total: Option<u64>) {
        let done = indicatif::HumanBytes(bytes);
        let message = match total {
            Some(total) => format!("`{name}`: {done} of {}", indicatif::HumanBytes(total)),
            None => format!("`{name}`: {done}"),
        };
        self.line(batch, &message);
    }
}
