// SPDX-License-Identifier: MIT
//! A plugin: C functions only cross the boundary to the host (a socket path,
//! counters, a NUL-terminated description).  Everything else, std, bkclient,
//! its reactor thread and the Job struct whose layout a feature changes, is
//! the plugin's own copy.  The one runtime all copies share is brokerd.
//!
//! Exports: plugin_info, plugin_start(socket), plugin_run(n, &completed),
//! plugin_stop.  plugin_run may be called from several host threads at once.

use std::ffi::CStr;
use std::os::raw::{c_char, c_int};
use std::path::Path;
use std::sync::Mutex;

use bkclient::{block_on_all, CallOpts, Client, Function};

#[cfg(not(feature = "wide"))]
#[repr(C)]
#[derive(Clone, Copy)]
struct Job {
    id: u64,
    seq: u64,
    tag: u32,
}

#[cfg(feature = "wide")]
#[repr(C)]
#[derive(Clone, Copy)]
struct Job {
    id: u64,
    pad: [u64; 4], // a different layout: harmless, it never leaves the plugin
    seq: u64,
    tag: u32,
}

impl Job {
    fn new(id: u64, seq: u64) -> Job {
        #[cfg(feature = "wide")]
        return Job { id, pad: [id; 4], seq, tag: 0x5eed };
        #[cfg(not(feature = "wide"))]
        return Job { id, seq, tag: 0x5eed };
    }

    fn bytes(&self) -> Vec<u8> {
        // SAFETY: a #[repr(C)] plain-data struct viewed as bytes (padding included, deterministic here).
        unsafe { std::slice::from_raw_parts(self as *const Job as *const u8, std::mem::size_of::<Job>()) }.to_vec()
    }
}

struct State {
    client: Client,
    echo: Function,
}

static STATE: Mutex<Option<State>> = Mutex::new(None);

#[cfg(all(feature = "v2", feature = "wide"))]
const INFO: &str = concat!("bk-plugin v2, wide Job, opt-level ", env!("PLUGIN_OPT_LEVEL"), "\0");
#[cfg(all(feature = "v2", not(feature = "wide")))]
const INFO: &str = concat!("bk-plugin v2, narrow Job, opt-level ", env!("PLUGIN_OPT_LEVEL"), "\0");
#[cfg(all(not(feature = "v2"), feature = "wide"))]
const INFO: &str = concat!("bk-plugin v1, wide Job, opt-level ", env!("PLUGIN_OPT_LEVEL"), "\0");
#[cfg(all(not(feature = "v2"), not(feature = "wide")))]
const INFO: &str = concat!("bk-plugin v1, narrow Job, opt-level ", env!("PLUGIN_OPT_LEVEL"), "\0");

/// What this build is (name, version, layout); static, NUL-terminated.
#[no_mangle]
pub extern "C" fn plugin_info() -> *const c_char {
    INFO.as_ptr() as *const c_char
}

/// size_of::<Job>() in this build.
#[no_mangle]
pub extern "C" fn plugin_job_size() -> u32 {
    std::mem::size_of::<Job>() as u32
}

/// Connect to brokerd at socket and look the function up; 0 or a negative code.
#[no_mangle]
pub extern "C" fn plugin_start(socket: *const c_char) -> c_int {
    let r = std::panic::catch_unwind(|| {
        // SAFETY: the host passes a NUL-terminated path.
        let path = unsafe { CStr::from_ptr(socket) }.to_string_lossy().into_owned();
        let client = Client::connect(Some(Path::new(&path)))?;
        let echo = client.lookup("echo.echo")?;
        *STATE.lock().unwrap() = Some(State { client, echo });
        Ok::<(), bkclient::Error>(())
    });
    match r {
        Ok(Ok(())) => 0,
        Ok(Err(e)) => e.code(),
        Err(_) => -131,
    }
}

/// Submit n echo calls of Jobs at once, await them all, check each result;
/// adds the verified ones to *completed.  0, or the first error's code.
#[no_mangle]
pub extern "C" fn plugin_run(n: u32, completed: *mut u64) -> c_int {
    let r = std::panic::catch_unwind(|| {
        let (client, echo) = match STATE.lock().unwrap().as_ref() {
            Some(s) => (s.client.clone(), s.echo),
            None => return -22,
        };
        static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let base = SEQ.fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        let jobs: Vec<Vec<u8>> = (0..n as u64).map(|i| Job::new(base + i, i).bytes()).collect();
        let calls: Vec<_> = jobs.iter().map(|j| client.call_fn(echo, j, CallOpts::default())).collect();
        let mut ok = 0u64;
        let mut first_err = 0;
        for (out, job) in block_on_all(calls).into_iter().zip(&jobs) {
            match out {
                Ok(bytes) if &bytes == job => ok += 1,
                Ok(_) => first_err = if first_err == 0 { -71 } else { first_err },
                Err(e) => first_err = if first_err == 0 { e.code() } else { first_err },
            }
        }
        // SAFETY: the host passes a valid counter.
        unsafe { *completed += ok };
        first_err
    });
    r.unwrap_or(-131)
}

/// Drop the client: its reactor and lookup threads are joined, so after
/// this returns no thread runs plugin code and the host may dlclose it.
#[no_mangle]
pub extern "C" fn plugin_stop() {
    let _ = std::panic::catch_unwind(|| {
        let s = STATE.lock().unwrap().take();
        drop(s);
    });
}
