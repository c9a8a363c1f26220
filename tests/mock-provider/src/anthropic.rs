//! The Anthropic Messages wire format: `POST …/v1/messages` (JSON, or an
//! SSE stream with `"stream": true`) and Anthropic error bodies.
//!
//! Pure like `openai.rs`: request bytes in, a [`Reply`] out; timing and
//! faults are applied by `service.rs`. Replies follow the same conventions
//! as the OpenAI format, so the gateway's cross-format tests can compare
//! answers:
//!
//! - text: `Mock reply to: <text of the last user message>` (the same
//!   trimming and cut as `openai::reply_content`), ` [images: N]` appended
//!   when that message has N image blocks. The last user message is the
//!   last `user` turn with something besides `tool_result` blocks (a turn
//!   of tool results only answers a call; OpenAI carries those as `tool`
//!   messages);
//! - tools: when the request declares a tool and that text has the word
//!   `tool` (any case, words split at non-alphanumeric characters), the
//!   reply is one `tool_use` block calling the first tool with input
//!   `{"input": <that text>}`, and `stop_reason` `tool_use`;
//! - usage: `input_tokens` = whitespace-separated words of the system
//!   prompt, every text block and every tool result (at least 1),
//!   `output_tokens` = words of the reply text, or of the tool input's JSON.
//!
//! A request without `x-api-key` is a 401 `authentication_error`, without
//! `anthropic-version` a 400 `invalid_request_error`, as Anthropic answers.

use std::borrow::Cow;

use bytes::Bytes;
use hyper::{HeaderMap, Method};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::openai::{reply_content, split_even, Reply};

/// Routes `rest`, the path after `/v1/`: `None` if it is not this
/// format's, `Some(Err(allow))` for the right path with the wrong method.
pub fn route(method: &Method, rest: &str) -> Option<Result<(), &'static str>> {
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    (rest == "messages").then(|| {
        if *method == Method::POST {
            Ok(())
        } else {
            Err("POST")
        }
    })
}

/// An Anthropic error body: `{"type":"error","error":{"type","message"},"request_id"}`.
pub fn error_body(kind: &str, message: &str) -> Bytes {
    let body = json!({"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_mock"});
    body.to_string().into()
}

fn invalid_request(message: &str) -> (u16, Bytes) {
    (400, error_body("invalid_request_error", message))
}

/// The error body answering a simulated failure with `status` (4xx or 5xx).
pub fn status_error(status: u16) -> Bytes {
    let (kind, message) = match status {
        401 => ("authentication_error", "invalid x-api-key (simulated by mock-provider)."),
        402 => ("billing_error", "Your credit balance is too low (simulated by mock-provider)."),
        403 => ("permission_error", "Your API key does not have permission to use the specified resource (simulated by mock-provider)."),
        404 => ("not_found_error", "The requested resource could not be found (simulated by mock-provider)."),
        413 => ("request_too_large", "Request exceeds the maximum allowed number of bytes (simulated by mock-provider)."),
        429 => ("rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit (simulated by mock-provider)."),
        503 | 529 => ("overloaded_error", "Overloaded (simulated by mock-provider)."),
        504 => ("timeout_error", "Request timed out (simulated by mock-provider)."),
        500..=599 => ("api_error", "Internal server error (simulated by mock-provider)."),
        _ => ("invalid_request_error", "The request was rejected (simulated by mock-provider)."),
    };
    error_body(kind, message)
}

#[derive(Deserialize)]
struct Request<'a> {
    #[serde(borrow)]
    model: Option<Cow<'a, str>>,
    max_tokens: Option<Value>,
    messages: Option<Vec<InMessage<'a>>>,
    #[serde(default)]
    system: Value,
    #[serde(default)]
    tools: Option<Vec<InTool<'a>>>,
    stream: Option<bool>,
}

#[derive(Deserialize)]
struct InMessage<'a> {
    #[serde(borrow)]
    role: Option<Cow<'a, str>>,
    #[serde(default)]
    content: Value,
}

#[derive(Deserialize)]
struct InTool<'a> {
    #[serde(borrow)]
    name: Option<Cow<'a, str>>,
}

fn words(text: &str) -> u64 {
    text.split_whitespace().count() as u64
}

/// The `text` of the text blocks of `content`, joined by spaces; a string
/// content is its own text.
fn text_of(content: &Value) -> Cow<'_, str> {
    match content {
        Value::String(s) => Cow::Borrowed(s),
        Value::Array(blocks) => {
            let texts: Vec<&str> = blocks
                .iter()
                .filter(|b| b.get("type").and_then(Value::as_str) == Some("text"))
                .filter_map(|b| b.get("text").and_then(Value::as_str))
                .collect();
            Cow::Owned(texts.join(" "))
        }
        _ => Cow::Borrowed(""),
    }
}

