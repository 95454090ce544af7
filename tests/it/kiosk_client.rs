//! `red kiosk submit` does what kiosk-client 0.8.4 does (docs/kiosk.md, "kiosk-client's options
//! in red"): model, functions and label; job creations spaced apart; files already in the
//! bucket; the summary file and its upload; log level and file; the environment.
//!
//! Each test runs its own Kiosk double of this checkout (`OwnKiosk`), which records the bodies
//! of the requests it received, so that they are checked against the bodies the real front end
//! was recorded receiving (docs/kiosk.md, "What the front end receives"). Enabled by the
//! `kiosk-tests` feature, as the other Kiosk tests.

use std::time::Duration;

use serde_json::Value;

use crate::kiosk::{OwnKiosk, json, kiosk, png, submit};
use crate::support::Red;

/// The keys of the job body kiosk-client 0.8.4 sends, as recorded against kiosk-frontend 0.11.3.
const KIOSK_CLIENT_KEYS: [&str; 9] = [
    "modelName",
    "modelVersion",
    "preprocessFunction",
    "postprocessFunction",
    "imageName",
    "jobType",
    "dataRescale",
    "dataLabel",
    "uploadedName",
];

/// The keys of `jobForm`, where front ends from 0.10 read scale and channels.
const JOB_FORM_KEYS: [&str; 4] = [
    "scale",
    "selectedChannels",
    "dimensionOrder",
    "segmentationType",
];

/// A second double, once the shared one (and so its Redis) answers.
fn own() -> OwnKiosk {
    kiosk();
    OwnKiosk::start()
}

/// `fields` of a job's hash, read through the front end as a client would.
fn hash_fields(url: &str, hash: &str, fields: &[&str]) -> Vec<Value> {
    let answer: Value = red::net::blocking_builder(false)
        .build()
        .expect("client")
        .post(format!("{url}/api/redis"))
        .json(&serde_json::json!({ "hash": hash, "key": fields }))
        .send()
        .and_then(reqwest::blocking::Response::json)
        .expect("an HMGET answer");
    answer["value"].as_array().expect("values").clone()
}

fn keys(value: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = value
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    keys
}

/// Each job body has every key kiosk-client sends, and `jobForm` with every key the web UI sends.
fn assert_front_end_shape(body: &Value) {
    for key in KIOSK_CLIENT_KEYS {
        assert!(
            body[key].is_string(),
            "`{key}` missing or not a string: {body}"
        );
    }
    let mut form = JOB_FORM_KEYS.to_vec();
    form.sort_unstable();
    assert_eq!(keys(&body["jobForm"]), form, "{body}");
}

#[test]
#[cfg_attr(
    not(feature = "kiosk-tests"),
    ignore = "needs the Kiosk double: scripts/kiosk-up"
)]
fn model_functions_and_label_reach_the_kiosk_as_the_front_end_stores_them() {
    let own = own();
    let run = Red::new()
        .file("cells.png", png("model"))
        .args(submit(&own.url))
        .args(["--job-type", &own.job_type, "cells.png", "--format", "json"])
        .args(["-m", "NuclearSegmentation:3", "--pre", "normalize"])
        .args(["--post", "watershed", "-l", "1", "--scale", "0.5"])
        .run();
    assert_eq!(run.code, 0, "{}", run.snapshot());
    let bodies = own.bodies("/api/predict");
    assert_eq!(bodies.len(), 1, "{bodies:?}");
    let body = &bodies[0];
    assert_front_end_shape(body);
    assert_eq!(body["modelName"], "NuclearSegmentation", "{body}");
    assert_eq!(body["modelVersion"], "3", "{body}");
    assert_eq!(body["preprocessFunction"], "normalize", "{body}");
    assert_eq!(body["postprocessFunction"], "watershed", "{body}");
    assert_eq!(body["dataLabel"], "1", "{body}");
    assert_eq!(body["dataRescale"], "0.5", "{body}");
    assert_eq!(body["jobForm"]["scale"], "0.5", "{body}");
    // The job's hash holds them under the front end's names.
    let hash = json(&run)["jobs"][0]["hash"]
        .as_str()
        .expect("hash")
        .to_owned();
    let stored = hash_fields(
        &own.url,
        &hash,
        &[
            "model_name",
            "model_version",
            "preprocess_function",
            "postprocess_function",
            "label",
        ],
    );
    assert_eq!(
        stored,
        ["NuclearSegmentation", "3", "normalize", "watershed", "1"].map(Value::from),
        "{hash}"
    );
}

