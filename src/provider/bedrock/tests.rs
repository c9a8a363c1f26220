//! Bedrock adapter tests against transcripts shaped as the Converse /
//! ConverseStream API reference describes them (tests/transcripts/bedrock/).

use serde_json::{json, Value};

use super::eventstream::{encode_event, encode_exception};
use super::*;
use crate::canonical::{
    ChatRequest, DecodeError, ErrorClass, FinishReason, Image, ImageSource, Message, Part,
    ResponseFormat, Role, StreamEvent, Tool, ToolCall, ToolChoice, Usage,
};
use crate::error::Fault;
use crate::plan::ProviderKind;
use crate::provider::{Adapter, Framing, Target};

macro_rules! transcript {
    ($name:literal) => {
        include_str!(concat!("../../../tests/transcripts/bedrock/", $name))
    };
}
macro_rules! binary {
    ($name:literal) => {
        include_bytes!(concat!("../../../tests/transcripts/bedrock/", $name))
    };
}

const MODEL: &str = "anthropic.claude-3-5-sonnet-20240620-v1:0";

fn target<'a>(key: Option<&'a str>) -> Target<'a> {
    Target {
        kind: ProviderKind::Bedrock,
        base: "https://bedrock-runtime.us-west-2.amazonaws.com",
        model: MODEL,
        key,
        api_version: None,
        region: Some("us-west-2"),
        now_ms: 1_718_900_000_123,
    }
}

fn parse(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

fn body_of(req: &ChatRequest) -> Value {
    let http = chat_request(req, &target(Some("br-key"))).unwrap();
    serde_json::from_slice(&http.body).unwrap()
}

fn header<'a>(http: &'a crate::provider::HttpRequest, name: &str) -> Option<&'a str> {
    http.headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

fn user(text: &str) -> Message {
    Message::text(Role::User, text)
}

// ---------------------------------------------------------------- requests

#[test]
fn text_request_with_system_and_inference_config() {
    let req = ChatRequest {
        model: MODEL.into(),
        messages: vec![
            Message::text(Role::System, "You are terse."),
            user("Hi"),
            Message::text(Role::Assistant, "Hello."),
            Message::text(Role::System, "Answer in English."),
            user("Tell me a joke"),
            user("about cats"),
        ],
        max_tokens: Some(256),
        temperature: Some(0.5),
        top_p: Some(0.9),
        top_k: Some(40),
        stop: vec!["\n\nHuman:".into(), "END".into()],
        seed: Some(7),
        user: Some("u-1".into()),
        ..Default::default()
    };
    assert_eq!(body_of(&req), parse(transcript!("request_text.json")));
}

#[test]
fn url_auth_and_accept() {
    let mut req = ChatRequest {
        messages: vec![user("Hi")],
        ..Default::default()
    };
    let http = chat_request(&req, &target(Some("ABSKQmVkcm9ja0FQSUtleS1leGFtcGxl"))).unwrap();
    assert_eq!(
        http.url,
        "https://bedrock-runtime.us-west-2.amazonaws.com/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse"
    );
    assert_eq!(
        header(&http, "authorization"),
        Some("Bearer ABSKQmVkcm9ja0FQSUtleS1leGFtcGxl")
    );
    assert_eq!(header(&http, "content-type"), Some("application/json"));
    assert_eq!(header(&http, "accept"), Some("application/json"));
    assert_eq!(header(&http, "x-amz-date"), None);

    req.stream = true;
    let t = Target {
        base: "http://127.0.0.1:8080/t/status=500/v1/",
        model: "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.meta.llama3-2-1b-instruct-v1:0",
        key: None,
        ..target(None)
    };
    let http = chat_request(&req, &t).unwrap();
    assert_eq!(
        http.url,
        "http://127.0.0.1:8080/t/status=500/v1/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile%2Fus.meta.llama3-2-1b-instruct-v1%3A0/converse-stream"
    );
    assert_eq!(
        header(&http, "accept"),
        Some("application/vnd.amazon.eventstream")
    );
    assert_eq!(header(&http, "authorization"), None);
    assert_eq!(Adapter::Bedrock.framing(), Framing::EventStream);
    assert_eq!(
        default_base("eu-central-1"),
        "https://bedrock-runtime.eu-central-1.amazonaws.com"
    );
}

