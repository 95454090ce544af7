//! Validation speed: the whole real corpus in one process, and the 4 MB / 100,000-batch file
//! alone, each phase timed (read, parse, validate), with the process's peak memory.
//!
//! `cargo bench --bench validate` (a plain `main`, no harness). Figures are the best of a few
//! rounds, so a busy machine disturbs them less.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use red::validate::{self, Level, Options};

const BIG: &str =
    "deep-projects__sshfs-vs-sftp-experiments__scheduler_test__echo100000__5fb392e7.red";

#[derive(Default, Clone, Copy)]
struct Phases {
    read: Duration,
    parse: Duration,
    secrets: Duration,
    validate: Duration,
    drop: Duration,
}

impl Phases {
    fn total(self) -> Duration {
        self.read + self.parse + self.secrets + self.validate + self.drop
    }
}

fn run(files: &[PathBuf]) -> (Phases, usize) {
    let mut phases = Phases::default();
    let mut valid = 0;
    for path in files {
        let start = Instant::now();
        let Ok(source) = red::source::SourceFile::read(path) else {
            continue;
        };
        let read = Instant::now();
        let parsed = red::load::text(source);
        let parse = Instant::now();
        let (mut secrets, mut checked) = (parse, parse);
        if let Ok(parsed) = parsed {
            let found = red::fill::secret_texts(&parsed);
            secrets = Instant::now();
            let result = validate::document(parsed, &Options { level: Level::Full });
            checked = Instant::now();
            if result.is_ok() {
                valid += 1;
            }
            drop((found, result));
        }
        let done = Instant::now();
        phases.read += read - start;
        phases.parse += parse - read;
        phases.secrets += secrets - parse;
        phases.validate += checked - secrets;
        phases.drop += done - checked;
    }
    (phases, valid)
}

fn best(files: &[PathBuf], rounds: usize) -> (Phases, usize) {
    let mut best: Option<(Phases, usize)> = None;
    for _ in 0..rounds {
        let result = run(files);
        if best.is_none_or(|(b, _)| result.0.total() < b.total()) {
            best = Some(result);
        }
    }
    best.unwrap_or_default()
}

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn report(name: &str, files: usize, (phases, valid): (Phases, usize)) {
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{name}: {files} files, {valid} valid: total {:.1} ms (read {:.1}, parse {:.1}, \
         secrets {:.1}, validate {:.1}, free {:.1})",
        ms(phases.total()),
        ms(phases.read),
        ms(phases.parse),
        ms(phases.secrets),
        ms(phases.validate),
        ms(phases.drop)
    );
}

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/corpus/red/real");
    let big = vec![dir.join(BIG)];
    // The big file first, alone, so the peak memory figure is its own.
    report("4 MB file", 1, best(&big, 5));
    if let Some(kib) = peak_rss_kib() {
        println!(
            "peak RSS after the 4 MB file: {:.1} MiB",
            kib as f64 / 1024.0
        );
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.sort();
    report("whole corpus", files.len(), best(&files, 5));
    if let Some(kib) = peak_rss_kib() {
        println!("peak RSS: {:.1} MiB", kib as f64 / 1024.0);
    }
}
