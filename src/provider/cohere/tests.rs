//! Tests of the Cohere v2 wire format against recorded transcripts
//! (`tests/transcripts/cohere/`), shaped like Cohere's API reference.

use serde_json::{json, Value};

use super::*;
use crate::canonical::{
    ChatRequest, DecodeError, EmbeddingsRequest, ErrorClass, FinishReason, Image, ImageSource,
    Message, Part, ResponseFormat, Role, StreamEvent, Tool, ToolCall, ToolChoice, Usage,
};
use crate::plan::ProviderKind;
use crate::provider::{Adapter, Target};

macro_rules! transcript {
    ($name:literal) => {
        include_str!(concat!("../../../tests/transcripts/cohere/", $name))
    };
}

const BASE: &str = "https://api.cohere.com/v2";

fn target(model: &str) -> Target<'_> {
    Target {
        kind: ProviderKind::Cohere,
        base: BASE,
        model,
        key: Some("co-secret"),
        api_version: None,
        region: None,
        now_ms: 0,
    }
}

fn body_of(req: &ChatRequest) -> Value {
    let http = chat_request(req, &target("command-a-03-2025")).expect("the request builds");
    serde_json::from_slice(&http.body).expect("the body is JSON")
}

fn user(text: &str) -> ChatRequest {
    ChatRequest {
        model: "command-a-03-2025".into(),
        messages: vec![Message::text(Role::User, text)],
        ..ChatRequest::default()
    }
}

fn tool_call(id: &str, name: &str, arguments: &str) -> ToolCall {
    ToolCall { id: id.into(), name: name.into(), arguments: arguments.into() }
}

fn tool_result(id: &str, text: &str) -> Message {
    Message { tool_call_id: Some(id.into()), ..Message::text(Role::Tool, text) }
}

fn weather_tool() -> Tool {
    Tool {
        name: "get_weather".into(),
        description: Some("Gets the weather of a given location".into()),
        parameters: json!({
            "type": "object",
            "properties": { "location": { "type": "string", "description": "The city" } },
            "required": ["location"]
        }),
        strict: Some(true),
    }
}

fn time_tool() -> Tool {
    Tool {
        name: "get_time".into(),
        description: None,
        parameters: json!({ "type": "object", "properties": {} }),
        strict: None,
    }
}

