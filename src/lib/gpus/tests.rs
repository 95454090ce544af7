use proptest::prelude::*;

use super::*;

const H100: &str = include_str!("../../../tests/fixtures/gpus/h100-80gb-hbm3-x8.csv");
const A100: &str = include_str!("../../../tests/fixtures/gpus/a100-sxm4-40gb-x4.csv");
const V100: &str = include_str!("../../../tests/fixtures/gpus/v100-sxm2-16gb-x2.csv");
const RTX3090: &str = include_str!("../../../tests/fixtures/gpus/rtx3090-x1.csv");
const T4: &str = include_str!("../../../tests/fixtures/gpus/t4-x1.csv");
const MIXED: &str = include_str!("../../../tests/fixtures/gpus/workstation-mixed.csv");

fn parsed(text: &str) -> Vec<Gpu> {
    match parse_nvidia_smi(text) {
        Ok(gpus) => gpus,
        Err(error) => panic!("sample does not parse: {error}"),
    }
}

fn gpu(index: u32, memory: Option<u64>) -> Gpu {
    Gpu {
        index,
        uuid: format!("GPU-{index}"),
        name: "Test GPU".to_owned(),
        memory_mib: memory,
        vendor: Vendor::Nvidia,
    }
}

fn need(mins: &[Option<u64>]) -> Vec<DeviceRequirement> {
    mins.iter()
        .map(|&vram_min| DeviceRequirement {
            vendor: Vendor::Nvidia,
            vram_min,
        })
        .collect()
}

fn indices(selection: &Selection) -> Vec<u32> {
    selection.gpus.iter().map(|gpu| gpu.index).collect()
}

#[test]
fn every_sample_parses_with_model_and_memory() {
    let cases = [
        (H100, 8, "NVIDIA H100 80GB HBM3", 81559),
        (A100, 4, "NVIDIA A100-SXM4-40GB", 40960),
        (V100, 2, "Tesla V100-SXM2-16GB", 16160),
        (RTX3090, 1, "NVIDIA GeForce RTX 3090", 24576),
        (T4, 1, "Tesla T4", 15360),
    ];
    for (text, count, name, memory) in cases {
        let gpus = parsed(text);
        assert_eq!(gpus.len(), count, "{name}");
        for (position, gpu) in gpus.iter().enumerate() {
            assert_eq!(gpu.index as usize, position);
            assert_eq!(gpu.name, name);
            assert_eq!(gpu.memory_mib, Some(memory));
            assert!(
                gpu.uuid.starts_with("GPU-") && gpu.uuid.len() == 40,
                "{}",
                gpu.uuid
            );
        }
        let uuids: std::collections::BTreeSet<_> = gpus.iter().map(|g| &g.uuid).collect();
        assert_eq!(uuids.len(), count, "UUIDs are distinct");
    }
}

#[test]
fn mixed_sample_keeps_each_model() {
    let gpus = parsed(MIXED);
    let names: Vec<_> = gpus
        .iter()
        .map(|g| (g.index, g.name.as_str(), g.memory_mib))
        .collect();
    assert_eq!(
        names,
        [
            (0, "NVIDIA GeForce RTX 3090", Some(24576)),
            (1, "Tesla T4", Some(15360)),
            (2, "NVIDIA A100-SXM4-40GB", Some(40960)),
        ]
    );
}

#[test]
fn unknown_memory_blank_lines_and_commas_in_names() {
    let text = "\n0, GPU-a, Some, Odd Name, [N/A]\r\n\n1, GPU-b, Tesla T4, 15360\n";
    let gpus = parsed(text);
    assert_eq!(gpus.len(), 2);
    assert_eq!(gpus[0].name, "Some, Odd Name");
    assert_eq!(gpus[0].memory_mib, None);
    assert_eq!(gpus[1].memory_mib, Some(15360));
    assert_eq!(parsed("").len(), 0);
}

