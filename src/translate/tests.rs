//! Cross-format translation over recorded provider transcripts: each
//! provider's stream, fed in chunks of every size, reaches each client
//! dialect complete, and a cut or an in-stream error ends in an error.

use super::*;

const DEFAULTS: Defaults<'static> = Defaults { id: "req_1", model: "m-1", created: 1_700_000_000 };

/// Feeds `body` in chunks of `size` bytes; the client's bytes, or the error.
fn run(adapter: Adapter, dialect: Dialect, body: &[u8], size: usize) -> Result<String, (String, GatewayError)> {
    let mut t = StreamTranslator::new(adapter, dialect, true, DEFAULTS);
    let mut out = String::new();
    for chunk in body.chunks(size.max(1)) {
        match t.push(chunk) {
            Ok(text) => out.push_str(text),
            Err(e) => {
                out.push_str(t.pending());
                return Err((out, e));
            }
        }
    }
    match t.finish() {
        Ok(text) => {
            out.push_str(text);
            Ok(out)
        }
        Err(e) => Err((out, e)),
    }
}

/// The text an OpenAI client reads from `sse` (and that it ended in `[DONE]`).
fn openai_text(sse: &str) -> String {
    assert!(sse.trim_end().ends_with("data: [DONE]"), "{sse}");
    sse.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str::<serde_json::Value>(d).unwrap())
        .filter_map(|v| v.pointer("/choices/0/delta/content").and_then(|c| c.as_str()).map(str::to_string))
        .collect()
}

/// The text an Anthropic client reads (and that it ended in `message_stop`).
fn anthropic_text(sse: &str) -> String {
    assert!(sse.contains("event: message_stop"), "{sse}");
    sse.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(|d| serde_json::from_str::<serde_json::Value>(d).unwrap())
        .filter(|v| v["type"] == "content_block_delta" && v["delta"]["type"] == "text_delta")
        .map(|v| v["delta"]["text"].as_str().unwrap().to_string())
        .collect()
}

const ANTHROPIC_TEXT: &[u8] = include_bytes!("../../tests/transcripts/anthropic/stream_text.sse");
const OPENAI_TEXT: &[u8] = include_bytes!("../../tests/transcripts/openai/stream_text.sse");
const BEDROCK_TEXT: &[u8] = include_bytes!("../../tests/transcripts/bedrock/stream_text.bin");

#[test]
fn every_stream_reaches_every_client_whole_in_any_chunking() {
    for (name, adapter, body) in [
        ("anthropic", Adapter::Anthropic, ANTHROPIC_TEXT),
        ("openai", Adapter::OpenAi, OPENAI_TEXT),
        ("bedrock", Adapter::Bedrock, BEDROCK_TEXT),
    ] {
        let whole_openai = openai_text(&run(adapter, Dialect::OpenAi, body, body.len()).unwrap());
        let whole_anthropic = anthropic_text(&run(adapter, Dialect::Anthropic, body, body.len()).unwrap());
        assert!(!whole_openai.is_empty(), "{name}");
        assert_eq!(whole_openai, whole_anthropic, "{name}: both clients read the same text");
        for size in [1, 3, 7, 64] {
            assert_eq!(openai_text(&run(adapter, Dialect::OpenAi, body, size).unwrap()), whole_openai, "{name} / {size}");
            assert_eq!(anthropic_text(&run(adapter, Dialect::Anthropic, body, size).unwrap()), whole_anthropic, "{name} / {size}");
        }
    }
}

#[test]
fn a_cut_anywhere_is_an_error_never_a_clean_end() {
    for (name, adapter, body) in [
        ("anthropic", Adapter::Anthropic, ANTHROPIC_TEXT),
        ("openai", Adapter::OpenAi, OPENAI_TEXT),
        ("bedrock", Adapter::Bedrock, BEDROCK_TEXT),
    ] {
        // Every cut that leaves out the end marker (the last 8 bytes hold it
        // in all three) fails, for both clients.
        for cut in (1..body.len() - 8).step_by(5) {
            for dialect in [Dialect::OpenAi, Dialect::Anthropic] {
                let result = run(adapter, dialect, &body[..cut], 16);
                let (out, error) = result.expect_err(&format!("{name} cut at {cut} must fail"));
                assert_eq!(error.fault, Fault::UpstreamIncomplete);
                assert!(!out.contains("[DONE]") && !out.contains("message_stop"), "{name} cut at {cut}: {out}");
            }
        }
    }
}

#[test]
fn an_in_stream_provider_error_is_an_error_for_the_client() {
    let body = include_bytes!("../../tests/transcripts/anthropic/stream_error.sse");
    let (_, error) = run(Adapter::Anthropic, Dialect::OpenAi, body, 10).unwrap_err();
    assert_eq!(error.fault, Fault::UpstreamIncomplete);
    let body = include_bytes!("../../tests/transcripts/bedrock/stream_throttled.bin");
    assert!(run(Adapter::Bedrock, Dialect::Anthropic, body, 10).is_err());
}

#[test]
fn a_start_without_id_or_model_takes_the_defaults() {
    let out = run(Adapter::Bedrock, Dialect::Anthropic, BEDROCK_TEXT, 4096).unwrap();
    let start = out.lines().find(|l| l.contains("message_start") && l.starts_with("data: ")).unwrap();
    let v: serde_json::Value = serde_json::from_str(start.strip_prefix("data: ").unwrap()).unwrap();
    assert_eq!(v["message"]["id"], "req_1");
    assert_eq!(v["message"]["model"], "m-1");
}

#[test]
fn json_answers_take_the_defaults_and_keep_the_text() {
    let body = include_bytes!("../../tests/transcripts/bedrock/converse_text.json");
    let out = json_answer(Adapter::Bedrock, Dialect::OpenAi, body, DEFAULTS).unwrap();
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["id"], "req_1");
    assert_eq!(v["model"], "m-1");
    assert_eq!(v["created"], 1_700_000_000);
    assert!(v["choices"][0]["message"]["content"].as_str().is_some_and(|t| !t.is_empty()));
    assert!(json_answer(Adapter::Anthropic, Dialect::OpenAi, b"{not json", DEFAULTS).is_err());
}
