//! Canonical chat requests as Anthropic `POST {base}/messages` calls, and
//! the fast path that forwards an Anthropic client's own body.
//!
//! Where the canonical request says something Anthropic has no field for:
//!
//! - system messages (wherever they are) become the top-level `system`, in
//!   order; consecutive messages of one role are merged into one turn, and
//!   tool results go first in their user turn, as Anthropic requires;
//! - `max_tokens` is required by Anthropic: [`DEFAULT_MAX_TOKENS`] when the
//!   request has none;
//! - `temperature` is clamped to Anthropic's range, 0 to 1;
//! - `response_format` (JSON object or JSON schema) becomes one more system
//!   instruction asking for exactly that JSON and nothing else (Anthropic
//!   has no such field outside a beta);
//! - `n` above 1 is refused (Anthropic answers one choice); `seed`, the
//!   penalties, `logprobs` and `top_logprobs` are dropped;
//! - of `extra`, only fields that are Anthropic's own (`thinking`,
//!   `container`, `mcp_servers`, `context_management`) are sent: anything
//!   else there came from an OpenAI body and Anthropic would refuse it;
//! - tool-call arguments that are not a JSON object travel as
//!   `{"_raw_arguments": text}` (see [`super::wire::RAW_ARGUMENTS`]).

use super::wire::input_of;
use crate::canonical::json::{self, object};
use crate::canonical::{
    ChatRequest, ImageSource, Message, Part, ResponseFormat, Role, ToolChoice,
};
use crate::error::{Fault, GatewayError};
use crate::provider::{HttpRequest, Target};
use serde_json::{Map, Value};

/// The `anthropic-version` header every call carries.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";

/// `max_tokens` when the request has none (Anthropic requires one).
pub const DEFAULT_MAX_TOKENS: u64 = 4096;

/// Fields of [`ChatRequest::extra`] that are Anthropic's and are sent on.
const ANTHROPIC_EXTRA: [&str; 4] = ["thinking", "container", "mcp_servers", "context_management"];

/// The HTTP request for a chat call (`req.stream` picks a streamed answer).
pub fn chat_request(req: &ChatRequest, t: &Target) -> Result<HttpRequest, GatewayError> {
    let body = Value::Object(body(req, t.model)?);
    Ok(HttpRequest {
        url: messages_url(t.base),
        headers: headers(t),
        body: serde_json::to_vec(&body).unwrap_or_default(),
    })
}

/// The fast path, an Anthropic client to an Anthropic upstream: the
/// client's `body` byte for byte, or with only its top-level `model` set to
/// the target's when `rewrite_model` (every other byte kept, unknown
/// fields included). A 400 when the body is not a JSON object.
pub fn forward_messages(body: &[u8], t: &Target, rewrite_model: bool) -> Result<HttpRequest, GatewayError> {
    let body = if rewrite_model {
        with_model(body, t.model)?
    } else {
        body.to_vec()
    };
    Ok(HttpRequest { url: messages_url(t.base), headers: headers(t), body })
}

fn messages_url(base: &str) -> String {
    format!("{}/messages", base.trim_end_matches('/'))
}

fn headers(t: &Target) -> Vec<(String, String)> {
    let mut headers = vec![
        ("content-type".to_string(), "application/json".to_string()),
        ("anthropic-version".to_string(), ANTHROPIC_VERSION.to_string()),
    ];
    if let Some(key) = t.key {
        headers.push(("x-api-key".to_string(), key.to_string()));
    }
    headers
}

fn bad(param: &'static str, message: String) -> GatewayError {
    GatewayError::new(Fault::BadRequest, message).with_param(param)
}

/// One turn being built: tool results first, then the other blocks.
struct Turn {
    role: &'static str,
    results: Vec<Value>,
    blocks: Vec<Value>,
}

