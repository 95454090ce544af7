//! One thin module per subcommand: read arguments, call the library, print, return a status.

pub mod convert;
pub mod schema;
pub mod upgrade;
pub mod validate;
