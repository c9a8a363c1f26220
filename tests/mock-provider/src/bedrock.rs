//! The AWS Bedrock Runtime wire format: `POST …/v1/model/{modelId}/converse`
//! (JSON) and `…/converse-stream` (AWS event-stream binary frames).
//!
//! `service.rs` records the call and resolves the directives, then hands
//! Bedrock paths to [`handle`], which applies `fail_times`/`fail_key`,
//! latency, `fault=reset` and the `status` directive the same way the
//! OpenAI path does, then checks auth and answers:
//!
//! - auth: `Authorization: Bearer <key>` (a Bedrock API key), or a
//!   well-formed SigV4 header (`AWS4-HMAC-SHA256 Credential=ID/DATE/REGION/bedrock/aws4_request,
//!   SignedHeaders=…, Signature=<64 hex>`) with `x-amz-date` (of the
//!   credential's date) and `x-amz-content-sha256` equal to the body's
//!   SHA-256, both signed. The secret is unknown here, so the signature
//!   itself is not checked. Anything else is a 403;
//! - content: as the OpenAI mock (`openai::reply_content`, word counts,
//!   `chunks` pieces), plus the tools convention (a declared tool and the
//!   word `tool` in the last user text: one `toolUse` of the first tool
//!   with input `{"input": <last user text>}`, `stopReason: tool_use`) and
//!   the images convention (` [images: N]`);
//! - errors: `{"message": …}` with the exception name in `x-amzn-errortype`;
//! - streams: one frame per write, framed by the gateway's own
//!   `eventstream.rs` (included by path); `fault=cut` stops before the
//!   `metadata` end marker, `fault=malformed` inserts a frame whose message
//!   CRC is wrong right after `messageStart`.

use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use hyper::header::{self, HeaderName, HeaderValue};
use hyper::{HeaderMap, Method, Response, StatusCode};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::body::{shaped_json, shaped_stream, MockBody};
use crate::faults::{Directives, Fault};
use crate::openai::{reply_content, split_even};
use crate::service::{Connection, ResetConnection};

#[allow(dead_code)]
#[path = "../../../src/provider/bedrock/eventstream.rs"]
mod eventstream;

/// The event-stream content type.
pub const EVENT_STREAM: &str = "application/vnd.amazon.eventstream";

/// A Bedrock Runtime endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// `POST …/model/{id}/converse`
    Converse,
    /// `POST …/model/{id}/converse-stream`
    ConverseStream,
}

/// The Bedrock endpoint of `rest` (the path after `/v1/`), if it is one.
pub fn route(rest: &str) -> Option<Route> {
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let mut segments = rest.split('/');
    let (Some("model"), Some(id), Some(op), None) = (
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
    ) else {
        return None;
    };
    if id.is_empty() {
        return None;
    }
    match op {
        "converse" => Some(Route::Converse),
        "converse-stream" => Some(Route::ConverseStream),
        _ => None,
    }
}

/// What `service.rs` knows of the call.
pub struct Call<'a> {
    pub method: &'a Method,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
    /// The call's number on its (path, key) pair, from the ledger.
    pub number: u64,
    /// The API key as the ledger counts it.
    pub key: &'a str,
}

