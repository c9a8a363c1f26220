//! Complete answers and errors in Anthropic's shapes: the `message`
//! object, `{"type":"error","error":{...}}` bodies and the terminal
//! `event: error` of a stream.

use crate::canonical::{ChatResponse, FinishReason, Usage};
use crate::engine::Attempt;
use crate::error::{Fault, GatewayError};
use crate::provider::anthropic::wire::{input_of, stop_reason};
use serde::Serialize;
use serde_json::Value;

#[derive(Serialize)]
struct MessageBody<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    role: &'static str,
    model: &'a str,
    content: Vec<Block<'a>>,
    stop_reason: &'a str,
    stop_sequence: Option<&'a str>,
    usage: UsageBody,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Block<'a> {
    Text { text: &'a str },
    ToolUse { id: &'a str, name: &'a str, input: Value },
}

/// Anthropic's `usage`: `input_tokens` does not count the prompt-cache
/// reads, which come apart as `cache_read_input_tokens` (when known).
#[derive(Serialize, Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct UsageBody {
    pub input_tokens: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_read_input_tokens: Option<u64>,
    pub output_tokens: u64,
}

impl UsageBody {
    pub fn of(usage: &Usage) -> UsageBody {
        let cached = usage.cached_input_tokens;
        UsageBody {
            input_tokens: usage.input_tokens.saturating_sub(cached.unwrap_or(0)),
            cache_read_input_tokens: cached,
            output_tokens: usage.output_tokens,
        }
    }
}

/// The Anthropic `message` for a complete answer (its first choice:
/// Anthropic has one). Text comes first, then one `tool_use` block per
/// call, its `input` the arguments' JSON object (arguments that are not
/// one travel as `{"_raw_arguments": text}`, never as a silent `{}`).
/// A missing finish reason is `tool_use` when there are calls, else
/// `end_turn`; missing usage is zeros (the SDKs require the field).
pub fn encode_response(response: &ChatResponse) -> String {
    let choice = response.choices.first();
    let mut content = Vec::new();
    let mut has_calls = false;
    if let Some(choice) = choice {
        if let Some(text) = choice.text.as_deref().filter(|t| !t.is_empty()) {
            content.push(Block::Text { text });
        }
        for call in &choice.tool_calls {
            has_calls = true;
            content.push(Block::ToolUse { id: &call.id, name: &call.name, input: input_of(&call.arguments) });
        }
    }
    let fallback = if has_calls { FinishReason::ToolCalls } else { FinishReason::Stop };
    let reason = choice.and_then(|c| c.finish_reason.as_ref()).unwrap_or(&fallback);
    let (stop_reason, stop_sequence) = stop_reason(reason);
    let body = MessageBody {
        id: &response.id,
        kind: "message",
        role: "assistant",
        model: &response.model,
        content,
        stop_reason,
        stop_sequence,
        usage: UsageBody::of(&response.usage.unwrap_or_default()),
    };
    serde_json::to_string(&body).unwrap_or_default()
}

/// Anthropic's error `type` for a fault. An upstream status keeps its
/// meaning (a 529 stays `overloaded_error`, a 504 `timeout_error`).
pub(crate) fn error_type(fault: Fault) -> &'static str {
    match fault {
        Fault::BadRequest | Fault::MethodNotAllowed { .. } => "invalid_request_error",
        Fault::PayloadTooLarge | Fault::HeadersTooLarge => "request_too_large",
        Fault::NotFound | Fault::ModelNotFound => "not_found_error",
        Fault::MissingKey | Fault::InvalidKey => "authentication_error",
        Fault::Forbidden => "permission_error",
        Fault::RateLimited | Fault::QuotaExceeded => "rate_limit_error",
        Fault::Unavailable => "overloaded_error",
        Fault::UpstreamStatus(status) => match status {
            401 => "authentication_error",
            402 => "billing_error",
            403 => "permission_error",
            404 => "not_found_error",
            413 => "request_too_large",
            429 => "rate_limit_error",
            503 | 529 => "overloaded_error",
            504 => "timeout_error",
            500..=599 => "api_error",
            _ => "invalid_request_error",
        },
        Fault::UpstreamTimeout => "timeout_error",
        Fault::UpstreamUnreachable
        | Fault::UpstreamMalformed
        | Fault::UpstreamIncomplete
        | Fault::Misconfigured
        | Fault::Internal => "api_error",
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    error: ErrorDetail<'a>,
}

#[derive(Serialize)]
struct ErrorDetail<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    attempts: Option<&'a [Attempt]>,
}

fn error_json(error: &GatewayError, attempts: Option<&[Attempt]>) -> String {
    let body = ErrorBody {
        kind: "error",
        error: ErrorDetail { kind: error_type(error.fault), message: &error.message, attempts },
    };
    serde_json::to_string(&body).unwrap_or_default()
}

/// `{"type":"error","error":{"type","message"}}`, with the attempt trail as
/// `error.attempts` when there is one (as in the OpenAI body). The status
/// stays [`GatewayError::status`].
pub fn error_body(error: &GatewayError, attempts: Option<&[Attempt]>) -> String {
    error_json(error, attempts)
}

/// The terminal `event: error` of a stream that fails after it started,
/// as Anthropic sends it (the SDKs raise it). It starts with a blank line
/// so it stands as its own event even after a partial one.
pub fn error_event(error: &GatewayError) -> String {
    format!("\n\nevent: error\ndata: {}\n\n", error_json(error, None))
}
