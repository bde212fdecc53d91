//! Render throughput: `cargo run -p datasync --release --example bench_render [-- N]`.
//! Prints messages rendered per second for a typical changes-mode template (row object
//! built per message, a filter, a lax unknown placeholder, mention conversion).
fn main() {
    let n = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(300_000);
    match datasync::demo::bench_render(n) {
        Ok(per_sec) => println!("bench_render: {n} messages, {per_sec:.0} messages/s (one thread)"),
        Err(e) => {
            eprintln!("bench_render: {e}");
            std::process::exit(1);
        }
    }
}
