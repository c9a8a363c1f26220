use super::*;
use crate::provider::Adapter;
use crate::translate::Defaults;

const STREAM: &str = concat!(
    "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"},\"finish_reason\":null}],\"usage\":null}\n\n",
    "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":null}\n\n",
    "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"model\":\"m\",\"choices\":[],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":3,\"total_tokens\":15}}\n\n",
    "data: [DONE]\n\n",
);

const COMMENT: &str = ": x-switchyard-tokens-in=12\n: x-switchyard-tokens-out=3\n: x-switchyard-usage=reported\n\n";

fn forwarding(strip: bool) -> Tap {
    Tap::new(Dialect::OpenAi, None, Some(Meter::new(Adapter::OpenAi, strip)), None, 7)
}

/// Everything the client gets for `stream` cut in chunks of `size`, and
/// how many chunks went out untouched.
fn relay(tap: &mut Tap, stream: &str, size: usize) -> (String, usize) {
    let mut out = Vec::new();
    let mut forwarded = 0;
    for chunk in stream.as_bytes().chunks(size) {
        match tap.push(chunk) {
            Step::Forward => {
                forwarded += 1;
                out.extend_from_slice(chunk);
            }
            Step::Send(bytes) => out.extend_from_slice(bytes),
            Step::Broken => panic!("broken: {:?}", tap.broken()),
        }
    }
    out.extend_from_slice(tap.finish().unwrap().bytes);
    (String::from_utf8(out).unwrap(), forwarded)
}

#[test]
fn a_forwarded_stream_gets_its_usage_comment_before_done_at_any_split() {
    let expected = STREAM.replace("data: [DONE]", &format!("{COMMENT}data: [DONE]"));
    for size in [1, 7, 64, STREAM.len()] {
        let mut tap = forwarding(false);
        assert_eq!(relay(&mut tap, STREAM, size).0, expected, "chunks of {size}");
        assert_eq!(tap.tally().unwrap().usage.output_tokens, 3);
    }
}

#[test]
fn whole_events_without_the_end_go_out_untouched() {
    let mut tap = forwarding(false);
    let events: Vec<&str> = STREAM.split_inclusive("\n\n").collect();
    for event in &events[..3] {
        assert_eq!(tap.push(event.as_bytes()), Step::Forward);
    }
    assert_eq!(tap.push(events[3].as_bytes()), Step::Send(format!("{COMMENT}data: [DONE]\n\n").as_bytes()));
    assert_eq!(tap.finish(), Some(Closing { bytes: b"", essential: false }));
}

#[test]
fn the_injected_usage_chunk_and_null_usage_members_are_taken_out() {
    let kept: Vec<&str> = STREAM.split_inclusive("\n\n").filter(|e| !e.contains("\"choices\":[]")).collect();
    let expected = kept.concat().replace(",\"usage\":null", "").replace("data: [DONE]", &format!("{COMMENT}data: [DONE]"));
    for size in [1, 5, 64, STREAM.len()] {
        let mut tap = forwarding(true);
        let (out, forwarded) = relay(&mut tap, STREAM, size);
        assert_eq!(out, expected, "chunks of {size}");
        assert_eq!(forwarded, 0);
    }
}

#[test]
fn a_clean_end_without_the_end_event_gets_the_comment_last() {
    let cut = STREAM.replace("data: [DONE]\n\n", "");
    let mut tap = forwarding(false);
    let (out, _) = relay(&mut tap, &cut, 64);
    assert_eq!(out, format!("{cut}{COMMENT}"));
    // An unterminated last event is sent at the end, before the comment.
    let mut tap = forwarding(false);
    assert_eq!(tap.push(b"data: [DONE]"), Step::Send(b""));
    let counted = ": x-switchyard-tokens-in=7\n: x-switchyard-tokens-out=0\n: x-switchyard-usage=counted\n\n";
    let closing = tap.finish().unwrap();
    assert_eq!(closing, Closing { bytes: format!("{counted}data: [DONE]").as_bytes(), essential: true });
}

fn translating() -> Tap {
    let defaults = Defaults { id: "req", model: "m", created: 1 };
    let t = StreamTranslator::new(Adapter::OpenAi, Dialect::Anthropic, false, defaults);
    Tap::new(Dialect::Anthropic, Some(t), None, None, 7)
}

#[test]
fn a_translated_stream_gets_its_comment_before_message_stop() {
    let mut tap = translating();
    let (out, forwarded) = relay(&mut tap, STREAM, 64);
    assert_eq!(forwarded, 0);
    let comment = out.find(COMMENT).expect("the usage comment");
    assert_eq!(out[comment + COMMENT.len()..].find("event: message_stop"), Some(0), "{out}");
}

#[test]
fn a_translated_stream_that_fails_keeps_what_was_translated_and_says_why() {
    let mut tap = translating();
    let first = STREAM.split_inclusive("\n\n").next().unwrap();
    assert!(matches!(tap.push(first.as_bytes()), Step::Send(_)));
    assert_eq!(tap.push(b"data: {not json\n\n"), Step::Broken);
    let (_, error) = tap.broken().unwrap();
    assert!(!error.message.is_empty());
    // Without its end marker a translated stream is incomplete.
    let mut tap = translating();
    assert!(matches!(tap.push(first.as_bytes()), Step::Send(_)));
    assert_eq!(tap.finish(), None);
    assert!(tap.broken().is_some());
}
