//! What one rate-limiter object does, as plain data in and out: the Durable
//! Object (`crate::objects::limiter`) only loads this state, hands it each
//! message with the time, and stores it back.
//!
//! An object is one limit key (see [`super::Key`]) and holds one bucket per
//! unit (`rpm`, `rpd`, `tpm`, `tpd`) declared for that key. A take is all or
//! nothing over the buckets it names: when one refuses, none is charged.
//!
//! **Leases.** A take of requests only may ask for a lease: up to `lease`
//! more requests taken at once for the asking isolate to admit on its own
//! (see [`super::lease`]), so a busy key is not one object round trip per
//! request. The object grants at most 1 % of the capacity, and only while
//! the bucket stays at least half full after the grant, so near the limit
//! every request is counted here, one by one. A lease is taken from the
//! bucket: leases can never admit more than the limit; units a lease did
//! not use come back with the isolate's next take (`give_back`).

use super::bucket::{Bucket, Refusal};
use crate::plan::LimitUnit;
use crate::json_out::{array, boolean, int, key, quote, uint, ToJson};
use crate::plan::read::{limit_unit, limit_unit_name};
use crate::wire::{self, fields, Read};
use serde::Deserialize;
use serde_json::Value;

/// What the stored state looks like; bumped if it ever changes shape.
pub const STATE_VERSION: u32 = 1;

/// A message to a limiter object.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Message {
    /// Take `cost` of each unit, all or nothing; `lease` more (requests
    /// only) if the bucket can spare them, after giving back `give_back`
    /// units of an earlier lease that were not used.
    Take {
        needs: Vec<Need>,
        #[serde(default)]
        #[cfg_attr(test, serde(skip_serializing_if = "is_zero"))]
        lease: u64,
        #[serde(default)]
        #[cfg_attr(test, serde(skip_serializing_if = "is_zero"))]
        give_back: u64,
    },
    /// Corrections after the fact (a reservation settled with the real
    /// usage, or a take given back): `delta` more units used (negative:
    /// returned). Never refused.
    Adjust { needs: Vec<Change> },
    /// The levels, for the status endpoint; changes nothing.
    Peek,
}

/// One unit a take needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
pub struct Need {
    pub unit: LimitUnit,
    /// The declared amount per window (the plan's; it may change).
    pub limit: u64,
    pub cost: u64,
}

/// One correction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
pub struct Change {
    pub unit: LimitUnit,
    pub limit: u64,
    pub delta: i64,
}

/// The object's answer.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
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
    /// Requests leased to the asking isolate beyond this one.
    #[serde(default)]
    pub leased: u64,
}

#[cfg(test)]
fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// `{"unit":…,"limit":…,` (the object left open).
fn unit_and_limit(out: &mut String, unit: LimitUnit, limit: u64) {
    out.push('{');
    key(out, "unit", true);
    quote(out, limit_unit_name(unit));
    key(out, "limit", false);
    uint(out, limit);
}

/// Written as the derive wrote it (tagged by `op`, zero `lease` and `give_back` left out).
impl ToJson for Message {
    fn write_json(&self, out: &mut String) {
        match self {
            Message::Take { needs, lease, give_back } => {
                out.push_str("{\"op\":\"take\"");
                key(out, "needs", false);
                array(out, needs, |out, n| {
                    unit_and_limit(out, n.unit, n.limit);
                    key(out, "cost", false);
                    uint(out, n.cost);
                    out.push('}');
                });
                for (name, n) in [("lease", *lease), ("give_back", *give_back)] {
                    if n != 0 {
                        key(out, name, false);
                        uint(out, n);
                    }
                }
                out.push('}');
            }
            Message::Adjust { needs } => {
                out.push_str("{\"op\":\"adjust\"");
                key(out, "needs", false);
                array(out, needs, |out, c| {
                    unit_and_limit(out, c.unit, c.limit);
                    key(out, "delta", false);
                    int(out, c.delta.into());
                    out.push('}');
                });
                out.push('}');
            }
            Message::Peek => out.push_str("{\"op\":\"peek\"}"),
        }
    }
}

