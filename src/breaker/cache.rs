//! What an isolate remembers of its targets' objects, so that a closed
//! breaker does not cost a Durable Object round trip on every request.
//!
//! With a cache time (`BREAKER_CACHE_MS`) of 0 every try asks the object
//! and every outcome is reported at once: exact, one round trip per try.
//! With a cache time T, an answer from the object is trusted for T: while
//! it said *closed* the isolate admits on its own, while it said *open*
//! it refuses on its own until the cool-down ends; a *half-open* breaker is
//! always asked (probes are counted by the object, exactly). Successes are
//! tallied and sent at most every T; a failure or a probe's outcome is sent
//! at once and the next try asks the object again, so the isolate that
//! sees a breaker trip stops at once. The price: another isolate
//! keeps sending to a target that just tripped for up to T (a few calls
//! more than the threshold across isolates), and the in-flight and latency
//! figures the balancing modes read are up to T old.
//!
//! Plain state; the edge does the sending.

use super::object::{Message, Op, Snapshot, Tally};
use super::state::{Admission, Verdict};
use crate::plan::Breaker;
use crate::keyed::Keyed;

/// The most targets remembered (then the cache starts over).
pub const MAX_TARGETS: usize = 4_096;

#[derive(Debug, Clone, Default)]
struct Entry {
    /// The object's last answer, and when it came (isolate clock).
    seen: Option<(Snapshot, u64)>,
    /// This isolate's tries out on the target now, and when the last answer came.
    in_flight: u32,
    in_flight_at_seen: u32,
    pending: Tally,
    pending_since_ms: u64,
    /// Sent to the directory of targets ([`super::directory`]).
    registered: bool,
}

/// Before a try.
#[derive(Debug, Clone, PartialEq)]
pub enum Before {
    /// Decided here.
    Go(Admission),
    /// Send this to the object and pass its answer to [`Isolate::answered`].
    Ask(Message),
}

/// One isolate's view of every target it has used.
#[derive(Debug)]
pub struct Isolate {
    /// Random per isolate: tells its in-flight reports from others'.
    pub id: u64,
    entries: Keyed<Entry>,
}

impl Isolate {
    pub fn new(id: u64) -> Isolate {
        Isolate { id: id.max(1), entries: Keyed::default() }
    }

    fn entry(&mut self, key: &str) -> &mut Entry {
        if !self.entries.contains_key(key) {
            if self.entries.len() >= MAX_TARGETS {
                self.entries.clear();
            }
            self.entries.insert(key.to_string(), Entry::default());
        }
        self.entries.get_mut(key).expect("inserted above")
    }

    /// May a try on `key` go? `ttl_ms` is the cache time.
    pub fn before(&mut self, key: &str, breaker: Option<&Breaker>, ttl_ms: u64, now_ms: u64) -> Before {
        let id = self.id;
        let e = self.entry(key);
        let Some(cfg) = breaker else {
            return Before::Go(Admission::Admit);
        };
        if let Some((snap, at)) = &e.seen {
            if ttl_ms > 0 && now_ms.saturating_sub(*at) < ttl_ms {
                match (snap.phase.as_str(), snap.open_until_ms) {
                    ("closed", _) => return Before::Go(Admission::Admit),
                    // `until` is converted to this isolate's clock in `answered`.
                    ("open", Some(until)) if now_ms < until => {
                        return Before::Go(Admission::Open { retry_in_ms: until - now_ms });
                    }
                    _ => {}
                }
            }
        }
        let tally = std::mem::take(&mut e.pending);
        Before::Ask(Message { op: Op::Admit, breaker: Some(*cfg), isolate: id, in_flight: e.in_flight, tally, probe: None })
    }

    /// The object answered (an admit, a report or a peek) at `now_ms`;
    /// returns its admission (admitted, when it did not say).
    pub fn answered(&mut self, key: &str, mut snap: Snapshot, now_ms: u64) -> Admission {
        // The object's clock may differ from ours: keep the time left.
        snap.open_until_ms = snap.open_until_ms.map(|until| now_ms + until.saturating_sub(snap.now_ms));
        let admission = snap.admission.unwrap_or(Admission::Admit);
        let e = self.entry(key);
        e.in_flight_at_seen = e.in_flight;
        e.seen = Some((snap, now_ms));
        admission
    }

