//! What every tag-reader fuzz target shares: the server's own `ao-tags`
//! crate (as the scan uses it) and a `Source` over the fuzzer's bytes.

pub use ao_tags::readers::{self, Source};

/// Runs `f` on a `Source` over `data`.
pub fn with_source(data: &[u8], f: impl FnOnce(&mut Source<'_>)) {
    let mut cursor = std::io::Cursor::new(data);
    if let Ok(mut s) = Source::new(&mut cursor) {
        f(&mut s);
    }
}
