//! What one target object does, as plain data in and out: the Durable
//! Object (`crate::objects::breaker`) loads a [`Target`], hands it each
//! [`Message`] with the time, and stores it back.
//!
//! A target is a provider and model (`breaker:PROVIDER:MODEL`). Its object
//! holds the circuit breaker ([`super::state`]) and the in-flight and
//! latency counters ([`super::stats`]) the balancing split modes read.

use super::state::{Admission, Phase, State, Verdict};
use super::stats::Load;
use crate::json_out::{boolean, float, key, number, quote, uint, ToJson};
use crate::plan::{Breaker, Trip};
use serde::Deserialize;
use crate::wire::{self, fields, Read};
use serde_json::Value;

/// What the stored state looks like; bumped if it ever changes shape.
pub const STATE_VERSION: u32 = 1;
/// The most tallied outcomes one message applies one by one (the rest only
/// count in the latency average): a bound on the work of one message.
const MAX_TALLY: u32 = 10_000;

/// What a message asks for, besides the reports it carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// May one call go now?
    Admit,
    /// Only the reports.
    Report,
    /// The state, for the status endpoint and the balancing modes.
    Peek,
}

/// Outcomes of calls that were not probes, since the isolate's last message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
pub struct Tally {
    pub successes: u32,
    pub failures: u32,
    /// Successful calls' durations, for the latency average.
    pub latency_sum_ms: u64,
    pub latency_n: u32,
}

impl Tally {
    pub fn is_empty(&self) -> bool {
        self.successes == 0 && self.failures == 0 && self.latency_n == 0
    }

    pub fn add(&mut self, verdict: Verdict, latency_ms: Option<u64>) {
        match verdict {
            Verdict::Success => self.successes += 1,
            Verdict::Failure => self.failures += 1,
            Verdict::Neutral => {}
        }
        if let Some(ms) = latency_ms {
            self.latency_sum_ms += ms;
            self.latency_n += 1;
        }
    }
}

/// A message from an isolate to a target object.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
pub struct Message {
    pub op: Op,
    /// The target's breaker as the plan declares it; `None`: counters only.
    pub breaker: Option<Breaker>,
    /// The sending isolate (random, per isolate) and its tries in flight
    /// on this target after this message.
    pub isolate: u64,
    pub in_flight: u32,
    #[serde(default)]
    pub tally: Tally,
    /// The outcome of a probe this isolate was admitted for.
    #[serde(default)]
    pub probe: Option<Verdict>,
}

/// The object's answer: its state after the message.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
pub struct Snapshot {
    /// `closed`, `open` or `half_open` (`closed` without a breaker).
    pub phase: String,
    /// When an open breaker turns half-open (the object's clock).
    pub open_until_ms: Option<u64>,
    /// The answer to an `admit`.
    pub admission: Option<Admission>,
    pub in_flight: u32,
    pub latency_ms: Option<f64>,
    pub samples: u64,
    pub trips: u64,
    pub failures_in_a_row: usize,
    /// Calls and failures in the failure-rate window.
    pub window_calls: u64,
    pub window_failures: u64,
    /// The object's clock when it answered.
    pub now_ms: u64,
}

/// The state of one target object.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
pub struct Target {
    #[serde(default)]
    pub version: u32,
    pub breaker: State,
    pub load: Load,
}

impl Target {
    pub fn new() -> Target {
        Target { version: STATE_VERSION, ..Target::default() }
    }

    /// Handles one message at `now_ms`: the reports first (earlier calls'
    /// successes, then their failures, then a probe's outcome), then the
    /// question.
    pub fn handle(&mut self, m: &Message, now_ms: u64) -> Snapshot {
        if let Some(cfg) = &m.breaker {
            for _ in 0..m.tally.successes.min(MAX_TALLY) {
                self.breaker.record(cfg, Verdict::Success, false, now_ms);
            }
            for _ in 0..m.tally.failures.min(MAX_TALLY) {
                self.breaker.record(cfg, Verdict::Failure, false, now_ms);
            }
            if let Some(v) = m.probe {
                self.breaker.record(cfg, v, true, now_ms);
            }
        }
        self.load.add_latency(m.tally.latency_n, m.tally.latency_sum_ms);
        if m.op != Op::Peek || m.isolate != 0 {
            self.load.report_in_flight(m.isolate, m.in_flight, now_ms);
        }
        let admission = match (&m.op, &m.breaker) {
            (Op::Admit, Some(cfg)) => Some(self.breaker.admit(cfg, now_ms)),
            (Op::Admit, None) => Some(Admission::Admit),
            (_, Some(cfg)) => {
                self.breaker.advance(cfg, now_ms);
                None
            }
            _ => None,
        };
        self.snapshot(m.breaker.is_some(), admission, now_ms)
    }

