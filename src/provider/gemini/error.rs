//! Google error bodies (`{"error":{"code":429,"message":…,"status":
//! "RESOURCE_EXHAUSTED","details":[…]}}`, sometimes wrapped in an array)
//! classified into an [`ErrorClass`], the message kept as Google wrote it.
//!
//! By `status` first: `RESOURCE_EXHAUSTED` → rate limit; `INVALID_ARGUMENT`
//! → context length when the message is about the token limit, auth when
//! it is about the API key (Google answers a bad key with a 400 whose
//! detail reason is `API_KEY_INVALID`), else bad request;
//! `FAILED_PRECONDITION` / `OUT_OF_RANGE` → bad request;
//! `UNAUTHENTICATED` / `PERMISSION_DENIED` → auth; `NOT_FOUND` → not
//! found; `UNAVAILABLE` → overloaded; `INTERNAL` / `DEADLINE_EXCEEDED` /
//! `UNKNOWN` → server. Without a known status, by HTTP status.

use serde_json::Value;

use crate::canonical::{ErrorClass, ProviderError};

/// What an error answer means.
pub fn error(status: u16, body: &str) -> ProviderError {
    let parsed: Option<Value> = serde_json::from_slice(body.as_bytes()).ok();
    let detail = parsed.as_ref().and_then(|v| match v {
        Value::Array(items) => items.first().and_then(|first| first.get("error")),
        other => other.get("error"),
    });
    let message = detail
        .and_then(|d| d.get("message"))
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| fallback_message(status, body));
    let google_status = detail.and_then(|d| d.get("status")).and_then(Value::as_str).unwrap_or("");
    let reasons: Vec<&str> = detail
        .and_then(|d| d.get("details"))
        .and_then(Value::as_array)
        .map(|details| crate::seq::keep(details, |d| d.get("reason")?.as_str()))
        .unwrap_or_default();
    let class = classify(status, google_status, &message, &reasons);
    ProviderError { class, message }
}

fn fallback_message(status: u16, body: &str) -> String {
    let body = body.trim();
    if body.is_empty() {
        format!("Gemini answered with HTTP {status}")
    } else {
        body.to_string()
    }
}

fn classify(status: u16, google_status: &str, message: &str, reasons: &[&str]) -> ErrorClass {
    let lower = message.to_ascii_lowercase();
    let about_key = reasons.iter().any(|r| r.starts_with("API_KEY_"))
        || lower.contains("api key not valid")
        || lower.contains("api key expired");
    let about_tokens = lower.contains("token count")
        || lower.contains("number of tokens")
        || lower.contains("too many tokens")
        || lower.contains("context length")
        || lower.contains("context window");
    match google_status {
        "RESOURCE_EXHAUSTED" => ErrorClass::RateLimit,
        "INVALID_ARGUMENT" if about_key => ErrorClass::Auth,
        "INVALID_ARGUMENT" if about_tokens => ErrorClass::ContextLength,
        "INVALID_ARGUMENT" | "FAILED_PRECONDITION" | "OUT_OF_RANGE" => ErrorClass::BadRequest,
        "UNAUTHENTICATED" | "PERMISSION_DENIED" => ErrorClass::Auth,
        "NOT_FOUND" => ErrorClass::NotFound,
        "UNAVAILABLE" => ErrorClass::Overloaded,
        "INTERNAL" | "DEADLINE_EXCEEDED" | "UNKNOWN" | "DATA_LOSS" => ErrorClass::Server,
        _ => match status {
            429 => ErrorClass::RateLimit,
            400 if about_key => ErrorClass::Auth,
            400 | 413 if about_tokens => ErrorClass::ContextLength,
            401 | 403 => ErrorClass::Auth,
            404 => ErrorClass::NotFound,
            503 | 529 => ErrorClass::Overloaded,
            500..=599 => ErrorClass::Server,
            _ => ErrorClass::BadRequest,
        },
    }
}
