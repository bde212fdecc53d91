//! The gate delivery passes before each message: pacing, and the runtime's "stop here".
//!
//! The outbox asks its [`Gate`] before every entry. The plugin's gate waits for a token of
//! its [`Bucket`] (the bot's messages per second, shared by every sync of the process) and
//! answers "stop" when the plugin is deactivating or the run lost its lease; delivery then
//! stops between two messages and the outbox resumes later. The command line and the tests
//! use [`Open`].

use std::time::{Duration, Instant};

/// Asked before each message is delivered.
pub trait Gate: Sync {
    /// `Ok`: deliver now (after any wait the gate needed). `Err(why)`: stop before this
    /// message; the outbox keeps it for the next run.
    fn before_post(&self) -> Result<(), String>;
}

/// Never waits, never stops.
#[derive(Debug, Default, Clone, Copy)]
pub struct Open;

impl Gate for Open {
    fn before_post(&self) -> Result<(), String> {
        Ok(())
    }
}

/// A token bucket: `per_second` tokens a second, holding at most `burst`.
#[derive(Debug, Clone)]
pub struct Bucket {
    per_second: f64,
    burst: f64,
    tokens: f64,
    last: Option<Instant>,
}

impl Bucket {
    /// A full bucket; `per_second` 0 means no pacing. The burst is one second's worth.
    pub fn new(per_second: u32) -> Bucket {
        let burst = f64::from(per_second.max(1));
        Bucket {
            per_second: f64::from(per_second),
            burst,
            tokens: burst,
            last: None,
        }
    }

    /// Takes a token at `now`: how long to wait before using it. The token is reserved, so
    /// callers that share the bucket queue up instead of all waking at once.
    pub fn take(&mut self, now: Instant) -> Duration {
        if self.per_second == 0.0 {
            return Duration::ZERO;
        }
        if let Some(last) = self.last {
            let gained = now.saturating_duration_since(last).as_secs_f64() * self.per_second;
            self.tokens = (self.tokens + gained).min(self.burst);
        }
        self.last = Some(now.max(self.last.unwrap_or(now)));
        self.tokens -= 1.0;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.per_second)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_bucket_lets_one_second_through_then_paces() {
        let t0 = Instant::now();
        let mut b = Bucket::new(10);
        for _ in 0..10 {
            assert_eq!(b.take(t0), Duration::ZERO);
        }
        let waits: Vec<u128> = (0..3).map(|_| b.take(t0).as_millis()).collect();
        assert_eq!(waits, [100, 200, 300]);
    }

    #[test]
    fn tokens_come_back_with_time_up_to_the_burst() {
        let t0 = Instant::now();
        let mut b = Bucket::new(4);
        for _ in 0..4 {
            b.take(t0);
        }
        assert_eq!(b.take(t0 + Duration::from_millis(250)), Duration::ZERO);
        // An hour idle refills one second's worth, not an hour's.
        let later = t0 + Duration::from_secs(3600);
        let free = (0..10).filter(|_| b.take(later).is_zero()).count();
        assert_eq!(free, 4);
    }

    #[test]
    fn zero_means_no_pacing() {
        let t0 = Instant::now();
        let mut b = Bucket::new(0);
        assert!((0..10_000).all(|_| b.take(t0).is_zero()));
    }
}
