//! `POST /v1/chat/completions` bodies read into the canonical
//! [`ChatRequest`]. Every top-level field this module does not know goes
//! into [`ChatRequest::extra`] as it came; every mistake is a 400 naming
//! the field and what was expected.

use serde_json::{Map, Value};

use crate::canonical::json;
use crate::canonical::{
    ChatRequest, Image, ImageSource, Message, Part, ResponseFormat, Role, Tool, ToolCall,
    ToolChoice,
};
use crate::error::{Fault, GatewayError};

/// A 400 naming `param`.
pub(super) fn bad(param: &'static str, message: impl Into<String>) -> GatewayError {
    GatewayError::new(Fault::BadRequest, message).with_param(param)
}

/// The JSON type of `v`, for messages.
pub(super) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// `body` as a JSON object; a 400 saying what it is instead.
pub(super) fn object(body: &[u8], what: &str) -> Result<Map<String, Value>, GatewayError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(GatewayError::new(
            Fault::BadRequest,
            format!("Request body is empty; expected a JSON {what}."),
        ));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(GatewayError::new(
            Fault::BadRequest,
            format!(
                "Request body is not a {what}: expected a JSON object, found {}.",
                kind(&other)
            ),
        )),
        Err(e) => Err(GatewayError::new(
            Fault::BadRequest,
            format!("Request body is not valid JSON: {e}."),
        )),
    }
}

/// Typed readers of optional fields: `null` is absent.
pub(super) struct Field<'a> {
    pub name: &'static str,
    pub value: &'a Value,
}

impl Field<'_> {
    fn expected(&self, what: &str) -> GatewayError {
        bad(
            self.name,
            format!("`{}` must be {what}, got {}.", self.name, kind(self.value)),
        )
    }

    pub fn string(&self) -> Result<Option<String>, GatewayError> {
        match self.value {
            Value::Null => Ok(None),
            Value::String(s) => Ok(Some(s.clone())),
            _ => Err(self.expected("a string")),
        }
    }

    pub fn bool(&self) -> Result<Option<bool>, GatewayError> {
        match self.value {
            Value::Null => Ok(None),
            Value::Bool(b) => Ok(Some(*b)),
            _ => Err(self.expected("true or false")),
        }
    }

    pub fn f64(&self) -> Result<Option<f64>, GatewayError> {
        match self.value {
            Value::Null => Ok(None),
            Value::Number(n) => Ok(n.as_f64()),
            _ => Err(self.expected("a number")),
        }
    }

    pub fn u64(&self) -> Result<Option<u64>, GatewayError> {
        match self.value {
            Value::Null => Ok(None),
            Value::Number(n) => n
                .as_u64()
                .map(Some)
                .ok_or_else(|| self.expected("a non-negative integer")),
            _ => Err(self.expected("a non-negative integer")),
        }
    }

    pub fn i64(&self) -> Result<Option<i64>, GatewayError> {
        match self.value {
            Value::Null => Ok(None),
            Value::Number(n) => n
                .as_i64()
                .map(Some)
                .ok_or_else(|| self.expected("an integer")),
            _ => Err(self.expected("an integer")),
        }
    }

    pub fn object(&self) -> Result<Option<&Map<String, Value>>, GatewayError> {
        match self.value {
            Value::Null => Ok(None),
            Value::Object(o) => Ok(Some(o)),
            _ => Err(self.expected("an object")),
        }
    }
}

/// The known top-level fields, each with the `param` errors name.
const KNOWN: &[&str] = &[
    "model",
    "messages",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "response_format",
    "stream",
    "stream_options",
    "max_tokens",
    "max_completion_tokens",
    "temperature",
    "top_p",
    "stop",
    "seed",
    "n",
    "presence_penalty",
    "frequency_penalty",
    "logprobs",
    "top_logprobs",
    "user",
    "metadata",
];

