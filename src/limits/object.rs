//! What one rate-limiter object does, as plain data in and out: the Durable
//! Object (`crate::objects::limiter`) only loads this state, hands it each
//! message with the time, and stores it back.
//!
//! An object is one limit key (see [`super::Key`]) and holds one bucket per
//! unit (`rpm`, `rpd`, `tpm`, `tpd`) declared for that key. A take is all or
//! nothing over the buckets it names: when one refuses, none is charged.

use super::bucket::{Bucket, Refusal};
use crate::plan::LimitUnit;
use serde::{Deserialize, Serialize};

/// What the stored state looks like; bumped if it ever changes shape.
pub const STATE_VERSION: u32 = 1;

/// A message to a limiter object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Message {
    /// Take `cost` of each unit, all or nothing.
    Take { needs: Vec<Need> },
    /// Corrections after the fact (a reservation settled with the real
    /// usage, or a take given back): `delta` more units used (negative:
    /// returned). Never refused.
    Adjust { needs: Vec<Change> },
    /// The levels, for the status endpoint; changes nothing.
    Peek,
}

/// One unit a take needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Need {
    pub unit: LimitUnit,
    /// The declared amount per window (the plan's; it may change).
    pub limit: u64,
    pub cost: u64,
}

/// One correction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub unit: LimitUnit,
    pub limit: u64,
    pub delta: i64,
}

/// The object's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    pub admitted: bool,
    /// A need is larger than its bucket's capacity: it can never pass.
    #[serde(default)]
    pub too_large: bool,
    /// When refused: how long until every refused need would fit.
    #[serde(default)]
    pub retry_after_ms: u64,
    /// Every bucket the message named (all of them for a peek), after it.
    pub levels: Vec<Level>,
}

/// A bucket's fill, as the `x-ratelimit-*` headers report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Level {
    pub unit: LimitUnit,
    pub limit: u64,
    pub remaining: u64,
    /// Until the bucket is full again.
    pub reset_ms: u64,
}

/// The window a unit counts over.
pub fn window_ms(unit: LimitUnit) -> u64 {
    match unit {
        LimitUnit::RequestsPerMinute | LimitUnit::TokensPerMinute => 60_000,
        LimitUnit::RequestsPerDay | LimitUnit::TokensPerDay => 86_400_000,
    }
}

/// Whether a unit counts requests (else tokens).
pub fn counts_requests(unit: LimitUnit) -> bool {
    matches!(unit, LimitUnit::RequestsPerMinute | LimitUnit::RequestsPerDay)
}

/// The state of one limiter object.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Limiter {
    #[serde(default)]
    pub version: u32,
    buckets: Vec<(LimitUnit, Bucket)>,
}

impl Limiter {
    pub fn new() -> Limiter {
        Limiter { version: STATE_VERSION, buckets: Vec::new() }
    }

    /// The bucket for `unit` with `limit` (made full, or resized, as needed).
    fn bucket(&mut self, unit: LimitUnit, limit: u64, now_ms: u64) -> &mut Bucket {
        let window = window_ms(unit);
        let index = match self.buckets.iter().position(|(u, _)| *u == unit) {
            Some(i) => {
                let b = self.buckets[i].1;
                self.buckets[i].1 = b.resized(limit, window, now_ms);
                i
            }
            None => {
                self.buckets.push((unit, Bucket::full(limit, window, now_ms)));
                self.buckets.len() - 1
            }
        };
        &mut self.buckets[index].1
    }

    /// Handles one message at `now_ms` (the object's clock).
    pub fn handle(&mut self, message: &Message, now_ms: u64) -> Verdict {
        match message {
            Message::Take { needs } => self.take(needs, now_ms),
            Message::Adjust { needs } => {
                for c in needs {
                    self.bucket(c.unit, c.limit, now_ms).adjust(c.delta, now_ms);
                }
                let levels = needs.iter().map(|c| self.level(c.unit, c.limit, now_ms)).collect();
                Verdict { admitted: true, too_large: false, retry_after_ms: 0, levels }
            }
            Message::Peek => {
                let mut levels = Vec::new();
                for i in 0..self.buckets.len() {
                    let (unit, b) = &mut self.buckets[i];
                    levels.push(Level { unit: *unit, limit: b.capacity, remaining: b.remaining(now_ms), reset_ms: b.reset_ms(now_ms) });
                }
                Verdict { admitted: true, too_large: false, retry_after_ms: 0, levels }
            }
        }
    }

