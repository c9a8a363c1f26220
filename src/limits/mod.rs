//! Rate limits: which limiter objects a request must pass, what it takes
//! from each, and what the client is told.
//!
//! The route language declares limits on routes (`per key`: each gateway
//! key its own counter, the default; `per route`: one counter) and on
//! providers (`per provider`, the default, or `per key`: each provider key
//! its own counter, so rotation respects each key's quota). Each distinct
//! counter is one Durable Object, named by its [`Check::key`]; the object
//! holds one token bucket ([`bucket`]) per unit declared for it and takes
//! from all of them at once or from none ([`object`]).
//!
//! Requests cost 1. Tokens are *reserved* before the call with an estimate
//! ([`estimate_tokens`]: the body's bytes / 4 for the prompt, plus
//! `max_tokens` or `max_completion_tokens`) and *settled* afterwards with
//! the real usage when the answer says it ([`usage_tokens`] on a JSON
//! answer); a stream, whose usage the gateway does not read, keeps the
//! estimate, and a failed try gives its tokens back.
//!
//! Everything here is plain data; the edge sends the messages.

pub mod bucket;
pub mod headers;
pub mod lease;
pub mod object;

use crate::plan::{Limit, LimitScope, LimitUnit, Provider, Route};

/// The Worker binding of the limiter objects (class `RateLimiter`).
pub const BINDING: &str = "LIMITER";
use object::{counts_requests, Need};

/// One limiter object to ask and what to take from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// The object's name: `route:NAME`, `route:NAME|key:GATEWAY_KEY`,
    /// `provider:NAME` or `provider:NAME|key:SECRET_NAME`.
    pub key: String,
    pub needs: Vec<Need>,
    /// For messages: "route `r` per gateway key".
    pub what: String,
}

impl Check {
    /// The token units this check reserved, for settling.
    pub fn token_needs(&self) -> impl Iterator<Item = &Need> {
        self.needs.iter().filter(|n| !counts_requests(n.unit))
    }

    /// Whether this check may be admitted from a lease (it counts requests only).
    pub fn leasable(&self) -> bool {
        !self.reserves_tokens()
    }

    /// Whether settling could change anything (it reserved tokens).
    pub fn reserves_tokens(&self) -> bool {
        self.token_needs().next().is_some()
    }
}

fn needs(limits: &[&Limit], tokens: u64) -> Vec<Need> {
    crate::seq::map(limits, |_, l| Need { unit: l.unit, limit: l.amount, cost: if counts_requests(l.unit) { 1 } else { tokens } })
}

fn of_scope(limits: &[Limit], scope: LimitScope) -> Vec<&Limit> {
    crate::seq::keep(limits, |l| (l.scope == scope).then_some(l))
}

/// Whether any of these limits counts tokens (then the estimate is worth making).
pub fn counts_tokens(limits: &[Limit]) -> bool {
    limits.iter().any(|l| !counts_requests(l.unit))
}

/// The objects a request on `route` by gateway key `gateway_key` must pass
/// before the engine runs, with `tokens` its estimate.
pub fn route_checks(route: &Route, gateway_key: &str, tokens: u64) -> Vec<Check> {
    let mut out = Vec::new();
    let per_route = of_scope(&route.limits, LimitScope::Route);
    if !per_route.is_empty() {
        out.push(Check {
            key: format!("route:{}", route.name),
            needs: needs(&per_route, tokens),
            what: format!("route `{}`", route.name),
        });
    }
    let per_key = of_scope(&route.limits, LimitScope::GatewayKey);
    if !per_key.is_empty() {
        out.push(Check {
            key: format!("route:{}|key:{gateway_key}", route.name),
            needs: needs(&per_key, tokens),
            what: format!("route `{}` for this gateway key", route.name),
        });
    }
    out
}

/// The objects one try on `provider` with its key number `key` must pass.
pub fn provider_checks(provider: &Provider, key: Option<usize>, tokens: u64) -> Vec<Check> {
    let mut out = Vec::new();
    let whole = of_scope(&provider.limits, LimitScope::Provider);
    if !whole.is_empty() {
        out.push(Check {
            key: format!("provider:{}", provider.name),
            needs: needs(&whole, tokens),
            what: format!("provider `{}`", provider.name),
        });
    }
    let per_key = of_scope(&provider.limits, LimitScope::ProviderKey);
    if !per_key.is_empty() {
        // Keys are named by their secret's name (never its value), so a
        // key keeps its counter when the list is reordered.
        let name = key.and_then(|k| provider.keys.get(k)).map_or("none", String::as_str);
        out.push(Check {
            key: format!("provider:{}|key:{name}", provider.name),
            needs: needs(&per_key, tokens),
            what: format!("provider `{}` key {name}", provider.name),
        });
    }
    out
}