#[test]
#[cfg_attr(
    not(feature = "kiosk-tests"),
    ignore = "needs the Kiosk double: scripts/kiosk-up"
)]
fn without_those_options_the_job_body_is_as_before() {
    let own = own();
    let run = Red::new()
        .file("cells.png", png("plain"))
        .args(submit(&own.url))
        .args(["--job-type", &own.job_type, "cells.png"])
        .run();
    assert_eq!(run.code, 0, "{}", run.snapshot());
    let body = &own.bodies("/api/predict")[0];
    assert_front_end_shape(body);
    for key in [
        "modelName",
        "modelVersion",
        "preprocessFunction",
        "postprocessFunction",
        "dataLabel",
    ] {
        assert_eq!(body[key], "", "{key}: {body}");
    }
    assert_eq!(body["imageName"], "cells.png", "{body}");
}

#[test]
#[cfg_attr(
    not(feature = "kiosk-tests"),
    ignore = "needs the Kiosk double: scripts/kiosk-up"
)]
fn a_bad_model_or_label_is_a_usage_error_before_anything_is_sent() {
    let own = own();
    for bad in [["-m", "NuclearSegmentation"], ["-l", "7"]] {
        let run = Red::new()
            .file("cells.png", png("bad"))
            .args(submit(&own.url))
            .args(["--job-type", &own.job_type, "cells.png"])
            .args(bad)
            .run();
        assert_eq!(run.code, 2, "{}", run.snapshot());
    }
    assert!(own.requests().is_empty(), "{:?}", own.requests());
}

#[test]
#[cfg_attr(
    not(feature = "kiosk-tests"),
    ignore = "needs the Kiosk double: scripts/kiosk-up"
)]
fn job_creations_are_spaced_by_the_start_delay() {
    let own = own();
    let run = Red::new()
        .file("cells.png", png("stagger"))
        .args(submit(&own.url))
        .args(["--job-type", &own.job_type, "cells.png", "--benchmark", "3"])
        .args(["--start-delay", "0.5"])
        .run();
    assert_eq!(run.code, 0, "{}", run.snapshot());
    let creations: Vec<f64> = own
        .requests()
        .iter()
        .filter(|r| r["path"] == "/api/predict")
        .map(|r| r["at"].as_f64().expect("at"))
        .collect();
    assert_eq!(creations.len(), 3, "{creations:?}");
    // Creation i has its slot i × 0.5 s after the first one's. The double records each as it
    // handles it, so one request handled late on a loaded machine shortens the gap after it:
    // half a delay of slack, still far from the few milliseconds apart of unspaced creations.
    for (i, at) in creations.iter().enumerate() {
        let slot = 0.5 * i as f64;
        assert!(at - creations[0] >= slot - 0.25, "{creations:?}");
    }
}

#[test]
#[cfg_attr(
    not(feature = "kiosk-tests"),
    ignore = "needs the Kiosk double: scripts/kiosk-up"
)]
fn ctrl_c_ends_a_run_that_waits_for_its_next_creation() {
    let own = own();
    let mut red = Red::new()
        .file("cells.png", png("waiting"))
        .args(submit(&own.url))
        .args(["--job-type", &own.job_type, "cells.png", "--benchmark", "3"])
        .args(["--start-delay", "10m"])
        .spawn();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while own.bodies("/api/predict").is_empty() {
        assert!(std::time::Instant::now() < deadline, "no job was created");
        assert!(red.is_running(), "red ended before its second job");
        std::thread::sleep(Duration::from_millis(50));
    }
    // red promises one second; the rest is slack for a loaded machine.
    let (run, after) = red.signal("-INT", Duration::from_secs(35));
    assert_eq!(run.code, 130, "{run:?}");
    assert!(
        after < Duration::from_secs(5),
        "red took {after:?} after SIGINT"
    );
    assert_eq!(own.bodies("/api/predict").len(), 1);
}

