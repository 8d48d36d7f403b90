//! Tags written into copies of files other people wrote: mutagen's and
//! mediafile's test files (from their source distributions on PyPI) and
//! files ffmpeg made, as `scripts/tag-corpus` gathers them (`.ci/run`
//! builds the corpus first and sets `AO_TAG_CORPUS`). Every MP3, FLAC and
//! MP4 the writer takes must read back with the new tags in our reader and
//! in mutagen, and decode to the same audio as the original in ffmpeg.

use std::path::{Path, PathBuf};
use std::process::Command;

use audiobook_organizer::tags::write::{NewTags, RetagError, retag};

fn corpus_files(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for dir in ["mutagen", "mediafile", "generated"] {
        let Ok(rd) = std::fs::read_dir(root.join(dir)) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            let ext = p
                .extension()
                .and_then(|e| e.to_str())
                .unwrap_or("")
                .to_ascii_lowercase();
            if matches!(ext.as_str(), "mp3" | "flac" | "m4a" | "m4b" | "mp4") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// ffmpeg's MD5 of the decoded audio, if ffmpeg decodes it cleanly.
fn decoded(p: &Path) -> Option<String> {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(p)
        .args(["-map", "0:a:0", "-f", "md5", "-"])
        .output()
        .ok()?;
    (out.status.success() && out.stderr.is_empty())
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// What mutagen reads; `None` when it cannot read the file at all.
fn mutagen_title_and_artists(p: &Path) -> Option<(Vec<String>, Vec<String>)> {
    let script = r#"
import json, sys, mutagen
f = mutagen.File(sys.argv[1], easy=True)
t = f.tags if f is not None and f.tags is not None else {}
print(json.dumps([list(t.get("title", [])), list(t.get("artist", []))]))
"#;
    let out = Command::new("python3")
        .args(["-c", script])
        .arg(p)
        .output()
        .unwrap();
    if !out.status.success() {
        return None;
    }
    serde_json::from_slice(&out.stdout).ok()
}

#[test]
fn tags_written_into_other_programs_files_read_back_everywhere() {
    let Some(root) = std::env::var_os("AO_TAG_CORPUS").map(PathBuf::from) else {
        eprintln!(
            "AO_TAG_CORPUS is not set: the corpus test runs in .ci/run (scripts/tag-corpus builds it)"
        );
        return;
    };
    let files = corpus_files(&root);
    assert!(
        files.len() >= 40,
        "only {} files in {}",
        files.len(),
        root.display()
    );
    let authors = vec!["Ann Leckie".to_string(), "Second Author".to_string()];
    let narrators = vec!["Adjoa Andoh".to_string()];
    let tags = NewTags {
        title: "Ancillary Justice",
        authors: &authors,
        narrators: &narrators,
        series: Some("Imperial Radch"),
        series_part: Some("1"),
    };
    let dir = tempfile::tempdir().unwrap();
    let (mut tagged, mut refused, mut audio_checked) = (0, Vec::new(), 0);
    let mut problems = Vec::new();
    for f in &files {
        let ext = f
            .extension()
            .and_then(|e| e.to_str())
            .unwrap()
            .to_ascii_lowercase();
        let bytes = std::fs::read(f).unwrap();
        let re = match retag(&mut std::io::Cursor::new(&bytes), &ext, &tags) {
            Ok(re) => re,
            Err(e @ (RetagError::Malformed(_) | RetagError::Unsupported(_))) => {
                refused.push(format!("{}: {e}", f.display()));
                continue;
            }
            Err(e) => panic!("{}: {e}", f.display()),
        };
        let out = dir.path().join(format!("{tagged}.{ext}"));
        std::fs::write(&out, re.apply(&bytes)).unwrap();
        tagged += 1;
        let ours = audiobook_organizer::tags::read_audio_info(&out, &ext).unwrap();
        if ours.title.as_deref() != Some("Ancillary Justice")
            || ours.artists != authors
            || ours.narrators != narrators
        {
            problems.push(format!(
                "{}: we read {:?} {:?} {:?}",
                f.display(),
                ours.title,
                ours.artists,
                ours.narrators
            ));
        }
        // Where mutagen reads the original, it reads the copy's new tags.
        if mutagen_title_and_artists(f).is_some() {
            match mutagen_title_and_artists(&out) {
                Some((title, artists)) if title == ["Ancillary Justice"] && artists == authors => {}
                other => problems.push(format!("{}: mutagen reads {other:?}", f.display())),
            }
        }
        if let Some(before) = decoded(f) {
            audio_checked += 1;
            if decoded(&out).as_ref() != Some(&before) {
                problems.push(format!("{}: the audio decodes differently", f.display()));
            }
        }
    }
    eprintln!(
        "tags written into {tagged} of {} files ({audio_checked} audio-checked); refused: {refused:#?}",
        files.len()
    );
    assert!(problems.is_empty(), "{problems:#?}");
    assert!(
        tagged >= 30,
        "only {tagged} files tagged; refused: {refused:#?}"
    );
}
