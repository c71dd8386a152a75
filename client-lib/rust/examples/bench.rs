// SPDX-License-Identifier: MIT
//! bench: round trip and throughput of bkclient's `call().await`.
//! Usage: bench SOCKET [SAMPLES] [TASKS].  Prints two lines:
//!   rust rtt p50_ns p99_ns samples     (one call in flight, block_on)
//!   rust tput tasks_per_s tasks        (TASKS calls at once, 1024 slots, block_on_all)

use std::path::PathBuf;
use std::time::Instant;

use bkclient::{block_on, block_on_all, Client, ConnectOptions};

fn main() {
    let mut args = std::env::args().skip(1);
    let sock = PathBuf::from(args.next().expect("usage: bench SOCKET [SAMPLES] [TASKS]"));
    let samples: usize = args.next().map_or(20_000, |s| s.parse().expect("SAMPLES"));
    let tasks: usize = args.next().map_or(200_000, |s| s.parse().expect("TASKS"));
    let c = Client::connect_with(Some(&sock), &ConnectOptions::default().max_inflight(1024)).expect("connect");
    let f = c.lookup("echo.noop").expect("lookup");
    for _ in 0..1000 {
        block_on(c.call_fn(f, b"", Default::default())).expect("warm-up call");
    }
    let mut lat: Vec<u64> = Vec::with_capacity(samples);
    for _ in 0..samples {
        let t = Instant::now();
        block_on(c.call_fn(f, b"", Default::default())).expect("call");
        lat.push(t.elapsed().as_nanos() as u64);
    }
    lat.sort_unstable();
    println!("rust rtt {} {} {}", lat[lat.len() / 2], lat[lat.len() * 99 / 100], samples);
    let t = Instant::now();
    let calls: Vec<_> = (0..tasks).map(|_| c.call_fn(f, b"", Default::default())).collect();
    for r in block_on_all(calls) {
        r.expect("call");
    }
    let secs = t.elapsed().as_secs_f64();
    println!("rust tput {:.0} {}", tasks as f64 / secs, tasks);
}
