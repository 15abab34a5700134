//! Warnings that a client can cause once per packet or connection are logged at most once per
//! period, with the number left out since the last line, so that no client controls the log
//! volume.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How often one kind of per-packet warning may be logged.
pub const PERIOD: Duration = Duration::from_secs(10);

pub struct LogLimit {
    last: Mutex<Option<Instant>>,
    suppressed: AtomicU64,
}

impl LogLimit {
    pub const fn new() -> LogLimit {
        LogLimit { last: Mutex::new(None), suppressed: AtomicU64::new(0) }
    }

    /// `Some(n)` when a line may be logged now, `n` being how many were left out since the
    /// last one; `None` (and counted) otherwise.
    pub fn allow(&self) -> Option<u64> {
        let now = Instant::now();
        let mut last = self.last.lock().expect("log limit lock");
        if last.is_some_and(|at| now.duration_since(at) < PERIOD) {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        *last = Some(now);
        Some(self.suppressed.swap(0, Ordering::Relaxed))
    }
}

impl Default for LogLimit {
    fn default() -> LogLimit {
        LogLimit::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_period_with_the_count_left_out() {
        let limit = LogLimit::new();
        assert_eq!(limit.allow(), Some(0));
        for _ in 0..5 {
            assert_eq!(limit.allow(), None);
        }
        *limit.last.lock().unwrap() = Some(Instant::now() - PERIOD);
        assert_eq!(limit.allow(), Some(5));
    }
}
