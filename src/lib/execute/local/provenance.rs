//! The provenance record of a batch: `ro-crate-metadata.json` in its outputs directory, an
//! RO-Crate 1.1 that follows the Workflow Run RO-Crate "Process Run Crate" profile.
//!
//! The outputs directory is the crate. Its root dataset names the profile (`conformsTo`) and
//! holds the outputs, the RED file (`.red/red.yml` or `.red/red.json`, as written: variables
//! stay `{{templates}}`, and any secret written literally is masked) and the CWL tool
//! (`.red/tool.cwl`). One `CreateAction` is the batch: the tool as `instrument`, the inputs as
//! `object` (described, not copied: they stay where their connectors fetched them from), the
//! outputs as `result`, its times, status, exit code, argv, the image and its digest, the host
//! and `red`'s version. Everything comes from the batch's record (`.red/result.json`), which
//! holds no secret, and from the documents above.
//!
//! Terms the RO-Crate and workflow-run contexts do not define (`exitCode`, the host's facts)
//! are ad hoc terms declared in the crate's own `@context` and described in its graph, as
//! RO-Crate 1.1 asks of ad hoc terms.

use std::fs;
use std::path::Path;

use serde_json::{Value as Json, json};

use super::report::{BatchReport, State};
use crate::convert::{self, Format, Value};
use crate::execute::docker::split_image_reference;
use crate::fill::Filled;
use crate::parse::Parsed;

/// The crate's metadata file, in the outputs directory.
pub const METADATA: &str = "ro-crate-metadata.json";
/// The profile the crate follows.
pub const PROFILE: &str = "https://w3id.org/ro/wfrun/process/0.5";
/// The namespace of `red`'s ad hoc terms.
const TERMS: &str = "urn:red:terms#";
/// Ad hoc terms and what they mean.
const AD_HOC: [(&str, &str); 6] = [
    (
        "exitCode",
        "The exit code of the command run in the container.",
    ),
    ("redVersion", "The version of red that ran the batch."),
    ("kernel", "The host's kernel release."),
    ("cpuCount", "CPUs available on the host."),
    ("gpu", "A GPU handed to the container."),
    ("hostArchitecture", "The host's CPU architecture."),
];

/// What a run's crates copy: the RED file without secrets (for a file with `batches`, each
/// batch's own single-job file, as `red convert batches` writes it, so that 100,000 batches
/// do not each get a copy of the whole file), and its CWL tool.
#[derive(Debug, Clone)]
pub struct Documents {
    /// The document, secrets masked (templates kept), owned.
    document: Value<'static>,
    /// Whether to write it as JSON.
    json: bool,
    /// Masks the filled values of a document that is not a template (standard input).
    redactor: Option<crate::redact::Redactor>,
    /// The CWL CommandLineTool, as JSON.
    tool: String,
}

impl Documents {
    /// From the file as written: its `{{templates}}` kept, literal secrets masked.
    ///
    /// # Errors
    /// When the document cannot be written back (files that parsed and validated can).
    pub fn from_template(template: &Parsed) -> Result<Self, convert::Error> {
        Self::build(template.tree.root(), template.json, None)
    }

    /// From the filled document, for a file that cannot be read again (standard input): every
    /// secret is masked.
    ///
    /// # Errors
    /// As [`Documents::from_template`].
    pub fn from_filled(filled: &Filled) -> Result<Self, convert::Error> {
        Self::build(
            filled.tree().root(),
            filled.is_json(),
            Some(filled.redactor().clone()),
        )
    }

    fn build(
        root: crate::tree::NodeRef<'_>,
        json: bool,
        redactor: Option<crate::redact::Redactor>,
    ) -> Result<Self, convert::Error> {
        let mut document = convert::value(root)?;
        mask_secrets(&mut document, false);
        let mut tool = convert::emit(&convert::cwl::tool(&document)?, Format::Json { indent: 2 })?;
        if let Some(redactor) = &redactor {
            tool = redactor.redact(&tool).into_owned();
        }
        Ok(Self {
            document: owned(&document),
            json,
            redactor,
            tool,
        })
    }

