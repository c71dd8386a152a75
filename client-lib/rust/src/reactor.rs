// SPDX-License-Identifier: MIT
//! The reactor: one thread per Client that sleeps in poll(2) on bk_fd (and
//! a wake-up socket), runs bk_dispatch when it is readable (completion
//! callbacks then wake the tasks' Wakers), wakes futures waiting for a
//! slot, and fires the timers of client-side timeouts.  It is what makes
//! the futures executor-agnostic: whatever runs a Call only has to honour
//! its Waker.
//!
//! The thread never blocks on anything but poll: bk_dispatch never blocks
//! (client.h), and the callbacks only take short locks.

use std::io::Read;
use std::os::unix::io::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::core::Core;
use crate::sys;

/// Run until core.stop is set (and the wake-up socket pinged).
pub(crate) fn run(core: Arc<Core>, bk_fd: i32, mut wake_rx: UnixStream) {
    let mut fds = [
        sys::pollfd { fd: bk_fd, events: sys::POLLIN, revents: 0 },
        sys::pollfd { fd: wake_rx.as_raw_fd(), events: sys::POLLIN, revents: 0 },
    ];
    let mut next_timer: Option<Duration> = None;
    let mut gone_dispatched = false;
    while !core.stop.load(Ordering::Acquire) {
        let timeout = match next_timer {
            // Round up: waking a little early would only spin until the deadline.
            Some(d) => ((d.as_nanos() + 999_999) / 1_000_000).min(60_000) as i32,
            None => -1,
        };
        // Only after our own dispatch saw BK_EGONE (which completed every pending
        // call): a user thread may learn of the death first, from a submit.
        if gone_dispatched {
            fds[0].fd = -1; // the hang-up stays readable: poll ignores negative fds
        }
        fds[0].revents = 0;
        fds[1].revents = 0;
        // SAFETY: fds is a valid array of 2 pollfd.
        let n = unsafe { sys::poll(fds.as_mut_ptr(), 2, timeout) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                eprintln!("bkclient reactor: poll: {}", e);
                std::thread::sleep(Duration::from_millis(10)); // do not spin on a persistent error
            }
            continue;
        }
        if fds[1].revents != 0 {
            let mut sink = [0u8; 64];
            while let Ok(k) = wake_rx.read(&mut sink) {
                if k < sink.len() {
                    break;
                }
            }
        }
        if fds[0].revents != 0 {
            gone_dispatched = dispatch(&core);
        }
        next_timer = core.expire_timers(Instant::now());
    }
}

/// Run bk_dispatch; true once it reported the broker gone.
fn dispatch(core: &Core) -> bool {
    // SAFETY: core.c is live while the reactor runs; bk_dispatch never blocks.
    let r = unsafe { sys::bk_dispatch(core.c) };
    if r == sys::BK_EGONE {
        // Pending calls were completed with BK_EGONE by this dispatch; waiters retry and fail the same way.
        core.gone.store(true, Ordering::Release);
        core.slots_freed(usize::MAX);
        return true;
    } else if r >= 0 {
        // Each callback released one future; a dispatch with none may still have freed orphans' slots.
        core.slots_freed((r as usize).max(1));
    } else {
        eprintln!("bkclient reactor: bk_dispatch: {}", crate::error::strerror(r));
    }
    false
}
