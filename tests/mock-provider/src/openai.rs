//! The OpenAI wire format: routes under `/v1`, chat completions (JSON and
//! SSE stream), the model list and error bodies.
//!
//! Everything here is pure: it turns request bytes into response bytes.
//! Timing and faults are applied by the caller (`service.rs`), which only
//! needs to know that a stream is a list of events whose last one is the
//! terminator (`data: [DONE]`) and how to make one malformed event.
//!
//! Replies are deterministic: the content is `Mock reply to: <text of the
//! last user message>` (the text cut to 200 characters), token counts are
//! whitespace-separated word counts (at least 1).

use std::borrow::Cow;

use bytes::Bytes;
use hyper::Method;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The `created` timestamp of every reply, fixed for determinism.
pub const CREATED: u64 = 1_700_000_000;
/// How many characters of the last user message the reply quotes.
const QUOTED_CHARS: usize = 200;

/// An OpenAI endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// `POST /v1/chat/completions`
    ChatCompletions,
    /// `GET /v1/models`
    Models,
}

/// The outcome of routing a path below `/v1/`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Routed {
    /// A known endpoint called with its method.
    Found(Route),
    /// A known endpoint called with another method; the value is `Allow`.
    WrongMethod(&'static str),
    /// No such endpoint.
    NotFound,
}

/// Routes `rest`, the path after `/v1/` (no leading slash).
pub fn route(method: &Method, rest: &str) -> Routed {
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let (route, allowed, allow) = match rest {
        "chat/completions" => (Route::ChatCompletions, Method::POST, "POST"),
        "models" => (Route::Models, Method::GET, "GET"),
        _ => return Routed::NotFound,
    };
    if *method == allowed {
        Routed::Found(route)
    } else {
        Routed::WrongMethod(allow)
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
}

#[derive(Serialize)]
struct ErrorDetail<'a> {
    message: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    param: Option<&'a str>,
    code: Option<&'a str>,
}

/// An OpenAI error body: `{"error":{"message","type","param","code"}}`.
pub fn error_body(message: &str, kind: &str, code: Option<&str>) -> Bytes {
    let body = ErrorBody {
        error: ErrorDetail {
            message,
            kind,
            param: None,
            code,
        },
    };
    serde_json::to_vec(&body)
        .expect("an error body serializes")
        .into()
}

/// An `invalid_request_error` body, as for a 400.
pub fn invalid_request(message: &str) -> Bytes {
    error_body(message, "invalid_request_error", None)
}

/// The error body answering a simulated failure with `status` (4xx or 5xx).
pub fn status_error(status: u16) -> Bytes {
    let (message, kind, code) = match status {
        401 => (
            "Incorrect API key provided (simulated by mock-provider).",
            "invalid_request_error",
            Some("invalid_api_key"),
        ),
        403 => (
            "You are not allowed to make this request (simulated by mock-provider).",
            "permission_error",
            Some("permission_denied"),
        ),
        404 => (
            "The model does not exist (simulated by mock-provider).",
            "invalid_request_error",
            Some("model_not_found"),
        ),
        429 => (
            "Rate limit reached for requests (simulated by mock-provider).",
            "requests",
            Some("rate_limit_exceeded"),
        ),
        503 => (
            "The server is overloaded (simulated by mock-provider).",
            "server_error",
            None,
        ),
        500..=599 => (
            "The server had an error while processing your request (simulated by mock-provider).",
            "server_error",
            None,
        ),
        _ => (
            "The request was rejected (simulated by mock-provider).",
            "invalid_request_error",
            None,
        ),
    };
    error_body(message, kind, code)
}

/// The model list answering `GET /v1/models`.
pub fn models() -> Bytes {
    Bytes::from_static(
        br#"{"object":"list","data":[{"id":"mock-small","object":"model","created":1700000000,"owned_by":"mock-provider"},{"id":"mock-large","object":"model","created":1700000000,"owned_by":"mock-provider"},{"id":"gpt-4o-mini","object":"model","created":1700000000,"owned_by":"mock-provider"}]}"#,
    )
}

