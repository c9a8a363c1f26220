//! Cohere v2's chat stream (SSE), chunk by chunk, as canonical events.
//!
//! Each event's JSON names its `type` (the SSE `event:` line is used only
//! when the JSON has none):
//! - `message-start` → `Start` (its `id`; Cohere names no model),
//! - `content-start` / `content-delta` → `Text` (text items only; thinking
//!   items are skipped), `content-end` → nothing,
//! - `tool-call-start` → `ToolCallStart` (+ `ToolCallArguments` if it
//!   already carries some), `tool-call-delta` → `ToolCallArguments`,
//!   `tool-call-end` → nothing,
//! - `message-end` → `Finish`, `Usage`, `Done`: the end marker. A body that
//!   ends before it is `Err(Malformed)`.
//! - `tool-plan-delta`, `citation-*`, `debug` and unknown types are skipped.

use serde_json::Value;

use super::response::{finish_reason, usage};
use crate::canonical::sse::SseReader;
use crate::canonical::{DecodeError, StreamEvent};

/// Streamed answers, chunk by chunk.
#[derive(Debug, Default)]
pub struct Decoder {
    sse: SseReader,
    started: bool,
    done: bool,
    /// Content blocks (by Cohere's `index`) that are thinking, not text.
    thinking: Vec<u64>,
    /// Tool calls begun: (Cohere's `index`, ours).
    calls: Vec<(u64, u32)>,
}

impl Decoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads one chunk of the body, appending the events it completes.
    pub fn push(&mut self, bytes: &[u8], out: &mut Vec<StreamEvent>) -> Result<(), DecodeError> {
        for frame in self.sse.push(bytes) {
            self.event(frame.event.as_deref(), &frame.data, out)?;
        }
        Ok(())
    }

    /// The body ended: `Err(Malformed)` unless `message-end` came.
    pub fn finish(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), DecodeError> {
        if let Some(frame) = self.sse.finish() {
            self.event(frame.event.as_deref(), &frame.data, out)?;
        }
        if self.done {
            Ok(())
        } else {
            Err(DecodeError::Malformed(
                "the Cohere stream ended before message-end (cut short)".into(),
            ))
        }
    }

    fn start(&mut self, id: &str, out: &mut Vec<StreamEvent>) {
        if !self.started {
            self.started = true;
            out.push(StreamEvent::Start { id: id.to_string(), model: String::new() });
        }
    }

    fn event(&mut self, name: Option<&str>, data: &str, out: &mut Vec<StreamEvent>) -> Result<(), DecodeError> {
        let data = data.trim();
        if data.is_empty() || data == "[DONE]" || self.done {
            return Ok(());
        }
        let event: Value = serde_json::from_slice(data.as_bytes()).map_err(|e| {
            DecodeError::Malformed(format!("a Cohere stream event is not valid JSON: {e}"))
        })?;
        if !event.is_object() {
            return Err(DecodeError::Malformed("a Cohere stream event is not a JSON object".into()));
        }
        let kind = event.get("type").and_then(Value::as_str).or(name).unwrap_or("");
        let index = event.get("index").and_then(Value::as_u64).unwrap_or(0);
        let message = event.pointer("/delta/message");
        let id = event.get("id").and_then(Value::as_str).unwrap_or("");
        match kind {
            "message-start" => self.start(id, out),
            "content-start" | "content-delta" => {
                self.start(id, out);
                let content = message.and_then(|m| m.get("content"));
                if kind == "content-start" {
                    let thinking = content.and_then(|c| c.get("type")).and_then(Value::as_str) == Some("thinking");
                    if thinking && !self.thinking.contains(&index) {
                        self.thinking.push(index);
                    }
                }
                if self.thinking.contains(&index) {
                    return Ok(());
                }
                if let Some(text) = content.and_then(|c| c.get("text")).and_then(Value::as_str) {
                    if !text.is_empty() {
                        out.push(StreamEvent::Text { choice: 0, text: text.to_string() });
                    }
                }
            }
            "tool-call-start" => {
                self.start(id, out);
                let call = message.and_then(|m| m.get("tool_calls"));
                let ours = self.calls.len() as u32;
                self.calls.push((index, ours));
                let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or("").to_string();
                let call_id = text(call.and_then(|c| c.get("id")));
                out.push(StreamEvent::ToolCallStart {
                    choice: 0,
                    index: ours,
                    id: if call_id.is_empty() { format!("call_{ours}") } else { call_id },
                    name: text(call.and_then(|c| c.pointer("/function/name"))),
                });
                let arguments = text(call.and_then(|c| c.pointer("/function/arguments")));
                if !arguments.is_empty() {
                    out.push(StreamEvent::ToolCallArguments { choice: 0, index: ours, arguments });
                }
            }
            "tool-call-delta" => {
                let ours = self
                    .calls
                    .iter()
                    .rev()
                    .find(|(theirs, _)| *theirs == index)
                    .or(self.calls.last())
                    .map(|(_, ours)| *ours)
                    .ok_or_else(|| {
                        DecodeError::Malformed("a Cohere tool-call-delta came before any tool-call-start".into())
                    })?;
                let arguments = message
                    .and_then(|m| m.pointer("/tool_calls/function/arguments"))
                    .and_then(Value::as_str)
                    .unwrap_or("");
                if !arguments.is_empty() {
                    out.push(StreamEvent::ToolCallArguments {
                        choice: 0,
                        index: ours,
                        arguments: arguments.to_string(),
                    });
                }
            }
            "message-end" => {
                self.start(id, out);
                let delta = event.get("delta");
                let reason = delta
                    .and_then(|d| d.get("finish_reason"))
                    .and_then(Value::as_str)
                    .unwrap_or("COMPLETE");
                out.push(StreamEvent::Finish { choice: 0, reason: finish_reason(reason) });
                if let Some(usage) = delta.and_then(|d| d.get("usage")).and_then(usage) {
                    out.push(StreamEvent::Usage(usage));
                }
                out.push(StreamEvent::Done);
                self.done = true;
            }
            _ => {}
        }
        Ok(())
    }
}
