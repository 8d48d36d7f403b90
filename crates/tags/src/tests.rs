//! The classes of misreading that real-world files showed, each built
//! byte by byte from the format's specification.

use super::*;

fn read(bytes: &[u8], ext: &str) -> Result<AudioInfo, String> {
    read_audio_info_from(&mut std::io::Cursor::new(bytes), ext)
}

fn synchsafe(n: usize) -> [u8; 4] {
    [
        (n >> 21 & 0x7F) as u8,
        (n >> 14 & 0x7F) as u8,
        (n >> 7 & 0x7F) as u8,
        (n & 0x7F) as u8,
    ]
}

/// An ID3v2.3 tag of UTF-8-free Latin-1 text frames.
fn id3v23(frames: &[(&str, &str)]) -> Vec<u8> {
    let mut body = Vec::new();
    for (id, text) in frames {
        body.extend_from_slice(id.as_bytes());
        body.extend_from_slice(&(text.len() as u32 + 1).to_be_bytes());
        body.extend_from_slice(&[0, 0, 0]);
        body.extend_from_slice(text.as_bytes());
    }
    let mut t = b"ID3\x03\x00\x00".to_vec();
    t.extend_from_slice(&synchsafe(body.len()));
    t.extend_from_slice(&body);
    t
}

fn id3v1(title: &str, artist: &str, album: &str, year: &str, track: u8) -> Vec<u8> {
    let mut b = vec![0u8; 128];
    b[..3].copy_from_slice(b"TAG");
    b[3..3 + title.len()].copy_from_slice(title.as_bytes());
    b[33..33 + artist.len()].copy_from_slice(artist.as_bytes());
    b[63..63 + album.len()].copy_from_slice(album.as_bytes());
    b[93..93 + year.len()].copy_from_slice(year.as_bytes());
    b[126] = track;
    b[127] = 101;
    b
}

/// `n` MPEG-1 layer III frames, 128 kbit/s, 44.1 kHz (417 bytes each).
fn mp3_frames(n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for _ in 0..n {
        let mut f = vec![0u8; 417];
        f[..4].copy_from_slice(&[0xFF, 0xFB, 0x90, 0x00]);
        out.extend_from_slice(&f);
    }
    out
}

#[test]
fn tags_survive_an_audio_stream_that_cannot_be_parsed() {
    // An ID3v2 tag, then no MPEG frame at all.
    let mut file = id3v23(&[
        ("TIT2", "Dune"),
        ("TPE1", "Frank Herbert"),
        ("TALB", "Dune"),
    ]);
    file.extend_from_slice(&[0x55; 5000]);
    let info = read(&file, "mp3").unwrap();
    assert_eq!(info.title.as_deref(), Some("Dune"));
    assert_eq!(info.artist.as_deref(), Some("Frank Herbert"));
    assert!(!info.duration_known);
    assert!(
        info.notes.iter().any(|n| n.contains("duration unknown")),
        "{:?}",
        info.notes
    );
    // A FLAC whose STREAMINFO is cut short keeps its comments.
    let mut flac = b"fLaC".to_vec();
    flac.extend_from_slice(&[0x00, 0, 0, 4, 1, 2, 3, 4]); // STREAMINFO of 4 bytes
    let mut vc = 3u32.to_le_bytes().to_vec();
    vc.extend_from_slice(b"ven");
    vc.extend_from_slice(&1u32.to_le_bytes());
    let entry = b"TITLE=Emma";
    vc.extend_from_slice(&(entry.len() as u32).to_le_bytes());
    vc.extend_from_slice(entry);
    flac.push(0x84);
    flac.extend_from_slice(&(vc.len() as u32).to_be_bytes()[1..]);
    flac.extend_from_slice(&vc);
    let info = read(&flac, "flac").unwrap();
    assert_eq!(info.title.as_deref(), Some("Emma"));
    assert!(!info.duration_known);
}

#[test]
fn id3v1_is_read_below_id3v2_and_ape() {
    let mut file = mp3_frames(20);
    file.extend_from_slice(&id3v1(
        "Frankenstein",
        "Mary Shelley",
        "Frankenstein",
        "1818",
        3,
    ));
    let info = read(&file, "mp3").unwrap();
    assert_eq!(info.title.as_deref(), Some("Frankenstein"));
    assert_eq!(info.artist.as_deref(), Some("Mary Shelley"));
    assert_eq!(info.year, Some(1818));
    assert_eq!(info.track, Some(3));
    assert!((info.duration_secs - 20.0 * 1152.0 / 44100.0).abs() < 0.01);
    // ID3v2 wins where it has a value; ID3v1 fills the rest.
    let mut file = id3v23(&[("TIT2", "Better Title")]);
    file.extend_from_slice(&mp3_frames(5));
    file.extend_from_slice(&id3v1("Old Title", "Old Artist", "", "2001", 0));
    let info = read(&file, "mp3").unwrap();
    assert_eq!(info.title.as_deref(), Some("Better Title"));
    assert_eq!(info.artist.as_deref(), Some("Old Artist"));
}

