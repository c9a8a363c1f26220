//! The structured log: one JSON line per request (`"event":"request"`),
//! written when the response is answered, or for a relayed stream when the
//! stream ends. It holds the request id, route, gateway key *name*, status,
//! outcome, error class, the target chain (the attempt trail: provider,
//! model, key *index*, outcome, durations), latency, cache verdict, tokens
//! and cost. Never a key and never prompt or answer text: nothing in a
//! [`Record`] carries either.
//!
//! [`Pending`] pairs a stream's line with its end, whichever comes first.

use super::record::{usd, Record};

/// Lines (or ends) held at most; beyond, the oldest line is written without its end.
pub const MAX_PENDING: usize = 256;

fn opt(n: Option<u64>) -> String {
    n.map_or("null".into(), |n| n.to_string())
}

/// The log line of `r`; `end` is how its stream ended (`ok` or an error kind).
pub fn line(r: &Record, end: Option<&str>) -> String {
    let q = |s: &str| serde_json::to_string(s).unwrap_or_default();
    let mut out = format!(
        "{{\"event\":\"request\",\"request_id\":{},\"route\":{},\"key\":{},\"status\":{},\"outcome\":\"{}\",\"error\":{},\"target\":{},\"attempts\":{},\"chain\":{},\"latency_ms\":{},\"cache\":{},\"stream\":{},\"tokens_in\":{},\"tokens_out\":{},\"cost_usd\":{}",
        q(&r.request_id),
        q(&r.route),
        q(&r.key),
        r.status,
        r.outcome().as_str(),
        q(&r.error),
        q(&r.target),
        r.attempts,
        if r.trail.starts_with('[') { r.trail.as_str() } else { "[]" },
        r.latency_ms,
        r.cache.as_deref().map_or("null".into(), q),
        r.stream,
        opt(r.tokens_in),
        opt(r.tokens_out),
        r.cost_nano.map_or("null".into(), usd),
    );
    if let Some(end) = end {
        out.push_str(",\"stream_end\":");
        out.push_str(&q(end));
    }
    out.push('}');
    out
}

/// Streams' lines waiting for their end, and ends that came first.
#[derive(Debug, Default)]
pub struct Pending {
    lines: Vec<(String, Record)>,
    ends: Vec<(String, String)>,
}

impl Pending {
    /// A stream's record at response time: its line if the stream already
    /// ended, else held (and the lines pushed out by the bound, written
    /// without their end).
    pub fn answered(&mut self, r: Record) -> Vec<String> {
        if let Some(i) = self.ends.iter().position(|(id, _)| *id == r.request_id) {
            let (_, end) = self.ends.swap_remove(i);
            return vec![line(&r, Some(&end))];
        }
        self.lines.push((r.request_id.clone(), r));
        let over = self.lines.len().saturating_sub(MAX_PENDING);
        self.lines.drain(..over).map(|(_, r)| line(&r, None)).collect()
    }

    /// A stream ended (`ok`, or an error kind): its line, if it was held.
    pub fn ended(&mut self, request_id: &str, end: &str) -> Option<String> {
        match self.lines.iter().position(|(id, _)| id == request_id) {
            Some(i) => Some(line(&self.lines.remove(i).1, Some(end))),
            None => {
                self.ends.push((request_id.into(), end.into()));
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

    #[test]
    fn a_stream_line_waits_for_its_end_either_way_round() {
        let mut p = Pending::default();
        assert!(p.answered(record("a")).is_empty());
        let done = p.ended("a", "upstream_incomplete").unwrap();
        assert!(done.contains("\"stream_end\":\"upstream_incomplete\""));
        assert_eq!(p.ended("b", "ok"), None);
        let lines = p.answered(record("b"));
        assert_eq!(lines.len(), 1);
        assert!(lines[0].contains("\"request_id\":\"b\""));
        assert!(p.lines.is_empty() && p.ends.is_empty());
    }

    #[test]
    fn held_lines_are_bounded() {
        let mut p = Pending::default();
        let mut written = 0;
        for i in 0..(MAX_PENDING + 10) {
            written += p.answered(record(&format!("r{i}"))).len();
        }
        assert_eq!(written, 10);
        for i in 0..(MAX_PENDING + 10) {
            p.ended(&format!("x{i}"), "ok");
        }
        assert_eq!(p.ends.len(), MAX_PENDING);
    }
}
