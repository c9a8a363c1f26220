//! Gemini `GenerateContentResponse` and `BatchEmbedContentsResponse`
//! bodies read into canonical values; the reader ([`read`]) is shared with the
//! stream decoder (every stream chunk is a `GenerateContentResponse`).
//!
//! - Choices come from `candidates` (by their `index`); text parts are
//!   joined (thought parts left out), `functionCall` parts become tool
//!   calls with the call's own `id` when Gemini gives one, else `call_<n>`
//!   (n counting the candidate's calls from 0).
//! - `finishReason`: `STOP` → stop (tool calls when the candidate called
//!   a function), `MAX_TOKENS` → length, `SAFETY` / `RECITATION` /
//!   `BLOCKLIST` / `PROHIBITED_CONTENT` / `SPII` / `IMAGE_SAFETY` / … →
//!   content filter, anything else → `Other` (lower-cased).
//! - `usageMetadata`: input = `promptTokenCount` (+ `toolUsePromptTokenCount`),
//!   output = `candidatesTokenCount` + `thoughtsTokenCount` (thinking is
//!   billed as output, as OpenAI counts reasoning tokens),
//!   cached = `cachedContentTokenCount`.
//! - `id` is `responseId`, else `gemini-<hash of the body>`; `model` is
//!   `modelVersion` (or empty); `created` is 0 (Gemini does not say).
//! - A blocked prompt (`promptFeedback.blockReason`), or candidates that
//!   all ended on a content filter with nothing generated, is
//!   `DecodeError::Refused`.

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::canonical::json;
use crate::canonical::{
    ChatResponse, Choice, DecodeError, EmbeddingsResponse, FinishReason, ToolCall, Usage,
};

/// What the decoders use of a `GenerateContentResponse`, borrowed from
/// the parsed body (read by [`read`]).
pub(super) struct Response<'a> {
    pub candidates: Vec<Candidate<'a>>,
    /// A blocked prompt's refusal.
    pub blocked: Option<DecodeError>,
    pub usage: Option<Usage>,
    pub model_version: Option<&'a str>,
    pub response_id: Option<&'a str>,
}

pub(super) struct Candidate<'a> {
    index: Option<u32>,
    /// The parts that count: no thoughts.
    pub parts: Vec<WirePart<'a>>,
    pub finish_reason: Option<&'a str>,
    pub finish_message: Option<&'a str>,
}

pub(super) struct WirePart<'a> {
    pub text: Option<&'a str>,
    pub function_call: Option<FunctionCall<'a>>,
}

pub(super) struct FunctionCall<'a> {
    id: Option<&'a str>,
    pub name: &'a str,
    args: Option<&'a Value>,
}

/// Reads a `GenerateContentResponse` (`v` is an object); `what` names it
/// in errors.
pub(super) fn read<'a>(v: &'a Value, what: &str) -> Result<Response<'a>, DecodeError> {
    let mut candidates = Vec::new();
    for c in json::array(v, "candidates", what)? {
        json::is_object(c, what, "candidates")?;
        let index = match json::count(c, "index", what)? {
            Some(i) => Some(u32::try_from(i).map_err(|_| {
                DecodeError::Malformed(format!("{what} is not valid: `index` is too large"))
            })?),
            None => None,
        };
        let mut parts = Vec::new();
        if let Some(content) = json::obj(c, "content", what)? {
            for p in json::array(content, "parts", what)? {
                json::is_object(p, what, "parts")?;
                let text = json::str(p, "text", what)?;
                let thought = json::bool(p, "thought", what)?;
                let function_call = match json::obj(p, "functionCall", what)? {
                    Some(f) => Some(FunctionCall {
                        id: json::str(f, "id", what)?,
                        name: json::str(f, "name", what)?.unwrap_or(""),
                        args: json::get(f, "args"),
                    }),
                    None => None,
                };
                if thought != Some(true) {
                    parts.push(WirePart { text, function_call });
                }
            }
        }
        candidates.push(Candidate {
            index,
            parts,
            finish_reason: json::str(c, "finishReason", what)?,
            finish_message: json::str(c, "finishMessage", what)?,
        });
    }
    let blocked = match json::obj(v, "promptFeedback", what)? {
        Some(feedback) => {
            let reason = json::str(feedback, "blockReason", what)?;
            let detail = json::str(feedback, "blockReasonMessage", what)?;
            reason.map(|reason| refusal("blocked the prompt", reason, detail))
        }
        None => None,
    };
    let usage = match json::obj(v, "usageMetadata", what)? {
        Some(u) => {
            let n = |key| json::count(u, key, what).map(|n| n.unwrap_or(0));
            Some(Usage {
                input_tokens: n("promptTokenCount")?.saturating_add(n("toolUsePromptTokenCount")?),
                output_tokens: n("candidatesTokenCount")?.saturating_add(n("thoughtsTokenCount")?),
                cached_input_tokens: json::count(u, "cachedContentTokenCount", what)?,
            })
        }
        None => None,
    };
    Ok(Response {
        candidates,
        blocked,
        usage,
        model_version: json::str(v, "modelVersion", what)?,
        response_id: json::str(v, "responseId", what)?.filter(|id| !id.is_empty()),
    })
}

impl Candidate<'_> {
    /// The candidate's choice number.
    pub fn choice(&self, position: usize) -> u32 {
        self.index.unwrap_or(position as u32)
    }
}

