//! Gemini's `streamGenerateContent?alt=sse` body, chunk by chunk, as
//! canonical stream events.
//!
//! Every `data:` event is one `GenerateContentResponse` chunk. Gemini sends
//! no `[DONE]`: the stream is complete once every candidate seen carried a
//! `finishReason`, and a body that ends before that is a cut
//! (`finish` → `Err(Malformed)`). Events: `Start` (from the first chunk:
//! `responseId`, or a hash of the chunk; `modelVersion`), `Text` deltas,
//! `ToolCallStart` + `ToolCallArguments` (the whole arguments at once: Gemini
//! sends each `functionCall` complete), `Finish` per candidate, and at the
//! end the last `usageMetadata` as `Usage`, then `Done`.
//!
//! A blocked prompt, or a content-filter finish before anything was
//! generated, is `Err(Refused)`. An `{"error": …}` chunk is an `Error`
//! event; the stream then ends without `Done` and `finish` is `Ok`.

use serde_json::Value;

use super::response::{candidate_refused, finish_reason, generated_id, is_content_filter, read};
use crate::canonical::sse::SseReader;
use crate::canonical::{json, DecodeError, StreamEvent, Usage};

/// What the decoder knows of one candidate.
#[derive(Debug, Default)]
struct ChoiceState {
    choice: u32,
    /// Tool calls so far.
    calls: u32,
    finished: bool,
}

/// Streamed answers, chunk by chunk.
#[derive(Debug, Default)]
pub struct Decoder {
    sse: SseReader,
    started: bool,
    choices: Vec<ChoiceState>,
    /// Any text or tool call emitted, on any choice.
    generated: bool,
    usage: Option<Usage>,
    /// The provider reported an error in the stream.
    errored: bool,
}

impl Decoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads one chunk of the body, appending the events it completes.
    pub fn push(&mut self, bytes: &[u8], out: &mut Vec<StreamEvent>) -> Result<(), DecodeError> {
        for frame in self.sse.push(bytes) {
            self.event(&frame.data, out)?;
        }
        Ok(())
    }

    /// The body ended: `Usage` and `Done` if every candidate finished, else
    /// `Err(Malformed)`.
    pub fn finish(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), DecodeError> {
        if let Some(frame) = self.sse.finish() {
            self.event(&frame.data, out)?;
        }
        if self.errored {
            return Ok(());
        }
        let complete = !self.choices.is_empty() && self.choices.iter().all(|c| c.finished);
        if !complete {
            return Err(DecodeError::Malformed(
                "the Gemini stream ended before a finishReason (cut short)".into(),
            ));
        }
        if let Some(usage) = self.usage {
            out.push(StreamEvent::Usage(usage));
        }
        out.push(StreamEvent::Done);
        Ok(())
    }

    fn event(&mut self, data: &str, out: &mut Vec<StreamEvent>) -> Result<(), DecodeError> {
        let data = data.trim();
        if data.is_empty() || data == "[DONE]" {
            return Ok(());
        }
        const WHAT: &str = "a Gemini stream chunk";
        let chunk = json::parse_object(data.as_bytes(), WHAT)?;
        let response = read(&chunk, WHAT)?;
        if let Some(error) = json::get(&chunk, "error") {
            let message = error
                .get("message")
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| crate::json_out::value_text(error));
            out.push(StreamEvent::Error { message });
            self.errored = true;
            return Ok(());
        }
        if let Some(refused) = response.blocked {
            return Err(refused);
        }
        if !self.started {
            self.started = true;
            let id = match response.response_id {
                Some(id) => id.to_string(),
                None => generated_id(data.as_bytes()),
            };
            let model = response.model_version.unwrap_or_default().to_string();
            out.push(StreamEvent::Start { id, model });
        }
        if response.usage.is_some() {
            self.usage = response.usage;
        }
        for (position, candidate) in response.candidates.iter().enumerate() {
            let choice = candidate.choice(position);
            let at = match self.choices.iter().position(|c| c.choice == choice) {
                Some(at) => at,
                None => {
                    self.choices.push(ChoiceState { choice, ..ChoiceState::default() });
                    self.choices.len() - 1
                }
            };
            for part in &candidate.parts {
                if let Some(text) = part.text.filter(|t| !t.is_empty()) {
                    self.generated = true;
                    out.push(StreamEvent::Text { choice, text: text.to_string() });
                }
                if let Some(call) = &part.function_call {
                    self.generated = true;
                    let state = &mut self.choices[at];
                    let index = state.calls;
                    state.calls += 1;
                    out.push(StreamEvent::ToolCallStart {
                        choice,
                        index,
                        id: call.id(index),
                        name: call.name.to_string(),
                    });
                    out.push(StreamEvent::ToolCallArguments { choice, index, arguments: call.arguments() });
                }
            }
            let reason = candidate
                .finish_reason
                .filter(|r| !r.is_empty() && *r != "FINISH_REASON_UNSPECIFIED");
            if let Some(reason) = reason {
                let state = &mut self.choices[at];
                if state.finished {
                    continue;
                }
                if is_content_filter(reason) && !self.generated {
                    return Err(candidate_refused(reason, candidate.finish_message));
                }
                state.finished = true;
                out.push(StreamEvent::Finish { choice, reason: finish_reason(reason, state.calls > 0) });
            }
        }
        Ok(())
    }
}
