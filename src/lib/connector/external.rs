//! External connectors: any `command` that is not built in, run as a host process speaking the
//! reference's CLI-1 protocol (docs/connectors.md, "External connectors").
//!
//! Per command and run, `cli-version` is asked once (it must print exactly one line, `1` or
//! `0.1`). [`Connector::check`] runs `<operation>-validate`, each operation its subcommand:
//!
//! ```text
//! receive-file ACCESS LOCALFILE            send-file ACCESS LOCALFILE
//! receive-dir  ACCESS LOCALDIR [--listing=LISTING]
//! send-dir     ACCESS LOCALDIR [--listing=LISTING]
//! mount-dir    ACCESS LOCALDIR             umount-dir LOCALDIR
//! ```
//!
//! ACCESS and LISTING are JSON files created with mode 0600 in a private 0700 directory under
//! the temporary directory, and removed as soon as the call returns. Secrets are never on the
//! connector's command line or in its environment (`RED_VAR_*` variables, which may hold values
//! for `--env`, are removed from it). Exit code 0 is success; otherwise the error shows the exit
//! code or signal and the connector's stderr (stdout when stderr is empty), with every secret of
//! the access block masked. Every call has a timeout ([`Timeouts`]); a call that runs past it,
//! or a cancelled run, kills the connector's whole process group.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs::{self, DirBuilder, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{Access, Connector, ConnectorError, Context, Listing, Mounted, Operation, Received};
use crate::redact::Redactor;
use crate::template::is_protected_key;

/// How long a call may run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// `cli-version`, the `*-validate` calls and `umount-dir`: 120 seconds by default.
    pub check: Duration,
    /// The transfers (`receive-*`, `send-*`, `mount-dir`): 6 hours by default.
    pub transfer: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            check: Duration::from_secs(120),
            transfer: Duration::from_secs(6 * 3600),
        }
    }
}

/// The most of a connector's stdout and stderr kept for messages (each).
const KEPT_OUTPUT: usize = 64 * 1024;

/// An external connector: a program found on `PATH` (or an absolute path).
#[derive(Debug, Clone)]
pub struct External {
    command: String,
    program: PathBuf,
    timeouts: Timeouts,
}

/// The program `command` names: an absolute path to an executable file, or a name found in a
/// directory of `PATH`. `None` when there is none.
#[must_use]
pub fn find(command: &str) -> Option<PathBuf> {
    if command.is_empty() || command.contains('\0') {
        return None;
    }
    if command.contains('/') {
        let path = Path::new(command);
        return (path.is_absolute() && executable(path)).then(|| path.to_path_buf());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .filter(|dir| dir.is_absolute())
        .map(|dir| dir.join(command))
        .find(|candidate| executable(candidate))
}

fn executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// What `cli-version` said, per program, for the life of the process (one run).
fn versions() -> &'static Mutex<HashMap<PathBuf, Result<(), String>>> {
    static VERSIONS: OnceLock<Mutex<HashMap<PathBuf, Result<(), String>>>> = OnceLock::new();
    VERSIONS.get_or_init(|| Mutex::new(HashMap::new()))
}

/// A finished call.
struct Finished {
    code: Option<i32>,
    signal: Option<i32>,
    stdout: String,
    stderr: String,
}

/// A private directory for one call's ACCESS and LISTING files; removed on drop.
struct Scratch {
    dir: PathBuf,
}

impl Scratch {
    fn new() -> Result<Self, ConnectorError> {
        let dir = std::env::temp_dir().join(format!(
            "red-connector-{}",
            uuid::Uuid::new_v4().as_simple()
        ));
        DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(|e| ConnectorError::io(format!("cannot create `{}`", dir.display()), e))?;
        Ok(Self { dir })
    }

