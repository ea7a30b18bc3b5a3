//! The key remap table: when a write-xform changes an index node's key, the
//! destination records `original → new` (create-only, at
//! `<database-id>.remap:<original>`) and every parent written later refers
//! to the new key. Persisted so a resumed run finds what earlier runs did.

use std::collections::HashMap;

/// The key of the remap record of `original` in database `id`.
pub fn remap_key(id: &str, original: &str) -> String {
    format!("{id}.remap:{original}")
}

/// Recent remaps in memory, bounded (two generations, like the present-key
/// cache); older ones are read back from the destination when needed.
pub struct RemapCache {
    current: HashMap<String, String>,
    previous: HashMap<String, String>,
    generation_size: usize,
}

impl RemapCache {
    /// A cache holding at most about `capacity` remaps.
    pub fn new(capacity: usize) -> RemapCache {
        RemapCache {
            current: HashMap::new(),
            previous: HashMap::new(),
            generation_size: (capacity / 2).max(1),
        }
    }

    /// The new key of `original`, if known here.
    pub fn get(&self, original: &str) -> Option<&str> {
        self.current
            .get(original)
            .or_else(|| self.previous.get(original))
            .map(String::as_str)
    }

    /// Records a remap.
    pub fn insert(&mut self, original: String, new: String) {
        if self.current.len() >= self.generation_size {
            self.previous = std::mem::take(&mut self.current);
        }
        self.current.insert(original, new);
    }
}