#[derive(Deserialize)]
struct ChatRequest<'a> {
    #[serde(borrow)]
    model: Option<Cow<'a, str>>,
    messages: Option<Vec<ChatMessage<'a>>>,
    stream: Option<bool>,
    stream_options: Option<StreamOptions>,
}

#[derive(Deserialize)]
struct ChatMessage<'a> {
    #[serde(borrow)]
    role: Option<Cow<'a, str>>,
    #[serde(default)]
    content: Value,
}

#[derive(Deserialize)]
struct StreamOptions {
    include_usage: Option<bool>,
}

/// The text of a message's `content`: a string, or the `text` of its parts.
fn text_of(content: &Value) -> Cow<'_, str> {
    match content {
        Value::String(s) => Cow::Borrowed(s),
        Value::Array(parts) => {
            let texts: Vec<&str> = parts
                .iter()
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect();
            Cow::Owned(texts.join(" "))
        }
        _ => Cow::Borrowed(""),
    }
}

fn words(text: &str) -> u64 {
    (text.split_whitespace().count() as u64).max(1)
}

/// The reply content for the text of the last user message.
pub fn reply_content(last_user_text: &str) -> String {
    let text = last_user_text.trim();
    if text.is_empty() {
        return "Mock reply.".to_owned();
    }
    match text.char_indices().nth(QUOTED_CHARS) {
        Some((cut, _)) => format!("Mock reply to: {}...", &text[..cut]),
        None => format!("Mock reply to: {text}"),
    }
}

/// Splits `text` into exactly `n` pieces of nearly equal character counts
/// (some empty if `text` has fewer than `n` characters).
pub fn split_even(text: &str, n: u32) -> Vec<&str> {
    let n = n.max(1) as usize;
    let mut bounds: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
    let chars = bounds.len();
    bounds.push(text.len());
    (0..n)
        .map(|k| &text[bounds[k * chars / n]..bounds[(k + 1) * chars / n]])
        .collect()
}

#[derive(Serialize, Clone, Copy)]
struct Usage {
    prompt_tokens: u64,
    completion_tokens: u64,
    total_tokens: u64,
}

#[derive(Serialize)]
struct Completion<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: [CompletionChoice<'a>; 1],
    usage: Usage,
}

#[derive(Serialize)]
struct CompletionChoice<'a> {
    index: u32,
    message: AssistantMessage<'a>,
    finish_reason: &'static str,
    logprobs: (),
}

#[derive(Serialize)]
struct AssistantMessage<'a> {
    role: &'static str,
    content: &'a str,
}

#[derive(Serialize)]
struct Chunk<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: &'a [ChunkChoice<'a>],
    /// Absent unless usage was asked for; then `null` except in the last chunk.
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<Option<Usage>>,
}

#[derive(Serialize)]
struct ChunkChoice<'a> {
    index: u32,
    delta: Delta<'a>,
    logprobs: (),
    finish_reason: Option<&'static str>,
}

#[derive(Serialize, Default)]
struct Delta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<&'a str>,
}

/// A chat completion answer, before timing and faults.
#[derive(Debug)]
pub enum Reply {
    /// A JSON body.
    Json(Bytes),
    /// SSE events, each a complete `data: ...\n\n`; the last is `[DONE]`.
    Stream(Vec<Bytes>),
}

/// SSE events written into one buffer, then split without copying.
struct Events {
    buf: Vec<u8>,
    ends: Vec<usize>,
}

impl Events {
    fn with_capacity(events: usize, bytes: usize) -> Events {
        Events {
            buf: Vec::with_capacity(bytes),
            ends: Vec::with_capacity(events),
        }
    }

    fn data(&mut self, value: &impl Serialize) {
        self.buf.extend_from_slice(b"data: ");
        serde_json::to_writer(&mut self.buf, value).expect("a chunk serializes");
        self.buf.extend_from_slice(b"\n\n");
        self.ends.push(self.buf.len());
    }

    fn raw(&mut self, event: &[u8]) {
        self.buf.extend_from_slice(event);
        self.ends.push(self.buf.len());
    }

