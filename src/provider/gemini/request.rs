//! Canonical requests as Gemini `generateContent` / `batchEmbedContents`
//! bodies.
//!
//! Mapping notes:
//! - System messages become `systemInstruction` (one text part each).
//! - Roles are `user` and `model`; tool results are `functionResponse`
//!   parts in a `user` turn. Consecutive turns of the same role are merged
//!   (Gemini wants the results of parallel calls in one turn).
//! - A tool result names its function: the name is looked up from the
//!   earlier assistant tool call with the same id (else the message's
//!   `name`). Its `response` is the result parsed as a JSON object, or
//!   `{"content": <text or JSON value>}` (`{"error": …}` when the tool
//!   reported an error).
//! - Images: base64 → `inlineData {mimeType, data}`; a URL → `fileData
//!   {fileUri, mimeType}` with the MIME type guessed from the URL's
//!   extension (png, jpeg/jpg, gif, webp, heic, heif, bmp, svg, pdf;
//!   `image/jpeg` when there is none or it is unknown). Field names are
//!   the camelCase JSON form (Gemini also takes snake_case).
//! - Assistant tool calls become `functionCall {name, args}` parts (args
//!   parsed from the JSON text; empty text is `{}`). For `gemini-3*`
//!   models, replayed calls carry Google's documented placeholder
//!   `thoughtSignature` (`skip_thought_signature_validator`), since the
//!   canonical history cannot keep the real signatures and Gemini 3
//!   rejects calls without one.
//! - `tool_choice`: auto → `AUTO`, none → `NONE`, required → `ANY`, one
//!   tool → `ANY` + `allowedFunctionNames`.
//! - `generationConfig`: temperature, topP, topK, maxOutputTokens,
//!   stopSequences, candidateCount (`n`), seed, presence/frequency
//!   penalties, responseLogprobs/logprobs, and `response_format` as
//!   `responseMimeType: application/json` (+ `responseSchema`).
//! - Not sent (Gemini has no place for them): `user`, `metadata`,
//!   `parallel_tool_calls`, OpenAI-only `extra` fields.

use serde_json::{Map, Value};

use super::super::{HttpRequest, Target};
use super::schema;
use crate::canonical::json::{self, object};
use crate::canonical::{
    ChatRequest, EmbeddingsRequest, ImageSource, Message, Part, ResponseFormat, Role, ToolChoice,
};
use crate::error::{Fault, GatewayError};

/// The model path segment: `gemini-2.0-flash` (a leading `models/` is dropped).
fn model_id(model: &str) -> &str {
    model.strip_prefix("models/").unwrap_or(model)
}

fn headers(t: &Target) -> Vec<(String, String)> {
    let mut headers = vec![("content-type".to_string(), "application/json".to_string())];
    if let Some(key) = t.key {
        headers.push(("x-goog-api-key".to_string(), key.to_string()));
    }
    headers
}

fn bad_request(message: String) -> GatewayError {
    GatewayError::new(Fault::BadRequest, message)
}

/// `POST {base}/models/{model}:generateContent`, or
/// `:streamGenerateContent?alt=sse` when `req.stream`.
pub fn chat_request(req: &ChatRequest, t: &Target) -> Result<HttpRequest, GatewayError> {
    let body = chat_body(req, t.model)?;
    let method = if req.stream {
        "streamGenerateContent?alt=sse"
    } else {
        "generateContent"
    };
    Ok(HttpRequest {
        url: format!("{}/models/{}:{method}", t.base, model_id(t.model)),
        headers: headers(t),
        body: serde_json::to_vec(&body).unwrap_or_default(),
    })
}