fn response(status: u16, content_type: &'static str, body: MockBody) -> Response<MockBody> {
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// A Bedrock error body: `{"message": …}`, the exception name in
/// `x-amzn-errortype`.
pub fn error_body(message: &str) -> Bytes {
    serde_json::to_vec(&json!({ "message": message }))
        .expect("an error body serializes")
        .into()
}

fn error(status: u16, kind: &'static str, message: &str) -> Response<MockBody> {
    let mut response = response(
        status,
        "application/json",
        MockBody::full(error_body(message)),
    );
    response.headers_mut().insert(
        HeaderName::from_static("x-amzn-errortype"),
        HeaderValue::from_static(kind),
    );
    response
}

/// The exception and message answering a simulated failure with `status`.
pub fn status_error(status: u16) -> (&'static str, &'static str) {
    match status {
        401 | 403 => (
            "AccessDeniedException",
            "You don't have access to the model with the specified model ID (simulated by mock-provider).",
        ),
        404 => (
            "ResourceNotFoundException",
            "The provided model identifier is invalid (simulated by mock-provider).",
        ),
        408 => (
            "ModelTimeoutException",
            "The request took too long to process (simulated by mock-provider).",
        ),
        424 => (
            "ModelErrorException",
            "The model returned an error (simulated by mock-provider).",
        ),
        429 => (
            "ThrottlingException",
            "Too many requests, please wait before trying again (simulated by mock-provider).",
        ),
        503 => (
            "ServiceUnavailableException",
            "Bedrock is unable to process your request (simulated by mock-provider).",
        ),
        500..=599 => (
            "InternalServerException",
            "The system encountered an unexpected error during processing (simulated by mock-provider).",
        ),
        _ => (
            "ValidationException",
            "The request was rejected (simulated by mock-provider).",
        ),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Why a request's auth is not acceptable, if it is not.
fn auth_problem(headers: &HeaderMap, body: &[u8]) -> Option<String> {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    let Some(auth) = text("authorization").filter(|a| !a.is_empty()) else {
        return Some("Missing Authentication Token".to_owned());
    };
    let (scheme, rest) = auth.split_once(' ').unwrap_or((auth, ""));
    if scheme.eq_ignore_ascii_case("bearer") {
        return rest
            .trim()
            .is_empty()
            .then(|| "The bearer token is empty.".to_owned());
    }
    if scheme != "AWS4-HMAC-SHA256" {
        return Some(format!("Unsupported authorization scheme `{scheme}`."));
    }
    let param = |name: &str| {
        rest.split(',')
            .map(str::trim)
            .find_map(|p| p.strip_prefix(name)?.strip_prefix('='))
    };
    let credential = param("Credential").unwrap_or("");
    let parts: Vec<&str> = credential.split('/').collect();
    if !matches!(parts[..], [id, date, region, "bedrock", "aws4_request"]
        if !id.is_empty() && date.len() == 8 && date.bytes().all(|b| b.is_ascii_digit()) && !region.is_empty())
    {
        return Some(format!(
            "Credential should be scoped to a valid date, region and the `bedrock` service: `{credential}`."
        ));
    }
    let signed: Vec<&str> = param("SignedHeaders").unwrap_or("").split(';').collect();
    for needed in ["host", "x-amz-content-sha256", "x-amz-date"] {
        if !signed.contains(&needed) {
            return Some(format!("SignedHeaders must include `{needed}`."));
        }
    }
    let signature = param("Signature").unwrap_or("");
    if signature.len() != 64
        || !signature
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        return Some("Signature must be 64 lower-case hex digits.".to_owned());
    }
    let date = text("x-amz-date").unwrap_or("");
    let well_formed = date.len() == 16
        && date.as_bytes()[8] == b'T'
        && date.ends_with('Z')
        && date[..8]
            .bytes()
            .chain(date[9..15].bytes())
            .all(|b| b.is_ascii_digit());
    if !well_formed || !date.starts_with(parts[1]) {
        return Some(format!(
            "x-amz-date `{date}` must be YYYYMMDDTHHMMSSZ on the credential's date."
        ));
    }
    if text("x-amz-content-sha256") != Some(hex(&Sha256::digest(body)).as_str()) {
        return Some("x-amz-content-sha256 does not match the body.".to_owned());
    }
    if text("x-amz-security-token").is_some() && !signed.contains(&"x-amz-security-token") {
        return Some("SignedHeaders must include `x-amz-security-token`.".to_owned());
    }
    None
}

/// What the mock makes of a Converse request body.
struct Prompt<'a> {
    last_user_text: Cow<'a, str>,
    images: usize,
    words: u64,
    first_tool: Option<&'a str>,
}

fn words(text: &str) -> u64 {
    text.split_whitespace().count() as u64
}

fn read_prompt(v: &Value) -> Result<Prompt<'_>, String> {
    let messages = v
        .get("messages")
        .and_then(Value::as_array)
        .ok_or("Missing required field: messages")?;
    let mut prompt = Prompt {
        last_user_text: Cow::Borrowed(""),
        images: 0,
        words: 0,
        first_tool: v
            .pointer("/toolConfig/tools/0/toolSpec/name")
            .and_then(Value::as_str),
    };
    for block in v
        .get("system")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        prompt.words += block.get("text").and_then(Value::as_str).map_or(0, words);
    }
    for message in messages {
        let content = message
            .get("content")
            .and_then(Value::as_array)
            .ok_or("Each message needs a `content` list")?;
        let texts: Vec<&str> = content
            .iter()
            .filter_map(|b| b.get("text").and_then(Value::as_str))
            .collect();
        for block in content {
            let results = block
                .pointer("/toolResult/content")
                .and_then(Value::as_array);
            for part in results.into_iter().flatten() {
                prompt.words += part.get("text").and_then(Value::as_str).map_or(0, words);
            }
        }
        prompt.words += texts.iter().map(|t| words(t)).sum::<u64>();
        let only_results = content.iter().all(|b| b.get("toolResult").is_some());
        if message.get("role").and_then(Value::as_str) == Some("user") && !only_results {
            prompt.last_user_text = Cow::Owned(texts.join(" "));
            prompt.images = content.iter().filter(|b| b.get("image").is_some()).count();
        }
    }
    Ok(prompt)
}

