//! What every tag-reader fuzz target shares: the server's own `tags`
//! module (compiled from its source, as the scan uses it) and a `Source`
//! over the fuzzer's bytes.

#[path = "../../src/jobs/scan/tags/mod.rs"]
#[allow(dead_code, unused_imports)]
mod tags;

pub use tags::readers::{self, Source};

/// Runs `f` on a `Source` over `data`.
pub fn with_source(data: &[u8], f: impl FnOnce(&mut Source<'_>)) {
    let mut cursor = std::io::Cursor::new(data);
    if let Ok(mut s) = Source::new(&mut cursor) {
        f(&mut s);
    }
}
