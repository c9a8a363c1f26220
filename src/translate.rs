//! A provider's answer in the client's dialect, when the two differ: a
//! whole JSON answer at once, a stream chunk by chunk.
//!
//! Both go through the canonical types: the provider's adapter decodes,
//! the client's dialect encodes. A stream that the provider reports as
//! failed (an error event), that cannot be decoded, or that ends before the
//! provider's end marker is an error here; the edge then ends the client's
//! stream with the dialect's terminal error event, never a clean end.

use crate::canonical::{DecodeError, StreamEvent};
use crate::dialect::{Dialect, StreamEncoder};
use crate::error::{Fault, GatewayError};
use crate::provider::{Adapter, StreamDecoder};

/// What an answer says about itself when the provider's format does not
/// (Bedrock's Converse carries no id, model or time).
#[derive(Debug, Clone, Copy)]
pub struct Defaults<'a> {
    /// An id for the answer (the gateway's request id).
    pub id: &'a str,
    /// The provider model that answered.
    pub model: &'a str,
    /// Unix seconds now.
    pub created: u64,
}

/// A complete answer: the client's JSON body, or what was wrong with the provider's.
pub fn json_answer(adapter: Adapter, dialect: Dialect, body: &[u8], defaults: Defaults<'_>) -> Result<String, DecodeError> {
    let mut response = adapter.chat_response(body)?;
    if response.id.is_empty() {
        response.id = defaults.id.to_string();
    }
    if response.model.is_empty() {
        response.model = defaults.model.to_string();
    }
    if response.created == 0 {
        response.created = defaults.created;
    }
    Ok(dialect.encode_response(&response))
}

/// A stream being translated.
#[derive(Debug)]
pub struct StreamTranslator {
    decoder: StreamDecoder,
    encoder: StreamEncoder,
    events: Vec<StreamEvent>,
    out: String,
    /// Set once the stream failed: nothing more is written.
    failed: bool,
    /// For a `Start` that names no id or model.
    id: String,
    model: String,
    /// The usage and text seen (for the stream's cost).
    pub counter: crate::usage::meter::Counter,
}

impl StreamTranslator {
    pub fn new(adapter: Adapter, dialect: Dialect, include_usage: bool, defaults: Defaults<'_>) -> Self {
        StreamTranslator {
            decoder: adapter.stream_decoder(),
            encoder: dialect.stream_encoder(include_usage, defaults.created),
            events: Vec::new(),
            out: String::new(),
            failed: false,
            id: defaults.id.to_string(),
            model: defaults.model.to_string(),
            counter: Default::default(),
        }
    }

    /// The client's bytes for one upstream chunk (often empty: a chunk may
    /// complete no event).
    pub fn push(&mut self, bytes: &[u8]) -> Result<&str, GatewayError> {
        let decoded = self.decoder.push(bytes, &mut self.events);
        self.emit(decoded)
    }

    /// The upstream body ended: what is left to write, or why the stream
    /// is incomplete.
    pub fn finish(&mut self) -> Result<&str, GatewayError> {
        let decoded = self.decoder.finish(&mut self.events);
        self.emit(decoded)
    }

    fn emit(&mut self, decoded: Result<(), DecodeError>) -> Result<&str, GatewayError> {
        self.out.clear();
        if self.failed {
            self.events.clear();
            return Err(incomplete("it already failed".into()));
        }
        let mut failure = decoded.err().map(|e| match e {
            DecodeError::Malformed(what) | DecodeError::Refused(what) => what,
        });
        for event in self.events.drain(..) {
            if failure.is_some() {
                break;
            }
            self.counter.see(&event);
            match event {
                StreamEvent::Error { message } => failure = Some(message),
                StreamEvent::Start { id, model } => {
                    let id = if id.is_empty() { self.id.clone() } else { id };
                    let model = if model.is_empty() { self.model.clone() } else { model };
                    self.encoder.encode(&StreamEvent::Start { id, model }, &mut self.out);
                }
                event => self.encoder.encode(&event, &mut self.out),
            }
        }
        match failure {
            None => Ok(&self.out),
            Some(what) => {
                self.failed = true;
                Err(incomplete(what))
            }
        }
    }

    /// What was encoded before a failure (written before the error event).
    pub fn pending(&self) -> &str {
        &self.out
    }
}

fn incomplete(what: String) -> GatewayError {
    GatewayError::new(
        Fault::UpstreamIncomplete,
        format!("The upstream provider's stream failed part-way ({what}); the response is incomplete."),
    )
}

#[cfg(test)]
mod tests;