/// Whether `text` has the word `tool` (any case).
fn asks_for_a_tool(text: &str) -> bool {
    text.split(|c: char| !c.is_alphanumeric())
        .any(|w| w.eq_ignore_ascii_case("tool"))
}

/// A Converse answer before timing and faults.
#[derive(Debug)]
enum Reply {
    Json(Bytes),
    /// Frames; the last one is `metadata`, the end marker.
    Stream(Vec<Bytes>),
}

fn frame(event_type: &str, payload: &Value) -> Bytes {
    let json = serde_json::to_vec(payload).expect("an event serializes");
    eventstream::encode_event(event_type, &json)
        .expect("mock events fit a frame")
        .into()
}

/// A well-formed frame made unreadable: its message CRC is off by one bit.
pub fn malformed_frame() -> Bytes {
    let mut bytes = eventstream::encode_event(
        "contentBlockDelta",
        br#"{"contentBlockIndex":0,"delta":{"text":"garbled"}}"#,
    )
    .expect("a small frame encodes");
    if let Some(last) = bytes.last_mut() {
        *last ^= 1;
    }
    bytes.into()
}

fn chat(route: Route, body: &[u8], id: u64, chunks: u32) -> Result<Reply, String> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| format!("mock-provider: the request body is not valid JSON: {e}"))?;
    let prompt = read_prompt(&v)?;
    let tool = prompt
        .first_tool
        .filter(|_| asks_for_a_tool(&prompt.last_user_text));
    let mut text = reply_content(&prompt.last_user_text);
    if prompt.images > 0 {
        text.push_str(&format!(" [images: {}]", prompt.images));
    }
    let tool_use_id = format!("tooluse_mock_{id}");
    let input = json!({ "input": prompt.last_user_text.trim() }).to_string();
    let output_words = match tool {
        Some(_) => words(&input),
        None => words(&text),
    }
    .max(1);
    let usage = json!({
        "inputTokens": prompt.words.max(1),
        "outputTokens": output_words,
        "totalTokens": prompt.words.max(1) + output_words,
    });
    let stop_reason = if tool.is_some() {
        "tool_use"
    } else {
        "end_turn"
    };

    if route == Route::Converse {
        let block = match tool {
            Some(name) => json!({ "toolUse": {
                "toolUseId": tool_use_id,
                "name": name,
                "input": { "input": prompt.last_user_text.trim() },
            } }),
            None => json!({ "text": text }),
        };
        let answer = json!({
            "output": { "message": { "role": "assistant", "content": [block] } },
            "stopReason": stop_reason,
            "usage": usage,
            "metrics": { "latencyMs": 0 },
        });
        let bytes = serde_json::to_vec(&answer).expect("an answer serializes");
        return Ok(Reply::Json(bytes.into()));
    }

    let mut frames = vec![frame("messageStart", &json!({ "role": "assistant" }))];
    match tool {
        Some(name) => {
            frames.push(frame(
                "contentBlockStart",
                &json!({ "contentBlockIndex": 0, "start": { "toolUse": { "toolUseId": tool_use_id, "name": name } } }),
            ));
            for piece in split_even(&input, chunks) {
                frames.push(frame(
                    "contentBlockDelta",
                    &json!({ "contentBlockIndex": 0, "delta": { "toolUse": { "input": piece } } }),
                ));
            }
        }
        None => {
            for piece in split_even(&text, chunks) {
                frames.push(frame(
                    "contentBlockDelta",
                    &json!({ "contentBlockIndex": 0, "delta": { "text": piece } }),
                ));
            }
        }
    }
    frames.push(frame(
        "contentBlockStop",
        &json!({ "contentBlockIndex": 0 }),
    ));
    frames.push(frame("messageStop", &json!({ "stopReason": stop_reason })));
    frames.push(frame(
        "metadata",
        &json!({ "usage": usage, "metrics": { "latencyMs": 0 } }),
    ));
    Ok(Reply::Stream(frames))
}

