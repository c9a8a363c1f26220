//! End-to-end tests of the mock-provider binary: each test starts the real
//! binary on port 0 and talks to it with a minimal raw HTTP/1.1 client.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A running mock-provider, killed when dropped.
struct Server {
    child: Child,
    addr: String,
}

impl Server {
    fn start(args: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mock-provider"))
            .args(["--port", "0", "--workers", "1"])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("the binary starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .trim()
            .strip_prefix("mock-provider listening on http://")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        Server { child, addr }
    }

    async fn send(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Reply {
        let raw = self.raw(method, path, headers, body).await;
        Reply::parse(raw)
    }

    async fn post(&self, path: &str, body: &Value) -> Reply {
        self.post_with(path, &[], body).await
    }

    async fn post_with(&self, path: &str, headers: &[(&str, &str)], body: &Value) -> Reply {
        self.send("POST", path, headers, &body.to_string()).await
    }

    async fn get_json(&self, path: &str) -> Value {
        let reply = self.send("GET", path, &[], "").await;
        assert_eq!(reply.status, 200, "GET {path}: {}", reply.text());
        reply.json()
    }

    /// Sends one request with `connection: close` and reads until the
    /// server closes (or resets) the connection.
    async fn raw(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Raw {
        let mut stream = TcpStream::connect(&self.addr).await.unwrap();
        let mut request = format!(
            "{method} {path} HTTP/1.1\r\nhost: {}\r\nconnection: close\r\ncontent-length: {}\r\n",
            self.addr,
            body.len()
        );
        if !body.is_empty() {
            request.push_str("content-type: application/json\r\n");
        }
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        request.push_str(body);
        stream.write_all(request.as_bytes()).await.unwrap();
        read_to_close(&mut stream).await
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What came back on a connection until it closed.
struct Raw {
    bytes: Vec<u8>,
    reset: bool,
}

async fn read_to_close(stream: &mut TcpStream) -> Raw {
    let mut bytes = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) => {
                return Raw {
                    bytes,
                    reset: false,
                }
            }
            Ok(n) => bytes.extend_from_slice(&buf[..n]),
            Err(_) => return Raw { bytes, reset: true },
        }
    }
}

/// A parsed HTTP/1.1 response.
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// Whether the body ended as its framing says (terminating chunk, or
    /// `content-length` bytes).
    complete: bool,
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

impl Reply {
    fn parse(raw: Raw) -> Reply {
        let bytes = raw.bytes;
        let end = find(&bytes, b"\r\n\r\n").expect("a complete response head");
        let head = std::str::from_utf8(&bytes[..end]).unwrap();
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .unwrap()
            .split(' ')
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        let headers: Vec<(String, String)> = lines
            .map(|l| {
                let (n, v) = l.split_once(':').unwrap();
                (n.trim().to_ascii_lowercase(), v.trim().to_owned())
            })
            .collect();
        let rest = &bytes[end + 4..];
        let mut reply = Reply {
            status,
            headers,
            body: Vec::new(),
            complete: false,
        };
        if reply.header("transfer-encoding") == Some("chunked") {
            let mut rest = rest;
            while let Some(line_end) = find(rest, b"\r\n") {
                let size =
                    usize::from_str_radix(std::str::from_utf8(&rest[..line_end]).unwrap(), 16)
                        .unwrap();
                if size == 0 {
                    reply.complete = true;
                    break;
                }
                let data = &rest[line_end + 2..];
                let take = size.min(data.len());
                reply.body.extend_from_slice(&data[..take]);
                if data.len() < size + 2 {
                    break;
                }
                rest = &data[size + 2..];
            }
        } else {
            reply.body = rest.to_vec();
            reply.complete = match reply.header("content-length") {
                Some(n) => n.parse::<usize>().unwrap() == rest.len(),
                None => true,
            };
        }
        assert!(
            !raw.reset || !reply.complete,
            "a reset after a complete response"
        );
        reply
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    /// The `data:` payloads of an SSE body.
    fn events(&self) -> Vec<String> {
        let text = self.text();
        assert!(text.ends_with("\n\n"), "SSE body ends mid-event: {text:?}");
        text.split_terminator("\n\n")
            .map(|e| {
                e.strip_prefix("data: ")
                    .expect("data events only")
                    .to_owned()
            })
            .collect()
    }
}

fn chat(text: &str) -> Value {
    json!({"model": "mock-small", "messages": [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": text},
    ]})
}

fn stream_chat(text: &str, include_usage: bool) -> Value {
    let mut body = chat(text);
    body["stream"] = json!(true);
    if include_usage {
        body["stream_options"] = json!({"include_usage": true});
    }
    body
}

const CHAT: &str = "/v1/chat/completions";

#[tokio::test]
async fn json_reply_has_the_openai_shape() {
    let server = Server::start(&[]);
    let reply = server
        .post(CHAT, &chat("What is the capital of France?"))
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert!(reply.header("content-length").is_some());
    let v = reply.json();
    assert_eq!(v["id"], "chatcmpl-mock-1");
    assert_eq!(v["object"], "chat.completion");
    assert!(v["created"].is_u64());
    assert_eq!(v["model"], "mock-small");
    let choice = &v["choices"][0];
    assert_eq!(choice["index"], 0);
    assert_eq!(choice["message"]["role"], "assistant");
    assert_eq!(
        choice["message"]["content"],
        "Mock reply to: What is the capital of France?"
    );
    assert_eq!(choice["finish_reason"], "stop");
    assert!(choice["logprobs"].is_null());
    assert_eq!(v["usage"]["prompt_tokens"], 9);
    assert_eq!(v["usage"]["completion_tokens"], 9);
    assert_eq!(v["usage"]["total_tokens"], 18);
}

#[tokio::test]
async fn stream_chunks_concatenate_to_the_json_content() {
    let server = Server::start(&[]);
    let text = "Tell me a story about a lighthouse keeper";
    let expected = server.post(CHAT, &chat(text)).await.json()["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .to_owned();

    let reply = server
        .send(
            "POST",
            CHAT,
            &[("x-mock-chunks", "5")],
            &stream_chat(text, true).to_string(),
        )
        .await;
    assert_eq!(reply.status, 200);
    assert!(reply.complete);
    assert_eq!(reply.header("content-type"), Some("text/event-stream"));
    assert_eq!(reply.header("cache-control"), Some("no-cache"));
    let events = reply.events();
    // role, 5 content chunks, finish, usage, [DONE]
    assert_eq!(events.len(), 9, "{events:?}");
    assert_eq!(events[8], "[DONE]");
    let chunks: Vec<Value> = events[..8]
        .iter()
        .map(|e| serde_json::from_str(e).unwrap())
        .collect();
    for chunk in &chunks {
        assert_eq!(chunk["object"], "chat.completion.chunk");
        assert_eq!(chunk["id"], chunks[0]["id"]);
        assert_eq!(chunk["model"], "mock-small");
    }
    assert_eq!(
        chunks[0]["choices"][0]["delta"],
        json!({"role": "assistant", "content": ""})
    );
    let content: String = chunks[1..6]
        .iter()
        .map(|c| {
            assert!(c["choices"][0]["finish_reason"].is_null());
            c["choices"][0]["delta"]["content"].as_str().unwrap()
        })
        .collect();
    assert_eq!(content, expected);
    assert_eq!(chunks[6]["choices"][0]["finish_reason"], "stop");
    assert_eq!(chunks[6]["choices"][0]["delta"], json!({}));
    assert_eq!(chunks[7]["choices"], json!([]));
    assert_eq!(chunks[7]["usage"]["completion_tokens"], 11);
    assert_eq!(chunks[7]["usage"]["prompt_tokens"], 11);
}

#[tokio::test]
async fn stream_without_include_usage_has_no_usage_chunk() {
    let server = Server::start(&[]);
    let reply = server.post(CHAT, &stream_chat("hi", false)).await;
    let events = reply.events();
    // role, 4 content chunks (the default), finish, [DONE]
    assert_eq!(events.len(), 7, "{events:?}");
    assert_eq!(events[6], "[DONE]");
    for event in &events[..6] {
        let chunk: Value = serde_json::from_str(event).unwrap();
        assert!(chunk.get("usage").is_none(), "{event}");
    }
}

#[tokio::test]
async fn status_comes_from_flags_path_and_headers_in_that_order() {
    let server = Server::start(&["--status", "500"]);
    let reply = server.post(CHAT, &chat("x")).await;
    assert_eq!(reply.status, 500);
    assert_eq!(reply.json()["error"]["type"], "server_error");

    let path = "/t/a/status=429/retry_after=2/retry_after_ms=1500/v1/chat/completions";
    let reply = server.post(path, &chat("x")).await;
    assert_eq!(reply.status, 429);
    assert_eq!(reply.header("retry-after"), Some("2"));
    assert_eq!(reply.header("retry-after-ms"), Some("1500"));
    let error = &reply.json()["error"];
    assert_eq!(error["type"], "requests");
    assert_eq!(error["code"], "rate_limit_exceeded");
    assert!(error["param"].is_null());

    let reply = server
        .post_with(path, &[("x-mock-status", "401")], &chat("x"))
        .await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.json()["error"]["code"], "invalid_api_key");

    let reply = server
        .post("/status=200/v1/chat/completions", &chat("x"))
        .await;
    assert_eq!(reply.status, 200);
    assert!(reply.header("retry-after").is_none());
}

#[tokio::test]
async fn fail_times_counts_per_path_and_key() {
    let server = Server::start(&[]);
    let path = "/t/ft/status=429/fail_times=2/v1/chat/completions";
    let body = chat("x").to_string();
    let as_key = |key: &'static str| [("authorization", key)];
    let mut statuses = Vec::new();
    for key in ["Bearer sk-1", "Bearer sk-1", "Bearer sk-1", "Bearer sk-2"] {
        statuses.push(server.send("POST", path, &as_key(key), &body).await.status);
    }
    assert_eq!(statuses, [429, 429, 200, 429]);
    let healed = server
        .send("POST", path, &as_key("Bearer sk-1"), &body)
        .await;
    assert_eq!(
        healed.json()["choices"][0]["message"]["content"],
        "Mock reply to: x"
    );

    server.send("POST", "/__mock/reset", &[], "").await;
    let again = server
        .send("POST", path, &as_key("Bearer sk-1"), &body)
        .await;
    assert_eq!(again.status, 429);
}

#[tokio::test]
async fn reset_closes_the_connection_without_a_response() {
    let server = Server::start(&[]);
    let path = "/t/r/fault=reset/v1/chat/completions";
    let raw = server.raw("POST", path, &[], &chat("x").to_string()).await;
    assert!(
        raw.bytes.is_empty(),
        "got {:?}",
        String::from_utf8_lossy(&raw.bytes)
    );
    assert!(raw.reset, "expected a connection reset");
    // Also from a header, and the server keeps serving afterwards.
    let raw = server
        .raw(
            "POST",
            CHAT,
            &[("x-mock-fault", "reset")],
            &chat("x").to_string(),
        )
        .await;
    assert!(raw.bytes.is_empty());
    assert_eq!(server.post(CHAT, &chat("x")).await.status, 200);
    let count = server.get_json(&format!("/__mock/calls?path={path}")).await;
    assert_eq!(count["count"], 1);
}

#[tokio::test]
async fn cut_stream_ends_without_done() {
    let server = Server::start(&[]);
    let path = "/fault=cut/cut_after=1/v1/chat/completions";
    let reply = server.post(path, &stream_chat("one two three", true)).await;
    assert_eq!(reply.status, 200);
    assert!(!reply.complete, "the chunked body must not be terminated");
    let events = reply.events();
    assert_eq!(events.len(), 2, "role chunk + 1 content chunk: {events:?}");
    assert!(!reply.text().contains("[DONE]"));
    for event in events {
        serde_json::from_str::<Value>(&event).unwrap();
    }

    // Default cut_after is 2.
    let reply = server
        .send(
            "POST",
            CHAT,
            &[("x-mock-fault", "cut")],
            &stream_chat("a b", false).to_string(),
        )
        .await;
    assert_eq!(reply.events().len(), 3);
    assert!(!reply.complete);
}

#[tokio::test]
async fn cut_json_sends_less_than_its_content_length() {
    let server = Server::start(&[]);
    let reply = server
        .post("/fault=cut/v1/chat/completions", &chat("x"))
        .await;
    assert_eq!(reply.status, 200);
    let declared: usize = reply.header("content-length").unwrap().parse().unwrap();
    assert!(reply.body.len() < declared);
    assert!(!reply.complete);
}

/// Reads from `stream` until `needle` has been seen `times` times; returns
/// the bytes read.
async fn read_until(stream: &mut TcpStream, needle: &[u8], times: usize) -> Vec<u8> {
    let mut bytes = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    while bytes.windows(needle.len()).filter(|w| *w == needle).count() < times {
        let n = stream.read(&mut buf).await.unwrap();
        assert!(
            n > 0,
            "closed early after {:?}",
            String::from_utf8_lossy(&bytes)
        );
        bytes.extend_from_slice(&buf[..n]);
    }
    bytes
}

/// Sends a raw POST and keeps the connection open (no `connection: close`).
async fn open_post(addr: &str, path: &str, body: &Value) -> TcpStream {
    let body = body.to_string();
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "POST {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    stream
}

/// Asserts that nothing more arrives for a while and the connection stays
/// open. A slow machine can only make this pass more easily, never fail.
async fn assert_silent(stream: &mut TcpStream) {
    let mut buf = [0u8; 1024];
    let read = tokio::time::timeout(Duration::from_millis(300), stream.read(&mut buf)).await;
    match read {
        Err(_) => {}
        Ok(Ok(n)) => panic!(
            "expected silence, got {n} bytes: {:?}",
            String::from_utf8_lossy(&buf[..n])
        ),
        Ok(Err(e)) => panic!("expected silence, the connection failed: {e}"),
    }
}

#[tokio::test]
async fn stall_stream_falls_silent_without_done() {
    let server = Server::start(&[]);
    let path = "/t/st/fault=stall/cut_after=1/v1/chat/completions";
    let mut stream = open_post(&server.addr, path, &stream_chat("one two three", false)).await;
    // The role chunk and one content chunk arrive, then nothing: no further
    // event, no terminating chunk, no close.
    let seen = read_until(&mut stream, b"\n\n", 2).await;
    let text = String::from_utf8_lossy(&seen);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(
        !text.contains("[DONE]") && !text.contains("\r\n0\r\n"),
        "{text}"
    );
    assert_silent(&mut stream).await;
    // The server keeps serving others meanwhile.
    assert_eq!(server.post(CHAT, &chat("x")).await.status, 200);
}

#[tokio::test]
async fn stall_json_sends_half_its_content_length_then_nothing() {
    let server = Server::start(&[]);
    let mut stream = open_post(&server.addr, "/fault=stall/v1/chat/completions", &chat("x")).await;
    let head = read_until(&mut stream, b"\r\n\r\n", 1).await;
    let text = String::from_utf8_lossy(&head).into_owned();
    let declared: usize = text
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse().unwrap())
        })
        .expect("a content-length");
    let body_start = text.find("\r\n\r\n").unwrap() + 4;
    let mut body = head[body_start..].to_vec();
    // Half the body arrives (possibly in a later read), never the rest.
    let mut buf = [0u8; 4096];
    while body.len() < declared / 2 {
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0, "closed early");
        body.extend_from_slice(&buf[..n]);
    }
    assert_eq!(body.len(), declared / 2);
    assert_silent(&mut stream).await;
}

