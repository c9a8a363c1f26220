//! The one canonical chat request, response, stream event, usage and error
//! that every wire format converts to and from.
//!
//! Inbound dialects ([`crate::dialect`]: OpenAI chat, Anthropic Messages)
//! decode a client's body into a [`ChatRequest`] and encode a
//! [`ChatResponse`] / [`StreamEvent`]s / a [`crate::error::GatewayError`]
//! back into the client's format. Outbound providers ([`crate::provider`])
//! encode a [`ChatRequest`] into their request and decode their answers
//! into a [`ChatResponse`] or [`StreamEvent`]s. N dialects + M providers
//! make N + M converters, never N × M.
//!
//! The types hold what every format can express; what only OpenAI can say
//! rides in [`ChatRequest::extra`] and reaches OpenAI-compatible upstreams
//! unchanged. (An OpenAI client talking to an OpenAI-compatible upstream
//! never goes through these types at all: its body is forwarded as it came.)

pub mod json;
pub mod json_bytes;
pub mod sse;

use serde_json::{Map, Value};

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Instructions (OpenAI `system` and `developer`, Anthropic `system`,
    /// Gemini `systemInstruction`, Cohere `system`).
    System,
    User,
    Assistant,
    /// The result of a tool call ([`Message::tool_call_id`] says which).
    Tool,
}

/// One part of a message's content.
#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    Text(String),
    Image(Image),
}

/// An image in a message.
#[derive(Debug, Clone, PartialEq)]
pub struct Image {
    pub source: ImageSource,
    /// OpenAI's `detail` (`low`, `high`, `auto`), when given.
    pub detail: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ImageSource {
    /// An `http(s)://` URL.
    Url(String),
    /// Inline bytes, base64 (without a `data:` prefix).
    Base64 { media_type: String, data: String },
}

impl ImageSource {
    /// Reads an OpenAI `image_url.url`: a `data:<type>;base64,<data>` URL
    /// becomes inline bytes, anything else stays a URL.
    pub fn from_url(url: &str) -> ImageSource {
        if let Some(rest) = url.strip_prefix("data:") {
            if let Some((media_type, data)) = rest.split_once(";base64,") {
                return ImageSource::Base64 {
                    media_type: media_type.to_string(),
                    data: data.to_string(),
                };
            }
        }
        ImageSource::Url(url.to_string())
    }

    /// The OpenAI form: the URL, or a `data:` URL for inline bytes.
    pub fn to_url(&self) -> String {
        match self {
            ImageSource::Url(url) => url.clone(),
            ImageSource::Base64 { media_type, data } => format!("data:{media_type};base64,{data}"),
        }
    }
}

/// One message of the conversation.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub role: Role,
    pub content: Vec<Part>,
    /// Calls an assistant message made.
    pub tool_calls: Vec<ToolCall>,
    /// For [`Role::Tool`]: the call this is the result of.
    pub tool_call_id: Option<String>,
    /// For [`Role::Tool`]: whether the tool reported an error (Anthropic `is_error`).
    pub is_error: bool,
    /// OpenAI's optional participant `name`.
    pub name: Option<String>,
}

impl Message {
    /// A message of plain text.
    pub fn text(role: Role, text: impl Into<String>) -> Message {
        Message {
            role,
            content: vec![Part::Text(text.into())],
            tool_calls: Vec::new(),
            tool_call_id: None,
            is_error: false,
            name: None,
        }
    }

    /// The text parts joined (images left out).
    pub fn joined_text(&self) -> String {
        let mut out = String::new();
        for part in &self.content {
            if let Part::Text(t) = part {
                out.push_str(t);
            }
        }
        out
    }
}

/// A tool call made by the model.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    /// The arguments as JSON text (as OpenAI carries them).
    pub arguments: String,
}

