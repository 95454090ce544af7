//! The summary file that kiosk-client 0.8.4 writes at the end of a run, written by `red kiosk
//! submit --output-dir` under the same name pattern with the same fields in the same shape, so
//! that what reads kiosk-client's files (notebooks, plots) reads red's (docs/kiosk.md, "The
//! summary file").
//!
//! The timings are the Kiosk's own (its Redis fields, read once per job after it ended), as
//! kiosk-client reports them; a field the Kiosk does not have is `null`. The cost fields are
//! always empty strings: red does not estimate costs (docs/kiosk.md says why).

use serde_json::{Value, json};

use super::Outcome;
use crate::kiosk::JobOptions;

/// The Redis fields of an ended job that the summary reports, read in one HMGET.
pub const FIELDS: [&str; 12] = [
    "created_at",
    "finished_at",
    "reason",
    "prediction_time",
    "predict_retries",
    "postprocess_time",
    "upload_time",
    "download_time",
    "children_upload_time",
    "cleanup_time",
    "total_jobs",
    "total_time",
];

/// One run, as the summary reports it.
#[derive(Debug)]
pub struct Run<'a> {
    /// Every job's outcome, in the order of the files.
    pub outcomes: &'a [Outcome],
    /// What was sent with each job.
    pub options: &'a JobOptions,
    /// The spacing of job creations, in seconds.
    pub start_delay: f64,
    /// The run's time, in seconds.
    pub elapsed: f64,
}

/// The file's name: `[<gpus>gpu_]<jobs>jobs_<delay>delay_<uuid>.json`, the delay written as
/// Python writes a float (`0.0`, `0.05`), as kiosk-client names it.
#[must_use]
pub fn file_name(gpus: u32, jobs: usize, start_delay: f64) -> String {
    let prefix = if gpus > 0 {
        format!("{gpus}gpu_")
    } else {
        String::new()
    };
    format!(
        "{prefix}{jobs}jobs_{}delay_{}.json",
        python_float(start_delay),
        uuid::Uuid::new_v4().simple()
    )
}

/// The summary document.
#[must_use]
pub fn document(run: &Run<'_>) -> Value {
    let jobs: Vec<Value> = run.outcomes.iter().map(|o| job(o, run.options)).collect();
    json!({
        "cpu_node_cost": "",
        "gpu_node_cost": "",
        "total_node_and_networking_costs": "",
        "start_delay": run.start_delay,
        "num_jobs": run.outcomes.len(),
        "time_elapsed": run.elapsed,
        "job_data": jobs,
    })
}

fn job(outcome: &Outcome, options: &JobOptions) -> Value {
    let field = |name: &str| -> Option<&str> {
        let at = FIELDS.iter().position(|f| *f == name)?;
        outcome.details.get(at)?.as_deref()
    };
    let number = |name: &str| numbers(field(name));
    let text = |value: &Option<String>| value.clone().unwrap_or_default();
    let model = options
        .model
        .as_ref()
        .map_or_else(|| ":".to_owned(), ToString::to_string);
    // The Kiosk's whole traceback where it gave one; red's own reason otherwise.
    let reason = field("reason")
        .map(str::to_owned)
        .or_else(|| outcome.reason.clone());
    json!({
        "input_file": outcome.input,
        "status": outcome.status,
        "total_time": number("total_time"),
        "total_jobs": number("total_jobs"),
        "download_url": outcome.output_url,
        "created_at": field("created_at"),
        "finished_at": field("finished_at"),
        "prediction_time": number("prediction_time"),
        "postprocess_time": number("postprocess_time"),
        "upload_time": number("upload_time"),
        "download_time": number("download_time"),
        "predict_retries": number("predict_retries"),
        "cleanup_time": number("cleanup_time"),
        "children_upload_time": number("children_upload_time"),
        "model": model,
        "postprocess": text(&options.postprocess),
        "preprocess": text(&options.preprocess),
        "reason": reason,
        "job_id": outcome.hash,
    })
}