#[tokio::test]
async fn fail_every_fails_one_call_in_n_per_path_and_key() {
    let server = Server::start(&[]);
    let path = "/t/fe/status=503/fail_every=2/v1/chat/completions";
    let body = chat("x").to_string();
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(server.send("POST", path, &[], &body).await.status);
    }
    assert_eq!(statuses, [503, 200, 503, 200, 503]);
    let other_key = server
        .send("POST", path, &[("authorization", "Bearer sk-2")], &body)
        .await;
    assert_eq!(other_key.status, 503, "the count is per (path, key)");
}

#[tokio::test]
async fn malformed_json_and_stream() {
    let server = Server::start(&["--fault", "malformed"]);
    let reply = server.post(CHAT, &chat("x")).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert!(reply.complete);
    assert!(serde_json::from_slice::<Value>(&reply.body).is_err());

    let reply = server.post(CHAT, &stream_chat("x y", false)).await;
    assert!(reply.complete);
    let events = reply.events();
    assert!(serde_json::from_str::<Value>(&events[0]).is_ok());
    assert!(serde_json::from_str::<Value>(&events[1]).is_err());
    assert_eq!(events.last().unwrap(), "[DONE]");

    // A header overrides the start-up default.
    let reply = server
        .post_with(CHAT, &[("x-mock-fault", "none")], &chat("x"))
        .await;
    reply.json();
}

