//! A streamed answer folded back into one canonical answer, for the cache.
//!
//! The recorder reads the bytes the *client* received (its dialect's SSE,
//! whether the gateway relayed the provider's bytes untouched or translated
//! them) through that dialect's own decoder ([`crate::dialect::Dialect::native`]'s
//! [`crate::provider::Adapter::stream_decoder`]). Only a complete stream
//! gives an answer: one that ends before its end marker, carries an error
//! event (the relay's terminal one included) or cannot be decoded is an
//! `Err` and nothing is stored.

use crate::canonical::{ChatResponse, Choice, StreamEvent, ToolCall};
use crate::provider::{Adapter, StreamDecoder};

/// Folds canonical stream events into a [`ChatResponse`].
#[derive(Debug, Default)]
pub struct Assembler {
    answer: Option<ChatResponse>,
    /// (choice, call number) → position in that choice's `tool_calls`.
    calls: Vec<(u32, u32, usize)>,
    failure: Option<String>,
    done: bool,
}

impl Assembler {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn apply(&mut self, event: StreamEvent) {
        if self.failure.is_some() || self.done {
            return;
        }
        let answer = self.answer.get_or_insert_with(|| ChatResponse {
            id: String::new(),
            model: String::new(),
            created: 0,
            choices: Vec::new(),
            usage: None,
        });
        match event {
            StreamEvent::Start { id, model } => {
                if answer.id.is_empty() {
                    answer.id = id;
                }
                if answer.model.is_empty() {
                    answer.model = model;
                }
            }
            StreamEvent::Text { choice, text } => {
                choice_mut(answer, choice).text.get_or_insert_with(String::new).push_str(&text);
            }
            StreamEvent::ToolCallStart { choice, index, id, name } => {
                let calls = &mut choice_mut(answer, choice).tool_calls;
                self.calls.retain(|&(c, i, _)| (c, i) != (choice, index));
                self.calls.push((choice, index, calls.len()));
                calls.push(ToolCall { id, name, arguments: String::new() });
            }
            StreamEvent::ToolCallArguments { choice, index, arguments } => {
                let Some(&(_, _, at)) = self.calls.iter().find(|&&(c, i, _)| (c, i) == (choice, index)) else {
                    self.failure = Some("tool call arguments for a call that never began".into());
                    return;
                };
                choice_mut(answer, choice).tool_calls[at].arguments.push_str(&arguments);
            }
            StreamEvent::Finish { choice, reason } => choice_mut(answer, choice).finish_reason = Some(reason),
            StreamEvent::Usage(usage) => answer.usage = Some(usage),
            StreamEvent::Error { message } => self.failure = Some(message),
            StreamEvent::Done => self.done = true,
        }
    }

    /// The answer, if the stream was complete and carried no error.
    pub fn finish(self) -> Result<ChatResponse, String> {
        if let Some(failure) = self.failure {
            return Err(failure);
        }
        if !self.done {
            return Err("the stream never reached its end marker".into());
        }
        Ok(self.answer.ok_or("the stream was empty")?)
    }
}

/// Choice `index`, added in index order when it is new.
fn choice_mut(answer: &mut ChatResponse, index: u32) -> &mut Choice {
    let at = answer.choices.iter().position(|c| c.index >= index).unwrap_or(answer.choices.len());
    if answer.choices.get(at).is_none_or(|c| c.index != index) {
        answer.choices.insert(at, Choice { index, text: None, tool_calls: Vec::new(), finish_reason: None });
    }
    &mut answer.choices[at]
}

/// A stream's bytes, chunk by chunk, to a canonical answer.
#[derive(Debug)]
pub struct Recorder {
    decoder: StreamDecoder,
    events: Vec<StreamEvent>,
    assembler: Assembler,
    failure: Option<String>,
}

impl Recorder {
    /// For a stream in `adapter`'s wire format (the client dialect's native one).
    pub fn new(adapter: Adapter) -> Self {
        Recorder { decoder: adapter.stream_decoder(), events: Vec::new(), assembler: Assembler::new(), failure: None }
    }

    pub fn push(&mut self, bytes: &[u8]) {
        if self.failure.is_none() {
            let decoded = self.decoder.push(bytes, &mut self.events);
            self.take(decoded);
        }
    }

    /// The body ended; `created` (Unix seconds) fills in what SSE does not carry.
    pub fn finish(mut self, created: u64) -> Result<ChatResponse, String> {
        if self.failure.is_none() {
            let decoded = self.decoder.finish(&mut self.events);
            self.take(decoded);
        }
        // An error event the stream carried says more than the missing end after it.
        if let (Some(failure), None) = (self.failure, &self.assembler.failure) {
            return Err(failure);
        }
        let mut answer = self.assembler.finish()?;
        if answer.created == 0 {
            answer.created = created;
        }
        Ok(answer)
    }