/// A Redis value as kiosk-client reports it: a number where it reads as one, a list where it is
/// comma-separated (a zip job's per-child times), the text otherwise; `null` when missing.
fn numbers(value: Option<&str>) -> Value {
    let one = |text: &str| -> Value {
        text.trim()
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map_or_else(|| Value::String(text.to_owned()), Value::Number)
    };
    match value {
        None => Value::Null,
        Some(text) if text.contains(',') => Value::Array(text.split(',').map(one).collect()),
        Some(text) => one(text),
    }
}

/// A float as Python's `str` writes it: `0.0`, `1.0`, `0.05`.
fn python_float(value: f64) -> String {
    if value.is_finite() && value.fract() == 0.0 && value.abs() < 1e16 {
        format!("{value:.1}")
    } else {
        format!("{value}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(details: &[Option<&str>]) -> Outcome {
        Outcome {
            input: "in/cells.png".into(),
            hash: Some("mesmer:cells.png:1f".into()),
            status: "done".into(),
            seconds: 2.5,
            output_url: Some("http://bucket/output/a.zip".into()),
            output: None,
            reason: None,
            failures: Vec::new(),
            details: details.iter().map(|d| d.map(str::to_owned)).collect(),
        }
    }

    #[test]
    fn the_name_follows_kiosk_client() {
        let name = file_name(0, 3, 0.0);
        assert!(name.starts_with("3jobs_0.0delay_"), "{name}");
        assert!(name.ends_with(".json") && name.len() == "3jobs_0.0delay_.json".len() + 32);
        assert!(file_name(2, 10, 0.05).starts_with("2gpu_10jobs_0.05delay_"));
        assert_eq!(python_float(1.0), "1.0");
        assert_eq!(python_float(0.25), "0.25");
    }

    #[test]
    fn a_job_has_every_field_of_kiosk_client_in_its_order() {
        let mut details = vec![None; FIELDS.len()];
        details[0] = Some("2026-11-22T06:44:53.327Z");
        details[3] = Some("0.5");
        details[8] = Some("0.1,0.2");
        details[10] = Some("1");
        details[11] = Some("2.015");
        let options = JobOptions {
            model: Some(crate::kiosk::Model::parse("Nuclear:3").expect("model")),
            postprocess: Some("watershed".into()),
            ..JobOptions::default()
        };
        let outcomes = [outcome(&details)];
        let doc = document(&Run {
            outcomes: &outcomes,
            options: &options,
            start_delay: 0.5,
            elapsed: 3.0,
        });
        let keys: Vec<&str> = doc
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "cpu_node_cost",
                "gpu_node_cost",
                "total_node_and_networking_costs",
                "start_delay",
                "num_jobs",
                "time_elapsed",
                "job_data"
            ]
        );
        assert_eq!(doc["num_jobs"], 1);
        assert_eq!(doc["cpu_node_cost"], "");
        let job = &doc["job_data"][0];
        let keys: Vec<&str> = job
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys.len(), 19, "{keys:?}");
        assert_eq!(job["input_file"], "in/cells.png");
        assert_eq!(job["total_time"], 2.015);
        assert_eq!(job["total_jobs"], 1.0);
        assert_eq!(job["prediction_time"], 0.5);
        assert_eq!(job["children_upload_time"], json!([0.1, 0.2]));
        assert_eq!(job["upload_time"], Value::Null);
        assert_eq!(job["created_at"], "2026-11-22T06:44:53.327Z");
        assert_eq!(job["download_url"], "http://bucket/output/a.zip");
        assert_eq!(job["model"], "Nuclear:3");
        assert_eq!(job["postprocess"], "watershed");
        assert_eq!(job["preprocess"], "");
        assert_eq!(job["job_id"], "mesmer:cells.png:1f");
    }

    #[test]
    fn without_a_model_or_details_the_fields_are_empty_as_kiosk_client_writes_them() {
        let mut failed = outcome(&[]);
        failed.status = "error".into();
        failed.reason = Some("the Kiosk did not answer".into());
        let doc = document(&Run {
            outcomes: &[failed],
            options: &JobOptions::default(),
            start_delay: 0.0,
            elapsed: 1.0,
        });
        let job = &doc["job_data"][0];
        assert_eq!(job["model"], ":");
        assert_eq!(job["total_time"], Value::Null);
        assert_eq!(job["reason"], "the Kiosk did not answer");
    }
}
