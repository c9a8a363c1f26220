//! The circuit breaker of one target, as a state machine over a clock.
//!
//! - **Closed**: every call is admitted. It opens when the plan's trip
//!   holds: `N failures in D` means N failures in a row, the first of them
//!   no older than D (a success starts the count again); `P% failures in D
//!   min M requests` means that, over the last D, at least M calls were
//!   made and at least P % of them failed (counted in ten slots of D/10, so
//!   the window moves in steps of a tenth).
//! - **Open**: nothing is admitted until the cool-down has passed.
//! - **Half-open** (the first question after the cool-down): up to
//!   `probes` calls are admitted at once, as probes. A probe that succeeds
//!   closes the breaker; one that fails opens it again for another
//!   cool-down. A probe that never reports frees its slot after a
//!   cool-down, so a lost report cannot wedge the breaker.
//!
//! Only a probe's outcome moves a half-open breaker: a late report of a
//! call admitted before the breaker opened counts in the statistics only.

use crate::plan::{Breaker, Trip};
use crate::json_out::{array, key, quote, uint};
use serde::Deserialize;
use crate::wire::{self, fields, Read};
use serde_json::Value;
use std::collections::VecDeque;

/// Slots of the failure-rate window.
const SLOTS: u64 = 10;

/// Where the breaker stands.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Phase {
    Closed,
    Open { until_ms: u64 },
    /// `probes`: when each probe out now was admitted.
    HalfOpen { probes: Vec<u64> },
}

/// What the breaker says to one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(tag = "admission", rename_all = "snake_case")]
pub enum Admission {
    Admit,
    /// Admitted as one of the half-open breaker's probes.
    Probe,
    /// Refused; half-open in `retry_in_ms` (0: when a probe slot frees).
    Open { retry_in_ms: u64 },
}

/// How a call went, as far as the target's health goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The target answered (2xx, or a client error that is not its fault).
    Success,
    /// 5xx, timeout, connection failure, broken answer.
    Failure,
    /// Says nothing about its health (a 429, a call not made): a probe
    /// slot is freed, nothing else changes.
    Neutral,
}

/// One slot of the failure-rate window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
struct Slot {
    start_ms: u64,
    calls: u32,
    failures: u32,
}

/// The breaker's whole state (stored by the object).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
pub struct State {
    pub phase: Phase,
    /// Times of the current run of failures (at most the trip's count).
    run: VecDeque<u64>,
    slots: Vec<Slot>,
    /// How often it has opened (for the status endpoint).
    pub trips: u64,
    /// When the phase last changed.
    pub since_ms: u64,
}

impl Default for State {
    fn default() -> Self {
        State { phase: Phase::Closed, run: VecDeque::new(), slots: Vec::new(), trips: 0, since_ms: 0 }
    }
}

impl State {
    /// Asks whether one call may go now.
    pub fn admit(&mut self, cfg: &Breaker, now_ms: u64) -> Admission {
        self.advance(cfg, now_ms);
        match &mut self.phase {
            Phase::Closed => Admission::Admit,
            Phase::Open { until_ms } => Admission::Open { retry_in_ms: until_ms.saturating_sub(now_ms) },
            Phase::HalfOpen { probes } => {
                if (probes.len() as u32) < cfg.probes.max(1) {
                    probes.push(now_ms);
                    Admission::Probe
                } else {
                    let oldest = probes.iter().min().copied().unwrap_or(now_ms);
                    Admission::Open { retry_in_ms: (oldest + cfg.cooldown_ms).saturating_sub(now_ms) }
                }
            }
        }
    }

    /// The phase as of `now_ms` (open turns half-open once the cool-down
    /// is over; stale probe slots are freed), without admitting anything.
    pub fn advance(&mut self, cfg: &Breaker, now_ms: u64) {
        match &mut self.phase {
            Phase::Open { until_ms } if now_ms >= *until_ms => {
                self.phase = Phase::HalfOpen { probes: Vec::new() };
                self.since_ms = now_ms;
            }
            Phase::HalfOpen { probes } => probes.retain(|&at| now_ms < at.saturating_add(cfg.cooldown_ms)),
            _ => {}
        }
    }

    /// Records a call's outcome; `probe` says it was admitted as a probe.
    pub fn record(&mut self, cfg: &Breaker, verdict: Verdict, probe: bool, now_ms: u64) {
        self.advance(cfg, now_ms);
        if verdict != Verdict::Neutral {
            self.count(cfg, verdict == Verdict::Failure, now_ms);
        }
        if self.phase == Phase::Closed {
            if verdict == Verdict::Failure && self.tripped(cfg, now_ms) {
                self.open(cfg, now_ms);
            }
            return;
        }
        match &mut self.phase {
            Phase::HalfOpen { probes } if probe => match verdict {
                Verdict::Success => self.close(now_ms),
                Verdict::Failure => self.open(cfg, now_ms),
                Verdict::Neutral => {
                    // Frees the newest slot (the oldest would expire first anyway).
                    probes.sort_unstable();
                    probes.pop();
                }
            },
            _ => {}
        }
    }