    fn snapshot(&self, has_breaker: bool, admission: Option<Admission>, now_ms: u64) -> Snapshot {
        let (phase, open_until_ms) = match (&self.breaker.phase, has_breaker) {
            (_, false) | (Phase::Closed, _) => ("closed", None),
            (Phase::Open { until_ms }, _) => ("open", Some(*until_ms)),
            (Phase::HalfOpen { .. }, _) => ("half_open", None),
        };
        let (window_calls, window_failures) = self.breaker.window_counts();
        Snapshot {
            phase: phase.into(),
            open_until_ms,
            admission,
            in_flight: self.load.in_flight(now_ms),
            latency_ms: self.load.latency_ms,
            samples: self.load.samples,
            trips: self.breaker.trips,
            failures_in_a_row: self.breaker.failures_in_a_row(),
            window_calls,
            window_failures,
            now_ms,
        }
    }
}

/// The object name of a target: `PROVIDER:MODEL` (the model as sent;
/// a breaker `per key` adds `|key:SECRET_NAME`).
pub fn target_key(provider: &str, model: &str) -> String {
    format!("{provider}:{model}")
}

/// The hand-written writers of the messages, answers and state (the
/// derived `Serialize`'s text, which the tests compare).
impl ToJson for Message {
    fn write_json(&self, out: &mut String) {
        out.push_str("{\"op\":");
        quote(out, match self.op {
            Op::Admit => "admit",
            Op::Report => "report",
            Op::Peek => "peek",
        });
        key(out, "breaker", false);
        match &self.breaker {
            Some(b) => write_breaker(out, b),
            None => out.push_str("null"),
        }
        key(out, "isolate", false);
        uint(out, self.isolate);
        key(out, "in_flight", false);
        uint(out, self.in_flight.into());
        key(out, "tally", false);
        let t = &self.tally;
        out.push('{');
        key(out, "successes", true);
        uint(out, t.successes.into());
        key(out, "failures", false);
        uint(out, t.failures.into());
        key(out, "latency_sum_ms", false);
        uint(out, t.latency_sum_ms);
        key(out, "latency_n", false);
        uint(out, t.latency_n.into());
        out.push('}');
        key(out, "probe", false);
        match self.probe {
            Some(v) => quote(out, v.name()),
            None => out.push_str("null"),
        }
        out.push('}');
    }
}

/// A plan's breaker, as its derived `Serialize` writes it.
fn write_breaker(out: &mut String, b: &Breaker) {
    out.push_str("{\"trip\":");
    match b.trip {
        Trip::Failures { count, window_ms } => {
            out.push_str("{\"failures\":{");
            key(out, "count", true);
            uint(out, count.into());
            key(out, "window_ms", false);
            uint(out, window_ms);
        }
        Trip::FailureRate { percent, window_ms, min_requests } => {
            out.push_str("{\"failure_rate\":{");
            key(out, "percent", true);
            float(out, Some(percent));
            key(out, "window_ms", false);
            uint(out, window_ms);
            key(out, "min_requests", false);
            uint(out, min_requests.into());
        }
    }
    out.push_str("}}");
    key(out, "cooldown_ms", false);
    uint(out, b.cooldown_ms);
    key(out, "probes", false);
    uint(out, b.probes.into());
    if b.per_key {
        key(out, "per_key", false);
        boolean(out, true);
    }
    out.push('}');
}