#[test]
fn several_values_are_lists_and_no_field_holds_a_control_character() {
    let mut t = b"ID3\x04\x00\x00".to_vec();
    let mut body = Vec::new();
    for (id, payload) in [
        ("TIT2", &b"\x03some title\x00another title"[..]),
        ("TPE1", b"\x03artist6\x00artist7"),
        ("TALB", b"\x03An\x07 Album\x0b"),
        ("TPE1", b"\x03later"),
    ] {
        body.extend_from_slice(id.as_bytes());
        body.extend_from_slice(&synchsafe(payload.len()));
        body.extend_from_slice(&[0, 0]);
        body.extend_from_slice(payload);
    }
    t.extend_from_slice(&synchsafe(body.len()));
    t.extend_from_slice(&body);
    t.extend_from_slice(&mp3_frames(3));
    let info = read(&t, "mp3").unwrap();
    assert_eq!(info.title.as_deref(), Some("some title"));
    assert_eq!(info.artists, ["artist6", "artist7"]);
    assert_eq!(info.artist.as_deref(), Some("artist6, artist7"));
    assert_eq!(info.album.as_deref(), Some("An Album"));
    for v in [&info.title, &info.artist, &info.album]
        .into_iter()
        .flatten()
    {
        assert!(!v.chars().any(char::is_control), "{v:?}");
    }
}

/// An ASF file: header object with File Properties, Content Description
/// and Extended Content Description.
fn asf(
    title: &str,
    author: &str,
    ext: &[(&str, &str)],
    play_100ns: u64,
    preroll_ms: u64,
) -> Vec<u8> {
    fn utf16z(s: &str) -> Vec<u8> {
        let mut v: Vec<u8> = s.encode_utf16().flat_map(u16::to_le_bytes).collect();
        v.extend_from_slice(&[0, 0]);
        v
    }
    fn object(id: [u8; 16], body: &[u8]) -> Vec<u8> {
        let mut o = id.to_vec();
        o.extend_from_slice(&(body.len() as u64 + 24).to_le_bytes());
        o.extend_from_slice(body);
        o
    }
    let mut fp = vec![0u8; 80];
    fp[40..48].copy_from_slice(&play_100ns.to_le_bytes());
    fp[56..64].copy_from_slice(&preroll_ms.to_le_bytes());
    let (t, a) = (utf16z(title), utf16z(author));
    let mut cd = Vec::new();
    for n in [t.len(), a.len(), 0, 0, 0] {
        cd.extend_from_slice(&(n as u16).to_le_bytes());
    }
    cd.extend_from_slice(&t);
    cd.extend_from_slice(&a);
    let mut ecd = (ext.len() as u16).to_le_bytes().to_vec();
    for (name, value) in ext {
        let (n, v) = (utf16z(name), utf16z(value));
        ecd.extend_from_slice(&(n.len() as u16).to_le_bytes());
        ecd.extend_from_slice(&n);
        ecd.extend_from_slice(&0u16.to_le_bytes());
        ecd.extend_from_slice(&(v.len() as u16).to_le_bytes());
        ecd.extend_from_slice(&v);
    }
    let children = [
        object(asf::FILE_PROPERTIES, &fp),
        object(asf::CONTENT_DESCRIPTION, &cd),
        object(asf::EXTENDED_CONTENT, &ecd),
    ]
    .concat();
    let mut h = asf::HEADER.to_vec();
    h.extend_from_slice(&(children.len() as u64 + 30).to_le_bytes());
    h.extend_from_slice(&3u32.to_le_bytes());
    h.extend_from_slice(&[1, 2]);
    h.extend_from_slice(&children);
    h
}

#[test]
fn wma_title_author_album_track_disc_and_length() {
    let file = asf(
        "Señor Flamingos Adieu",
        "Kaizers Orchestra",
        &[
            ("WM/AlbumTitle", "Live at Vega"),
            ("WM/AlbumArtist", "Kaizers"),
            ("WM/Year", "2006"),
            ("WM/TrackNumber", "6/15"),
            ("WM/PartOfSet", "2"),
            ("WM/Composer", "Reader One"),
            ("WM/Genre", "Speech"),
        ],
        // 42.613 s of play, 2 s preroll
        426_130_000,
        2000,
    );
    let info = read(&file, "wma").unwrap();
    assert_eq!(info.title.as_deref(), Some("Señor Flamingos Adieu"));
    assert_eq!(info.artist.as_deref(), Some("Kaizers Orchestra"));
    assert_eq!(info.album_artist.as_deref(), Some("Kaizers"));
    assert_eq!(info.album.as_deref(), Some("Live at Vega"));
    assert_eq!(
        (info.year, info.track, info.disc),
        (Some(2006), Some(6), Some(2))
    );
    assert_eq!(info.narrator.as_deref(), Some("Reader One"));
    assert_eq!(info.duration_secs, 40.613);
}

