//! Execution engines: where a planned experiment runs.
//!
//! So far this holds [`docker`], local containers through the Docker Engine API. The orchestration
//! of `red exec` (batches, connectors on the host, outputs) builds on it. Per DESIGN.md, tokio
//! lives here and in the CLI edge only; the stages before `execute` stay synchronous.

pub mod docker;
pub mod environment;
pub mod local;
