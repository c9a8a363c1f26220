//! An OpenAI SSE stream (`chat.completion.chunk` events, then
//! `data: [DONE]`) read chunk by chunk into canonical [`StreamEvent`]s.


use serde_json::Value;

use super::response::{error_message, finish_reason, usage};
use crate::canonical::sse::{Frame, SseReader};
use crate::canonical::{DecodeError, StreamEvent};

/// Streamed answers, chunk by chunk.
#[derive(Debug, Default)]
pub struct Decoder {
    reader: SseReader,
    started: bool,
    done: bool,
    /// (choice, index) of the tool calls that began.
    calls: Vec<(u32, u32)>,
}

impl Decoder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, bytes: &[u8], out: &mut Vec<StreamEvent>) -> Result<(), DecodeError> {
        self.read(bytes, out, None)
    }

    /// [`Decoder::push`] for a meter, which needs the usage and the length
    /// of the text only: an event that carries nothing but text (no tool
    /// call, usage or error) adds the UTF-8 length of its `content` and
    /// `refusal` strings to `text_bytes` instead of becoming events, read
    /// without building its JSON ([`text_only_bytes`]); every other event
    /// is decoded as usual. Start and finish events, which a meter ignores,
    /// are not produced for the events read the short way.
    pub fn push_metered(&mut self, bytes: &[u8], out: &mut Vec<StreamEvent>, text_bytes: &mut u64) -> Result<(), DecodeError> {
        self.read(bytes, out, Some(text_bytes))
    }

    /// Both: the short way for text events when `text_bytes` is given.
    fn read(&mut self, bytes: &[u8], out: &mut Vec<StreamEvent>, mut text_bytes: Option<&mut u64>) -> Result<(), DecodeError> {
        for frame in self.reader.push(bytes) {
            if let (Some(total), false) = (text_bytes.as_deref_mut(), self.done) {
                if let Some(n) = text_only_bytes(frame.data.trim().as_bytes()) {
                    self.started = true;
                    *total += n;
                    continue;
                }
            }
            self.frame(&frame, out)?;
        }
        Ok(())
    }

    pub fn finish(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), DecodeError> {
        if let Some(frame) = self.reader.finish() {
            self.frame(&frame, out)?;
        }
        if self.done {
            Ok(())
        } else {
            Err(DecodeError::Malformed(
                "the stream ended before `data: [DONE]`".into(),
            ))
        }
    }

    fn frame(&mut self, frame: &Frame, out: &mut Vec<StreamEvent>) -> Result<(), DecodeError> {
        let data = frame.data.trim();
        if self.done || data.is_empty() {
            return Ok(());
        }
        if data == "[DONE]" {
            self.start("", "", out);
            self.done = true;
            out.push(StreamEvent::Done);
            return Ok(());
        }
        let chunk: Value = serde_json::from_slice(data.as_bytes())
            .map_err(|e| DecodeError::Malformed(format!("a stream event is not JSON: {e}")))?;
        if let Some(error) = chunk.get("error").filter(|e| !e.is_null()) {
            let message = error_message(error).unwrap_or_else(|| crate::json_out::value_text(error));
            out.push(StreamEvent::Error { message });
            return Ok(());
        }
        if !chunk.is_object() {
            return Err(DecodeError::Malformed(
                "a stream event is not a JSON object".into(),
            ));
        }
        let text = |key: &str| chunk.get(key).and_then(Value::as_str).unwrap_or_default();
        self.start(text("id"), text("model"), out);
        if let Some(choices) = chunk.get("choices").and_then(Value::as_array) {
            for (position, choice) in choices.iter().enumerate() {
                self.choice(position, choice, out)?;
            }
        }
        // Groq reports stream usage under `x_groq`.
        let usage_value = chunk
            .get("usage")
            .filter(|u| !u.is_null())
            .or_else(|| chunk.get("x_groq").and_then(|x| x.get("usage")));
        if let Some(usage) = usage_value.and_then(usage) {
            out.push(StreamEvent::Usage(usage));
        }
        Ok(())
    }

    fn start(&mut self, id: &str, model: &str, out: &mut Vec<StreamEvent>) {
        if !self.started {
            self.started = true;
            out.push(StreamEvent::Start {
                id: id.to_string(),
                model: model.to_string(),
            });
        }
    }

    fn choice(
        &mut self,
        position: usize,
        c: &Value,
        out: &mut Vec<StreamEvent>,
    ) -> Result<(), DecodeError> {
        let bad = |what: &str| DecodeError::Malformed(format!("a stream choice {what}"));
        let choice = match c.get("index") {
            None | Some(Value::Null) => position as u32,
            Some(v) => v
                .as_u64()
                .and_then(|i| u32::try_from(i).ok())
                .ok_or_else(|| bad("has a bad index"))?,
        };
        if let Some(delta) = c.get("delta").filter(|d| !d.is_null()) {
            for key in ["content", "refusal"] {
                match delta.get(key) {
                    Some(Value::String(text)) if !text.is_empty() => out.push(StreamEvent::Text {
                        choice,
                        text: text.clone(),
                    }),
                    None | Some(Value::Null) | Some(Value::String(_)) => {}
                    Some(_) => return Err(bad("has content that is not text")),
                }
            }
            match delta.get("tool_calls") {
                Some(Value::Array(calls)) => {
                    for (i, call) in calls.iter().enumerate() {
                        self.tool_call(choice, i, call, out)?;
                    }
                }
                None | Some(Value::Null) => {}
                Some(_) => return Err(bad("has `tool_calls` that are not an array")),
            }
        }
        if let Some(reason) = c.get("finish_reason").and_then(Value::as_str) {
            out.push(StreamEvent::Finish {
                choice,
                reason: finish_reason(reason),
            });
        }
        Ok(())
    }

    fn tool_call(
        &mut self,
        choice: u32,
        position: usize,
        call: &Value,
        out: &mut Vec<StreamEvent>,
    ) -> Result<(), DecodeError> {
        let index = match call.get("index") {
            None | Some(Value::Null) => position as u32,
            Some(v) => v
                .as_u64()
                .and_then(|i| u32::try_from(i).ok())
                .ok_or_else(|| {
                    DecodeError::Malformed("a streamed tool call has a bad index".into())
                })?,
        };
        let function = call.get("function");
        let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or_default().to_string();
        if !self.calls.contains(&(choice, index)) {
            self.calls.push((choice, index));
            out.push(StreamEvent::ToolCallStart {
                choice,
                index,
                id: text(call.get("id")),
                name: text(function.and_then(|f| f.get("name"))),
            });
        }
        let arguments = match function.and_then(|f| f.get("arguments")) {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) => s.clone(),
            Some(other) => crate::json_out::value_text(other),
        };
        if !arguments.is_empty() {
            out.push(StreamEvent::ToolCallArguments {
                choice,
                index,
                arguments,
            });
        }
        Ok(())
    }
}

/// The text bytes of a chunk that carries text and nothing a meter must
/// decode: a JSON object without `tool_calls`, `error` or Groq's `x_groq`,
/// whose `usage` members (if any) are null, and whose `content` and
/// `refusal` members are strings or null, read in one pass over its bytes.
/// `None`: decode it in full. The pass checks the strings, not the whole
/// grammar: an event that is not JSON at all may count as no text here,
/// where the full decode would stop metering the stream.
fn text_only_bytes(data: &[u8]) -> Option<u64> {
    use crate::canonical::json_bytes::{string_len, walk_members};
    if !data.starts_with(b"{") || !data.ends_with(b"}") {
        return None;
    }
    let mut n = 0;
    let read = walk_members(data, &mut |name, value| match name {
        b"content" | b"refusal" if value.starts_with(b"\"") => {
            n += string_len(value)?;
            // The walk skips the string itself.
            Some(0)
        }
        b"content" | b"refusal" | b"usage" => value.starts_with(b"null").then_some(4),
        b"tool_calls" | b"error" | b"x_groq" => None,
        // A name with an escape could spell any of these.
        _ if name.contains(&b'\\') => None,
        _ => Some(0),
    });
    read.then_some(n)
}
