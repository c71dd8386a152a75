// SPDX-License-Identifier: MIT
//! bkmodule::sys against include/broker/module.h: a C program compiled here
//! prints every struct's size and every field's offset, and the constants;
//! all must equal what the Rust mirror says.

use std::collections::HashMap;
use std::mem::{size_of, MaybeUninit};
use std::path::PathBuf;
use std::process::Command;

use bkmodule::sys::*;

const PROGRAM: &str = r#"
#include <stddef.h>
#include <stdio.h>
#include "broker/module.h"
#define S(t) printf(#t " %zu\n", sizeof(t))
#define F(t, f) printf(#t "." #f " %zu\n", offsetof(t, f))
#define K(k) printf(#k " %lld\n", (long long)(k))
int main(void)
{
	S(bk_host_api); F(bk_host_api, size); F(bk_host_api, abi_version); F(bk_host_api, arg);
	F(bk_host_api, result); F(bk_host_api, complete); F(bk_host_api, cancelled); F(bk_host_api, read);
	F(bk_host_api, write); F(bk_host_api, openat); F(bk_host_api, close); F(bk_host_api, timeout);
	F(bk_host_api, offload); F(bk_host_api, log); F(bk_host_api, caller); F(bk_host_api, open_sync);
	F(bk_host_api, socket); F(bk_host_api, connect); F(bk_host_api, accept); F(bk_host_api, send);
	F(bk_host_api, recv); F(bk_host_api, shutdown); F(bk_host_api, poll); F(bk_host_api, link_timeout);
	F(bk_host_api, resolve); F(bk_host_api, call);
	F(bk_host_api, job_id);
	S(bk_addr); F(bk_addr, family); F(bk_addr, socktype); F(bk_addr, protocol); F(bk_addr, len); F(bk_addr, addr);
	S(bk_caller); F(bk_caller, size); F(bk_caller, uid); F(bk_caller, gid); F(bk_caller, pid);
	F(bk_caller, ngroups); F(bk_caller, groups);
	S(bk_function_desc); F(bk_function_desc, name); F(bk_function_desc, handler); F(bk_function_desc, flags);
	S(bk_module_desc); F(bk_module_desc, size); F(bk_module_desc, abi_version); F(bk_module_desc, name);
	F(bk_module_desc, version); F(bk_module_desc, functions); F(bk_module_desc, nfunctions);
	F(bk_module_desc, flags); F(bk_module_desc, init); F(bk_module_desc, fini);
	K(BK_MODULE_ABI_VERSION); K(BK_TASK_DONE); K(BK_TASK_PENDING);
	K(BK_LOG_ERROR); K(BK_LOG_WARN); K(BK_LOG_INFO); K(BK_LOG_DEBUG);
	printf("BK_MODULE_ENTRY_NAME %s\n", BK_MODULE_ENTRY_NAME);
	return 0;
}
"#;

fn c_layout() -> HashMap<String, String> {
    let include = std::env::var_os("BK_INCLUDE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../include"));
    let dir = std::env::temp_dir().join(format!("bk-mod-layout-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (src, exe) = (dir.join("layout.c"), dir.join("layout"));
    std::fs::write(&src, PROGRAM).unwrap();
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let st = Command::new(&cc).arg("-I").arg(&include).arg(&src).arg("-o").arg(&exe).status().expect("run cc");
    assert!(st.success(), "{} failed to compile the layout program", cc);
    let out = Command::new(&exe).output().expect("run the layout program");
    let _ = std::fs::remove_dir_all(&dir);
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let (k, v) = l.split_once(' ').unwrap();
            (k.to_string(), v.to_string())
        })
        .collect()
}

macro_rules! offset {
    ($t:ty, $f:ident) => {{
        let u = MaybeUninit::<$t>::uninit();
        let base = u.as_ptr() as usize;
        // SAFETY: addr_of! computes the field address without reading it.
        let field = unsafe { std::ptr::addr_of!((*u.as_ptr()).$f) } as usize;
        (field - base) as i64
    }};
}

