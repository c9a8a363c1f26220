//! The OpenAI chat completions dialect (inbound): what OpenAI SDKs send to
//! `POST /v1/chat/completions` and `POST /v1/embeddings`, and what they
//! expect back.
//!
//! - [`decode_chat`]: a body into the canonical request, unknown top-level
//!   fields kept in `extra`, mistakes a 400 naming the field (`decode.rs`);
//! - [`encode_response`], [`Encoder`]: a `chat.completion` object and
//!   `chat.completion.chunk` SSE events (`encode.rs`);
//! - [`decode_embeddings`], [`encode_embeddings`] / [`encode_embeddings_as`]
//!   (`embeddings.rs`).

mod decode;
mod embeddings;
mod encode;

pub use decode::decode_chat;
pub use embeddings::{decode_embeddings, encode_embeddings, encode_embeddings_as};
pub use encode::{encode_response, Encoder};

#[cfg(test)]
mod tests;
