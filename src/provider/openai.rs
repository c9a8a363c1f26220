//! The `openai` wire format (outbound). Not written yet: every call is a
//! clear error until it is.

use super::{HttpRequest, Target};
use crate::canonical::{
    ChatRequest, ChatResponse, DecodeError, EmbeddingsRequest, EmbeddingsResponse, ErrorClass,
    ProviderError, StreamEvent,
};
use crate::error::{Fault, GatewayError};

fn unsupported(t: &Target) -> GatewayError {
    GatewayError::new(
        Fault::Misconfigured,
        format!("The gateway is misconfigured: provider kind `{}` is not supported yet.", t.kind.name()),
    )
}

pub fn chat_request(_req: &ChatRequest, t: &Target) -> Result<HttpRequest, GatewayError> {
    Err(unsupported(t))
}

pub fn chat_response(_body: &[u8]) -> Result<ChatResponse, DecodeError> {
    Err(DecodeError::Malformed("not supported yet".into()))
}

pub fn error(_status: u16, body: &str) -> ProviderError {
    ProviderError { class: ErrorClass::Server, message: body.to_string() }
}

#[allow(dead_code)]
pub fn embeddings_request(_req: &EmbeddingsRequest, t: &Target) -> Result<HttpRequest, GatewayError> {
    Err(unsupported(t))
}

#[allow(dead_code)]
pub fn embeddings_response(_body: &[u8]) -> Result<EmbeddingsResponse, DecodeError> {
    Err(DecodeError::Malformed("not supported yet".into()))
}

/// Streamed answers, chunk by chunk.
#[derive(Debug, Default)]
pub struct Decoder {}

impl Decoder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, _bytes: &[u8], _out: &mut Vec<StreamEvent>) -> Result<(), DecodeError> {
        Err(DecodeError::Malformed("not supported yet".into()))
    }

    pub fn finish(&mut self, _out: &mut Vec<StreamEvent>) -> Result<(), DecodeError> {
        Err(DecodeError::Malformed("not supported yet".into()))
    }
}

/// The client's OpenAI body forwarded to an OpenAI-speaking provider.
pub fn forward_chat(body: &[u8], t: &Target, _rewrite_model: bool) -> Result<HttpRequest, GatewayError> {
    // TEMP (p-objects e2e): the body as it came, to `{base}/chat/completions`.
    let mut headers = vec![("content-type".to_string(), "application/json".to_string())];
    if let Some(key) = t.key {
        headers.push(("authorization".to_string(), format!("Bearer {key}")));
    }
    let body = match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(mut v) if _rewrite_model => {
            v["model"] = serde_json::Value::String(t.model.to_string());
            serde_json::to_vec(&v).unwrap_or_else(|_| body.to_vec())
        }
        _ => body.to_vec(),
    };
    Ok(HttpRequest { url: format!("{}/chat/completions", t.base), headers, body })
}

/// The client's OpenAI embeddings body forwarded to an OpenAI-speaking provider.
pub fn forward_embeddings(_body: &[u8], t: &Target, _rewrite_model: bool) -> Result<HttpRequest, GatewayError> {
    Err(unsupported(t))
}
