//! MPEG audio (MP3, MP2; also inside `.mpg` program streams, as other
//! readers take them) and raw AAC (ADTS, ADIF): the tags around the stream (ID3v2 in front, APEv2 and ID3v1
//! at the end) and the stream's length from its frames: Xing/Info or VBRI
//! frame counts, else the bytes at the first frame's bitrate.

use super::source::{Exhausted, Source, be};
use super::{Found, Props, Tag, ape, id3v1, id3v2};

/// The tags in front of and behind the audio, merged (ID3v2 over APEv2
/// over ID3v1), and the byte range between them.
pub fn outer_tags(src: &mut Source<'_>) -> Result<(Tag, (u64, u64)), Exhausted> {
    let mut front = Tag::default();
    let mut start = 0u64;
    // Several ID3v2 tags one after the other are read in order.
    for _ in 0..8 {
        let head = src.read(start, 10)?;
        let Some(len) = id3v2::tag_len(&head) else {
            break;
        };
        let bytes = src.read(start, len as usize)?;
        front.fill_from(id3v2::parse(&bytes));
        start += len;
    }
    let mut end = ape::end_of_tags(src)?;
    let v1 = if src.len() >= 128 {
        id3v1::parse(&src.read(src.len() - 128, 128)?)
    } else {
        None
    };
    let mut tag = front;
    // An ID3v2.4 tag at the end announces itself with a `3DI` footer.
    if end >= 10 {
        let foot = src.read(end - 10, 10)?;
        if foot.starts_with(b"3DI") {
            let mut head = foot.to_vec();
            head[..3].copy_from_slice(b"ID3");
            if let Some(len) = id3v2::tag_len(&head).filter(|l| *l <= end) {
                let bytes = src.read(end - len, len as usize)?;
                tag.fill_from(id3v2::parse(&bytes));
                end -= len;
            }
        }
    }
    if let Some((ape_tag, ape_start)) = ape::read(src)? {
        tag.fill_from(ape_tag);
        end = end.min(ape_start);
    }
    if let Some(v1) = v1 {
        tag.fill_from(v1);
    }
    Ok((tag, (start, end.max(start))))
}

const MPEG1_RATES: [u32; 3] = [44_100, 48_000, 32_000];
const BITRATES_V1: [[u32; 16]; 3] = [
    [
        0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448, 0,
    ],
    [
        0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384, 0,
    ],
    [
        0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 0,
    ],
];
const BITRATES_V2: [[u32; 16]; 2] = [
    [
        0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256, 0,
    ],
    [
        0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160, 0,
    ],
];

#[derive(Debug, Clone, Copy, PartialEq)]
struct Frame {
    /// 1, 2 or 25 (MPEG 2.5).
    version: u8,
    layer: u8,
    bitrate: u32,
    rate: u32,
    len: u32,
    mono: bool,
}

impl Frame {
    fn parse(h: &[u8]) -> Option<Frame> {
        if h.len() < 4 || h[0] != 0xFF || h[1] & 0xE0 != 0xE0 {
            return None;
        }
        let version = match (h[1] >> 3) & 3 {
            0 => 25,
            2 => 2,
            3 => 1,
            _ => return None,
        };
        let layer = match (h[1] >> 1) & 3 {
            1 => 3,
            2 => 2,
            3 => 1,
            _ => return None,
        };
        let bi = usize::from(h[2] >> 4);
        let ri = usize::from((h[2] >> 2) & 3);
        if ri == 3 || bi == 0 || bi == 15 {
            return None;
        }
        let bitrate = if version == 1 {
            BITRATES_V1[usize::from(layer) - 1][bi]
        } else {
            BITRATES_V2[usize::from(layer != 1)][bi]
        };
        let rate = match version {
            1 => MPEG1_RATES[ri],
            2 => MPEG1_RATES[ri] / 2,
            _ => MPEG1_RATES[ri] / 4,
        };
        let pad = u32::from((h[2] >> 1) & 1);
        let len = match layer {
            1 => (12 * bitrate * 1000 / rate + pad) * 4,
            3 if version != 1 => 72 * bitrate * 1000 / rate + pad,
            _ => 144 * bitrate * 1000 / rate + pad,
        };
        Some(Frame {
            version,
            layer,
            bitrate,
            rate,
            len,
            mono: h[3] >> 6 == 3,
        })
    }

    fn samples(&self) -> u32 {
        match (self.layer, self.version) {
            (1, _) => 384,
            (3, v) if v != 1 => 576,
            _ => 1152,
        }
    }

    fn same_stream(&self, o: &Frame) -> bool {
        self.version == o.version && self.layer == o.layer && self.rate == o.rate
    }
}

/// How far into the audio a first frame is looked for.
const SYNC_WINDOW: usize = 256 * 1024;

