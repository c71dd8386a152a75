// SPDX-License-Identifier: MIT
//! Put the folder bkclient linked libbkclient from (its build script's
//! `root`) in this binary's rpath, so it runs without LD_LIBRARY_PATH.
fn main() {
    if let Ok(dir) = std::env::var("DEP_BKCLIENT_ROOT") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir);
    }
}
