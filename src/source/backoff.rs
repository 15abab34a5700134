//! Retry delays for a failing watch: exponential from 0.8 s to 30 s, with jitter so that many
//! instances do not retry in step after an API server restart. Only real progress (objects
//! listed or changed) resets it: a watch that keeps failing at the same step keeps backing off.

use std::time::Duration;

const FIRST: Duration = Duration::from_millis(800);
const MAX: Duration = Duration::from_secs(30);

#[derive(Debug, Default)]
pub struct Backoff {
    failures: u32,
}

impl Backoff {
    /// The delay before the next attempt, after one more failure: a random point in the upper
    /// half of the current step.
    pub fn next_delay(&mut self) -> Duration {
        let step = FIRST.saturating_mul(1 << self.failures.min(16)).min(MAX);
        self.failures = self.failures.saturating_add(1);
        step.mul_f64(rand::random_range(0.5..=1.0))
    }

    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_thirty_seconds_and_reset_on_progress() {
        let mut backoff = Backoff::default();
        let delays: Vec<Duration> = (0..10).map(|_| backoff.next_delay()).collect();
        for (i, delay) in delays.iter().enumerate() {
            let step = FIRST.saturating_mul(1 << i).min(MAX);
            assert!(*delay >= step / 2 && *delay <= step, "attempt {i}: {delay:?}");
        }
        assert!(delays[9] >= MAX / 2);
        backoff.reset();
        assert!(backoff.next_delay() <= FIRST);
    }
}