#[test]
fn full_request_matches_the_transcript() {
    let mut checking = Message::text(Role::Assistant, "Checking.");
    checking.tool_calls = vec![tool_call("get_weather_1byjy32y4hvq", "get_weather", r#"{"location":"Madrid"}"#)];
    let mut calling = Message::text(Role::Assistant, "");
    calling.tool_calls = vec![tool_call("get_weather_2", "get_weather", r#"{"location":"Lima"}"#)];
    let req = ChatRequest {
        model: "command-a-03-2025".into(),
        messages: vec![
            Message::text(Role::System, "You are terse."),
            Message {
                content: vec![
                    Part::Text("What is in this picture, and the weather in Madrid?".into()),
                    Part::Image(Image {
                        source: ImageSource::Url("https://example.com/cat.png".into()),
                        detail: Some("low".into()),
                    }),
                    Part::Image(Image {
                        source: ImageSource::Base64 { media_type: "image/jpeg".into(), data: "/9j/4AAQSkZJRg==".into() },
                        detail: None,
                    }),
                ],
                ..Message::text(Role::User, "")
            },
            checking,
            tool_result("get_weather_1byjy32y4hvq", r#"{"temperature": "24C"}"#),
            calling,
            tool_result("get_weather_2", "18C"),
            Message::text(Role::User, "Thanks!"),
        ],
        tools: vec![weather_tool(), time_tool()],
        tool_choice: Some(ToolChoice::Auto),
        parallel_tool_calls: Some(false),
        response_format: Some(ResponseFormat::JsonSchema {
            name: "answer".into(),
            schema: json!({
                "type": "object",
                "properties": { "answer": { "type": "string" } },
                "required": ["answer"]
            }),
            strict: None,
        }),
        stream: true,
        include_usage: true,
        max_tokens: Some(300),
        temperature: Some(0.3),
        top_p: Some(0.75),
        top_k: Some(50),
        stop: vec!["\n\n".into()],
        seed: Some(42),
        n: Some(1),
        presence_penalty: Some(0.2),
        frequency_penalty: Some(0.1),
        user: Some("u-1".into()),
        ..ChatRequest::default()
    };
    // The first user message's empty text part is kept out.
    let mut req = req;
    req.messages[1].content.retain(|p| !matches!(p, Part::Text(t) if t.is_empty()));

    let http = chat_request(&req, &target("command-a-03-2025")).unwrap();
    assert_eq!(http.url, "https://api.cohere.com/v2/chat");
    assert!(http.headers.contains(&("authorization".into(), "Bearer co-secret".into())));
    assert!(http.headers.contains(&("content-type".into(), "application/json".into())));
    assert!(http.headers.contains(&("accept".into(), "text/event-stream".into())));
    let body: Value = serde_json::from_slice(&http.body).unwrap();
    let expected: Value = serde_json::from_str(transcript!("request_full.json")).unwrap();
    assert_eq!(body, expected);
}

#[test]
fn a_plain_request() {
    assert_eq!(
        body_of(&user("Hello")),
        json!({ "model": "command-a-03-2025", "messages": [{ "role": "user", "content": "Hello" }] })
    );
    let http = chat_request(&user("Hello"), &Target { key: None, ..target("m") }).unwrap();
    assert!(http.headers.iter().all(|(name, _)| name != "authorization"));
    assert!(http.headers.contains(&("accept".into(), "application/json".into())));
}

#[test]
fn tool_choices() {
    let mut req = user("weather?");
    req.tools = vec![weather_tool(), time_tool()];
    req.tool_choice = Some(ToolChoice::None);
    assert_eq!(body_of(&req)["tool_choice"], "NONE");
    req.tool_choice = Some(ToolChoice::Required);
    let body = body_of(&req);
    assert_eq!(body["tool_choice"], "REQUIRED");
    assert_eq!(body["tools"].as_array().unwrap().len(), 2);
    // One named tool: only that tool, required.
    req.tool_choice = Some(ToolChoice::Tool("get_time".into()));
    let body = body_of(&req);
    assert_eq!(body["tool_choice"], "REQUIRED");
    assert_eq!(body["tools"], json!([{ "type": "function", "function": { "name": "get_time", "parameters": { "type": "object", "properties": {} } } }]));
    assert!(body.get("strict_tools").is_none());
    req.tool_choice = Some(ToolChoice::Auto);
    assert!(body_of(&req).get("tool_choice").is_none());
}

#[test]
fn json_object_format() {
    let mut req = user("json");
    req.response_format = Some(ResponseFormat::JsonObject);
    assert_eq!(body_of(&req)["response_format"], json!({ "type": "json_object" }));
    req.response_format = Some(ResponseFormat::Text);
    assert!(body_of(&req).get("response_format").is_none());
}

#[test]
fn text_answer() {
    let response = chat_response(transcript!("chat_text.json").as_bytes()).unwrap();
    assert_eq!(response.id, "c14c80c3-18eb-4519-9460-6c92edd8cfb4");
    assert_eq!(response.choices.len(), 1);
    let choice = &response.choices[0];
    assert_eq!(
        choice.text.as_deref(),
        Some("LLMs stand for Large Language Models, which are trained on vast amounts of text.")
    );
    assert_eq!(choice.finish_reason, Some(FinishReason::Stop));
    assert_eq!(response.usage, Some(Usage { input_tokens: 215, output_tokens: 16, cached_input_tokens: Some(192) }));
    assert_eq!(Adapter::Cohere.chat_response(transcript!("chat_text.json").as_bytes()).unwrap(), response);
}

#[test]
fn thinking_is_not_text_and_float_counts() {
    let response = chat_response(transcript!("chat_thinking.json").as_bytes()).unwrap();
    assert_eq!(response.choices[0].text.as_deref(), Some("2"));
    assert_eq!(response.usage, Some(Usage { input_tokens: 511, output_tokens: 40, cached_input_tokens: None }));
}

#[test]
fn parallel_tool_calls() {
    let response = chat_response(transcript!("chat_tools.json").as_bytes()).unwrap();
    let choice = &response.choices[0];
    assert_eq!(choice.text, None);
    assert_eq!(choice.finish_reason, Some(FinishReason::ToolCalls));
    assert_eq!(
        choice.tool_calls,
        vec![
            tool_call("get_weather_1byjy32y4hvq", "get_weather", r#"{"location":"Madrid"}"#),
            tool_call("get_weather_53xr4aw1tt7x", "get_weather", r#"{"location":"Brasilia"}"#),
        ]
    );
    assert_eq!(response.usage, Some(Usage { input_tokens: 913, output_tokens: 83, cached_input_tokens: None }));
}

#[test]
fn finish_reasons_and_billed_units() {
    let response = chat_response(transcript!("chat_max_tokens.json").as_bytes()).unwrap();
    assert_eq!(response.choices[0].finish_reason, Some(FinishReason::Length));
    // Only billed units: those.
    assert_eq!(response.usage, Some(Usage { input_tokens: 5, output_tokens: 3, cached_input_tokens: None }));
    let response = chat_response(transcript!("chat_stop_sequence.json").as_bytes()).unwrap();
    assert_eq!(response.choices[0].finish_reason, Some(FinishReason::StopSequence(None)));
    let response = chat_response(transcript!("chat_error_finish.json").as_bytes()).unwrap();
    assert_eq!(response.choices[0].finish_reason, Some(FinishReason::Other("error".into())));
    assert_eq!(response.choices[0].text.as_deref(), Some(""));
    assert_eq!(response.usage, None);
    let body = json!({ "id": "x", "message": { "content": [] }, "finish_reason": "TIMEOUT" });
    let response = chat_response(body.to_string().as_bytes()).unwrap();
    assert_eq!(response.choices[0].finish_reason, Some(FinishReason::Other("timeout".into())));
}

#[test]
fn malformed_answers() {
    for body in [
        &b"nope"[..],
        b"",
        b"[]",
        b"{\"message\": {\"content\": \"text\"}}",
        b"{\"message\": {\"tool_calls\": [{\"function\": {\"arguments\": 3}}]}}",
        b"{\"id\": \"x\", \"message\": {",
    ] {
        let err = chat_response(body).unwrap_err();
        assert!(matches!(err, DecodeError::Malformed(_)), "{body:?}: {err:?}");
    }
}

#[test]
fn embeddings_both_ways() {
    let req = EmbeddingsRequest {
        model: "embed-v4.0".into(),
        inputs: vec!["hello".into(), "goodbye".into()],
        dimensions: Some(1024),
        ..EmbeddingsRequest::default()
    };
    let http = embeddings_request(&req, &target("embed-v4.0")).unwrap();
    assert_eq!(http.url, "https://api.cohere.com/v2/embed");
    assert!(http.headers.contains(&("authorization".into(), "Bearer co-secret".into())));
    let body: Value = serde_json::from_slice(&http.body).unwrap();
    assert_eq!(body, serde_json::from_str::<Value>(transcript!("request_embed.json")).unwrap());

    let response = embeddings_response(transcript!("embed.json").as_bytes()).unwrap();
    assert_eq!(response.vectors.len(), 2);
    assert_eq!(response.vectors[1], vec![-0.013381958, 0.031707764, 0.012031555, -0.04437256]);
    assert_eq!(response.usage, Some(Usage { input_tokens: 2, output_tokens: 0, cached_input_tokens: None }));
    assert!(matches!(embeddings_response(b"{\"embeddings\":[]}"), Err(DecodeError::Malformed(_))));
}

#[test]
fn error_bodies_are_classified_with_their_message() {
    let cases = [
        (429, transcript!("error_rate_limit.json"), ErrorClass::RateLimit, "You are using a Trial key"),
        (400, transcript!("error_context_length.json"), ErrorClass::ContextLength, "too many tokens"),
        (401, transcript!("error_auth.json"), ErrorClass::Auth, "invalid api token"),
        (498, transcript!("error_invalid_token.json"), ErrorClass::Auth, "invalid api token"),
        (403, transcript!("error_forbidden.json"), ErrorClass::Auth, "You do not have access"),
        (404, transcript!("error_not_found.json"), ErrorClass::NotFound, "model 'command-z' not found"),
        (400, transcript!("error_bad_request.json"), ErrorClass::BadRequest, "invalid request"),
        (503, transcript!("error_unavailable.json"), ErrorClass::Overloaded, "The service is currently unavailable"),
        (500, transcript!("error_internal.json"), ErrorClass::Server, "internal server error"),
    ];
    for (status, body, class, message) in cases {
        let e = error(status, body);
        assert_eq!(e.class, class, "{body}");
        assert!(e.message.starts_with(message), "{}", e.message);
        assert_eq!(Adapter::Cohere.error(status, body), e);
    }
    assert_eq!(error(502, "upstream connect error").message, "upstream connect error");
    assert_eq!(error(502, "upstream connect error").class, ErrorClass::Server);
    assert_eq!(error(422, "{\"message\":\"bad field\"}").class, ErrorClass::BadRequest);
    assert_eq!(error(499, "").class, ErrorClass::Server);
    assert!(error(504, "").message.contains("504"));
}

// ----- streams -----

fn decode(chunks: &[&[u8]]) -> (Vec<StreamEvent>, Result<(), DecodeError>) {
    let mut decoder = Decoder::new();
    let mut events = Vec::new();
    for chunk in chunks {
        if let Err(e) = decoder.push(chunk, &mut events) {
            return (events, Err(e));
        }
    }
    let end = decoder.finish(&mut events);
    (events, end)
}

fn decode_all_ways(body: &[u8], every_split: bool) -> (Vec<StreamEvent>, Result<(), DecodeError>) {
    let whole = decode(&[body]);
    let bytes: Vec<&[u8]> = body.chunks(1).collect();
    assert_eq!(decode(&bytes), whole, "byte by byte");
    if every_split {
        for at in 0..=body.len() {
            assert_eq!(decode(&[&body[..at], &body[at..]]), whole, "split at {at}");
        }
    }
    whole
}

fn text(text: &str) -> StreamEvent {
    StreamEvent::Text { choice: 0, text: text.into() }
}

#[test]
fn text_stream() {
    let (events, end) = decode_all_ways(transcript!("stream_text.sse").as_bytes(), true);
    end.unwrap();
    assert_eq!(
        events,
        vec![
            StreamEvent::Start { id: "29f14a5a-11de-4cae-9800-25e4747408ea".into(), model: String::new() },
            text("Large"),
            text(" language"),
            text(" models — big."),
            StreamEvent::Finish { choice: 0, reason: FinishReason::Stop },
            StreamEvent::Usage(Usage { input_tokens: 197, output_tokens: 5, cached_input_tokens: Some(128) }),
            StreamEvent::Done,
        ]
    );
    let mut decoder = Adapter::Cohere.stream_decoder();
    let mut through = Vec::new();
    decoder.push(transcript!("stream_text.sse").as_bytes(), &mut through).unwrap();
    decoder.finish(&mut through).unwrap();
    assert_eq!(through, events);
}

#[test]
fn tool_stream() {
    let (events, end) = decode_all_ways(transcript!("stream_tools.sse").as_bytes(), true);
    end.unwrap();
    let args = |index: u32, arguments: &str| StreamEvent::ToolCallArguments { choice: 0, index, arguments: arguments.into() };
    assert_eq!(
        events,
        vec![
            StreamEvent::Start { id: "fba98ad3-e5a1-413c-a8de-84fbf9baabf7".into(), model: String::new() },
            StreamEvent::ToolCallStart { choice: 0, index: 0, id: "get_weather_p0dage9q1nv4".into(), name: "get_weather".into() },
            args(0, "{\""),
            args(0, "location\":\"Madrid\"}"),
            StreamEvent::ToolCallStart { choice: 0, index: 1, id: "get_weather_vdvsgr3a4rh2".into(), name: "get_weather".into() },
            args(1, "{\"location\":"),
            args(1, "\"Brasilia\"}"),
            StreamEvent::Finish { choice: 0, reason: FinishReason::ToolCalls },
            StreamEvent::Usage(Usage { input_tokens: 913, output_tokens: 83, cached_input_tokens: None }),
            StreamEvent::Done,
        ]
    );
}

#[test]
fn thinking_stream_without_event_lines() {
    let (events, end) = decode_all_ways(transcript!("stream_thinking.sse").as_bytes(), false);
    end.unwrap();
    assert_eq!(
        events,
        vec![
            StreamEvent::Start { id: "t-1".into(), model: String::new() },
            text("2"),
            StreamEvent::Finish { choice: 0, reason: FinishReason::Length },
            StreamEvent::Usage(Usage { input_tokens: 4, output_tokens: 1, cached_input_tokens: None }),
            StreamEvent::Done,
        ]
    );
}

#[test]
fn a_cut_stream_is_never_complete() {
    let (events, end) = decode_all_ways(transcript!("stream_cut.sse").as_bytes(), true);
    assert!(matches!(end, Err(DecodeError::Malformed(_))), "{end:?}");
    assert_eq!(events.len(), 4);
    assert!(!events.contains(&StreamEvent::Done));
    assert!(matches!(decode(&[]).1, Err(DecodeError::Malformed(_))));
}

#[test]
fn malformed_stream_events() {
    for body in [
        &b"event: content-delta\ndata: {\"type\":\"content-delta\",\"delta\":{\"message\":{\"content\":{\"text\":\"\n\n"[..],
        b"data: 42\n\n",
        b"data: {\"type\":\"tool-call-delta\",\"index\":0}\n\n",
    ] {
        let (_, end) = decode(&[body]);
        assert!(matches!(end, Err(DecodeError::Malformed(_))), "{body:?}: {end:?}");
    }
    // Events after message-end are ignored.
    let mut body = transcript!("stream_text.sse").to_string();
    body.push_str("data: {not json}\n\n");
    let (events, end) = decode(&[body.as_bytes()]);
    end.unwrap();
    assert_eq!(events.last(), Some(&StreamEvent::Done));
}
