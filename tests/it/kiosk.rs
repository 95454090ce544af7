//! `red kiosk` against the DeepCell Kiosk test double (`tests/peers/kiosk/peer.py` over a real
//! Redis, started by `scripts/kiosk-up`).
//!
//! Enabled by the `kiosk-tests` feature (`scripts/test` turns it on where it starts the double,
//! as in CI); then a missing double is a failure, not a skip. The URL comes from
//! `RED_TEST_KIOSK_URL`. The double fails a job whose bytes contain `KIOSK-PEER-FAIL` or whose
//! name contains `fail`, and never answers an upload whose name contains `hang`.

use crate::support::{Red, Run, Scratch};

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n";

pub(crate) fn kiosk() -> String {
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

pub(crate) fn png(marker: &str) -> Vec<u8> {
    let mut bytes = PNG.to_vec();
    bytes.extend_from_slice(marker.as_bytes());
    bytes
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

pub(crate) fn json(run: &Run) -> serde_json::Value {
    serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", run.snapshot()))
}

pub(crate) fn submit(url: &str) -> Vec<String> {
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
    let red = Red::new()
        .file("in/cells.png", png("one"))
        .file("in/sub/more.png", png("two"))
        .file("in/third.tif", b"II*\x00three")
        .file("in/notes.txt", b"not an image");
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

/// A download directory that cannot be written is refused before any job is sent (exit 2, the
/// directory named), never `done` and "1 of 1 job succeeded" with the directory empty.
#[test]
#[cfg_attr(
    not(feature = "kiosk-tests"),
    ignore = "needs the Kiosk double: scripts/kiosk-up"
)]
fn an_unwritable_download_directory_is_refused_before_any_job() {
    let url = kiosk();
    // Even root cannot create a file in /proc/self.
    let run = Red::new()
        .file("cells.png", png("one"))
        .args(submit(&url))
        .args([
            "--job-type",
            "mesmer",
            "cells.png",
            "--download",
            "/proc/self",
        ])
        .run();
    assert_eq!(run.code, 2, "{}", run.snapshot());
    assert!(run.stderr.contains("`/proc/self`"), "{}", run.snapshot());
    assert!(!run.stdout.contains("done"), "{}", run.snapshot());
    assert!(!run.stderr.contains("succeeded"), "{}", run.snapshot());
}

#[test]
#[cfg_attr(
    not(feature = "kiosk-tests"),
    ignore = "needs the Kiosk double: scripts/kiosk-up"
)]
fn a_failing_job_shows_the_last_line_of_its_reason() {
    let url = kiosk();
    let run = Red::new()
        .file("cells.png", png("ok"))
        .file("marked.png", png("KIOSK-PEER-FAIL"))
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
    let run = Red::new()
        .file("batch.zip", archive)
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
    let run = Red::new()
        .file("cells.png", png("x"))
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
    let run = Red::new()
        .file("hang.png", png("x"))
        .file("cells.png", png("y"))
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
    let run = Red::new()
        .file("cells.png", png("bench"))
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
#[cfg_attr(
    not(feature = "kiosk-tests"),
    ignore = "needs the Kiosk double: scripts/kiosk-up"
)]
fn every_job_can_wait_in_the_queue_with_few_requests_at_once() {
    let url = kiosk();
    let run = Red::new()
        .file("cells.png", png("queued"))
        .args(submit(&url))
        .args(["--job-type", "mesmer", "cells.png", "--benchmark", "8"])
        .args(["--jobs", "8", "--requests", "2", "--format", "json"])
        .run();
    assert_eq!(run.code, 0, "{}", run.snapshot());
    let report = json(&run);
    assert_eq!(report["succeeded"], 8, "{}", run.snapshot());
    let hashes: std::collections::BTreeSet<&str> = report["jobs"]
        .as_array()
        .expect("jobs")
        .iter()
        .map(|job| job["hash"].as_str().expect("hash"))
        .collect();
    assert_eq!(hashes.len(), 8, "one job per copy: {}", run.snapshot());
}

#[test]
fn a_kiosk_that_is_down_is_a_clear_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let run = Red::new()
        .file("cells.png", png("x"))
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

// `red submit FILE --kiosk URL --job-type T`: a RED file's batches run on the Kiosk.