    /// Write `value` as JSON to a fresh 0600 file named `name`.
    fn json(&self, name: &str, value: &Value) -> Result<PathBuf, ConnectorError> {
        let path = self.dir.join(name);
        let text = serde_json::to_vec(value)
            .map_err(|e| ConnectorError::Content(format!("cannot write `{name}` as JSON: {e}")))?;
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| ConnectorError::io(format!("cannot create `{}`", path.display()), e))?;
        file.write_all(&text)
            .map_err(|e| ConnectorError::io(format!("cannot write `{}`", path.display()), e))?;
        Ok(path)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Every string under a protected key of the access block (what messages must never show).
fn secrets(value: &Value, protected: bool, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, item) in map {
                secrets(item, protected || is_protected_key(key), out);
            }
        }
        Value::Array(items) => items.iter().for_each(|item| secrets(item, protected, out)),
        Value::String(text) if protected => out.push(text.clone()),
        Value::Number(number) if protected => out.push(number.to_string()),
        _ => {}
    }
}

fn redactor(access: Option<&Access>) -> Redactor {
    let mut found = Vec::new();
    if let Some(access) = access {
        secrets(access.value(), false, &mut found);
    }
    Redactor::new(found)
}

/// The variables of red's environment a connector must not see: `RED_VAR_*`, which may hold
/// values (secrets among them) for `--env`.
fn hidden(names: impl Iterator<Item = OsString>) -> Vec<OsString> {
    names
        .filter(|name| {
            name.to_str()
                .is_some_and(|n| n.starts_with(crate::fill::sources::ENV_PREFIX))
        })
        .collect()
}

/// Read a pipe to its end, keeping the first [`KEPT_OUTPUT`] bytes.
fn drain(mut pipe: impl Read + Send + 'static) -> (Arc<Mutex<Vec<u8>>>, JoinHandle<()>) {
    let kept = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&kept);
    let handle = std::thread::spawn(move || {
        let mut buffer = [0u8; 8192];
        while let Ok(read) = pipe.read(&mut buffer) {
            if read == 0 {
                break;
            }
            if let Ok(mut kept) = sink.lock()
                && kept.len() < KEPT_OUTPUT
            {
                let room = KEPT_OUTPUT - kept.len();
                kept.extend_from_slice(buffer.get(..read.min(room)).unwrap_or_default());
            }
        }
    });
    (kept, handle)
}

fn taken(kept: &Arc<Mutex<Vec<u8>>>) -> String {
    kept.lock()
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_default()
}

fn kill_group(child: &Child) {
    let _ = rustix::process::kill_process_group(
        rustix::process::Pid::from_child(child),
        rustix::process::Signal::KILL,
    );
}

impl External {
    /// The connector for `command`, run from `program`, with the default timeouts.
    #[must_use]
    pub fn new(command: impl Into<String>, program: PathBuf) -> Self {
        Self {
            command: command.into(),
            program,
            timeouts: Timeouts::default(),
        }
    }

    /// The connector for `command` when a program by that name is found (see [`find`]).
    ///
    /// # Errors
    /// [`ConnectorError::Unknown`] when there is none.
    pub fn lookup(command: &str) -> Result<Self, ConnectorError> {
        find(command)
            .map(|program| Self::new(command, program))
            .ok_or_else(|| ConnectorError::Unknown {
                command: command.to_owned(),
            })
    }

    /// The same connector with other timeouts.
    #[must_use]
    pub fn with_timeouts(mut self, timeouts: Timeouts) -> Self {
        self.timeouts = timeouts;
        self
    }

    /// The program that runs.
    #[must_use]
    pub fn program(&self) -> &Path {
        &self.program
    }