/// The whole signed request. The expected values were computed with
/// Python's `hmac`/`hashlib` from the body below
/// (tests/transcripts/bedrock/sigv4_expected.py).
#[test]
fn sigv4_signed_request() {
    let req = ChatRequest {
        messages: vec![user("Hello")],
        max_tokens: Some(64),
        stream: true,
        ..Default::default()
    };
    let key = "AKIAIOSFODNN7EXAMPLE:wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    let http = chat_request(&req, &target(Some(key))).unwrap();
    assert_eq!(
        String::from_utf8(http.body.clone()).unwrap(),
        r#"{"inferenceConfig":{"maxTokens":64},"messages":[{"content":[{"text":"Hello"}],"role":"user"}]}"#
    );
    assert_eq!(header(&http, "x-amz-date"), Some("20240620T161320Z"));
    assert_eq!(
        header(&http, "x-amz-content-sha256"),
        Some("8a784614c1e9f2d843eb826000ef114904698758576a329ea7016b38c8b62274")
    );
    assert_eq!(header(&http, "host"), None);
    assert_eq!(header(&http, "x-amz-security-token"), None);
    assert_eq!(
        header(&http, "authorization"),
        Some("AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20240620/us-west-2/bedrock/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=68d82ca6291650ce70301122b1de4e6e5cb44811d24285acbb692a45df3dfde1")
    );

    // Temporary credentials: the session token is sent and signed; the
    // region comes from the host when the target has none; a path prefix
    // is part of the canonical URI.
    let key = "ASIAEXAMPLE:wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY:FwoGZXIvYXdzEXAMPLE//token+with/base64=";
    let t = Target {
        base: "https://bedrock-runtime.eu-west-1.amazonaws.com/prefix",
        region: None,
        ..target(Some(key))
    };
    let http = chat_request(&req, &t).unwrap();
    assert_eq!(
        header(&http, "x-amz-security-token"),
        Some("FwoGZXIvYXdzEXAMPLE//token+with/base64=")
    );
    assert_eq!(
        header(&http, "authorization"),
        Some("AWS4-HMAC-SHA256 Credential=ASIAEXAMPLE/20240620/eu-west-1/bedrock/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token, Signature=b59409d0d5428f547023698c16f7e591f827521994a7a287892add14dd7a92a2")
    );
}

#[test]
fn sigv4_needs_a_region() {
    let req = ChatRequest {
        messages: vec![user("Hi")],
        ..Default::default()
    };
    let t = Target {
        base: "https://bedrock.example.internal",
        region: None,
        ..target(Some("AKID:SECRET"))
    };
    let err = chat_request(&req, &t).unwrap_err();
    assert_eq!(err.fault, Fault::Misconfigured);
    assert!(err.message.contains("region"), "{}", err.message);
    // With a region, any host signs.
    let t = Target {
        region: Some("us-east-1"),
        ..t
    };
    assert!(chat_request(&req, &t).is_ok());
}

#[test]
fn bad_base_urls_are_misconfigured() {
    let req = ChatRequest {
        messages: vec![user("Hi")],
        ..Default::default()
    };
    for base in [
        "bedrock-runtime.us-east-1.amazonaws.com",
        "ftp://x",
        "https://",
        "https://u@h/",
        "https://h?x=1",
    ] {
        let t = Target {
            base,
            ..target(Some("k"))
        };
        assert_eq!(
            chat_request(&req, &t).unwrap_err().fault,
            Fault::Misconfigured,
            "{base}"
        );
    }
    // No base: the region's endpoint, if there is a region.
    let t = Target {
        base: "",
        ..target(Some("k"))
    };
    assert_eq!(
        chat_request(&req, &t).unwrap().url,
        "https://bedrock-runtime.us-west-2.amazonaws.com/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse"
    );
    let t = Target {
        base: "",
        region: None,
        ..target(Some("k"))
    };
    assert_eq!(
        chat_request(&req, &t).unwrap_err().fault,
        Fault::Misconfigured
    );
}

