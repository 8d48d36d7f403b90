//! Small, valid audio files made from scratch: MPEG-1 Layer III with ID3v2.4,
//! FLAC with Vorbis comments, and MP4/M4B with iTunes tags. Used by the
//! `sample` command, the tests and the benchmarks, so that everything runs on
//! real files without shipping any.

use std::io;
use std::path::Path;

/// Tags to write; `None` fields are left out.
#[derive(Debug, Clone, Default)]
pub struct SampleTags {
    pub title: Option<String>,
    pub artist: Option<String>,
    pub album: Option<String>,
    pub narrator: Option<String>,
    pub series: Option<String>,
    pub series_part: Option<String>,
    pub year: Option<i32>,
    pub track: Option<(u32, u32)>,
    /// An image for the tag's front cover (ID3v2 `APIC`).
    pub cover: Option<Vec<u8>>,
}

impl SampleTags {
    pub fn book(title: &str, author: &str) -> Self {
        Self {
            title: Some(title.into()),
            artist: Some(author.into()),
            album: Some(title.into()),
            ..Default::default()
        }
    }
}

// ---------------------------------------------------------------- MP3 ----

/// 128 kbit/s, 44.1 kHz, mono, no CRC: 417-byte frames of 1152 samples.
const MP3_HEADER: [u8; 4] = [0xFF, 0xFB, 0x90, 0xC0];
const MP3_FRAME_LEN: usize = 417;

fn synchsafe(n: u32) -> [u8; 4] {
    [
        ((n >> 21) & 0x7f) as u8,
        ((n >> 14) & 0x7f) as u8,
        ((n >> 7) & 0x7f) as u8,
        (n & 0x7f) as u8,
    ]
}

fn id3_frame(out: &mut Vec<u8>, id: &str, body: &[u8]) {
    out.extend_from_slice(id.as_bytes());
    out.extend_from_slice(&synchsafe(body.len() as u32));
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(body);
}

fn id3_text(out: &mut Vec<u8>, id: &str, text: &str) {
    let mut body = vec![3u8];
    body.extend_from_slice(text.as_bytes());
    id3_frame(out, id, &body);
}

fn id3_user_text(out: &mut Vec<u8>, desc: &str, text: &str) {
    let mut body = vec![3u8];
    body.extend_from_slice(desc.as_bytes());
    body.push(0);
    body.extend_from_slice(text.as_bytes());
    id3_frame(out, "TXXX", &body);
}

/// An ID3v2.4 tag with UTF-8 text frames.
pub fn id3v2_tag(tags: &SampleTags) -> Vec<u8> {
    let mut frames = Vec::new();
    if let Some(v) = &tags.title {
        id3_text(&mut frames, "TIT2", v);
    }
    if let Some(v) = &tags.artist {
        id3_text(&mut frames, "TPE1", v);
    }
    if let Some(v) = &tags.album {
        id3_text(&mut frames, "TALB", v);
    }
    if let Some(y) = tags.year {
        id3_text(&mut frames, "TDRC", &y.to_string());
    }
    if let Some((n, total)) = tags.track {
        id3_text(&mut frames, "TRCK", &format!("{n}/{total}"));
    }
    if let Some(v) = &tags.narrator {
        id3_user_text(&mut frames, "NARRATOR", v);
    }
    if let Some(v) = &tags.series {
        id3_user_text(&mut frames, "SERIES", v);
    }
    if let Some(v) = &tags.series_part {
        id3_user_text(&mut frames, "SERIES-PART", v);
    }
    if let Some(image) = &tags.cover {
        // UTF-8, MIME type, "Cover (front)", empty description, data.
        let mut body = vec![3u8];
        body.extend_from_slice(b"image/jpeg\0");
        body.push(3);
        body.push(0);
        body.extend_from_slice(image);
        id3_frame(&mut frames, "APIC", &body);
    }
    let mut out = b"ID3\x04\x00\x00".to_vec();
    out.extend_from_slice(&synchsafe(frames.len() as u32));
    out.extend_from_slice(&frames);
    out
}

