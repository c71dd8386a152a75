// SPDX-License-Identifier: MIT
//! `Buffer`: an owned zero-copy block inside the connection's shared region
//! (bk_buf_alloc), freed on drop.  Passing one as a call's argument or
//! result moves no bytes between the client and the broker.

use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use crate::core::Core;
use crate::sys;

/// A block of the shared region's zero-copy area.  It keeps the connection
/// alive: the region is unmapped only after the last Buffer is dropped.
pub struct Buffer {
    core: Arc<Core>,
    ptr: *mut u8,
    len: usize,
}

// SAFETY: the block is plain memory owned by this value; bk_buf_free is thread-safe.
unsafe impl Send for Buffer {}
unsafe impl Sync for Buffer {}

impl Buffer {
    /// None when len is 0 or the area has no free block that large now.
    pub(crate) fn alloc(core: &Arc<Core>, len: usize) -> Option<Buffer> {
        // SAFETY: core.c is a live client.
        let p = unsafe { sys::bk_buf_alloc(core.c, len) } as *mut u8;
        if p.is_null() {
            None
        } else {
            Some(Buffer { core: core.clone(), ptr: p, len })
        }
    }

    /// The block's size in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Never true: blocks have at least one byte.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub(crate) fn as_ptr(&self) -> *mut u8 {
        self.ptr
    }

    /// Give the block up without freeing it: a lost future's block may have
    /// been in use by the dying broker, so it is never reused (client.h,
    /// "How a future ends"); bk_disconnect frees it with the region.
    pub(crate) fn retire(self) {
        let me = std::mem::ManuallyDrop::new(self);
        // SAFETY: me is never dropped, so its Arc is read out (and dropped) exactly once.
        drop(unsafe { std::ptr::read(&me.core) });
    }
}

impl Deref for Buffer {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: ptr..ptr+len is our block, mapped while core lives.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

impl DerefMut for Buffer {
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as above; &mut self means nobody else reads it (a call in
        // flight owns its Buffer, so the broker is not using it either).
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.len) }
    }
}

impl Drop for Buffer {
    fn drop(&mut self) {
        // SAFETY: ptr came from bk_buf_alloc on this client and is freed once.
        unsafe { sys::bk_buf_free(self.core.c, self.ptr as *mut std::os::raw::c_void) };
    }
}

impl std::fmt::Debug for Buffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Buffer({} bytes)", self.len)
    }
}
