//! Bounds on one rendering and on all renderings of a run.
//!
//! liquid has no limits of its own: `{% for i in (1..100000000) %}` materialises the range
//! (18 s and 5 GB), nested loops never finish, and `{% assign s = s | append: s %}` in a
//! loop doubles a string until memory runs out. Our `for` and `capture` blocks and a wrapper
//! around every filter charge what they do to the budget of the rendering in progress (a
//! thread-local set around the render call, as liquid's plugins cannot receive per-render
//! state) and to the run's shared [`RunBudget`]; the first charge over a limit fails the
//! rendering with a message saying which limit.

use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use liquid_core::Error as LiquidError;

/// Limits of one rendering (one message, one template).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of output. Far above a post's 16,383 characters, low enough that a runaway
    /// template cannot eat memory.
    pub max_output: usize,
    /// Loop iterations, summed over every `{% for %}` (nested loops multiply).
    pub max_iterations: u64,
    /// Bytes produced by filters and captures, summed (what a template can build in memory).
    pub max_work_bytes: u64,
    /// Wall-clock time.
    pub max_time: Duration,
}

/// Largest single rendering (bytes).
pub const MAX_OUTPUT_BYTES: usize = 64 * 1024;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_output: MAX_OUTPUT_BYTES,
            max_iterations: 100_000,
            max_work_bytes: 4 * 1024 * 1024,
            max_time: Duration::from_secs(2),
        }
    }
}

/// Limits of all renderings of one run together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunLimits {
    pub max_iterations: u64,
    pub max_time: Duration,
}

impl Default for RunLimits {
    fn default() -> Self {
        RunLimits {
            max_iterations: 10_000_000,
            max_time: Duration::from_secs(120),
        }
    }
}

/// What is left of a run's rendering budget; shared by every rendering of the run (a
/// [`super::Context`] holds one; hand in another to give a run a different budget).
#[derive(Debug)]
pub struct RunBudget {
    limits: RunLimits,
    iterations_left: AtomicU64,
    /// Nanoseconds of rendering time left.
    time_left: AtomicU64,
}

impl RunBudget {
    pub fn new(limits: RunLimits) -> Self {
        RunBudget {
            limits,
            iterations_left: AtomicU64::new(limits.max_iterations),
            time_left: AtomicU64::new(nanos(limits.max_time)),
        }
    }

    pub fn limits(&self) -> RunLimits {
        self.limits
    }

    /// Takes `n` from an atomic counter; false (and the counter at 0) when it had less.
    fn take(counter: &AtomicU64, n: u64) -> bool {
        let mut current = counter.load(Ordering::Relaxed);
        loop {
            let next = current.saturating_sub(n);
            match counter.compare_exchange_weak(current, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return current >= n,
                Err(seen) => current = seen,
            }
        }
    }
}