fn get_weather() -> Tool {
    Tool {
        name: "get_weather".into(),
        description: Some("Current weather for a city".into()),
        parameters: json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}),
        strict: Some(true),
    }
}

fn tool_conversation() -> Vec<Message> {
    let mut assistant = Message::text(Role::Assistant, "Checking both.");
    assistant.tool_calls = vec![
        ToolCall {
            id: "tooluse_1".into(),
            name: "get_weather".into(),
            arguments: r#"{"city":"Paris"}"#.into(),
        },
        ToolCall {
            id: "tooluse_2".into(),
            name: "get_weather".into(),
            arguments: r#"{"city": "Oslo"}"#.into(),
        },
    ];
    let mut ok = Message::text(Role::Tool, r#"{"temp":21}"#);
    ok.tool_call_id = Some("tooluse_1".into());
    let mut failed = Message::text(Role::Tool, "station offline");
    failed.tool_call_id = Some("tooluse_2".into());
    failed.is_error = true;
    vec![
        user("Weather in Paris and Oslo?"),
        assistant,
        ok,
        failed,
        user("Thanks. And tomorrow?"),
    ]
}

#[test]
fn tools_parallel_calls_and_results() {
    let req = ChatRequest {
        messages: tool_conversation(),
        tools: vec![
            get_weather(),
            Tool {
                name: "now".into(),
                description: None,
                parameters: Value::Null,
                strict: None,
            },
        ],
        tool_choice: Some(ToolChoice::Tool("get_weather".into())),
        parallel_tool_calls: Some(true),
        ..Default::default()
    };
    assert_eq!(body_of(&req), parse(transcript!("request_tools.json")));
}

#[test]
fn tool_choices() {
    let with = |choice: Option<ToolChoice>, messages: Vec<Message>| {
        let req = ChatRequest {
            messages,
            tools: vec![get_weather()],
            tool_choice: choice,
            ..Default::default()
        };
        body_of(&req)["toolConfig"].clone()
    };
    let plain = || vec![user("tool please")];
    assert_eq!(with(None, plain())["toolChoice"], Value::Null);
    assert_eq!(
        with(None, plain())["tools"][0]["toolSpec"]["name"],
        "get_weather"
    );
    assert_eq!(
        with(Some(ToolChoice::Auto), plain())["toolChoice"],
        json!({"auto": {}})
    );
    assert_eq!(
        with(Some(ToolChoice::Required), plain())["toolChoice"],
        json!({"any": {}})
    );
    // "none": no tools at all, unless the history needs the toolConfig.
    assert_eq!(with(Some(ToolChoice::None), plain()), Value::Null);
    let config = with(Some(ToolChoice::None), tool_conversation());
    assert_eq!(config["tools"][0]["toolSpec"]["name"], "get_weather");
    assert_eq!(config["toolChoice"], Value::Null);
    // No tools declared: no toolConfig whatever the choice.
    let req = ChatRequest {
        messages: plain(),
        tool_choice: Some(ToolChoice::Required),
        ..Default::default()
    };
    assert_eq!(body_of(&req).get("toolConfig"), None);
}

fn image(source: ImageSource) -> Part {
    Part::Image(Image {
        source,
        detail: Some("high".into()),
    })
}

#[test]
fn inline_images_and_json_schema() {
    let req = ChatRequest {
        messages: vec![Message {
            content: vec![
                Part::Text("What is in this image?".into()),
                image(ImageSource::from_url("data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")),
                image(ImageSource::Base64 { media_type: "image/jpg".into(), data: "/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAA==".into() }),
            ],
            ..user("")
        }],
        response_format: Some(ResponseFormat::JsonSchema {
            name: "caption".into(),
            schema: json!({"type": "object", "properties": {"caption": {"type": "string"}}}),
            strict: Some(true),
        }),
        max_tokens: Some(100),
        ..Default::default()
    };
    assert_eq!(body_of(&req), parse(transcript!("request_image.json")));

    let req = ChatRequest {
        messages: vec![user("Give me JSON")],
        response_format: Some(ResponseFormat::JsonObject),
        ..Default::default()
    };
    assert_eq!(
        body_of(&req)["system"][0]["text"],
        "Respond with a single JSON object and nothing else."
    );
    let req = ChatRequest {
        messages: vec![user("Plain")],
        response_format: Some(ResponseFormat::Text),
        ..Default::default()
    };
    assert_eq!(body_of(&req).get("system"), None);
}

#[test]
fn what_converse_cannot_take_is_a_400() {
    let bad = |req: ChatRequest| {
        let err = chat_request(&req, &target(Some("k"))).unwrap_err();
        assert_eq!(err.fault, Fault::BadRequest);
        err.message
    };
    let with_part = |part: Part| ChatRequest {
        messages: vec![Message {
            content: vec![part],
            ..user("")
        }],
        ..Default::default()
    };
    assert!(bad(with_part(image(ImageSource::Url(
        "https://example.com/cat.png".into()
    ))))
    .contains("image URLs"));
    assert!(bad(with_part(image(ImageSource::Base64 {
        media_type: "image/tiff".into(),
        data: "AAAA".into()
    })))
    .contains("image/tiff"));
    assert!(bad(ChatRequest {
        messages: vec![user("Hi")],
        n: Some(2),
        ..Default::default()
    })
    .contains("`n`"));
    let mut assistant = Message::text(Role::Assistant, "");
    assistant.tool_calls = vec![ToolCall {
        id: "c1".into(),
        name: "f".into(),
        arguments: "{not json".into(),
    }];
    assert!(bad(ChatRequest {
        messages: vec![user("Hi"), assistant],
        ..Default::default()
    })
    .contains("c1"));
    let orphan = Message::text(Role::Tool, "result");
    assert!(bad(ChatRequest {
        messages: vec![user("Hi"), orphan],
        ..Default::default()
    })
    .contains("tool_call_id"));
    let system_image = Message {
        content: vec![image(ImageSource::Base64 {
            media_type: "image/png".into(),
            data: "AA".into(),
        })],
        ..Message::text(Role::System, "")
    };
    assert!(bad(ChatRequest {
        messages: vec![system_image, user("Hi")],
        ..Default::default()
    })
    .contains("system"));
    // n = 1 is fine; empty tool arguments are an empty object.
    let mut assistant = Message::text(Role::Assistant, "");
    assistant.tool_calls = vec![ToolCall {
        id: "c1".into(),
        name: "f".into(),
        arguments: "".into(),
    }];
    let req = ChatRequest {
        messages: vec![user("Hi"), assistant],
        n: Some(1),
        ..Default::default()
    };
    let body = body_of(&req);
    assert_eq!(
        body["messages"][1]["content"],
        json!([{"toolUse": {"toolUseId": "c1", "name": "f", "input": {}}}])
    );
}

// --------------------------------------------------------------- responses

fn respond(text: &str) -> Result<crate::canonical::ChatResponse, DecodeError> {
    chat_response(text.as_bytes())
}

#[test]
fn text_response() {
    let r = respond(transcript!("converse_text.json")).unwrap();
    assert_eq!(r.choices.len(), 1);
    assert_eq!(
        r.choices[0].text.as_deref(),
        Some("Hello! How can I help you today?")
    );
    assert!(r.choices[0].tool_calls.is_empty());
    assert_eq!(r.choices[0].finish_reason, Some(FinishReason::Stop));
    assert_eq!(
        r.usage,
        Some(Usage {
            input_tokens: 14,
            output_tokens: 10,
            cached_input_tokens: None
        })
    );
    assert_eq!((r.id.as_str(), r.model.as_str(), r.created), ("", "", 0));
    assert_eq!(
        Adapter::Bedrock.chat_response(transcript!("converse_text.json").as_bytes()),
        Ok(r)
    );
}

#[test]
fn tool_use_responses() {
    let r = respond(transcript!("converse_tool_use.json")).unwrap();
    let c = &r.choices[0];
    assert_eq!(
        c.text.as_deref(),
        Some("I'll look up the weather in both cities.")
    );
    assert_eq!(c.finish_reason, Some(FinishReason::ToolCalls));
    assert_eq!(c.tool_calls.len(), 2);
    assert_eq!(c.tool_calls[0].id, "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q");
    assert_eq!(c.tool_calls[0].name, "get_weather");
    assert_eq!(
        parse(&c.tool_calls[0].arguments),
        json!({"city": "Paris", "unit": "celsius"})
    );
    assert_eq!(
        parse(&c.tool_calls[1].arguments),
        json!({"city": "Oslo", "unit": "celsius"})
    );

    let r = respond(transcript!("converse_tool_only.json")).unwrap();
    assert_eq!(r.choices[0].text, None);
    assert_eq!(r.choices[0].tool_calls[0].arguments, "{}");
}

#[test]
fn finish_reasons_and_cached_usage() {
    let reason = |text: &str| respond(text).unwrap().choices[0].finish_reason.clone();
    assert_eq!(
        reason(transcript!("converse_max_tokens.json")),
        Some(FinishReason::Length)
    );
    assert_eq!(
        reason(transcript!("converse_stop_sequence.json")),
        Some(FinishReason::StopSequence(None))
    );
    // A guardrail that answered with its own text: content filter, not a refusal.
    let r = respond(transcript!("converse_guardrail.json")).unwrap();
    assert_eq!(
        r.choices[0].finish_reason,
        Some(FinishReason::ContentFilter)
    );
    assert_eq!(
        r.choices[0].text.as_deref(),
        Some("Sorry, I can't help with that request.")
    );
    // Filtered with nothing said: refused.
    assert!(
        matches!(respond(transcript!("converse_content_filtered.json")), Err(DecodeError::Refused(m)) if m.contains("content_filtered"))
    );
    let r = respond(transcript!("converse_cached.json")).unwrap();
    assert_eq!(
        r.choices[0].text.as_deref(),
        Some("The document describes three phases.")
    );
    assert_eq!(
        r.usage,
        Some(Usage {
            input_tokens: 25 + 2048 + 1024,
            output_tokens: 40,
            cached_input_tokens: Some(2048)
        })
    );
    assert_eq!(
        response::finish_reason("model_context_window_exceeded"),
        FinishReason::Length
    );
    assert_eq!(
        response::finish_reason("interrupt"),
        FinishReason::Other("interrupt".into())
    );
}

#[test]
fn malformed_responses() {
    for body in [
        "",
        "not json",
        "[]",
        r#"{"output":{}}"#,
        r#"{"output":{"message":"hi"}}"#,
        r#"{"output":{"message":{"content":"hi"}}}"#,
        r#"{"output":{"message":{"content":[{"text":5}]}}}"#,
        r#"{"output":{"message":{"content":[{"toolUse":{"name":"f"}}]}}}"#,
        r#"{"output":{"message":{"content":[]}},"stopReason":7}"#,
        r#"{"output":{"message":{"content":[]}},"usage":{"inputTokens":-1}}"#,
        r#"{"output":{"message":{"content":[]}},"usage":[]}"#,
    ] {
        assert!(
            matches!(respond(body), Err(DecodeError::Malformed(_))),
            "{body}"
        );
    }
}

#[test]
fn errors_by_class_with_the_message_kept() {
    let cases: Vec<Value> = serde_json::from_str(transcript!("errors.json")).unwrap();
    for case in cases {
        let status = case["status"].as_u64().unwrap() as u16;
        let body = case["body"].to_string();
        let e = Adapter::Bedrock.error(status, &body);
        let expected = case["class"].as_str().unwrap();
        assert_eq!(format!("{:?}", e.class), expected, "{body}");
        let message = case["body"]
            .get("message")
            .or(case["body"].get("Message"))
            .unwrap();
        assert_eq!(e.message, message.as_str().unwrap());
    }
    let e = error(502, "<html><body>502 Bad Gateway</body></html>");
    assert_eq!(e.class, ErrorClass::Server);
    assert_eq!(e.message, "<html><body>502 Bad Gateway</body></html>");
    let e = error(400, "");
    assert_eq!(e.class, ErrorClass::BadRequest);
    assert!(e.message.contains("400"));
    assert_eq!(error(429, "{}").class, ErrorClass::RateLimit);
}

// ----------------------------------------------------------------- streams

/// Feeds `bytes` in the given pieces; the events, and `finish`'s result.
fn decode(pieces: &[&[u8]]) -> (Vec<StreamEvent>, Result<(), DecodeError>) {
    let mut d = Adapter::Bedrock.stream_decoder();
    let mut out = Vec::new();
    for piece in pieces {
        if let Err(e) = d.push(piece, &mut out) {
            return (out, Err(e));
        }
    }
    let end = d.finish(&mut out);
    (out, end)
}

fn decode_ok(bytes: &[u8]) -> Vec<StreamEvent> {
    let (events, end) = decode(&[bytes]);
    end.unwrap();
    events
}

/// Whole, one byte at a time and (for `every_split`) split in two at every
/// offset: all the same events.
fn same_every_way(bytes: &[u8], every_split: bool) -> Vec<StreamEvent> {
    let whole = decode(&[bytes]);
    let bytewise: Vec<&[u8]> = bytes.chunks(1).collect();
    assert_eq!(decode(&bytewise), whole);
    if every_split {
        for at in 0..=bytes.len() {
            assert_eq!(
                decode(&[&bytes[..at], &bytes[at..]]),
                whole,
                "split at {at}"
            );
        }
    }
    whole.1.unwrap();
    whole.0
}

fn start() -> StreamEvent {
    StreamEvent::Start {
        id: String::new(),
        model: String::new(),
    }
}

fn text(t: &str) -> StreamEvent {
    StreamEvent::Text {
        choice: 0,
        text: t.into(),
    }
}

#[test]
fn text_stream() {
    let events = same_every_way(binary!("stream_text.bin"), true);
    assert_eq!(
        events,
        vec![
            start(),
            text("Hello"),
            text("! How can"),
            text(" I help?"),
            StreamEvent::Finish {
                choice: 0,
                reason: FinishReason::Stop
            },
            StreamEvent::Usage(Usage {
                input_tokens: 1036,
                output_tokens: 9,
                cached_input_tokens: Some(1024)
            }),
            StreamEvent::Done,
        ]
    );
}

#[test]
fn tool_stream_with_parallel_calls() {
    let events = same_every_way(binary!("stream_tools.bin"), false);
    let args = |index: u32, arguments: &str| StreamEvent::ToolCallArguments {
        choice: 0,
        index,
        arguments: arguments.into(),
    };
    assert_eq!(
        events,
        vec![
            start(),
            text("Checking both cities."),
            StreamEvent::ToolCallStart {
                choice: 0,
                index: 0,
                id: "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q".into(),
                name: "get_weather".into()
            },
            args(0, ""),
            args(0, "{\"city\": \"Par"),
            args(0, "is\"}"),
            StreamEvent::ToolCallStart {
                choice: 0,
                index: 1,
                id: "tooluse_Q2x9Rk3mTqWbN8YhL1vZcA".into(),
                name: "get_weather".into()
            },
            args(1, "{\"city\": \"Oslo\"}"),
            StreamEvent::Finish {
                choice: 0,
                reason: FinishReason::ToolCalls
            },
            StreamEvent::Usage(Usage {
                input_tokens: 310,
                output_tokens: 96,
                cached_input_tokens: None
            }),
            StreamEvent::Done,
        ]
    );
}

#[test]
fn max_tokens_stream() {
    let events = same_every_way(binary!("stream_max_tokens.bin"), true);
    assert_eq!(
        events[2],
        StreamEvent::Finish {
            choice: 0,
            reason: FinishReason::Length
        }
    );
    assert_eq!(events.last(), Some(&StreamEvent::Done));
}

#[test]
fn exceptions_end_the_stream_as_errors() {
    let events = same_every_way(binary!("stream_exception.bin"), true);
    assert_eq!(
        events,
        vec![
            start(),
            text("Partial"),
            StreamEvent::Error {
                message: "modelStreamErrorException: The model stream was interrupted.".into()
            },
        ]
    );
    let events = same_every_way(binary!("stream_throttled.bin"), true);
    assert_eq!(
        events,
        vec![
            start(),
            StreamEvent::Error {
                message: "throttlingException: Too many tokens, please wait before trying again."
                    .into()
            }
        ]
    );
    // The generic `error` message type, with its code and message in headers.
    use super::eventstream::{encode_frame, Header};
    let frame = encode_frame(
        &[
            Header::string(":message-type", "error"),
            Header::string(":error-code", "InternalFailure"),
            Header::string(":error-message", "An internal error occurred"),
        ],
        b"",
    )
    .unwrap();
    assert_eq!(
        decode_ok(&frame),
        vec![
            start(),
            StreamEvent::Error {
                message: "InternalFailure: An internal error occurred".into()
            }
        ]
    );
}

/// Frame boundaries of an event-stream body.
fn boundaries(bytes: &[u8]) -> Vec<usize> {
    let mut at = 0;
    let mut ends = Vec::new();
    while at < bytes.len() {
        at += u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        ends.push(at);
    }
    ends
}

#[test]
fn a_cut_stream_never_looks_complete() {
    let bytes = binary!("stream_text.bin");
    let ends = boundaries(bytes);
    assert_eq!(ends.len(), 7);
    // Cut at every byte before the end, at frame boundaries or inside a frame.
    for cut in 0..bytes.len() {
        let (events, end) = decode(&[&bytes[..cut]]);
        assert!(
            matches!(end, Err(DecodeError::Malformed(_))),
            "cut at {cut}"
        );
        assert!(!events.contains(&StreamEvent::Done));
    }
    // Cut right after messageStop: everything but the end marker.
    let (events, end) = decode(&[&bytes[..ends[5]]]);
    assert!(
        end.unwrap_err()
            == DecodeError::Malformed("Bedrock stream ended before its metadata event".into())
    );
    assert_eq!(
        events.last(),
        Some(&StreamEvent::Finish {
            choice: 0,
            reason: FinishReason::Stop
        })
    );
}

#[test]
fn a_bad_crc_is_malformed() {
    let good = binary!("stream_text.bin");
    let ends = boundaries(good);
    // A byte flipped in the prelude CRC, a header, the payload, the message CRC.
    for at in [ends[0] + 9, ends[0] + 20, ends[1] - 10, ends[1] - 1] {
        let mut bytes = good.to_vec();
        bytes[at] ^= 0x01;
        let (events, end) = decode(&[&bytes]);
        assert!(
            matches!(end, Err(DecodeError::Malformed(_))),
            "flipped {at}"
        );
        // The frames before the bad one were decoded.
        assert_eq!(events, vec![start()], "flipped {at}");
        // And the decoder stays broken.
        let mut d = Decoder::new();
        let mut out = Vec::new();
        assert!(d.push(&bytes, &mut out).is_err());
        assert!(d.push(b"", &mut out).is_err());
        assert!(d.finish(&mut out).is_err());
    }
}

#[test]
fn malformed_events() {
    let event = |kind: &str, json: &str| encode_event(kind, json.as_bytes()).unwrap();
    for (kind, json) in [
        ("messageStart", "not json"),
        ("messageStart", "[1]"),
        ("contentBlockDelta", r#"{"contentBlockIndex":0}"#),
        (
            "contentBlockDelta",
            r#"{"contentBlockIndex":0,"delta":{"text":3}}"#,
        ),
        (
            "contentBlockDelta",
            r#"{"contentBlockIndex":4,"delta":{"toolUse":{"input":"{"}}}"#,
        ),
        (
            "contentBlockStart",
            r#"{"contentBlockIndex":1,"start":{"toolUse":{"name":"f"}}}"#,
        ),
        (
            "contentBlockStart",
            r#"{"start":{"toolUse":{"name":"f","toolUseId":"t"}}}"#,
        ),
        ("messageStop", r#"{}"#),
        ("metadata", r#"{"usage":{"inputTokens":"many"}}"#),
    ] {
        let (_, end) = decode(&[&event(kind, json)]);
        assert!(
            matches!(end, Err(DecodeError::Malformed(_))),
            "{kind} {json}"
        );
    }
    // A tool block that starts twice.
    let start = event(
        "contentBlockStart",
        r#"{"contentBlockIndex":1,"start":{"toolUse":{"name":"f","toolUseId":"t"}}}"#,
    );
    assert!(decode(&[&start, &start]).1.is_err());
    // Frames without the headers that say what they are.
    use super::eventstream::{encode_frame, Header};
    for headers in [
        vec![],
        vec![Header::string(":message-type", "event")],
        vec![Header::string(":message-type", "surprise")],
    ] {
        assert!(decode(&[&encode_frame(&headers, b"{}").unwrap()])
            .1
            .is_err());
    }
    // Not an event stream at all.
    assert!(decode(&[b"data: {\"hello\":1}\n\n"]).1.is_err());
}

#[test]
fn unknown_events_and_blocks_are_skipped() {
    let mut bytes = Vec::new();
    for (kind, json) in [
        ("messageStart", r#"{"role":"assistant"}"#),
        ("somethingNew", "not even json"),
        (
            "contentBlockStart",
            r#"{"contentBlockIndex":0,"start":{"image":{}}}"#,
        ),
        (
            "contentBlockDelta",
            r#"{"contentBlockIndex":0,"delta":{"reasoningContent":{"text":"hmm"}}}"#,
        ),
        (
            "contentBlockDelta",
            r#"{"contentBlockIndex":1,"delta":{"text":"Hi"}}"#,
        ),
        (
            "messageStop",
            r#"{"stopReason":"end_turn","additionalModelResponseFields":{}}"#,
        ),
        ("metadata", r#"{"metrics":{"latencyMs":1}}"#),
    ] {
        bytes.extend(encode_event(kind, json.as_bytes()).unwrap());
    }
    assert_eq!(
        decode_ok(&bytes),
        vec![
            start(),
            text("Hi"),
            StreamEvent::Finish {
                choice: 0,
                reason: FinishReason::Stop
            },
            StreamEvent::Done
        ]
    );
    // An exception frame's payload that is not JSON still gives its text.
    let frame = encode_exception("internalServerException", b"boom").unwrap();
    assert_eq!(
        decode_ok(&frame)[1],
        StreamEvent::Error {
            message: "internalServerException: boom".into()
        }
    );
}

/// The encoder the mock uses reproduces, byte for byte, the frames made
/// independently by tests/transcripts/bedrock/make_streams.py.
#[test]
fn the_encoder_matches_the_independent_frames() {
    use super::eventstream::{encode_frame, Reader};
    for bytes in [
        &binary!("stream_text.bin")[..],
        binary!("stream_tools.bin"),
        binary!("stream_exception.bin"),
    ] {
        let mut messages = Vec::new();
        Reader::new().push(bytes, &mut messages).unwrap();
        let encoded: Vec<u8> = messages
            .iter()
            .flat_map(|m| encode_frame(&m.headers, &m.payload).unwrap())
            .collect();
        assert_eq!(encoded, bytes);
    }
    let first = &binary!("stream_text.bin")[..boundaries(binary!("stream_text.bin"))[0]];
    let payload = br#"{"p":"abcdefghijkl","role":"assistant"}"#;
    assert_eq!(encode_event("messageStart", payload).unwrap(), first);
}
