//! Cohere error bodies (`{"id": …, "message": …}`) classified into an
//! [`ErrorClass`], the message kept as Cohere wrote it.
//!
//! By HTTP status: 429 → rate limit; 400 / 422 about too many tokens or the
//! context length → context length, other 400 / 422 → bad request; 401,
//! 403 and 498 (Cohere's invalid token) → auth; 404 → not found; 503 →
//! overloaded; 499 and other 5xx → server; other 4xx → bad request.

use serde_json::Value;

use crate::canonical::{ErrorClass, ProviderError};

/// What an error answer means.
pub fn error(status: u16, body: &str) -> ProviderError {
    let parsed: Option<Value> = serde_json::from_slice(body.as_bytes()).ok();
    let message = parsed
        .as_ref()
        .and_then(|v| v.get("message").or_else(|| v.pointer("/error/message")))
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| {
            let body = body.trim();
            if body.is_empty() {
                format!("Cohere answered with HTTP {status}")
            } else {
                body.to_string()
            }
        });
    let lower = message.to_ascii_lowercase();
    let about_tokens = lower.contains("too many tokens")
        || lower.contains("context length")
        || lower.contains("context window")
        || lower.contains("maximum number of tokens")
        || lower.contains("prompt is too long");
    let class = match status {
        429 => ErrorClass::RateLimit,
        400 | 413 | 422 if about_tokens => ErrorClass::ContextLength,
        401 | 403 | 498 => ErrorClass::Auth,
        404 => ErrorClass::NotFound,
        503 => ErrorClass::Overloaded,
        499..=599 => ErrorClass::Server,
        _ => ErrorClass::BadRequest,
    };
    ProviderError { class, message }
}
