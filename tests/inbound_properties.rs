//! Property: whatever bytes a client sends as a body, every inbound reader
//! (`chat::inspect`, both dialects' `decode_chat`, `anthropic::inspect`,
//! `decode_embeddings`) returns without a panic, a refusal is a 4xx with a
//! message, and whatever decodes encodes for every provider into JSON.
//!
//! Inputs are valid requests of each endpoint mutated at random (bytes
//! deleted, inserted, flipped; JSON tokens and hostile values spliced in;
//! spans duplicated or cut), from a fixed seed so a failure reproduces.
//! The checks are the ones the `inbound` cargo-fuzz target runs
//! (`tests/fuzz/src/inbound.rs`, included here), coverage-guided there.

#![cfg(not(target_arch = "wasm32"))]

#[path = "fuzz/src/inbound.rs"]
mod inbound;

/// xorshift64*: small, deterministic, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const SEEDS: &[&str] = &[
    r#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}"#,
    r#"{"model":"gpt-4o","messages":[{"role":"system","content":"be brief"},{"role":"user","content":[{"type":"text","text":"look"},{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo=","detail":"low"}}]},{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}}]},{"role":"tool","tool_call_id":"c1","content":"42"}],"tools":[{"type":"function","function":{"name":"f","description":"d","parameters":{"type":"object","properties":{"a":{"type":"integer"}}},"strict":true}}],"tool_choice":{"type":"function","function":{"name":"f"}},"response_format":{"type":"json_schema","json_schema":{"name":"s","schema":{"type":"object"},"strict":true}},"stream":true,"stream_options":{"include_usage":true},"max_tokens":50,"temperature":0.2,"top_p":0.9,"stop":["END"],"seed":7,"n":1,"user":"u","metadata":{"k":"v"},"logprobs":false}"#,
    r#"{"model":"claude-x","max_tokens":100,"system":[{"type":"text","text":"be brief"}],"messages":[{"role":"user","content":"hi"}]}"#,
    r#"{"model":"claude-x","max_tokens":64,"stream":true,"temperature":1,"top_k":5,"stop_sequences":["X"],"metadata":{"user_id":"u"},"messages":[{"role":"user","content":[{"type":"text","text":"see"},{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0KGgo="}}]},{"role":"assistant","content":[{"type":"thinking","thinking":"t","signature":"s"},{"type":"tool_use","id":"t1","name":"f","input":{"a":1}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":[{"type":"text","text":"42"}],"is_error":false}]}],"tools":[{"name":"f","description":"d","input_schema":{"type":"object"}}],"tool_choice":{"type":"tool","name":"f","disable_parallel_tool_use":true}}"#,
    r#"{"model":"text-embedding-3-small","input":["a","b"],"dimensions":256,"encoding_format":"float","user":"u"}"#,
];

const TOKENS: &[&str] = &[
    "{", "}", "[", "]", ",", ":", "\"", "\\", "\\u0000", "\\ud800", "null", "true", "false", "0", "-1",
    "1e400", "1.5", "-0", "\"\"", "[]", "{}", "\"user\"", "\"assistant\"", "\"tool\"", "\"system\"",
    "\"text\"", "\"image\"", "\"image_url\"", "\"tool_use\"", "\"tool_result\"", "\"function\"", "\"model\"",
    "\"messages\"", "\"content\"", "\"role\"", "\"type\"", "\"stream\"", "\"max_tokens\"", "\"tools\"",
    "\"input\"", "\"system\"", "é", "\u{0}", "\u{feff}", "\u{1f600}", "\x7f",
];

/// One mutation of `input`, in place.
fn mutate(rng: &mut Rng, input: &mut Vec<u8>) {
    let at = rng.below(input.len() + 1);
    match rng.below(8) {
        0 if !input.is_empty() => {
            let end = (at + 1 + rng.below(8)).min(input.len());
            input.drain(at.min(end)..end);
        }
        1 => input.insert(at, rng.next() as u8),
        2 if at < input.len() => input[at] ^= 1 << rng.below(8),
        3 | 4 => {
            let token = TOKENS[rng.below(TOKENS.len())].as_bytes();
            input.splice(at..at, token.iter().copied());
        }
        5 if !input.is_empty() => {
            // Duplicate a span (nested repeats, duplicate keys).
            let start = rng.below(input.len());
            let end = (start + 1 + rng.below(40)).min(input.len());
            let span = input[start..end].to_vec();
            input.splice(at..at, span);
        }
        6 => input.truncate(at),
        _ if at < input.len() => {
            // A high byte: invalid UTF-8 most of the time.
            input[at] = 0x80 | rng.next() as u8;
        }
        _ => input.push(b' '),
    }
}

#[test]
fn every_inbound_reader_survives_mutated_bodies() {
    let mut rng = Rng(0x5eed_1b0d_2026_0008);
    let mut runs = 0;
    for seed in SEEDS {
        // The seeds themselves decode (else the mutations prove little).
        inbound::check(seed.as_bytes());
        for _ in 0..1000 {
            let mut input = seed.as_bytes().to_vec();
            for _ in 0..1 + rng.below(6) {
                mutate(&mut rng, &mut input);
            }
            inbound::check(&input);
            runs += 1;
        }
    }
    assert_eq!(runs, 5000);
}

#[test]
fn hostile_shapes_are_refused_without_a_panic() {
    let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
    let cases = [
        String::new(),
        " ".into(),
        "[]".into(),
        "null".into(),
        deep(10_000),
        format!(r#"{{"model":"m","messages":{}}}"#, deep(10_000)),
        format!(r#"{{"model":"m","max_tokens":1,"messages":[{{"role":"user","content":{}}}]}}"#, deep(5_000)),
        format!(r#"{{"model":"m","input":{}}}"#, "[".repeat(100_000)),
        format!(r#"{{"model":"{}","messages":[{{"role":"user","content":"x"}}]}}"#, "m".repeat(1 << 20)),
        format!(r#"{{"model":"m","max_tokens":1,"messages":[{}]}}"#, vec![r#"{"role":"user","content":"x"}"#; 10_000].join(",")),
        r#"{"model":"m","max_tokens":1e400,"messages":[{"role":"user","content":"x"}]}"#.into(),
        r#"{"model":"m","max_tokens":18446744073709551616,"messages":[{"role":"user","content":"x"}]}"#.into(),
        r#"{"model":"m","messages":[{"role":"user","content":"\ud800"}]}"#.into(),
    ];
    for case in &cases {
        inbound::check(case.as_bytes());
    }
    let mut invalid = br#"{"model":"m","messages":[{"role":"user","content":"x"}]}"#.to_vec();
    invalid.insert(50, 0xff);
    inbound::check(&invalid);
    let refused = switchyard::chat::inspect(&invalid).unwrap_err();
    assert_eq!(refused.status(), 400, "invalid UTF-8 in a field the fast path skips: {}", refused.message);
}
