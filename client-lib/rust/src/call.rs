// SPDX-License-Identifier: MIT
//! The futures of calls: `Call` (bytes in, `Vec<u8>` out) and `BufferCall`
//! (zero-copy Buffers in and out), both over `RawCall`'s stages:
//! lookup (on a helper thread) -> waiting for a slot -> posted -> done.
//! They hold no executor state: the reactor wakes their Wakers.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use crate::buffer::Buffer;
use crate::client::{CallOpts, Client};
use crate::core::{lock, Arg, CallState, Core, LookupSlot, Reply, SubmitOpts, WaitEntry};
use crate::error::{Error, Result};
use crate::exec::block_on;
use crate::sys;

/// The argument of a call not posted yet.
enum Payload {
    Bytes(Vec<u8>),
    Block(Buffer, usize),
}

/// What a call owns until it is posted.
struct Parts {
    arg: Payload,
    res_buf: Option<Buffer>,
}

enum Stage {
    Lookup(Arc<LookupSlot>, Parts),
    Ready(u32, Parts),
    Posted(Arc<CallState>),
    Failed(Error, Parts),
    Done,
}

/// What RawCall yields: the outcome and the Buffers handed back.
struct Output {
    outcome: Result<Reply>,
    arg_buf: Option<Buffer>,
    res_buf: Option<Buffer>,
}

impl Output {
    fn failed(e: Error, p: Parts) -> Output {
        let arg_buf = match p.arg {
            Payload::Block(b, _) => Some(b),
            Payload::Bytes(_) => None,
        };
        Output { outcome: Err(e), arg_buf, res_buf: p.res_buf }
    }
}

enum Posting {
    Posted(Arc<CallState>),
    NoSlot(Parts),
}

struct RawCall {
    client: Client,
    stage: Stage,
    deadline: Option<Instant>,
    priority: u32,
    timer: Option<u64>,
    result_size: Option<usize>,
    wait: Arc<WaitEntry>,
}

fn timeout_error() -> Error {
    Error::with_detail(-sys::ETIMEDOUT, "CallOpts::timeout")
}

/// Move parts into zero-copy blocks where the inline buffer is too small.
/// Ok(Err(parts)): the zero-copy area has no such block free now.
fn place(core: &Arc<Core>, mut p: Parts, result_size: Option<usize>) -> Result<std::result::Result<Parts, Parts>> {
    let too_big = |n: usize| n > core.zero_copy_size;
    if let Payload::Bytes(v) = &p.arg {
        if v.len() > core.inline_size {
            if too_big(v.len()) {
                return Err(Error::with_detail(-sys::EMSGSIZE, "argument larger than the zero-copy area"));
            }
            let mut b = match Buffer::alloc(core, v.len()) {
                Some(b) => b,
                None => return Ok(Err(p)),
            };
            b[..v.len()].copy_from_slice(v);
            let n = v.len();
            p.arg = Payload::Block(b, n);
        }
    }
    if let Some(n) = result_size {
        if n > core.inline_size && p.res_buf.is_none() {
            if too_big(n) {
                return Err(Error::with_detail(-sys::EMSGSIZE, "result_size larger than the zero-copy area"));
            }
            match Buffer::alloc(core, n) {
                Some(b) => p.res_buf = Some(b),
                None => return Ok(Err(p)),
            }
        }
    }
    Ok(Ok(p))
}

impl RawCall {
    fn new(client: &Client, stage: Stage, opts: &CallOpts) -> RawCall {
        RawCall {
            client: client.clone(),
            stage,
            deadline: opts.timeout.map(|d| Instant::now() + d),
            priority: opts.priority as u32,
            timer: None,
            result_size: opts.result_size,
            wait: WaitEntry::new(),
        }
    }

    fn core(&self) -> &Arc<Core> {
        self.client.core()
    }

    fn expired(&self) -> bool {
        self.deadline.map_or(false, |d| Instant::now() >= d)
    }

    /// Try to post now.  A zero-copy block that cannot be had waits like a slot,
    /// unless nothing is in flight to free one (then -ENOMEM).
    fn post(&self, fn_: u32, parts: Parts) -> std::result::Result<Posting, (Error, Parts)> {
        let core = self.core();
        let p = match place(core, parts, self.result_size) {
            Ok(Ok(p)) => p,
            Ok(Err(p)) if core.inflight() > 0 => return Ok(Posting::NoSlot(p)),
            Ok(Err(p)) => return Err((Error::with_detail(-sys::ENOMEM, "the zero-copy area has no such free block"), p)),
            Err(e) => return Err((e, Parts { arg: Payload::Bytes(Vec::new()), res_buf: None })),
        };
        post_parts(core, fn_, p, self.submit_opts())
    }

