//! Tests of the Gemini wire format against recorded transcripts
//! (`tests/transcripts/gemini/`), shaped like the Gemini API reference.

use serde_json::{json, Value};

use super::request::guess_mime_type;
use super::schema;
use super::*;
use crate::canonical::{
    ChatRequest, DecodeError, EmbeddingsRequest, ErrorClass, FinishReason, Image, ImageSource,
    Message, Part, ResponseFormat, Role, StreamEvent, Tool, ToolCall, ToolChoice, Usage,
};
use crate::error::Fault;
use crate::plan::ProviderKind;
use crate::provider::{Adapter, Target};

macro_rules! transcript {
    ($name:literal) => {
        include_str!(concat!("../../../tests/transcripts/gemini/", $name))
    };
}

const BASE: &str = "https://generativelanguage.googleapis.com/v1beta";

fn target(model: &str) -> Target<'_> {
    Target {
        kind: ProviderKind::Gemini,
        base: BASE,
        model,
        key: Some("AIza-secret-key"),
        api_version: None,
        region: None,
        now_ms: 0,
    }
}

fn user(text: &str) -> ChatRequest {
    ChatRequest {
        model: "gemini-2.0-flash".into(),
        messages: vec![Message::text(Role::User, text)],
        ..ChatRequest::default()
    }
}

fn body_of(req: &ChatRequest, model: &str) -> Value {
    let http = chat_request(req, &target(model)).expect("the request builds");
    serde_json::from_slice(&http.body).expect("the body is JSON")
}

fn tool_call(id: &str, name: &str, arguments: &str) -> ToolCall {
    ToolCall { id: id.into(), name: name.into(), arguments: arguments.into() }
}

fn tool_result(id: &str, text: &str) -> Message {
    Message { tool_call_id: Some(id.into()), ..Message::text(Role::Tool, text) }
}