#[test]
fn mirror_matches_module_h() {
    let c = c_layout();
    let rust: Vec<(&str, i64)> = vec![
        ("bk_host_api", size_of::<bk_host_api>() as i64),
        ("bk_host_api.size", offset!(bk_host_api, size)),
        ("bk_host_api.abi_version", offset!(bk_host_api, abi_version)),
        ("bk_host_api.arg", offset!(bk_host_api, arg)),
        ("bk_host_api.result", offset!(bk_host_api, result)),
        ("bk_host_api.complete", offset!(bk_host_api, complete)),
        ("bk_host_api.cancelled", offset!(bk_host_api, cancelled)),
        ("bk_host_api.read", offset!(bk_host_api, read)),
        ("bk_host_api.write", offset!(bk_host_api, write)),
        ("bk_host_api.openat", offset!(bk_host_api, openat)),
        ("bk_host_api.close", offset!(bk_host_api, close)),
        ("bk_host_api.timeout", offset!(bk_host_api, timeout)),
        ("bk_host_api.offload", offset!(bk_host_api, offload)),
        ("bk_host_api.log", offset!(bk_host_api, log)),
        ("bk_host_api.caller", offset!(bk_host_api, caller)),
        ("bk_host_api.open_sync", offset!(bk_host_api, open_sync)),
        ("bk_host_api.socket", offset!(bk_host_api, socket)),
        ("bk_host_api.connect", offset!(bk_host_api, connect)),
        ("bk_host_api.accept", offset!(bk_host_api, accept)),
        ("bk_host_api.send", offset!(bk_host_api, send)),
        ("bk_host_api.recv", offset!(bk_host_api, recv)),
        ("bk_host_api.shutdown", offset!(bk_host_api, shutdown)),
        ("bk_host_api.poll", offset!(bk_host_api, poll)),
        ("bk_host_api.link_timeout", offset!(bk_host_api, link_timeout)),
        ("bk_host_api.resolve", offset!(bk_host_api, resolve)),
        ("bk_host_api.call", offset!(bk_host_api, call)),
        ("bk_host_api.job_id", offset!(bk_host_api, job_id)),
        ("bk_addr", size_of::<bk_addr>() as i64),
        ("bk_addr.family", offset!(bk_addr, family)),
        ("bk_addr.socktype", offset!(bk_addr, socktype)),
        ("bk_addr.protocol", offset!(bk_addr, protocol)),
        ("bk_addr.len", offset!(bk_addr, len)),
        ("bk_addr.addr", offset!(bk_addr, addr)),
        ("bk_caller", size_of::<bk_caller>() as i64),
        ("bk_caller.size", offset!(bk_caller, size)),
        ("bk_caller.uid", offset!(bk_caller, uid)),
        ("bk_caller.gid", offset!(bk_caller, gid)),
        ("bk_caller.pid", offset!(bk_caller, pid)),
        ("bk_caller.ngroups", offset!(bk_caller, ngroups)),
        ("bk_caller.groups", offset!(bk_caller, groups)),
        ("bk_function_desc", size_of::<bk_function_desc>() as i64),
        ("bk_function_desc.name", offset!(bk_function_desc, name)),
        ("bk_function_desc.handler", offset!(bk_function_desc, handler)),
        ("bk_function_desc.flags", offset!(bk_function_desc, flags)),
        ("bk_module_desc", size_of::<bk_module_desc>() as i64),
        ("bk_module_desc.size", offset!(bk_module_desc, size)),
        ("bk_module_desc.abi_version", offset!(bk_module_desc, abi_version)),
        ("bk_module_desc.name", offset!(bk_module_desc, name)),
        ("bk_module_desc.version", offset!(bk_module_desc, version)),
        ("bk_module_desc.functions", offset!(bk_module_desc, functions)),
        ("bk_module_desc.nfunctions", offset!(bk_module_desc, nfunctions)),
        ("bk_module_desc.flags", offset!(bk_module_desc, flags)),
        ("bk_module_desc.init", offset!(bk_module_desc, init)),
        ("bk_module_desc.fini", offset!(bk_module_desc, fini)),
        ("BK_MODULE_ABI_VERSION", BK_MODULE_ABI_VERSION as i64),
        ("BK_TASK_DONE", BK_TASK_DONE as i64),
        ("BK_TASK_PENDING", BK_TASK_PENDING as i64),
        ("BK_LOG_ERROR", BK_LOG_ERROR as i64),
        ("BK_LOG_WARN", BK_LOG_WARN as i64),
        ("BK_LOG_INFO", BK_LOG_INFO as i64),
        ("BK_LOG_DEBUG", BK_LOG_DEBUG as i64),
    ];
    assert_eq!(c.len(), rust.len() + 1, "the C program printed {:?}", c);
    for (name, v) in rust {
        assert_eq!(c.get(name), Some(&v.to_string()), "{} differs between module.h and bkmodule::sys", name);
    }
    assert_eq!(c.get("BK_MODULE_ENTRY_NAME").map(String::as_str), Some("bk_module_entry_v1"));
}

#[test]
fn level_values_are_the_headers() {
    assert_eq!(bkmodule::Level::Error as i32, BK_LOG_ERROR);
    assert_eq!(bkmodule::Level::Debug as i32, BK_LOG_DEBUG);
}
