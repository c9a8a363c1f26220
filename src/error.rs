//! The gateway's one error type.
//!
//! Every failure a client can see is a [`GatewayError`]: a [`Fault`] saying
//! who is at fault and what happened, plus a human message. The fault fixes
//! the HTTP status, the OpenAI `type`/`code` fields and the short `kind()` used
//! in logs. Rendering lives here too, so every error body has the same shape:
//! `{"error":{"message","type","param","code"}}` as OpenAI's SDKs expect.
//!
//! Messages are built by the gateway from known text, never from secrets; text
//! that comes from an upstream is redacted before it gets here
//! (see [`crate::upstream::redact`]).

use crate::engine::Attempt;
use std::fmt;

/// What went wrong, grouped by who is at fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    // --- the client sent something we cannot serve ---
    /// Body is not JSON, or not the request the endpoint expects.
    BadRequest,
    /// Body larger than the configured limit.
    PayloadTooLarge,
    /// Request headers larger than the configured limit.
    HeadersTooLarge,
    /// No such endpoint.
    NotFound,
    /// The endpoint exists but not with this method; `allow` is the one it takes.
    MethodNotAllowed { allow: &'static str },
    /// No route of the routing plan takes the request (reported as a model
    /// the gateway does not have, as OpenAI does).
    ModelNotFound,
    // --- authentication ---
    /// No gateway key in `Authorization: Bearer` or `x-api-key`.
    MissingKey,
    /// A gateway key was sent but it is not one of ours.
    InvalidKey,
    /// The key is ours but may not do this (the status endpoint needs an admin key).
    Forbidden,
    // --- limits and breakers ---
    /// Over a rate limit of the route, the gateway key or every provider.
    RateLimited,
    /// The gateway key's spend budget for the period is used up (OpenAI's
    /// `insufficient_quota`).
    QuotaExceeded,
    /// Every target is unavailable (circuit breakers open).
    Unavailable,
    // --- the upstream provider ---
    /// The provider answered with an error status (carried).
    UpstreamStatus(u16),
    /// The provider could not be reached (DNS, connect, reset).
    UpstreamUnreachable,
    /// The provider did not answer within the attempt timeout.
    UpstreamTimeout,
    /// The provider answered 2xx with a body that is not what it should be.
    UpstreamMalformed,
    /// The provider's stream stopped before its end marker.
    UpstreamIncomplete,
    // --- ours ---
    /// The deployment is misconfigured (a missing or invalid variable).
    Misconfigured,
    /// A bug or a runtime failure on our side.
    Internal,
}

impl Fault {
    /// The HTTP status this fault is reported with.
    pub fn status(self) -> u16 {
        match self {
            Fault::BadRequest => 400,
            Fault::PayloadTooLarge => 413,
            Fault::HeadersTooLarge => 431,
            Fault::NotFound | Fault::ModelNotFound => 404,
            Fault::MethodNotAllowed { .. } => 405,
            Fault::MissingKey | Fault::InvalidKey => 401,
            Fault::Forbidden => 403,
            Fault::RateLimited | Fault::QuotaExceeded => 429,
            Fault::Unavailable => 503,
            Fault::UpstreamStatus(status) => status,
            Fault::UpstreamUnreachable | Fault::UpstreamMalformed | Fault::UpstreamIncomplete => {
                502
            }
            Fault::UpstreamTimeout => 504,
            Fault::Misconfigured | Fault::Internal => 500,
        }
    }

