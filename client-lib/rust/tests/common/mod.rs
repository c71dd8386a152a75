// SPDX-License-Identifier: MIT
//! Test helpers: a real brokerd on a socket in a temporary folder (started
//! and stopped like tests/common/harness.c does), a tiny std-only executor
//! that runs many futures at once on one thread, and a bounded wait.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::future::Future;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

extern "C" {
    fn prctl(option: i32, arg2: u64, ...) -> i32;
    fn getpid() -> i32;
}

pub struct Broker {
    pub dir: PathBuf,
    pub socket: PathBuf,
    child: Option<Child>,
}

fn build_dir() -> PathBuf {
    // The lib folder build.rs linked against: <build>/client-lib.
    let lib = option_env!("BKCLIENT_LIB_DIR").map(PathBuf::from);
    lib.and_then(|p| p.parent().map(Path::to_path_buf)).unwrap_or_else(|| PathBuf::from("../../build/h"))
}

impl Broker {
    pub fn start(workers: u32) -> Broker {
        static SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmp = std::env::var_os("TMPDIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/tmp"));
        // SAFETY: getpid has no preconditions.
        let dir = tmp.join(format!("bk-rs-{}-{}", unsafe { getpid() }, n));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        let socket = dir.join("broker.sock");
        let bd = build_dir();
        let brokerd = std::env::var_os("BK_BROKERD").map(PathBuf::from).unwrap_or_else(|| bd.join("broker/brokerd"));
        let mods = std::env::var_os("BK_MODULE_DIR").map(PathBuf::from).unwrap_or_else(|| bd.join("modules"));
        let log = std::fs::File::create(dir.join("brokerd.log")).expect("log file");
        let mut cmd = Command::new(&brokerd);
        cmd.args(["--foreground", "--workers", &workers.to_string(), "--socket"])
            .arg(&socket)
            .arg("--module-dir")
            .arg(&mods)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log);
        // SAFETY: prctl(PR_SET_PDEATHSIG) is async-signal-safe: a dead test leaves no brokerd behind.
        unsafe {
            cmd.pre_exec(|| {
                prctl(1, 9);
                Ok(())
            });
        }
        let child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {}: {}", brokerd.display(), e));
        let mut b = Broker { dir, socket, child: Some(child) };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if seqpacket_ready(&b.socket) {
                return b;
            }
            if let Some(st) = b.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                panic!("brokerd exited during start-up ({}):\n{}", st, b.log());
            }
            assert!(Instant::now() < deadline, "brokerd did not accept connections within 10 s:\n{}", b.log());
            thread::sleep(Duration::from_millis(2)); // polling a condition under a deadline, as harness.c does
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("brokerd.log")).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, |c| c.id())
    }

    /// SIGKILL, then reap.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM, wait up to 15 s for a clean exit (status 0), SIGKILL otherwise.
    pub fn stop(&mut self) -> i32 {
        let mut c = match self.child.take() {
            Some(c) => c,
            None => return 0,
        };
        // SAFETY: kill(2) on our own child.
        unsafe { libc_kill(c.id() as i32, 15) };
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Ok(Some(st)) = c.try_wait() {
                return st.code().unwrap_or(128);
            }
            if Instant::now() > deadline {
                let _ = c.kill();
                let _ = c.wait();
                panic!("brokerd ignored SIGTERM for 15 s:\n{}", self.log());
            }
            thread::sleep(Duration::from_millis(2));
        }
    }
}

extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

/// brokerd listens on SOCK_SEQPACKET, which std cannot open: try a real client connection.
fn seqpacket_ready(path: &Path) -> bool {
    bkclient::Client::connect(Some(path)).is_ok()
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Run f on its own thread; panic if it has not finished within limit.
pub fn within<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    let h = thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(limit) {
        Ok(v) => {
            let _ = h.join();
            v
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => match h.join() {
            Err(p) => std::panic::resume_unwind(p),
            Ok(()) => unreachable!("the body ended without a value"),
        },
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("the test body did not finish within {:?}", limit),
    }
}

/// Wait (polling under a deadline) until cond holds.
pub fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !cond() {
        assert!(Instant::now() < deadline, "condition not reached within {:?}", limit);
        thread::sleep(Duration::from_millis(2));
    }
}

/// A single-threaded executor for many futures at once: a ready queue of
/// task indices, each task's Waker pushes its index and unparks the thread.
struct TaskWaker {
    index: usize,
    ready: Arc<Mutex<VecDeque<usize>>>,
    thread: Thread,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.ready.lock().unwrap().push_back(self.index);
        self.thread.unpark();
    }
}

pub fn run_all<F: Future>(futs: Vec<F>) -> Vec<F::Output> {
    let n = futs.len();
    let ready = Arc::new(Mutex::new((0..n).collect::<VecDeque<usize>>()));
    let mut tasks: Vec<Option<Pin<Box<F>>>> = futs.into_iter().map(|f| Some(Box::pin(f))).collect();
    let wakers: Vec<Waker> = (0..n)
        .map(|index| Waker::from(Arc::new(TaskWaker { index, ready: ready.clone(), thread: thread::current() })))
        .collect();
    let mut out: Vec<Option<F::Output>> = (0..n).map(|_| None).collect();
    let mut left = n;
    while left > 0 {
        let next = ready.lock().unwrap().pop_front();
        let i = match next {
            Some(i) => i,
            None => {
                thread::park(); // a wake pushes an index before unparking, so this cannot miss one
                continue;
            }
        };
        if let Some(f) = tasks[i].as_mut() {
            let mut cx = Context::from_waker(&wakers[i]);
            if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
                out[i] = Some(v);
                tasks[i] = None;
                left -= 1;
            }
        }
    }
    out.into_iter().map(|v| v.unwrap()).collect()
}
