//! End-to-end tests of the mock's Bedrock Converse / ConverseStream format:
//! each test starts the real binary on port 0 and talks to it with a
//! minimal raw HTTP/1.1 client that keeps the body's chunk boundaries, and
//! reads event-stream bodies with the gateway's own frame reader.

#[allow(dead_code)]
#[path = "../../../src/provider/bedrock/eventstream.rs"]
mod eventstream;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
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

    /// Sends one request with `connection: close` and reads until the
    /// server closes (or resets) the connection.
    async fn send(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
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
        let mut bytes = request.into_bytes();
        bytes.extend_from_slice(body);
        stream.write_all(&bytes).await.unwrap();
        let mut raw = Vec::new();
        let mut buf = [0u8; 16 * 1024];
        let reset = loop {
            match stream.read(&mut buf).await {
                Ok(0) => break false,
                Ok(n) => raw.extend_from_slice(&buf[..n]),
                Err(_) => break true,
            }
        };
        Reply::parse(&raw, reset)
    }

    /// POSTs `body` with a bearer key.
    async fn post(&self, path: &str, body: &Value) -> Reply {
        self.send(
            "POST",
            path,
            &[("authorization", "Bearer br-test")],
            body.to_string().as_bytes(),
        )
        .await
    }

    async fn get_json(&self, path: &str) -> Value {
        let reply = self.send("GET", path, &[], b"").await;
        assert_eq!(reply.status, 200);
        serde_json::from_slice(&reply.body).unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A parsed HTTP/1.1 response.
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// The sizes of the body's chunks (chunked bodies).
    chunks: Vec<usize>,
    /// Whether the body ended as its framing says.
    complete: bool,
}

impl Reply {
    fn parse(bytes: &[u8], reset: bool) -> Reply {
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
            chunks: Vec::new(),
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
                let take = size.min(data.len());
                reply.body.extend_from_slice(&data[..take]);
                reply.chunks.push(take);
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
            !reset || !reply.complete,
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

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    /// The event-stream frames as (`:event-type`, payload), and the frame
    /// reader's verdict on the whole body.
    fn frames(&self) -> (Vec<(String, Value)>, Result<(), eventstream::FrameError>) {
        let mut reader = eventstream::Reader::new();
        let mut messages = Vec::new();
        let read = reader.push(&self.body, &mut messages);
        let frames = messages
            .iter()
            .map(|m| {
                assert_eq!(m.header_str(":message-type"), Some("event"));
                assert_eq!(m.header_str(":content-type"), Some("application/json"));
                (
                    m.header_str(":event-type").unwrap().to_owned(),
                    serde_json::from_slice(&m.payload).unwrap(),
                )
            })
            .collect();
        let read = read.and_then(|()| match reader.pending() {
            0 => Ok(()),
            n => Err(eventstream::FrameError(format!("{n} bytes left over"))),
        });
        (frames, read)
    }
}

fn converse(text: &str) -> Value {
    json!({
        "system": [{"text": "You are terse."}],
        "messages": [{"role": "user", "content": [{"text": text}]}],
    })
}

const MODEL: &str = "anthropic.claude-3-5-sonnet-20240620-v1%3A0";

fn path(prefix: &str, op: &str) -> String {
    format!("{prefix}/v1/model/{MODEL}/{op}")
}

fn kinds(frames: &[(String, Value)]) -> Vec<&str> {
    frames.iter().map(|(k, _)| k.as_str()).collect()
}

#[tokio::test]
async fn json_reply_has_the_converse_shape() {
    let server = Server::start(&[]);
    let reply = server
        .post(
            &path("", "converse"),
            &converse("What is the capital of France?"),
        )
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    let v = reply.json();
    assert_eq!(v["output"]["message"]["role"], "assistant");
    assert_eq!(
        v["output"]["message"]["content"],
        json!([{"text": "Mock reply to: What is the capital of France?"}])
    );
    assert_eq!(v["stopReason"], "end_turn");
    assert_eq!(
        v["usage"],
        json!({"inputTokens": 9, "outputTokens": 9, "totalTokens": 18})
    );
}

#[tokio::test]
async fn stream_is_framed_one_frame_per_write() {
    let server = Server::start(&[]);
    let mut body = converse("héllo wörld");
    body["messages"][0]["content"]
        .as_array_mut()
        .unwrap()
        .push(json!({"image": {"format": "png", "source": {"bytes": "iVBORw0KGgo="}}}));
    let reply = server
        .post(&format!("{}?x=1", path("/t/s1", "converse-stream")), &body)
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("content-type"),
        Some("application/vnd.amazon.eventstream")
    );
    assert!(reply.complete);
    let (frames, read) = reply.frames();
    read.unwrap();
    // chunks=4 by default: four text deltas.
    assert_eq!(
        kinds(&frames),
        [
            "messageStart",
            "contentBlockDelta",
            "contentBlockDelta",
            "contentBlockDelta",
            "contentBlockDelta",
            "contentBlockStop",
            "messageStop",
            "metadata"
        ]
    );
    let text: String = frames[1..5]
        .iter()
        .map(|(_, v)| v["delta"]["text"].as_str().unwrap())
        .collect();
    assert_eq!(text, "Mock reply to: héllo wörld [images: 1]");
    assert_eq!(frames[6].1["stopReason"], "end_turn");
    assert_eq!(
        frames[7].1["usage"],
        json!({"inputTokens": 5, "outputTokens": 7, "totalTokens": 12})
    );
    // Each HTTP chunk is exactly one frame.
    assert_eq!(reply.chunks.len(), frames.len());
    let mut at = 0;
    for size in &reply.chunks {
        let total = u32::from_be_bytes(reply.body[at..at + 4].try_into().unwrap()) as usize;
        assert_eq!(*size, total);
        at += size;
    }
}

