//! Tags into an MP4/M4A/M4B copy: `moov/udta/meta/ilst` rebuilt (items
//! this does not set kept, missing atoms made), every other atom's bytes
//! kept, and the sample tables' chunk offsets (`stco`, `co64`) moved by
//! the growth of `moov` where media data follows it.

use std::io::{Read, Seek, SeekFrom};

use crate::write::{MAX_HEAD, NewTags, Piece, Retag, RetagError, read_up_to, strs};

fn bad(why: &str) -> RetagError {
    RetagError::Malformed(format!("not an MP4 file: {why}"))
}

/// An atom: type, where it starts, its header's length, where it ends.
#[derive(Debug, Clone, Copy)]
struct Atom {
    kind: [u8; 4],
    start: u64,
    header: u64,
    end: u64,
    /// Its size field says 0: it runs to the end of its parent.
    open_ended: bool,
}

impl Atom {
    fn body(&self) -> u64 {
        self.start + self.header
    }
}

/// The atoms of `buf[from..to]`.
fn children(buf: &[u8], from: usize, to: usize) -> Result<Vec<Atom>, RetagError> {
    let mut out = Vec::new();
    let mut at = from;
    while at + 8 <= to {
        let size = u32::from_be_bytes(buf[at..at + 4].try_into().unwrap_or_default()) as u64;
        let kind: [u8; 4] = buf[at + 4..at + 8].try_into().unwrap_or_default();
        let (header, size) = match size {
            0 => (8, (to - at) as u64),
            1 => {
                let big = buf
                    .get(at + 8..at + 16)
                    .ok_or_else(|| bad("an atom is cut short"))?;
                (16, u64::from_be_bytes(big.try_into().unwrap_or_default()))
            }
            n => (8, n),
        };
        if size < header || at as u64 + size > to as u64 {
            return Err(bad("an atom's size is wrong"));
        }
        out.push(Atom {
            kind,
            start: at as u64,
            header,
            end: at as u64 + size,
            open_ended: buf[at..at + 4] == [0, 0, 0, 0],
        });
        at += size as usize;
    }
    Ok(out)
}

/// An atom's bytes as they are, except that one running to the end of its
/// parent gets its size written out (something may follow it now).
fn kept(buf: &[u8], a: &Atom) -> Vec<u8> {
    let bytes = &buf[a.start as usize..a.end as usize];
    if a.open_ended {
        atom(&a.kind, &bytes[a.header as usize..])
    } else {
        bytes.to_vec()
    }
}

fn atom(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 8);
    out.extend_from_slice(&((body.len() + 8) as u32).to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(body);
    out
}

/// An item of UTF-8 `data` atoms, one per value.
fn item(kind: &[u8; 4], values: &[&str]) -> Vec<u8> {
    let mut body = Vec::new();
    for v in values {
        let mut data = vec![0, 0, 0, 1, 0, 0, 0, 0];
        data.extend_from_slice(v.as_bytes());
        body.extend(atom(b"data", &data));
    }
    atom(kind, &body)
}

/// A freeform `----` item of iTunes' namespace.
fn freeform(name: &str, value: &str) -> Vec<u8> {
    let mut body = atom(b"mean", &[&[0u8; 4][..], b"com.apple.iTunes"].concat());
    body.extend(atom(b"name", &[&[0u8; 4][..], name.as_bytes()].concat()));
    let mut data = vec![0, 0, 0, 1, 0, 0, 0, 0];
    data.extend_from_slice(value.as_bytes());
    body.extend(atom(b"data", &data));
    atom(b"----", &body)
}

/// Item types this writes (old ones of these go).
fn replaced(buf: &[u8], a: &Atom) -> bool {
    match &a.kind {
        b"\xa9nam" | b"\xa9alb" | b"\xa9ART" | b"aART" | b"\xa9wrt" | b"\xa9nrt" | b"\xa9mvn"
        | b"\xa9mvi" => true,
        b"----" => children(buf, a.body() as usize, a.end as usize)
            .ok()
            .and_then(|c| c.into_iter().find(|x| &x.kind == b"name"))
            .and_then(|n| buf.get(n.body() as usize + 4..n.end as usize))
            .map(|name| {
                let name = String::from_utf8_lossy(name).to_ascii_lowercase();
                matches!(name.as_str(), "series" | "series-part" | "narrator")
            })
            .unwrap_or(false),
        _ => false,
    }
}

