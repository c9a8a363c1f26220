//! Anthropic Messages request bodies (`POST /v1/messages`) as canonical
//! chat requests.
//!
//! Every error is a 400 whose message names the field at fault the way
//! Anthropic does (`messages.1.content.0.source.type: ...`) and whose
//! `param` is the top-level field. What the canonical request cannot hold:
//!
//! - unknown top-level fields (`thinking`, `service_tier`, ...) are kept in
//!   [`ChatRequest::extra`];
//! - `cache_control` marks and `citations` are dropped; `thinking` and
//!   `redacted_thinking` blocks of assistant turns are dropped (only
//!   Anthropic can read them back);
//! - block types that have no canonical form (`document`, `search_result`,
//!   server tool blocks, ...), image sources other than `base64` and `url`,
//!   and server tools (a `tools` entry with a `type` other than `custom`)
//!   are refused with a 400 naming them, rather than silently left out.
//!   The fast path ([`crate::provider::anthropic::forward_messages`]) never
//!   decodes the body, so all of these still reach an Anthropic upstream;
//!   [`inspect`] reads what the gateway needs for that path.

use crate::canonical::{
    ChatRequest, Image, ImageSource, Message, Part, Role, Tool, ToolCall, ToolChoice,
};
use crate::chat::ChatSummary;
use crate::error::{Fault, GatewayError};
use crate::provider::anthropic::wire::arguments_of;
use serde_json::{Map, Value};

fn bad(param: &'static str, message: String) -> GatewayError {
    GatewayError::new(Fault::BadRequest, message).with_param(param)
}

/// The body as a JSON object, or a 400 saying why it is not one.
fn object(body: &[u8]) -> Result<Map<String, Value>, GatewayError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(GatewayError::new(
            Fault::BadRequest,
            "Request body is empty; expected a JSON Messages request.",
        ));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(GatewayError::new(
            Fault::BadRequest,
            "Request body is not a Messages request: expected a JSON object.",
        )),
        Err(e) => Err(GatewayError::new(
            Fault::BadRequest,
            format!("Request body is not valid JSON: {e}."),
        )),
    }
}

fn required_model(value: Option<&Value>) -> Result<String, GatewayError> {
    match value {
        None => Err(bad("model", "model: Field required".into())),
        Some(Value::String(m)) if !m.trim().is_empty() => Ok(m.clone()),
        Some(Value::String(_)) => Err(bad("model", "model: must not be empty".into())),
        Some(_) => Err(bad("model", "model: Input should be a valid string".into())),
    }
}

fn required_max_tokens(value: Option<&Value>) -> Result<u64, GatewayError> {
    match value {
        None => Err(bad("max_tokens", "max_tokens: Field required".into())),
        Some(v) => match v.as_u64() {
            Some(n) if n >= 1 => Ok(n),
            Some(_) => Err(bad("max_tokens", "max_tokens: Input should be greater than or equal to 1".into())),
            None => Err(bad("max_tokens", "max_tokens: Input should be a valid integer".into())),
        },
    }
}

fn required_messages(value: Option<&Value>) -> Result<&Vec<Value>, GatewayError> {
    match value {
        None => Err(bad("messages", "messages: Field required".into())),
        Some(Value::Array(messages)) => Ok(messages),
        Some(_) => Err(bad("messages", "messages: Input should be a valid list".into())),
    }
}

fn optional_bool(value: &Value, path: &str, param: &'static str) -> Result<Option<bool>, GatewayError> {
    match value {
        Value::Null => Ok(None),
        Value::Bool(b) => Ok(Some(*b)),
        _ => Err(bad(param, format!("{path}: Input should be a valid boolean"))),
    }
}

fn optional_number(value: &Value, name: &'static str) -> Result<Option<f64>, GatewayError> {
    match value {
        Value::Null => Ok(None),
        Value::Number(n) => Ok(n.as_f64()),
        _ => Err(bad(name, format!("{name}: Input should be a valid number"))),
    }
}

/// What the gateway needs to route an Anthropic request without decoding
/// it (the fast path): `model`, `stream`, and that `max_tokens` and
/// `messages` are there, as Anthropic requires.
pub fn inspect(body: &[u8]) -> Result<ChatSummary, GatewayError> {
    let object = object(body)?;
    let model = required_model(object.get("model"))?;
    required_max_tokens(object.get("max_tokens"))?;
    let message_count = required_messages(object.get("messages"))?.len();
    let stream = match object.get("stream") {
        Some(v) => optional_bool(v, "stream", "stream")?.unwrap_or(false),
        None => false,
    };
    Ok(ChatSummary { model, stream, include_usage: stream, stream_options: false, message_count })
}

