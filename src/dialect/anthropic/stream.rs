//! Canonical stream events as Anthropic's SSE events, in the order the
//! Messages streaming API sends them:
//!
//! `message_start` (the message skeleton, prompt usage when known), then per
//! content block `content_block_start`, `content_block_delta`s (`text_delta`
//! or `input_json_delta`), `content_block_stop` (one block open at a time:
//! switching between text and a tool call closes the open block), then
//! `message_delta` (`stop_reason`, `stop_sequence`, usage) and
//! `message_stop` when the upstream's stream is complete ([`StreamEvent::Done`]).
//! An in-stream error is `event: error`, and nothing follows it.
//!
//! `message_start` is written when the event after [`StreamEvent::Start`]
//! comes, so that prompt usage reported right after the start (as
//! Anthropic's own `message_start` does) is in it. `message_delta` is
//! written at [`StreamEvent::Done`], with the last usage seen (OpenAI
//! reports usage after the finish reason). Only choice 0 is written
//! (Anthropic has one). Argument text that arrives for a tool call whose
//! block was already closed is still sent, with that block's index (the
//! SDKs add it to that block).
//!
//! The events are written by hand (`crate::json_out`); the derived
//! `Serialize` of each shape is kept for the tests, which compare the texts.

use super::encode::{error_type, UsageBody};
use crate::canonical::sse::frame;
use crate::canonical::{FinishReason, StreamEvent, Usage};
use crate::error::Fault;
use crate::provider::anthropic::wire::stop_reason;
use crate::json_out::{key, quote, text_or_null, uint};
#[cfg(test)]
use serde::Serialize;

/// The content block being written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    Text(u32),
    /// A tool call's block.
    Tool(u32),
}

/// Canonical stream events → Anthropic's `message_start` … `message_stop`.
#[derive(Debug, Default)]
pub struct Encoder {
    /// `Start` came and `message_start` is not written yet.
    pending: Option<(String, String)>,
    started: bool,
    /// `message_stop` or an error was written: nothing more is.
    ended: bool,
    usage: Option<Usage>,
    open: Option<Open>,
    next_block: u32,
    /// Tool call number → its block index.
    tools: Vec<(u32, u32)>,
    reason: Option<FinishReason>,
}

#[cfg_attr(test, derive(Serialize))]
struct MessageStart<'a> {
    #[cfg_attr(test, serde(rename = "type"))]
    kind: &'static str,
    message: Skeleton<'a>,
}

#[cfg_attr(test, derive(Serialize))]
struct Skeleton<'a> {
    id: &'a str,
    #[cfg_attr(test, serde(rename = "type"))]
    kind: &'static str,
    role: &'static str,
    model: &'a str,
    content: [(); 0],
    stop_reason: (),
    stop_sequence: (),
    usage: UsageBody,
}

#[cfg_attr(test, derive(Serialize))]
struct BlockStart<'a> {
    #[cfg_attr(test, serde(rename = "type"))]
    kind: &'static str,
    index: u32,
    content_block: StartBlock<'a>,
}

#[cfg_attr(test, derive(Serialize))]
#[cfg_attr(test, serde(tag = "type", rename_all = "snake_case"))]
enum StartBlock<'a> {
    Text { text: &'static str },
    ToolUse { id: &'a str, name: &'a str, input: Empty },
}

#[cfg_attr(test, derive(Serialize))]
struct Empty {}

#[cfg_attr(test, derive(Serialize))]
struct BlockDelta<'a> {
    #[cfg_attr(test, serde(rename = "type"))]
    kind: &'static str,
    index: u32,
    delta: Delta<'a>,
}

#[cfg_attr(test, derive(Serialize))]
#[cfg_attr(test, serde(tag = "type", rename_all = "snake_case"))]
enum Delta<'a> {
    TextDelta { text: &'a str },
    InputJsonDelta { partial_json: &'a str },
}

#[cfg_attr(test, derive(Serialize))]
struct BlockStop {
    #[cfg_attr(test, serde(rename = "type"))]
    kind: &'static str,
    index: u32,
}

#[cfg_attr(test, derive(Serialize))]
struct MessageDelta<'a> {
    #[cfg_attr(test, serde(rename = "type"))]
    kind: &'static str,
    delta: StopDelta<'a>,
    usage: UsageBody,
}

#[cfg_attr(test, derive(Serialize))]
struct StopDelta<'a> {
    stop_reason: &'a str,
    stop_sequence: Option<&'a str>,
}

#[cfg_attr(test, derive(Serialize))]
struct ErrorEvent<'a> {
    #[cfg_attr(test, serde(rename = "type"))]
    kind: &'static str,
    error: ErrorDetail<'a>,
}