fn body(req: &ChatRequest, model: &str) -> Result<Map<String, Value>, GatewayError> {
    if let Some(n) = req.n.filter(|n| *n > 1) {
        return Err(bad(
            "n",
            format!("`n` is {n}, but Anthropic answers with one choice; send `n` 1 or leave it out."),
        ));
    }
    let mut system: Vec<String> = Vec::new();
    let mut turns: Vec<Turn> = Vec::new();
    for (i, message) in req.messages.iter().enumerate() {
        match message.role {
            Role::System => {
                for part in &message.content {
                    match part {
                        Part::Text(text) if !text.is_empty() => system.push(text.clone()),
                        Part::Text(_) => {}
                        Part::Image(_) => {
                            return Err(bad(
                                "messages",
                                format!("`messages[{i}]`: Anthropic takes no images in system messages."),
                            ))
                        }
                    }
                }
            }
            Role::User => push(&mut turns, "user", Vec::new(), content_blocks(&message.content)),
            Role::Assistant => {
                let mut blocks = content_blocks(&message.content);
                for call in &message.tool_calls {
                    blocks.push(object([
                        ("type", json::text("tool_use")),
                        ("id", json::text(&call.id)),
                        ("name", json::text(&call.name)),
                        ("input", input_of(&call.arguments)),
                    ]));
                }
                push(&mut turns, "assistant", Vec::new(), blocks);
            }
            Role::Tool => push(&mut turns, "user", vec![tool_result(i, message)?], Vec::new()),
        }
    }
    if let Some(instruction) = req.response_format.as_ref().and_then(json_instruction) {
        system.push(instruction);
    }

    let mut body = Map::new();
    body.insert("model".into(), Value::String(model.to_string()));
    body.insert(
        "max_tokens".into(),
        Value::from(req.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS)),
    );
    match system.len() {
        0 => {}
        1 => {
            body.insert("system".into(), Value::String(system.remove(0)));
        }
        _ => {
            let blocks = system.iter().map(|text| json::text_part(text));
            body.insert("system".into(), Value::Array(blocks.collect()));
        }
    }
    let messages = turns.into_iter().map(|turn| {
        let mut content = turn.results;
        content.extend(turn.blocks);
        object([("role", json::text(turn.role)), ("content", Value::Array(content))])
    });
    body.insert("messages".into(), Value::Array(messages.collect()));

    if !req.tools.is_empty() {
        let tools = req.tools.iter().map(|tool| {
            let mut out = Map::new();
            out.insert("name".into(), Value::String(tool.name.clone()));
            if let Some(description) = &tool.description {
                out.insert("description".into(), Value::String(description.clone()));
            }
            let schema = match &tool.parameters {
                Value::Object(schema) if !schema.is_empty() => Value::Object(schema.clone()),
                _ => object([("type", json::text("object")), ("properties", Value::Object(Map::new()))]),
            };
            out.insert("input_schema".into(), schema);
            Value::Object(out)
        });
        body.insert("tools".into(), Value::Array(tools.collect()));
        if let Some(choice) = tool_choice(req.tool_choice.as_ref(), req.parallel_tool_calls) {
            body.insert("tool_choice".into(), choice);
        }
    }
    if !req.stop.is_empty() {
        let stops = crate::seq::keep(&req.stop, |s| (!s.is_empty()).then(|| Value::String(s.clone())));
        body.insert("stop_sequences".into(), Value::Array(stops));
    }
    if req.stream {
        body.insert("stream".into(), Value::Bool(true));
    }
    if let Some(t) = req.temperature {
        body.insert("temperature".into(), Value::from(t.clamp(0.0, 1.0)));
    }
    if let Some(p) = req.top_p {
        body.insert("top_p".into(), Value::from(p));
    }
    if let Some(k) = req.top_k {
        body.insert("top_k".into(), Value::from(k));
    }
    if let Some(user) = &req.user {
        body.insert("metadata".into(), object([("user_id", json::text(user))]));
    }
    for name in ANTHROPIC_EXTRA {
        if let Some(value) = req.extra.get(name) {
            body.insert(name.into(), value.clone());
        }
    }
    Ok(body)
}

