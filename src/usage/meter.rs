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
use crate::canonical::json_bytes::{skip_space, walk_members};
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

    /// Text read without becoming events (a meter's short way, see
    /// [`crate::provider::StreamDecoder::push_metered`]).
    pub fn add_text_bytes(&mut self, n: u64) {
        self.text_bytes += n;
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

/// Meters a stream relayed as the provider sent it, and hands the relay
/// whole events only: a chunk that is exactly whole events goes on as it
/// came; otherwise the meter holds the incomplete tail back until its
/// event is complete (so the end marker is never split, see
/// [`end_event_at`]).
#[derive(Debug)]
pub struct Meter {
    decoder: StreamDecoder,
    events: Vec<StreamEvent>,
    pub counter: Counter,
    /// Take out the usage chunk and `"usage":null` members.
    strip: bool,
    /// Bytes of an event not complete yet.
    pending: Vec<u8>,
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
            strip: strip_usage,
            pending: Vec::new(),
            out: Vec::new(),
            broken: false,
        }
    }

    /// Reads one chunk (its usage and text are counted at once).
    pub fn observe(&mut self, bytes: &[u8]) {
        if self.broken {
            return;
        }
        let mut text = 0;
        if self.decoder.push_metered(bytes, &mut self.events, &mut text).is_err() {
            self.broken = true;
        }
        self.counter.add_text_bytes(text);
        self.drain();
    }

    /// What to send for the chunk just observed. `None`: the chunk as it
    /// is (whole events, nothing to take out); `Some(bytes)`: these instead
    /// (the whole events completed so far, the usage chunk taken out when
    /// stripping).
    pub fn frame(&mut self, bytes: &[u8]) -> Option<&[u8]> {
        if self.pending.is_empty() && !self.strip && ends_an_event(bytes) {
            return None;
        }
        self.pending.extend_from_slice(bytes);
        self.out.clear();
        let mut start = 0;
        while let Some(end) = event_end(&self.pending[start..]) {
            let event = &self.pending[start..start + end];
            if !self.strip {
                self.out.extend_from_slice(event);
            } else if !is_usage_only(event) {
                without_null_usage(event, &mut self.out);
            }
            start += end;
        }
        self.pending.drain(..start);
        Some(&self.out)
    }

    /// [`Meter::observe`] and [`Meter::frame`] in one.
    pub fn push(&mut self, bytes: &[u8]) -> Option<&[u8]> {
        self.observe(bytes);
        self.frame(bytes)
    }

    /// The stream ended: what is left to send (an unterminated last event).
    pub fn finish(&mut self) -> Option<Vec<u8>> {
        if !self.broken {
            let _ = self.decoder.finish(&mut self.events);
            self.drain();
        }
        let rest = std::mem::take(&mut self.pending);
        if rest.is_empty() || self.strip && is_usage_only(&rest) {
            return None;
        }
        if !self.strip {
            return Some(rest);
        }
        let mut out = Vec::with_capacity(rest.len());
        without_null_usage(&rest, &mut out);
        Some(out)
    }

    fn drain(&mut self) {
        for event in self.events.drain(..) {
            self.counter.see(&event);
        }
    }
}

/// Whether `bytes` end with a blank line (the end of an SSE event).
fn ends_an_event(bytes: &[u8]) -> bool {
    bytes.ends_with(b"\n\n") || bytes.ends_with(b"\r\n\r\n")
}

/// The line that starts a stream's last event in a dialect: OpenAI's
/// `data: [DONE]`, Anthropic's `event: message_stop`.
pub fn end_marker(dialect: crate::dialect::Dialect) -> &'static [u8] {
    match dialect {
        crate::dialect::Dialect::OpenAi => b"data: [DONE]",
        crate::dialect::Dialect::Anthropic => b"event: message_stop",
    }
}

/// Where the event starting with `marker` (at the start of a line) begins
/// in `events` (whole events): the usage comment goes just before it.
pub fn end_event_at(events: &[u8], marker: &[u8]) -> Option<usize> {
    // Only the first byte of a line can start it: look at line starts.
    let mut at = 0;
    loop {
        if events[at..].starts_with(marker) {
            return Some(at);
        }
        at += events[at..].iter().position(|&b| b == b'\n')? + 1;
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
    let mut look = 0;
    // Only a quote can start the member: look at quotes, not at every byte.
    while let Some(quote) = event[look..].iter().position(|&b| b == b'"') {
        let start = look + quote;
        look = start + 1;
        if !event[start..].starts_with(MEMBER) {
            continue;
        }
        let end = start + MEMBER.len();
        look = end;
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
    // Cheap tests on the bytes first: every other chunk of a stream whose
    // usage was asked for has `"usage":null` and choices that are not empty.
    let (mut usage, mut empty_choices) = (false, false);
    walk_members(event, &mut |name, value| {
        match name {
            b"usage" => usage |= value.starts_with(b"{"),
            b"choices" => empty_choices |= value.strip_prefix(b"[").is_some_and(|v| skip_space(v).starts_with(b"]")),
            _ => {}
        }
        Some(0)
    });
    if !usage || !empty_choices {
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

#[cfg(test)]
mod tests {
    use super::is_usage_only;

    #[test]
    fn the_usage_chunk_is_told_by_its_parse_after_a_cheap_look_at_the_bytes() {
        for event in [
            "data: {\"id\":\"c\",\"choices\":[],\"usage\":{\"prompt_tokens\":1}}\n\n",
            "data: { \"choices\" : [ ] , \"usage\" :\t{\"prompt_tokens\":1} }\n\n",
            "data: {\"usage\":{\"prompt_tokens\":1},\"x\":\"\\\"choices\\\":[1]\",\"choices\":[]}\n\n",
        ] {
            assert!(is_usage_only(event.as_bytes()), "{event}");
        }
        for event in [
            "data: {\"id\":\"c\",\"choices\":[{\"index\":0}],\"usage\":null}\n\n",
            "data: {\"id\":\"c\",\"choices\":[],\"usage\":null}\n\n",
            "data: {\"id\":\"c\",\"choices\":[{}],\"usage\":{\"prompt_tokens\":1}}\n\n",
            "data: {\"x\":\"\\\"choices\\\":[]\",\"choices\":[{}],\"usage\":{\"prompt_tokens\":1}}\n\n",
            "data: {\"choices\":[]}\n\n",
            "data: [DONE]\n\n",
        ] {
            assert!(!is_usage_only(event.as_bytes()), "{event}");
        }
    }
}