#[cfg_attr(test, derive(Serialize))]
struct ErrorDetail<'a> {
    #[cfg_attr(test, serde(rename = "type"))]
    kind: &'static str,
    message: &'a str,
}

/// One event's data, written as its derived `Serialize` would.
trait Data {
    fn write(&self, out: &mut String);
}

/// `{"type":KIND,"index":N` (the object left open).
fn typed_index(out: &mut String, kind: &str, index: u32) {
    out.push('{');
    key(out, "type", true);
    quote(out, kind);
    key(out, "index", false);
    uint(out, index.into());
}

impl Data for MessageStart<'_> {
    fn write(&self, out: &mut String) {
        out.push('{');
        key(out, "type", true);
        quote(out, self.kind);
        key(out, "message", false);
        let m = &self.message;
        out.push('{');
        key(out, "id", true);
        quote(out, m.id);
        key(out, "type", false);
        quote(out, m.kind);
        key(out, "role", false);
        quote(out, m.role);
        key(out, "model", false);
        quote(out, m.model);
        let ([], (), ()) = (m.content, m.stop_reason, m.stop_sequence);
        out.push_str(",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null");
        key(out, "usage", false);
        m.usage.write(out);
        out.push_str("}}");
    }
}

impl Data for BlockStart<'_> {
    fn write(&self, out: &mut String) {
        typed_index(out, self.kind, self.index);
        key(out, "content_block", false);
        out.push('{');
        key(out, "type", true);
        match &self.content_block {
            StartBlock::Text { text } => {
                quote(out, "text");
                key(out, "text", false);
                quote(out, text);
            }
            StartBlock::ToolUse { id, name, input: Empty {} } => {
                quote(out, "tool_use");
                key(out, "id", false);
                quote(out, id);
                key(out, "name", false);
                quote(out, name);
                out.push_str(",\"input\":{}");
            }
        }
        out.push_str("}}");
    }
}

impl Data for BlockDelta<'_> {
    fn write(&self, out: &mut String) {
        typed_index(out, self.kind, self.index);
        key(out, "delta", false);
        out.push('{');
        key(out, "type", true);
        match &self.delta {
            Delta::TextDelta { text } => {
                quote(out, "text_delta");
                key(out, "text", false);
                quote(out, text);
            }
            Delta::InputJsonDelta { partial_json } => {
                quote(out, "input_json_delta");
                key(out, "partial_json", false);
                quote(out, partial_json);
            }
        }
        out.push_str("}}");
    }
}

impl Data for BlockStop {
    fn write(&self, out: &mut String) {
        typed_index(out, self.kind, self.index);
        out.push('}');
    }
}

impl Data for MessageDelta<'_> {
    fn write(&self, out: &mut String) {
        out.push('{');
        key(out, "type", true);
        quote(out, self.kind);
        key(out, "delta", false);
        out.push('{');
        key(out, "stop_reason", true);
        quote(out, self.delta.stop_reason);
        key(out, "stop_sequence", false);
        text_or_null(out, self.delta.stop_sequence);
        out.push('}');
        key(out, "usage", false);
        self.usage.write(out);
        out.push('}');
    }
}

impl Data for ErrorEvent<'_> {
    fn write(&self, out: &mut String) {
        super::encode::write_error(out, self.kind, self.error.kind, self.error.message, None);
    }
}

fn write(out: &mut String, name: &str, data: &dyn Data) {
    let mut json = String::with_capacity(128);
    data.write(&mut json);
    out.push_str(&frame(Some(name), &json));
}

