//! Translation cost (native): what the gateway spends converting between
//! wire formats, per request and per stream chunk, I/O excluded.
//!
//! `cargo bench --bench translate` (or `make bench-translate`). Per request:
//! an OpenAI client's body decoded to the canonical request and encoded for
//! each provider; each provider's JSON answer decoded and encoded for an
//! OpenAI and an Anthropic client. Per chunk: one provider stream event
//! decoded and re-encoded for the client (the streams are the ones the mock
//! provider sends, so the figure is per event of a typical text stream).

#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    native::main();
}

#[cfg(not(target_arch = "wasm32"))]
#[path = "timing.rs"]
mod timing;

#[cfg(not(target_arch = "wasm32"))]
mod native {
    use super::timing::median;
    use std::hint::black_box;
    use switchyard::canonical::{ChatResponse, Choice, FinishReason, StreamEvent, Usage};
    use switchyard::dialect::Dialect;
    use switchyard::plan::ProviderKind;
    use switchyard::provider::{Adapter, Target};
    use switchyard::translate::{json_answer, Defaults, StreamTranslator};

    const DEFAULTS: Defaults<'static> = Defaults { id: "req_1", model: "model-x", created: 1_700_000_000 };

    const REQUEST: &[u8] = br#"{"model":"gpt-4o","messages":[
        {"role":"system","content":"You are a helpful assistant that answers briefly."},
        {"role":"user","content":"What is the capital of France? Answer in one word, please."},
        {"role":"assistant","content":"Paris."},
        {"role":"user","content":[{"type":"text","text":"And of Italy?"}]}],
        "temperature":0.2,"max_tokens":256,"stream":false,
        "tools":[{"type":"function","function":{"name":"lookup","description":"Look a city up",
          "parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}]}"#;

    const KINDS: [(&str, ProviderKind); 4] = [
        ("anthropic", ProviderKind::Anthropic),
        ("gemini", ProviderKind::Gemini),
        ("bedrock", ProviderKind::Bedrock),
        ("cohere", ProviderKind::Cohere),
    ];

    fn target(kind: ProviderKind) -> Target<'static> {
        Target {
            kind,
            base: "https://provider.example/v1",
            model: "model-x",
            key: Some("AKIDEXAMPLE:wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
            api_version: None,
            region: Some("us-east-1"),
            now_ms: 1_700_000_000_000,
        }
    }

    /// A typical answer, written by each provider's own encoder-inverse:
    /// the canonical answer encoded as the provider would send it is not
    /// something the gateway does, so the answers are the mock's.
    fn answer() -> ChatResponse {
        ChatResponse {
            id: "msg_1".into(),
            model: "model-x".into(),
            created: 1_700_000_000,
            choices: vec![Choice {
                index: 0,
                text: Some("Rome is the capital of Italy, and it has been since 1871.".into()),
                tool_calls: vec![],
                finish_reason: Some(FinishReason::Stop),
            }],
            usage: Some(Usage { input_tokens: 60, output_tokens: 14, cached_input_tokens: None }),
        }
    }

    pub fn main() {
        println!("| translation, native | median | |");
        println!("|---|---:|---|");
        let request = Dialect::OpenAi.decode_chat(REQUEST).expect("the bench request decodes");
        let decode = median(21, 20_000, || {
            black_box(Dialect::OpenAi.decode_chat(black_box(REQUEST)).is_ok());
        });
        println!("| OpenAI request → canonical | {:.2} µs | |", decode.as_secs_f64() * 1e6);
        for (name, kind) in KINDS {
            let adapter = Adapter::for_kind(kind);
            let t = target(kind);
            assert!(adapter.chat_request(&request, &t).is_ok(), "{name} encodes");
            let encode = median(21, 20_000, || {
                black_box(adapter.chat_request(black_box(&request), &t).is_ok());
            });
            println!("| canonical → {name} request | {:.2} µs | |", encode.as_secs_f64() * 1e6);
        }
        // Answers: the Anthropic dialect's encoder writes the Anthropic wire
        // form, which the Anthropic adapter then reads back.
        let anthropic_json = Dialect::Anthropic.encode_response(&answer());
        let openai_json = Dialect::OpenAi.encode_response(&answer());
        for (from, adapter, body) in [
            ("anthropic", Adapter::Anthropic, anthropic_json.as_bytes()),
            ("openai", Adapter::OpenAi, openai_json.as_bytes()),
        ] {
            for (to, dialect) in [("OpenAI", Dialect::OpenAi), ("Anthropic", Dialect::Anthropic)] {
                assert!(json_answer(adapter, dialect, body, DEFAULTS).is_ok());
                let t = median(21, 20_000, || {
                    black_box(json_answer(adapter, dialect, black_box(body), DEFAULTS).is_ok());
                });
                println!("| {from} JSON answer → {to} client | {:.2} µs | |", t.as_secs_f64() * 1e6);
            }
        }
        // Streams: the Anthropic wire stream as the Anthropic dialect writes
        // it, fed event by event to a translator for an OpenAI client.
        let mut encoder = Dialect::Anthropic.stream_encoder(true, 1_700_000_000);
        let mut wire = String::new();
        let mut events = vec![StreamEvent::Start { id: "msg_1".into(), model: "model-x".into() }];
        for word in "Rome is the capital of Italy and it has been since 1871".split(' ') {
            events.push(StreamEvent::Text { choice: 0, text: format!("{word} ") });
        }
        events.push(StreamEvent::Finish { choice: 0, reason: FinishReason::Stop });
        events.push(StreamEvent::Usage(Usage { input_tokens: 60, output_tokens: 14, cached_input_tokens: None }));
        events.push(StreamEvent::Done);
        for e in &events {
            encoder.encode(e, &mut wire);
        }
        let chunks: Vec<&str> = wire.split_inclusive("\n\n").collect();
        let per_stream = median(21, 5_000, || {
            let mut t = StreamTranslator::new(Adapter::Anthropic, Dialect::OpenAi, true, DEFAULTS);
            for c in &chunks {
                black_box(t.push(c.as_bytes()).map(str::len).unwrap_or(0));
            }
            black_box(t.finish().is_ok());
        });
        println!(
            "| Anthropic stream → OpenAI client, per event ({} events) | {:.2} µs | |",
            chunks.len(),
            per_stream.as_secs_f64() * 1e6 / chunks.len() as f64
        );
    }
}
