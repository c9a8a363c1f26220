//! The Google Gemini wire format: `POST …/models/{model}:generateContent`,
//! `:streamGenerateContent` (always SSE, as with `?alt=sse`) and
//! `:batchEmbedContents`, with Google error bodies.
//!
//! Pure like `openai.rs`: request bytes in, response bytes out; timing and
//! faults are the caller's. A stream is a list of `data:` events whose last
//! one carries the `finishReason` (Gemini's only end marker), so a cut,
//! which drops at least the last event, never looks complete.
//!
//! Content rules are those of the OpenAI mock: `Mock reply to: <text of the
//! last user turn>` (` [images: N]` appended when that turn has N image
//! parts), word-count usage, one tool call to the first declared function
//! when the last user text has the word `tool`.

use bytes::Bytes;
use hyper::Method;
use serde_json::{json, Value};

use crate::openai::{reply_content, split_even, Reply};

/// A Gemini endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    /// `models/{model}:generateContent` (or `:streamGenerateContent`).
    Generate { model: String, stream: bool },
    /// `models/{model}:batchEmbedContents`.
    Embed { model: String },
}

/// Routes `rest`, the path after the API root; `None` if it is not a
/// Gemini path, `Some(Err(allow))` for a wrong method.
pub fn route(method: &Method, rest: &str) -> Option<Result<Route, &'static str>> {
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let (model, action) = rest.strip_prefix("models/")?.rsplit_once(':')?;
    if model.is_empty() || model.contains('/') {
        return None;
    }
    let model = model.to_owned();
    let route = match action {
        "generateContent" => Route::Generate {
            model,
            stream: false,
        },
        "streamGenerateContent" => Route::Generate {
            model,
            stream: true,
        },
        "batchEmbedContents" => Route::Embed { model },
        _ => return None,
    };
    Some(if *method == Method::POST {
        Ok(route)
    } else {
        Err("POST")
    })
}

/// A Google error body: `{"error":{"code","message","status"}}`.
pub fn error_body(code: u16, message: &str, status: &str) -> Bytes {
    let body = json!({ "error": { "code": code, "message": message, "status": status } });
    body.to_string().into()
}

/// The error body answering a simulated failure with `status` (4xx or 5xx).
pub fn status_error(status: u16) -> Bytes {
    let (message, google) = match status {
        400 => ("Request contains an invalid argument (simulated by mock-provider).", "INVALID_ARGUMENT"),
        401 => (
            "Request had invalid authentication credentials (simulated by mock-provider).",
            "UNAUTHENTICATED",
        ),
        403 => ("The caller does not have permission (simulated by mock-provider).", "PERMISSION_DENIED"),
        404 => ("The model is not found for API version v1beta (simulated by mock-provider).", "NOT_FOUND"),
        429 => (
            "You exceeded your current quota, please check your plan and billing details (simulated by mock-provider).",
            "RESOURCE_EXHAUSTED",
        ),
        503 => ("The model is overloaded. Please try again later (simulated by mock-provider).", "UNAVAILABLE"),
        504 => ("The request timed out (simulated by mock-provider).", "DEADLINE_EXCEEDED"),
        500..=599 => ("An internal error has occurred (simulated by mock-provider).", "INTERNAL"),
        _ => ("The request was rejected (simulated by mock-provider).", "FAILED_PRECONDITION"),
    };
    error_body(status, message, google)
}

fn invalid_argument(message: &str) -> Bytes {
    error_body(400, message, "INVALID_ARGUMENT")
}