/// An MP3 of about `seconds` of silence; `seed` makes the bytes unique.
pub fn mp3_bytes(tags: Option<&SampleTags>, seconds: f64, seed: u64) -> Vec<u8> {
    let frames = ((seconds * 44_100.0 / 1152.0).round() as usize).max(1);
    let mut out = tags.map(id3v2_tag).unwrap_or_default();
    for i in 0..frames {
        let start = out.len();
        out.extend_from_slice(&MP3_HEADER);
        out.resize(start + MP3_FRAME_LEN, 0);
        if i == 0 {
            // Ancillary bytes after the (all-zero) side information.
            out[start + 40..start + 48].copy_from_slice(&seed.to_le_bytes());
        }
    }
    out
}

// --------------------------------------------------------------- FLAC ----

fn crc8(data: &[u8]) -> u8 {
    let mut crc = 0u8;
    for b in data {
        crc ^= b;
        for _ in 0..8 {
            crc = if crc & 0x80 != 0 {
                (crc << 1) ^ 0x07
            } else {
                crc << 1
            };
        }
    }
    crc
}

fn crc16(data: &[u8]) -> u16 {
    let mut crc = 0u16;
    for b in data {
        crc ^= (*b as u16) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x8005
            } else {
                crc << 1
            };
        }
    }
    crc
}

fn utf8_frame_number(n: u32) -> Vec<u8> {
    let mut s = String::new();
    s.push(char::from_u32(n).unwrap_or('\0'));
    s.into_bytes()
}

/// A FLAC file: STREAMINFO, Vorbis comments, and constant-value frames.
pub fn flac_bytes(tags: Option<&SampleTags>, seconds: f64, seed: u64) -> Vec<u8> {
    const BLOCK: u64 = 4096;
    const RATE: u64 = 44_100;
    let frames = ((seconds * RATE as f64 / BLOCK as f64).round() as u64).clamp(1, 50_000);
    let total_samples = frames * BLOCK;
    let mut out = b"fLaC".to_vec();
    // STREAMINFO
    let mut si = Vec::with_capacity(34);
    si.extend_from_slice(&(BLOCK as u16).to_be_bytes());
    si.extend_from_slice(&(BLOCK as u16).to_be_bytes());
    si.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    // 20 bits rate, 3 bits channels-1 (0), 5 bits bps-1 (15), 36 bits samples
    let packed: u64 = (RATE << 44) | (15u64 << 36) | total_samples;
    si.extend_from_slice(&packed.to_be_bytes());
    let mut md5 = [0u8; 16];
    md5[..8].copy_from_slice(&seed.to_le_bytes());
    si.extend_from_slice(&md5);
    let comments = tags.map(vorbis_comments).unwrap_or_default();
    out.push(if comments.is_empty() { 0x80 } else { 0x00 });
    out.extend_from_slice(&(si.len() as u32).to_be_bytes()[1..]);
    out.extend_from_slice(&si);
    if !comments.is_empty() {
        out.push(0x80 | 4);
        out.extend_from_slice(&(comments.len() as u32).to_be_bytes()[1..]);
        out.extend_from_slice(&comments);
    }
    for n in 0..frames {
        let start = out.len();
        out.extend_from_slice(&[0xFF, 0xF8, 0xC9, 0x08]);
        out.extend_from_slice(&utf8_frame_number(n as u32));
        let c = crc8(&out[start..]);
        out.push(c);
        out.extend_from_slice(&[0x00, 0x00, 0x00]); // CONSTANT subframe, value 0
        let c = crc16(&out[start..]);
        out.extend_from_slice(&c.to_be_bytes());
    }
    out
}

fn vorbis_comments(tags: &SampleTags) -> Vec<u8> {
    let mut items = Vec::new();
    let mut add = |k: &str, v: &Option<String>| {
        if let Some(v) = v {
            items.push(format!("{k}={v}"));
        }
    };
    add("TITLE", &tags.title);
    add("ARTIST", &tags.artist);
    add("ALBUM", &tags.album);
    add("NARRATOR", &tags.narrator);
    add("SERIES", &tags.series);
    add("SERIES-PART", &tags.series_part);
    if let Some(y) = tags.year {
        items.push(format!("DATE={y}"));
    }
    if let Some((n, t)) = tags.track {
        items.push(format!("TRACKNUMBER={n}"));
        items.push(format!("TRACKTOTAL={t}"));
    }
    let vendor = b"audiobook-organizer sample";
    let mut out = Vec::new();
    out.extend_from_slice(&(vendor.len() as u32).to_le_bytes());
    out.extend_from_slice(vendor);
    out.extend_from_slice(&(items.len() as u32).to_le_bytes());
    for i in items {
        out.extend_from_slice(&(i.len() as u32).to_le_bytes());
        out.extend_from_slice(i.as_bytes());
    }
    out
}

