//! End-to-end tests of the mock-provider's Cohere v2 wire format: the real
//! binary on port 0, a minimal raw HTTP/1.1 client (`common/mod.rs`).

use serde_json::{json, Value};

mod common;
use common::{Reply, Server};

const CHAT: &str = "/v2/chat";
const KEY: (&str, &str) = ("authorization", "Bearer co-test");

fn chat(text: &str) -> Value {
    json!({
        "model": "command-a-03-2025",
        "messages": [
            { "role": "system", "content": "You are terse." },
            { "role": "user", "content": text }
        ]
    })
}

fn streamed(text: &str) -> Value {
    let mut body = chat(text);
    body["stream"] = json!(true);
    body
}

fn events_of(reply: &Reply) -> Vec<(String, Value)> {
    reply
        .events()
        .into_iter()
        .map(|(name, data)| {
            let v: Value = serde_json::from_str(&data).unwrap();
            let name = name.expect("every Cohere event is named");
            assert_eq!(v["type"], name.as_str());
            (name, v)
        })
        .collect()
}

#[tokio::test]
async fn json_reply_has_the_cohere_shape() {
    let server = Server::start();
    let reply = server.post(CHAT, &[KEY], &chat("hello there")).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let v = reply.json();
    assert_eq!(v["id"], "cohere-mock-1");
    assert_eq!(v["message"]["role"], "assistant");
    assert_eq!(
        v["message"]["content"],
        json!([{ "type": "text", "text": "Mock reply to: hello there" }])
    );
    assert_eq!(v["finish_reason"], "COMPLETE");
    // 3 + 2 prompt words; 5 in the reply.
    assert_eq!(
        v["usage"]["tokens"],
        json!({ "input_tokens": 5, "output_tokens": 5 })
    );
    assert_eq!(
        v["usage"]["billed_units"],
        json!({ "input_tokens": 5, "output_tokens": 5 })
    );
    let count = server
        .get_json("/__mock/calls?path=/v2/chat&key=co-test")
        .await;
    assert_eq!(count["count"], 1);
}

