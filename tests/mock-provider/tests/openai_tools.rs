//! The OpenAI mock's tools and images conventions and Azure OpenAI's
//! deployment paths, over real HTTP against the binary.

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

    /// POSTs `body` with `connection: close`; the status and the body (chunked decoded).
    async fn post(&self, path: &str, headers: &[(&str, &str)], body: &Value) -> (u16, String) {
        let body = body.to_string();
        let mut stream = TcpStream::connect(&self.addr).await.unwrap();
        let mut request = format!(
            "POST {path} HTTP/1.1\r\nhost: {}\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: {}\r\n",
            self.addr,
            body.len()
        );
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        request.push_str(&body);
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut raw = Vec::new();
        let _ = stream.read_to_end(&mut raw).await;
        let text = String::from_utf8_lossy(&raw).into_owned();
        let (head, rest) = text.split_once("\r\n\r\n").expect("a response head");
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        let chunked = head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked");
        (
            status,
            if chunked {
                dechunk(rest)
            } else {
                rest.to_owned()
            },
        )
    }

    async fn get(&self, path: &str) -> Value {
        let mut stream = TcpStream::connect(&self.addr).await.unwrap();
        let request = format!(
            "GET {path} HTTP/1.1\r\nhost: {}\r\nconnection: close\r\n\r\n",
            self.addr
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut raw = Vec::new();
        let _ = stream.read_to_end(&mut raw).await;
        let text = String::from_utf8_lossy(&raw).into_owned();
        let (_, body) = text.split_once("\r\n\r\n").unwrap();
        serde_json::from_str(body).unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if size == 0 || after.len() < size {
            out.push_str(&after[..size.min(after.len())]);
            break;
        }
        out.push_str(&after[..size]);
        rest = after[size..].strip_prefix("\r\n").unwrap_or(&after[size..]);
    }
    out
}

/// The JSON payloads of an SSE body, and whether it ended with `[DONE]`.
fn events(body: &str) -> (Vec<Value>, bool) {
    let mut done = false;
    let mut out = Vec::new();
    for event in body.split_terminator("\n\n") {
        match event.strip_prefix("data: ") {
            Some("[DONE]") => done = true,
            Some(data) => out.push(serde_json::from_str(data).unwrap()),
            None => panic!("not a data event: {event:?}"),
        }
    }
    (out, done)
}

const CHAT: &str = "/v1/chat/completions";

fn tools() -> Value {
    json!([
        {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}},
        {"type": "function", "function": {"name": "second"}}
    ])
}

fn with_tools(text: &str) -> Value {
    json!({"model": "mock-small", "tools": tools(), "messages": [
        {"role": "system", "content": "Use the tool if asked."},
        {"role": "user", "content": text}
    ]})
}

#[tokio::test]
async fn a_tool_word_with_tools_declared_calls_the_first_tool() {
    let server = Server::start();
    let (status, body) = server
        .post(CHAT, &[], &with_tools("Please call the tool now"))
        .await;
    assert_eq!(status, 200);
    let v: Value = serde_json::from_str(&body).unwrap();
    let choice = &v["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls");
    assert!(choice["message"]["content"].is_null());
    let calls = choice["message"]["tool_calls"].as_array().unwrap();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0]["id"], "call_mock_1");
    assert_eq!(calls[0]["type"], "function");
    assert_eq!(calls[0]["function"]["name"], "lookup");
    let arguments: Value =
        serde_json::from_str(calls[0]["function"]["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(arguments, json!({"input": "Please call the tool now"}));
    assert_eq!(v["usage"]["completion_tokens"], 5);
}

#[tokio::test]
async fn without_the_word_or_without_tools_the_reply_is_text() {
    let server = Server::start();
    let (_, body) = server
        .post(CHAT, &[], &with_tools("no tools here, toolbox"))
        .await;
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        v["choices"][0]["message"]["content"],
        "Mock reply to: no tools here, toolbox"
    );
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert!(v["choices"][0]["message"].get("tool_calls").is_none());
    let mut body = with_tools("use a tool");
    body.as_object_mut().unwrap().remove("tools");
    let (_, body) = server.post(CHAT, &[], &body).await;
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        v["choices"][0]["message"]["content"],
        "Mock reply to: use a tool"
    );
}

