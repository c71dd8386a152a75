// SPDX-License-Identifier: MIT
//! `module!`: the exported entry point, the descriptor and one extern "C"
//! trampoline per handler, all statics (brokerd reads them in place).

/// Declare a module.  Each function is `"name" => sync path` (a
/// `fn(&Request) -> Result<Vec<u8>, i32>`) or `"name" => async path` (an
/// `async fn(Ctx, Vec<u8>) -> Result<Vec<u8>, i32>`).  `init` (a
/// `fn() -> Result<(), i32>`) and `fini` (a `fn()`) are optional.
#[macro_export]
macro_rules! module {
    (
        name: $name:literal,
        version: $version:literal,
        functions: { $( $fname:literal => $kind:tt $handler:path ),+ $(,)? }
        $(, init: $init:path)?
        $(, fini: $fini:path)?
        $(,)?
    ) => {
        /// The one symbol brokerd looks up (module.h).
        #[no_mangle]
        pub extern "C" fn bk_module_entry_v1() -> *const $crate::sys::bk_module_desc {
            static FUNCTIONS: &[$crate::sys::bk_function_desc] = &[
                $( $crate::sys::bk_function_desc {
                    name: concat!($fname, "\0").as_ptr() as *const ::std::os::raw::c_char,
                    handler: $crate::__bk_handler!($kind $handler),
                    flags: 0,
                } ),+
            ];
            static DESC: $crate::sys::bk_module_desc = $crate::sys::bk_module_desc {
                size: ::std::mem::size_of::<$crate::sys::bk_module_desc>() as u32,
                abi_version: $crate::sys::BK_MODULE_ABI_VERSION,
                name: concat!($name, "\0").as_ptr() as *const ::std::os::raw::c_char,
                version: concat!($version, "\0").as_ptr() as *const ::std::os::raw::c_char,
                functions: FUNCTIONS.as_ptr(),
                nfunctions: FUNCTIONS.len() as u32,
                flags: 0,
                init: $crate::__bk_init!($($init)?),
                fini: $crate::__bk_fini!($($fini)?),
            };
            &DESC
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __bk_handler {
    (sync $h:path) => {{
        unsafe extern "C" fn trampoline(
            task: *mut $crate::sys::bk_task,
            host: *const $crate::sys::bk_host_api,
            _state: *mut ::std::os::raw::c_void,
        ) -> ::std::os::raw::c_int {
            // SAFETY: brokerd's call of a handler.
            unsafe { $crate::run_sync(task, host, $h) }
        }
        Some(trampoline as unsafe extern "C" fn(_, _, _) -> _)
    }};
    (async $h:path) => {{
        fn make(ctx: $crate::Ctx, arg: ::std::vec::Vec<u8>) -> $crate::TaskFuture {
            ::std::boxed::Box::pin($h(ctx, arg))
        }
        unsafe extern "C" fn trampoline(
            task: *mut $crate::sys::bk_task,
            host: *const $crate::sys::bk_host_api,
            _state: *mut ::std::os::raw::c_void,
        ) -> ::std::os::raw::c_int {
            // SAFETY: brokerd's call of a handler.
            unsafe { $crate::run_async(task, host, make) }
        }
        Some(trampoline as unsafe extern "C" fn(_, _, _) -> _)
    }};
}

#[doc(hidden)]
#[macro_export]
macro_rules! __bk_init {
    () => {
        $crate::__bk_init!(@ None)
    };
    ($init:path) => {
        $crate::__bk_init!(@ Some($init as fn() -> ::std::result::Result<(), i32>))
    };
    (@ $opt:expr) => {{
        unsafe extern "C" fn init(
            host: *const $crate::sys::bk_host_api,
            state: *mut *mut ::std::os::raw::c_void,
        ) -> ::std::os::raw::c_int {
            // SAFETY: brokerd's call of init.
            unsafe { $crate::run_init(host, state, $opt) }
        }
        Some(init as unsafe extern "C" fn(_, _) -> _)
    }};
}

#[doc(hidden)]
#[macro_export]
macro_rules! __bk_fini {
    () => {
        None
    };
    ($fini:path) => {{
        unsafe extern "C" fn fini(_state: *mut ::std::os::raw::c_void) {
            $crate::run_fini($fini)
        }
        Some(fini as unsafe extern "C" fn(_))
    }};
}
