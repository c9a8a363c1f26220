//! End-to-end tests of the mock-provider's Gemini wire format: the real
//! binary on port 0, a minimal raw HTTP/1.1 client (`common/mod.rs`).

use serde_json::{json, Value};

mod common;
use common::Server;

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
