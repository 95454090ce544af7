//! `red kiosk` against the DeepCell Kiosk test double (`tests/peers/kiosk/peer.py` over a real
//! Redis, started by `scripts/kiosk-up`).
//!
//! Enabled by the `kiosk-tests` feature (`scripts/test` turns it on where it starts the double,
//! as in CI); then a missing double is a failure, not a skip. The URL comes from
//! `RED_TEST_KIOSK_URL`. The double fails a job whose bytes contain `KIOSK-PEER-FAIL` or whose
//! name contains `fail`, and never answers an upload whose name contains `hang`.

use crate::support::{Red, Run};

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n";

fn kiosk() -> String {
    let url = std::env::var("RED_TEST_KIOSK_URL").unwrap_or_else(|_| {
        panic!(
            "the kiosk tests are enabled but RED_TEST_KIOSK_URL is not set (run scripts/kiosk-up)"
        )
    });
    let answer = red::net::blocking_builder(false)
        .build()
        .expect("client")
        .get(format!("{url}/api/health-check"))
        .send()
        .and_then(reqwest::blocking::Response::text)
        .unwrap_or_else(|e| panic!("no Kiosk answers at {url}: {e} (run scripts/kiosk-up)"));
    assert!(answer.contains("OK"), "not a Kiosk at {url}: {answer}");
    url
}

fn png(marker: &str) -> Vec<u8> {
    let mut bytes = PNG.to_vec();
    bytes.extend_from_slice(marker.as_bytes());
    bytes
}

/// Write binary files into the scratch directory of `red`.
fn with_files(red: Red, files: &[(&str, Vec<u8>)]) -> Red {
    for (name, bytes) in files {
        let path = red.dir().join(name);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, bytes).expect("write");
    }
    red
}

