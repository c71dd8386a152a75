// SPDX-License-Identifier: MIT
//! Async handlers: `async fn(Ctx, Vec<u8>) -> Result<Vec<u8>, i32>`, polled
//! on the task's worker thread.  Their awaits are host operations (timer,
//! open, read, write, close, offload): each starts an io_uring operation
//! whose completion callback, on the same worker, stores the result and
//! polls the task's future again.  There is no executor and no thread of
//! our own: brokerd's worker is the executor.
//!
//! Rules that follow: a future may only await host operations (anything
//! else never wakes it; when a poll returns Pending with no operation
//! outstanding, the task fails with -EDEADLK and says so in the log).  An
//! operation's buffers are owned by its state, which its callback holds,
//! so dropping an operation future early is safe; brokerd keeps the task
//! (and the module) alive until that callback ran.

use std::cell::{Cell, RefCell};
use std::ffi::CString;
use std::future::Future;
use std::os::raw::{c_int, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use crate::errno;
use crate::sync_task::{self, log_to, panic_text, Outcome, PANIC_STATUS};
use crate::sys::{bk_host_api, bk_task, BK_TASK_DONE, BK_TASK_PENDING};
use crate::Level;

/// A boxed handler future, as `module!` builds it.
pub type TaskFuture = Pin<Box<dyn Future<Output = Outcome>>>;

/// The Waker of a task: only a flag, since every legitimate wake comes from
/// a host callback on the worker, which then polls again (see drive).
struct Flag(AtomicBool);

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::Release);
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.store(true, Ordering::Release);
    }
}

struct TaskCore {
    task: *mut bk_task,
    host: &'static bk_host_api,
    future: RefCell<Option<TaskFuture>>,
    flag: Arc<Flag>,
    waker: Waker,
    polling: Cell<bool>,
    finished: Cell<bool>,
    outstanding: Cell<u32>,
}

/// Poll the task's future until it is Ready or waits on an operation.
fn drive(core: &Rc<TaskCore>) {
    if core.polling.get() || core.finished.get() {
        return; // a callback inside a poll: the loop below polls again
    }
    core.polling.set(true);
    let mut cx = Context::from_waker(&core.waker);
    loop {
        core.flag.0.store(false, Ordering::Relaxed);
        let polled = {
            let mut slot = core.future.borrow_mut();
            let fut = match slot.as_mut() {
                Some(f) => f,
                None => break,
            };
            catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(&mut cx)))
        };
        let out = match polled {
            Ok(Poll::Ready(out)) => out,
            Err(p) => {
                log_to(core.host, core.task, Level::Error, &format!("async handler panicked: {}", panic_text(&*p)));
                Err(PANIC_STATUS)
            }
            Ok(Poll::Pending) if core.flag.0.load(Ordering::Acquire) => continue,
            Ok(Poll::Pending) if core.outstanding.get() > 0 => break,
            Ok(Poll::Pending) => {
                log_to(core.host, core.task, Level::Error, "async handler waits on something that is not a host operation");
                Err(-errno::EDEADLK)
            }
        };
        finish(core, out);
        break;
    }
    core.polling.set(false);
}

fn finish(core: &Rc<TaskCore>, out: Outcome) {
    core.finished.set(true);
    sync_task::complete(core.task, core.host, out);
    // Dropping the future drops its operation futures; their states live on with their callbacks.
    let fut = core.future.borrow_mut().take();
    if catch_unwind(AssertUnwindSafe(move || drop(fut))).is_err() {
        log_to(core.host, core.task, Level::Error, "async handler panicked while dropped");
    }
}

/// The body of an async handler's trampoline (see `module!`).
///
/// # Safety
/// task and host come from brokerd's call of the handler.
pub unsafe fn run_async(task: *mut bk_task, host: *const bk_host_api, make: fn(Ctx, Vec<u8>) -> TaskFuture) -> c_int {
    // SAFETY: brokerd's host table lives as long as the module.
    let host: &'static bk_host_api = unsafe { &*host };
    let flag = Arc::new(Flag(AtomicBool::new(false)));
    let core = Rc::new(TaskCore {
        task,
        host,
        future: RefCell::new(None),
        waker: Waker::from(flag.clone()),
        flag,
        polling: Cell::new(false),
        finished: Cell::new(false),
        outstanding: Cell::new(0),
    });
    let arg = sync_task::arg_of(task, host).to_vec();
    let ctx = Ctx { core: core.clone() };
    match catch_unwind(AssertUnwindSafe(|| make(ctx, arg))) {
        Ok(f) => *core.future.borrow_mut() = Some(f),
        Err(p) => {
            log_to(host, task, Level::Error, &format!("async handler panicked: {}", panic_text(&*p)));
            finish(&core, Err(PANIC_STATUS));
        }
    }
    drive(&core);
    if core.finished.get() {
        BK_TASK_DONE
    } else {
        BK_TASK_PENDING
    }
}

