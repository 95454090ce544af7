//! Programs on a pseudo-terminal: how a test waits for one to end.
//!
//! Not by waiting for end-of-file on the terminal: the test binary runs tests in parallel, and
//! a child another test forks at the same moment can inherit this terminal's other end and hold
//! it open long after the program under test ended (seen as a 60-second timeout in CI). The
//! program's own exit is what counts; what it printed is read while it runs, so a full terminal
//! buffer never blocks it.

use std::io::ErrorKind;
use std::time::{Duration, Instant};

use expectrl::process::unix::WaitStatus;
use expectrl::session::OsSession;

/// How long a program at a prompt may take to end after its last answer.
const DEADLINE: Duration = Duration::from_secs(60);

/// Wait until the program of `session` exits, appending everything it prints to `screen`, and
/// return its exit code. Panics (with the screen so far) when it is still running after
/// [`DEADLINE`] or was killed by a signal.
pub(crate) fn wait_for_exit(session: &mut OsSession, screen: &mut Vec<u8>) -> i32 {
    let started = Instant::now();
    loop {
        drain(session, screen);
        let status = session
            .get_process()
            .status()
            .expect("the program's status");
        match status {
            WaitStatus::StillAlive => {}
            WaitStatus::Exited(_, code) => {
                drain(session, screen);
                return code;
            }
            other => panic!(
                "the program ended with {other:?}:\n{}",
                String::from_utf8_lossy(screen)
            ),
        }
        assert!(
            started.elapsed() < DEADLINE,
            "the program did not end within {DEADLINE:?}:\n{}",
            String::from_utf8_lossy(screen)
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Append what can be read now without waiting.
fn drain(session: &mut OsSession, screen: &mut Vec<u8>) {
    let mut buffer = [0u8; 4096];
    loop {
        match session.try_read(&mut buffer) {
            Ok(0) => return,
            Ok(read) => screen.extend_from_slice(&buffer[..read]),
            // Nothing more for now, or (EIO) no program holds the terminal any more.
            Err(error) if error.kind() == ErrorKind::WouldBlock => return,
            Err(_) => return,
        }
    }
}
