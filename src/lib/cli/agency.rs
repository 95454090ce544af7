//! What the CC-Agency commands share: where URL, user and password come from (the flags are
//! [`super::args::AgencyArgs`]), how a client error is shown, and the batch table.
//!
//! Order of the sources (docs/remote.md): a flag, then the RED file's access block (`red
//! submit`), then `RED_AGENCY_URL` / `RED_AGENCY_USER` / `RED_AGENCY_PASSWORD`, then the config
//! file, then (password only) a hidden prompt on a terminal. There is no password flag.

use std::path::PathBuf;

use super::args::AgencyArgs;
use super::{ExitStatus, Failure, Printer};
use crate::agency::{self, Client, Credentials, config};
use crate::fill::Secret;

/// What a RED file's access block gives (`red submit`); empty for the other commands.
pub(crate) type FileAccess = agency::check::Access;

/// The config file's path.
fn config_path(args: &AgencyArgs) -> Option<PathBuf> {
    if let Some(path) = &args.config {
        return Some(path.clone());
    }
    if let Some(path) = std::env::var_os("RED_AGENCY_CONFIG") {
        return Some(PathBuf::from(path));
    }
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".config")))?;
    Some(base.join("red").join("agency.json"))
}

fn env_text(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Make a client from the flags, the file's access block, the environment, the config file
/// and, for a missing password, a prompt. Every password is registered with the printer.
pub(crate) fn client(
    args: &AgencyArgs,
    file: FileAccess,
    printer: &Printer,
) -> anyhow::Result<Client> {
    let config_file = config_path(args);
    let config = match &config_file {
        Some(path) => config::load(path)?,
        None => config::Config::default(),
    };
    let where_to = || match &config_file {
        Some(path) => format!("the config file `{}`", path.display()),
        None => "a config file (`--config`)".to_owned(),
    };
    let url = args
        .url
        .clone()
        .or(file.url)
        .or_else(|| env_text("RED_AGENCY_URL"))
        .or(config.url);
    let Some(url) = url else {
        return Err(crate::cli::usage(format!(
            "no CC-Agency URL: give `--url`, set `RED_AGENCY_URL`, or put `url` in {}",
            where_to()
        )));
    };
    let file_user = file.username.clone();
    let username = args
        .user
        .clone()
        .or(file.username)
        .or_else(|| env_text("RED_AGENCY_USER"))
        .or(config.username);
    let Some(username) = username else {
        return Err(crate::cli::usage(format!(
            "no CC-Agency user: give `--user`, set `RED_AGENCY_USER`, or put `username` in {}",
            where_to()
        )));
    };
    // The file's password belongs to the file's user only.
    let file_password = file
        .password
        .filter(|_| file_user.as_deref() == Some(&username));
    let password = match file_password
        .or_else(|| env_text("RED_AGENCY_PASSWORD").map(Secret::new))
        .or(config.password)
    {
        Some(password) => password,
        None => prompt(&username, &url, &where_to())?,
    };
    printer.protect([password.expose()]);
    let timeout = args.request_timeout;
    Ok(Client::new(
        &url,
        Credentials { username, password },
        timeout,
    )?)
}

fn prompt(username: &str, url: &str, config: &str) -> anyhow::Result<Secret> {
    if !crate::fill::sources::terminal_available() {
        return Err(crate::cli::usage(format!(
            "no password for `{username}`: set `RED_AGENCY_PASSWORD` or put `password` in {config} \
             (mode 0600); there is no terminal to ask on"
        )));
    }
    let term = dialoguer::console::Term::stderr();
    let value = dialoguer::Password::new()
        .with_prompt(format!("password of `{username}` at {url} (hidden)"))
        .interact_on(&term)
        .map_err(|dialoguer::Error::IO(error)| error)?;
    Ok(Secret::new(value))
}

/// Show a client error with its hint; a rejected request is the input's fault (1), anything
/// else the infrastructure's (2).
pub(crate) fn fail(printer: &Printer, error: &agency::Error) -> ExitStatus {
    let status = match error {
        agency::Error::BadRequest { .. } | agency::Error::Id(_) => ExitStatus::Failure,
        _ => ExitStatus::Error,
    };
    printer.fail(&Failure::new("agency", error.to_string(), status).hint(error.hint()))
}

/// Show a unix time as UTC `YYYY-MM-DD HH:MM:SS`.
#[must_use]
pub(crate) fn utc(seconds: f64) -> String {
    if !seconds.is_finite() || seconds < 0.0 {
        return "-".to_owned();
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let time = std::time::UNIX_EPOCH + std::time::Duration::from_secs(seconds as u64);
    // `2026-12-07T06:43:53.120Z` to `2026-12-07 06:43:53`.
    let stamp = crate::execute::local::facts::timestamp(time);
    stamp.get(..19).unwrap_or(&stamp).replacen('T', " ", 1)
}

/// One batch as a table line: index, id, state, node, experiment.
pub(crate) fn batch_line(batch: &agency::Batch) -> String {
    format!(
        "{:>5}  {}  {:<10}  {:<12}  {}  {}\n",
        batch.index,
        batch.id,
        batch.state.as_str(),
        batch.node.as_deref().unwrap_or("-"),
        batch.experiment_id,
        utc(batch.registration_time),
    )
}

/// The header of [`batch_line`] tables.
pub(crate) const BATCH_HEADER: &str = "index  batch                     state       node          experiment                registered (UTC)\n";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates() {
        assert_eq!(utc(0.0), "1970-01-01 00:00:00");
        assert_eq!(utc(1_795_329_720.26), "2026-11-22 06:42:00");
        assert_eq!(utc(951_782_400.0), "2000-02-29 00:00:00");
        assert_eq!(utc(-1.0), "-");
    }
}