impl Default for RunBudget {
    fn default() -> Self {
        RunBudget::new(RunLimits::default())
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// The budget of the rendering in progress on this thread.
struct Current {
    limits: Limits,
    run: Arc<RunBudget>,
    started: Instant,
    deadline: Instant,
    iterations: u64,
    work_bytes: u64,
    /// Charges so far (the clock is read every [`CLOCK_EVERY`]).
    charges: u64,
    /// Why the rendering was stopped, once it was.
    exceeded: Option<String>,
}

const CLOCK_EVERY: u64 = 16;

thread_local! {
    static CURRENT: RefCell<Option<Current>> = const { RefCell::new(None) };
}

/// Runs `f` under a fresh per-rendering budget; returns its result and, when a limit
/// stopped it, which one.
pub(crate) fn with_budget<T>(
    limits: Limits,
    run: &Arc<RunBudget>,
    f: impl FnOnce() -> T,
) -> (T, Option<String>) {
    let started = Instant::now();
    let run_time_left = Duration::from_nanos(run.time_left.load(Ordering::Relaxed));
    let current = Current {
        limits,
        run: run.clone(),
        started,
        deadline: started + limits.max_time.min(run_time_left),
        iterations: 0,
        work_bytes: 0,
        charges: 0,
        exceeded: None,
    };
    let old = CURRENT.with(|c| c.borrow_mut().replace(current));
    let out = f();
    let done = CURRENT.with(|c| std::mem::replace(&mut *c.borrow_mut(), old));
    let exceeded = done.and_then(|d| {
        let spent = nanos(d.started.elapsed());
        if !RunBudget::take(&d.run.time_left, spent) && d.exceeded.is_none() {
            return Some(run_time_message(&d.run));
        }
        d.exceeded
    });
    (out, exceeded)
}

fn run_time_message(run: &RunBudget) -> String {
    format!(
        "rendering took more than {} s in this run (limit per run)",
        run.limits.max_time.as_secs()
    )
}

/// Applies `check` to the current budget; outside a rendering (tests of single filters)
/// nothing is charged.
fn charge(check: impl FnOnce(&mut Current) -> Option<String>) -> Result<(), LiquidError> {
    CURRENT.with(|c| {
        let mut c = c.borrow_mut();
        let Some(cur) = c.as_mut() else {
            return Ok(());
        };
        if let Some(why) = cur.exceeded.clone() {
            return Err(LiquidError::with_msg(why));
        }
        // Reading the clock costs more than a charge: look every few charges (a loop
        // iteration or a filter call each), which is still many times a millisecond.
        cur.charges = cur.charges.wrapping_add(1);
        let look = cur.charges % CLOCK_EVERY == 0;
        let why = check(cur).or_else(|| {
            (look && Instant::now() > cur.deadline).then(|| {
                if cur.deadline - cur.started < cur.limits.max_time {
                    run_time_message(&cur.run)
                } else {
                    format!(
                        "rendering took more than {} ms (limit per message)",
                        cur.limits.max_time.as_millis()
                    )
                }
            })
        });
        match why {
            Some(why) => {
                cur.exceeded = Some(why.clone());
                Err(LiquidError::with_msg(why))
            }
            None => Ok(()),
        }
    })
}

/// A loop is about to run `n` iterations.
pub(crate) fn charge_iterations(n: u64) -> Result<(), LiquidError> {
    charge(|cur| {
        cur.iterations = cur.iterations.saturating_add(n);
        if cur.iterations > cur.limits.max_iterations {
            return Some(format!(
                "the template runs more than {} loop iterations (limit per message)",
                cur.limits.max_iterations
            ));
        }
        if !RunBudget::take(&cur.run.iterations_left, n) {
            return Some(format!(
                "the templates ran more than {} loop iterations in this run (limit per run)",
                cur.run.limits.max_iterations
            ));
        }
        None
    })
}

/// A filter or capture produced `n` bytes.
pub(crate) fn charge_bytes(n: usize) -> Result<(), LiquidError> {
    charge(|cur| {
        cur.work_bytes = cur.work_bytes.saturating_add(n as u64);
        (cur.work_bytes > cur.limits.max_work_bytes).then(|| {
            format!(
                "the template builds more than {} bytes of text (limit per message)",
                cur.limits.max_work_bytes
            )
        })
    })
}

/// Refuses before a filter builds `n` more bytes than the rendering has left.
pub(crate) fn ensure_room(n: u64) -> Result<(), LiquidError> {
    charge(|cur| {
        (cur.work_bytes.saturating_add(n) > cur.limits.max_work_bytes).then(|| {
            format!(
                "the template builds more than {} bytes of text (limit per message)",
                cur.limits.max_work_bytes
            )
        })
    })
}

/// Only the clock (between loop iterations).
pub(crate) fn check_time() -> Result<(), LiquidError> {
    charge(|_| None)
}

/// The per-message iteration limit a loop is checked against at compile time.
pub(crate) fn static_iteration_limit() -> u64 {
    Limits::default().max_iterations
}
