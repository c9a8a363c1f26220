//! Complete answers and errors in Anthropic's shapes: the `message`
//! object, `{"type":"error","error":{...}}` bodies and the terminal
//! `event: error` of a stream. Written by hand (`crate::json_out`); the
//! derived `Serialize` of each shape is kept for the tests, which compare
//! the two texts.

use crate::canonical::{ChatResponse, FinishReason, Usage};
use crate::engine::Attempt;
use crate::error::{Fault, GatewayError};
use crate::provider::anthropic::wire::{input_of, stop_reason};
use crate::json_out::{array, key, quote, text_or_null, uint};
#[cfg(test)]
use serde::Serialize;
use serde_json::Value;

#[cfg_attr(test, derive(Serialize))]
struct MessageBody<'a> {
    id: &'a str,
    #[cfg_attr(test, serde(rename = "type"))]
    kind: &'static str,
    role: &'static str,
    model: &'a str,
    content: Vec<Block<'a>>,
    stop_reason: &'a str,
    stop_sequence: Option<&'a str>,
    usage: UsageBody,
}

#[cfg_attr(test, derive(Serialize))]
#[cfg_attr(test, serde(tag = "type", rename_all = "snake_case"))]
enum Block<'a> {
    Text { text: &'a str },
    ToolUse { id: &'a str, name: &'a str, input: Value },
}

/// Anthropic's `usage`: `input_tokens` does not count the prompt-cache
/// reads, which come apart as `cache_read_input_tokens` (when known).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(test, derive(Serialize))]
pub(crate) struct UsageBody {
    pub input_tokens: u64,
    #[cfg_attr(test, serde(skip_serializing_if = "Option::is_none"))]
    pub cache_read_input_tokens: Option<u64>,
    pub output_tokens: u64,
}

impl UsageBody {
    /// Appends the object.
    pub fn write(&self, out: &mut String) {
        out.push('{');
        key(out, "input_tokens", true);
        uint(out, self.input_tokens);
        if let Some(n) = self.cache_read_input_tokens {
            key(out, "cache_read_input_tokens", false);
            uint(out, n);
        }
        key(out, "output_tokens", false);
        uint(out, self.output_tokens);
        out.push('}');
    }

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
    let mut out = String::with_capacity(256);
    body.write(&mut out);
    out
}

impl MessageBody<'_> {
    fn write(&self, out: &mut String) {
        out.push('{');
        key(out, "id", true);
        quote(out, self.id);
        key(out, "type", false);
        quote(out, self.kind);
        key(out, "role", false);
        quote(out, self.role);
        key(out, "model", false);
        quote(out, self.model);
        key(out, "content", false);
        array(out, &self.content, |out, block| {
            out.push('{');
            key(out, "type", true);
            match block {
                Block::Text { text } => {
                    quote(out, "text");
                    key(out, "text", false);
                    quote(out, text);
                }
                Block::ToolUse { id, name, input } => {
                    quote(out, "tool_use");
                    key(out, "id", false);
                    quote(out, id);
                    key(out, "name", false);
                    quote(out, name);
                    key(out, "input", false);
                    crate::json_out::value(out, input);
                }
            }
            out.push('}');
        });
        key(out, "stop_reason", false);
        quote(out, self.stop_reason);
        key(out, "stop_sequence", false);
        text_or_null(out, self.stop_sequence);
        key(out, "usage", false);
        self.usage.write(out);
        out.push('}');
    }
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

#[cfg_attr(test, derive(Serialize))]
struct ErrorBody<'a> {
    #[cfg_attr(test, serde(rename = "type"))]
    kind: &'static str,
    error: ErrorDetail<'a>,
}

#[cfg_attr(test, derive(Serialize))]
struct ErrorDetail<'a> {
    #[cfg_attr(test, serde(rename = "type"))]
    kind: &'static str,
    message: &'a str,
    #[cfg_attr(test, serde(skip_serializing_if = "Option::is_none"))]
    attempts: Option<&'a [Attempt]>,
}

fn error_json(error: &GatewayError, attempts: Option<&[Attempt]>) -> String {
    let body = ErrorBody {
        kind: "error",
        error: ErrorDetail { kind: error_type(error.fault), message: &error.message, attempts },
    };
    let mut out = String::with_capacity(128 + error.message.len());
    body.write(&mut out);
    out
}

impl ErrorBody<'_> {
    fn write(&self, out: &mut String) {
        let e = &self.error;
        write_error(out, self.kind, e.kind, e.message, e.attempts);
    }
}

/// `{"type":KIND,"error":{"type":…,"message":…}}`, with `attempts` when given
/// (an error body, or the data of a stream's `error` event).
pub(crate) fn write_error(out: &mut String, kind: &str, error_kind: &str, message: &str, attempts: Option<&[Attempt]>) {
    out.push('{');
    key(out, "type", true);
    quote(out, kind);
    key(out, "error", false);
    out.push('{');
    key(out, "type", true);
    quote(out, error_kind);
    key(out, "message", false);
    quote(out, message);
    if let Some(attempts) = attempts {
        key(out, "attempts", false);
        crate::engine::trail::write(out, attempts);
    }
    out.push_str("}}");
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

#[cfg(test)]
mod tests {
    use super::*;

    fn usages() -> [UsageBody; 2] {
        [
            UsageBody { input_tokens: 1, cache_read_input_tokens: None, output_tokens: 2 },
            UsageBody { input_tokens: 0, cache_read_input_tokens: Some(5), output_tokens: 0 },
        ]
    }

    #[test]
    fn messages_are_written_as_the_derive_writes_them() {
        let input = serde_json::json!({"city": "Paris \"x\"", "n": [1, 2.5, null], "o": {}});
        let contents = || {
            vec![
                vec![],
                vec![Block::Text { text: "hé\n\"" }],
                vec![
                    Block::Text { text: "t" },
                    Block::ToolUse { id: "toolu_1", name: "get", input: input.clone() },
                    Block::ToolUse { id: "toolu_2", name: "x", input: serde_json::json!({"_raw_arguments": "{"}) },
                ],
            ]
        };
        for usage in usages() {
            for stop_sequence in [None, Some("\u{1}END")] {
                for content in contents() {
                    let body = MessageBody {
                        id: "msg_1",
                        kind: "message",
                        role: "assistant",
                        model: "claude\\",
                        content,
                        stop_reason: "end_turn",
                        stop_sequence,
                        usage,
                    };
                    let mut out = String::new();
                    body.write(&mut out);
                    assert_eq!(out, serde_json::to_string(&body).unwrap());
                }
            }
        }
    }

    #[test]
    fn errors_are_written_as_the_derive_writes_them() {
        let attempt = Attempt {
            provider: "p\"".into(),
            model: "m".into(),
            key: None,
            outcome: "timeout".into(),
            status: None,
            duration_ms: 30_000,
            waited_ms: 10,
            reason: None,
        };
        let trails = [vec![], vec![attempt.clone(), Attempt { reason: Some("key_over_quota"), ..attempt }]];
        for message in ["", "went \"wrong\"\t"] {
            for attempts in [None, Some(&trails[0][..]), Some(&trails[1][..])] {
                let body = ErrorBody { kind: "error", error: ErrorDetail { kind: "api_error", message, attempts } };
                let mut out = String::new();
                body.write(&mut out);
                assert_eq!(out, serde_json::to_string(&body).unwrap());
            }
        }
    }
}