fn full_request() -> ChatRequest {
    let mut assistant = Message::text(Role::Assistant, "Let me check.");
    assistant.tool_calls = vec![
        tool_call("call_a", "get_weather", r#"{"city":"Paris"}"#),
        tool_call("call_b", "get_time", ""),
    ];
    ChatRequest {
        model: "gemini-2.0-flash".into(),
        messages: vec![
            Message::text(Role::System, "You are terse."),
            Message::text(Role::System, "Answer in English."),
            Message {
                content: vec![
                    Part::Text("What is in these pictures, and the weather in Paris?".into()),
                    Part::Image(Image {
                        source: ImageSource::Url("https://example.com/img/cat.PNG?size=large".into()),
                        detail: Some("high".into()),
                    }),
                    Part::Image(Image {
                        source: ImageSource::from_url("data:image/webp;base64,UklGRiQAAABXRUJQ"),
                        detail: None,
                    }),
                ],
                ..Message::text(Role::User, "")
            },
            assistant,
            tool_result("call_a", r#"{"temp_c": 21, "sky": "clear"}"#),
            tool_result("call_b", "14:05"),
            Message::text(Role::User, "Thanks! And tomorrow?"),
        ],
        tools: vec![
            Tool {
                name: "get_weather".into(),
                description: Some("Current weather for a city".into()),
                parameters: json!({
                    "$schema": "http://json-schema.org/draft-07/schema#",
                    "type": "object",
                    "additionalProperties": false,
                    "properties": {
                        "city": { "type": "string", "description": "City name", "minLength": 1 },
                        "unit": { "type": ["string", "null"], "enum": ["celsius", "fahrenheit"] },
                        "source": { "type": "string", "format": "uri" },
                        "days": { "type": "integer", "minimum": 1, "maximum": 7, "format": "int32", "exclusiveMaximum": 8 },
                        "tags": { "type": "array", "items": { "type": "string" }, "maxItems": 3, "uniqueItems": true }
                    },
                    "required": ["city", "country"]
                }),
                strict: Some(true),
            },
            Tool {
                name: "get_time".into(),
                description: None,
                parameters: json!({ "type": "object", "properties": {} }),
                strict: None,
            },
        ],
        tool_choice: Some(ToolChoice::Tool("get_weather".into())),
        parallel_tool_calls: Some(true),
        response_format: Some(ResponseFormat::JsonSchema {
            name: "forecast".into(),
            schema: json!({
                "type": "object",
                "properties": { "forecast": { "type": "string" } },
                "required": ["forecast"],
                "additionalProperties": false
            }),
            strict: Some(true),
        }),
        max_tokens: Some(256),
        temperature: Some(0.2),
        top_p: Some(0.9),
        top_k: Some(40),
        stop: vec!["END".into()],
        seed: Some(7),
        n: Some(2),
        presence_penalty: Some(0.1),
        frequency_penalty: Some(0.2),
        user: Some("user-1".into()),
        ..ChatRequest::default()
    }
}

// Minimal fix-ups: the user message above has an empty first text part.
fn fixed_full_request() -> ChatRequest {
    let mut req = full_request();
    req.messages[2].content.retain(|p| !matches!(p, Part::Text(t) if t.is_empty()));
    req
}

#[test]
fn full_request_matches_the_transcript() {
    let req = fixed_full_request();
    let http = chat_request(&req, &target("gemini-2.0-flash")).unwrap();
    assert_eq!(http.url, format!("{BASE}/models/gemini-2.0-flash:generateContent"));
    assert!(!http.url.contains("key"), "the key never goes in the URL");
    assert!(http.headers.contains(&("x-goog-api-key".into(), "AIza-secret-key".into())));
    assert!(http.headers.contains(&("content-type".into(), "application/json".into())));
    let body: Value = serde_json::from_slice(&http.body).unwrap();
    let expected: Value = serde_json::from_str(transcript!("request_full.json")).unwrap();
    assert_eq!(body, expected);
}

#[test]
fn empty_text_parts_are_left_out() {
    // The unfixed request has an empty text part: it is dropped, not sent.
    assert_eq!(body_of(&full_request(), "gemini-2.0-flash"), body_of(&fixed_full_request(), "gemini-2.0-flash"));
    let mut req = user("");
    req.messages.push(Message::text(Role::User, "hi"));
    assert_eq!(body_of(&req, "m")["contents"], json!([{ "role": "user", "parts": [{ "text": "hi" }] }]));
}

#[test]
fn streaming_url_and_model_prefix() {
    let mut req = user("Hello");
    req.stream = true;
    let http = chat_request(&req, &target("models/gemini-1.5-pro")).unwrap();
    assert_eq!(http.url, format!("{BASE}/models/gemini-1.5-pro:streamGenerateContent?alt=sse"));
    let no_key = Target { key: None, ..target("gemini-1.5-pro") };
    let http = chat_request(&req, &no_key).unwrap();
    assert!(http.headers.iter().all(|(name, _)| name != "x-goog-api-key"));
}

#[test]
fn a_plain_request_is_just_contents() {
    let body = body_of(&user("Hello"), "gemini-2.0-flash");
    assert_eq!(body, json!({ "contents": [{ "role": "user", "parts": [{ "text": "Hello" }] }] }));

    let mut req = user("Hello");
    req.temperature = Some(1.0);
    req.max_tokens = Some(5);
    assert_eq!(body_of(&req, "m")["generationConfig"], json!({ "temperature": 1.0, "maxOutputTokens": 5 }));
}

#[test]
fn multi_turn_roles_are_user_and_model() {
    let mut req = user("Hi");
    req.messages.push(Message::text(Role::Assistant, "Hello! How can I help?"));
    req.messages.push(Message::text(Role::User, "Tell me a joke."));
    let roles: Vec<Value> = body_of(&req, "m")["contents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["role"].clone())
        .collect();
    assert_eq!(roles, vec![json!("user"), json!("model"), json!("user")]);
}

#[test]
fn tool_choice_modes() {
    let mut req = user("weather?");
    req.tools = vec![Tool { name: "f".into(), description: None, parameters: json!({}), strict: None }];
    for (choice, mode) in [(ToolChoice::Auto, "AUTO"), (ToolChoice::None, "NONE"), (ToolChoice::Required, "ANY")] {
        req.tool_choice = Some(choice);
        let body = body_of(&req, "m");
        assert_eq!(body["toolConfig"], json!({ "functionCallingConfig": { "mode": mode } }));
        assert_eq!(body["tools"], json!([{ "functionDeclarations": [{ "name": "f" }] }]));
    }
    req.tool_choice = None;
    assert!(body_of(&req, "m").get("toolConfig").is_none());
}

#[test]
fn json_object_format_is_a_mime_type() {
    let mut req = user("json please");
    req.response_format = Some(ResponseFormat::JsonObject);
    assert_eq!(body_of(&req, "m")["generationConfig"], json!({ "responseMimeType": "application/json" }));
    req.response_format = Some(ResponseFormat::Text);
    assert!(body_of(&req, "m").get("generationConfig").is_none());
}

#[test]
fn gemini_3_replays_calls_with_the_placeholder_signature() {
    let mut assistant = Message::text(Role::Assistant, "");
    assistant.tool_calls = vec![tool_call("c1", "f", "{}")];
    let mut req = user("go");
    req.messages.push(assistant);
    req.messages.push(tool_result("c1", "done"));
    let body = body_of(&req, "gemini-3-pro-preview");
    assert_eq!(
        body["contents"][1]["parts"],
        json!([{ "functionCall": { "name": "f", "args": {} }, "thoughtSignature": "skip_thought_signature_validator" }])
    );
    assert_eq!(
        body["contents"][2]["parts"],
        json!([{ "functionResponse": { "name": "f", "response": { "content": "done" } } }])
    );
    let body = body_of(&req, "gemini-2.5-flash");
    assert!(body["contents"][1]["parts"][0].get("thoughtSignature").is_none());
}

#[test]
fn tool_results_errors_and_lookups() {
    let mut assistant = Message::text(Role::Assistant, "");
    assistant.tool_calls = vec![tool_call("c1", "f", "{}")];
    let mut req = user("go");
    req.messages.push(assistant.clone());
    req.messages.push(Message { is_error: true, ..tool_result("c1", "boom") });
    assert_eq!(
        body_of(&req, "m")["contents"][2]["parts"][0]["functionResponse"]["response"],
        json!({ "error": "boom" })
    );
    // A JSON array result is wrapped.
    req.messages[2] = tool_result("c1", "[1,2]");
    assert_eq!(
        body_of(&req, "m")["contents"][2]["parts"][0]["functionResponse"]["response"],
        json!({ "content": [1, 2] })
    );
    // No matching call, no name: a client error.
    req.messages[2] = tool_result("zzz", "x");
    let err = chat_request(&req, &target("m")).unwrap_err();
    assert_eq!(err.status(), Fault::BadRequest.status());
    // The message's own name is a fallback.
    req.messages[2].name = Some("g".into());
    assert_eq!(body_of(&req, "m")["contents"][2]["parts"][0]["functionResponse"]["name"], "g");
    // Arguments that are not a JSON object.
    req.messages[1].tool_calls[0].arguments = "[1]".into();
    assert!(chat_request(&req, &target("m")).is_err());
    req.messages[1].tool_calls[0].arguments = "{nope".into();
    assert!(chat_request(&req, &target("m")).is_err());
}

#[test]
fn mime_types_from_extensions() {
    assert_eq!(guess_mime_type("https://x.test/a.png"), "image/png");
    assert_eq!(guess_mime_type("https://x.test/a.JPG"), "image/jpeg");
    assert_eq!(guess_mime_type("https://x.test/a.gif?x=1.png#y"), "image/gif");
    assert_eq!(guess_mime_type("https://x.test/a.webp"), "image/webp");
    assert_eq!(guess_mime_type("https://x.test/photo"), "image/jpeg");
    assert_eq!(guess_mime_type("https://x.test.png/photo"), "image/jpeg");
    assert_eq!(guess_mime_type("gs://bucket/doc.pdf"), "application/pdf");
}

#[test]
fn schemas_are_cleaned_to_the_gemini_subset() {
    let cleaned = schema::clean(&json!({
        "$schema": "x", "$id": "y", "$defs": { "a": {} }, "title": "T",
        "type": "object",
        "properties": {
            "a": { "$ref": "#/$defs/a" },
            "b": { "anyOf": [{ "type": "string" }, { "type": "null" }] },
            "c": { "const": "fixed" },
            "d": { "oneOf": [{ "type": "string" }, { "type": "integer" }] },
            "e": { "type": ["string", "integer"] },
            "f": { "type": "string", "format": "date-time", "pattern": "^\\d" },
            "g": { "type": "number", "enum": [1, 2.5] },
            "h": { "type": "array", "items": [{ "type": "boolean" }] },
            "i": { "type": "null" },
            "j": true
        },
        "propertyOrdering": ["b", "zz"],
        "allOf": [{}]
    }));
    assert_eq!(
        cleaned,
        json!({
            "title": "T",
            "type": "OBJECT",
            "properties": {
                "a": {},
                "b": { "type": "STRING", "nullable": true },
                "c": { "type": "STRING", "enum": ["fixed"] },
                "d": { "anyOf": [{ "type": "STRING" }, { "type": "INTEGER" }] },
                "e": { "anyOf": [{ "type": "STRING" }, { "type": "INTEGER" }] },
                "f": { "type": "STRING", "format": "date-time", "pattern": "^\\d" },
                "g": { "type": "NUMBER", "enum": ["1", "2.5"] },
                "h": { "type": "ARRAY", "items": { "type": "BOOLEAN" } },
                "i": { "nullable": true },
                "j": {}
            },
            "propertyOrdering": ["b"]
        })
    );
    assert!(schema::is_empty_object(&schema::clean(&json!({ "type": "object" }))));
    assert!(!schema::is_empty_object(&cleaned));
}

#[test]
fn text_answer_with_cached_usage() {
    let response = chat_response(transcript!("chat_text.json").as_bytes()).unwrap();
    assert_eq!(response.id, "Xk3TaPnKBM-r1dkPpqGb2Qs");
    assert_eq!(response.model, "gemini-2.0-flash");
    assert_eq!(response.choices.len(), 1);
    let choice = &response.choices[0];
    assert_eq!(choice.index, 0);
    assert_eq!(choice.text.as_deref(), Some("The capital of France is Paris."));
    assert!(choice.tool_calls.is_empty());
    assert_eq!(choice.finish_reason, Some(FinishReason::Stop));
    assert_eq!(
        response.usage,
        Some(Usage { input_tokens: 1211, output_tokens: 7, cached_input_tokens: Some(1024) })
    );
    // Through the adapter too.
    assert_eq!(Adapter::Gemini.chat_response(transcript!("chat_text.json").as_bytes()).unwrap(), response);
}

#[test]
fn thoughts_are_not_text_but_their_tokens_are_output() {
    let response = chat_response(transcript!("chat_thinking.json").as_bytes()).unwrap();
    assert_eq!(response.choices[0].text.as_deref(), Some("There are three r's in \"strawberry\"."));
    assert_eq!(response.usage, Some(Usage { input_tokens: 10, output_tokens: 177, cached_input_tokens: None }));
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
            tool_call("call_0", "get_weather", r#"{"city":"Paris","unit":"celsius"}"#),
            tool_call("call_1", "get_weather", r#"{"city":"Tokyo","unit":"celsius"}"#),
        ]
    );
}

#[test]
fn tool_call_ids_from_gemini_and_missing_args() {
    let response = chat_response(transcript!("chat_tool_ids.json").as_bytes()).unwrap();
    let choice = &response.choices[0];
    assert_eq!(choice.text.as_deref(), Some("Let me look that up."));
    assert_eq!(choice.tool_calls, vec![tool_call("fc-7b21", "search", "{}"), tool_call("call_1", "lookup", "{}")]);
    // No responseId: a stable generated id; no usage.
    assert!(response.id.starts_with("gemini-"));
    assert_eq!(response.id, chat_response(transcript!("chat_tool_ids.json").as_bytes()).unwrap().id);
    assert_eq!(response.usage, None);
    assert_eq!(response.model, "gemini-3-pro-preview");
}

#[test]
fn finish_reasons() {
    let response = chat_response(transcript!("chat_max_tokens.json").as_bytes()).unwrap();
    assert_eq!(response.choices[0].finish_reason, Some(FinishReason::Length));

    let response = chat_response(transcript!("chat_candidates.json").as_bytes()).unwrap();
    assert_eq!(response.choices.len(), 2);
    assert_eq!(response.choices[0].finish_reason, Some(FinishReason::Stop));
    assert_eq!(response.choices[1].index, 1);
    assert_eq!(response.choices[1].text.as_deref(), Some("Violets are"));
    assert_eq!(response.choices[1].finish_reason, Some(FinishReason::ContentFilter));

    let response = chat_response(transcript!("chat_malformed_call.json").as_bytes()).unwrap();
    assert_eq!(response.choices[0].text.as_deref(), Some(""));
    assert_eq!(response.choices[0].finish_reason, Some(FinishReason::Other("malformed_function_call".into())));

    for (wire, canonical) in [
        ("BLOCKLIST", FinishReason::ContentFilter),
        ("PROHIBITED_CONTENT", FinishReason::ContentFilter),
        ("SPII", FinishReason::ContentFilter),
        ("IMAGE_SAFETY", FinishReason::ContentFilter),
        ("LANGUAGE", FinishReason::Other("language".into())),
        ("OTHER", FinishReason::Other("other".into())),
    ] {
        let body = json!({ "candidates": [{ "content": { "parts": [{ "text": "x" }] }, "finishReason": wire }] });
        let response = chat_response(body.to_string().as_bytes()).unwrap();
        assert_eq!(response.choices[0].finish_reason, Some(canonical), "{wire}");
    }
}

#[test]
fn refusals() {
    let err = chat_response(transcript!("chat_safety.json").as_bytes()).unwrap_err();
    assert!(matches!(&err, DecodeError::Refused(m) if m.contains("SAFETY")), "{err:?}");
    let err = chat_response(transcript!("chat_prompt_blocked.json").as_bytes()).unwrap_err();
    assert!(
        matches!(&err, DecodeError::Refused(m) if m.contains("PROHIBITED_CONTENT") && m.contains("content policy")),
        "{err:?}"
    );
}

#[test]
fn malformed_answers() {
    for body in [
        &b"not json"[..],
        b"{\"candidates\": 3}",
        b"{\"candidates\": [{\"content\": {\"parts\": [{\"text\": 5}]}}]}",
        b"{}",
        b"",
        b"[1,2]",
        b"{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"a\"}]}}",
    ] {
        let err = chat_response(body).unwrap_err();
        assert!(matches!(err, DecodeError::Malformed(_)), "{body:?}: {err:?}");
    }
}

#[test]
fn embeddings_both_ways() {
    let req = EmbeddingsRequest {
        model: "text-embedding-004".into(),
        inputs: vec!["The quick brown fox".into(), "jumps over the lazy dog".into()],
        dimensions: Some(256),
        ..EmbeddingsRequest::default()
    };
    let http = embeddings_request(&req, &target("text-embedding-004")).unwrap();
    assert_eq!(http.url, format!("{BASE}/models/text-embedding-004:batchEmbedContents"));
    assert!(http.headers.contains(&("x-goog-api-key".into(), "AIza-secret-key".into())));
    let body: Value = serde_json::from_slice(&http.body).unwrap();
    assert_eq!(body, serde_json::from_str::<Value>(transcript!("request_embed.json")).unwrap());

    let response = embeddings_response(transcript!("embed.json").as_bytes()).unwrap();
    assert_eq!(response.vectors.len(), 2);
    assert_eq!(response.vectors[0], vec![0.013168523, -0.008711934, -0.046782676, 0.00069968984]);
    assert!(matches!(embeddings_response(b"{\"embeddings\":{}}"), Err(DecodeError::Malformed(_))));
}

#[test]
fn error_bodies_are_classified_with_their_message() {
    let cases = [
        (429, transcript!("error_rate_limit.json"), ErrorClass::RateLimit, "You exceeded your current quota"),
        (400, transcript!("error_context_length.json"), ErrorClass::ContextLength, "The input token count (1212345)"),
        (400, transcript!("error_api_key.json"), ErrorClass::Auth, "API key not valid"),
        (403, transcript!("error_permission.json"), ErrorClass::Auth, "Method doesn't allow"),
        (401, transcript!("error_unauthenticated.json"), ErrorClass::Auth, "invalid authentication"),
        (404, transcript!("error_not_found.json"), ErrorClass::NotFound, "models/gemini-0.9-ultra is not found"),
        (503, transcript!("error_overloaded.json"), ErrorClass::Overloaded, "The model is overloaded"),
        (500, transcript!("error_internal.json"), ErrorClass::Server, "An internal error has occurred"),
        (400, transcript!("error_bad_request.json"), ErrorClass::BadRequest, "Unknown name \"additionalProperties\""),
        (429, transcript!("error_array.json"), ErrorClass::RateLimit, "Resource has been exhausted"),
    ];
    for (status, body, class, message) in cases {
        let e = error(status, body);
        assert_eq!(e.class, class, "{body}");
        assert!(e.message.starts_with(message) || e.message.contains(message), "{}", e.message);
        assert_eq!(Adapter::Gemini.error(status, body), e);
    }
    // Not Google's shape: by HTTP status, the body as the message.
    assert_eq!(error(502, "<html>Bad Gateway</html>").class, ErrorClass::Server);
    assert_eq!(error(502, "<html>Bad Gateway</html>").message, "<html>Bad Gateway</html>");
    assert_eq!(error(429, "").class, ErrorClass::RateLimit);
    assert_eq!(error(503, "").class, ErrorClass::Overloaded);
    assert_eq!(error(404, "").class, ErrorClass::NotFound);
    assert_eq!(error(401, "").class, ErrorClass::Auth);
    assert_eq!(error(422, "{}").class, ErrorClass::BadRequest);
    assert!(error(500, "").message.contains("500"));
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

/// Decodes `body` whole, one byte at a time and (when `every_split`) split
/// at every offset; all must agree. Returns the whole-body result.
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

fn text(choice: u32, text: &str) -> StreamEvent {
    StreamEvent::Text { choice, text: text.into() }
}

#[test]
fn text_stream() {
    let (events, end) = decode_all_ways(transcript!("stream_text.sse").as_bytes(), true);
    end.unwrap();
    assert_eq!(
        events,
        vec![
            StreamEvent::Start { id: "Uk3TaKLhOpGo1dkP0Ly8qAk".into(), model: "gemini-2.0-flash".into() },
            text(0, "The"),
            text(0, " capital of France is"),
            text(0, " Paris — naturally."),
            StreamEvent::Finish { choice: 0, reason: FinishReason::Stop },
            StreamEvent::Usage(Usage { input_tokens: 1211, output_tokens: 9, cached_input_tokens: Some(1024) }),
            StreamEvent::Done,
        ]
    );
    // Through the adapter's decoder too.
    let mut decoder = Adapter::Gemini.stream_decoder();
    let mut through = Vec::new();
    decoder.push(transcript!("stream_text.sse").as_bytes(), &mut through).unwrap();
    decoder.finish(&mut through).unwrap();
    assert_eq!(through, events);
}

#[test]
fn tool_stream() {
    let (events, end) = decode_all_ways(transcript!("stream_tools.sse").as_bytes(), true);
    end.unwrap();
    assert_eq!(
        events,
        vec![
            StreamEvent::Start { id: "tools-s".into(), model: "gemini-2.5-flash".into() },
            text(0, "Checking both cities."),
            StreamEvent::ToolCallStart { choice: 0, index: 0, id: "call_0".into(), name: "get_weather".into() },
            StreamEvent::ToolCallArguments { choice: 0, index: 0, arguments: r#"{"city":"Paris"}"#.into() },
            StreamEvent::ToolCallStart { choice: 0, index: 1, id: "call_1".into(), name: "get_time".into() },
            StreamEvent::ToolCallArguments { choice: 0, index: 1, arguments: r#"{"zone":"Asia/Tokyo"}"#.into() },
            StreamEvent::Finish { choice: 0, reason: FinishReason::ToolCalls },
            StreamEvent::Usage(Usage { input_tokens: 64, output_tokens: 51, cached_input_tokens: None }),
            StreamEvent::Done,
        ]
    );
}

#[test]
fn a_cut_stream_is_never_complete() {
    let (events, end) = decode_all_ways(transcript!("stream_cut.sse").as_bytes(), true);
    assert!(matches!(end, Err(DecodeError::Malformed(_))), "{end:?}");
    assert!(!events.contains(&StreamEvent::Done));
    assert_eq!(events.len(), 3, "{events:?}");
    // Nothing at all.
    assert!(matches!(decode(&[]).1, Err(DecodeError::Malformed(_))));
    // Two candidates, one finished.
    let (events, end) = decode_all_ways(transcript!("stream_candidates_cut.sse").as_bytes(), false);
    assert!(matches!(end, Err(DecodeError::Malformed(_))));
    assert!(!events.contains(&StreamEvent::Done));
}

#[test]
fn several_candidates_stream() {
    let (events, end) = decode_all_ways(transcript!("stream_candidates.sse").as_bytes(), true);
    end.unwrap();
    assert_eq!(
        events,
        vec![
            StreamEvent::Start { id: "two-s".into(), model: "gemini-2.0-flash".into() },
            text(0, "A"),
            text(1, "B"),
            text(0, "a"),
            StreamEvent::Finish { choice: 0, reason: FinishReason::Stop },
            text(1, "b"),
            StreamEvent::Finish { choice: 1, reason: FinishReason::Length },
            StreamEvent::Usage(Usage { input_tokens: 3, output_tokens: 4, cached_input_tokens: None }),
            StreamEvent::Done,
        ]
    );
}

#[test]
fn refused_streams() {
    let (events, end) = decode_all_ways(transcript!("stream_prompt_blocked.sse").as_bytes(), true);
    assert!(matches!(&end, Err(DecodeError::Refused(m)) if m.contains("SAFETY")), "{end:?}");
    assert!(events.is_empty());
    let (_, end) = decode_all_ways(transcript!("stream_safety.sse").as_bytes(), true);
    assert!(matches!(&end, Err(DecodeError::Refused(m)) if m.contains("SAFETY")), "{end:?}");
    // Stopped after some text: a content-filter finish, not a refusal.
    let (events, end) = decode_all_ways(transcript!("stream_late_safety.sse").as_bytes(), false);
    end.unwrap();
    assert!(events.contains(&StreamEvent::Finish { choice: 0, reason: FinishReason::ContentFilter }));
    assert_eq!(events.last(), Some(&StreamEvent::Done));
}

#[test]
fn an_error_inside_the_stream() {
    let (events, end) = decode_all_ways(transcript!("stream_error.sse").as_bytes(), false);
    end.unwrap();
    assert_eq!(events.len(), 3);
    assert_eq!(
        events[2],
        StreamEvent::Error { message: "The model is overloaded. Please try again later.".into() }
    );
    assert!(!events.contains(&StreamEvent::Done));
}

#[test]
fn malformed_stream_chunks() {
    for body in [&b"data: {nope\n\n"[..], b"data: [1]\n\n", b"data: {\"candidates\":{}}\n\n"] {
        let (_, end) = decode(&[body]);
        assert!(matches!(end, Err(DecodeError::Malformed(_))), "{body:?}: {end:?}");
    }
    // A last event without its blank line still counts.
    let body = transcript!("stream_text.sse").trim_end();
    let (events, end) = decode(&[body.as_bytes()]);
    end.unwrap();
    assert_eq!(events.last(), Some(&StreamEvent::Done));
}
