//! When to poll a Kiosk job, learned from the jobs of the same run that have ended.
//!
//! The Kiosk has no way to wait for a job: a client polls its Redis fields. A job that ends just
//! after a poll waits, finished, until the next one, and with N jobs in flight that wait is paid
//! N times over in throughput. A fixed backoff is either too early (wasted requests) or too late
//! (idle slots). Jobs of one run go through the same pipeline and tend to take alike, so the first
//! poll of a job comes a little before the time that recent jobs took, and later polls come at a
//! tenth of that time, growing to the longest wait the user allows. Before any job has ended the
//! schedule is the plain backoff: first at a tenth of the longest wait, growing by half each time.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

/// The shortest wait between two polls of one job, whatever the jobs take.
const SHORTEST: Duration = Duration::from_millis(50);
/// How many recent job times the schedule is drawn from.
const KEPT: usize = 32;

/// A poll schedule shared by every job of one run.
#[derive(Debug)]
pub struct Pace {
    longest: Duration,
    recent: Mutex<VecDeque<Duration>>,
}

impl Pace {
    /// A schedule whose waits never exceed `longest` (the user's `--poll`).
    pub fn new(longest: Duration) -> Self {
        Pace {
            longest,
            recent: Mutex::new(VecDeque::with_capacity(KEPT)),
        }
    }

    /// The wait before the first poll of a job just created.
    pub fn first(&self) -> Duration {
        match self.typical() {
            // A little early: the times are measured at the poll that saw the end, so they
            // run long by up to one wait.
            Some(typical) => clamp(typical.mul_f64(0.8), self.longest),
            None => clamp(self.longest / 10, self.longest),
        }
    }

    /// The wait before the poll that follows a wait of `previous` that found the job unfinished.
    pub fn next(&self, previous: Duration, polls_so_far: u32) -> Duration {
        let grown = previous.mul_f64(1.5);
        match self.typical() {
            // Past the typical time: poll finely, then back off as the job runs on.
            Some(typical) if polls_so_far == 1 => clamp(typical / 10, self.longest),
            Some(_) | None => clamp(grown, self.longest),
        }
    }

    /// Record that a job ended `took` after it was created.
    pub fn ended(&self, took: Duration) {
        let mut recent = self
            .recent
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if recent.len() == KEPT {
            recent.pop_front();
        }
        recent.push_back(took);
    }

    /// The median of the recent job times, if any job has ended.
    fn typical(&self) -> Option<Duration> {
        let recent = self
            .recent
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut times: Vec<Duration> = recent.iter().copied().collect();
        drop(recent);
        if times.is_empty() {
            return None;
        }
        let middle = times.len() / 2;
        Some(*times.select_nth_unstable(middle).1)
    }
}

/// Job creations of one run spaced at least `delay` apart (`--start-delay`): some Kiosks scale
/// their consumers badly on a burst of new jobs. The first job is created at once; each later one
/// takes the next free slot. A wait is a `tokio` sleep, so Ctrl-C ends it at once.
#[derive(Debug)]
pub struct Stagger {
    delay: Duration,
    last: tokio::sync::Mutex<Option<tokio::time::Instant>>,
}

impl Stagger {
    /// Creations `delay` apart (zero: no waiting).
    #[must_use]
    pub fn new(delay: Duration) -> Self {
        Stagger {
            delay,
            last: tokio::sync::Mutex::new(None),
        }
    }

    /// The delay between two creations.
    #[must_use]
    pub fn delay(&self) -> Duration {
        self.delay
    }

    /// Wait for this job's slot: `delay` after the slot of the job before, or now if that has
    /// passed.
    pub async fn turn(&self) {
        if self.delay.is_zero() {
            return;
        }
        let slot = {
            let mut last = self.last.lock().await;
            let now = tokio::time::Instant::now();
            let slot = last.map_or(now, |before| (before + self.delay).max(now));
            *last = Some(slot);
            slot
        };
        tokio::time::sleep_until(slot).await;
    }
}

fn clamp(wait: Duration, longest: Duration) -> Duration {
    wait.max(SHORTEST).min(longest.max(SHORTEST))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn before_any_job_ends_the_waits_grow_from_a_tenth_to_the_longest() {
        let pace = Pace::new(ms(1000));
        let mut wait = pace.first();
        let mut waits = vec![wait];
        for polls in 1..8 {
            wait = pace.next(wait, polls);
            waits.push(wait);
        }
        assert_eq!(waits[0], ms(100));
        assert_eq!(waits[1], ms(150));
        assert!(waits.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(*waits.last().unwrap(), ms(1000));
    }

    #[test]
    fn once_jobs_end_the_first_poll_comes_just_before_their_median_time() {
        let pace = Pace::new(ms(1000));
        for took in [300, 200, 250, 5000, 220] {
            pace.ended(ms(took));
        }
        // Median of 200, 220, 250, 300, 5000 is 250: the first poll at 0.8 of it.
        assert_eq!(pace.first(), ms(200));
        // Then fine polls at a tenth of it (above the floor), growing again after.
        assert_eq!(pace.next(ms(200), 1), ms(50));
        assert_eq!(pace.next(ms(50), 2), ms(75));
    }

    #[test]
    fn waits_stay_between_the_floor_and_the_longest() {
        let pace = Pace::new(ms(1000));
        pace.ended(ms(1));
        assert_eq!(pace.first(), SHORTEST);
        let slow = Pace::new(ms(1000));
        slow.ended(Duration::from_secs(600));
        assert_eq!(slow.first(), ms(1000));
        assert_eq!(slow.next(ms(1000), 1), ms(1000));
        // A longest wait under the floor is raised to the floor, never to zero.
        let tiny = Pace::new(ms(10));
        assert_eq!(tiny.first(), SHORTEST);
    }

    #[test]
    fn creations_are_spaced_by_the_delay() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            let stagger = std::sync::Arc::new(Stagger::new(ms(40)));
            let start = tokio::time::Instant::now();
            let mut set = tokio::task::JoinSet::new();
            for _ in 0..4 {
                let stagger = std::sync::Arc::clone(&stagger);
                set.spawn(async move {
                    stagger.turn().await;
                    start.elapsed()
                });
            }
            let mut slots: Vec<Duration> = set.join_all().await;
            slots.sort();
            for (i, slot) in (0_u32..).zip(&slots) {
                assert!(
                    *slot >= ms(40) * i,
                    "creation {i} after {slot:?}: {slots:?}"
                );
            }
        });
    }

    #[test]
    fn only_the_recent_jobs_count() {
        let pace = Pace::new(ms(10_000));
        for _ in 0..KEPT {
            pace.ended(ms(4000));
        }
        for _ in 0..KEPT {
            pace.ended(ms(500));
        }
        assert_eq!(pace.first(), ms(400));
    }
}
