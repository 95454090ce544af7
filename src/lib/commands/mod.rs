//! One thin module per subcommand: read arguments, call the library, print, return a status.

pub mod bench;
pub mod cancel;
pub mod compare;
pub mod completions;
pub mod convert;
pub mod exec;
pub mod fill;
pub mod gpus;
pub mod kiosk;
pub mod list;
pub mod lock;
pub mod logs;
pub mod man;
pub mod mount;
pub mod plan;
pub mod schema;
pub mod status;
pub mod submit;
pub mod upgrade;
pub mod validate;
pub mod vars;
