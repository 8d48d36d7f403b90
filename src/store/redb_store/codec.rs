//! How records are laid out as bytes.

use super::super::*;

pub(super) fn decode<T: serde::de::DeserializeOwned>(key: &str, bytes: &[u8]) -> StoreResult<T> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt {
        key: key.to_string(),
        reason: e.to_string(),
    })
}

/// File records are read for every file on every scan: a fixed binary
/// layout instead of JSON. Version byte 1, then size, mtime, role, missing,
/// and the two strings with u16 lengths.
pub(super) fn encode_file(r: &FileRecord) -> Vec<u8> {
    let mut out = Vec::with_capacity(24 + r.book_id.len() + r.hash.len());
    out.push(1u8);
    out.extend_from_slice(&r.size.to_le_bytes());
    out.extend_from_slice(&r.mtime_ns.to_le_bytes());
    out.push(match r.role {
        FileRole::Source => 0,
        FileRole::Duplicate => 1,
        FileRole::Organized => 2,
    });
    out.push(r.missing as u8);
    for s in [&r.book_id, &r.hash] {
        out.extend_from_slice(&(s.len() as u16).to_le_bytes());
        out.extend_from_slice(s.as_bytes());
    }
    out
}

fn corrupt(key: &str, what: &str) -> StoreError {
    StoreError::Corrupt {
        key: key.to_string(),
        reason: format!("bad {what} record"),
    }
}

/// The fixed-size head of a file record, without its two strings.
pub(super) fn decode_stamp(key: &str, b: &[u8]) -> StoreResult<FileStamp> {
    let corrupt = || corrupt(key, "file");
    if b.len() < 23 || b[0] != 1 {
        return Err(corrupt());
    }
    let size = u64::from_le_bytes(b[1..9].try_into().map_err(|_| corrupt())?);
    let mtime_ns = i64::from_le_bytes(b[9..17].try_into().map_err(|_| corrupt())?);
    let role = match b[17] {
        0 => FileRole::Source,
        1 => FileRole::Duplicate,
        2 => FileRole::Organized,
        _ => return Err(corrupt()),
    };
    Ok(FileStamp {
        size,
        mtime_ns,
        role,
        missing: b[18] != 0,
    })
}

pub(super) fn decode_file(key: &str, b: &[u8]) -> StoreResult<FileRecord> {
    let corrupt = || corrupt(key, "file");
    let FileStamp {
        size,
        mtime_ns,
        role,
        missing,
    } = decode_stamp(key, b)?;
    let mut at = 19;
    let mut strings = Vec::with_capacity(2);
    for _ in 0..2 {
        let len = u16::from_le_bytes(
            b.get(at..at + 2)
                .ok_or_else(corrupt)?
                .try_into()
                .map_err(|_| corrupt())?,
        ) as usize;
        at += 2;
        let s =
            std::str::from_utf8(b.get(at..at + len).ok_or_else(corrupt)?).map_err(|_| corrupt())?;
        strings.push(s.to_string());
        at += len;
    }
    let hash = strings.pop().ok_or_else(corrupt)?;
    let book_id = strings.pop().ok_or_else(corrupt)?;
    Ok(FileRecord {
        book_id,
        size,
        mtime_ns,
        hash,
        role,
        missing,
    })
}

pub(super) fn encode<T: serde::Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("records always serialize")
}

/// Directory listings: version byte 1, dev, ino, mtime, ctime, settled,
/// then the subdirectory and file name counts (u32) and the names, each
/// with a u16 length.
pub(super) fn encode_dir(d: &DirRecord) -> Vec<u8> {
    let names: usize = d.subdirs.iter().chain(&d.files).map(|n| n.len() + 2).sum();
    let mut out = Vec::with_capacity(42 + names);
    out.push(1u8);
    out.extend_from_slice(&d.dev.to_le_bytes());
    out.extend_from_slice(&d.ino.to_le_bytes());
    out.extend_from_slice(&d.mtime_ns.to_le_bytes());
    out.extend_from_slice(&d.ctime_ns.to_le_bytes());
    out.push(d.settled as u8);
    out.extend_from_slice(&(d.subdirs.len() as u32).to_le_bytes());
    out.extend_from_slice(&(d.files.len() as u32).to_le_bytes());
    for name in d.subdirs.iter().chain(&d.files) {
        // Names longer than u16::MAX cannot exist (NAME_MAX is 255).
        let len = name.len().min(u16::MAX as usize);
        out.extend_from_slice(&(len as u16).to_le_bytes());
        out.extend_from_slice(&name.as_bytes()[..len]);
    }
    out
}

pub(super) fn decode_dir(key: &str, b: &[u8]) -> StoreResult<DirRecord> {
    let corrupt = || corrupt(key, "directory");
    let u64_at = |at: usize| -> StoreResult<u64> {
        Ok(u64::from_le_bytes(
            b.get(at..at + 8)
                .ok_or_else(corrupt)?
                .try_into()
                .map_err(|_| corrupt())?,
        ))
    };
    let u32_at = |at: usize| -> StoreResult<usize> {
        Ok(u32::from_le_bytes(
            b.get(at..at + 4)
                .ok_or_else(corrupt)?
                .try_into()
                .map_err(|_| corrupt())?,
        ) as usize)
    };
    if b.first() != Some(&1) {
        return Err(corrupt());
    }
    let settled = *b.get(33).ok_or_else(corrupt)? != 0;
    let n_dirs = u32_at(34)?;
    let n_files = u32_at(38)?;
    let mut at = 42;
    let mut names = Vec::with_capacity(n_dirs.min(4096) + n_files.min(4096));
    for _ in 0..n_dirs + n_files {
        let len = u16::from_le_bytes(
            b.get(at..at + 2)
                .ok_or_else(corrupt)?
                .try_into()
                .map_err(|_| corrupt())?,
        ) as usize;
        at += 2;
        let name =
            std::str::from_utf8(b.get(at..at + len).ok_or_else(corrupt)?).map_err(|_| corrupt())?;
        names.push(name.to_string());
        at += len;
    }
    let files = names.split_off(n_dirs);
    Ok(DirRecord {
        dev: u64_at(1)?,
        ino: u64_at(9)?,
        mtime_ns: u64_at(17)? as i64,
        ctime_ns: u64_at(25)? as i64,
        settled,
        subdirs: names,
        files,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directory_records_round_trip() {
        let d = DirRecord {
            dev: 2049,
            ino: u64::MAX - 3,
            mtime_ns: -5,
            ctime_ns: 1_700_000_000_123_456_789,
            settled: true,
            subdirs: vec!["Book One".into(), "ünïcode".into()],
            files: vec!["01.mp3".into(), String::new(), "b.m4b".into()],
        };
        assert_eq!(decode_dir("k", &encode_dir(&d)).unwrap(), d);
        let empty = DirRecord::default();
        assert_eq!(decode_dir("k", &encode_dir(&empty)).unwrap(), empty);
    }

    #[test]
    fn truncated_or_foreign_directory_records_are_corrupt_not_a_panic() {
        let bytes = encode_dir(&DirRecord {
            subdirs: vec!["a".into()],
            files: vec!["b.mp3".into()],
            ..Default::default()
        });
        for cut in 0..bytes.len() {
            assert!(decode_dir("k", &bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut huge = bytes.clone();
        huge[34..38].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(decode_dir("k", &huge).is_err());
    }
}
