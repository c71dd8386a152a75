// SPDX-License-Identifier: MIT
//! rsasync: an async Rust module whose awaits are host operations.
//!   rsasync.sleep       "MS" (decimal)     -> empty, after an io_uring timer of MS ms
//!   rsasync.sleep_read  "MS PATH"          -> sleeps MS ms, then the file's bytes (open/read/close
//!                                             through the worker's ring; at most the result size)
//!   rsasync.count       any bytes          -> the number of bytes equal to b'a', counted on the
//!                                             offload pool, as decimal text
//!   rsasync.version     anything           -> "1" (or "2" with feature example-v2)
//!   rsasync.panic       anything           -> sleeps 1 ms, then panics (-ENOTRECOVERABLE, logged)
//! Bad text completes with -EINVAL; cancellation with -ECANCELED.

use std::time::Duration;

use bkmodule::{errno, Ctx, Level};

fn parse_ms(s: &[u8]) -> Result<u64, i32> {
    let t = std::str::from_utf8(s).map_err(|_| -errno::EINVAL)?;
    let ms: u64 = t.parse().map_err(|_| -errno::EINVAL)?;
    if ms > 86_400_000 {
        return Err(-errno::EINVAL);
    }
    Ok(ms)
}

async fn sleep(ctx: Ctx, arg: Vec<u8>) -> Result<Vec<u8>, i32> {
    ctx.sleep(Duration::from_millis(parse_ms(&arg)?)).await?;
    Ok(Vec::new())
}

async fn sleep_read(ctx: Ctx, arg: Vec<u8>) -> Result<Vec<u8>, i32> {
    let sp = arg.iter().position(|&b| b == b' ').ok_or(-errno::EINVAL)?;
    let ms = parse_ms(&arg[..sp])?;
    let path = std::str::from_utf8(&arg[sp + 1..]).map_err(|_| -errno::EINVAL)?;
    if !path.starts_with('/') {
        return Err(-errno::EINVAL);
    }
    ctx.sleep(Duration::from_millis(ms)).await?;
    let max = ctx.result_capacity();
    let data = ctx.read_file(path, max).await?;
    ctx.log(Level::Debug, &format!("read {} bytes of {}", data.len(), path));
    Ok(data)
}

async fn count(ctx: Ctx, arg: Vec<u8>) -> Result<Vec<u8>, i32> {
    let n = ctx.offload(move || arg.iter().filter(|&&b| b == b'a').count() as i32).await?;
    Ok(n.to_string().into_bytes())
}

async fn version(_ctx: Ctx, _arg: Vec<u8>) -> Result<Vec<u8>, i32> {
    Ok(if cfg!(feature = "example-v2") { b"2".to_vec() } else { b"1".to_vec() })
}

async fn panic(ctx: Ctx, _arg: Vec<u8>) -> Result<Vec<u8>, i32> {
    ctx.sleep(Duration::from_millis(1)).await?;
    panic!("rsasync.panic was asked to panic after its timer");
}

bkmodule::module! {
    name: "rsasync",
    version: "1.0.0",
    functions: {
        "sleep" => async sleep,
        "sleep_read" => async sleep_read,
        "count" => async count,
        "version" => async version,
        "panic" => async panic,
    },
}
