// SPDX-License-Identifier: MIT
//! bkclient under tokio's multi-thread runtime (Debian's tokio 1.24): calls
//! spawned as tokio tasks (so a Call must be Send + 'static), joined,
//! cancelled by tokio's own timeout, and a client-side timeout.

#[path = "../../tests/common/mod.rs"]
mod common;

use std::time::Duration;

use bkclient::{CallOpts, Client, ConnectOptions};

#[test]
fn bkclient_under_tokio() {
    let b = common::Broker::start(2);
    let sock = b.socket.clone();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .expect("tokio runtime");
    common::within(Duration::from_secs(60), move || rt.block_on(check(sock)));
}

async fn check(sock: std::path::PathBuf) {
    let c = Client::connect_with(Some(&sock), &ConnectOptions::default().max_inflight(128)).expect("connect");
    let n = 10_000;
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            let m = format!("tokio {}", i).into_bytes();
            let out = c.call("echo.upper", &m).await.expect("call");
            assert_eq!(out, m.to_ascii_uppercase());
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    // tokio's own timeout drops the Call: the broker task is cancelled and its slot freed.
    let r = tokio::time::timeout(Duration::from_millis(50), c.call("timer.sleep", b"60000")).await;
    assert!(r.is_err(), "a 60 s sleep finished within 50 ms");
    let e = c
        .call_with("timer.sleep", b"60000", CallOpts::default().timeout(Duration::from_millis(50)))
        .await
        .unwrap_err();
    assert!(e.is_timeout(), "{}", e);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while c.inflight() > 0 {
        assert!(std::time::Instant::now() < deadline, "cancelled sleeps still in flight after 10 s");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    println!("tokio: {} calls ok", n);
}
