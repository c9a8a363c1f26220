//! The Anthropic Messages dialect (inbound). Not written yet.

use crate::canonical::{ChatRequest, ChatResponse, StreamEvent};
use crate::engine::Attempt;
use crate::error::{Fault, GatewayError};

pub fn decode_chat(_body: &[u8]) -> Result<ChatRequest, GatewayError> {
    Err(GatewayError::new(Fault::BadRequest, "not supported yet"))
}

pub fn encode_response(_response: &ChatResponse) -> String {
    String::new()
}

pub fn error_body(error: &GatewayError, attempts: Option<&[Attempt]>) -> String {
    error.openai_body_with_attempts(attempts)
}

pub fn error_event(error: &GatewayError) -> String {
    crate::sse::error_event(error)
}

/// Canonical stream events → Anthropic's `message_start` … `message_stop`.
#[derive(Debug, Default)]
pub struct Encoder {}

impl Encoder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn encode(&mut self, _event: &StreamEvent, _out: &mut String) {}
}
