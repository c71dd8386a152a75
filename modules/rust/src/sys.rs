// SPDX-License-Identifier: MIT
//! The #[repr(C)] mirror of include/broker/module.h, field for field.
//! tests/layout.rs compiles the header and compares every size and offset.
#![allow(non_camel_case_types)]

use std::os::raw::{c_char, c_int, c_void};

pub const BK_MODULE_ABI_VERSION: u32 = 1;
pub const BK_TASK_DONE: c_int = 0;
pub const BK_TASK_PENDING: c_int = 1;
pub const BK_LOG_ERROR: c_int = 0;
pub const BK_LOG_WARN: c_int = 1;
pub const BK_LOG_INFO: c_int = 2;
pub const BK_LOG_DEBUG: c_int = 3;

#[repr(C)]
pub struct bk_task {
    _private: [u8; 0],
}

pub type bk_io_cb = Option<unsafe extern "C" fn(task: *mut bk_task, res: c_int, user_data: *mut c_void)>;
pub type bk_work_fn = Option<unsafe extern "C" fn(task: *mut bk_task, user_data: *mut c_void) -> c_int>;
pub type bk_handler_fn =
    Option<unsafe extern "C" fn(task: *mut bk_task, host: *const bk_host_api, module_state: *mut c_void) -> c_int>;

#[repr(C)]
pub struct bk_host_api {
    pub size: u32,
    pub abi_version: u32,
    pub arg: Option<unsafe extern "C" fn(task: *mut bk_task, len: *mut usize) -> *const c_void>,
    pub result: Option<unsafe extern "C" fn(task: *mut bk_task, cap: *mut usize) -> *mut c_void>,
    pub complete: Option<unsafe extern "C" fn(task: *mut bk_task, status: c_int, len: usize)>,
    pub cancelled: Option<unsafe extern "C" fn(task: *mut bk_task) -> c_int>,
    pub read: Option<
        unsafe extern "C" fn(*mut bk_task, c_int, *mut c_void, u32, u64, bk_io_cb, *mut c_void) -> c_int,
    >,
    pub write: Option<
        unsafe extern "C" fn(*mut bk_task, c_int, *const c_void, u32, u64, bk_io_cb, *mut c_void) -> c_int,
    >,
    pub openat: Option<
        unsafe extern "C" fn(*mut bk_task, c_int, *const c_char, c_int, u32, bk_io_cb, *mut c_void) -> c_int,
    >,
    pub close: Option<unsafe extern "C" fn(*mut bk_task, c_int, bk_io_cb, *mut c_void) -> c_int>,
    pub timeout: Option<unsafe extern "C" fn(*mut bk_task, u64, bk_io_cb, *mut c_void) -> c_int>,
    pub offload: Option<unsafe extern "C" fn(*mut bk_task, bk_work_fn, bk_io_cb, *mut c_void) -> c_int>,
    pub log: Option<unsafe extern "C" fn(task: *mut bk_task, level: c_int, fmt: *const c_char, ...)>,
    pub caller: Option<unsafe extern "C" fn(task: *mut bk_task, out: *mut bk_caller) -> c_int>,
    pub open_sync: Option<unsafe extern "C" fn(*mut bk_task, c_int, *const c_char, c_int, u32) -> c_int>,
    // ABI 1.2: network operations, link_timeout, resolve, call (module.h).
    pub socket: Option<unsafe extern "C" fn(*mut bk_task, c_int, c_int, c_int, bk_io_cb, *mut c_void) -> c_int>,
    pub connect: Option<
        unsafe extern "C" fn(*mut bk_task, c_int, *const c_void, u32, bk_io_cb, *mut c_void) -> c_int,
    >,
    pub accept: Option<unsafe extern "C" fn(*mut bk_task, c_int, bk_io_cb, *mut c_void) -> c_int>,
    pub send: Option<
        unsafe extern "C" fn(*mut bk_task, c_int, *const c_void, u32, c_int, bk_io_cb, *mut c_void) -> c_int,
    >,
    pub recv: Option<
        unsafe extern "C" fn(*mut bk_task, c_int, *mut c_void, u32, c_int, bk_io_cb, *mut c_void) -> c_int,
    >,
    pub shutdown: Option<unsafe extern "C" fn(*mut bk_task, c_int, c_int, bk_io_cb, *mut c_void) -> c_int>,
    pub poll: Option<unsafe extern "C" fn(*mut bk_task, c_int, u32, bk_io_cb, *mut c_void) -> c_int>,
    pub link_timeout: Option<unsafe extern "C" fn(*mut bk_task, u64) -> c_int>,
    pub resolve: Option<
        unsafe extern "C" fn(
            *mut bk_task,
            *const c_char,
            *const c_char,
            c_int,
            *mut bk_addr,
            u32,
            bk_io_cb,
            *mut c_void,
        ) -> c_int,
    >,
    pub call: Option<
        unsafe extern "C" fn(
            *mut bk_task,
            bk_handler_fn,
            *const c_void,
            usize,
            *mut c_void,
            usize,
            bk_io_cb,
            *mut c_void,
        ) -> c_int,
    >,
    // The durable job a task runs (docs/CLUSTER.md).
    pub job_id: Option<unsafe extern "C" fn(*mut bk_task) -> *const c_char>,
}

/// One address from `resolve` (module.h's bk_addr).
#[repr(C, align(8))]
pub struct bk_addr {
    pub family: i32,
    pub socktype: i32,
    pub protocol: i32,
    pub len: u32,
    pub addr: [u8; 128],
}

#[repr(C)]
pub struct bk_caller {
    pub size: u32,
    pub uid: u32,
    pub gid: u32,
    pub pid: i32,
    pub ngroups: u32,
    pub rsvd: u32,
    pub groups: *const u32,
}

#[repr(C)]
pub struct bk_function_desc {
    pub name: *const c_char,
    pub handler: bk_handler_fn,
    pub flags: u32,
}

#[repr(C)]
pub struct bk_module_desc {
    pub size: u32,
    pub abi_version: u32,
    pub name: *const c_char,
    pub version: *const c_char,
    pub functions: *const bk_function_desc,
    pub nfunctions: u32,
    pub flags: u32,
    pub init: Option<unsafe extern "C" fn(host: *const bk_host_api, state: *mut *mut c_void) -> c_int>,
    pub fini: Option<unsafe extern "C" fn(state: *mut c_void)>,
}

pub type bk_module_entry_fn = Option<unsafe extern "C" fn() -> *const bk_module_desc>;

// The descriptor and function table are immutable statics read by brokerd.
unsafe impl Sync for bk_function_desc {}
unsafe impl Sync for bk_module_desc {}
