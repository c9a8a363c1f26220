//! Outbound providers: one module per wire format, static dispatch through
//! [`Adapter`].
//!
//! Each module turns a canonical [`ChatRequest`] into the provider's HTTP
//! request, and the provider's answers (JSON, an SSE or event-stream body,
//! an error body) back into canonical values. Nothing here does I/O: the
//! edge sends what these build and feeds them what came back, so every
//! mapping is tested on the host against recorded transcripts
//! (`tests/transcripts/`).

// A left-out adapter is the same stub module under each name.
#![allow(clippy::duplicate_mod)]

pub mod anthropic;
#[cfg_attr(not(feature = "bedrock"), path = "disabled.rs")]
pub mod bedrock;
#[cfg_attr(not(feature = "cohere"), path = "disabled.rs")]
pub mod cohere;
#[cfg_attr(not(feature = "gemini"), path = "disabled.rs")]
pub mod gemini;
pub mod openai;
pub mod rules;

use crate::canonical::{
    ChatRequest, ChatResponse, DecodeError, EmbeddingsRequest, EmbeddingsResponse, ProviderError,
    StreamEvent,
};
use crate::error::GatewayError;
use crate::plan::ProviderKind;

/// Where and as whom one call goes: everything a provider module needs
/// besides the request itself. Plain values; the edge reads vars and
/// secrets and fills this in.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub kind: ProviderKind,
    /// The base URL, no trailing slash (the kind's default or the route file's).
    pub base: &'a str,
    /// The provider's model id (for Azure: the deployment name).
    pub model: &'a str,
    /// The provider key's value, when the provider has keys. For Bedrock
    /// either `ACCESS_KEY_ID:SECRET_ACCESS_KEY[:SESSION_TOKEN]` (SigV4) or
    /// a Bedrock API key (sent as a bearer token).
    pub key: Option<&'a str>,
    /// Azure OpenAI `api-version`.
    pub api_version: Option<&'a str>,
    /// AWS region (Bedrock).
    pub region: Option<&'a str>,
    /// Unix milliseconds now (request signing).
    pub now_ms: u64,
}

/// One HTTP request to send upstream (always `POST`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    pub url: String,
    /// Lower-case names. Never the client's headers.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// How a provider's streamed body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// `text/event-stream`.
    Sse,
    /// AWS `application/vnd.amazon.eventstream` binary frames.
    EventStream,
}

/// A provider wire format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Adapter {
    /// OpenAI chat completions, and every kind that speaks it (presets
    /// differ only in base URL, auth header and URL shape).
    OpenAi,
    Anthropic,
    Gemini,
    Bedrock,
    Cohere,
}

impl Adapter {
    pub fn for_kind(kind: ProviderKind) -> Adapter {
        match kind {
            ProviderKind::Anthropic => Adapter::Anthropic,
            ProviderKind::Gemini => Adapter::Gemini,
            ProviderKind::Bedrock => Adapter::Bedrock,
            ProviderKind::Cohere => Adapter::Cohere,
            _ => Adapter::OpenAi,
        }
    }

    /// The HTTP request for a chat call (`req.stream` says which endpoint).
    pub fn chat_request(self, req: &ChatRequest, t: &Target) -> Result<HttpRequest, GatewayError> {
        match self {
            Adapter::OpenAi => openai::chat_request(req, t),
            Adapter::Anthropic => anthropic::chat_request(req, t),
            Adapter::Gemini => gemini::chat_request(req, t),
            Adapter::Bedrock => bedrock::chat_request(req, t),
            Adapter::Cohere => cohere::chat_request(req, t),
        }
    }

    /// A complete 2xx chat answer.
    pub fn chat_response(self, body: &[u8]) -> Result<ChatResponse, DecodeError> {
        match self {
            Adapter::OpenAi => openai::chat_response(body),
            Adapter::Anthropic => anthropic::chat_response(body),
            Adapter::Gemini => gemini::chat_response(body),
            Adapter::Bedrock => bedrock::chat_response(body),
            Adapter::Cohere => cohere::chat_response(body),
        }
    }

