//! `red`: validate, fill, plan and run Reproducible Experiment Descriptions (RED files).
//!
//! A RED file travels down one pipeline, and each stage returns its own type so that a later
//! stage cannot be handed an earlier stage's output:
//!
//! ```text
//! text ─► source::SourceFile ─► parse::document ─► Parsed ─► validate::document ─► Validated
//!      ─► fill ─► Filled ─► plan ─► Plan ─► execute ─► report
//! ```
//!
//! - [`source`] holds file text and positions; [`parse`] turns YAML or JSON into a located,
//!   ordered [`tree`]; [`validate`] applies the RED 9 schemas ([`schemas`]) and the semantic rules
//!   of the reference validator, reporting every problem as a [`diagnostic::Diagnostic`].
//! - [`convert`] and [`upgrade`] rewrite documents (format, batches, CWL; RED 5–8 to 9).
//! - [`redact`] masks secrets in everything printed.
//! - [`cli`] is the edge: argument parsing, output, exit codes. [`commands`] has one thin
//!   module per subcommand.
//!
//! `parse`, `validate`, `convert` and `upgrade` are synchronous and do no I/O beyond what they
//! are given.

pub mod bench;
pub mod cli;
pub mod commands;
pub mod convert;
pub mod diagnostic;
pub mod load;
pub mod parse;
pub mod redact;
pub mod schemas;
pub mod source;
pub mod tree;
pub mod upgrade;
pub mod validate;