/// A RED file whose batches each have one File input `image` (one `inputs:` block per batch)
/// and one File output `masks` (globbed as `masks.zip`), with no output connectors: results go
/// to `outputs_<i>/`.
fn kiosk_red_file(batches: &[&str]) -> String {
    let batches: String = batches
        .iter()
        .map(|inputs| format!("  - inputs:\n{inputs}"))
        .collect();
    format!(
        r#"redVersion: "9"
cli:
  cwlVersion: v1.0
  class: CommandLineTool
  baseCommand: [segment]
  inputs:
    image:
      type: File
      inputBinding: {{position: 0}}
  outputs:
    masks:
      type: File
      outputBinding: {{glob: masks.zip}}
batches:
{batches}container:
  engine: docker
  settings:
    image:
      url: example.org/segment:1
execution:
  engine: ccfaice
  settings: {{}}
"#
    )
}

/// One batch's `inputs:` block reading `path` with `red-connector-local`.
fn local_image(path: &str) -> String {
    format!(
        "      image:\n        class: File\n        connector:\n          command: red-connector-local\n          access: {{path: {path}}}\n"
    )
}

/// A scratch directory holding a RED file `k.red.yml` and binary files.
fn scratch(red_file: &str, files: &[(&str, Vec<u8>)]) -> Scratch {
    let scratch = Scratch::new();
    scratch.write("k.red.yml", red_file);
    for (name, bytes) in files {
        scratch.write(name, bytes);
    }
    scratch
}

/// Run `red submit k.red.yml --kiosk URL --job-type mesmer EXTRA…` in `scratch`, with the
/// scratch directory's own `TMPDIR` (to see the run directory go away).
fn submit_red(scratch: &Scratch, url: &str, extra: &[&str]) -> Run {
    scratch
        .red()
        .args([
            "submit",
            "k.red.yml",
            "--kiosk",
            url,
            "--job-type",
            "mesmer",
        ])
        .args(extra)
        .env("TMPDIR", scratch.tmp().to_str().expect("utf-8"))
        .run()
}

fn zip_holds(path: &std::path::Path, member: &str) -> bool {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    bytes.starts_with(b"PK") && bytes.windows(member.len()).any(|w| w == member.as_bytes())
}

#[test]
#[cfg_attr(
    not(feature = "kiosk-tests"),
    ignore = "needs the Kiosk double: scripts/kiosk-up"
)]
fn a_red_file_runs_on_the_kiosk_and_results_land_in_the_output_directories() {
    let url = kiosk();
    let scratch = scratch(
        &kiosk_red_file(&[&local_image("data/a.png"), &local_image("data/b.png")]),
        &[("data/a.png", png("first")), ("data/b.png", png("second"))],
    );
    let dir = scratch.path();
    let run = submit_red(&scratch, &url, &["--format", "json", "--jobs", "2"]);
    assert_eq!(run.code, 0, "{}", run.snapshot());
    let report = json(&run);
    assert_eq!(report["succeeded"], true, "{report}");
    assert_eq!(report["jobType"], "mesmer");
    let batches = report["batches"].as_array().expect("batches");
    assert_eq!(batches.len(), 2);
    for (i, stem) in [(0, "a"), (1, "b")] {
        let batch = &batches[i];
        assert_eq!(batch["index"], i, "{batch}");
        assert_eq!(batch["state"], "succeeded", "{batch}");
        assert_eq!(batch["input"], "image");
        assert_eq!(batch["output"], "masks");
        assert_eq!(batch["kioskStatus"], "done");
        // Uploaded under the name of the local file, so the Kiosk sees an image.
        assert!(
            batch["job"]
                .as_str()
                .is_some_and(|j| j.starts_with(&format!("mesmer:{stem}.png:"))),
            "{batch}"
        );
        let delivered = format!("outputs_{i}/masks.zip");
        assert_eq!(batch["delivered"], delivered.as_str());
        assert!(
            zip_holds(&dir.join(&delivered), &format!("{stem}_feature_0.tif")),
            "batch {i}'s result is not its own"
        );
    }
    scratch.assert_tmp_empty();
}

