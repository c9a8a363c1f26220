//! The Cohere v2 wire format: `POST …/v2/chat` (JSON, or SSE with
//! `"stream": true`) and `POST …/v2/embed`, with Cohere error bodies
//! (`{"id","message"}`).
//!
//! Pure like `openai.rs`. A stream is `event: <type>` + `data: <json>`
//! events ending in `message-end` (Cohere's end marker), which a cut
//! always drops. Content rules are those of the OpenAI mock (see
//! `gemini.rs`); embeddings are the same deterministic vectors as the
//! Gemini mock's.

use bytes::Bytes;
use hyper::Method;
use serde_json::{json, Value};

use crate::gemini::{embedding, mentions_tool, DEFAULT_DIMENSIONS, MAX_DIMENSIONS};
use crate::openai::{reply_content, split_even, Reply};

/// A Cohere endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// `POST /v2/chat`
    Chat,
    /// `POST /v2/embed`
    Embed,
}

/// Routes `rest`, the path after the API root; `None` if it is not a
/// Cohere path, `Some(Err(allow))` for a wrong method.
pub fn route(method: &Method, rest: &str) -> Option<Result<Route, &'static str>> {
    let route = match rest.strip_suffix('/').unwrap_or(rest) {
        "chat" => Route::Chat,
        "embed" => Route::Embed,
        _ => return None,
    };
    Some(if *method == Method::POST {
        Ok(route)
    } else {
        Err("POST")
    })
}

/// A Cohere error body: `{"id","message"}`.
pub fn error_body(message: &str) -> Bytes {
    json!({ "id": "mock-error", "message": message })
        .to_string()
        .into()
}

/// The error body answering a simulated failure with `status` (4xx or 5xx).
pub fn status_error(status: u16) -> Bytes {
    let message = match status {
        400 => "invalid request: the request was rejected (simulated by mock-provider).",
        401 => "invalid api token (simulated by mock-provider).",
        403 => "You do not have access to this resource (simulated by mock-provider).",
        404 => "model not found, make sure the correct model ID was used (simulated by mock-provider).",
        429 => "You are using a Trial key, which is limited in API calls / minute (simulated by mock-provider).",
        503 => "The service is currently unavailable (simulated by mock-provider).",
        500..=599 => "internal server error, this has been reported to our developers (simulated by mock-provider).",
        _ => "The request was rejected (simulated by mock-provider).",
    };
    error_body(message)
}

/// An SSE event whose data is not valid JSON (a chunk cut in the middle).
pub fn malformed_event() -> Bytes {
    Bytes::from_static(
        b"event: content-delta\ndata: {\"type\":\"content-delta\",\"index\":0,\"delta\":{\"message\":{\"content\":{\"text\":\"\n\n",
    )
}

fn words(text: &str) -> u64 {
    text.split_whitespace().count() as u64
}

/// A message's text: the string, or the `text` of its parts joined by
/// spaces; and its number of image parts.
fn text_and_images(content: &Value) -> (String, usize) {
    match content {
        Value::String(s) => (s.clone(), 0),
        Value::Array(parts) => {
            let texts: Vec<&str> = parts
                .iter()
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect();
            let images = parts
                .iter()
                .filter(|p| p.get("type").and_then(Value::as_str) == Some("image_url"))
                .count();
            (texts.join(" "), images)
        }
        _ => (String::new(), 0),
    }
}

/// Answers a request to `route`; `Err` holds a 400 error body.
pub fn answer(route: Route, body: &[u8], id: u64, chunks: u32) -> Result<Reply, Bytes> {
    let request: Value = serde_json::from_slice(body).map_err(|e| {
        error_body(&format!(
            "invalid request: the body is not valid JSON (mock-provider): {e}"
        ))
    })?;
    if request.get("model").and_then(Value::as_str).is_none() {
        return Err(error_body("invalid request: model must be specified."));
    }
    match route {
        Route::Chat => chat(&request, id, chunks),
        Route::Embed => embed(&request),
    }
}

