//! Deployment settings: where the upstream is, which models are exposed, and
//! the limits that bound every request.
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

/// Names of the variables and secrets the gateway reads.
pub mod var {
    /// Base URL of the OpenAI-compatible upstream, e.g. `https://api.openai.com/v1`.
    pub const UPSTREAM_BASE_URL: &str = "UPSTREAM_BASE_URL";
    /// Secret: the provider key sent upstream as a bearer token (optional).
    pub const PROVIDER_API_KEY: &str = "PROVIDER_API_KEY";
    /// Secret: hashes of accepted gateway keys (see [`crate::auth::KeyRing::parse`]).
    pub const GATEWAY_KEYS: &str = "GATEWAY_KEYS";
    /// Comma-separated model ids served; empty means "any model, passed through".
    pub const MODELS: &str = "MODELS";
    /// Request body limit in bytes.
    pub const MAX_BODY_BYTES: &str = "MAX_BODY_BYTES";
    /// Request header limit in bytes.
    pub const MAX_HEADER_BYTES: &str = "MAX_HEADER_BYTES";
    /// Milliseconds to wait for upstream response headers.
    pub const UPSTREAM_TIMEOUT_MS: &str = "UPSTREAM_TIMEOUT_MS";
}

/// Everything the request path needs to know about the deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Upstream base URL without a trailing slash.
    pub upstream_base_url: String,
    /// Provider key for the upstream; `None` for keyless local providers.
    pub provider_api_key: Option<String>,
    pub gateway_keys: KeyRing,
    /// Model ids exposed by `/v1/models`; empty means pass any model through.
    pub models: Vec<String>,
    pub max_body_bytes: usize,
    pub max_header_bytes: usize,
    pub upstream_timeout_ms: u32,
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

        let upstream_base_url = match get(var::UPSTREAM_BASE_URL) {
            Some(url) if url.starts_with("https://") || url.starts_with("http://") => {
                url.trim_end_matches('/').to_string()
            }
            Some(url) => {
                problems.push(format!(
                    "{} must start with http:// or https:// (got `{url}`)",
                    var::UPSTREAM_BASE_URL
                ));
                String::new()
            }
            None => {
                problems.push(format!("{} is not set", var::UPSTREAM_BASE_URL));
                String::new()
            }
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

        let models = get(var::MODELS)
            .map(|list| {
                list.split(',')
                    .map(str::trim)
                    .filter(|m| !m.is_empty())
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default();

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

        if problems.is_empty() {
            Ok(Settings {
                upstream_base_url,
                provider_api_key: get(var::PROVIDER_API_KEY),
                gateway_keys,
                models,
                max_body_bytes,
                max_header_bytes,
                upstream_timeout_ms,
            })
        } else {
            Err(problems)
        }
    }

    /// Whether a chat request for `model` may be served.
    pub fn exposes(&self, model: &str) -> bool {
        self.models.is_empty() || self.models.iter().any(|m| m == model)
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
        let s = settings(&[
            (var::UPSTREAM_BASE_URL, "http://127.0.0.1:9/v1/"),
            (var::GATEWAY_KEYS, &keys),
        ])
        .unwrap();
        assert_eq!(s.upstream_base_url, "http://127.0.0.1:9/v1");
        assert_eq!(s.max_body_bytes, DEFAULT_MAX_BODY_BYTES);
        assert_eq!(s.max_header_bytes, DEFAULT_MAX_HEADER_BYTES);
        assert_eq!(s.provider_api_key, None);
        assert!(s.exposes("anything"));
    }

    #[test]
    fn models_restrict_what_is_served() {
        let keys = hash_key("k");
        let s = settings(&[
            (var::UPSTREAM_BASE_URL, "https://x/v1"),
            (var::GATEWAY_KEYS, &keys),
            (var::MODELS, " gpt-4o-mini, ,gpt-4o "),
            (var::PROVIDER_API_KEY, "  "),
        ])
        .unwrap();
        assert_eq!(s.models, ["gpt-4o-mini", "gpt-4o"]);
        assert!(s.exposes("gpt-4o"));
        assert!(!s.exposes("gpt-5"));
        assert_eq!(s.provider_api_key, None, "a blank secret counts as unset");
    }

    #[test]
    fn every_problem_is_reported() {
        let problems = settings(&[
            (var::UPSTREAM_BASE_URL, "ftp://x"),
            (var::GATEWAY_KEYS, "nothex"),
            (var::MAX_BODY_BYTES, "lots"),
            (var::MAX_HEADER_BYTES, "10"),
        ])
        .unwrap_err();
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(problems[0].contains("UPSTREAM_BASE_URL"));
        assert!(problems[1].contains("GATEWAY_KEYS"));
        assert!(problems[2].contains("MAX_BODY_BYTES"));
        assert!(problems[3].contains("MAX_HEADER_BYTES"));
    }

    #[test]
    fn missing_keys_are_a_problem_not_an_open_door() {
        let problems = settings(&[(var::UPSTREAM_BASE_URL, "https://x")]).unwrap_err();
        assert!(problems
            .iter()
            .any(|p| p.contains("GATEWAY_KEYS is not set")));
    }
}