/// Adds blocks to the last turn when it has this role, else starts a turn;
/// a turn with nothing in it is never made (Anthropic refuses empty content).
fn push(turns: &mut Vec<Turn>, role: &'static str, results: Vec<Value>, blocks: Vec<Value>) {
    if results.is_empty() && blocks.is_empty() {
        return;
    }
    match turns.last_mut() {
        Some(last) if last.role == role => {
            last.results.extend(results);
            last.blocks.extend(blocks);
        }
        _ => turns.push(Turn { role, results, blocks }),
    }
}

/// Text and image parts as content blocks (empty text left out: Anthropic
/// refuses empty text blocks).
fn content_blocks(parts: &[Part]) -> Vec<Value> {
    crate::seq::keep(parts, |part| match part {
        Part::Text(text) if text.is_empty() => None,
        Part::Text(text) => Some(json::text_part(text)),
        Part::Image(image) => Some(object([("type", json::text("image")), ("source", image_source(&image.source))])),
    })
}

fn image_source(source: &ImageSource) -> Value {
    match source {
        ImageSource::Url(url) => object([("type", json::text("url")), ("url", json::text(url))]),
        ImageSource::Base64 { media_type, data } => object([
            ("type", json::text("base64")),
            ("media_type", json::text(media_type)),
            ("data", json::text(data)),
        ]),
    }
}

/// A tool message as a `tool_result` block: its text as a string, or
/// blocks when it has images.
fn tool_result(i: usize, message: &Message) -> Result<Value, GatewayError> {
    let Some(id) = message.tool_call_id.as_deref().filter(|id| !id.is_empty()) else {
        return Err(bad(
            "messages",
            format!("`messages[{i}].tool_call_id` is required: Anthropic needs the tool call a result answers."),
        ));
    };
    let mut block = Map::new();
    block.insert("type".into(), Value::String("tool_result".into()));
    block.insert("tool_use_id".into(), Value::String(id.to_string()));
    let has_image = message.content.iter().any(|p| matches!(p, Part::Image(_)));
    if has_image {
        block.insert("content".into(), Value::Array(content_blocks(&message.content)));
    } else {
        let text = message.joined_text();
        if !text.is_empty() {
            block.insert("content".into(), Value::String(text));
        }
    }
    if message.is_error {
        block.insert("is_error".into(), Value::Bool(true));
    }
    Ok(Value::Object(block))
}

/// The system instruction standing for a JSON `response_format`.
fn json_instruction(format: &ResponseFormat) -> Option<String> {
    match format {
        ResponseFormat::Text => None,
        ResponseFormat::JsonObject => Some(
            "Respond with one valid JSON object and nothing else: no text before or after it, no code fences."
                .to_string(),
        ),
        ResponseFormat::JsonSchema { name, schema, .. } => {
            let schema = crate::json_out::value_text(schema);
            Some(format!(
                "Respond with one valid JSON object and nothing else: no text before or after it, no code fences. \
                 The object must match this JSON Schema (named `{name}`): {schema}"
            ))
        }
    }
}

fn tool_choice(choice: Option<&ToolChoice>, parallel: Option<bool>) -> Option<Value> {
    let mut value = Map::new();
    let kind = match choice {
        None if parallel == Some(false) => "auto",
        None => return None,
        Some(ToolChoice::Auto) => "auto",
        // Anthropic's `none` takes no other field.
        Some(ToolChoice::None) => return Some(object([("type", json::text("none"))])),
        Some(ToolChoice::Required) => "any",
        Some(ToolChoice::Tool(name)) => {
            value.insert("name".into(), json::text(name));
            "tool"
        }
    };
    value.insert("type".into(), json::text(kind));
    if parallel == Some(false) {
        value.insert("disable_parallel_tool_use".into(), Value::Bool(true));
    }
    Some(Value::Object(value))
}

