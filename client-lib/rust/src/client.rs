// SPDX-License-Identifier: MIT
//! `Client`: one connection to brokerd, its reactor thread, the name cache,
//! and the options of connections and calls.

use std::collections::hash_map::Entry;
use std::ffi::{CStr, CString};
use std::os::raw::c_char;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::buffer::Buffer;
use crate::call::{BufferCall, Call};
use crate::core::{lock, Core, Lookup, LookupSlot};
use crate::error::{check, Error, Result};
use crate::{reactor, sys};

const DEFAULT_INLINE: usize = 256; // bk_options.inline_size 0 (client.h)
const DEFAULT_ZERO_COPY: usize = 4 << 20; // bk_options.zero_copy_size 0

/// Options of a connection: bk_options' fields, 0 meaning the default.
/// Build from `ConnectOptions::default()` and set fields; later versions add
/// fields, so struct literals are not allowed (`#[non_exhaustive]`).
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct ConnectOptions {
    /// Futures in flight at once (slots); 0: 1024.
    pub max_inflight: u32,
    /// Submission ring depth; 0: 1024.
    pub sq_entries: u32,
    /// Inline argument/result bytes per call; 0: 256.
    pub inline_size: u32,
    /// Bytes of the zero-copy area (Buffers); 0: 4 MiB.
    pub zero_copy_size: u64,
}

impl ConnectOptions {
    pub fn max_inflight(mut self, n: u32) -> Self {
        self.max_inflight = n;
        self
    }
    pub fn inline_size(mut self, n: u32) -> Self {
        self.inline_size = n;
        self
    }
    pub fn zero_copy_size(mut self, n: u64) -> Self {
        self.zero_copy_size = n;
        self
    }
}

/// The lane of a call (bk_call.priority): brokerd starts interactive calls
/// first and keeps a share of every round for normal and background.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(u32)]
pub enum Priority {
    #[default]
    Normal = 0,
    Interactive = 1,
    Background = 2,
}

/// Options of one call.  New options arrive as new fields with defaults;
/// build with `CallOpts::default()` and the setters.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct CallOpts {
    /// Limit on the whole call (slot wait, lookup, task): the call then
    /// fails with `-ETIMEDOUT` and the broker future is cancelled.  What is
    /// left of it when the call is posted is also brokerd's deadline for
    /// the task (bk_call.deadline_ns), so brokerd stops the work itself.
    pub timeout: Option<Duration>,
    /// The lane.
    pub priority: Priority,
    /// Bytes to reserve for the result; beyond the inline size the result
    /// goes through a zero-copy block.  None: the inline buffer.
    pub result_size: Option<usize>,
}

impl CallOpts {
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = Some(d);
        self
    }
    pub fn result_size(mut self, n: usize) -> Self {
        self.result_size = Some(n);
        self
    }
    pub fn priority(mut self, p: Priority) -> Self {
        self.priority = p;
        self
    }
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "bkclient::Client({} in flight)", self.inflight())
    }
}

/// A function id from `Client::lookup`, valid for that connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Function(pub(crate) u32);

struct Shared {
    core: Arc<Core>,
    reactor: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.core.stop.store(true, std::sync::atomic::Ordering::Release);
        self.core.wake_reactor();
        if let Some(h) = lock(&self.reactor).take() {
            let _ = h.join();
        }
        // Lookups end within bk_lookup's 5 s bound.
        let helpers = std::mem::take(&mut *lock(&self.core.helpers));
        for h in helpers {
            let _ = h.join();
        }
        // No callback runs any more: abandoned calls' blocks would keep the Core alive.
        self.core.drop_tickets();
    }
}

/// A connection to brokerd.  Cheap to clone (one connection, shared);
/// `Send + Sync`: calls may be made from any thread, since libbkclient's
/// submit, cancel, wait, result, release, lookup and buffer calls are
/// thread-safe.  The connection closes (bk_disconnect) when the last
/// Client, Call and Buffer of it are gone; calls still pending are then
/// cancelled by the broker.
#[derive(Clone)]
pub struct Client {
    shared: Arc<Shared>,
}

impl Client {
    /// Connect with default options; path None: $BROKER_SOCKET, else
    /// $XDG_RUNTIME_DIR/broker.sock, else /run/broker/broker.sock.  Blocks
    /// for the handshake (at most 5 s).
    pub fn connect(path: Option<&Path>) -> Result<Client> {
        Client::connect_with(path, &ConnectOptions::default())
    }

