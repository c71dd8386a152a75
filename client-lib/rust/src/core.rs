// SPDX-License-Identifier: MIT
//! The state one connection shares between user threads and its reactor
//! thread: the bk_client pointer, the calls in flight (tickets), the FIFO of
//! futures waiting for a slot, the timers of client-side timeouts, and the
//! completion callback that bk_dispatch runs on the reactor thread.
//!
//! Ownership of a bk_future: it is posted by the user thread and released
//! only by the completion callback (on the reactor thread), never by the
//! user, so a release can never race a running callback.  Dropping a
//! pending call only asks the broker to cancel it (bk_cancel) and marks the
//! call abandoned; the callback then releases it and frees its zero-copy
//! blocks, which the task may use until the broker completes it.

use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::cmp::Reverse;
use std::io::Write;
use std::os::raw::c_void;
use std::os::unix::net::UnixStream;
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Waker;
use std::time::Instant;

use crate::buffer::Buffer;
use crate::error::{Error, Result};
use crate::sys;

/// Lock a mutex, ignoring poisoning: every critical section here leaves
/// the data consistent before anything that could panic.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

/// What a completed call produced.
pub(crate) enum Reply {
    /// Result bytes copied out of the inline buffer.
    Bytes(Vec<u8>),
    /// This many result bytes sit in the call's zero-copy result block.
    InBuffer(usize),
}

/// One call as the user's future and the completion callback both see it.
pub(crate) struct CallInner {
    pub f: *mut sys::bk_future, // null until posted and after release
    pub outcome: Option<Result<Reply>>,
    pub waker: Option<Waker>,
    pub abandoned: bool,
    pub arg_buf: Option<Buffer>,
    pub res_buf: Option<Buffer>,
}

pub(crate) struct CallState {
    pub inner: Mutex<CallInner>,
}

// SAFETY: the bk_future pointer is only used under the mutex, and
// libbkclient's bk_cancel/bk_result/bk_release may be called from any thread.
unsafe impl Send for CallInner {}

impl CallState {
    pub fn new(arg_buf: Option<Buffer>, res_buf: Option<Buffer>) -> Arc<CallState> {
        Arc::new(CallState {
            inner: Mutex::new(CallInner {
                f: ptr::null_mut(),
                outcome: None,
                waker: None,
                abandoned: false,
                arg_buf,
                res_buf,
            }),
        })
    }

    /// The user gave up on the call: ask the broker to cancel it.
    pub fn abandon(&self) {
        let mut g = lock(&self.inner);
        if g.outcome.is_none() && !g.f.is_null() {
            g.abandoned = true;
            // SAFETY: f is live: only the callback releases it, under this lock.
            // -EAGAIN (ring full) is best effort: the task then runs to its end.
            unsafe { sys::bk_cancel(g.f) };
        }
    }
}

/// A call's argument: bytes copied into the slot, or the first n bytes of its zero-copy block.
pub(crate) enum Arg<'a> {
    Bytes(&'a [u8]),
    Block(usize),
}

/// user_data of a posted call: boxed so its address is stable, owned by Core::tickets.
/// What bk_call carries beside the call itself: the lane and an absolute deadline.
#[derive(Clone, Copy, Debug, Default)]
pub struct SubmitOpts {
    pub priority: u32,
    pub deadline: Option<Instant>,
}

impl SubmitOpts {
    /// bk_call.deadline_ns: what is left until the deadline, at least 1 ns; 0 for none.
    pub fn deadline_ns(&self) -> i64 {
        match self.deadline {
            None => 0,
            Some(d) => d.saturating_duration_since(Instant::now()).as_nanos().clamp(1, i64::MAX as u128) as i64,
        }
    }
}

struct Ticket {
    core: *const Core,
    state: Arc<CallState>,
}

/// A name lookup running on a helper thread, awaited by any number of calls.
pub(crate) struct LookupSlot {
    pub inner: Mutex<(Option<Result<u32>>, Vec<Waker>)>,
}

