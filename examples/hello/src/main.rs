//! rs-hello: an example Mattermost plugin that uses only the public `mattermost` bindings.
//!
//! - `/hello <text>` posts "<Greeting>, <text>!" as the bot and answers ephemerally.
//! - A post "hello?" from a person gets a threaded "Hello, @user!" from the bot.
//! - HTTP: `GET /status` (activation count, version), `POST /echo` (reads the body, sends it back),
//!   `POST /bench?op=createpost|kvset&n=N&workers=W[&channel=ID]` (API throughput, see
//!   tests/host/BENCH.md).

use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use mattermost::{
    Api, ApiError, AppError, AutocompleteData, Bot, Command, CommandArgs, CommandResponse, Context,
    HttpRequest, Post, ResponseWriter,
};

/// The bundle ships static musl executables, whose own allocator is slow and takes one global
/// lock; every API call allocates on the calling thread and frees replies decoded on another.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const VERSION: &str = env!("CARGO_PKG_VERSION");
const ACTIVATIONS_KEY: &str = "activations";
/// Largest body /echo accepts (413 above).
const ECHO_LIMIT: usize = 64 * 1024 * 1024;

/// Settings from plugin.json; LoadPluginConfiguration lower-cases the keys.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
struct Config {
    greeting: String,
}

#[derive(Default)]
struct Hello {
    config: RwLock<Config>,
    bot_id: RwLock<String>,
}

impl Hello {
    fn greeting(&self) -> String {
        let greeting = self
            .config
            .read()
            .map(|c| c.greeting.trim().to_owned())
            .unwrap_or_default();
        if greeting.is_empty() {
            "Hello".to_owned()
        } else {
            greeting
        }
    }

    fn bot_id(&self) -> String {
        self.bot_id.read().map(|b| b.clone()).unwrap_or_default()
    }

    fn activations(api: &Api) -> Result<u64, ApiError> {
        let raw = api.kv_get(ACTIVATIONS_KEY)?.unwrap_or_default();
        let text = String::from_utf8_lossy(&raw);
        Ok(text.trim().parse().unwrap_or(0))
    }

    fn register(api: &Api) -> Result<(), ApiError> {
        let mut data = AutocompleteData::new("hello", "[text]", "Post a greeting as Hello Bot");
        data.add_text_argument("Whom or what to greet", "world", "");
        api.register_command(&Command {
            trigger: "hello".to_owned(),
            auto_complete: true,
            auto_complete_desc: "Post a greeting as Hello Bot".to_owned(),
            auto_complete_hint: "[text]".to_owned(),
            display_name: "Hello".to_owned(),
            autocomplete_data: Some(data),
            ..Command::default()
        })?;
        Ok(())
    }

    fn status(&self, api: &Api, w: &mut ResponseWriter) -> std::io::Result<()> {
        match Self::activations(api) {
            Ok(n) => w.send_json(
                200,
                &serde_json::json!({"activations": n, "version": VERSION}),
            ),
            Err(e) => w.send_json(500, &serde_json::json!({"error": e.to_string()})),
        }
    }

    fn bench(&self, api: &Api, r: &HttpRequest, w: &mut ResponseWriter) -> std::io::Result<()> {
        let (bench, channel) = match Bench::parse(r.query()) {
            Ok(parsed) => parsed,
            Err(msg) => return w.send(400, "text/plain", msg.as_bytes()),
        };
        match bench.run(api, &self.bot_id(), &channel) {
            Ok(nanos) => w.send(200, "text/plain", nanos.to_string().as_bytes()),
            Err(e) => w.send(
                500,
                "text/plain",
                format!("bench call failed: {e}").as_bytes(),
            ),
        }
    }

    /// Reads the whole body before answering: Mattermost serves plugin routes through Go's
    /// HTTP/1 server, which may cut off a request body once the response has started.
    fn echo(r: &mut HttpRequest, w: &mut ResponseWriter) -> std::io::Result<()> {
        let content_type = r
            .header_value("Content-Type")
            .unwrap_or("application/octet-stream")
            .to_owned();
        let body = match r.read_body(ECHO_LIMIT) {
            Ok(body) => body,
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                return w.send(413, "text/plain", e.to_string().as_bytes());
            }
            Err(e) => return Err(e),
        };
        w.send(200, &content_type, &body)
    }
}

/// A parsed `/bench` request.
struct Bench {
    op: BenchOp,
    n: u64,
    workers: u64,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum BenchOp {
    CreatePost,
    KvSet,
}

impl Bench {
    /// Parses `op`, `n`, `workers`, `channel` from the query; `Err` is the 400 message.
    fn parse(query: &str) -> Result<(Bench, String), String> {
        let param = |name: &str| {
            query
                .split('&')
                .filter_map(|kv| kv.split_once('='))
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_owned())
        };
        let op = match param("op").as_deref() {
            Some("createpost") => BenchOp::CreatePost,
            Some("kvset") => BenchOp::KvSet,
            other => return Err(format!("unknown op {other:?}")),
        };
        let n = param("n")
            .and_then(|v| v.parse::<u64>().ok())
            .ok_or("n must be an integer >= 0")?;
        let workers = param("workers")
            .and_then(|v| v.parse::<u64>().ok())
            .filter(|w| *w >= 1)
            .ok_or("workers must be an integer >= 1")?;
        let channel = param("channel").unwrap_or_default();
        if op == BenchOp::CreatePost && channel.is_empty() {
            return Err("createpost needs channel".to_owned());
        }
        Ok((Bench { op, n, workers }, channel))
    }