/// The first frame at or after `from` that the next frame confirms.
fn first_frame(
    src: &mut Source<'_>,
    from: u64,
    to: u64,
) -> Result<Option<(u64, Frame)>, Exhausted> {
    // Nearly always the first bytes: a small look first, the whole window
    // only if that finds nothing.
    for size in [8 * 1024, SYNC_WINDOW] {
        let window = src.read(from, size.min(to.saturating_sub(from) as usize))?;
        if let Some(found) = sync_in(&window, from, to) {
            return Ok(Some(found));
        }
        if window.len() < size {
            break;
        }
    }
    Ok(None)
}

fn sync_in(window: &[u8], from: u64, to: u64) -> Option<(u64, Frame)> {
    let mut i = 0;
    while i + 4 <= window.len() {
        if window[i] == 0xFF
            && let Some(f) = Frame::parse(&window[i..])
        {
            let next = i + f.len as usize;
            let confirmed = match window.get(next..next + 4) {
                Some(h) => Frame::parse(h).is_some_and(|n| f.same_stream(&n)),
                // The stream ends with this frame (or the window does).
                None => from + next as u64 >= to || i == 0,
            };
            if confirmed {
                return Some((from + i as u64, f));
            }
        }
        i += 1;
    }
    None
}

fn mpeg_props(src: &mut Source<'_>, range: (u64, u64)) -> Result<Result<Props, String>, Exhausted> {
    let Some((at, f)) = first_frame(src, range.0, range.1)? else {
        return Ok(Err("no MPEG audio frame found".into()));
    };
    let codec = match f.layer {
        3 => "mp3",
        2 => "mp2",
        _ => "mp1",
    };
    let head = src.read(at, 256)?;
    let side = match (f.version == 1, f.mono) {
        (true, false) => 32,
        (true, true) => 17,
        (false, false) => 17,
        (false, true) => 9,
    };
    let xing = 4 + side;
    // Encoder delay and padding (LAME's tag after the Xing fields) are
    // not part of what plays: other readers leave them out too.
    let mut trim = 0u64;
    let frames =
        if head.get(xing..xing + 4) == Some(b"Xing") || head.get(xing..xing + 4) == Some(b"Info") {
            let flags = be(&head, xing + 4, 4).unwrap_or(0);
            let lame = xing
                + 8
                + 4 * (flags & 1) as usize
                + 4 * (flags >> 1 & 1) as usize
                + 100 * (flags >> 2 & 1) as usize
                + 4 * (flags >> 3 & 1) as usize;
            if let Some(b"LAME" | b"Lavf" | b"Lavc" | b"GOGO") = head.get(lame..lame + 4)
                && let Some(dp) = be(&head, lame + 21, 3)
            {
                trim = (dp >> 12) + (dp & 0xFFF);
            }
            (flags & 1 != 0).then(|| be(&head, xing + 8, 4)).flatten()
        } else if head.get(36..40) == Some(b"VBRI") {
            be(&head, 36 + 14, 4)
        } else {
            None
        };
    let audio = range.1.saturating_sub(at);
    let mut estimated = false;
    let (secs, kbps) = match frames.filter(|n| *n > 0) {
        Some(n) => {
            let all = n * u64::from(f.samples());
            // Old LAME versions wrote a bogus delay for short files.
            let samples = if trim < all { all - trim } else { all };
            let secs = samples as f64 / f64::from(f.rate);
            (secs, (audio as f64 * 8.0 / secs / 1000.0).round() as u32)
        }
        None => {
            // No frame count: the frames are counted (all of them where
            // they fit in the window, else the window's average stands
            // for the rest).
            let has_tag = head
                .get(xing..xing + 4)
                .is_some_and(|t| t == b"Xing" || t == b"Info");
            let (n, bytes, cbr) = count_frames(src, at, range.1, has_tag)?;
            if n == 0 {
                (
                    audio as f64 * 8.0 / (f64::from(f.bitrate) * 1000.0),
                    f.bitrate,
                )
            } else {
                let whole = bytes >= audio.saturating_sub(u64::from(f.len));
                let total = if whole {
                    n as f64
                } else {
                    n as f64 * audio as f64 / bytes as f64
                };
                estimated = !whole && !cbr;
                let secs = total * f64::from(f.samples()) / f64::from(f.rate);
                (secs, (audio as f64 * 8.0 / secs / 1000.0).round() as u32)
            }
        }
    };
    Ok(Ok(Props {
        duration_secs: Some(secs),
        estimated,
        codec: Some(codec),
        bitrate_kbps: Some(kbps),
    }))
}

/// Frames from `at` within a window of the audio: (audio frames, bytes
/// they take, whether all had one bitrate). A leading Xing/Info frame
/// holds no audio and is not counted.
fn count_frames(
    src: &mut Source<'_>,
    at: u64,
    end: u64,
    skip_first: bool,
) -> Result<(u64, u64, bool), Exhausted> {
    // A window of frames: all of a short file; of a long one enough to
    // see whether the bitrate stays (then the bytes say the rest).
    let window = src.read(at, (end.saturating_sub(at)).min(64 * 1024) as usize)?;
    let (mut i, mut n, mut bytes, mut rate, mut cbr) = (0usize, 0u64, 0u64, None, true);
    let mut first = true;
    while i + 4 <= window.len() {
        let Some(f) = Frame::parse(&window[i..]) else {
            break;
        };
        if !(first && skip_first) {
            n += 1;
            bytes += u64::from(f.len);
            if *rate.get_or_insert(f.bitrate) != f.bitrate {
                cbr = false;
            }
        }
        first = false;
        i += f.len.max(1) as usize;
    }
    Ok((n, bytes, cbr))
}