fn new_items(tags: &NewTags<'_>) -> Vec<u8> {
    let mut out = item(b"\xa9nam", &[tags.title]);
    out.extend(item(b"\xa9alb", &[tags.title]));
    if !tags.authors.is_empty() {
        out.extend(item(b"\xa9ART", &strs(tags.authors)));
        out.extend(item(b"aART", &strs(tags.authors)));
    }
    if !tags.narrators.is_empty() {
        out.extend(item(b"\xa9nrt", &strs(tags.narrators)));
        out.extend(item(b"\xa9wrt", &strs(tags.narrators)));
    }
    if let Some(s) = tags.series {
        out.extend(item(b"\xa9mvn", &[s]));
        out.extend(freeform("series", s));
        if let Some(p) = tags.series_part {
            out.extend(freeform("series-part", p));
        }
    }
    out
}

/// Where a `meta` atom's children start: after a version and flags
/// (ISO, Apple) or not (QuickTime).
fn meta_children(buf: &[u8], meta: &Atom) -> usize {
    let body = meta.body() as usize;
    if buf.get(body + 4..body + 8) == Some(b"hdlr") {
        body
    } else {
        body + 4
    }
}

fn hdlr() -> Vec<u8> {
    let mut body = vec![0u8; 8];
    body.extend_from_slice(b"mdirappl");
    body.extend_from_slice(&[0u8; 9]);
    atom(b"hdlr", &body)
}

/// `parent`'s children with the first of `kind` replaced by `made(it)`
/// (appended when there is none), as the new body bytes.
fn with_child(
    buf: &[u8],
    from: usize,
    to: usize,
    kind: &[u8; 4],
    made: impl FnOnce(Option<&Atom>) -> Result<Vec<u8>, RetagError>,
) -> Result<Vec<u8>, RetagError> {
    let kids = children(buf, from, to)?;
    let mut out = Vec::new();
    let mut made = Some(made);
    for k in &kids {
        if &k.kind == kind
            && let Some(f) = made.take()
        {
            out.extend(f(Some(k))?);
        } else {
            out.extend(kept(buf, k));
        }
    }
    if let Some(f) = made {
        out.extend(f(None)?);
    }
    Ok(out)
}

/// The new `moov` for `moov` (its bytes).
fn new_moov(moov: &[u8], tags: &NewTags<'_>) -> Result<Vec<u8>, RetagError> {
    let top = children(moov, 0, moov.len())?;
    let m = top.first().ok_or_else(|| bad("no moov"))?;
    let body = with_child(moov, m.body() as usize, moov.len(), b"udta", |udta| {
        let (from, to) = udta.map_or((0, 0), |u| (u.body() as usize, u.end as usize));
        let body = with_child(moov, from, to, b"meta", |meta| {
            let Some(meta) = meta else {
                // A new meta: version and flags, a handler, the items.
                let mut body = vec![0u8; 4];
                body.extend(hdlr());
                body.extend(atom(b"ilst", &new_items(tags)));
                return Ok(atom(b"meta", &body));
            };
            let kids_from = meta_children(moov, meta);
            let mut body = moov[meta.body() as usize..kids_from].to_vec();
            body.extend(with_child(
                moov,
                kids_from,
                meta.end as usize,
                b"ilst",
                |ilst| {
                    let mut items = Vec::new();
                    if let Some(ilst) = ilst {
                        for i in children(moov, ilst.body() as usize, ilst.end as usize)? {
                            if !replaced(moov, &i) {
                                items.extend(kept(moov, &i));
                            }
                        }
                    }
                    items.extend(new_items(tags));
                    Ok(atom(b"ilst", &items))
                },
            )?);
            Ok(atom(b"meta", &body))
        })?;
        Ok(atom(b"udta", &body))
    })?;
    Ok(atom(b"moov", &body))
}