    /// A decoder for a 2xx streamed chat answer.
    pub fn stream_decoder(self) -> StreamDecoder {
        match self {
            Adapter::OpenAi => StreamDecoder::OpenAi(openai::Decoder::new()),
            Adapter::Anthropic => StreamDecoder::Anthropic(anthropic::Decoder::new()),
            Adapter::Gemini => StreamDecoder::Gemini(gemini::Decoder::new()),
            Adapter::Bedrock => StreamDecoder::Bedrock(bedrock::Decoder::new()),
            Adapter::Cohere => StreamDecoder::Cohere(cohere::Decoder::new()),
        }
    }

    pub fn framing(self) -> Framing {
        match self {
            Adapter::Bedrock => Framing::EventStream,
            _ => Framing::Sse,
        }
    }

    /// What an error answer (`status` not 2xx, `body` its start) means.
    pub fn error(self, status: u16, body: &str) -> ProviderError {
        match self {
            Adapter::OpenAi => openai::error(status, body),
            Adapter::Anthropic => anthropic::error(status, body),
            Adapter::Gemini => gemini::error(status, body),
            Adapter::Bedrock => bedrock::error(status, body),
            Adapter::Cohere => cohere::error(status, body),
        }
    }

    /// The HTTP request for an embeddings call; a 400 naming the kind for
    /// a provider that has no embeddings.
    pub fn embeddings_request(self, req: &EmbeddingsRequest, t: &Target) -> Result<HttpRequest, GatewayError> {
        match self {
            Adapter::OpenAi => openai::embeddings_request(req, t),
            Adapter::Gemini => gemini::embeddings_request(req, t),
            Adapter::Cohere => cohere::embeddings_request(req, t),
            Adapter::Anthropic | Adapter::Bedrock => Err(no_embeddings(t)),
        }
    }

    pub fn embeddings_response(self, body: &[u8]) -> Result<EmbeddingsResponse, DecodeError> {
        match self {
            Adapter::OpenAi => openai::embeddings_response(body),
            Adapter::Gemini => gemini::embeddings_response(body),
            Adapter::Cohere => cohere::embeddings_response(body),
            Adapter::Anthropic | Adapter::Bedrock => {
                Err(DecodeError::Malformed("this provider has no embeddings".into()))
            }
        }
    }
}

fn no_embeddings(t: &Target) -> GatewayError {
    GatewayError::new(
        crate::error::Fault::BadRequest,
        format!(
            "Provider kind `{}` has no embeddings endpoint; route embeddings to another provider.",
            t.kind.name()
        ),
    )
}

/// Turns a provider's streamed body, chunk by chunk, into canonical events.
#[derive(Debug)]
pub enum StreamDecoder {
    OpenAi(openai::Decoder),
    Anthropic(anthropic::Decoder),
    Gemini(gemini::Decoder),
    Bedrock(bedrock::Decoder),
    Cohere(cohere::Decoder),
}

impl StreamDecoder {
    /// Reads one chunk of the body (any split), appending the events it completes.
    pub fn push(&mut self, bytes: &[u8], out: &mut Vec<StreamEvent>) -> Result<(), DecodeError> {
        match self {
            StreamDecoder::OpenAi(d) => d.push(bytes, out),
            StreamDecoder::Anthropic(d) => d.push(bytes, out),
            StreamDecoder::Gemini(d) => d.push(bytes, out),
            StreamDecoder::Bedrock(d) => d.push(bytes, out),
            StreamDecoder::Cohere(d) => d.push(bytes, out),
        }
    }

    /// [`StreamDecoder::push`] for a meter (usage and text length only):
    /// OpenAI text events add their length to `text_bytes` instead of
    /// becoming events (`openai::Decoder::push_metered`).
    pub fn push_metered(&mut self, bytes: &[u8], out: &mut Vec<StreamEvent>, text_bytes: &mut u64) -> Result<(), DecodeError> {
        match self {
            StreamDecoder::OpenAi(d) => d.push_metered(bytes, out, text_bytes),
            other => other.push(bytes, out),
        }
    }

