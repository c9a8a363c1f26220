//! End-to-end tests of the mock-provider binary's Anthropic Messages
//! format (`POST …/v1/messages`): each test starts the real binary on port 0
//! and talks to it with a minimal raw HTTP/1.1 client (the helpers are a
//! copy of `server.rs`'s).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

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

    /// The events of an SSE body: (`event:` name, parsed `data:`); a data
    /// that is not JSON is `Value::Null`.
    fn events(&self) -> Vec<(String, Value)> {
        self.text()
            .split_terminator("\n\n")
            .map(|e| {
                let (head, data) = e.split_once('\n').expect("an event: line, then data");
                let name = head
                    .strip_prefix("event: ")
                    .expect("named events")
                    .to_owned();
                let data = data.strip_prefix("data: ").expect("one data line");
                (name, serde_json::from_str(data).unwrap_or(Value::Null))
            })
            .collect()
    }
}

const MESSAGES: &str = "/v1/messages";
const AUTH: [(&str, &str); 2] = [
    ("x-api-key", "sk-ant-mock"),
    ("anthropic-version", "2023-06-01"),
];

fn request(text: &str) -> Value {
    json!({"model": "claude-mock", "max_tokens": 64, "system": "You are terse.", "messages": [
        {"role": "user", "content": text},
    ]})
}

fn stream_request(text: &str) -> Value {
    let mut body = request(text);
    body["stream"] = json!(true);
    body
}

impl Server {
    async fn messages(&self, path: &str, extra: &[(&str, &str)], body: &Value) -> Reply {
        let mut headers = AUTH.to_vec();
        headers.extend_from_slice(extra);
        self.post_with(path, &headers, body).await
    }
}

fn names(events: &[(String, Value)]) -> Vec<&str> {
    events.iter().map(|(name, _)| name.as_str()).collect()
}

#[tokio::test]
async fn json_reply_has_the_anthropic_shape() {
    let server = Server::start(&[]);
    let reply = server
        .messages(MESSAGES, &[], &request("hello there"))
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(
        reply.json(),
        json!({
            "id": "msg_mock_1",
            "type": "message",
            "role": "assistant",
            "model": "claude-mock",
            "content": [{"type": "text", "text": "Mock reply to: hello there"}],
            "stop_reason": "end_turn",
            "stop_sequence": null,
            "usage": {"input_tokens": 5, "output_tokens": 5}
        })
    );
    let again = server
        .messages("/t/x/v1/messages/", &[], &request("x"))
        .await;
    assert_eq!(again.json()["id"], "msg_mock_2");
}

#[tokio::test]
async fn stream_has_the_anthropic_event_sequence() {
    let server = Server::start(&[]);
    let reply = server
        .messages(
            MESSAGES,
            &[("x-mock-chunks", "3")],
            &stream_request("héllo wörld"),
        )
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("text/event-stream"));
    assert_eq!(reply.header("cache-control"), Some("no-cache"));
    assert!(reply.complete);
    let events = reply.events();
    assert_eq!(
        names(&events),
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
        assert_eq!(data["type"], name.as_str(), "{name}");
    }
    assert_eq!(events[0].1["message"]["id"], "msg_mock_1");
    assert_eq!(events[0].1["message"]["usage"]["input_tokens"], 5);
    let text: String = events[3..6]
        .iter()
        .map(|(_, d)| d["delta"]["text"].as_str().unwrap())
        .collect();
    assert_eq!(text, "Mock reply to: héllo wörld");
    assert_eq!(events[7].1["delta"]["stop_reason"], "end_turn");
    assert_eq!(events[7].1["usage"]["output_tokens"], 5);
}

#[tokio::test]
async fn tools_and_images_follow_the_common_conventions() {
    let server = Server::start(&[]);
    let body = json!({
        "model": "claude-mock", "max_tokens": 64,
        "tools": [{"name": "get_weather", "input_schema": {"type": "object"}}],
        "messages": [{"role": "user", "content": [
            {"type": "text", "text": "call a tool on this"},
            {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}}
        ]}]
    });
    let v = server.messages(MESSAGES, &[], &body).await.json();
    assert_eq!(v["stop_reason"], "tool_use");
    assert_eq!(v["content"][0]["name"], "get_weather");
    assert_eq!(
        v["content"][0]["input"],
        json!({"input": "call a tool on this"})
    );

    let mut plain = body.clone();
    plain.as_object_mut().unwrap().remove("tools");
    let v = server.messages(MESSAGES, &[], &plain).await.json();
    assert_eq!(
        v["content"][0]["text"],
        "Mock reply to: call a tool on this [images: 1]"
    );

    let mut streamed = body;
    streamed["stream"] = json!(true);
    let events = server.messages(MESSAGES, &[], &streamed).await.events();
    assert_eq!(events[1].1["content_block"]["type"], "tool_use");
    let json: String = events
        .iter()
        .filter(|(name, _)| name == "content_block_delta")
        .map(|(_, d)| d["delta"]["partial_json"].as_str().unwrap())
        .collect();
    assert_eq!(
        serde_json::from_str::<Value>(&json).unwrap(),
        json!({"input": "call a tool on this"})
    );
}

