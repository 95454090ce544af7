//! One thin module per subcommand: read arguments, call the library, print, return a status.

pub mod bench;
pub mod schema;
pub mod validate;
