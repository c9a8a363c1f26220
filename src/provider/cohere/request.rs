//! Canonical requests as Cohere v2 `/chat` and `/embed` bodies.
//!
//! Mapping notes:
//! - Messages keep their roles (`system`, `user`, `assistant`, `tool`).
//!   Content is a string when it is only text, else a list of
//!   `{"type":"text"}` / `{"type":"image_url","image_url":{"url"[,"detail"]}}`
//!   parts (base64 images as `data:` URLs).
//! - Assistant tool calls are `tool_calls: [{id, type: function,
//!   function: {name, arguments}}]`; tool results are `{role: tool,
//!   tool_call_id, content}`.
//! - Tools have the OpenAI function shape; `strict_tools` is set when any
//!   tool asks for `strict`. `tool_choice`: none → `NONE`, required →
//!   `REQUIRED`, one tool → `REQUIRED` with only that tool sent (Cohere
//!   cannot name the tool to call), auto → not sent (Cohere's default).
//! - `top_p` → `p`, `top_k` → `k`, `stop` → `stop_sequences`;
//!   `response_format` json → `{"type":"json_object"[, "json_schema"]}`.
//! - Not sent (Cohere has no place for them): `n`, `user`, `metadata`,
//!   `parallel_tool_calls`, `top_logprobs`, OpenAI-only `extra` fields.

use serde_json::{Map, Value};

use super::super::openai::request::{function_tool, image_part, tool_call};
use super::super::{HttpRequest, Target};
use crate::canonical::json::{self, object};
use crate::canonical::{
    ChatRequest, EmbeddingsRequest, Message, Part, ResponseFormat, Role, ToolChoice,
};
use crate::error::GatewayError;

fn headers(t: &Target) -> Vec<(String, String)> {
    let mut headers = vec![
        ("content-type".to_string(), "application/json".to_string()),
        ("accept".to_string(), "application/json".to_string()),
    ];
    if let Some(key) = t.key {
        headers.push(("authorization".to_string(), format!("Bearer {key}")));
    }
    headers
}

/// `POST {base}/chat`.
pub fn chat_request(req: &ChatRequest, t: &Target) -> Result<HttpRequest, GatewayError> {
    let body = chat_body(req, t.model);
    let mut headers = headers(t);
    if req.stream {
        headers[1].1 = "text/event-stream".to_string();
    }
    Ok(HttpRequest {
        url: format!("{}/chat", t.base),
        headers,
        body: serde_json::to_vec(&body).unwrap_or_default(),
    })
}

