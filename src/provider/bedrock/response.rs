//! Bedrock's answers read back: a `Converse` JSON body as a canonical
//! [`ChatResponse`], and an error body as a [`ProviderError`].
//!
//! Converse bodies carry no id, model or timestamp (the id is the
//! `x-amzn-requestid` header): the response has them empty / 0 for the
//! caller to fill in.
//!
//! Usage: Bedrock counts `inputTokens` apart from `cacheReadInputTokens`
//! and `cacheWriteInputTokens`, so the canonical `input_tokens` (cached
//! ones included) is their sum and `cached_input_tokens` the cache reads.

use serde_json::Value;

use crate::canonical::{
    ChatResponse, Choice, DecodeError, ErrorClass, FinishReason, ProviderError, ToolCall, Usage,
};

fn malformed(message: impl Into<String>) -> DecodeError {
    DecodeError::Malformed(message.into())
}

/// A Converse `stopReason` as a finish reason.
pub fn finish_reason(stop_reason: &str) -> FinishReason {
    match stop_reason {
        "end_turn" => FinishReason::Stop,
        "tool_use" => FinishReason::ToolCalls,
        "max_tokens" | "model_context_window_exceeded" => FinishReason::Length,
        "stop_sequence" => FinishReason::StopSequence(None),
        "guardrail_intervened" | "content_filtered" => FinishReason::ContentFilter,
        other => FinishReason::Other(other.to_string()),
    }
}

fn count(usage: &Value, name: &str) -> Result<Option<u64>, DecodeError> {
    match usage.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .map(Some)
            .ok_or_else(|| malformed(format!("Bedrock usage `{name}` is not a count"))),
    }
}

/// A Converse `usage` object (also the stream's `metadata.usage`).
pub fn usage(usage: &Value) -> Result<Usage, DecodeError> {
    if !usage.is_object() {
        return Err(malformed("Bedrock `usage` is not an object"));
    }
    let input = count(usage, "inputTokens")?.unwrap_or(0);
    let read = count(usage, "cacheReadInputTokens")?;
    let write = count(usage, "cacheWriteInputTokens")?.unwrap_or(0);
    Ok(Usage {
        input_tokens: input
            .saturating_add(read.unwrap_or(0))
            .saturating_add(write),
        output_tokens: count(usage, "outputTokens")?.unwrap_or(0),
        cached_input_tokens: read,
    })
}

/// A complete `Converse` answer.
pub fn chat_response(body: &[u8]) -> Result<ChatResponse, DecodeError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| malformed(format!("Bedrock Converse answer is not JSON: {e}")))?;
    let message = v
        .pointer("/output/message")
        .filter(|m| m.is_object())
        .ok_or_else(|| malformed("Bedrock Converse answer has no `output.message`"))?;
    let blocks = match message.get("content") {
        Some(Value::Array(blocks)) => blocks.as_slice(),
        None | Some(Value::Null) => &[],
        Some(_) => return Err(malformed("Bedrock `output.message.content` is not a list")),
    };
    let mut text: Option<String> = None;
    let mut tool_calls = Vec::new();
    for block in blocks {
        if let Some(t) = block.get("text") {
            let t = t
                .as_str()
                .ok_or_else(|| malformed("Bedrock text block is not a string"))?;
            text.get_or_insert_with(String::new).push_str(t);
        } else if let Some(tool) = block.get("toolUse") {
            let field = |name: &str| {
                tool.get(name)
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .ok_or_else(|| malformed(format!("Bedrock toolUse block has no `{name}`")))
            };
            let input = tool
                .get("input")
                .cloned()
                .unwrap_or_else(|| Value::Object(Default::default()));
            tool_calls.push(ToolCall {
                id: field("toolUseId")?,
                name: field("name")?,
                arguments: crate::json_out::value_text(&input),
            });
        }
        // reasoningContent, citations, images, ... have no canonical place.
    }
    let stop_reason = match v.get("stopReason") {
        Some(Value::String(s)) => Some(s.as_str()),
        None | Some(Value::Null) => None,
        Some(_) => return Err(malformed("Bedrock `stopReason` is not a string")),
    };
    if let Some(reason @ ("guardrail_intervened" | "content_filtered")) = stop_reason {
        if text.as_deref().is_none_or(|t| t.trim().is_empty()) && tool_calls.is_empty() {
            return Err(DecodeError::Refused(format!(
                "Bedrock stopped the answer on content grounds ({reason})."
            )));
        }
    }
    let usage = match v.get("usage") {
        None | Some(Value::Null) => None,
        Some(u) => Some(usage(u)?),
    };
    Ok(ChatResponse {
        id: String::new(),
        model: String::new(),
        created: 0,
        choices: vec![Choice {
            index: 0,
            text,
            tool_calls,
            finish_reason: stop_reason.map(finish_reason),
        }],
        usage,
    })
}

