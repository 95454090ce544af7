//! The integration tests: one binary, one module per area.

mod support;

mod bench;
mod cli;
mod docker;
mod fill;
mod gpus;
mod plan;
mod validate;