#[tokio::test]
async fn chunks_directive_sets_the_delta_count() {
    let server = Server::start(&[]);
    let reply = server
        .post(&path("/chunks=2", "converse-stream"), &converse("hi"))
        .await;
    let (frames, read) = reply.frames();
    read.unwrap();
    assert_eq!(
        frames
            .iter()
            .filter(|(k, _)| k == "contentBlockDelta")
            .count(),
        2
    );
}

#[tokio::test]
async fn tools_convention() {
    let server = Server::start(&[]);
    let mut body = converse("Please call a tool now");
    body["toolConfig"] = json!({"tools": [
        {"toolSpec": {"name": "lookup", "inputSchema": {"json": {"type": "object"}}}},
        {"toolSpec": {"name": "other", "inputSchema": {"json": {"type": "object"}}}},
    ]});
    let v = server.post(&path("", "converse"), &body).await.json();
    assert_eq!(v["stopReason"], "tool_use");
    let call = &v["output"]["message"]["content"][0]["toolUse"];
    assert_eq!(call["name"], "lookup");
    assert_eq!(call["input"], json!({"input": "Please call a tool now"}));
    assert!(call["toolUseId"].as_str().unwrap().starts_with("tooluse_"));

    let (frames, read) = server
        .post(&path("", "converse-stream"), &body)
        .await
        .frames();
    read.unwrap();
    assert_eq!(frames[1].0, "contentBlockStart");
    assert_eq!(frames[1].1["start"]["toolUse"]["name"], "lookup");
    let input: String = frames
        .iter()
        .filter(|(k, _)| k == "contentBlockDelta")
        .map(|(_, v)| v["delta"]["toolUse"]["input"].as_str().unwrap())
        .collect();
    assert_eq!(
        serde_json::from_str::<Value>(&input).unwrap(),
        json!({"input": "Please call a tool now"})
    );
    assert_eq!(frames[frames.len() - 2].1["stopReason"], "tool_use");

    // Without the word, plain text.
    body["messages"][0]["content"][0]["text"] = json!("no tools here");
    let v = server.post(&path("", "converse"), &body).await.json();
    assert_eq!(v["stopReason"], "end_turn");
}

#[tokio::test]
async fn status_directives_answer_bedrock_errors() {
    let server = Server::start(&[]);
    for (status, kind) in [
        (429, "ThrottlingException"),
        (400, "ValidationException"),
        (403, "AccessDeniedException"),
        (404, "ResourceNotFoundException"),
        (500, "InternalServerException"),
        (503, "ServiceUnavailableException"),
    ] {
        let prefix = format!("/status={status}/retry_after=3");
        let reply = server
            .post(&path(&prefix, "converse-stream"), &converse("hi"))
            .await;
        assert_eq!(reply.status, status);
        assert_eq!(reply.header("x-amzn-errortype"), Some(kind));
        assert_eq!(reply.header("content-type"), Some("application/json"));
        assert_eq!(reply.header("retry-after"), Some("3"));
        assert!(reply.json()["message"]
            .as_str()
            .unwrap()
            .contains("simulated"));
    }
    // fail_times heals.
    let p = path("/t/heal/status=429/fail_times=1", "converse");
    assert_eq!(server.post(&p, &converse("hi")).await.status, 429);
    assert_eq!(server.post(&p, &converse("hi")).await.status, 200);
}

