//! Tag reading on arbitrary bytes: the first byte picks the extension the
//! scan would use, the rest is the file. Reading the tags and reading the
//! cover picture must return, never panic, hang or run out of memory.
#![no_main]

use libfuzzer_sys::fuzz_target;

use ao_tags as tags;

use tags::read_audio_info_from;

use tags::AUDIO_EXTENSIONS as EXTENSIONS;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, file)) = data.split_first() else {
        return;
    };
    let ext = EXTENSIONS[pick as usize % EXTENSIONS.len()];
    let _ = read_audio_info_from(&mut std::io::Cursor::new(file), ext);
    if let Some(p) = tags::picture::embedded_in_bytes(file, ext) {
        assert!(tags::picture::image_type(&p.data) == Some(p.mime));
    }
});
