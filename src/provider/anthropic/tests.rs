//! The Anthropic provider against recorded transcripts
//! (`tests/transcripts/anthropic/`) shaped like Anthropic's API reference.

use super::*;
use crate::canonical::{
    ChatRequest, DecodeError, ErrorClass, FinishReason, Image, ImageSource, Message, Part,
    ResponseFormat, Role, StreamEvent, Tool, ToolCall, ToolChoice, Usage,
};
use crate::error::Fault;
use crate::plan::ProviderKind;
use crate::provider::Target;
use serde_json::{json, Value};

macro_rules! transcript {
    ($name:literal) => {
        include_str!(concat!("../../../tests/transcripts/anthropic/", $name))
    };
}

fn target<'a>(model: &'a str, key: Option<&'a str>) -> Target<'a> {
    Target {
        kind: ProviderKind::Anthropic,
        base: "https://api.anthropic.com/v1",
        model,
        key,
        api_version: None,
        region: None,
        now_ms: 0,
    }
}

fn body_of(req: &ChatRequest) -> Value {
    let http = chat_request(req, &target("claude-sonnet-4-5", Some("sk-ant-1"))).unwrap();
    serde_json::from_slice(&http.body).unwrap()
}

fn user(text: &str) -> Message {
    Message::text(Role::User, text)
}

// ---------------------------------------------------------------- requests

#[test]
fn a_plain_request_has_the_url_headers_and_default_max_tokens() {
    let req = ChatRequest {
        model: "ignored".into(),
        messages: vec![user("Hello, Claude")],
        ..ChatRequest::default()
    };
    let http = chat_request(&req, &target("claude-sonnet-4-5", Some("sk-ant-1"))).unwrap();
    assert_eq!(http.url, "https://api.anthropic.com/v1/messages");
    assert_eq!(
        http.headers,
        vec![
            ("content-type".to_string(), "application/json".to_string()),
            ("anthropic-version".to_string(), "2023-06-01".to_string()),
            ("x-api-key".to_string(), "sk-ant-1".to_string()),
        ]
    );
    let body: Value = serde_json::from_slice(&http.body).unwrap();
    assert_eq!(
        body,
        json!({
            "model": "claude-sonnet-4-5",
            "max_tokens": DEFAULT_MAX_TOKENS,
            "messages": [{"role": "user", "content": [{"type": "text", "text": "Hello, Claude"}]}]
        })
    );
    assert_eq!(DEFAULT_MAX_TOKENS, 4096);
    let keyless = chat_request(&req, &target("m", None)).unwrap();
    assert!(keyless.headers.iter().all(|(name, _)| name != "x-api-key"));
}

#[test]
fn system_messages_go_to_system_and_turns_alternate() {
    let req = ChatRequest {
        messages: vec![
            Message::text(Role::System, "Be brief."),
            user("Hi"),
            user("Are you there?"),
            Message::text(Role::System, "Answer in French."),
            Message::text(Role::Assistant, "Oui."),
            Message::text(Role::Assistant, ""),
            Message::text(Role::Assistant, "Bonjour."),
            user("Merci"),
        ],
        max_tokens: Some(100),
        stream: true,
        ..ChatRequest::default()
    };
    let body = body_of(&req);
    assert_eq!(
        body["system"],
        json!([{"type": "text", "text": "Be brief."}, {"type": "text", "text": "Answer in French."}])
    );
    assert_eq!(body["max_tokens"], 100);
    assert_eq!(body["stream"], true);
    assert_eq!(
        body["messages"],
        json!([
            {"role": "user", "content": [{"type": "text", "text": "Hi"}, {"type": "text", "text": "Are you there?"}]},
            {"role": "assistant", "content": [{"type": "text", "text": "Oui."}, {"type": "text", "text": "Bonjour."}]},
            {"role": "user", "content": [{"type": "text", "text": "Merci"}]}
        ])
    );
    let one = ChatRequest { messages: vec![Message::text(Role::System, "Only me."), user("x")], ..req };
    assert_eq!(body_of(&one)["system"], "Only me.");
}

