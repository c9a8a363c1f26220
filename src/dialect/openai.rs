//! The OpenAI chat completions dialect (inbound). Not written yet.

use crate::canonical::{ChatRequest, ChatResponse, EmbeddingsRequest, EmbeddingsResponse, StreamEvent};
use crate::error::{Fault, GatewayError};

pub fn decode_chat(_body: &[u8]) -> Result<ChatRequest, GatewayError> {
    Err(GatewayError::new(Fault::BadRequest, "not supported yet"))
}

pub fn encode_response(_response: &ChatResponse) -> String {
    String::new()
}

pub fn decode_embeddings(_body: &[u8]) -> Result<EmbeddingsRequest, GatewayError> {
    Err(GatewayError::new(Fault::BadRequest, "not supported yet"))
}

pub fn encode_embeddings(_response: &EmbeddingsResponse) -> String {
    String::new()
}

/// Canonical stream events → `chat.completion.chunk` SSE events.
#[derive(Debug, Default)]
pub struct Encoder {
    include_usage: bool,
}

impl Encoder {
    pub fn new(include_usage: bool) -> Self {
        Self { include_usage }
    }

    pub fn encode(&mut self, _event: &StreamEvent, _out: &mut String) {
        let _ = self.include_usage;
    }
}
