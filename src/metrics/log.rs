//! The structured log: one JSON line per request (`"event":"request"`),
//! written when the response is answered, or for a relayed stream when the
//! stream ends. It holds the request id, route, gateway key *name*, status,
//! outcome, error class, the target chain (the attempt trail: provider,
//! model, key *index*, outcome, durations), latency, cache verdict, tokens
//! and cost. Never a key and never prompt or answer text: nothing in a
//! [`Record`] carries either.
//!
//! [`Pending`] pairs a stream with its [`End`], whichever comes first; the
//! end completes the stream's record with its real usage and cost before
//! the record is counted and its line written.

use super::record::{usd, Record};
use crate::json_out::{key as json_key, number, quote};

/// `,"name":`.
fn key(out: &mut String, name: &str) {
    json_key(out, name, false);
}

/// Lines (or ends) held at most; beyond, the oldest line is written without its end.
pub const MAX_PENDING: usize = 256;

/// The log line of `r`; `end` is how its stream ended (`ok` or an error kind).
pub fn line(r: &Record, end: Option<&str>) -> String {
    let mut out = String::with_capacity(320 + r.trail.len());
    out.push_str("{\"event\":\"request\"");
    for (name, text) in [("request_id", &r.request_id), ("route", &r.route), ("key", &r.key)] {
        key(&mut out, name);
        quote(&mut out, text);
    }
    key(&mut out, "status");
    number(&mut out, Some(u64::from(r.status)));
    key(&mut out, "outcome");
    quote(&mut out, r.outcome().as_str());
    for (name, text) in [("error", &r.error), ("target", &r.target)] {
        key(&mut out, name);
        quote(&mut out, text);
    }
    key(&mut out, "attempts");
    number(&mut out, Some(u64::from(r.attempts)));
    key(&mut out, "chain");
    out.push_str(if r.trail.starts_with('[') { r.trail.as_str() } else { "[]" });
    key(&mut out, "latency_ms");
    number(&mut out, Some(r.latency_ms));
    key(&mut out, "cache");
    match &r.cache {
        Some(cache) => quote(&mut out, cache),
        None => out.push_str("null"),
    }
    key(&mut out, "stream");
    out.push_str(if r.stream { "true" } else { "false" });
    key(&mut out, "tokens_in");
    number(&mut out, r.tokens_in);
    key(&mut out, "tokens_out");
    number(&mut out, r.tokens_out);
    key(&mut out, "cost_usd");
    match r.cost_nano {
        Some(nano) => out.push_str(&usd(nano)),
        None => out.push_str("null"),
    }
    if let Some(end) = end {
        key(&mut out, "stream_end");
        quote(&mut out, end);
    }
    out.push('}');
    out
}

/// How a relayed stream ended, with what it used (known only then).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct End {
    /// `ok`, `client_gone` or the error's kind.
    pub how: String,
    /// The stream's final tally: (tokens in, tokens out), `None` when not metered.
    pub tokens: Option<(u64, u64)>,
    /// Its cost in nano-USD, when the model has a price.
    pub cost_nano: Option<u64>,
}

impl End {
    /// `r` (recorded when the stream's headers went out, with the
    /// estimate) completed with the stream's real usage and cost.
    pub fn complete(&self, r: &mut Record) {
        r.tokens_in = self.tokens.map(|t| t.0);
        r.tokens_out = self.tokens.map(|t| t.1);
        r.cost_nano = self.cost_nano.filter(|_| self.tokens.is_some());
    }
}

/// Streams answered and waiting for their end (each with its `W`, which
/// is handed the end), and ends that came first; both bounded by
/// [`MAX_PENDING`] (the oldest is dropped: its waiter goes without an end).
#[derive(Debug)]
pub struct Pending<W> {
    waiting: Vec<(String, W)>,
    ends: Vec<(String, End)>,
}

impl<W> Default for Pending<W> {
    fn default() -> Self {
        Pending { waiting: Vec::new(), ends: Vec::new() }
    }
}

