// SPDX-License-Identifier: MIT
//! `block_on`: the smallest executor, std only: poll a future on the
//! calling thread and park it until the future's Waker unparks it.  Used by
//! `Call::wait` and by the tests; any other executor works the same way.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};

struct ThreadWaker {
    thread: Thread,
    woken: AtomicBool,
}

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        // Release pairs with the Acquire swap below: what the waker published is seen after waking.
        self.woken.store(true, Ordering::Release);
        self.thread.unpark();
    }
}

/// Run fut to completion on this thread.
pub fn block_on<F: Future>(fut: F) -> F::Output {
    let mut fut = Box::pin(fut);
    let tw = Arc::new(ThreadWaker { thread: thread::current(), woken: AtomicBool::new(false) });
    let waker = Waker::from(tw.clone());
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(v) = Pin::as_mut(&mut fut).poll(&mut cx) {
            return v;
        }
        // park() may return spuriously: sleep until a wake really happened.
        while !tw.woken.swap(false, Ordering::Acquire) {
            thread::park();
        }
    }
}

struct TaskWaker {
    index: usize,
    ready: Arc<std::sync::Mutex<std::collections::VecDeque<usize>>>,
    thread: Thread,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        crate::core::lock(&self.ready).push_back(self.index);
        self.thread.unpark();
    }
}

/// Run many futures at once on this thread; their outputs in order.  Each
/// future's Waker queues its index, so a poll only touches woken futures.
pub fn block_on_all<F: Future>(futs: Vec<F>) -> Vec<F::Output> {
    let n = futs.len();
    let ready = Arc::new(std::sync::Mutex::new((0..n).collect::<std::collections::VecDeque<usize>>()));
    let mut tasks: Vec<Option<Pin<Box<F>>>> = futs.into_iter().map(|f| Some(Box::pin(f))).collect();
    let wakers: Vec<Waker> = (0..n)
        .map(|index| Waker::from(Arc::new(TaskWaker { index, ready: ready.clone(), thread: thread::current() })))
        .collect();
    let mut out: Vec<Option<F::Output>> = (0..n).map(|_| None).collect();
    let mut left = n;
    while left > 0 {
        let next = crate::core::lock(&ready).pop_front();
        let i = match next {
            Some(i) => i,
            None => {
                thread::park(); // a wake queues its index before unparking: none is missed
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
    out.into_iter().map(|v| v.expect("every task completed")).collect()
}
