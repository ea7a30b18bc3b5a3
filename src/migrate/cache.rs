//! A bounded set of keys known to be present in the destination.

use std::collections::HashSet;

/// Keys known to be in the destination, bounded in size: two generations,
/// the older dropped whole when the newer fills. A miss only costs an
/// existence check (or a harmless re-copy); a hit is always true, because
/// keys are inserted only once their node is written or seen present.
pub struct PresentKeys {
    current: HashSet<String>,
    previous: HashSet<String>,
    generation_size: usize,
    evicted: bool,
}

impl PresentKeys {
    /// A cache holding at most about `capacity` keys.
    pub fn new(capacity: usize) -> PresentKeys {
        PresentKeys {
            current: HashSet::new(),
            previous: HashSet::new(),
            generation_size: (capacity / 2).max(1),
            evicted: false,
        }
    }

    /// Whether `key` is known present.
    pub fn contains(&self, key: &str) -> bool {
        self.current.contains(key) || self.previous.contains(key)
    }

    /// Records `key` as present.
    pub fn insert(&mut self, key: &str) {
        if self.contains(key) {
            return;
        }
        if self.current.len() >= self.generation_size {
            self.previous = std::mem::take(&mut self.current);
            self.evicted = true;
        }
        self.current.insert(key.to_string());
    }

    /// Whether any key was ever dropped: from then on a miss says nothing.
    pub fn has_evicted(&self) -> bool {
        self.evicted
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
    }
}