impl<W> Pending<W> {
    /// Stream `request_id` is answered: its end, if it came first.
    pub fn take_end(&mut self, request_id: &str) -> Option<End> {
        let i = self.ends.iter().position(|(id, _)| id == request_id)?;
        Some(self.ends.swap_remove(i).1)
    }

    /// Stream `request_id` was answered and its end has not come
    /// ([`Pending::take_end`]): `waiter` is held until [`Pending::ended`].
    pub fn answered(&mut self, request_id: &str, waiter: W) {
        self.waiting.push((request_id.to_string(), waiter));
        let over = self.waiting.len().saturating_sub(MAX_PENDING);
        self.waiting.drain(..over);
    }

    /// Stream `request_id` ended: its waiter, if it was answered already.
    pub fn ended(&mut self, request_id: &str, end: End) -> Option<(W, End)> {
        match self.waiting.iter().position(|(id, _)| id == request_id) {
            Some(i) => Some((self.waiting.remove(i).1, end)),
            None => {
                self.ends.push((request_id.into(), end));
                let over = self.ends.len().saturating_sub(MAX_PENDING);
                self.ends.drain(..over);
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::record::Outcome;

    fn record(id: &str) -> Record {
        Record {
            request_id: id.into(),
            route: "smart".into(),
            key: "team".into(),
            status: 200,
            outcome: Some(Outcome::Fallback),
            target: "b:m".into(),
            attempts: 2,
            trail: r#"[{"provider":"a","model":"m","key":0,"outcome":"500"},{"provider":"b","model":"m","key":null,"outcome":"ok"}]"#.into(),
            latency_ms: 12,
            tokens_in: Some(3),
            cost_nano: Some(42),
            stream: true,
            ..Record::default()
        }
    }

    #[test]
    fn a_line_is_one_json_object() {
        let text = line(&record("req_1"), Some("ok"));
        assert!(!text.contains('\n'));
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["event"], "request");
        assert_eq!(v["outcome"], "fallback");
        assert_eq!(v["chain"][1]["provider"], "b");
        assert_eq!(v["tokens_in"], 3);
        assert_eq!(v["tokens_out"], serde_json::Value::Null);
        assert_eq!(v["cost_usd"].as_f64(), Some(0.000000042));
        assert_eq!(v["stream_end"], "ok");
        let mut broken = record("req_2");
        broken.trail = "oops".into();
        let v: serde_json::Value = serde_json::from_str(&line(&broken, None)).unwrap();
        assert_eq!(v["chain"], serde_json::json!([]));
    }

    fn end(how: &str) -> End {
        End { how: how.into(), tokens: Some((7, 9)), cost_nano: Some(1_500) }
    }

    #[test]
    fn a_stream_waits_for_its_end_either_way_round() {
        let mut p = Pending::default();
        assert_eq!(p.take_end("a"), None);
        p.answered("a", 1);
        assert_eq!(p.ended("a", end("upstream_incomplete")), Some((1, end("upstream_incomplete"))));
        assert_eq!(p.ended("b", end("ok")), None);
        assert_eq!(p.take_end("b"), Some(end("ok")));
        assert_eq!(p.take_end("b"), None);
        assert!(p.waiting.is_empty() && p.ends.is_empty());
    }

    #[test]
    fn the_end_completes_the_record_with_the_real_usage() {
        let mut r = record("a");
        end("ok").complete(&mut r);
        assert_eq!((r.tokens_in, r.tokens_out, r.cost_nano), (Some(7), Some(9), Some(1_500)));
        End { how: "client_gone".into(), tokens: None, cost_nano: Some(3) }.complete(&mut r);
        assert_eq!((r.tokens_in, r.tokens_out, r.cost_nano), (None, None, None));
    }

    #[test]
    fn held_streams_are_bounded() {
        let mut p = Pending::default();
        for i in 0..(MAX_PENDING + 10) {
            p.answered(&format!("r{i}"), i);
        }
        assert_eq!(p.waiting.len(), MAX_PENDING);
        assert_eq!(p.waiting[0].1, 10);
        for i in 0..(MAX_PENDING + 10) {
            p.ended(&format!("x{i}"), end("ok"));
        }
        assert_eq!(p.ends.len(), MAX_PENDING);
    }
}