impl FunctionCall<'_> {
    /// The call's arguments as JSON text (`{}` when absent).
    pub fn arguments(&self) -> String {
        match self.args {
            None => "{}".to_string(),
            Some(args) => crate::json_out::value_text(args),
        }
    }

    /// The call's id: Gemini's own, else `call_<n>`.
    pub fn id(&self, n: u32) -> String {
        match self.id {
            Some(id) if !id.is_empty() => id.to_string(),
            _ => format!("call_{n}"),
        }
    }
}

/// `gemini-` and 24 hex digits of the SHA-256 of `bytes`.
pub(super) fn generated_id(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut id = String::from("gemini-");
    for byte in &digest[..12] {
        for nibble in [byte >> 4, byte & 15] {
            id.push(char::from_digit(u32::from(nibble), 16).unwrap_or('0'));
        }
    }
    id
}

/// A Gemini `finishReason` as canonical; `called` says whether the
/// candidate called a function.
pub(super) fn finish_reason(reason: &str, called: bool) -> FinishReason {
    match reason {
        "STOP" if called => FinishReason::ToolCalls,
        "STOP" => FinishReason::Stop,
        "MAX_TOKENS" => FinishReason::Length,
        _ if is_content_filter(reason) => FinishReason::ContentFilter,
        other => FinishReason::Other(other.to_ascii_lowercase()),
    }
}

/// Whether a `finishReason` means a content filter stopped the candidate.
pub(super) fn is_content_filter(reason: &str) -> bool {
    matches!(
        reason,
        "SAFETY"
            | "RECITATION"
            | "BLOCKLIST"
            | "PROHIBITED_CONTENT"
            | "SPII"
            | "IMAGE_SAFETY"
            | "IMAGE_PROHIBITED_CONTENT"
            | "IMAGE_RECITATION"
    )
}

/// A refusal: `Gemini <did> (<reason>)`, then `: <detail>` if there is one.
fn refusal(did: &str, reason: &str, detail: Option<&str>) -> DecodeError {
    let mut message = format!("Gemini {did} ({reason})");
    if let Some(detail) = detail.filter(|m| !m.is_empty()) {
        message.push_str(": ");
        message.push_str(detail);
    }
    DecodeError::Refused(message)
}

/// The refusal for a candidate stopped by a content filter with nothing generated.
pub(super) fn candidate_refused(reason: &str, finish_message: Option<&str>) -> DecodeError {
    refusal("stopped the answer", reason, finish_message)
}

/// A complete `generateContent` answer.
pub fn chat_response(body: &[u8]) -> Result<ChatResponse, DecodeError> {
    let value = json::parse_object(body, "Gemini response")?;
    let response = read(&value, "Gemini response")?;
    if let Some(refused) = response.blocked {
        return Err(refused);
    }
    if response.candidates.is_empty() {
        return Err(DecodeError::Malformed("Gemini answered with no candidates".into()));
    }
    let mut choices = Vec::with_capacity(response.candidates.len());
    for (position, candidate) in response.candidates.iter().enumerate() {
        let mut text = String::new();
        let mut tool_calls = Vec::new();
        for part in &candidate.parts {
            if let Some(t) = part.text {
                text.push_str(t);
            }
            if let Some(call) = &part.function_call {
                tool_calls.push(ToolCall {
                    id: call.id(tool_calls.len() as u32),
                    name: call.name.to_string(),
                    arguments: call.arguments(),
                });
            }
        }
        let finish_reason = candidate.finish_reason.map(|r| finish_reason(r, !tool_calls.is_empty()));
        choices.push(Choice {
            index: candidate.choice(position),
            text: if text.is_empty() && !tool_calls.is_empty() { None } else { Some(text) },
            tool_calls,
            finish_reason,
        });
    }
    let nothing = choices
        .iter()
        .all(|c| c.tool_calls.is_empty() && c.text.as_deref().unwrap_or("").is_empty());
    if nothing {
        let filtered = response.candidates.iter().find(|c| c.finish_reason.is_some_and(is_content_filter));
        if let Some(candidate) = filtered {
            return Err(candidate_refused(candidate.finish_reason.unwrap_or(""), candidate.finish_message));
        }
    }
    Ok(ChatResponse {
        id: match response.response_id {
            Some(id) => id.to_string(),
            None => generated_id(body),
        },
        model: response.model_version.unwrap_or_default().to_string(),
        created: 0,
        choices,
        usage: response.usage,
    })
}

/// A `batchEmbedContents` answer: one vector per request, in order.
/// (Gemini reports neither the model nor token usage here.)
pub fn embeddings_response(body: &[u8]) -> Result<EmbeddingsResponse, DecodeError> {
    const WHAT: &str = "Gemini embeddings response";
    let value = json::parse_object(body, WHAT)?;
    let Some(Value::Array(embeddings)) = json::get(&value, "embeddings") else {
        return Err(DecodeError::Malformed(format!("{WHAT} has no `embeddings` array")));
    };
    let vectors = crate::seq::try_map(embeddings, |_, e| json::floats(json::is_object(e, WHAT, "embeddings")?, "values", WHAT))?;
    Ok(EmbeddingsResponse { model: String::new(), vectors, usage: None })
}