#[tokio::test]
async fn status_directives_answer_with_anthropic_error_bodies() {
    let server = Server::start(&[]);
    for (path, status, kind) in [
        ("/status=429/v1/messages", 429, "rate_limit_error"),
        ("/status=529/v1/messages", 529, "overloaded_error"),
        ("/status=400/v1/messages", 400, "invalid_request_error"),
        ("/status=401/v1/messages", 401, "authentication_error"),
        ("/status=500/v1/messages", 500, "api_error"),
    ] {
        let reply = server.messages(path, &[], &request("x")).await;
        assert_eq!(reply.status, status, "{path}");
        let v = reply.json();
        assert_eq!(v["type"], "error");
        assert_eq!(v["error"]["type"], kind, "{path}");
        assert!(v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("mock-provider"));
    }
    // A status wins over validation; fail_times heals.
    let reply = server.post("/status=429/v1/messages", &json!({})).await;
    assert_eq!(reply.status, 429);
    let path = "/t/heal/status=529/fail_times=1/v1/messages";
    assert_eq!(
        server
            .messages(path, &[("x-mock-retry-after", "2")], &request("x"))
            .await
            .status,
        529
    );
    assert_eq!(server.messages(path, &[], &request("x")).await.status, 200);
}

#[tokio::test]
async fn missing_headers_and_bad_bodies_are_refused_like_anthropic() {
    let server = Server::start(&[]);
    let reply = server
        .post_with(
            MESSAGES,
            &[("anthropic-version", "2023-06-01")],
            &request("x"),
        )
        .await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.json()["error"]["type"], "authentication_error");
    let reply = server
        .post_with(MESSAGES, &[("x-api-key", "k")], &request("x"))
        .await;
    assert_eq!(reply.status, 400);
    assert!(reply.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("anthropic-version"));
    let mut no_max = request("x");
    no_max.as_object_mut().unwrap().remove("max_tokens");
    let reply = server.messages(MESSAGES, &[], &no_max).await;
    assert_eq!(reply.status, 400);
    assert_eq!(
        reply.json()["error"]["message"],
        "max_tokens: Field required"
    );
    let reply = server.send("GET", MESSAGES, &AUTH, "").await;
    assert_eq!(reply.status, 405);
    assert_eq!(reply.header("allow"), Some("POST"));
}

#[tokio::test]
async fn cut_stream_ends_before_message_stop() {
    let server = Server::start(&[]);
    let reply = server
        .messages(
            "/fault=cut/cut_after=3/v1/messages",
            &[],
            &stream_request("one two"),
        )
        .await;
    assert_eq!(reply.status, 200);
    assert!(!reply.complete, "the chunked body must not be terminated");
    let events = reply.events();
    assert_eq!(
        names(&events),
        [
            "message_start",
            "content_block_start",
            "ping",
            "content_block_delta"
        ]
    );
    assert!(!reply.text().contains("message_stop"));
}

#[tokio::test]
async fn malformed_stream_has_an_event_that_is_not_json() {
    let server = Server::start(&["--fault", "malformed"]);
    let reply = server.messages(MESSAGES, &[], &stream_request("x y")).await;
    assert!(reply.complete);
    let events = reply.events();
    assert_eq!(events[0].0, "message_start");
    assert_eq!(events[1], ("content_block_delta".to_string(), Value::Null));
    assert_eq!(events.last().unwrap().0, "message_stop");
    let reply = server.messages(MESSAGES, &[], &request("x")).await;
    assert!(serde_json::from_slice::<Value>(&reply.body).is_err());
}

#[tokio::test]
async fn the_ledger_counts_messages_calls_by_api_key() {
    let server = Server::start(&[]);
    server
        .messages("/t/led/v1/messages", &[], &request("x"))
        .await;
    server
        .messages("/t/led/v1/messages", &[], &request("y"))
        .await;
    let count = server
        .get_json("/__mock/calls?path=/t/led/v1/messages&key=sk-ant-mock")
        .await;
    assert_eq!(count["count"], 2);
    let last = server
        .get_json("/__mock/last?path=/t/led/v1/messages")
        .await;
    assert_eq!(last["headers"]["anthropic-version"], "2023-06-01");
}
