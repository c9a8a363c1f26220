//! Inbound dialects: the wire formats clients speak to the gateway.
//!
//! A dialect decodes a client's body into the canonical
//! [`ChatRequest`] (or [`EmbeddingsRequest`]) and encodes canonical answers,
//! stream events and errors back into what that client's SDK expects:
//! OpenAI's `{"error":{...}}` or Anthropic's `{"type":"error",...}`, OpenAI
//! `chat.completion.chunk` events or Anthropic's `message_start` …
//! `message_stop`.

pub mod anthropic;
pub mod openai;

use crate::canonical::{ChatRequest, ChatResponse, StreamEvent};
use crate::engine::Attempt;
use crate::error::GatewayError;
use crate::provider::Adapter;

/// A client wire format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// `POST /v1/chat/completions` (and `/v1/embeddings`).
    OpenAi,
    /// `POST /v1/messages`.
    Anthropic,
}

impl Dialect {
    /// The provider format that is this dialect on the wire: a request
    /// between the two is forwarded as it came, nothing lost.
    pub fn native(self) -> Adapter {
        match self {
            Dialect::OpenAi => Adapter::OpenAi,
            Dialect::Anthropic => Adapter::Anthropic,
        }
    }

    /// Decodes a chat request; a 400 naming the field at fault otherwise.
    pub fn decode_chat(self, body: &[u8]) -> Result<ChatRequest, GatewayError> {
        match self {
            Dialect::OpenAi => openai::decode_chat(body),
            Dialect::Anthropic => anthropic::decode_chat(body),
        }
    }

    /// A complete answer in this dialect's JSON.
    pub fn encode_response(self, response: &ChatResponse) -> String {
        match self {
            Dialect::OpenAi => openai::encode_response(response),
            Dialect::Anthropic => anthropic::encode_response(response),
        }
    }

    /// An encoder for a streamed answer; `include_usage`: the client asked
    /// for usage on the stream; `created`: Unix seconds now (OpenAI chunks carry it).
    pub fn stream_encoder(self, include_usage: bool, created: u64) -> StreamEncoder {
        match self {
            Dialect::OpenAi => StreamEncoder::OpenAi(openai::Encoder::with_created(include_usage, created)),
            Dialect::Anthropic => StreamEncoder::Anthropic(anthropic::Encoder::new()),
        }
    }

    /// An error body in this dialect, with the attempt trail when there is one.
    pub fn error_body(self, error: &GatewayError, attempts: Option<&[Attempt]>) -> String {
        match self {
            Dialect::OpenAi => error.openai_body_with_attempts(attempts),
            Dialect::Anthropic => anthropic::error_body(error, attempts),
        }
    }

    /// The terminal SSE event for a stream that fails after it started.
    pub fn error_event(self, error: &GatewayError) -> String {
        match self {
            Dialect::OpenAi => crate::sse::error_event(error),
            Dialect::Anthropic => anthropic::error_event(error),
        }
    }
}

/// Turns canonical stream events into this dialect's SSE bytes.
#[derive(Debug)]
pub enum StreamEncoder {
    OpenAi(openai::Encoder),
    Anthropic(anthropic::Encoder),
}

impl StreamEncoder {
    /// Appends the SSE text for `event` (possibly nothing) to `out`.
    pub fn encode(&mut self, event: &StreamEvent, out: &mut String) {
        match self {
            StreamEncoder::OpenAi(e) => e.encode(event, out),
            StreamEncoder::Anthropic(e) => e.encode(event, out),
        }
    }
}
