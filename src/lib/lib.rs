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
//! - [`template`] knows the `{{name}}` placeholders and protected keys and where they may stand;
//!   [`fill`] replaces placeholders with values from files, the environment or a prompt, and
//!   wraps every credential in a [`fill::Secret`].
//! - [`plan`] decides what running each batch does (argv in `cwl` or `cc` mode, container
//!   settings, connector actions, output globs) without doing it.
//! - [`redact`] masks secrets in everything printed; [`output_file`] writes every file a user
//!   names with `-o` (whole or not at all, 0600 when it holds a secret, never replacing a
//!   device); [`run_lock`] makes an outputs directory belong to one run at a time.
//! - [`execute`] runs containers (Docker through bollard); [`gpus`] finds the host's GPUs and
//!   matches a RED file's GPU requirements to them.
//! - [`connector`] moves inputs and outputs (local, http, ssh); [`ssh`] reaches a host through
//!   the system OpenSSH client and [`sftp`] speaks SFTP over it, many requests in flight.
//! - [`agency`] is the client of a CC-Agency broker (`red submit`, `status`, `list`, `cancel`,
//!   `logs`); [`kiosk`] is the client of a DeepCell Kiosk front end (`red kiosk`). Both are async
//!   (reqwest through [`net`]) and have a timeout on every request.
//! - [`bench`] measures data access the way the Curious Containers study did.
//! - [`mount`] is red's own FUSE filesystem over a small `Remote` trait (`red mount`, and the
//!   `mount: true` inputs of `red exec`).
//! - [`cli`] is the edge: argument parsing, output, exit codes. [`commands`] has one thin
//!   module per subcommand.
//!
//! `parse`, `validate`, `template`, `fill`, `plan`, `convert` and `upgrade` are synchronous and
//! pure; tokio lives only in [`execute`], [`agency`], [`kiosk`] and the commands that drive them.
//! `tests/it/architecture.rs` checks that layering, and docs/architecture.md has the module map.

#![warn(clippy::too_many_lines)]

pub mod agency;
pub mod app;
pub mod bench;
pub mod cli;
pub mod commands;
pub mod compare;
pub mod connector;
pub mod convert;
pub mod diagnostic;
pub mod execute;
pub mod fill;
pub mod gpus;
pub mod kiosk;
pub mod load;
pub mod lock;
pub mod mount;
pub mod net;
pub mod output_file;
pub mod parse;
pub mod plan;
pub mod redact;
pub mod run_lock;
pub mod schemas;
pub mod sftp;
pub mod source;
pub mod ssh;
pub mod template;
pub mod tree;
pub mod upgrade;
pub mod validate;
