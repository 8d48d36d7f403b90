use std::io::{Seek, SeekFrom, Write};
use std::process::Command;

use crate::helpers::{TestDir, binary, sha256_file};

fn bin() -> Command {
    binary()
}

fn our_hash(path: &std::path::Path) -> String {
    let out = bin().arg("hash").arg(path).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

#[test]
fn small_files_hash_like_sha256sum() {
    let t = TestDir::new();
    for (i, size) in [0usize, 1, 4095, 65_536, 1_000_003].into_iter().enumerate() {
        let p = t.path().join(format!("f{i}"));
        let bytes: Vec<u8> = (0..size).map(|j| (j * 31 + i) as u8).collect();
        std::fs::write(&p, bytes).unwrap();
        assert_eq!(our_hash(&p), sha256_file(&p), "size {size}");
    }
}

#[test]
fn files_over_100_mib_hash_their_ends_and_size() {
    let t = TestDir::new();
    let p = t.path().join("big.m4b");
    let size: u64 = 150 * 1024 * 1024 + 17;
    let mut f = std::fs::File::create(&p).unwrap();
    f.set_len(size).unwrap();
    // Marks in the first and last 10 MiB, and one in the middle that the
    // hash must not see.
    for (at, mark) in [
        (5u64, &b"head"[..]),
        (size - 100, b"tail"),
        (size / 2, b"middle"),
    ] {
        f.seek(SeekFrom::Start(at)).unwrap();
        f.write_all(mark).unwrap();
    }
    drop(f);
    // An independent computation with coreutils.
    let script = format!(
        "{{ head -c 10485760 '{0}'; tail -c 10485760 '{0}'; printf %s {1}; }} | sha256sum",
        p.display(),
        size
    );
    let out = Command::new("sh").arg("-c").arg(&script).output().unwrap();
    let expected = String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    let ours = our_hash(&p);
    assert_eq!(ours, expected);

    // The middle is not part of the hash; the tail is.
    let mut f = std::fs::OpenOptions::new().write(true).open(&p).unwrap();
    f.seek(SeekFrom::Start(size / 2)).unwrap();
    f.write_all(b"MIDDLE").unwrap();
    drop(f);
    assert_eq!(our_hash(&p), ours);
    let mut f = std::fs::OpenOptions::new().write(true).open(&p).unwrap();
    f.seek(SeekFrom::Start(size - 100)).unwrap();
    f.write_all(b"TAIL").unwrap();
    drop(f);
    assert_ne!(our_hash(&p), ours);
}
