//! Which endpoint a request is for, decided from its method and path alone.
//!
//! Unknown paths are 404 and known paths with the wrong method are 405 (with
//! the allowed method named), before any body is read or key checked.

use crate::dialect::Dialect;
use crate::error::{Fault, GatewayError};

/// The endpoints the gateway serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `GET /health`: liveness, no key needed.
    Health,
    /// `GET /v1/models`: the models the configuration exposes.
    Models,
    /// `POST /v1/chat/completions`: OpenAI chat, JSON or SSE.
    ChatCompletions,
    /// `POST /v1/messages`: Anthropic Messages, JSON or SSE.
    Messages,
    /// `POST /v1/embeddings`: OpenAI embeddings.
    Embeddings,
    /// `GET /v1/switchyard/status`: breakers, limiters and load (admin keys only).
    Status,
    /// `GET /v1/switchyard/metrics`: counters and latency, JSON or Prometheus text (admin keys only).
    Metrics,
    /// `GET /dashboard`: the dashboard page (holds no data: no key needed; it asks for one).
    Dashboard,
}

impl Endpoint {
    /// The one method this endpoint accepts.
    pub fn method(self) -> &'static str {
        match self {
            Endpoint::Health | Endpoint::Models | Endpoint::Status | Endpoint::Metrics | Endpoint::Dashboard => "GET",
            Endpoint::ChatCompletions | Endpoint::Messages | Endpoint::Embeddings => "POST",
        }
    }

    /// The name route conditions use (`endpoint == "chat"`); `None` for
    /// endpoints that are never routed.
    pub fn route_name(self) -> Option<&'static str> {
        match self {
            Endpoint::ChatCompletions => Some("chat"),
            Endpoint::Messages => Some("messages"),
            Endpoint::Embeddings => Some("embeddings"),
            Endpoint::Health | Endpoint::Models | Endpoint::Status | Endpoint::Metrics | Endpoint::Dashboard => None,
        }
    }

    /// The wire format a client of `path` speaks, known before anything
    /// else about the request, so that even a 401 or 404 is in its shape.
    pub fn dialect_of(path: &str) -> Dialect {
        if path == "/v1/messages" || path.starts_with("/v1/messages/") {
            Dialect::Anthropic
        } else {
            Dialect::OpenAi
        }
    }

    /// Whether a gateway key is required.
    pub fn requires_key(self) -> bool {
        !matches!(self, Endpoint::Health | Endpoint::Dashboard)
    }

    /// Resolves `method path` to an endpoint, or the 404 / 405 to answer.
    pub fn resolve(method: &str, path: &str) -> Result<Endpoint, GatewayError> {
        let path = path
            .strip_suffix('/')
            .filter(|p| !p.is_empty())
            .unwrap_or(path);
        let endpoint = match path {
            "/health" => Endpoint::Health,
            "/v1/models" => Endpoint::Models,
            "/v1/chat/completions" => Endpoint::ChatCompletions,
            "/v1/messages" => Endpoint::Messages,
            "/v1/embeddings" => Endpoint::Embeddings,
            "/v1/switchyard/status" => Endpoint::Status,
            "/v1/switchyard/metrics" => Endpoint::Metrics,
            "/dashboard" => Endpoint::Dashboard,
            _ => {
                return Err(GatewayError::new(
                    Fault::NotFound,
                    format!("Unknown path `{}`.", truncate(path, 200)),
                ))
            }
        };
        let allowed = endpoint.method();
        // HEAD is GET without a body; the runtime drops the body for us.
        if method.eq_ignore_ascii_case(allowed)
            || (allowed == "GET" && method.eq_ignore_ascii_case("HEAD"))
        {
            Ok(endpoint)
        } else {
            Err(GatewayError::new(
                Fault::MethodNotAllowed { allow: allowed },
                format!("`{path}` accepts {allowed}, not {}.", truncate(method, 20)),
            ))
        }
    }
}

fn truncate(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((cut, _)) => &text[..cut],
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_endpoints() {
        assert_eq!(
            Endpoint::resolve("POST", "/v1/chat/completions"),
            Ok(Endpoint::ChatCompletions)
        );
        assert_eq!(
            Endpoint::resolve("GET", "/v1/models/"),
            Ok(Endpoint::Models)
        );
        assert_eq!(Endpoint::resolve("HEAD", "/health"), Ok(Endpoint::Health));
        assert_eq!(Endpoint::resolve("POST", "/v1/messages"), Ok(Endpoint::Messages));
        assert_eq!(Endpoint::resolve("POST", "/v1/embeddings/"), Ok(Endpoint::Embeddings));
        assert_eq!(Endpoint::Messages.route_name(), Some("messages"));
        assert_eq!(Endpoint::Models.route_name(), None);
        assert_eq!(Endpoint::resolve("GET", "/v1/switchyard/status"), Ok(Endpoint::Status));
        assert!(Endpoint::Status.requires_key());
        assert_eq!(Endpoint::resolve("POST", "/v1/switchyard/status").unwrap_err().status(), 405);
        assert_eq!(Endpoint::resolve("GET", "/v1/switchyard/metrics"), Ok(Endpoint::Metrics));
        assert!(Endpoint::Metrics.requires_key());
        assert_eq!(Endpoint::resolve("GET", "/dashboard/"), Ok(Endpoint::Dashboard));
        assert!(!Endpoint::Dashboard.requires_key());
    }

    #[test]
    fn the_dialect_comes_from_the_path() {
        assert_eq!(Endpoint::dialect_of("/v1/messages"), Dialect::Anthropic);
        assert_eq!(Endpoint::dialect_of("/v1/messages/count_tokens"), Dialect::Anthropic);
        assert_eq!(Endpoint::dialect_of("/v1/chat/completions"), Dialect::OpenAi);
        assert_eq!(Endpoint::dialect_of("/nope"), Dialect::OpenAi);
    }

    #[test]
    fn unknown_path_is_404() {
        let err = Endpoint::resolve("GET", "/v2/nope").unwrap_err();
        assert_eq!(err.status(), 404);
        assert!(err.message.contains("/v2/nope"));
        assert_eq!(Endpoint::resolve("GET", "/").unwrap_err().status(), 404);
    }

    #[test]
    fn wrong_method_is_405_and_names_the_right_one() {
        let err = Endpoint::resolve("GET", "/v1/chat/completions").unwrap_err();
        assert_eq!(err.status(), 405);
        assert!(err.message.contains("POST"));
        assert_eq!(
            Endpoint::resolve("DELETE", "/v1/models")
                .unwrap_err()
                .status(),
            405
        );
    }

    #[test]
    fn only_health_and_the_dashboard_page_are_open() {
        assert!(!Endpoint::Health.requires_key());
        assert!(Endpoint::Models.requires_key());
        assert!(Endpoint::ChatCompletions.requires_key());
    }

    #[test]
    fn long_paths_are_truncated_in_messages() {
        let path = format!("/{}", "a".repeat(1000));
        assert!(Endpoint::resolve("GET", &path).unwrap_err().message.len() < 300);
    }
}