    /// Runs the calls on `workers` threads sharing one counter; returns the elapsed time.
    fn run(&self, api: &Api, bot_id: &str, channel: &str) -> Result<u128, ApiError> {
        let next = AtomicU64::new(0);
        let start = Instant::now();
        let results: Vec<Result<(), ApiError>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..self.workers)
                .map(|_| scope.spawn(|| self.worker(api, bot_id, channel, &next)))
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(ApiError::Rpc {
                            method: "bench",
                            message: "worker panicked".to_owned(),
                        })
                    })
                })
                .collect()
        });
        let elapsed = start.elapsed().as_nanos();
        results.into_iter().collect::<Result<Vec<()>, _>>()?;
        Ok(elapsed)
    }

    fn worker(
        &self,
        api: &Api,
        bot_id: &str,
        channel: &str,
        next: &AtomicU64,
    ) -> Result<(), ApiError> {
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            if i >= self.n {
                return Ok(());
            }
            match self.op {
                BenchOp::CreatePost => {
                    let mut post = Post::new(channel, &format!("bench {i}"));
                    post.user_id = bot_id.to_owned();
                    api.create_post(&post)?;
                }
                BenchOp::KvSet => {
                    api.kv_set(&format!("bench_{}", i % 1000), i.to_string().as_bytes())?
                }
            }
        }
    }
}

mattermost::hooks! {
    impl Hooks for Hello {
        fn on_activate(&self, api: &Api) -> Result<(), AppError> {
            let bot = Bot::new("hello-bot", "Hello Bot", "Says hello.");
            let bot_id = mattermost::ensure_bot(api, &bot)
                .map_err(|e| AppError::new("rs-hello.ensure_bot", &e.to_string(), 500))?;
            if let Ok(mut slot) = self.bot_id.write() {
                *slot = bot_id;
            }
            Self::register(api)?;
            let count = Self::activations(api)? + 1;
            api.kv_set(ACTIVATIONS_KEY, count.to_string().as_bytes())?;
            api.log_info("rs-hello activated", &[("activations", &count.to_string())]);
            Ok(())
        }

        fn on_deactivate(&self, api: &Api) -> Result<(), AppError> {
            api.log_info("rs-hello deactivating", &[]);
            Ok(())
        }

        fn on_configuration_change(&self, api: &Api) -> Result<(), AppError> {
            let config: Config = api.load_plugin_configuration()?;
            if let Ok(mut slot) = self.config.write() {
                *slot = config;
            }
            Ok(())
        }

        fn execute_command(&self, api: &Api, _ctx: &Context, args: &CommandArgs)
            -> Result<CommandResponse, AppError>
        {
            let text = args.command.trim().strip_prefix("/hello").unwrap_or("").trim();
            if text.is_empty() {
                return Ok(CommandResponse::ephemeral(
                    "Usage: `/hello <text>` posts a greeting for <text> as Hello Bot.",
                ));
            }
            let message = format!("{}, {text}!", self.greeting());
            let mut post = Post::new(&args.channel_id, &message);
            post.user_id = self.bot_id();
            post.root_id = args.root_id.clone();
            api.create_post(&post)?;
            Ok(CommandResponse::ephemeral(&format!("Posted: {message}")))
        }

        fn message_has_been_posted(&self, api: &Api, _ctx: &Context, post: &Post) {
            let bot_id = self.bot_id();
            if post.message != "hello?" || post.user_id == bot_id || post.prop_str("from_bot").is_some() {
                return;
            }
            let user = match api.get_user(&post.user_id) {
                Ok(user) if !user.is_bot => user,
                Ok(_) => return,
                Err(e) => {
                    api.log_error("rs-hello: GetUser failed", &[("error", &e.to_string())]);
                    return;
                }
            };
            let mut reply = Post::new(&post.channel_id, &format!("Hello, @{}!", user.username));
            reply.user_id = bot_id;
            reply.root_id = post.thread_root().to_owned();
            if let Err(e) = api.create_post(&reply) {
                api.log_error("rs-hello: reply failed", &[("error", &e.to_string())]);
            }
        }

        fn serve_http(&self, api: &Api, _ctx: &Context, r: &mut HttpRequest, w: &mut ResponseWriter) {
            let result = match (r.method.as_str(), r.path()) {
                ("GET", "/status") => self.status(api, w),
                ("POST", "/echo") => Self::echo(r, w),
                ("POST", "/bench") => self.bench(api, r, w),
                _ => w.send(404, "text/plain; charset=utf-8", b"404 page not found\n"),
            };
            if let Err(e) = result {
                api.log_warn("rs-hello: HTTP response failed", &[("error", &e.to_string())]);
            }
        }
    }
}

fn main() {
    mattermost::run(Hello::default());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bench_query_is_validated() {
        let (b, ch) = Bench::parse("op=createpost&n=10&workers=2&channel=c1").unwrap();
        assert!(b.op == BenchOp::CreatePost && b.n == 10 && b.workers == 2 && ch == "c1");
        let (b, _) = Bench::parse("op=kvset&n=0&workers=1").unwrap();
        assert!(b.op == BenchOp::KvSet && b.n == 0);
        for bad in [
            "op=createpost&n=10&workers=2",
            "op=kvset&n=-1&workers=1",
            "op=kvset&n=5&workers=0",
            "op=delete&n=5&workers=1",
            "n=5&workers=1",
        ] {
            assert!(Bench::parse(bad).is_err(), "{bad}");
        }
    }
}
