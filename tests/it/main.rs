//! The integration tests: one binary, one module per area.

mod support;

mod agency;
mod bench;
mod cli;
mod convert;
mod docker;
mod fill;
mod gpus;
mod kiosk;
mod plan;
mod upgrade;
mod validate;
