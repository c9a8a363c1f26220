//! Deployment settings: the gateway keys, the limits that bound every
//! request, and how often the routing plan is re-checked in KV.
//!
//! Where requests go (providers, base URLs, provider keys, models) is the
//! routing plan's business (`crate::plan`), not a setting.
//!
//! Settings are read once per isolate from the Worker's `[vars]` and secrets
//! through a lookup function, so this module stays plain Rust and is tested
//! on the host. Every problem is collected and reported together.

use crate::auth::KeyRing;

/// Default limit on a request body: 8 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 8 * 1024 * 1024;
/// Default limit on all request headers together (names + values): 32 KiB.
pub const DEFAULT_MAX_HEADER_BYTES: usize = 32 * 1024;
/// Default time to wait for an upstream's response headers.
pub const DEFAULT_UPSTREAM_TIMEOUT_MS: u32 = 60_000;

/// Default interval between checks of the KV routing plan.
pub const DEFAULT_PLAN_REFRESH_MS: u64 = 5_000;
/// Default time an isolate trusts a circuit breaker's state (see
/// `crate::breaker::cache`).
pub const DEFAULT_BREAKER_CACHE_MS: u64 = 1_000;
/// Default bound on one Durable Object call.
pub const DEFAULT_OBJECT_TIMEOUT_MS: u64 = 1_000;

/// Names of the variables and secrets the gateway reads.
pub mod var {
    /// Secret: hashes of accepted gateway keys (see [`crate::auth::KeyRing::parse`]).
    pub const GATEWAY_KEYS: &str = "GATEWAY_KEYS";
    /// Request body limit in bytes.
    pub const MAX_BODY_BYTES: &str = "MAX_BODY_BYTES";
    /// Request header limit in bytes.
    pub const MAX_HEADER_BYTES: &str = "MAX_HEADER_BYTES";
    /// Milliseconds to wait for upstream response headers.
    pub const UPSTREAM_TIMEOUT_MS: &str = "UPSTREAM_TIMEOUT_MS";
    /// Milliseconds between checks of the `ROUTES` KV namespace for a new
    /// plan (`0`: on every request).
    pub const PLAN_REFRESH_MS: &str = "PLAN_REFRESH_MS";
    /// Names of the gateway keys (as in `GATEWAY_KEYS`) that may read
    /// `GET /v1/switchyard/status`, separated by commas.
    pub const ADMIN_KEYS: &str = "ADMIN_KEYS";
    /// Milliseconds an isolate trusts a breaker's state (`0`: ask every try).
    pub const BREAKER_CACHE_MS: &str = "BREAKER_CACHE_MS";
    /// Milliseconds one Durable Object call may take before it is given up.
    pub const OBJECT_TIMEOUT_MS: &str = "OBJECT_TIMEOUT_MS";
    /// Which requests get a structured log line: `all` (the default),
    /// `errors` (those answered with an error or refused), `off`.
    pub const REQUEST_LOG: &str = "REQUEST_LOG";
    /// Tests only: `1` lets requests move the objects' clock forward with
    /// the `x-switchyard-test-clock-ms` header. Never set in production.
    pub const TEST_CLOCK: &str = "SWITCHYARD_TEST_CLOCK";
}

/// Everything the request path needs to know about the deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub gateway_keys: KeyRing,
    pub max_body_bytes: usize,
    pub max_header_bytes: usize,
    pub upstream_timeout_ms: u32,
    pub plan_refresh_ms: u64,
    /// Key names that may read the status endpoint.
    pub admin_keys: Vec<String>,
    pub breaker_cache_ms: u64,
    pub object_timeout_ms: u64,
    pub request_log: RequestLog,
    pub test_clock: bool,
}

/// Which requests get a structured log line ([`var::REQUEST_LOG`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RequestLog {
    /// Every request (the default).
    #[default]
    All,
    /// Requests answered with an error status (4xx, 5xx), refusals included.
    Errors,
    /// None (the metrics still count every request).
    Off,
}