// ---------------------------------------------------------------- MP4 ----

fn mp4_box(kind: &[u8; 4], payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 8);
    out.extend_from_slice(&((payload.len() + 8) as u32).to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(payload);
    out
}

fn full_box(kind: &[u8; 4], payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0u8; 4];
    p.extend_from_slice(payload);
    mp4_box(kind, &p)
}

fn concat(parts: &[Vec<u8>]) -> Vec<u8> {
    parts.concat()
}

const MATRIX: [u32; 9] = [0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x4000_0000];

fn matrix() -> Vec<u8> {
    MATRIX.iter().flat_map(|v| v.to_be_bytes()).collect()
}

fn descriptor(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![tag, body.len() as u8];
    out.extend_from_slice(body);
    out
}

fn ilst_text(kind: &[u8; 4], value: &str) -> Vec<u8> {
    let mut data = vec![0, 0, 0, 1, 0, 0, 0, 0];
    data.extend_from_slice(value.as_bytes());
    mp4_box(kind, &mp4_box(b"data", &data))
}

fn ilst_freeform(name: &str, value: &str) -> Vec<u8> {
    let mut mean = vec![0u8; 4];
    mean.extend_from_slice(b"com.apple.iTunes");
    let mut nm = vec![0u8; 4];
    nm.extend_from_slice(name.as_bytes());
    let mut data = vec![0, 0, 0, 1, 0, 0, 0, 0];
    data.extend_from_slice(value.as_bytes());
    mp4_box(
        b"----",
        &concat(&[
            mp4_box(b"mean", &mean),
            mp4_box(b"name", &nm),
            mp4_box(b"data", &data),
        ]),
    )
}