pub fn decode_chat(body: &[u8]) -> Result<ChatRequest, GatewayError> {
    let object = object(body, "chat completion request")?;
    let mut req = ChatRequest::default();
    let (mut max_tokens, mut max_completion_tokens) = (None, None);
    let mut model = None;
    let mut messages = None;
    for (key, value) in object {
        let Some(&name) = KNOWN.iter().find(|k| **k == key) else {
            req.extra.insert(key, value);
            continue;
        };
        let f = Field {
            name,
            value: &value,
        };
        match name {
            "model" => model = f.string()?,
            "messages" => messages = Some(decode_messages(&value)?),
            "tools" => req.tools = decode_tools(&value)?,
            "tool_choice" => req.tool_choice = decode_tool_choice(&value)?,
            "parallel_tool_calls" => req.parallel_tool_calls = f.bool()?,
            "response_format" => req.response_format = decode_response_format(&value)?,
            "stream" => req.stream = f.bool()?.unwrap_or(false),
            "stream_options" => {
                if let Some(options) = f.object()? {
                    if let Some(v) = options.get("include_usage") {
                        let f = Field {
                            name: "stream_options",
                            value: v,
                        };
                        req.include_usage = f
                            .bool()
                            .map_err(|_| {
                                bad(
                                    "stream_options",
                                    "`stream_options.include_usage` must be true or false.",
                                )
                            })?
                            .unwrap_or(false);
                    }
                }
            }
            "max_tokens" => max_tokens = f.u64()?,
            "max_completion_tokens" => max_completion_tokens = f.u64()?,
            "temperature" => req.temperature = f.f64()?,
            "top_p" => req.top_p = f.f64()?,
            "stop" => req.stop = decode_stop(&value)?,
            "seed" => req.seed = f.i64()?,
            "n" => req.n = f.u64()?,
            "presence_penalty" => req.presence_penalty = f.f64()?,
            "frequency_penalty" => req.frequency_penalty = f.f64()?,
            "logprobs" => req.logprobs = f.bool()?,
            "top_logprobs" => req.top_logprobs = f.u64()?,
            "user" => req.user = f.string()?,
            "metadata" => req.metadata = f.object()?.cloned(),
            _ => {}
        }
    }
    req.model = match model {
        Some(m) if !m.trim().is_empty() => m,
        Some(_) => return Err(bad("model", "`model` must not be empty.")),
        None => return Err(bad("model", "`model` is required.")),
    };
    req.messages = messages.ok_or_else(|| bad("messages", "`messages` is required."))?;
    req.max_tokens = max_completion_tokens.or(max_tokens);
    Ok(req)
}

fn decode_messages(value: &Value) -> Result<Vec<Message>, GatewayError> {
    let Value::Array(items) = value else {
        return Err(bad(
            "messages",
            format!(
                "`messages` must be an array of messages, got {}.",
                kind(value)
            ),
        ));
    };
    if items.is_empty() {
        return Err(bad(
            "messages",
            "`messages` must contain at least one message.",
        ));
    }
    crate::seq::try_map(items, decode_message)
}

fn decode_message(i: usize, value: &Value) -> Result<Message, GatewayError> {
    let err = |what: String| bad("messages", format!("`messages[{i}]{what}"));
    let Value::Object(m) = value else {
        return Err(err(format!("` must be an object, got {}.", kind(value))));
    };
    let role = match m.get("role") {
        Some(Value::String(role)) => role.as_str(),
        Some(other) => {
            return Err(err(format!(
                ".role` must be a string, got {}.",
                kind(other)
            )))
        }
        None => return Err(err(".role` is required.".into())),
    };
    let role = match role {
        "system" | "developer" => Role::System,
        "user" => Role::User,
        "assistant" => Role::Assistant,
        "tool" => Role::Tool,
        "function" => {
            return Err(err(".role` `function` (deprecated) is not supported; send tool results with role `tool`.".into()))
        }
        other => {
            return Err(err(format!(
                ".role` must be one of `system`, `developer`, `user`, `assistant`, `tool`; got `{other}`."
            )))
        }
    };
    let content = match m.get("content") {
        None | Some(Value::Null) if role == Role::Assistant => Vec::new(),
        None | Some(Value::Null) => return Err(err(".content` is required.".into())),
        Some(content) => decode_content(i, content)?,
    };
    let name = match m.get("name") {
        None | Some(Value::Null) => None,
        Some(Value::String(name)) => Some(name.clone()),
        Some(other) => {
            return Err(err(format!(
                ".name` must be a string, got {}.",
                kind(other)
            )))
        }
    };
    let mut message = Message {
        role,
        content,
        tool_calls: Vec::new(),
        tool_call_id: None,
        is_error: false,
        name,
    };
    if role == Role::Assistant {
        match m.get("tool_calls") {
            None | Some(Value::Null) => {}
            Some(Value::Array(calls)) => {
                for (j, call) in calls.iter().enumerate() {
                    message.tool_calls.push(decode_tool_call(i, j, call)?);
                }
            }
            Some(other) => {
                return Err(err(format!(
                    ".tool_calls` must be an array, got {}.",
                    kind(other)
                )))
            }
        }
    }
    if role == Role::Tool {
        message.tool_call_id = match m.get("tool_call_id") {
            Some(Value::String(id)) => Some(id.clone()),
            Some(other) if !other.is_null() => {
                return Err(err(format!(
                    ".tool_call_id` must be a string, got {}.",
                    kind(other)
                )))
            }
            _ => {
                return Err(err(
                    ".tool_call_id` is required for a `tool` message.".into()
                ))
            }
        };
    }
    Ok(message)
}