impl ToJson for Snapshot {
    fn write_json(&self, out: &mut String) {
        out.push('{');
        key(out, "phase", true);
        quote(out, &self.phase);
        key(out, "open_until_ms", false);
        number(out, self.open_until_ms);
        key(out, "admission", false);
        match &self.admission {
            Some(a) => a.write(out),
            None => out.push_str("null"),
        }
        key(out, "in_flight", false);
        uint(out, self.in_flight.into());
        key(out, "latency_ms", false);
        float(out, self.latency_ms);
        for (name, n) in [
            ("samples", self.samples),
            ("trips", self.trips),
            ("failures_in_a_row", self.failures_in_a_row as u64),
            ("window_calls", self.window_calls),
            ("window_failures", self.window_failures),
            ("now_ms", self.now_ms),
        ] {
            key(out, name, false);
            uint(out, n);
        }
        out.push('}');
    }
}

impl ToJson for Target {
    fn write_json(&self, out: &mut String) {
        out.push('{');
        key(out, "version", true);
        uint(out, self.version.into());
        key(out, "breaker", false);
        self.breaker.write(out);
        key(out, "load", false);
        self.load.write(out);
        out.push('}');
    }
}

/// The hand-written readers of the messages, answers and state (what the
/// derived `Deserialize` accepts; see [`crate::wire`]).
impl Message {
    pub fn read(v: &Value) -> Read<Message> {
        let f = fields(v, "Message", &["op", "breaker", "isolate", "in_flight", "tally", "probe"])?;
        Ok(Message {
            op: [Op::Admit, Op::Report, Op::Peek][f.get(0, |v, w| wire::name_of(v, w, &["admit", "report", "peek"]))?],
            breaker: f.get_opt(1, crate::plan::read::breaker)?,
            isolate: f.get(2, wire::u64)?,
            in_flight: f.get(3, wire::u32)?,
            tally: f.get_or_default(4, tally)?,
            probe: f.get_or_default(5, |v, w| if v.is_null() { Ok(None) } else { Verdict::read(v, w).map(Some) })?,
        })
    }
}

fn tally(v: &Value, _: &str) -> Read<Tally> {
    let f = fields(v, "Tally", &["successes", "failures", "latency_sum_ms", "latency_n"])?;
    Ok(Tally {
        successes: f.get(0, wire::u32)?,
        failures: f.get(1, wire::u32)?,
        latency_sum_ms: f.get(2, wire::u64)?,
        latency_n: f.get(3, wire::u32)?,
    })
}

impl Snapshot {
    pub fn read(v: &Value) -> Read<Snapshot> {
        const F: &[&str] = &[
            "phase",
            "open_until_ms",
            "admission",
            "in_flight",
            "latency_ms",
            "samples",
            "trips",
            "failures_in_a_row",
            "window_calls",
            "window_failures",
            "now_ms",
        ];
        let f = fields(v, "Snapshot", F)?;
        Ok(Snapshot {
            phase: f.get(0, wire::string)?,
            open_until_ms: f.get_opt(1, wire::u64)?,
            admission: f.get_opt(2, Admission::read)?,
            in_flight: f.get(3, wire::u32)?,
            latency_ms: f.get_opt(4, wire::f64)?,
            samples: f.get(5, wire::u64)?,
            trips: f.get(6, wire::u64)?,
            failures_in_a_row: f.get(7, wire::usize)?,
            window_calls: f.get(8, wire::u64)?,
            window_failures: f.get(9, wire::u64)?,
            now_ms: f.get(10, wire::u64)?,
        })
    }
}

