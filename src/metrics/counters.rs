//! The counters: per series (route, target, gateway key name, outcome,
//! error class) a request count, a latency histogram, tokens and cost; a
//! timeline of 10-second slots; a ring of recent errors with their attempt
//! trails. The same type is an isolate's batch and the `Metrics` object's
//! totals: a batch [`Counters::merge`]s into the totals, and both travel
//! and are stored as [`Counters::encode`]'s text (one line per item,
//! tab-separated; labels never hold tabs or newlines, see
//! [`super::record::label`]).

use super::histogram::Histogram;
use super::record::{label, Outcome, Record};

/// The text format's version (first line); a newer one is not read.
pub const VERSION: u32 = 1;
/// The most series kept; further label sets count under `(other)`.
pub const MAX_SERIES: usize = 500;
/// Width of a timeline slot.
pub const SLOT_MS: u64 = 10_000;
/// Slots kept (10 minutes).
pub const SLOTS: u64 = 60;
/// Recent errors kept.
pub const MAX_ERRORS: usize = 50;
/// A trail longer than this (bytes of JSON) is kept as `[]`.
const MAX_TRAIL: usize = 4_096;
/// The label of series beyond [`MAX_SERIES`].
pub const OTHER: &str = "(other)";

/// What a series counts by.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Labels {
    pub route: String,
    pub target: String,
    pub key: String,
    pub outcome: String,
    pub error: String,
}

/// One label set's counts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Series {
    pub labels: Labels,
    pub count: u64,
    pub latency: Histogram,
    pub tokens_in: u64,
    pub tokens_out: u64,
    pub cost_nano: u64,
    /// Requests whose cost was known.
    pub costed: u64,
}

impl Series {
    fn merge(&mut self, o: &Series) {
        self.count += o.count;
        self.latency.merge(&o.latency);
        self.tokens_in += o.tokens_in;
        self.tokens_out += o.tokens_out;
        self.cost_nano += o.cost_nano;
        self.costed += o.costed;
    }
}

/// The tries one target got (from the requests' trails): its health,
/// whichever target answered in the end.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Tries {
    pub target: String,
    /// Calls made.
    pub tries: u64,
    /// Calls that did not end well.
    pub failed: u64,
    /// Times it was skipped without a call (breaker open, quota).
    pub skipped: u64,
}

/// Requests in one timeline slot (`slot` = time / [`SLOT_MS`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Slot {
    pub slot: u64,
    pub requests: u64,
    pub errors: u64,
    pub cache_hits: u64,
}

/// One recent error.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ErrorEntry {
    pub at_ms: u64,
    pub request_id: String,
    pub route: String,
    pub key: String,
    pub status: u16,
    pub error: String,
    /// The attempt trail as JSON (an array).
    pub trail: String,
}

/// Counters since `since_ms`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Counters {
    pub since_ms: u64,
    pub requests: u64,
    pub series: Vec<Series>,
    pub tries: Vec<Tries>,
    /// Oldest first.
    pub slots: Vec<Slot>,
    /// Oldest first.
    pub errors: Vec<ErrorEntry>,
}

impl Counters {
    pub fn is_empty(&self) -> bool {
        self.requests == 0 && self.errors.is_empty()
    }

    /// Counts one request.
    pub fn add(&mut self, r: &Record) {
        let outcome = r.outcome();
        let labels = Labels {
            route: label(&r.route),
            target: label(&r.target),
            key: label(&r.key),
            outcome: outcome.as_str().into(),
            error: label(&r.error),
        };
        let mut one = Series { labels, count: 1, ..Series::default() };
        one.latency.add(r.latency_ms);
        one.tokens_in = r.tokens_in.unwrap_or(0);
        one.tokens_out = r.tokens_out.unwrap_or(0);
        one.cost_nano = r.cost_nano.unwrap_or(0);
        one.costed = u64::from(r.cost_nano.is_some());
        self.add_series(one);
        for t in &r.tries {
            self.add_tries(Tries {
                target: label(&t.target),
                tries: u64::from(t.sent),
                failed: u64::from(t.sent && !t.ok),
                skipped: u64::from(!t.sent),
            });
        }
        if self.since_ms == 0 || r.at_ms < self.since_ms {
            self.since_ms = r.at_ms;
        }
        self.requests += 1;
        self.add_slot(Slot {
            slot: r.at_ms / SLOT_MS,
            requests: 1,
            errors: u64::from(outcome.is_error()),
            cache_hits: u64::from(outcome == Outcome::CacheHit),
        });
        if outcome.is_error() && (!r.route.is_empty() || r.status >= 500) {
            let trail = if r.trail.len() > MAX_TRAIL || !r.trail.starts_with('[') { "[]".into() } else { r.trail.clone() };
            self.push_error(ErrorEntry {
                at_ms: r.at_ms,
                request_id: label(&r.request_id),
                route: label(&r.route),
                key: label(&r.key),
                status: r.status,
                error: label(&r.error),
                trail,
            });
        }
    }

