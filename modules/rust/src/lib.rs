// SPDX-License-Identifier: MIT
//! bkmodule: brokerd task modules in Rust, built as a `cdylib`.
//!
//! ```ignore
//! use bkmodule::{Ctx, Request};
//!
//! fn upper(req: &Request) -> Result<Vec<u8>, i32> {
//!     Ok(req.arg().to_ascii_uppercase())
//! }
//!
//! async fn nap(ctx: Ctx, arg: Vec<u8>) -> Result<Vec<u8>, i32> {
//!     ctx.sleep(std::time::Duration::from_millis(10)).await?;   // an io_uring timer of the worker
//!     Ok(arg)
//! }
//!
//! bkmodule::module! {
//!     name: "demo",
//!     version: "1.0.0",
//!     functions: { "upper" => sync upper, "nap" => async nap },
//! }
//! ```
//!
//! `module!` exports `bk_module_entry_v1` and the descriptor of
//! include/broker/module.h (mirrored in `sys`, checked against the header by
//! tests/layout.rs).  Handlers return the result bytes or a negative errno.
//! A synchronous handler runs to the end on the worker; an async one is
//! polled on the worker and may await only the host operations of `Ctx`
//! (see runtime.rs).  A panic never crosses into brokerd: it is caught, logged
//! through the host, and the task completes with `PANIC_STATUS`
//! (-ENOTRECOVERABLE).
#![warn(unsafe_op_in_unsafe_fn)]

mod macros;
mod runtime;
mod sync_task;
pub mod sys;

pub use crate::runtime::{run_async, Ctx, TaskFuture};
pub use crate::sync_task::{run_sync, Outcome, Request, PANIC_STATUS};

/// Log levels of host->log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
pub enum Level {
    Error = 0,
    Warn = 1,
    Info = 2,
    Debug = 3,
}

/// The errno values handlers commonly return (negated: `Err(-errno::EINVAL)`).
pub mod errno {
    pub const ENOENT: i32 = 2;
    pub const EIO: i32 = 5;
    pub const ENOMEM: i32 = 12;
    pub const EINVAL: i32 = 22;
    pub const EDEADLK: i32 = 35;
    pub const ENOSYS: i32 = 38;
    pub const ETIME: i32 = 62;
    pub const EPROTO: i32 = 71;
    pub const ENOBUFS: i32 = 105;
    pub const ECANCELED: i32 = 125;
    pub const ENOTRECOVERABLE: i32 = 131;
    /// open(2)'s O_CLOEXEC on Linux.
    pub const O_CLOEXEC: i32 = 0o2000000;
}

/// init's check of the host table brokerd passed: our ABI, and large enough
/// for every entry point this crate may call.
///
/// # Safety
/// host is brokerd's table (or NULL).
pub unsafe fn host_ok(host: *const sys::bk_host_api) -> bool {
    if host.is_null() {
        return false;
    }
    // SAFETY: brokerd's table; size and abi_version come first in every version.
    let h = unsafe { &*host };
    h.abi_version == sys::BK_MODULE_ABI_VERSION && h.size as usize >= std::mem::size_of::<sys::bk_host_api>()
}

/// The body of the init trampoline: check the host, run the module's init.
///
/// # Safety
/// Called by brokerd with its host table and a state pointer to fill.
pub unsafe fn run_init(host: *const sys::bk_host_api, state: *mut *mut std::os::raw::c_void, init: Option<fn() -> Result<(), i32>>) -> i32 {
    if !state.is_null() {
        // SAFETY: brokerd's out parameter.
        unsafe { *state = std::ptr::null_mut() };
    }
    // SAFETY: as documented.
    if !unsafe { host_ok(host) } {
        return -errno::EPROTO;
    }
    match init {
        None => 0,
        Some(f) => match std::panic::catch_unwind(f) {
            Ok(Ok(())) => 0,
            Ok(Err(e)) if e < 0 => e,
            Ok(Err(_)) => -errno::EINVAL,
            Err(_) => PANIC_STATUS,
        },
    }
}

/// The body of the fini trampoline.
pub fn run_fini(fini: fn()) {
    let _ = std::panic::catch_unwind(fini);
}