    fn take(&mut self, decoded: Result<(), crate::canonical::DecodeError>) {
        if let Err(crate::canonical::DecodeError::Malformed(e) | crate::canonical::DecodeError::Refused(e)) = decoded {
            self.failure = Some(e);
        }
        for event in self.events.drain(..) {
            self.assembler.apply(event);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canonical::{FinishReason, Usage};
    use crate::dialect::Dialect;

    /// An answer with text, a tool call and usage.
    fn answer() -> ChatResponse {
        let mut a = crate::cache::entry::tests::sample();
        a.choices.truncate(1);
        a.choices[0].tool_calls.push(ToolCall { id: "call_9".into(), name: "look".into(), arguments: "{\"q\":\"x\"}".into() });
        a.choices[0].finish_reason = Some(FinishReason::ToolCalls);
        a
    }

    /// Every chunking of `bytes` into two pieces, and byte by byte.
    fn chunkings(bytes: &[u8]) -> Vec<Vec<&[u8]>> {
        let mut all: Vec<Vec<&[u8]>> = (0..=bytes.len()).step_by(7).map(|cut| vec![&bytes[..cut], &bytes[cut..]]).collect();
        all.push(bytes.chunks(1).collect());
        all
    }

    #[test]
    fn an_encoded_stream_records_back_to_its_answer_in_both_dialects() {
        for dialect in [Dialect::OpenAi, Dialect::Anthropic] {
            let sse = crate::cache::replay::sse(dialect, true, &answer());
            for chunks in chunkings(sse.as_bytes()) {
                let mut recorder = Recorder::new(dialect.native());
                for chunk in chunks {
                    recorder.push(chunk);
                }
                let mut got = recorder.finish(1).unwrap();
                let mut want = answer();
                if dialect == Dialect::Anthropic {
                    // Anthropic's stream has no `created` and no cached-token split.
                    want.created = 1;
                    got.usage = got.usage.map(|u| Usage { cached_input_tokens: Some(2), ..u });
                }
                assert_eq!(got.choices, want.choices, "{dialect:?}");
                assert_eq!((got.id.as_str(), got.model.as_str()), (want.id.as_str(), want.model.as_str()));
                assert_eq!(got.usage.map(|u| u.output_tokens), Some(7));
            }
        }
    }

    #[test]
    fn a_stream_without_its_end_or_with_an_error_is_not_an_answer() {
        let sse = crate::cache::replay::sse(Dialect::OpenAi, false, &answer());
        let cut = &sse.as_bytes()[..sse.len() - "data: [DONE]\n\n".len()];
        let mut recorder = Recorder::new(Adapter::OpenAi);
        recorder.push(cut);
        assert!(recorder.finish(0).is_err());

        let mut recorder = Recorder::new(Adapter::OpenAi);
        recorder.push(cut);
        recorder.push(b"data: {\"error\":{\"message\":\"upstream broke\",\"code\":\"upstream_incomplete\"}}\n\n");
        assert_eq!(recorder.finish(0).unwrap_err(), "upstream broke");

        let mut recorder = Recorder::new(Adapter::OpenAi);
        recorder.push(b"data: {not json\n\n");
        recorder.push(b"data: [DONE]\n\n");
        assert!(recorder.finish(0).is_err());

        let mut recorder = Recorder::new(Adapter::OpenAi);
        recorder.push(b"data: [DONE]\n\n");
        let empty = recorder.finish(5).unwrap();
        assert!(empty.choices.is_empty());
    }

    #[test]
    fn the_assembler_joins_text_and_arguments_per_choice() {
        let mut a = Assembler::new();
        for event in [
            StreamEvent::Start { id: "x".into(), model: "m".into() },
            StreamEvent::Text { choice: 1, text: "B".into() },
            StreamEvent::Text { choice: 0, text: "a".into() },
            StreamEvent::Text { choice: 0, text: "b".into() },
            StreamEvent::ToolCallStart { choice: 0, index: 3, id: "c".into(), name: "f".into() },
            StreamEvent::ToolCallArguments { choice: 0, index: 3, arguments: "{".into() },
            StreamEvent::ToolCallArguments { choice: 0, index: 3, arguments: "}".into() },
            StreamEvent::Finish { choice: 0, reason: FinishReason::Stop },
            StreamEvent::Done,
            StreamEvent::Text { choice: 0, text: "after the end".into() },
        ] {
            a.apply(event);
        }
        let answer = a.finish().unwrap();
        assert_eq!(answer.choices.len(), 2);
        assert_eq!(answer.choices[0].text.as_deref(), Some("ab"));
        assert_eq!(answer.choices[0].tool_calls[0].arguments, "{}");
        assert_eq!(answer.choices[1].text.as_deref(), Some("B"));
        let mut orphan = Assembler::new();
        orphan.apply(StreamEvent::ToolCallArguments { choice: 0, index: 0, arguments: "x".into() });
        orphan.apply(StreamEvent::Done);
        assert!(orphan.finish().is_err());
    }
}