/// The `GenerateContentRequest` JSON.
pub(super) fn chat_body(req: &ChatRequest, model: &str) -> Result<Value, GatewayError> {
    let mut body = Map::new();
    let signed_calls = model_id(model).starts_with("gemini-3");

    let mut system_parts = Vec::new();
    let mut contents: Vec<(&'static str, Vec<Value>)> = Vec::new();
    for (i, message) in req.messages.iter().enumerate() {
        let (role, parts) = match message.role {
            Role::System => {
                let text = message.joined_text();
                if !text.is_empty() {
                    system_parts.push(text_part(&text));
                }
                continue;
            }
            Role::User => ("user", content_parts(message)),
            Role::Assistant => {
                let mut parts = content_parts(message);
                for call in &message.tool_calls {
                    let mut part = Map::new();
                    part.insert(
                        "functionCall".into(),
                        object([
                            ("name", json::text(&call.name)),
                            ("args", call_args(&call.name, &call.arguments)?),
                        ]),
                    );
                    if signed_calls {
                        part.insert(
                            "thoughtSignature".into(),
                            Value::String("skip_thought_signature_validator".into()),
                        );
                    }
                    parts.push(Value::Object(part));
                }
                ("model", parts)
            }
            Role::Tool => ("user", vec![function_response(req, i, message)?]),
        };
        if parts.is_empty() {
            continue;
        }
        match contents.last_mut() {
            Some((last_role, last_parts)) if *last_role == role => last_parts.extend(parts),
            _ => contents.push((role, parts)),
        }
    }
    let contents = crate::seq::keep(contents, |(role, parts)| Some(object([("role", json::text(role)), ("parts", Value::Array(parts))])));
    body.insert("contents".into(), Value::Array(contents));
    if !system_parts.is_empty() {
        body.insert("systemInstruction".into(), object([("parts", Value::Array(system_parts))]));
    }

    if !req.tools.is_empty() {
        let declarations: Vec<Value> = crate::seq::map(&req.tools, |_, tool| {
            let mut decl = Map::new();
            decl.insert("name".into(), Value::String(tool.name.clone()));
            if let Some(description) = &tool.description {
                decl.insert("description".into(), Value::String(description.clone()));
            }
            let parameters = schema::clean(&tool.parameters);
            if !schema::is_empty_object(&parameters) {
                decl.insert("parameters".into(), parameters);
            }
            Value::Object(decl)
        });
        body.insert("tools".into(), Value::Array(vec![object([("functionDeclarations", Value::Array(declarations))])]));
    }
    if let Some(choice) = &req.tool_choice {
        let config = match choice {
            ToolChoice::Auto => object([("mode", json::text("AUTO"))]),
            ToolChoice::None => object([("mode", json::text("NONE"))]),
            ToolChoice::Required => object([("mode", json::text("ANY"))]),
            ToolChoice::Tool(name) => object([
                ("mode", json::text("ANY")),
                ("allowedFunctionNames", Value::Array(vec![json::text(name)])),
            ]),
        };
        body.insert("toolConfig".into(), object([("functionCallingConfig", config)]));
    }

    let config = generation_config(req);
    if !config.is_empty() {
        body.insert("generationConfig".into(), Value::Object(config));
    }
    Ok(Value::Object(body))
}

fn generation_config(req: &ChatRequest) -> Map<String, Value> {
    let mut config = Map::new();
    let mut put = |key: &str, value: Option<Value>| {
        if let Some(value) = value {
            config.insert(key.into(), value);
        }
    };
    put("temperature", req.temperature.map(Value::from));
    put("topP", req.top_p.map(Value::from));
    put("topK", req.top_k.map(Value::from));
    put("maxOutputTokens", req.max_tokens.map(Value::from));
    put("candidateCount", req.n.map(Value::from));
    put("seed", req.seed.map(Value::from));
    put("presencePenalty", req.presence_penalty.map(Value::from));
    put("frequencyPenalty", req.frequency_penalty.map(Value::from));
    put("responseLogprobs", req.logprobs.map(Value::from));
    put("logprobs", req.top_logprobs.map(Value::from));
    if !req.stop.is_empty() {
        put("stopSequences", Some(Value::Array(crate::seq::map(&req.stop, |_, s| json::text(s)))));
    }
    match &req.response_format {
        Some(ResponseFormat::JsonObject) => {
            put("responseMimeType", Some(json::text("application/json")));
        }
        Some(ResponseFormat::JsonSchema { schema: s, .. }) => {
            put("responseMimeType", Some(json::text("application/json")));
            put("responseSchema", Some(schema::clean(s)));
        }
        Some(ResponseFormat::Text) | None => {}
    }
    config
}

/// Text and image parts of a message (empty text parts left out: Gemini
/// rejects them).
fn content_parts(message: &Message) -> Vec<Value> {
    crate::seq::keep(&message.content, |part| match part {
        Part::Text(text) if text.is_empty() => None,
        Part::Text(text) => Some(text_part(text)),
        Part::Image(image) => Some(match &image.source {
            ImageSource::Base64 { media_type, data } => {
                let data = object([("mimeType", json::text(media_type)), ("data", json::text(data))]);
                object([("inlineData", data)])
            }
            ImageSource::Url(url) => {
                let data = object([("fileUri", json::text(url)), ("mimeType", json::text(guess_mime_type(url)))]);
                object([("fileData", data)])
            }
        }),
    })
}

/// `{"text": text}`.
fn text_part(text: &str) -> Value {
    object([("text", json::text(text))])
}

/// The MIME type of an image URL from its extension; `image/jpeg` if none.
pub(super) fn guess_mime_type(url: &str) -> &'static str {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let file = path.rsplit('/').next().unwrap_or(path);
    let ext = file.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    match ext.as_deref() {
        Some("png") => "image/png",
        Some("gif") => "image/gif",
        Some("webp") => "image/webp",
        Some("heic") => "image/heic",
        Some("heif") => "image/heif",
        Some("bmp") => "image/bmp",
        Some("svg") => "image/svg+xml",
        Some("pdf") => "application/pdf",
        _ => "image/jpeg",
    }
}

