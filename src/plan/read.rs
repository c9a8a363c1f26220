//! The plan read from its JSON by hand ([`crate::wire`]), field by field as
//! the derived `Deserialize` of the plan types reads it, without a copy of
//! serde's struct-reading code per type in the Worker. The tests compare
//! the two on every plan fixture and on mutations of them.

use super::*;
use crate::wire::{self, content, fields, unit, unknown, variant, Read};
use serde_json::Value as Json;

/// A whole plan.
pub fn plan(v: &Json) -> Read<RoutingPlan> {
    const F: &[&str] =
        &["format", "hash", "sources", "subrequest_cap", "providers", "policies", "routes", "models"];
    let f = fields(v, "RoutingPlan", F)?;
    Ok(RoutingPlan {
        format: f.get(0, wire::u32)?,
        hash: f.get(1, wire::string)?,
        sources: f.get(2, wire::strings)?,
        subrequest_cap: f.get(3, wire::u32)?,
        providers: f.get(4, |v, w| wire::vec(v, w, provider))?,
        policies: f.get(5, |v, w| wire::vec(v, w, policy))?,
        routes: f.get(6, |v, w| wire::vec(v, w, route))?,
        models: f.get(7, wire::strings)?,
    })
}

fn provider(v: &Json, _: &str) -> Read<Provider> {
    const F: &[&str] = &[
        "name", "kind", "base", "keys", "headers", "limits", "aliases", "prices", "api_version", "region",
    ];
    let f = fields(v, "Provider", F)?;
    Ok(Provider {
        name: f.get(0, wire::string)?,
        kind: f.get(1, kind)?,
        base: f.get(2, base)?,
        keys: f.get(3, wire::strings)?,
        headers: f.get(4, |v, w| wire::vec(v, w, extra_header))?,
        limits: f.get(5, |v, w| wire::vec(v, w, limit))?,
        aliases: f.get(6, |v, w| wire::vec(v, w, alias))?,
        prices: f.get(7, |v, w| wire::vec(v, w, price_of))?,
        api_version: f.get_opt(8, wire::string)?,
        region: f.get_opt(9, wire::string)?,
    })
}

fn kind(v: &Json, what: &str) -> Read<ProviderKind> {
    let (name, body) = variant(v, what)?;
    let kind = ProviderKind::from_name(name).ok_or_else(|| unknown(what, name))?;
    unit(body, what)?;
    Ok(kind)
}

fn base(v: &Json, what: &str) -> Read<Base> {
    Ok(match wire::text_variant(v, what, &["url", "env"])? {
        (0, url) => Base::Url(url),
        (_, var) => Base::Env(var),
    })
}

fn extra_header(v: &Json, _: &str) -> Read<ExtraHeader> {
    let f = fields(v, "ExtraHeader", &["name", "value"])?;
    Ok(ExtraHeader { name: f.get(0, wire::string)?, value: f.get(1, header_value)? })
}

fn header_value(v: &Json, what: &str) -> Read<HeaderValue> {
    Ok(match wire::text_variant(v, what, &["text", "secret"])? {
        (0, text) => HeaderValue::Text(text),
        (_, secret) => HeaderValue::Secret(secret),
    })
}

/// A limit of a provider or route.
pub(crate) fn limit(v: &Json, _: &str) -> Read<Limit> {
    let f = fields(v, "Limit", &["amount", "unit", "scope"])?;
    const SCOPES: &[&str] = &["gateway_key", "route", "provider", "provider_key"];
    Ok(Limit {
        amount: f.get(0, wire::u64)?,
        unit: f.get(1, limit_unit)?,
        scope: match f.get(2, |v, w| wire::name_of(v, w, SCOPES))? {
            0 => LimitScope::GatewayKey,
            1 => LimitScope::Route,
            2 => LimitScope::Provider,
            _ => LimitScope::ProviderKey,
        },
    })
}

/// The units' names, in the order of [`LimitUnit`]'s variants.
const UNITS: [&str; 4] = ["requests_per_minute", "requests_per_day", "tokens_per_minute", "tokens_per_day"];

/// A unit's name as its derived `Serialize` writes it (the limiter objects' messages).
pub(crate) fn limit_unit_name(unit: LimitUnit) -> &'static str {
    UNITS[unit as usize]
}