/// What an operation needs while in flight; owned by its callback.
struct OpState {
    core: Rc<TaskCore>,
    result: Cell<Option<i32>>,
    waker: RefCell<Option<Waker>>,
    buf: RefCell<Vec<u8>>,
    path: Option<CString>,
    work: Mutex<Option<Box<dyn FnOnce() -> i32 + Send>>>,
}

enum Kind {
    Timeout(u64),
    Open(i32, u32),
    Read(i32, u32, u64),
    Write(i32, u64),
    Close(i32),
    Offload,
}

/// One host operation as a future of its raw result (>= 0 or -errno).
struct Op {
    state: Rc<OpState>,
    kind: Option<Kind>, // Some until started
}

unsafe extern "C" fn op_done(_task: *mut bk_task, res: c_int, ud: *mut c_void) {
    // SAFETY: ud is the Rc given to the host when the operation started; this is its one callback.
    let state = unsafe { Rc::from_raw(ud as *const OpState) };
    let r = catch_unwind(AssertUnwindSafe(|| {
        state.result.set(Some(res));
        let core = state.core.clone();
        core.outstanding.set(core.outstanding.get() - 1);
        if let Some(w) = state.waker.borrow_mut().take() {
            w.wake();
        }
        drive(&core);
    }));
    if r.is_err() {
        std::process::abort(); // drive catches handler panics; anything else here is a bug of ours
    }
}

unsafe extern "C" fn op_work(_task: *mut bk_task, ud: *mut c_void) -> c_int {
    // SAFETY: ud is the live OpState; on this (offload) thread only its Mutex-guarded work is touched.
    let state = unsafe { &*(ud as *const OpState) };
    let job = state.work.lock().ok().and_then(|mut g| g.take());
    match job {
        Some(f) => catch_unwind(AssertUnwindSafe(f)).unwrap_or(PANIC_STATUS),
        None => -errno::EINVAL,
    }
}

impl Op {
    fn new(ctx: &Ctx, kind: Kind, buf: Vec<u8>, path: Option<CString>) -> Op {
        let state = Rc::new(OpState {
            core: ctx.core.clone(),
            result: Cell::new(None),
            waker: RefCell::new(None),
            buf: RefCell::new(buf),
            path,
            work: Mutex::new(None),
        });
        Op { state, kind: Some(kind) }
    }

    fn start(&self, kind: Kind) -> c_int {
        let h = self.state.core.host;
        let task = self.state.core.task;
        let ud = Rc::into_raw(self.state.clone()) as *mut c_void;
        let cb = Some(op_done as unsafe extern "C" fn(*mut bk_task, c_int, *mut c_void));
        let buf = self.state.buf.borrow_mut().as_mut_ptr() as *mut c_void;
        let path = self.state.path.as_ref().map_or(std::ptr::null(), |p| p.as_ptr());
        // SAFETY: each entry point gets a live task and buffers owned by the state behind ud,
        // which stays alive (and unmoved: the Vec is not touched) until op_done.
        let r = unsafe {
            match kind {
                Kind::Timeout(ns) => h.timeout.map(|f| f(task, ns, cb, ud)),
                Kind::Open(flags, mode) => h.openat.map(|f| f(task, -100 /* AT_FDCWD */, path, flags, mode, cb, ud)),
                Kind::Read(fd, len, off) => h.read.map(|f| f(task, fd, buf, len, off, cb, ud)),
                Kind::Write(fd, off) => {
                    let len = self.state.buf.borrow().len() as u32;
                    h.write.map(|f| f(task, fd, buf as *const c_void, len, off, cb, ud))
                }
                Kind::Close(fd) => h.close.map(|f| f(task, fd, cb, ud)),
                Kind::Offload => h.offload.map(|f| f(task, Some(op_work), cb, ud)),
            }
        };
        let r = r.unwrap_or(-errno::ENOSYS);
        if r < 0 {
            // SAFETY: the host did not take ud: no callback will run, so reclaim it here.
            drop(unsafe { Rc::from_raw(ud as *const OpState) });
        } else {
            let c = &self.state.core;
            c.outstanding.set(c.outstanding.get() + 1);
        }
        r
    }
}