    /// The object could not be asked: the tally goes back for next time
    /// (the caller fails open).
    pub fn unanswered(&mut self, key: &str, message: &Message) {
        let e = self.entry(key);
        e.pending.successes += message.tally.successes;
        e.pending.failures += message.tally.failures;
        e.pending.latency_sum_ms += message.tally.latency_sum_ms;
        e.pending.latency_n += message.tally.latency_n;
    }

    /// A try on `key` is being sent.
    pub fn started(&mut self, key: &str) {
        self.entry(key).in_flight += 1;
    }

    /// The message that tells the object about a try just started (sent
    /// for the targets of a balanced split when nothing is cached, so that
    /// the in-flight count it keeps is exact).
    pub fn start_message(&mut self, key: &str, breaker: Option<&Breaker>) -> Message {
        let id = self.id;
        let e = self.entry(key);
        Message { op: Op::Report, breaker: breaker.copied(), isolate: id, in_flight: e.in_flight, tally: Tally::default(), probe: None }
    }

    /// A try on `key` is over; `Some(message)` is to be sent now (else the
    /// outcome waits in the tally). `latency_ms` is given for a success.
    #[allow(clippy::too_many_arguments)] // one outcome, described
    pub fn finished(
        &mut self,
        key: &str,
        breaker: Option<&Breaker>,
        verdict: Verdict,
        probe: bool,
        latency_ms: Option<u64>,
        ttl_ms: u64,
        now_ms: u64,
    ) -> Option<Message> {
        let id = self.id;
        let e = self.entry(key);
        e.in_flight = e.in_flight.saturating_sub(1);
        if e.pending.is_empty() {
            e.pending_since_ms = now_ms;
        }
        if probe {
            // The probe's own latency still counts.
            if let Some(ms) = latency_ms {
                e.pending.latency_sum_ms += ms;
                e.pending.latency_n += 1;
            }
        } else {
            e.pending.add(verdict, latency_ms);
        }
        let failed = verdict == Verdict::Failure && breaker.is_some();
        if failed {
            // The failure may trip the breaker: until the object's answer
            // to this report is in, the next try asks the object.
            e.seen = None;
        }
        let due = ttl_ms == 0 || probe || failed || now_ms.saturating_sub(e.pending_since_ms) >= ttl_ms;
        if !due {
            return None;
        }
        let tally = std::mem::take(&mut e.pending);
        Some(Message {
            op: Op::Report,
            breaker: breaker.copied(),
            isolate: id,
            in_flight: e.in_flight,
            tally,
            probe: probe.then_some(verdict),
        })
    }

    /// What the balancing modes know of `key` without asking: in flight
    /// (the object's total, corrected by this isolate's own change since)
    /// and latency. `None` when nothing fresh is known.
    pub fn load(&self, key: &str, ttl_ms: u64, now_ms: u64) -> Option<(u32, Option<f64>)> {
        let e = self.entries.get(key)?;
        let (snap, at) = e.seen.as_ref()?;
        if ttl_ms == 0 || now_ms.saturating_sub(*at) >= ttl_ms {
            return None;
        }
        let total = (snap.in_flight + e.in_flight).saturating_sub(e.in_flight_at_seen);
        Some((total, snap.latency_ms))
    }

    /// Whether `key` is to be registered in the directory of targets now:
    /// true the first time it is asked (until [`Isolate::unregistered`]).
    pub fn register(&mut self, key: &str) -> bool {
        let e = self.entry(key);
        !std::mem::replace(&mut e.registered, true)
    }

    /// The registration of `key` failed: the next use tries again.
    pub fn unregistered(&mut self, key: &str) {
        self.entry(key).registered = false;
    }

