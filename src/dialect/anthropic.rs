//! The Anthropic Messages dialect (inbound): what the official Anthropic
//! SDKs send to `POST /v1/messages` and expect back.
//!
//! - `decode`: request bodies → [`crate::canonical::ChatRequest`] ([`decode_chat`]),
//!   and [`inspect`] for the fast path that forwards the body as it came;
//! - `encode`: [`encode_response`] (the `message` object), [`error_body`]
//!   and [`error_event`] in Anthropic's error shape;
//! - `stream`: [`Encoder`], canonical stream events → Anthropic SSE events.

mod decode;
mod encode;
mod stream;

#[cfg(test)]
mod tests;

pub use decode::{decode_chat, inspect};
pub use encode::{encode_response, error_body, error_event};
pub use stream::Encoder;
