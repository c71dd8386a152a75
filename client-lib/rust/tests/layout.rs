// SPDX-License-Identifier: MIT
//! bkclient::sys's #[repr(C)] structs against include/broker/client.h: a
//! small C program compiled here prints each struct's size and each
//! field's offset, and they must equal what Rust computes.

use std::collections::HashMap;
use std::mem::{size_of, MaybeUninit};
use std::path::PathBuf;
use std::process::Command;

use bkclient::sys::{bk_call, bk_options};

const PROGRAM: &str = r#"
#include <stddef.h>
#include <stdio.h>
#include "broker/client.h"
#define S(t) printf(#t " %zu\n", sizeof(t))
#define F(t, f) printf(#t "." #f " %zu\n", offsetof(t, f))
int main(void)
{
	S(bk_options); F(bk_options, size); F(bk_options, max_inflight); F(bk_options, sq_entries);
	F(bk_options, inline_size); F(bk_options, zero_copy_size); F(bk_options, spin_ns); F(bk_options, flags);
	F(bk_options, rsvd);
	S(bk_call); F(bk_call, fn); F(bk_call, arg); F(bk_call, len); F(bk_call, result); F(bk_call, result_cap);
	F(bk_call, cb); F(bk_call, user_data); F(bk_call, deadline_ns); F(bk_call, priority); F(bk_call, flags);
	printf("BK_EGONE %d\nBK_EVERSION %d\nBK_ELAYOUT %d\nBK_EBADREGION %d\n", BK_EGONE, BK_EVERSION, BK_ELAYOUT, BK_EBADREGION);
	printf("BK_ENOTBROKER %d\nBK_EPROTOCOL %d\nBK_ESTALE %d\nBK_EREFUSED %d\n", BK_ENOTBROKER, BK_EPROTOCOL, BK_ESTALE, BK_EREFUSED);
	return 0;
}
"#;

fn c_layout() -> HashMap<String, i64> {
    let include = std::env::var_os("BK_INCLUDE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../include"));
    let dir = std::env::temp_dir().join(format!("bk-rs-layout-{}", std::process::id()));
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
            let mut w = l.split(' ');
            (w.next().unwrap().to_string(), w.next().unwrap().parse().unwrap())
        })
        .collect()
}

macro_rules! offset {
    ($t:ty, $f:ident) => {{
        let u = MaybeUninit::<$t>::uninit();
        let base = u.as_ptr() as usize;
        // SAFETY: addr_of! computes the field address without reading it.
        let field = unsafe { std::ptr::addr_of!((*u.as_ptr()).$f) } as usize;
        field - base
    }};
}

#[test]
fn structs_match_client_h() {
    let c = c_layout();
    let rust: Vec<(&str, usize)> = vec![
        ("bk_options", size_of::<bk_options>()),
        ("bk_options.size", offset!(bk_options, size)),
        ("bk_options.max_inflight", offset!(bk_options, max_inflight)),
        ("bk_options.sq_entries", offset!(bk_options, sq_entries)),
        ("bk_options.inline_size", offset!(bk_options, inline_size)),
        ("bk_options.zero_copy_size", offset!(bk_options, zero_copy_size)),
        ("bk_options.spin_ns", offset!(bk_options, spin_ns)),
        ("bk_options.flags", offset!(bk_options, flags)),
        ("bk_options.rsvd", offset!(bk_options, rsvd)),
        ("bk_call", size_of::<bk_call>()),
        ("bk_call.fn", offset!(bk_call, fn_)),
        ("bk_call.arg", offset!(bk_call, arg)),
        ("bk_call.len", offset!(bk_call, len)),
        ("bk_call.result", offset!(bk_call, result)),
        ("bk_call.result_cap", offset!(bk_call, result_cap)),
        ("bk_call.cb", offset!(bk_call, cb)),
        ("bk_call.user_data", offset!(bk_call, user_data)),
        ("bk_call.deadline_ns", offset!(bk_call, deadline_ns)),
        ("bk_call.priority", offset!(bk_call, priority)),
        ("bk_call.flags", offset!(bk_call, flags)),
    ];
    use bkclient::sys::*;
    let codes = [
        ("BK_EGONE", BK_EGONE),
        ("BK_EVERSION", BK_EVERSION),
        ("BK_ELAYOUT", BK_ELAYOUT),
        ("BK_EBADREGION", BK_EBADREGION),
        ("BK_ENOTBROKER", BK_ENOTBROKER),
        ("BK_EPROTOCOL", BK_EPROTOCOL),
        ("BK_ESTALE", BK_ESTALE),
        ("BK_EREFUSED", BK_EREFUSED),
    ];
    assert_eq!(c.len(), rust.len() + codes.len(), "the C program printed {:?}", c);
    for (name, v) in rust {
        assert_eq!(c.get(name), Some(&(v as i64)), "{} differs between client.h and bkclient::sys", name);
    }
    for (name, v) in codes {
        assert_eq!(c.get(name), Some(&(v as i64)), "{} differs between errors.h and bkclient::sys", name);
    }
}