impl ToJson for Verdict {
    fn write_json(&self, out: &mut String) {
        out.push('{');
        key(out, "admitted", true);
        boolean(out, self.admitted);
        key(out, "too_large", false);
        boolean(out, self.too_large);
        key(out, "retry_after_ms", false);
        uint(out, self.retry_after_ms);
        key(out, "levels", false);
        array(out, &self.levels, |out, l| {
            unit_and_limit(out, l.unit, l.limit);
            key(out, "remaining", false);
            uint(out, l.remaining);
            key(out, "reset_ms", false);
            uint(out, l.reset_ms);
            out.push('}');
        });
        key(out, "leased", false);
        uint(out, self.leased);
        out.push('}');
    }
}

impl ToJson for Limiter {
    fn write_json(&self, out: &mut String) {
        out.push('{');
        key(out, "version", true);
        uint(out, self.version.into());
        key(out, "buckets", false);
        array(out, &self.buckets, |out, (unit, bucket)| {
            out.push('[');
            quote(out, limit_unit_name(*unit));
            out.push(',');
            bucket.write(out);
            out.push(']');
        });
        out.push('}');
    }
}

/// The largest lease a bucket of `capacity` grants.
pub fn max_lease(capacity: u64) -> u64 {
    capacity / 100
}

/// A bucket's fill, as the `x-ratelimit-*` headers report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
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
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
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
            Message::Take { needs, lease, give_back } => {
                if *give_back > 0 {
                    for n in needs {
                        self.bucket(n.unit, n.limit, now_ms).adjust(-(*give_back as i64), now_ms);
                    }
                }
                let mut verdict = self.take(needs, now_ms);
                if verdict.admitted && *lease > 0 && needs.iter().all(|n| counts_requests(n.unit)) {
                    verdict.leased = self.lease(needs, *lease, now_ms);
                    verdict.levels = crate::seq::map(needs, |_, n| self.level(n.unit, n.limit, now_ms));
                }
                verdict
            }
            Message::Adjust { needs } => {
                for c in needs {
                    self.bucket(c.unit, c.limit, now_ms).adjust(c.delta, now_ms);
                }
                let levels = crate::seq::map(needs, |_, c| self.level(c.unit, c.limit, now_ms));
                Verdict { admitted: true, too_large: false, retry_after_ms: 0, levels, leased: 0 }
            }
            Message::Peek => {
                let mut levels = Vec::new();
                for i in 0..self.buckets.len() {
                    let (unit, b) = &mut self.buckets[i];
                    levels.push(Level { unit: *unit, limit: b.capacity, remaining: b.remaining(now_ms), reset_ms: b.reset_ms(now_ms) });
                }
                Verdict { admitted: true, too_large: false, retry_after_ms: 0, levels, leased: 0 }
            }
        }
    }

    /// Grants up to `ask` more of every need (see the module doc).
    fn lease(&mut self, needs: &[Need], ask: u64, now_ms: u64) -> u64 {
        let mut grant = ask;
        for n in needs {
            let b = self.bucket(n.unit, n.limit, now_ms);
            let spare = b.remaining(now_ms).saturating_sub(b.capacity / 2);
            grant = grant.min(max_lease(b.capacity)).min(spare);
        }
        if grant > 0 {
            for n in needs {
                self.bucket(n.unit, n.limit, now_ms).adjust(grant as i64, now_ms);
            }
        }
        grant
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
        let levels = crate::seq::map(needs, |_, n| self.level(n.unit, n.limit, now_ms));
        Verdict { admitted, too_large, retry_after_ms: if admitted { 0 } else { wait }, levels, leased: 0 }
    }

    fn level(&mut self, unit: LimitUnit, limit: u64, now_ms: u64) -> Level {
        let b = self.bucket(unit, limit, now_ms);
        Level { unit, limit: b.capacity, remaining: b.remaining(now_ms), reset_ms: b.reset_ms(now_ms) }
    }
}