fn ilst(tags: &SampleTags) -> Vec<u8> {
    let mut items = Vec::new();
    if let Some(v) = &tags.title {
        items.push(ilst_text(b"\xa9nam", v));
    }
    if let Some(v) = &tags.artist {
        items.push(ilst_text(b"\xa9ART", v));
        items.push(ilst_text(b"aART", v));
    }
    if let Some(v) = &tags.album {
        items.push(ilst_text(b"\xa9alb", v));
    }
    if let Some(v) = &tags.narrator {
        items.push(ilst_text(b"\xa9nrt", v));
    }
    if let Some(y) = tags.year {
        items.push(ilst_text(b"\xa9day", &y.to_string()));
    }
    if let Some((n, t)) = tags.track {
        let mut data = vec![0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        data.extend_from_slice(&(n as u16).to_be_bytes());
        data.extend_from_slice(&(t as u16).to_be_bytes());
        data.extend_from_slice(&[0, 0]);
        items.push(mp4_box(b"trkn", &mp4_box(b"data", &data)));
    }
    if let Some(v) = &tags.series {
        items.push(ilst_freeform("SERIES", v));
    }
    if let Some(v) = &tags.series_part {
        items.push(ilst_freeform("SERIES-PART", v));
    }
    let mut hdlr = vec![0u8; 4];
    hdlr.extend_from_slice(b"mdirappl");
    hdlr.extend_from_slice(&[0u8; 9]);
    let meta = full_box(
        b"meta",
        &concat(&[full_box(b"hdlr", &hdlr), mp4_box(b"ilst", &items.concat())]),
    );
    mp4_box(b"udta", &meta)
}

/// An M4B (AAC in MP4) with `seconds` of duration in its headers and
/// placeholder sample data; tags in `moov/udta/meta/ilst`.
pub fn m4b_bytes(tags: Option<&SampleTags>, seconds: f64, seed: u64) -> Vec<u8> {
    const RATE: u32 = 44_100;
    let samples = ((seconds * RATE as f64 / 1024.0).round() as u32).max(1);
    let sample_size = 32u32;
    let duration_ms = (samples as u64 * 1024 * 1000 / RATE as u64) as u32;
    let ftyp = mp4_box(b"ftyp", b"M4B \x00\x00\x02\x00M4B isommp42");
    let mut mvhd = Vec::new();
    for v in [0u32, 0, 1000, duration_ms, 0x10000] {
        mvhd.extend_from_slice(&v.to_be_bytes());
    }
    mvhd.extend_from_slice(&[0x01, 0x00]);
    mvhd.extend_from_slice(&[0u8; 10]);
    mvhd.extend_from_slice(&matrix());
    mvhd.extend_from_slice(&[0u8; 24]);
    mvhd.extend_from_slice(&2u32.to_be_bytes());
    let mvhd = full_box(b"mvhd", &mvhd);

    let mut tkhd = Vec::new();
    for v in [0u32, 0, 1, 0, duration_ms, 0, 0] {
        tkhd.extend_from_slice(&v.to_be_bytes());
    }
    tkhd.extend_from_slice(&[0, 0, 0, 0, 0x01, 0x00, 0, 0]);
    tkhd.extend_from_slice(&matrix());
    tkhd.extend_from_slice(&[0u8; 8]);
    let mut tkhd_box = mp4_box(b"tkhd", &[&[0u8, 0, 0, 7][..], &tkhd].concat());
    tkhd_box.shrink_to_fit();

    let mut mdhd = Vec::new();
    for v in [0u32, 0, RATE, samples * 1024] {
        mdhd.extend_from_slice(&v.to_be_bytes());
    }
    mdhd.extend_from_slice(&[0x55, 0xc4, 0, 0]);
    let mdhd = full_box(b"mdhd", &mdhd);
    let mut hdlr = vec![0u8; 4];
    hdlr.extend_from_slice(b"soun");
    hdlr.extend_from_slice(&[0u8; 13]);
    let hdlr = full_box(b"hdlr", &hdlr);

    let smhd = full_box(b"smhd", &[0, 0, 0, 0]);
    let url = mp4_box(b"url ", &[0, 0, 0, 1]);
    let dref = full_box(b"dref", &[&1u32.to_be_bytes()[..], &url].concat());
    let dinf = mp4_box(b"dinf", &dref);

    let bitrate = sample_size * 8 * RATE / 1024;
    let mut dcd = vec![0x40, 0x15, 0, 0x10, 0];
    dcd.extend_from_slice(&bitrate.to_be_bytes());
    dcd.extend_from_slice(&bitrate.to_be_bytes());
    dcd.extend_from_slice(&descriptor(5, &[0x12, 0x10]));
    let mut es = vec![0, 1, 0];
    es.extend_from_slice(&descriptor(4, &dcd));
    es.extend_from_slice(&descriptor(6, &[2]));
    let esds = full_box(b"esds", &descriptor(3, &es));
    let mut mp4a = vec![0u8; 6];
    mp4a.extend_from_slice(&1u16.to_be_bytes());
    mp4a.extend_from_slice(&[0u8; 8]);
    mp4a.extend_from_slice(&2u16.to_be_bytes());
    mp4a.extend_from_slice(&16u16.to_be_bytes());
    mp4a.extend_from_slice(&[0u8; 4]);
    mp4a.extend_from_slice(&(RATE << 16).to_be_bytes());
    mp4a.extend_from_slice(&esds);
    let stsd = full_box(
        b"stsd",
        &[&1u32.to_be_bytes()[..], &mp4_box(b"mp4a", &mp4a)].concat(),
    );
    let stts = full_box(
        b"stts",
        &[1u32, samples, 1024]
            .iter()
            .flat_map(|v| v.to_be_bytes())
            .collect::<Vec<_>>(),
    );
    let stsc = full_box(
        b"stsc",
        &[1u32, 1, samples, 1]
            .iter()
            .flat_map(|v| v.to_be_bytes())
            .collect::<Vec<_>>(),
    );
    let stsz = full_box(
        b"stsz",
        &[sample_size, samples]
            .iter()
            .flat_map(|v| v.to_be_bytes())
            .collect::<Vec<_>>(),
    );

    let udta = tags.map(ilst).unwrap_or_default();
    // The chunk offset depends on the size of everything before mdat.
    let build = |offset: u32| {
        let stco = full_box(
            b"stco",
            &[1u32, offset]
                .iter()
                .flat_map(|v| v.to_be_bytes())
                .collect::<Vec<_>>(),
        );
        let stbl = mp4_box(
            b"stbl",
            &concat(&[stsd.clone(), stts.clone(), stsc.clone(), stsz.clone(), stco]),
        );
        let minf = mp4_box(b"minf", &concat(&[smhd.clone(), dinf.clone(), stbl]));
        let mdia = mp4_box(b"mdia", &concat(&[mdhd.clone(), hdlr.clone(), minf]));
        let trak = mp4_box(b"trak", &concat(&[tkhd_box.clone(), mdia]));
        mp4_box(b"moov", &concat(&[mvhd.clone(), trak, udta.clone()]))
    };
    let moov_len = build(0).len();
    let offset = (ftyp.len() + moov_len + 8) as u32;
    let moov = build(offset);
    let mut data = vec![0u8; (samples * sample_size) as usize];
    data[..8].copy_from_slice(&seed.to_le_bytes());
    concat(&[ftyp, moov, mp4_box(b"mdat", &data)])
}

/// Writes a small import tree: single-file books in three formats, a
/// multi-part book, an untagged file named `Author - Title.mp3`, and a copy
/// of one book (a duplicate).
pub fn write_sample_tree(root: &Path) -> io::Result<usize> {
    let mut written = 0;
    let mut put = |rel: &str, bytes: Vec<u8>| -> io::Result<()> {
        let p = root.join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(p, bytes)?;
        written += 1;
        Ok(())
    };
    let dune = SampleTags {
        narrator: Some("Scott Brick".into()),
        series: Some("Dune".into()),
        series_part: Some("1".into()),
        year: Some(1965),
        ..SampleTags::book("Dune", "Frank Herbert")
    };
    put(
        "downloads/Frank Herbert/Dune/Dune.m4b",
        m4b_bytes(Some(&dune), 3.0, 1),
    )?;
    let hobbit = SampleTags {
        narrator: Some("Andy Serkis".into()),
        year: Some(1937),
        ..SampleTags::book("The Hobbit", "J.R.R. Tolkien")
    };
    put("downloads/The Hobbit.mp3", mp3_bytes(Some(&hobbit), 2.0, 2))?;
    let emma = SampleTags {
        narrator: Some("Juliet Stevenson".into()),
        year: Some(1815),
        ..SampleTags::book("Emma", "Jane Austen")
    };
    put(
        "downloads/Austen/Emma.flac",
        flac_bytes(Some(&emma), 2.0, 3),
    )?;
    for part in 1..=5u32 {
        let tags = SampleTags {
            title: Some(format!("Chapter {part}")),
            track: Some((part, 5)),
            narrator: Some("Simon Vance".into()),
            year: Some(1869),
            ..SampleTags::book("War and Peace", "Leo Tolstoy")
        };
        let tags = SampleTags {
            album: Some("War and Peace".into()),
            ..tags
        };
        put(
            &format!("downloads/War and Peace/{part:02} - War and Peace.mp3"),
            mp3_bytes(Some(&tags), 1.5, 100 + part as u64),
        )?;
    }
    put(
        "downloads/untagged/Mary Shelley - Frankenstein.mp3",
        mp3_bytes(None, 2.0, 4),
    )?;
    put(
        "nas/copies/The Hobbit (copy).mp3",
        mp3_bytes(Some(&hobbit), 2.0, 2),
    )?;
    Ok(written)
}

/// A completed operation that ended at `ended`, with `lines` log lines: the
/// writes retention tests and benchmarks expire.
pub fn finished_operation_with_logs(
    id: &str,
    ended: time::OffsetDateTime,
    lines: u64,
) -> Vec<ao_store::Mutation> {
    use ao_store::{LogEntry, LogLevel, Mutation, Operation, OperationStatus, Priority};
    let mut op = Operation::new(
        id.to_string(),
        "scan",
        Priority::Normal,
        serde_json::Value::Null,
        None,
    );
    op.status = OperationStatus::Completed;
    op.created_at = ended;
    op.completed_at = Some(ended);
    let mut batch = Vec::with_capacity(lines as usize + 1);
    batch.push(Mutation::PutOperation(op));
    batch.extend((0..lines).map(|i| {
        Mutation::AppendLog(LogEntry {
            id: i + 1,
            operation_id: id.to_string(),
            level: LogLevel::Info,
            message: format!("processed file {i} of the library"),
            details: None,
            created_at: ended + time::Duration::microseconds(i as i64),
        })
    }));
    batch
}