    /// Adds `other` (a batch) to these counters.
    pub fn merge(&mut self, other: Counters) {
        if other.since_ms != 0 && (self.since_ms == 0 || other.since_ms < self.since_ms) {
            self.since_ms = other.since_ms;
        }
        self.requests += other.requests;
        for s in other.series {
            self.add_series(s);
        }
        for t in other.tries {
            self.add_tries(t);
        }
        for s in other.slots {
            self.add_slot(s);
        }
        for e in other.errors {
            self.push_error(e);
        }
    }

    fn add_series(&mut self, mut s: Series) {
        if let Some(mine) = self.series.iter_mut().find(|m| m.labels == s.labels) {
            return mine.merge(&s);
        }
        if self.series.len() >= MAX_SERIES {
            s.labels = Labels { outcome: s.labels.outcome, error: s.labels.error, ..other_labels() };
            if let Some(mine) = self.series.iter_mut().find(|m| m.labels == s.labels) {
                return mine.merge(&s);
            }
        }
        self.series.push(s);
    }

    fn add_tries(&mut self, mut t: Tries) {
        if !self.tries.iter().any(|m| m.target == t.target) && self.tries.len() >= MAX_SERIES {
            t.target = OTHER.into();
        }
        match self.tries.iter_mut().find(|m| m.target == t.target) {
            Some(m) => {
                m.tries += t.tries;
                m.failed += t.failed;
                m.skipped += t.skipped;
            }
            None => self.tries.push(t),
        }
    }

    fn add_slot(&mut self, s: Slot) {
        match self.slots.binary_search_by_key(&s.slot, |m| m.slot) {
            Ok(i) => {
                let m = &mut self.slots[i];
                m.requests += s.requests;
                m.errors += s.errors;
                m.cache_hits += s.cache_hits;
            }
            Err(i) => self.slots.insert(i, s),
        }
        let newest = self.slots.last().map_or(0, |s| s.slot);
        self.slots.retain(|s| s.slot + SLOTS > newest);
    }

    fn push_error(&mut self, e: ErrorEntry) {
        let at = self.errors.iter().rposition(|m| m.at_ms <= e.at_ms).map_or(0, |i| i + 1);
        self.errors.insert(at, e);
        let over = self.errors.len().saturating_sub(MAX_ERRORS);
        self.errors.drain(..over);
    }

    /// The text form (see the module doc).
    pub fn encode(&self) -> String {
        let mut out = format!("v\t{VERSION}\t{}\t{}\n", self.since_ms, self.requests);
        for s in &self.series {
            let l = &s.labels;
            out.push_str(&format!(
                "s\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t",
                l.route, l.target, l.key, l.outcome, l.error, s.count, s.latency.sum_ms, s.tokens_in, s.tokens_out, s.cost_nano, s.costed
            ));
            s.latency.encode(&mut out);
            out.push('\n');
        }
        for t in &self.tries {
            out.push_str(&format!("a\t{}\t{}\t{}\t{}\n", t.target, t.tries, t.failed, t.skipped));
        }
        for s in &self.slots {
            out.push_str(&format!("t\t{}\t{}\t{}\t{}\n", s.slot, s.requests, s.errors, s.cache_hits));
        }
        for e in &self.errors {
            out.push_str(&format!(
                "e\t{}\t{}\t{}\t{}\t{}\t{}\t{}\n",
                e.at_ms, e.request_id, e.route, e.key, e.status, e.error, e.trail
            ));
        }
        out
    }

    /// Reads [`Counters::encode`]'s text; unreadable lines are skipped, a
    /// newer version is not read at all (empty counters).
    pub fn decode(text: &str) -> Counters {
        let mut c = Counters::default();
        for line in text.lines() {
            let f: Vec<&str> = line.split('\t').collect();
            let n = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
            let s = |i: usize| f.get(i).copied().unwrap_or_default().to_string();
            match (f[0], f.len()) {
                ("v", 4) => {
                    if n(1) > u64::from(VERSION) {
                        return Counters::default();
                    }
                    c.since_ms = n(2);
                    c.requests = n(3);
                }
                ("s", 13) => c.add_series(Series {
                    labels: Labels { route: s(1), target: s(2), key: s(3), outcome: s(4), error: s(5) },
                    count: n(6),
                    latency: Histogram::decode(f[12], n(7)),
                    tokens_in: n(8),
                    tokens_out: n(9),
                    cost_nano: n(10),
                    costed: n(11),
                }),
                ("a", 5) => c.add_tries(Tries { target: s(1), tries: n(2), failed: n(3), skipped: n(4) }),
                ("t", 5) => c.add_slot(Slot { slot: n(1), requests: n(2), errors: n(3), cache_hits: n(4) }),
                ("e", 8) => c.push_error(ErrorEntry {
                    at_ms: n(1),
                    request_id: s(2),
                    route: s(3),
                    key: s(4),
                    status: n(5) as u16,
                    error: s(6),
                    trail: if f[7].starts_with('[') { s(7) } else { "[]".into() },
                }),
                _ => {}
            }
        }
        c
    }
}