    /// A short, stable name for logs and metrics.
    pub fn kind(self) -> &'static str {
        match self {
            Fault::BadRequest => "bad_request",
            Fault::PayloadTooLarge => "payload_too_large",
            Fault::HeadersTooLarge => "headers_too_large",
            Fault::NotFound => "not_found",
            Fault::MethodNotAllowed { .. } => "method_not_allowed",
            Fault::ModelNotFound => "model_not_found",
            Fault::MissingKey => "missing_key",
            Fault::InvalidKey => "invalid_key",
            Fault::Forbidden => "forbidden",
            Fault::RateLimited => "rate_limited",
            Fault::QuotaExceeded => "insufficient_quota",
            Fault::Unavailable => "targets_unavailable",
            Fault::UpstreamStatus(_) => "upstream_status",
            Fault::UpstreamUnreachable => "upstream_unreachable",
            Fault::UpstreamTimeout => "upstream_timeout",
            Fault::UpstreamMalformed => "upstream_malformed",
            Fault::UpstreamIncomplete => "upstream_incomplete",
            Fault::Misconfigured => "misconfigured",
            Fault::Internal => "internal_error",
        }
    }

    /// Whether another attempt (same or other provider) could succeed.
    pub fn is_retryable(self) -> bool {
        match self {
            Fault::UpstreamStatus(status) => status == 429 || status >= 500,
            Fault::UpstreamUnreachable
            | Fault::UpstreamTimeout
            | Fault::UpstreamMalformed
            | Fault::UpstreamIncomplete => true,
            _ => false,
        }
    }

    /// The OpenAI error `type` field.
    fn openai_type(self) -> &'static str {
        match self {
            Fault::MissingKey | Fault::InvalidKey => "authentication_error",
            Fault::Forbidden => "permission_error",
            Fault::UpstreamStatus(429) | Fault::RateLimited => "rate_limit_error",
            Fault::QuotaExceeded => "insufficient_quota",
            Fault::Unavailable => "server_error",
            Fault::UpstreamStatus(status) if status < 500 => "invalid_request_error",
            Fault::UpstreamStatus(_)
            | Fault::UpstreamUnreachable
            | Fault::UpstreamTimeout
            | Fault::UpstreamMalformed
            | Fault::UpstreamIncomplete => "upstream_error",
            Fault::Misconfigured | Fault::Internal => "server_error",
            _ => "invalid_request_error",
        }
    }

    /// The OpenAI error `code` field.
    fn openai_code(self) -> &'static str {
        match self {
            Fault::MissingKey => "missing_api_key",
            Fault::InvalidKey => "invalid_api_key",
            Fault::RateLimited => "rate_limit_exceeded",
            Fault::UpstreamStatus(_) => "upstream_error",
            other => other.kind(),
        }
    }
}

/// An error a client receives: what went wrong and a message saying so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayError {
    pub fault: Fault,
    pub message: String,
    /// The request field at fault, when there is one (OpenAI's `param`).
    pub param: Option<&'static str>,
}

impl GatewayError {
    pub fn new(fault: Fault, message: impl Into<String>) -> Self {
        Self {
            fault,
            message: message.into(),
            param: None,
        }
    }

    /// Names the request field at fault.
    pub fn with_param(mut self, param: &'static str) -> Self {
        self.param = Some(param);
        self
    }

    pub fn status(&self) -> u16 {
        self.fault.status()
    }

    pub fn kind(&self) -> &'static str {
        self.fault.kind()
    }

    /// Headers the response must carry besides the body (e.g. `Allow` on a 405).
    pub fn response_headers(&self) -> Vec<(&'static str, String)> {
        match self.fault {
            Fault::MethodNotAllowed { allow } => vec![("allow", allow.to_string())],
            _ => Vec::new(),
        }
    }

    /// The OpenAI-format body: `{"error":{"message","type","param","code"}}`.
    pub fn openai_body(&self) -> String {
        self.openai_body_with_attempts(None)
    }

    /// The same, with the engine's attempt trail as `error.attempts`
    /// (written by hand: the text of the derive in the tests).
    pub fn openai_body_with_attempts(&self, attempts: Option<&[Attempt]>) -> String {
        use crate::json_out::{key, quote, text_or_null};
        let mut out = String::with_capacity(128 + self.message.len());
        out.push_str("{\"error\":{");
        key(&mut out, "message", true);
        quote(&mut out, &self.message);
        key(&mut out, "type", false);
        quote(&mut out, self.fault.openai_type());
        key(&mut out, "param", false);
        text_or_null(&mut out, self.param);
        key(&mut out, "code", false);
        quote(&mut out, self.fault.openai_code());
        if let Some(attempts) = attempts {
            key(&mut out, "attempts", false);
            crate::engine::trail::write(&mut out, attempts);
        }
        out.push_str("}}");
        out
    }
}

impl fmt::Display for GatewayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.kind(), self.status(), self.message)
    }
}

