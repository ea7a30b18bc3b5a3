//! A bounded least-recently-used map from keys to shared values: the
//! readers' node cache and the checker's node and summary caches, so their
//! memory does not grow with the database.

use std::collections::{BTreeMap, HashMap};

/// At most `capacity` entries; inserting past it drops the entry used
/// least recently. Lookups and inserts cost O(log n).
pub(crate) struct Lru<V> {
    capacity: usize,
    clock: u64,
    entries: HashMap<String, (V, u64)>,
    by_use: BTreeMap<u64, String>,
}

impl<V: Clone> Lru<V> {
    /// An empty cache of `capacity` entries (0: caches nothing).
    pub fn new(capacity: usize) -> Lru<V> {
        Lru {
            capacity,
            clock: 0,
            entries: HashMap::new(),
            by_use: BTreeMap::new(),
        }
    }

    /// The value at `key`, now the most recently used.
    pub fn get(&mut self, key: &str) -> Option<V> {
        self.clock += 1;
        let clock = self.clock;
        let (value, used) = self.entries.get_mut(key)?;
        if let Some(k) = self.by_use.remove(used) {
            self.by_use.insert(clock, k);
        }
        *used = clock;
        Some(value.clone())
    }

    /// Stores `value` at `key`, dropping the least recently used entry when full.
    pub fn insert(&mut self, key: &str, value: V) {
        if self.capacity == 0 {
            return;
        }
        self.clock += 1;
        if let Some((_, used)) = self.entries.remove(key) {
            self.by_use.remove(&used);
        }
        while self.entries.len() >= self.capacity {
            match self.by_use.pop_first() {
                Some((_, oldest)) => {
                    self.entries.remove(&oldest);
                }
                None => break,
            }
        }
        self.entries.insert(key.to_string(), (value, self.clock));
        self.by_use.insert(self.clock, key.to_string());
    }

    /// Entries held.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_recently_used_within_capacity() {
        let mut lru = Lru::new(2);
        lru.insert("a", 1);
        lru.insert("b", 2);
        assert_eq!(lru.get("a"), Some(1));
        lru.insert("c", 3);
        assert_eq!(lru.get("b"), None, "b was used least recently");
        assert_eq!(lru.get("a"), Some(1));
        assert_eq!(lru.get("c"), Some(3));
        lru.insert("c", 4);
        assert_eq!(lru.len(), 2);
        assert_eq!(lru.get("c"), Some(4));
        let mut none = Lru::new(0);
        none.insert("a", 1);
        assert_eq!(none.get("a"), None);
    }
}
