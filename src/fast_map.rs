//! Hash maps for the scan's hot in-memory lookups (paths, content hashes,
//! book ids, inode numbers): local data no adversary picks to collide, so
//! a multiply-rotate hash replaces SipHash, which cost the walk and the
//! book builder a few percent of their CPU.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

pub type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FastHasher>>;
pub type FastSet<T> = HashSet<T, BuildHasherDefault<FastHasher>>;

/// Odd 64-bit multiplier with well-spread bits.
const SEED: u64 = 0x9e37_79b9_7f4a_7c15;

/// Eight bytes at a time: xor in, multiply, rotate.
#[derive(Default, Clone, Copy)]
pub struct FastHasher(u64);

impl FastHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.0 = (self.0 ^ word).wrapping_mul(SEED).rotate_left(23);
    }
}

impl Hasher for FastHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            // The length keeps "a" and "a\0" apart.
            self.add(u64::from_le_bytes(w) ^ ((rest.len() as u64) << 59));
        }
    }
    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(i as u64);
    }
    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(i as u64);
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
    #[inline]
    fn finish(&self) -> u64 {
        // Fold the high bits down: the table indexes with the low ones.
        let h = self.0;
        (h ^ (h >> 29)).wrapping_mul(SEED) ^ (h >> 32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    fn hash(s: &str) -> u64 {
        BuildHasherDefault::<FastHasher>::default().hash_one(s)
    }

    #[test]
    fn similar_paths_spread_over_the_table() {
        // Paths differing in one digit, as a library's are, land in
        // distinct buckets of a 4,096-slot table nearly as often as random
        // keys would (4,096 keys: ~2,590 distinct buckets expected).
        let buckets: HashSet<u64> = (0..4096)
            .map(|i| {
                hash(&format!(
                    "/imports/author{:03}/book{i:05}/book.mp3",
                    i % 500
                )) & 4095
            })
            .collect();
        assert!(buckets.len() > 2_400, "{} buckets", buckets.len());
        assert_ne!(hash("a"), hash("a\0"));
        assert_ne!(hash(""), hash("\0"));
    }

    #[test]
    fn a_map_finds_what_it_holds() {
        let mut m: FastMap<String, usize> = FastMap::default();
        for i in 0..10_000 {
            m.insert(format!("{i:064x}"), i);
        }
        assert!((0..10_000).all(|i| m[&format!("{i:064x}")] == i));
    }
}
