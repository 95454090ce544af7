//! The integration tests: one binary, one module per area.

mod support;

mod agency;
mod architecture;
mod bench;
mod ci;
mod cli;
mod contract;
mod convert;
mod deadlines;
mod docker;
mod errors;
mod events;
mod exec;
mod external;
mod fill;
mod gpus;
mod http;
mod install;
mod keyring;
mod kiosk;
mod kiosk_client;
mod limits;
mod messages;
mod mount;
mod plan;
mod record;
mod rerun;
mod ssh;
mod upgrade;
mod validate;
mod writes;
