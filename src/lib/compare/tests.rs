use std::fs;

use super::*;

/// A run's outputs directory with these files and a record for batch 0.
fn run(files: &[(&str, &[u8])], record: serde_json::Value) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (path, content) in files {
        let path = dir.path().join(path);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, content).unwrap();
    }
    fs::create_dir_all(dir.path().join(".red")).unwrap();
    fs::write(dir.path().join(".red/result.json"), record.to_string()).unwrap();
    fs::write(
        dir.path().join(METADATA),
        format!("{{\"t\": \"{}\"}}", uuid::Uuid::new_v4()),
    )
    .unwrap();
    dir
}

fn record(image_id: &str, kernel: &str) -> serde_json::Value {
    serde_json::json!({
        "batch": 0,
        "exitCode": 0,
        "command": ["cat", "/cc/inputs/1bc15297-7a5d-4eb2-b33c-000e2d499e79/data"],
        "inputs": [{"name": "data", "connector": "red-connector-local", "bytes": 3}],
        "startTime": format!("{}", uuid::Uuid::new_v4()),
        "image": {"reference": "busybox", "id": image_id},
        "host": {"os": "linux", "kernel": kernel, "arch": "x86_64", "cpus": 2},
        "redVersion": "1",
    })
}

#[test]
fn the_same_outputs_are_identical_whatever_the_records_say() {
    let a = run(
        &[("out.txt", b"same\n"), ("d/x", b"\0bin")],
        record("sha256:1", "6.1"),
    );
    let b = run(
        &[("out.txt", b"same\n"), ("d/x", b"\0bin")],
        record("sha256:1", "6.1"),
    );
    let comparison = runs(a.path(), b.path()).unwrap();
    assert!(comparison.identical, "{comparison:?}");
    assert_eq!(comparison.same, ["d/x", "out.txt"]);
    // Run ids, times and staging directories are not differences.
    assert_eq!(comparison.setup, []);
}

#[test]
fn a_differing_text_output_names_its_first_differing_line() {
    let a = run(
        &[("t.txt", b"one\ntwo\nthree\n"), (".red/stdout.txt", b"")],
        record("sha256:1", "6.1"),
    );
    let b = run(
        &[("t.txt", b"one\nTWO\nthree\n"), (".red/stdout.txt", b"x")],
        record("sha256:2", "6.2"),
    );
    let comparison = runs(a.path(), b.path()).unwrap();
    assert!(!comparison.identical);
    let differs: Vec<&str> = comparison
        .different
        .iter()
        .map(|d| d.path.as_str())
        .collect();
    assert_eq!(differs, [".red/stdout.txt", "t.txt"]);
    let text = &comparison.different[1];
    assert_eq!(text.a.size, 14);
    assert_ne!(text.a.sha256, text.b.sha256);
    assert_eq!(
        text.first_difference,
        Some(LineDifference {
            line: 2,
            a: Some("two".into()),
            b: Some("TWO".into())
        })
    );
    let what: Vec<&str> = comparison.setup.iter().map(|d| d.what.as_str()).collect();
    assert_eq!(what, ["image", "host"]);
}

#[test]
fn binary_files_have_no_line_and_long_lines_are_cut() {
    let long_a = format!("{}a", "x".repeat(500));
    let long_b = format!("{}b", "x".repeat(500));
    let a = run(
        &[
            ("bin", b"\0\x01"),
            ("long", long_a.as_bytes()),
            ("short", b"a\n"),
        ],
        record("i", "k"),
    );
    let b = run(
        &[
            ("bin", b"\0\x02"),
            ("long", long_b.as_bytes()),
            ("short", b"a\nb\n"),
        ],
        record("i", "k"),
    );
    let comparison = runs(a.path(), b.path()).unwrap();
    let by_path = |p: &str| comparison.different.iter().find(|d| d.path == p).unwrap();
    assert_eq!(by_path("bin").first_difference, None);
    let long = by_path("long").first_difference.clone().unwrap();
    assert_eq!(long.a.unwrap().chars().count(), text::MAX_SHOWN + 1);
    let short = by_path("short").first_difference.clone().unwrap();
    assert_eq!((short.line, short.a, short.b), (2, None, Some("b".into())));
}

#[test]
fn outputs_in_one_run_only_are_named() {
    let a = run(&[("a", b"1")], record("i", "k"));
    let b = run(&[("b", b"1")], record("i", "k"));
    let comparison = runs(a.path(), b.path()).unwrap();
    assert!(!comparison.identical);
    assert_eq!(comparison.only_in_a, ["a"]);
    assert_eq!(comparison.only_in_b, ["b"]);
}

#[test]
fn a_directory_without_records_is_not_a_run() {
    let a = run(&[], record("i", "k"));
    let plain = tempfile::tempdir().unwrap();
    assert!(matches!(
        runs(a.path(), plain.path()),
        Err(Error::NotARun(_))
    ));
    assert!(matches!(
        runs(&plain.path().join("missing"), a.path()),
        Err(Error::NotADirectory(_))
    ));
}

#[test]
fn runs_of_several_batches_are_compared_batch_by_batch() {
    let batches = |kernel: &str, second: &[u8]| {
        let dir = tempfile::tempdir().unwrap();
        for (index, content) in [(0, b"zero".as_slice()), (1, second)] {
            let batch = dir.path().join(index.to_string());
            fs::create_dir_all(batch.join(".red")).unwrap();
            fs::write(batch.join("out.txt"), content).unwrap();
            let mut record = record("sha256:1", kernel);
            record["batch"] = index.into();
            fs::write(batch.join(".red/result.json"), record.to_string()).unwrap();
        }
        dir
    };
    let a = batches("6.1", b"one");
    let b = batches("6.2", b"ONE");
    let comparison = runs(a.path(), b.path()).unwrap();
    assert_eq!(comparison.same, ["0/out.txt"]);
    assert_eq!(comparison.different[0].path, "1/out.txt");
    let hosts: Vec<Option<u64>> = comparison.setup.iter().map(|d| d.batch).collect();
    assert_eq!(hosts, [Some(0), Some(1)]);
}