/// The v2 chat request JSON.
pub(super) fn chat_body(req: &ChatRequest, model: &str) -> Value {
    let mut body = Map::new();
    body.insert("model".into(), Value::String(model.to_string()));
    body.insert(
        "messages".into(),
        Value::Array(crate::seq::map(&req.messages, |_, x| message(x))),
    );

    let only_tool = match &req.tool_choice {
        Some(ToolChoice::Tool(name)) => Some(name.as_str()),
        _ => None,
    };
    let sent: Vec<&crate::canonical::Tool> =
        crate::seq::keep(&req.tools, |tool| only_tool.is_none_or(|name| tool.name == name).then_some(tool));
    let tools: Vec<Value> = crate::seq::map(&sent, |_, tool| {
        let mut function = Map::new();
        function.insert("name".into(), Value::String(tool.name.clone()));
        if let Some(description) = &tool.description {
            function.insert("description".into(), Value::String(description.clone()));
        }
        function.insert("parameters".into(), tool.parameters.clone());
        function_tool(Value::Object(function))
    });
    if !tools.is_empty() {
        body.insert("tools".into(), Value::Array(tools));
        if sent.iter().any(|t| t.strict == Some(true)) {
            body.insert("strict_tools".into(), Value::Bool(true));
        }
    }
    match &req.tool_choice {
        Some(ToolChoice::None) => {
            body.insert("tool_choice".into(), json::text("NONE"));
        }
        Some(ToolChoice::Required | ToolChoice::Tool(_)) => {
            body.insert("tool_choice".into(), json::text("REQUIRED"));
        }
        Some(ToolChoice::Auto) | None => {}
    }

    if req.stream {
        body.insert("stream".into(), Value::Bool(true));
    }
    let mut put = |key: &str, value: Option<Value>| {
        if let Some(value) = value {
            body.insert(key.into(), value);
        }
    };
    put("max_tokens", req.max_tokens.map(Value::from));
    put("temperature", req.temperature.map(Value::from));
    put("p", req.top_p.map(Value::from));
    put("k", req.top_k.map(Value::from));
    if !req.stop.is_empty() {
        put("stop_sequences", Some(Value::Array(crate::seq::map(&req.stop, |_, s| json::text(s)))));
    }
    put("seed", req.seed.map(Value::from));
    put("frequency_penalty", req.frequency_penalty.map(Value::from));
    put("presence_penalty", req.presence_penalty.map(Value::from));
    put("logprobs", req.logprobs.map(Value::from));
    match &req.response_format {
        Some(ResponseFormat::JsonObject) => {
            put("response_format", Some(object([("type", json::text("json_object"))])))
        }
        Some(ResponseFormat::JsonSchema { schema, .. }) => put(
            "response_format",
            Some(object([("type", json::text("json_object")), ("json_schema", schema.clone())])),
        ),
        Some(ResponseFormat::Text) | None => {}
    }
    Value::Object(body)
}

fn message(message: &Message) -> Value {
    let mut out = Map::new();
    let role = match message.role {
        Role::System => "system",
        Role::User => "user",
        Role::Assistant => "assistant",
        Role::Tool => "tool",
    };
    out.insert("role".into(), Value::String(role.into()));
    match message.role {
        Role::Assistant => {
            let text = message.joined_text();
            if !text.is_empty() || message.tool_calls.is_empty() {
                out.insert("content".into(), Value::String(text));
            }
            if !message.tool_calls.is_empty() {
                out.insert("tool_calls".into(), Value::Array(crate::seq::map(&message.tool_calls, |_, x| tool_call(x))));
            }
        }
        Role::Tool => {
            out.insert(
                "tool_call_id".into(),
                Value::String(message.tool_call_id.clone().unwrap_or_default()),
            );
            out.insert("content".into(), Value::String(message.joined_text()));
        }
        Role::System => {
            out.insert("content".into(), Value::String(message.joined_text()));
        }
        Role::User => {
            out.insert("content".into(), content(message));
        }
    }
    Value::Object(out)
}

/// A user message's content: a string, or parts when it has images.
fn content(message: &Message) -> Value {
    if message.content.iter().all(|p| matches!(p, Part::Text(_))) {
        return Value::String(message.joined_text());
    }
    let parts: Vec<Value> = crate::seq::map(&message.content, |_, part| match part {
        Part::Text(text) => json::text_part(text),
        Part::Image(image) => image_part(image),
    });
    Value::Array(parts)
}

/// `POST {base}/embed`: `texts`, `input_type: search_document`, float
/// embeddings (`output_dimension` from `dimensions`).
pub fn embeddings_request(req: &EmbeddingsRequest, t: &Target) -> Result<HttpRequest, GatewayError> {
    let mut body = Map::new();
    body.insert("model".into(), Value::String(t.model.to_string()));
    body.insert("texts".into(), Value::Array(crate::seq::map(&req.inputs, |_, s| json::text(s))));
    body.insert("input_type".into(), json::text("search_document"));
    body.insert("embedding_types".into(), Value::Array(vec![json::text("float")]));
    if let Some(dimensions) = req.dimensions {
        body.insert("output_dimension".into(), Value::from(dimensions));
    }
    Ok(HttpRequest {
        url: format!("{}/embed", t.base),
        headers: headers(t),
        body: serde_json::to_vec(&Value::Object(body)).unwrap_or_default(),
    })
}
