//! Anthropic's streamed answers (`text/event-stream`), chunk by chunk:
//!
//! - `message_start` → [`StreamEvent::Start`] and the prompt's [`StreamEvent::Usage`];
//! - `content_block_start` of a `tool_use` block → [`StreamEvent::ToolCallStart`]
//!   (tool calls are numbered in order of appearance), `input_json_delta` →
//!   [`StreamEvent::ToolCallArguments`], `text_delta` → [`StreamEvent::Text`];
//!   thinking and server-tool blocks are left out;
//! - `message_delta` → [`StreamEvent::Finish`] and the merged [`StreamEvent::Usage`];
//! - `message_stop` → [`StreamEvent::Done`];
//! - `event: error` → [`StreamEvent::Error`], which ends the stream too;
//! - `ping` and event types this module does not know are skipped (Anthropic
//!   may add new ones).
//!
//! A stream that ends before `message_stop` (or an error event) is
//! `Err(Malformed)` from [`Decoder::finish`].

use super::wire::{finish_reason, UsageFields};
use crate::canonical::sse::{Frame, SseReader};
use crate::canonical::{DecodeError, StreamEvent};
use serde_json::Value;

/// What a content block of the stream is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Block {
    Text,
    /// Tool call number `.0` of the answer.
    Tool(u32),
    /// Thinking, server tools, anything else: not passed on.
    Other,
}

/// Turns an Anthropic stream into canonical events.
#[derive(Debug, Default)]
pub struct Decoder {
    reader: SseReader,
    started: bool,
    /// `message_stop` or an error event came: the stream is over.
    ended: bool,
    usage: UsageFields,
    /// The blocks started so far, by their `index`.
    blocks: Vec<(u64, Block)>,
    tools: u32,
}

