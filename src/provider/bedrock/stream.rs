//! A `ConverseStream` body (event-stream frames, chunk by chunk) as
//! canonical [`StreamEvent`]s.
//!
//! Frames with `:message-type: event`, by `:event-type`:
//! - `messageStart` → [`StreamEvent::Start`] (always first; the id and
//!   model are empty: Bedrock's frames carry neither);
//! - `contentBlockStart` with `start.toolUse` → `ToolCallStart` (tool calls
//!   are numbered 0, 1, ... in the order they start, whatever their
//!   `contentBlockIndex`);
//! - `contentBlockDelta`: `delta.text` → `Text`, `delta.toolUse.input` →
//!   `ToolCallArguments` (reasoning deltas are dropped);
//! - `contentBlockStop` → nothing;
//! - `messageStop` → `Finish` with its `stopReason`;
//! - `metadata` → `Usage`, then `Done`: `metadata` is the last event
//!   Bedrock sends (after `messageStop`), so it is the end marker;
//! - other event types are skipped (forward compatibility).
//!
//! `:message-type: exception` (`throttlingException`,
//! `modelStreamErrorException`, ...) and `:message-type: error`
//! (`:error-code` / `:error-message` headers) → [`StreamEvent::Error`];
//! the stream ends there, so `finish` accepts it as an end.
//!
//! A bad CRC, a garbled frame, a payload that is not the JSON its event
//! needs, or a body that ends before `metadata` (or an error) is
//! `Err(DecodeError::Malformed)`.

use serde_json::Value;

use super::eventstream::{Message, Reader};
use super::response::{finish_reason, usage};
use crate::canonical::{DecodeError, StreamEvent};

fn malformed(message: impl Into<String>) -> DecodeError {
    DecodeError::Malformed(message.into())
}

/// Streamed answers, chunk by chunk.
#[derive(Debug, Default)]
pub struct Decoder {
    reader: Reader,
    frames: Vec<Message>,
    started: bool,
    /// (content block index, tool call number), in the order calls began.
    calls: Vec<(u64, u32)>,
    /// The stream ended: `metadata` (or an error) was read.
    ended: bool,
    /// A frame could not be read: nothing after it is trusted.
    broken: bool,
}