#[tokio::test]
async fn ledger_counts_and_keeps_the_last_request() {
    let server = Server::start(&[]);
    let a = "/t/ledger-a/v1/chat/completions";
    let b = "/t/ledger-b/latency_ms=1/v1/chat/completions";
    let body = chat("x").to_string();
    server
        .send("POST", a, &[("authorization", "Bearer sk-1")], &body)
        .await;
    server
        .send("POST", a, &[("x-api-key", "sk-2")], &body)
        .await;
    server
        .send("POST", b, &[("api-key", "sk-1"), ("x-trace", "t1")], &body)
        .await;
    server
        .send("GET", "/t/ledger-b/v1/models?x=1", &[], "")
        .await;
    // Not counted: not under an API root.
    server.send("GET", "/health", &[], "").await;

    let all = server.get_json("/__mock/calls").await;
    assert_eq!(all["total"], 4);
    assert_eq!(all["by_path"][a], 2);
    assert_eq!(all["by_path"][b], 1);
    assert_eq!(all["by_key"]["sk-1"], 2);
    assert_eq!(all["by_key"]["-"], 1);
    assert_eq!(all["by_path_key"][format!("{a} sk-2")], 1);

    let one = server.get_json(&format!("/__mock/calls?path={a}")).await;
    assert_eq!(one, json!({"path": a, "count": 2}));
    let encoded = a.replace('/', "%2F");
    let one = server
        .get_json(&format!("/__mock/calls?path={encoded}&key=sk-1"))
        .await;
    assert_eq!(one["count"], 1);
    let prefix = server.get_json("/__mock/calls?prefix=/t/ledger-").await;
    assert_eq!(prefix["count"], 4);
    let prefix = server.get_json("/__mock/calls?prefix=/t/ledger-b").await;
    assert_eq!(prefix["count"], 2);

    let last = server.get_json(&format!("/__mock/last?path={b}")).await;
    assert_eq!(last["method"], "POST");
    assert_eq!(last["path"], b);
    assert_eq!(last["key"], "sk-1");
    assert_eq!(last["headers"]["x-trace"], "t1");
    assert_eq!(last["headers"]["content-type"], "application/json");
    assert_eq!(last["body"], body);
    let last = server
        .get_json("/__mock/last?path=/t/ledger-b/v1/models")
        .await;
    assert_eq!(last["query"], "x=1");
    let missing = server
        .send("GET", "/__mock/last?path=/nope/v1/x", &[], "")
        .await;
    assert_eq!(missing.status, 404);

    let reset = server.send("POST", "/__mock/reset", &[], "").await;
    assert_eq!(reset.status, 200);
    let all = server.get_json("/__mock/calls").await;
    assert_eq!(all["total"], 0);
    assert_eq!(all["by_path"], json!({}));
    // Reply ids restart too.
    assert_eq!(
        server.post(a, &chat("x")).await.json()["id"],
        "chatcmpl-mock-1"
    );
}