#[test]
#[cfg_attr(
    not(feature = "kiosk-tests"),
    ignore = "needs the Kiosk double: scripts/kiosk-up"
)]
fn a_file_in_the_bucket_gets_jobs_without_an_upload() {
    let own = own();
    // What an earlier upload left in the double's bucket.
    let uploads = own.state.path().join("uploads");
    std::fs::create_dir_all(&uploads).expect("uploads");
    std::fs::write(uploads.join("kept.png"), png("kept")).expect("bucket file");
    let run = Red::new()
        .args(submit(&own.url))
        .args(["--job-type", &own.job_type, "kept.png", "--in-bucket"])
        .args(["--benchmark", "2", "--format", "json"])
        .run();
    assert_eq!(run.code, 0, "{}", run.snapshot());
    assert_eq!(json(&run)["succeeded"], 2, "{}", run.snapshot());
    let requests = own.requests();
    assert!(
        requests.iter().all(|r| r["path"] != "/api/upload"),
        "{requests:?}"
    );
    let bodies = own.bodies("/api/predict");
    assert_eq!(bodies.len(), 2);
    for body in &bodies {
        assert_front_end_shape(body);
        // As kiosk-client names a benchmark file that is in the bucket.
        assert_eq!(body["imageName"], "kept.png", "{body}");
        assert_eq!(body["uploadedName"], "uploads/kept.png", "{body}");
    }
}

/// The summary file in `dir`: its name and its document.
fn summary_in(dir: &std::path::Path) -> (String, Value) {
    let names: Vec<String> = std::fs::read_dir(dir)
        .expect("output dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
    let text = std::fs::read_to_string(dir.join(&names[0])).expect("summary");
    (names[0].clone(), serde_json::from_str(&text).expect("JSON"))
}

#[test]
#[cfg_attr(
    not(feature = "kiosk-tests"),
    ignore = "needs the Kiosk double: scripts/kiosk-up"
)]
fn the_summary_file_has_kiosk_clients_name_and_fields() {
    let own = own();
    let out = tempfile::tempdir().expect("temp dir");
    let run = Red::new()
        .file("in/cells.png", png("ok"))
        .file("in/marked.png", png("KIOSK-PEER-FAIL"))
        .args(submit(&own.url))
        .args(["--job-type", &own.job_type, "in", "--start-delay", "0.05"])
        .args(["--output-dir", out.path().to_str().expect("utf-8")])
        .run();
    assert_eq!(run.code, 1, "{}", run.snapshot());
    let (name, summary) = summary_in(out.path());
    let pattern = regex::Regex::new("^2jobs_0.05delay_[0-9a-f]{32}[.]json$").expect("regex");
    assert!(pattern.is_match(&name), "{name}");
    assert_eq!(
        keys(&summary),
        [
            "cpu_node_cost",
            "gpu_node_cost",
            "job_data",
            "num_jobs",
            "start_delay",
            "time_elapsed",
            "total_node_and_networking_costs"
        ]
    );
    assert_eq!(summary["num_jobs"], 2);
    assert_eq!(summary["start_delay"], 0.05);
    assert!(summary["time_elapsed"].as_f64().is_some_and(|t| t > 0.0));
    let jobs = summary["job_data"].as_array().expect("job_data");
    let expected = [
        "children_upload_time",
        "cleanup_time",
        "created_at",
        "download_time",
        "download_url",
        "finished_at",
        "input_file",
        "job_id",
        "model",
        "postprocess",
        "postprocess_time",
        "predict_retries",
        "prediction_time",
        "preprocess",
        "reason",
        "status",
        "total_jobs",
        "total_time",
        "upload_time",
    ];
    for job in jobs {
        assert_eq!(keys(job), expected, "{job}");
        assert!(
            job["job_id"]
                .as_str()
                .is_some_and(|id| id.starts_with(&own.job_type))
        );
        assert!(
            job["created_at"].as_str().is_some_and(|t| t.ends_with('Z')),
            "{job}"
        );
        assert_eq!(job["model"], ":", "{job}");
    }
    let done = &jobs[0];
    assert_eq!(done["input_file"], "in/cells.png", "{done}");
    assert_eq!(done["status"], "done", "{done}");
    assert!(
        done["total_time"].as_f64().is_some_and(|t| t > 0.0),
        "{done}"
    );
    assert_eq!(done["total_jobs"], 1.0, "{done}");
    assert!(
        done["download_url"]
            .as_str()
            .is_some_and(|u| u.ends_with(".zip")),
        "{done}"
    );
    let failed = &jobs[1];
    assert_eq!(failed["status"], "failed", "{failed}");
    assert!(
        failed["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("Traceback")),
        "the Kiosk's whole reason: {failed}"
    );
    // The results are downloaded beside it, as kiosk-client does.
    let zips = std::fs::read_dir(out.path())
        .expect("dir")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".zip"))
        .count();
    assert_eq!(zips, 1, "{}", run.snapshot());
}