    fn finish(self) -> Vec<Bytes> {
        let all = Bytes::from(self.buf);
        let mut start = 0;
        self.ends
            .into_iter()
            .map(|end| {
                let event = all.slice(start..end);
                start = end;
                event
            })
            .collect()
    }
}

/// Answers a chat completion request `body`; `Err` holds a 400 error body.
///
/// `id` numbers the reply (`chatcmpl-mock-<id>`); `chunks` is the number of
/// content chunks if the request asks for a stream.
pub fn chat(body: &[u8], id: u64, chunks: u32) -> Result<Reply, Bytes> {
    let request: ChatRequest<'_> = serde_json::from_slice(body).map_err(|e| {
        invalid_request(&format!(
            "mock-provider: the request body is not a valid chat completion request: {e}"
        ))
    })?;
    let Some(model) = request.model else {
        return Err(invalid_request("you must provide a model parameter"));
    };
    let Some(messages) = request.messages else {
        return Err(invalid_request("Missing required parameter: 'messages'."));
    };
    let mut prompt_tokens = 0;
    let mut last_user = Cow::Borrowed("");
    for message in &messages {
        let text = text_of(&message.content);
        prompt_tokens += text.split_whitespace().count() as u64;
        if message.role.as_deref() == Some("user") {
            last_user = text;
        }
    }
    let content = reply_content(&last_user);
    let usage = Usage {
        prompt_tokens: prompt_tokens.max(1),
        completion_tokens: words(&content),
        total_tokens: prompt_tokens.max(1) + words(&content),
    };
    let id = format!("chatcmpl-mock-{id}");

    if request.stream != Some(true) {
        let completion = Completion {
            id: &id,
            object: "chat.completion",
            created: CREATED,
            model: &model,
            choices: [CompletionChoice {
                index: 0,
                message: AssistantMessage {
                    role: "assistant",
                    content: &content,
                },
                finish_reason: "stop",
                logprobs: (),
            }],
            usage,
        };
        let json = serde_json::to_vec(&completion).expect("a completion serializes");
        return Ok(Reply::Json(json.into()));
    }

    let include_usage = request
        .stream_options
        .and_then(|o| o.include_usage)
        .unwrap_or(false);
    let usage_field = include_usage.then_some(None);
    let pieces = split_even(&content, chunks);
    let mut events = Events::with_capacity(
        pieces.len() + 4,
        (pieces.len() + 4) * (180 + id.len() + model.len()) + content.len(),
    );
    let chunk = |choices: &[ChunkChoice<'_>], usage: Option<Option<Usage>>, events: &mut Events| {
        events.data(&Chunk {
            id: &id,
            object: "chat.completion.chunk",
            created: CREATED,
            model: &model,
            choices,
            usage,
        })
    };
    fn choice<'a>(delta: Delta<'a>, finish_reason: Option<&'static str>) -> ChunkChoice<'a> {
        ChunkChoice {
            index: 0,
            delta,
            logprobs: (),
            finish_reason,
        }
    }
    let role = Delta {
        role: Some("assistant"),
        content: Some(""),
    };
    chunk(&[choice(role, None)], usage_field, &mut events);
    for piece in pieces {
        let delta = Delta {
            role: None,
            content: Some(piece),
        };
        chunk(&[choice(delta, None)], usage_field, &mut events);
    }
    chunk(
        &[choice(Delta::default(), Some("stop"))],
        usage_field,
        &mut events,
    );
    if include_usage {
        chunk(&[], Some(Some(usage)), &mut events);
    }
    events.raw(b"data: [DONE]\n\n");
    Ok(Reply::Stream(events.finish()))
}

