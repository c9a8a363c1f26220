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
//! whitespace-separated word counts (at least 1). When the last user message
//! has N image parts, ` [images: N]` is appended. When the request declares
//! a tool and the last user text has the word `tool`, the reply is instead
//! one call of the first tool with arguments `{"input":"<last user text>"}`.
//!
//! Azure OpenAI's deployment paths (`/openai/deployments/{d}/chat/completions`)
//! reach the same handler; the deployment is the model when the body has none.

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
    /// `POST /v1/embeddings`
    Embeddings,
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

/// The deployment of an Azure OpenAI path below `/openai/`
/// (`deployments/{d}/...`).
pub fn deployment(rest: &str) -> Option<&str> {
    let mut segments = rest.strip_prefix("deployments/")?.splitn(2, '/');
    segments.next().filter(|d| !d.is_empty())
}

/// Routes `rest`, the path after `/v1/` (no leading slash), or after
/// `/openai/` for an Azure deployment path.
pub fn route(method: &Method, rest: &str) -> Routed {
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let azure = deployment(rest).map(|d| &rest["deployments/".len() + d.len()..]);
    let path = match azure {
        Some(after) => after.strip_prefix('/').unwrap_or(after),
        None => rest,
    };
    let (route, allowed, allow) = match path {
        "chat/completions" => (Route::ChatCompletions, Method::POST, "POST"),
        "models" if azure.is_none() => (Route::Models, Method::GET, "GET"),
        "embeddings" => (Route::Embeddings, Method::POST, "POST"),
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
    #[serde(default)]
    tools: Vec<ToolDecl<'a>>,
}

#[derive(Deserialize)]
struct ToolDecl<'a> {
    #[serde(borrow)]
    function: Option<FunctionDecl<'a>>,
}

#[derive(Deserialize)]
struct FunctionDecl<'a> {
    #[serde(borrow)]
    name: Cow<'a, str>,
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

/// How many image parts a message's `content` has.
fn images_in(content: &Value) -> usize {
    match content {
        Value::Array(parts) => parts
            .iter()
            .filter(|p| p.get("type").and_then(Value::as_str) == Some("image_url"))
            .count(),
        _ => 0,
    }
}

/// Whether `text` has the word `tool` (any case): the tools convention.
pub(crate) fn asks_for_tool(text: &str) -> bool {
    text.split(|c: char| !c.is_alphanumeric())
        .any(|word| word.eq_ignore_ascii_case("tool"))
}

/// The arguments of the mock's tool call: `{"input":"<last user text>"}`.
pub(crate) fn tool_arguments(last_user_text: &str) -> String {
    serde_json::json!({ "input": last_user_text }).to_string()
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
    content: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_calls: Option<[ToolCallOut<'a>; 1]>,
}

#[derive(Serialize)]
struct ToolCallOut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    index: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    function: FunctionOut<'a>,
}