/// The hand-written readers of the messages, answers and state (what the
/// derived `Deserialize` accepts; see [`crate::wire`]).
impl Message {
    pub fn read(v: &Value) -> Read<Message> {
        let (variant, body) = wire::tagged(v, "op", "Message", &["take", "adjust", "peek"])?;
        match variant {
            0 => {
                let f = fields(&body, "Take", &["needs", "lease", "give_back"])?;
                Ok(Message::Take {
                    needs: f.get(0, |v, w| wire::vec(v, w, need))?,
                    lease: f.get_or_default(1, wire::u64)?,
                    give_back: f.get_or_default(2, wire::u64)?,
                })
            }
            1 => {
                let f = fields(&body, "Adjust", &["needs"])?;
                Ok(Message::Adjust { needs: f.get(0, |v, w| wire::vec(v, w, change))? })
            }
            _ => Ok(Message::Peek),
        }
    }
}

fn need(v: &Value, _: &str) -> Read<Need> {
    let f = fields(v, "Need", &["unit", "limit", "cost"])?;
    Ok(Need { unit: f.get(0, limit_unit)?, limit: f.get(1, wire::u64)?, cost: f.get(2, wire::u64)? })
}

fn change(v: &Value, _: &str) -> Read<Change> {
    let f = fields(v, "Change", &["unit", "limit", "delta"])?;
    Ok(Change { unit: f.get(0, limit_unit)?, limit: f.get(1, wire::u64)?, delta: f.get(2, wire::i64)? })
}

impl Verdict {
    pub fn read(v: &Value) -> Read<Verdict> {
        let f = fields(v, "Verdict", &["admitted", "too_large", "retry_after_ms", "levels", "leased"])?;
        Ok(Verdict {
            admitted: f.get(0, wire::boolean)?,
            too_large: f.get_or_default(1, wire::boolean)?,
            retry_after_ms: f.get_or_default(2, wire::u64)?,
            levels: f.get(3, |v, w| wire::vec(v, w, level))?,
            leased: f.get_or_default(4, wire::u64)?,
        })
    }
}

fn level(v: &Value, _: &str) -> Read<Level> {
    let f = fields(v, "Level", &["unit", "limit", "remaining", "reset_ms"])?;
    Ok(Level {
        unit: f.get(0, limit_unit)?,
        limit: f.get(1, wire::u64)?,
        remaining: f.get(2, wire::u64)?,
        reset_ms: f.get(3, wire::u64)?,
    })
}

impl Limiter {
    /// Reads a stored limiter.
    pub fn read(v: &Value) -> Read<Limiter> {
        let f = fields(v, "Limiter", &["version", "buckets"])?;
        Ok(Limiter {
            version: f.get_or_default(0, wire::u32)?,
            buckets: f.get(1, |v, w| wire::vec(v, w, unit_bucket))?,
        })
    }
}

