//! Unit tests of the upgrade rules on small documents.

#![allow(clippy::unwrap_used)]

use super::*;
use crate::convert::{Format, emit};

fn upgrade(text: &str) -> Result<(String, Vec<String>), Error> {
    let tree = crate::parse::tree(text).unwrap();
    let upgraded = document(&tree)?;
    let notes = upgraded
        .notes
        .iter()
        .map(|n| {
            let at = n.location.map(|l| l.to_string()).unwrap_or_default();
            format!("{at} {} {}", n.pointer, n.message)
        })
        .collect();
    Ok((emit(&upgraded.value, Format::Yaml).unwrap(), notes))
}

const RED7: &str = "\
redVersion: '7'
cli:
  cwlVersion: 1.0
  class: CommandLineTool
  baseCommand: run
  inputs: {a: {type: string, inputBinding: {position: 0}}}
  outputs: {}
batches:
- inputs: {a: x, b: null}
container:
  engine: nvidia-docker
  settings:
    image: {url: 'img:1', doc: base image}
    gpus: [{minVram: 4096}, {min_vram: 256, doc: small}]
    ram: 1024
execution:
  engine: ccagency
  settings:
    access: {url: 'https://agency', doc: null}
    retryIfFailed: false
    batchConcurrencyLimit: 3
";

#[test]
fn red7_file() {
    let (text, notes) = upgrade(RED7).unwrap();
    assert_eq!(
        text,
        "redVersion: '9'
cli:
  cwlVersion: v1.0
  class: CommandLineTool
  baseCommand: run
  inputs:
    a:
      type: string
      inputBinding:
        position: 0
  outputs: {}
batches:
- inputs:
    a: x
container:
  engine: docker
  settings:
    image:
      url: img:1
    gpus:
      vendor: nvidia
      devices:
      - vramMin: 4096
      - vramMin: 256
    ram: 1024
execution:
  engine: ccagency
  settings:
    access:
      url: https://agency
    batchConcurrencyLimit: 3
"
    );
    let joined = notes.join("\n");
    assert!(
        joined.contains("9:21 /batches/0/inputs/b removed a `null` value"),
        "{joined}"
    );
    assert!(
        joined.contains("1:13 /redVersion set `redVersion`"),
        "{joined}"
    );
    assert!(joined.contains("3:15 /cli/cwlVersion"), "{joined}");
    assert!(
        joined.contains("/container/engine replaced engine `nvidia-docker`"),
        "{joined}"
    );
    assert!(
        joined.contains("/container/settings/image/doc removed `doc`"),
        "{joined}"
    );
    assert!(joined.contains("removed `retryIfFailed`") && joined.contains("it was `false`"));
}

#[test]
fn docker_requirement_becomes_the_container() {
    let (text, notes) = upgrade(
        "redVersion: '6'\ncli:\n  cwlVersion: v1.0\n  class: CommandLineTool\n  baseCommand: x\n  requirements: {DockerRequirement: {dockerPull: 'img:2'}}\n  inputs: {}\n  outputs: {}\ninputs: {}\n",
    )
    .unwrap();
    assert!(
        text.ends_with("container:\n  engine: docker\n  settings:\n    image:\n      url: img:2\n"),
        "{text}"
    );
    assert!(!text.contains("requirements"));
    assert_eq!(notes.len(), 3, "{notes:?}");
}

#[test]
fn refusals_say_why_and_where() {
    let python = "redVersion: '5'\ncli: {}\ninputs:\n  f:\n    class: File\n    connector: {pyModule: cc_core.connectors.http, pyClass: Http, access: {}}\ncontainer: {}\n";
    match upgrade(python) {
        Err(error @ Error::PythonConnector { .. }) => {
            assert_eq!(error.location(), Some(Location::new(6, 16)));
            assert!(error.to_string().contains("`/inputs/f/connector`"));
            assert!(error.hint().unwrap().contains("red-connector-http"));
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        upgrade("redVersion: '3'\ncli: {}\n"),
        Err(Error::Unsupported { version, location }) if version == "3" && location == Location::new(1, 13)
    ));
    assert_eq!(
        upgrade("redVersion: '6'\ncli: {}\ninputs: {}\n").unwrap_err(),
        Error::NoContainer
    );
    assert_eq!(
        upgrade("redVersion: '8'\ncli: {}\ncontainer: {}\n").unwrap_err(),
        Error::NoJob
    );
    assert_eq!(upgrade("cli: {}\n").unwrap_err(), Error::NoVersion);
}

#[test]
fn red9_is_left_alone() {
    let (text, notes) = upgrade("redVersion: '9'\nz: 1\na: 0x1F\n").unwrap();
    assert_eq!(text, "redVersion: '9'\nz: 1\na: 0x1F\n");
    assert!(notes.is_empty());
}
