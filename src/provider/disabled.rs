//! What a provider module is when its cargo feature is off (`gemini`,
//! `bedrock`, `cohere` are on by default): every call is a clear 500
//! naming the feature, so a Worker built without an adapter says so
//! instead of failing obscurely. Turning adapters off shrinks the Worker
//! (bench/README.md gives the size each adds).

use super::{HttpRequest, Target};
use crate::canonical::{
    ChatRequest, ChatResponse, DecodeError, EmbeddingsRequest, EmbeddingsResponse, ErrorClass, ProviderError,
    StreamEvent,
};
use crate::error::{Fault, GatewayError};

fn not_built(t: &Target) -> GatewayError {
    GatewayError::new(
        Fault::Misconfigured,
        format!(
            "The gateway is misconfigured: provider kind `{0}` is not built into this Worker (build it with the cargo feature `{0}`).",
            t.kind.name()
        ),
    )
}

fn malformed() -> DecodeError {
    DecodeError::Malformed("this provider is not built into this Worker".into())
}

pub fn chat_request(_req: &ChatRequest, t: &Target) -> Result<HttpRequest, GatewayError> {
    Err(not_built(t))
}

pub fn chat_response(_body: &[u8]) -> Result<ChatResponse, DecodeError> {
    Err(malformed())
}

pub fn error(_status: u16, body: &str) -> ProviderError {
    ProviderError { class: ErrorClass::Server, message: body.to_string() }
}

pub fn embeddings_request(_req: &EmbeddingsRequest, t: &Target) -> Result<HttpRequest, GatewayError> {
    Err(not_built(t))
}

pub fn embeddings_response(_body: &[u8]) -> Result<EmbeddingsResponse, DecodeError> {
    Err(malformed())
}

/// Never fed: no request to this provider is ever sent.
#[derive(Debug, Default)]
pub struct Decoder;

impl Decoder {
    pub fn new() -> Self {
        Decoder
    }

    pub fn push(&mut self, _bytes: &[u8], _out: &mut Vec<StreamEvent>) -> Result<(), DecodeError> {
        Err(malformed())
    }

    pub fn finish(&mut self, _out: &mut Vec<StreamEvent>) -> Result<(), DecodeError> {
        Err(malformed())
    }
}
