//! `red exec --resume`: rerun only what an earlier run into the same outputs left unfinished.
//!
//! Every batch that ran wrote its record, `<outputs of the batch>/.red/result.json`
//! (`batch/record.rs`). A batch whose record is there, readable, about the same batch and says
//! `succeeded` is kept: nothing of it is run, written or removed, so its outputs and record stay
//! byte for byte as they were. Every other batch (no record, an unreadable one, `failed`,
//! `cancelled`, `skipped`) runs again. This is decided while the run holds the outputs
//! directory's lock (`run_lock`), so no other run can be writing a record meanwhile.

use std::fs;
use std::path::Path;

use super::{RECORD_FILE, RECORDS_DIR, output_dir};
use crate::plan::Plan;

/// The batches of `plan` to run again and the indices of those kept.
pub(crate) struct Resumed {
    /// `plan` without the kept batches.
    pub(crate) plan: Plan,
    /// Batches whose record says they succeeded, in index order.
    pub(crate) kept: Vec<usize>,
}

/// Split `plan` into the batches to run again and those an earlier run finished.
pub(crate) fn split(plan: &Plan, outputs: Option<&Path>, several: bool) -> Resumed {
    let mut kept = Vec::new();
    let mut rerun = Vec::with_capacity(plan.batches.len());
    for batch in &plan.batches {
        if succeeded(&output_dir(outputs, several, batch.index), batch.index) {
            kept.push(batch.index);
        } else {
            rerun.push(batch.clone());
        }
    }
    Resumed {
        plan: Plan {
            mode: plan.mode,
            batches: rerun,
        },
        kept,
    }
}

/// Whether the record in `out_dir` says batch `index` succeeded.
fn succeeded(out_dir: &Path, index: usize) -> bool {
    let Ok(text) = fs::read(out_dir.join(RECORDS_DIR).join(RECORD_FILE)) else {
        return false;
    };
    let Ok(record) = serde_json::from_slice::<serde_json::Value>(&text) else {
        return false;
    };
    let batch = record.get("batch").and_then(serde_json::Value::as_u64);
    record.get("state").and_then(serde_json::Value::as_str) == Some("succeeded")
        && batch.and_then(|b| usize::try_from(b).ok()) == Some(index)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(dir: &Path, index: usize, body: &str) {
        let records = output_dir(Some(dir), true, index).join(RECORDS_DIR);
        fs::create_dir_all(&records).unwrap();
        fs::write(records.join(RECORD_FILE), body).unwrap();
    }

    #[test]
    fn only_a_readable_succeeded_record_of_the_same_batch_keeps_a_batch() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path();
        record(out, 0, r#"{"batch": 0, "state": "succeeded"}"#);
        record(out, 1, r#"{"batch": 1, "state": "failed"}"#);
        record(out, 2, r#"{"batch": 2, "state": "succ"#);
        record(out, 3, r#"{"batch": 4, "state": "succeeded"}"#);
        record(out, 5, r#"{"batch": 5, "state": "cancelled"}"#);
        record(out, 6, r#"{"batch": 6, "state": "skipped"}"#);
        record(out, 7, r#"{"batch": 7, "state": "succeeded", "more": [1]}"#);
        assert!(succeeded(&output_dir(Some(out), true, 0), 0));
        let states: Vec<bool> = (0..9)
            .map(|i| succeeded(&output_dir(Some(out), true, i), i))
            .collect();
        assert_eq!(
            states,
            [true, false, false, false, false, false, false, true, false]
        );
    }
}
