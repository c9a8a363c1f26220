//! Gateway keys: which clients may use the gateway at all.
//!
//! Keys are never stored in plaintext. The deployment holds a secret
//! (`GATEWAY_KEYS`) listing SHA-256 hashes of the keys it accepts, each with
//! an optional name (`name:hex`). A presented key is hashed and compared with
//! every stored hash in constant time, without stopping at the first match,
//! so timing tells an attacker nothing about how close a guess was.
//!
//! Clients send the key as `Authorization: Bearer <key>` (OpenAI SDKs) or
//! `x-api-key: <key>` (Anthropic SDKs).
//!
//! A key that verified is remembered by the ring (in the isolate's memory,
//! where it already is while its requests run; at most [`REMEMBERED`]
//! keys): the next request with it is compared with the remembered keys,
//! each in constant time, instead of hashed again. A key that failed is
//! never remembered, so guesses cannot fill the list.

use crate::error::{Fault, GatewayError};
use sha2::{Digest, Sha256};

/// Longest key we hash; anything longer is rejected without work.
pub const MAX_KEY_LEN: usize = 512;

/// One accepted key: a name for logs and the SHA-256 of the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyEntry {
    pub name: String,
    digest: [u8; 32],
}

/// How many verified keys a ring remembers.
pub const REMEMBERED: usize = 32;

/// The set of accepted gateway keys.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyRing {
    entries: Vec<KeyEntry>,
    remembered: Remembered,
}

/// Keys that verified, with their entry's index (newest last).
#[derive(Debug, Clone, Default)]
struct Remembered(std::cell::RefCell<Vec<(Box<[u8]>, usize)>>);

/// Two rings are the same when their entries are: what they remember is a cache.
impl PartialEq for Remembered {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
impl Eq for Remembered {}

impl Remembered {
    /// The entry index of `presented`, compared with every remembered key.
    fn find(&self, presented: &[u8]) -> Option<usize> {
        let mut found = None;
        for (key, index) in self.0.borrow().iter() {
            if same_bytes(key, presented) && found.is_none() {
                found = Some(*index);
            }
        }
        found
    }

    fn remember(&self, presented: &[u8], index: usize) {
        let mut keys = self.0.borrow_mut();
        if keys.len() >= REMEMBERED {
            keys.remove(0);
        }
        keys.push((presented.into(), index));
    }
}

impl KeyRing {
    /// Parses the `GATEWAY_KEYS` secret: entries separated by commas or
    /// whitespace, each `name:<64 hex digits>` or just the hex digits.
    /// Every malformed entry is reported, not only the first.
    pub fn parse(spec: &str) -> Result<Self, Vec<String>> {
        let mut entries = Vec::new();
        let mut problems = Vec::new();
        for (index, item) in spec
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|s| !s.is_empty())
            .enumerate()
        {
            let (name, hex) = match item.rsplit_once(':') {
                Some((name, hex)) if !name.is_empty() => (name.to_string(), hex),
                _ => (format!("key-{}", index + 1), item),
            };
            match decode_digest(hex) {
                Some(digest) => entries.push(KeyEntry { name, digest }),
                None => problems.push(format!(
                    "entry {} (`{name}`) is not a SHA-256 hex digest (64 hex digits)",
                    index + 1
                )),
            }
        }
        if problems.is_empty() {
            Ok(Self { entries, remembered: Remembered::default() })
        } else {
            Err(problems)
        }
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// The keys' names, in the order they were listed.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|e| e.name.as_str())
    }

    /// The entry whose hash matches `presented`, checked in constant time
    /// against every entry.
    pub fn verify(&self, presented: &str) -> Option<&KeyEntry> {
        if presented.is_empty() || presented.len() > MAX_KEY_LEN {
            return None;
        }
        if let Some(index) = self.remembered.find(presented.as_bytes()) {
            return self.entries.get(index);
        }
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        let mut found = None;
        for (index, entry) in self.entries.iter().enumerate() {
            if constant_time_eq(&entry.digest, &digest) && found.is_none() {
                found = Some(index);
            }
        }
        let index = found?;
        self.remembered.remember(presented.as_bytes(), index);
        self.entries.get(index)
    }

    /// Authenticates a request from its `authorization` and `x-api-key`
    /// header values.
    pub fn authenticate(
        &self,
        authorization: Option<&str>,
        x_api_key: Option<&str>,
    ) -> Result<&KeyEntry, GatewayError> {
        let presented = presented_key(authorization, x_api_key).ok_or_else(|| {
            GatewayError::new(
                Fault::MissingKey,
                "No gateway key provided. Send `Authorization: Bearer <key>` or `x-api-key: <key>`.",
            )
        })?;
        self.verify(presented)
            .ok_or_else(|| GatewayError::new(Fault::InvalidKey, "Invalid gateway key."))
    }
}

