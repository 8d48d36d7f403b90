//! ASF (WMA) headers, on arbitrary bytes: the reader must return, never
//! panic, hang or run out of memory.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../src/jobs/scan/tags/mod.rs"]
#[allow(dead_code, unused_imports)]
mod tags;

#[allow(unused_imports)]
use tags::readers::{self, Source};

#[allow(dead_code)]
fn with_source(data: &[u8], f: impl FnOnce(&mut Source<'_>)) {
    let mut cursor = std::io::Cursor::new(data);
    if let Ok(mut s) = Source::new(&mut cursor) {
        f(&mut s);
    }
}

fuzz_target!(|data: &[u8]| {
    with_source(data, |s| { let _ = readers::asf(s); });
});
