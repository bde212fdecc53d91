//! Fuzz smoke tests: tens of thousands of generated and mutated inputs for the yamux frame
//! reader and both net/rpc readers. Passing = no panic, no hang, every run ends. Deterministic
//! (fixed seeds), so a failure reproduces.

use std::io::{Cursor, Read};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::netrpc::{self, Request, Response, Service};
use crate::yamux::{Config, End, FrameType, Header, Session};

/// xorshift64*: small, deterministic, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// Flip, drop, insert, duplicate or truncate a few bytes.
fn mutate(rng: &mut Rng, data: &mut Vec<u8>) {
    for _ in 0..=rng.below(4) {
        let len = data.len() as u64;
        match rng.below(5) {
            0 if len > 0 => {
                let i = rng.below(len) as usize;
                data[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len) as usize;
                data.remove(i);
            }
            2 => {
                let i = rng.below(len + 1) as usize;
                let n = 1 + rng.below(8) as usize;
                let extra = rng.bytes(n);
                data.splice(i..i, extra);
            }
            3 if len > 1 => {
                let a = rng.below(len) as usize;
                let b = a + rng.below(len - a as u64) as usize;
                let copy = data[a..b].to_vec();
                let at = rng.below(data.len() as u64 + 1) as usize;
                data.splice(at..at, copy);
            }
            _ => data.truncate(rng.below(len + 1) as usize),
        }
    }
}

fn yamux_input(rng: &mut Rng) -> Vec<u8> {
    let mut out = Vec::new();
    for _ in 0..1 + rng.below(8) {
        let kind = match rng.below(10) {
            0..=4 => FrameType::Data,
            5..=7 => FrameType::WindowUpdate,
            8 => FrameType::Ping,
            _ => FrameType::GoAway,
        };
        let flags = rng.below(16) as u16;
        let id = [0, 1, 1, 3, 3, 5, 2, rng.next() as u32][rng.below(8) as usize];
        let body_len = if kind == FrameType::Data {
            rng.below(64) as usize
        } else {
            0
        };
        let length = match kind {
            FrameType::Data => body_len as u32,
            FrameType::GoAway => rng.below(4) as u32,
            _ if rng.chance(20) => rng.next() as u32,
            _ => rng.below(300_000) as u32,
        };
        out.extend_from_slice(&Header::new(kind, flags, id, length).encode());
        out.extend(rng.bytes(body_len));
    }
    if rng.chance(60) {
        mutate(rng, &mut out);
    }
    out
}

/// Feed one input as the whole peer side of a session; the session must end, and everything
/// it accepted must read to an end.
fn run_yamux(input: Vec<u8>) {
    let session = Session::server(
        Cursor::new(input),
        std::io::sink(),
        Config {
            keepalive_interval: None,
            ..Config::default()
        },
        || {},
    );
    assert!(matches!(
        session.wait_end(),
        End::Closed(_) | End::RemoteGoAway
    ));
    if !session.is_closed() {
        // GoAway(normal) leaves the session open until the reader hits the end of input.
        while !session.is_closed() {
            std::thread::yield_now();
        }
    }
    while let Ok(stream) = session.accept() {
        let mut sink = Vec::new();
        let _ = (&stream).read_to_end(&mut sink);
    }
}

#[test]
fn fuzz_yamux_frame_reader() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let runs = 20_000;
    for _ in 0..runs {
        run_yamux(yamux_input(&mut rng));
    }
    // Pure noise too.
    for _ in 0..5_000 {
        let n = rng.below(200) as usize;
        run_yamux(rng.bytes(n));
    }
    println!("fuzz: yamux frame reader ran {} inputs", runs + 5_000);
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, gob::GobType)]
#[serde(rename_all = "PascalCase", default)]
struct Args {
    text: String,
    n: i64,
    data: gob::Bytes,
    list: Vec<String>,
}

struct FuzzService;

impl Service for FuzzService {
    fn call(&self, method: &str, body: gob::Value) -> Result<Box<dyn gob::Encodable>, String> {
        match method {
            "F.Args" => Ok(Box::new(
                gob::from_value::<Args>(body).map_err(|e| e.to_string())?,
            )),
            "F.Str" => Ok(Box::new(
                gob::from_value::<String>(body).map_err(|e| e.to_string())?,
            )),
            "F.Empty" => Ok(Box::new(gob::Empty)),
            _ => Err(netrpc::unknown_method(method)),
        }
    }
}

const METHODS: [&str; 5] = ["F.Args", "F.Str", "F.Empty", "F.Nope", "Bad"];

fn encode_body(rng: &mut Rng, enc: &mut gob::Encoder, out: &mut Vec<u8>) {
    let r = match rng.below(5) {
        0 => {
            let n = rng.below(40) as usize;
            enc.encode(
                &Args {
                    text: "t".repeat(rng.below(10) as usize),
                    n: rng.next() as i64,
                    data: gob::Bytes(rng.bytes(n)),
                    list: vec!["a".into(); rng.below(4) as usize],
                },
                out,
            )
        }
        1 => enc.encode("some string", out),
        2 => enc.encode(&gob::Empty, out),
        3 => enc.encode(&(rng.next() as i64), out),
        _ => enc.encode(&true, out),
    };
    assert!(r.is_ok(), "encoding fuzz seed: {r:?}");
}

fn rpc_input(rng: &mut Rng, responses: bool) -> Vec<u8> {
    let mut enc = gob::Encoder::new();
    let mut out = Vec::new();
    for _ in 0..1 + rng.below(4) {
        let method = METHODS[rng.below(METHODS.len() as u64) as usize].to_string();
        let seq = rng.below(5);
        let r = if responses {
            let error = if rng.chance(30) {
                "failed".to_string()
            } else {
                String::new()
            };
            enc.encode(
                &Response {
                    service_method: method,
                    seq,
                    error,
                },
                &mut out,
            )
        } else {
            enc.encode(
                &Request {
                    service_method: method,
                    seq,
                },
                &mut out,
            )
        };
        assert!(r.is_ok());
        encode_body(rng, &mut enc, &mut out);
    }
    if rng.chance(70) {
        mutate(rng, &mut out);
    }
    out
}

#[test]
fn fuzz_netrpc_server_input() {
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let runs = 20_000;
    let service: Arc<dyn Service> = Arc::new(FuzzService);
    for _ in 0..runs {
        let input = rpc_input(&mut rng, false);
        netrpc::serve_io(Cursor::new(input), std::io::sink(), service.clone());
    }
    println!("fuzz: net/rpc server reader ran {runs} inputs");
}

#[test]
fn fuzz_netrpc_client_input() {
    let mut rng = Rng(0x0fed_cba9_8765_4321);
    let runs = 20_000;
    let mut answered = 0;
    for _ in 0..runs {
        let input = rpc_input(&mut rng, true);
        // Bytes arrive in frames of any size: from one byte to all at once.
        let piece = [1, 7, 64, usize::MAX][rng.below(4) as usize];
        answered += netrpc::fuzz_client_input(&input, piece);
    }
    // Unmutated inputs answer some calls: the harness really reaches the dispatch code.
    assert!(answered > 0);
    println!("fuzz: net/rpc client reader ran {runs} inputs, {answered} calls answered");
}
