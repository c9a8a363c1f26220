//! A canonical [`ChatRequest`] as an OpenAI chat completions body.
//!
//! The body is built as a JSON object, the fields the canonical type has no
//! place for (`extra`) are merged back in (never over a field written
//! here), then the preset's and the model's rules are applied.

use serde_json::{Map, Value};

use super::endpoint;
use super::preset::preset_for;
use crate::canonical::json::{self, object};
use crate::canonical::{ChatRequest, Image, Message, Part, ResponseFormat, Role, ToolCall, ToolChoice};
use crate::provider::rules;
use crate::provider::Target;

/// The JSON body for `req` sent to `t`.
pub fn chat_body(req: &ChatRequest, t: &Target) -> Map<String, Value> {
    let preset = preset_for(t.kind);
    let mut body = Map::new();
    if endpoint::model_in_body(t) {
        body.insert("model".into(), Value::String(t.model.to_string()));
    }
    body.insert(
        "messages".into(),
        Value::Array(crate::seq::map(&req.messages, |_, x| message(x))),
    );
    if !req.tools.is_empty() {
        let tools = crate::seq::map(&req.tools, |_, tool| {
            let mut function = Map::new();
            function.insert("name".into(), Value::String(tool.name.clone()));
            if let Some(description) = &tool.description {
                function.insert("description".into(), Value::String(description.clone()));
            }
            if !tool.parameters.is_null() {
                function.insert("parameters".into(), tool.parameters.clone());
            }
            if let Some(strict) = tool.strict {
                function.insert("strict".into(), Value::Bool(strict));
            }
            function_tool(Value::Object(function))
        });
        body.insert("tools".into(), Value::Array(tools));
    }
    if let Some(choice) = &req.tool_choice {
        let choice = match choice {
            ToolChoice::Auto => json::text("auto"),
            ToolChoice::None => json::text("none"),
            ToolChoice::Required => json::text("required"),
            ToolChoice::Tool(name) => function_tool(object([("name", json::text(name))])),
        };
        body.insert("tool_choice".into(), choice);
    }
    put(
        &mut body,
        "parallel_tool_calls",
        req.parallel_tool_calls.map(Value::Bool),
    );
    if let Some(format) = &req.response_format {
        let format = match format {
            ResponseFormat::Text => object([("type", json::text("text"))]),
            ResponseFormat::JsonObject => object([("type", json::text("json_object"))]),
            ResponseFormat::JsonSchema {
                name,
                schema,
                strict,
            } => {
                let mut inner = Map::new();
                inner.insert("name".into(), Value::String(name.clone()));
                inner.insert("schema".into(), schema.clone());
                if let Some(strict) = strict {
                    inner.insert("strict".into(), Value::Bool(*strict));
                }
                object([("type", json::text("json_schema")), ("json_schema", Value::Object(inner))])
            }
        };
        body.insert("response_format".into(), format);
    }
    if req.stream {
        body.insert("stream".into(), Value::Bool(true));
        if preset.stream_usage {
            // Always asked for: the gateway counts tokens; the client's own
            // encoder drops the usage chunk unless it asked too.
            body.insert("stream_options".into(), object([("include_usage", Value::Bool(true))]));
        }
    }
    put(
        &mut body,
        preset.max_tokens_field,
        req.max_tokens.map(Value::from),
    );
    put(&mut body, "temperature", req.temperature.map(Value::from));
    put(&mut body, "top_p", req.top_p.map(Value::from));
    if preset.top_k {
        put(&mut body, "top_k", req.top_k.map(Value::from));
    }
    if !req.stop.is_empty() {
        body.insert("stop".into(), Value::Array(crate::seq::map(&req.stop, |_, s| json::text(s))));
    }
    put(&mut body, "seed", req.seed.map(Value::from));
    put(&mut body, "n", req.n.map(Value::from));
    put(
        &mut body,
        "presence_penalty",
        req.presence_penalty.map(Value::from),
    );
    put(
        &mut body,
        "frequency_penalty",
        req.frequency_penalty.map(Value::from),
    );
    put(&mut body, "logprobs", req.logprobs.map(Value::Bool));
    put(&mut body, "top_logprobs", req.top_logprobs.map(Value::from));
    put(&mut body, "user", req.user.clone().map(Value::String));
    put(
        &mut body,
        "metadata",
        req.metadata.clone().map(Value::Object),
    );
    for (key, value) in &req.extra {
        if !body.contains_key(key) {
            body.insert(key.clone(), value.clone());
        }
    }
    rules::apply(preset.actions, &mut body);
    rules::apply(rules::actions_for(t.model), &mut body);
    body
}

fn put(body: &mut Map<String, Value>, key: &str, value: Option<Value>) {
    if let Some(value) = value {
        body.insert(key.to_string(), value);
    }
}

fn message(m: &Message) -> Value {
    let mut out = Map::new();
    let role = match m.role {
        Role::System => "system",
        Role::User => "user",
        Role::Assistant => "assistant",
        Role::Tool => "tool",
    };
    out.insert("role".into(), Value::String(role.into()));
    out.insert("content".into(), content(m));
    if let Some(name) = &m.name {
        out.insert("name".into(), Value::String(name.clone()));
    }
    if !m.tool_calls.is_empty() {
        out.insert("tool_calls".into(), Value::Array(crate::seq::map(&m.tool_calls, |_, x| tool_call(x))));
    }
    if let Some(id) = &m.tool_call_id {
        out.insert("tool_call_id".into(), Value::String(id.clone()));
    }
    out.into()
}

/// A string when the content is text only (one part, or several joined
/// for a tool result), `null` for an assistant message that only calls
/// tools, else an array of parts.
fn content(m: &Message) -> Value {
    let images = m.content.iter().any(|p| matches!(p, Part::Image(_)));
    match (m.content.as_slice(), images) {
        ([], _) if m.role == Role::Assistant && !m.tool_calls.is_empty() => Value::Null,
        ([], _) => Value::String(String::new()),
        ([Part::Text(text)], _) => Value::String(text.clone()),
        (_, false) if m.role != Role::User => Value::String(m.joined_text()),
        (parts, _) => Value::Array(
            crate::seq::map(parts, |_, part| match part {
                Part::Text(text) => json::text_part(text),
                Part::Image(image) => image_part(image),
            }),
        ),
    }
}

/// `{"type": "function", "function": function}`: a tool, or the one tool
/// to call. (Cohere's tools have this shape too.)
pub(crate) fn function_tool(function: Value) -> Value {
    object([("type", json::text("function")), ("function", function)])
}

/// An assistant's tool call as OpenAI (and Cohere) write it.
pub(crate) fn tool_call(c: &ToolCall) -> Value {
    let function = object([("name", json::text(&c.name)), ("arguments", json::text(&c.arguments))]);
    object([("id", json::text(&c.id)), ("type", json::text("function")), ("function", function)])
}

/// `{"type": "image_url", "image_url": {"url"[, "detail"]}}` (inline bytes as a `data:` URL).
pub(crate) fn image_part(image: &Image) -> Value {
    let mut url = Map::new();
    url.insert("url".into(), Value::String(image.source.to_url()));
    if let Some(detail) = &image.detail {
        url.insert("detail".into(), Value::String(detail.clone()));
    }
    object([("type", json::text("image_url")), ("image_url", Value::Object(url))])
}