#[test]
#[cfg_attr(
    not(feature = "kiosk-tests"),
    ignore = "needs the Kiosk double: scripts/kiosk-up"
)]
fn a_failed_kiosk_job_fails_its_batch_only() {
    let url = kiosk();
    let scratch = scratch(
        &kiosk_red_file(&[&local_image("data/ok.png"), &local_image("data/bad.png")]),
        &[
            ("data/ok.png", png("fine")),
            ("data/bad.png", png("KIOSK-PEER-FAIL")),
        ],
    );
    let dir = scratch.path();
    let run = submit_red(&scratch, &url, &[]);
    assert_eq!(run.code, 1, "{}", run.snapshot());
    assert!(
        run.stdout
            .contains("batch 0: succeeded, Kiosk job mesmer:ok.png:")
            && run.stdout.contains("result -> outputs_0/masks.zip"),
        "{}",
        run.snapshot()
    );
    assert!(
        run.stdout
            .contains("batch 1: failed, Kiosk job mesmer:bad.png:")
            && run.stdout.contains(
                "  error: the Kiosk job failed: RuntimeError: Simulated model failure for bad.png"
            ),
        "{}",
        run.snapshot()
    );
    assert!(zip_holds(
        &dir.join("outputs_0/masks.zip"),
        "ok_feature_0.tif"
    ));
    assert!(!dir.join("outputs_1").exists(), "{}", run.snapshot());
    assert!(
        run.stderr.contains("1 of 2 batches succeeded"),
        "{}",
        run.snapshot()
    );
    scratch.assert_tmp_empty();
}

#[test]
#[cfg_attr(
    not(feature = "kiosk-tests"),
    ignore = "needs the Kiosk double: scripts/kiosk-up"
)]
fn an_input_that_cannot_be_fetched_names_its_batch_and_input() {
    let url = kiosk();
    let scratch = scratch(
        &kiosk_red_file(&[&local_image("data/a.png"), &local_image("data/gone.png")]),
        &[("data/a.png", png("here"))],
    );
    let dir = scratch.path();
    let run = submit_red(&scratch, &url, &["--format", "json"]);
    assert_eq!(run.code, 1, "{}", run.snapshot());
    let report = json(&run);
    assert_eq!(report["succeeded"], false);
    assert_eq!(report["batches"][0]["state"], "succeeded");
    let failed = &report["batches"][1];
    assert_eq!(failed["index"], 1);
    assert_eq!(failed["state"], "error");
    assert!(failed.get("job").is_none(), "nothing was sent: {failed}");
    let error = failed["error"].as_str().expect("error");
    assert!(
        error.starts_with("input `image`: `red-connector-local` could not receive-file")
            && error.contains("gone.png"),
        "{error}"
    );
    assert!(dir.join("outputs_0/masks.zip").is_file());
    scratch.assert_tmp_empty();
}

#[test]
#[cfg_attr(
    not(feature = "kiosk-tests"),
    ignore = "needs the Kiosk double: scripts/kiosk-up"
)]
fn secrets_of_an_access_block_are_never_printed() {
    let url = kiosk();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let canary = "kiosk-canary-7c1e";
    // The password is also the file name in the URL, which the connector's error names: the
    // printer must mask it there too.
    let input = format!(
        "      image:\n        class: File\n        connector:\n          command: red-connector-http\n          access:\n            url: http://127.0.0.1:{port}/{canary}.png\n            auth:\n              username: someone\n              password: {canary}\n"
    );
    for format in ["human", "json"] {
        let scratch = scratch(&kiosk_red_file(&[&input]), &[]);
        let run = submit_red(&scratch, &url, &["--format", format]);
        assert_eq!(run.code, 1, "{}", run.snapshot());
        assert!(
            run.stdout.contains("could not receive-file") && run.stdout.contains("********.png"),
            "{}",
            run.snapshot()
        );
        assert!(
            !run.stdout.contains(canary) && !run.stderr.contains(canary),
            "the password was printed: {}",
            run.snapshot()
        );
        scratch.assert_tmp_empty();
    }
}

#[test]
fn kiosk_mode_refuses_the_agency_flags() {
    for flag in [
        &["--wait"][..],
        &["--disable-retry"],
        &["--url", "http://127.0.0.1:1"],
        &["--user", "someone"],
    ] {
        let run = Red::new()
            .file("k.red.yml", kiosk_red_file(&[&local_image("a.png")]))
            .args([
                "submit",
                "k.red.yml",
                "--kiosk",
                "http://127.0.0.1:1",
                "--job-type",
                "mesmer",
            ])
            .args(flag)
            .run();
        assert_eq!(run.code, 2, "{}", run.snapshot());
        assert!(
            run.stderr.contains("cannot be used with") && run.stderr.contains(flag[0]),
            "{}",
            run.snapshot()
        );
    }
    let run = Red::new()
        .file("k.red.yml", kiosk_red_file(&[&local_image("a.png")]))
        .args(["submit", "k.red.yml", "--job-type", "mesmer"])
        .run();
    assert_eq!(run.code, 2, "{}", run.snapshot());
    assert!(run.stderr.contains("--kiosk"), "{}", run.snapshot());
}

