//! Gemini `GenerateContentResponse` and `BatchEmbedContentsResponse`
//! bodies read into canonical values; the wire types are shared with the
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

use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::canonical::{
    ChatResponse, Choice, DecodeError, EmbeddingsResponse, FinishReason, ToolCall, Usage,
};

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(super) struct GenerateContentResponse {
    pub candidates: Vec<Candidate>,
    pub prompt_feedback: Option<PromptFeedback>,
    pub usage_metadata: Option<UsageMetadata>,
    pub model_version: Option<String>,
    pub response_id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(super) struct Candidate {
    pub content: Option<Content>,
    pub finish_reason: Option<String>,
    pub finish_message: Option<String>,
    pub index: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct Content {
    pub parts: Vec<WirePart>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(super) struct WirePart {
    pub text: Option<String>,
    pub thought: Option<bool>,
    pub function_call: Option<FunctionCall>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct FunctionCall {
    pub id: Option<String>,
    pub name: String,
    pub args: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(super) struct PromptFeedback {
    pub block_reason: Option<String>,
    pub block_reason_message: Option<String>,
}

#[derive(Debug, Default, Deserialize, Clone, Copy)]
#[serde(rename_all = "camelCase", default)]
pub(super) struct UsageMetadata {
    pub prompt_token_count: u64,
    pub candidates_token_count: u64,
    pub cached_content_token_count: Option<u64>,
    pub thoughts_token_count: u64,
    pub tool_use_prompt_token_count: u64,
}

impl UsageMetadata {
    pub fn usage(&self) -> Usage {
        Usage {
            input_tokens: self.prompt_token_count.saturating_add(self.tool_use_prompt_token_count),
            output_tokens: self.candidates_token_count.saturating_add(self.thoughts_token_count),
            cached_input_tokens: self.cached_content_token_count,
        }
    }
}

impl Candidate {
    /// The candidate's choice number.
    pub fn choice(&self, position: usize) -> u32 {
        self.index.unwrap_or(position as u32)
    }

    /// The parts that count: no thoughts.
    pub fn parts(&self) -> impl Iterator<Item = &WirePart> {
        self.content
            .iter()
            .flat_map(|c| c.parts.iter())
            .filter(|p| p.thought != Some(true))
    }
}

impl FunctionCall {
    /// The call's arguments as JSON text (`{}` when absent).
    pub fn arguments(&self) -> String {
        match &self.args {
            None | Some(Value::Null) => "{}".to_string(),
            Some(args) => args.to_string(),
        }
    }

    /// The call's id: Gemini's own, else `call_<n>`.
    pub fn id(&self, n: u32) -> String {
        match &self.id {
            Some(id) if !id.is_empty() => id.clone(),
            _ => format!("call_{n}"),
        }
    }
}

pub(super) fn parse<T: for<'de> Deserialize<'de>>(body: &[u8], what: &str) -> Result<T, DecodeError> {
    serde_json::from_slice(body)
        .map_err(|e| DecodeError::Malformed(format!("Gemini {what} is not valid: {e}")))
}

/// `gemini-` and 24 hex digits of the SHA-256 of `bytes`.
pub(super) fn generated_id(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut id = String::from("gemini-");
    for byte in &digest[..12] {
        id.push_str(&format!("{byte:02x}"));
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

/// The refusal for a blocked prompt, if the response is one.
pub(super) fn prompt_blocked(response: &GenerateContentResponse) -> Option<DecodeError> {
    let feedback = response.prompt_feedback.as_ref()?;
    let reason = feedback.block_reason.as_deref()?;
    let mut message = format!("Gemini blocked the prompt ({reason})");
    if let Some(detail) = feedback.block_reason_message.as_deref().filter(|m| !m.is_empty()) {
        message.push_str(": ");
        message.push_str(detail);
    }
    Some(DecodeError::Refused(message))
}

/// The refusal for a candidate stopped by a content filter with nothing generated.
pub(super) fn candidate_refused(reason: &str, finish_message: Option<&str>) -> DecodeError {
    let mut message = format!("Gemini stopped the answer ({reason})");
    if let Some(detail) = finish_message.filter(|m| !m.is_empty()) {
        message.push_str(": ");
        message.push_str(detail);
    }
    DecodeError::Refused(message)
}

/// A complete `generateContent` answer.
pub fn chat_response(body: &[u8]) -> Result<ChatResponse, DecodeError> {
    let response: GenerateContentResponse = parse(body, "response")?;
    if let Some(refused) = prompt_blocked(&response) {
        return Err(refused);
    }
    if response.candidates.is_empty() {
        return Err(DecodeError::Malformed("Gemini answered with no candidates".into()));
    }
    let mut choices = Vec::with_capacity(response.candidates.len());
    for (position, candidate) in response.candidates.iter().enumerate() {
        let mut text = String::new();
        let mut tool_calls = Vec::new();
        for part in candidate.parts() {
            if let Some(t) = &part.text {
                text.push_str(t);
            }
            if let Some(call) = &part.function_call {
                tool_calls.push(ToolCall {
                    id: call.id(tool_calls.len() as u32),
                    name: call.name.clone(),
                    arguments: call.arguments(),
                });
            }
        }
        let finish_reason =
            candidate.finish_reason.as_deref().map(|r| finish_reason(r, !tool_calls.is_empty()));
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
        let filtered = response
            .candidates
            .iter()
            .find(|c| c.finish_reason.as_deref().is_some_and(is_content_filter));
        if let Some(candidate) = filtered {
            return Err(candidate_refused(
                candidate.finish_reason.as_deref().unwrap_or(""),
                candidate.finish_message.as_deref(),
            ));
        }
    }
    Ok(ChatResponse {
        id: match &response.response_id {
            Some(id) if !id.is_empty() => id.clone(),
            _ => generated_id(body),
        },
        model: response.model_version.clone().unwrap_or_default(),
        created: 0,
        choices,
        usage: response.usage_metadata.map(|u| u.usage()),
    })
}

#[derive(Deserialize)]
struct BatchEmbedContentsResponse {
    embeddings: Vec<ContentEmbedding>,
}

#[derive(Deserialize)]
struct ContentEmbedding {
    values: Vec<f32>,
}

/// A `batchEmbedContents` answer: one vector per request, in order.
/// (Gemini reports neither the model nor token usage here.)
pub fn embeddings_response(body: &[u8]) -> Result<EmbeddingsResponse, DecodeError> {
    let response: BatchEmbedContentsResponse = parse(body, "embeddings response")?;
    Ok(EmbeddingsResponse {
        model: String::new(),
        vectors: response.embeddings.into_iter().map(|e| e.values).collect(),
        usage: None,
    })
}
