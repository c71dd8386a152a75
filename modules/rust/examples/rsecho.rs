// SPDX-License-Identifier: MIT
//! rsecho: a synchronous Rust module.
//!   rsecho.reverse  any bytes        -> the bytes reversed
//!   rsecho.sum      "1 2 3" (decimal numbers separated by spaces) -> "6"; bad text -EINVAL
//!   rsecho.version  anything         -> "1" (or "2" when built with feature example-v2)
//!   rsecho.panic    anything         -> panics: the task fails with -ENOTRECOVERABLE, logged

use bkmodule::{errno, Request};

fn reverse(req: &Request) -> Result<Vec<u8>, i32> {
    let mut v = req.arg().to_vec(); // one read of the (possibly live) argument
    v.reverse();
    Ok(v)
}

fn sum(req: &Request) -> Result<Vec<u8>, i32> {
    let text = std::str::from_utf8(req.arg()).map_err(|_| -errno::EINVAL)?;
    let mut total: u64 = 0;
    for w in text.split(' ') {
        let n: u64 = w.parse().map_err(|_| -errno::EINVAL)?;
        total = total.checked_add(n).ok_or(-errno::EINVAL)?;
    }
    Ok(total.to_string().into_bytes())
}

fn version(_req: &Request) -> Result<Vec<u8>, i32> {
    Ok(if cfg!(feature = "example-v2") { b"2".to_vec() } else { b"1".to_vec() })
}

fn panic(_req: &Request) -> Result<Vec<u8>, i32> {
    panic!("rsecho.panic was asked to panic");
}

bkmodule::module! {
    name: "rsecho",
    version: "1.0.0",
    functions: {
        "reverse" => sync reverse,
        "sum" => sync sum,
        "version" => sync version,
        "panic" => sync panic,
    },
}
