//! What differed in how two runs' batches ran, from their records.
//!
//! Records are read as JSON, field by field, so a record written by another version of `red`
//! (with fields more or less) is still compared on what both have.

use std::fs;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use super::Error;
use crate::execute::local::facts::Setup;
use crate::execute::local::{RECORD_FILE, RECORDS_DIR};

/// One aspect of the setup that differs between the runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SetupDifference {
    /// The batch, when the runs have several.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch: Option<u64>,
    /// What differs: `image`, `input <name>`, `argv`, `exit code`, `red version`, `host`.
    pub what: String,
    /// In the first run.
    pub a: String,
    /// In the second run.
    pub b: String,
}

/// Every batch record of the run in `dir`: its own, or those of its batch directories.
pub(super) fn records(dir: &Path) -> Result<Vec<Value>, Error> {
    if !fs::metadata(dir).is_ok_and(|m| m.is_dir()) {
        return Err(Error::NotADirectory(dir.to_path_buf()));
    }
    let own = dir.join(RECORDS_DIR).join(RECORD_FILE);
    let mut paths: Vec<PathBuf> = if own.is_file() {
        vec![own]
    } else {
        fs::read_dir(dir)
            .map_err(|e| super::read_error(dir, &e))?
            .flatten()
            .map(|entry| entry.path().join(RECORDS_DIR).join(RECORD_FILE))
            .filter(|path| path.is_file())
            .collect()
    };
    if paths.is_empty() {
        return Err(Error::NotARun(dir.to_path_buf()));
    }
    paths.sort();
    paths
        .iter()
        .map(|path| {
            let text = fs::read_to_string(path).map_err(|e| super::read_error(path, &e))?;
            serde_json::from_str(&text).map_err(|e| Error::Read {
                path: path.clone(),
                message: format!("not a batch record: {e}"),
            })
        })
        .collect()
}

/// The differences between batches of the same index.
pub(super) fn differences(a: &[Value], b: &[Value]) -> Vec<SetupDifference> {
    let several = a.len() > 1 || b.len() > 1;
    let mut found = Vec::new();
    for record_a in a {
        let index = record_a.get("batch").and_then(Value::as_u64);
        let Some(record_b) = b
            .iter()
            .find(|r| r.get("batch").and_then(Value::as_u64) == index)
        else {
            continue;
        };
        let batch = index.filter(|_| several);
        for (what, left, right) in aspects(record_a, record_b) {
            if left != right {
                found.push(SetupDifference {
                    batch,
                    what,
                    a: left,
                    b: right,
                });
            }
        }
    }
    found
}

/// Each aspect of two records, as text.
fn aspects(a: &Value, b: &Value) -> Vec<(String, String, String)> {
    let setup_a: Setup = serde_json::from_value(a.clone()).unwrap_or_default();
    let setup_b: Setup = serde_json::from_value(b.clone()).unwrap_or_default();
    let image = |setup: &Setup| {
        setup.image.as_ref().map_or_else(
            || "unknown".to_owned(),
            |image| format!("{} ({})", image.reference, image.digest()),
        )
    };
    let host = |setup: &Setup| {
        setup.host.as_ref().map_or_else(
            || "unknown".to_owned(),
            |host| {
                let mut text = format!(
                    "{} {} {}, {} CPUs",
                    host.os, host.kernel, host.arch, host.cpus
                );
                for gpu in &host.gpus {
                    text.push_str(&format!(", GPU {gpu}"));
                }
                text
            },
        )
    };
    let mut aspects = vec![
        ("image".to_owned(), image(&setup_a), image(&setup_b)),
        ("argv".to_owned(), argv(a), argv(b)),
        (
            "exit code".to_owned(),
            field(a, "exitCode"),
            field(b, "exitCode"),
        ),
        (
            "red version".to_owned(),
            setup_a.red_version.clone(),
            setup_b.red_version.clone(),
        ),
        ("host".to_owned(), host(&setup_a), host(&setup_b)),
    ];
    let names = input_names(a, b);
    for name in names {
        aspects.push((format!("input `{name}`"), input(a, &name), input(b, &name)));
    }
    aspects
}

fn field(record: &Value, key: &str) -> String {
    record
        .get(key)
        .map_or_else(|| "none".to_owned(), Value::to_string)
}

/// The argv with each input's random staging directory (`/cc/inputs/<uuid>/`) blanked.
fn argv(record: &Value) -> String {
    let words: Vec<String> = record
        .get("command")
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .map(|w| blank_staging(w.as_str().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default();
    serde_json::to_string(&words).unwrap_or_default()
}

fn blank_staging(word: &str) -> String {
    const STAGING: &str = "/cc/inputs/";
    let mut out = String::with_capacity(word.len());
    let mut rest = word;
    while let Some(at) = rest.find(STAGING) {
        let (before, after) = rest.split_at(at + STAGING.len());
        out.push_str(before);
        let end = after.find('/').unwrap_or(after.len());
        let (id, tail) = after.split_at(end);
        let is_uuid = id.len() == 36 && id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-');
        out.push_str(if is_uuid { "…" } else { id });
        rest = tail;
    }
    out.push_str(rest);
    out
}

fn inputs(record: &Value) -> &[Value] {
    record
        .get("inputs")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn input_names(a: &Value, b: &Value) -> Vec<String> {
    let mut names: Vec<String> = inputs(a)
        .iter()
        .chain(inputs(b))
        .filter_map(|i| i.get("name").and_then(Value::as_str).map(str::to_owned))
        .collect();
    names.sort();
    names.dedup();
    names
}

/// An input as its content: its checksum when recorded, else its size, and its connector.
fn input(record: &Value, name: &str) -> String {
    let Some(input) = inputs(record)
        .iter()
        .find(|i| i.get("name").and_then(Value::as_str) == Some(name))
    else {
        return "absent".to_owned();
    };
    let connector = input
        .get("connector")
        .and_then(Value::as_str)
        .unwrap_or("?");
    let bytes = input.get("bytes").and_then(Value::as_u64).unwrap_or(0);
    match input.get("sha256").and_then(Value::as_str) {
        Some(sha256) => format!("{bytes} bytes, sha256 {sha256}, via {connector}"),
        None => format!("{bytes} bytes, via {connector}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staging_directories_are_blanked() {
        assert_eq!(
            blank_staging("/cc/inputs/1bc15297-7a5d-4eb2-b33c-000e2d499e79/data"),
            "/cc/inputs/…/data"
        );
        assert_eq!(
            blank_staging("--in=/cc/inputs/<input-0>/x"),
            "--in=/cc/inputs/<input-0>/x"
        );
    }
}