fn unit_bucket(v: &Value, what: &str) -> Read<(LimitUnit, Bucket)> {
    let (unit, bucket) = wire::pair(v, what)?;
    Ok((limit_unit(unit, what)?, Bucket::read(bucket, what)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use LimitUnit::*;

    fn take(l: &mut Limiter, now: u64, needs: &[(LimitUnit, u64, u64)]) -> Verdict {
        let needs = needs.iter().map(|&(unit, limit, cost)| Need { unit, limit, cost }).collect();
        l.handle(&Message::Take { needs, lease: 0, give_back: 0 }, now)
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
    fn leases_are_one_percent_while_the_bucket_is_more_than_half_full() {
        let mut l = Limiter::new();
        let ask = |l: &mut Limiter, give_back| {
            let needs = vec![Need { unit: RequestsPerMinute, limit: 1_000, cost: 1 }];
            l.handle(&Message::Take { needs, lease: 32, give_back }, 0)
        };
        let v = ask(&mut l, 0);
        assert_eq!((v.admitted, v.leased, v.levels[0].remaining), (true, 10, 989));
        // Given back unused, the bucket has them again.
        let v = ask(&mut l, 10);
        assert_eq!(v.levels[0].remaining, 988);
        // Near half full, the grants shrink to nothing: every request is counted here.
        let mut last = v;
        while last.levels[0].remaining > 500 {
            last = ask(&mut l, 0);
        }
        assert_eq!(ask(&mut l, 0).leased, 0);
        // A small limit never leases, and tokens never do.
        let mut small = Limiter::new();
        let v = small.handle(&Message::Take { needs: vec![Need { unit: RequestsPerMinute, limit: 99, cost: 1 }], lease: 32, give_back: 0 }, 0);
        assert_eq!(v.leased, 0);
        let tokens = vec![Need { unit: TokensPerMinute, limit: 1_000_000, cost: 5 }];
        assert_eq!(small.handle(&Message::Take { needs: tokens, lease: 32, give_back: 0 }, 0).leased, 0);
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
        let m = Message::Take { needs: vec![Need { unit: RequestsPerMinute, limit: 5, cost: 1 }], lease: 0, give_back: 0 };
        assert_eq!(
            serde_json::to_string(&m).unwrap(),
            r#"{"op":"take","needs":[{"unit":"requests_per_minute","limit":5,"cost":1}]}"#
        );
    }

    #[test]
    fn hand_written_readers_accept_what_the_derived_ones_do() {
        use crate::wire::check::equivalent;
        let mut l = Limiter::new();
        take(&mut l, 5, &[(RequestsPerMinute, 10, 1), (TokensPerDay, 1_000, 900)]);
        l.handle(&Message::Adjust { needs: vec![Change { unit: TokensPerDay, limit: 1_000, delta: 450 }] }, 7);
        let needs = vec![Need { unit: RequestsPerMinute, limit: 1_000, cost: 1 }];
        let messages = [
            Message::Take { needs: needs.clone(), lease: 32, give_back: 3 },
            Message::Take { needs, lease: 0, give_back: 0 },
            Message::Adjust { needs: vec![Change { unit: TokensPerMinute, limit: 5, delta: -2 }] },
            Message::Peek,
        ];
        let mut tried = 0;
        for m in &messages {
            assert_eq!(m.to_json(), serde_json::to_string(m).unwrap());
            let doc = serde_json::to_value(m).unwrap();
            assert_eq!(&Message::read(&doc).unwrap(), m);
            tried += equivalent(&doc, "message", Message::read);
        }
        let verdict = l.handle(&Message::Peek, 9);
        assert_eq!(verdict.to_json(), serde_json::to_string(&verdict).unwrap());
        let refused = Verdict { admitted: false, too_large: true, retry_after_ms: 5, levels: vec![], leased: 2 };
        assert_eq!(refused.to_json(), serde_json::to_string(&refused).unwrap());
        assert_eq!(Limiter::new().to_json(), serde_json::to_string(&Limiter::new()).unwrap());
        let mut debt = Limiter::new();
        debt.handle(&Message::Adjust { needs: vec![Change { unit: TokensPerMinute, limit: 5, delta: 1_000 }] }, 3);
        assert_eq!(debt.to_json(), serde_json::to_string(&debt).unwrap());
        assert_eq!(l.to_json(), serde_json::to_string(&l).unwrap());
        let doc = serde_json::to_value(&verdict).unwrap();
        assert_eq!(Verdict::read(&doc).unwrap(), verdict);
        tried += equivalent(&doc, "verdict", Verdict::read);
        let doc = serde_json::to_value(&l).unwrap();
        assert_eq!(Limiter::read(&doc).unwrap(), l);
        tried += equivalent(&doc, "limiter", Limiter::read);
        // A level beyond 64 bits reads back (as the derived i128 reader did).
        let mut big = doc.clone();
        big["buckets"][0][1]["level"] = serde_json::json!(1e20);
        assert!(Limiter::read(&big).is_ok());
        assert!(tried > 500, "{tried}");
    }
}