/// Decodes a Messages request; a 400 naming the field at fault otherwise.
pub fn decode_chat(body: &[u8]) -> Result<ChatRequest, GatewayError> {
    let mut object = object(body)?;
    let mut req = ChatRequest {
        model: required_model(object.get("model"))?,
        max_tokens: Some(required_max_tokens(object.get("max_tokens"))?),
        // Anthropic streams always carry usage.
        include_usage: true,
        ..ChatRequest::default()
    };
    let messages = required_messages(object.get("messages"))?;
    if messages.is_empty() {
        return Err(bad("messages", "messages: at least one message is required".into()));
    }
    if let Some(system) = object.get("system") {
        let parts = system_parts(system)?;
        if !parts.is_empty() {
            req.messages.push(Message { content: parts, ..Message::text(Role::System, "") });
        }
    }
    for (i, message) in messages.iter().enumerate() {
        decode_message(i, message, &mut req.messages)?;
    }

    for name in ["model", "max_tokens", "messages", "system"] {
        object.remove(name);
    }
    for (name, value) in object {
        match name.as_str() {
            "stream" => req.stream = optional_bool(&value, "stream", "stream")?.unwrap_or(false),
            "temperature" => req.temperature = optional_number(&value, "temperature")?,
            "top_p" => req.top_p = optional_number(&value, "top_p")?,
            "top_k" => {
                req.top_k = match &value {
                    Value::Null => None,
                    v => Some(v.as_u64().ok_or_else(|| {
                        bad("top_k", "top_k: Input should be a valid non-negative integer".into())
                    })?),
                }
            }
            "stop_sequences" => req.stop = stop_sequences(&value)?,
            "metadata" => req.user = user_id(&value)?,
            "tools" => req.tools = tools(&value)?,
            "tool_choice" => {
                let (choice, parallel) = tool_choice(&value)?;
                req.tool_choice = choice;
                req.parallel_tool_calls = parallel;
            }
            _ => {
                req.extra.insert(name, value);
            }
        }
    }
    Ok(req)
}

/// `system`: a string, or a list of text blocks.
fn system_parts(value: &Value) -> Result<Vec<Part>, GatewayError> {
    match value {
        Value::Null => Ok(Vec::new()),
        Value::String(text) if text.is_empty() => Ok(Vec::new()),
        Value::String(text) => Ok(vec![Part::Text(text.clone())]),
        Value::Array(blocks) => crate::seq::try_map(blocks, |j, block| {
            let path = format!("system.{j}");
            match block_type(block, &path, "system")? {
                "text" => Ok(Part::Text(text_field(block, &path, "system")?)),
                other => Err(bad(
                    "system",
                    format!("{path}.type: system blocks must be of type `text`, not `{other}`"),
                )),
            }
        }),
        _ => Err(bad("system", "system: Input should be a valid string or a list of text blocks".into())),
    }
}

fn block_type<'v>(block: &'v Value, path: &str, param: &'static str) -> Result<&'v str, GatewayError> {
    if !block.is_object() {
        return Err(bad(param, format!("{path}: Input should be a content block object")));
    }
    match block.get("type") {
        Some(Value::String(kind)) => Ok(kind),
        None => Err(bad(param, format!("{path}.type: Field required"))),
        Some(_) => Err(bad(param, format!("{path}.type: Input should be a valid string"))),
    }
}

fn string_field(value: &Value, name: &str, path: &str, param: &'static str) -> Result<String, GatewayError> {
    match value.get(name) {
        Some(Value::String(s)) => Ok(s.clone()),
        None => Err(bad(param, format!("{path}.{name}: Field required"))),
        Some(_) => Err(bad(param, format!("{path}.{name}: Input should be a valid string"))),
    }
}

fn text_field(block: &Value, path: &str, param: &'static str) -> Result<String, GatewayError> {
    string_field(block, "text", path, param)
}

fn unsupported_block(kind: &str, path: &str, param: &'static str) -> GatewayError {
    bad(
        param,
        format!(
            "{path}.type: content blocks of type `{kind}` have no equivalent in the gateway's translation \
             to other providers; route this request to an Anthropic provider"
        ),
    )
}