/// Ogg pages (CRC left zero: readers of tags do not check it).
fn ogg_page(serial: u32, seq: u32, granule: i64, header_type: u8, packet: &[u8]) -> Vec<u8> {
    let mut lacing = vec![255u8; packet.len() / 255];
    lacing.push((packet.len() % 255) as u8);
    let mut p = b"OggS\x00".to_vec();
    p.push(header_type);
    p.extend_from_slice(&granule.to_le_bytes());
    p.extend_from_slice(&serial.to_le_bytes());
    p.extend_from_slice(&seq.to_le_bytes());
    p.extend_from_slice(&[0; 4]);
    p.push(lacing.len() as u8);
    p.extend_from_slice(&lacing);
    p.extend_from_slice(packet);
    p
}

#[test]
fn opus_length_is_the_last_granule_less_the_pre_skip() {
    let mut head = b"OpusHead\x01\x01".to_vec();
    head.extend_from_slice(&312u16.to_le_bytes()); // pre-skip
    head.extend_from_slice(&48_000u32.to_le_bytes());
    head.extend_from_slice(&[0, 0, 0]);
    let mut tags = b"OpusTags".to_vec();
    tags.extend_from_slice(&4u32.to_le_bytes());
    tags.extend_from_slice(b"test");
    tags.extend_from_slice(&2u32.to_le_bytes());
    for c in ["TITLE=Short", "ARTIST=Someone"] {
        tags.extend_from_slice(&(c.len() as u32).to_le_bytes());
        tags.extend_from_slice(c.as_bytes());
    }
    let mut file = ogg_page(7, 0, 0, 2, &head);
    file.extend_from_slice(&ogg_page(7, 1, 0, 0, &tags));
    file.extend_from_slice(&ogg_page(7, 2, 20_000, 0, &[0u8; 100]));
    file.extend_from_slice(&ogg_page(7, 3, 47_832, 4, &[0u8; 100]));
    let info = read(&file, "opus").unwrap();
    assert_eq!(info.duration_secs, 0.99);
    assert!(info.duration_known);
    assert_eq!(info.title.as_deref(), Some("Short"));
    assert_eq!(info.codec.as_deref(), Some("opus"));
}

#[test]
fn durations_are_rounded_to_milliseconds() {
    let mut file = mp3_frames(7);
    file.extend_from_slice(&id3v1("T", "A", "", "", 0));
    let info = read(&file, "mp3").unwrap();
    assert_eq!(
        info.duration_secs,
        (info.duration_secs * 1000.0).round() / 1000.0
    );
    assert_eq!(info.duration_secs, 0.183);
}

#[test]
fn every_extension_audiobookshelf_accepts_is_read() {
    for ext in [
        "m4b", "mp3", "m4a", "flac", "opus", "ogg", "oga", "mp4", "aac", "wma", "aiff", "aif",
        "wav", "webm", "webma", "mka", "awb", "caf", "mpg", "mpeg", "spx",
    ] {
        assert!(AUDIO_EXTENSIONS.contains(&ext), "{ext}");
        assert!(by_extension(ext).is_some(), "{ext}");
    }
}

/// Run in a child process: a reader that panics is reported as one error,
/// and nothing of the panic reaches stderr.
#[test]
fn a_panic_inside_a_reader_stays_off_stderr() {
    if std::env::var_os("AO_TAGS_PANIC_CHILD").is_some() {
        let _quiet = quiet_panics::Quiet::new();
        let r = std::panic::catch_unwind(|| panic!("a reader fell over"));
        assert!(r.is_err());
        eprintln!("child done");
        return;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "tests::a_panic_inside_a_reader_stays_off_stderr"])
        .args(["--nocapture", "--test-threads", "1"])
        .env("AO_TAGS_PANIC_CHILD", "1")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("child done"), "{err}");
    assert!(!err.contains("a reader fell over"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

/// The fuzzer once found an ADTS stream on which a frame search never
/// ended (`fuzz/seeds/tags/regression-adts-loop`); it must end, and fast.
#[test]
fn an_adts_stream_that_looped_a_frame_search_ends() {
    let data = include_bytes!("../../../fuzz/seeds/tags/regression-adts-loop");
    let started = std::time::Instant::now();
    let _ = read(&data[1..], "aac");
    let _ = read(&data[..], "aac");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}
