//! A cached thread pool for net/rpc calls: every call still gets a thread of its own while it
//! runs (Go's goroutine-per-call model, so a slow hook never delays another), but threads are
//! reused instead of spawned per call, which roughly halves the round trip of tiny calls.
//! Idle threads exit after 30 s.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

pub(crate) type Job = Box<dyn FnOnce() + Send>;

pub(crate) struct Pool {
    /// Idle workers, each waiting on its own channel.
    idle: Mutex<Vec<(u64, mpsc::Sender<Job>)>>,
    started: AtomicU64,
    idle_exit: Duration,
}

static POOL: Pool = Pool::new(Duration::from_secs(30));

/// Run `job` on an idle worker of the shared pool, or on a new thread if none is idle.
pub(crate) fn spawn(job: Job) -> std::io::Result<()> {
    POOL.spawn(job)
}

impl Pool {
    pub(crate) const fn new(idle_exit: Duration) -> Pool {
        Pool {
            idle: Mutex::new(Vec::new()),
            started: AtomicU64::new(0),
            idle_exit,
        }
    }

    fn idle(&self) -> MutexGuard<'_, Vec<(u64, mpsc::Sender<Job>)>> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn spawn(&'static self, job: Job) -> std::io::Result<()> {
        let mut job = job;
        loop {
            let Some((_, tx)) = self.idle().pop() else {
                break;
            };
            match tx.send(job) {
                Ok(()) => return Ok(()),
                // That worker just exited; try the next one.
                Err(mpsc::SendError(j)) => job = j,
            }
        }
        let id = self.started.fetch_add(1, Ordering::Relaxed);
        std::thread::Builder::new()
            .name("rpc-call".into())
            .spawn(move || self.worker(id, job))
            .map(|_| ())
    }

    fn worker(&self, id: u64, first: Job) {
        let (tx, rx) = mpsc::channel::<Job>();
        let mut job = Some(first);
        loop {
            if let Some(j) = job.take() {
                // Keep the thread reusable even if a job panics (callers catch their own).
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(j));
            }
            self.idle().push((id, tx.clone()));
            match rx.recv_timeout(self.idle_exit) {
                Ok(j) => job = Some(j),
                Err(RecvTimeoutError::Timeout) => {
                    let mut list = self.idle();
                    if let Some(pos) = list.iter().position(|(w, _)| *w == id) {
                        list.remove(pos);
                        return;
                    }
                    drop(list);
                    // Someone took us off the list just now: their job is on its way.
                    match rx.recv() {
                        Ok(j) => job = Some(j),
                        Err(_) => return,
                    }
                }
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Barrier};

    fn wait_until(cond: impl Fn() -> bool) {
        for _ in 0..2000 {
            if cond() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("condition not met within 20 s");
    }

    #[test]
    fn concurrent_jobs_get_own_threads_which_are_reused_then_retire() {
        let pool: &'static Pool = Box::leak(Box::new(Pool::new(Duration::from_secs(3))));
        let barrier = Arc::new(Barrier::new(4));
        let (tx, rx) = mpsc::channel();
        // Four jobs that can only finish together: they must run on four threads at once.
        for _ in 0..4 {
            let (tx, b) = (tx.clone(), barrier.clone());
            pool.spawn(Box::new(move || {
                b.wait();
                let _ = tx.send(());
            }))
            .expect("spawn");
        }
        for _ in 0..4 {
            rx.recv().expect("job ran");
        }
        wait_until(|| pool.idle().len() == 4);
        let tx2 = tx.clone();
        pool.spawn(Box::new(move || {
            let _ = tx2.send(());
        }))
        .expect("spawn");
        rx.recv().expect("job ran");
        assert_eq!(pool.started.load(Ordering::Relaxed), 4, "no new thread");
        // Idle workers leave after `idle_exit`.
        wait_until(|| pool.idle().is_empty());
        // A job after that still runs (on a new thread).
        pool.spawn(Box::new(move || {
            let _ = tx.send(());
        }))
        .expect("spawn");
        rx.recv().expect("job ran");
        assert_eq!(pool.started.load(Ordering::Relaxed), 5);
    }
}