fn decode_content(i: usize, content: &Value) -> Result<Vec<Part>, GatewayError> {
    let err = |what: String| bad("messages", format!("`messages[{i}].content{what}"));
    match content {
        Value::String(text) if text.is_empty() => Ok(Vec::new()),
        Value::String(text) => Ok(vec![Part::Text(text.clone())]),
        Value::Array(parts) => crate::seq::try_map(parts, |j, part| {
            let err = |what: String| err(format!("[{j}]{what}"));
            let Value::Object(part) = part else {
                return Err(err(format!("` must be an object, got {}.", kind(part))));
            };
            let text = |key: &str| match part.get(key) {
                Some(Value::String(t)) => Ok(Part::Text(t.clone())),
                _ => Err(err(format!(".{key}` must be a string."))),
            };
            match part.get("type").and_then(Value::as_str) {
                Some("text") => text("text"),
                Some("refusal") => text("refusal"),
                Some("image_url") => {
                    let (url, detail) = match part.get("image_url") {
                        Some(Value::String(url)) => (url.as_str(), None),
                        Some(Value::Object(image)) => match image.get("url") {
                            Some(Value::String(url)) => (
                                url.as_str(),
                                image
                                    .get("detail")
                                    .and_then(Value::as_str)
                                    .map(str::to_string),
                            ),
                            _ => return Err(err(".image_url.url` must be a string.".into())),
                        },
                        _ => {
                            return Err(err(
                                ".image_url` must be an object with a `url`.".into()
                            ))
                        }
                    };
                    Ok(Part::Image(Image {
                        source: ImageSource::from_url(url),
                        detail,
                    }))
                }
                Some(other) => Err(err(format!(
                    ".type` `{other}` is not supported; expected `text` or `image_url`."
                ))),
                None => Err(err(".type` is required (`text` or `image_url`).".into())),
            }
        }),
        other => Err(err(format!(
            "` must be a string or an array of parts, got {}.",
            kind(other)
        ))),
    }
}

fn decode_tool_call(i: usize, j: usize, call: &Value) -> Result<ToolCall, GatewayError> {
    let err = |what: &str| bad("messages", format!("`messages[{i}].tool_calls[{j}]{what}"));
    let function = call
        .get("function")
        .ok_or_else(|| err(".function` is required."))?;
    let id = match call.get("id") {
        Some(Value::String(id)) => id.clone(),
        _ => return Err(err(".id` must be a string.")),
    };
    let name = match function.get("name") {
        Some(Value::String(name)) => name.clone(),
        _ => return Err(err(".function.name` must be a string.")),
    };
    let arguments = match function.get("arguments") {
        Some(Value::String(arguments)) => arguments.clone(),
        None | Some(Value::Null) => String::new(),
        Some(_) => return Err(err(".function.arguments` must be a string (JSON text).")),
    };
    Ok(ToolCall {
        id,
        name,
        arguments,
    })
}