const ADTS_RATES: [u32; 13] = [
    96_000, 88_200, 64_000, 48_000, 44_100, 32_000, 24_000, 22_050, 16_000, 12_000, 11_025, 8_000,
    7_350,
];

/// ADTS frames counted (all of them in a small file, the first thousands
/// of a big one, which then gives the average frame size); ADIF from the
/// bitrate in its header.
fn aac_props(src: &mut Source<'_>, range: (u64, u64)) -> Result<Result<Props, String>, Exhausted> {
    let (start, end) = range;
    let head = src.read(start, 16)?;
    if head.starts_with(b"ADIF") {
        // adif_id(32) copyright_present(1) [copyright_id(72)]
        // original_copy(1) home(1) bitstream_type(1) bitrate(23)
        let bits = |b: &[u8], from: usize, n: usize| -> u64 {
            (from..from + n).fold(0u64, |acc, i| {
                acc << 1 | u64::from(b.get(i / 8).is_some_and(|x| x >> (7 - i % 8) & 1 == 1))
            })
        };
        let ext = src.read(start, 32)?;
        let at = if bits(&ext, 32, 1) == 1 { 33 + 72 } else { 33 };
        let bitrate = bits(&ext, at + 3, 23);
        if bitrate == 0 {
            return Ok(Err("ADIF stream without a bitrate".into()));
        }
        return Ok(Ok(Props {
            duration_secs: Some((end - start) as f64 * 8.0 / bitrate as f64),
            estimated: true,
            codec: Some("aac"),
            bitrate_kbps: Some((bitrate / 1000) as u32),
        }));
    }
    let mut at = start;
    // The first sync word within the window.
    let window = src.read(start, SYNC_WINDOW.min((end - start) as usize))?;
    let Some(first) = window
        .windows(2)
        .position(|w| w[0] == 0xFF && w[1] & 0xF6 == 0xF0)
    else {
        return Ok(Err("no AAC (ADTS) frame found".into()));
    };
    at += first as u64;
    let (mut frames, mut bytes, mut rate) = (0u64, 0u64, 0u32);
    while at + 7 <= end && frames < 4096 {
        let h = src.read(at, 7)?;
        if h.len() < 7 || h[0] != 0xFF || h[1] & 0xF6 != 0xF0 {
            break;
        }
        let ri = usize::from((h[2] >> 2) & 0x0F);
        let Some(&r) = ADTS_RATES.get(ri) else { break };
        let len = (u64::from(h[3] & 3) << 11) | (u64::from(h[4]) << 3) | u64::from(h[5] >> 5);
        if len < 7 {
            break;
        }
        rate = r;
        frames += 1 + u64::from(h[6] & 3);
        bytes += len;
        at += len;
    }
    if frames == 0 || rate == 0 {
        return Ok(Err("no AAC (ADTS) frame found".into()));
    }
    let whole = at + 7 > end;
    let total_frames = if whole {
        frames as f64
    } else {
        frames as f64 * (end - start - first as u64) as f64 / bytes as f64
    };
    let secs = total_frames * 1024.0 / f64::from(rate);
    Ok(Ok(Props {
        duration_secs: Some(secs),
        estimated: !whole,
        codec: Some("aac"),
        bitrate_kbps: Some(((end - start) as f64 * 8.0 / secs / 1000.0).round() as u32),
    }))
}

pub fn read(src: &mut Source<'_>, adts: bool) -> Result<Found, Exhausted> {
    let (tag, range) = outer_tags(src)?;
    let mut problems = Vec::new();
    let first = if adts {
        aac_props(src, range)?
    } else {
        match mpeg_props(src, range)? {
            // A `.mp3` that holds ADTS frames (it happens).
            Err(e) => aac_props(src, range)?.map_err(|_| e),
            ok => ok,
        }
    };
    let props = first.unwrap_or_else(|e| {
        problems.push(e);
        Props::default()
    });
    Ok(Found {
        tag,
        props,
        problems,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_headers() {
        // MPEG-1 layer III, 128 kbit/s, 44.1 kHz, stereo.
        let f = Frame::parse(&[0xFF, 0xFB, 0x90, 0x00]).unwrap();
        assert_eq!(
            (f.version, f.layer, f.bitrate, f.rate, f.len),
            (1, 3, 128, 44_100, 417)
        );
        assert_eq!(f.samples(), 1152);
        // Free format and reserved values are no frame.
        assert!(Frame::parse(&[0xFF, 0xFB, 0x00, 0x00]).is_none());
        assert!(Frame::parse(&[0xFF, 0xFB, 0x9C, 0x00]).is_none());
    }
}
