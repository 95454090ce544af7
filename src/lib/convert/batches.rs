//! One single-job document per batch (docs/convert.md, with what the reference loses kept).
//!
//! The job for batch `i` is the document without `batches`, with the batch's `inputs` and
//! `outputs` where `batches` stood (`outputs` is kept even when empty, so every job file has
//! the same shape), the batch's `cloud` as the job's `cloud`, and the batch's `doc` as the job's
//! `doc` (after the document's own `doc` and a blank line, when both exist). The reference drops
//! a batch's `doc` and `cloud` and empty `outputs`.
//!
//! Jobs are built one at a time by index, so a caller can stream 100,000 of them to disk without
//! holding them all.

use std::borrow::Cow;

use super::{Error, Value};

/// The `batches` list of a document, checked to be a list of mappings.
pub fn list<'v, 'a>(document: &'v Value<'a>) -> Result<&'v [Value<'a>], Error> {
    if !matches!(document, Value::Map(_)) {
        return Err(Error::Shape {
            pointer: String::new(),
            expected: "mapping",
            found: document.type_name(),
        });
    }
    let batches = document.get("batches").ok_or(Error::NoBatches)?;
    let Value::Seq(items) = batches else {
        return Err(Error::Shape {
            pointer: "/batches".to_owned(),
            expected: "list",
            found: batches.type_name(),
        });
    };
    if let Some((i, bad)) = items
        .iter()
        .enumerate()
        .find(|(_, b)| !matches!(b, Value::Map(_)))
    {
        return Err(Error::Shape {
            pointer: format!("/batches/{i}"),
            expected: "mapping",
            found: bad.type_name(),
        });
    }
    Ok(items)
}

/// The single-job document of one batch. `batch` is an item of [`list`]`(document)`.
#[must_use]
pub fn job<'a>(document: &Value<'a>, batch: &Value<'a>) -> Value<'a> {
    let mut entries = Vec::with_capacity(document.entries().len() + 3);
    let batch_doc = batch.get("doc").and_then(Value::as_str);
    for (key, value) in document.entries() {
        match key.as_str() {
            Some("batches") => {
                let inputs = batch
                    .get("inputs")
                    .cloned()
                    .unwrap_or(Value::Map(Vec::new()));
                let outputs = batch
                    .get("outputs")
                    .cloned()
                    .unwrap_or(Value::Map(Vec::new()));
                entries.push((Value::string("inputs"), inputs));
                entries.push((Value::string("outputs"), outputs));
                if let Some(cloud) = batch.get("cloud") {
                    entries.push((Value::string("cloud"), cloud.clone()));
                }
            }
            Some("doc") => {
                let joined = match (value.as_str(), batch_doc) {
                    (Some(own), Some(extra)) => Value::Str(Cow::Owned(format!("{own}\n\n{extra}"))),
                    (None, Some(extra)) => Value::string(extra.to_owned()),
                    _ => value.clone(),
                };
                entries.push((key.clone(), joined));
            }
            _ => entries.push((key.clone(), value.clone())),
        }
    }
    if let Some(extra) = batch_doc
        && document.get("doc").is_none()
    {
        entries.push((Value::string("doc"), Value::string(extra.to_owned())));
    }
    Value::Map(entries)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::convert::{Format, emit};

    fn value(text: &str) -> Value<'static> {
        let tree = Box::leak(Box::new(crate::parse::tree(text).unwrap()));
        Value::from_node(tree.root()).unwrap()
    }

    #[test]
    fn job_keeps_doc_cloud_and_empty_outputs() {
        let document = value(
            "redVersion: '9'\ncli: {}\nbatches:\n- inputs: {a: 1}\n  doc: first\n  cloud: {enable: true, mountDir: /m}\n- inputs: {a: 2}\n  outputs: {}\ncontainer: {}\n",
        );
        let batches = list(&document).unwrap();
        let first = emit(&job(&document, &batches[0]), Format::Yaml).unwrap();
        assert_eq!(
            first,
            "redVersion: '9'\ncli: {}\ninputs:\n  a: 1\noutputs: {}\ncloud:\n  enable: true\n  mountDir: /m\ncontainer: {}\ndoc: first\n"
        );
        let second = emit(&job(&document, &batches[1]), Format::Yaml).unwrap();
        assert!(second.contains("inputs:\n  a: 2\noutputs: {}\ncontainer"));
    }

    #[test]
    fn missing_or_malformed_batches() {
        assert_eq!(list(&value("inputs: {}")), Err(Error::NoBatches));
        assert!(matches!(
            list(&value("batches: [1]")),
            Err(Error::Shape { pointer, .. }) if pointer == "/batches/0"
        ));
    }
}
