//! The ticker: one thread that, every tick, offers each configured sync to the scheduler
//! and runs the ones whose lease it gets.
//!
//! Runs are sequential in this increment (one sync after another on the ticker thread);
//! a bounded worker pool comes later. The lease is taken for [`LEASE_TTL`] and not
//! refreshed while a run lasts; the commit's compare-and-set still keeps a second holder
//! from committing the same run twice.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use datasync::clock::{Clock, SystemClock};
use datasync::config::SyncConfig;
use datasync::notify;
use datasync::port::{Directory, Messaging, NewPost};
use datasync::run::{self, Engine, Fetch, RunMode, RunReport};
use datasync::scheduler::{self, Reason};
use mattermost::Api;

use crate::ports::ApiPort;
use crate::settings::{DEFAULT_TICK, Loaded};

/// How long a lease lasts (a run that dies holding it blocks its sync this long).
const LEASE_TTL: Duration = Duration::from_secs(10 * 60);
/// How long deactivation waits for the ticker to reach a safe point.
const STOP_WAIT: Duration = Duration::from_secs(5);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// What the hooks and the ticker share: the running configuration and the bot.
#[derive(Default)]
pub struct Shared {
    config: RwLock<Option<Arc<Loaded>>>,
    bot_id: RwLock<String>,
}

impl Shared {
    pub fn set_config(&self, loaded: Loaded) {
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
}

#[derive(Default)]
struct State {
    stop: bool,
    done: bool,
}

#[derive(Default)]
struct Control {
    state: Mutex<State>,
    changed: Condvar,
}

impl Control {
    fn stopping(&self) -> bool {
        lock(&self.state).stop
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
        let holder = holder_id();
        let handle = std::thread::Builder::new()
            .name("datasync-ticker".into())
            .spawn(move || {
                loop {
                    let outcome =
                        catch_unwind(AssertUnwindSafe(|| tick_once(&api, &shared, &holder, &ctl)));
                    if outcome.is_err() {
                        api.log_error("Data Sync: the ticker caught a panic; it goes on", &[]);
                    }
                    if !wait(&ctl, shared.tick()) {
                        break;
                    }
                }
                let mut st = lock(&ctl.state);
                st.done = true;
                ctl.changed.notify_all();
            })?;
        Ok(Ticker {
            control,
            handle: Some(handle),
        })
    }

    /// Stops the ticker at its next safe point (between runs); waits up to [`STOP_WAIT`].
    /// `false`: a run was still going when the wait ended (the thread is left to finish).
    pub fn stop(mut self) -> bool {
        let mut st = lock(&self.control.state);
        st.stop = true;
        self.control.changed.notify_all();
        let deadline = Instant::now() + STOP_WAIT;
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

/// Sleeps one tick; `false` when told to stop.
fn wait(control: &Control, tick: Duration) -> bool {
    let deadline = Instant::now() + tick;
    let mut st = lock(&control.state);
    while !st.stop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return true;
        }
        st = control
            .changed
            .wait_timeout(st, left)
            .unwrap_or_else(|p| p.into_inner())
            .0;
    }
    false
}

fn tick_once(api: &Api, shared: &Shared, holder: &str, control: &Control) {
    let Some(loaded) = shared.config() else {
        return;
    };
    let bot_id = shared.bot_id();
    if bot_id.is_empty() {
        return;
    }
    let port = ApiPort::new(api.clone(), bot_id);
    for sync in &loaded.config.syncs {
        if control.stopping() {
            return;
        }
        run_if_due(api, &port, &loaded, sync, holder);
    }
}

fn run_if_due(api: &Api, port: &ApiPort, loaded: &Loaded, sync: &SyncConfig, holder: &str) {
    let clock = SystemClock;
    let name = sync.name.as_str();
    let lease = match scheduler::claim(port, sync, holder, Reason::Schedule, clock.now(), LEASE_TTL)
    {
        Ok(Ok(lease)) => lease,
        Ok(Err(_not_now)) => return,
        Err(e) => {
            api.log_error(
                "Data Sync: could not check the schedule",
                &[("sync", name), ("error", &e.to_string())],
            );
            return;
        }
    };
    if let Some(repaired) = &lease.repaired {
        api.log_warn(
            "Data Sync: lock repaired",
            &[("sync", name), ("detail", repaired)],
        );
    }
    let fetch: Fetch<'_> = &run::real_fetch;
    let engine = Engine {
        port,
        clock: &clock,
        fetch,
        allow: &loaded.config.allow,
    };
    match catch_unwind(AssertUnwindSafe(|| {
        run::run_sync(&engine, sync, RunMode::Deliver)
    })) {
        Ok(report) => after_run(api, port, loaded, &report),
        Err(_) => api.log_error("Data Sync: a run panicked", &[("sync", name)]),
    }
    if let Err(e) = lease.release(port) {
        api.log_warn(
            "Data Sync: could not release the lock (it expires by itself)",
            &[("sync", name), ("error", &e.to_string())],
        );
    }
}

fn after_run(api: &Api, port: &ApiPort, loaded: &Loaded, report: &RunReport) {
    let r = &report.record;
    let yes_no = |b: bool| if b { "true" } else { "false" };
    let pairs = [
        ("sync", r.sync.clone()),
        ("ok", yes_no(r.ok).to_owned()),
        ("baseline", yes_no(r.baseline).to_owned()),
        ("rows", r.rows.to_string()),
        ("added", r.added.to_string()),
        ("changed", r.changed.to_string()),
        ("removed", r.removed.to_string()),
        ("messages", r.messages.to_string()),
        ("errors", r.errors.join("; ")),
    ];
    let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    if r.ok {
        api.log_info("Data Sync: run finished", &pairs);
    } else {
        api.log_error("Data Sync: run failed", &pairs);
    }
    match notify::after_run(port, r) {
        Ok(Some(notice)) => post_notice(api, port, loaded, &r.sync, &notice.text()),
        Ok(None) => {}
        Err(e) => api.log_error(
            "Data Sync: could not record the sync's health",
            &[("sync", &r.sync), ("error", &e.to_string())],
        ),
    }
}

/// Posts a notice as the bot into `NoticeChannel`, or logs it when none is set.
fn post_notice(api: &Api, port: &ApiPort, loaded: &Loaded, sync: &str, text: &str) {
    let Some((team, channel)) = &loaded.notice_channel else {
        api.log_warn("Data Sync: notice", &[("sync", sync), ("notice", text)]);
        return;
    };
    let posted = port.channel_by_name(team, channel).and_then(|c| match c {
        Some(c) => port
            .create_post(&NewPost {
                channel_id: c.id,
                message: text.to_owned(),
                ..NewPost::default()
            })
            .map(|_| ()),
        None => Err(datasync::port::PortError::permanent(
            "GetChannelByNameForTeamName",
            format!("no channel {team}/{channel} (NoticeChannel)"),
        )),
    });
    if let Err(e) = posted {
        api.log_error(
            "Data Sync: could not post a notice; here it is",
            &[("sync", sync), ("notice", text), ("error", &e.to_string())],
        );
    }
}