#[test]
fn images_tools_tool_calls_and_results() {
    let image_message = Message {
        content: vec![
            Part::Text("What are these?".into()),
            Part::Image(Image {
                source: ImageSource::from_url("data:image/png;base64,iVBORw0KGgo="),
                detail: Some("high".into()),
            }),
            Part::Image(Image { source: ImageSource::Url("https://example.com/ant.jpg".into()), detail: None }),
        ],
        ..user("")
    };
    let assistant = Message {
        content: vec![],
        tool_calls: vec![
            ToolCall { id: "call_1".into(), name: "get_weather".into(), arguments: r#"{"location":"SF"}"#.into() },
            ToolCall { id: "call_2".into(), name: "get_time".into(), arguments: "".into() },
            ToolCall { id: "call_3".into(), name: "get_weather".into(), arguments: r#"{"location":"Par"#.into() },
        ],
        ..Message::text(Role::Assistant, "")
    };
    let tool = |id: &str, text: &str, is_error: bool| Message {
        tool_call_id: Some(id.into()),
        is_error,
        ..Message::text(Role::Tool, text)
    };
    let picture_result = Message {
        content: vec![
            Part::Text("see".into()),
            Part::Image(Image { source: ImageSource::Url("https://example.com/chart.png".into()), detail: None }),
        ],
        tool_call_id: Some("call_3".into()),
        ..Message::text(Role::Tool, "")
    };
    let req = ChatRequest {
        messages: vec![
            image_message,
            assistant,
            tool("call_1", "15 degrees", false),
            tool("call_2", "", true),
            picture_result,
            user("Thanks"),
        ],
        tools: vec![
            Tool {
                name: "get_weather".into(),
                description: Some("Weather now".into()),
                parameters: json!({"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]}),
                strict: Some(true),
            },
            Tool { name: "get_time".into(), description: None, parameters: Value::Null, strict: None },
        ],
        tool_choice: Some(ToolChoice::Required),
        parallel_tool_calls: Some(false),
        ..ChatRequest::default()
    };
    let body = body_of(&req);
    assert_eq!(
        body["messages"],
        json!([
            {"role": "user", "content": [
                {"type": "text", "text": "What are these?"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
                {"type": "image", "source": {"type": "url", "url": "https://example.com/ant.jpg"}}
            ]},
            {"role": "assistant", "content": [
                {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"location": "SF"}},
                {"type": "tool_use", "id": "call_2", "name": "get_time", "input": {}},
                {"type": "tool_use", "id": "call_3", "name": "get_weather", "input": {"_raw_arguments": "{\"location\":\"Par"}}
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "call_1", "content": "15 degrees"},
                {"type": "tool_result", "tool_use_id": "call_2", "is_error": true},
                {"type": "tool_result", "tool_use_id": "call_3", "content": [
                    {"type": "text", "text": "see"},
                    {"type": "image", "source": {"type": "url", "url": "https://example.com/chart.png"}}
                ]},
                {"type": "text", "text": "Thanks"}
            ]}
        ])
    );
    assert_eq!(
        body["tools"],
        json!([
            {"name": "get_weather", "description": "Weather now", "input_schema": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]}},
            {"name": "get_time", "input_schema": {"type": "object", "properties": {}}}
        ])
    );
    assert_eq!(body["tool_choice"], json!({"type": "any", "disable_parallel_tool_use": true}));
}

#[test]
fn tool_choices() {
    let with = |choice: Option<ToolChoice>, parallel: Option<bool>| {
        let req = ChatRequest {
            messages: vec![user("x")],
            tools: vec![Tool { name: "f".into(), description: None, parameters: json!({"type": "object"}), strict: None }],
            tool_choice: choice,
            parallel_tool_calls: parallel,
            ..ChatRequest::default()
        };
        body_of(&req).get("tool_choice").cloned()
    };
    assert_eq!(with(None, None), None);
    assert_eq!(with(None, Some(true)), None);
    assert_eq!(with(None, Some(false)), Some(json!({"type": "auto", "disable_parallel_tool_use": true})));
    assert_eq!(with(Some(ToolChoice::Auto), None), Some(json!({"type": "auto"})));
    assert_eq!(with(Some(ToolChoice::None), Some(false)), Some(json!({"type": "none"})));
    assert_eq!(with(Some(ToolChoice::Tool("f".into())), None), Some(json!({"type": "tool", "name": "f"})));
    // No tools: no tool_choice either (Anthropic refuses one alone).
    let bare = ChatRequest { messages: vec![user("x")], tool_choice: Some(ToolChoice::Required), ..ChatRequest::default() };
    assert!(body_of(&bare).get("tool_choice").is_none());
    assert!(body_of(&bare).get("tools").is_none());
}

#[test]
fn sampling_stop_user_and_response_format() {
    let mut req = ChatRequest {
        messages: vec![Message::text(Role::System, "Be brief."), user("List numbers")],
        temperature: Some(1.7),
        top_p: Some(0.9),
        top_k: Some(40),
        stop: vec![", 5".into(), "".into()],
        user: Some("user-1234".into()),
        seed: Some(7),
        presence_penalty: Some(0.5),
        logprobs: Some(true),
        response_format: Some(ResponseFormat::JsonSchema {
            name: "numbers".into(),
            schema: json!({"type": "object", "properties": {"n": {"type": "array"}}}),
            strict: Some(true),
        }),
        ..ChatRequest::default()
    };
    req.extra.insert("thinking".into(), json!({"type": "enabled", "budget_tokens": 1024}));
    req.extra.insert("store".into(), json!(true));
    let body = body_of(&req);
    assert_eq!(body["temperature"], 1.0, "clamped to Anthropic's range");
    assert_eq!(body["top_p"], 0.9);
    assert_eq!(body["top_k"], 40);
    assert_eq!(body["stop_sequences"], json!([", 5"]));
    assert_eq!(body["metadata"], json!({"user_id": "user-1234"}));
    assert_eq!(body["thinking"], json!({"type": "enabled", "budget_tokens": 1024}));
    for dropped in ["store", "seed", "presence_penalty", "logprobs", "response_format", "n", "user", "stop"] {
        assert!(body.get(dropped).is_none(), "{dropped} is not an Anthropic field");
    }
    let system = body["system"].as_array().unwrap();
    assert_eq!(system[0], json!({"type": "text", "text": "Be brief."}));
    let instruction = system[1]["text"].as_str().unwrap();
    assert!(instruction.contains("JSON Schema"), "{instruction}");
    assert!(instruction.contains(r#"{"properties":{"n":{"type":"array"}},"type":"object"}"#), "{instruction}");

    req.response_format = Some(ResponseFormat::JsonObject);
    req.messages.remove(0);
    assert!(body_of(&req)["system"].as_str().unwrap().contains("one valid JSON object"));
    req.response_format = Some(ResponseFormat::Text);
    assert!(body_of(&req).get("system").is_none());
}

#[test]
fn requests_anthropic_cannot_take_are_400s() {
    let req = ChatRequest { messages: vec![user("x")], n: Some(2), ..ChatRequest::default() };
    let e = chat_request(&req, &target("m", None)).unwrap_err();
    assert_eq!((e.fault, e.param), (Fault::BadRequest, Some("n")));
    let ok = ChatRequest { n: Some(1), ..req };
    assert!(chat_request(&ok, &target("m", None)).is_ok());

    let orphan = ChatRequest { messages: vec![Message::text(Role::Tool, "42")], ..ChatRequest::default() };
    let e = chat_request(&orphan, &target("m", None)).unwrap_err();
    assert_eq!(e.status(), 400);
    assert!(e.message.contains("tool_call_id"), "{}", e.message);
}

// ------------------------------------------------------------ fast path

#[test]
fn forward_keeps_the_body_byte_for_byte() {
    let body = br#"{ "model" : "claude-x", "max_tokens":10, "messages":[{"role":"user","content":"hi"}], "thinking": {"type":"enabled","budget_tokens":2000} }"#;
    let http = forward_messages(body, &target("claude-y", Some("k")), false).unwrap();
    assert_eq!(http.body, body.to_vec());
    assert_eq!(http.url, "https://api.anthropic.com/v1/messages");
    assert!(http.headers.contains(&("x-api-key".into(), "k".into())));
    assert!(http.headers.contains(&("anthropic-version".into(), ANTHROPIC_VERSION.into())));
    // The same model: nothing changes.
    let same = forward_messages(body, &target("claude-x", None), true).unwrap();
    assert_eq!(same.body, body.to_vec());
}

#[test]
fn forward_rewrites_only_the_top_level_model() {
    let body = br#"{"metadata":{"model":"keep"},"model" : "claude-x","messages":[{"role":"user","content":"say \"model\": no"}],"max_tokens":10,"stop_sequences":["}"]}"#;
    let http = forward_messages(body, &target("claude-\"y\"", None), true).unwrap();
    let expected = br#"{"metadata":{"model":"keep"},"model" : "claude-\"y\"","messages":[{"role":"user","content":"say \"model\": no"}],"max_tokens":10,"stop_sequences":["}"]}"#;
    assert_eq!(String::from_utf8(http.body).unwrap(), String::from_utf8(expected.to_vec()).unwrap());

    let no_model = forward_messages(br#" {"max_tokens":1}"#, &target("m", None), true).unwrap();
    assert_eq!(no_model.body, br#" {"model":"m","max_tokens":1}"#.to_vec());
    let empty = forward_messages(b"{}", &target("m", None), true).unwrap();
    assert_eq!(empty.body, br#"{"model":"m"}"#.to_vec());
    let number = forward_messages(br#"{"model":12,"a":[1,{"b":[]}]}"#, &target("m", None), true).unwrap();
    assert_eq!(number.body, br#"{"model":"m","a":[1,{"b":[]}]}"#.to_vec());

    for bad in [&b"[1]"[..], b"{", b"nope", b""] {
        let e = forward_messages(bad, &target("m", None), true).unwrap_err();
        assert_eq!(e.status(), 400);
    }
}

// ------------------------------------------------------------ responses

#[test]
fn a_text_answer_joins_blocks_and_counts_cache_tokens_in_the_prompt() {
    let r = chat_response(transcript!("response_text.json").as_bytes()).unwrap();
    assert_eq!(r.id, "msg_01HCDu5LRGeP2o7s2xGmxyFE");
    assert_eq!(r.model, "claude-sonnet-4-5-20250929");
    assert_eq!(r.created, 0);
    assert_eq!(r.choices.len(), 1);
    assert_eq!(r.choices[0].text.as_deref(), Some("Hi! I'm Claude. How can I help you today?"));
    assert!(r.choices[0].tool_calls.is_empty());
    assert_eq!(r.choices[0].finish_reason, Some(FinishReason::Stop));
    assert_eq!(
        r.usage,
        Some(Usage { input_tokens: 12 + 100 + 2048, output_tokens: 15, cached_input_tokens: Some(2048) })
    );
}

#[test]
fn tool_use_blocks_are_tool_calls() {
    let r = chat_response(transcript!("response_tool_use.json").as_bytes()).unwrap();
    let choice = &r.choices[0];
    assert_eq!(choice.text.as_deref(), Some("I'll check both cities."), "thinking is left out");
    assert_eq!(choice.finish_reason, Some(FinishReason::ToolCalls));
    assert_eq!(choice.tool_calls.len(), 2);
    assert_eq!(choice.tool_calls[0].id, "toolu_01A09q90qw90lq917835lq9");
    assert_eq!(choice.tool_calls[0].name, "get_weather");
    let args: Value = serde_json::from_str(&choice.tool_calls[0].arguments).unwrap();
    assert_eq!(args, json!({"location": "San Francisco, CA", "unit": "celsius"}));
    assert_eq!(choice.tool_calls[1].arguments, r#"{"location":"Paris, France"}"#);
    assert_eq!(r.usage, Some(Usage { input_tokens: 472, output_tokens: 118, cached_input_tokens: None }));

    let only = chat_response(transcript!("response_tool_only.json").as_bytes()).unwrap();
    assert_eq!(only.choices[0].text, None);
    assert_eq!(only.choices[0].tool_calls[0].arguments, "{}");
}

#[test]
fn every_stop_reason() {
    let reason = |text: &str| chat_response(text.as_bytes()).unwrap().choices[0].finish_reason.clone();
    assert_eq!(reason(transcript!("response_max_tokens.json")), Some(FinishReason::Length));
    assert_eq!(
        reason(transcript!("response_stop_sequence.json")),
        Some(FinishReason::StopSequence(Some(", 5".into())))
    );
    let paused = chat_response(transcript!("response_pause_turn.json").as_bytes()).unwrap();
    assert_eq!(paused.choices[0].finish_reason, Some(FinishReason::Other("pause_turn".into())));
    assert_eq!(paused.choices[0].text.as_deref(), Some("Searching."));
    assert!(paused.choices[0].tool_calls.is_empty(), "server tools are not client tool calls");
    assert!(matches!(
        chat_response(transcript!("response_refusal.json").as_bytes()),
        Err(DecodeError::Refused(_))
    ));
    let partial = r#"{"id":"m","model":"c","content":[{"type":"text","text":"I can't"}],"stop_reason":"refusal"}"#;
    assert_eq!(reason(partial), Some(FinishReason::ContentFilter));
    let context = r#"{"id":"m","model":"c","content":[],"stop_reason":"model_context_window_exceeded"}"#;
    assert_eq!(reason(context), Some(FinishReason::Length));
    let empty = chat_response(br#"{"id":"m","model":"c","content":[],"stop_reason":"end_turn"}"#).unwrap();
    assert_eq!(empty.choices[0].text.as_deref(), Some(""));
    assert_eq!(empty.usage, None);
}

#[test]
fn malformed_answers() {
    for body in [
        &b"not json"[..],
        b"[]",
        br#"{"model":"c","content":[]}"#,
        br#"{"id":"m","model":"c"}"#,
        br#"{"id":"m","content":[{"text":"no type"}]}"#,
        br#"{"id":"m","content":[{"type":"text"}]}"#,
        br#"{"id":"m","content":[{"type":"tool_use","name":"f","input":{}}]}"#,
        br#"{"type":"error","error":{"type":"api_error","message":"boom"}}"#,
        br#"{"id":"m","content":[{"type":"text","text":"cut"#,
    ] {
        assert!(
            matches!(chat_response(body), Err(DecodeError::Malformed(_))),
            "{}",
            String::from_utf8_lossy(body)
        );
    }
}

#[test]
fn errors_are_classed_with_the_message_kept() {
    let cases = [
        (429, transcript!("error_rate_limit.json"), ErrorClass::RateLimit, "This request would exceed the rate limit"),
        (529, transcript!("error_overloaded.json"), ErrorClass::Overloaded, "Overloaded"),
        (400, transcript!("error_prompt_too_long.json"), ErrorClass::ContextLength, "prompt is too long: 208310 tokens > 200000 maximum"),
        (401, transcript!("error_authentication.json"), ErrorClass::Auth, "invalid x-api-key"),
        (403, transcript!("error_permission.json"), ErrorClass::Auth, "does not have permission"),
        (404, transcript!("error_not_found.json"), ErrorClass::NotFound, "model: claude-nonexistent-1"),
        (400, transcript!("error_invalid_request.json"), ErrorClass::BadRequest, "tool_use_id: Field required"),
        (400, transcript!("error_content_policy.json"), ErrorClass::ContentPolicy, "content filtering policy"),
        (500, transcript!("error_api.json"), ErrorClass::Server, "Internal server error"),
        (413, transcript!("error_too_large.json"), ErrorClass::BadRequest, "maximum allowed number of bytes"),
    ];
    for (status, body, class, message) in cases {
        let e = error(status, body);
        assert_eq!(e.class, class, "{body}");
        assert!(e.message.contains(message), "{} lacks {message}", e.message);
    }
}

#[test]
fn errors_without_an_anthropic_body_are_classed_by_status() {
    assert_eq!(error(529, "").class, ErrorClass::Overloaded);
    assert_eq!(error(503, "<html>busy</html>").class, ErrorClass::Overloaded);
    assert_eq!(error(503, "<html>busy</html>").message, "<html>busy</html>");
    assert_eq!(error(429, "").class, ErrorClass::RateLimit);
    assert_eq!(error(401, "").class, ErrorClass::Auth);
    assert_eq!(error(404, "").class, ErrorClass::NotFound);
    assert_eq!(error(400, "").class, ErrorClass::BadRequest);
    assert_eq!(error(502, "").class, ErrorClass::Server);
    assert!(error(502, "").message.contains("502"));
    let e = error(400, r#"{"error":{"message":"prompt is too long"}}"#);
    assert_eq!(e.class, ErrorClass::ContextLength);
    let timeout = error(504, r#"{"type":"error","error":{"type":"timeout_error","message":"Request timed out"}}"#);
    assert_eq!((timeout.class, timeout.message.as_str()), (ErrorClass::Server, "Request timed out"));
    let long = "x".repeat(2000);
    assert!(error(500, &long).message.len() < 600);
}

// --------------------------------------------------------------- streams

fn decode_chunks(chunks: &[&[u8]]) -> Result<Vec<StreamEvent>, DecodeError> {
    let mut decoder = Decoder::new();
    let mut out = Vec::new();
    for chunk in chunks {
        decoder.push(chunk, &mut out)?;
    }
    decoder.finish(&mut out)?;
    Ok(out)
}

fn decode_whole(text: &str) -> Result<Vec<StreamEvent>, DecodeError> {
    decode_chunks(&[text.as_bytes()])
}

/// Whole, one byte at a time, and (when `every_split`) cut in two at every offset.
fn same_every_way(text: &str, every_split: bool) -> Vec<StreamEvent> {
    let whole = decode_whole(text).unwrap();
    let bytes: Vec<&[u8]> = text.as_bytes().chunks(1).collect();
    assert_eq!(decode_chunks(&bytes).unwrap(), whole, "byte at a time");
    if every_split {
        let b = text.as_bytes();
        for cut in 0..=b.len() {
            assert_eq!(decode_chunks(&[&b[..cut], &b[cut..]]).unwrap(), whole, "cut at {cut}");
        }
    }
    whole
}

fn text(text: &str) -> StreamEvent {
    StreamEvent::Text { choice: 0, text: text.into() }
}

#[test]
fn a_text_stream() {
    let events = same_every_way(transcript!("stream_text.sse"), true);
    assert_eq!(
        events,
        vec![
            StreamEvent::Start { id: "msg_01XFDUDYJgAACzvnptvVoYEL".into(), model: "claude-sonnet-4-5-20250929".into() },
            StreamEvent::Usage(Usage { input_tokens: 25 + 1024, output_tokens: 1, cached_input_tokens: Some(1024) }),
            text("Hello"),
            text(", wörld!"),
            StreamEvent::Finish { choice: 0, reason: FinishReason::Stop },
            StreamEvent::Usage(Usage { input_tokens: 25 + 1024, output_tokens: 15, cached_input_tokens: Some(1024) }),
            StreamEvent::Done,
        ]
    );
    let crlf = transcript!("stream_text.sse").replace('\n', "\r\n");
    assert_eq!(same_every_way(&crlf, false), events);
}

#[test]
fn a_tool_use_stream_with_thinking() {
    let events = same_every_way(transcript!("stream_tool_use.sse"), false);
    let args = |index: u32, arguments: &str| StreamEvent::ToolCallArguments { choice: 0, index, arguments: arguments.into() };
    assert_eq!(
        events,
        vec![
            StreamEvent::Start { id: "msg_014p7gG3wDgGV9EUtLvnow3U".into(), model: "claude-sonnet-4-5-20250929".into() },
            StreamEvent::Usage(Usage { input_tokens: 472, output_tokens: 2, cached_input_tokens: None }),
            text("Let me check the weather."),
            StreamEvent::ToolCallStart { choice: 0, index: 0, id: "toolu_01T1x1fJ34qAmk2tNTrN7Up6".into(), name: "get_weather".into() },
            args(0, "{\"location\": \"San Fra"),
            args(0, "ncisco, CA\"}"),
            StreamEvent::ToolCallStart { choice: 0, index: 1, id: "toolu_01B7bXq2fGm8c1c1s8a9kPz".into(), name: "get_time".into() },
            args(1, "{\"tz\": \"Europe/Paris\"}"),
            StreamEvent::Finish { choice: 0, reason: FinishReason::ToolCalls },
            StreamEvent::Usage(Usage { input_tokens: 472, output_tokens: 89, cached_input_tokens: Some(0) }),
            StreamEvent::Done,
        ]
    );
}

#[test]
fn a_stop_sequence_stream() {
    let events = same_every_way(transcript!("stream_stop_sequence.sse"), false);
    assert!(events.contains(&StreamEvent::Finish {
        choice: 0,
        reason: FinishReason::StopSequence(Some(", 3".into()))
    }));
    assert_eq!(events.last(), Some(&StreamEvent::Done));
}

#[test]
fn an_error_event_ends_the_stream() {
    let events = same_every_way(transcript!("stream_error.sse"), false);
    assert_eq!(events[2], text("Par"));
    assert_eq!(events.last(), Some(&StreamEvent::Error { message: "Overloaded".into() }));
    assert_eq!(events.len(), 4);
    let raw = decode_whole("event: error\ndata: upstream exploded\n\n").unwrap();
    assert_eq!(raw, vec![StreamEvent::Error { message: "upstream exploded".into() }]);
}

#[test]
fn a_cut_stream_is_never_complete() {
    let text_cut = transcript!("stream_cut.sse");
    assert!(matches!(decode_whole(text_cut), Err(DecodeError::Malformed(_))));
    // Every prefix of a complete stream short of `message_stop` fails too.
    let full = transcript!("stream_text.sse");
    let end = full.rfind("\"}").unwrap() + 1;
    for cut in 0..end {
        assert!(decode_chunks(&[&full.as_bytes()[..cut]]).is_err(), "prefix of {cut} bytes");
    }
    // Without its trailing blank line the end marker still counts.
    assert!(decode_whole(full.trim_end()).is_ok());
    assert!(decode_whole("").is_err());
}

#[test]
fn malformed_streams() {
    let start = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"model\":\"c\",\"usage\":{\"input_tokens\":1}}}\n\n";
    for bad in [
        format!("{start}event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{{\"type\":\"text_delta\",\"text\":\"\n\n"),
        format!("{start}event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":3,\"delta\":{{\"type\":\"text_delta\",\"text\":\"x\"}}}}\n\n"),
        format!("{start}{start}"),
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n".to_string(),
        format!("{start}event: content_block_start\ndata: {{\"type\":\"content_block_start\",\"content_block\":{{\"type\":\"text\"}}}}\n\n"),
        format!("{start}event: content_block_start\ndata: {{\"type\":\"content_block_start\",\"index\":0,\"content_block\":{{\"type\":\"tool_use\",\"name\":\"f\"}}}}\n\n"),
    ] {
        let mut decoder = Decoder::new();
        let mut out = Vec::new();
        assert!(
            matches!(decoder.push(bad.as_bytes(), &mut out), Err(DecodeError::Malformed(_))),
            "{bad}"
        );
    }
    // Unknown event types and pings are skipped; events after message_stop too.
    let odd = format!("{start}event: ping\ndata: {{\"type\":\"ping\"}}\n\nevent: brand_new\ndata: {{\"type\":\"brand_new\"}}\n\nevent: message_stop\ndata: {{\"type\":\"message_stop\"}}\n\nevent: content_block_delta\ndata: {{}}\n\n");
    let events = decode_whole(&odd).unwrap();
    assert_eq!(events.len(), 3);
    assert_eq!(events[2], StreamEvent::Done);
}

#[test]
fn a_tool_start_that_carries_input_passes_it_on() {
    let text = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"model\":\"c\"}}\n\n\
event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"tool_use\",\"id\":\"t\",\"name\":\"f\",\"input\":{\"a\":1}}}\n\n\
event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
    let events = decode_whole(text).unwrap();
    assert_eq!(
        events[2],
        StreamEvent::ToolCallArguments { choice: 0, index: 0, arguments: "{\"a\":1}".into() }
    );
}

#[test]
fn nothing_panics_on_cut_or_garbled_input() {
    let all = [
        transcript!("response_text.json"),
        transcript!("response_tool_use.json"),
        transcript!("error_rate_limit.json"),
        transcript!("stream_text.sse"),
        transcript!("stream_tool_use.sse"),
        transcript!("request_full.json"),
    ];
    let odd = [
        r#"{"type":"content_block_start","index":-1,"content_block":"x"}"#,
        r#"{"type":"content_block_delta","index":0,"delta":5}"#,
        r#"{"type":"message_start","message":[]}"#,
        r#"{"type":"message_delta","delta":null,"usage":{"output_tokens":"many"}}"#,
        r#"{"type":"error","error":null}"#,
        r#"{"id":1,"content":{"type":"text"},"usage":[]}"#,
        r#"{"model":{"model":"x"},"a":"\\\"}"}"#,
        "\u{0}\u{ffff}{[\"",
    ];
    for text in all.iter().chain(odd.iter()) {
        let bytes = text.as_bytes();
        for cut in 0..=bytes.len() {
            let part = &bytes[..cut];
            let lossy = String::from_utf8_lossy(part);
            let _ = chat_response(part);
            let _ = error(400, &lossy);
            let _ = forward_messages(part, &target("m", None), true);
            let _ = crate::dialect::anthropic::decode_chat(part);
            let _ = crate::dialect::anthropic::inspect(part);
            let _ = decode_chunks(&[part]);
            let framed = format!("event: x\ndata: {lossy}\n\n");
            let _ = decode_chunks(&[transcript!("stream_text.sse").split("event: content_block_start").next().unwrap().as_bytes(), framed.as_bytes()]);
        }
    }
}
