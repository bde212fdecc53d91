//! The one source of time for schedules, history and templates.
//!
//! Everything that asks "what time is it" goes through a [`Clock`], so tests and the dry
//! run (`--now`) can pin time and schedules stay testable.

use std::sync::Mutex;

use chrono::{DateTime, Utc};

/// Where the engine gets the current time.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
    /// Waits (back-off between retries). A fixed clock moves on instead of blocking.
    fn sleep(&self, d: std::time::Duration) {
        std::thread::sleep(d);
    }
}

/// `d` as a chrono duration (one that does not fit is taken as forever).
pub fn chrono_duration(d: std::time::Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

/// The real wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that shows a set time until told otherwise (tests, `--now`, the demo).
#[derive(Debug)]
pub struct FixedClock {
    now: Mutex<DateTime<Utc>>,
}

impl FixedClock {
    pub fn new(now: DateTime<Utc>) -> Self {
        FixedClock {
            now: Mutex::new(now),
        }
    }

    pub fn set(&self, now: DateTime<Utc>) {
        let mut guard = self.now.lock().unwrap_or_else(|p| p.into_inner());
        *guard = now;
    }

    pub fn advance(&self, by: chrono::Duration) {
        let mut guard = self.now.lock().unwrap_or_else(|p| p.into_inner());
        *guard += by;
    }
}

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.lock().unwrap_or_else(|p| p.into_inner())
    }
    fn sleep(&self, d: std::time::Duration) {
        self.advance(chrono::Duration::from_std(d).unwrap_or(chrono::Duration::zero()));
    }
}
