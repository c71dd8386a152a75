// SPDX-License-Identifier: MIT
//! bkclient: safe, executor-agnostic Rust bindings of libbkclient, the
//! client library of brokerd (include/broker/client.h).
//!
//! ```no_run
//! let c = bkclient::Client::connect(None)?;          // $BROKER_SOCKET or the default socket
//! let out = bkclient::block_on(c.call("echo.upper", b"hi"))?;  // or `.await` in any executor
//! assert_eq!(out, b"HI");
//! # Ok::<(), bkclient::Error>(())
//! ```
//!
//! How it works: each Client runs one reactor thread that sleeps in poll(2)
//! on `bk_fd` and runs `bk_dispatch`; completion callbacks wake the
//! futures' Wakers, so a `Call` works under any executor (the crate's own
//! `block_on`, tokio, anything).  Name lookups, blocking socket round trips
//! in libbkclient today, run once per name on a helper thread and are
//! cached.  When every slot is in flight, calls wait in a FIFO for one
//! (back-pressure) instead of failing with EAGAIN.  Dropping a pending call
//! cancels the broker task; its slot (and zero-copy blocks) are reclaimed
//! when brokerd completes it.
//!
//! Thread safety: `Client`, `Call` and `Buffer` are `Send`, `Client` and
//! `Buffer` also `Sync`, which is exactly what libbkclient allows: every
//! function used here may be called from several threads at once, except
//! `bk_disconnect`, which runs only when the last handle is dropped.

mod buffer;
mod call;
mod client;
mod core;
mod error;
mod exec;
mod reactor;
pub mod sys;

pub use crate::buffer::Buffer;
pub use crate::call::{BufferCall, BufferReply, Call};
pub use crate::client::{CallOpts, Client, ConnectOptions, Function, Priority};
pub use crate::error::{strerror, Error, Result};
pub use crate::exec::{block_on, block_on_all};
pub use crate::sys::{BK_EBADREGION, BK_EGONE, BK_ELAYOUT, BK_ENOTBROKER, BK_EPROTOCOL, BK_EREFUSED, BK_ESTALE, BK_EVERSION};