#[tokio::test]
async fn cut_stream_ends_before_metadata() {
    let server = Server::start(&[]);
    let reply = server
        .post(
            &path("/fault=cut/cut_after=2", "converse-stream"),
            &converse("hello there"),
        )
        .await;
    assert_eq!(reply.status, 200);
    assert!(!reply.complete);
    let (frames, read) = reply.frames();
    read.unwrap();
    assert_eq!(
        kinds(&frames),
        ["messageStart", "contentBlockDelta", "contentBlockDelta"]
    );
    // cut_after larger than the stream still never sends metadata.
    let reply = server
        .post(
            &path("/fault=cut/cut_after=99", "converse-stream"),
            &converse("x"),
        )
        .await;
    let (frames, _) = reply.frames();
    assert_eq!(frames.last().unwrap().0, "messageStop");
}

#[tokio::test]
async fn malformed_stream_has_a_bad_crc_frame() {
    let server = Server::start(&[]);
    let reply = server
        .post(
            &path("/fault=malformed", "converse-stream"),
            &converse("hi"),
        )
        .await;
    assert_eq!(reply.status, 200);
    assert!(reply.complete);
    let (frames, read) = reply.frames();
    assert!(read.unwrap_err().0.contains("CRC"));
    assert_eq!(kinds(&frames), ["messageStart"]);
    // JSON: half a body.
    let reply = server
        .post(&path("/fault=malformed", "converse"), &converse("hi"))
        .await;
    assert!(serde_json::from_slice::<Value>(&reply.body).is_err());
}

#[tokio::test]
async fn auth_is_required() {
    let server = Server::start(&[]);
    let p = path("/t/auth", "converse");
    let body = converse("hi").to_string();
    let reply = server.send("POST", &p, &[], body.as_bytes()).await;
    assert_eq!(reply.status, 403);
    assert_eq!(
        reply.header("x-amzn-errortype"),
        Some("AccessDeniedException")
    );
    assert!(reply.json()["message"]
        .as_str()
        .unwrap()
        .contains("Missing Authentication Token"));

    let sha = Sha256::digest(body.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>();
    let authorization = "AWS4-HMAC-SHA256 Credential=AKIDMOCK/20240620/us-east-1/bedrock/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31";
    let signed = [
        ("authorization", authorization),
        ("x-amz-date", "20240620T161320Z"),
        ("x-amz-content-sha256", sha.as_str()),
    ];
    let reply = server.send("POST", &p, &signed, body.as_bytes()).await;
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    // The payload hash must be the body's.
    let wrong = [
        signed[0],
        signed[1],
        (
            "x-amz-content-sha256",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        ),
    ];
    let reply = server.send("POST", &p, &wrong, body.as_bytes()).await;
    assert_eq!(reply.status, 403);
    // The ledger counts SigV4 calls by access key id.
    let count = server
        .get_json("/__mock/calls?prefix=%2Ft%2Fauth&key=AKIDMOCK")
        .await;
    assert_eq!(count["count"], 2);
    let count = server
        .get_json("/__mock/calls?prefix=%2Ft%2Fauth&key=-")
        .await;
    assert_eq!(count["count"], 1);
}

#[tokio::test]
async fn bad_requests_and_methods() {
    let server = Server::start(&[]);
    let p = path("", "converse");
    let reply = server
        .send("POST", &p, &[("authorization", "Bearer k")], b"{nope")
        .await;
    assert_eq!(reply.status, 400);
    assert_eq!(
        reply.header("x-amzn-errortype"),
        Some("ValidationException")
    );
    let reply = server.send("GET", &p, &[], b"").await;
    assert_eq!(reply.status, 405);
    assert_eq!(reply.header("allow"), Some("POST"));
    let reply = server.post("/v1/model/m/invoke", &converse("hi")).await;
    assert_eq!(reply.status, 404);
    let calls = server.get_json("/__mock/calls").await;
    assert_eq!(calls["total"], 3);
}