#[test]
fn malformed_lines_are_errors_naming_the_line() {
    for (text, line) in [
        ("0, GPU-a, T4, 15360\nNo devices were found\n", 2),
        ("x, GPU-a, T4, 15360\n", 1),
        ("0, GPU-a, T4, 15 GiB\n", 1),
        ("0, GPU-a, 15360\n", 1),
        ("0, , T4, 15360\n", 1),
    ] {
        match parse_nvidia_smi(text) {
            Err(Error::Parse { line: got, .. }) => assert_eq!(got, line, "{text:?}"),
            other => panic!("{text:?} gave {other:?}"),
        }
    }
}

#[test]
fn count_takes_any_gpus_and_fails_when_too_few() {
    let gpus = parsed(V100);
    let selection = select(&DeviceRequirement::count(Vendor::Nvidia, 2), &gpus).ok();
    assert_eq!(selection.as_ref().map(indices), Some(vec![0, 1]));
    assert_eq!(
        selection.map(|s| s.visible_devices()),
        Some("0,1".to_owned())
    );
    let error = select(&DeviceRequirement::count(Vendor::Nvidia, 3), &gpus).err();
    let message = error.map(|e| e.to_string()).unwrap_or_default();
    assert!(message.contains("3 nvidia GPUs"), "{message}");
    assert!(
        message.contains("0 (Tesla V100-SXM2-16GB, 16160 MiB)"),
        "{message}"
    );
}

#[test]
fn no_gpus_at_all_says_so() {
    let error = select(&DeviceRequirement::count(Vendor::Nvidia, 1), &[]).err();
    assert_eq!(
        error.map(|e| e.to_string()).as_deref(),
        Some("the experiment needs 1 nvidia GPU, but no GPU is available")
    );
    // Asking for nothing is satisfied by nothing.
    assert_eq!(select(&[], &[]).ok().map(|s| s.gpus.len()), Some(0));
}

#[test]
fn vram_minimum_picks_the_smallest_gpu_large_enough() {
    let gpus = parsed(MIXED); // 0: 24576, 1: 15360, 2: 40960
    let selection = select(&need(&[Some(16000)]), &gpus).ok();
    assert_eq!(selection.as_ref().map(indices), Some(vec![0]));
    let selection = select(&need(&[Some(30000), Some(1000)]), &gpus).ok();
    assert_eq!(selection.as_ref().map(indices), Some(vec![1, 2]));
    let error = select(&need(&[Some(30000), Some(30000)]), &gpus).err();
    let message = error.map(|e| e.to_string()).unwrap_or_default();
    assert!(
        message.starts_with("the experiment needs 2 nvidia GPUs with at least 30000 MB, 30000 MB")
    );
    assert!(
        message.contains("2 (NVIDIA A100-SXM4-40GB, 40960 MiB)"),
        "{message}"
    );
}

#[test]
fn first_fit_in_file_order_would_fail_where_red_succeeds() {
    // The reference takes the first large-enough GPU for each requirement in file order: the
    // small requirement would take GPU 0 (the big one) and leave nothing for the big one.
    let gpus = [gpu(0, Some(40960)), gpu(1, Some(16160))];
    let selection = select(&need(&[Some(8000), Some(32000)]), &gpus).ok();
    assert_eq!(selection.as_ref().map(indices), Some(vec![0, 1]));
}

#[test]
fn unknown_memory_only_serves_requirements_without_minimum() {
    let gpus = [gpu(0, None), gpu(1, Some(16000))];
    assert_eq!(
        select(&need(&[None]), &gpus).ok().as_ref().map(indices),
        Some(vec![0])
    );
    assert_eq!(
        select(&need(&[Some(100)]), &gpus)
            .ok()
            .as_ref()
            .map(indices),
        Some(vec![1])
    );
    assert!(select(&need(&[Some(100), Some(100)]), &gpus).is_err());
}

