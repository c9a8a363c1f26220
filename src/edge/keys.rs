//! Gateway keys kept in the `KEYS` KV namespace ([`crate::keys`]): a key
//! that is not in `GATEWAY_KEYS` is looked up by its SHA-256 (one KV read),
//! and the answer, found or not, is kept by the isolate for
//! `KEYS_CACHE_MS` (default 30 s): a revoked key keeps working for at most
//! that long in an isolate that saw it shortly before (plus KV's own
//! propagation, up to 60 s across locations). The read goes through the
//! runtime's own `get` (`edge::cache::KvNamespace`): the `worker` crate's KV
//! builder would link serde_wasm_bindgen's serializer for its options.

use crate::error::{Fault, GatewayError};
use super::cache::KvNamespace;
use crate::keys::{Caller, KeyRecord, BINDING};
use std::cell::RefCell;
use wasm_bindgen_futures::JsFuture;
use worker::Env;

/// How long an isolate trusts what KV said about a key, unless `KEYS_CACHE_MS` says.
const DEFAULT_CACHE_MS: u64 = 30_000;
/// Most keys an isolate remembers (the oldest is forgotten beyond it).
const MAX_CACHED: usize = 256;

thread_local! {
    /// (key hash, the caller or `None` for no valid key, when it was read),
    /// oldest first: a short list, searched in order.
    static CACHE: RefCell<Vec<(String, Option<Caller>, u64)>> = const { RefCell::new(Vec::new()) };
}

/// Whether this deployment keeps keys in KV.
pub fn bound(env: &Env) -> bool {
    super::is_bound(env, BINDING)
}

/// Who the key whose SHA-256 hex is `hash` belongs to: a 401 when KV has no
/// valid record of it (unknown, revoked, unreadable).
pub async fn caller(env: &Env, hash: &str) -> Result<Caller, GatewayError> {
    let invalid = || GatewayError::new(Fault::InvalidKey, "Invalid gateway key.");
    let now = worker::Date::now().as_millis();
    let ttl = env.var("KEYS_CACHE_MS").ok().and_then(|v| v.to_string().parse().ok()).unwrap_or(DEFAULT_CACHE_MS);
    let cached = CACHE.with(|c| {
        let c = c.borrow();
        c.iter().find(|(h, _, at)| h == hash && now.saturating_sub(*at) < ttl).map(|(_, k, _)| k.clone())
    });
    if let Some(known) = cached {
        return known.ok_or_else(invalid);
    }
    // Not bound, or not a KV namespace: no key can be found (as `env.kv` refused it).
    let kv = super::binding::<KvNamespace>(env, BINDING).ok_or_else(invalid)?;
    let promise = kv.get(hash).map_err(|_| invalid())?;
    let text = match JsFuture::from(promise).await {
        // A missing key reads as `null`.
        Ok(value) => value.as_string(),
        Err(error) => {
            worker::console_error!("{{\"event\":\"keys_read_failed\",\"error\":{:?}}}", super::proxy::describe(&error));
            return Err(GatewayError::new(Fault::Unavailable, "The gateway could not check this key; try again."));
        }
    };
    let found = text.as_deref().map(str::as_bytes).and_then(KeyRecord::from_json).and_then(|r| r.caller());
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        c.retain(|(h, ..)| h != hash);
        if c.len() >= MAX_CACHED {
            c.remove(0);
        }
        c.push((hash.to_string(), found.clone(), now));
    });
    found.ok_or_else(invalid)
}
