//! The AWS Bedrock Runtime wire format (outbound): `Converse` and
//! `ConverseStream`.
//!
//! - [`chat_request`]: `POST {base}/model/{modelId}/converse` (or
//!   `/converse-stream` when the request streams), the model id
//!   percent-encoded as one path segment; an empty base is the region's
//!   endpoint ([`default_base`]). Auth by the key's shape:
//!   `ACCESS_KEY_ID:SECRET_ACCESS_KEY[:SESSION_TOKEN]` is signed with SigV4
//!   ([`sigv4`]; service `bedrock`, the target's region, the target's
//!   clock); anything else is a Bedrock API key sent as a bearer token; no
//!   key sends no auth (for a signing proxy in front of Bedrock).
//! - [`chat_response`] / [`error`]: the JSON answers (`response`).
//! - [`Decoder`]: the event-stream body ([`eventstream`] frames, read by
//!   `stream`).
//!
//! Bedrock has no embeddings in this format: the adapter answers a 400.

pub mod eventstream;
mod request;
mod response;
pub mod sigv4;
mod stream;

pub use request::{chat_request, default_base};
pub use response::{chat_response, error};
pub use stream::Decoder;

#[cfg(test)]
mod tests;