/// Words of a content, tool results included.
fn content_words(content: &Value) -> u64 {
    let mut n = words(&text_of(content));
    if let Value::Array(blocks) = content {
        for block in blocks {
            if block.get("type").and_then(Value::as_str) == Some("tool_result") {
                n += words(&text_of(block.get("content").unwrap_or(&Value::Null)));
            }
        }
    }
    n
}

fn blocks_of<'v>(content: &'v Value, kind: &'v str) -> impl Iterator<Item = &'v Value> + 'v {
    content
        .as_array()
        .into_iter()
        .flatten()
        .filter(move |b| b.get("type").and_then(Value::as_str) == Some(kind))
}

/// Whether a user turn says something (not only tool results).
fn speaks(content: &Value) -> bool {
    match content {
        Value::Array(blocks) => blocks
            .iter()
            .any(|b| b.get("type").and_then(Value::as_str) != Some("tool_result")),
        _ => true,
    }
}

fn has_word_tool(text: &str) -> bool {
    text.split(|c: char| !c.is_alphanumeric())
        .any(|w| w.eq_ignore_ascii_case("tool"))
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// SSE events (`event: NAME\ndata: JSON\n\n`), each its own `Bytes`.
fn event(name: &str, data: &Value) -> Bytes {
    format!("event: {name}\ndata: {data}\n\n").into()
}

/// Answers a Messages request; `Err` holds an error status and body.
///
/// `id` numbers the reply (`msg_mock_<id>`); `chunks` is the number of
/// content deltas when the request asks for a stream.
pub fn messages(
    headers: &HeaderMap,
    body: &[u8],
    id: u64,
    chunks: u32,
) -> Result<Reply, (u16, Bytes)> {
    if header(headers, "x-api-key").is_none() {
        return Err((
            401,
            error_body("authentication_error", "x-api-key header is required"),
        ));
    }
    if header(headers, "anthropic-version").is_none() {
        return Err(invalid_request("anthropic-version: header is required"));
    }
    let request: Request<'_> = serde_json::from_slice(body).map_err(|e| {
        invalid_request(&format!(
            "mock-provider: the request body is not a valid Messages request: {e}"
        ))
    })?;
    let Some(model) = request.model else {
        return Err(invalid_request("model: Field required"));
    };
    match request.max_tokens.as_ref().map(Value::as_u64) {
        None => return Err(invalid_request("max_tokens: Field required")),
        Some(Some(n)) if n >= 1 => {}
        Some(_) => {
            return Err(invalid_request(
                "max_tokens: Input should be a valid integer, at least 1",
            ))
        }
    }
    let Some(messages) = request.messages else {
        return Err(invalid_request("messages: Field required"));
    };

    let mut input_tokens = words(&text_of(&request.system));
    let mut last_user: Option<&Value> = None;
    for message in &messages {
        input_tokens += content_words(&message.content);
        if message.role.as_deref() == Some("user") && speaks(&message.content) {
            last_user = Some(&message.content);
        }
    }
    let input_tokens = input_tokens.max(1);
    let user_text = last_user.map(text_of).unwrap_or_default();
    let images = last_user.map_or(0, |c| blocks_of(c, "image").count());
    let first_tool = request
        .tools
        .as_ref()
        .and_then(|tools| tools.first())
        .map(|t| t.name.as_deref().unwrap_or_default());
    let tool_id = format!("toolu_mock_{id}");
    let id = format!("msg_mock_{id}");

    // One tool call, or text.
    let (block, streamed, stop_reason, output_tokens) = match first_tool {
        Some(name) if has_word_tool(&user_text) => {
            let input = json!({"input": user_text});
            let arguments = input.to_string();
            let tokens = words(&arguments).max(1);
            let block = json!({"type": "tool_use", "id": tool_id, "name": name, "input": input});
            (block, arguments, "tool_use", tokens)
        }
        _ => {
            let mut text = reply_content(&user_text);
            if images > 0 {
                text.push_str(&format!(" [images: {images}]"));
            }
            let tokens = words(&text).max(1);
            (
                json!({"type": "text", "text": text}),
                text,
                "end_turn",
                tokens,
            )
        }
    };

    if request.stream != Some(true) {
        let message = json!({
            "id": id,
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [block],
            "stop_reason": stop_reason,
            "stop_sequence": null,
            "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
        });
        return Ok(Reply::Json(message.to_string().into()));
    }

    let mut events = Vec::with_capacity(chunks as usize + 6);
    events.push(event(
        "message_start",
        &json!({"type": "message_start", "message": {
            "id": id, "type": "message", "role": "assistant", "model": model, "content": [],
            "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": input_tokens, "output_tokens": 1},
        }}),
    ));
    let (start, delta_kind, field) = if stop_reason == "tool_use" {
        let mut start = block.clone();
        start["input"] = json!({});
        (start, "input_json_delta", "partial_json")
    } else {
        (json!({"type": "text", "text": ""}), "text_delta", "text")
    };
    events.push(event(
        "content_block_start",
        &json!({"type": "content_block_start", "index": 0, "content_block": start}),
    ));
    events.push(Bytes::from_static(
        b"event: ping\ndata: {\"type\": \"ping\"}\n\n",
    ));
    for piece in split_even(&streamed, chunks) {
        events.push(event(
            "content_block_delta",
            &json!({"type": "content_block_delta", "index": 0, "delta": {"type": delta_kind, field: piece}}),
        ));
    }
    events.push(event(
        "content_block_stop",
        &json!({"type": "content_block_stop", "index": 0}),
    ));
    events.push(event(
        "message_delta",
        &json!({"type": "message_delta", "delta": {"stop_reason": stop_reason, "stop_sequence": null}, "usage": {"output_tokens": output_tokens}}),
    ));
    events.push(Bytes::from_static(
        b"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
    ));
    Ok(Reply::Stream(events))
}

