// SPDX-License-Identifier: MIT
//! Nothing here: the crate exists for tests/tokio.rs, which runs bkclient's
//! futures under tokio without making tokio a dependency of bkclient.