impl Target {
    /// Reads a stored target.
    pub fn read(v: &Value) -> Read<Target> {
        let f = fields(v, "Target", &["version", "breaker", "load"])?;
        Ok(Target { version: f.get_or_default(0, wire::u32)?, breaker: f.get(1, State::read)?, load: f.get(2, Load::read)? })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Trip;

    fn cfg() -> Breaker {
        Breaker { trip: Trip::Failures { count: 2, window_ms: 10_000 }, cooldown_ms: 1_000, probes: 1, per_key: false }
    }

    fn msg(op: Op, tally: Tally, probe: Option<Verdict>) -> Message {
        Message { op, breaker: Some(cfg()), isolate: 7, in_flight: 1, tally, probe }
    }

    #[test]
    fn reports_then_the_question() {
        let mut t = Target::new();
        let tally = Tally { failures: 2, ..Tally::default() };
        let s = t.handle(&msg(Op::Admit, tally, None), 100);
        assert_eq!(s.phase, "open");
        assert_eq!(s.admission, Some(Admission::Open { retry_in_ms: 1_000 }));
        assert_eq!(s.open_until_ms, Some(1_100));
        let s = t.handle(&msg(Op::Admit, Tally::default(), None), 1_100);
        assert_eq!(s.admission, Some(Admission::Probe));
        assert_eq!(s.phase, "half_open");
        let s = t.handle(&msg(Op::Report, Tally::default(), Some(Verdict::Success)), 1_200);
        assert_eq!(s.phase, "closed");
        assert_eq!(s.trips, 1);
    }

    #[test]
    fn successes_counted_before_a_failure_break_the_run() {
        let mut t = Target::new();
        t.handle(&msg(Op::Report, Tally { failures: 1, ..Tally::default() }, None), 0);
        let s = t.handle(&msg(Op::Report, Tally { successes: 3, failures: 1, ..Tally::default() }, None), 1);
        assert_eq!(s.phase, "closed");
        assert_eq!(s.failures_in_a_row, 1);
    }

    #[test]
    fn counters_without_a_breaker() {
        let mut t = Target::new();
        let m = Message {
            op: Op::Report,
            breaker: None,
            isolate: 1,
            in_flight: 4,
            tally: Tally { successes: 2, latency_sum_ms: 300, latency_n: 2, ..Tally::default() },
            probe: None,
        };
        let s = t.handle(&m, 0);
        assert_eq!((s.phase.as_str(), s.in_flight, s.latency_ms), ("closed", 4, Some(150.0)));
        let peek = Message { op: Op::Peek, isolate: 0, in_flight: 0, ..m };
        let s = t.handle(&Message { tally: Tally::default(), ..peek }, 10);
        assert_eq!(s.in_flight, 4, "a peek from the status endpoint reports nothing");
    }

    #[test]
    fn hand_written_readers_accept_what_the_derived_ones_do() {
        use crate::wire::check::equivalent;
        let rate = Breaker {
            trip: Trip::FailureRate { percent: 50.0, window_ms: 10_000, min_requests: 2 },
            cooldown_ms: 1_000,
            probes: 2,
            per_key: true,
        };
        let mut tried = 0;
        let check_state = |t: &Target, tried: &mut usize| {
            assert_eq!(t.to_json(), serde_json::to_string(t).unwrap());
            let doc = serde_json::to_value(t).unwrap();
            assert_eq!(&Target::read(&doc).unwrap(), t);
            *tried += equivalent(&doc, "target", Target::read);
        };
        let mut t = Target::new();
        let mut messages = vec![];
        let tally = Tally { successes: 1, failures: 2, latency_sum_ms: 30, latency_n: 1 };
        messages.push(msg(Op::Admit, tally, None));
        messages.push(msg(Op::Admit, Tally::default(), None));
        messages.push(msg(Op::Report, Tally::default(), Some(Verdict::Neutral)));
        messages.push(Message { breaker: Some(rate), ..msg(Op::Report, tally, Some(Verdict::Failure)) });
        messages.push(Message { op: Op::Peek, breaker: None, isolate: 0, in_flight: 0, tally: Tally::default(), probe: None });
        let mut now = 100;
        for m in &messages {
            assert_eq!(m.to_json(), serde_json::to_string(m).unwrap());
            let doc = serde_json::to_value(m).unwrap();
            assert_eq!(&Message::read(&doc).unwrap(), m);
            tried += equivalent(&doc, "message", Message::read);
            let snapshot = t.handle(m, now);
            assert_eq!(snapshot.to_json(), serde_json::to_string(&snapshot).unwrap());
            let doc = serde_json::to_value(&snapshot).unwrap();
            assert_eq!(Snapshot::read(&doc).unwrap(), snapshot);
            tried += equivalent(&doc, "snapshot", Snapshot::read);
            check_state(&t, &mut tried);
            now += 1_000;
        }
        assert!(tried > 1_000, "{tried}");
    }
}
