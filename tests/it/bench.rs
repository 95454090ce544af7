//! `red bench io|dataset|loader`: bytes read, dataset layout and determinism, the loader's
//! crop and filter on a hand-built file, and the JSON schemas of every output. No timing is
//! asserted: the figures vary from machine to machine.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use serde_json::Value;

use crate::support::{Red, Run};

fn json_of(output: &Run) -> Value {
    assert_eq!(output.code, 0, "red failed: {}", output.stderr);
    serde_json::from_str(&output.stdout).expect("stdout is one JSON document")
}

/// Check `instance` against `tests/fixtures/bench/<name>.schema.json`.
fn assert_schema(name: &str, instance: &Value) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/bench")
        .join(format!("{name}.schema.json"));
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).expect("the schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .map(|e| e.to_string())
        .collect();
    assert!(
        errors.is_empty(),
        "{name} output breaks its schema: {errors:#?}"
    );
}

/// A file of `len` bytes with a recognisable pattern.
fn data_file(dir: &Path, len: usize) -> std::path::PathBuf {
    let path = dir.join("data.bin");
    let bytes: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn io_reads_exactly_the_bytes_asked_in_both_patterns() {
    let dir = tempfile::tempdir().unwrap();
    let file = data_file(dir.path(), (1 << 20) + 1000);
    for pattern in ["random", "sequential"] {
        // 300 KiB in 64 KiB blocks: 4 whole reads and one of 44 KiB, per round.
        let output = Red::new()
            .args([
                "bench",
                "io",
                file.to_str().unwrap(),
                "--block",
                "64K",
                "--bytes",
                "300K",
                "--readers",
                "3",
                "--rounds",
                "2",
                "--pattern",
                pattern,
                "--format",
                "json",
            ])
            .run();
        let document = json_of(&output);
        assert_schema("io", &document);
        let target = &document["targets"][0];
        assert_eq!(target["block"], 65536);
        assert_eq!(target["file_size"], (1 << 20) + 1000);
        assert_eq!(target["bytes"], 2 * 300 * 1024, "{pattern}");
        for round in target["rounds"].as_array().unwrap() {
            assert_eq!(round["bytes"], 300 * 1024, "{pattern}");
            assert_eq!(round["reads"], 5, "{pattern}");
        }
        assert_eq!(target["mib_per_second"]["count"], 2);
        assert_eq!(target["latency_ms"]["count"], 10);
        assert_eq!(document["options"]["pattern"], pattern);
        assert_eq!(document["speedup"], Value::Null);
    }
}

#[test]
fn io_clamps_the_block_to_a_small_file_and_compares_two_files() {
    let dir = tempfile::tempdir().unwrap();
    let file = data_file(dir.path(), 10_000);
    let other = dir.path().join("other.bin");
    std::fs::copy(&file, &other).unwrap();
    let svg = dir.path().join("io.svg");
    let output = Red::new()
        .args([
            "bench",
            "io",
            file.to_str().unwrap(),
            "--compare",
            other.to_str().unwrap(),
            "--bytes",
            "25000",
            "--rounds",
            "1",
            "--format",
            "json",
            "--plot",
            svg.to_str().unwrap(),
        ])
        .run();
    let document = json_of(&output);
    assert_schema("io", &document);
    let targets = document["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 2);
    for target in targets {
        assert_eq!(target["block"], 10_000);
        assert_eq!(target["rounds"][0]["bytes"], 25_000);
        assert_eq!(target["rounds"][0]["reads"], 3);
    }
    assert!(document["speedup"].as_f64().unwrap() > 0.0);
    assert!(std::fs::read_to_string(&svg).unwrap().starts_with("<svg"));
}

#[test]
fn io_human_table_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let file = data_file(dir.path(), 200_000);
    let output = Red::new()
        .args([
            "bench",
            "io",
            file.to_str().unwrap(),
            "--block",
            "64K",
            "--bytes",
            "128K",
            "--rounds",
            "1",
        ])
        .run();
    assert!(output.code == 0);
    let table = output.stdout;
    assert!(table.starts_with("file "), "{table}");
    assert!(
        table.contains("MiB/s") && table.contains("128.0 KiB"),
        "{table}"
    );

    let missing = dir.path().join("missing.bin");
    let output = Red::new()
        .args(["bench", "io", missing.to_str().unwrap(), "--bytes", "1K"])
        .run();
    assert_eq!(output.code, 2);
    let stderr = output.stderr;
    assert!(
        stderr.contains("cannot open") && stderr.contains("missing.bin"),
        "{stderr}"
    );

    let output = Red::new()
        .args([
            "bench",
            "io",
            file.to_str().unwrap(),
            "--direct",
            "--block",
            "1000",
            "--bytes",
            "4096",
        ])
        .run();
    assert_eq!(output.code, 2);
    assert!(output.stderr.contains("must be a multiple of 4096"));

    let output = Red::new()
        .args(["bench", "io", file.to_str().unwrap(), "--block", "12X"])
        .run();
    assert_eq!(output.code, 2);

    let output = Red::new()
        .args(["bench", "io", file.to_str().unwrap(), "--readers", "0"])
        .run();
    assert_eq!(output.code, 2);
    assert!(output.stderr.contains("0 is not in 1..=1024"));
}

#[cfg(not(feature = "hdf5"))]
#[test]
fn hdf5_commands_say_how_to_get_them() {
    for command in ["dataset", "loader"] {
        let output = Red::new().args(["bench", command, "x.h5"]).run();
        assert_eq!(output.code, 2);
        assert!(output.stderr.contains("--features hdf5"));
    }
}

#[cfg(feature = "hdf5")]
mod hdf5 {
    use hdf5_metno as hdf5;
    use ndarray::{Array4, s};
    use red::bench::augment;
    use red::bench::dataset;
    use red::bench::loader;

    use super::*;

    fn write_dataset(path: &Path, seed: &str, extra: &[&str]) -> Value {
        let mut args = vec![
            "bench",
            "dataset",
            path.to_str().unwrap(),
            "--tiles-per-array",
            "2",
            "--slides",
            "3",
            "--seed",
            seed,
            "--format",
            "json",
        ];
        args.extend_from_slice(extra);
        json_of(&Red::new().args(args).run())
    }

    #[test]
    fn dataset_round_trip_layout_and_determinism() {
        let dir = tempfile::tempdir().unwrap();
        let first = dir.path().join("a.h5");
        let document = write_dataset(&first, "42", &["--chunk-tiles", "2"]);
        assert_schema("dataset", &document);
        assert_eq!(document["dataset"]["tile_bytes"], 8 * 512 * 512 * 4);

        let file = hdf5::File::open(&first).unwrap();
        for (array, name) in red::bench::ARRAY_NAMES.iter().enumerate() {
            let data = file.dataset(name).unwrap();
            assert_eq!(data.shape(), vec![2, 512, 512, 4]);
            assert_eq!(data.chunk(), Some(vec![2, 512, 512, 4]));
            assert!(data.dtype().unwrap().is::<u8>());
            let tiles: Array4<u8> = data.read().unwrap();
            for index in 0..2 {
                let expected = dataset::tile(42, 3, array, index);
                assert_eq!(
                    tiles.slice(s![index, .., .., ..]),
                    expected,
                    "{name}[{index}]"
                );
            }
            // The mask is binary.
            assert!(
                tiles
                    .slice(s![.., .., .., 3])
                    .iter()
                    .all(|&v| v == 0 || v == 255)
            );
        }
        let seed: u64 = file.attr("red_bench_seed").unwrap().read_scalar().unwrap();
        assert_eq!(seed, 42);

        let same = dir.path().join("b.h5");
        write_dataset(&same, "42", &["--chunk-tiles", "2"]);
        let other = dir.path().join("c.h5");
        write_dataset(&other, "43", &["--chunk-tiles", "2"]);
        let read = |path: &Path| -> Array4<u8> {
            hdf5::File::open(path)
                .unwrap()
                .dataset("train_negative")
                .unwrap()
                .read()
                .unwrap()
        };
        assert_eq!(read(&first), read(&same));
        assert_ne!(read(&first), read(&other));
    }

    #[test]
    fn dataset_compresses_on_request() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("z.h5");
        let document = write_dataset(&path, "1", &["--deflate", "6"]);
        // Noise on a flat colour and a disc mask compress well below the raw 8 MiB.
        assert!(document["dataset"]["file_bytes"].as_u64().unwrap() < 8 * 512 * 512 * 4);
        let file = hdf5::File::open(&path).unwrap();
        let data = file.dataset("validation_positive").unwrap();
        assert_eq!(data.chunk(), Some(vec![1, 512, 512, 4]));
        assert!(!data.filters().is_empty());
        let tile: Array4<u8> = data.read_slice(s![1..2, .., .., ..]).unwrap();
        assert_eq!(tile.slice(s![0, .., .., ..]), dataset::tile(1, 3, 2, 1));

        let output = Red::new()
            .args([
                "bench",
                "dataset",
                path.to_str().unwrap(),
                "--deflate",
                "12",
            ])
            .run();
        assert_eq!(output.code, 2);
        assert!(output.stderr.contains("12 is not in 1..=9"));
    }

    /// A hand-made file with 8x8 tiles: positives alternate full and empty tissue masks,
    /// negatives are all tissue; the red channel numbers the pixels.
    fn hand_made(path: &Path) {
        let file = hdf5::File::create(path).unwrap();
        for (name, full) in [
            ("train_positive", [true, false, true, false]),
            ("train_negative", [true, true, true, true]),
            ("validation_positive", [true; 4]),
            ("validation_negative", [true; 4]),
        ] {
            let mut tiles = Array4::<u8>::zeros((4, 8, 8, 4));
            for (index, tissue) in full.iter().enumerate() {
                for row in 0..8 {
                    for column in 0..8 {
                        tiles[[index, row, column, 0]] = (index * 64 + row * 8 + column) as u8;
                        tiles[[index, row, column, 3]] = if *tissue { 255 } else { 0 };
                    }
                }
            }
            file.new_dataset_builder()
                .with_data(&tiles)
                .create(name)
                .unwrap();
        }
    }

    #[test]
    fn loader_reads_crops_as_hyperslabs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hand.h5");
        hand_made(&path);
        let file = hdf5::File::open(&path).unwrap();
        let data = file.dataset("train_positive").unwrap();
        let all: Array4<u8> = data.read().unwrap();
        for (index, row, column) in [(0, 0, 0), (1, 3, 3), (2, 1, 3), (3, 3, 0)] {
            let crop = loader::read_crop_at(&path, &data, index, row, column, 5).unwrap();
            let tile = all.slice(s![index, .., .., ..]);
            let expected = augment::crop(tile, row, column, 5).unwrap();
            assert_eq!(crop, expected);
            // hand check: the top-left pixel's red value numbers it
            assert_eq!(crop[[0, 0, 0]] as usize, index * 64 + row * 8 + column);
        }
    }

    #[test]
    fn loader_filters_tiles_as_counted_by_hand() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hand.h5");
        hand_made(&path);
        // With runs of 4 tiles from the only possible start (0), a batch of 3 positives reads
        // tiles 0 (kept) 1 2 (kept) 3, then 0 (kept): 5 reads; 3 negatives take 3 reads.
        // Two steps: 16 read, 12 kept.
        let output = Red::new()
            .args([
                "bench",
                "loader",
                path.to_str().unwrap(),
                "--steps",
                "2",
                "--batch",
                "3",
                "--crop",
                "4",
                "--chunk-tiles",
                "4",
                "--compute-ms",
                "0",
                "--workers",
                "2",
                "--format",
                "json",
            ])
            .run();
        let document = json_of(&output);
        assert_schema("loader", &document);
        let epoch = &document["targets"][0]["epochs"][0];
        assert_eq!(epoch["tiles_read"], 16);
        assert_eq!(epoch["tiles_kept"], 12);
        assert_eq!(epoch["crop_bytes"], 16 * 4 * 4 * 4);
        assert_eq!(document["targets"][0]["steps"].as_array().unwrap().len(), 2);

        // Without HDF5's chunk cache the same crops are read (row by row).
        let uncached = json_of(
            &Red::new()
                .args([
                    "bench",
                    "loader",
                    path.to_str().unwrap(),
                    "--steps",
                    "2",
                    "--batch",
                    "3",
                    "--crop",
                    "4",
                    "--chunk-tiles",
                    "4",
                    "--compute-ms",
                    "0",
                    "--chunk-cache",
                    "0",
                    "--format",
                    "json",
                ])
                .run(),
        );
        assert_schema("loader", &uncached);
        assert_eq!(uncached["options"]["chunk_cache"], 0);
        assert_eq!(uncached["targets"][0]["epochs"][0]["tiles_read"], 16);

        // Nothing passes a filter of more tissue than any crop has: a clear error, exit 2.
        let empty = dir.path().join("empty.h5");
        {
            let file = hdf5::File::create(&empty).unwrap();
            for name in red::bench::ARRAY_NAMES {
                let tiles = Array4::<u8>::zeros((2, 8, 8, 4));
                file.new_dataset_builder()
                    .with_data(&tiles)
                    .create(name)
                    .unwrap();
            }
        }
        let output = Red::new()
            .args([
                "bench",
                "loader",
                empty.to_str().unwrap(),
                "--steps",
                "1",
                "--batch",
                "2",
                "--crop",
                "4",
                "--compute-ms",
                "0",
            ])
            .run();
        assert_eq!(output.code, 2);
        assert!(output.stderr.contains("--min-tissue"));

        // A crop larger than the tiles is a shape error naming the array.
        let output = Red::new()
            .args(["bench", "loader", path.to_str().unwrap(), "--crop", "9"])
            .run();
        assert_eq!(output.code, 2);
        assert!(output.stderr.contains("train_positive"));
    }

    #[test]
    fn loader_compare_runs_the_same_tiles_on_both_paths() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.h5");
        write_dataset(&path, "7", &[]);
        let copy = dir.path().join("b.h5");
        std::fs::copy(&path, &copy).unwrap();
        let svg = dir.path().join("loader.svg");
        let output = Red::new()
            .args([
                "bench",
                "loader",
                path.to_str().unwrap(),
                "--compare",
                copy.to_str().unwrap(),
                "--steps",
                "2",
                "--batch",
                "4",
                "--chunk-tiles",
                "2",
                "--epochs",
                "2",
                "--compute-ms",
                "1",
                "--format",
                "json",
                "--plot",
                svg.to_str().unwrap(),
            ])
            .run();
        let document = json_of(&output);
        assert_schema("loader", &document);
        let targets = document["targets"].as_array().unwrap();
        let epochs = |t: usize| targets[t]["epochs"].as_array().unwrap().clone();
        assert_eq!(epochs(0).len(), 2);
        for (first, second) in epochs(0).iter().zip(epochs(1)) {
            assert_eq!(first["tiles_read"], second["tiles_read"]);
            assert_eq!(first["tiles_kept"], 2 * 2 * 4);
        }
        assert!(document["slowdown"].as_f64().unwrap() > 0.0);
        assert!(std::fs::read_to_string(&svg).unwrap().contains("<polyline"));
    }
}