pub(crate) enum Lookup {
    Done(u32),
    Running(Arc<LookupSlot>),
}

/// A future waiting for a slot.  queued and waker are only touched under
/// the Waiters lock; an entry whose future left (queued false) is skipped.
pub(crate) struct WaitEntry {
    queued: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

impl WaitEntry {
    pub fn new() -> Arc<WaitEntry> {
        Arc::new(WaitEntry { queued: AtomicBool::new(false), waker: Mutex::new(None) })
    }
}

struct Waiters {
    queue: VecDeque<Arc<WaitEntry>>,
    gen: u64, // bumped by every dispatch: a waiter that saw an older value retries
}

impl Waiters {
    /// Wake up to n live waiters, oldest first; returns their wakers.
    fn pop(&mut self, n: usize) -> Vec<Waker> {
        let mut out = Vec::new();
        while out.len() < n {
            let e = match self.queue.pop_front() {
                Some(e) => e,
                None => break,
            };
            if e.queued.swap(false, Ordering::Relaxed) {
                if let Some(w) = lock(&e.waker).take() {
                    out.push(w);
                }
            }
        }
        out
    }
}

struct Timers {
    heap: BinaryHeap<Reverse<(Instant, u64)>>,
    wakers: HashMap<u64, Waker>,
}

pub(crate) struct Core {
    pub c: *mut sys::bk_client,
    pub inline_size: usize,
    pub zero_copy_size: usize,
    pub gone: AtomicBool,
    pub stop: AtomicBool,
    pub fns: Mutex<HashMap<String, Lookup>>,
    tickets: Mutex<HashMap<usize, Box<Ticket>>>,
    waiters: Mutex<Waiters>,
    timers: Mutex<Timers>,
    next_timer: AtomicU64,
    wake_tx: UnixStream,
    /// Lookup threads, joined when the last Client goes: after that no
    /// thread runs this crate's code (a plugin may then be dlclose'd).
    pub helpers: Mutex<Vec<std::thread::JoinHandle<()>>>,
}

// SAFETY: libbkclient is thread-safe for every call made through Core from
// several threads (submit, cancel, result, release, lookup, buffers,
// dispatch); bk_disconnect runs only in Drop, when no other user is left.
unsafe impl Send for Core {}
unsafe impl Sync for Core {}

impl Core {
    pub fn new(c: *mut sys::bk_client, inline_size: usize, zero_copy_size: usize, wake_tx: UnixStream) -> Core {
        Core {
            c,
            inline_size,
            zero_copy_size,
            gone: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            fns: Mutex::new(HashMap::new()),
            tickets: Mutex::new(HashMap::new()),
            waiters: Mutex::new(Waiters { queue: VecDeque::new(), gen: 0 }),
            timers: Mutex::new(Timers { heap: BinaryHeap::new(), wakers: HashMap::new() }),
            next_timer: AtomicU64::new(1),
            wake_tx,
            helpers: Mutex::new(Vec::new()),
        }
    }