/// One message of `messages`, as one or more canonical messages: a user
/// turn's `tool_result` blocks become tool messages, in order, between the
/// user messages holding the blocks around them.
fn decode_message(i: usize, value: &Value, out: &mut Vec<Message>) -> Result<(), GatewayError> {
    let path = format!("messages.{i}");
    if !value.is_object() {
        return Err(bad("messages", format!("{path}: Input should be a message object")));
    }
    let role = match value.get("role").and_then(Value::as_str) {
        Some("user") => Role::User,
        Some("assistant") => Role::Assistant,
        Some(other) => {
            return Err(bad(
                "messages",
                format!("{path}.role: Input should be 'user' or 'assistant', not '{other}' (the system prompt is the top-level `system`)"),
            ))
        }
        None => return Err(bad("messages", format!("{path}.role: Field required"))),
    };
    let blocks = match value.get("content") {
        Some(Value::String(text)) => {
            out.push(Message::text(role, text.clone()));
            return Ok(());
        }
        Some(Value::Array(blocks)) => blocks,
        None => return Err(bad("messages", format!("{path}.content: Field required"))),
        Some(_) => {
            return Err(bad(
                "messages",
                format!("{path}.content: Input should be a valid string or a list of content blocks"),
            ))
        }
    };
    let mut message = Message { content: Vec::new(), ..Message::text(role, "") };
    let mut pushed = false;
    for (j, block) in blocks.iter().enumerate() {
        let path = format!("{path}.content.{j}");
        match (block_type(block, &path, "messages")?, role) {
            ("text", _) => message.content.push(Part::Text(text_field(block, &path, "messages")?)),
            ("image", _) => message.content.push(Part::Image(image(block, &path)?)),
            ("tool_use", Role::Assistant) => message.tool_calls.push(ToolCall {
                id: string_field(block, "id", &path, "messages")?,
                name: string_field(block, "name", &path, "messages")?,
                arguments: arguments_of(block.get("input").unwrap_or(&Value::Null)),
            }),
            ("thinking" | "redacted_thinking", Role::Assistant) => {}
            ("tool_result", Role::User) => {
                if !message.content.is_empty() {
                    out.push(std::mem::replace(&mut message, Message { content: Vec::new(), ..Message::text(role, "") }));
                }
                out.push(tool_result(block, &path)?);
                pushed = true;
            }
            (kind @ ("tool_use" | "tool_result"), _) => {
                let turn = if kind == "tool_use" { "assistant" } else { "user" };
                return Err(bad("messages", format!("{path}.type: `{kind}` blocks belong in {turn} messages")));
            }
            (kind, _) => return Err(unsupported_block(kind, &path, "messages")),
        }
    }
    if !pushed || !message.content.is_empty() || !message.tool_calls.is_empty() {
        out.push(message);
    }
    Ok(())
}

fn image(block: &Value, path: &str) -> Result<Image, GatewayError> {
    let path = format!("{path}.source");
    let Some(source) = block.get("source").filter(|s| s.is_object()) else {
        return Err(bad("messages", format!("{path}: Field required")));
    };
    let source = match source.get("type").and_then(Value::as_str) {
        Some("base64") => ImageSource::Base64 {
            media_type: string_field(source, "media_type", &path, "messages")?,
            data: string_field(source, "data", &path, "messages")?,
        },
        Some("url") => ImageSource::Url(string_field(source, "url", &path, "messages")?),
        Some(other) => {
            return Err(bad(
                "messages",
                format!("{path}.type: image sources of type `{other}` cannot be translated; use `base64` or `url`"),
            ))
        }
        None => return Err(bad("messages", format!("{path}.type: Field required"))),
    };
    Ok(Image { source, detail: None })
}

/// A `tool_result` block as a tool message; its content a string or text
/// and image blocks.
fn tool_result(block: &Value, path: &str) -> Result<Message, GatewayError> {
    let id = string_field(block, "tool_use_id", path, "messages")?;
    let is_error = optional_bool(block.get("is_error").unwrap_or(&Value::Null), &format!("{path}.is_error"), "messages")?
        .unwrap_or(false);
    let content = match block.get("content") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(text)) if text.is_empty() => Vec::new(),
        Some(Value::String(text)) => vec![Part::Text(text.clone())],
        Some(Value::Array(blocks)) => {
            let mut parts = Vec::with_capacity(blocks.len());
            for (k, inner) in blocks.iter().enumerate() {
                let path = format!("{path}.content.{k}");
                match block_type(inner, &path, "messages")? {
                    "text" => parts.push(Part::Text(text_field(inner, &path, "messages")?)),
                    "image" => parts.push(Part::Image(image(inner, &path)?)),
                    other => return Err(unsupported_block(other, &path, "messages")),
                }
            }
            parts
        }
        Some(_) => {
            return Err(bad(
                "messages",
                format!("{path}.content: Input should be a valid string or a list of content blocks"),
            ))
        }
    };
    Ok(Message {
        role: Role::Tool,
        content,
        tool_calls: Vec::new(),
        tool_call_id: Some(id),
        is_error,
        name: None,
    })
}