/// A tool call's arguments as the JSON object Gemini's `args` must be.
fn call_args(name: &str, arguments: &str) -> Result<Value, GatewayError> {
    if arguments.trim().is_empty() {
        return Ok(Value::Object(Map::new()));
    }
    match serde_json::from_slice::<Value>(arguments.as_bytes()) {
        Ok(Value::Object(args)) => Ok(Value::Object(args)),
        _ => Err(bad_request(format!(
            "The arguments of the tool call to `{name}` are not a JSON object; Gemini needs one."
        ))),
    }
}

/// A tool result as a `functionResponse` part.
fn function_response(req: &ChatRequest, at: usize, message: &Message) -> Result<Value, GatewayError> {
    let id = message.tool_call_id.as_deref().unwrap_or("");
    let name = req.messages[..at]
        .iter()
        .rev()
        .flat_map(|m| m.tool_calls.iter())
        .find(|call| call.id == id)
        .map(|call| call.name.clone())
        .or_else(|| message.name.clone())
        .ok_or_else(|| {
            bad_request(format!(
                "The tool result for call `{id}` matches no earlier assistant tool call; Gemini needs the function's name."
            ))
        })?;
    let text = message.joined_text();
    let key = if message.is_error { "error" } else { "content" };
    let response = match serde_json::from_slice::<Value>(text.as_bytes()) {
        Ok(Value::Object(object)) if !message.is_error => Value::Object(object),
        Ok(value) if !text.trim().is_empty() => object([(key, value)]),
        _ => object([(key, Value::String(text))]),
    };
    let call = object([("name", Value::String(name)), ("response", response)]);
    Ok(object([("functionResponse", call)]))
}

/// `POST {base}/models/{model}:batchEmbedContents`, one request per input.
pub fn embeddings_request(req: &EmbeddingsRequest, t: &Target) -> Result<HttpRequest, GatewayError> {
    let model = model_id(t.model);
    let requests: Vec<Value> = crate::seq::map(&req.inputs, |_, input| {
        let mut one = Map::new();
        one.insert("model".into(), Value::String(format!("models/{model}")));
        one.insert("content".into(), object([("parts", Value::Array(vec![text_part(input)]))]));
        if let Some(dimensions) = req.dimensions {
            one.insert("outputDimensionality".into(), Value::from(dimensions));
        }
        Value::Object(one)
    });
    let body = object([("requests", Value::Array(requests))]);
    Ok(HttpRequest {
        url: format!("{}/models/{model}:batchEmbedContents", t.base),
        headers: headers(t),
        body: serde_json::to_vec(&body).unwrap_or_default(),
    })
}
