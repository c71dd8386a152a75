// SPDX-License-Identifier: MIT
//! bkclient against a real brokerd: every built-in, zero-copy Buffers,
//! 10,000 concurrent futures under back-pressure, drop-cancels, timeouts,
//! threads sharing one Client, and the death of the broker.

mod common;

use std::time::{Duration, Instant};

use bkclient::{block_on, CallOpts, Client, ConnectOptions, Error, Priority};
use common::{run_all, wait_until, within, Broker};

const ENOENT: i32 = -2;
const EINVAL: i32 = -22;
const ENOBUFS: i32 = -105;
const EMSGSIZE: i32 = -90;

fn sha256_abc() -> Vec<u8> {
    let hex = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    (0..32).map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap()).collect()
}

#[test]
fn every_builtin() {
    let b = Broker::start(2);
    let c = Client::connect(Some(&b.socket)).unwrap();
    within(Duration::from_secs(30), move || {
        assert_eq!(block_on(c.call("echo.noop", b"x")).unwrap(), b"");
        let blob: Vec<u8> = (0..=255).collect();
        assert_eq!(block_on(c.call("echo.echo", &blob)).unwrap(), blob);
        assert_eq!(c.call("echo.upper", b"hi, Rust 1!").wait().unwrap(), b"HI, RUST 1!");
        assert_eq!(block_on(c.call("hash.sha256", b"abc")).unwrap(), sha256_abc());
        assert_eq!(block_on(c.call("timer.sleep", b"5")).unwrap(), b"");
        let path = std::env::temp_dir().join(format!("bk-rs-file-{}", std::process::id()));
        std::fs::write(&path, b"0123456789").unwrap();
        let arg = format!("2 5 {}", path.display());
        assert_eq!(block_on(c.call("file.read", arg.as_bytes())).unwrap(), b"23456");
        std::fs::remove_file(&path).unwrap();
        let e = block_on(c.call("file.read", arg.as_bytes())).unwrap_err();
        assert_eq!(e.code(), ENOENT);
        assert_eq!(block_on(c.call("timer.sleep", b"soon")).unwrap_err().code(), EINVAL);
        let e = block_on(c.call("echo.nosuch", b"")).unwrap_err();
        assert_eq!(e.code(), ENOENT);
        assert!(e.to_string().contains("echo.nosuch"), "{}", e);
        let e = block_on(c.call("echo.echo", &[7u8; 1000])).unwrap_err();
        assert_eq!((e.code(), e.needed()), (ENOBUFS, Some(1000)));
        let f = c.lookup("echo.upper").unwrap();
        assert_eq!(block_on(c.call_fn(f, b"abc", CallOpts::default())).unwrap(), b"ABC");
    });
}

#[test]
fn zero_copy_buffers() {
    let b = Broker::start(1);
    let c = Client::connect(Some(&b.socket)).unwrap();
    within(Duration::from_secs(30), move || {
        let big: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
        // Through CallOpts: blocks are allocated and freed for the caller.
        let out = block_on(c.call_with("echo.echo", &big, CallOpts::default().result_size(big.len()))).unwrap();
        assert_eq!(out, big);
        // Owned Buffers: no copy of the argument or the result.
        let mut arg = c.buffer(big.len()).expect("arg block");
        arg.copy_from_slice(&big);
        let res = c.buffer(big.len()).expect("result block");
        let r = block_on(c.call_buffer("echo.upper", arg, big.len(), Some(res), CallOpts::default()));
        let n = r.status.unwrap();
        let want: Vec<u8> = big.iter().map(|b| b.to_ascii_uppercase()).collect();
        assert_eq!(&r.result.as_ref().unwrap()[..n], &want[..]);
        assert_eq!(&r.arg.as_ref().unwrap()[..], &big[..]);
        // A block too large for the 4 MiB area.
        let e = block_on(c.call("echo.echo", &vec![0u8; 8 << 20])).unwrap_err();
        assert_eq!(e.code(), EMSGSIZE);
    });
}

#[test]
fn ten_thousand_concurrent_futures() {
    let b = Broker::start(2);
    let c = Client::connect_with(Some(&b.socket), &ConnectOptions::default().max_inflight(256)).unwrap();
    within(Duration::from_secs(60), move || {
        c.lookup("echo.echo").unwrap();
        let msgs: Vec<Vec<u8>> = (0..10_000).map(|i| format!("msg {}", i).into_bytes()).collect();
        let calls: Vec<_> = msgs.iter().map(|m| c.call("echo.echo", m)).collect();
        // 256 slots: calls beyond them wait for a slot instead of failing with EAGAIN.
        assert!(c.inflight() <= 256);
        let out = run_all(calls);
        for (o, m) in out.into_iter().zip(&msgs) {
            assert_eq!(&o.unwrap(), m);
        }
        assert_eq!(c.inflight(), 0);
    });
}

