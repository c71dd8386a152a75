// SPDX-License-Identifier: MIT
//! Records the opt-level this copy was built with (cargo's OPT_LEVEL) for plugin_info.
fn main() {
    println!("cargo:rustc-env=PLUGIN_OPT_LEVEL={}", std::env::var("OPT_LEVEL").unwrap_or_else(|_| "?".into()));
}
