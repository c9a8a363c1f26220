//! End-to-end tests of the mock-provider's Gemini wire format: the real
//! binary on port 0, a minimal raw HTTP/1.1 client (copied from
//! `server.rs`).

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
    fn start() -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mock-provider"))
            .args(["--port", "0", "--workers", "1"])
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

    /// Sends one request with `connection: close` and reads until the
    /// server closes the connection.
    async fn send(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Reply {
        let mut stream = TcpStream::connect(&self.addr).await.unwrap();
        let mut request = format!(
            "{method} {path} HTTP/1.1\r\nhost: {}\r\nconnection: close\r\ncontent-length: {}\r\ncontent-type: application/json\r\n",
            self.addr,
            body.len()
        );
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        request.push_str(body);
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut bytes = Vec::new();
        let _ = stream.read_to_end(&mut bytes).await;
        Reply::parse(&bytes)
    }

    async fn post(&self, path: &str, headers: &[(&str, &str)], body: &Value) -> Reply {
        self.send("POST", path, headers, &body.to_string()).await
    }

    async fn get_json(&self, path: &str) -> Value {
        self.send("GET", path, &[], "").await.json()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A parsed HTTP/1.1 response.
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// Whether the body ended as its framing says.
    complete: bool,
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

impl Reply {
    fn parse(bytes: &[u8]) -> Reply {
        let end = find(bytes, b"\r\n\r\n").expect("a complete response head");
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
        let headers = lines
            .map(|l| {
                let (n, v) = l.split_once(':').unwrap();
                (n.trim().to_ascii_lowercase(), v.trim().to_owned())
            })
            .collect();
        let mut reply = Reply {
            status,
            headers,
            body: Vec::new(),
            complete: false,
        };
        let mut rest = &bytes[end + 4..];
        if reply.header("transfer-encoding") == Some("chunked") {
            while let Some(line_end) = find(rest, b"\r\n") {
                let size =
                    usize::from_str_radix(std::str::from_utf8(&rest[..line_end]).unwrap(), 16)
                        .unwrap();
                if size == 0 {
                    reply.complete = true;
                    break;
                }
                let data = &rest[line_end + 2..];
                reply.body.extend_from_slice(&data[..size.min(data.len())]);
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

    /// The SSE events of the body: (`event:` name, `data:`).
    fn events(&self) -> Vec<(Option<String>, String)> {
        let text = self.text().replace("\r\n", "\n");
        assert!(text.ends_with("\n\n"), "SSE body ends mid-event: {text:?}");
        text.split_terminator("\n\n")
            .map(|e| {
                let mut name = None;
                let mut data = String::new();
                for line in e.lines() {
                    if let Some(n) = line.strip_prefix("event: ") {
                        name = Some(n.to_owned());
                    } else if let Some(d) = line.strip_prefix("data: ") {
                        data.push_str(d);
                    } else {
                        panic!("unexpected SSE line {line:?}");
                    }
                }
                (name, data)
            })
            .collect()
    }
}

const GENERATE: &str = "/v1beta/models/gemini-2.0-flash:generateContent";
const STREAM: &str = "/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse";
const KEY: (&str, &str) = ("x-goog-api-key", "AIza-test");

fn generate(text: &str) -> Value {
    json!({
        "systemInstruction": { "parts": [{ "text": "You are terse." }] },
        "contents": [
            { "role": "user", "parts": [{ "text": "earlier question" }] },
            { "role": "model", "parts": [{ "text": "earlier answer" }] },
            { "role": "user", "parts": [{ "text": text }] }
        ]
    })
}

fn text_of(response: &Value) -> String {
    response["candidates"][0]["content"]["parts"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn json_reply_has_the_gemini_shape() {
    let server = Server::start();
    let reply = server
        .post(GENERATE, &[KEY], &generate("hello there"))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.header("content-type"), Some("application/json"));
    let v = reply.json();
    assert_eq!(text_of(&v), "Mock reply to: hello there");
    assert_eq!(v["candidates"][0]["content"]["role"], "model");
    assert_eq!(v["candidates"][0]["finishReason"], "STOP");
    assert_eq!(v["modelVersion"], "gemini-2.0-flash");
    assert_eq!(v["responseId"], "gemini-mock-1");
    // 3 (system) + 2 + 2 + 2 words; 5 in the reply.
    assert_eq!(
        v["usageMetadata"],
        json!({ "promptTokenCount": 9, "candidatesTokenCount": 5, "totalTokenCount": 14 })
    );
    // The ledger counts it under the Google key.
    let count = server
        .get_json(
            "/__mock/calls?path=/v1beta/models/gemini-2.0-flash:generateContent&key=AIza-test",
        )
        .await;
    assert_eq!(count["count"], 1);
}

#[tokio::test]
async fn stream_pieces_concatenate_and_the_last_event_finishes() {
    let server = Server::start();
    let reply = server
        .post(
            STREAM,
            &[KEY, ("x-mock-chunks", "3")],
            &generate("héllo wörld"),
        )
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("text/event-stream"));
    assert!(reply.complete);
    assert!(
        reply.text().contains("\r\n\r\n"),
        "Gemini frames end in CRLF CRLF"
    );
    let events: Vec<Value> = reply
        .events()
        .iter()
        .map(|(_, d)| serde_json::from_str(d).unwrap())
        .collect();
    assert_eq!(events.len(), 4);
    let text: String = events.iter().map(text_of).collect();
    assert_eq!(text, "Mock reply to: héllo wörld");
    assert!(events[..3]
        .iter()
        .all(|e| e["candidates"][0].get("finishReason").is_none()));
    assert_eq!(events[3]["candidates"][0]["finishReason"], "STOP");
    assert_eq!(events[3]["usageMetadata"]["candidatesTokenCount"], 5);
    assert_eq!(events[0]["responseId"], "gemini-mock-1");
}

#[tokio::test]
async fn tools_and_images() {
    let server = Server::start();
    let mut body = generate("please use the tool now");
    body["tools"] =
        json!([{ "functionDeclarations": [{ "name": "lookup" }, { "name": "other" }] }]);
    let v = server.post(GENERATE, &[KEY], &body).await.json();
    assert_eq!(
        v["candidates"][0]["content"]["parts"],
        json!([{ "functionCall": { "name": "lookup", "args": { "input": "please use the tool now" } } }])
    );
    assert_eq!(v["candidates"][0]["finishReason"], "STOP");

    // Streamed: the call, then the finishing event.
    let reply = server.post(STREAM, &[KEY], &body).await;
    let events: Vec<Value> = reply
        .events()
        .iter()
        .map(|(_, d)| serde_json::from_str(d).unwrap())
        .collect();
    assert_eq!(events.len(), 2);
    assert_eq!(
        events[0]["candidates"][0]["content"]["parts"][0]["functionCall"]["name"],
        "lookup"
    );
    assert_eq!(events[1]["candidates"][0]["finishReason"], "STOP");

    // Without the word, a text reply.
    body["contents"][2]["parts"][0]["text"] = json!("no tools here");
    assert_eq!(
        text_of(&server.post(GENERATE, &[KEY], &body).await.json()),
        "Mock reply to: no tools here"
    );

    let body = json!({ "contents": [{ "role": "user", "parts": [
        { "text": "what are these?" },
        { "inlineData": { "mimeType": "image/png", "data": "iVBORw0KGgo=" } },
        { "file_data": { "file_uri": "https://example.com/a.jpg", "mime_type": "image/jpeg" } }
    ] }] });
    let v = server.post(GENERATE, &[KEY], &body).await.json();
    assert_eq!(text_of(&v), "Mock reply to: what are these? [images: 2]");
}

#[tokio::test]
async fn tool_results_do_not_hide_the_user_text() {
    let server = Server::start();
    let body = json!({ "contents": [
        { "role": "user", "parts": [{ "text": "weather in Paris?" }] },
        { "role": "model", "parts": [{ "functionCall": { "name": "w", "args": {} } }] },
        { "role": "user", "parts": [{ "functionResponse": { "name": "w", "response": { "t": 21 } } }] }
    ] });
    assert_eq!(
        text_of(&server.post(GENERATE, &[KEY], &body).await.json()),
        "Mock reply to: weather in Paris?"
    );
}

#[tokio::test]
async fn embeddings_are_deterministic() {
    let server = Server::start();
    let path = "/v1beta/models/text-embedding-004:batchEmbedContents";
    let one = |text: &str| json!({ "model": "models/text-embedding-004", "content": { "parts": [{ "text": text }] } });
    let body = json!({ "requests": [one("alpha"), one("beta")] });
    let v = server.post(path, &[KEY], &body).await.json();
    let vectors = v["embeddings"].as_array().unwrap();
    assert_eq!(vectors.len(), 2);
    assert_eq!(vectors[0]["values"].as_array().unwrap().len(), 8);
    assert_ne!(vectors[0], vectors[1]);
    assert_eq!(server.post(path, &[KEY], &body).await.json(), v);

    let mut sized = one("alpha");
    sized["outputDimensionality"] = json!(3);
    let v3 = server
        .post(path, &[KEY], &json!({ "requests": [sized] }))
        .await
        .json();
    assert_eq!(
        v3["embeddings"][0]["values"].as_array().unwrap()[..],
        vectors[0]["values"].as_array().unwrap()[..3]
    );

    let bad = server.post(path, &[KEY], &json!({ "nope": 1 })).await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.json()["error"]["status"], "INVALID_ARGUMENT");
}

#[tokio::test]
async fn status_directives_answer_with_google_errors() {
    let server = Server::start();
    for (status, google) in [
        (429, "RESOURCE_EXHAUSTED"),
        (503, "UNAVAILABLE"),
        (500, "INTERNAL"),
        (404, "NOT_FOUND"),
        (403, "PERMISSION_DENIED"),
    ] {
        let path = format!("/status={status}/v1beta/models/m:generateContent");
        let reply = server.post(&path, &[KEY], &generate("x")).await;
        assert_eq!(reply.status, status);
        let v = reply.json();
        assert_eq!(v["error"]["code"], status);
        assert_eq!(v["error"]["status"], google);
        assert!(v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("simulated"));
    }
    let reply = server
        .post(STREAM, &[KEY, ("x-mock-status", "401")], &generate("x"))
        .await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.json()["error"]["status"], "UNAUTHENTICATED");
    // Retry hints ride along.
    let reply = server
        .post(
            "/status=429/retry_after=3/v1beta/models/m:generateContent",
            &[],
            &generate("x"),
        )
        .await;
    assert_eq!(reply.header("retry-after"), Some("3"));
}

#[tokio::test]
async fn cut_and_malformed_streams() {
    let server = Server::start();
    let reply = server
        .post(
            "/fault=cut/cut_after=1/v1beta/models/m:streamGenerateContent?alt=sse",
            &[KEY],
            &generate("one two three"),
        )
        .await;
    assert_eq!(reply.status, 200);
    assert!(!reply.complete, "a cut body is never terminated");
    let events = reply.events();
    assert_eq!(events.len(), 2);
    assert!(!reply.text().contains("finishReason"));

    let reply = server
        .post(
            "/fault=malformed/v1beta/models/m:streamGenerateContent",
            &[KEY],
            &generate("x y"),
        )
        .await;
    assert!(reply.complete);
    let events = reply.events();
    assert!(serde_json::from_str::<Value>(&events[0].1).is_ok());
    assert!(serde_json::from_str::<Value>(&events[1].1).is_err());
    let last: Value = serde_json::from_str(&events.last().unwrap().1).unwrap();
    assert_eq!(last["candidates"][0]["finishReason"], "STOP");

    let reply = server
        .post(
            "/fault=malformed/v1beta/models/m:generateContent",
            &[KEY],
            &generate("x"),
        )
        .await;
    assert!(serde_json::from_slice::<Value>(&reply.body).is_err());
}

#[tokio::test]
async fn bad_requests_and_routes() {
    let server = Server::start();
    let reply = server.send("POST", GENERATE, &[KEY], "{nope").await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.json()["error"]["status"], "INVALID_ARGUMENT");
    let reply = server
        .post(GENERATE, &[KEY], &json!({ "model": "x" }))
        .await;
    assert_eq!(reply.status, 400);
    assert!(reply.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("contents"));
    let reply = server.send("GET", GENERATE, &[KEY], "").await;
    assert_eq!(reply.status, 405);
    assert_eq!(reply.header("allow"), Some("POST"));
    let reply = server
        .post("/v1beta/models/m:countTokens", &[KEY], &generate("x"))
        .await;
    assert_eq!(reply.status, 404);
    // The OpenAI routes still answer under v1.
    let reply = server
        .post(
            "/v1/chat/completions",
            &[],
            &json!({ "model": "m", "messages": [{ "role": "user", "content": "hi" }] }),
        )
        .await;
    assert_eq!(
        reply.json()["choices"][0]["message"]["content"],
        "Mock reply to: hi"
    );
}