/// The exception name of a Bedrock error body's `__type`
/// (`com.amazon.coral.validate#ValidationException` → `ValidationException`).
fn type_name(raw: &str) -> &str {
    let name = raw.rsplit('#').next().unwrap_or(raw);
    name.split(':').next().unwrap_or(name).trim()
}

fn context_hint(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    [
        "too long",
        "too many tokens",
        "max tokens",
        "maximum tokens",
        "max_tokens",
        "maximum context",
        "context length",
        "context window",
        "maximum number of tokens",
    ]
    .iter()
    .any(|hint| m.contains(hint))
}

fn policy_hint(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("content filter") || m.contains("content policy") || m.contains("blocked by")
}

/// What a Bedrock error answer (`status`, the start of its body) means.
pub fn error(status: u16, body: &str) -> ProviderError {
    let v: Option<Value> = serde_json::from_slice(body.as_bytes()).ok();
    let field = |name: &str| {
        v.as_ref()
            .and_then(|v| v.get(name))
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
    };
    let kind = field("__type")
        .or_else(|| field("code"))
        .map(type_name)
        .unwrap_or("");
    let message = field("message")
        .or_else(|| field("Message"))
        .map(str::to_string)
        .unwrap_or_else(|| {
            let trimmed = body.trim();
            if trimmed.is_empty() {
                format!("Bedrock answered HTTP {status} with no body.")
            } else {
                trimmed.chars().take(1000).collect()
            }
        });
    let kind_lower = kind.to_ascii_lowercase();
    let mut name = kind_lower.as_str();
    while let Some(rest) = name.strip_suffix("exception") {
        name = rest;
    }
    let class = match name {
        "throttling" | "servicequotaexceeded" | "toomanyrequests" => ErrorClass::RateLimit,
        "accessdenied"
        | "unrecognizedclient"
        | "expiredtoken"
        | "invalidsignature"
        | "incompletesignature"
        | "missingauthenticationtoken" => ErrorClass::Auth,
        "resourcenotfound" => ErrorClass::NotFound,
        "modelnotready" | "serviceunavailable" => ErrorClass::Overloaded,
        "internalserver" | "internalfailure" | "modelerror" | "modeltimeout"
        | "modelstreamerror" => ErrorClass::Server,
        "validation" | "serialization" if context_hint(&message) => ErrorClass::ContextLength,
        "validation" if policy_hint(&message) => ErrorClass::ContentPolicy,
        "validation" | "serialization" => ErrorClass::BadRequest,
        _ => match status {
            400 | 413 if context_hint(&message) => ErrorClass::ContextLength,
            400 if policy_hint(&message) => ErrorClass::ContentPolicy,
            401 | 403 => ErrorClass::Auth,
            404 => ErrorClass::NotFound,
            429 => ErrorClass::RateLimit,
            503 | 529 => ErrorClass::Overloaded,
            s if s >= 500 => ErrorClass::Server,
            424 | 408 => ErrorClass::Server,
            _ => ErrorClass::BadRequest,
        },
    };
    ProviderError { class, message }
}