#[tokio::test]
async fn mistakes_are_visible() {
    let server = Server::start(&[]);
    let reply = server
        .post("/status=abc/v1/chat/completions", &chat("x"))
        .await;
    assert_eq!(reply.status, 400);
    let message = reply.json()["error"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(message.contains("status=abc"), "{message}");

    let reply = server
        .post_with(CHAT, &[("x-mock-latncy-ms", "5")], &chat("x"))
        .await;
    assert_eq!(reply.status, 400);
    assert!(reply.text().contains("latncy-ms"));

    let reply = server.send("POST", CHAT, &[], "{not json").await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.json()["error"]["type"], "invalid_request_error");
    let reply = server.post(CHAT, &json!({"messages": []})).await;
    assert_eq!(reply.status, 400);
    let reply = server.post(CHAT, &json!({"model": "m"})).await;
    assert_eq!(reply.status, 400);

    assert_eq!(server.send("GET", CHAT, &[], "").await.status, 405);
    assert_eq!(
        server
            .send("POST", "/v1/completions", &[], "{}")
            .await
            .status,
        404
    );
    let reply = server.send("GET", "/nowhere", &[], "").await;
    assert_eq!(reply.status, 404);
    assert!(reply.json()["error"]["message"].is_string());
}

#[tokio::test]
async fn health_and_models() {
    let server = Server::start(&[]);
    let health = server.send("GET", "/health", &[], "").await;
    assert_eq!((health.status, health.text().as_str()), (200, "ok"));
    let models = server.get_json("/t/m/v1/models").await;
    assert_eq!(models["object"], "list");
    assert!(models["data"].as_array().unwrap().len() >= 2);
    assert_eq!(models["data"][0]["object"], "model");
}

