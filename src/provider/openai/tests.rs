//! The OpenAI provider against recorded transcripts (`tests/transcripts/openai/`).

use serde_json::{json, Value};

use super::*;
use crate::canonical::{
    ChatRequest, Choice, DecodeError, EmbeddingsRequest, ErrorClass, FinishReason, Message, Role,
    StreamEvent, ToolCall, Usage,
};
use crate::dialect::openai as dialect;
use crate::error::Fault;
use crate::plan::ProviderKind;

macro_rules! transcript {
    ($name:literal) => {
        include_str!(concat!("../../../tests/transcripts/openai/", $name))
    };
}

fn target<'a>(
    kind: ProviderKind,
    base: &'a str,
    model: &'a str,
    key: Option<&'a str>,
) -> Target<'a> {
    Target {
        kind,
        base,
        model,
        key,
        api_version: None,
        region: None,
        now_ms: 0,
    }
}

fn openai(model: &str) -> Target<'_> {
    target(
        ProviderKind::Openai,
        "https://api.openai.com/v1",
        model,
        Some("sk-test"),
    )
}

fn body_json(req: &HttpRequest) -> Value {
    serde_json::from_slice(&req.body).expect("the body is JSON")
}

fn header<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

fn full_request() -> ChatRequest {
    dialect::decode_chat(transcript!("chat_request_full.json").as_bytes())
        .expect("the transcript decodes")
}

// --- requests -------------------------------------------------------------

#[test]
fn a_full_request_keeps_every_field_the_format_has() {
    let original: Value = serde_json::from_str(transcript!("chat_request_full.json")).unwrap();
    let req = chat_request(&full_request(), &openai("gpt-4o-2024-08-06")).unwrap();
    assert_eq!(req.url, "https://api.openai.com/v1/chat/completions");
    assert_eq!(header(&req, "authorization"), Some("Bearer sk-test"));
    assert_eq!(header(&req, "content-type"), Some("application/json"));
    let body = body_json(&req);
    assert_eq!(body["model"], "gpt-4o-2024-08-06");
    // Same as sent, but for what canonical form normalizes: `developer` is a
    // system message, a tool result's text parts are joined, a tool without
    // parameters gets an empty schema, and OpenAI's preferred token field.
    let mut expected = original.clone();
    expected["model"] = json!("gpt-4o-2024-08-06");
    expected["messages"][1] = json!({"role": "system", "content": "Answer in English."});
    expected["messages"][5]["content"] = json!("{\"temp_c\":21,\"sky\":\"clear\"}");
    expected["tools"][1]["function"]["parameters"] = json!({"type": "object", "properties": {}});
    assert_eq!(body, expected);
}

#[test]
fn plain_text_multi_turn_and_sampling() {
    let mut req = ChatRequest {
        model: "gpt-4o-mini".into(),
        messages: vec![
            Message::text(Role::System, "Be brief."),
            Message::text(Role::User, "Hi"),
            Message::text(Role::Assistant, "Hello!"),
            Message::text(Role::User, "Bye"),
        ],
        max_tokens: Some(64),
        temperature: Some(0.5),
        top_p: Some(0.8),
        top_k: Some(40),
        stop: vec!["END".into()],
        ..ChatRequest::default()
    };
    let body = body_json(&chat_request(&req, &openai("gpt-4o-mini")).unwrap());
    assert_eq!(
        body,
        json!({
            "model": "gpt-4o-mini",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello!"},
                {"role": "user", "content": "Bye"}
            ],
            "max_completion_tokens": 64, "temperature": 0.5, "top_p": 0.8, "stop": ["END"]
        })
    );
    // `top_k` only reaches kinds that take it; `max_tokens` elsewhere.
    req.stream = true;
    let t = target(
        ProviderKind::Together,
        "https://api.together.xyz/v1",
        "meta-llama/Llama-3-8b",
        Some("k"),
    );
    let body = body_json(&chat_request(&req, &t).unwrap());
    assert_eq!(body["top_k"], 40);
    assert_eq!(body["max_tokens"], 64);
    assert_eq!(body["stream"], true);
    assert_eq!(body["stream_options"], json!({"include_usage": true}));
    assert!(body.get("max_completion_tokens").is_none());
}

