// SPDX-License-Identifier: MIT
//! Raw declarations of include/broker/client.h and errors.h, plus the two
//! libc calls the reactor needs (poll(2) for bk_fd; std has no wrapper).
//! Layouts follow the C header field by field; tests/layout.rs checks them
//! against the compiled header.
#![allow(non_camel_case_types)]

use std::os::raw::{c_char, c_int, c_void};

pub const BK_EGONE: i32 = -1001;
pub const BK_EVERSION: i32 = -1002;
pub const BK_ELAYOUT: i32 = -1003;
pub const BK_EBADREGION: i32 = -1004;
pub const BK_ENOTBROKER: i32 = -1005;
pub const BK_EPROTOCOL: i32 = -1006;
pub const BK_ESTALE: i32 = -1007;
pub const BK_EREFUSED: i32 = -1008;

pub const EAGAIN: i32 = 11;
pub const ENOMEM: i32 = 12;
pub const EINVAL: i32 = 22;
pub const EMSGSIZE: i32 = 90;
pub const ENOBUFS: i32 = 105;
pub const ETIMEDOUT: i32 = 110;
pub const ECANCELED: i32 = 125;

#[repr(C)]
pub struct bk_client {
    _private: [u8; 0],
}

#[repr(C)]
pub struct bk_future {
    _private: [u8; 0],
}

pub type bk_fn = u32;
pub type bk_complete_cb = Option<unsafe extern "C" fn(f: *mut bk_future, user_data: *mut c_void)>;

#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct bk_options {
    pub size: u32,
    pub max_inflight: u32,
    pub sq_entries: u32,
    pub inline_size: u32,
    pub zero_copy_size: u64,
    pub spin_ns: i64,
    pub flags: u32,
    pub rsvd: u32,
}

#[repr(C)]
pub struct bk_call {
    pub fn_: bk_fn,
    pub arg: *const c_void,
    pub len: usize,
    pub result: *mut c_void,
    pub result_cap: usize,
    pub cb: bk_complete_cb,
    pub user_data: *mut c_void,
    // 1.1 (bk_submit_batch@BKCLIENT_1.1, the default the linker binds): 0 is "no deadline, normal lane".
    pub deadline_ns: i64,
    pub priority: u32,
    pub flags: u32,
}

extern "C" {
    pub fn bk_options_init(o: *mut bk_options);
    pub fn bk_connect_error(
        socket_path: *const c_char,
        opts: *const bk_options,
        out: *mut *mut bk_client,
        err: *mut c_char,
        errlen: usize,
    ) -> c_int;
    pub fn bk_disconnect(c: *mut bk_client);
    pub fn bk_lookup(c: *mut bk_client, name: *const c_char, out: *mut bk_fn) -> c_int;
    pub fn bk_submit_batch(c: *mut bk_client, calls: *const bk_call, n: usize, out: *mut *mut bk_future) -> c_int;
    pub fn bk_wait(f: *mut bk_future, timeout_ns: i64) -> c_int;
    pub fn bk_poll(f: *mut bk_future) -> c_int;
    pub fn bk_result(f: *mut bk_future, data: *mut *const c_void, len: *mut usize) -> c_int;
    pub fn bk_cancel(f: *mut bk_future) -> c_int;
    pub fn bk_release(f: *mut bk_future);
    pub fn bk_fd(c: *mut bk_client) -> c_int;
    pub fn bk_dispatch(c: *mut bk_client) -> c_int;
    pub fn bk_buf_alloc(c: *mut bk_client, len: usize) -> *mut c_void;
    pub fn bk_buf_free(c: *mut bk_client, buf: *mut c_void);
    pub fn bk_strerror(err: c_int) -> *const c_char;
}

#[repr(C)]
pub struct pollfd {
    pub fd: c_int,
    pub events: i16,
    pub revents: i16,
}

pub const POLLIN: i16 = 1;

extern "C" {
    pub fn poll(fds: *mut pollfd, nfds: u64, timeout: c_int) -> c_int;
}