fn decode_tools(value: &Value) -> Result<Vec<Tool>, GatewayError> {
    let items = match value {
        Value::Null => return Ok(Vec::new()),
        Value::Array(items) => items,
        other => {
            return Err(bad(
                "tools",
                format!("`tools` must be an array, got {}.", kind(other)),
            ))
        }
    };
    crate::seq::try_map(items, |i, tool| {
        let err = |what: &str| bad("tools", format!("`tools[{i}]{what}"));
        match tool.get("type").and_then(Value::as_str) {
            Some("function") => {}
            Some(other) => {
                return Err(err(&format!(
                    ".type` `{other}` is not supported; expected `function`."
                )))
            }
            None => return Err(err(".type` must be `function`.")),
        }
        let Some(Value::Object(function)) = tool.get("function") else {
            return Err(err(".function` must be an object."));
        };
        let name = match function.get("name") {
            Some(Value::String(name)) if !name.is_empty() => name.clone(),
            _ => return Err(err(".function.name` must be a non-empty string.")),
        };
        let description = match function.get("description") {
            None | Some(Value::Null) => None,
            Some(Value::String(d)) => Some(d.clone()),
            Some(_) => return Err(err(".function.description` must be a string.")),
        };
        let parameters = match function.get("parameters") {
            None | Some(Value::Null) => json::object([("type", json::text("object")), ("properties", Value::Object(Map::new()))]),
            Some(p @ Value::Object(_)) => p.clone(),
            Some(_) => return Err(err(".function.parameters` must be a JSON Schema object.")),
        };
        let strict = match function.get("strict") {
            None | Some(Value::Null) => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(_) => return Err(err(".function.strict` must be true or false.")),
        };
        Ok(Tool {
            name,
            description,
            parameters,
            strict,
        })
    })
}

fn decode_tool_choice(value: &Value) -> Result<Option<ToolChoice>, GatewayError> {
    let expected = "`tool_choice` must be `auto`, `none`, `required` or {\"type\":\"function\",\"function\":{\"name\":…}}.";
    match value {
        Value::Null => Ok(None),
        Value::String(s) => match s.as_str() {
            "auto" => Ok(Some(ToolChoice::Auto)),
            "none" => Ok(Some(ToolChoice::None)),
            "required" => Ok(Some(ToolChoice::Required)),
            _ => Err(bad("tool_choice", expected)),
        },
        Value::Object(o) if o.get("type").and_then(Value::as_str) == Some("function") => {
            match o
                .get("function")
                .and_then(|f| f.get("name"))
                .and_then(Value::as_str)
            {
                Some(name) => Ok(Some(ToolChoice::Tool(name.to_string()))),
                None => Err(bad("tool_choice", expected)),
            }
        }
        _ => Err(bad("tool_choice", expected)),
    }
}

fn decode_response_format(value: &Value) -> Result<Option<ResponseFormat>, GatewayError> {
    let expected = "`response_format.type` must be `text`, `json_object` or `json_schema`.";
    let Value::Object(o) = value else {
        return match value {
            Value::Null => Ok(None),
            other => Err(bad(
                "response_format",
                format!("`response_format` must be an object, got {}.", kind(other)),
            )),
        };
    };
    match o.get("type").and_then(Value::as_str) {
        Some("text") => Ok(Some(ResponseFormat::Text)),
        Some("json_object") => Ok(Some(ResponseFormat::JsonObject)),
        Some("json_schema") => {
            let Some(Value::Object(schema)) = o.get("json_schema") else {
                return Err(bad(
                    "response_format",
                    "`response_format.json_schema` must be an object.",
                ));
            };
            let name = match schema.get("name") {
                Some(Value::String(name)) => name.clone(),
                _ => {
                    return Err(bad(
                        "response_format",
                        "`response_format.json_schema.name` must be a string.",
                    ))
                }
            };
            let strict = match schema.get("strict") {
                None | Some(Value::Null) => None,
                Some(Value::Bool(b)) => Some(*b),
                Some(_) => {
                    return Err(bad(
                        "response_format",
                        "`response_format.json_schema.strict` must be true or false.",
                    ))
                }
            };
            Ok(Some(ResponseFormat::JsonSchema {
                name,
                schema: schema
                    .get("schema")
                    .cloned()
                    .unwrap_or_else(|| Value::Object(Map::new())),
                strict,
            }))
        }
        _ => Err(bad("response_format", expected)),
    }
}

fn decode_stop(value: &Value) -> Result<Vec<String>, GatewayError> {
    let expected = || bad("stop", "`stop` must be a string or an array of strings.");
    match value {
        Value::Null => Ok(Vec::new()),
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) => crate::seq::try_map(items, |_, s| s.as_str().map(str::to_string).ok_or_else(expected)),
        _ => Err(expected()),
    }
}