/// A zip (stored, no compression) of `members`, written by hand: enough for the double.
fn zip(members: &[(&str, Vec<u8>)]) -> Vec<u8> {
    fn crc32(data: &[u8]) -> u32 {
        let mut crc = !0_u32;
        for &byte in data {
            crc ^= u32::from(byte);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }
    let (mut out, mut central) = (Vec::new(), Vec::new());
    for (name, data) in members {
        let offset = u32::try_from(out.len()).expect("small");
        let (crc, size) = (crc32(data), u32::try_from(data.len()).expect("small"));
        let name_len = u16::try_from(name.len()).expect("short");
        out.extend_from_slice(&0x0403_4b50_u32.to_le_bytes());
        out.extend_from_slice(&[20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        out.extend_from_slice(&crc.to_le_bytes());
        out.extend_from_slice(&size.to_le_bytes());
        out.extend_from_slice(&size.to_le_bytes());
        out.extend_from_slice(&name_len.to_le_bytes());
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(data);
        central.extend_from_slice(&0x0201_4b50_u32.to_le_bytes());
        central.extend_from_slice(&[20, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        central.extend_from_slice(&crc.to_le_bytes());
        central.extend_from_slice(&size.to_le_bytes());
        central.extend_from_slice(&size.to_le_bytes());
        central.extend_from_slice(&name_len.to_le_bytes());
        central.extend_from_slice(&[0; 12]);
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(name.as_bytes());
    }
    let start = u32::try_from(out.len()).expect("small");
    let count = u16::try_from(members.len()).expect("few");
    let size = u32::try_from(central.len()).expect("small");
    out.extend_from_slice(&central);
    out.extend_from_slice(&0x0605_4b50_u32.to_le_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&size.to_le_bytes());
    out.extend_from_slice(&start.to_le_bytes());
    out.extend_from_slice(&[0, 0]);
    out
}

fn json(run: &Run) -> serde_json::Value {
    serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", run.snapshot()))
}

fn submit(url: &str) -> Vec<String> {
    ["kiosk", "submit", "--url", url, "--poll", "0.1"]
        .map(str::to_owned)
        .to_vec()
}

#[test]
#[cfg_attr(
    not(feature = "kiosk-tests"),
    ignore = "needs the Kiosk double: scripts/kiosk-up"
)]
fn a_directory_of_images_is_run_and_downloaded() {
    let url = kiosk();
    let red = with_files(
        Red::new(),
        &[
            ("in/cells.png", png("one")),
            ("in/sub/more.png", png("two")),
            ("in/third.tif", b"II*\x00three".to_vec()),
            ("in/notes.txt", b"not an image".to_vec()),
        ],
    );
    // The scratch directory goes with the run: download elsewhere.
    let out = tempfile::tempdir().expect("temp dir");
    let run = red
        .args(submit(&url))
        .args(["--job-type", "mesmer", "in", "--jobs", "2", "--download"])
        .args([out.path().to_str().expect("utf-8")])
        .args(["--format", "json"])
        .run();
    assert_eq!(run.code, 0, "{}", run.snapshot());
    let report = json(&run);
    let jobs = report["jobs"].as_array().expect("jobs");
    assert_eq!(jobs.len(), 3, "notes.txt is not a job: {}", run.snapshot());
    for job in jobs {
        assert_eq!(job["status"], "done", "{job}");
        let input = job["input"].as_str().expect("input");
        let stem = std::path::Path::new(input)
            .file_stem()
            .expect("stem")
            .to_string_lossy()
            .into_owned();
        let output = job["output"].as_str().expect("output");
        assert!(
            output.starts_with(out.path().to_str().expect("utf-8")),
            "{output}"
        );
        let bytes = std::fs::read(output).expect("downloaded zip");
        assert!(bytes.starts_with(b"PK"), "not a zip: {output}");
        let member = format!("{stem}_feature_0.tif");
        assert!(
            bytes.windows(member.len()).any(|w| w == member.as_bytes()),
            "{member} missing"
        );
    }
    assert_eq!(report["succeeded"], 3);
}

#[test]
#[cfg_attr(
    not(feature = "kiosk-tests"),
    ignore = "needs the Kiosk double: scripts/kiosk-up"
)]
fn a_failing_job_shows_the_last_line_of_its_reason() {
    let url = kiosk();
    let run = with_files(
        Red::new(),
        &[
            ("cells.png", png("ok")),
            ("marked.png", png("KIOSK-PEER-FAIL")),
        ],
    )
    .args(submit(&url))
    .args(["--job-type", "segmentation", "cells.png", "marked.png"])
    .run();
    assert_eq!(run.code, 1, "{}", run.snapshot());
    assert!(
        run.stdout.contains("done") && run.stdout.contains("cells.png"),
        "{}",
        run.snapshot()
    );
    assert!(
        run.stdout
            .contains("marked.png: RuntimeError: Simulated model failure for marked.png"),
        "{}",
        run.snapshot()
    );
    assert!(!run.stdout.contains("Traceback"), "{}", run.snapshot());
    assert!(
        run.stderr.contains("1 of 2 jobs succeeded"),
        "{}",
        run.snapshot()
    );
}

#[test]
#[cfg_attr(
    not(feature = "kiosk-tests"),
    ignore = "needs the Kiosk double: scripts/kiosk-up"
)]
fn a_zip_job_reports_its_failed_children() {
    let url = kiosk();
    let archive = zip(&[
        ("a.png", png("a")),
        ("sub/b.png", png("b")),
        ("c-fail.png", png("c")),
        ("notes.txt", b"x".to_vec()),
    ]);
    let run = with_files(Red::new(), &[("batch.zip", archive)])
        .args(submit(&url))
        .args([
            "--job-type",
            "mesmer",
            "batch.zip",
            "--download",
            "out",
            "--format",
            "json",
        ])
        .run();
    assert_eq!(
        run.code,
        1,
        "a zip with failed children is not a success: {}",
        run.snapshot()
    );
    let job = &json(&run)["jobs"][0];
    assert_eq!(job["status"], "done");
    assert!(
        job["hash"]
            .as_str()
            .is_some_and(|h| h.starts_with("mesmer-zip:batch.zip:")),
        "{job}"
    );
    let failures = job["failures"].as_array().expect("failures");
    assert_eq!(failures.len(), 1, "{job}");
    assert!(
        failures[0]["child"]
            .as_str()
            .is_some_and(|c| c.starts_with("mesmer:c-fail.png:"))
    );
    assert!(
        failures[0]["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("RuntimeError:"))
    );
    assert!(
        job["output"].as_str().is_some(),
        "the merged result is still downloaded: {job}"
    );
}

#[test]
#[cfg_attr(
    not(feature = "kiosk-tests"),
    ignore = "needs the Kiosk double: scripts/kiosk-up"
)]
fn an_unknown_job_type_is_final_before_any_upload() {
    let url = kiosk();
    let run = with_files(Red::new(), &[("cells.png", png("x"))])
        .args(submit(&url))
        .args(["--job-type", "nope", "cells.png"])
        .run();
    assert_eq!(run.code, 1, "{}", run.snapshot());
    assert!(
        run.stderr
            .contains("has no job type `nope` (it offers: mesmer,"),
        "{}",
        run.snapshot()
    );
    assert!(run.stdout.is_empty(), "{}", run.snapshot());
}