/// A limit's unit (also in the limiter objects' messages).
pub(crate) fn limit_unit(v: &Json, what: &str) -> Read<LimitUnit> {
    Ok(match wire::name_of(v, what, &UNITS)? {
        0 => LimitUnit::RequestsPerMinute,
        1 => LimitUnit::RequestsPerDay,
        2 => LimitUnit::TokensPerMinute,
        _ => LimitUnit::TokensPerDay,
    })
}

fn alias(v: &Json, what: &str) -> Read<(String, String)> {
    let (a, b) = wire::pair(v, what)?;
    Ok((wire::string(a, what)?, wire::string(b, what)?))
}

fn price_of(v: &Json, what: &str) -> Read<(String, Price)> {
    let (a, b) = wire::pair(v, what)?;
    let f = fields(b, "Price", &["input", "output", "cached_input"])?;
    let price =
        Price { input: f.get(0, wire::f64)?, output: f.get(1, wire::f64)?, cached_input: f.get_opt(2, wire::f64)? };
    Ok((wire::string(a, what)?, price))
}

fn route(v: &Json, _: &str) -> Read<Route> {
    let f = fields(v, "Route", &["name", "when", "cache", "limits", "targets", "source"])?;
    Ok(Route {
        name: f.get(0, wire::string)?,
        when: f.get_opt(1, condition)?,
        cache: f.get_opt(2, cache)?,
        limits: f.get(3, |v, w| wire::vec(v, w, limit))?,
        targets: f.get(4, node)?,
        source: f.get(5, wire::string)?,
    })
}

fn cache(v: &Json, _: &str) -> Read<Cache> {
    let f = fields(v, "Cache", &["ttl_ms", "sampled"])?;
    Ok(Cache { ttl_ms: f.get(0, wire::u64)?, sampled: f.get(1, wire::boolean)? })
}

fn node(v: &Json, what: &str) -> Read<Node> {
    let (name, body) = variant(v, what)?;
    match name {
        "step" => {
            let f = fields(content(body, what)?, "Step", &["provider", "model", "policy"])?;
            Ok(Node::Step(Step {
                provider: f.get(0, wire::usize)?,
                model: f.get(1, model_ref)?,
                policy: f.get(2, wire::usize)?,
            }))
        }
        "chain" => Ok(Node::Chain(wire::vec(content(body, what)?, what, node)?)),
        "split" => Ok(Node::Split(wire::vec(content(body, what)?, what, branch)?)),
        "balanced" => {
            let f = fields(content(body, what)?, "Balanced", &["mode", "branches"])?;
            const MODES: &[&str] = &["least_busy", "lowest_latency"];
            let mode = match f.get(0, |v, w| wire::name_of(v, w, MODES))? {
                0 => BalanceMode::LeastBusy,
                _ => BalanceMode::LowestLatency,
            };
            Ok(Node::Balanced(Balanced { mode, branches: f.get(1, |v, w| wire::vec(v, w, node))? }))
        }
        _ => Err(unknown(what, name)),
    }
}

fn branch(v: &Json, _: &str) -> Read<Branch> {
    let f = fields(v, "Branch", &["weight", "node"])?;
    Ok(Branch { weight: f.get(0, wire::f64)?, node: f.get(1, node)? })
}

fn model_ref(v: &Json, what: &str) -> Read<ModelRef> {
    let (name, body) = variant(v, what)?;
    match name {
        "fixed" => Ok(ModelRef::Fixed(wire::string(content(body, what)?, what)?)),
        "request" => unit(body, what).map(|()| ModelRef::Request),
        _ => Err(unknown(what, name)),
    }
}

fn policy(v: &Json, _: &str) -> Read<Policy> {
    const F: &[&str] = &[
        "attempts",
        "retry_on",
        "fallback_on",
        "backoff",
        "retry_after_cap_ms",
        "attempt_timeout_ms",
        "first_byte_timeout_ms",
        "total_timeout_ms",
        "breaker",
    ];
    let f = fields(v, "Policy", F)?;
    Ok(Policy {
        attempts: f.get(0, wire::u32)?,
        retry_on: f.get(1, |v, w| wire::vec(v, w, outcome))?,
        fallback_on: f.get(2, |v, w| wire::vec(v, w, outcome))?,
        backoff: f.get(3, backoff)?,
        retry_after_cap_ms: f.get_opt(4, wire::u64)?,
        attempt_timeout_ms: f.get(5, wire::u64)?,
        first_byte_timeout_ms: f.get_opt(6, wire::u64)?,
        total_timeout_ms: f.get(7, wire::u64)?,
        breaker: f.get_opt(8, breaker)?,
    })
}

