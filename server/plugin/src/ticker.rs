//! The ticker and its runs.
//!
//! One ticker thread wakes every `TickSeconds`, sooner when a sync falls due before that,
//! and at once when the configuration changes or a run ends (a worker is free). Each tick it refreshes the lease of every run going on, then offers each
//! idle sync to the scheduler and starts the ones whose lease it gets, each on its own run
//! thread: at most `Workers` at once (the bounded worker pool).
//!
//! A run passes a [`RunGate`] before each message: the process-wide pacing bucket, and a
//! stop when the plugin deactivates, the run's lease is lost, its sync is removed or it
//! has gone on for [`RUN_DEADLINE`]. Runs then stop between two messages and the outbox
//! resumes later, so deactivation takes seconds, except for a run still reading its
//! source (the supervisor ends the process; its lease expires after `LeaseSeconds`).

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use datasync::clock::{Clock, SystemClock, chrono_duration};
use datasync::gate::{Bucket, Gate};
use datasync::pause::{self, PausedSyncs};
use datasync::run::{self, Engine, RunMode};
use datasync::scheduler::{self, Lease, NotNow, Reason};
use mattermost::Api;

use crate::notices;
use crate::ports::ApiPort;
use crate::settings::{DEFAULT_POSTS_PER_SECOND, DEFAULT_TICK, Loaded};

/// The shortest sleep between two ticks (a sync due "now" is claimed on the next).
const MIN_SLEEP: Duration = Duration::from_millis(50);
/// How long deactivation waits for the runs to reach a safe point.
const STOP_WAIT: Duration = Duration::from_secs(5);
/// How long one run may go on delivering: a huge outbox pauses here (a note, not a failure) and the
/// sync's next run goes on with it, so one sync cannot hold a worker for hours.
const RUN_DEADLINE: Duration = Duration::from_secs(15 * 60);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// What the hooks, the ticker and the runs share: the running configuration, the bot, the
/// pacing bucket (one for the process: the bot's rate, whatever syncs post) and the runs
/// people asked for (`/datasync run`).
pub struct Shared {
    config: RwLock<Option<Arc<Loaded>>>,
    bot_id: RwLock<String>,
    pacing: Mutex<(u32, Bucket)>,
    requests: Mutex<Vec<RunRequest>>,
}

/// A run someone asked for, and where to tell them how it went.
#[derive(Debug, Clone)]
pub struct RunRequest {
    pub sync: String,
    pub user_id: String,
    pub channel_id: String,
    pub root_id: String,
}

impl Default for Shared {
    fn default() -> Self {
        Shared {
            config: RwLock::default(),
            bot_id: RwLock::default(),
            pacing: Mutex::new((
                DEFAULT_POSTS_PER_SECOND,
                Bucket::new(DEFAULT_POSTS_PER_SECOND),
            )),
            requests: Mutex::default(),
        }
    }
}

impl Shared {
    pub fn set_config(&self, loaded: Loaded) {
        let mut pacing = lock(&self.pacing);
        if pacing.0 != loaded.posts_per_second {
            *pacing = (
                loaded.posts_per_second,
                Bucket::new(loaded.posts_per_second),
            );
        }
        drop(pacing);
        let mut slot = self.config.write().unwrap_or_else(|p| p.into_inner());
        *slot = Some(Arc::new(loaded));
    }

