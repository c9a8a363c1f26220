//! The OpenAI chat completions wire format (outbound), spoken by OpenAI and
//! every OpenAI-compatible kind (Azure, OpenRouter, Groq, Mistral, Together,
//! DeepSeek, Fireworks, Ollama, vLLM, LM Studio, LocalAI): they differ only
//! in the rows of [`preset::PRESETS`] (auth header, URL shape, a few field
//! names) and in the per-model rules of [`crate::provider::rules`].
//!
//! - [`chat_request`]: a canonical request as an OpenAI body (`request.rs`,
//!   whose tool, tool-call and content-part writers Cohere shares);
//! - [`forward_chat`] / [`forward_embeddings`]: the fast path for OpenAI
//!   clients, the client's body edited in place only where it must change
//!   (`forward.rs`, over the top-level JSON editor in `raw.rs`);
//! - [`chat_response`], [`error`]: answers read back (`response.rs`);
//! - [`Decoder`]: SSE chunks to canonical events (`stream.rs`);
//! - [`embeddings_request`], [`embeddings_response`] (`embeddings.rs`).

pub(crate) mod base64;
mod embeddings;
mod endpoint;
mod forward;
pub mod preset;
mod raw;
pub(crate) mod request;
mod response;
mod stream;

use super::{HttpRequest, Target};
use crate::canonical::{ChatRequest, ChatResponse, DecodeError, ProviderError};
use crate::error::GatewayError;

pub use embeddings::{embeddings_request, embeddings_response};
pub use endpoint::{chat_url, embeddings_url, headers};
pub use forward::{ask_for_usage, forward_chat, forward_embeddings};
pub use request::chat_body;
pub use response::finish_reason;
pub use stream::Decoder;

/// The HTTP request for a chat call to an OpenAI-speaking `t`.
pub fn chat_request(req: &ChatRequest, t: &Target) -> Result<HttpRequest, GatewayError> {
    let body = request::chat_body(req, t);
    Ok(HttpRequest {
        url: endpoint::chat_url(t)?,
        headers: endpoint::headers(t),
        body: serde_json::to_vec(&serde_json::Value::Object(body)).unwrap_or_default(),
    })
}

/// A complete 2xx `chat.completion` body.
pub fn chat_response(body: &[u8]) -> Result<ChatResponse, DecodeError> {
    response::chat_response(body)
}

/// What an error answer (`status` not 2xx, `body` its start) means, with
/// the provider's `error.message` kept.
pub fn error(status: u16, body: &str) -> ProviderError {
    response::error(status, body)
}

#[cfg(test)]
mod tests;
