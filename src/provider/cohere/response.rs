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

use serde::Deserialize;
use serde_json::Value;

use crate::canonical::{
    ChatResponse, Choice, DecodeError, EmbeddingsResponse, FinishReason, ToolCall, Usage,
};

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ChatAnswer {
    id: String,
    /// Required: a body without it is not a chat answer.
    message: Option<AnswerMessage>,
    finish_reason: Option<String>,
    usage: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct AnswerMessage {
    content: Vec<ContentItem>,
    tool_calls: Vec<WireToolCall>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ContentItem {
    #[serde(rename = "type")]
    kind: String,
    text: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct WireToolCall {
    pub id: Option<String>,
    pub function: WireFunction,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct WireFunction {
    pub name: Option<String>,
    pub arguments: Option<String>,
}

pub(super) fn parse<T: for<'de> Deserialize<'de>>(body: &[u8], what: &str) -> Result<T, DecodeError> {
    serde_json::from_slice(body)
        .map_err(|e| DecodeError::Malformed(format!("Cohere {what} is not valid: {e}")))
}

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
    let answer: ChatAnswer = parse(body, "chat response")?;
    let message = answer
        .message
        .ok_or_else(|| DecodeError::Malformed("the Cohere chat response has no `message`".into()))?;
    let text: String = message
        .content
        .iter()
        .filter(|item| item.kind == "text" || item.kind.is_empty())
        .filter_map(|item| item.text.as_deref())
        .collect();
    let tool_calls: Vec<ToolCall> = message
        .tool_calls
        .into_iter()
        .enumerate()
        .map(|(i, call)| ToolCall {
            id: call.id.filter(|id| !id.is_empty()).unwrap_or_else(|| format!("call_{i}")),
            name: call.function.name.unwrap_or_default(),
            arguments: call.function.arguments.unwrap_or_else(|| "{}".to_string()),
        })
        .collect();
    Ok(ChatResponse {
        id: answer.id,
        model: String::new(),
        created: 0,
        choices: vec![Choice {
            index: 0,
            text: if text.is_empty() && !tool_calls.is_empty() { None } else { Some(text) },
            tool_calls,
            finish_reason: answer.finish_reason.as_deref().map(finish_reason),
        }],
        usage: answer.usage.as_ref().and_then(usage),
    })
}

#[derive(Deserialize)]
struct EmbedAnswer {
    embeddings: EmbeddingsByType,
    #[serde(default)]
    meta: Option<Value>,
}

#[derive(Deserialize)]
struct EmbeddingsByType {
    float: Vec<Vec<f32>>,
}

/// A v2 embed answer: `embeddings.float`, usage from `meta.billed_units`.
pub fn embeddings_response(body: &[u8]) -> Result<EmbeddingsResponse, DecodeError> {
    let answer: EmbedAnswer = parse(body, "embed response")?;
    let usage = answer
        .meta
        .as_ref()
        .and_then(|m| m.get("billed_units"))
        .and_then(|b| count(b.get("input_tokens")))
        .map(|input_tokens| Usage { input_tokens, output_tokens: 0, cached_input_tokens: None });
    Ok(EmbeddingsResponse { model: String::new(), vectors: answer.embeddings.float, usage })
}