    /// The lane and what is left of the timeout, as brokerd's deadline for this call.
    fn submit_opts(&self) -> SubmitOpts {
        SubmitOpts { priority: self.priority, deadline: self.deadline }
    }

    fn pending(&mut self, cx: &Context<'_>) -> Poll<Output> {
        if let Some(d) = self.deadline {
            self.timer = Some(self.core().set_timer(self.timer, d, cx.waker()));
        }
        Poll::Pending
    }

    fn finish(&mut self, out: Output) -> Poll<Output> {
        if let Some(id) = self.timer.take() {
            self.core().clear_timer(id);
        }
        Poll::Ready(out)
    }

    fn poll_raw(&mut self, cx: &mut Context<'_>) -> Poll<Output> {
        loop {
            match std::mem::replace(&mut self.stage, Stage::Done) {
                Stage::Lookup(slot, parts) => {
                    let mut g = lock(&slot.inner);
                    let got = g.0.clone();
                    match got {
                        Some(Ok(id)) => self.stage = Stage::Ready(id, parts),
                        Some(Err(e)) => return self.finish(Output::failed(e, parts)),
                        None if self.expired() => return self.finish(Output::failed(timeout_error(), parts)),
                        None => {
                            if !g.1.iter().any(|w| w.will_wake(cx.waker())) {
                                g.1.push(cx.waker().clone());
                            }
                            drop(g);
                            self.stage = Stage::Lookup(slot, parts);
                            return self.pending(cx);
                        }
                    }
                }
                Stage::Ready(fn_, parts) => {
                    if self.expired() {
                        self.core().leave(&self.wait);
                        return self.finish(Output::failed(timeout_error(), parts));
                    }
                    let gen = self.core().slot_gen();
                    match self.post(fn_, parts) {
                        Ok(Posting::Posted(st)) => self.stage = Stage::Posted(st),
                        Ok(Posting::NoSlot(parts)) => {
                            self.stage = Stage::Ready(fn_, parts);
                            if !self.core().wait_slot(gen, &self.wait, cx.waker()) {
                                return self.pending(cx);
                            }
                        }
                        Err((e, parts)) => {
                            self.core().leave(&self.wait);
                            return self.finish(Output::failed(e, parts));
                        }
                    }
                }
                Stage::Posted(st) => {
                    let mut g = lock(&st.inner);
                    if let Some(outcome) = g.outcome.take() {
                        let (arg_buf, res_buf) = (g.arg_buf.take(), g.res_buf.take());
                        drop(g);
                        return self.finish(Output { outcome, arg_buf, res_buf });
                    }
                    if self.expired() {
                        drop(g);
                        st.abandon(); // its Buffers stay with the call until the broker is done with them
                        return self.finish(Output { outcome: Err(timeout_error()), arg_buf: None, res_buf: None });
                    }
                    g.waker = Some(cx.waker().clone());
                    drop(g);
                    self.stage = Stage::Posted(st);
                    return self.pending(cx);
                }
                Stage::Failed(e, parts) => return self.finish(Output::failed(e, parts)),
                Stage::Done => panic!("bkclient: a call polled after it completed"),
            }
        }
    }
}

/// Post a call's parts; when there is no slot (or on an error) they come back.
fn post_parts(core: &Arc<Core>, fn_: u32, p: Parts, so: SubmitOpts) -> std::result::Result<Posting, (Error, Parts)> {
    let Parts { arg, res_buf } = p;
    let (st, r, bytes, block_len) = match arg {
        Payload::Bytes(v) => {
            let st = CallState::new(None, res_buf);
            let r = core.submit(fn_, Arg::Bytes(&v), &st, so);
            (st, r, Some(v), 0)
        }
        Payload::Block(b, n) => {
            let st = CallState::new(Some(b), res_buf);
            let r = core.submit(fn_, Arg::Block(n), &st, so);
            (st, r, None, n)
        }
    };
    if let Ok(true) = r {
        return Ok(Posting::Posted(st));
    }
    // Not posted: the callback never sees st, so its Buffers are ours again.
    let (arg_buf, res_buf) = {
        let mut g = lock(&st.inner);
        (g.arg_buf.take(), g.res_buf.take())
    };
    let arg = match (bytes, arg_buf) {
        (Some(v), _) => Payload::Bytes(v),
        (None, Some(b)) => Payload::Block(b, block_len),
        (None, None) => Payload::Bytes(Vec::new()),
    };
    let parts = Parts { arg, res_buf };
    match r {
        Ok(_) => Ok(Posting::NoSlot(parts)),
        Err(e) => Err((e, parts)),
    }
}

