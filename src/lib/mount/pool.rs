//! The worker threads that make remote calls, so a FUSE thread never waits on a remote without
//! a timeout.
//!
//! Every remote call of the mount runs here. The caller waits for the answer at most the
//! mount's timeout ([`Pool::call`]); a call that does not answer in time keeps its worker busy
//! until the remote lets go, but the FUSE request has already failed with EIO. Read-ahead
//! requests are queued without waiting ([`Pool::spawn`]). The number of workers bounds the
//! remote requests in flight.

use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use super::remote::RemoteError;

type Job = Box<dyn FnOnce() + Send + 'static>;

/// A fixed set of worker threads fed from one queue.
#[derive(Debug)]
pub struct Pool {
    sender: Mutex<Option<Sender<Job>>>,
}

impl Pool {
    /// Start `workers` threads (at least one).
    ///
    /// # Errors
    /// When the system refuses a thread.
    pub fn new(workers: usize) -> std::io::Result<Self> {
        let (sender, receiver) = mpsc::channel::<Job>();
        let receiver = Arc::new(Mutex::new(receiver));
        for index in 0..workers.max(1) {
            let receiver = Arc::clone(&receiver);
            thread::Builder::new()
                .name(format!("red-remote-{index}"))
                .spawn(move || {
                    loop {
                        // Hold the lock only while taking a job, never while running it.
                        let job = match receiver.lock() {
                            Ok(queue) => queue.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(),
                            Err(_) => return,
                        }
                    }
                })?;
        }
        Ok(Self {
            sender: Mutex::new(Some(sender)),
        })
    }

    /// Queue `job`; it is dropped unrun when the pool is shut down.
    pub fn spawn(&self, job: impl FnOnce() + Send + 'static) {
        if let Ok(sender) = self.sender.lock()
            && let Some(sender) = sender.as_ref()
        {
            let _ = sender.send(Box::new(job));
        }
    }

    /// Run `call` on a worker and wait for its answer at most `timeout`.
    ///
    /// # Errors
    /// The call's error, or [`RemoteError::Timeout`].
    pub fn call<T: Send + 'static>(
        &self,
        timeout: Duration,
        call: impl FnOnce() -> Result<T, RemoteError> + Send + 'static,
    ) -> Result<T, RemoteError> {
        let (answer, receiver) = mpsc::sync_channel(1);
        self.spawn(move || {
            let _ = answer.send(call());
        });
        match receiver.recv_timeout(timeout) {
            Ok(result) => result,
            Err(RecvTimeoutError::Timeout) => Err(RemoteError::Timeout),
            Err(RecvTimeoutError::Disconnected) => {
                Err(RemoteError::Failure("the mount is shutting down".into()))
            }
        }
    }

    /// Stop taking jobs; workers end once the queue is empty and their call returned.
    pub fn shut_down(&self) {
        if let Ok(mut sender) = self.sender.lock() {
            sender.take();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_answer_and_slow_calls_time_out() {
        let pool = Pool::new(2).unwrap();
        assert_eq!(pool.call(Duration::from_secs(30), || Ok(7)), Ok(7));
        let (release, wait) = mpsc::channel::<()>();
        let result: Result<(), RemoteError> = pool.call(Duration::from_millis(20), move || {
            let _ = wait.recv();
            Ok(())
        });
        assert_eq!(result, Err(RemoteError::Timeout));
        release.send(()).unwrap();
        pool.shut_down();
        assert!(pool.call(Duration::from_secs(30), || Ok(1)).is_err());
    }
}
