//! Arbitrary bytes → load → validate at both levels (and the argv lint of valid files) → render
//! both output formats: nothing may
//! panic, overflow the stack or hang, and every error of an invalid file must be located.
//!
//! `cargo +nightly fuzz run load_validate fuzz/seeds` (seed it with `tests/fixtures/red/*/`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use red::diagnostic::{self, FileReport, Severity};
use red::redact::Redactor;
use red::source::{Origin, SourceFile};
use red::validate::{self, Level, Options};

fuzz_target!(|data: &[u8]| {
    let Ok(source) = SourceFile::from_bytes(Origin::Memory("fuzz".into()), data.to_vec()) else {
        return;
    };
    let Ok(parsed) = red::load::text(source) else {
        return;
    };
    let secrets = red::fill::secret_texts(&parsed);
    let redactor = Redactor::new(&secrets);
    for level in [Level::RedVal, Level::Full] {
        let outcome = validate::document(parsed.clone(), &Options { level });
        if let Ok(validated) = &outcome {
            // What `red validate` adds for a valid file: the cwl/cc argv lint.
            let _ = red::plan::lint(validated.tree());
        }
        if let Err(invalid) = outcome {
            for d in &invalid.diagnostics {
                if d.severity == Severity::Error && d.code != "internal" {
                    assert!(d.line.is_some() || d.pointer.is_empty(), "{d:?}");
                }
            }
            let _ = diagnostic::render_human(
                &invalid.diagnostics,
                Some(&invalid.parsed.source),
                "fuzz",
                &redactor,
                false,
            );
            let report = FileReport {
                path: "fuzz".into(),
                valid: false,
                red_version: validate::red_version(&invalid.parsed.tree),
                diagnostics: invalid.diagnostics,
            };
            let _ = diagnostic::render_json(&[report], &redactor);
        }
    }
});