impl Future for Op {
    type Output = i32;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<i32> {
        let this = self.get_mut();
        if let Some(kind) = this.kind.take() {
            let r = this.start(kind);
            if r < 0 {
                return Poll::Ready(r);
            }
        }
        match this.state.result.get() {
            Some(r) => Poll::Ready(r),
            None => {
                *this.state.waker.borrow_mut() = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

fn check(r: i32) -> Result<i32, i32> {
    if r < 0 {
        Err(r)
    } else {
        Ok(r)
    }
}

/// An async handler's handle on its task and the host operations.  Not
/// Send: it lives on the task's worker thread.
#[derive(Clone)]
pub struct Ctx {
    core: Rc<TaskCore>,
}

impl Ctx {
    /// True once the client cancelled the task (pending operations then end with -ECANCELED).
    pub fn cancelled(&self) -> bool {
        sync_task::cancelled_of(self.core.task, self.core.host)
    }

    /// Bytes the result may hold.
    pub fn result_capacity(&self) -> usize {
        sync_task::capacity_of(self.core.task, self.core.host)
    }

    /// Log through brokerd.
    pub fn log(&self, level: Level, msg: &str) {
        log_to(self.core.host, self.core.task, level, msg);
    }

    /// Sleep on an io_uring timer of the worker.
    pub async fn sleep(&self, d: Duration) -> Result<(), i32> {
        let ns = d.as_nanos().min(u64::MAX as u128) as u64;
        let r = Op::new(self, Kind::Timeout(ns), Vec::new(), None).await;
        // The host reports expiry as 0; a raw io_uring timeout says -ETIME.
        if r == 0 || r == -errno::ETIME {
            Ok(())
        } else {
            Err(r)
        }
    }

    /// open(2) a path (with O_CLOEXEC added); the fd.
    pub async fn open(&self, path: &str, flags: i32, mode: u32) -> Result<i32, i32> {
        let p = CString::new(path).map_err(|_| -errno::EINVAL)?;
        check(Op::new(self, Kind::Open(flags | errno::O_CLOEXEC, mode), Vec::new(), Some(p)).await)
    }

    /// pread(2) up to len bytes at offset.
    pub async fn read(&self, fd: i32, len: u32, offset: u64) -> Result<Vec<u8>, i32> {
        let op = Op::new(self, Kind::Read(fd, len, offset), vec![0u8; len as usize], None);
        let state = op.state.clone();
        let n = check(op.await)? as usize;
        let mut buf = std::mem::take(&mut *state.buf.borrow_mut());
        buf.truncate(n);
        Ok(buf)
    }

    /// pwrite(2) data at offset; the bytes written.
    pub async fn write(&self, fd: i32, data: Vec<u8>, offset: u64) -> Result<usize, i32> {
        Ok(check(Op::new(self, Kind::Write(fd, offset), data, None).await)? as usize)
    }

    /// close(2).  A cancelled task's ring operations are being cancelled, so
    /// its fds are closed directly instead (as modules/file.c does): the fd
    /// is certainly gone either way.
    pub async fn close(&self, fd: i32) -> Result<(), i32> {
        if self.cancelled() {
            use std::os::unix::io::FromRawFd;
            // SAFETY: fd is the caller's open fd, given up here; File's drop closes it once.
            drop(unsafe { std::fs::File::from_raw_fd(fd) });
            return Ok(());
        }
        check(Op::new(self, Kind::Close(fd), Vec::new(), None).await).map(|_| ())
    }

    /// Run blocking work on brokerd's offload pool; its return value (>= 0 or -errno).
    pub async fn offload<F: FnOnce() -> i32 + Send + 'static>(&self, work: F) -> Result<i32, i32> {
        let op = Op::new(self, Kind::Offload, Vec::new(), None);
        if let Ok(mut g) = op.state.work.lock() {
            *g = Some(Box::new(work));
        }
        check(op.await)
    }

    /// Read a whole file (up to max bytes): open, reads until end of file, close.
    /// The fd is closed on every path, errors and cancellation included.
    pub async fn read_file(&self, path: &str, max: usize) -> Result<Vec<u8>, i32> {
        let fd = self.open(path, 0 /* O_RDONLY */, 0).await?;
        let mut out = Vec::new();
        let mut status = Ok(());
        while out.len() < max {
            let want = (max - out.len()).min(1 << 20) as u32;
            match self.read(fd, want, out.len() as u64).await {
                Ok(chunk) if chunk.is_empty() => break,
                Ok(chunk) => out.extend_from_slice(&chunk),
                Err(e) => {
                    status = Err(e);
                    break;
                }
            }
        }
        let closed = self.close(fd).await;
        status?;
        closed?;
        Ok(out)
    }
}