#[test]
#[cfg_attr(
    not(feature = "kiosk-tests"),
    ignore = "needs the Kiosk double: scripts/kiosk-up"
)]
fn the_summary_is_uploaded_to_the_kiosks_bucket_and_a_wrong_bucket_is_an_error() {
    let own = own();
    let out = tempfile::tempdir().expect("temp dir");
    let dir = out.path().to_str().expect("utf-8");
    let run = Red::new()
        .file("cells.png", png("upload"))
        .args(submit(&own.url))
        .args(["--job-type", &own.job_type, "cells.png", "--format", "json"])
        .args(["--output-dir", dir, "--no-download-results"])
        .args(["--upload-results", "-b", "gs://kiosk-peer"])
        .run();
    assert_eq!(run.code, 0, "{}", run.snapshot());
    let (name, _) = summary_in(out.path());
    let local = std::fs::read(out.path().join(&name)).expect("summary");
    let upload = own
        .requests()
        .into_iter()
        .find(|r| r["path"] == "/api/upload" && r["filename"] == name.as_str())
        .unwrap_or_else(|| panic!("no upload of {name}: {:?}", own.requests()));
    let key = upload["uploadedName"].as_str().expect("key");
    assert_eq!(
        json(&run)["summaryUpload"]["key"],
        key,
        "{}",
        run.snapshot()
    );
    let stored = std::fs::read(own.state.path().join(key)).expect("the bucket's copy");
    assert_eq!(stored, local);
    // `--no-download-results`: only the summary is there.
    assert_eq!(std::fs::read_dir(out.path()).expect("dir").count(), 1);

    let run = Red::new()
        .file("cells.png", png("upload"))
        .args(submit(&own.url))
        .args(["--job-type", &own.job_type, "cells.png"])
        .args(["--output-dir", dir, "--no-download-results"])
        .args(["--upload-results", "-b", "gs://elsewhere"])
        .run();
    assert_eq!(run.code, 2, "{}", run.snapshot());
    assert!(
        run.stderr.contains("the bucket `kiosk-peer`") && run.stderr.contains("gs://elsewhere"),
        "{}",
        run.snapshot()
    );
}

#[test]
fn upload_results_needs_an_output_directory() {
    let run = Red::new()
        .file("cells.png", png("x"))
        .args([
            "kiosk",
            "submit",
            "--url",
            "http://127.0.0.1:9",
            "--job-type",
            "m",
        ])
        .args(["cells.png", "--upload-results"])
        .run();
    assert_eq!(run.code, 2, "{}", run.snapshot());
    assert!(run.stderr.contains("--output-dir"), "{}", run.snapshot());
}

