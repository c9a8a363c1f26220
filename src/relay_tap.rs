//! What the SSE relay does with each upstream chunk, as plain Rust: meter
//! it, translate it or take the gateway's usage chunk out of it, and put
//! the usage comment before the dialect's end event.
//!
//! `crate::edge::relay` moves the bytes (a small JavaScript loop) and calls
//! [`Tap::push`] once per chunk, synchronously (no future, closure or
//! microtask of its own per chunk), then [`Tap::finish`] once when the
//! upstream ended cleanly. A chunk goes out as it came ([`Step::Forward`],
//! not copied) when it is whole events and nothing in it changes;
//! otherwise the tap's own bytes do ([`Step::Send`]).
//!
//! Usage is read from the translator's events, or, for a stream forwarded
//! as it came, from a [`Meter`] over a copy of each chunk. The tally goes
//! into the stream as SSE comment lines just before the dialect's end event
//! (`data: [DONE]`, `event: message_stop`), the first time that event
//! shows, or last on a clean end that never showed it.

use crate::dialect::Dialect;
use crate::error::GatewayError;
use crate::translate::StreamTranslator;
use crate::usage::meter::{end_event_at, end_marker, Meter};
use crate::usage::{Rates, Tally};

/// What to send for one upstream chunk.
#[derive(Debug, PartialEq, Eq)]
pub enum Step<'a> {
    /// The chunk itself, as it came.
    Forward,
    /// These bytes instead (none: nothing to send yet).
    Send(&'a [u8]),
    /// The translated stream failed: stop reading; [`Tap::broken`] says why
    /// and what was translated before the failure (still to be sent).
    Broken,
}

/// What is left to send when the upstream ended cleanly.
#[derive(Debug, PartialEq, Eq)]
pub struct Closing<'a> {
    pub bytes: &'a [u8],
    /// Whether `bytes` hold more of the stream than the usage comment (when
    /// they cannot be sent, the client did not get the whole answer).
    pub essential: bool,
}

/// One stream's per-chunk work and its usage so far.
#[derive(Debug)]
pub struct Tap {
    /// Set when the provider speaks another format than the client.
    translator: Option<StreamTranslator>,
    /// The meter of a forwarded stream (a translated one counts in its translator).
    meter: Option<Meter>,
    rates: Option<Rates>,
    /// The prompt's estimate, for a count when the provider reports no usage.
    prompt_tokens: u64,
    /// The line that starts the client dialect's end event.
    marker: &'static [u8],
    /// The usage comment went out.
    commented: bool,
    out: Vec<u8>,
    broken: Option<(String, GatewayError)>,
}

impl Tap {
    pub fn new(
        dialect: Dialect,
        translator: Option<StreamTranslator>,
        meter: Option<Meter>,
        rates: Option<Rates>,
        prompt_tokens: u64,
    ) -> Tap {
        Tap { translator, meter, rates, prompt_tokens, marker: end_marker(dialect), commented: false, out: Vec::new(), broken: None }
    }

    /// Reads one upstream chunk: what to send for it.
    pub fn push(&mut self, bytes: &[u8]) -> Step<'_> {
        if let Some(t) = self.translator.as_mut() {
            if let Err(error) = t.push(bytes) {
                self.broken = Some((t.pending().to_string(), error));
                return Step::Broken;
            }
            // The chunk's translation (its events counted).
            let text = t.pending().as_bytes();
            if self.commented || end_event_at(text, self.marker).is_none() {
                return Step::Send(text);
            }
            let tally = Some(t.counter.tally(self.prompt_tokens, self.rates.as_ref()));
            with_comment(text, tally, self.marker, &mut self.commented, &mut self.out);
            return Step::Send(&self.out);
        }
        let Some(meter) = self.meter.as_mut() else {
            return Step::Forward;
        };
        meter.observe(bytes);
        let tally = Some(meter.counter.tally(self.prompt_tokens, self.rates.as_ref()));
        let events = match meter.frame(bytes) {
            Some(events) => events,
            // Whole events as they came: the chunk itself, unless the comment goes into it.
            None if self.commented || end_event_at(bytes, self.marker).is_none() => return Step::Forward,
            None => bytes,
        };
        with_comment(events, tally, self.marker, &mut self.commented, &mut self.out);
        Step::Send(&self.out)
    }

    /// The upstream ended cleanly: what is left to send (an unterminated
    /// last event, a translator's last events, the usage comment), or
    /// `None` when the translated stream is incomplete ([`Tap::broken`]).
    pub fn finish(&mut self) -> Option<Closing<'_>> {
        let rest = match (self.translator.as_mut(), self.meter.as_mut()) {
            (Some(t), _) => match t.finish() {
                Ok(rest) => rest.as_bytes().to_vec(),
                Err(error) => {
                    self.broken = Some((String::new(), error));
                    return None;
                }
            },
            (None, Some(m)) => m.finish().unwrap_or_default(),
            (None, None) => Vec::new(),
        };
        let tally = self.tally();
        with_comment(&rest, tally, self.marker, &mut self.commented, &mut self.out);
        // A complete stream whose end event never showed: the comment goes last.
        if let (Some(tally), false) = (tally, self.commented) {
            self.commented = true;
            self.out.extend_from_slice(tally.sse_comment().as_bytes());
        }
        Some(Closing { bytes: &self.out, essential: !rest.is_empty() })
    }

    /// Why the translated stream failed, and what was translated before
    /// the failure (to be sent before the error event).
    pub fn broken(&mut self) -> Option<(String, GatewayError)> {
        self.broken.take()
    }

    /// The usage so far.
    pub fn tally(&self) -> Option<Tally> {
        let counter = self.translator.as_ref().map(|t| &t.counter).or(self.meter.as_ref().map(|m| &m.counter))?;
        Some(counter.tally(self.prompt_tokens, self.rates.as_ref()))
    }
}

/// `events` (whole events) into `out`; the first time the end event is
/// among them, with the usage comment just before it.
fn with_comment(events: &[u8], tally: Option<Tally>, marker: &[u8], commented: &mut bool, out: &mut Vec<u8>) {
    out.clear();
    let at = if *commented { None } else { end_event_at(events, marker) };
    match (at, tally) {
        (Some(at), Some(tally)) => {
            *commented = true;
            out.extend_from_slice(&events[..at]);
            out.extend_from_slice(tally.sse_comment().as_bytes());
            out.extend_from_slice(&events[at..]);
        }
        _ => out.extend_from_slice(events),
    }
}

#[cfg(test)]
mod tests;
