//! Giving `ssh` a password or key passphrase without a command line, an environment value or
//! a terminal.
//!
//! `ssh` asks for secrets through the program named by `SSH_ASKPASS` when
//! `SSH_ASKPASS_REQUIRE=force`. That program is `red` itself, reached through a symbolic link
//! named [`PROGRAM`] inside the connection's private directory (mode 0700): started under that
//! name, `red` connects to the Unix socket beside the link, sends the prompt, and prints the
//! answer for `ssh` to read ([`run_if_invoked`], called first thing by the binary). The answer
//! comes from a thread of the `red` process that opened the connection (`Server`); it
//! answers only prompts that ask for a password or passphrase, and only a few times. The
//! secret never leaves memory except through that socket, which only the user can reach.

use std::ffi::OsString;
use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use crate::fill::Secret;

/// The name under which `red` acts as the askpass helper.
pub const PROGRAM: &str = "red-askpass";
/// The socket's name beside the helper link.
pub(super) const SOCKET: &str = "askpass.sock";
/// The most prompts answered per connection (a wrong secret is not retried for ever).
const MAX_ANSWERS: usize = 2;

/// Serves one secret to the askpass helper until dropped.
pub(crate) struct Server {
    stop: Arc<AtomicBool>,
    socket: PathBuf,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    /// Listen in `dir` (private, 0700) and link [`PROGRAM`] there to `program` (the `red`
    /// binary). Returns the server and the helper path for `SSH_ASKPASS`.
    pub(crate) fn start(
        dir: &Path,
        program: &Path,
        secret: Secret,
    ) -> std::io::Result<(Self, PathBuf)> {
        let helper = dir.join(PROGRAM);
        std::os::unix::fs::symlink(program, &helper)?;
        let socket = dir.join(SOCKET);
        let listener = UnixListener::bind(&socket)?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("ssh-askpass".into())
            .spawn(move || serve(&listener, &flag, &secret))?;
        Ok((
            Self {
                stop,
                socket,
                thread: Some(thread),
            },
            helper,
        ))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept call; the thread sees the flag and ends.
        let _ = UnixStream::connect(&self.socket);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(listener: &UnixListener, stop: &AtomicBool, secret: &Secret) {
    let mut answered = 0;
    for stream in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(mut stream) = stream else { continue };
        let mut prompt = Vec::new();
        let _ = (&mut stream).take(4096).read_to_end(&mut prompt);
        let prompt = String::from_utf8_lossy(&prompt).to_lowercase();
        let wanted = prompt.contains("password") || prompt.contains("passphrase");
        if wanted && answered < MAX_ANSWERS {
            answered += 1;
            let _ = stream.write_all(secret.expose().as_bytes());
        }
        // Anything else (a host key question, too many tries) gets no answer: ssh gives up.
    }
}

/// When this process was started as the askpass helper (its name is [`PROGRAM`]), ask the
/// socket beside it, print the answer, and return the exit code; otherwise `None`.
#[must_use]
pub fn run_if_invoked(args: &[OsString]) -> Option<ExitCode> {
    let me = Path::new(args.first()?);
    if me.file_name()? != PROGRAM {
        return None;
    }
    let socket = me.parent()?.join(SOCKET);
    let prompt = args.get(1).map(|p| p.to_string_lossy().into_owned());
    Some(match ask(&socket, prompt.as_deref().unwrap_or_default()) {
        Ok(answer) if !answer.is_empty() => {
            let mut out = std::io::stdout().lock();
            let written = out
                .write_all(&answer)
                .and_then(|()| out.write_all(b"\n"))
                .and_then(|()| out.flush());
            ExitCode::from(if written.is_ok() { 0 } else { 1 })
        }
        _ => ExitCode::from(1),
    })
}

fn ask(socket: &Path, prompt: &str) -> std::io::Result<Vec<u8>> {
    let mut stream = UnixStream::connect(socket)?;
    stream.write_all(prompt.as_bytes())?;
    stream.shutdown(std::net::Shutdown::Write)?;
    let mut answer = Vec::new();
    stream.take(64 * 1024).read_to_end(&mut answer)?;
    Ok(answer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_password_prompts_only_and_a_few_times() {
        let dir = tempfile::tempdir().unwrap();
        let secret = Secret::new("canary-askpass".into());
        let (server, helper) = Server::start(dir.path(), Path::new("/bin/true"), secret).unwrap();
        assert_eq!(helper.file_name().unwrap(), PROGRAM);
        let socket = dir.path().join(SOCKET);
        let question = ask(&socket, "Are you sure you want to continue connecting?").unwrap();
        assert!(question.is_empty());
        assert_eq!(ask(&socket, "u@h's password: ").unwrap(), b"canary-askpass");
        assert_eq!(
            ask(&socket, "Enter passphrase for key").unwrap(),
            b"canary-askpass"
        );
        assert!(ask(&socket, "u@h's password: ").unwrap().is_empty());
        drop(server);
        assert!(ask(&socket, "password").is_err() || ask(&socket, "password").unwrap().is_empty());
    }

    #[test]
    fn only_the_helper_name_switches_modes() {
        assert!(run_if_invoked(&["red".into(), "validate".into()]).is_none());
        assert!(run_if_invoked(&[]).is_none());
        let dir = tempfile::tempdir().unwrap();
        let helper = dir.path().join(PROGRAM);
        // No socket there: the helper fails instead of printing anything.
        let code = run_if_invoked(&[helper.into_os_string(), "password:".into()]);
        assert_eq!(code, Some(ExitCode::from(1)));
    }
}