/// The key a client presented: a bearer token wins over `x-api-key`.
pub fn presented_key<'a>(
    authorization: Option<&'a str>,
    x_api_key: Option<&'a str>,
) -> Option<&'a str> {
    let bearer = authorization.and_then(|value| {
        let value = value.trim();
        let (scheme, token) = value.split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
    });
    bearer
        .or_else(|| x_api_key.map(str::trim))
        .filter(|key| !key.is_empty())
}

/// SHA-256 of a key as lowercase hex: what `GATEWAY_KEYS` stores.
pub fn hash_key(key: &str) -> String {
    hex(&Sha256::digest(key.as_bytes()))
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 15) as usize] as char);
    }
    out
}

fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    // black_box keeps the optimizer from turning the fold into an early exit.
    std::hint::black_box(diff) == 0
}

/// Whether `a` and `b` are equal, in time that depends on their lengths only.
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

fn decode_digest(hex: &str) -> Option<[u8; 32]> {
    let bytes = hex.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in bytes.chunks_exact(2).enumerate() {
        let hi = (pair[0] as char).to_digit(16)?;
        let lo = (pair[1] as char).to_digit(16)?;
        out[i] = (hi * 16 + lo) as u8;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring() -> KeyRing {
        KeyRing::parse(&format!(
            "alice:{}, {}",
            hash_key("sk-alice"),
            hash_key("sk-bob")
        ))
        .unwrap()
    }

    #[test]
    fn known_hash() {
        // sha256("abc") from FIPS 180-2.
        assert_eq!(
            hash_key("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn a_verified_key_is_remembered_and_a_failed_one_is_not() {
        let ring = ring();
        assert_eq!(ring.verify("sk-alice").unwrap().name, "alice");
        assert_eq!(ring.remembered.0.borrow().len(), 1);
        // Again, from memory, and still the right entry for each key.
        assert_eq!(ring.verify("sk-alice").unwrap().name, "alice");
        assert_eq!(ring.verify("sk-bob").unwrap().name, "key-2");
        assert_eq!(ring.verify("sk-bob").unwrap().name, "key-2");
        // Near misses of a remembered key fail and are not remembered.
        for wrong in ["sk-alicf", "sk-alic", "sk-alice ", "SK-ALICE", "x"] {
            assert!(ring.verify(wrong).is_none(), "{wrong}");
        }
        assert_eq!(ring.remembered.0.borrow().len(), 2);
    }

    #[test]
    fn the_memory_is_bounded() {
        let spec: Vec<String> = (0..REMEMBERED + 8).map(|i| format!("k{i}:{}", hash_key(&format!("sk-{i}")))).collect();
        let ring = KeyRing::parse(&spec.join(",")).unwrap();
        for round in 0..2 {
            for i in 0..REMEMBERED + 8 {
                assert_eq!(ring.verify(&format!("sk-{i}")).unwrap().name, format!("k{i}"), "round {round}");
            }
        }
        assert_eq!(ring.remembered.0.borrow().len(), REMEMBERED);
        assert_eq!(ring, KeyRing::parse(&spec.join(",")).unwrap());
    }

    #[test]
    fn accepts_listed_keys_with_names() {
        let ring = ring();
        assert_eq!(ring.len(), 2);
        assert_eq!(ring.verify("sk-alice").unwrap().name, "alice");
        assert_eq!(ring.verify("sk-bob").unwrap().name, "key-2");
        assert!(ring.verify("sk-carol").is_none());
        assert!(ring.verify("").is_none());
        assert!(ring.verify(&"x".repeat(MAX_KEY_LEN + 1)).is_none());
    }

    #[test]
    fn bearer_wins_over_x_api_key() {
        assert_eq!(presented_key(Some("Bearer a"), Some("b")), Some("a"));
        assert_eq!(presented_key(Some("bearer  a "), None), Some("a"));
        assert_eq!(presented_key(Some("Basic abc"), Some("b")), Some("b"));
        assert_eq!(presented_key(None, Some(" b ")), Some("b"));
        assert_eq!(presented_key(Some("Bearer "), None), None);
        assert_eq!(presented_key(None, None), None);
    }

    #[test]
    fn authenticate_distinguishes_missing_and_invalid() {
        let ring = ring();
        assert_eq!(
            ring.authenticate(None, None).unwrap_err().fault,
            Fault::MissingKey
        );
        assert_eq!(
            ring.authenticate(Some("Bearer nope"), None)
                .unwrap_err()
                .fault,
            Fault::InvalidKey
        );
        assert_eq!(
            ring.authenticate(None, Some("sk-alice")).unwrap().name,
            "alice"
        );
    }

    #[test]
    fn every_bad_entry_is_reported() {
        let problems = KeyRing::parse("a:xyz, b:1234, ok:".to_string().as_str()).unwrap_err();
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems[0].contains("`a`"));
    }

    #[test]
    fn empty_spec_is_an_empty_ring() {
        assert!(KeyRing::parse("  \n").unwrap().is_empty());
    }
}