    /// Connect with options.
    pub fn connect_with(path: Option<&Path>, opts: &ConnectOptions) -> Result<Client> {
        let mut o = sys::bk_options::default();
        // SAFETY: o is a valid bk_options to fill.
        unsafe { sys::bk_options_init(&mut o) };
        o.max_inflight = opts.max_inflight;
        o.sq_entries = opts.sq_entries;
        o.inline_size = opts.inline_size;
        o.zero_copy_size = opts.zero_copy_size;
        let cpath = match path {
            Some(p) => Some(CString::new(p.as_os_str().as_bytes()).map_err(|_| Error::new(-sys::EINVAL))?),
            None => None,
        };
        let mut c = std::ptr::null_mut();
        let mut err = [0 as c_char; 256];
        // SAFETY: every pointer is valid for the call.
        let r = unsafe {
            sys::bk_connect_error(
                cpath.as_ref().map_or(std::ptr::null(), |p| p.as_ptr()),
                &o,
                &mut c,
                err.as_mut_ptr(),
                err.len(),
            )
        };
        if r < 0 {
            // SAFETY: bk_connect_error NUL-terminates err.
            let text = unsafe { CStr::from_ptr(err.as_ptr()) }.to_string_lossy().into_owned();
            return Err(Error::with_detail(r, if text.is_empty() { "connect".into() } else { text }));
        }
        Client::start(c, opts)
    }

    /// Wrap c (a fresh connection, disconnected here on failure) and start its reactor.
    fn start(c: *mut sys::bk_client, opts: &ConnectOptions) -> Result<Client> {
        let io = |e: std::io::Error| Error::with_detail(-e.raw_os_error().unwrap_or(sys::EINVAL), "reactor");
        let prep = || -> Result<(UnixStream, UnixStream, i32)> {
            let (wake_tx, wake_rx) = UnixStream::pair().map_err(io)?;
            wake_tx.set_nonblocking(true).map_err(io)?;
            wake_rx.set_nonblocking(true).map_err(io)?;
            // SAFETY: c is a live client.
            let fd = check(unsafe { sys::bk_fd(c) })?;
            Ok((wake_tx, wake_rx, fd))
        };
        let (wake_tx, wake_rx, fd) = match prep() {
            Ok(v) => v,
            Err(e) => {
                // SAFETY: c is ours and unused.
                unsafe { sys::bk_disconnect(c) };
                return Err(e);
            }
        };
        let inline = if opts.inline_size == 0 { DEFAULT_INLINE } else { opts.inline_size as usize };
        let zc = if opts.zero_copy_size == 0 { DEFAULT_ZERO_COPY } else { opts.zero_copy_size as usize };
        let core = Arc::new(Core::new(c, inline, zc, wake_tx));
        let rcore = core.clone();
        // On failure the closure (and rcore) is dropped, then core: Core::drop disconnects c.
        let h = std::thread::Builder::new()
            .name("bkclient-reactor".into())
            .spawn(move || reactor::run(rcore, fd, wake_rx))
            .map_err(io)?;
        Ok(Client { shared: Arc::new(Shared { core, reactor: Mutex::new(Some(h)) }) })
    }

    pub(crate) fn core(&self) -> &Arc<Core> {
        &self.shared.core
    }

    /// Resolve "module.function" (one blocking round trip of at most 5 s,
    /// then cached).  `call` does this for you without blocking.
    pub fn lookup(&self, name: &str) -> Result<Function> {
        if let Some(Lookup::Done(id)) = lock(&self.core().fns).get(name) {
            return Ok(Function(*id));
        }
        let id = lookup_blocking(self.core(), name)?;
        lock(&self.core().fns).insert(name.to_string(), Lookup::Done(id));
        Ok(Function(id))
    }

