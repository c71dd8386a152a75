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
