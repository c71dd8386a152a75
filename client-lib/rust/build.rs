// SPDX-License-Identifier: MIT
//! Finds libbkclient: $BKCLIENT_LIB_DIR (a folder holding libbkclient.so),
//! else `pkg-config bkclient` (an installed library), else the newest
//! non-sanitizer build of this checkout (build*/*/client-lib).  The folder
//! is also put in the rpath so tests and examples run without
//! LD_LIBRARY_PATH.  Uses std only (no pkg-config crate).

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

fn from_pkg_config() -> Option<PathBuf> {
    let out = Command::new("pkg-config").args(["--libs-only-L", "bkclient"]).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?;
    let dir = text.split_whitespace().find_map(|w| w.strip_prefix("-L")).map(PathBuf::from);
    // No -L: the library is on the linker's default path.
    Some(dir.unwrap_or_default())
}

fn sanitized(lib: &Path) -> bool {
    // A sanitizer build names its runtime in DT_NEEDED; it cannot be linked into a plain binary.
    match fs::read(lib) {
        Ok(bytes) => [&b"libasan.so"[..], b"libtsan.so", b"libubsan.so"]
            .iter()
            .any(|rt| bytes.windows(rt.len()).any(|w| w == *rt)),
        Err(_) => true,
    }
}

fn from_build_tree() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut best: Option<(std::time::SystemTime, PathBuf)> = None;
    for top in fs::read_dir(&root).ok()?.flatten() {
        if !top.file_name().to_string_lossy().starts_with("build") {
            continue;
        }
        let mut dirs = vec![top.path().join("client-lib")];
        if let Ok(sub) = fs::read_dir(top.path()) {
            dirs.extend(sub.flatten().map(|e| e.path().join("client-lib")));
        }
        for d in dirs {
            let lib = d.join("libbkclient.so");
            let when = match fs::metadata(&lib).and_then(|m| m.modified()) {
                Ok(t) => t,
                Err(_) => continue,
            };
            if !sanitized(&lib) && best.as_ref().map_or(true, |(t, _)| when > *t) {
                best = Some((when, d));
            }
        }
    }
    best.map(|(_, d)| d)
}

fn main() {
    println!("cargo:rerun-if-env-changed=BKCLIENT_LIB_DIR");
    let dir = match env::var_os("BKCLIENT_LIB_DIR") {
        Some(d) => Some(PathBuf::from(d)),
        None => from_pkg_config().or_else(from_build_tree),
    };
    match dir {
        Some(d) if !d.as_os_str().is_empty() => {
            println!("cargo:rustc-link-search=native={}", d.display());
            println!("cargo:rustc-link-arg=-Wl,-rpath,{}", d.display());
            println!("cargo:root={}", d.display());
        }
        Some(_) => {}
        None => println!(
            "cargo:warning=libbkclient not found: set BKCLIENT_LIB_DIR to the folder of libbkclient.so"
        ),
    }
    println!("cargo:rustc-link-lib=dylib=bkclient");
}