    pub fn config(&self) -> Option<Arc<Loaded>> {
        self.config
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn set_bot_id(&self, id: String) {
        *self.bot_id.write().unwrap_or_else(|p| p.into_inner()) = id;
    }

    pub fn bot_id(&self) -> String {
        self.bot_id
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn tick(&self) -> Duration {
        self.config().map_or(DEFAULT_TICK, |c| c.tick)
    }

    /// How long to wait before the next message may be posted.
    fn pace(&self) -> Duration {
        lock(&self.pacing).1.take(Instant::now())
    }

    /// Queues a run for the ticker (wake it to start the run at once).
    pub fn request_run(&self, request: RunRequest) {
        lock(&self.requests).push(request);
    }

    fn take_requests(&self) -> Vec<RunRequest> {
        std::mem::take(&mut *lock(&self.requests))
    }
}

#[derive(Default)]
struct State {
    stop: bool,
    wake: bool,
    done: bool,
}

/// The stop and wake signals, and the ticker's "done".
#[derive(Default)]
struct Control {
    state: Mutex<State>,
    changed: Condvar,
}

impl Control {
    fn stopping(&self) -> bool {
        lock(&self.state).stop
    }

    /// Sleeps up to `d`, or until told to stop (`false`) or to wake (`true`).
    fn sleep(&self, d: Duration, wake_early: bool) -> bool {
        let deadline = Instant::now() + d;
        let mut st = lock(&self.state);
        while !(st.stop || (wake_early && st.wake)) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            st = self
                .changed
                .wait_timeout(st, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        if wake_early {
            st.wake = false;
        }
        !st.stop
    }

    fn signal(&self, f: impl FnOnce(&mut State)) {
        f(&mut lock(&self.state));
        self.changed.notify_all();
    }
}

/// The running ticker thread.
pub struct Ticker {
    control: Arc<Control>,
    handle: Option<JoinHandle<()>>,
}

/// A lease holder id unique to this process.
fn holder_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("plugin-{}-{nanos:x}", std::process::id())
}

impl Ticker {
    pub fn start(api: Api, shared: Arc<Shared>) -> std::io::Result<Ticker> {
        let control = Arc::new(Control::default());
        let ctl = control.clone();
        let handle = std::thread::Builder::new()
            .name("datasync-ticker".into())
            .spawn(move || {
                let mut pool = Pool {
                    api,
                    shared,
                    control: ctl.clone(),
                    holder: holder_id(),
                    runs: Vec::new(),
                    due: HashMap::new(),
                    last_full: None,
                };
                loop {
                    let sleep =
                        catch_unwind(AssertUnwindSafe(|| pool.tick())).unwrap_or_else(|_| {
                            pool.api
                                .log_error("Data Sync: the ticker caught a panic; it goes on", &[]);
                            pool.shared.tick()
                        });
                    if !ctl.sleep(sleep, true) {
                        break;
                    }
                }
                pool.wait_for_runs(Instant::now() + STOP_WAIT);
                ctl.signal(|st| st.done = true);
            })?;
        Ok(Ticker {
            control,
            handle: Some(handle),
        })
    }

    /// Looks for due syncs now (a new configuration may have some).
    pub fn wake(&self) {
        self.control.signal(|st| st.wake = true);
    }

    /// Stops the ticker and its runs at their next safe point; waits a few seconds.
    /// `false`: a run was still going when the wait ended (it ends with the process).
    pub fn stop(mut self) -> bool {
        self.control.signal(|st| st.stop = true);
        let deadline = Instant::now() + STOP_WAIT + Duration::from_secs(1);
        let mut st = lock(&self.control.state);
        while !st.done {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            st = self
                .control
                .changed
                .wait_timeout(st, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        drop(st);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
        true
    }
}

/// Why a run must stop before its next message (set once).
type Cancel = Arc<OnceLock<&'static str>>;

/// One run going on.
struct Running {
    sync: String,
    /// `None` once the run has released it.
    lease: Arc<Mutex<Option<Lease>>>,
    cancel: Cancel,
    handle: JoinHandle<()>,
    /// Someone asked for this run (`/datasync run`): pausing the sync does not stop it.
    asked: bool,
}

/// The ticker's view of the runs it started.
struct Pool {
    api: Api,
    shared: Arc<Shared>,
    control: Arc<Control>,
    holder: String,
    runs: Vec<Running>,
    /// When each sync was last found due next. Between full ticks (a wake for a due time or
    /// a free worker) only the syncs due by now are asked, so waking early costs one KV read
    /// per due sync, not one per configured sync.
    due: HashMap<String, DateTime<Utc>>,
    /// When the last full tick (every sync asked, leases refreshed) began.
    last_full: Option<Instant>,
}

impl Pool {
    /// Starts the due syncs it can; returns how long to sleep: until the next full tick,
    /// or less when a sync falls due sooner (a new sync's first run comes within its jitter,
    /// not a tick later). A full tick, once a tick, refreshes the leases and asks every
    /// sync; a wake in between asks only the syncs not known to be due later.
    fn tick(&mut self) -> Duration {
        let tick = self.shared.tick();
        self.runs.retain(|r| !r.handle.is_finished());
        let Some(loaded) = self.shared.config() else {
            return tick;
        };
        let bot_id = self.shared.bot_id();
        if bot_id.is_empty() {
            return tick;
        }
        let port = ApiPort::new(self.api.clone(), bot_id);
        let full = self.last_full.is_none_or(|t| t.elapsed() >= tick);
        if full {
            self.last_full = Some(Instant::now());
            self.refresh(&port, &loaded);
            self.due
                .retain(|name, _| loaded.config.syncs.iter().any(|s| &s.name == name));
        }
        // Leases are refreshed on full ticks only: never sleep past the next one.
        let last_full = self.last_full;
        let until_full = || {
            last_full
                .map_or(tick, |t| tick.saturating_sub(t.elapsed()))
                .max(MIN_SLEEP)
        };
        let paused = self.paused(&port);
        self.stop_paused(&paused);
        self.start_requested(&port, &loaded);
        let now = SystemClock.now();
        for (index, sync) in loaded.config.syncs.iter().enumerate() {
            // With every worker busy, the next run to end wakes the ticker.
            if self.control.stopping() || self.runs.len() >= loaded.workers {
                return until_full();
            }
            let later = !full && self.due.get(&sync.name).is_some_and(|t| *t > now);
            if later
                || paused.contains_key(&sync.name)
                || self.runs.iter().any(|r| r.sync == sync.name)
            {
                continue;
            }
            match self.claim(&port, &loaded, index) {
                Ok(lease) => {
                    self.due.remove(&sync.name);
                    self.start(&port, &loaded, index, lease, None);
                }
                Err(Some(due)) => {
                    self.due.insert(sync.name.clone(), due);
                }
                // Another node runs it (or the KV store failed): asked again next full tick.
                Err(None) => {
                    self.due
                        .insert(sync.name.clone(), now + chrono_duration(tick));
                }
            }
        }
        // A due time that passed meanwhile comes out negative: claim it at once.
        let until_due = self
            .due
            .values()
            .min()
            .map(|t| (*t - SystemClock.now()).to_std().unwrap_or(Duration::ZERO));
        until_due.map_or(until_full(), |d| d.max(MIN_SLEEP).min(until_full()))
    }

    /// The paused syncs. A failed read pauses nothing (and is logged): a KV outage must not
    /// stop every sync.
    fn paused(&self, port: &ApiPort) -> PausedSyncs {
        pause::paused(port).unwrap_or_else(|e| {
            self.api.log_warn(
                "Data Sync: could not read the paused syncs",
                &[("error", &e.to_string())],
            );
            PausedSyncs::new()
        })
    }

    /// Stops, before their next message, the scheduled runs of syncs paused meanwhile (a
    /// run someone asked for goes on: they asked for it).
    fn stop_paused(&self, paused: &PausedSyncs) {
        for run in self
            .runs
            .iter()
            .filter(|r| !r.asked && paused.contains_key(&r.sync))
        {
            let _ = run.cancel.set("the sync was paused");
        }
    }

    /// Starts the runs people asked for, as free workers allow (the others wait for the
    /// next tick), and tells each asker at once when theirs cannot start.
    fn start_requested(&mut self, port: &ApiPort, loaded: &Arc<Loaded>) {
        let mut waiting = Vec::new();
        for request in self.shared.take_requests() {
            let sync = &request.sync;
            let Some(index) = loaded.config.syncs.iter().position(|s| &s.name == sync) else {
                let text = format!("**{sync}** is no longer in the configuration: nothing ran.");
                notices::tell(&self.api, port, &request, &text);
                continue;
            };
            if self.runs.iter().any(|r| &r.sync == sync) {
                let text = format!(
                    "**{sync}** is running already; `/datasync status {sync}` shows how it went."
                );
                notices::tell(&self.api, port, &request, &text);
                continue;
            }
            if self.control.stopping() || self.runs.len() >= loaded.workers {
                waiting.push(request);
                continue;
            }
            let now = SystemClock.now();
            let claimed = scheduler::claim(
                port,
                &loaded.config.syncs[index],
                &self.holder,
                Reason::Now,
                now,
                loaded.lease,
            );
            match claimed {
                Ok(Ok(lease)) => self.start(port, loaded, index, lease, Some(request)),
                Ok(Err(_)) => {
                    let text = format!(
                        "**{sync}** is running on another server right now; `/datasync status {sync}` shows how it went."
                    );
                    notices::tell(&self.api, port, &request, &text);
                }
                Err(e) => {
                    notices::tell(
                        &self.api,
                        port,
                        &request,
                        &format!("**{sync}** could not start: {e}"),
                    );
                }
            }
        }
        for request in waiting {
            self.shared.request_run(request);
        }
    }

    /// Extends the lease of every run; a run whose lease was lost, or whose sync is no
    /// longer configured, stops before its next message.
    fn refresh(&self, port: &ApiPort, loaded: &Loaded) {
        for run in &self.runs {
            if !loaded.config.syncs.iter().any(|s| s.name == run.sync) {
                let _ = run
                    .cancel
                    .set("the sync was removed from the configuration");
            }
            let mut slot = lock(&run.lease);
            let Some(lease) = slot.as_mut() else {
                continue;
            };
            match lease.refresh(port, SystemClock.now(), loaded.lease) {
                Ok(true) => {}
                Ok(false) => {
                    let _ = run.cancel.set("the run lost its lock to another node");
                }
                Err(e) => self.api.log_warn(
                    "Data Sync: could not refresh a run's lock",
                    &[("sync", &run.sync), ("error", &e.to_string())],
                ),
            }
        }
    }

    /// The lease, or when the sync is next due (if it is known to be).
    fn claim(
        &self,
        port: &ApiPort,
        loaded: &Loaded,
        index: usize,
    ) -> Result<Lease, Option<DateTime<Utc>>> {
        let sync = &loaded.config.syncs[index];
        let now = SystemClock.now();
        match scheduler::claim(
            port,
            sync,
            &self.holder,
            Reason::Schedule,
            now,
            loaded.lease,
        ) {
            Ok(Ok(lease)) => {
                if let Some(repaired) = &lease.repaired {
                    self.api.log_warn(
                        "Data Sync: lock repaired",
                        &[("sync", &sync.name), ("detail", repaired)],
                    );
                }
                Ok(lease)
            }
            Ok(Err(NotNow::NotDue(next))) => Err(next),
            Ok(Err(NotNow::Busy { .. })) => Err(None),
            Err(e) => {
                self.api.log_error(
                    "Data Sync: could not check the schedule",
                    &[("sync", &sync.name), ("error", &e.to_string())],
                );
                Err(None)
            }
        }
    }

    /// Starts a run on its own thread; `asked`: someone asked for it and is told the result.
    fn start(
        &mut self,
        port: &ApiPort,
        loaded: &Arc<Loaded>,
        index: usize,
        lease: Lease,
        asked: Option<RunRequest>,
    ) {
        let sync = loaded.config.syncs[index].name.clone();
        let mode = if lease.resume_only {
            RunMode::Resume
        } else {
            RunMode::Deliver
        };
        let lease = Arc::new(Mutex::new(Some(lease)));
        let cancel = Cancel::default();
        let job = Job {
            api: self.api.clone(),
            port: port.clone(),
            loaded: loaded.clone(),
            index,
            holder: self.holder.clone(),
            lease: lease.clone(),
            gate: RunGate {
                shared: self.shared.clone(),
                control: self.control.clone(),
                cancel: cancel.clone(),
                deadline: Instant::now() + RUN_DEADLINE,
            },
            mode,
            asked: asked.clone(),
        };
        let spawned = std::thread::Builder::new()
            .name(format!("datasync-run-{index}"))
            .spawn(move || job.run());
        match spawned {
            Ok(handle) => self.runs.push(Running {
                sync,
                lease,
                cancel,
                handle,
                asked: asked.is_some(),
            }),
            Err(e) => {
                self.api.log_error(
                    "Data Sync: could not start a run thread",
                    &[("sync", &sync), ("error", &e.to_string())],
                );
                if let Some(lease) = lock(&lease).take() {
                    let _ = lease.release(port, false);
                }
                if let Some(request) = &asked {
                    notices::tell(
                        &self.api,
                        port,
                        request,
                        &format!("**{sync}** could not start: {e}"),
                    );
                }
            }
        }
    }

    /// Waits until every run has finished or `deadline` passes (runs see the stop at
    /// their next message).
    fn wait_for_runs(&mut self, deadline: Instant) {
        while self.runs.iter().any(|r| !r.handle.is_finished()) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        for run in std::mem::take(&mut self.runs) {
            if run.handle.is_finished() {
                let _ = run.handle.join();
            } else {
                self.api.log_warn(
                    "Data Sync: a run was still reading its source at deactivation; it ends with the process and its lock expires by itself",
                    &[("sync", &run.sync)],
                );
            }
        }
    }
}

/// What a run passes before each message.
struct RunGate {
    shared: Arc<Shared>,
    control: Arc<Control>,
    cancel: Cancel,
    deadline: Instant,
}

impl RunGate {
    fn check(&self) -> Result<(), String> {
        if self.control.stopping() {
            return Err("the plugin is stopping".into());
        }
        if let Some(why) = self.cancel.get() {
            return Err((*why).to_owned());
        }
        if Instant::now() >= self.deadline {
            return Err(format!(
                "the run reached its delivery deadline ({} minutes)",
                RUN_DEADLINE.as_secs() / 60
            ));
        }
        Ok(())
    }
}

impl Gate for RunGate {
    fn before_post(&self) -> Result<(), String> {
        self.check()?;
        let wait = self.shared.pace();
        if !wait.is_zero() {
            self.control.sleep(wait, false);
            self.check()?;
        }
        Ok(())
    }
}

/// One run, on its own thread.
struct Job {
    api: Api,
    port: ApiPort,
    loaded: Arc<Loaded>,
    index: usize,
    holder: String,
    lease: Arc<Mutex<Option<Lease>>>,
    gate: RunGate,
    /// `Resume` when the lease was given only to finish an earlier delivery.
    mode: RunMode,
    /// Who asked for this run, to be told how it went.
    asked: Option<RunRequest>,
}

impl Job {
    fn run(self) {
        let sync = &self.loaded.config.syncs[self.index];
        let engine = Engine {
            port: &self.port,
            clock: &SystemClock,
            fetch: &run::real_fetch,
            allow: &self.loaded.config.allow,
            gate: &self.gate,
        };
        let result = catch_unwind(AssertUnwindSafe(|| run::run_sync(&engine, sync, self.mode)));
        match &result {
            Ok(report) => notices::after_run(
                &self.api,
                &self.port,
                &self.loaded,
                &self.holder,
                self.mode,
                report,
            ),
            Err(_) => self
                .api
                .log_error("Data Sync: a run panicked", &[("sync", &sync.name)]),
        }
        if let Some(request) = &self.asked {
            let text = result.as_ref().map_or_else(
                |_| {
                    format!(
                        "**{}** failed: the run panicked (see the server log).",
                        sync.name
                    )
                },
                notices::run_result,
            );
            notices::tell(&self.api, &self.port, request, &text);
        }
        // A KV failure here counts as unfinished: the next tick looks again.
        let finished = run::outbox_pending(&self.port, &sync.name).is_ok_and(|pending| !pending);
        let lease = lock(&self.lease).take();
        if let Some(lease) = lease
            && let Err(e) = lease.release(&self.port, finished)
        {
            self.api.log_warn(
                "Data Sync: could not release the lock (it expires by itself)",
                &[("sync", &sync.name), ("error", &e.to_string())],
            );
        }
        // A worker is free: the ticker looks for due syncs now, not a tick later.
        self.gate.control.signal(|st| st.wake = true);
    }
}