    fn count(&mut self, cfg: &Breaker, failed: bool, now_ms: u64) {
        match cfg.trip {
            Trip::Failures { count, window_ms } => {
                if failed {
                    self.run.push_back(now_ms);
                    while self.run.len() > count.max(1) as usize {
                        self.run.pop_front();
                    }
                    while self.run.front().is_some_and(|&t| now_ms.saturating_sub(t) > window_ms) {
                        self.run.pop_front();
                    }
                } else {
                    self.run.clear();
                }
            }
            Trip::FailureRate { window_ms, .. } => {
                let width = window_ms.div_ceil(SLOTS).max(1);
                let start = now_ms - now_ms % width;
                self.slots.retain(|s| s.start_ms + window_ms > now_ms);
                match self.slots.iter_mut().find(|s| s.start_ms == start) {
                    Some(slot) => {
                        slot.calls += 1;
                        slot.failures += failed as u32;
                    }
                    None => self.slots.push(Slot { start_ms: start, calls: 1, failures: failed as u32 }),
                }
            }
        }
    }

    fn tripped(&self, cfg: &Breaker, now_ms: u64) -> bool {
        match cfg.trip {
            Trip::Failures { count, .. } => self.run.len() >= count.max(1) as usize,
            Trip::FailureRate { percent, window_ms, min_requests } => {
                let (calls, failures) = self
                    .slots
                    .iter()
                    .filter(|s| s.start_ms + window_ms > now_ms)
                    .fold((0u64, 0u64), |(c, f), s| (c + s.calls as u64, f + s.failures as u64));
                calls >= min_requests.max(1) as u64 && failures as f64 * 100.0 >= percent * calls as f64
            }
        }
    }

    fn open(&mut self, cfg: &Breaker, now_ms: u64) {
        self.phase = Phase::Open { until_ms: now_ms.saturating_add(cfg.cooldown_ms) };
        self.trips += 1;
        self.since_ms = now_ms;
        self.run.clear();
        self.slots.clear();
    }

    fn close(&mut self, now_ms: u64) {
        self.phase = Phase::Closed;
        self.since_ms = now_ms;
        self.run.clear();
        self.slots.clear();
    }

    /// Calls and failures in the failure-rate window (status endpoint).
    pub fn window_counts(&self) -> (u64, u64) {
        self.slots.iter().fold((0, 0), |(c, f), s| (c + s.calls as u64, f + s.failures as u64))
    }

    /// The current run of failures (status endpoint).
    pub fn failures_in_a_row(&self) -> usize {
        self.run.len()
    }
}

/// The hand-written writers (the derived `Serialize`'s text, which the
/// tests compare).
impl State {
    /// Appends the stored breaker.
    pub fn write(&self, out: &mut String) {
        out.push_str("{\"phase\":{\"state\":");
        match &self.phase {
            Phase::Closed => quote(out, "closed"),
            Phase::Open { until_ms } => {
                quote(out, "open");
                key(out, "until_ms", false);
                uint(out, *until_ms);
            }
            Phase::HalfOpen { probes } => {
                quote(out, "half_open");
                key(out, "probes", false);
                array(out, probes, |out, p| uint(out, *p));
            }
        }
        out.push('}');
        key(out, "run", false);
        out.push('[');
        for (i, at) in self.run.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            uint(out, *at);
        }
        out.push(']');
        key(out, "slots", false);
        array(out, &self.slots, |out, s| {
            out.push('{');
            key(out, "start_ms", true);
            uint(out, s.start_ms);
            key(out, "calls", false);
            uint(out, s.calls.into());
            key(out, "failures", false);
            uint(out, s.failures.into());
            out.push('}');
        });
        key(out, "trips", false);
        uint(out, self.trips);
        key(out, "since_ms", false);
        uint(out, self.since_ms);
        out.push('}');
    }
}

impl Admission {
    /// Appends the admission.
    pub fn write(&self, out: &mut String) {
        out.push_str("{\"admission\":");
        match self {
            Admission::Admit => quote(out, "admit"),
            Admission::Probe => quote(out, "probe"),
            Admission::Open { retry_in_ms } => {
                quote(out, "open");
                key(out, "retry_in_ms", false);
                uint(out, *retry_in_ms);
            }
        }
        out.push('}');
    }
}