fn outcome(v: &Json, what: &str) -> Read<Outcome> {
    let (name, body) = variant(v, what)?;
    if name == "status" {
        return Ok(Outcome::Status(wire::u16(content(body, what)?, what)?));
    }
    let outcome = match name {
        "class4xx" => Outcome::Class4xx,
        "class5xx" => Outcome::Class5xx,
        "timeout" => Outcome::Timeout,
        "connect" => Outcome::Connect,
        "reset" => Outcome::Reset,
        "malformed" => Outcome::Malformed,
        "truncated" => Outcome::Truncated,
        "context_length" => Outcome::ContextLength,
        "content_policy" => Outcome::ContentPolicy,
        _ => return Err(unknown(what, name)),
    };
    unit(body, what).map(|()| outcome)
}

fn backoff(v: &Json, _: &str) -> Read<Backoff> {
    let f = fields(v, "Backoff", &["shape", "base_ms", "cap_ms", "jitter"])?;
    const SHAPES: &[&str] = &["constant", "linear", "exponential"];
    const JITTERS: &[&str] = &["none", "full", "equal"];
    Ok(Backoff {
        shape: match f.get(0, |v, w| wire::name_of(v, w, SHAPES))? {
            0 => BackoffShape::Constant,
            1 => BackoffShape::Linear,
            _ => BackoffShape::Exponential,
        },
        base_ms: f.get(1, wire::u64)?,
        cap_ms: f.get(2, wire::u64)?,
        jitter: match f.get(3, |v, w| wire::name_of(v, w, JITTERS))? {
            0 => Jitter::None,
            1 => Jitter::Full,
            _ => Jitter::Equal,
        },
    })
}

/// A breaker's thresholds (also in the breaker objects' messages).
pub(crate) fn breaker(v: &Json, _: &str) -> Read<Breaker> {
    let f = fields(v, "Breaker", &["trip", "cooldown_ms", "probes", "per_key"])?;
    Ok(Breaker {
        trip: f.get(0, trip)?,
        cooldown_ms: f.get(1, wire::u64)?,
        probes: f.get(2, wire::u32)?,
        per_key: f.get_or_default(3, wire::boolean)?,
    })
}

fn trip(v: &Json, what: &str) -> Read<Trip> {
    let (name, body) = variant(v, what)?;
    match name {
        "failures" => {
            let f = fields(content(body, what)?, "Failures", &["count", "window_ms"])?;
            Ok(Trip::Failures { count: f.get(0, wire::u32)?, window_ms: f.get(1, wire::u64)? })
        }
        "failure_rate" => {
            let f = fields(content(body, what)?, "FailureRate", &["percent", "window_ms", "min_requests"])?;
            Ok(Trip::FailureRate {
                percent: f.get(0, wire::f64)?,
                window_ms: f.get(1, wire::u64)?,
                min_requests: f.get(2, wire::u32)?,
            })
        }
        _ => Err(unknown(what, name)),
    }
}

fn condition(v: &Json, what: &str) -> Read<Condition> {
    let (name, body) = variant(v, what)?;
    let body = content(body, what)?;
    match name {
        "all" => Ok(Condition::All(wire::vec(body, what, condition)?)),
        "any" => Ok(Condition::Any(wire::vec(body, what, condition)?)),
        "not" => Ok(Condition::Not(Box::new(condition(body, what)?))),
        "compare" => {
            let f = fields(body, "Compare", &["field", "op", "value"])?;
            const OPS: &[&str] = &["eq", "ne", "lt", "le", "gt", "ge"];
            let op = [CompareOp::Eq, CompareOp::Ne, CompareOp::Lt, CompareOp::Le, CompareOp::Gt, CompareOp::Ge]
                [f.get(1, |v, w| wire::name_of(v, w, OPS))?];
            Ok(Condition::Compare { field: f.get(0, field)?, op, value: f.get(2, value)? })
        }
        "in" => {
            let f = fields(body, "In", &["field", "values"])?;
            Ok(Condition::In { field: f.get(0, field)?, values: f.get(1, |v, w| wire::vec(v, w, value))? })
        }
        "matches" => {
            let f = fields(body, "Matches", &["field", "pattern"])?;
            Ok(Condition::Matches { field: f.get(0, field)?, pattern: f.get(1, wire::string)? })
        }
        "contains" => {
            let f = fields(body, "Contains", &["field", "value"])?;
            Ok(Condition::Contains { field: f.get(0, field)?, value: f.get(1, wire::string)? })
        }
        _ => Err(unknown(what, name)),
    }
}

