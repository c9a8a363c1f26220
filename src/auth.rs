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

/// The set of accepted gateway keys.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyRing {
    entries: Vec<KeyEntry>,
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
            Ok(Self { entries })
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
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        let mut found = None;
        for entry in &self.entries {
            if constant_time_eq(&entry.digest, &digest) && found.is_none() {
                found = Some(entry);
            }
        }
        found
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
    Sha256::digest(key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    // black_box keeps the optimizer from turning the fold into an early exit.
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