/// The token estimate of a request: prompt bytes / 4 (about four bytes per
/// token in English text, and the whole body counts, so it errs high) plus
/// the most the answer may take (`max_tokens` or `max_completion_tokens`;
/// nothing when neither is given). See [`crate::usage::estimate`].
pub fn estimate_tokens(body: &[u8]) -> u64 {
    crate::usage::estimate(body).total()
}

/// The tokens a JSON answer says it used (either dialect, cached prompt
/// tokens included); `None` when it does not say.
pub fn usage_tokens(body: &[u8]) -> Option<u64> {
    crate::usage::from_json(body).map(|u| u.total())
}

/// A unit in words: "requests per minute".
pub fn unit_words(unit: LimitUnit) -> &'static str {
    match unit {
        LimitUnit::RequestsPerMinute => "requests per minute",
        LimitUnit::RequestsPerDay => "requests per day",
        LimitUnit::TokensPerMinute => "tokens per minute",
        LimitUnit::TokensPerDay => "tokens per day",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Base, ModelRef, Node, ProviderKind, Step};

    fn limit(amount: u64, unit: LimitUnit, scope: LimitScope) -> Limit {
        Limit { amount, unit, scope }
    }

    #[test]
    fn a_route_has_one_object_per_scope() {
        let route = Route {
            name: "r".into(),
            when: None,
            cache: None,
            limits: vec![
                limit(60, LimitUnit::RequestsPerMinute, LimitScope::GatewayKey),
                limit(10_000, LimitUnit::TokensPerMinute, LimitScope::GatewayKey),
                limit(1_000, LimitUnit::RequestsPerDay, LimitScope::Route),
            ],
            targets: Node::Step(Step { provider: 0, model: ModelRef::Request, policy: 0 }),
            source: String::new(),
        };
        let checks = route_checks(&route, "ci", 250);
        assert_eq!(checks.len(), 2);
        assert_eq!(checks[0].key, "route:r");
        assert_eq!(checks[0].needs, [Need { unit: LimitUnit::RequestsPerDay, limit: 1_000, cost: 1 }]);
        assert_eq!(checks[1].key, "route:r|key:ci");
        assert_eq!(checks[1].needs[1], Need { unit: LimitUnit::TokensPerMinute, limit: 10_000, cost: 250 });
        assert!(checks[1].reserves_tokens() && !checks[0].reserves_tokens());
    }

    #[test]
    fn provider_keys_are_counted_by_secret_name() {
        let p = Provider {
            name: "p".into(),
            kind: ProviderKind::Openai,
            base: Base::Url("https://x".into()),
            keys: vec!["K1".into(), "K2".into()],
            headers: vec![],
            limits: vec![
                limit(500, LimitUnit::RequestsPerMinute, LimitScope::Provider),
                limit(3, LimitUnit::RequestsPerMinute, LimitScope::ProviderKey),
            ],
            aliases: vec![],
            prices: vec![],
            api_version: None,
            region: None,
        };
        let keys: Vec<String> = provider_checks(&p, Some(1), 0).into_iter().map(|c| c.key).collect();
        assert_eq!(keys, ["provider:p", "provider:p|key:K2"]);
    }

    #[test]
    fn the_estimate_is_a_quarter_of_the_bytes_plus_the_answer_cap() {
        let body = br#"{"model":"m","messages":[{"role":"user","content":"hello"}],"max_tokens":100}"#;
        assert_eq!(estimate_tokens(body), body.len() as u64 / 4 + 100);
        let body = br#"{"max_completion_tokens":7,"max_tokens":100}"#;
        assert_eq!(estimate_tokens(body), body.len() as u64 / 4 + 7);
        assert_eq!(estimate_tokens(b"not json"), 2);
    }

    #[test]
    fn usage_in_either_dialect() {
        assert_eq!(usage_tokens(br#"{"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}"#), Some(7));
        assert_eq!(usage_tokens(br#"{"usage":{"prompt_tokens":3,"completion_tokens":4}}"#), Some(7));
        assert_eq!(usage_tokens(br#"{"usage":{"input_tokens":10,"output_tokens":5}}"#), Some(15));
        assert_eq!(usage_tokens(br#"{"id":"x"}"#), None);
        assert_eq!(usage_tokens(b"{"), None);
    }
}