/// An SSE event whose data is not valid JSON (a chunk cut in the middle).
pub fn malformed_event(id: u64) -> Bytes {
    format!(
        "data: {{\"id\":\"chatcmpl-mock-{id}\",\"object\":\"chat.completion.chunk\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"\n\n"
    )
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(bytes: &[u8]) -> Value {
        serde_json::from_slice(bytes).unwrap()
    }

    #[test]
    fn routes() {
        assert_eq!(
            route(&Method::POST, "chat/completions"),
            Routed::Found(Route::ChatCompletions)
        );
        assert_eq!(route(&Method::GET, "models/"), Routed::Found(Route::Models));
        assert_eq!(
            route(&Method::GET, "chat/completions"),
            Routed::WrongMethod("POST")
        );
        assert_eq!(route(&Method::POST, "embeddings"), Routed::NotFound);
    }

    #[test]
    fn json_reply() {
        let body = br#"{"model":"m1","messages":[{"role":"system","content":"be brief"},{"role":"user","content":[{"type":"text","text":"hello there"}]}]}"#;
        let Reply::Json(json) = chat(body, 7, 4).unwrap() else {
            panic!("expected JSON");
        };
        let v = parse(&json);
        assert_eq!(v["id"], "chatcmpl-mock-7");
        assert_eq!(v["model"], "m1");
        assert_eq!(
            v["choices"][0]["message"]["content"],
            "Mock reply to: hello there"
        );
        assert_eq!(v["choices"][0]["finish_reason"], "stop");
        assert_eq!(v["usage"]["prompt_tokens"], 4);
        assert_eq!(v["usage"]["completion_tokens"], 5);
        assert_eq!(v["usage"]["total_tokens"], 9);
    }

    #[test]
    fn stream_reply_concatenates_to_the_json_content() {
        let body = r#"{"model":"m","messages":[{"role":"user","content":"héllo wörld"}],"stream":true,"stream_options":{"include_usage":true}}"#.as_bytes();
        let Reply::Stream(events) = chat(body, 1, 3).unwrap() else {
            panic!("expected a stream");
        };
        // role, 3 content chunks, finish, usage, [DONE]
        assert_eq!(events.len(), 7);
        assert_eq!(&events[6][..], b"data: [DONE]\n\n");
        let data: Vec<Value> = events[..6]
            .iter()
            .map(|e| {
                parse(
                    e.strip_prefix(b"data: ")
                        .unwrap()
                        .strip_suffix(b"\n\n")
                        .unwrap(),
                )
            })
            .collect();
        assert_eq!(data[0]["choices"][0]["delta"]["role"], "assistant");
        let text: String = data[1..4]
            .iter()
            .map(|d| d["choices"][0]["delta"]["content"].as_str().unwrap())
            .collect();
        assert_eq!(text, "Mock reply to: héllo wörld");
        assert_eq!(data[4]["choices"][0]["finish_reason"], "stop");
        assert!(data[4]["usage"].is_null());
        assert_eq!(data[5]["choices"].as_array().unwrap().len(), 0);
        assert_eq!(data[5]["usage"]["completion_tokens"], 5);
    }

    #[test]
    fn bad_requests() {
        let err = |b: &[u8]| parse(&chat(b, 1, 4).unwrap_err());
        assert_eq!(err(b"{nope")["error"]["type"], "invalid_request_error");
        assert!(err(br#"{"messages":[]}"#)["error"]["message"]
            .as_str()
            .unwrap()
            .contains("model"));
        assert!(err(br#"{"model":"m"}"#)["error"]["message"]
            .as_str()
            .unwrap()
            .contains("messages"));
    }

    #[test]
    fn content_and_split() {
        assert_eq!(reply_content("  "), "Mock reply.");
        let long = "x".repeat(500);
        assert_eq!(
            reply_content(&long).len(),
            "Mock reply to: ".len() + 200 + 3
        );
        assert_eq!(split_even("abcdefg", 3), vec!["ab", "cd", "efg"]);
        assert_eq!(split_even("ab", 4).concat(), "ab");
        assert_eq!(split_even("ab", 4).len(), 4);
    }

    #[test]
    fn status_errors_match_the_class() {
        assert_eq!(
            parse(&status_error(429))["error"]["code"],
            "rate_limit_exceeded"
        );
        assert_eq!(parse(&status_error(429))["error"]["type"], "requests");
        assert_eq!(parse(&status_error(502))["error"]["type"], "server_error");
        assert_eq!(
            parse(&status_error(401))["error"]["code"],
            "invalid_api_key"
        );
        assert_eq!(
            parse(&status_error(400))["error"]["type"],
            "invalid_request_error"
        );
        assert!(parse(&models())["data"].as_array().unwrap().len() >= 2);
    }
}
