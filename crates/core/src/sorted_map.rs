//! A map of string keys in byte order, for what the store hands over
//! already sorted and a walk asks for nearly in order.

/// String keys in byte order, looked up by binary search: for what a
/// range read of the store gives already sorted (the last scan's stamps
/// and listings), so a rescan builds no hash table before its walk
/// (building one was half of the time spent loading). The keys lie back
/// to back in one string, not one allocation each: loading and freeing
/// twenty thousand of them was a fifth of a rescan.
#[derive(Debug)]
pub struct SortedMap<V> {
    /// Every key, in order, back to back.
    keys: String,
    /// Where each entry's key ends in `keys` (it starts where the one
    /// before ends), and its value.
    entries: Vec<(usize, V)>,
}

impl<V> Default for SortedMap<V> {
    fn default() -> Self {
        Self {
            keys: String::new(),
            entries: Vec::new(),
        }
    }
}

impl<V> SortedMap<V> {
    /// From records in any order; of equal keys, the first is kept.
    #[cfg(test)]
    pub fn new(records: Vec<(String, V)>) -> Self {
        let mut map = Self::default();
        for (k, v) in records {
            map.push(&k, v);
        }
        map.finish()
    }

    /// Adds an entry; `finish` puts them in order if they were not.
    pub fn push(&mut self, key: &str, value: V) {
        self.keys.push_str(key);
        self.entries.push((self.keys.len(), value));
    }

    /// In key order with the first of equal keys kept (records that came
    /// in order, as a range read gives them, cost one pass).
    pub fn finish(self) -> Self {
        let in_order = (1..self.entries.len()).all(|i| self.key_bytes(i - 1) < self.key_bytes(i));
        if in_order {
            return self;
        }
        let mut order: Vec<usize> = (0..self.entries.len()).collect();
        // Stable: the first of equal keys stays first.
        order.sort_by(|&a, &b| self.key_bytes(a).cmp(self.key_bytes(b)));
        order.dedup_by(|b, a| self.key_bytes(*a) == self.key_bytes(*b));
        let spans: Vec<(usize, usize)> = (0..self.entries.len()).map(|i| self.span(i)).collect();
        let mut values: Vec<Option<V>> = self.entries.into_iter().map(|(_, v)| Some(v)).collect();
        let mut out = Self::default();
        for i in order {
            let (start, end) = spans[i];
            if let Some(v) = values[i].take() {
                out.push(&self.keys[start..end], v);
            }
        }
        out
    }

    fn span(&self, i: usize) -> (usize, usize) {
        let start = if i == 0 { 0 } else { self.entries[i - 1].0 };
        (start, self.entries[i].0)
    }

    fn key(&self, i: usize) -> &str {
        let (start, end) = self.span(i);
        &self.keys[start..end]
    }

    /// The key's bytes, for comparisons (no check that it starts and
    /// ends on character boundaries, which slicing the string makes).
    fn key_bytes(&self, i: usize) -> &[u8] {
        let (start, end) = self.span(i);
        &self.keys.as_bytes()[start..end]
    }

    pub fn get(&self, key: &str) -> Option<&V> {
        self.search(0..self.entries.len(), key.as_bytes())
            .ok()
            .map(|i| &self.entries[i].1)
    }

    /// Binary search of `key` among the entries of `range`.
    fn search(&self, range: std::ops::Range<usize>, key: &[u8]) -> Result<usize, usize> {
        let (mut lo, mut hi) = (range.start, range.end);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.key_bytes(mid).cmp(key) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Ok(mid),
            }
        }
        Err(lo)
    }

    /// `get`, starting from where the last lookup through `hint` ended: a
    /// walk asks for keys close to each other in order (a folder's files,
    /// then the next folder), so most lookups take a few comparisons, not
    /// a whole binary search.
    pub fn get_near(&self, key: &[u8], hint: &mut usize) -> Option<&V> {
        let n = self.entries.len();
        if n == 0 {
            return None;
        }
        let at = (*hint).min(n - 1);
        let probe = |i: usize| self.key_bytes(i).cmp(key);
        // Gallop from the hint towards the key, then search the window.
        let (lo, hi) = match probe(at) {
            std::cmp::Ordering::Equal => {
                *hint = at;
                return Some(&self.entries[at].1);
            }
            std::cmp::Ordering::Less => {
                let (mut lo, mut step) = (at + 1, 1);
                while lo + step < n && probe(lo + step - 1).is_lt() {
                    lo += step;
                    step *= 2;
                }
                (lo, (lo + step).min(n))
            }
            std::cmp::Ordering::Greater => {
                let (mut hi, mut step) = (at, 1);
                while hi > step && probe(hi - step).is_gt() {
                    hi -= step;
                    step *= 2;
                }
                (hi.saturating_sub(step), hi)
            }
        };
        match self.search(lo..hi, key) {
            Ok(i) => {
                *hint = i;
                Some(&self.entries[i].1)
            }
            Err(i) => {
                *hint = i;
                None
            }
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        (0..self.entries.len()).map(|i| self.key(i))
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &V)> {
        (0..self.entries.len()).map(|i| (self.key(i), &self.entries[i].1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sorted_map_finds_every_key_in_any_input_order_and_keeps_the_first_of_twins() {
        let keys = ["/a/b", "/a", "/a/b/c", "/a/b c", "/z", "/a/b"];
        let map = SortedMap::new(
            keys.iter()
                .enumerate()
                .map(|(i, k)| (k.to_string(), i))
                .collect(),
        );
        assert_eq!(map.len(), 5);
        assert_eq!(map.get("/a/b"), Some(&0), "the first of two equal keys");
        assert_eq!(map.get("/a"), Some(&1));
        assert_eq!(map.get("/a/b/c"), Some(&2));
        assert_eq!(map.get("/a/b c"), Some(&3));
        assert_eq!(map.get("/z"), Some(&4));
        assert_eq!(map.get("/a/"), None);
        assert_eq!(map.get(""), None);
        let order: Vec<&str> = map.keys().collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");
        assert!(SortedMap::<u8>::default().get("/a").is_none());
    }

    #[test]
    fn a_lookup_from_any_hint_finds_what_a_binary_search_finds() {
        let keys: Vec<String> = (0..300).map(|i| format!("/lib/{:04}", i * 3)).collect();
        let map = SortedMap::new(keys.iter().cloned().map(|k| (k, ())).collect());
        let mut probes: Vec<String> = (0..920).map(|i| format!("/lib/{i:04}")).collect();
        probes.extend(["".into(), "/".into(), "/lib/".into(), "/zzz".into()]);
        for start in [0, 1, 7, 150, 298, 299, 300, 5_000] {
            let mut hint = start;
            for p in probes.iter().chain(probes.iter().rev()) {
                assert_eq!(
                    map.get_near(p.as_bytes(), &mut hint).is_some(),
                    map.get(p).is_some(),
                    "{p} from {start}"
                );
            }
        }
        assert!(SortedMap::<()>::default().get_near(b"/a", &mut 3).is_none());
    }
}