impl Decoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads one chunk of the body (any split), appending the events it completes.
    pub fn push(&mut self, bytes: &[u8], out: &mut Vec<StreamEvent>) -> Result<(), DecodeError> {
        for frame in self.reader.push(bytes) {
            self.frame(frame, out)?;
        }
        Ok(())
    }

    /// The body ended: a stream without `message_stop` is `Err(Malformed)`.
    pub fn finish(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), DecodeError> {
        if let Some(frame) = self.reader.finish() {
            self.frame(frame, out)?;
        }
        if self.ended {
            Ok(())
        } else {
            Err(DecodeError::Malformed(
                "the Anthropic stream ended before `message_stop`".into(),
            ))
        }
    }

    fn frame(&mut self, frame: Frame, out: &mut Vec<StreamEvent>) -> Result<(), DecodeError> {
        if self.ended {
            return Ok(());
        }
        let data = frame.data.trim();
        let value: Value = if data.is_empty() {
            // Every Anthropic event carries its JSON; an event without data
            // (a cut right after its `event:` line) means nothing.
            return Ok(());
        } else {
            match serde_json::from_slice(data.as_bytes()) {
                Ok(value) => value,
                Err(_) if frame.event.as_deref() == Some("error") => {
                    self.ended = true;
                    out.push(StreamEvent::Error { message: data.to_string() });
                    return Ok(());
                }
                Err(e) => {
                    return Err(DecodeError::Malformed(format!(
                        "an Anthropic stream event is not JSON: {e}"
                    )))
                }
            }
        };
        let kind = value
            .get("type")
            .and_then(Value::as_str)
            .or(frame.event.as_deref())
            .unwrap_or_default();
        match kind {
            "ping" => Ok(()),
            "error" => {
                self.ended = true;
                let message = value
                    .pointer("/error/message")
                    .and_then(Value::as_str)
                    .filter(|m| !m.is_empty())
                    .or_else(|| value.pointer("/error/type").and_then(Value::as_str))
                    .unwrap_or("Anthropic reported an error in the stream.");
                out.push(StreamEvent::Error { message: message.to_string() });
                Ok(())
            }
            "message_start" => self.message_start(&value, out),
            _ if !self.started && is_known(kind) => Err(DecodeError::Malformed(format!(
                "the Anthropic stream sent `{kind}` before `message_start`"
            ))),
            "content_block_start" => self.block_start(&value, out),
            "content_block_delta" => self.block_delta(&value, out),
            "content_block_stop" => Ok(()),
            "message_delta" => {
                let delta = value.get("delta");
                let stop = delta.and_then(|d| d.get("stop_reason")).and_then(Value::as_str);
                if let Some(stop) = stop {
                    let sequence = delta.and_then(|d| d.get("stop_sequence")).and_then(Value::as_str);
                    out.push(StreamEvent::Finish { choice: 0, reason: finish_reason(stop, sequence) });
                }
                if let Some(usage) = UsageFields::read(value.get("usage")) {
                    self.usage.merge(usage);
                    out.push(StreamEvent::Usage(self.usage.canonical()));
                }
                Ok(())
            }
            "message_stop" => {
                self.ended = true;
                out.push(StreamEvent::Done);
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn message_start(&mut self, value: &Value, out: &mut Vec<StreamEvent>) -> Result<(), DecodeError> {
        if self.started {
            return Err(malformed("the Anthropic stream sent a second `message_start`"));
        }
        let message = value
            .get("message")
            .ok_or_else(|| malformed("`message_start` has no `message`"))?;
        let text = |name: &str| message.get(name).and_then(Value::as_str).unwrap_or_default().to_string();
        self.started = true;
        out.push(StreamEvent::Start { id: text("id"), model: text("model") });
        if let Some(usage) = UsageFields::read(message.get("usage")) {
            self.usage = usage;
            out.push(StreamEvent::Usage(usage.canonical()));
        }
        Ok(())
    }

    fn block_start(&mut self, value: &Value, out: &mut Vec<StreamEvent>) -> Result<(), DecodeError> {
        let index = index_of(value)?;
        let block = value
            .get("content_block")
            .ok_or_else(|| malformed("`content_block_start` has no `content_block`"))?;
        let kind = match block.get("type").and_then(Value::as_str) {
            Some("text") => {
                let text = block.get("text").and_then(Value::as_str).unwrap_or_default();
                if !text.is_empty() {
                    out.push(StreamEvent::Text { choice: 0, text: text.to_string() });
                }
                Block::Text
            }
            Some("tool_use") => {
                let field = |name: &str| {
                    block
                        .get(name)
                        .and_then(Value::as_str)
                        .map(str::to_string)
                        .ok_or_else(|| DecodeError::Malformed(format!("a `tool_use` block start has no `{name}`")))
                };
                let call = self.tools;
                self.tools = self.tools.saturating_add(1);
                out.push(StreamEvent::ToolCallStart { choice: 0, index: call, id: field("id")?, name: field("name")? });
                // The input comes as deltas; a start that already carries some passes it on.
                if let Some(input) = block.get("input").and_then(Value::as_object).filter(|i| !i.is_empty()) {
                    let arguments = crate::json_out::value_text(&Value::Object(input.clone()));
                    out.push(StreamEvent::ToolCallArguments { choice: 0, index: call, arguments });
                }
                Block::Tool(call)
            }
            _ => Block::Other,
        };
        self.blocks.retain(|(i, _)| *i != index);
        self.blocks.push((index, kind));
        Ok(())
    }

    fn block_delta(&mut self, value: &Value, out: &mut Vec<StreamEvent>) -> Result<(), DecodeError> {
        let index = index_of(value)?;
        let Some(&(_, block)) = self.blocks.iter().find(|(i, _)| *i == index) else {
            return Err(DecodeError::Malformed(format!(
                "the Anthropic stream sent a delta for block {index}, which never started"
            )));
        };
        let delta = value.get("delta").ok_or_else(|| malformed("`content_block_delta` has no `delta`"))?;
        let piece = |name: &str| delta.get(name).and_then(Value::as_str).unwrap_or_default().to_string();
        match (delta.get("type").and_then(Value::as_str), block) {
            (Some("text_delta"), Block::Text) => {
                let text = piece("text");
                if !text.is_empty() {
                    out.push(StreamEvent::Text { choice: 0, text });
                }
            }
            (Some("input_json_delta"), Block::Tool(call)) => {
                let arguments = piece("partial_json");
                if !arguments.is_empty() {
                    out.push(StreamEvent::ToolCallArguments { choice: 0, index: call, arguments });
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// The event types that must come after `message_start`.
fn is_known(kind: &str) -> bool {
    matches!(
        kind,
        "content_block_start" | "content_block_delta" | "content_block_stop" | "message_delta" | "message_stop"
    )
}

fn index_of(value: &Value) -> Result<u64, DecodeError> {
    value
        .get("index")
        .and_then(Value::as_u64)
        .ok_or_else(|| malformed("a content block event has no `index`"))
}

fn malformed(what: &str) -> DecodeError {
    DecodeError::Malformed(what.to_string())
}