#[test]
fn a_batch_with_two_file_inputs_needs_input_named_before_anything_is_sent() {
    let two = format!(
        "{}{}",
        local_image("a.png"),
        local_image("b.png").replace("      image:", "      other:")
    );
    let file = kiosk_red_file(&[&two]).replace(
        "  outputs:\n",
        "    other:\n      type: File\n      inputBinding: {position: 1}\n  outputs:\n",
    );
    // The Kiosk is never reached: the port is closed.
    let run = Red::new()
        .file("k.red.yml", &file)
        .args([
            "submit",
            "k.red.yml",
            "--kiosk",
            "http://127.0.0.1:1",
            "--job-type",
            "mesmer",
        ])
        .run();
    assert_eq!(run.code, 1, "{}", run.snapshot());
    assert!(
        run.stderr.contains("k.red.yml:")
            && run
                .stderr
                .contains("the batch has 2 File inputs (`image`, `other`)")
            && run.stderr.contains("--input NAME"),
        "{}",
        run.snapshot()
    );
    assert!(!run.stderr.contains("cannot reach"), "{}", run.snapshot());
}

#[test]
#[cfg_attr(
    not(feature = "kiosk-tests"),
    ignore = "needs the Kiosk double: scripts/kiosk-up"
)]
fn results_go_through_the_output_connector_of_each_batch() {
    let url = kiosk();
    let batch = |image: &str, result: &str| {
        format!(
            "{}    outputs:\n      masks:\n        class: File\n        connector:\n          command: red-connector-local\n          access: {{path: {result}}}\n",
            local_image(image)
        )
    };
    let scratch = scratch(
        &kiosk_red_file(&[
            &batch("data/a.png", "results/first.zip"),
            &batch("data/b.png", "results/second.zip"),
        ]),
        &[("data/a.png", png("one")), ("data/b.png", png("two"))],
    );
    let dir = scratch.path();
    let run = submit_red(&scratch, &url, &["--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.snapshot());
    let report = json(&run);
    for i in 0..2 {
        assert_eq!(
            report["batches"][i]["delivered"], "red-connector-local send-file",
            "{report}"
        );
    }
    assert!(zip_holds(&dir.join("results/first.zip"), "a_feature_0.tif"));
    assert!(zip_holds(
        &dir.join("results/second.zip"),
        "b_feature_0.tif"
    ));
    assert!(
        !dir.join("outputs_0").exists() && !dir.join("outputs_1").exists(),
        "nothing goes to the output directories when outputs have connectors"
    );
    scratch.assert_tmp_empty();
}

/// An address where nothing listens: a run that got past its lock would fail to reach it.
fn nobody() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    format!("http://127.0.0.1:{port}")
}

#[test]
fn a_download_directory_in_use_by_another_run_is_refused_with_its_pid() {
    let red = Red::new().file("cells.png", png("x"));
    let results = red.dir().join("results");
    let held = red::run_lock::RunLock::acquire(&results, "--download").expect("lock");
    let run = red
        .args(submit(&nobody()))
        .args(["--job-type", "mesmer", "cells.png", "--download", "results"])
        .run();
    assert_eq!(run.code, 2, "{}", run.snapshot());
    for part in [
        format!("pid {}", std::process::id()),
        "`results`".to_owned(),
        "--download DIR".to_owned(),
    ] {
        assert!(run.stderr.contains(&part), "no {part}: {}", run.snapshot());
    }
    drop(held);
}

#[test]
fn red_submit_kiosk_refuses_outputs_in_use_by_another_run() {
    let dir = scratch(
        &kiosk_red_file(&[&local_image("a.png"), &local_image("b.png")]),
        &[("a.png", png("a")), ("b.png", png("b"))],
    );
    let held = red::run_lock::RunLock::acquire(&dir.path().join("out"), "--outputs").expect("lock");
    let run = submit_red(&dir, &nobody(), &["--outputs", "out"]);
    assert_eq!(run.code, 2, "{}", run.snapshot());
    assert!(
        run.stderr.contains(&format!("pid {}", std::process::id())) && run.stderr.contains("`out`"),
        "{}",
        run.snapshot()
    );
    dir.assert_tmp_empty();
    drop(held);
}

/// A second double of this checkout's `peer.py` on a free port of 127.0.0.1, over the shared
/// Redis (`RED_KIOSK_REDIS_PORT`, default 6390) with a job type of its own, so that neither
/// double's consumers take the other's jobs; its bucket is a temporary directory. Used for
/// behaviour the running double may predate. Killed on drop.
pub(crate) struct OwnKiosk {
    child: std::process::Child,
    pub(crate) url: String,
    pub(crate) job_type: String,
    pub(crate) state: tempfile::TempDir,
}

impl OwnKiosk {
    pub(crate) fn start() -> Self {
        let venv = std::env::var_os("RED_KIOSK_VENV")
            .map_or_else(|| "/tmp/red-kiosk/venv".into(), std::path::PathBuf::from);
        let redis_port = std::env::var("RED_KIOSK_REDIS_PORT").unwrap_or_else(|_| "6390".into());
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let job_type = format!("own{}", &uuid::Uuid::new_v4().as_simple().to_string()[..12]);
        let state = tempfile::tempdir().expect("temp dir");
        let log = std::fs::File::create(state.path().join("peer.log")).expect("log");
        let child = std::process::Command::new(venv.join("bin/python"))
            .arg(crate::support::root().join("tests/peers/kiosk/peer.py"))
            .env("KIOSK_PORT", port.to_string())
            .env("KIOSK_REDIS_PORT", &redis_port)
            .env("JOB_TYPES", &job_type)
            .env("STATE_DIR", state.path())
            .env("KIOSK_WORKERS", "1")
            .env("KIOSK_STEP_SECONDS", "0.05")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start a second Kiosk double with {} ({e}): run scripts/kiosk-up",
                    venv.display()
                )
            });
        let mut own = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
            job_type,
            state,
        };
        own.wait_until_it_answers();
        own
    }

    /// The POSTs under `/api/` it received, in order, as it recorded them (`path`,
    /// `contentType`, `body`; `filename`, `size` and `uploadedName` for an upload).
    pub(crate) fn requests(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.state.path().join("requests.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|line| serde_json::from_str(line).expect("a recorded request"))
            .collect()
    }

    /// The bodies of the requests to `path`.
    pub(crate) fn bodies(&self, path: &str) -> Vec<serde_json::Value> {
        self.requests()
            .into_iter()
            .filter(|r| r["path"] == path)
            .map(|r| r["body"].clone())
            .collect()
    }

    fn wait_until_it_answers(&mut self) {
        let client = red::net::blocking_builder(false)
            .timeout(std::time::Duration::from_secs(2))
            .build()
            .expect("client");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let answer = client
                .get(format!("{}/api/health-check", self.url))
                .send()
                .and_then(reqwest::blocking::Response::text);
            if answer.is_ok_and(|text| text.contains("OK")) {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "the second Kiosk double ended at once ({status}): {}",
                    std::fs::read_to_string(self.state.path().join("peer.log")).unwrap_or_default()
                );
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the second Kiosk double did not answer within 30 s"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
}

impl Drop for OwnKiosk {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A job the Kiosk finished whose `output_url` answers 404 has failed when its result was
/// asked for (`--download`): exit 1 and why, never `done` and "1 of 1 job succeeded" with the
/// directory empty.
#[test]
#[cfg_attr(
    not(feature = "kiosk-tests"),
    ignore = "needs the Kiosk double: scripts/kiosk-up"
)]
fn a_result_url_that_answers_404_fails_its_job() {
    // The shared double being up means its Redis is too.
    kiosk();
    let own = OwnKiosk::start();
    let out = tempfile::tempdir().expect("temp dir");
    let run = Red::new()
        .file("gone.png", png("gone"))
        .args(submit(&own.url))
        .args(["--job-type", &own.job_type, "gone.png", "--download"])
        .args([out.path().to_str().expect("utf-8")])
        .run();
    assert_eq!(run.code, 1, "{}", run.snapshot());
    assert!(
        run.stdout.contains("the result was not downloaded") && run.stdout.contains("404"),
        "{}",
        run.snapshot()
    );
    assert!(
        run.stderr.contains("0 of 1 job succeeded"),
        "{}",
        run.snapshot()
    );
    let left: Vec<_> = std::fs::read_dir(out.path())
        .expect("download dir")
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(left.is_empty(), "{left:?}");
}
