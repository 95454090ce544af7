//! The integration tests: one binary, one module per area.

mod support;

mod cli;
mod fill;
mod plan;
mod validate;