    /// Run the program with `args`, waiting at most `timeout`; stops early when `context` says
    /// the run is cancelled.
    fn run(
        &self,
        args: &[OsString],
        timeout: Duration,
        context: Option<&Context>,
    ) -> Result<Finished, ConnectorError> {
        let mut command = Command::new(&self.program);
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group, so a timeout or Ctrl-C ends its children too.
            .process_group(0);
        for name in hidden(std::env::vars_os().map(|(name, _)| name)) {
            command.env_remove(name);
        }
        let mut child = command.spawn().map_err(|e| {
            ConnectorError::io(format!("cannot run `{}`", self.program.display()), e)
        })?;
        let (stdout, out_reader) = match child.stdout.take() {
            Some(pipe) => {
                let (kept, handle) = drain(pipe);
                (kept, Some(handle))
            }
            None => (Arc::default(), None),
        };
        let (stderr, err_reader) = match child.stderr.take() {
            Some(pipe) => {
                let (kept, handle) = drain(pipe);
                (kept, Some(handle))
            }
            None => (Arc::default(), None),
        };
        let started = Instant::now();
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) => {}
                Err(e) => {
                    kill_group(&child);
                    let _ = child.wait();
                    return Err(ConnectorError::io(
                        format!("cannot wait for `{}`", self.command),
                        e,
                    ));
                }
            }
            if context.is_some_and(Context::stopped) {
                kill_group(&child);
                let _ = child.wait();
                return Err(ConnectorError::Cancelled);
            }
            if started.elapsed() >= timeout {
                kill_group(&child);
                let _ = child.wait();
                return Err(ConnectorError::Remote(format!(
                    "`{} {}` did not finish within {} s and was stopped",
                    self.command,
                    args.first()
                        .map(|a| a.to_string_lossy())
                        .unwrap_or_default(),
                    timeout.as_secs()
                )));
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        // A connector may leave a daemon holding the pipes (a FUSE mount): wait for the
        // readers only briefly.
        let deadline = Instant::now() + Duration::from_secs(2);
        for reader in [out_reader, err_reader].into_iter().flatten() {
            while !reader.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            if reader.is_finished() {
                let _ = reader.join();
            }
        }
        Ok(Finished {
            code: status.code(),
            signal: status.signal(),
            stdout: taken(&stdout),
            stderr: taken(&stderr),
        })
    }

    /// The error for a failed call: what was asked, how it ended, what it said (masked).
    fn failure(
        &self,
        subcommand: &str,
        finished: &Finished,
        redactor: &Redactor,
    ) -> ConnectorError {
        let lines = |text: &str| {
            text.lines()
                .filter(|line| !line.trim().is_empty())
                .collect::<Vec<_>>()
                .join("\n")
        };
        let how = match (finished.code, finished.signal) {
            (_, Some(signal)) => format!("was killed by signal {signal}"),
            (Some(code), _) => format!("failed with exit code {code}"),
            (None, None) => "failed".to_owned(),
        };
        // What the program said is foreign text: every secret of the access block is masked in
        // it, short ones as whole tokens, in any spelling the program may use.
        let stderr = redactor
            .redact_foreign(&lines(&finished.stderr))
            .into_owned();
        let stdout = redactor
            .redact_foreign(&lines(&finished.stdout))
            .into_owned();
        let said = if !stderr.is_empty() {
            format!(":\n{stderr}")
        } else if !stdout.is_empty() {
            format!(" (nothing on stderr; its stdout follows):\n{stdout}")
        } else {
            " and printed nothing on stderr or stdout".to_owned()
        };
        let message = format!("connector `{}` {subcommand} {how}{said}", self.command);
        ConnectorError::Remote(redactor.redact(&message).into_owned())
    }

    /// Ask `cli-version` once per program and run.
    fn ensure_version(&self) -> Result<(), ConnectorError> {
        if let Ok(known) = versions().lock()
            && let Some(result) = known.get(&self.program)
        {
            return result.clone().map_err(ConnectorError::Remote);
        }
        let result = self.ask_version();
        let outcome = match &result {
            Ok(()) => Ok(()),
            Err(ConnectorError::Remote(message)) => Err(message.clone()),
            // Not the connector's answer (cannot start it, cancelled): ask again next time.
            Err(_) => return result,
        };
        if let Ok(mut known) = versions().lock() {
            known.insert(self.program.clone(), outcome);
        }
        result
    }

    fn ask_version(&self) -> Result<(), ConnectorError> {
        let finished = self.run(&["cli-version".into()], self.timeouts.check, None)?;
        if finished.code != Some(0) {
            let ConnectorError::Remote(message) =
                self.failure("cli-version", &finished, &Redactor::none())
            else {
                return Err(ConnectorError::Remote(format!(
                    "connector `{}` does not answer `cli-version`",
                    self.command
                )));
            };
            return Err(ConnectorError::Remote(format!(
                "{message}\nred speaks the CLI-1 protocol of cc-core 9 (`cli-version` prints `1`); \
                 connectors without `cli-version`, such as red-connector-sshfs 0.2, speak an older one"
            )));
        }
        let lines: Vec<&str> = finished
            .stdout
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .collect();
        match lines.as_slice() {
            ["1" | "0.1"] => Ok(()),
            [other] => Err(ConnectorError::Remote(format!(
                "connector `{}` speaks CLI version `{other}`; red speaks `1` (and `0.1`)",
                self.command
            ))),
            _ => Err(ConnectorError::Remote(format!(
                "connector `{}` did not print one CLI version line for `cli-version` \
                 (it printed {} lines); red speaks version `1`",
                self.command,
                lines.len()
            ))),
        }
    }

    /// One protocol call: write the files, run, remove the files, judge the exit.
    fn call(
        &self,
        subcommand: &str,
        access: Option<&Access>,
        path: Option<&Path>,
        listing: Option<&Listing>,
        timeout: Duration,
        context: Option<&Context>,
    ) -> Result<(), ConnectorError> {
        self.ensure_version()?;
        let scratch = Scratch::new()?;
        let mut args: Vec<OsString> = vec![subcommand.into()];
        if let Some(access) = access {
            args.push(scratch.json("access.json", access.value())?.into());
        }
        if let Some(path) = path {
            args.push(path.as_os_str().to_owned());
        }
        if let Some(listing) = listing {
            let file = scratch.json("listing.json", &listing.0)?;
            let mut flag = OsString::from("--listing=");
            flag.push(file.as_os_str());
            args.push(flag);
        }
        let finished = self.run(&args, timeout, context);
        drop(scratch);
        let finished = finished?;
        if finished.code == Some(0) {
            Ok(())
        } else {
            Err(self.failure(subcommand, &finished, &redactor(access)))
        }
    }
}

