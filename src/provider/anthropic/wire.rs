//! The small pieces of the Anthropic wire format that both directions share
//! (this outbound provider and the inbound dialect): stop reasons, tool
//! inputs and usage fields.

use crate::canonical::{FinishReason, Usage};
use serde_json::{Map, Value};

/// The key under which tool-call arguments that are not a JSON object
/// travel in an Anthropic `input` (which must be an object).
///
/// OpenAI carries arguments as JSON text, and a model (or a client
/// replaying history) can produce text that is not an object: cut off by
/// `max_tokens`, or plain text. Rather than replace it with `{}` (losing it
/// silently) or refusing the whole request, such text is sent as
/// `{"_raw_arguments": "<the text>"}`, and an input of exactly that shape is
/// read back as the text itself.
pub(crate) const RAW_ARGUMENTS: &str = "_raw_arguments";

/// Tool-call arguments (JSON text) as an Anthropic `input` object: the
/// object they hold, `{}` for empty text, else `{"_raw_arguments": text}`.
pub(crate) fn input_of(arguments: &str) -> Value {
    let trimmed = arguments.trim();
    if trimmed.is_empty() {
        return Value::Object(Map::new());
    }
    match serde_json::from_slice::<Value>(trimmed.as_bytes()) {
        Ok(Value::Object(object)) => Value::Object(object),
        _ => {
            let mut object = Map::new();
            object.insert(RAW_ARGUMENTS.into(), Value::String(arguments.to_string()));
            Value::Object(object)
        }
    }
}

/// An Anthropic tool `input` as arguments text (the inverse of [`input_of`]).
pub(crate) fn arguments_of(input: &Value) -> String {
    match input {
        Value::Null => "{}".to_string(),
        Value::Object(object) if object.len() == 1 => match object.get(RAW_ARGUMENTS) {
            Some(Value::String(raw)) => raw.clone(),
            _ => crate::json_out::value_text(input),
        },
        _ => crate::json_out::value_text(input),
    }
}

/// An Anthropic `stop_reason` (with its `stop_sequence`) as a canonical reason.
pub(crate) fn finish_reason(stop_reason: &str, stop_sequence: Option<&str>) -> FinishReason {
    match stop_reason {
        "end_turn" => FinishReason::Stop,
        // The model ran out of room either way.
        "max_tokens" | "model_context_window_exceeded" => FinishReason::Length,
        "stop_sequence" => FinishReason::StopSequence(stop_sequence.map(str::to_string)),
        "tool_use" => FinishReason::ToolCalls,
        "refusal" => FinishReason::ContentFilter,
        other => FinishReason::Other(other.to_string()),
    }
}

/// Stop reasons Anthropic's SDKs know; anything else is reported as `end_turn`.
const KNOWN_STOP_REASONS: [&str; 7] = [
    "end_turn",
    "max_tokens",
    "stop_sequence",
    "tool_use",
    "pause_turn",
    "refusal",
    "model_context_window_exceeded",
];

/// A canonical reason as Anthropic's `stop_reason` and `stop_sequence`.
pub(crate) fn stop_reason(reason: &FinishReason) -> (&str, Option<&str>) {
    match reason {
        FinishReason::Stop => ("end_turn", None),
        FinishReason::Length => ("max_tokens", None),
        FinishReason::ToolCalls => ("tool_use", None),
        FinishReason::ContentFilter => ("refusal", None),
        FinishReason::StopSequence(sequence) => ("stop_sequence", sequence.as_deref()),
        FinishReason::Other(other) => match KNOWN_STOP_REASONS.iter().find(|r| **r == other) {
            Some(known) => (known, None),
            None => ("end_turn", None),
        },
    }
}

/// The token counts of an Anthropic `usage` object, each when present.
/// `message_start` carries all of them, `message_delta` the cumulative
/// output (and, in newer API versions, the input counts again).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct UsageFields {
    pub input: Option<u64>,
    pub output: Option<u64>,
    pub cache_read: Option<u64>,
    pub cache_creation: Option<u64>,
}

impl UsageFields {
    /// Reads a `usage` object; `None` when `value` is not one.
    pub fn read(value: Option<&Value>) -> Option<UsageFields> {
        let object = value?.as_object()?;
        let count = |name: &str| object.get(name).and_then(Value::as_u64);
        Some(UsageFields {
            input: count("input_tokens"),
            output: count("output_tokens"),
            cache_read: count("cache_read_input_tokens"),
            cache_creation: count("cache_creation_input_tokens"),
        })
    }

    /// Takes every count `later` has.
    pub fn merge(&mut self, later: UsageFields) {
        self.input = later.input.or(self.input);
        self.output = later.output.or(self.output);
        self.cache_read = later.cache_read.or(self.cache_read);
        self.cache_creation = later.cache_creation.or(self.cache_creation);
    }

    /// Canonical usage: the prompt is `input_tokens` plus the tokens read
    /// from and written to the prompt cache (Anthropic counts them apart).
    pub fn canonical(&self) -> Usage {
        let input = self.input.unwrap_or(0);
        let read = self.cache_read.unwrap_or(0);
        let created = self.cache_creation.unwrap_or(0);
        Usage {
            input_tokens: input.saturating_add(read).saturating_add(created),
            output_tokens: self.output.unwrap_or(0),
            cached_input_tokens: self.cache_read,
        }
    }
}