    /// Every target key this isolate has used.
    pub fn keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = crate::seq::keep(self.entries.keys(), |k| Some(k.clone()));
        keys.sort();
        keys
    }

    /// A peek at `key` (balancing without a fresh answer), carrying the tally.
    pub fn peek(&mut self, key: &str, breaker: Option<&Breaker>) -> Message {
        let id = self.id;
        let e = self.entry(key);
        let tally = std::mem::take(&mut e.pending);
        Message { op: Op::Peek, breaker: breaker.copied(), isolate: id, in_flight: e.in_flight, tally, probe: None }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::breaker::object::Target;
    use crate::plan::Trip;

    #[test]
    fn a_target_is_registered_once_unless_that_failed() {
        let mut i = Isolate::new(1);
        assert!(i.register("p:m"));
        assert!(!i.register("p:m"));
        i.unregistered("p:m");
        assert!(i.register("p:m"));
        assert!(i.register("p:other"));
    }

    fn cfg() -> Breaker {
        Breaker { trip: Trip::Failures { count: 2, window_ms: 60_000 }, cooldown_ms: 5_000, probes: 1, per_key: false }
    }

    /// An isolate and an object, the messages between them delivered at once.
    struct World {
        isolate: Isolate,
        object: Target,
        asked: usize,
    }

    impl World {
        fn new() -> World {
            World { isolate: Isolate::new(9), object: Target::new(), asked: 0 }
        }
        fn admit(&mut self, ttl: u64, now: u64) -> Admission {
            match self.isolate.before("p:m", Some(&cfg()), ttl, now) {
                Before::Go(a) => a,
                Before::Ask(m) => {
                    self.asked += 1;
                    let snap = self.object.handle(&m, now);
                    self.isolate.answered("p:m", snap, now)
                }
            }
        }
        fn call(&mut self, ttl: u64, now: u64, verdict: Verdict) -> Admission {
            let a = self.admit(ttl, now);
            if matches!(a, Admission::Open { .. }) {
                return a;
            }
            self.isolate.started("p:m");
            let latency = (verdict == Verdict::Success).then_some(10);
            if let Some(m) = self.isolate.finished("p:m", Some(&cfg()), verdict, a == Admission::Probe, latency, ttl, now) {
                self.asked += 1;
                let snap = self.object.handle(&m, now);
                self.isolate.answered("p:m", snap, now);
            }
            a
        }
    }

    #[test]
    fn without_a_cache_every_try_asks_and_every_outcome_is_sent() {
        let mut w = World::new();
        for t in 0..3 {
            w.call(0, t, Verdict::Success);
        }
        assert_eq!(w.asked, 6);
        assert_eq!(w.object.load.samples, 3);
    }

    #[test]
    fn with_a_cache_a_closed_breaker_is_asked_once_per_period() {
        let mut w = World::new();
        for t in 0..100 {
            w.call(1_000, t, Verdict::Success);
        }
        assert_eq!(w.asked, 1, "one admit; the successes wait in the tally");
        w.call(1_000, 1_000, Verdict::Success);
        assert_eq!(w.asked, 2, "the cache expired: the admit carries the tally");
        assert_eq!(w.object.load.samples, 100);
    }

    #[test]
    fn with_a_cache_the_tripping_failure_stops_the_isolate_at_once() {
        let mut w = World::new();
        assert_eq!(w.call(1_000, 0, Verdict::Failure), Admission::Admit);
        assert_eq!(w.call(1_000, 1, Verdict::Failure), Admission::Admit);
        // The second failure's report came back "open": refused here, unasked.
        let asked = w.asked;
        assert_eq!(w.admit(1_000, 2), Admission::Open { retry_in_ms: 4_999 });
        assert_eq!(w.asked, asked);
        // After the cool-down the object is asked and admits one probe.
        assert_eq!(w.admit(1_000, 5_001), Admission::Probe);
        assert!(matches!(w.admit(1_000, 5_002), Admission::Open { .. }), "half-open is always asked");
        assert_eq!(w.asked, asked + 2);
    }

    #[test]
    fn the_load_estimate_counts_this_isolates_own_tries_since() {
        let mut w = World::new();
        w.call(0, 0, Verdict::Success);
        w.isolate.started("p:m");
        w.isolate.started("p:m");
        assert_eq!(w.isolate.load("p:m", 1_000, 10), Some((2, Some(10.0))));
        assert_eq!(w.isolate.load("p:m", 0, 10), None, "no cache: ask");
    }

    #[test]
    fn an_unanswered_message_keeps_its_tally() {
        let mut i = Isolate::new(1);
        i.started("k");
        assert!(i.finished("k", None, Verdict::Success, false, Some(5), 1_000, 0).is_none());
        let m = i.peek("k", None);
        assert_eq!(m.tally.successes, 1);
        i.unanswered("k", &m);
        assert_eq!(i.peek("k", None).tally.successes, 1);
    }
}
