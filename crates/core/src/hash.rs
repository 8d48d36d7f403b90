//! ComputeFileHash, bit for bit as the Go server defined it: SHA-256 in
//! lowercase hex; files up to 100 MiB are hashed whole, larger ones as the
//! first 10 MiB, then the last 10 MiB, then the size in ASCII decimal.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use sha2::{Digest, Sha256};

/// Files strictly larger than this are hashed by their ends.
pub const WHOLE_FILE_LIMIT: u64 = 100 * 1024 * 1024;
/// How much of each end of a large file is hashed.
pub const CHUNK: u64 = 10 * 1024 * 1024;
const BUF: usize = 256 * 1024;

pub fn to_hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(HEX[(b >> 4) as usize] as char);
        s.push(HEX[(b & 0xf) as usize] as char);
    }
    s
}

/// Hashes an open file of known size (read by position: the file's
/// offset is left as it was).
pub fn compute_open_file_hash(file: &File, size: u64) -> io::Result<String> {
    let mut hasher = Sha256::new();
    // A small file needs no more buffer than its size (organize hashes
    // many small files; zeroing 256 KiB for each would cost more).
    let mut buf = vec![0u8; BUF.min(size.max(1).try_into().unwrap_or(BUF))];
    if size <= WHOLE_FILE_LIMIT {
        feed_at(&mut hasher, file, 0, size, &mut buf)?;
    } else {
        feed_at(&mut hasher, file, 0, CHUNK, &mut buf)?;
        feed_at(&mut hasher, file, size - CHUNK, CHUNK, &mut buf)?;
        hasher.update(size.to_string().as_bytes());
    }
    Ok(to_hex(&hasher.finalize()))
}

/// Feeds `len` bytes of `file` from `offset` (positioned reads).
fn feed_at(
    hasher: &mut Sha256,
    file: &File,
    mut offset: u64,
    mut len: u64,
    buf: &mut [u8],
) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    while len > 0 {
        let want = buf.len().min(len as usize);
        let n = file.read_at(&mut buf[..want], offset)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "file shrank while it was being hashed",
            ));
        }
        hasher.update(&buf[..n]);
        offset += n as u64;
        len -= n as u64;
    }
    Ok(())
}

/// ComputeFileHash of a whole file already in memory (any size).
pub fn compute_bytes_hash(bytes: &[u8]) -> String {
    let size = bytes.len() as u64;
    let mut hasher = Sha256::new();
    if size <= WHOLE_FILE_LIMIT {
        hasher.update(bytes);
    } else {
        hasher.update(&bytes[..CHUNK as usize]);
        hasher.update(&bytes[(size - CHUNK) as usize..]);
        hasher.update(size.to_string().as_bytes());
    }
    to_hex(&hasher.finalize())
}

/// ComputeFileHash of the file at `path`.
pub fn compute_file_hash(path: &Path) -> io::Result<String> {
    let file = File::open(path)?;
    let size = file.metadata()?.len();
    compute_open_file_hash(&file, size)
}

/// Plain SHA-256 of bytes in memory (a cover's ETag, the tag corpus).
pub fn sha256_hex(bytes: &[u8]) -> String {
    to_hex(&Sha256::digest(bytes))
}

/// Plain SHA-256 of a whole stream (for verifying copies).
pub fn sha256_reader(reader: &mut impl Read) -> io::Result<String> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; BUF];
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(to_hex(&hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn small_file_is_plain_sha256() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a");
        std::fs::write(&p, b"abc").unwrap();
        assert_eq!(
            compute_file_hash(&p).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn exactly_the_limit_is_hashed_whole_and_one_more_byte_by_its_ends() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("big");
        let f = File::create(&p).unwrap();
        f.set_len(WHOLE_FILE_LIMIT).unwrap();
        drop(f);
        let whole = sha256_reader(&mut File::open(&p).unwrap()).unwrap();
        assert_eq!(compute_file_hash(&p).unwrap(), whole);

        let mut f = std::fs::OpenOptions::new().append(true).open(&p).unwrap();
        f.write_all(b"x").unwrap();
        drop(f);
        let size = WHOLE_FILE_LIMIT + 1;
        let mut expected = Sha256::new();
        expected.update(vec![0u8; CHUNK as usize]);
        let mut tail = vec![0u8; CHUNK as usize];
        *tail.last_mut().unwrap() = b'x';
        expected.update(&tail);
        expected.update(size.to_string().as_bytes());
        assert_eq!(compute_file_hash(&p).unwrap(), to_hex(&expected.finalize()));
    }
}