    /// Post one call (with its lane and deadline, `so`).  Ok(false): no slot or ring space now (wait_slot, then retry).
    pub fn submit(self: &Arc<Self>, fn_: u32, arg: Arg<'_>, st: &Arc<CallState>, so: SubmitOpts) -> Result<bool> {
        let ticket = Box::new(Ticket { core: Arc::as_ptr(self), state: st.clone() });
        let key = &*ticket as *const Ticket as usize;
        // In the map before the post: the callback may run on the reactor at once.
        lock(&self.tickets).insert(key, ticket);
        // Held across the post so the callback (which takes it) sees f stored.
        let mut g = lock(&st.inner);
        let (arg_ptr, len) = match (&arg, &g.arg_buf) {
            (Arg::Block(n), Some(b)) => (b.as_ptr() as *const c_void, (*n).min(b.len())),
            (Arg::Bytes(a), _) => (a.as_ptr() as *const c_void, a.len()),
            (Arg::Block(_), None) => return Err(Error::new(-sys::EINVAL)),
        };
        let (res_ptr, res_cap) = match &g.res_buf {
            Some(b) => (b.as_ptr() as *mut c_void, b.len()),
            None => (ptr::null_mut(), 0),
        };
        let call = sys::bk_call {
            fn_,
            arg: if len == 0 { ptr::null() } else { arg_ptr },
            len,
            result: res_ptr,
            result_cap: res_cap,
            cb: Some(on_complete),
            user_data: key as *mut c_void,
            deadline_ns: so.deadline_ns(),
            priority: so.priority,
            flags: 0,
        };
        let mut out = ptr::null_mut();
        // SAFETY: call points at live memory for the duration of the call.
        let r = unsafe { sys::bk_submit_batch(self.c, &call, 1, &mut out) };
        if r == 1 {
            g.f = out;
            return Ok(true);
        }
        drop(g);
        lock(&self.tickets).remove(&key);
        if r == -sys::EAGAIN {
            return Ok(false);
        }
        if r == sys::BK_EGONE {
            self.gone.store(true, Ordering::Release);
        }
        Err(Error::new(if r < 0 { r } else { sys::BK_EPROTOCOL }))
    }

    pub fn inflight(&self) -> usize {
        lock(&self.tickets).len()
    }

    /// The current dispatch generation (read before a submit attempt).
    pub fn slot_gen(&self) -> u64 {
        lock(&self.waiters).gen
    }

    /// True when futures wait for a slot (a new call then queues behind them).
    pub fn has_waiters(&self) -> bool {
        !lock(&self.waiters).queue.is_empty()
    }

    /// After a failed submit at generation gen: true to retry at once (a
    /// dispatch ran since, or the broker is gone); else e waits in the FIFO.
    pub fn wait_slot(&self, gen: u64, e: &Arc<WaitEntry>, waker: &Waker) -> bool {
        let mut w = lock(&self.waiters);
        if w.gen != gen || self.gone.load(Ordering::Acquire) {
            return true;
        }
        *lock(&e.waker) = Some(waker.clone());
        if !e.queued.swap(true, Ordering::Relaxed) {
            w.queue.push_back(e.clone());
        }
        false
    }

    /// A waiting future leaves without posting (dropped, timed out, failed).
    /// Still queued: it is skipped from now on.  Already woken: its turn
    /// (a freed slot) goes to the next waiter, so no slot is left unused.
    pub fn leave(&self, e: &Arc<WaitEntry>) {
        let woken = {
            let mut w = lock(&self.waiters);
            if e.queued.swap(false, Ordering::Relaxed) {
                *lock(&e.waker) = None;
                return;
            }
            w.pop(1)
        };
        for k in woken {
            k.wake();
        }
    }

    /// Reactor: n slots may have been freed; wake that many waiters (all when gone).
    pub fn slots_freed(&self, n: usize) {
        let woken = {
            let mut w = lock(&self.waiters);
            w.gen += 1;
            let n = if self.gone.load(Ordering::Acquire) { usize::MAX } else { n };
            w.pop(n)
        };
        for k in woken {
            k.wake();
        }
    }

    /// Register (or refresh) a timer that wakes waker at deadline; returns its id.
    pub fn set_timer(&self, id: Option<u64>, deadline: Instant, waker: &Waker) -> u64 {
        let mut t = lock(&self.timers);
        let id = match id {
            Some(id) if t.wakers.contains_key(&id) => {
                t.wakers.insert(id, waker.clone());
                return id;
            }
            _ => self.next_timer.fetch_add(1, Ordering::Relaxed),
        };
        let earliest = t.heap.peek().map(|Reverse((d, _))| *d);
        t.heap.push(Reverse((deadline, id)));
        t.wakers.insert(id, waker.clone());
        drop(t);
        if earliest.map_or(true, |e| deadline < e) {
            self.wake_reactor(); // its poll timeout is too long now
        }
        id
    }