impl std::error::Error for GatewayError {}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    /// The body as the derive wrote it before.
    fn derived(e: &GatewayError, attempts: Option<&[Attempt]>) -> String {
        #[derive(serde::Serialize)]
        struct Body<'a> {
            error: Inner<'a>,
        }
        #[derive(serde::Serialize)]
        struct Inner<'a> {
            message: &'a str,
            #[serde(rename = "type")]
            kind: &'a str,
            param: Option<&'a str>,
            code: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            attempts: Option<&'a [Attempt]>,
        }
        let error = Inner { message: &e.message, kind: e.fault.openai_type(), param: e.param, code: e.fault.openai_code(), attempts };
        serde_json::to_string(&Body { error }).unwrap()
    }

    #[test]
    fn the_hand_written_body_is_the_derives() {
        let attempt = Attempt {
            provider: "p".into(),
            model: "m\"".into(),
            key: Some(1),
            outcome: "429".into(),
            status: Some(429),
            duration_ms: 3,
            waited_ms: 0,
            reason: None,
        };
        let skipped = Attempt { reason: Some("breaker_open"), key: None, status: None, ..attempt.clone() };
        for e in [
            GatewayError::new(Fault::BadRequest, "`messages` is \"required\"\n").with_param("messages"),
            GatewayError::new(Fault::UpstreamStatus(503), ""),
            GatewayError::new(Fault::MethodNotAllowed { allow: "GET" }, "é\u{1}"),
        ] {
            for attempts in [None, Some(vec![]), Some(vec![attempt.clone(), skipped.clone()])] {
                assert_eq!(e.openai_body_with_attempts(attempts.as_deref()), derived(&e, attempts.as_deref()));
            }
            assert_eq!(e.openai_body(), derived(&e, None));
        }
    }

    #[test]
    fn body_has_openai_shape() {
        let e =
            GatewayError::new(Fault::BadRequest, "`messages` is required").with_param("messages");
        let v: Value = serde_json::from_str(&e.openai_body()).unwrap();
        assert_eq!(v["error"]["message"], "`messages` is required");
        assert_eq!(v["error"]["type"], "invalid_request_error");
        assert_eq!(v["error"]["param"], "messages");
        assert_eq!(v["error"]["code"], "bad_request");
    }

    #[test]
    fn statuses_follow_the_fault() {
        assert_eq!(Fault::PayloadTooLarge.status(), 413);
        assert_eq!(Fault::InvalidKey.status(), 401);
        assert_eq!(Fault::MethodNotAllowed { allow: "GET" }.status(), 405);
        assert_eq!(Fault::UpstreamStatus(503).status(), 503);
        assert_eq!(Fault::UpstreamTimeout.status(), 504);
    }

    #[test]
    fn auth_errors_use_openai_codes() {
        let v: Value =
            serde_json::from_str(&GatewayError::new(Fault::InvalidKey, "x").openai_body()).unwrap();
        assert_eq!(v["error"]["type"], "authentication_error");
        assert_eq!(v["error"]["code"], "invalid_api_key");
        assert_eq!(v["error"]["param"], Value::Null);
    }

    #[test]
    fn a_405_names_the_allowed_method() {
        let e = GatewayError::new(Fault::MethodNotAllowed { allow: "POST" }, "x");
        assert_eq!(e.response_headers(), vec![("allow", "POST".to_string())]);
        assert!(GatewayError::new(Fault::BadRequest, "x")
            .response_headers()
            .is_empty());
    }

    #[test]
    fn limits_and_breakers_have_their_statuses_and_codes() {
        let v: Value = serde_json::from_str(&GatewayError::new(Fault::RateLimited, "x").openai_body()).unwrap();
        assert_eq!((v["error"]["type"].as_str(), v["error"]["code"].as_str()), (Some("rate_limit_error"), Some("rate_limit_exceeded")));
        assert_eq!(Fault::RateLimited.status(), 429);
        assert_eq!(Fault::Unavailable.status(), 503);
        assert_eq!(Fault::Unavailable.kind(), "targets_unavailable");
        assert_eq!(Fault::Forbidden.status(), 403);
    }

    #[test]
    fn retryable_classes() {
        assert!(Fault::UpstreamStatus(429).is_retryable());
        assert!(Fault::UpstreamStatus(503).is_retryable());
        assert!(!Fault::UpstreamStatus(400).is_retryable());
        assert!(Fault::UpstreamTimeout.is_retryable());
        assert!(!Fault::BadRequest.is_retryable());
    }
}
