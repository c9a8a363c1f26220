use super::meter::{Counter, Meter};
use super::price::{built_in, rates, Rates, BUILT_IN};
use super::*;
use crate::canonical::StreamEvent;
use crate::plan::Price;
use crate::provider::Adapter;

fn usage(input: u64, output: u64, cached: Option<u64>) -> Usage {
    Usage { input_tokens: input, output_tokens: output, cached_input_tokens: cached }
}

#[test]
fn cost_of_the_built_in_prices() {
    // gpt-4o: 2.50 in, 10.00 out, 1.25 cached per 1M tokens.
    let gpt4o = built_in("gpt-4o").unwrap();
    assert_eq!(gpt4o, Rates { input: 2_500_000, output: 10_000_000, cached_input: 1_250_000 });
    assert_eq!(gpt4o.cost(&usage(1_000_000, 0, None)), 2_500_000);
    assert_eq!(gpt4o.cost(&usage(0, 1_000_000, None)), 10_000_000);
    // 1,000 in (400 of them cached) + 500 out:
    // 600 × 2.5 + 400 × 1.25 + 500 × 10 = 1,500 + 500 + 5,000 = 7,000 µUSD.
    assert_eq!(gpt4o.cost(&usage(1_000, 500, Some(400))), 7_000);
    // claude-sonnet-4-5: 3 in, 15 out: 10 in + 20 out = 30 + 300 µUSD.
    assert_eq!(built_in("claude-sonnet-4-5").unwrap().cost(&usage(10, 20, None)), 330);
    // gpt-4o-mini 0.15 / 0.60: one token each is 0.75 µUSD, rounded up to 1.
    assert_eq!(built_in("gpt-4o-mini").unwrap().cost(&usage(1, 1, None)), 1);
    assert_eq!(built_in("gpt-4o-mini").unwrap().cost(&usage(0, 0, None)), 0);
}

#[test]
fn every_built_in_price_is_whole_micro_dollars_and_cached_is_cheaper() {
    for &(name, input, output, cached) in BUILT_IN {
        let r = built_in(name).unwrap();
        assert_eq!(r.input as f64, (input * 1e6).round(), "{name}");
        assert_eq!(r.output as f64, (output * 1e6).round(), "{name}");
        assert!(cached <= input, "{name}");
    }
}

#[test]
fn model_names_match_exactly_then_by_the_longest_dated_prefix() {
    assert_eq!(built_in("gpt-4o-mini-2024-07-18"), built_in("gpt-4o-mini"));
    assert_eq!(built_in("gpt-4o-2024-08-06"), built_in("gpt-4o"));
    assert_eq!(built_in("openai/gpt-4o"), built_in("gpt-4o"));
    assert_eq!(built_in("claude-sonnet-4-5-20250929"), built_in("claude-sonnet-4-5"));
    assert_eq!(built_in("gpt-4oo"), None);
    assert_eq!(built_in("mock-small"), None);
}

#[test]
fn route_file_prices_override_the_table() {
    let declared = vec![("gpt-4o".to_string(), Price { input: 1.0, output: 2.0, cached_input: None })];
    let r = rates(&declared, "gpt-4o").unwrap();
    assert_eq!(r, Rates { input: 1_000_000, output: 2_000_000, cached_input: 1_000_000 });
    assert_eq!(rates(&declared, "gpt-4o-mini"), built_in("gpt-4o-mini"));
    assert_eq!(rates(&[], "local-model"), None);
}

#[test]
fn usd_has_six_places() {
    assert_eq!(usd(0), "0.000000");
    assert_eq!(usd(7_000), "0.007000");
    assert_eq!(usd(12_345_678), "12.345678");
}