#[test]
fn drop_cancels_and_frees_the_slot() {
    let b = Broker::start(1);
    let c = Client::connect_with(Some(&b.socket), &ConnectOptions::default().max_inflight(8)).unwrap();
    within(Duration::from_secs(30), move || {
        c.lookup("timer.sleep").unwrap();
        let sleeps: Vec<_> = (0..12).map(|_| c.call("timer.sleep", b"60000")).collect();
        assert_eq!(c.inflight(), 8);
        drop(sleeps);
        // The broker cancelled the 60 s sleeps: the slots come back now, not in a minute.
        wait_until(Duration::from_secs(10), || c.inflight() == 0);
        let echoes: Vec<_> = (0..8).map(|i| c.call("echo.echo", format!("{}", i).as_bytes())).collect();
        for (i, r) in run_all(echoes).into_iter().enumerate() {
            assert_eq!(r.unwrap(), format!("{}", i).into_bytes());
        }
    });
}

#[test]
fn timeout_fails_and_cancels() {
    let b = Broker::start(1);
    let c = Client::connect_with(Some(&b.socket), &ConnectOptions::default().max_inflight(2)).unwrap();
    within(Duration::from_secs(30), move || {
        let t0 = Instant::now();
        let opts = CallOpts::default().timeout(Duration::from_millis(50));
        for _ in 0..4 {
            let e = block_on(c.call_with("timer.sleep", b"60000", opts.clone())).unwrap_err();
            assert!(e.is_timeout(), "{}", e);
        }
        wait_until(Duration::from_secs(10), || c.inflight() == 0);
        assert_eq!(block_on(c.call("echo.echo", b"ok")).unwrap(), b"ok");
        assert!(t0.elapsed() < Duration::from_secs(10));
    });
}

#[test]
fn priorities_and_deadlines() {
    let b = Broker::start(1);
    let c = Client::connect(Some(&b.socket)).unwrap();
    within(Duration::from_secs(30), move || {
        for p in [Priority::Normal, Priority::Interactive, Priority::Background] {
            let opts = CallOpts::default().priority(p).timeout(Duration::from_secs(10));
            assert_eq!(block_on(c.call_with("echo.upper", b"lane", opts)).unwrap(), b"LANE");
        }
    });
}

#[test]
fn threads_share_a_client() {
    fn assert_send_sync<T: Send + Sync>() {}
    fn assert_send<T: Send>() {}
    assert_send_sync::<Client>();
    assert_send_sync::<bkclient::Buffer>();
    assert_send::<bkclient::Call>();
    let b = Broker::start(2);
    let c = Client::connect_with(Some(&b.socket), &ConnectOptions::default().max_inflight(4)).unwrap();
    within(Duration::from_secs(60), move || {
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let c = c.clone();
                std::thread::spawn(move || {
                    for i in 0..300 {
                        let m = format!("{}-{}", t, i);
                        assert_eq!(c.call("echo.echo", m.as_bytes()).wait().unwrap(), m.into_bytes());
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
    });
}

#[test]
fn broker_death_fails_pending_calls() {
    let mut b = Broker::start(1);
    let c = Client::connect_with(Some(&b.socket), &ConnectOptions::default().max_inflight(8)).unwrap();
    c.lookup("timer.sleep").unwrap();
    let calls: Vec<_> = (0..20).map(|_| c.call("timer.sleep", b"60000")).collect();
    assert_eq!(c.inflight(), 8);
    let t0 = Instant::now();
    b.kill();
    let c2 = c.clone();
    let (out, elapsed) = within(Duration::from_secs(10), move || {
        let out = run_all(calls);
        (out, t0.elapsed())
    });
    for r in out {
        let e: Error = r.unwrap_err();
        assert!(e.is_gone(), "{}", e);
        assert!(e.message().contains("broker gone"), "{}", e.message());
    }
    assert!(elapsed < Duration::from_secs(2), "pending calls learned of the death after {:?}", elapsed);
    assert!(block_on(c2.call("echo.echo", b"late")).unwrap_err().is_gone());
    assert!(c2.is_gone());
}

#[test]
fn connect_failure_names_the_error() {
    let e = Client::connect(Some(std::path::Path::new("/nonexistent/bk.sock"))).unwrap_err();
    assert!(e.code() == ENOENT || e.code() == -111, "{}", e);
    assert!(!e.message().is_empty());
}