    pub fn clear_timer(&self, id: u64) {
        lock(&self.timers).wakers.remove(&id);
    }

    /// Reactor: wake the expired timers; returns the time until the next one.
    pub fn expire_timers(&self, now: Instant) -> Option<std::time::Duration> {
        let mut woken = Vec::new();
        let next = {
            let mut t = lock(&self.timers);
            while let Some(Reverse((d, id))) = t.heap.peek().copied() {
                if d > now && t.wakers.contains_key(&id) {
                    break;
                }
                t.heap.pop();
                if let Some(w) = t.wakers.remove(&id) {
                    woken.push(w);
                }
            }
            t.heap.peek().map(|Reverse((d, _))| d.saturating_duration_since(now))
        };
        for w in woken {
            w.wake();
        }
        next
    }

    pub fn wake_reactor(&self) {
        // WouldBlock: a byte is already waiting, so the reactor wakes anyway.
        let _ = (&self.wake_tx).write(&[1u8]);
    }

    /// Drop the tickets of abandoned calls (after the reactor stopped): their
    /// zero-copy blocks hold the Core alive, and no callback will run now.
    pub fn drop_tickets(&self) {
        let all: Vec<Box<Ticket>> = lock(&self.tickets).drain().map(|(_, t)| t).collect();
        drop(all);
    }
}

impl Drop for Core {
    fn drop(&mut self) {
        // SAFETY: the last reference: no thread uses the client any more.
        unsafe { sys::bk_disconnect(self.c) };
    }
}

/// bk_complete_cb of every call; runs inside bk_dispatch on the reactor thread.
extern "C" fn on_complete(f: *mut sys::bk_future, user_data: *mut c_void) {
    // A panic must not unwind into C.
    let r = std::panic::catch_unwind(|| {
        let key = user_data as usize;
        // SAFETY: the ticket is alive while it is in the map, and its Core
        // outlives the reactor thread that runs this callback.
        let core = unsafe { &*(*(key as *const Ticket)).core };
        let ticket = match lock(&core.tickets).remove(&key) {
            Some(t) => t,
            None => return,
        };
        complete(&ticket.state, f);
    });
    if r.is_err() {
        std::process::abort();
    }
}

fn complete(st: &CallState, f: *mut sys::bk_future) {
    let mut g = lock(&st.inner);
    let mut data: *const c_void = ptr::null();
    let mut len = 0usize;
    // SAFETY: f is done (we are its completion callback) and not yet released.
    let status = unsafe { sys::bk_result(f, &mut data, &mut len) };
    let out = if status == -sys::ENOBUFS {
        Err(Error::no_buffer_space(len))
    } else if status < 0 {
        Err(Error::new(status))
    } else if g.res_buf.is_some() {
        Ok(Reply::InBuffer(len))
    } else if len == 0 {
        Ok(Reply::Bytes(Vec::new()))
    } else {
        // SAFETY: bk_result's bytes are valid until bk_release.
        Ok(Reply::Bytes(unsafe { std::slice::from_raw_parts(data as *const u8, len) }.to_vec()))
    };
    // SAFETY: released once, here; g.f is cleared under the same lock.
    unsafe { sys::bk_release(f) };
    g.f = ptr::null_mut();
    if status == sys::BK_EGONE {
        // Lost with its broker: its blocks are not reused (client.h, "How a future ends").
        if let Some(b) = g.arg_buf.take() {
            b.retire();
        }
        if let Some(b) = g.res_buf.take() {
            b.retire();
        }
    }
    if g.abandoned {
        g.arg_buf = None;
        g.res_buf = None;
        return;
    }
    g.outcome = Some(out);
    let w = g.waker.take();
    drop(g);
    if let Some(w) = w {
        w.wake();
    }
}
