//! The Anthropic dialect against requests shaped like Anthropic's API
//! reference (`tests/transcripts/anthropic/`), and its answers, errors and
//! streams checked against what the Anthropic SDKs parse.

use super::*;
use crate::canonical::{
    ChatResponse, Choice, FinishReason, Image, ImageSource, Part, Role, StreamEvent, ToolCall,
    ToolChoice, Usage,
};
use crate::engine::Attempt;
use crate::error::{Fault, GatewayError};
use crate::provider::anthropic as provider;
use serde_json::{json, Value};

macro_rules! transcript {
    ($name:literal) => {
        include_str!(concat!("../../../tests/transcripts/anthropic/", $name))
    };
}

// -------------------------------------------------------------- requests

#[test]
fn a_simple_request() {
    let req = decode_chat(transcript!("request_simple.json").as_bytes()).unwrap();
    assert_eq!(req.model, "claude-sonnet-4-5");
    assert_eq!(req.max_tokens, Some(1024));
    assert_eq!(req.messages, vec![crate::canonical::Message::text(Role::User, "Hello, Claude")]);
    assert!(!req.stream);
    assert!(req.include_usage);
    assert!(req.extra.is_empty());
}

#[test]
fn a_full_request() {
    let req = decode_chat(transcript!("request_full.json").as_bytes()).unwrap();
    assert_eq!(req.max_tokens, Some(2048));
    assert!(req.stream);
    assert_eq!(req.temperature, Some(0.5));
    assert_eq!(req.top_p, Some(0.9));
    assert_eq!(req.top_k, Some(40));
    assert_eq!(req.stop, vec!["\n\nHuman:".to_string(), "END".to_string()]);
    assert_eq!(req.user.as_deref(), Some("user-1234"));
    assert_eq!(req.tool_choice, Some(ToolChoice::Auto));
    assert_eq!(req.parallel_tool_calls, Some(false));
    assert_eq!(req.extra.get("thinking"), Some(&json!({"type": "enabled", "budget_tokens": 1024})));
    assert_eq!(req.extra.get("service_tier"), Some(&json!("auto")));
    assert_eq!(req.extra.len(), 2);

    assert_eq!(req.tools.len(), 2);
    assert_eq!(req.tools[0].name, "get_weather");
    assert_eq!(req.tools[0].description.as_deref(), Some("Get the current weather in a given location"));
    assert_eq!(req.tools[0].parameters["required"], json!(["location"]));
    assert_eq!(req.tools[1].description, None);

    let m = &req.messages;
    let roles: Vec<Role> = m.iter().map(|m| m.role).collect();
    assert_eq!(roles, vec![Role::System, Role::User, Role::Assistant, Role::Tool, Role::Tool, Role::User]);
    assert_eq!(
        m[0].content,
        vec![Part::Text("You are a weather assistant.".into()), Part::Text("Answer briefly.".into())]
    );
    assert_eq!(m[1].content.len(), 3);
    assert_eq!(
        m[1].content[1],
        Part::Image(Image {
            source: ImageSource::Base64 {
                media_type: "image/png".into(),
                data: "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==".into()
            },
            detail: None
        })
    );
    assert_eq!(
        m[1].content[2],
        Part::Image(Image {
            source: ImageSource::Url("https://upload.wikimedia.org/wikipedia/commons/a/a7/Camponotus_flavomarginatus_ant.jpg".into()),
            detail: None
        })
    );
    assert_eq!(m[2].joined_text(), "A pixel and an ant. Let me check the weather.", "thinking dropped");
    assert_eq!(
        m[2].tool_calls,
        vec![
            ToolCall { id: "toolu_01A".into(), name: "get_weather".into(), arguments: r#"{"location":"San Francisco, CA"}"#.into() },
            ToolCall { id: "toolu_01B".into(), name: "get_weather".into(), arguments: r#"{"location":"Paris"}"#.into() },
        ]
    );
    assert_eq!(m[3].tool_call_id.as_deref(), Some("toolu_01A"));
    assert_eq!(m[3].joined_text(), "15 degrees, foggy");
    assert!(!m[3].is_error);
    assert_eq!(m[4].tool_call_id.as_deref(), Some("toolu_01B"));
    assert!(m[4].is_error);
    assert_eq!(m[4].joined_text(), "weather service unavailable");
    assert_eq!(m[5].joined_text(), "Thanks. Summarize.");
}

#[test]
fn a_request_survives_the_trip_to_an_anthropic_upstream() {
    // Decoded here, encoded by the provider: what Anthropic gets back is the
    // client's request, less what the canonical form cannot hold.
    let original: Value = serde_json::from_str(transcript!("request_full.json")).unwrap();
    let req = decode_chat(transcript!("request_full.json").as_bytes()).unwrap();
    let target = crate::provider::Target {
        kind: crate::plan::ProviderKind::Anthropic,
        base: "https://api.anthropic.com/v1",
        model: "claude-sonnet-4-5",
        key: Some("k"),
        api_version: None,
        region: None,
        now_ms: 0,
    };
    let http = provider::chat_request(&req, &target).unwrap();
    let sent: Value = serde_json::from_slice(&http.body).unwrap();
    for same in ["model", "max_tokens", "stop_sequences", "stream", "temperature", "top_p", "top_k", "metadata", "thinking", "tool_choice"] {
        assert_eq!(sent[same], original[same], "{same}");
    }
    assert_eq!(sent["system"], json!([{"type": "text", "text": "You are a weather assistant."}, {"type": "text", "text": "Answer briefly."}]));
    let messages = sent["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 3);
    assert_eq!(messages[0], original["messages"][0]);
    let mut assistant = original["messages"][1].clone();
    assistant["content"].as_array_mut().unwrap().remove(0); // thinking
    assert_eq!(messages[1], assistant);
    let mut results = original["messages"][2].clone();
    results["content"][1]["content"] = json!("weather service unavailable");
    assert_eq!(messages[2], results);
    assert_eq!(sent["tools"][0]["input_schema"], original["tools"][0]["input_schema"]);
    assert!(sent.get("service_tier").is_none());
}

#[test]
fn tool_choices_and_string_content() {
    let decode = |extra: &str| {
        let body = format!(
            r#"{{"model":"m","max_tokens":5,"messages":[{{"role":"user","content":[{{"type":"tool_result","tool_use_id":"t1"}}]}}],"tools":[{{"name":"f","input_schema":{{"type":"object"}}}}]{extra}}}"#
        );
        decode_chat(body.as_bytes()).unwrap()
    };
    assert_eq!(decode(r#","tool_choice":{"type":"any"}"#).tool_choice, Some(ToolChoice::Required));
    assert_eq!(decode(r#","tool_choice":{"type":"none"}"#).tool_choice, Some(ToolChoice::None));
    let forced = decode(r#","tool_choice":{"type":"tool","name":"f","disable_parallel_tool_use":false}"#);
    assert_eq!(forced.tool_choice, Some(ToolChoice::Tool("f".into())));
    assert_eq!(forced.parallel_tool_calls, None);
    let plain = decode("");
    assert_eq!(plain.tool_choice, None);
    // A turn of only a tool result is one tool message, with no content.
    assert_eq!(plain.messages.len(), 1);
    assert_eq!(plain.messages[0].role, Role::Tool);
    assert!(plain.messages[0].content.is_empty());
    let nulls = decode(r#","temperature":null,"system":null,"metadata":{"user_id":null},"stop_sequences":null"#);
    assert_eq!((nulls.temperature, nulls.user.as_deref()), (None, None));
}

#[test]
fn bad_requests_name_the_field() {
    let cases: &[(&str, Option<&str>, &str)] = &[
        (r#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#, Some("max_tokens"), "max_tokens: Field required"),
        (r#"{"model":"m","max_tokens":0,"messages":[{"role":"user","content":"hi"}]}"#, Some("max_tokens"), "max_tokens"),
        (r#"{"model":"m","max_tokens":"9","messages":[]}"#, Some("max_tokens"), "valid integer"),
        (r#"{"max_tokens":9,"messages":[]}"#, Some("model"), "model: Field required"),
        (r#"{"model":7,"max_tokens":9,"messages":[]}"#, Some("model"), "model"),
        (r#"{"model":"m","max_tokens":9}"#, Some("messages"), "messages: Field required"),
        (r#"{"model":"m","max_tokens":9,"messages":{}}"#, Some("messages"), "valid list"),
        (r#"{"model":"m","max_tokens":9,"messages":[]}"#, Some("messages"), "at least one"),
        (r#"{"model":"m","max_tokens":9,"messages":[{"role":"system","content":"x"}]}"#, Some("messages"), "messages.0.role"),
        (r#"{"model":"m","max_tokens":9,"messages":[{"role":"user"}]}"#, Some("messages"), "messages.0.content: Field required"),
        (r#"{"model":"m","max_tokens":9,"messages":[{"role":"user","content":[{"type":"document","source":{}}]}]}"#, Some("messages"), "messages.0.content.0.type: content blocks of type `document`"),
        (r#"{"model":"m","max_tokens":9,"messages":[{"role":"user","content":[{"text":"x"}]}]}"#, Some("messages"), "messages.0.content.0.type: Field required"),
        (r#"{"model":"m","max_tokens":9,"messages":[{"role":"user","content":[{"type":"text"}]}]}"#, Some("messages"), "messages.0.content.0.text: Field required"),
        (r#"{"model":"m","max_tokens":9,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"file","file_id":"f"}}]}]}"#, Some("messages"), "messages.0.content.0.source.type"),
        (r#"{"model":"m","max_tokens":9,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","data":"x"}}]}]}"#, Some("messages"), "source.media_type: Field required"),
        (r#"{"model":"m","max_tokens":9,"messages":[{"role":"assistant","content":[{"type":"tool_result","tool_use_id":"t"}]}]}"#, Some("messages"), "belong in user messages"),
        (r#"{"model":"m","max_tokens":9,"messages":[{"role":"user","content":[{"type":"tool_use","id":"t","name":"f","input":{}}]}]}"#, Some("messages"), "belong in assistant messages"),
        (r#"{"model":"m","max_tokens":9,"messages":[{"role":"user","content":[{"type":"tool_result"}]}]}"#, Some("messages"), "tool_use_id: Field required"),
        (r#"{"model":"m","max_tokens":9,"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":[{"type":"document"}]}]}]}"#, Some("messages"), "messages.0.content.0.content.0.type"),
        (r#"{"model":"m","max_tokens":9,"messages":[{"role":"user","content":"x"}],"system":[{"type":"image"}]}"#, Some("system"), "system.0.type"),
        (r#"{"model":"m","max_tokens":9,"messages":[{"role":"user","content":"x"}],"tools":[{"type":"web_search_20250305","name":"web_search"}]}"#, Some("tools"), "tools.0.type: the server tool `web_search_20250305`"),
        (r#"{"model":"m","max_tokens":9,"messages":[{"role":"user","content":"x"}],"tools":[{"name":"f"}]}"#, Some("tools"), "tools.0.input_schema: Field required"),
        (r#"{"model":"m","max_tokens":9,"messages":[{"role":"user","content":"x"}],"tool_choice":{"type":"some"}}"#, Some("tool_choice"), "tool_choice.type"),
        (r#"{"model":"m","max_tokens":9,"messages":[{"role":"user","content":"x"}],"tool_choice":{"type":"tool"}}"#, Some("tool_choice"), "tool_choice.name: Field required"),
        (r#"{"model":"m","max_tokens":9,"messages":[{"role":"user","content":"x"}],"stop_sequences":[1]}"#, Some("stop_sequences"), "stop_sequences.0"),
        (r#"{"model":"m","max_tokens":9,"messages":[{"role":"user","content":"x"}],"stream":"yes"}"#, Some("stream"), "stream"),
        (r#"{"model":"m","max_tokens":9,"messages":[{"role":"user","content":"x"}],"temperature":"hot"}"#, Some("temperature"), "temperature"),
        (r#"{"model":"m","max_tokens":9,"messages":[{"role":"user","content":"x"}],"top_k":-1}"#, Some("top_k"), "top_k"),
        (r#"{"model":"m","max_tokens":9,"messages":[{"role":"user","content":"x"}],"metadata":{"user_id":5}}"#, Some("metadata"), "metadata.user_id"),
        ("{not json", None, "not valid JSON"),
        ("[1,2]", None, "expected a JSON object"),
        ("  ", None, "empty"),
    ];
    for (body, param, message) in cases {
        let e = decode_chat(body.as_bytes()).unwrap_err();
        assert_eq!(e.status(), 400, "{body}");
        assert_eq!(e.fault, Fault::BadRequest);
        assert_eq!(e.param, *param, "{body}: {}", e.message);
        assert!(e.message.contains(message), "{body}: {} lacks {message}", e.message);
        // Rendered in Anthropic's shape.
        let v: Value = serde_json::from_str(&error_body(&e, None)).unwrap();
        assert_eq!(v["type"], "error");
        assert_eq!(v["error"]["type"], "invalid_request_error");
    }
}

#[test]
fn inspect_reads_what_routing_needs() {
    let s = inspect(br#"{"model":"claude-x","max_tokens":5,"stream":true,"messages":[{"role":"user","content":[{"type":"document","source":{}}]}]}"#).unwrap();
    assert_eq!((s.model.as_str(), s.stream, s.message_count), ("claude-x", true, 1));
    assert_eq!(inspect(br#"{"model":"m","messages":[]}"#).unwrap_err().param, Some("max_tokens"));
    assert_eq!(inspect(br#"{"max_tokens":1,"messages":[]}"#).unwrap_err().param, Some("model"));
    assert!(!inspect(br#"{"model":"m","max_tokens":1,"messages":[]}"#).unwrap().stream);
}

// ------------------------------------------------------------- responses

fn response(text: Option<&str>, calls: Vec<ToolCall>, reason: Option<FinishReason>, usage: Option<Usage>) -> ChatResponse {
    ChatResponse {
        id: "msg_1".into(),
        model: "claude-x".into(),
        created: 1_700_000_000,
        choices: vec![Choice { index: 0, text: text.map(str::to_string), tool_calls: calls, finish_reason: reason }],
        usage,
    }
}

#[test]
fn a_text_message() {
    let usage = Usage { input_tokens: 2160, output_tokens: 15, cached_input_tokens: Some(2048) };
    let body = encode_response(&response(Some("Hi!"), vec![], Some(FinishReason::Stop), Some(usage)));
    assert_eq!(
        body,
        r#"{"id":"msg_1","type":"message","role":"assistant","model":"claude-x","content":[{"type":"text","text":"Hi!"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":112,"cache_read_input_tokens":2048,"output_tokens":15}}"#
    );
    // What the provider reads back is what went in.
    let back = provider::chat_response(body.as_bytes()).unwrap();
    assert_eq!(back.choices[0].text.as_deref(), Some("Hi!"));
    assert_eq!(back.usage, Some(usage));
}

#[test]
fn tool_use_blocks_carry_parsed_inputs() {
    let calls = vec![
        ToolCall { id: "call_1".into(), name: "get_weather".into(), arguments: r#"{"location": "SF"}"#.into() },
        ToolCall { id: "call_2".into(), name: "noop".into(), arguments: "".into() },
        ToolCall { id: "call_3".into(), name: "broken".into(), arguments: r#"{"location": "Pa"#.into() },
    ];
    let body = encode_response(&response(Some("Checking."), calls.clone(), Some(FinishReason::ToolCalls), None));
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        v["content"],
        json!([
            {"type": "text", "text": "Checking."},
            {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"location": "SF"}},
            {"type": "tool_use", "id": "call_2", "name": "noop", "input": {}},
            {"type": "tool_use", "id": "call_3", "name": "broken", "input": {"_raw_arguments": "{\"location\": \"Pa"}}
        ])
    );
    assert_eq!(v["stop_reason"], "tool_use");
    assert_eq!(v["usage"], json!({"input_tokens": 0, "output_tokens": 0}));
    // Raw arguments come back as the text they were.
    let back = provider::chat_response(body.as_bytes()).unwrap();
    assert_eq!(back.choices[0].tool_calls[2].arguments, calls[2].arguments);
    assert_eq!(back.choices[0].tool_calls[1].arguments, "{}");
}

#[test]
fn stop_reasons() {
    let reason = |r: Option<FinishReason>, calls: bool| {
        let calls = if calls { vec![ToolCall { id: "t".into(), name: "f".into(), arguments: "{}".into() }] } else { vec![] };
        let v: Value = serde_json::from_str(&encode_response(&response(Some("x"), calls, r, None))).unwrap();
        (v["stop_reason"].as_str().unwrap().to_string(), v["stop_sequence"].clone())
    };
    assert_eq!(reason(Some(FinishReason::Length), false).0, "max_tokens");
    assert_eq!(reason(Some(FinishReason::ContentFilter), false).0, "refusal");
    assert_eq!(
        reason(Some(FinishReason::StopSequence(Some("END".into()))), false),
        ("stop_sequence".into(), json!("END"))
    );
    assert_eq!(reason(Some(FinishReason::Other("pause_turn".into())), false).0, "pause_turn");
    assert_eq!(reason(Some(FinishReason::Other("eos".into())), false).0, "end_turn");
    assert_eq!(reason(None, false).0, "end_turn");
    assert_eq!(reason(None, true).0, "tool_use");
    let none = ChatResponse { choices: vec![], ..response(None, vec![], None, None) };
    let v: Value = serde_json::from_str(&encode_response(&none)).unwrap();
    assert_eq!(v["content"], json!([]));
}

// ----------------------------------------------------------------- errors

#[test]
fn error_bodies_have_anthropic_types() {
    let cases = [
        (Fault::BadRequest, "invalid_request_error", 400),
        (Fault::MissingKey, "authentication_error", 401),
        (Fault::InvalidKey, "authentication_error", 401),
        (Fault::NotFound, "not_found_error", 404),
        (Fault::ModelNotFound, "not_found_error", 404),
        (Fault::PayloadTooLarge, "request_too_large", 413),
        (Fault::MethodNotAllowed { allow: "POST" }, "invalid_request_error", 405),
        (Fault::UpstreamStatus(429), "rate_limit_error", 429),
        (Fault::UpstreamStatus(529), "overloaded_error", 529),
        (Fault::UpstreamStatus(503), "overloaded_error", 503),
        (Fault::UpstreamStatus(403), "permission_error", 403),
        (Fault::UpstreamStatus(402), "billing_error", 402),
        (Fault::UpstreamStatus(401), "authentication_error", 401),
        (Fault::UpstreamStatus(422), "invalid_request_error", 422),
        (Fault::UpstreamStatus(500), "api_error", 500),
        (Fault::UpstreamTimeout, "timeout_error", 504),
        (Fault::UpstreamUnreachable, "api_error", 502),
        (Fault::UpstreamIncomplete, "api_error", 502),
        (Fault::Misconfigured, "api_error", 500),
    ];
    for (fault, kind, status) in cases {
        let e = GatewayError::new(fault, "went wrong");
        assert_eq!(e.status(), status);
        let v: Value = serde_json::from_str(&error_body(&e, None)).unwrap();
        assert_eq!(v, json!({"type": "error", "error": {"type": kind, "message": "went wrong"}}), "{fault:?}");
        // The provider reads the same body back with the message intact.
        assert_eq!(provider::error(status, &error_body(&e, None)).message, "went wrong");
    }
}

#[test]
fn the_attempt_trail_rides_in_the_error() {
    let attempts = vec![Attempt {
        provider: "claude".into(),
        model: "claude-x".into(),
        key: Some(0),
        outcome: "529".into(),
        status: Some(529),
        duration_ms: 12,
        waited_ms: 0,
        reason: None,
    }];
    let e = GatewayError::new(Fault::UpstreamStatus(529), "Overloaded");
    let v: Value = serde_json::from_str(&error_body(&e, Some(&attempts))).unwrap();
    assert_eq!(v["error"]["type"], "overloaded_error");
    assert_eq!(v["error"]["attempts"][0]["provider"], "claude");
    assert_eq!(v["error"]["attempts"][0]["status"], 529);
}

#[test]
fn the_error_event_is_what_the_sdks_raise() {
    let event = error_event(&GatewayError::new(Fault::UpstreamIncomplete, "cut"));
    assert_eq!(
        event,
        "\n\nevent: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":\"cut\"}}\n\n"
    );
    let mut decoder = provider::Decoder::new();
    let mut out = Vec::new();
    decoder.push(event.as_bytes(), &mut out).unwrap();
    decoder.finish(&mut out).unwrap();
    assert_eq!(out, vec![StreamEvent::Error { message: "cut".into() }]);
}

// ----------------------------------------------------------------- streams

fn encode(events: &[StreamEvent]) -> String {
    let mut encoder = Encoder::new();
    let mut out = String::new();
    for event in events {
        encoder.encode(event, &mut out);
    }
    out
}

fn decode(text: &str) -> Vec<StreamEvent> {
    let mut decoder = provider::Decoder::new();
    let mut out = Vec::new();
    decoder.push(text.as_bytes(), &mut out).unwrap();
    decoder.finish(&mut out).unwrap();
    out
}

fn text(text: &str) -> StreamEvent {
    StreamEvent::Text { choice: 0, text: text.into() }
}

#[test]
fn a_text_stream_is_exactly_anthropic_shaped() {
    let events = [
        StreamEvent::Start { id: "msg_1".into(), model: "claude-x".into() },
        StreamEvent::Usage(Usage { input_tokens: 25, output_tokens: 1, cached_input_tokens: None }),
        text("Hello"),
        text(""),
        text(", world"),
        StreamEvent::Finish { choice: 0, reason: FinishReason::Stop },
        StreamEvent::Usage(Usage { input_tokens: 25, output_tokens: 15, cached_input_tokens: None }),
        StreamEvent::Done,
    ];
    assert_eq!(encode(&events), transcript!("encoded_text.sse"));
}

#[test]
fn switching_between_text_and_tool_calls_closes_blocks() {
    let args = |index: u32, arguments: &str| StreamEvent::ToolCallArguments { choice: 0, index, arguments: arguments.into() };
    let start = |index: u32, id: &str, name: &str| StreamEvent::ToolCallStart { choice: 0, index, id: id.into(), name: name.into() };
    // As an OpenAI upstream streams it: usage after the finish reason.
    let events = [
        StreamEvent::Start { id: "chatcmpl-1".into(), model: "gpt-4o".into() },
        text("Let me check."),
        start(0, "call_1", "get_weather"),
        args(0, "{\"location\":"),
        args(0, "\"SF\"}"),
        start(1, "call_2", "get_time"),
        args(1, ""),
        args(1, "{}"),
        StreamEvent::Finish { choice: 0, reason: FinishReason::ToolCalls },
        StreamEvent::Usage(Usage { input_tokens: 40, output_tokens: 22, cached_input_tokens: Some(32) }),
        StreamEvent::Done,
    ];
    let sse = encode(&events);
    assert_eq!(sse, transcript!("encoded_tools.sse"));
    // The provider's decoder reads it back as the same events (the usage
    // once more, at the start, as Anthropic reports it).
    let mut expected = events.to_vec();
    expected.retain(|e| !matches!(e, StreamEvent::ToolCallArguments { arguments, .. } if arguments.is_empty()));
    expected.insert(1, StreamEvent::Usage(Usage { input_tokens: 0, output_tokens: 0, cached_input_tokens: None }));
    assert_eq!(decode(&sse), expected);
}

#[test]
fn an_anthropic_stream_survives_decoding_and_encoding() {
    for sse in [transcript!("stream_text.sse"), transcript!("stream_tool_use.sse"), transcript!("stream_stop_sequence.sse")] {
        let events = decode(sse);
        let again = encode(&events);
        assert_eq!(decode(&again), events);
    }
}

#[test]
fn errors_end_the_stream() {
    let events = [
        StreamEvent::Start { id: "m".into(), model: "c".into() },
        text("Par"),
        StreamEvent::Error { message: "Overloaded".into() },
        text("more"),
        StreamEvent::Done,
    ];
    let sse = encode(&events);
    assert!(sse.ends_with("event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":\"Overloaded\"}}\n\n"), "{sse}");
    assert!(!sse.contains("message_stop"));
    let decoded = decode(&sse);
    assert_eq!(decoded.last(), Some(&StreamEvent::Error { message: "Overloaded".into() }));
}

#[test]
fn odd_streams_still_make_valid_event_sequences() {
    // No Start, no Finish, other choices, arguments for an unknown call.
    let events = [
        StreamEvent::Text { choice: 1, text: "other choice".into() },
        StreamEvent::ToolCallArguments { choice: 0, index: 9, arguments: "{}".into() },
        text("hi"),
        StreamEvent::Done,
        text("after the end"),
    ];
    let sse = encode(&events);
    let decoded = decode(&sse);
    assert_eq!(
        decoded,
        vec![
            StreamEvent::Start { id: String::new(), model: String::new() },
            StreamEvent::Usage(Usage::default()),
            text("hi"),
            StreamEvent::Finish { choice: 0, reason: FinishReason::Stop },
            StreamEvent::Usage(Usage::default()),
            StreamEvent::Done,
        ]
    );
    // A tool call with no finish reason ends as `tool_use`.
    let tools = encode(&[
        StreamEvent::Start { id: "m".into(), model: "c".into() },
        StreamEvent::ToolCallStart { choice: 0, index: 0, id: "t".into(), name: "f".into() },
        StreamEvent::Done,
    ]);
    assert!(tools.contains(r#""stop_reason":"tool_use""#), "{tools}");
}

#[test]
fn arguments_for_a_closed_tool_block_keep_its_index() {
    let start = |index: u32, id: &str| StreamEvent::ToolCallStart { choice: 0, index, id: id.into(), name: "f".into() };
    let args = |index: u32, arguments: &str| StreamEvent::ToolCallArguments { choice: 0, index, arguments: arguments.into() };
    let sse = encode(&[
        StreamEvent::Start { id: "m".into(), model: "c".into() },
        start(0, "a"),
        start(1, "b"),
        args(0, "{}"),
        args(1, "{\"x\":1}"),
        StreamEvent::Done,
    ]);
    assert!(sse.contains(r#"{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{}"}}"#), "{sse}");
    assert!(sse.contains(r#""index":1,"delta":{"type":"input_json_delta","partial_json":"{\"x\":1}"}"#), "{sse}");
    let decoded = decode(&sse);
    assert!(decoded.contains(&args(0, "{}")));
    assert!(decoded.contains(&args(1, "{\"x\":1}")));
}
