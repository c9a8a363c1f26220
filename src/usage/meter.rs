//! The usage of a streamed answer, read while it is relayed.
//!
//! [`Counter`] watches canonical stream events: the provider's usage (the
//! last one wins; decoders merge Anthropic's start and end counts) and the
//! bytes of text and tool arguments, for a count when the provider reports
//! no usage. A translated stream feeds its translator's events to one; a
//! stream forwarded as it came goes through a [`Meter`], which runs the
//! provider's own decoder over a copy of each chunk.
//!
//! When the gateway asked an OpenAI-speaking upstream for usage the client
//! did not ask for (`stream_options.include_usage`), the meter also takes
//! the extra usage chunk (`"choices":[]` with `usage`) and the `"usage":null`
//! members of the other chunks out of what the client receives: it then
//! passes on whole events only ([`Meter::push`] returns the bytes to send),
//! so the client's stream is the one it asked for. (`"usage":null` outside
//! a string can only be a member: quotes inside JSON strings are escaped.)

use super::{tokens_of_bytes, Rates, Source, Tally, Usage};
use crate::canonical::StreamEvent;
use crate::provider::{Adapter, StreamDecoder};

/// Usage and text seen on a stream.
#[derive(Debug, Clone, Default)]
pub struct Counter {
    usage: Option<Usage>,
    text_bytes: u64,
}

impl Counter {
    pub fn see(&mut self, event: &StreamEvent) {
        match event {
            StreamEvent::Usage(u) => self.usage = Some(*u),
            StreamEvent::Text { text, .. } => self.text_bytes += text.len() as u64,
            StreamEvent::ToolCallArguments { arguments, .. } => self.text_bytes += arguments.len() as u64,
            StreamEvent::ToolCallStart { name, .. } => self.text_bytes += name.len() as u64,
            _ => {}
        }
    }

    /// What the stream used: the provider's numbers, or `prompt_tokens`
    /// (the pre-call estimate) and the text counted.
    pub fn tally(&self, prompt_tokens: u64, rates: Option<&Rates>) -> Tally {
        match self.usage {
            Some(usage) => Tally::new(usage, Source::Reported, rates),
            None => {
                let usage = Usage {
                    input_tokens: prompt_tokens,
                    output_tokens: tokens_of_bytes(self.text_bytes),
                    cached_input_tokens: None,
                };
                Tally::new(usage, Source::Counted, rates)
            }
        }
    }
}

/// Meters a stream relayed as the provider sent it.
#[derive(Debug)]
pub struct Meter {
    decoder: StreamDecoder,
    events: Vec<StreamEvent>,
    pub counter: Counter,
    /// Stripping the usage chunk: bytes of an event not complete yet.
    strip: Option<Vec<u8>>,
    out: Vec<u8>,
    /// The decoder failed: stop reading (the client's stream is untouched).
    broken: bool,
}

impl Meter {
    /// `strip_usage`: the gateway asked for usage the client did not.
    pub fn new(adapter: Adapter, strip_usage: bool) -> Meter {
        Meter {
            decoder: adapter.stream_decoder(),
            events: Vec::new(),
            counter: Counter::default(),
            strip: strip_usage.then(Vec::new),
            out: Vec::new(),
            broken: false,
        }
    }

    /// Reads one chunk. `None`: send the chunk as it is; `Some(bytes)`:
    /// send these instead (whole events, the usage chunk taken out).
    pub fn push(&mut self, bytes: &[u8]) -> Option<&[u8]> {
        self.decode(bytes);
        let pending = self.strip.as_mut()?;
        pending.extend_from_slice(bytes);
        self.out.clear();
        let mut start = 0;
        while let Some(end) = event_end(&pending[start..]) {
            let event = &pending[start..start + end];
            if !is_usage_only(event) {
                without_null_usage(event, &mut self.out);
            }
            start += end;
        }
        pending.drain(..start);
        Some(&self.out)
    }

    /// The stream ended: what is left to send (stripping only).
    pub fn finish(&mut self) -> Option<Vec<u8>> {
        if !self.broken {
            let _ = self.decoder.finish(&mut self.events);
            self.drain();
        }
        let rest = self.strip.take().filter(|rest| !rest.is_empty() && !is_usage_only(rest))?;
        let mut out = Vec::with_capacity(rest.len());
        without_null_usage(&rest, &mut out);
        Some(out)
    }

    fn decode(&mut self, bytes: &[u8]) {
        if self.broken {
            return;
        }
        if self.decoder.push(bytes, &mut self.events).is_err() {
            self.broken = true;
        }
        self.drain();
    }

    fn drain(&mut self) {
        for event in self.events.drain(..) {
            self.counter.see(&event);
        }
    }
}

/// The length of the first whole SSE event in `bytes` (its blank line
/// included), if one is complete.
fn event_end(bytes: &[u8]) -> Option<usize> {
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\n' {
            match bytes.get(i + 1) {
                Some(b'\n') => return Some(i + 2),
                Some(b'\r') if bytes.get(i + 2) == Some(&b'\n') => return Some(i + 3),
                _ => {}
            }
        }
        i += 1;
    }
    None
}

/// Appends `event` to `out` without its `"usage":null` members.
fn without_null_usage(event: &[u8], out: &mut Vec<u8>) {
    const MEMBER: &[u8] = b"\"usage\":null";
    let mut at = 0;
    while let Some(found) = event[at..].windows(MEMBER.len()).position(|w| w == MEMBER) {
        let start = at + found;
        let end = start + MEMBER.len();
        if event[..start].last() == Some(&b',') {
            out.extend_from_slice(&event[at..start - 1]);
        } else {
            out.extend_from_slice(&event[at..start]);
            at = if event.get(end) == Some(&b',') { end + 1 } else { end };
            continue;
        }
        at = end;
    }
    out.extend_from_slice(&event[at..]);
}

/// Whether an SSE event is OpenAI's usage chunk: `"choices":[]` and a `usage`.
fn is_usage_only(event: &[u8]) -> bool {
    if !event.windows(7).any(|w| w == b"\"usage\"") {
        return false;
    }
    let Ok(text) = std::str::from_utf8(event) else { return false };
    text.lines().filter_map(|l| l.strip_prefix("data:")).any(|data| {
        serde_json::from_slice::<serde_json::Value>(data.trim().as_bytes()).is_ok_and(|v| {
            v.get("choices").and_then(|c| c.as_array()).is_some_and(|c| c.is_empty())
                && v.get("usage").is_some_and(|u| u.is_object())
        })
    })
}