/// A directory an external connector mounted; unmounting calls `umount-dir`.
#[derive(Debug)]
struct ExternalMount {
    connector: External,
    mountpoint: PathBuf,
    mounted: bool,
}

impl ExternalMount {
    fn umount(&mut self) -> Result<(), ConnectorError> {
        self.mounted = false;
        self.connector.call(
            "umount-dir",
            None,
            Some(&self.mountpoint),
            None,
            self.connector.timeouts.check,
            None,
        )
    }
}

impl Mounted for ExternalMount {
    fn unmount(mut self: Box<Self>) -> Result<(), ConnectorError> {
        self.umount()
    }
}

impl Drop for ExternalMount {
    fn drop(&mut self) {
        if self.mounted {
            let _ = self.umount();
        }
    }
}

/// Red cannot see an external connector's traffic: what arrived is what it reports as moved.
fn arrived(result: &Result<(), ConnectorError>, destination: &Path, context: &Context) {
    if result.is_ok() {
        let bytes = super::copy::measure(destination).bytes;
        context.progress.advance(bytes, Some(bytes));
    }
}

impl Connector for External {
    fn command(&self) -> &str {
        &self.command
    }

    fn check(
        &self,
        operation: Operation,
        access: &Access,
        listing: Option<&Listing>,
    ) -> Result<(), ConnectorError> {
        // The listing goes only to the directory transfers (never to mount-dir).
        let listing =
            listing.filter(|_| matches!(operation, Operation::ReceiveDir | Operation::SendDir));
        let subcommand = format!("{}-validate", operation.subcommand());
        self.call(
            &subcommand,
            Some(access),
            None,
            listing,
            self.timeouts.check,
            None,
        )
    }

