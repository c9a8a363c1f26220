//! What the `inbound` fuzz target and the seeded property test
//! `tests/inbound_properties.rs` check: a client's body, whatever its bytes,
//! goes through every inbound reader (the fast path's checks and both
//! dialects' decoders) without a panic; a refusal is a 4xx with a message;
//! and whatever decodes can be encoded for every provider without a panic,
//! into a JSON body.
//!
//! One copy, used by both (the property test includes it by path).

use switchyard::canonical::{ChatRequest, EmbeddingsRequest};
use switchyard::dialect::{anthropic, openai, Dialect};
use switchyard::error::GatewayError;
use switchyard::plan::ProviderKind;
use switchyard::provider::{Adapter, HttpRequest, Target};

const ADAPTERS: [(Adapter, ProviderKind); 5] = [
    (Adapter::OpenAi, ProviderKind::OpenaiCompatible),
    (Adapter::Anthropic, ProviderKind::Anthropic),
    (Adapter::Gemini, ProviderKind::Gemini),
    (Adapter::Bedrock, ProviderKind::Bedrock),
    (Adapter::Cohere, ProviderKind::Cohere),
];

fn target(kind: ProviderKind) -> Target<'static> {
    Target {
        kind,
        base: "https://upstream.test/v1",
        model: "fuzz-model",
        key: Some(match kind {
            ProviderKind::Bedrock => "AKIAFUZZEXAMPLE:fuzzsecretaccesskey0123456789",
            _ => "sk-fuzz-key",
        }),
        api_version: None,
        region: Some("us-east-1"),
        now_ms: 1_700_000_000_000,
    }
}

/// A refusal must be the client's fault, and say why.
fn refusal(what: &str, e: &GatewayError) {
    let status = e.status();
    assert!((400..500).contains(&status), "{what}: a {status} for bad input: {}", e.message);
    assert!(!e.message.is_empty(), "{what}: a refusal without a message");
}

/// An encoded request: its body is one JSON value.
fn json_body(what: &str, adapter: Adapter, request: &HttpRequest) {
    if let Err(e) = serde_json::from_slice::<serde_json::Value>(&request.body) {
        panic!("{what} encoded for {adapter:?} is not JSON ({e}): {:?}", String::from_utf8_lossy(&request.body));
    }
    assert!(request.url.starts_with("https://upstream.test/"), "{what} for {adapter:?}: url {}", request.url);
}

fn encode_chat(what: &str, req: &ChatRequest) {
    for stream in [req.stream, !req.stream] {
        let req = ChatRequest { stream, ..req.clone() };
        for (adapter, kind) in ADAPTERS {
            // A provider may refuse what it cannot express; it must not panic.
            if let Ok(request) = adapter.chat_request(&req, &target(kind)) {
                json_body(what, adapter, &request);
            }
        }
    }
}

fn encode_embeddings(req: &EmbeddingsRequest) {
    for (adapter, kind) in ADAPTERS {
        if let Ok(request) = adapter.embeddings_request(req, &target(kind)) {
            json_body("embeddings", adapter, &request);
        }
    }
}

/// Runs every inbound reader over `data` and checks the contract above.
/// Panics (a fuzz finding) when it breaks.
pub fn check(data: &[u8]) {
    // The fast paths' checks.
    let openai_summary = switchyard::chat::inspect(data);
    if let Err(e) = &openai_summary {
        refusal("chat::inspect", e);
    }
    let anthropic_summary = anthropic::inspect(data);
    if let Err(e) = &anthropic_summary {
        refusal("anthropic::inspect", e);
    }

    // JSON is UTF-8: a body that is not is refused by every reader (the fast
    // paths forward the body as it came).
    if std::str::from_utf8(data).is_err() {
        assert!(openai_summary.is_err(), "chat::inspect passed a body that is not UTF-8");
        assert!(anthropic_summary.is_err(), "anthropic::inspect passed a body that is not UTF-8");
    }

    // The full decoders, and every provider's encoder over what they give.
    match Dialect::OpenAi.decode_chat(data) {
        Ok(req) => {
            assert!(!req.model.trim().is_empty(), "an OpenAI request without a model");
            assert!(!req.messages.is_empty(), "an OpenAI request without messages");
            // When the fast path's check passes it too, they agree. (The check
            // may be stricter: it refuses duplicate fields, the decoder keeps the last.)
            if let Ok(summary) = &openai_summary {
                assert_eq!(summary.model, req.model, "inspect and decode disagree on the model");
                assert_eq!(summary.stream, req.stream, "inspect and decode disagree on stream");
            }
            encode_chat("an OpenAI request", &req);
        }
        Err(e) => refusal("OpenAI decode_chat", &e),
    }
    match Dialect::Anthropic.decode_chat(data) {
        Ok(req) => {
            let summary = anthropic_summary.as_ref().unwrap_or_else(|e| {
                panic!("decoded, but anthropic::inspect refused it: {}", e.message)
            });
            assert_eq!(summary.model, req.model, "inspect and decode disagree on the model");
            assert_eq!(summary.stream, req.stream, "inspect and decode disagree on stream");
            encode_chat("an Anthropic request", &req);
        }
        Err(e) => refusal("Anthropic decode_chat", &e),
    }
    match openai::decode_embeddings(data) {
        Ok(req) => {
            assert!(!req.inputs.is_empty(), "an embeddings request without input");
            encode_embeddings(&req);
        }
        Err(e) => refusal("decode_embeddings", &e),
    }
}