impl Verdict {
    /// The verdict's name, as the derive writes it.
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Success => "success",
            Verdict::Failure => "failure",
            Verdict::Neutral => "neutral",
        }
    }
}

/// The hand-written readers (what the derived `Deserialize` accepts; see
/// [`crate::wire`]).
impl State {
    /// Reads a stored breaker.
    pub fn read(v: &Value, _: &str) -> Read<State> {
        let f = fields(v, "State", &["phase", "run", "slots", "trips", "since_ms"])?;
        Ok(State {
            phase: f.get(0, phase)?,
            run: f.get(1, |v, w| wire::vec(v, w, wire::u64))?.into(),
            slots: f.get(2, |v, w| wire::vec(v, w, slot))?,
            trips: f.get(3, wire::u64)?,
            since_ms: f.get(4, wire::u64)?,
        })
    }
}

fn phase(v: &Value, what: &str) -> Read<Phase> {
    match wire::tagged(v, "state", what, &["closed", "open", "half_open"])? {
        (0, _) => Ok(Phase::Closed),
        (1, body) => Ok(Phase::Open { until_ms: fields(&body, "Open", &["until_ms"])?.get(0, wire::u64)? }),
        (_, body) => Ok(Phase::HalfOpen {
            probes: fields(&body, "HalfOpen", &["probes"])?.get(0, |v, w| wire::vec(v, w, wire::u64))?,
        }),
    }
}

fn slot(v: &Value, _: &str) -> Read<Slot> {
    let f = fields(v, "Slot", &["start_ms", "calls", "failures"])?;
    Ok(Slot { start_ms: f.get(0, wire::u64)?, calls: f.get(1, wire::u32)?, failures: f.get(2, wire::u32)? })
}

impl Admission {
    pub fn read(v: &Value, what: &str) -> Read<Admission> {
        match wire::tagged(v, "admission", what, &["admit", "probe", "open"])? {
            (0, _) => Ok(Admission::Admit),
            (1, _) => Ok(Admission::Probe),
            (_, body) => Ok(Admission::Open { retry_in_ms: fields(&body, "Open", &["retry_in_ms"])?.get(0, wire::u64)? }),
        }
    }
}