#[test]
fn json_usage_in_either_dialect() {
    let openai = br#"{"id":"x","usage":{"prompt_tokens":30,"completion_tokens":5,"total_tokens":35,"prompt_tokens_details":{"cached_tokens":10}}}"#;
    assert_eq!(from_json(openai), Some(usage(30, 5, Some(10))));
    let anthropic = br#"{"usage":{"input_tokens":10,"output_tokens":5,"cache_read_input_tokens":20,"cache_creation_input_tokens":2}}"#;
    assert_eq!(from_json(anthropic), Some(usage(32, 5, Some(20))));
    let embeddings = br#"{"data":[],"usage":{"prompt_tokens":8,"total_tokens":8}}"#;
    assert_eq!(from_json(embeddings), Some(usage(8, 0, None)));
    assert_eq!(from_json(br#"{"usage":null}"#), None);
    assert_eq!(from_json(b"{"), None);
}

#[test]
fn the_estimate_is_a_quarter_of_the_body_plus_the_answer_cap() {
    let body = br#"{"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":50}"#;
    assert_eq!(estimate(body), usage(body.len() as u64 / 4, 50, None));
    assert_eq!(estimate(br#"{"max_tokens":5,"max_completion_tokens":7}"#).output_tokens, 7);
    assert_eq!(crate::limits::estimate_tokens(body), estimate(body).total());
}

#[test]
fn headers_and_the_stream_comment() {
    let t = Tally::new(usage(100, 20, None), Source::Reported, built_in("gpt-4o").as_ref());
    assert_eq!(t.cost_micros, Some(450));
    let h = t.headers();
    assert!(h.contains(&(COST_HEADER, "0.000450".into())));
    assert!(h.contains(&(TOKENS_IN_HEADER, "100".into())));
    assert!(h.contains(&(USAGE_HEADER, "reported".into())));
    assert_eq!(
        t.sse_comment(),
        ": x-switchyard-tokens-in=100\n: x-switchyard-tokens-out=20\n: x-switchyard-usage=reported\n: x-switchyard-cost-usd=0.000450\n\n"
    );
    let unpriced = Tally::new(usage(1, 1, None), Source::Counted, None);
    assert!(!unpriced.headers().iter().any(|(n, _)| *n == COST_HEADER));
}

#[test]
fn a_stream_without_usage_is_counted_from_its_text() {
    let mut c = Counter::default();
    c.see(&StreamEvent::Text { choice: 0, text: "Hello, world".into() });
    c.see(&StreamEvent::ToolCallArguments { choice: 0, index: 0, arguments: "{}".into() });
    let t = c.tally(40, None);
    assert_eq!((t.usage, t.source), (usage(40, 4, None), Source::Counted));
    c.see(&StreamEvent::Usage(usage(9, 3, None)));
    assert_eq!(c.tally(40, None).source, Source::Reported);
}

const OPENAI_STREAM: &str = concat!(
    "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"},\"finish_reason\":null}]}\n\n",
    "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n",
    "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"model\":\"m\",\"choices\":[],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":3,\"total_tokens\":15}}\n\n",
    "data: [DONE]\n\n",
);

#[test]
fn a_forwarded_stream_is_metered_and_passed_on_as_whole_events() {
    for size in [1, 7, 64, OPENAI_STREAM.len()] {
        let mut m = Meter::new(Adapter::OpenAi, false);
        let mut out = Vec::new();
        for chunk in OPENAI_STREAM.as_bytes().chunks(size) {
            match m.push(chunk) {
                None => out.extend_from_slice(chunk),
                Some(events) => {
                    assert!(events.is_empty() || events.ends_with(b"\n\n"));
                    out.extend_from_slice(events);
                }
            }
        }
        out.extend(m.finish().unwrap_or_default());
        assert_eq!(String::from_utf8(out).unwrap(), OPENAI_STREAM, "chunks of {size}");
        assert_eq!(m.counter.tally(0, None).usage, usage(12, 3, None));
    }
    // Chunks that are whole events go on untouched (no copy).
    let mut m = Meter::new(Adapter::OpenAi, false);
    assert!(m.push(OPENAI_STREAM.as_bytes()).is_none());
    // A last event without its blank line still goes out at the end.
    let mut m = Meter::new(Adapter::OpenAi, false);
    assert_eq!(m.push(b"data: [DONE]"), Some(&b""[..]));
    assert_eq!(m.finish(), Some(b"data: [DONE]".to_vec()));
}

#[test]
fn the_end_marker_is_found_at_a_line_start_only() {
    use super::meter::{end_event_at, end_marker};
    use crate::dialect::Dialect;
    let openai = end_marker(Dialect::OpenAi);
    assert_eq!(end_event_at(OPENAI_STREAM.as_bytes(), openai), OPENAI_STREAM.find("data: [DONE]"));
    assert_eq!(end_event_at(b"data: {\"x\":\"data: [DONE]\"}\n\n", openai), None);
    assert_eq!(end_event_at(b"data: [DONE]\n\n", openai), Some(0));
    let anthropic = b"event: message_delta\ndata: {}\n\nevent: message_stop\ndata: {}\n\n";
    assert_eq!(end_event_at(anthropic, end_marker(Dialect::Anthropic)), Some(31));
}

#[test]
fn the_usage_chunk_the_client_did_not_ask_for_is_taken_out_at_any_split() {
    let usage_event = OPENAI_STREAM.lines().nth(4).unwrap();
    let expected = OPENAI_STREAM.replace(&format!("{usage_event}\n\n"), "");
    for size in [1, 5, 64, OPENAI_STREAM.len()] {
        let mut m = Meter::new(Adapter::OpenAi, true);
        let mut out = Vec::new();
        for chunk in OPENAI_STREAM.as_bytes().chunks(size) {
            out.extend_from_slice(m.push(chunk).unwrap());
        }
        out.extend(m.finish().unwrap_or_default());
        assert_eq!(String::from_utf8(out).unwrap(), expected, "chunks of {size}");
        assert_eq!(m.counter.tally(0, None).usage, usage(12, 3, None));
    }
}

#[test]
fn null_usage_members_are_taken_out_too() {
    let stream = concat!(
        "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a \\\"usage\\\":null\"}}],\"usage\":null}\n\n",
        "data: {\"usage\":null,\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n",
        "data: {\"id\":\"c\",\"choices\":[],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2,\"total_tokens\":3}}\n\n",
        "data: [DONE]\n\n",
    );
    let mut m = Meter::new(Adapter::OpenAi, true);
    let mut out = m.push(stream.as_bytes()).unwrap().to_vec();
    out.extend(m.finish().unwrap_or_default());
    let expected = concat!(
        "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a \\\"usage\\\":null\"}}]}\n\n",
        "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n",
        "data: [DONE]\n\n",
    );
    assert_eq!(String::from_utf8(out).unwrap(), expected);
    assert_eq!(m.counter.tally(0, None).usage, usage(1, 2, None));
}

#[test]
fn an_anthropic_stream_merges_its_start_and_end_counts() {
    let stream = concat!(
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"model\":\"c\",\"usage\":{\"input_tokens\":25,\"output_tokens\":1}}}\n\n",
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\n\n",
        "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":7}}\n\n",
        "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
    );
    let mut m = Meter::new(Adapter::Anthropic, false);
    assert!(m.push(stream.as_bytes()).is_none());
    m.finish();
    assert_eq!(m.counter.tally(0, None).usage, usage(25, 7, None));
}