fn other_labels() -> Labels {
    Labels { route: OTHER.into(), target: OTHER.into(), key: OTHER.into(), ..Labels::default() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::record::Try;

    pub(crate) fn record(at_ms: u64, route: &str, outcome: Outcome, latency_ms: u64) -> Record {
        Record {
            at_ms,
            request_id: format!("req_{at_ms}"),
            route: route.into(),
            target: "mock:gpt".into(),
            key: "team".into(),
            status: if outcome.is_error() { 502 } else { 200 },
            outcome: Some(outcome),
            error: if outcome.is_error() { "upstream_status".into() } else { String::new() },
            latency_ms,
            attempts: 1,
            tokens_in: Some(10),
            tokens_out: Some(5),
            cost_nano: Some(1_500),
            cache: None,
            trail: r#"[{"provider":"mock","model":"gpt","outcome":"500"}]"#.into(),
            tries: vec![
                Try { target: "mock:gpt".into(), ok: false, sent: true },
                Try { target: "b:m".into(), ok: !outcome.is_error(), sent: true },
            ],
            stream: false,
        }
    }

    #[test]
    fn a_batch_merged_counts_like_the_requests_added_directly() {
        let reqs: Vec<Record> = (0..40u64)
            .map(|i| record(1_000_000 + i * 700, if i % 3 == 0 { "a" } else { "b" }, if i % 5 == 0 { Outcome::Error } else { Outcome::Success }, i * 13))
            .collect();
        let mut direct = Counters::default();
        reqs.iter().for_each(|r| direct.add(r));
        let (mut total, mut batch) = (Counters::default(), Counters::default());
        for (i, r) in reqs.iter().enumerate() {
            batch.add(r);
            if i % 7 == 6 {
                total.merge(std::mem::take(&mut batch));
            }
        }
        total.merge(batch);
        assert_eq!(total.requests, 40);
        assert_eq!(total.series.iter().map(|s| s.count).sum::<u64>(), 40);
        let mut a = total.series.clone();
        let mut b = direct.series.clone();
        let key = |s: &Series| format!("{:?}", s.labels);
        a.sort_by_key(key);
        b.sort_by_key(key);
        assert_eq!(a, b);
        assert_eq!(total.slots, direct.slots);
        assert_eq!(total.errors, direct.errors);
        assert_eq!(total.errors.len(), 8);
        assert_eq!(total.tries, direct.tries);
        assert_eq!(total.tries[0], Tries { target: "mock:gpt".into(), tries: 40, failed: 40, skipped: 0 });
        assert_eq!(total.tries[1].failed, 8);
    }

    #[test]
    fn text_round_trips() {
        let mut c = Counters::default();
        for i in 0..30 {
            c.add(&record(5_000_000 + i * 1_000, "r", if i % 4 == 0 { Outcome::BreakerOpen } else { Outcome::CacheHit }, i));
        }
        let text = c.encode();
        assert_eq!(Counters::decode(&text), c);
        assert_eq!(Counters::decode("garbage\n\ts\t1\n"), Counters::default());
        assert!(Counters::decode("v\t99\t1\t1\n").is_empty());
    }

    #[test]
    fn bounds_hold() {
        let mut c = Counters::default();
        for i in 0..(MAX_SERIES as u64 + 50) {
            let mut r = record(1_000 + i, "r", Outcome::Error, 1);
            r.target = format!("p:model-{i}");
            c.add(&r);
        }
        assert!(c.series.len() <= MAX_SERIES + 1);
        assert!(c.series.iter().any(|s| s.labels.target == OTHER));
        assert_eq!(c.series.iter().map(|s| s.count).sum::<u64>(), MAX_SERIES as u64 + 50);
        assert_eq!(c.errors.len(), MAX_ERRORS);
        assert_eq!(c.errors.last().unwrap().at_ms, 1_000 + MAX_SERIES as u64 + 49);
        let mut late = Counters::default();
        late.add(&record(SLOT_MS * 1_000, "r", Outcome::Success, 1));
        late.add(&record(SLOT_MS * (1_000 + SLOTS + 5), "r", Outcome::Success, 1));
        assert_eq!(late.slots.len(), 1);
    }

    #[test]
    fn tabs_in_a_label_cannot_break_the_text() {
        let mut r = record(9_000, "r", Outcome::Error, 1);
        r.target = "p:evil\tmodel\nline".into();
        r.trail = "not json".into();
        let mut c = Counters::default();
        c.add(&r);
        let back = Counters::decode(&c.encode());
        assert_eq!(back, c);
        assert_eq!(back.series[0].labels.target, "p:evil model line");
        assert_eq!(back.errors[0].trail, "[]");
    }
}