impl Verdict {
    pub fn read(v: &Value, what: &str) -> Read<Verdict> {
        Ok([Verdict::Success, Verdict::Failure, Verdict::Neutral][wire::name_of(v, what, &["success", "failure", "neutral"])?])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn by_count(count: u32, window_ms: u64, cooldown_ms: u64, probes: u32) -> Breaker {
        Breaker { trip: Trip::Failures { count, window_ms }, cooldown_ms, probes, per_key: false }
    }

    fn by_rate(percent: f64, window_ms: u64, min_requests: u32) -> Breaker {
        Breaker { trip: Trip::FailureRate { percent, window_ms, min_requests }, cooldown_ms: 10_000, probes: 1, per_key: false }
    }

    #[test]
    fn n_failures_in_a_row_open_it() {
        let cfg = by_count(3, 30_000, 15_000, 1);
        let mut s = State::default();
        for t in [0, 10, 20] {
            assert_eq!(s.admit(&cfg, t), Admission::Admit);
            s.record(&cfg, Verdict::Failure, false, t);
        }
        assert_eq!(s.phase, Phase::Open { until_ms: 15_020 });
        assert_eq!(s.admit(&cfg, 1_020), Admission::Open { retry_in_ms: 14_000 });
        assert_eq!(s.trips, 1);
    }

    #[test]
    fn a_success_starts_the_count_again() {
        let cfg = by_count(3, 30_000, 15_000, 1);
        let mut s = State::default();
        for (t, v) in [(0, Verdict::Failure), (1, Verdict::Failure), (2, Verdict::Success), (3, Verdict::Failure), (4, Verdict::Failure)] {
            s.record(&cfg, v, false, t);
        }
        assert_eq!(s.phase, Phase::Closed);
        s.record(&cfg, Verdict::Failure, false, 5);
        assert!(matches!(s.phase, Phase::Open { .. }));
    }

    #[test]
    fn failures_spread_wider_than_the_window_do_not_trip() {
        let cfg = by_count(3, 1_000, 15_000, 1);
        let mut s = State::default();
        for t in [0, 600, 1_200, 1_800] {
            s.record(&cfg, Verdict::Failure, false, t);
        }
        assert_eq!(s.phase, Phase::Closed, "no three within 1s");
        s.record(&cfg, Verdict::Failure, false, 2_000);
        assert!(matches!(s.phase, Phase::Open { .. }), "1200, 1800, 2000");
    }

    #[test]
    fn the_failure_rate_needs_its_minimum_of_calls() {
        let cfg = by_rate(50.0, 60_000, 10);
        let mut s = State::default();
        // 5 failures of 5: 100 %, but under the minimum.
        for t in 0..5 {
            s.record(&cfg, Verdict::Failure, false, t);
        }
        assert_eq!(s.phase, Phase::Closed);
        for t in 5..9 {
            s.record(&cfg, Verdict::Success, false, t);
        }
        assert_eq!(s.phase, Phase::Closed, "9 calls");
        s.record(&cfg, Verdict::Failure, false, 9);
        assert!(matches!(s.phase, Phase::Open { .. }), "6 of 10 failed");
    }

    #[test]
    fn the_failure_rate_below_the_threshold_stays_closed_and_old_calls_leave() {
        let cfg = by_rate(50.0, 10_000, 4);
        let mut s = State::default();
        for (t, v) in [(0, Verdict::Failure), (1, Verdict::Success), (2, Verdict::Success), (3, Verdict::Success)] {
            s.record(&cfg, v, false, t);
        }
        assert_eq!(s.window_counts(), (4, 1));
        // Ten seconds on, those calls have left the window.
        s.record(&cfg, Verdict::Failure, false, 10_500);
        s.record(&cfg, Verdict::Failure, false, 10_600);
        assert_eq!(s.window_counts(), (2, 2));
        assert_eq!(s.phase, Phase::Closed, "2 calls, under the minimum of 4");
    }

    #[test]
    fn after_the_cooldown_probes_are_admitted_and_a_success_closes() {
        let cfg = by_count(1, 1_000, 5_000, 2);
        let mut s = State::default();
        s.record(&cfg, Verdict::Failure, false, 0);
        assert_eq!(s.admit(&cfg, 4_999), Admission::Open { retry_in_ms: 1 });
        assert_eq!(s.admit(&cfg, 5_000), Admission::Probe);
        assert_eq!(s.admit(&cfg, 5_001), Admission::Probe);
        assert_eq!(s.admit(&cfg, 5_002), Admission::Open { retry_in_ms: 4_998 }, "two probes out");
        s.record(&cfg, Verdict::Success, true, 5_100);
        assert_eq!(s.phase, Phase::Closed);
        assert_eq!(s.admit(&cfg, 5_101), Admission::Admit);
    }

    #[test]
    fn a_failed_probe_opens_it_again() {
        let cfg = by_count(2, 1_000, 5_000, 1);
        let mut s = State::default();
        s.record(&cfg, Verdict::Failure, false, 0);
        s.record(&cfg, Verdict::Failure, false, 1);
        assert_eq!(s.admit(&cfg, 5_001), Admission::Probe);
        s.record(&cfg, Verdict::Failure, true, 5_050);
        assert_eq!(s.phase, Phase::Open { until_ms: 10_050 });
        assert_eq!(s.trips, 2);
    }

    #[test]
    fn a_late_report_from_before_the_trip_does_not_move_a_half_open_breaker() {
        let cfg = by_count(1, 1_000, 5_000, 1);
        let mut s = State::default();
        s.record(&cfg, Verdict::Failure, false, 0);
        assert_eq!(s.admit(&cfg, 6_000), Admission::Probe);
        s.record(&cfg, Verdict::Success, false, 6_001);
        assert_eq!(s.phase, Phase::HalfOpen { probes: vec![6_000] });
        s.record(&cfg, Verdict::Failure, false, 6_002);
        assert_eq!(s.phase, Phase::HalfOpen { probes: vec![6_000] });
    }

    #[test]
    fn a_lost_probe_frees_its_slot_after_a_cooldown_and_a_neutral_one_at_once() {
        let cfg = by_count(1, 1_000, 5_000, 1);
        let mut s = State::default();
        s.record(&cfg, Verdict::Failure, false, 0);
        assert_eq!(s.admit(&cfg, 5_000), Admission::Probe);
        assert!(matches!(s.admit(&cfg, 9_999), Admission::Open { .. }));
        assert_eq!(s.admit(&cfg, 10_000), Admission::Probe, "the lost probe's slot is free");
        s.record(&cfg, Verdict::Neutral, true, 10_001);
        assert_eq!(s.admit(&cfg, 10_002), Admission::Probe, "a 429 frees the slot");
    }

    #[test]
    fn the_state_round_trips_through_json() {
        let cfg = by_count(2, 1_000, 5_000, 1);
        let mut s = State::default();
        s.record(&cfg, Verdict::Failure, false, 0);
        let back: State = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        assert_eq!(back, s);
    }
}