/// `body` with its top-level `model` set to `model`, every other byte as it
/// was; `model` is added first when the body has none.
fn with_model(body: &[u8], model: &str) -> Result<Vec<u8>, GatewayError> {
    let object: Map<String, Value> = serde_json::from_slice(body).map_err(|e| {
        GatewayError::new(Fault::BadRequest, format!("Request body is not a JSON object: {e}."))
    })?;
    if object.get("model").and_then(Value::as_str) == Some(model) {
        return Ok(body.to_vec());
    }
    let mut quoted = String::new();
    crate::json_out::quote(&mut quoted, model);
    let Some((open, spans)) = top_level_spans(body, "model") else {
        // Unreachable for a body serde read as an object; rebuild rather than panic.
        let mut object = object;
        object.insert("model".into(), Value::String(model.to_string()));
        return Ok(serde_json::to_vec(&object).unwrap_or_default());
    };
    let mut out = Vec::with_capacity(body.len() + quoted.len());
    if spans.is_empty() {
        out.extend_from_slice(&body[..=open]);
        out.extend_from_slice(b"\"model\":");
        out.extend_from_slice(quoted.as_bytes());
        if !object.is_empty() {
            out.push(b',');
        }
        out.extend_from_slice(&body[open + 1..]);
        return Ok(out);
    }
    let mut at = 0;
    for (start, end) in spans {
        out.extend_from_slice(&body[at..start]);
        out.extend_from_slice(quoted.as_bytes());
        at = end;
    }
    out.extend_from_slice(&body[at..]);
    Ok(out)
}

/// In a JSON object (already known to be valid), the position of its `{`
/// and the byte ranges of the values of every top-level member named `name`.
fn top_level_spans(body: &[u8], name: &str) -> Option<(usize, Vec<(usize, usize)>)> {
    let mut at = skip_ws(body, 0);
    if body.get(at) != Some(&b'{') {
        return None;
    }
    let open = at;
    at += 1;
    let mut spans = Vec::new();
    loop {
        at = skip_ws(body, at);
        match body.get(at)? {
            b'}' => return Some((open, spans)),
            b',' => {
                at += 1;
                continue;
            }
            b'"' => {}
            _ => return None,
        }
        let key_end = string_end(body, at)?;
        let key: String = serde_json::from_slice(body.get(at..key_end)?).ok()?;
        at = skip_ws(body, key_end);
        if body.get(at) != Some(&b':') {
            return None;
        }
        let start = skip_ws(body, at + 1);
        let end = value_end(body, start)?;
        if key == name {
            spans.push((start, end));
        }
        at = end;
    }
}

fn skip_ws(body: &[u8], mut at: usize) -> usize {
    while body.get(at).is_some_and(|b| b.is_ascii_whitespace()) {
        at += 1;
    }
    at
}

/// The end (exclusive) of the string starting with the `"` at `start`.
fn string_end(body: &[u8], start: usize) -> Option<usize> {
    let mut at = start + 1;
    loop {
        match body.get(at)? {
            b'\\' => at += 2,
            b'"' => return Some(at + 1),
            _ => at += 1,
        }
    }
}

/// The end (exclusive) of the JSON value starting at `start`.
fn value_end(body: &[u8], start: usize) -> Option<usize> {
    match body.get(start)? {
        b'"' => string_end(body, start),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut at = start;
            loop {
                match body.get(at)? {
                    b'"' => {
                        at = string_end(body, at)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth = depth.checked_sub(1)?;
                        if depth == 0 {
                            return Some(at + 1);
                        }
                    }
                    _ => {}
                }
                at += 1;
            }
        }
        _ => {
            let mut at = start;
            while body
                .get(at)
                .is_some_and(|b| !matches!(b, b',' | b'}' | b']') && !b.is_ascii_whitespace())
            {
                at += 1;
            }
            Some(at)
        }
    }
}
