//! CAF chunks, on arbitrary bytes: the reader must return, never
//! panic, hang or run out of memory.
#![no_main]

#[path = "reader_common.rs"]
#[allow(dead_code)]
mod common;

#[allow(unused_imports)]
use common::{readers, with_source};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    with_source(data, |s| { let _ = readers::caf(s); });
});