/// An SSE event whose data is not valid JSON (a delta cut in the middle).
pub fn malformed_event() -> Bytes {
    Bytes::from_static(
        b"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"\n\n",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    fn headers() -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-api-key", HeaderValue::from_static("sk-ant-test"));
        h.insert("anthropic-version", HeaderValue::from_static("2023-06-01"));
        h
    }

    fn parse(bytes: &[u8]) -> Value {
        serde_json::from_slice(bytes).unwrap()
    }

    fn json_reply(body: &Value) -> Value {
        match messages(&headers(), body.to_string().as_bytes(), 3, 4).unwrap() {
            Reply::Json(json) => parse(&json),
            Reply::Stream(_) => panic!("expected JSON"),
        }
    }

    fn stream_reply(body: &Value, chunks: u32) -> Vec<(String, Value)> {
        let mut body = body.clone();
        body["stream"] = json!(true);
        let Reply::Stream(events) =
            messages(&headers(), body.to_string().as_bytes(), 1, chunks).unwrap()
        else {
            panic!("expected a stream");
        };
        events
            .iter()
            .map(|e| {
                let text = std::str::from_utf8(e).unwrap();
                let (head, data) = text.strip_suffix("\n\n").unwrap().split_once('\n').unwrap();
                let name = head.strip_prefix("event: ").unwrap().to_string();
                (
                    name,
                    serde_json::from_str(data.strip_prefix("data: ").unwrap()).unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn routes() {
        assert_eq!(route(&Method::POST, "messages"), Some(Ok(())));
        assert_eq!(route(&Method::POST, "messages/"), Some(Ok(())));
        assert_eq!(route(&Method::GET, "messages"), Some(Err("POST")));
        assert_eq!(route(&Method::POST, "chat/completions"), None);
    }

    #[test]
    fn a_text_reply() {
        let v = json_reply(&json!({
            "model": "claude-x", "max_tokens": 100, "system": "be brief",
            "messages": [
                {"role": "user", "content": "first question"},
                {"role": "assistant", "content": "an answer"},
                {"role": "user", "content": [{"type": "text", "text": "hello"}, {"type": "text", "text": "there"}]}
            ]
        }));
        assert_eq!(v["id"], "msg_mock_3");
        assert_eq!(v["type"], "message");
        assert_eq!(v["model"], "claude-x");
        assert_eq!(
            v["content"],
            json!([{"type": "text", "text": "Mock reply to: hello there"}])
        );
        assert_eq!(v["stop_reason"], "end_turn");
        assert_eq!(v["usage"], json!({"input_tokens": 8, "output_tokens": 5}));
    }

    #[test]
    fn images_and_tool_results() {
        let v = json_reply(&json!({
            "model": "m", "max_tokens": 10, "tools": [{"name": "lookup", "input_schema": {"type": "object"}}],
            "messages": [
                {"role": "user", "content": [
                    {"type": "text", "text": "what is this"},
                    {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBO"}}
                ]},
                {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "lookup", "input": {}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "a cat"}]}
            ]
        }));
        assert_eq!(
            v["content"][0]["text"],
            "Mock reply to: what is this [images: 2]"
        );
        assert_eq!(v["usage"]["input_tokens"], 5);
    }

    #[test]
    fn a_tool_call_reply() {
        let body = json!({
            "model": "m", "max_tokens": 10,
            "tools": [{"name": "get_weather", "input_schema": {"type": "object"}}, {"name": "other", "input_schema": {}}],
            "messages": [{"role": "user", "content": "Use the Tool, please"}]
        });
        let v = json_reply(&body);
        assert_eq!(
            v["content"],
            json!([{"type": "tool_use", "id": "toolu_mock_3", "name": "get_weather", "input": {"input": "Use the Tool, please"}}])
        );
        assert_eq!(v["stop_reason"], "tool_use");
        let events = stream_reply(&body, 3);
        assert_eq!(
            events[1].1["content_block"],
            json!({"type": "tool_use", "id": "toolu_mock_1", "name": "get_weather", "input": {}})
        );
        let partial: String = events[3..6]
            .iter()
            .map(|(_, d)| d["delta"]["partial_json"].as_str().unwrap())
            .collect();
        assert_eq!(
            parse(partial.as_bytes()),
            json!({"input": "Use the Tool, please"})
        );
        assert_eq!(events[7].1["delta"]["stop_reason"], "tool_use");
        // "tools" is not the word "tool"; no tools declared, no call.
        let mut no = body.clone();
        no["messages"][0]["content"] = json!("what tools?");
        assert_eq!(json_reply(&no)["stop_reason"], "end_turn");
        let mut bare = body;
        bare.as_object_mut().unwrap().remove("tools");
        assert_eq!(json_reply(&bare)["stop_reason"], "end_turn");
    }

    #[test]
    fn a_stream_has_the_anthropic_event_sequence() {
        let events = stream_reply(
            &json!({"model": "m", "max_tokens": 10, "stream": true, "messages": [{"role": "user", "content": "héllo wörld"}]}),
            3,
        );
        let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "message_start",
                "content_block_start",
                "ping",
                "content_block_delta",
                "content_block_delta",
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop"
            ]
        );
        for (name, data) in &events {
            assert_eq!(data["type"], name.as_str());
        }
        assert_eq!(events[0].1["message"]["usage"]["input_tokens"], 2);
        assert_eq!(events[0].1["message"]["content"], json!([]));
        let text: String = events[3..6]
            .iter()
            .map(|(_, d)| d["delta"]["text"].as_str().unwrap())
            .collect();
        assert_eq!(text, "Mock reply to: héllo wörld");
        assert_eq!(events[7].1["usage"]["output_tokens"], 5);
        assert_eq!(events[7].1["delta"]["stop_reason"], "end_turn");
    }

    #[test]
    fn bad_requests() {
        let err = |h: &HeaderMap, b: &str| {
            let (status, body) = messages(h, b.as_bytes(), 1, 4).unwrap_err();
            let v = parse(&body);
            assert_eq!(v["type"], "error");
            (
                status,
                v["error"]["type"].as_str().unwrap().to_string(),
                v["error"]["message"].as_str().unwrap().to_string(),
            )
        };
        let ok = r#"{"model":"m","max_tokens":1,"messages":[]}"#;
        let mut no_key = headers();
        no_key.remove("x-api-key");
        assert_eq!(err(&no_key, ok).0, 401);
        assert_eq!(err(&no_key, ok).1, "authentication_error");
        let mut no_version = headers();
        no_version.remove("anthropic-version");
        assert_eq!(err(&no_version, ok).0, 400);
        assert!(err(&no_version, ok).2.contains("anthropic-version"));
        assert!(err(&headers(), "{nope")
            .2
            .contains("not a valid Messages request"));
        assert_eq!(
            err(&headers(), r#"{"max_tokens":1,"messages":[]}"#).2,
            "model: Field required"
        );
        assert_eq!(
            err(&headers(), r#"{"model":"m","messages":[]}"#).2,
            "max_tokens: Field required"
        );
        assert!(
            err(&headers(), r#"{"model":"m","max_tokens":0,"messages":[]}"#)
                .2
                .contains("max_tokens")
        );
        assert_eq!(
            err(&headers(), r#"{"model":"m","max_tokens":1}"#).2,
            "messages: Field required"
        );
        assert!(messages(&headers(), ok.as_bytes(), 1, 4).is_ok());
    }

    #[test]
    fn status_errors_have_anthropic_types() {
        let kind = |s: u16| {
            parse(&status_error(s))["error"]["type"]
                .as_str()
                .unwrap()
                .to_string()
        };
        assert_eq!(kind(429), "rate_limit_error");
        assert_eq!(kind(529), "overloaded_error");
        assert_eq!(kind(400), "invalid_request_error");
        assert_eq!(kind(401), "authentication_error");
        assert_eq!(kind(403), "permission_error");
        assert_eq!(kind(404), "not_found_error");
        assert_eq!(kind(500), "api_error");
        assert_eq!(kind(504), "timeout_error");
        assert_eq!(parse(&status_error(529))["type"], "error");
        assert!(std::str::from_utf8(&malformed_event())
            .unwrap()
            .starts_with("event: content_block_delta\n"));
    }
}
