//! OpenAI answers read back: a `chat.completion` body, and an error body
//! with its status classified.

use serde_json::Value;

use crate::canonical::{
    ChatResponse, Choice, DecodeError, ErrorClass, FinishReason, ProviderError, ToolCall, Usage,
};

/// A complete 2xx chat answer.
pub fn chat_response(body: &[u8]) -> Result<ChatResponse, DecodeError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| DecodeError::Malformed(format!("the chat completion is not JSON: {e}")))?;
    let Value::Object(object) = &value else {
        return Err(DecodeError::Malformed(
            "the chat completion is not a JSON object".into(),
        ));
    };
    let Some(Value::Array(choices)) = object.get("choices") else {
        if let Some(error) = object.get("error") {
            return Err(DecodeError::Malformed(format!(
                "the provider answered 2xx with an error: {}",
                error_message(error).unwrap_or_else(|| crate::json_out::value_text(error))
            )));
        }
        return Err(DecodeError::Malformed(
            "the chat completion has no `choices` array".into(),
        ));
    };
    let choices = crate::seq::try_map(choices, choice)?;
    Ok(ChatResponse {
        id: str_field(object.get("id")).unwrap_or_default().to_string(),
        model: str_field(object.get("model"))
            .unwrap_or_default()
            .to_string(),
        created: object.get("created").and_then(Value::as_u64).unwrap_or(0),
        choices,
        usage: object.get("usage").and_then(usage),
    })
}

fn str_field(value: Option<&Value>) -> Option<&str> {
    value.and_then(Value::as_str)
}

fn choice(position: usize, c: &Value) -> Result<Choice, DecodeError> {
    let bad = |what: &str| DecodeError::Malformed(format!("`choices[{position}]` {what}"));
    let Value::Object(c) = c else {
        return Err(bad("is not an object"));
    };
    let index = match c.get("index") {
        None | Some(Value::Null) => position as u32,
        Some(v) => v
            .as_u64()
            .and_then(|i| u32::try_from(i).ok())
            .ok_or_else(|| bad("has a bad `index`"))?,
    };
    let message = match c.get("message") {
        Some(Value::Object(m)) => m,
        _ => return Err(bad("has no `message` object")),
    };
    let text = match message.get("content") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        // Some compatible servers answer with content parts.
        Some(Value::Array(parts)) => Some(
            parts
                .iter()
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect(),
        ),
        Some(_) => return Err(bad("has a `message.content` that is not text")),
    };
    // A refusal is the model's answer, in its own field.
    let text = text.or_else(|| str_field(message.get("refusal")).map(str::to_string));
    let tool_calls = match message.get("tool_calls") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(calls)) => crate::seq::try_map(calls, |_, call| tool_call(call).ok_or_else(|| bad("has a malformed tool call")))?,
        Some(_) => return Err(bad("has `tool_calls` that are not an array")),
    };
    Ok(Choice {
        index,
        text,
        tool_calls,
        finish_reason: str_field(c.get("finish_reason")).map(finish_reason),
    })
}

fn tool_call(call: &Value) -> Option<ToolCall> {
    let function = call.get("function")?;
    let arguments = match function.get("arguments") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        // Some compatible servers send the arguments as an object.
        Some(other) => crate::json_out::value_text(other),
    };
    Some(ToolCall {
        id: str_field(call.get("id")).unwrap_or_default().to_string(),
        name: str_field(function.get("name"))?.to_string(),
        arguments,
    })
}

/// OpenAI's `finish_reason`.
pub fn finish_reason(reason: &str) -> FinishReason {
    match reason {
        "stop" => FinishReason::Stop,
        "length" => FinishReason::Length,
        "tool_calls" | "function_call" => FinishReason::ToolCalls,
        "content_filter" => FinishReason::ContentFilter,
        other => FinishReason::Other(other.to_string()),
    }
}

/// An OpenAI `usage` object (`None` when it is not one).
pub fn usage(value: &Value) -> Option<Usage> {
    let object = value.as_object()?;
    let count = |key: &str| object.get(key).and_then(Value::as_u64);
    let input = count("prompt_tokens");
    let output = count("completion_tokens");
    if input.is_none() && output.is_none() {
        return None;
    }
    Some(Usage {
        input_tokens: input.unwrap_or(0),
        output_tokens: output.unwrap_or(0),
        cached_input_tokens: object
            .get("prompt_tokens_details")
            .and_then(|d| d.get("cached_tokens"))
            .and_then(Value::as_u64),
    })
}

/// The message of an OpenAI-style error value: `{"message":…}` (a string,
/// or a structure some servers put there) or a bare string.
pub fn error_message(error: &Value) -> Option<String> {
    match error {
        Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        Value::Object(o) => match o.get("message").or_else(|| o.get("detail")) {
            Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
            Some(Value::Null) | None => None,
            Some(other) => Some(crate::json_out::value_text(other)),
        },
        _ => None,
    }
}

/// What an error answer means: the class from the status and the body's
/// `code`/`type`/message, and the provider's message.
pub fn error(status: u16, body: &str) -> ProviderError {
    let value: Option<Value> = serde_json::from_slice(body.as_bytes()).ok();
    let inner = value.as_ref().map(|v| match v.get("error") {
        Some(error) => error,
        None => v,
    });
    let field = |key: &str| {
        inner
            .and_then(|e| e.get(key))
            .and_then(|v| match v {
                Value::String(s) => Some(s.to_ascii_lowercase()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
            .unwrap_or_default()
    };
    let message = inner.and_then(error_message).unwrap_or_else(|| {
        let text: String = body.trim().chars().take(500).collect();
        if text.is_empty() {
            format!("The provider answered HTTP {status} with an empty body.")
        } else {
            text
        }
    });
    let (code, kind) = (field("code"), field("type"));
    let lower = message.to_ascii_lowercase();
    let said = |words: &[&str]| words.iter().any(|w| code == *w || kind == *w);
    let class = if said(&["context_length_exceeded", "string_above_max_length"])
        || lower.contains("maximum context length")
        || lower.contains("context length")
        || lower.contains("context window")
    {
        ErrorClass::ContextLength
    } else if said(&["content_policy_violation", "content_filter"])
        || lower.contains("content management policy")
        || lower.contains("content_policy")
    {
        ErrorClass::ContentPolicy
    } else {
        match status {
            429 => ErrorClass::RateLimit,
            401 | 403 => ErrorClass::Auth,
            404 => ErrorClass::NotFound,
            503 | 529 => ErrorClass::Overloaded,
            500..=599
                if said(&["overloaded_error", "overloaded"]) || lower.contains("overloaded") =>
            {
                ErrorClass::Overloaded
            }
            408 | 500..=599 => ErrorClass::Server,
            400..=499 => ErrorClass::BadRequest,
            _ => ErrorClass::Server,
        }
    };
    ProviderError { class, message }
}
