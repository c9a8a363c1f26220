//! The Anthropic Messages wire format (outbound): `POST {base}/messages`
//! with `x-api-key` and `anthropic-version`, JSON or SSE answers, Anthropic
//! error bodies. Anthropic has no embeddings (the dispatch refuses them).
//!
//! - `request`: canonical request → Anthropic body, and the fast path
//!   ([`forward_messages`]) for an Anthropic client's own body;
//! - `response`: `message` objects and error bodies → canonical;
//! - `stream`: the SSE stream → canonical events;
//! - `wire`: stop reasons, tool inputs and usage, shared with the
//!   inbound dialect ([`crate::dialect::anthropic`]).

mod request;
mod response;
mod stream;
pub(crate) mod wire;

#[cfg(test)]
mod tests;

pub use request::{chat_request, forward_messages, ANTHROPIC_VERSION, DEFAULT_MAX_TOKENS};
pub use response::{chat_response, error};
pub use stream::Decoder;