fn stop_sequences(value: &Value) -> Result<Vec<String>, GatewayError> {
    match value {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => crate::seq::try_map(items, |i, item| match item {
            Value::String(s) => Ok(s.clone()),
            _ => Err(bad("stop_sequences", format!("stop_sequences.{i}: Input should be a valid string"))),
        }),
        _ => Err(bad("stop_sequences", "stop_sequences: Input should be a valid list".into())),
    }
}

/// `metadata.user_id`, the only field Anthropic's metadata has.
fn user_id(value: &Value) -> Result<Option<String>, GatewayError> {
    match value {
        Value::Null => Ok(None),
        Value::Object(metadata) => match metadata.get("user_id") {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(user)) => Ok(Some(user.clone())),
            Some(_) => Err(bad("metadata", "metadata.user_id: Input should be a valid string".into())),
        },
        _ => Err(bad("metadata", "metadata: Input should be a valid object".into())),
    }
}

fn tools(value: &Value) -> Result<Vec<Tool>, GatewayError> {
    let items = match value {
        Value::Null => return Ok(Vec::new()),
        Value::Array(items) => items,
        _ => return Err(bad("tools", "tools: Input should be a valid list".into())),
    };
    crate::seq::try_map(items, |i, tool| {
        let path = format!("tools.{i}");
        if !tool.is_object() {
            return Err(bad("tools", format!("{path}: Input should be a tool object")));
        }
        if let Some(kind) = tool.get("type").and_then(Value::as_str).filter(|k| *k != "custom") {
            return Err(bad(
                "tools",
                format!("{path}.type: the server tool `{kind}` runs only on Anthropic; route this request to an Anthropic provider"),
            ));
        }
        let name = string_field(tool, "name", &path, "tools")?;
        let description = match tool.get("description") {
            None | Some(Value::Null) => None,
            Some(Value::String(d)) => Some(d.clone()),
            Some(_) => return Err(bad("tools", format!("{path}.description: Input should be a valid string"))),
        };
        let parameters = match tool.get("input_schema") {
            Some(schema @ Value::Object(_)) => schema.clone(),
            None => return Err(bad("tools", format!("{path}.input_schema: Field required"))),
            Some(_) => return Err(bad("tools", format!("{path}.input_schema: Input should be a valid object"))),
        };
        let strict = optional_bool(tool.get("strict").unwrap_or(&Value::Null), &format!("{path}.strict"), "tools")?;
        Ok(Tool { name, description, parameters, strict })
    })
}

/// `tool_choice`, and `Some(false)` for parallel tool calls when it
/// disables them.
fn tool_choice(value: &Value) -> Result<(Option<ToolChoice>, Option<bool>), GatewayError> {
    if value.is_null() {
        return Ok((None, None));
    }
    if !value.is_object() {
        return Err(bad("tool_choice", "tool_choice: Input should be a valid object".into()));
    }
    let choice = match value.get("type").and_then(Value::as_str) {
        Some("auto") => ToolChoice::Auto,
        Some("any") => ToolChoice::Required,
        Some("none") => ToolChoice::None,
        Some("tool") => ToolChoice::Tool(string_field(value, "name", "tool_choice", "tool_choice")?),
        Some(other) => {
            return Err(bad(
                "tool_choice",
                format!("tool_choice.type: Input should be 'auto', 'any', 'tool' or 'none', not '{other}'"),
            ))
        }
        None => return Err(bad("tool_choice", "tool_choice.type: Field required".into())),
    };
    let disable = value.get("disable_parallel_tool_use").unwrap_or(&Value::Null);
    let disable = optional_bool(disable, "tool_choice.disable_parallel_tool_use", "tool_choice")?;
    Ok((Some(choice), disable.filter(|d| *d).map(|_| false)))
}