#[tokio::test]
async fn a_streamed_tool_call() {
    let server = Server::start();
    let mut body = with_tools("tool: weather in Paris");
    body["stream"] = json!(true);
    body["stream_options"] = json!({"include_usage": true});
    let (status, text) = server.post(CHAT, &[("x-mock-chunks", "3")], &body).await;
    assert_eq!(status, 200);
    let (events, done) = events(&text);
    assert!(done);
    // role, call start, 3 argument pieces, finish, usage
    assert_eq!(events.len(), 7, "{text}");
    assert_eq!(events[0]["choices"][0]["delta"]["role"], "assistant");
    let start = &events[1]["choices"][0]["delta"]["tool_calls"][0];
    assert_eq!(start["index"], 0);
    assert_eq!(start["id"], "call_mock_1");
    assert_eq!(start["type"], "function");
    assert_eq!(start["function"]["name"], "lookup");
    assert_eq!(start["function"]["arguments"], "");
    let arguments: String = events[2..5]
        .iter()
        .map(|e| {
            let call = &e["choices"][0]["delta"]["tool_calls"][0];
            assert_eq!(call["index"], 0);
            assert!(call.get("id").is_none());
            call["function"]["arguments"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(arguments, r#"{"input":"tool: weather in Paris"}"#);
    assert_eq!(events[5]["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(events[6]["choices"].as_array().unwrap().len(), 0);
    assert!(events[6]["usage"]["completion_tokens"].as_u64().unwrap() >= 1);
}

fn with_images(n: usize, stream: bool) -> Value {
    let mut parts = vec![json!({"type": "text", "text": "What are these?"})];
    for i in 0..n {
        let url = if i % 2 == 0 {
            "https://example.com/cat.png".to_owned()
        } else {
            "data:image/png;base64,iVBORw0KGgo=".to_owned()
        };
        parts.push(json!({"type": "image_url", "image_url": {"url": url}}));
    }
    json!({"model": "mock-small", "stream": stream, "messages": [
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://example.com/old.png"}}, {"type": "text", "text": "earlier"}]},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": parts}
    ]})
}

#[tokio::test]
async fn images_in_the_last_user_message_are_counted() {
    let server = Server::start();
    let (_, body) = server.post(CHAT, &[], &with_images(2, false)).await;
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        v["choices"][0]["message"]["content"],
        "Mock reply to: What are these? [images: 2]"
    );
    let (_, body) = server.post(CHAT, &[], &with_images(0, false)).await;
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        v["choices"][0]["message"]["content"],
        "Mock reply to: What are these?"
    );
    let (_, text) = server.post(CHAT, &[], &with_images(1, true)).await;
    let (events, done) = events(&text);
    assert!(done);
    let content: String = events
        .iter()
        .filter_map(|e| e["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(content, "Mock reply to: What are these? [images: 1]");
}

const AZURE: &str = "/openai/deployments/gpt4o-prod/chat/completions?api-version=2024-10-21";

#[tokio::test]
async fn azure_deployment_paths_reach_the_chat_handler() {
    let server = Server::start();
    // No model in the body: the deployment is the model.
    let body = json!({"messages": [{"role": "user", "content": "Hello Azure"}]});
    let (status, text) = server.post(AZURE, &[("api-key", "az-1")], &body).await;
    assert_eq!(status, 200, "{text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["model"], "gpt4o-prod");
    assert_eq!(
        v["choices"][0]["message"]["content"],
        "Mock reply to: Hello Azure"
    );
    // Counted in the ledger under its path, with its key.
    let count = server
        .get("/__mock/calls?path=/openai/deployments/gpt4o-prod/chat/completions&key=az-1")
        .await;
    assert_eq!(count["count"], 1);
    let last = server
        .get("/__mock/last?path=/openai/deployments/gpt4o-prod/chat/completions")
        .await;
    assert_eq!(last["query"], "api-version=2024-10-21");
    // Tools work there too.
    let (_, text) = server.post(AZURE, &[], &with_tools("tool")).await;
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");
}

#[tokio::test]
async fn azure_paths_take_directives_and_faults() {
    let server = Server::start();
    let body = json!({"messages": [{"role": "user", "content": "x"}], "stream": true});
    let (status, text) = server
        .post(&format!("/t/az/status=429{AZURE}"), &[], &body)
        .await;
    assert_eq!(status, 429);
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["error"]["code"], "rate_limit_exceeded");
    let (status, text) = server.post(&format!("/fault=cut{AZURE}"), &[], &body).await;
    assert_eq!(status, 200);
    assert!(!text.contains("[DONE]"));
    // Not a deployment path: still a 404.
    let (status, _) = server.post("/openai/chat/completions", &[], &body).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn embeddings_are_one_deterministic_vector_per_input() {
    let server = Server::start();
    let body = json!({"model": "emb", "input": ["one", "two words"], "dimensions": 4});
    let (status, text) = server.post("/v1/embeddings", &[], &body).await;
    assert_eq!(status, 200, "{text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["object"], "list");
    let data = v["data"].as_array().unwrap();
    assert_eq!(data.len(), 2);
    assert_eq!(data[1]["index"], 1);
    assert_eq!(data[0]["embedding"].as_array().unwrap().len(), 4);
    assert_eq!(v["usage"]["prompt_tokens"], 3);
    let (_, again) = server.post("/v1/embeddings", &[], &body).await;
    assert_eq!(serde_json::from_str::<Value>(&again).unwrap()["data"], v["data"]);
    let (status, _) = server.post("/v1/embeddings", &[], &json!({"model": "emb", "input": 5})).await;
    assert_eq!(status, 400);
}