    fn receive_file(
        &self,
        access: &Access,
        destination: &Path,
        context: &Context,
    ) -> Result<Received, ConnectorError> {
        let result = self.call(
            "receive-file",
            Some(access),
            Some(destination),
            None,
            self.timeouts.transfer,
            Some(context),
        );
        arrived(&result, destination, context);
        Received::staged_or_removed(result, destination)
    }

    fn receive_dir(
        &self,
        access: &Access,
        destination: &Path,
        listing: Option<&Listing>,
        context: &Context,
    ) -> Result<Received, ConnectorError> {
        // CLI-1: LOCALDIR exists and is empty when receive-dir is called.
        fs::create_dir(destination).map_err(|e| {
            ConnectorError::io(format!("cannot create `{}`", destination.display()), e)
        })?;
        let result = self.call(
            "receive-dir",
            Some(access),
            Some(destination),
            listing,
            self.timeouts.transfer,
            Some(context),
        );
        arrived(&result, destination, context);
        Received::staged_or_removed(result, destination)
    }

    fn mount_dir(
        &self,
        access: &Access,
        mountpoint: &Path,
        context: &Context,
    ) -> Result<Box<dyn Mounted>, ConnectorError> {
        self.call(
            "mount-dir",
            Some(access),
            Some(mountpoint),
            None,
            self.timeouts.transfer,
            Some(context),
        )?;
        Ok(Box::new(ExternalMount {
            connector: self.clone(),
            mountpoint: mountpoint.to_path_buf(),
            mounted: true,
        }))
    }

    fn send_file(
        &self,
        access: &Access,
        source: &Path,
        context: &Context,
    ) -> Result<(), ConnectorError> {
        self.call(
            "send-file",
            Some(access),
            Some(source),
            None,
            self.timeouts.transfer,
            Some(context),
        )
    }

    fn send_dir(
        &self,
        access: &Access,
        source: &Path,
        listing: Option<&Listing>,
        context: &Context,
    ) -> Result<(), ConnectorError> {
        self.call(
            "send-dir",
            Some(access),
            Some(source),
            listing,
            self.timeouts.transfer,
            Some(context),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_every_value_under_a_protected_key() {
        let access = Access::new(serde_json::json!({
            "host": "h", "auth": {"username": "u", "password": "pw1", "_token": {"x": "t1"}},
            "_pin": 1234, "list": [{"privateKey": "k1"}],
        }));
        let mut found = Vec::new();
        secrets(access.value(), false, &mut found);
        found.sort();
        assert_eq!(found, vec!["1234", "k1", "pw1", "t1"]);
        let masked = redactor(Some(&access))
            .redact_foreign("pw1 and k1 but not u")
            .into_owned();
        assert!(
            !masked.contains("pw1") && !masked.contains("k1"),
            "{masked}"
        );
        assert!(masked.contains("not u"));
    }

    #[test]
    fn variables_for_env_are_hidden_from_connectors() {
        let names = [
            "PATH",
            "RED_VAR_password",
            "HOME",
            "RED_VARIANT",
            "RED_VAR_",
        ];
        let hidden = hidden(names.iter().map(OsString::from));
        assert_eq!(
            hidden,
            vec![
                OsString::from("RED_VAR_password"),
                OsString::from("RED_VAR_")
            ]
        );
    }

    #[test]
    fn programs_are_found_on_path_or_by_absolute_path_only() {
        assert!(find("sh").is_some());
        assert!(find("/bin/sh").is_some());
        assert!(find("bin/sh").is_none());
        assert!(find("red-no-such-connector-anywhere").is_none());
        assert!(find("").is_none());
    }

    #[test]
    fn scratch_files_are_private_and_removed() {
        use std::os::unix::fs::PermissionsExt;
        let scratch = Scratch::new().unwrap();
        let file = scratch
            .json("access.json", &serde_json::json!({"a": 1}))
            .unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&scratch.dir), 0o700);
        assert_eq!(mode(&file), 0o600);
        let dir = scratch.dir.clone();
        drop(scratch);
        assert!(!dir.exists());
    }
}