#[derive(Serialize)]
struct FunctionOut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    arguments: &'a str,
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
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_calls: Option<[ToolCallOut<'a>; 1]>,
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
#[cfg(test)]
pub fn chat(body: &[u8], id: u64, chunks: u32) -> Result<Reply, Bytes> {
    chat_for(body, id, chunks, None)
}

/// [`chat`] for an Azure `deployment`, the model when the body names none.
pub fn chat_for(
    body: &[u8],
    id: u64,
    chunks: u32,
    deployment: Option<&str>,
) -> Result<Reply, Bytes> {
    let request: ChatRequest<'_> = serde_json::from_slice(body).map_err(|e| {
        invalid_request(&format!(
            "mock-provider: the request body is not a valid chat completion request: {e}"
        ))
    })?;
    let Some(model) = request.model.or(deployment.map(Cow::Borrowed)) else {
        return Err(invalid_request("you must provide a model parameter"));
    };
    let Some(messages) = request.messages else {
        return Err(invalid_request("Missing required parameter: 'messages'."));
    };
    let mut prompt_tokens = 0;
    let mut last_user = Cow::Borrowed("");
    let mut images = 0;
    for message in &messages {
        let text = text_of(&message.content);
        prompt_tokens += text.split_whitespace().count() as u64;
        if message.role.as_deref() == Some("user") {
            last_user = text;
            images = images_in(&message.content);
        }
    }
    let tool = request
        .tools
        .iter()
        .find_map(|t| t.function.as_ref())
        .map(|f| f.name.as_ref())
        .filter(|_| asks_for_tool(&last_user));
    let call_id = format!("call_mock_{id}");
    let content = match tool {
        Some(_) => tool_arguments(&last_user),
        None if images > 0 => format!("{} [images: {images}]", reply_content(&last_user)),
        None => reply_content(&last_user),
    };
    let tool_call = |stream: bool, arguments| {
        tool.map(|name| {
            [ToolCallOut {
                index: stream.then_some(0),
                id: Some(&call_id),
                kind: Some("function"),
                function: FunctionOut {
                    name: Some(name),
                    arguments,
                },
            }]
        })
    };
    let finish_reason = if tool.is_some() { "tool_calls" } else { "stop" };
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
                    content: tool.is_none().then_some(content.as_str()),
                    tool_calls: tool_call(false, &content),
                },
                finish_reason,
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
        tool_calls: None,
    };
    chunk(&[choice(role, None)], usage_field, &mut events);
    if tool.is_some() {
        // The call, then its arguments in `chunks` pieces.
        let start = Delta {
            tool_calls: tool_call(true, ""),
            ..Delta::default()
        };
        chunk(&[choice(start, None)], usage_field, &mut events);
    }
    for piece in pieces {
        let delta = match tool {
            Some(_) => Delta {
                tool_calls: Some([ToolCallOut {
                    index: Some(0),
                    id: None,
                    kind: None,
                    function: FunctionOut {
                        name: None,
                        arguments: piece,
                    },
                }]),
                ..Delta::default()
            },
            None => Delta {
                content: Some(piece),
                ..Delta::default()
            },
        };
        chunk(&[choice(delta, None)], usage_field, &mut events);
    }
    chunk(
        &[choice(Delta::default(), Some(finish_reason))],
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

/// `POST /v1/embeddings`: one deterministic vector per input (the same
/// vectors as the Gemini mock's, `dimensions` long, 8 by default).
pub fn embeddings(body: &[u8]) -> Result<Reply, Bytes> {
    let request: Value = serde_json::from_slice(body).map_err(|e| invalid_request(&format!("invalid JSON: {e}")))?;
    let model = request.get("model").and_then(Value::as_str).unwrap_or("mock-embed");
    let inputs: Vec<String> = match request.get("input") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) if items.iter().all(Value::is_string) => {
            items.iter().filter_map(|v| v.as_str().map(str::to_string)).collect()
        }
        _ => return Err(invalid_request("`input` must be a string or an array of strings")),
    };
    let dims = request.get("dimensions").and_then(Value::as_u64).unwrap_or(8).clamp(1, 4096) as usize;
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(i, text)| serde_json::json!({"object": "embedding", "index": i, "embedding": crate::gemini::embedding(text, dims)}))
        .collect();
    let tokens: usize = inputs.iter().map(|t| t.split_whitespace().count().max(1)).sum();
    let body = serde_json::json!({
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    });
    Ok(Reply::Json(body.to_string().into()))
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
        assert_eq!(route(&Method::POST, "embeddings"), Routed::Found(Route::Embeddings));
        assert_eq!(route(&Method::POST, "completions"), Routed::NotFound);
        assert_eq!(
            route(&Method::POST, "deployments/gpt4o/chat/completions"),
            Routed::Found(Route::ChatCompletions)
        );
        assert_eq!(
            route(&Method::GET, "deployments/gpt4o/chat/completions"),
            Routed::WrongMethod("POST")
        );
        assert_eq!(
            route(&Method::GET, "deployments/d/models"),
            Routed::NotFound
        );
        assert_eq!(
            route(&Method::POST, "deployments//chat/completions"),
            Routed::NotFound
        );
        assert_eq!(deployment("deployments/d1/chat/completions"), Some("d1"));
        assert_eq!(deployment("chat/completions"), None);
    }

    #[test]
    fn the_tool_word_is_a_whole_word() {
        assert!(asks_for_tool("use the tool"));
        assert!(asks_for_tool("Tool, please!"));
        assert!(!asks_for_tool("tools and toolkits"));
        assert_eq!(tool_arguments("a \"b\""), r#"{"input":"a \"b\""}"#);
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

