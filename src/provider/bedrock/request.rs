//! A canonical chat request as a Bedrock `Converse` / `ConverseStream`
//! call: the URL, the JSON body and the auth headers (SigV4 or a Bedrock
//! API key).
//!
//! Body mapping (Converse API reference):
//! - system messages (wherever they are) → `system: [{text}]`; a
//!   `response_format` asking for JSON adds one more system block telling
//!   the model to answer with JSON only (Converse has no JSON mode);
//! - user / assistant messages → `messages: [{role, content: [...]}]` with
//!   `{text}`, `{image: {format, source: {bytes}}}` (inline images only:
//!   Converse takes no image URLs, so a URL is a 400) and the assistant's
//!   `{toolUse: {toolUseId, name, input}}`; tool results become
//!   `{toolResult: {toolUseId, content, status?}}` blocks of a user turn.
//!   Consecutive turns of one role are merged (Converse wants them to
//!   alternate); empty text is left out (Converse rejects blank text);
//! - `inferenceConfig {maxTokens, temperature, topP, stopSequences}`;
//!   `top_k` → `additionalModelRequestFields.top_k` (the name Anthropic,
//!   Mistral and Cohere models on Bedrock read);
//! - tools → `toolConfig {tools: [{toolSpec}], toolChoice}` with `auto`,
//!   `any` (required) or `tool {name}`. Converse has no "none": with
//!   `tool_choice: none` the tools are left out, unless the conversation
//!   already holds tool calls or results (Converse then requires a
//!   `toolConfig`), in which case they are sent without a `toolChoice`;
//! - `n` above 1 is a 400 (Converse answers one choice). `seed`,
//!   penalties, logprobs, `user` and `metadata` have no Converse field and
//!   are dropped.

use serde_json::{Map, Value};

use super::sigv4;
use crate::canonical::json::{self, object};
use crate::canonical::{ChatRequest, ImageSource, Message, Part, ResponseFormat, Role, ToolChoice};
use crate::error::{Fault, GatewayError};
use crate::provider::{HttpRequest, Target};

/// The signing name of Bedrock Runtime.
const SERVICE: &str = "bedrock";

/// Bedrock Runtime's endpoint in `region`.
pub fn default_base(region: &str) -> String {
    format!("https://bedrock-runtime.{region}.amazonaws.com")
}

fn bad_request(message: impl Into<String>) -> GatewayError {
    GatewayError::new(Fault::BadRequest, message)
}

fn misconfigured(message: impl Into<String>) -> GatewayError {
    GatewayError::new(Fault::Misconfigured, message)
}

/// The Converse image `format` of a media type.
fn image_format(media_type: &str) -> Option<&'static str> {
    match media_type.trim().to_ascii_lowercase().as_str() {
        "image/png" => Some("png"),
        "image/jpeg" | "image/jpg" => Some("jpeg"),
        "image/gif" => Some("gif"),
        "image/webp" => Some("webp"),
        _ => None,
    }
}

/// Content blocks for a message's parts (text and images).
fn part_blocks(parts: &[Part], out: &mut Vec<Value>) -> Result<(), GatewayError> {
    for part in parts {
        match part {
            Part::Text(text) if text.is_empty() => {}
            Part::Text(text) => out.push(text_block(text)),
            Part::Image(image) => match &image.source {
                ImageSource::Url(_) => {
                    return Err(bad_request(
                        "Bedrock Converse does not take image URLs: send the image inline \
                         (a `data:image/...;base64,` URL or a base64 image part).",
                    )
                    .with_param("messages"))
                }
                ImageSource::Base64 { media_type, data } => {
                    let format = image_format(media_type).ok_or_else(|| {
                        bad_request(format!(
                            "Bedrock Converse takes PNG, JPEG, GIF and WebP images, not `{media_type}`."
                        ))
                        .with_param("messages")
                    })?;
                    let source = object([("bytes", json::text(data))]);
                    let image = object([("format", json::text(format)), ("source", source)]);
                    out.push(object([("image", image)]));
                }
            },
        }
    }
    Ok(())
}

/// `{"text": text}`.
fn text_block(text: &str) -> Value {
    object([("text", json::text(text))])
}