#[test]
fn gpu_ids_restrict_by_index_or_uuid() {
    let gpus = parsed(MIXED);
    let uuid = gpus[2].uuid.clone();
    let kept = restrict(&gpus, &["1".to_owned(), uuid])
        .ok()
        .unwrap_or_default();
    assert_eq!(kept.iter().map(|g| g.index).collect::<Vec<_>>(), [1, 2]);
    let selection = select(&need(&[Some(16000)]), &kept).ok();
    assert_eq!(selection.as_ref().map(indices), Some(vec![2]));
    let error = restrict(&gpus, &["7".to_owned()]).err();
    let message = error.map(|e| e.to_string()).unwrap_or_default();
    assert!(
        message.starts_with("GPU `7` was asked for with --gpu-ids"),
        "{message}"
    );
    assert!(message.contains("1 (Tesla T4, 15360 MiB)"), "{message}");
}

/// Whether some assignment of distinct GPUs meets every requirement (brute force).
fn feasible(mins: &[u64], memories: &[u64]) -> bool {
    fn go(mins: &[u64], memories: &[u64], used: &mut Vec<bool>) -> bool {
        let Some((&first, rest)) = mins.split_first() else {
            return true;
        };
        for (index, &memory) in memories.iter().enumerate() {
            if !used[index] && memory >= first {
                used[index] = true;
                if go(rest, memories, used) {
                    return true;
                }
                used[index] = false;
            }
        }
        false
    }
    go(mins, memories, &mut vec![false; memories.len()])
}

proptest! {
    #[test]
    fn greedy_matches_whenever_a_match_exists(
        mins in proptest::collection::vec(0u64..8, 0..5),
        memories in proptest::collection::vec(0u64..8, 0..6),
    ) {
        let gpus: Vec<Gpu> =
            memories.iter().enumerate().map(|(i, &m)| gpu(i as u32, Some(m))).collect();
        let requirements = need(&mins.iter().map(|&m| Some(m)).collect::<Vec<_>>());
        match select(&requirements, &gpus) {
            Ok(selection) => {
                prop_assert_eq!(selection.gpus.len(), mins.len());
                let mut chosen = indices(&selection);
                chosen.dedup();
                prop_assert_eq!(chosen.len(), mins.len(), "distinct GPUs");
                prop_assert!(feasible(&mins, &selection.gpus.iter().filter_map(|g| g.memory_mib).collect::<Vec<_>>()));
            }
            Err(_) => prop_assert!(!feasible(&mins, &memories)),
        }
    }
}

fn requirements_of(yaml: &str) -> Option<Vec<DeviceRequirement>> {
    let tree = crate::parse::tree(yaml).ok()?;
    requirements(tree.root())
}

#[test]
fn requirements_from_both_schema_forms() {
    assert_eq!(
        requirements_of("{vendor: nvidia, count: 2}"),
        Some(need(&[None, None]))
    );
    assert_eq!(
        requirements_of("{vendor: nvidia, devices: [{vramMin: 30000}, {}]}"),
        Some(need(&[Some(30000), None]))
    );
    assert_eq!(
        requirements_of("{vendor: nvidia, devices: []}"),
        Some(Vec::new())
    );
    assert_eq!(requirements_of("{vendor: amd, count: 1}"), None);
    assert_eq!(requirements_of("{vendor: nvidia, count: -1}"), None);
}

#[test]
fn choose_applies_gpu_ids_and_requirements() {
    let gpus = parsed(MIXED);
    let ids = ["0".to_owned(), "2".to_owned()];
    assert_eq!(choose(&[], &gpus, None).ok(), Some(None));
    let all_listed = choose(&[], &gpus, Some(&ids)).ok().flatten();
    assert_eq!(all_listed.as_ref().map(indices), Some(vec![0, 2]));
    let matched = choose(&need(&[None]), &gpus, Some(&ids)).ok().flatten();
    assert_eq!(matched.as_ref().map(indices), Some(vec![0]));
    let matched = choose(&need(&[Some(30000)]), &gpus, None).ok().flatten();
    assert_eq!(matched.as_ref().map(indices), Some(vec![2]));
    assert!(matches!(
        choose(&need(&[Some(50000)]), &gpus, None),
        Err(Error::Insufficient { .. })
    ));
    assert!(matches!(
        choose(&[], &gpus, Some(&["9".to_owned()])),
        Err(Error::UnknownId { .. })
    ));
}
