//! A table keyed by strings for the isolate's small state (leases, the
//! breaker cache, the router's model index): one `HashMap<String, usize>`
//! (FNV-1a, the keys come from the plan and the configuration) finds an
//! item's place in a `Vec`, so every table of every value type shares one
//! copy of the hash map's code in the Worker (it was three, plus SipHash).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// FNV-1a, 64 bits.
#[derive(Default)]
pub struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 { 0xcbf2_9ce4_8422_2325 } else { self.0 };
        for b in bytes {
            h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

/// Items by key, in insertion order (until one is removed).
#[derive(Debug)]
pub struct Keyed<V> {
    index: HashMap<String, usize, BuildHasherDefault<Fnv>>,
    items: Vec<(String, V)>,
}

impl<V> Default for Keyed<V> {
    fn default() -> Self {
        Keyed { index: HashMap::default(), items: Vec::new() }
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
        self.index.get(key).map(|&i| &self.items[i].1)
    }

    pub fn get_mut(&mut self, key: &str) -> Option<&mut V> {
        self.index.get(key).map(|&i| &mut self.items[i].1)
    }

    /// Sets `key` to `value` (replacing what it held).
    pub fn insert(&mut self, key: String, value: V) {
        match self.index.get(key.as_str()) {
            Some(&i) => self.items[i].1 = value,
            None => {
                self.index.insert(key.clone(), self.items.len());
                self.items.push((key, value));
            }
        }
    }

    /// The item of `key`, inserted with `make` when there is none.
    pub fn get_or_insert_with(&mut self, key: &str, make: impl FnOnce() -> V) -> &mut V {
        let i = match self.index.get(key) {
            Some(&i) => i,
            None => {
                self.index.insert(key.to_string(), self.items.len());
                self.items.push((key.to_string(), make()));
                self.items.len() - 1
            }
        };
        &mut self.items[i].1
    }

    pub fn remove(&mut self, key: &str) -> Option<V> {
        let i = self.index.remove(key)?;
        let (_, value) = self.items.swap_remove(i);
        if let Some((moved, _)) = self.items.get(i) {
            self.index.insert(moved.clone(), i);
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