/// The turns of the conversation, merged by role.
struct Turns(Vec<(&'static str, Vec<Value>)>);

impl Turns {
    fn push(&mut self, role: &'static str, blocks: Vec<Value>) {
        if blocks.is_empty() {
            return;
        }
        match self.0.last_mut() {
            Some((last, content)) if *last == role => content.extend(blocks),
            _ => self.0.push((role, blocks)),
        }
    }
}

fn tool_use(call: &crate::canonical::ToolCall) -> Result<Value, GatewayError> {
    let input: Value = if call.arguments.trim().is_empty() {
        Value::Object(Map::new())
    } else {
        serde_json::from_slice(call.arguments.as_bytes()).map_err(|_| {
            bad_request(format!(
                "The arguments of tool call `{}` are not JSON; Bedrock needs them as a JSON object.",
                call.id
            ))
            .with_param("messages")
        })?
    };
    let tool_use = object([
        ("toolUseId", json::text(&call.id)),
        ("name", json::text(&call.name)),
        ("input", input),
    ]);
    Ok(object([("toolUse", tool_use)]))
}

fn tool_result(message: &Message) -> Result<Value, GatewayError> {
    let id = message.tool_call_id.as_deref().ok_or_else(|| {
        bad_request("A tool message needs the `tool_call_id` of the call it answers.")
            .with_param("messages")
    })?;
    let mut content = Vec::new();
    part_blocks(&message.content, &mut content)?;
    if content.is_empty() {
        content.push(text_block(""));
    }
    let mut result = Map::new();
    result.insert("toolUseId".into(), json::text(id));
    result.insert("content".into(), Value::Array(content));
    if message.is_error {
        result.insert("status".into(), json::text("error"));
    }
    Ok(object([("toolResult", Value::Object(result))]))
}

fn json_instruction(format: &ResponseFormat) -> Option<String> {
    match format {
        ResponseFormat::Text => None,
        ResponseFormat::JsonObject => {
            Some("Respond with a single JSON object and nothing else.".to_string())
        }
        ResponseFormat::JsonSchema { name, schema, .. } => {
            let schema = crate::json_out::value_text(schema);
            Some(format!(
                "Respond with a single JSON object and nothing else. It must conform to the JSON Schema named `{name}`: {schema}"
            ))
        }
    }
}

/// The Converse request body.
pub fn body(req: &ChatRequest) -> Result<Value, GatewayError> {
    if req.n.is_some_and(|n| n > 1) {
        return Err(
            bad_request("Bedrock Converse answers one choice: `n` must be 1.").with_param("n"),
        );
    }
    let mut system = Vec::new();
    let mut turns = Turns(Vec::new());
    let mut tool_history = false;
    for message in &req.messages {
        match message.role {
            Role::System => {
                for part in &message.content {
                    match part {
                        Part::Text(text) if text.is_empty() => {}
                        Part::Text(text) => system.push(text_block(text)),
                        Part::Image(_) => {
                            return Err(bad_request(
                                "Bedrock Converse takes no images in system messages.",
                            )
                            .with_param("messages"))
                        }
                    }
                }
            }
            Role::User => {
                let mut blocks = Vec::new();
                part_blocks(&message.content, &mut blocks)?;
                turns.push("user", blocks);
            }
            Role::Assistant => {
                let mut blocks = Vec::new();
                part_blocks(&message.content, &mut blocks)?;
                for call in &message.tool_calls {
                    tool_history = true;
                    blocks.push(tool_use(call)?);
                }
                turns.push("assistant", blocks);
            }
            Role::Tool => {
                tool_history = true;
                turns.push("user", vec![tool_result(message)?]);
            }
        }
    }
    if let Some(text) = req.response_format.as_ref().and_then(json_instruction) {
        system.push(text_block(&text));
    }

    let mut body = Map::new();
    let messages = crate::seq::keep(turns.0, |(role, content)| Some(object([("role", json::text(role)), ("content", Value::Array(content))])));
    body.insert("messages".into(), Value::Array(messages));
    if !system.is_empty() {
        body.insert("system".into(), Value::Array(system));
    }

    let mut inference = Map::new();
    if let Some(max) = req.max_tokens {
        inference.insert("maxTokens".into(), Value::from(max));
    }
    if let Some(t) = req.temperature {
        inference.insert("temperature".into(), Value::from(t));
    }
    if let Some(p) = req.top_p {
        inference.insert("topP".into(), Value::from(p));
    }
    if !req.stop.is_empty() {
        inference.insert("stopSequences".into(), Value::Array(crate::seq::map(&req.stop, |_, s| json::text(s))));
    }
    if !inference.is_empty() {
        body.insert("inferenceConfig".into(), Value::Object(inference));
    }
    if let Some(k) = req.top_k {
        body.insert("additionalModelRequestFields".into(), object([("top_k", Value::from(k))]));
    }

    // No tool_choice leaves Bedrock's default (auto) implicit.
    let choice = match &req.tool_choice {
        Some(ToolChoice::Auto) => Some(object([("auto", Value::Object(Map::new()))])),
        Some(ToolChoice::Required) => Some(object([("any", Value::Object(Map::new()))])),
        Some(ToolChoice::Tool(name)) => Some(object([("tool", object([("name", json::text(name))]))])),
        None | Some(ToolChoice::None) => None,
    };
    let send_tools =
        !req.tools.is_empty() && (req.tool_choice != Some(ToolChoice::None) || tool_history);
    if send_tools {
        let tools: Vec<Value> = crate::seq::map(&req.tools, |_, tool| {
            let schema = match &tool.parameters {
                Value::Object(_) => tool.parameters.clone(),
                _ => object([("type", json::text("object")), ("properties", Value::Object(Map::new()))]),
            };
            let mut spec = Map::new();
            spec.insert("name".into(), json::text(&tool.name));
            spec.insert("inputSchema".into(), object([("json", schema)]));
            if let Some(description) = tool.description.as_deref().filter(|d| !d.is_empty()) {
                spec.insert("description".into(), json::text(description));
            }
            object([("toolSpec", Value::Object(spec))])
        });
        let mut config = Map::new();
        config.insert("tools".into(), Value::Array(tools));
        if let Some(choice) = choice {
            config.insert("toolChoice".into(), choice);
        }
        body.insert("toolConfig".into(), Value::Object(config));
    }
    Ok(Value::Object(body))
}

/// `scheme://authority` and the path (no trailing `/`) of a base URL.
fn split_base(base: &str) -> Option<(&str, &str, &str)> {
    let base = base.trim().trim_end_matches('/');
    let (scheme, rest) = base.split_once("://")?;
    if !(scheme.eq_ignore_ascii_case("https") || scheme.eq_ignore_ascii_case("http")) {
        return None;
    }
    let (authority, path) = match rest.find(['/', '?', '#']) {
        Some(at) if rest.as_bytes()[at] == b'/' => (&rest[..at], &rest[at..]),
        Some(_) => return None,
        None => (rest, ""),
    };
    if authority.is_empty() || authority.contains('@') || path.contains(['?', '#']) {
        return None;
    }
    Some((scheme, authority, path))
}

/// The region of a `bedrock-runtime[-fips].<region>.amazonaws.com` host.
fn region_of_host(host: &str) -> Option<&str> {
    let host = host.split(':').next()?;
    let rest = host
        .strip_prefix("bedrock-runtime.")
        .or_else(|| host.strip_prefix("bedrock-runtime-fips."))?;
    let (region, tail) = rest.split_once('.')?;
    (tail.starts_with("amazonaws.") && !region.is_empty()).then_some(region)
}

/// The HTTP request for a chat call.
pub fn chat_request(req: &ChatRequest, t: &Target) -> Result<HttpRequest, GatewayError> {
    let body = serde_json::to_vec(&body(req)?)
        .map_err(|e| GatewayError::new(Fault::Internal, format!("Bedrock request body: {e}")))?;
    let target_region = t.region.map(str::trim).filter(|r| !r.is_empty());
    let default;
    let base = match (t.base.trim(), target_region) {
        ("", Some(region)) => {
            default = default_base(region);
            default.as_str()
        }
        _ => t.base,
    };
    let (scheme, host, base_path) = split_base(base).ok_or_else(|| {
        misconfigured(format!(
            "The gateway is misconfigured: the Bedrock base URL `{}` is not an http(s) URL.",
            t.base
        ))
    })?;
    if t.model.is_empty() {
        return Err(misconfigured(
            "The gateway is misconfigured: the Bedrock model id is empty.",
        ));
    }
    let operation = if req.stream {
        "converse-stream"
    } else {
        "converse"
    };
    let path = format!(
        "{base_path}/model/{}/{operation}",
        sigv4::uri_encode(t.model, true)
    );
    let accept = if req.stream {
        "application/vnd.amazon.eventstream"
    } else {
        "application/json"
    };
    let mut headers = vec![
        ("content-type".to_string(), "application/json".to_string()),
        ("accept".to_string(), accept.to_string()),
    ];
    let key = t.key.map(str::trim).filter(|k| !k.is_empty());
    if let Some(creds) = key.and_then(sigv4::Credentials::parse) {
        let region = target_region
            .or_else(|| region_of_host(host))
            .ok_or_else(|| {
                misconfigured("The gateway is misconfigured: the Bedrock provider has no `region`.")
            })?;
        let amz_date = sigv4::amz_date(t.now_ms);
        let payload = sigv4::sha256_hex(&body);
        let host_lower = host.to_ascii_lowercase();
        let mut signed = vec![
            ("host", host_lower.as_str()),
            ("x-amz-content-sha256", payload.as_str()),
            ("x-amz-date", amz_date.as_str()),
        ];
        if let Some(token) = creds.session_token {
            signed.push(("x-amz-security-token", token));
        }
        let canonical_uri = sigv4::canonical_uri(&path);
        let signing = sigv4::Request {
            method: "POST",
            canonical_uri: &canonical_uri,
            canonical_query: "",
            headers: &signed,
            payload_sha256: &payload,
        };
        let authorization = sigv4::authorization(
            creds.access_key_id,
            creds.secret_access_key,
            &signing,
            &amz_date,
            region,
            SERVICE,
        );
        // `host` is signed but not sent: the runtime sets it from the URL.
        for (name, value) in &signed[1..] {
            headers.push((name.to_string(), value.to_string()));
        }
        headers.push(("authorization".to_string(), authorization));
    } else if let Some(key) = key {
        headers.push(("authorization".to_string(), format!("Bearer {key}")));
    }
    Ok(HttpRequest {
        url: format!("{scheme}://{host}{path}"),
        headers,
        body,
    })
}
