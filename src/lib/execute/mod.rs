//! The engine layer: where a filled, planned experiment runs. [`local`] runs every batch here in
//! Docker ([`docker`] is the only code that talks to the daemon), [`agency`] sends the file to a
//! CC-Agency broker and follows it, [`kiosk`] sends files or batches to a DeepCell Kiosk. Each
//! takes what the front door produced, the connectors and one [`Events`] sink, and returns what
//! happened; none prints, none knows the command line. tokio lives here and in the CLI edge only;
//! the stages before `execute` stay synchronous.

pub mod agency;
pub mod docker;
pub mod environment;
pub mod kiosk;
pub mod local;

pub use local::report::{Events, NoEvents};