    /// The body ended. Appends what was still buffered; a stream that
    /// ended before the provider's end marker is `Err(Malformed)`, never a
    /// clean end (unless the format has no end marker).
    pub fn finish(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), DecodeError> {
        match self {
            StreamDecoder::OpenAi(d) => d.finish(out),
            StreamDecoder::Anthropic(d) => d.finish(out),
            StreamDecoder::Gemini(d) => d.finish(out),
            StreamDecoder::Bedrock(d) => d.finish(out),
            StreamDecoder::Cohere(d) => d.finish(out),
        }
    }
}

impl Adapter {
    /// An error answer's body as the engine reads it: OpenAI-shaped
    /// (`{"error":{"message","type","code"}}`), whatever the provider's
    /// format, so that one classifier ([`crate::engine::classify`]) and one
    /// message reader serve every provider. OpenAI-speaking providers'
    /// bodies are kept as they came.
    pub fn error_text(self, status: u16, body: &str) -> String {
        if self == Adapter::OpenAi {
            return body.to_string();
        }
        normalized_error(&self.error(status, body))
    }
}

/// A [`ProviderError`] written as an OpenAI error body; the special classes
/// carry the codes the classifier knows (`context_length_exceeded`,
/// `content_policy_violation`).
pub fn normalized_error(error: &ProviderError) -> String {
    use crate::canonical::ErrorClass;
    let (kind, code) = match error.class {
        ErrorClass::RateLimit => ("rate_limit_error", "rate_limit_exceeded"),
        ErrorClass::ContextLength => ("invalid_request_error", "context_length_exceeded"),
        ErrorClass::ContentPolicy => ("invalid_request_error", "content_policy_violation"),
        ErrorClass::Auth => ("authentication_error", "invalid_api_key"),
        ErrorClass::BadRequest => ("invalid_request_error", "invalid_request"),
        ErrorClass::NotFound => ("invalid_request_error", "not_found"),
        ErrorClass::Server => ("server_error", "server_error"),
        ErrorClass::Overloaded => ("server_error", "overloaded"),
    };
    use crate::canonical::json::{object, text};
    let inner = object([("message", text(&error.message)), ("type", text(kind)), ("code", text(code))]);
    crate::json_out::value_text(&object([("error", inner)]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canonical::ErrorClass;
    use crate::engine::classify::{answer, Class};

    #[test]
    fn normalized_errors_classify_as_their_class() {
        let text = |class, message: &str| normalized_error(&ProviderError { class, message: message.into() });
        assert_eq!(answer(400, Some(&text(ErrorClass::ContextLength, "too long"))), Class::ContextLength(400));
        assert_eq!(answer(400, Some(&text(ErrorClass::ContentPolicy, "blocked"))), Class::ContentPolicy(400));
        assert_eq!(answer(400, Some(&text(ErrorClass::BadRequest, "bad"))), Class::Fatal(400));
        let v: serde_json::Value = serde_json::from_str(&text(ErrorClass::RateLimit, "slow \"down\"")).unwrap();
        assert_eq!(v["error"]["message"], "slow \"down\"");
    }

    #[test]
    fn kinds_map_to_their_wire_format() {
        assert_eq!(Adapter::for_kind(ProviderKind::Groq), Adapter::OpenAi);
        assert_eq!(Adapter::for_kind(ProviderKind::Azure), Adapter::OpenAi);
        assert_eq!(Adapter::for_kind(ProviderKind::Anthropic), Adapter::Anthropic);
        assert_eq!(Adapter::for_kind(ProviderKind::Bedrock).framing(), Framing::EventStream);
        assert_eq!(Adapter::OpenAi.error_text(429, "{\"x\":1}"), "{\"x\":1}");
    }
}