#[test]
#[cfg_attr(
    not(feature = "kiosk-tests"),
    ignore = "needs the Kiosk double: scripts/kiosk-up"
)]
fn an_upload_that_is_never_answered_times_out() {
    let url = kiosk();
    let run = with_files(
        Red::new(),
        &[("hang.png", png("x")), ("cells.png", png("y"))],
    )
    .args(submit(&url))
    .args([
        "--job-type",
        "mesmer",
        "hang.png",
        "cells.png",
        "--request-timeout",
        "1",
    ])
    .args(["--format", "json"])
    .run();
    assert_eq!(run.code, 1, "{}", run.snapshot());
    let report = json(&run);
    let hang = &report["jobs"][0];
    assert_eq!(hang["status"], "error");
    assert_eq!(
        hang["reason"],
        "the Kiosk did not answer the upload of `hang.png` within 1 s"
    );
    assert!(hang.get("hash").is_none(), "no job was created: {hang}");
    assert_eq!(report["jobs"][1]["status"], "done", "the other job goes on");
}

#[test]
#[cfg_attr(
    not(feature = "kiosk-tests"),
    ignore = "needs the Kiosk double: scripts/kiosk-up"
)]
fn benchmark_mode_submits_one_file_n_times() {
    let url = kiosk();
    let run = with_files(Red::new(), &[("cells.png", png("bench"))])
        .args(submit(&url))
        .args([
            "--job-type",
            "mesmer",
            "cells.png",
            "--benchmark",
            "6",
            "--jobs",
            "3",
        ])
        .run();
    assert_eq!(run.code, 0, "{}", run.snapshot());
    assert_eq!(
        run.stdout.lines().filter(|l| l.starts_with("done")).count(),
        6,
        "{}",
        run.snapshot()
    );
    assert!(
        run.stderr.contains("6 of 6 jobs succeeded"),
        "{}",
        run.snapshot()
    );
    assert!(run.stderr.contains("per job: min "), "{}", run.snapshot());
}

#[test]
fn a_kiosk_that_is_down_is_a_clear_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let run = with_files(Red::new(), &[("cells.png", png("x"))])
        .args(submit(&url))
        .args(["--job-type", "mesmer", "cells.png"])
        .run();
    assert_eq!(run.code, 2, "{}", run.snapshot());
    assert!(
        run.stderr
            .contains(&format!("cannot reach the Kiosk at `{url}`")),
        "{}",
        run.snapshot()
    );
}
