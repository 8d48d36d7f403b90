//! AMR and AMR-WB storage format (RFC 4867 §5): a magic line, then frames
//! whose first byte gives their size; every frame is 20 ms. No tags.

use super::source::{Exhausted, Source};
use super::{Found, Props};

/// Frame sizes (bytes, after the header byte) by frame type.
const WB_SIZES: [u64; 16] = [17, 23, 32, 36, 40, 46, 50, 58, 60, 5, 0, 0, 0, 0, 0, 0];
const NB_SIZES: [u64; 16] = [12, 13, 15, 17, 19, 20, 26, 31, 5, 0, 0, 0, 0, 0, 0, 0];

pub fn read(src: &mut Source<'_>) -> Result<Found, Exhausted> {
    let mut found = Found::default();
    let head = src.read(0, 9)?;
    let (sizes, mut at, codec) = if head.starts_with(b"#!AMR-WB\n") {
        (&WB_SIZES, 9u64, "amr-wb")
    } else if head.starts_with(b"#!AMR\n") {
        (&NB_SIZES, 6u64, "amr")
    } else {
        found.problems.push("not an AMR file".into());
        return Ok(found);
    };
    let len = src.len();
    let mut frames = 0u64;
    // Frames are read in blocks, not one read each.
    while at < len {
        let block = src.read(at, 64 * 1024)?;
        let mut i = 0usize;
        while i < block.len() {
            let ft = usize::from(block[i] >> 3 & 0x0F);
            let step = 1 + sizes[ft];
            if i as u64 + step > block.len() as u64 && at + (block.len() as u64) < len {
                break; // the frame continues in the next block
            }
            frames += 1;
            i += step as usize;
        }
        if i == 0 {
            break;
        }
        at += i as u64;
    }
    let secs = frames as f64 * 0.02;
    found.props = Props {
        duration_secs: (frames > 0).then_some(secs),
        estimated: false,
        codec: Some(codec),
        bitrate_kbps: (secs > 0.0).then(|| (len as f64 * 8.0 / secs / 1000.0).round() as u32),
    };
    Ok(found)
}
