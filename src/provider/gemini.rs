//! The Google Gemini wire format (outbound): the Gemini API's
//! `models/{model}:generateContent`, `:streamGenerateContent?alt=sse` and
//! `:batchEmbedContents` (base `…/v1beta` by default).
//!
//! - [`chat_request`] turns a canonical request into `contents` /
//!   `systemInstruction` / `tools` / `toolConfig` / `generationConfig`
//!   ([`request`]), with tool schemas cleaned to the subset Gemini takes
//!   ([`schema`]). The key goes in the `x-goog-api-key` header, never in the
//!   URL, so it cannot leak into logs.
//! - [`chat_response`] reads a `GenerateContentResponse` ([`response`]); a
//!   blocked prompt, or a content-filter finish with nothing generated, is
//!   [`DecodeError::Refused`](crate::canonical::DecodeError::Refused).
//! - [`Decoder`] reads the SSE stream ([`stream`]): every `data:` event is a
//!   `GenerateContentResponse` chunk; there is no `[DONE]`, the stream is
//!   complete once every candidate carried a `finishReason`.
//! - [`error`] classifies Google's `{"error":{"code","message","status"}}`
//!   bodies (module `error`).
//! - [`embeddings_request`] / [`embeddings_response`]: one
//!   `batchEmbedContents` call for all inputs.

mod error;
mod request;
mod response;
mod schema;
mod stream;

#[cfg(test)]
mod tests;

pub use error::error;
pub use request::{chat_request, embeddings_request};
pub use response::{chat_response, embeddings_response};
pub use stream::Decoder;
