//! Execution engines: where a planned experiment runs.
//!
//! [`docker`] is the only code that talks to the Docker daemon; [`local`] runs a planned
//! experiment on this machine on top of it (`red exec`: batches, connectors on the host,
//! outputs). Runs on CC-Agency and on a DeepCell Kiosk are driven from `commands/` through the
//! clients in [`crate::agency`] and [`crate::kiosk`]. Tokio lives here, in those clients and at the
//! CLI edge only; the stages before `execute` stay synchronous (docs/architecture.md).

pub mod docker;
pub mod local;
