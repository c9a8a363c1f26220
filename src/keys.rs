//! Gateway keys kept in KV (binding `KEYS`), beside the `GATEWAY_KEYS`
//! secret: each key is a record under the SHA-256 of the key (lowercase
//! hex; the key itself is never stored), written by `yard keys create`.
//!
//! A record is versioned JSON ([`KeyRecord`]): a name (what `key.name`
//! conditions, per-key limits and budgets see), tags (`key.tags` in route
//! conditions), the routes and models it may use (empty: any), an optional
//! spend [`Budget`], when it was created and, once revoked, when.
//!
//! [`Caller`] is who a request comes from, whichever way its key was found.

use crate::budget::Budget;
use crate::error::{Fault, GatewayError};
use serde::Serialize;
use serde_json::Value;

/// The Worker binding of the key records (optional).
pub const BINDING: &str = "KEYS";
/// The record format this build writes and reads.
pub const RECORD_VERSION: u32 = 1;

/// One gateway key's record (read by hand over `serde_json::Value`:
/// no derived reader in the Worker).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyRecord {
    pub v: u32,
    pub name: String,
    pub tags: Vec<String>,
    /// Route names it may use; empty: every route.
    pub routes: Vec<String>,
    /// Models (as the client names them) it may ask for; a trailing `*`
    /// matches any rest. Empty: every model.
    pub models: Vec<String>,
    pub budget: Option<Budget>,
    pub created_ms: u64,
    pub revoked_ms: Option<u64>,
}

impl KeyRecord {
    /// A stored record, if this build can read it (a newer `v` is not).
    pub fn from_json(text: &[u8]) -> Option<KeyRecord> {
        let v: Value = serde_json::from_slice(text).ok()?;
        let version = v.get("v")?.as_u64()?;
        if version > u64::from(RECORD_VERSION) {
            return None;
        }
        let texts = |key: &str| -> Vec<String> {
            let items = v.get(key).and_then(Value::as_array).map_or(&[][..], Vec::as_slice);
            crate::seq::keep(items, |item| item.as_str().map(str::to_string))
        };
        Some(KeyRecord {
            v: version as u32,
            name: v.get("name")?.as_str()?.to_string(),
            tags: texts("tags"),
            routes: texts("routes"),
            models: texts("models"),
            budget: v.get("budget").and_then(Budget::from_value),
            created_ms: v.get("created_ms").and_then(Value::as_u64).unwrap_or(0),
            revoked_ms: v.get("revoked_ms").and_then(Value::as_u64),
        })
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Who a valid (not revoked) record's key is.
    pub fn caller(&self) -> Option<Caller> {
        self.revoked_ms.is_none().then(|| Caller {
            name: self.name.clone(),
            tags: self.tags.clone(),
            routes: self.routes.clone(),
            models: self.models.clone(),
            budget: self.budget,
        })
    }
}

/// Who sent a request: the gateway key's name, tags, what it may use, its budget.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Caller {
    pub name: String,
    pub tags: Vec<String>,
    pub routes: Vec<String>,
    pub models: Vec<String>,
    pub budget: Option<Budget>,
}

impl Caller {
    /// A key from the `GATEWAY_KEYS` secret: a name, no restrictions.
    pub fn named(name: &str) -> Caller {
        Caller { name: name.to_string(), ..Caller::default() }
    }

    /// Whether the key may use `route` for `model`: a 403 naming what it may not.
    pub fn may_use(&self, route: &str, model: &str) -> Result<(), GatewayError> {
        if !self.routes.is_empty() && !self.routes.iter().any(|r| r == route) {
            return Err(GatewayError::new(
                Fault::Forbidden,
                format!("This gateway key may not use the route `{route}`."),
            ));
        }
        let allowed = |pattern: &String| match pattern.strip_suffix('*') {
            Some(prefix) => model.starts_with(prefix),
            None => pattern == model,
        };
        if !self.models.is_empty() && !self.models.iter().any(allowed) {
            return Err(GatewayError::new(
                Fault::Forbidden,
                format!("This gateway key may not use the model `{model}`."),
            )
            .with_param("model"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::budget::Period;

    fn record() -> KeyRecord {
        KeyRecord {
            v: 1,
            name: "team-a".into(),
            tags: vec!["beta".into()],
            routes: vec!["default".into()],
            models: vec!["gpt-4o*".into(), "mock-small".into()],
            budget: Some(Budget { limit_micros: 10_000_000, period: Period::Day }),
            created_ms: 1,
            revoked_ms: None,
        }
    }

    #[test]
    fn a_record_reads_back_and_a_newer_one_is_refused() {
        let r = record();
        assert_eq!(KeyRecord::from_json(r.to_json().as_bytes()), Some(r.clone()));
        let newer = r.to_json().replace("\"v\":1", "\"v\":2");
        assert_eq!(KeyRecord::from_json(newer.as_bytes()), None);
        let minimal = br#"{"v":1,"name":"x","created_ms":5}"#;
        assert_eq!(KeyRecord::from_json(minimal).unwrap().caller().unwrap(), Caller::named("x"));
        assert_eq!(KeyRecord::from_json(b"{"), None);
    }

    #[test]
    fn a_revoked_key_is_nobody() {
        let r = KeyRecord { revoked_ms: Some(2), ..record() };
        assert!(r.caller().is_none());
    }

    #[test]
    fn routes_and_models_are_enforced() {
        let c = record().caller().unwrap();
        assert!(c.may_use("default", "gpt-4o-mini").is_ok());
        assert!(c.may_use("default", "mock-small").is_ok());
        let e = c.may_use("default", "claude").unwrap_err();
        assert_eq!((e.status(), e.param), (403, Some("model")));
        assert_eq!(c.may_use("other", "mock-small").unwrap_err().status(), 403);
        assert!(Caller::named("x").may_use("any", "any").is_ok());
    }
}