    /// The cached id of name, or the lookup (running on a helper thread) to await.
    pub(crate) fn resolve(&self, name: &str) -> std::result::Result<u32, Arc<LookupSlot>> {
        let mut fns = lock(&self.core().fns);
        match fns.entry(name.to_string()) {
            Entry::Occupied(e) => match e.get() {
                Lookup::Done(id) => Ok(*id),
                Lookup::Running(slot) => Err(slot.clone()),
            },
            Entry::Vacant(v) => {
                let slot = Arc::new(LookupSlot { inner: Mutex::new((None, Vec::new())) });
                v.insert(Lookup::Running(slot.clone()));
                drop(fns);
                spawn_lookup(self.core().clone(), name.to_string(), slot.clone());
                Err(slot)
            }
        }
    }

    /// Call name(arg): a future of the result bytes.  The call is posted
    /// at once when a slot is free (the argument copied into the shared
    /// region), else when one frees up; dropping the Call cancels it.
    pub fn call(&self, name: &str, arg: &[u8]) -> Call {
        Call::new(self, name, arg, CallOpts::default())
    }

    /// call() with options.
    pub fn call_with(&self, name: &str, arg: &[u8], opts: CallOpts) -> Call {
        Call::new(self, name, arg, opts)
    }

    /// Call a looked-up function.
    pub fn call_fn(&self, f: Function, arg: &[u8], opts: CallOpts) -> Call {
        Call::with_fn(self, f.0, arg, opts)
    }

    /// Zero copy: call name with the first arg_len bytes of arg, and the
    /// result written into result (or the inline buffer when None).  The
    /// future gives both Buffers back.
    pub fn call_buffer(&self, name: &str, arg: Buffer, arg_len: usize, result: Option<Buffer>, opts: CallOpts) -> BufferCall {
        BufferCall::new(self, name, arg, arg_len, result, opts)
    }

    /// A zero-copy block of len bytes; None when the area has no such free block now.
    pub fn buffer(&self, len: usize) -> Option<Buffer> {
        Buffer::alloc(self.core(), len)
    }

    /// Calls posted and not completed yet (abandoned ones included).
    pub fn inflight(&self) -> usize {
        self.core().inflight()
    }

    /// True once brokerd died or closed the connection.
    pub fn is_gone(&self) -> bool {
        self.core().gone.load(std::sync::atomic::Ordering::Acquire)
    }
}

fn lookup_blocking(core: &Core, name: &str) -> Result<u32> {
    let cname = CString::new(name).map_err(|_| Error::with_detail(-sys::EINVAL, name))?;
    let mut id = 0u32;
    // SAFETY: core.c is live; bk_lookup is thread-safe (serialised on the socket).
    let r = unsafe { sys::bk_lookup(core.c, cname.as_ptr(), &mut id) };
    if r < 0 {
        if r == sys::BK_EGONE {
            core.gone.store(true, std::sync::atomic::Ordering::Release);
        }
        return Err(Error::with_detail(r, name));
    }
    Ok(id)
}

/// bk_lookup blocks (a socket round trip): run it on its own thread so no
/// executor thread waits.  A non-blocking lookup in libbkclient would remove it.
fn spawn_lookup(core: Arc<Core>, name: String, slot: Arc<LookupSlot>) {
    let (core2, name2, slot2) = (core.clone(), name.clone(), slot.clone());
    let job = move || {
        let r = lookup_blocking(&core, &name);
        {
            let mut fns = lock(&core.fns);
            match &r {
                Ok(id) => fns.insert(name, Lookup::Done(*id)),
                Err(_) => fns.remove(&name), // not cached: a later call asks again
            };
        }
        let wakers = {
            let mut g = lock(&slot.inner);
            g.0 = Some(r);
            std::mem::take(&mut g.1)
        };
        for w in wakers {
            w.wake();
        }
    };
    match std::thread::Builder::new().name("bkclient-lookup".into()).spawn(job) {
        Ok(h) => {
            let mut hs = lock(&core2.helpers);
            hs.retain(|h| !h.is_finished()); // finished ones need no join
            hs.push(h);
        }
        Err(e) => spawn_failed(&core2, &name2, &slot2, e),
    }
}

/// No thread for the lookup: fail its waiters, and let a later call try again.
fn spawn_failed(core: &Core, name: &str, slot: &LookupSlot, e: std::io::Error) {
    lock(&core.fns).remove(name);
    let mut g = lock(&slot.inner);
    g.0 = Some(Err(Error::with_detail(-e.raw_os_error().unwrap_or(sys::ENOMEM), "lookup thread")));
    for w in std::mem::take(&mut g.1) {
        w.wake();
    }
}
