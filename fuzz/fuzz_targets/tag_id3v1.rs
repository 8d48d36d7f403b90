//! ID3v1 and v1.1 tags, on arbitrary bytes: the reader must return, never
//! panic, hang or run out of memory.
#![no_main]

#[path = "reader_common.rs"]
#[allow(dead_code)]
mod common;

#[allow(unused_imports)]
use common::{readers, with_source};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if data.len() >= 128 { let _ = readers::id3v1(&data[..128]); }
});
