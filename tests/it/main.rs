//! The integration tests: one binary, one module per area.

mod support;

mod agency;
mod bench;
mod cli;
mod convert;
mod deadlines;
mod docker;
mod errors;
mod exec;
mod external;
mod fill;
mod gpus;
mod http;
mod keyring;
mod kiosk;
mod limits;
mod messages;
mod mount;
mod plan;
mod ssh;
mod upgrade;
mod validate;
mod writes;