impl Decoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads one chunk of the body (any split), appending the events it completes.
    pub fn push(&mut self, bytes: &[u8], out: &mut Vec<StreamEvent>) -> Result<(), DecodeError> {
        if self.broken {
            return Err(malformed("Bedrock stream was already unreadable"));
        }
        let mut frames = std::mem::take(&mut self.frames);
        let framed = self.reader.push(bytes, &mut frames);
        let mut result = Ok(());
        for frame in frames.drain(..) {
            result = self.frame(&frame, out);
            if result.is_err() {
                break;
            }
        }
        self.frames = frames;
        let result = result.and(framed.map_err(|e| malformed(format!("Bedrock stream: {e}"))));
        if result.is_err() {
            self.broken = true;
        }
        result
    }

    /// The body ended: `Err(Malformed)` unless the stream's end was read.
    pub fn finish(&mut self, _out: &mut Vec<StreamEvent>) -> Result<(), DecodeError> {
        if self.broken {
            return Err(malformed("Bedrock stream was unreadable"));
        }
        if self.reader.pending() > 0 {
            return Err(malformed(format!(
                "Bedrock stream ended inside a frame ({} bytes left over)",
                self.reader.pending()
            )));
        }
        if !self.ended {
            return Err(malformed("Bedrock stream ended before its metadata event"));
        }
        Ok(())
    }

    fn start(&mut self, out: &mut Vec<StreamEvent>) {
        if !self.started {
            self.started = true;
            out.push(StreamEvent::Start {
                id: String::new(),
                model: String::new(),
            });
        }
    }

    fn frame(&mut self, frame: &Message, out: &mut Vec<StreamEvent>) -> Result<(), DecodeError> {
        match frame.header_str(":message-type") {
            Some("event") => self.event(frame, out),
            Some("exception") => {
                let kind = frame.header_str(":exception-type").unwrap_or("exception");
                let message = serde_json::from_slice::<Value>(&frame.payload)
                    .ok()
                    .and_then(|v| {
                        v.get("message")
                            .or_else(|| v.get("Message"))
                            .and_then(Value::as_str)
                            .map(str::to_string)
                    })
                    .unwrap_or_else(|| String::from_utf8_lossy(&frame.payload).into_owned());
                self.error(format!("{kind}: {message}"), out);
                Ok(())
            }
            Some("error") => {
                let code = frame.header_str(":error-code").unwrap_or("error");
                let message = frame.header_str(":error-message").unwrap_or("");
                self.error(format!("{code}: {message}"), out);
                Ok(())
            }
            Some(other) => Err(malformed(format!(
                "Bedrock stream frame of message type `{other}`"
            ))),
            None => Err(malformed("Bedrock stream frame has no `:message-type`")),
        }
    }

    /// The tool call number of content block `block` (the latest first:
    /// deltas follow their start).
    fn call(&self, block: u64) -> Option<u32> {
        self.calls.iter().rev().find(|(b, _)| *b == block).map(|(_, index)| *index)
    }

    fn error(&mut self, message: String, out: &mut Vec<StreamEvent>) {
        self.start(out);
        out.push(StreamEvent::Error { message });
        self.ended = true;
    }

    fn event(&mut self, frame: &Message, out: &mut Vec<StreamEvent>) -> Result<(), DecodeError> {
        let kind = frame
            .header_str(":event-type")
            .ok_or_else(|| malformed("Bedrock stream event has no `:event-type`"))?;
        let known = matches!(
            kind,
            "messageStart"
                | "contentBlockStart"
                | "contentBlockDelta"
                | "contentBlockStop"
                | "messageStop"
                | "metadata"
        );
        if !known {
            return Ok(());
        }
        let v: Value = serde_json::from_slice(&frame.payload)
            .map_err(|e| malformed(format!("Bedrock `{kind}` event is not JSON: {e}")))?;
        if !v.is_object() {
            return Err(malformed(format!(
                "Bedrock `{kind}` event is not an object"
            )));
        }
        self.start(out);
        let block = || {
            v.get("contentBlockIndex")
                .and_then(Value::as_u64)
                .ok_or_else(|| {
                    malformed(format!("Bedrock `{kind}` event has no `contentBlockIndex`"))
                })
        };
        match kind {
            "contentBlockStart" => {
                if let Some(tool) = v.pointer("/start/toolUse") {
                    let block = block()?;
                    let field = |name: &str| {
                        tool.get(name)
                            .and_then(Value::as_str)
                            .map(str::to_string)
                            .ok_or_else(|| {
                                malformed(format!("Bedrock toolUse start has no `{name}`"))
                            })
                    };
                    let (id, name) = (field("toolUseId")?, field("name")?);
                    let index = self.calls.len() as u32;
                    if self.call(block).is_some() {
                        return Err(malformed(format!(
                            "Bedrock content block {block} started twice"
                        )));
                    }
                    self.calls.push((block, index));
                    out.push(StreamEvent::ToolCallStart {
                        choice: 0,
                        index,
                        id,
                        name,
                    });
                }
            }
            "contentBlockDelta" => {
                let delta = v
                    .get("delta")
                    .filter(|d| d.is_object())
                    .ok_or_else(|| malformed("Bedrock `contentBlockDelta` has no `delta`"))?;
                if let Some(text) = delta.get("text") {
                    let text = text
                        .as_str()
                        .ok_or_else(|| malformed("Bedrock text delta is not a string"))?;
                    out.push(StreamEvent::Text {
                        choice: 0,
                        text: text.to_string(),
                    });
                } else if let Some(tool) = delta.get("toolUse") {
                    let block = block()?;
                    let index = self.call(block).ok_or_else(|| {
                        malformed(format!("Bedrock toolUse delta for content block {block}, which did not start one"))
                    })?;
                    let arguments = tool
                        .get("input")
                        .and_then(Value::as_str)
                        .ok_or_else(|| malformed("Bedrock toolUse delta has no `input` text"))?;
                    out.push(StreamEvent::ToolCallArguments {
                        choice: 0,
                        index,
                        arguments: arguments.to_string(),
                    });
                }
            }
            "messageStop" => {
                let reason = v
                    .get("stopReason")
                    .and_then(Value::as_str)
                    .ok_or_else(|| malformed("Bedrock `messageStop` has no `stopReason`"))?;
                out.push(StreamEvent::Finish {
                    choice: 0,
                    reason: finish_reason(reason),
                });
            }
            "metadata" => {
                if let Some(u) = v.get("usage").filter(|u| !u.is_null()) {
                    out.push(StreamEvent::Usage(usage(u)?));
                }
                out.push(StreamEvent::Done);
                self.ended = true;
            }
            // messageStart (Start is already out), contentBlockStop.
            _ => {}
        }
        Ok(())
    }
}
