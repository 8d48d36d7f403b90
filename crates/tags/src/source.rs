//! Positioned reads from the file being parsed, with a budget: every
//! parser here only moves forward, but a malformed file must never make one
//! read without end or allocate what its sizes claim.

use std::borrow::Cow;
use std::io::{Read, Seek, SeekFrom};

/// Reads the parsers may make per file, beyond one per 4 KiB of it.
const READS: u64 = 20_000;
/// The most one read hands back; a size field claiming more is cut to it.
pub const MAX_READ: usize = 16 * 1024 * 1024;

pub trait ReadSeek: Read + Seek {}
impl<T: Read + Seek> ReadSeek for T {}

enum Inner<'a> {
    /// The whole file in memory (the scan reads small files once, for the
    /// hash and the tags): reads borrow from it.
    Bytes(&'a [u8]),
    Stream(&'a mut dyn ReadSeek),
}

pub struct Source<'a> {
    inner: Inner<'a>,
    len: u64,
    reads_left: u64,
    bytes_left: u64,
}

#[derive(Debug)]
pub struct Exhausted;

impl<'a> Source<'a> {
    pub fn new(inner: &'a mut dyn ReadSeek) -> std::io::Result<Self> {
        let len = inner.seek(SeekFrom::End(0))?;
        Ok(Self::with(Inner::Stream(inner), len))
    }

    pub fn from_bytes(bytes: &'a [u8]) -> Self {
        Self::with(Inner::Bytes(bytes), bytes.len() as u64)
    }

    fn with(inner: Inner<'a>, len: u64) -> Self {
        Self {
            inner,
            len,
            reads_left: READS + len / 4096,
            bytes_left: len.saturating_mul(4).saturating_add(64 << 20),
        }
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Up to `n` bytes at `at` (fewer at the end of the file, none past it).
    pub fn read(&mut self, at: u64, n: usize) -> Result<Cow<'a, [u8]>, Exhausted> {
        if at >= self.len || n == 0 {
            return Ok(Cow::Borrowed(&[]));
        }
        let n = (n.min(MAX_READ) as u64).min(self.len - at);
        if self.reads_left == 0 || self.bytes_left < n {
            return Err(Exhausted);
        }
        self.reads_left -= 1;
        self.bytes_left -= n;
        let inner = match &mut self.inner {
            Inner::Bytes(b) => {
                let b: &'a [u8] = b;
                return Ok(Cow::Borrowed(&b[at as usize..(at + n) as usize]));
            }
            Inner::Stream(s) => s,
        };
        let mut buf = vec![0u8; n as usize];
        if inner.seek(SeekFrom::Start(at)).is_err() {
            return Ok(Cow::Borrowed(&[]));
        }
        let mut filled = 0;
        while filled < buf.len() {
            match inner.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(k) => filled += k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        buf.truncate(filled);
        Ok(Cow::Owned(buf))
    }

    /// Exactly `n` bytes at `at`, or `None` if the file ends first.
    pub fn exact(&mut self, at: u64, n: usize) -> Result<Option<Cow<'a, [u8]>>, Exhausted> {
        let b = self.read(at, n)?;
        Ok((b.len() == n).then_some(b))
    }
}

/// Big- and little-endian integers from a slice, `None` past its end.
pub fn be(b: &[u8], at: usize, n: usize) -> Option<u64> {
    let s = b.get(at..at.checked_add(n)?)?;
    Some(s.iter().fold(0u64, |acc, x| acc << 8 | u64::from(*x)))
}

pub fn le(b: &[u8], at: usize, n: usize) -> Option<u64> {
    let s = b.get(at..at.checked_add(n)?)?;
    Some(s.iter().rev().fold(0u64, |acc, x| acc << 8 | u64::from(*x)))
}
