//! Step 6 of a batch: write its record, `.red/result.json` in its outputs directory.
//!
//! The record is the batch's [`BatchReport`](crate::execute::local::report::BatchReport) as
//! pretty JSON; it is written on every path, success or not. A record that cannot be written
//! becomes a warning of the report the run returns, never a failure of the batch.

use std::fs;
use std::path::Path;

use super::{BatchRun, RECORD_FILE, RECORDS_DIR};
use crate::execute::local::provenance;

impl BatchRun<'_, '_> {
    /// Write the batch's record, naming only the stream files that are there (none when no
    /// container ran).
    pub(super) fn write_record(&mut self) {
        let report = &mut self.report;
        for stream in [&mut report.stdout, &mut report.stderr] {
            if stream
                .as_ref()
                .is_some_and(|path| !Path::new(path).is_file())
            {
                *stream = None;
            }
        }
        let records = self.out_dir.join(RECORDS_DIR);
        if let Err(error) = fs::create_dir_all(&records) {
            report
                .warnings
                .push(format!("cannot create `{}`: {error}", records.display()));
            return;
        }
        let result = records.join(RECORD_FILE);
        let written = serde_json::to_vec_pretty(&*report)
            .map_err(std::io::Error::other)
            .and_then(|mut json| {
                json.push(b'\n');
                fs::write(&result, json)
            });
        if let Err(error) = written {
            report
                .warnings
                .push(format!("cannot write `{}`: {error}", result.display()));
        }
        let documents = self.shared.options.documents.as_deref();
        if let Err(error) = provenance::write(&self.out_dir, report, documents) {
            report.warnings.push(error);
        }
    }
}