impl Encoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends the SSE text for `event` (possibly nothing) to `out`.
    pub fn encode(&mut self, event: &StreamEvent, out: &mut String) {
        if self.ended {
            return;
        }
        match event {
            StreamEvent::Start { id, model } if !self.started && self.pending.is_none() => {
                self.pending = Some((id.clone(), model.clone()));
            }
            StreamEvent::Usage(usage) => {
                self.usage = Some(*usage);
                if self.pending.is_some() {
                    self.start(out);
                }
            }
            StreamEvent::Text { choice: 0, text } if !text.is_empty() => {
                self.start(out);
                let index = match self.open {
                    Some(Open::Text(index)) => index,
                    _ => {
                        self.close(out);
                        let index = self.open_block(out, StartBlock::Text { text: "" });
                        self.open = Some(Open::Text(index));
                        index
                    }
                };
                let delta = BlockDelta { kind: "content_block_delta", index, delta: Delta::TextDelta { text } };
                write(out, "content_block_delta", &delta);
            }
            StreamEvent::ToolCallStart { choice: 0, index: call, id, name } => {
                self.start(out);
                self.close(out);
                let block = self.open_block(out, StartBlock::ToolUse { id, name, input: Empty {} });
                self.open = Some(Open::Tool(block));
                self.tools.retain(|(c, _)| c != call);
                self.tools.push((*call, block));
            }
            StreamEvent::ToolCallArguments { choice: 0, index: call, arguments } if !arguments.is_empty() => {
                let Some(&(_, block)) = self.tools.iter().find(|(c, _)| c == call) else {
                    return;
                };
                let delta = Delta::InputJsonDelta { partial_json: arguments };
                write(out, "content_block_delta", &BlockDelta { kind: "content_block_delta", index: block, delta });
            }
            StreamEvent::Finish { choice: 0, reason } => {
                self.start(out);
                self.close(out);
                self.reason = Some(reason.clone());
            }
            StreamEvent::Error { message } => {
                self.ended = true;
                let kind = error_type(Fault::UpstreamStatus(500));
                write(out, "error", &ErrorEvent { kind: "error", error: ErrorDetail { kind, message } });
            }
            StreamEvent::Done => {
                self.start(out);
                self.close(out);
                self.ended = true;
                let fallback = if self.tools.is_empty() { FinishReason::Stop } else { FinishReason::ToolCalls };
                let (stop_reason, stop_sequence) = stop_reason(self.reason.as_ref().unwrap_or(&fallback));
                let usage = UsageBody::of(&self.usage.unwrap_or_default());
                let delta = MessageDelta {
                    kind: "message_delta",
                    delta: StopDelta { stop_reason, stop_sequence },
                    usage,
                };
                write(out, "message_delta", &delta);
                out.push_str(&frame(Some("message_stop"), r#"{"type":"message_stop"}"#));
            }
            // Other choices, empty pieces.
            _ => {}
        }
    }

    /// Writes `message_start` if it is not written yet.
    fn start(&mut self, out: &mut String) {
        if self.started {
            return;
        }
        self.started = true;
        let (id, model) = self.pending.take().unwrap_or_default();
        let usage = self.usage.unwrap_or_default();
        let skeleton = Skeleton {
            id: &id,
            kind: "message",
            role: "assistant",
            model: &model,
            content: [],
            stop_reason: (),
            stop_sequence: (),
            usage: UsageBody::of(&usage),
        };
        write(out, "message_start", &MessageStart { kind: "message_start", message: skeleton });
    }

    fn open_block(&mut self, out: &mut String, block: StartBlock<'_>) -> u32 {
        let index = self.next_block;
        self.next_block = self.next_block.saturating_add(1);
        write(out, "content_block_start", &BlockStart { kind: "content_block_start", index, content_block: block });
        index
    }

    fn close(&mut self, out: &mut String) {
        let index = match self.open.take() {
            Some(Open::Text(index) | Open::Tool(index)) => index,
            None => return,
        };
        write(out, "content_block_stop", &BlockStop { kind: "content_block_stop", index });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn same(data: &(impl Data + Serialize)) {
        let mut out = String::new();
        data.write(&mut out);
        assert_eq!(out, serde_json::to_string(data).unwrap());
    }

    #[test]
    fn events_are_written_as_the_derive_writes_them() {
        let usages = [
            UsageBody { input_tokens: 3, cache_read_input_tokens: None, output_tokens: 0 },
            UsageBody { input_tokens: 0, cache_read_input_tokens: Some(7), output_tokens: 9 },
        ];
        for usage in usages {
            let message = Skeleton {
                id: "msg_\"1",
                kind: "message",
                role: "assistant",
                model: "m\n",
                content: [],
                stop_reason: (),
                stop_sequence: (),
                usage,
            };
            same(&MessageStart { kind: "message_start", message });
            for stop_sequence in [None, Some("STOP\u{2}")] {
                same(&MessageDelta { kind: "message_delta", delta: StopDelta { stop_reason: "stop_sequence", stop_sequence }, usage });
            }
        }
        same(&BlockStart { kind: "content_block_start", index: 0, content_block: StartBlock::Text { text: "" } });
        same(&BlockStart {
            kind: "content_block_start",
            index: 4_000_000_000,
            content_block: StartBlock::ToolUse { id: "toolu_\\", name: "get é", input: Empty {} },
        });
        for text in ["", "a\"b\u{1f}"] {
            same(&BlockDelta { kind: "content_block_delta", index: 1, delta: Delta::TextDelta { text } });
            same(&BlockDelta { kind: "content_block_delta", index: 2, delta: Delta::InputJsonDelta { partial_json: text } });
            same(&ErrorEvent { kind: "error", error: ErrorDetail { kind: "api_error", message: text } });
        }
        same(&BlockStop { kind: "content_block_stop", index: 7 });
    }
}