impl Drop for RawCall {
    fn drop(&mut self) {
        match std::mem::replace(&mut self.stage, Stage::Done) {
            Stage::Ready(..) => self.core().leave(&self.wait),
            Stage::Posted(st) => st.abandon(),
            _ => {}
        }
        if let Some(id) = self.timer.take() {
            self.core().clear_timer(id);
        }
    }
}

/// The stage a new call starts in: posted at once when the name is cached
/// and a slot is free (no copy of arg beyond the shared region), else owning a copy.
fn first_stage(raw: &RawCall, fn_: u32, arg: &[u8]) -> Stage {
    let core = raw.core();
    if arg.len() <= core.inline_size && raw.result_size.map_or(true, |n| n <= core.inline_size) && !core.has_waiters() {
        let st = CallState::new(None, None);
        match core.submit(fn_, Arg::Bytes(arg), &st, raw.submit_opts()) {
            Ok(true) => return Stage::Posted(st),
            Ok(false) => {}
            Err(e) => return Stage::Failed(e, Parts { arg: Payload::Bytes(Vec::new()), res_buf: None }),
        }
    }
    Stage::Ready(fn_, Parts { arg: Payload::Bytes(arg.to_vec()), res_buf: None })
}

/// A call's future: `Ok(result bytes)` or the task's or library's Error.
/// Dropping it before completion cancels the broker task.
#[must_use = "a Call does nothing useful unless awaited (dropping it cancels it)"]
pub struct Call {
    raw: RawCall,
}

impl Call {
    pub(crate) fn new(client: &Client, name: &str, arg: &[u8], opts: CallOpts) -> Call {
        match client.resolve(name) {
            Ok(id) => Call::with_fn(client, id, arg, opts),
            Err(slot) => {
                let parts = Parts { arg: Payload::Bytes(arg.to_vec()), res_buf: None };
                Call { raw: RawCall::new(client, Stage::Lookup(slot, parts), &opts) }
            }
        }
    }

    pub(crate) fn with_fn(client: &Client, fn_: u32, arg: &[u8], opts: CallOpts) -> Call {
        let mut raw = RawCall::new(client, Stage::Done, &opts);
        raw.stage = first_stage(&raw, fn_, arg);
        Call { raw }
    }

    /// Block the calling thread until the call completes.
    pub fn wait(self) -> Result<Vec<u8>> {
        block_on(self)
    }
}

impl Future for Call {
    type Output = Result<Vec<u8>>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        this.raw.poll_raw(cx).map(|out| match out.outcome? {
            Reply::Bytes(v) => Ok(v),
            Reply::InBuffer(n) => match &out.res_buf {
                Some(b) => Ok(b[..n.min(b.len())].to_vec()),
                None => Err(Error::new(sys::BK_EPROTOCOL)),
            },
        })
    }
}

/// What a BufferCall gives back: both Buffers, and the outcome.
#[derive(Debug)]
pub struct BufferReply {
    /// The argument Buffer (None only after a timeout: the broker may still read it).
    pub arg: Option<Buffer>,
    /// The result Buffer, if one was given (None after a timeout).
    pub result: Option<Buffer>,
    /// Ok(n): n result bytes, in `result[..n]`, or in `bytes` without a result Buffer.
    pub status: Result<usize>,
    /// The result bytes when no result Buffer was given.
    pub bytes: Vec<u8>,
}

/// A zero-copy call's future (see Client::call_buffer).
#[must_use = "a BufferCall does nothing useful unless awaited (dropping it cancels it)"]
pub struct BufferCall {
    raw: RawCall,
}

impl BufferCall {
    pub(crate) fn new(client: &Client, name: &str, arg: Buffer, arg_len: usize, result: Option<Buffer>, opts: CallOpts) -> BufferCall {
        let n = arg_len.min(arg.len());
        let parts = Parts { arg: Payload::Block(arg, n), res_buf: result };
        let stage = match client.resolve(name) {
            Ok(id) => Stage::Ready(id, parts),
            Err(slot) => Stage::Lookup(slot, parts),
        };
        BufferCall { raw: RawCall::new(client, stage, &opts) }
    }

    /// Block the calling thread until the call completes.
    pub fn wait(self) -> BufferReply {
        block_on(self)
    }
}

impl Future for BufferCall {
    type Output = BufferReply;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<BufferReply> {
        let this = self.get_mut();
        this.raw.poll_raw(cx).map(|out| {
            let (status, bytes) = match out.outcome {
                Ok(Reply::InBuffer(n)) => (Ok(n), Vec::new()),
                Ok(Reply::Bytes(v)) => (Ok(v.len()), v),
                Err(e) => (Err(e), Vec::new()),
            };
            BufferReply { arg: out.arg_buf, result: out.res_buf, status, bytes }
        })
    }
}