#[test]
fn assistant_tool_calls_without_text_send_null_content() {
    let mut m = Message::text(Role::Assistant, "");
    m.content.clear();
    m.tool_calls.push(ToolCall {
        id: "c1".into(),
        name: "f".into(),
        arguments: "{}".into(),
    });
    let req = ChatRequest {
        model: "m".into(),
        messages: vec![m],
        ..ChatRequest::default()
    };
    let body = body_json(&chat_request(&req, &openai("m")).unwrap());
    assert_eq!(
        body["messages"][0],
        json!({"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]})
    );
}

#[test]
fn extra_fields_never_override_canonical_ones() {
    let mut req = ChatRequest {
        model: "m".into(),
        messages: vec![Message::text(Role::User, "x")],
        ..ChatRequest::default()
    };
    req.temperature = Some(0.3);
    req.extra.insert("temperature".into(), json!(1.5));
    req.extra.insert("store".into(), json!(true));
    let body = body_json(&chat_request(&req, &openai("m")).unwrap());
    assert_eq!(body["temperature"], 0.3);
    assert_eq!(body["store"], true);
}

#[test]
fn reasoning_models_get_their_rules_on_canonical_requests() {
    let req = ChatRequest {
        model: "o3-mini".into(),
        messages: vec![Message::text(Role::User, "x")],
        max_tokens: Some(100),
        temperature: Some(0.2),
        top_p: Some(1.0),
        ..ChatRequest::default()
    };
    // Through a compatible kind (`max_tokens` by default) the rule renames it.
    let t = target(
        ProviderKind::OpenaiCompatible,
        "http://gw.local/v1",
        "o3-mini",
        None,
    );
    let body = body_json(&chat_request(&req, &t).unwrap());
    assert_eq!(
        body,
        json!({"model": "o3-mini", "messages": [{"role": "user", "content": "x"}], "max_completion_tokens": 100, "top_p": 1.0})
    );
}

#[test]
fn azure_puts_the_deployment_in_the_url_and_the_key_in_api_key() {
    let req = ChatRequest {
        model: "gpt-4o".into(),
        messages: vec![Message::text(Role::User, "x")],
        ..ChatRequest::default()
    };
    let mut t = target(
        ProviderKind::Azure,
        "https://my-res.openai.azure.com/",
        "prod gpt4o",
        Some("az-key"),
    );
    let http = chat_request(&req, &t).unwrap();
    assert_eq!(
        http.url,
        "https://my-res.openai.azure.com/openai/deployments/prod%20gpt4o/chat/completions?api-version=2024-10-21"
    );
    assert_eq!(header(&http, "api-key"), Some("az-key"));
    assert_eq!(header(&http, "authorization"), None);
    assert!(body_json(&http).get("model").is_none());
    assert_eq!(body_json(&http)["max_tokens"], Value::Null);

    t.base = "https://my-res.openai.azure.com/openai";
    t.model = "gpt4o";
    t.api_version = Some("2025-01-01-preview");
    assert_eq!(
        chat_url(&t).unwrap(),
        "https://my-res.openai.azure.com/openai/deployments/gpt4o/chat/completions?api-version=2025-01-01-preview"
    );
    assert_eq!(
        embeddings_url(&t).unwrap(),
        "https://my-res.openai.azure.com/openai/deployments/gpt4o/embeddings?api-version=2025-01-01-preview"
    );
    // Azure's v1 API: a plain OpenAI shape under `/openai/v1`, model in the body.
    t.base = "https://my-res.openai.azure.com/openai/v1";
    assert_eq!(
        chat_url(&t).unwrap(),
        "https://my-res.openai.azure.com/openai/v1/chat/completions"
    );
    assert_eq!(
        body_json(&chat_request(&req, &t).unwrap())["model"],
        "gpt4o"
    );
    // No deployment: a misconfiguration, never a request to a bad URL.
    t.base = "https://my-res.openai.azure.com";
    t.model = "";
    assert_eq!(chat_url(&t).unwrap_err().fault, Fault::Misconfigured);
}

#[test]
fn local_servers_without_a_key_send_no_auth_header() {
    for kind in [
        ProviderKind::Ollama,
        ProviderKind::Vllm,
        ProviderKind::Lmstudio,
        ProviderKind::Localai,
    ] {
        let base = kind.default_base().unwrap();
        let t = target(kind, base, "llama3.2", None);
        assert_eq!(
            headers(&t),
            vec![("content-type".to_string(), "application/json".to_string())]
        );
        assert_eq!(chat_url(&t).unwrap(), format!("{base}/chat/completions"));
        assert!(preset::preset_for(kind).key_optional);
    }
    let t = target(
        ProviderKind::Groq,
        "https://api.groq.com/openai/v1",
        "llama",
        Some("gsk"),
    );
    assert_eq!(
        headers(&t)[1],
        ("authorization".to_string(), "Bearer gsk".to_string())
    );
}

#[test]
fn every_openai_speaking_kind_has_exactly_one_preset() {
    for (name, kind) in ProviderKind::ALL {
        let rows = preset::PRESETS.iter().filter(|p| p.kind == kind).count();
        assert_eq!(rows, usize::from(kind.speaks_openai()), "{name}");
    }
}

#[test]
fn mistral_gets_its_field_names() {
    let req = ChatRequest {
        model: "mistral-large-latest".into(),
        messages: vec![Message::text(Role::User, "x")],
        stream: true,
        seed: Some(7),
        max_tokens: Some(10),
        user: Some("u".into()),
        ..ChatRequest::default()
    };
    let t = target(
        ProviderKind::Mistral,
        "https://api.mistral.ai/v1",
        "mistral-large-latest",
        Some("k"),
    );
    let body = body_json(&chat_request(&req, &t).unwrap());
    assert_eq!(
        body,
        json!({"model": "mistral-large-latest", "messages": [{"role": "user", "content": "x"}], "stream": true, "random_seed": 7, "max_tokens": 10})
    );
}

// --- the fast path --------------------------------------------------------

#[test]
fn forwarding_keeps_the_body_byte_for_byte_when_nothing_changes() {
    let body = transcript!("chat_request_full.json").as_bytes();
    let t = openai("gpt-4o");
    assert_eq!(forward_chat(body, &t, false).unwrap().body, body);
    // Same model: nothing to rewrite.
    assert_eq!(forward_chat(body, &t, true).unwrap().body, body);
    let http = forward_chat(body, &t, true).unwrap();
    assert_eq!(http.url, "https://api.openai.com/v1/chat/completions");
    assert_eq!(header(&http, "authorization"), Some("Bearer sk-test"));
}

#[test]
fn forwarding_rewrites_only_the_model() {
    let body = transcript!("chat_request_pretty.json");
    let http = forward_chat(body.as_bytes(), &openai("gpt-4.1"), true).unwrap();
    let expected = body.replace(r#""model" : "thinker""#, r#""model" : "gpt-4.1""#);
    assert_eq!(String::from_utf8(http.body).unwrap(), expected);
}

#[test]
fn forwarding_to_a_reasoning_model_edits_only_the_fields_it_refuses() {
    let body = transcript!("chat_request_pretty.json");
    let http = forward_chat(body.as_bytes(), &openai("o3"), true).unwrap();
    let expected = body
        .replace(r#""model" : "thinker""#, r#""model" : "o3""#)
        .replace(r#""max_tokens": 2000"#, r#""max_completion_tokens": 2000"#)
        .replace("    \"temperature\": 0.7,\n", "");
    assert_eq!(String::from_utf8(http.body).unwrap(), expected);
}

#[test]
fn forwarding_to_azure_leaves_the_model_to_the_url() {
    let body = transcript!("chat_request_pretty.json").as_bytes();
    let t = target(
        ProviderKind::Azure,
        "https://r.openai.azure.com",
        "dep1",
        Some("k"),
    );
    let http = forward_chat(body, &t, true).unwrap();
    assert_eq!(http.body, body);
    assert!(http.url.starts_with(
        "https://r.openai.azure.com/openai/deployments/dep1/chat/completions?api-version="
    ));
}

#[test]
fn forwarding_to_mistral_renames_and_drops_what_it_refuses() {
    let body = br#"{"model":"m","messages":[{"role":"user","content":"x"}],"seed":1,"stream":true,"stream_options":{"include_usage":true},"extra":{"a":"}"}}"#;
    let t = target(
        ProviderKind::Mistral,
        "https://api.mistral.ai/v1",
        "mistral-small",
        Some("k"),
    );
    let http = forward_chat(body, &t, true).unwrap();
    assert_eq!(
        String::from_utf8(http.body).unwrap(),
        r#"{"model":"mistral-small","messages":[{"role":"user","content":"x"}],"random_seed":1,"stream":true,"extra":{"a":"}"}}"#
    );
}

#[test]
fn forwarding_refuses_what_is_not_a_json_object() {
    let t = openai("m");
    for body in [&b"{nope"[..], b"[1,2]", b"", b"\"text\"", b"{} {}"] {
        let e = forward_chat(body, &t, true).unwrap_err();
        assert_eq!(
            e.fault,
            Fault::BadRequest,
            "{:?}",
            String::from_utf8_lossy(body)
        );
    }
}

#[test]
fn forwarding_adds_a_missing_model_and_handles_embeddings() {
    let http = forward_chat(b"{}", &openai("m"), true).unwrap();
    assert_eq!(http.body, br#"{"model":"m"}"#);
    let http = forward_chat(br#" { "messages" : [] } "#, &openai("m"), true).unwrap();
    assert_eq!(http.body, br#" { "model":"m","messages" : [] } "#);
    let body = transcript!("embeddings_request.json").as_bytes();
    let t = openai("text-embedding-3-large");
    let http = forward_embeddings(body, &t, true).unwrap();
    assert_eq!(http.url, "https://api.openai.com/v1/embeddings");
    let expected =
        String::from_utf8_lossy(body).replace("text-embedding-3-small", "text-embedding-3-large");
    assert_eq!(String::from_utf8(http.body).unwrap(), expected);
    assert_eq!(forward_embeddings(body, &t, false).unwrap().body, body);
}

#[test]
fn the_raw_editor_drops_any_member_and_keeps_the_rest() {
    use super::raw::RawObject;
    use crate::provider::rules::Params;
    let body = br#"{ "a" : 1 , "b":"x\"}" ,"c":[{"d":"]"}], "e" : null }"#;
    let cases: &[(&[&str], &str)] = &[
        (&["a"], r#"{ "b":"x\"}" ,"c":[{"d":"]"}], "e" : null }"#),
        (&["b"], r#"{ "a" : 1 ,"c":[{"d":"]"}], "e" : null }"#),
        (&["e"], r#"{ "a" : 1 , "b":"x\"}" ,"c":[{"d":"]"}] }"#),
        (&["a", "e"], r#"{ "b":"x\"}" ,"c":[{"d":"]"}] }"#),
        (&["b", "c"], r#"{ "a" : 1, "e" : null }"#),
        (&["a", "b", "c", "e"], r#"{  }"#),
    ];
    for (drop, expected) in cases {
        let mut raw = RawObject::parse(body).unwrap();
        for key in *drop {
            raw.remove(key);
        }
        assert_eq!(
            String::from_utf8(raw.into_bytes().into_owned()).unwrap(),
            *expected,
            "{drop:?}"
        );
    }
    let mut raw = RawObject::parse(body).unwrap();
    assert!(raw.contains("c") && raw.is_null("e") && raw.number("a") == Some(1.0));
    raw.rename("a", "z");
    raw.set("b", "2".into());
    assert!(raw.contains("z") && !raw.contains("a"));
    assert_eq!(
        String::from_utf8(raw.into_bytes().into_owned()).unwrap(),
        r#"{ "z" : 1 , "b":2 ,"c":[{"d":"]"}], "e" : null }"#
    );
    // An escaped key is read as the key it names.
    let raw = RawObject::parse(br#"{"mod\u0065l":"x"}"#).unwrap();
    assert!(raw.contains("model"));
}

// --- answers --------------------------------------------------------------

#[test]
fn a_text_answer_with_cached_usage() {
    let r = chat_response(transcript!("chat_response_text.json").as_bytes()).unwrap();
    assert_eq!(r.id, "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT");
    assert_eq!(r.model, "gpt-4o-2024-08-06");
    assert_eq!(r.created, 1741569952);
    assert_eq!(
        r.choices,
        vec![Choice {
            index: 0,
            text: Some("Hello! How can I help you today?".into()),
            tool_calls: vec![],
            finish_reason: Some(FinishReason::Stop)
        }]
    );
    assert_eq!(
        r.usage,
        Some(Usage {
            input_tokens: 1219,
            output_tokens: 10,
            cached_input_tokens: Some(1152)
        })
    );
}

#[test]
fn parallel_tool_calls_answer() {
    let r = chat_response(transcript!("chat_response_tool_calls.json").as_bytes()).unwrap();
    let c = &r.choices[0];
    assert_eq!(c.text, None);
    assert_eq!(c.finish_reason, Some(FinishReason::ToolCalls));
    assert_eq!(
        c.tool_calls,
        vec![
            ToolCall {
                id: "call_Pq1".into(),
                name: "get_weather".into(),
                arguments: "{\"city\":\"Paris\"}".into()
            },
            ToolCall {
                id: "call_Rm2".into(),
                name: "get_weather".into(),
                arguments: "{\"city\":\"Rome\"}".into()
            },
        ]
    );
    assert_eq!(
        r.usage,
        Some(Usage {
            input_tokens: 82,
            output_tokens: 46,
            cached_input_tokens: None
        })
    );
}

#[test]
fn every_finish_reason() {
    let r = chat_response(transcript!("chat_response_length.json").as_bytes()).unwrap();
    assert_eq!(r.choices.len(), 2);
    assert_eq!(r.choices[0].finish_reason, Some(FinishReason::Length));
    assert_eq!(r.choices[1].index, 1);
    assert_eq!(r.choices[1].finish_reason, Some(FinishReason::Stop));
    let r = chat_response(transcript!("chat_response_content_filter.json").as_bytes()).unwrap();
    assert_eq!(
        r.choices[0].finish_reason,
        Some(FinishReason::ContentFilter)
    );
    assert_eq!(r.choices[0].text, None);
    let r = chat_response(transcript!("chat_response_refusal.json").as_bytes()).unwrap();
    assert_eq!(
        r.choices[0].text.as_deref(),
        Some("I'm sorry, I can't help with that request.")
    );
    assert_eq!(finish_reason("function_call"), FinishReason::ToolCalls);
    assert_eq!(finish_reason("eos"), FinishReason::Other("eos".into()));
}

#[test]
fn malformed_answers() {
    for body in [
        &b""[..],
        b"{\"id\":\"x\",\"choices\":[{\"message\":{\"content\":\"cut",
        b"[]",
        b"{\"id\":\"x\"}",
        b"{\"choices\":[1]}",
        b"{\"choices\":[{\"index\":-1,\"message\":{}}]}",
        b"{\"choices\":[{\"message\":{\"content\":5}}]}",
        b"{\"choices\":[{\"message\":{\"tool_calls\":[{\"id\":\"c\"}]}}]}",
        br#"{"error":{"message":"upstream broke"}}"#,
    ] {
        assert!(
            matches!(chat_response(body), Err(DecodeError::Malformed(_))),
            "{:?}",
            String::from_utf8_lossy(body)
        );
    }
    let Err(DecodeError::Malformed(m)) =
        chat_response(br#"{"error":{"message":"upstream broke"}}"#)
    else {
        unreachable!()
    };
    assert!(m.contains("upstream broke"));
}

#[test]
fn errors_are_classified_with_the_message_kept() {
    let cases = [
        (
            429,
            transcript!("error_rate_limit.json"),
            ErrorClass::RateLimit,
            "Rate limit reached for gpt-4o",
        ),
        (
            400,
            transcript!("error_context_length.json"),
            ErrorClass::ContextLength,
            "maximum context length is 128000",
        ),
        (
            400,
            transcript!("error_content_policy.json"),
            ErrorClass::ContentPolicy,
            "safety system",
        ),
        (
            400,
            transcript!("error_azure_content_filter.json"),
            ErrorClass::ContentPolicy,
            "content management policy",
        ),
        (
            401,
            transcript!("error_auth.json"),
            ErrorClass::Auth,
            "Incorrect API key",
        ),
        (
            403,
            transcript!("error_auth.json"),
            ErrorClass::Auth,
            "Incorrect API key",
        ),
        (
            400,
            transcript!("error_bad_request.json"),
            ErrorClass::BadRequest,
            "Invalid value for 'tool_choice'",
        ),
        (
            422,
            transcript!("error_mistral_422.json"),
            ErrorClass::BadRequest,
            "extra_forbidden",
        ),
        (
            404,
            transcript!("error_not_found.json"),
            ErrorClass::NotFound,
            "`gpt-9` does not exist",
        ),
        (
            500,
            transcript!("error_server.json"),
            ErrorClass::Server,
            "The server had an error",
        ),
        (
            502,
            transcript!("error_server.json"),
            ErrorClass::Server,
            "The server had an error",
        ),
        (
            503,
            transcript!("error_overloaded.json"),
            ErrorClass::Overloaded,
            "currently overloaded",
        ),
        (
            500,
            transcript!("error_overloaded.json"),
            ErrorClass::Overloaded,
            "currently overloaded",
        ),
        (
            529,
            "",
            ErrorClass::Overloaded,
            "HTTP 529 with an empty body",
        ),
        (
            502,
            "<html>Bad Gateway</html>",
            ErrorClass::Server,
            "<html>Bad Gateway</html>",
        ),
        (
            400,
            r#"{"error":"model is required"}"#,
            ErrorClass::BadRequest,
            "model is required",
        ),
        (
            400,
            r#"{"object":"error","message":"This model's maximum context length is 4096 tokens.","type":"BadRequestError","code":400}"#,
            ErrorClass::ContextLength,
            "4096",
        ),
        (408, "timeout", ErrorClass::Server, "timeout"),
    ];
    for (status, body, class, needle) in cases {
        let e = error(status, body);
        assert_eq!(e.class, class, "{status} {body}");
        assert!(
            e.message.contains(needle),
            "{status}: {:?} lacks {needle:?}",
            e.message
        );
    }
    // A body that is not an OpenAI error is kept, cut to 500 characters.
    assert_eq!(error(500, &"x".repeat(2000)).message.len(), 500);
}

// --- streams --------------------------------------------------------------

/// Events of `bytes` fed as the given pieces; `finish`'s result.
fn decode(pieces: &[&[u8]]) -> (Vec<StreamEvent>, Result<(), DecodeError>) {
    let mut d = Decoder::new();
    let mut out = Vec::new();
    for piece in pieces {
        if let Err(e) = d.push(piece, &mut out) {
            return (out, Err(e));
        }
    }
    let end = d.finish(&mut out);
    (out, end)
}

/// Whole, byte by byte, and split at every offset: all the same.
fn decode_every_way(bytes: &[u8]) -> (Vec<StreamEvent>, Result<(), DecodeError>) {
    let whole = decode(&[bytes]);
    let bytewise: Vec<&[u8]> = bytes.chunks(1).collect();
    assert_eq!(decode(&bytewise), whole, "byte by byte");
    for cut in 0..bytes.len() {
        assert_eq!(
            decode(&[&bytes[..cut], &bytes[cut..]]),
            whole,
            "split at {cut}"
        );
    }
    whole
}

#[test]
fn a_text_stream_with_usage() {
    let (events, end) = decode_every_way(transcript!("stream_text.sse").as_bytes());
    end.unwrap();
    assert_eq!(
        events,
        vec![
            StreamEvent::Start {
                id: "chatcmpl-stream1".into(),
                model: "gpt-4o-mini".into()
            },
            StreamEvent::Text {
                choice: 0,
                text: "Hello".into()
            },
            StreamEvent::Text {
                choice: 0,
                text: ", wörld".into()
            },
            StreamEvent::Text {
                choice: 0,
                text: "!".into()
            },
            StreamEvent::Finish {
                choice: 0,
                reason: FinishReason::Stop
            },
            StreamEvent::Usage(Usage {
                input_tokens: 1219,
                output_tokens: 4,
                cached_input_tokens: Some(1024)
            }),
            StreamEvent::Done,
        ]
    );
}

#[test]
fn a_parallel_tool_call_stream() {
    let (events, end) = decode_every_way(transcript!("stream_tool_calls.sse").as_bytes());
    end.unwrap();
    assert_eq!(
        events,
        vec![
            StreamEvent::Start {
                id: "chatcmpl-tools2".into(),
                model: "gpt-4o".into()
            },
            StreamEvent::ToolCallStart {
                choice: 0,
                index: 0,
                id: "call_Pq1".into(),
                name: "get_weather".into()
            },
            StreamEvent::ToolCallArguments {
                choice: 0,
                index: 0,
                arguments: "{\"ci".into()
            },
            StreamEvent::ToolCallArguments {
                choice: 0,
                index: 0,
                arguments: "ty\": \"Paris\"}".into()
            },
            StreamEvent::ToolCallStart {
                choice: 0,
                index: 1,
                id: "call_Rm2".into(),
                name: "get_weather".into()
            },
            StreamEvent::ToolCallArguments {
                choice: 0,
                index: 1,
                arguments: "{\"city\": \"Rome\"}".into()
            },
            StreamEvent::Finish {
                choice: 0,
                reason: FinishReason::ToolCalls
            },
            StreamEvent::Done,
        ]
    );
}

#[test]
fn groq_usage_and_a_length_finish() {
    let (events, end) = decode_every_way(transcript!("stream_groq_length.sse").as_bytes());
    end.unwrap();
    assert_eq!(
        events[1],
        StreamEvent::Text {
            choice: 0,
            text: "Once".into()
        }
    );
    assert_eq!(
        events[2],
        StreamEvent::Finish {
            choice: 0,
            reason: FinishReason::Length
        }
    );
    assert_eq!(
        events[3],
        StreamEvent::Usage(Usage {
            input_tokens: 18,
            output_tokens: 1,
            cached_input_tokens: None
        })
    );
    assert_eq!(events[4], StreamEvent::Done);
}

#[test]
fn a_stream_cut_before_done_is_never_complete() {
    // Cut inside an event.
    let (_, end) = decode(&[transcript!("stream_cut.sse").as_bytes()]);
    assert!(matches!(end, Err(DecodeError::Malformed(_))));
    // Cut cleanly between events, after the finish and usage chunks.
    let text = transcript!("stream_text.sse");
    let clean = text.strip_suffix("data: [DONE]\n\n").unwrap();
    let (events, end) = decode_every_way(clean.as_bytes());
    assert!(matches!(end, Err(DecodeError::Malformed(_))));
    assert!(!events.contains(&StreamEvent::Done));
    // Nothing at all.
    assert!(decode(&[b""]).1.is_err());
}

#[test]
fn an_error_inside_the_stream() {
    let (events, end) = decode_every_way(transcript!("stream_error.sse").as_bytes());
    assert!(end.is_err(), "no [DONE] came");
    assert_eq!(
        events[1],
        StreamEvent::Text {
            choice: 0,
            text: "Partial".into()
        }
    );
    assert_eq!(
        events[2],
        StreamEvent::Error {
            message: "The server had an error while processing your request. Sorry about that!"
                .into()
        }
    );
}

#[test]
fn a_garbled_event_is_malformed() {
    let (_, end) = decode(&[
        b"data: {\"id\":\"x\",\"choices\":[{\"delta\":{\"content\":\"\n\ndata: [DONE]\n\n",
    ]);
    assert!(matches!(end, Err(DecodeError::Malformed(_))));
    let (_, end) = decode(&[b"data: [1]\n\ndata: [DONE]\n\n"]);
    assert!(matches!(end, Err(DecodeError::Malformed(_))));
    let (_, end) =
        decode(&[b"data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":\"a\"}]}}]}\n\n"]);
    assert!(matches!(end, Err(DecodeError::Malformed(_))));
}

#[test]
fn done_alone_still_starts_and_what_follows_done_is_ignored() {
    let (events, end) = decode(&[b": keep-alive\n\ndata: [DONE]\n\ndata: {\"oops\":1}\n\n"]);
    end.unwrap();
    assert_eq!(
        events,
        vec![
            StreamEvent::Start {
                id: String::new(),
                model: String::new()
            },
            StreamEvent::Done
        ]
    );
}

// --- round trips with the dialect -----------------------------------------

#[test]
fn the_dialects_answer_reads_back_the_same() {
    for body in [
        transcript!("chat_response_text.json"),
        transcript!("chat_response_tool_calls.json"),
        transcript!("chat_response_length.json"),
        transcript!("chat_response_content_filter.json"),
    ] {
        let r = chat_response(body.as_bytes()).unwrap();
        assert_eq!(
            chat_response(dialect::encode_response(&r).as_bytes()).unwrap(),
            r
        );
    }
}

#[test]
fn the_dialects_stream_reads_back_the_same() {
    for body in [
        transcript!("stream_text.sse"),
        transcript!("stream_tool_calls.sse"),
    ] {
        let (events, end) = decode(&[body.as_bytes()]);
        end.unwrap();
        let mut encoder = dialect::Encoder::new(true);
        let mut sse = String::new();
        for e in &events {
            encoder.encode(e, &mut sse);
        }
        let (again, end) = decode(&[sse.as_bytes()]);
        end.unwrap();
        assert_eq!(again, events);
    }
}

// --- embeddings -----------------------------------------------------------

#[test]
fn embeddings_request_and_answers() {
    let req =
        dialect::decode_embeddings(transcript!("embeddings_request.json").as_bytes()).unwrap();
    let http = embeddings_request(&req, &openai("text-embedding-3-small")).unwrap();
    assert_eq!(http.url, "https://api.openai.com/v1/embeddings");
    assert_eq!(
        body_json(&http),
        json!({"model": "text-embedding-3-small", "input": ["The food was delicious.", "The waiter was friendly."],
               "encoding_format": "float", "dimensions": 4, "user": "user-1234", "x_extra": true})
    );
    let r = embeddings_response(transcript!("embeddings_response.json").as_bytes()).unwrap();
    assert_eq!(r.model, "text-embedding-3-small");
    assert_eq!(
        r.vectors,
        vec![
            vec![0.0023064255, -0.009327292, -0.0028842222, 0.5],
            vec![0.25, -0.5, 0.125, 1.0]
        ]
    );
    assert_eq!(
        r.usage,
        Some(Usage {
            input_tokens: 10,
            output_tokens: 0,
            cached_input_tokens: None
        })
    );
    let r = embeddings_response(transcript!("embeddings_response_base64.json").as_bytes()).unwrap();
    assert_eq!(r.vectors, vec![vec![1.0, -0.5, 0.125, -1.0]]);
    // Rows by `index`, ties in the order they came.
    let shuffled = br#"{"data":[{"index":2,"embedding":[2]},{"index":0,"embedding":[0]},
        {"index":1,"embedding":[1]},{"index":0,"embedding":[0.5]}]}"#;
    let r = embeddings_response(shuffled).unwrap();
    assert_eq!(r.vectors, vec![vec![0.0], vec![0.5], vec![1.0], vec![2.0]]);
    for bad in [
        &b"{}"[..],
        b"{\"data\":[{\"embedding\":[\"x\"]}]}",
        b"{\"data\":[{\"embedding\":\"@@\"}]}",
        b"{\"data\":[{}]}",
        b"nope",
    ] {
        assert!(matches!(
            embeddings_response(bad),
            Err(DecodeError::Malformed(_))
        ));
    }
    let azure = target(
        ProviderKind::Azure,
        "https://r.openai.azure.com",
        "emb",
        Some("k"),
    );
    let http = embeddings_request(
        &EmbeddingsRequest {
            inputs: vec!["a".into()],
            ..Default::default()
        },
        &azure,
    )
    .unwrap();
    assert!(body_json(&http).get("model").is_none());
    assert!(http
        .url
        .starts_with("https://r.openai.azure.com/openai/deployments/emb/embeddings?api-version="));
}

/// The meter's short way through a stream (`Decoder::push_metered`) counts
/// what the full decode counts: the same usage and the same text length,
/// and it fails where the full decode fails, however the bytes are split.
#[test]
fn metering_text_events_the_short_way_counts_what_decoding_counts() {
    use crate::usage::meter::Counter;
    let synthetic = concat!(
        "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}],\"usage\":null}\n\n",
        "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"h\\u00e9 \\\"q\\\" \\ud83d\\ude00 日本\\n\"}}],\"usage\":null}\n\n",
        "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":null,\"refusal\":\"no \\\\ way\"}}]}\n\n",
        "data: { \"choices\" : [ { \"delta\" : { \"content\" : \"spaced\" } } ] }\n\n",
        "data: {\"choices\":[{\"delta\":{\"content\":\"x\"},\"logprobs\":{\"content\":[{\"token\":\"x\"}]}}]}\n\n",
        "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"t\",\"function\":{\"name\":\"get\",\"arguments\":\"{\\\"a\\\"\"}}]}}]}\n\n",
        "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":3}}\n\n",
        "data: [DONE]\n\n",
    );
    let no_usage = "data: {\"choices\":[{\"delta\":{\"content\":\"ab\\tc\"}}]}\n\ndata: {\"choices\":[{\"delta\":{\"content\":\"é\"}}]}\n\ndata: [DONE]\n\n";
    let malformed = "data: {\"choices\":[{\"delta\":{\"content\":\"ok\"}}]}\n\ndata: {\"choices\":[{\"delta\":{\"content\":\"cut\n\ndata: [DONE]\n\n";
    let not_text = "data: {\"choices\":[{\"delta\":{\"content\":5}}]}\n\n";
    let streams = [
        transcript!("stream_text.sse"),
        transcript!("stream_tool_calls.sse"),
        transcript!("stream_groq_length.sse"),
        transcript!("stream_error.sse"),
        transcript!("stream_cut.sse"),
        synthetic,
        no_usage,
        malformed,
        not_text,
    ];
    for stream in streams {
        let bytes = stream.as_bytes();
        let full = |split: usize| {
            let (mut d, mut events, mut counter) = (Decoder::new(), Vec::new(), Counter::default());
            let result = d.push(&bytes[..split], &mut events).and_then(|()| d.push(&bytes[split..], &mut events));
            events.iter().for_each(|e| counter.see(e));
            (result.is_ok(), counter.tally(11, None).usage)
        };
        let metered = |split: usize| {
            let (mut d, mut events, mut text) = (Decoder::new(), Vec::new(), 0);
            let result = d
                .push_metered(&bytes[..split], &mut events, &mut text)
                .and_then(|()| d.push_metered(&bytes[split..], &mut events, &mut text));
            let mut counter = Counter::default();
            counter.add_text_bytes(text);
            events.iter().for_each(|e| counter.see(e));
            (result.is_ok(), counter.tally(11, None).usage)
        };
        for split in 0..=bytes.len() {
            if stream.is_char_boundary(split) {
                assert_eq!(metered(split), full(split), "{stream:?} split at {split}");
            }
        }
    }
}

#[test]
fn text_events_are_metered_without_becoming_events() {
    let (mut d, mut events, mut text) = (Decoder::new(), Vec::new(), 0);
    let plain = b"data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi \\u00e9\"},\"finish_reason\":null}],\"usage\":null}\n\n";
    d.push_metered(plain, &mut events, &mut text).unwrap();
    assert!(events.is_empty());
    assert_eq!(text, 5);
    let usage = b"data: {\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":3}}\n\ndata: [DONE]\n\n";
    d.push_metered(usage, &mut events, &mut text).unwrap();
    assert!(events.iter().any(|e| matches!(e, StreamEvent::Usage(u) if u.input_tokens == 7)));
    assert!(events.iter().any(|e| matches!(e, StreamEvent::Done)));
}

#[test]
fn a_stream_asks_for_usage_as_its_first_member_without_a_parse() {
    let t = openai("m");
    let ask = |body: &str| ask_for_usage(body.as_bytes(), &t).map(|b| String::from_utf8(b).unwrap());
    assert_eq!(
        ask(r#" {"model":"m","stream":true} "#).as_deref(),
        Some(r#" {"stream_options":{"include_usage":true},"model":"m","stream":true} "#)
    );
    assert_eq!(ask("{ }").as_deref(), Some(r#"{"stream_options":{"include_usage":true} }"#));
    assert_eq!(ask("[]"), None);
    assert_eq!(ask(" "), None);
    let asked = ask(r#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#).unwrap();
    let value: Value = serde_json::from_str(&asked).unwrap();
    assert_eq!(value["stream_options"], json!({"include_usage": true}));
    assert_eq!(value["messages"][0]["content"], "hi");
    // Mistral takes no `stream_options` (it sends usage anyway).
    let mistral = target(ProviderKind::Mistral, "https://api.mistral.ai/v1", "m", Some("k"));
    assert_eq!(ask_for_usage(b"{}", &mistral), None);
}