fn chat(request: &Value, id: u64, chunks: u32) -> Result<Reply, Bytes> {
    let Some(messages) = request.get("messages").and_then(Value::as_array) else {
        return Err(error_body("invalid request: messages must be specified."));
    };
    let mut prompt_tokens = 0;
    let mut last_user = String::new();
    let mut images = 0;
    for message in messages {
        let (text, n) = text_and_images(message.get("content").unwrap_or(&Value::Null));
        prompt_tokens += words(&text);
        if message.get("role").and_then(Value::as_str) == Some("user") {
            last_user = text;
            images = n;
        }
    }
    let prompt_tokens = prompt_tokens.max(1);
    let first_tool = request
        .get("tools")
        .and_then(Value::as_array)
        .and_then(|tools| tools.first())
        .and_then(|t| t.pointer("/function/name"))
        .and_then(Value::as_str);
    let input = last_user.trim();
    let call = first_tool.filter(|_| mentions_tool(input));
    let id_text = format!("cohere-mock-{id}");

    let (text, arguments, completion_tokens) = match call {
        Some(_) => {
            let arguments = json!({ "input": input }).to_string();
            (None, Some(arguments), words(input).max(1))
        }
        None => {
            let mut content = reply_content(&last_user);
            if images > 0 {
                content.push_str(&format!(" [images: {images}]"));
            }
            let n = words(&content).max(1);
            (Some(content), None, n)
        }
    };
    let usage = json!({
        "billed_units": { "input_tokens": prompt_tokens, "output_tokens": completion_tokens },
        "tokens": { "input_tokens": prompt_tokens, "output_tokens": completion_tokens },
    });
    let finish_reason = if call.is_some() {
        "TOOL_CALL"
    } else {
        "COMPLETE"
    };
    let call_id = format!("call_mock_{id}");
    let name = call.unwrap_or("");

    if request.get("stream").and_then(Value::as_bool) != Some(true) {
        let message = match (&text, &arguments) {
            (Some(text), _) => {
                json!({ "role": "assistant", "content": [{ "type": "text", "text": text }] })
            }
            (None, arguments) => json!({
                "role": "assistant",
                "tool_plan": format!("I will call {name}."),
                "tool_calls": [{
                    "id": call_id,
                    "type": "function",
                    "function": { "name": name, "arguments": arguments },
                }],
            }),
        };
        let body = json!({ "id": id_text, "message": message, "finish_reason": finish_reason, "usage": usage });
        return Ok(Reply::Json(body.to_string().into()));
    }

    let mut events = Vec::new();
    let mut event = |data: Value| {
        let kind = data["type"].as_str().unwrap_or("").to_owned();
        events.push(Bytes::from(format!("event: {kind}\ndata: {data}\n\n")));
    };
    event(json!({
        "id": id_text,
        "type": "message-start",
        "delta": { "message": { "role": "assistant", "content": [], "tool_plan": "", "tool_calls": [], "citations": [] } },
    }));
    match (&text, &arguments) {
        (Some(text), _) => {
            event(
                json!({ "type": "content-start", "index": 0, "delta": { "message": { "content": { "type": "text", "text": "" } } } }),
            );
            for piece in split_even(text, chunks) {
                event(
                    json!({ "type": "content-delta", "index": 0, "delta": { "message": { "content": { "text": piece } } } }),
                );
            }
            event(json!({ "type": "content-end", "index": 0 }));
        }
        (None, arguments) => {
            let arguments = arguments.as_deref().unwrap_or("{}");
            event(json!({
                "type": "tool-call-start",
                "index": 0,
                "delta": { "message": { "tool_calls": {
                    "id": call_id, "type": "function", "function": { "name": name, "arguments": "" },
                } } },
            }));
            for piece in split_even(arguments, chunks) {
                event(json!({
                    "type": "tool-call-delta",
                    "index": 0,
                    "delta": { "message": { "tool_calls": { "function": { "arguments": piece } } } },
                }));
            }
            event(json!({ "type": "tool-call-end", "index": 0 }));
        }
    }
    event(
        json!({ "type": "message-end", "delta": { "finish_reason": finish_reason, "usage": usage } }),
    );
    Ok(Reply::Stream(events))
}

fn embed(request: &Value) -> Result<Reply, Bytes> {
    let Some(texts) = request.get("texts").and_then(Value::as_array) else {
        return Err(error_body("invalid request: texts must be specified."));
    };
    let dims = match request.get("output_dimension") {
        None | Some(Value::Null) => DEFAULT_DIMENSIONS,
        Some(v) => match v.as_u64() {
            Some(d) if (1..=MAX_DIMENSIONS).contains(&d) => d as usize,
            _ => {
                return Err(error_body(
                    "invalid request: output_dimension is out of range (mock-provider).",
                ))
            }
        },
    };
    let texts: Vec<&str> = texts.iter().map(|t| t.as_str().unwrap_or("")).collect();
    let vectors: Vec<Vec<f32>> = texts.iter().map(|t| embedding(t, dims)).collect();
    let input_tokens: u64 = texts.iter().map(|t| words(t)).sum::<u64>().max(1);
    let body = json!({
        "id": "cohere-mock-embed",
        "embeddings": { "float": vectors },
        "texts": texts,
        "meta": { "api_version": { "version": "2" }, "billed_units": { "input_tokens": input_tokens } },
        "response_type": "embeddings_by_type",
    });
    Ok(Reply::Json(body.to_string().into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(route(&Method::POST, "chat"), Some(Ok(Route::Chat)));
        assert_eq!(route(&Method::POST, "embed/"), Some(Ok(Route::Embed)));
        assert_eq!(route(&Method::GET, "chat"), Some(Err("POST")));
        assert_eq!(route(&Method::POST, "chat/completions"), None);
    }

    #[test]
    fn stream_ends_in_message_end() {
        let body =
            br#"{"model":"c","messages":[{"role":"user","content":"hi there"}],"stream":true}"#;
        let Reply::Stream(events) = answer(Route::Chat, body, 3, 2).unwrap() else {
            panic!("expected a stream")
        };
        assert_eq!(events.len(), 6);
        assert!(events[5].starts_with(b"event: message-end\n"));
        let v: Value = serde_json::from_slice(&status_error(429)).unwrap();
        assert!(v["message"].as_str().unwrap().contains("Trial key"));
    }
}
