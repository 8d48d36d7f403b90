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
