//! The tag writer on any input named .mp3, .flac or .m4b: never a panic,
//! the ranges it keeps lie inside the file, and the tags of the file it
//! makes read back as written.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, data)) = data.split_first() else { return };
    let ext = ["mp3", "flac", "m4b"][pick as usize % 3];
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
    for p in &re.pieces {
        if let ao_tags::write::Piece::Copy { start, end } = p {
            assert!(start <= end && *end as usize <= data.len());
        }
    }
    let file = re.apply(data);
    if let Ok(info) = ao_tags::read_audio_info_from_bytes(&file, ext) {
        assert_eq!(info.title.as_deref(), Some("A Title"));
        assert_eq!(info.artists, authors);
        assert_eq!(info.narrators, narrators);
        assert_eq!(info.series.as_deref(), Some("A Series"));
    }
});
