//! Anthropic's complete answers: a `message` object, or an error body.

use super::wire::{arguments_of, finish_reason, UsageFields};
use crate::canonical::{
    ChatResponse, Choice, DecodeError, ErrorClass, FinishReason, ProviderError, ToolCall,
};
use serde_json::Value;

/// A 2xx `message` answer: text blocks joined, `tool_use` blocks as tool
/// calls, `stop_reason` mapped, usage with cache reads and writes counted
/// in the prompt. Thinking and server-tool blocks are left out.
///
/// Anthropic has no `created` time: it is 0, for the caller to fill in.
pub fn chat_response(body: &[u8]) -> Result<ChatResponse, DecodeError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| DecodeError::Malformed(format!("the Anthropic answer is not JSON: {e}")))?;
    let Some(message) = value.as_object() else {
        return Err(malformed("the Anthropic answer is not a JSON object"));
    };
    if message.get("type").and_then(Value::as_str) == Some("error") {
        let text = value.pointer("/error/message").and_then(Value::as_str).unwrap_or("");
        return Err(DecodeError::Malformed(format!(
            "the Anthropic answer is an error object with a 2xx status: {text}"
        )));
    }
    let id = message
        .get("id")
        .and_then(Value::as_str)
        .ok_or_else(|| malformed("the Anthropic message has no string `id`"))?;
    let model = message.get("model").and_then(Value::as_str).unwrap_or_default();
    let content = message
        .get("content")
        .and_then(Value::as_array)
        .ok_or_else(|| malformed("the Anthropic message has no `content` array"))?;

    let mut text: Option<String> = None;
    let mut tool_calls = Vec::new();
    for (i, block) in content.iter().enumerate() {
        match block.get("type").and_then(Value::as_str) {
            Some("text") => {
                let piece = block.get("text").and_then(Value::as_str).ok_or_else(|| {
                    DecodeError::Malformed(format!("`content[{i}]` is a text block without `text`"))
                })?;
                text.get_or_insert_with(String::new).push_str(piece);
            }
            Some("tool_use") => {
                let field = |name: &str| {
                    block.get(name).and_then(Value::as_str).ok_or_else(|| {
                        DecodeError::Malformed(format!("`content[{i}]` is a tool_use block without `{name}`"))
                    })
                };
                tool_calls.push(ToolCall {
                    id: field("id")?.to_string(),
                    name: field("name")?.to_string(),
                    arguments: arguments_of(block.get("input").unwrap_or(&Value::Null)),
                });
            }
            Some(_) => {}
            None => {
                return Err(DecodeError::Malformed(format!("`content[{i}]` has no `type`")));
            }
        }
    }
    let stop_sequence = message.get("stop_sequence").and_then(Value::as_str);
    let reason = message
        .get("stop_reason")
        .and_then(Value::as_str)
        .map(|r| finish_reason(r, stop_sequence));
    let empty = text.as_deref().is_none_or(str::is_empty);
    if reason == Some(FinishReason::ContentFilter) && empty && tool_calls.is_empty() {
        return Err(DecodeError::Refused(
            "Anthropic declined to answer (stop_reason `refusal`).".into(),
        ));
    }
    if empty && !tool_calls.is_empty() {
        text = None;
    }
    Ok(ChatResponse {
        id: id.to_string(),
        model: model.to_string(),
        created: 0,
        choices: vec![Choice {
            index: 0,
            text: text.or_else(|| tool_calls.is_empty().then(String::new)),
            tool_calls,
            finish_reason: reason,
        }],
        usage: UsageFields::read(message.get("usage")).map(|u| u.canonical()),
    })
}

fn malformed(what: &str) -> DecodeError {
    DecodeError::Malformed(what.to_string())
}

/// What an Anthropic error answer means: the class from `error.type`
/// (`prompt is too long` is a context-length error, a content-filtering
/// message a policy one), from the status when the body has no type; the
/// message is Anthropic's own.
pub fn error(status: u16, body: &str) -> ProviderError {
    let value: Option<Value> = serde_json::from_slice(body.as_bytes()).ok();
    let detail = value.as_ref().and_then(|v| v.get("error"));
    let kind = detail.and_then(|e| e.get("type")).and_then(Value::as_str);
    let message = detail
        .and_then(|e| e.get("message"))
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| value.as_ref().and_then(|v| v.get("message")).and_then(Value::as_str).map(str::to_string))
        .unwrap_or_else(|| fallback_message(status, body));
    let class = match kind {
        Some("rate_limit_error") => ErrorClass::RateLimit,
        Some("overloaded_error") => ErrorClass::Overloaded,
        Some("authentication_error" | "permission_error" | "billing_error") => ErrorClass::Auth,
        Some("not_found_error") => ErrorClass::NotFound,
        Some("api_error" | "timeout_error") => ErrorClass::Server,
        Some("invalid_request_error" | "request_too_large") => request_class(&message),
        _ => match status {
            429 => ErrorClass::RateLimit,
            503 | 529 => ErrorClass::Overloaded,
            401..=403 => ErrorClass::Auth,
            404 => ErrorClass::NotFound,
            400..=499 => request_class(&message),
            _ => ErrorClass::Server,
        },
    };
    ProviderError { class, message }
}

/// A request error: context length and content policy are told by the message.
fn request_class(message: &str) -> ErrorClass {
    let lower = message.to_ascii_lowercase();
    let says = |needles: &[&str]| needles.iter().any(|n| lower.contains(n));
    if says(&["prompt is too long", "context window", "context length", "too many tokens"]) {
        ErrorClass::ContextLength
    } else if says(&["content filtering", "usage policy", "usage policies"]) {
        ErrorClass::ContentPolicy
    } else {
        ErrorClass::BadRequest
    }
}

/// The body's text (at most 500 characters) when it carries no message.
fn fallback_message(status: u16, body: &str) -> String {
    let text = body.trim();
    if text.is_empty() {
        return format!("Anthropic answered HTTP {status} with no error message.");
    }
    match text.char_indices().nth(500) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.to_string(),
    }
}
