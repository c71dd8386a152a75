// SPDX-License-Identifier: MIT
//! Synchronous handlers, `fn(&Request) -> Result<Vec<u8>, i32>`, and what
//! both kinds share: writing a result, completing, logging, catching panics.

use std::any::Any;
use std::ffi::CString;
use std::os::raw::c_int;
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::sys::{bk_host_api, bk_task, BK_TASK_DONE};
use crate::Level;

/// The status of a task whose handler panicked (the panic is logged).
pub const PANIC_STATUS: i32 = -crate::errno::ENOTRECOVERABLE;

/// What a handler returns: the result bytes, or a negative errno.
pub type Outcome = Result<Vec<u8>, i32>;

/// A task as a synchronous handler sees it.
pub struct Request<'a> {
    task: *mut bk_task,
    host: &'a bk_host_api,
}

impl<'a> Request<'a> {
    /// The argument bytes.  A large (zero-copy) argument is a view of client
    /// memory the client may change meanwhile: read each byte once.
    pub fn arg(&self) -> &[u8] {
        arg_of(self.task, self.host)
    }

    /// True once the client cancelled the task or went away.
    pub fn cancelled(&self) -> bool {
        cancelled_of(self.task, self.host)
    }

    /// Bytes the result may hold (larger results complete with -ENOBUFS).
    pub fn result_capacity(&self) -> usize {
        capacity_of(self.task, self.host)
    }

    /// Log through brokerd (stderr, with the module's name).
    pub fn log(&self, level: Level, msg: &str) {
        log_to(self.host, self.task, level, msg);
    }
}

pub(crate) fn arg_of<'a>(task: *mut bk_task, host: &'a bk_host_api) -> &'a [u8] {
    let f = match host.arg {
        Some(f) => f,
        None => return &[],
    };
    let mut len = 0usize;
    // SAFETY: brokerd's arg() returns len readable bytes valid while the task lives.
    let p = unsafe { f(task, &mut len) } as *const u8;
    if p.is_null() || len == 0 {
        return &[];
    }
    // SAFETY: as above.
    unsafe { std::slice::from_raw_parts(p, len) }
}

pub(crate) fn cancelled_of(task: *mut bk_task, host: &bk_host_api) -> bool {
    // SAFETY: a host entry point on a live task.
    host.cancelled.map_or(false, |f| unsafe { f(task) } != 0)
}

pub(crate) fn capacity_of(task: *mut bk_task, host: &bk_host_api) -> usize {
    let mut cap = 0usize;
    if let Some(f) = host.result {
        // SAFETY: a host entry point on a live task.
        unsafe { f(task, &mut cap) };
    }
    cap
}

pub(crate) fn log_to(host: &bk_host_api, task: *mut bk_task, level: Level, msg: &str) {
    if let Some(f) = host.log {
        let text = CString::new(msg.replace('\0', "\\0")).unwrap_or_default();
        // SAFETY: a printf-style entry point given "%s" and a NUL-terminated string.
        unsafe { f(task, level as c_int, b"%s\0".as_ptr() as *const _, text.as_ptr()) };
    }
}

/// Complete the task with out: the bytes go to the result buffer (a result
/// larger than it completes with -ENOBUFS, the host's rule).
pub(crate) fn complete(task: *mut bk_task, host: &bk_host_api, out: Outcome) {
    let complete = match host.complete {
        Some(f) => f,
        None => return,
    };
    match out {
        Ok(bytes) => {
            let mut cap = 0usize;
            let dst = match host.result {
                // SAFETY: a host entry point on a live task.
                Some(f) => (unsafe { f(task, &mut cap) }) as *mut u8,
                None => std::ptr::null_mut(),
            };
            let n = bytes.len().min(cap);
            if n > 0 && !dst.is_null() {
                // SAFETY: dst has cap >= n writable bytes.
                unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), dst, n) };
            }
            // SAFETY: exactly once per task (callers guarantee it).
            unsafe { complete(task, 0, bytes.len()) };
        }
        // SAFETY: as above.  A positive "errno" is a handler bug: report it as -EINVAL.
        Err(e) => unsafe { complete(task, if e < 0 { e } else { -crate::errno::EINVAL }, 0) },
    }
}

/// The text of a panic payload.
pub(crate) fn panic_text(p: &(dyn Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "a non-string panic".to_string()
    }
}

/// The body of a synchronous handler's trampoline (see `module!`).
///
/// # Safety
/// task and host come from brokerd's call of the handler.
pub unsafe fn run_sync(task: *mut bk_task, host: *const bk_host_api, f: fn(&Request) -> Outcome) -> c_int {
    // SAFETY: brokerd passes its host table, valid for the module's life.
    let host = unsafe { &*host };
    let req = Request { task, host };
    let out = match catch_unwind(AssertUnwindSafe(|| f(&req))) {
        Ok(out) => out,
        Err(p) => {
            log_to(host, task, Level::Error, &format!("handler panicked: {}", panic_text(&*p)));
            Err(PANIC_STATUS)
        }
    };
    complete(task, host, out);
    BK_TASK_DONE
}