/// An SSE event whose data is not valid JSON (a chunk cut in the middle).
pub fn malformed_event() -> Bytes {
    Bytes::from_static(b"data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"\r\n\r\n")
}

fn words(text: &str) -> u64 {
    text.split_whitespace().count() as u64
}

/// Whether `text` has the word `tool` (any case).
pub fn mentions_tool(text: &str) -> bool {
    text.split(|c: char| !c.is_alphanumeric())
        .any(|w| w.eq_ignore_ascii_case("tool"))
}

/// The parts of a content, or none.
fn parts(content: &Value) -> &[Value] {
    content
        .get("parts")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn is_image(part: &Value) -> bool {
    ["inlineData", "inline_data", "fileData", "file_data"]
        .iter()
        .any(|k| part.get(k).is_some())
}

/// The text of parts, joined by spaces.
fn text_of(parts: &[Value]) -> String {
    let texts: Vec<&str> = parts
        .iter()
        .filter_map(|p| p.get("text").and_then(Value::as_str))
        .collect();
    texts.join(" ")
}

/// A deterministic embedding of `dims` floats in [-1, 1] for `text`.
pub fn embedding(text: &str, dims: usize) -> Vec<f32> {
    // FNV-1a, then splitmix64 steps.
    let mut state = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    (0..dims)
        .map(|_| {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            // 24 random bits as a float in [0, 1), then to [-1, 1).
            let unit = (z >> 40) as f32 / (1u64 << 24) as f32;
            unit * 2.0 - 1.0
        })
        .collect()
}

/// Most dimensions an embedding request may ask for.
pub const MAX_DIMENSIONS: u64 = 4096;
/// Dimensions when the request does not say.
pub const DEFAULT_DIMENSIONS: usize = 8;

/// Answers a request to `route`; `Err` holds a 400 error body.
pub fn answer(route: &Route, body: &[u8], id: u64, chunks: u32) -> Result<Reply, Bytes> {
    let request: Value = serde_json::from_slice(body).map_err(|e| {
        invalid_argument(&format!(
            "Invalid JSON payload received (mock-provider): {e}"
        ))
    })?;
    if !request.is_object() {
        return Err(invalid_argument(
            "Invalid JSON payload received: the body must be an object.",
        ));
    }
    match route {
        Route::Generate { model, stream } => generate(&request, model, id, chunks, *stream),
        Route::Embed { model } => embed(&request, model),
    }
}

fn generate(
    request: &Value,
    model: &str,
    id: u64,
    chunks: u32,
    stream: bool,
) -> Result<Reply, Bytes> {
    let Some(contents) = request.get("contents").and_then(Value::as_array) else {
        return Err(invalid_argument(
            "* GenerateContentRequest.contents: contents is not specified",
        ));
    };
    let mut prompt_tokens = request
        .get("systemInstruction")
        .map_or(0, |s| words(&text_of(parts(s))));
    let mut last_user = String::new();
    let mut images = 0;
    for content in contents {
        let parts = parts(content);
        let text = text_of(parts);
        prompt_tokens += words(&text);
        let role = content
            .get("role")
            .and_then(Value::as_str)
            .unwrap_or("user");
        let said = parts.iter().any(|p| p.get("text").is_some() || is_image(p));
        if role == "user" && said {
            last_user = text;
            images = parts.iter().filter(|p| is_image(p)).count();
        }
    }
    let prompt_tokens = prompt_tokens.max(1);
    let first_tool = request
        .get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|t| {
            t.get("functionDeclarations")
                .or_else(|| t.get("function_declarations"))
        })
        .filter_map(Value::as_array)
        .flatten()
        .find_map(|d| d.get("name").and_then(Value::as_str));
    let input = last_user.trim();
    let call = first_tool.filter(|_| mentions_tool(input));

    let (part, completion_tokens) = match call {
        Some(name) => (
            json!({ "functionCall": { "name": name, "args": { "input": input } } }),
            words(input).max(1),
        ),
        None => {
            let mut content = reply_content(&last_user);
            if images > 0 {
                content.push_str(&format!(" [images: {images}]"));
            }
            let n = words(&content).max(1);
            (json!({ "text": content }), n)
        }
    };
    let usage = json!({
        "promptTokenCount": prompt_tokens,
        "candidatesTokenCount": completion_tokens,
        "totalTokenCount": prompt_tokens + completion_tokens,
    });
    let response_id = format!("gemini-mock-{id}");
    if !stream {
        let body = json!({
            "candidates": [{
                "content": { "parts": [part], "role": "model" },
                "finishReason": "STOP",
                "index": 0,
            }],
            "usageMetadata": usage,
            "modelVersion": model,
            "responseId": response_id,
        });
        return Ok(Reply::Json(body.to_string().into()));
    }

    let event = |parts: Value, finish: bool| -> Bytes {
        let mut candidate = json!({ "content": { "parts": parts, "role": "model" }, "index": 0 });
        let usage = if finish {
            candidate["finishReason"] = json!("STOP");
            usage.clone()
        } else {
            json!({ "promptTokenCount": prompt_tokens, "totalTokenCount": prompt_tokens })
        };
        let chunk = json!({
            "candidates": [candidate],
            "usageMetadata": usage,
            "modelVersion": model,
            "responseId": response_id,
        });
        format!("data: {chunk}\r\n\r\n").into()
    };
    let mut events = Vec::new();
    match part.get("text").and_then(Value::as_str) {
        Some(text) => {
            for piece in split_even(text, chunks) {
                events.push(event(json!([{ "text": piece }]), false));
            }
        }
        None => events.push(event(json!([part]), false)),
    }
    events.push(event(json!([{ "text": "" }]), true));
    Ok(Reply::Stream(events))
}

fn embed(request: &Value, model: &str) -> Result<Reply, Bytes> {
    let Some(requests) = request.get("requests").and_then(Value::as_array) else {
        return Err(invalid_argument(
            "* BatchEmbedContentsRequest.requests: requests is not specified",
        ));
    };
    let mut embeddings = Vec::with_capacity(requests.len());
    for one in requests {
        let text = one
            .get("content")
            .map(|c| text_of(parts(c)))
            .unwrap_or_default();
        let dims = match one.get("outputDimensionality") {
            None | Some(Value::Null) => DEFAULT_DIMENSIONS,
            Some(v) => match v.as_u64() {
                Some(d) if (1..=MAX_DIMENSIONS).contains(&d) => d as usize,
                _ => return Err(invalid_argument(&format!(
                    "outputDimensionality must be between 1 and {MAX_DIMENSIONS} (mock-provider)"
                ))),
            },
        };
        if let Some(other) = one.get("model").and_then(Value::as_str) {
            if other.strip_prefix("models/").unwrap_or(other) != model {
                return Err(invalid_argument(&format!(
                    "Model {other} in the batch does not match models/{model} in the URL"
                )));
            }
        }
        embeddings.push(json!({ "values": embedding(&text, dims) }));
    }
    Ok(Reply::Json(
        json!({ "embeddings": embeddings }).to_string().into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(bytes: &[u8]) -> Value {
        serde_json::from_slice(bytes).unwrap()
    }

    #[test]
    fn routes() {
        let post = &Method::POST;
        assert_eq!(
            route(post, "models/gemini-2.0-flash:generateContent"),
            Some(Ok(Route::Generate {
                model: "gemini-2.0-flash".into(),
                stream: false
            }))
        );
        assert_eq!(
            route(post, "models/m:streamGenerateContent"),
            Some(Ok(Route::Generate {
                model: "m".into(),
                stream: true
            }))
        );
        assert_eq!(
            route(post, "models/m:batchEmbedContents"),
            Some(Ok(Route::Embed { model: "m".into() }))
        );
        assert_eq!(
            route(&Method::GET, "models/m:generateContent"),
            Some(Err("POST"))
        );
        assert_eq!(route(post, "models/m:countTokens"), None);
        assert_eq!(route(post, "models"), None);
        assert_eq!(route(post, "chat/completions"), None);
    }

    #[test]
    fn embeddings_are_deterministic() {
        let a = embedding("hello", 8);
        assert_eq!(a, embedding("hello", 8));
        assert_ne!(a, embedding("hello!", 8));
        assert_eq!(a.len(), 8);
        assert!(a.iter().all(|x| (-1.0..=1.0).contains(x)));
        assert_eq!(embedding("x", 3), embedding("x", 8)[..3]);
    }

    #[test]
    fn words_and_tools() {
        assert!(mentions_tool("please use the Tool."));
        assert!(!mentions_tool("tools and toolbox"));
        let body = br#"{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}"#;
        let Reply::Json(json) = answer(
            &Route::Generate {
                model: "m".into(),
                stream: false,
            },
            body,
            1,
            4,
        )
        .unwrap() else {
            panic!("expected JSON")
        };
        assert_eq!(
            parse(&json)["candidates"][0]["content"]["parts"][0]["text"],
            "Mock reply to: hi"
        );
        assert_eq!(
            parse(&status_error(429))["error"]["status"],
            "RESOURCE_EXHAUSTED"
        );
    }
}
