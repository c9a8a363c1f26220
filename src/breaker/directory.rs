//! The directory of target objects whose names the plan cannot tell: a
//! `provider:{model}` step has one target object per model clients ask
//! for. Each isolate registers such a target once, the first time it uses
//! it (after the response, through `ctx.wait_until`); the status endpoint
//! reads the list, so any instance reports every target any instance has
//! used, not only its own.
//!
//! One object of the breaker namespace ([`NAME`]), reached on its own path
//! ([`PATH`]); it keeps at most [`MAX_KEYS`] names, the oldest registered
//! dropped first. Plain state; `crate::objects::breaker` does the I/O.

use serde::Deserialize;

/// The directory's object name in the breaker namespace (`#` never appears
/// in a target key: provider names are identifiers).
pub const NAME: &str = "#targets";
/// The path the directory's messages are posted to.
pub const PATH: &str = "/directory";
/// The most target names kept.
pub const MAX_KEYS: usize = 1_000;
/// What the stored state looks like; bumped if it ever changes shape.
pub const VERSION: u32 = 1;

/// The one shape of everything the directory reads and writes (one serde
/// implementation in the Worker): a message (`keys` to register; none asks
/// for the list), the answer (every name; none for a registration) and the
/// stored state (the names, oldest registration first).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
pub struct Names {
    #[serde(default)]
    pub version: u32,
    #[serde(default)]
    pub keys: Vec<String>,
}

/// A message to the directory.
pub type Message = Names;
/// The directory's answer.
pub type Listing = Names;
/// The directory's state.
pub type Directory = Names;

impl Default for Names {
    fn default() -> Self {
        Names { version: VERSION, keys: Vec::new() }
    }
}

/// Written as the derive wrote it (the tests compare the texts).
impl crate::json_out::ToJson for Names {
    fn write_json(&self, out: &mut String) {
        use crate::json_out::{array, key, quote, uint};
        out.push('{');
        key(out, "version", true);
        uint(out, self.version.into());
        key(out, "keys", false);
        array(out, &self.keys, |out, k| quote(out, k));
        out.push('}');
    }
}

impl Names {
    /// A message registering `keys`.
    pub fn register(keys: Vec<String>) -> Message {
        Names { keys, ..Names::default() }
    }

    /// Reads a message, an answer or the stored state by hand (what the
    /// derived reader accepts: both fields optional).
    pub fn read(v: &serde_json::Value) -> crate::wire::Read<Names> {
        let f = crate::wire::fields(v, "directory", &["version", "keys"])?;
        Ok(Names {
            version: f.opt(0).map(|v| crate::wire::u32(v, "version")).transpose()?.unwrap_or_default(),
            keys: f.opt(1).map(|v| crate::wire::strings(v, "keys")).transpose()?.unwrap_or_default(),
        })
    }

    /// Handles one message; the bool says whether the state changed (to be stored).
    pub fn handle(&mut self, m: &Message) -> (Listing, bool) {
        if m.keys.is_empty() {
            return (Names { keys: self.keys.clone(), ..Names::default() }, false);
        }
        let mut changed = false;
        for key in &m.keys {
            if key.is_empty() || self.keys.iter().any(|k| k == key) {
                continue;
            }
            if self.keys.len() >= MAX_KEYS {
                self.keys.remove(0);
            }
            self.keys.push(key.clone());
            changed = true;
        }
        (Names::default(), changed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn register(keys: &[&str]) -> Message {
        Names::register(keys.iter().map(|k| k.to_string()).collect())
    }

    #[test]
    fn registers_once_and_lists() {
        let mut d = Directory::default();
        assert!(d.handle(&register(&["a:m1", "a:m2"])).1);
        assert!(!d.handle(&register(&["a:m1"])).1, "already there");
        let (listing, changed) = d.handle(&Message::default());
        assert!(!changed);
        assert_eq!(listing.keys, ["a:m1", "a:m2"]);
    }

    #[test]
    fn bounded_oldest_dropped_first() {
        let mut d = Directory::default();
        for i in 0..MAX_KEYS + 2 {
            d.handle(&register(&[&format!("a:m{i}")]));
        }
        assert_eq!(d.keys.len(), MAX_KEYS);
        assert_eq!(d.keys[0], "a:m2");
        assert_eq!(d.keys.last().unwrap(), &format!("a:m{}", MAX_KEYS + 1));
    }

    #[test]
    fn stored_form_reads_back() {
        let mut d = Directory::default();
        d.handle(&register(&["p:x"]));
        let text = serde_json::to_string(&d).unwrap();
        assert_eq!(serde_json::from_slice::<Directory>(text.as_bytes()).unwrap(), d);
        use crate::json_out::ToJson;
        assert_eq!(d.to_json(), text);
        for names in [Names::default(), Names::register(vec![]), Names::register(vec!["a\"b:c\\".into(), "é:\n".into()])] {
            assert_eq!(names.to_json(), serde_json::to_string(&names).unwrap());
        }
    }
}
