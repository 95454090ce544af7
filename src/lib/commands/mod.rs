//! One thin module per subcommand: read arguments, call the library, print, return a status.

pub mod gpus;
pub mod schema;
pub mod validate;
