//! Rough speed figure for a realistic `Z_CreatePostArgs` (post with props and
//! an attachment), steady state on one stream (types already defined).
//!
//!     cargo run -p gob --release --example bench_post

use std::collections::HashMap;
use std::hint::black_box;
use std::time::Instant;

use gob::{Any, Decoder, Encoder, GobType, Value};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, GobType, Default, Debug)]
#[serde(rename_all = "PascalCase", default)]
struct PostMetadata {
    recipients: Vec<String>,
}

#[derive(Serialize, Deserialize, GobType, Default, Debug)]
#[serde(rename_all = "PascalCase", default)]
struct Post {
    id: String,
    create_at: i64,
    update_at: i64,
    edit_at: i64,
    delete_at: i64,
    is_pinned: bool,
    user_id: String,
    channel_id: String,
    root_id: String,
    original_id: String,
    message: String,
    message_source: String,
    #[serde(rename = "Type")]
    kind: String,
    props: HashMap<String, Any>,
    hashtags: String,
    filenames: Vec<String>,
    file_ids: Vec<String>,
    pending_post_id: String,
    has_reactions: bool,
    remote_id: Option<String>,
    reply_count: i64,
    last_reply_at: i64,
    is_following: Option<bool>,
    metadata: Option<Box<PostMetadata>>,
}

#[derive(Serialize, Deserialize, GobType, Default, Debug)]
#[serde(rename_all = "PascalCase", default)]
#[gob(name = "Z_CreatePostArgs")]
struct CreatePostArgs {
    a: Option<Post>,
}

fn post() -> CreatePostArgs {
    let props = serde_json::json!({
        "from_bot": "true", "rows": 42, "ratio": 0.5,
        "attachments": [{"color": "#00ff00", "title": "orders", "text": "42 rows synced from warehouse",
            "fields": [{"title": "Rows", "value": "42", "short": true},
                       {"title": "Duration", "value": "1.2 s", "short": true}]}]
    });
    CreatePostArgs {
        a: Some(Post {
            id: "p1".into(),
            create_at: 1_700_000_000_000,
            user_id: "4xp9fdt7pbgium38k3cfi1vqdx".into(),
            channel_id: "a7kx3tcpmbyduxmgr4pf7qz3gr".into(),
            message: "Sync **orders** finished: 42 rows in 1.2 s".into(),
            kind: "custom_datasync".into(),
            props: props
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), Any::from_json(v)))
                .collect(),
            ..Default::default()
        }),
    }
}

fn time<F: FnMut()>(label: &str, iters: u32, mut f: F) {
    for _ in 0..iters / 10 {
        f();
    }
    let start = Instant::now();
    for _ in 0..iters {
        f();
    }
    let ns = start.elapsed().as_nanos() / u128::from(iters);
    println!("{label:<44} {ns:>8} ns/op");
}

fn main() -> Result<(), gob::Error> {
    let args = post();
    let mut enc = Encoder::new();
    let mut first = Vec::new();
    enc.encode(&args, &mut first)?;
    let mut value_msg = Vec::new();
    enc.encode(&args, &mut value_msg)?;
    println!(
        "first message set {} bytes, steady-state value {} bytes",
        first.len(),
        value_msg.len()
    );

    let iters = 100_000;
    let mut out = Vec::with_capacity(1024);
    time(
        "encode Z_CreatePostArgs (typed, warm stream)",
        iters,
        || {
            out.clear();
            enc.encode(black_box(&args), &mut out).ok();
        },
    );
    time(
        "encode Z_CreatePostArgs (fresh stream + defs)",
        iters / 10,
        || {
            out.clear();
            Encoder::new().encode(black_box(&args), &mut out).ok();
        },
    );
    let mut dec = Decoder::new();
    let _: Value = dec.decode_value(&mut first.as_slice())?;
    time("decode to Value (warm stream)", iters, || {
        black_box(dec.decode_value(&mut value_msg.as_slice()).ok());
    });
    time(
        "decode to typed CreatePostArgs (warm stream)",
        iters,
        || {
            black_box(
                dec.decode::<CreatePostArgs, _>(&mut value_msg.as_slice())
                    .ok(),
            );
        },
    );
    Ok(())
}