impl RequestLog {
    pub fn parse(text: &str) -> Option<RequestLog> {
        match text {
            "all" => Some(RequestLog::All),
            "errors" => Some(RequestLog::Errors),
            "off" => Some(RequestLog::Off),
            _ => None,
        }
    }

    /// Whether a request answered with `status` gets its line.
    pub fn logs(self, status: u16) -> bool {
        match self {
            RequestLog::All => true,
            RequestLog::Errors => status >= 400,
            RequestLog::Off => false,
        }
    }
}

impl Settings {
    /// Reads settings through `lookup` (variable name → value). Returns every
    /// problem found, each naming the variable at fault.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, Vec<String>> {
        let mut problems = Vec::new();
        let get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };

        let gateway_keys = match get(var::GATEWAY_KEYS) {
            None => {
                problems.push(format!(
                    "{} is not set: no client could authenticate (set it with `wrangler secret put {}`)",
                    var::GATEWAY_KEYS,
                    var::GATEWAY_KEYS
                ));
                KeyRing::default()
            }
            Some(spec) => KeyRing::parse(&spec).unwrap_or_else(|errors| {
                problems.extend(
                    errors
                        .into_iter()
                        .map(|e| format!("{}: {e}", var::GATEWAY_KEYS)),
                );
                KeyRing::default()
            }),
        };

        let mut number = |name: &str, default: usize, min: usize| match get(name) {
            None => default,
            Some(text) => match text.parse::<usize>() {
                Ok(n) if n >= min => n,
                _ => {
                    problems.push(format!(
                        "{name} must be a whole number ≥ {min} (got `{text}`)"
                    ));
                    default
                }
            },
        };
        let max_body_bytes = number(var::MAX_BODY_BYTES, DEFAULT_MAX_BODY_BYTES, 1024);
        let max_header_bytes = number(var::MAX_HEADER_BYTES, DEFAULT_MAX_HEADER_BYTES, 1024);
        let upstream_timeout_ms = number(
            var::UPSTREAM_TIMEOUT_MS,
            DEFAULT_UPSTREAM_TIMEOUT_MS as usize,
            1,
        )
        .min(u32::MAX as usize) as u32;
        let plan_refresh_ms =
            number(var::PLAN_REFRESH_MS, DEFAULT_PLAN_REFRESH_MS as usize, 0) as u64;
        let breaker_cache_ms =
            number(var::BREAKER_CACHE_MS, DEFAULT_BREAKER_CACHE_MS as usize, 0) as u64;
        let object_timeout_ms =
            number(var::OBJECT_TIMEOUT_MS, DEFAULT_OBJECT_TIMEOUT_MS as usize, 1) as u64;
        let admin_keys: Vec<String> = get(var::ADMIN_KEYS)
            .map(|v| crate::seq::keep(v.split(|c: char| c == ',' || c.is_whitespace()), |n| (!n.is_empty()).then(|| n.to_string())))
            .unwrap_or_default();
        for name in &admin_keys {
            if !gateway_keys.names().any(|n| n == name) && !gateway_keys.is_empty() {
                problems.push(format!("{}: `{name}` is not the name of a key in {}", var::ADMIN_KEYS, var::GATEWAY_KEYS));
            }
        }
        let test_clock = get(var::TEST_CLOCK).is_some_and(|v| v == "1");
        let request_log = match get(var::REQUEST_LOG) {
            None => RequestLog::default(),
            Some(text) => RequestLog::parse(&text).unwrap_or_else(|| {
                problems.push(format!("{} must be `all`, `errors` or `off` (got `{text}`)", var::REQUEST_LOG));
                RequestLog::default()
            }),
        };

        if problems.is_empty() {
            Ok(Settings {
                gateway_keys,
                max_body_bytes,
                max_header_bytes,
                upstream_timeout_ms,
                plan_refresh_ms,
                admin_keys,
                breaker_cache_ms,
                object_timeout_ms,
                request_log,
                test_clock,
            })
        } else {
            Err(problems)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::hash_key;
    use std::collections::HashMap;

    fn settings(pairs: &[(&str, &str)]) -> Result<Settings, Vec<String>> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn minimal_settings_use_defaults() {
        let keys = hash_key("k");
        let s = settings(&[(var::GATEWAY_KEYS, &keys)]).unwrap();
        assert_eq!(s.max_body_bytes, DEFAULT_MAX_BODY_BYTES);
        assert_eq!(s.max_header_bytes, DEFAULT_MAX_HEADER_BYTES);
        assert_eq!(s.upstream_timeout_ms, DEFAULT_UPSTREAM_TIMEOUT_MS);
        assert_eq!(s.plan_refresh_ms, DEFAULT_PLAN_REFRESH_MS);
        assert_eq!(s.gateway_keys.len(), 1);
        assert_eq!(s.request_log, RequestLog::All);
    }

    #[test]
    fn request_log_levels() {
        let keys = hash_key("k");
        for (text, level) in [("all", RequestLog::All), ("errors", RequestLog::Errors), ("off", RequestLog::Off)] {
            assert_eq!(settings(&[(var::GATEWAY_KEYS, &keys), (var::REQUEST_LOG, text)]).unwrap().request_log, level);
        }
        let problems = settings(&[(var::GATEWAY_KEYS, &keys), (var::REQUEST_LOG, "some")]).unwrap_err();
        assert!(problems[0].contains("REQUEST_LOG"), "{problems:?}");
        assert!(RequestLog::All.logs(200) && RequestLog::Errors.logs(429) && !RequestLog::Errors.logs(200) && !RequestLog::Off.logs(500));
    }

    #[test]
    fn admin_keys_name_gateway_keys() {
        let keys = format!("ops:{},app:{}", hash_key("a"), hash_key("b"));
        let s = settings(&[(var::GATEWAY_KEYS, &keys), (var::ADMIN_KEYS, "ops"), (var::BREAKER_CACHE_MS, "0")]).unwrap();
        assert_eq!(s.admin_keys, ["ops"]);
        assert_eq!(s.breaker_cache_ms, 0);
        assert_eq!(s.object_timeout_ms, DEFAULT_OBJECT_TIMEOUT_MS);
        assert!(!s.test_clock);
        let problems = settings(&[(var::GATEWAY_KEYS, &keys), (var::ADMIN_KEYS, "ops, root")]).unwrap_err();
        assert_eq!(problems.len(), 1);
        assert!(problems[0].contains("`root`"), "{problems:?}");
    }

    #[test]
    fn plan_refresh_may_be_zero() {
        let keys = hash_key("k");
        let s = settings(&[(var::GATEWAY_KEYS, &keys), (var::PLAN_REFRESH_MS, " 0 ")]).unwrap();
        assert_eq!(s.plan_refresh_ms, 0);
    }

    #[test]
    fn every_problem_is_reported() {
        let problems = settings(&[
            (var::GATEWAY_KEYS, "nothex"),
            (var::MAX_BODY_BYTES, "lots"),
            (var::MAX_HEADER_BYTES, "10"),
            (var::PLAN_REFRESH_MS, "-1"),
        ])
        .unwrap_err();
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(problems[0].contains("GATEWAY_KEYS"));
        assert!(problems[1].contains("MAX_BODY_BYTES"));
        assert!(problems[2].contains("MAX_HEADER_BYTES"));
        assert!(problems[3].contains("PLAN_REFRESH_MS"));
    }

    #[test]
    fn missing_keys_are_a_problem_not_an_open_door() {
        let problems = settings(&[]).unwrap_err();
        assert!(problems
            .iter()
            .any(|p| p.contains("GATEWAY_KEYS is not set")));
    }
}