    /// The name of the copy of the RED file in the records directory.
    #[must_use]
    pub fn red_name(&self) -> &'static str {
        if self.json { "red.json" } else { "red.yml" }
    }

    /// The text of the RED file that batch `index` ran: the file itself for a single job,
    /// else that batch's single-job file.
    ///
    /// # Errors
    /// When the document cannot be written back.
    pub fn red(&self, index: usize) -> Result<String, convert::Error> {
        let format = if self.json {
            Format::Json { indent: 2 }
        } else {
            Format::Yaml
        };
        let text = match convert::batches::list(&self.document) {
            Ok(batches) => match batches.get(index) {
                Some(batch) => {
                    convert::emit(&convert::batches::job(&self.document, batch), format)?
                }
                None => convert::emit(&self.document, format)?,
            },
            Err(_) => convert::emit(&self.document, format)?,
        };
        Ok(match &self.redactor {
            Some(redactor) => redactor.redact(&text).into_owned(),
            None => text,
        })
    }

    /// The CWL tool, as JSON.
    #[must_use]
    pub fn tool(&self) -> &str {
        &self.tool
    }
}

/// A value that owns all its text.
fn owned(value: &Value<'_>) -> Value<'static> {
    let text = |t: &std::borrow::Cow<'_, str>| std::borrow::Cow::Owned(t.to_string());
    match value {
        Value::Null => Value::Null,
        Value::Bool(flag) => Value::Bool(*flag),
        Value::Int(t) => Value::Int(text(t)),
        Value::Float(t) => Value::Float(text(t)),
        Value::Str(t) => Value::Str(text(t)),
        Value::Timestamp(t) => Value::Timestamp(text(t)),
        Value::Binary(t) => Value::Binary(text(t)),
        Value::Seq(items) => Value::Seq(items.iter().map(owned).collect()),
        Value::Map(entries) => Value::Map(
            entries
                .iter()
                .map(|(key, item)| (owned(key), owned(item)))
                .collect(),
        ),
        Value::Foreign => Value::Foreign,
    }
}

/// Mask every value under a secret key that is not a whole `{{template}}`.
fn mask_secrets(value: &mut Value<'_>, protected: bool) {
    match value {
        Value::Map(entries) => {
            for (key, item) in entries {
                let secret = key.as_str().is_some_and(crate::connector::is_secret_key);
                mask_secrets(item, protected || secret);
            }
        }
        Value::Seq(items) => items
            .iter_mut()
            .for_each(|item| mask_secrets(item, protected)),
        Value::Str(text) if protected && is_template(text) => {}
        _ if protected => *value = Value::string(crate::plan::MASK),
        _ => {}
    }
}

/// `{{name}}` and nothing else.
fn is_template(text: &str) -> bool {
    text.strip_prefix("{{")
        .and_then(|rest| rest.strip_suffix("}}"))
        .is_some_and(|inner| !inner.contains("{{") && !inner.contains("}}"))
}

/// Write the documents into `<out>/.red/` and the crate into `<out>/ro-crate-metadata.json`.
///
/// # Errors
/// A message naming the file that could not be written.
pub(crate) fn write(
    out_dir: &Path,
    report: &BatchReport,
    documents: Option<&Documents>,
) -> Result<(), String> {
    let records = out_dir.join(super::RECORDS_DIR);
    let put = |path: &Path, text: &[u8]| {
        fs::write(path, text).map_err(|e| format!("cannot write `{}`: {e}", path.display()))
    };
    if let Some(documents) = documents {
        let red = documents.red(report.batch).map_err(|e| {
            format!(
                "cannot write the RED file into `{}`: {e}",
                records.display()
            )
        })?;
        put(&records.join(documents.red_name()), red.as_bytes())?;
        put(&records.join("tool.cwl"), documents.tool().as_bytes())?;
    }
    let metadata = crate_of(report, documents);
    let mut text = serde_json::to_vec_pretty(&metadata).map_err(|e| e.to_string())?;
    text.push(b'\n');
    put(&out_dir.join(METADATA), &text)
}

/// The crate's `@graph` entities for one batch.
#[must_use]
pub fn crate_of(report: &BatchReport, documents: Option<&Documents>) -> Json {
    let action_id = format!("#batch-{}", report.batch);
    let tool_id = documents.map_or("#tool".to_owned(), |_| {
        format!("{}/tool.cwl", super::RECORDS_DIR)
    });
    let mut graph = vec![
        json!({
            "@id": METADATA,
            "@type": "CreativeWork",
            "conformsTo": {"@id": "https://w3id.org/ro/crate/1.1"},
            "about": {"@id": "./"},
        }),
        json!({
            "@id": PROFILE,
            "@type": "CreativeWork",
            "name": "Process Run Crate",
            "version": "0.5",
        }),
    ];
    let mut parts = Vec::new();
    graph.push(tool_entity(report, documents, &tool_id));
    if let Some(documents) = documents {
        let id = format!("{}/{}", super::RECORDS_DIR, documents.red_name());
        parts.push(json!({"@id": tool_id}));
        parts.push(json!({"@id": id}));
        graph.push(json!({
            "@id": id,
            "@type": "File",
            "name": "The RED file, variables as written",
            "encodingFormat": if documents.json { "application/json" } else { "application/yaml" },
        }));
    }
    let inputs = input_entities(report);
    let outputs = output_entities(report);
    for output in &outputs {
        if output["@id"]
            .as_str()
            .is_some_and(|id| !id.starts_with('#'))
        {
            parts.push(json!({"@id": output["@id"]}));
        }
    }
    graph.push(action(report, &action_id, &tool_id, &inputs, &outputs));
    graph.push(json!({
        "@id": "#license",
        "@type": "CreativeWork",
        "name": "No license stated",
        "description": "A RED file states no license for the outputs of its experiment: ask whoever ran it before reusing them.",
    }));
    graph.push(image_entity(report));
    graph.push(host_entity(report));
    graph.extend(inputs);
    graph.extend(outputs);
    graph.extend(AD_HOC.iter().map(|(term, comment)| {
        json!({"@id": format!("{TERMS}{term}"), "@type": "rdf:Property", "rdfs:label": term, "rdfs:comment": comment})
    }));
    graph.insert(1, root_dataset(report, parts, &action_id));
    let mut terms = serde_json::Map::new();
    for (term, _) in AD_HOC {
        terms.insert(term.to_owned(), format!("{TERMS}{term}").into());
    }
    json!({
        "@context": [
            "https://w3id.org/ro/crate/1.1/context",
            "https://w3id.org/ro/terms/workflow-run/context",
            terms,
        ],
        "@graph": graph,
    })
}

fn root_dataset(report: &BatchReport, parts: Vec<Json>, action_id: &str) -> Json {
    json!({
        "@id": "./",
        "@type": "Dataset",
        "name": format!("Outputs of batch {} run by red", report.batch),
        "description": "The outputs of one batch of a RED experiment and the record of how it ran.",
        "datePublished": report.setup.end_time.clone().unwrap_or_default(),
        "conformsTo": {"@id": PROFILE},
        "license": {"@id": "#license"},
        "hasPart": parts,
        "mentions": {"@id": action_id},
    })
}

fn tool_entity(report: &BatchReport, documents: Option<&Documents>, id: &str) -> Json {
    let name = report.command.first().cloned().unwrap_or_default();
    let mut tool = json!({
        "@id": id,
        "@type": "SoftwareApplication",
        "name": format!("{name} (the RED file's CommandLineTool)"),
    });
    if documents.is_some() {
        tool["@type"] = json!(["File", "SoftwareApplication"]);
        tool["encodingFormat"] = "application/json".into();
    }
    tool
}

fn action(report: &BatchReport, id: &str, tool: &str, inputs: &[Json], outputs: &[Json]) -> Json {
    let ids = |entities: &[Json]| -> Vec<Json> {
        entities.iter().map(|e| json!({"@id": e["@id"]})).collect()
    };
    let status = if report.state == State::Succeeded {
        "http://schema.org/CompletedActionStatus"
    } else {
        "http://schema.org/FailedActionStatus"
    };
    let mut action = json!({
        "@id": id,
        "@type": "CreateAction",
        "name": format!("Batch {} of a RED experiment", report.batch),
        "description": shell_words(&report.command),
        "instrument": {"@id": tool},
        "object": ids(inputs),
        "result": ids(outputs),
        "actionStatus": {"@id": status},
        "containerImage": {"@id": "#image"},
        "exitCode": report.exit_code,
        "redVersion": report.setup.red_version,
        "location": {"@id": "#host"},
    });
    for (key, value) in [
        ("startTime", &report.setup.start_time),
        ("endTime", &report.setup.end_time),
    ] {
        if let Some(time) = value {
            action[key] = time.clone().into();
        }
    }
    if let Some(error) = &report.error
        && report.state != State::Succeeded
    {
        action["error"] = error.clone().into();
    }
    action
}

fn image_entity(report: &BatchReport) -> Json {
    let facts = report.setup.image.clone().unwrap_or_default();
    let (name, tag) = split_image_reference(&facts.reference);
    let digest = facts.digest();
    let mut image = json!({
        "@id": "#image",
        "@type": "ContainerImage",
        "additionalType": {"@id": "https://w3id.org/ro/terms/workflow-run#DockerImage"},
        "name": name,
        "identifier": facts.reference,
    });
    if !tag.starts_with("sha256:") {
        image["tag"] = tag.into();
    }
    if let Some(hex) = digest.strip_prefix("sha256:") {
        image["sha256"] = hex.into();
    }
    if let Some(registry) = crate::execute::docker::registry_host(&facts.reference) {
        image["registry"] = registry.into();
    }
    image
}

fn host_entity(report: &BatchReport) -> Json {
    let host = report.setup.host.clone().unwrap_or_default();
    json!({
        "@id": "#host",
        "@type": "Place",
        "name": "The host the batch ran on",
        "description": format!("{} {} ({})", host.os, host.kernel, host.arch),
        "kernel": host.kernel,
        "hostArchitecture": host.arch,
        "cpuCount": host.cpus,
        "gpu": host.gpus,
    })
}

fn input_entities(report: &BatchReport) -> Vec<Json> {
    report
        .inputs
        .iter()
        .map(|input| {
            let directory = input.action != "receive-file";
            let mut entity = json!({
                "@id": format!("#input-{}", input.name),
                "@type": if directory { "Dataset" } else { "File" },
                "name": input.name,
                "description": format!("fetched by {} to {}", input.connector, input.path),
                "alternateName": input.path,
                "contentSize": input.bytes.to_string(),
            });
            if let Some(sha256) = &input.sha256 {
                entity["sha256"] = sha256.clone().into();
            }
            entity
        })
        .collect()
}

fn output_entities(report: &BatchReport) -> Vec<Json> {
    let root = Path::new(&report.output_dir);
    report
        .outputs
        .iter()
        .map(|output| {
            let inside = Path::new(&output.delivered)
                .strip_prefix(root)
                .ok()
                .map(|p| p.display().to_string());
            let directory = output.class == "Directory";
            let id = match inside {
                Some(path) if directory => format!("{path}/"),
                Some(path) => path,
                None => format!("#output-{}", output.name),
            };
            let mut entity = json!({
                "@id": id,
                "@type": if directory { "Dataset" } else { "File" },
                "name": output.name,
                "description": format!("output `{}`: {}", output.name, output.delivered),
            });
            if let Some(size) = output.size {
                entity["contentSize"] = size.to_string().into();
            }
            if let Some(sha256) = &output.sha256 {
                entity["sha256"] = sha256.clone().into();
            }
            entity
        })
        .collect()
}

/// The argv as one line a POSIX shell would split back into it.
fn shell_words(argv: &[String]) -> String {
    argv.iter()
        .map(|word| {
            if !word.is_empty()
                && word
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b))
            {
                word.clone()
            } else {
                format!("'{}'", word.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::execute::local::facts::{HostFacts, ImageFacts, Setup};
    use crate::execute::local::report::{InputReport, OutputReport};

    const CANARY: &str = "canary-literal-secret";

    fn template() -> Parsed {
        let text = format!(
            "redVersion: '9'\ncli:\n  cwlVersion: v1.0\n  class: CommandLineTool\n  baseCommand: [cat]\n  inputs: {{}}\n  outputs: {{}}\ninputs:\n  a:\n    class: File\n    connector:\n      command: red-connector-http\n      access:\n        url: http://h/x\n        auth:\n          username: '{{{{user}}}}'\n          password: {CANARY}\n        _token: '{{{{token}}}}'\ncontainer:\n  engine: docker\n  settings:\n    image:\n      url: busybox:1\n"
        );
        crate::parse::document(crate::source::SourceFile::new(
            crate::source::Origin::Memory("t.yml".into()),
            text,
        ))
        .unwrap()
    }

    fn report() -> BatchReport {
        let mut report =
            BatchReport::skipped(0, vec!["cat".into(), "a b".into()], "out".into(), "");
        report.state = State::Succeeded;
        report.error = None;
        report.exit_code = Some(0);
        report.inputs.push(InputReport {
            name: "a".into(),
            connector: "red-connector-http".into(),
            path: "/cc/inputs/x/a".into(),
            action: "receive-file",
            bytes: 3,
            transferred: 3,
            sha256: Some("cd".into()),
            seconds: 0.1,
        });
        report.outputs.push(OutputReport {
            name: "o".into(),
            class: "File",
            path: Some("o.txt".into()),
            size: Some(2),
            sha256: Some("ab".into()),
            files: None,
            delivered: "out/o.txt".into(),
            skipped: Vec::new(),
        });
        report.setup = Setup {
            start_time: Some("2026-01-01T00:00:00.000Z".into()),
            end_time: Some("2026-01-01T00:00:01.000Z".into()),
            image: Some(ImageFacts {
                reference: "busybox:1".into(),
                id: Some("sha256:11".into()),
                repo_digests: vec!["busybox@sha256:22".into()],
            }),
            host: Some(HostFacts::here(None)),
            red_version: "9.9.9".into(),
        };
        report
    }

    fn entity<'j>(graph: &'j [Json], id: &str) -> &'j Json {
        graph
            .iter()
            .find(|e| e["@id"] == id)
            .unwrap_or_else(|| panic!("no entity {id}"))
    }

    #[test]
    fn the_crate_has_what_the_profile_requires() {
        let documents = Documents::from_template(&template()).unwrap();
        let metadata = crate_of(&report(), Some(&documents));
        let graph = metadata["@graph"].as_array().unwrap();
        let descriptor = entity(graph, METADATA);
        assert_eq!(
            descriptor["conformsTo"]["@id"],
            "https://w3id.org/ro/crate/1.1"
        );
        assert_eq!(descriptor["about"]["@id"], "./");
        let root = entity(graph, "./");
        assert_eq!(root["@type"], "Dataset");
        assert_eq!(root["conformsTo"]["@id"], PROFILE);
        assert_eq!(entity(graph, PROFILE)["@type"], "CreativeWork");
        // RO-Crate 1.1 requires a license on the root.
        assert_eq!(
            entity(graph, root["license"]["@id"].as_str().unwrap())["@type"],
            "CreativeWork"
        );
        let action = entity(graph, root["mentions"]["@id"].as_str().unwrap());
        assert_eq!(action["@type"], "CreateAction");
        let tool = entity(graph, action["instrument"]["@id"].as_str().unwrap());
        assert!(tool["@type"].to_string().contains("SoftwareApplication"));
        assert_eq!(action["exitCode"], 0);
        assert_eq!(action["description"], "cat 'a b'");
        assert_eq!(action["startTime"], "2026-01-01T00:00:00.000Z");
        assert_eq!(
            action["actionStatus"]["@id"],
            "http://schema.org/CompletedActionStatus"
        );
        let output = entity(graph, action["result"][0]["@id"].as_str().unwrap());
        assert_eq!(output["@id"], "o.txt");
        assert_eq!(output["sha256"], "ab");
        let input = entity(graph, action["object"][0]["@id"].as_str().unwrap());
        assert_eq!(input["sha256"], "cd");
        assert!(root["hasPart"].to_string().contains("o.txt"));
        let image = entity(graph, "#image");
        assert_eq!(image["sha256"], "22");
        assert_eq!(image["tag"], "1");
        // Every ad hoc term is in the context and described.
        for (term, _) in AD_HOC {
            assert!(metadata["@context"][2][term].is_string(), "{term}");
            entity(graph, &format!("{TERMS}{term}"));
        }
    }

    #[test]
    fn the_copied_file_keeps_templates_and_masks_literal_secrets() {
        let documents = Documents::from_template(&template()).unwrap();
        let red = documents.red(0).unwrap();
        assert!(!red.contains(CANARY), "{red}");
        assert!(red.contains("{{user}}"), "{red}");
        assert!(red.contains("{{token}}"), "{red}");
        assert!(red.contains(crate::plan::MASK));
        assert!(documents.tool().contains("CommandLineTool"));
        assert!(!documents.tool().contains(CANARY));
        let metadata = crate_of(&report(), Some(&documents)).to_string();
        assert!(!metadata.contains(CANARY));
    }

    #[test]
    fn each_batch_gets_its_own_single_job_file() {
        let text = "redVersion: '9'\ncli:\n  cwlVersion: v1.0\n  class: CommandLineTool\n  baseCommand: [cat]\n  inputs: {}\n  outputs: {}\nbatches:\n- inputs: {first: one}\n- inputs: {second: two}\n";
        let template = crate::parse::document(crate::source::SourceFile::new(
            crate::source::Origin::Memory("b.yml".into()),
            text.to_owned(),
        ))
        .unwrap();
        let documents = Documents::from_template(&template).unwrap();
        let second = documents.red(1).unwrap();
        assert!(second.contains("second: two"), "{second}");
        assert!(
            !second.contains("first") && !second.contains("batches"),
            "{second}"
        );
    }

    #[test]
    fn a_failed_batch_says_so() {
        let mut failed = report();
        failed.state = State::Failed;
        failed.exit_code = Some(3);
        failed.error = Some("the command exited with code 3".into());
        let metadata = crate_of(&failed, None);
        let graph = metadata["@graph"].as_array().unwrap();
        let action = entity(graph, "#batch-0");
        assert_eq!(
            action["actionStatus"]["@id"],
            "http://schema.org/FailedActionStatus"
        );
        assert_eq!(action["exitCode"], 3);
        assert_eq!(action["error"], "the command exited with code 3");
        assert_eq!(entity(graph, "#tool")["@type"], "SoftwareApplication");
    }
}