fn field(v: &Json, what: &str) -> Read<Field> {
    let (name, body) = variant(v, what)?;
    let text = |body| wire::string(content(body, what)?, what);
    let field = match name {
        "header" => return Ok(Field::Header(text(body)?)),
        "metadata" => return Ok(Field::Metadata(text(body)?)),
        "param" => return Ok(Field::Param(text(body)?)),
        "model" => Field::Model,
        "endpoint" => Field::Endpoint,
        "key_name" => Field::KeyName,
        "key_tags" => Field::KeyTags,
        _ => return Err(unknown(what, name)),
    };
    unit(body, what).map(|()| field)
}

fn value(v: &Json, what: &str) -> Read<Value> {
    let (name, body) = variant(v, what)?;
    match name {
        "null" => unit(body, what).map(|()| Value::Null),
        "bool" => Ok(Value::Bool(wire::boolean(content(body, what)?, what)?)),
        "number" => Ok(Value::Number(wire::f64(content(body, what)?, what)?)),
        "text" => Ok(Value::Text(wire::string(content(body, what)?, what)?)),
        _ => Err(unknown(what, name)),
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// Every plan fixture of the repository.
    pub(in crate::plan) fn fixtures() -> Vec<(String, String)> {
        let mut out = vec![("tests/plans/default.json".to_string(), include_str!("../../tests/plans/default.json").into())];
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/routes/valid");
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.to_string_lossy().ends_with(".plan.json") {
                out.push((path.display().to_string(), std::fs::read_to_string(&path).unwrap()));
            }
        }
        assert!(out.len() >= 8, "plan fixtures found: {}", out.len());
        out
    }

    fn derived(v: &Json) -> Result<RoutingPlan, String> {
        crate::wire::check::derived(v)
    }

    #[test]
    fn reads_every_fixture_as_the_derived_reader_does() {
        for (name, text) in fixtures() {
            let doc: Json = serde_json::from_str(&text).unwrap();
            let expected = derived(&doc).unwrap();
            assert_eq!(plan(&doc).unwrap(), expected, "{name}");
            assert_eq!(RoutingPlan::from_json(&text).unwrap(), expected, "{name}");
        }
    }

    #[test]
    fn accepts_and_refuses_what_the_derived_reader_does() {
        let mut tried = 0;
        for (name, text) in fixtures() {
            let doc: Json = serde_json::from_str(&text).unwrap();
            tried += crate::wire::check::equivalent(&doc, &name, plan);
        }
        assert!(tried > 10_000, "{tried}");
    }

    #[test]
    fn every_enum_name_reads_back() {
        for (_, kind) in ProviderKind::ALL {
            let v = serde_json::to_value(kind).unwrap();
            assert_eq!(super::kind(&v, "kind").unwrap(), kind);
        }
        for o in [
            Outcome::Status(429),
            Outcome::Class4xx,
            Outcome::Class5xx,
            Outcome::Timeout,
            Outcome::Connect,
            Outcome::Reset,
            Outcome::Malformed,
            Outcome::Truncated,
            Outcome::ContextLength,
            Outcome::ContentPolicy,
        ] {
            assert_eq!(outcome(&serde_json::to_value(o).unwrap(), "o").unwrap(), o);
        }
        for f in [Field::Model, Field::Endpoint, Field::KeyName, Field::KeyTags, Field::Param("p".into())] {
            assert_eq!(field(&serde_json::to_value(&f).unwrap(), "f").unwrap(), f);
        }
        for u in [LimitUnit::RequestsPerMinute, LimitUnit::RequestsPerDay, LimitUnit::TokensPerMinute, LimitUnit::TokensPerDay] {
            assert_eq!(limit_unit(&serde_json::to_value(u).unwrap(), "u").unwrap(), u);
            assert_eq!(serde_json::to_value(u).unwrap(), limit_unit_name(u));
        }
    }
}
