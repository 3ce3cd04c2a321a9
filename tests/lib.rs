//! Tests that use the generated example crates as ordinary dependencies; see `no_alloc.rs`.
