//! The retry policy: which failed requests are tried again, how often, and how long to wait.
//!
//! Idempotent reads (GET) are retried on transient failures ([`Error::is_transient`]) a bounded
//! number of times with exponential backoff. A write (POST /red, DELETE) is retried only when
//! the request surely never reached the broker ([`Error::never_sent`]), so a submit can never
//! create a duplicate experiment. A 401 is never retried, whatever the method.

use std::future::Future;
use std::time::Duration;

use super::error::Error;

/// Whether a request may be repeated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Idempotence {
    /// A read: repeat on any transient failure.
    Read,
    /// A write: repeat only when nothing was sent.
    Write,
}

/// How many times and how patiently to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Tries in all, the first included (1 means never retry).
    pub attempts: u32,
    /// Wait before the first retry; doubled each time.
    pub first_delay: Duration,
    /// The longest wait between two tries.
    pub max_delay: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            attempts: 4,
            first_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(3),
        }
    }
}

impl Policy {
    /// A policy that never retries.
    #[must_use]
    pub fn never() -> Self {
        Self {
            attempts: 1,
            ..Self::default()
        }
    }

    /// The wait before try number `next` (2 for the first retry).
    #[must_use]
    pub fn delay(&self, next: u32) -> Duration {
        let doublings = next.saturating_sub(2).min(16);
        self.first_delay
            .saturating_mul(1 << doublings)
            .min(self.max_delay)
    }

    /// Whether `error`, after try number `done`, calls for another try.
    #[must_use]
    pub fn should_retry(&self, error: &Error, kind: Idempotence, done: u32) -> bool {
        if done >= self.attempts {
            return false;
        }
        match kind {
            Idempotence::Read => error.is_transient(),
            Idempotence::Write => error.never_sent(),
        }
    }

    /// Run `attempt` until it succeeds, fails for good, or the tries are used up; `sleep`
    /// waits (tokio's sleep in the client, an instant fake in tests).
    pub async fn run<T, A, F, S, W>(
        &self,
        kind: Idempotence,
        mut attempt: A,
        sleep: S,
    ) -> Result<T, Error>
    where
        A: FnMut() -> F,
        F: Future<Output = Result<T, Error>>,
        S: Fn(Duration) -> W,
        W: Future<Output = ()>,
    {
        let mut done = 0;
        loop {
            done += 1;
            match attempt().await {
                Ok(value) => return Ok(value),
                Err(error) if self.should_retry(&error, kind, done) => {
                    sleep(self.delay(done + 1)).await;
                }
                Err(error) => return Err(error),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::{Cell, RefCell};
    use std::collections::VecDeque;

    use super::*;
    use crate::agency::error::{self, REFUSED};

    /// An in-memory broker: answers the queued results in order and counts the requests.
    struct Fake {
        answers: RefCell<VecDeque<Result<u32, Error>>>,
        requests: Cell<u32>,
        slept: RefCell<Vec<Duration>>,
    }

    impl Fake {
        fn new(answers: Vec<Result<u32, Error>>) -> Self {
            Self {
                answers: RefCell::new(answers.into()),
                requests: Cell::new(0),
                slept: RefCell::default(),
            }
        }

        fn run(&self, kind: Idempotence) -> Result<u32, Error> {
            let policy = Policy::default();
            let attempt = || {
                self.requests.set(self.requests.get() + 1);
                let answer = self.answers.borrow_mut().pop_front();
                async move { answer.unwrap_or(Ok(0)) }
            };
            let sleep = |d: Duration| {
                self.slept.borrow_mut().push(d);
                async {}
            };
            block_on(policy.run(kind, attempt, sleep))
        }
    }

    fn block_on<F: Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .map(|rt| rt.block_on(future))
            .unwrap_or_else(|e| panic!("no runtime: {e}"))
    }

    fn status(code: u16) -> Error {
        error::from_response(
            code,
            "text/html",
            "<p>x</p>",
            "GET",
            "/batches",
            "http://b",
            "u",
        )
    }

    fn refused() -> Error {
        Error::Connect {
            url: "http://b".into(),
            reason: format!("{REFUSED} (os error 111)"),
        }
    }

    fn reset() -> Error {
        Error::Connect {
            url: "http://b".into(),
            reason: "connection reset while reading the answer".into(),
        }
    }

    #[test]
    fn a_401_is_sent_exactly_once() {
        for kind in [Idempotence::Read, Idempotence::Write] {
            let fake = Fake::new(vec![Err(status(401)), Ok(7)]);
            assert!(matches!(fake.run(kind), Err(Error::Unauthorized { .. })));
            assert_eq!(fake.requests.get(), 1);
        }
    }

    #[test]
    fn reads_retry_transient_failures_with_growing_waits() {
        let fake = Fake::new(vec![
            Err(status(503)),
            Err(reset()),
            Err(status(502)),
            Ok(7),
        ]);
        assert_eq!(fake.run(Idempotence::Read).ok(), Some(7));
        assert_eq!(fake.requests.get(), 4);
        let slept = fake.slept.borrow();
        assert_eq!(slept.len(), 3);
        assert!(slept.windows(2).all(|w| w[0] < w[1]), "{slept:?}");
    }

    #[test]
    fn reads_give_up_after_the_bound() {
        let fake = Fake::new((0..10).map(|_| Err(status(500))).collect());
        assert!(matches!(
            fake.run(Idempotence::Read),
            Err(Error::Status { status: 500, .. })
        ));
        assert_eq!(fake.requests.get(), Policy::default().attempts);
    }

    #[test]
    fn client_errors_are_not_retried() {
        for code in [400, 404, 405, 415, 422] {
            let fake = Fake::new(vec![Err(status(code)), Ok(1)]);
            assert!(fake.run(Idempotence::Read).is_err());
            assert_eq!(fake.requests.get(), 1, "status {code}");
        }
    }

    #[test]
    fn writes_retry_only_what_was_never_sent() {
        let fake = Fake::new(vec![Err(status(503)), Ok(1)]);
        assert!(fake.run(Idempotence::Write).is_err());
        assert_eq!(fake.requests.get(), 1);

        let fake = Fake::new(vec![Err(reset()), Ok(1)]);
        assert!(fake.run(Idempotence::Write).is_err());
        assert_eq!(fake.requests.get(), 1);

        let fake = Fake::new(vec![
            Err(Error::Timeout {
                url: "http://b".into(),
                method: "POST",
                path: "/red".into(),
                timeout: Duration::from_secs(1),
            }),
            Ok(1),
        ]);
        assert!(fake.run(Idempotence::Write).is_err());
        assert_eq!(fake.requests.get(), 1);

        let fake = Fake::new(vec![Err(refused()), Ok(9)]);
        assert_eq!(fake.run(Idempotence::Write).ok(), Some(9));
        assert_eq!(fake.requests.get(), 2);
    }

    #[test]
    fn delays_are_capped() {
        let policy = Policy::default();
        assert_eq!(policy.delay(2), Duration::from_millis(200));
        assert_eq!(policy.delay(3), Duration::from_millis(400));
        assert_eq!(policy.delay(40), policy.max_delay);
    }
}
