//! The Cohere v2 wire format (outbound): `POST {base}/chat` (JSON or SSE)
//! and `POST {base}/embed`, base `https://api.cohere.com/v2` by default,
//! key as `Authorization: Bearer`.
//!
//! - [`chat_request`] builds the v2 chat body ([`request`]): OpenAI-like
//!   messages and tools, `p` / `k` for top-p / top-k.
//! - [`chat_response`] reads `message.content` / `message.tool_calls` /
//!   `finish_reason` / `usage` ([`response`]).
//! - [`Decoder`] reads the v2 SSE events ([`stream`]); `message-end` is the
//!   end marker: a body that stops before it is `Err(Malformed)`.
//! - [`error`] classifies Cohere's `{"message": …}` error bodies (module
//!   `error`).
//! - [`embeddings_request`] / [`embeddings_response`]: `texts`,
//!   `input_type: search_document`, float embeddings.

mod error;
mod request;
mod response;
mod stream;

#[cfg(test)]
mod tests;

pub use error::error;
pub use request::{chat_request, embeddings_request};
pub use response::{chat_response, embeddings_response};
pub use stream::Decoder;
