//! ID3v2 tags (2.2-2.4, unsynchronisation, extended headers), on arbitrary bytes: the reader must return, never
//! panic, hang or run out of memory.
#![no_main]

#[path = "reader_common.rs"]
#[allow(dead_code)]
mod common;

#[allow(unused_imports)]
use common::{readers, with_source};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = readers::id3v2(data);
});