#[tokio::test]
async fn stream_events_end_in_message_end() {
    let server = Server::start();
    let reply = server
        .post(
            CHAT,
            &[KEY, ("x-mock-chunks", "3")],
            &streamed("héllo wörld"),
        )
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("text/event-stream"));
    assert!(reply.complete);
    let events = events_of(&reply);
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "message-start",
            "content-start",
            "content-delta",
            "content-delta",
            "content-delta",
            "content-end",
            "message-end"
        ]
    );
    assert_eq!(events[0].1["id"], "cohere-mock-1");
    let text: String = events
        .iter()
        .filter(|(n, _)| n == "content-delta")
        .map(|(_, v)| {
            v["delta"]["message"]["content"]["text"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(text, "Mock reply to: héllo wörld");
    assert_eq!(events[6].1["delta"]["finish_reason"], "COMPLETE");
    assert_eq!(events[6].1["delta"]["usage"]["tokens"]["output_tokens"], 5);
}

#[tokio::test]
async fn tools_and_images() {
    let server = Server::start();
    let mut body = chat("call the tool: now");
    body["tools"] = json!([
        { "type": "function", "function": { "name": "lookup", "parameters": { "type": "object" } } },
        { "type": "function", "function": { "name": "other" } }
    ]);
    let v = server.post(CHAT, &[KEY], &body).await.json();
    assert_eq!(v["finish_reason"], "TOOL_CALL");
    let call = &v["message"]["tool_calls"][0];
    assert_eq!(call["type"], "function");
    assert_eq!(call["function"]["name"], "lookup");
    let arguments: Value =
        serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(arguments, json!({ "input": "call the tool: now" }));

    body["stream"] = json!(true);
    let events = events_of(
        &server
            .post(CHAT, &[KEY, ("x-mock-chunks", "2")], &body)
            .await,
    );
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "message-start",
            "tool-call-start",
            "tool-call-delta",
            "tool-call-delta",
            "tool-call-end",
            "message-end"
        ]
    );
    assert_eq!(
        events[1].1["delta"]["message"]["tool_calls"]["function"]["name"],
        "lookup"
    );
    let streamed: String = events[2..4]
        .iter()
        .map(|(_, v)| {
            v["delta"]["message"]["tool_calls"]["function"]["arguments"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(serde_json::from_str::<Value>(&streamed).unwrap(), arguments);
    assert_eq!(events[5].1["delta"]["finish_reason"], "TOOL_CALL");

    let body = json!({ "model": "m", "messages": [{ "role": "user", "content": [
        { "type": "text", "text": "what is this?" },
        { "type": "image_url", "image_url": { "url": "https://example.com/cat.png" } }
    ] }] });
    let v = server.post(CHAT, &[KEY], &body).await.json();
    assert_eq!(
        v["message"]["content"][0]["text"],
        "Mock reply to: what is this? [images: 1]"
    );
}

#[tokio::test]
async fn embeddings_are_deterministic() {
    let server = Server::start();
    let body = json!({ "model": "embed-v4.0", "texts": ["alpha", "beta"], "input_type": "search_document", "embedding_types": ["float"] });
    let v = server.post("/v2/embed", &[KEY], &body).await.json();
    let vectors = v["embeddings"]["float"].as_array().unwrap();
    assert_eq!(vectors.len(), 2);
    assert_eq!(vectors[0].as_array().unwrap().len(), 8);
    assert_ne!(vectors[0], vectors[1]);
    assert_eq!(v["meta"]["billed_units"]["input_tokens"], 2);
    assert_eq!(server.post("/v2/embed", &[KEY], &body).await.json(), v);
    let mut sized = body.clone();
    sized["output_dimension"] = json!(16);
    let v = server.post("/v2/embed", &[KEY], &sized).await.json();
    assert_eq!(v["embeddings"]["float"][0].as_array().unwrap().len(), 16);
}

#[tokio::test]
async fn status_directives_answer_with_cohere_errors() {
    let server = Server::start();
    for (status, words) in [
        (429, "Trial key"),
        (401, "invalid api token"),
        (503, "unavailable"),
        (500, "internal server error"),
    ] {
        let reply = server
            .post(&format!("/status={status}/v2/chat"), &[KEY], &chat("x"))
            .await;
        assert_eq!(reply.status, status);
        let v = reply.json();
        assert!(v["message"].as_str().unwrap().contains(words), "{v}");
        assert!(v.get("error").is_none());
    }
    let reply = server
        .post("/v2/embed", &[KEY, ("x-mock-status", "400")], &json!({}))
        .await;
    assert_eq!(reply.status, 400);
    assert!(reply.json()["message"]
        .as_str()
        .unwrap()
        .starts_with("invalid request"));
}

#[tokio::test]
async fn cut_and_malformed_streams() {
    let server = Server::start();
    let reply = server
        .post(
            "/fault=cut/cut_after=2/v2/chat",
            &[KEY],
            &streamed("one two three"),
        )
        .await;
    assert_eq!(reply.status, 200);
    assert!(!reply.complete);
    let events = reply.events();
    assert_eq!(events.len(), 3);
    assert!(!reply.text().contains("message-end"));

    let reply = server
        .post("/fault=malformed/v2/chat", &[KEY], &streamed("x y"))
        .await;
    assert!(reply.complete);
    let events = reply.events();
    assert!(serde_json::from_str::<Value>(&events[1].1).is_err());
    assert_eq!(events.last().unwrap().0.as_deref(), Some("message-end"));
}

#[tokio::test]
async fn bad_requests_and_routes() {
    let server = Server::start();
    let reply = server.send("POST", CHAT, &[KEY], "{nope").await;
    assert_eq!(reply.status, 400);
    assert!(reply.json()["message"]
        .as_str()
        .unwrap()
        .starts_with("invalid request"));
    let reply = server.post(CHAT, &[KEY], &json!({ "messages": [] })).await;
    assert_eq!(reply.status, 400);
    assert!(reply.json()["message"].as_str().unwrap().contains("model"));
    let reply = server.post(CHAT, &[KEY], &json!({ "model": "m" })).await;
    assert_eq!(reply.status, 400);
    assert!(reply.json()["message"]
        .as_str()
        .unwrap()
        .contains("messages"));
    let reply = server.send("GET", CHAT, &[KEY], "").await;
    assert_eq!(reply.status, 405);
    let reply = server.post("/t/x/v2/rerank", &[KEY], &json!({})).await;
    assert_eq!(reply.status, 404);
}
