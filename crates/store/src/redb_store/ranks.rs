//! Positions in the sort tables without counting from the start: each
//! order is cut into blocks of about `BLOCK` keys, and memory holds only
//! where each block begins and how many keys it has (under 1,000 fences
//! for 100,000 books). Finding position `p` sums block counts and skips
//! at most two blocks' worth of keys in the table.

/// Keys per block when built; a block is split past twice this.
pub(super) const BLOCK: u64 = 256;

#[derive(Debug, Clone)]
struct Block {
    /// Every key of the block is at least this (the first block's is
    /// empty); the next block's fence bounds it above.
    fence: Vec<u8>,
    count: u64,
}

/// The blocks of one order.
#[derive(Debug, Clone)]
pub(super) struct Order {
    blocks: Vec<Block>,
}

impl Order {
    /// From the table's keys in order.
    pub(super) fn build(keys: impl Iterator<Item = Vec<u8>>) -> Self {
        let mut blocks = vec![Block {
            fence: Vec::new(),
            count: 0,
        }];
        for key in keys {
            let last = blocks.last_mut().expect("never empty");
            if last.count >= BLOCK {
                blocks.push(Block {
                    fence: key,
                    count: 1,
                });
            } else {
                last.count += 1;
            }
        }
        Self { blocks }
    }

    pub(super) fn total(&self) -> u64 {
        self.blocks.iter().map(|b| b.count).sum()
    }

    fn block_of(&self, key: &[u8]) -> usize {
        self.blocks
            .partition_point(|b| b.fence.as_slice() <= key)
            .saturating_sub(1)
    }

    /// A key was inserted (`+1`) or removed (`-1`).
    pub(super) fn change(&mut self, key: &[u8], delta: i8) {
        let i = self.block_of(key);
        let b = &mut self.blocks[i];
        b.count = b.count.saturating_add_signed(delta.into());
        if b.count == 0 && i > 0 {
            self.blocks.remove(i);
        }
    }

    /// Where position `pos` is: the fence to start from and how many keys
    /// to skip after it. Past the end gives the last block and its count.
    pub(super) fn seek(&self, pos: u64) -> (&[u8], u64) {
        let mut before = 0;
        for b in &self.blocks {
            if pos < before + b.count {
                return (&b.fence, pos - before);
            }
            before += b.count;
        }
        let last = self.blocks.last().expect("never empty");
        (&last.fence, pos - (before - last.count))
    }

    /// A block grown past twice the size, with its fence and count, to be
    /// split at the key `count / 2` after its fence.
    pub(super) fn oversized(&self) -> Option<(usize, Vec<u8>, u64)> {
        self.blocks
            .iter()
            .position(|b| b.count > 2 * BLOCK)
            .map(|i| (i, self.blocks[i].fence.clone(), self.blocks[i].count))
    }

    /// Splits block `i` at `key` (its first `left` keys stay).
    pub(super) fn split(&mut self, i: usize, key: Vec<u8>, left: u64) {
        let count = self.blocks[i].count;
        self.blocks[i].count = left;
        self.blocks.insert(
            i + 1,
            Block {
                fence: key,
                count: count - left,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u32) -> Vec<u8> {
        n.to_be_bytes().to_vec()
    }

    /// Where position `p` of `keys` lands by the directory.
    fn found(o: &Order, keys: &[Vec<u8>], p: u64) -> Vec<u8> {
        let (fence, skip) = o.seek(p);
        let start = keys.partition_point(|k| k.as_slice() < fence);
        keys[start + skip as usize].clone()
    }

    #[test]
    fn positions_stay_right_through_inserts_removals_and_splits() {
        let mut keys: Vec<Vec<u8>> = (0..2000).map(|n| key(n * 10)).collect();
        let mut o = Order::build(keys.iter().cloned());
        assert_eq!(o.total(), 2000);
        // Crowd one block with inserts, split whatever outgrows, remove some.
        for n in 0..1500 {
            let k = [key(5000 + n % 10), n.to_be_bytes().to_vec()].concat();
            let at = keys.partition_point(|x| x < &k);
            keys.insert(at, k.clone());
            o.change(&k, 1);
            while let Some((i, fence, count)) = o.oversized() {
                let start = keys.partition_point(|x| x.as_slice() < fence.as_slice());
                o.split(i, keys[start + (count / 2) as usize].clone(), count / 2);
            }
        }
        for _ in 0..700 {
            let k = keys.remove(300);
            o.change(&k, -1);
        }
        assert_eq!(o.total(), keys.len() as u64);
        for p in [0, 1, 255, 256, 299, 300, 1000, 2799] {
            assert_eq!(found(&o, &keys, p), keys[p as usize], "position {p}");
        }
    }
}
