//! The checks every request passes before any body is read: which endpoint,
//! headers within bounds, a valid gateway key, a declared body within bounds.
//!
//! The order is deliberate: nothing about an unauthenticated request costs
//! more than a hash, and no body is read for a request that will be refused.

use crate::auth::KeyEntry;
use crate::config::Settings;
use crate::endpoint::Endpoint;
use crate::error::{Fault, GatewayError};

/// The parts of a request the gate looks at.
#[derive(Debug, Clone, Copy, Default)]
pub struct Head<'a> {
    pub method: &'a str,
    pub path: &'a str,
    /// Sum of the lengths of all header names and values.
    pub header_bytes: usize,
    pub authorization: Option<&'a str>,
    pub x_api_key: Option<&'a str>,
    pub content_length: Option<&'a str>,
}

/// A request allowed through: its endpoint and, where one was required, the
/// gateway key that authenticated it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admitted<'s> {
    pub endpoint: Endpoint,
    pub key: Option<&'s KeyEntry>,
    /// A presented key that is not in `GATEWAY_KEYS`, as its SHA-256 hex,
    /// when the deployment also keeps keys in KV ([`admit_with`]): the
    /// caller looks it up there and refuses with 401 if it is not found.
    pub unlisted: Option<String>,
}

/// Runs the checks in order and returns the first refusal.
pub fn admit<'s>(head: &Head<'_>, settings: &'s Settings) -> Result<Admitted<'s>, GatewayError> {
    admit_with(head, settings, false)
}

/// [`admit`]; with `kv_keys`, a key that is not in `GATEWAY_KEYS` is passed
/// on as [`Admitted::unlisted`] instead of refused.
pub fn admit_with<'s>(head: &Head<'_>, settings: &'s Settings, kv_keys: bool) -> Result<Admitted<'s>, GatewayError> {
    let endpoint = Endpoint::resolve(head.method, head.path)?;
    if head.header_bytes > settings.max_header_bytes {
        return Err(GatewayError::new(
            Fault::HeadersTooLarge,
            format!(
                "Request headers total {} bytes; the limit is {} bytes.",
                head.header_bytes, settings.max_header_bytes
            ),
        ));
    }
    let mut unlisted = None;
    let key = if endpoint.requires_key() {
        match settings.gateway_keys.authenticate(head.authorization, head.x_api_key) {
            Ok(key) => Some(key),
            Err(e) if kv_keys && e.fault == Fault::InvalidKey => {
                let presented = crate::auth::presented_key(head.authorization, head.x_api_key).unwrap_or_default();
                if presented.len() > crate::auth::MAX_KEY_LEN {
                    return Err(e);
                }
                unlisted = Some(crate::auth::hash_key(presented));
                None
            }
            Err(e) => return Err(e),
        }
    } else {
        None
    };
    if let Some(declared) = head.content_length {
        match declared.trim().parse::<u64>() {
            Ok(n) if n > settings.max_body_bytes as u64 => {
                return Err(body_too_large(settings.max_body_bytes))
            }
            Ok(_) => {}
            Err(_) => {
                return Err(GatewayError::new(
                    Fault::BadRequest,
                    "Content-Length is not a number.",
                ))
            }
        }
    }
    Ok(Admitted { endpoint, key, unlisted })
}

/// The 413 for a body over `limit` bytes.
pub fn body_too_large(limit: usize) -> GatewayError {
    GatewayError::new(
        Fault::PayloadTooLarge,
        format!("Request body is larger than the limit of {limit} bytes."),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{hash_key, KeyRing};

    fn settings() -> Settings {
        Settings {
            gateway_keys: KeyRing::parse(&format!("app:{}", hash_key("sk-good"))).unwrap(),
            max_body_bytes: 2048,
            max_header_bytes: 4096,
            upstream_timeout_ms: 1000,
            plan_refresh_ms: 0,
            admin_keys: vec![],
            breaker_cache_ms: 0,
            object_timeout_ms: 1000,
            request_log: Default::default(),
            test_clock: false,
        }
    }

    fn chat(auth: Option<&'static str>) -> Head<'static> {
        Head {
            method: "POST",
            path: "/v1/chat/completions",
            header_bytes: 100,
            authorization: auth,
            ..Head::default()
        }
    }

    #[test]
    fn good_key_is_admitted_with_its_name() {
        let s = settings();
        let a = admit(&chat(Some("Bearer sk-good")), &s).unwrap();
        assert_eq!(a.endpoint, Endpoint::ChatCompletions);
        assert_eq!(a.key.unwrap().name, "app");
    }

    #[test]
    fn health_needs_no_key() {
        let s = settings();
        let head = Head {
            method: "GET",
            path: "/health",
            ..Head::default()
        };
        assert_eq!(
            admit(&head, &s).unwrap(),
            Admitted {
                unlisted: None,
                endpoint: Endpoint::Health,
                key: None
            }
        );
    }

    #[test]
    fn refusals_in_order() {
        let s = settings();
        assert_eq!(admit(&chat(None), &s).unwrap_err().status(), 401);
        assert_eq!(
            admit(&chat(Some("Bearer bad")), &s).unwrap_err().status(),
            401
        );
        // With KV keys, an unknown key goes on to be looked up by its hash.
        let a = admit_with(&chat(Some("Bearer bad")), &s, true).unwrap();
        assert_eq!((a.key, a.unlisted), (None, Some(crate::auth::hash_key("bad"))));
        assert_eq!(admit_with(&chat(None), &s, true).unwrap_err().status(), 401);
        assert_eq!(
            admit(&chat(Some("Bearer bad")), &s).unwrap_err().status(),
            401
        );
        let big_headers = Head {
            header_bytes: 5000,
            ..chat(None)
        };
        assert_eq!(admit(&big_headers, &s).unwrap_err().status(), 431);
        let big_body = Head {
            content_length: Some("4096"),
            ..chat(Some("Bearer sk-good"))
        };
        assert_eq!(admit(&big_body, &s).unwrap_err().status(), 413);
        let anon_big_body = Head {
            content_length: Some("4096"),
            ..chat(None)
        };
        assert_eq!(
            admit(&anon_big_body, &s).unwrap_err().status(),
            401,
            "auth is checked before size"
        );
        let bad_length = Head {
            content_length: Some("lots"),
            ..chat(Some("Bearer sk-good"))
        };
        assert_eq!(admit(&bad_length, &s).unwrap_err().status(), 400);
        let wrong_path = Head {
            path: "/v1/nope",
            ..chat(None)
        };
        assert_eq!(admit(&wrong_path, &s).unwrap_err().status(), 404);
    }
}
