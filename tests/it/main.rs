//! The integration tests: one binary, one module per area.

mod support;

mod bench;
mod cli;
mod convert;
mod docker;
mod fill;
mod gpus;
mod mount;
mod plan;
mod upgrade;
mod validate;
