//! A Bloom filter over keys: a fixed amount of memory that answers "surely
//! never added" or "maybe added". The copier's present-key cache keeps one
//! of every key it ever held, so that in a bulk run a key it has evicted
//! can still be told apart from a key no one wrote (see `cache.rs`).

use std::hash::{Hash, Hasher};

/// Hash functions per key. With the default size and four of them, up to a
/// million keys answer "maybe" for a key never added about once in 6,000
/// lookups; past tens of millions most lookups say "maybe", which costs an
/// existence check each and nothing else.
const PROBES: u64 = 4;

/// A Bloom filter of `2^bits_log2` bits, allocated when first written.
pub(crate) struct KeyFilter {
    words: Vec<u64>,
    mask: u64,
}

impl KeyFilter {
    /// A filter of `2^bits_log2` bits (at least 64).
    pub fn new(bits_log2: u32) -> KeyFilter {
        let bits_log2 = bits_log2.clamp(6, 40);
        KeyFilter {
            words: Vec::new(),
            mask: (1u64 << bits_log2) - 1,
        }
    }

    /// Adds `key`.
    pub fn insert(&mut self, key: &str) {
        if self.words.is_empty() {
            // Zeroed pages from the system: memory grows only as they are touched.
            self.words = vec![0u64; ((self.mask + 1) / 64) as usize];
        }
        for bit in self.bits(key) {
            self.words[(bit / 64) as usize] |= 1 << (bit % 64);
        }
    }

    /// False only if `key` was surely never added.
    pub fn may_contain(&self, key: &str) -> bool {
        !self.words.is_empty()
            && self
                .bits(key)
                .all(|bit| self.words[(bit / 64) as usize] & (1 << (bit % 64)) != 0)
    }

    /// The bit positions of `key`: double hashing of one 64-bit hash.
    fn bits(&self, key: &str) -> impl Iterator<Item = u64> + use<> {
        let mut hasher = std::hash::DefaultHasher::new();
        key.hash(&mut hasher);
        let hash = hasher.finish();
        let (first, step) = (hash, hash.rotate_left(32) | 1);
        let mask = self.mask;
        (0..PROBES).map(move |i| first.wrapping_add(i.wrapping_mul(step)) & mask)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_forgets_and_rarely_guesses() {
        let mut filter = KeyFilter::new(20);
        assert!(!filter.may_contain("a"), "an empty filter holds nothing");
        for i in 0..20_000 {
            filter.insert(&format!("key-{i}"));
        }
        for i in 0..20_000 {
            assert!(filter.may_contain(&format!("key-{i}")));
        }
        let wrong = (0..20_000)
            .filter(|i| filter.may_contain(&format!("other-{i}")))
            .count();
        // 52 bits per key, 4 probes: about 1 in 30,000 expected.
        assert!(wrong < 20, "{wrong} false positives in 20,000");
    }
}
