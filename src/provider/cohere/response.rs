//! Cohere v2 chat and embed answers read into canonical values; the usage
//! and finish-reason readers are shared with the stream decoder.
//!
//! - Text is `message.content[]` items of type `text`, joined (`thinking`
//!   items left out); tool calls are `message.tool_calls`.
//! - `finish_reason`: `COMPLETE` → stop, `STOP_SEQUENCE` → stop sequence,
//!   `MAX_TOKENS` → length, `TOOL_CALL` → tool calls, anything else
//!   (`ERROR`, `TIMEOUT`, …) → `Other` (lower-cased).
//! - Usage: `usage.tokens.{input_tokens, output_tokens}`, else
//!   `usage.billed_units`; `usage.cached_tokens` when present. (Cohere's
//!   counts may be written as floats.)
//! - `model` is empty and `created` 0: Cohere's answer says neither.

use serde_json::Value;

use crate::canonical::json;
use crate::canonical::{
    ChatResponse, Choice, DecodeError, EmbeddingsResponse, FinishReason, ToolCall, Usage,
};

/// A Cohere `finish_reason` as canonical.
pub(super) fn finish_reason(reason: &str) -> FinishReason {
    match reason {
        "COMPLETE" => FinishReason::Stop,
        "STOP_SEQUENCE" => FinishReason::StopSequence(None),
        "MAX_TOKENS" => FinishReason::Length,
        "TOOL_CALL" => FinishReason::ToolCalls,
        other => FinishReason::Other(other.to_ascii_lowercase()),
    }
}

/// A token count written as an integer or a float.
fn count(value: Option<&Value>) -> Option<u64> {
    let value = value?;
    value.as_u64().or_else(|| {
        value
            .as_f64()
            .filter(|f| f.is_finite() && *f >= 0.0)
            .map(|f| f.min(u64::MAX as f64) as u64)
    })
}

/// A v2 `usage` object as canonical (`None` if it has no counts).
pub(super) fn usage(usage: &Value) -> Option<Usage> {
    let from = |group: &str| {
        let g = usage.get(group)?;
        let input = count(g.get("input_tokens"));
        let output = count(g.get("output_tokens"));
        (input.is_some() || output.is_some()).then(|| (input.unwrap_or(0), output.unwrap_or(0)))
    };
    let (input_tokens, output_tokens) = from("tokens").or_else(|| from("billed_units"))?;
    Some(Usage {
        input_tokens,
        output_tokens,
        cached_input_tokens: count(usage.get("cached_tokens")),
    })
}

/// A complete v2 chat answer.
pub fn chat_response(body: &[u8]) -> Result<ChatResponse, DecodeError> {
    const WHAT: &str = "Cohere chat response";
    let answer = json::parse_object(body, WHAT)?;
    let message = json::obj(&answer, "message", WHAT)?
        .ok_or_else(|| DecodeError::Malformed("the Cohere chat response has no `message`".into()))?;
    let mut text = String::new();
    for item in json::array(message, "content", WHAT)? {
        json::is_object(item, WHAT, "content")?;
        let kind = json::str(item, "type", WHAT)?.unwrap_or("");
        let item_text = json::str(item, "text", WHAT)?;
        if kind == "text" || kind.is_empty() {
            text.push_str(item_text.unwrap_or(""));
        }
    }
    let mut tool_calls = Vec::new();
    for (i, call) in json::array(message, "tool_calls", WHAT)?.iter().enumerate() {
        json::is_object(call, WHAT, "tool_calls")?;
        let id = json::str(call, "id", WHAT)?.filter(|id| !id.is_empty());
        let function = json::obj(call, "function", WHAT)?;
        let (name, arguments) = match function {
            Some(f) => (json::str(f, "name", WHAT)?, json::str(f, "arguments", WHAT)?),
            None => (None, None),
        };
        tool_calls.push(ToolCall {
            id: id.map_or_else(|| format!("call_{i}"), str::to_string),
            name: name.unwrap_or_default().to_string(),
            arguments: arguments.unwrap_or("{}").to_string(),
        });
    }
    let finish = json::str(&answer, "finish_reason", WHAT)?;
    Ok(ChatResponse {
        id: json::str(&answer, "id", WHAT)?.unwrap_or_default().to_string(),
        model: String::new(),
        created: 0,
        choices: vec![Choice {
            index: 0,
            text: if text.is_empty() && !tool_calls.is_empty() { None } else { Some(text) },
            tool_calls,
            finish_reason: finish.map(finish_reason),
        }],
        usage: json::get(&answer, "usage").and_then(usage),
    })
}

/// A v2 embed answer: `embeddings.float`, usage from `meta.billed_units`.
pub fn embeddings_response(body: &[u8]) -> Result<EmbeddingsResponse, DecodeError> {
    const WHAT: &str = "Cohere embed response";
    let answer = json::parse_object(body, WHAT)?;
    let Some(embeddings) = json::obj(&answer, "embeddings", WHAT)? else {
        return Err(DecodeError::Malformed(format!("{WHAT} has no `embeddings`")));
    };
    let Some(Value::Array(float)) = json::get(embeddings, "float") else {
        return Err(DecodeError::Malformed(format!("{WHAT} has no `embeddings.float` array")));
    };
    let vectors = crate::seq::try_map(float, |_, v| match v {
        Value::Array(items) => crate::seq::try_map(items, |_, x| json::number(x, WHAT, "float")),
        _ => Err(DecodeError::Malformed(format!("{WHAT}: `float` holds a non-array"))),
    })?;
    let usage = json::get(&answer, "meta")
        .and_then(|m| m.get("billed_units"))
        .and_then(|b| count(b.get("input_tokens")))
        .map(|input_tokens| Usage { input_tokens, output_tokens: 0, cached_input_tokens: None });
    Ok(EmbeddingsResponse { model: String::new(), vectors, usage })
}
