//! A bounded set of keys known to be present in the destination.

use std::collections::HashSet;

use super::bloom::KeyFilter;

/// Bits of the filter of every key ever held: 2^25 bits, 4 MiB, allocated
/// when the cache first fills (a database smaller than that never needs it).
const EVER_HELD_BITS_LOG2: u32 = 25;

/// Bytes of that filter once allocated (the bench's report quotes it).
pub(crate) const EVER_HELD_FILTER_BYTES: u64 = (1 << EVER_HELD_BITS_LOG2) / 8;

/// Keys known to be in the destination, bounded in size: two generations,
/// the older dropped whole when the newer fills; a key found in the older
/// moves to the newer, so keys still in use (the upper levels of the
/// indexes every transaction shares) stay. A miss only costs an existence
/// check (or a harmless re-copy); a hit is always true, because keys are
/// inserted only once their node is written or seen present.
///
/// A Bloom filter of every key ever inserted, of fixed size, answers for
/// the keys evicted: "surely never held" is exact, so a bulk run (whose
/// destination held nothing at its start) needs no existence check for
/// such a key, however many keys it has written.
pub struct PresentKeys {
    current: HashSet<String>,
    previous: HashSet<String>,
    generation_size: usize,
    /// The generations have turned: keys may have been dropped, and the
    /// filter holds every key ever inserted.
    turned: bool,
    ever_held: KeyFilter,
}

/// What [`PresentKeys::presence`] knows of a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    /// Known present in the destination.
    Present,
    /// Never inserted: not present, unless someone other than this run wrote it.
    NeverHeld,
    /// Maybe inserted once and dropped since: only the destination knows.
    Unknown,
}

impl PresentKeys {
    /// A cache holding at most about `capacity` keys.
    pub fn new(capacity: usize) -> PresentKeys {
        PresentKeys {
            current: HashSet::new(),
            previous: HashSet::new(),
            generation_size: (capacity / 2).max(1),
            turned: false,
            ever_held: KeyFilter::new(EVER_HELD_BITS_LOG2),
        }
    }

    /// Whether `key` is known present (a key found in the older generation
    /// moves to the newer).
    pub fn contains(&mut self, key: &str) -> bool {
        if self.current.contains(key) {
            return true;
        }
        match self.previous.take(key) {
            Some(key) => {
                self.add(key);
                true
            }
            None => false,
        }
    }

    /// Records `key` as present.
    pub fn insert(&mut self, key: &str) {
        if self.contains(key) {
            return;
        }
        self.add(key.to_string());
    }

    /// What the cache knows of `key`, in one lookup: present, surely never
    /// inserted (exact until the generations first turn, then as exact as
    /// the Bloom filter, which never says "never" of a key it holds), or
    /// not known either way.
    pub fn presence(&mut self, key: &str) -> Presence {
        if self.contains(key) {
            Presence::Present
        } else if !self.turned || !self.ever_held.may_contain(key) {
            Presence::NeverHeld
        } else {
            Presence::Unknown
        }
    }

    fn add(&mut self, key: String) {
        if self.current.len() >= self.generation_size {
            if !self.turned {
                // The first turn drops nothing yet: the filter starts here,
                // with every key held so far, and takes every key from now on.
                for held in &self.current {
                    self.ever_held.insert(held);
                }
            }
            self.previous = std::mem::take(&mut self.current);
            self.turned = true;
        }
        if self.turned {
            self.ever_held.insert(&key);
        }
        self.current.insert(key);
    }

    /// Keys held now.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.current.len() + self.previous.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stays_bounded_and_remembers_recent_keys() {
        let mut cache = PresentKeys::new(100);
        for i in 0..10_000 {
            cache.insert(&i.to_string());
        }
        assert!(cache.len() <= 100);
        assert!(cache.contains("9999"));
        assert!(!cache.contains("0"));
        assert_eq!(
            cache.presence("0"),
            Presence::Unknown,
            "an evicted key may have been held"
        );
        assert_eq!(cache.presence("10000"), Presence::NeverHeld);
    }

    #[test]
    fn keys_in_use_survive_generations() {
        let mut cache = PresentKeys::new(100);
        cache.insert("shared");
        for i in 0..10_000 {
            cache.insert(&i.to_string());
            assert!(cache.contains("shared"), "dropped after {i} inserts");
        }
    }
}
