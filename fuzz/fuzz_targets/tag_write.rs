//! The tag writer on any input named .mp3 or .flac: never a panic, the
//! audio it keeps starts inside the file, and the tags of the file it
//! makes read back as written.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, data)) = data.split_first() else { return };
    let ext = if pick & 1 == 0 { "mp3" } else { "flac" };
    let authors = vec!["Ann Author".to_string(), "Bo Writer".to_string()];
    let narrators = vec!["A Reader".to_string()];
    let tags = ao_tags::write::NewTags {
        title: "A Title",
        authors: &authors,
        narrators: &narrators,
        series: Some("A Series"),
        series_part: Some("2"),
    };
    let Ok(re) = ao_tags::write::retag(&mut std::io::Cursor::new(data), ext, &tags) else {
        return;
    };
    assert!(re.audio_start as usize <= data.len());
    let mut file = re.head.clone();
    file.extend_from_slice(&data[re.audio_start as usize..]);
    if let Ok(info) = ao_tags::read_audio_info_from_bytes(&file, ext) {
        assert_eq!(info.title.as_deref(), Some("A Title"));
        assert_eq!(info.artists, authors);
        assert_eq!(info.narrators, narrators);
        assert_eq!(info.series.as_deref(), Some("A Series"));
    }
});
