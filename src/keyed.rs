//! A table keyed by strings for the isolate's small state (leases, the
//! breaker cache, the router's model index): one `HashMap<Arc<str>, u32>`
//! finds an item's place in a `Vec`, so every table of every value type
//! shares one copy of the hash map's code in the Worker, and that copy is
//! the one regex-lite links anyway (its capture-group names: the same key,
//! value and hasher types). The keys come from the plan and the
//! configuration.

use std::collections::HashMap;
use std::sync::Arc;

/// Items by key, in insertion order (until one is removed).
#[derive(Debug)]
pub struct Keyed<V> {
    index: HashMap<Arc<str>, u32>,
    items: Vec<(String, V)>,
}

impl<V> Default for Keyed<V> {
    fn default() -> Self {
        Keyed { index: HashMap::new(), items: Vec::new() }
    }
}

impl<V> Keyed<V> {
    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn clear(&mut self) {
        self.index.clear();
        self.items.clear();
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.index.contains_key(key)
    }

    pub fn get(&self, key: &str) -> Option<&V> {
        self.index.get(key).map(|&i| &self.items[i as usize].1)
    }

    pub fn get_mut(&mut self, key: &str) -> Option<&mut V> {
        self.index.get(key).map(|&i| &mut self.items[i as usize].1)
    }

    /// Sets `key` to `value` (replacing what it held).
    pub fn insert(&mut self, key: String, value: V) {
        match self.index.get(key.as_str()) {
            Some(&i) => self.items[i as usize].1 = value,
            None => {
                self.index.insert(key.as_str().into(), self.items.len() as u32);
                self.items.push((key, value));
            }
        }
    }

    /// The item of `key`, inserted with `make` when there is none.
    pub fn get_or_insert_with(&mut self, key: &str, make: impl FnOnce() -> V) -> &mut V {
        let i = match self.index.get(key) {
            Some(&i) => i as usize,
            None => {
                self.index.insert(key.into(), self.items.len() as u32);
                self.items.push((key.to_string(), make()));
                self.items.len() - 1
            }
        };
        &mut self.items[i].1
    }

    pub fn remove(&mut self, key: &str) -> Option<V> {
        let i = self.index.remove(key)? as usize;
        let (_, value) = self.items.swap_remove(i);
        if let Some((moved, _)) = self.items.get(i) {
            self.index.insert(moved.as_str().into(), i as u32);
        }
        Some(value)
    }

    pub fn keys(&self) -> impl Iterator<Item = &String> {
        self.items.iter().map(|(k, _)| k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behaves_as_a_map() {
        let mut t = Keyed::default();
        let mut m = std::collections::BTreeMap::new();
        // A fixed pseudo-random walk over a few keys: inserts, updates, removals.
        let mut x: u64 = 7;
        for step in 0..5_000u64 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let key = format!("k{}", (x >> 33) % 23);
            match (x >> 20) % 4 {
                0 => assert_eq!(t.remove(&key), m.remove(&key)),
                1 => *t.get_or_insert_with(&key, || 0) += step,
                _ => {
                    t.insert(key.clone(), step);
                    m.insert(key.clone(), step);
                    continue;
                }
            }
            if (x >> 20) % 4 == 1 {
                *m.entry(key.clone()).or_insert(0) += step;
            }
            assert_eq!(t.len(), m.len());
            for (k, v) in &m {
                assert_eq!(t.get(k), Some(v));
            }
        }
        let mut keys: Vec<&String> = t.keys().collect();
        keys.sort();
        assert_eq!(keys, m.keys().collect::<Vec<_>>());
        t.clear();
        assert!(t.is_empty() && !t.contains_key("k1"));
    }
}