#[test]
#[cfg_attr(
    not(feature = "kiosk-tests"),
    ignore = "needs the Kiosk double: scripts/kiosk-up"
)]
fn log_level_and_log_file_go_through_reds_logging() {
    let own = own();
    let log = tempfile::tempdir().expect("temp dir");
    let file = log.path().join("kiosk.log");
    let run = Red::new()
        .file("cells.png", png("log"))
        .args(submit(&own.url))
        .args(["--job-type", &own.job_type, "cells.png", "--format", "json"])
        .args(["-L", "INFO", "--log-file", file.to_str().expect("utf-8")])
        .run();
    assert_eq!(run.code, 0, "{}", run.snapshot());
    let hash = json(&run)["jobs"][0]["hash"]
        .as_str()
        .expect("hash")
        .to_owned();
    let text = std::fs::read_to_string(&file).expect("log file");
    assert!(
        text.contains("job created") && text.contains(&hash),
        "{text}"
    );
    assert!(
        text.contains("job ended") && text.contains("status=done"),
        "{text}"
    );
    // INFO: no request lines (those are DEBUG), and nothing of it on stderr.
    assert!(!text.contains("the Kiosk answered"), "{text}");
    assert!(!run.stderr.contains("job created"), "{}", run.snapshot());

    let run = Red::new()
        .file("cells.png", png("log"))
        .args(submit(&own.url))
        .args(["--job-type", &own.job_type, "cells.png", "-L", "DEBUG"])
        .run();
    assert_eq!(run.code, 0, "{}", run.snapshot());
    assert!(
        run.stderr.contains("the Kiosk answered"),
        "{}",
        run.snapshot()
    );

    let both = Red::new()
        .file("cells.png", png("log"))
        .args(submit(&own.url))
        .args(["--job-type", &own.job_type, "cells.png", "-L", "INFO", "-v"])
        .run();
    assert_eq!(both.code, 2, "{}", both.snapshot());
    assert!(both.stderr.contains("--log-level"), "{}", both.snapshot());
}

#[test]
#[cfg_attr(
    not(feature = "kiosk-tests"),
    ignore = "needs the Kiosk double: scripts/kiosk-up"
)]
fn kiosk_clients_variables_configure_a_run_and_reds_names_come_first() {
    let own = own();
    let run = Red::new()
        .file("cells.png", png("env"))
        .args(["kiosk", "submit", "cells.png", "--poll", "0.1"])
        .envs(&[
            ("API_HOST", own.url.as_str()),
            ("JOB_TYPE", own.job_type.as_str()),
            ("MODEL", "FromKioskClient:1"),
            ("LABEL", "0"),
            ("RED_KIOSK_LABEL", "2"),
            ("POSTPROCESS", "watershed"),
            ("SCALE", ""),
        ])
        .run();
    assert_eq!(run.code, 0, "{}", run.snapshot());
    let body = &own.bodies("/api/predict")[0];
    assert_eq!(body["modelName"], "FromKioskClient", "{body}");
    assert_eq!(body["dataLabel"], "2", "red's name first: {body}");
    assert_eq!(body["postprocessFunction"], "watershed", "{body}");
    assert_eq!(
        body["dataRescale"], "",
        "an empty variable is unset: {body}"
    );
    for note in ["--url from `API_HOST`", "--label from `RED_KIOSK_LABEL`"] {
        assert!(run.stderr.contains(note), "{note}: {}", run.snapshot());
    }
    // A flag comes before both.
    let run = Red::new()
        .file("cells.png", png("env"))
        .args(["kiosk", "submit", "cells.png", "--poll", "0.1", "-l", "1"])
        .envs(&[
            ("API_HOST", own.url.as_str()),
            ("JOB_TYPE", own.job_type.as_str()),
            ("RED_KIOSK_LABEL", "2"),
        ])
        .run();
    assert_eq!(run.code, 0, "{}", run.snapshot());
    assert_eq!(own.bodies("/api/predict")[1]["dataLabel"], "1");
    // A value that cannot be read names its variable.
    let run = Red::new()
        .file("cells.png", png("env"))
        .args(["kiosk", "submit", "cells.png"])
        .envs(&[
            ("API_HOST", own.url.as_str()),
            ("JOB_TYPE", own.job_type.as_str()),
            ("EXPIRE_TIME", "soon"),
        ])
        .run();
    assert_eq!(run.code, 2, "{}", run.snapshot());
    assert!(run.stderr.contains("`EXPIRE_TIME`"), "{}", run.snapshot());
}