/// Moves every chunk offset at or past `from` by `delta` in the sample
/// tables of `moov` (the new bytes, patched in place).
fn shift_offsets(moov: &mut [u8], from: u64, delta: i64) -> Result<(), RetagError> {
    fn walk(
        buf: &mut [u8],
        start: usize,
        end: usize,
        from: u64,
        delta: i64,
    ) -> Result<(), RetagError> {
        for a in children(buf, start, end)? {
            let (body, end) = (a.body() as usize, a.end as usize);
            match &a.kind {
                b"moov" | b"trak" | b"mdia" | b"minf" | b"stbl" => {
                    walk(buf, body, end, from, delta)?
                }
                b"stco" | b"co64" => {
                    let wide = &a.kind == b"co64";
                    let count = buf
                        .get(body + 4..body + 8)
                        .map(|c| u32::from_be_bytes(c.try_into().unwrap_or_default()) as usize)
                        .ok_or_else(|| bad("a chunk offset table is cut short"))?;
                    let size = if wide { 8 } else { 4 };
                    if body + 8 + count * size > end {
                        return Err(bad("a chunk offset table is cut short"));
                    }
                    for i in 0..count {
                        let at = body + 8 + i * size;
                        let old = if wide {
                            u64::from_be_bytes(buf[at..at + 8].try_into().unwrap_or_default())
                        } else {
                            u32::from_be_bytes(buf[at..at + 4].try_into().unwrap_or_default())
                                as u64
                        };
                        if old < from {
                            continue;
                        }
                        let new = old
                            .checked_add_signed(delta)
                            .ok_or_else(|| bad("a chunk offset out of range"))?;
                        if wide {
                            buf[at..at + 8].copy_from_slice(&new.to_be_bytes());
                        } else {
                            let new = u32::try_from(new).map_err(|_| {
                                RetagError::Malformed(
                                    "the tags would push media data past 4 GiB".into(),
                                )
                            })?;
                            buf[at..at + 4].copy_from_slice(&new.to_be_bytes());
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }
    let len = moov.len();
    walk(moov, 0, len, from, delta)
}

pub(crate) fn retag<R: Read + Seek>(r: &mut R, tags: &NewTags<'_>) -> Result<Retag, RetagError> {
    let len = r.seek(SeekFrom::End(0))?;
    // The top-level atoms, read header by header.
    let mut at = 0u64;
    let mut moov: Option<Atom> = None;
    while at + 8 <= len {
        r.seek(SeekFrom::Start(at))?;
        let mut h = [0u8; 16];
        let n = read_up_to(r, &mut h)?;
        let size = u32::from_be_bytes(h[0..4].try_into().unwrap_or_default()) as u64;
        let open_ended = size == 0;
        let kind: [u8; 4] = h[4..8].try_into().unwrap_or_default();
        let (header, size) = match size {
            0 => (8, len - at),
            1 if n == 16 => (
                16,
                u64::from_be_bytes(h[8..16].try_into().unwrap_or_default()),
            ),
            1 => return Err(bad("an atom is cut short")),
            s => (8, s),
        };
        if size < header || at + size > len {
            return Err(bad("an atom's size is wrong"));
        }
        if &kind == b"moov" {
            if moov.is_some() {
                return Err(bad("two moov atoms"));
            }
            moov = Some(Atom {
                kind,
                start: at,
                header,
                end: at + size,
                open_ended,
            });
        }
        at += size;
    }
    let moov = moov.ok_or_else(|| bad("no moov atom"))?;
    if moov.end - moov.start > MAX_HEAD {
        return Err(RetagError::Malformed("its moov atom is too large".into()));
    }
    let mut old = vec![0u8; (moov.end - moov.start) as usize];
    r.seek(SeekFrom::Start(moov.start))?;
    r.read_exact(&mut old)?;
    if moov.header == 16 {
        // A 64-bit header: the same atom with a 32-bit one, to rebuild.
        old = atom(b"moov", &old[16..]);
    }
    let mut new = new_moov(&old, tags)?;
    let delta = new.len() as i64 - (moov.end - moov.start) as i64;
    // Media data after moov moves by its growth.
    shift_offsets(&mut new, moov.end, delta)?;
    Ok(Retag {
        pieces: vec![
            Piece::Copy {
                start: 0,
                end: moov.start,
            },
            Piece::Bytes(new),
            Piece::Copy {
                start: moov.end,
                end: len,
            },
        ],
    })
}
