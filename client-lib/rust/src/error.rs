// SPDX-License-Identifier: MIT
//! `Error`: a negative libbkclient or task code with its bk_strerror text.

use std::ffi::CStr;
use std::fmt;

use crate::sys;

/// A failed connection, lookup or call.  `code()` is the negative code
/// libbkclient or the task returned: `-libc errno` (e.g. `-2` ENOENT for an
/// unknown function, `-110` ETIMEDOUT) or one of the `BK_E*` constants.
#[derive(Clone, PartialEq, Eq)]
pub struct Error {
    code: i32,
    detail: Option<String>,
    needed: Option<usize>,
}

/// `Result<T, bkclient::Error>`.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// An error with this negative code.
    pub fn new(code: i32) -> Error {
        Error { code, detail: None, needed: None }
    }

    pub(crate) fn with_detail(code: i32, detail: impl Into<String>) -> Error {
        Error { code, detail: Some(detail.into()), needed: None }
    }

    pub(crate) fn no_buffer_space(needed: usize) -> Error {
        Error { code: -sys::ENOBUFS, detail: None, needed: Some(needed) }
    }

    /// The negative code.
    pub fn code(&self) -> i32 {
        self.code
    }

    /// bk_strerror's text for the code.
    pub fn message(&self) -> String {
        strerror(self.code)
    }

    /// The result size an `-ENOBUFS` call needed (use `CallOpts::result_size`).
    pub fn needed(&self) -> Option<usize> {
        self.needed
    }

    /// True when brokerd died or closed the connection (`BK_EGONE`).
    pub fn is_gone(&self) -> bool {
        self.code == sys::BK_EGONE
    }

    /// True for a client-side timeout (`CallOpts::timeout`) or a task's `-ETIMEDOUT`.
    pub fn is_timeout(&self) -> bool {
        self.code == -sys::ETIMEDOUT
    }
}

/// bk_strerror(code) as a String.
pub fn strerror(code: i32) -> String {
    // SAFETY: bk_strerror returns a static NUL-terminated string for every code.
    unsafe {
        let p = sys::bk_strerror(code);
        if p.is_null() {
            return format!("error {}", code);
        }
        CStr::from_ptr(p).to_string_lossy().into_owned()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(d) = &self.detail {
            write!(f, "{}: ", d)?;
        }
        write!(f, "{} ({})", self.message(), self.code)?;
        if let Some(n) = self.needed {
            write!(f, ", {} bytes needed", n)?;
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bkclient::Error({})", self)
    }
}

impl std::error::Error for Error {}

/// Turn a return code into a Result.
pub(crate) fn check(code: i32) -> Result<i32> {
    if code < 0 {
        Err(Error::new(code))
    } else {
        Ok(code)
    }
}