    fn take(&mut self, needs: &[Need], now_ms: u64) -> Verdict {
        let mut admitted = true;
        let mut too_large = false;
        let mut wait = 0u64;
        for n in needs {
            match self.bucket(n.unit, n.limit, now_ms).check(n.cost, now_ms) {
                Ok(()) => {}
                Err(Refusal::Wait { ms }) => {
                    admitted = false;
                    wait = wait.max(ms);
                }
                Err(Refusal::TooLarge) => {
                    admitted = false;
                    too_large = true;
                }
            }
        }
        if admitted {
            for n in needs {
                let taken = self.bucket(n.unit, n.limit, now_ms).take(n.cost, now_ms);
                debug_assert!(taken.is_ok(), "checked just above");
            }
        }
        let levels = needs.iter().map(|n| self.level(n.unit, n.limit, now_ms)).collect();
        Verdict { admitted, too_large, retry_after_ms: if admitted { 0 } else { wait }, levels }
    }

    fn level(&mut self, unit: LimitUnit, limit: u64, now_ms: u64) -> Level {
        let b = self.bucket(unit, limit, now_ms);
        Level { unit, limit: b.capacity, remaining: b.remaining(now_ms), reset_ms: b.reset_ms(now_ms) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use LimitUnit::*;

    fn take(l: &mut Limiter, now: u64, needs: &[(LimitUnit, u64, u64)]) -> Verdict {
        let needs = needs.iter().map(|&(unit, limit, cost)| Need { unit, limit, cost }).collect();
        l.handle(&Message::Take { needs }, now)
    }

    #[test]
    fn all_or_nothing_over_requests_and_tokens() {
        let mut l = Limiter::new();
        let v = take(&mut l, 0, &[(RequestsPerMinute, 10, 1), (TokensPerMinute, 100, 90)]);
        assert!(v.admitted);
        assert_eq!(v.levels[0], Level { unit: RequestsPerMinute, limit: 10, remaining: 9, reset_ms: 6_000 });
        assert_eq!(v.levels[1].remaining, 10);
        // The tokens refuse: the request is not charged either.
        let v = take(&mut l, 0, &[(RequestsPerMinute, 10, 1), (TokensPerMinute, 100, 20)]);
        assert!(!v.admitted);
        assert_eq!(v.retry_after_ms, 6_000, "10 tokens more at 100 per minute");
        assert_eq!(v.levels[0].remaining, 9);
    }

    #[test]
    fn a_need_over_the_capacity_is_too_large() {
        let mut l = Limiter::new();
        let v = take(&mut l, 0, &[(TokensPerMinute, 100, 101)]);
        assert!(!v.admitted && v.too_large);
    }

    #[test]
    fn settle_gives_back_what_the_estimate_overshot() {
        let mut l = Limiter::new();
        take(&mut l, 0, &[(TokensPerDay, 1_000, 600)]);
        let v = l.handle(&Message::Adjust { needs: vec![Change { unit: TokensPerDay, limit: 1_000, delta: -450 }] }, 0);
        assert_eq!(v.levels[0].remaining, 850);
    }

    #[test]
    fn peek_reports_every_bucket_without_charging() {
        let mut l = Limiter::new();
        take(&mut l, 0, &[(RequestsPerMinute, 3, 1), (RequestsPerDay, 100, 1)]);
        let v = l.handle(&Message::Peek, 30_000);
        assert_eq!(v.levels.len(), 2);
        assert_eq!(v.levels[0].remaining, 3, "refilled by 1.5 of 3 per minute");
        assert_eq!(v.levels[1].remaining, 99);
    }

    #[test]
    fn the_state_round_trips_through_json() {
        let mut l = Limiter::new();
        take(&mut l, 5, &[(RequestsPerMinute, 3, 2)]);
        let text = serde_json::to_string(&l).unwrap();
        let mut back: Limiter = serde_json::from_str(&text).unwrap();
        assert_eq!(back, l);
        assert!(!take(&mut back, 5, &[(RequestsPerMinute, 3, 2)]).admitted);
    }

    #[test]
    fn messages_have_a_stable_wire_form() {
        let m = Message::Take { needs: vec![Need { unit: RequestsPerMinute, limit: 5, cost: 1 }] };
        assert_eq!(
            serde_json::to_string(&m).unwrap(),
            r#"{"op":"take","needs":[{"unit":"requests_per_minute","limit":5,"cost":1}]}"#
        );
    }
}