#[tokio::test]
async fn keep_alive_serves_several_requests_on_one_connection() {
    let server = Server::start(&[]);
    let body = chat("x").to_string();
    let one = format!(
        "POST {CHAT} HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let last = format!(
        "POST {CHAT} HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut stream = TcpStream::connect(&server.addr).await.unwrap();
    stream
        .write_all(format!("{one}{one}{last}").as_bytes())
        .await
        .unwrap();
    let raw = read_to_close(&mut stream).await;
    let text = String::from_utf8_lossy(&raw.bytes);
    assert_eq!(text.matches("HTTP/1.1 200 OK").count(), 3, "{text}");
}

#[tokio::test]
async fn delays_are_honoured() {
    let server = Server::start(&[]);
    let body = stream_chat("a b c", false).to_string();

    let start = Instant::now();
    let reply = server
        .post_with("/latency_ms=120/v1/chat/completions", &[], &chat("x"))
        .await;
    assert_eq!(reply.status, 200);
    assert!(start.elapsed() >= Duration::from_millis(120));

    // chunks=2: role, 2 content, finish, [DONE] = 4 gaps of 40 ms.
    let start = Instant::now();
    let reply = server
        .send(
            "POST",
            "/chunk_delay_ms=40/chunks=2/v1/chat/completions",
            &[],
            &body,
        )
        .await;
    assert_eq!(reply.events().len(), 5);
    assert!(start.elapsed() >= Duration::from_millis(160));

    // ttfb: the head arrives on its own, the body only after the delay.
    let mut stream = TcpStream::connect(&server.addr).await.unwrap();
    let request = format!(
        "POST {CHAT} HTTP/1.1\r\nhost: x\r\nconnection: close\r\nx-mock-ttfb-ms: 300\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let start = Instant::now();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut head = vec![0u8; 4096];
    let n = stream.read(&mut head).await.unwrap();
    let head = String::from_utf8_lossy(&head[..n]).into_owned();
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    assert!(
        !head.contains("data:"),
        "the first chunk came with the head: {head}"
    );
    let rest = read_to_close(&mut stream).await;
    assert!(start.elapsed() >= Duration::from_millis(300));
    assert!(String::from_utf8_lossy(&rest.bytes).contains("data: [DONE]"));
}

#[test]
fn sigterm_exits_cleanly() {
    let mut server = Server::start(&[]);
    let status = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = server.child.wait().unwrap();
    assert!(exit.success(), "{exit:?}");
}

#[test]
fn exits_when_stdin_closes() {
    // `start` checks the `listening on` line before it returns.
    let mut server = Server::start(&["--exit-with-stdin"]);
    drop(server.child.stdin.take());
    let exit = server.child.wait().unwrap();
    assert!(exit.success(), "{exit:?}");
}

#[test]
fn help_prints_usage() {
    let out = Command::new(env!("CARGO_BIN_EXE_mock-provider"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("--fail-times"), "{text}");
    let out = Command::new(env!("CARGO_BIN_EXE_mock-provider"))
        .args(["--status", "nope"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