/// A tool (function) the model may call.
#[derive(Debug, Clone, PartialEq)]
pub struct Tool {
    pub name: String,
    pub description: Option<String>,
    /// JSON Schema of the arguments.
    pub parameters: Value,
    /// OpenAI's `strict`.
    pub strict: Option<bool>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ToolChoice {
    Auto,
    None,
    /// Some tool must be called (OpenAI `required`, Anthropic `any`).
    Required,
    /// This tool must be called.
    Tool(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum ResponseFormat {
    Text,
    JsonObject,
    JsonSchema {
        name: String,
        schema: Value,
        strict: Option<bool>,
    },
}

/// A chat request, whatever dialect it came in.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ChatRequest {
    /// The model as the route resolved it (the provider's model id).
    pub model: String,
    pub messages: Vec<Message>,
    pub tools: Vec<Tool>,
    pub tool_choice: Option<ToolChoice>,
    pub parallel_tool_calls: Option<bool>,
    pub response_format: Option<ResponseFormat>,
    pub stream: bool,
    /// The client wants usage on the stream (OpenAI `stream_options.include_usage`;
    /// Anthropic clients always get it).
    pub include_usage: bool,
    /// Most tokens to generate (OpenAI `max_tokens` / `max_completion_tokens`,
    /// Anthropic `max_tokens`).
    pub max_tokens: Option<u64>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub top_k: Option<u64>,
    pub stop: Vec<String>,
    pub seed: Option<i64>,
    pub n: Option<u64>,
    pub presence_penalty: Option<f64>,
    pub frequency_penalty: Option<f64>,
    pub logprobs: Option<bool>,
    pub top_logprobs: Option<u64>,
    /// The end user (OpenAI `user`, Anthropic `metadata.user_id`).
    pub user: Option<String>,
    pub metadata: Option<Map<String, Value>>,
    /// Fields the canonical type has no place for, kept from an OpenAI
    /// body, sent on to OpenAI-compatible upstreams unchanged.
    pub extra: Map<String, Value>,
}

/// Why generation stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FinishReason {
    Stop,
    Length,
    ToolCalls,
    ContentFilter,
    /// A stop sequence matched (Anthropic tells which).
    StopSequence(Option<String>),
    Other(String),
}

impl FinishReason {
    /// OpenAI's `finish_reason`.
    pub fn openai(&self) -> &str {
        match self {
            FinishReason::Stop | FinishReason::StopSequence(_) => "stop",
            FinishReason::Length => "length",
            FinishReason::ToolCalls => "tool_calls",
            FinishReason::ContentFilter => "content_filter",
            FinishReason::Other(other) => other,
        }
    }
}

/// Tokens a call used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    /// Prompt tokens, cached ones included.
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// Prompt tokens served from the provider's prompt cache.
    pub cached_input_tokens: Option<u64>,
}

impl Usage {
    pub fn total(&self) -> u64 {
        self.input_tokens + self.output_tokens
    }
}

/// One generated alternative.
#[derive(Debug, Clone, PartialEq)]
pub struct Choice {
    pub index: u32,
    /// The text (`None` when the model only called tools).
    pub text: Option<String>,
    pub tool_calls: Vec<ToolCall>,
    pub finish_reason: Option<FinishReason>,
}

/// A complete (non-streamed) chat answer.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatResponse {
    pub id: String,
    pub model: String,
    /// Unix seconds.
    pub created: u64,
    pub choices: Vec<Choice>,
    pub usage: Option<Usage>,
}

/// One thing that happened on a stream, in order. A provider's chunk may
/// yield none, one or several; the client's dialect turns them back into
/// its own events.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    /// The answer began (always first).
    Start { id: String, model: String },
    /// More text for choice `choice`.
    Text { choice: u32, text: String },
    /// A tool call began: call number `index` of choice `choice`.
    ToolCallStart {
        choice: u32,
        index: u32,
        id: String,
        name: String,
    },
    /// More argument text for a tool call that began.
    ToolCallArguments {
        choice: u32,
        index: u32,
        arguments: String,
    },
    /// Choice `choice` is complete.
    Finish { choice: u32, reason: FinishReason },
    /// Usage so far (a later one replaces an earlier one; Anthropic sends
    /// input tokens at the start and output tokens at the end, which the
    /// decoder merges).
    Usage(Usage),
    /// The provider reported an error inside the stream.
    Error { message: String },
    /// The provider's own end marker: the stream is complete.
    Done,
}

/// A batch of embeddings request (OpenAI `POST /v1/embeddings`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EmbeddingsRequest {
    pub model: String,
    pub inputs: Vec<String>,
    pub dimensions: Option<u64>,
    /// OpenAI `encoding_format` (`float` or `base64`).
    pub encoding_format: Option<String>,
    pub user: Option<String>,
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EmbeddingsResponse {
    pub model: String,
    /// One vector per input, in input order.
    pub vectors: Vec<Vec<f32>>,
    pub usage: Option<Usage>,
}

/// What a provider's error answer means, for the engine and the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    RateLimit,
    ContextLength,
    ContentPolicy,
    Auth,
    BadRequest,
    NotFound,
    Server,
    Overloaded,
}

/// A provider's error answer, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderError {
    pub class: ErrorClass,
    /// The provider's own message (secrets already redacted by the caller).
    pub message: String,
}

/// A provider's 2xx answer that could not be read as what it should be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// Not the JSON (or frames) the format prescribes.
    Malformed(String),
    /// The provider answered, but refused on content grounds (e.g. Gemini's
    /// `promptFeedback.blockReason` or a `SAFETY` finish with no text).
    Refused(String),
}