/// Applies `ttfb_ms`, `chunk_delay_ms` and the body faults.
fn shape(reply: Reply, d: &Directives) -> Response<MockBody> {
    match reply {
        Reply::Json(bytes) => response(200, "application/json", shaped_json(bytes, d)),
        Reply::Stream(frames) => {
            response(200, EVENT_STREAM, shaped_stream(frames, d, malformed_frame))
        }
    }
}

/// Answers a call to a Bedrock endpoint; see the module documentation.
pub async fn handle(
    conn: &Connection,
    route: Route,
    call: Call<'_>,
    directives: Directives,
    next_id: &AtomicU64,
) -> Result<Response<MockBody>, ResetConnection> {
    if *call.method != Method::POST {
        let mut response = error(
            405,
            "UnknownOperationException",
            "mock-provider: this endpoint only accepts POST",
        );
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return Ok(response);
    }
    let d = if directives.failing(call.number, call.key) {
        directives
    } else {
        directives.healed()
    };
    let latency = d.latency();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    if d.fault() == Fault::Reset {
        conn.abort.store(true, Ordering::Relaxed);
        return Err(ResetConnection);
    }
    let status = d.status();
    let mut response = if status >= 400 {
        let (kind, message) = status_error(status);
        let mut response = shape(Reply::Json(error_body(message)), &d);
        *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
        response.headers_mut().insert(
            HeaderName::from_static("x-amzn-errortype"),
            HeaderValue::from_static(kind),
        );
        response
    } else if status != 200 {
        let mut response = response(200, "application/json", MockBody::empty());
        *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
        response
    } else if let Some(problem) = auth_problem(call.headers, call.body) {
        error(403, "AccessDeniedException", &problem)
    } else {
        let id = next_id.fetch_add(1, Ordering::Relaxed) + 1;
        match chat(route, call.body, id, d.chunks()) {
            Ok(reply) => shape(reply, &d),
            Err(message) => error(400, "ValidationException", &message),
        }
    };
    let headers = response.headers_mut();
    if let Some(secs) = d.retry_after {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    if let Some(ms) = d.retry_after_ms {
        headers.insert(
            HeaderName::from_static("retry-after-ms"),
            HeaderValue::from(ms),
        );
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames_of(reply: Reply) -> Vec<(String, Value)> {
        let Reply::Stream(frames) = reply else {
            panic!("expected a stream");
        };
        let mut reader = eventstream::Reader::new();
        let mut out = Vec::new();
        for f in &frames {
            reader.push(f, &mut out).unwrap();
        }
        assert_eq!(out.len(), frames.len(), "one frame per part");
        out.iter()
            .map(|m| {
                (
                    m.header_str(":event-type").unwrap().to_owned(),
                    serde_json::from_slice(&m.payload).unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn routes() {
        assert_eq!(route("model/m%3A0/converse"), Some(Route::Converse));
        assert_eq!(
            route("model/arn%3Aaws%2Fx/converse-stream/"),
            Some(Route::ConverseStream)
        );
        assert_eq!(route("model//converse"), None);
        assert_eq!(route("model/m/invoke"), None);
        assert_eq!(route("model/m/converse/x"), None);
        assert_eq!(route("chat/completions"), None);
    }

    #[test]
    fn json_reply_and_word_counts() {
        let body = br#"{"system":[{"text":"be brief"}],"messages":[{"role":"user","content":[{"text":"hello"},{"text":"there"}]}]}"#;
        let Reply::Json(json) = chat(Route::Converse, body, 1, 4).unwrap() else {
            panic!("expected JSON");
        };
        let v: Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(
            v["output"]["message"]["content"][0]["text"],
            "Mock reply to: hello there"
        );
        assert_eq!(v["stopReason"], "end_turn");
        assert_eq!(
            v["usage"],
            json!({"inputTokens": 4, "outputTokens": 5, "totalTokens": 9})
        );
    }

    #[test]
    fn tool_and_image_conventions() {
        let body = br#"{"messages":[
            {"role":"user","content":[{"text":"use a tool please"}]},
            {"role":"assistant","content":[{"toolUse":{"toolUseId":"t1","name":"f","input":{}}}]},
            {"role":"user","content":[{"toolResult":{"toolUseId":"t1","content":[{"text":"done ok"}]}}]}],
            "toolConfig":{"tools":[{"toolSpec":{"name":"first","inputSchema":{"json":{}}}},{"toolSpec":{"name":"second","inputSchema":{"json":{}}}}]}}"#;
        let frames = frames_of(chat(Route::ConverseStream, body, 3, 2).unwrap());
        let kinds: Vec<&str> = frames.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            kinds,
            [
                "messageStart",
                "contentBlockStart",
                "contentBlockDelta",
                "contentBlockDelta",
                "contentBlockStop",
                "messageStop",
                "metadata"
            ]
        );
        assert_eq!(
            frames[1].1["start"]["toolUse"],
            json!({"toolUseId": "tooluse_mock_3", "name": "first"})
        );
        let input: String = frames[2..4]
            .iter()
            .map(|(_, v)| v["delta"]["toolUse"]["input"].as_str().unwrap())
            .collect();
        assert_eq!(input, r#"{"input":"use a tool please"}"#);
        assert_eq!(frames[5].1["stopReason"], "tool_use");
        assert_eq!(frames[6].1["usage"]["inputTokens"], 6);

        let body = br#"{"messages":[{"role":"user","content":[{"text":"what are these"},
            {"image":{"format":"png","source":{"bytes":"AAAA"}}},{"image":{"format":"jpeg","source":{"bytes":"AAAA"}}}]}]}"#;
        let frames = frames_of(chat(Route::ConverseStream, body, 1, 3).unwrap());
        let text: String = frames[1..4]
            .iter()
            .map(|(_, v)| v["delta"]["text"].as_str().unwrap())
            .collect();
        assert_eq!(text, "Mock reply to: what are these [images: 2]");
        // "tools" is not the word "tool"; without declared tools no call either.
        assert!(!asks_for_a_tool("list your tools"));
        assert!(asks_for_a_tool("Tool, please"));
    }

    #[test]
    fn bad_bodies() {
        assert!(chat(Route::Converse, b"{nope", 1, 4).is_err());
        assert!(chat(Route::Converse, b"{}", 1, 4)
            .unwrap_err()
            .contains("messages"));
        assert!(chat(Route::Converse, br#"{"messages":[{"role":"user"}]}"#, 1, 4).is_err());
    }

    #[test]
    fn auth() {
        let body = b"{}";
        let sha = hex(&Sha256::digest(body));
        let mut h = HeaderMap::new();
        assert!(auth_problem(&h, body).unwrap().contains("Missing"));
        h.insert("authorization", HeaderValue::from_static("Bearer br-1"));
        assert_eq!(auth_problem(&h, body), None);
        let sigv4 = "AWS4-HMAC-SHA256 Credential=AKID/20240620/us-east-1/bedrock/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        h.insert("authorization", HeaderValue::from_static(sigv4));
        h.insert("x-amz-date", HeaderValue::from_static("20240620T161320Z"));
        assert!(auth_problem(&h, body).unwrap().contains("sha256"));
        h.insert("x-amz-content-sha256", HeaderValue::from_str(&sha).unwrap());
        assert_eq!(auth_problem(&h, body), None);
        h.insert("x-amz-security-token", HeaderValue::from_static("tok"));
        assert!(auth_problem(&h, body).unwrap().contains("security-token"));
        h.remove("x-amz-security-token");
        h.insert("x-amz-date", HeaderValue::from_static("20240621T000000Z"));
        assert!(auth_problem(&h, body).is_some());
        h.insert("x-amz-date", HeaderValue::from_static("20240620T161320Z"));
        for bad in [
            "AWS4-HMAC-SHA256 Credential=AKID/20240620/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "AWS4-HMAC-SHA256 Credential=AKID/20240620/us-east-1/bedrock/aws4_request, SignedHeaders=host;x-amz-date, Signature=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "AWS4-HMAC-SHA256 Credential=AKID/20240620/us-east-1/bedrock/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=abc",
            "Basic dXNlcjpwYXNz",
            "Bearer ",
        ] {
            h.insert("authorization", HeaderValue::from_static(bad));
            assert!(auth_problem(&h, body).is_some(), "{bad}");
        }
    }

    #[test]
    fn the_malformed_frame_fails_its_crc() {
        let mut reader = eventstream::Reader::new();
        let err = reader
            .push(&malformed_frame(), &mut Vec::new())
            .unwrap_err();
        assert!(err.0.contains("message CRC"));
    }
}
