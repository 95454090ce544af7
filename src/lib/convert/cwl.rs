//! A RED file as CWL v1.0: a CommandLineTool from `cli`, and one job object per job.
//!
//! RED's `cli` is already a CWL v1.0 CommandLineTool in CWL's mapping form, so the tool is the
//! `cli` section as written, minus a `null` `baseCommand` (CWL has no null there), plus
//! `hints: {DockerRequirement: {dockerPull: …}}` when the container is a docker image with a
//! fixed URL, so that `cwltool cli.cwl job.yml` runs in the same image.
//!
//! Job objects hold the job's inputs. RED data lives behind connectors, which CWL does not know,
//! so File and Directory inputs become `{class, location}` where `location` is:
//! - the URL, for `red-connector-http` inputs with a plain `access.url` (cwltool downloads it);
//! - otherwise the relative path `inputs/<name>` (`inputs/<name>/<index>` in arrays), resolved
//!   next to the job file, where the user stages the data.
//!
//! `basename` is kept when the RED file sets it. Connector `access` blocks (which hold
//! credentials) are never copied. Other inputs are copied as written.

use std::borrow::Cow;

use super::{Error, Value};

/// The CWL CommandLineTool for a document's `cli`.
pub fn tool<'a>(document: &Value<'a>) -> Result<Value<'a>, Error> {
    let Some(cli) = document.get("cli") else {
        return Err(Error::NoCli);
    };
    let Value::Map(entries) = cli else {
        return Err(Error::Shape {
            pointer: "/cli".to_owned(),
            expected: "mapping",
            found: cli.type_name(),
        });
    };
    let mut tool: Vec<(Value<'a>, Value<'a>)> = entries
        .iter()
        .filter(|(key, value)| !(key.as_str() == Some("baseCommand") && value.is_null()))
        .cloned()
        .collect();
    if let Some(image) = docker_image(document)
        && !entries
            .iter()
            .any(|(key, _)| matches!(key.as_str(), Some("hints" | "requirements")))
    {
        let pull = Value::Map(vec![(Value::string("dockerPull"), Value::string(image))]);
        let docker = Value::Map(vec![(Value::string("DockerRequirement"), pull)]);
        tool.push((Value::string("hints"), docker));
    }
    Ok(Value::Map(tool))
}

/// The image URL of a docker container section, unless it holds a template variable.
fn docker_image<'a>(document: &Value<'a>) -> Option<Cow<'a, str>> {
    let container = document.get("container")?;
    if container.get("engine")?.as_str()? != "docker" {
        return None;
    }
    let Value::Str(url) = container.get("settings")?.get("image")?.get("url")? else {
        return None;
    };
    (!url.contains("{{")).then(|| url.clone())
}

/// The CWL job object for a job's `inputs` mapping.
pub fn job<'a>(inputs: &Value<'a>) -> Result<Value<'a>, Error> {
    let Value::Map(entries) = inputs else {
        return Err(Error::Shape {
            pointer: "/inputs".to_owned(),
            expected: "mapping",
            found: inputs.type_name(),
        });
    };
    let mut job = Vec::with_capacity(entries.len());
    for (key, value) in entries {
        if value.is_null() {
            continue;
        }
        let name = key.as_str().unwrap_or_default();
        let converted = match value {
            Value::Seq(items) => Value::Seq(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| input(item, &format!("inputs/{name}/{i}")))
                    .collect(),
            ),
            other => input(other, &format!("inputs/{name}")),
        };
        job.push((key.clone(), converted));
    }
    Ok(Value::Map(job))
}

/// One input value: File and Directory objects become CWL objects, the rest is copied.
fn input<'a>(value: &Value<'a>, staged: &str) -> Value<'a> {
    let class = value.get("class").and_then(Value::as_str);
    let Some(class @ ("File" | "Directory")) = class else {
        return value.clone();
    };
    let connector = value.get("connector");
    let url = connector
        .filter(|c| c.get("command").and_then(Value::as_str) == Some("red-connector-http"))
        .and_then(|c| c.get("access")?.get("url")?.as_str())
        .filter(|url| !url.contains("{{"));
    let location = url.map_or_else(|| staged.to_owned(), str::to_owned);
    let mut object = vec![
        (Value::string("class"), Value::string(class.to_owned())),
        (Value::string("location"), Value::string(location)),
    ];
    if let Some(basename) = value.get("basename").filter(|b| b.as_str().is_some()) {
        object.push((Value::string("basename"), basename.clone()));
    }
    Value::Map(object)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::convert::{Format, emit};

    #[test]
    fn tool_and_job() {
        let tree = crate::parse::tree(
            "redVersion: '9'\ncli:\n  cwlVersion: v1.0\n  class: CommandLineTool\n  baseCommand: null\n  inputs: {}\n  outputs: {}\ninputs:\n  n: 1.50\n  f:\n    class: File\n    connector:\n      command: red-connector-http\n      access: {url: 'https://x/y'}\n  d:\n  - class: Directory\n    basename: data\n    connector: {command: red-connector-ssh, access: {password: secret}}\ncontainer:\n  engine: docker\n  settings: {image: {url: 'busybox:1'}}\n",
        )
        .unwrap();
        let document = Value::from_node(tree.root()).unwrap();
        let tool = emit(&tool(&document).unwrap(), Format::Yaml).unwrap();
        assert_eq!(
            tool,
            "cwlVersion: v1.0\nclass: CommandLineTool\ninputs: {}\noutputs: {}\nhints:\n  DockerRequirement:\n    dockerPull: busybox:1\n"
        );
        let job = emit(&job(document.get("inputs").unwrap()).unwrap(), Format::Yaml).unwrap();
        assert_eq!(
            job,
            "n: 1.50\nf:\n  class: File\n  location: https://x/y\nd:\n- class: Directory\n  location: inputs/d/0\n  basename: data\n"
        );
        assert!(!job.contains("secret"));
    }
}
