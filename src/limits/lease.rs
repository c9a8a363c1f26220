//! Leases an isolate holds on its limiter objects (see
//! [`super::object`]): requests taken in advance, admitted here one by one
//! without a round trip, for at most [`LEASE_MS`].
//!
//! Only checks that count requests alone lease (a token reservation is
//! always counted by its object). The object grants leases only while its
//! bucket is more than half full, so a lease never admits beyond the limit
//! and never hides how close to it the key is; what it costs is that up to
//! 1 % of the limit per isolate may sit unused in a lease for [`LEASE_MS`]
//! (given back with the next take of the key).

use super::object::Level;
use crate::keyed::Keyed;

/// How many requests an isolate asks for beyond the one at hand.
pub const LEASE_ASK: u64 = 256;
/// How long a lease may be used.
pub const LEASE_MS: u64 = 1_000;
/// A lease down to this many units is topped up in the background, so
/// that a busy key's requests do not wait for the object at all.
pub const REFILL_BELOW: u64 = LEASE_ASK / 4;
/// The most keys an isolate keeps leases for (then it starts over).
pub const MAX_KEYS: usize = 4_096;

#[derive(Debug, Clone)]
struct Lease {
    units: u64,
    until_ms: u64,
    /// The object's levels when granted (without the leased units).
    levels: Vec<Level>,
    /// Granted beyond what one lease may hold (concurrent takes each got
    /// one): given back with the next take.
    surplus: u64,
    /// A top-up is on its way.
    refilling: bool,
}

/// A request admitted from a lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admitted {
    /// For the headers: the object's levels plus what the lease still holds.
    pub levels: Vec<Level>,
    /// The lease is running low: ask the object for more (in the
    /// background), then call [`Leases::granted`] or [`Leases::refill_failed`].
    pub refill: bool,
}

/// One isolate's leases, by limiter object name.
#[derive(Debug, Default)]
pub struct Leases {
    held: Keyed<Lease>,
}

impl Leases {
    /// Admits one request from a live lease on `key`; the levels for the
    /// headers (the object's, plus what the lease still holds).
    pub fn admit(&mut self, key: &str, now_ms: u64) -> Option<Admitted> {
        let lease = self.held.get_mut(key)?;
        if lease.units == 0 || now_ms >= lease.until_ms {
            return None;
        }
        lease.units -= 1;
        let left = lease.units;
        let refill = left <= REFILL_BELOW && !lease.refilling;
        lease.refilling |= refill;
        let levels = crate::seq::map(&lease.levels, |_, l| Level { remaining: l.remaining + left, ..*l });
        Some(Admitted { levels, refill })
    }

    /// A top-up did not come: the next low lease asks again.
    pub fn refill_failed(&mut self, key: &str) {
        if let Some(lease) = self.held.get_mut(key) {
            lease.refilling = false;
        }
    }

    /// Units of an expired lease on `key` that were never used (to give back);
    /// the lease is dropped.
    pub fn unused(&mut self, key: &str, now_ms: u64) -> u64 {
        match self.held.get_mut(key) {
            Some(lease) if now_ms >= lease.until_ms || lease.units == 0 => {
                self.held.remove(key).map_or(0, |l| l.units + l.surplus)
            }
            Some(lease) => std::mem::take(&mut lease.surplus),
            None => 0,
        }
    }

    /// The object granted `units` at `now_ms`; a live lease holds at most
    /// `cap` (the object's own bound on one grant).
    pub fn granted(&mut self, key: &str, units: u64, cap: u64, levels: Vec<Level>, now_ms: u64) {
        if units == 0 {
            return;
        }
        if self.held.len() >= MAX_KEYS {
            self.held.clear();
        }
        match self.held.get_mut(key) {
            Some(lease) if now_ms < lease.until_ms => {
                let total = lease.units + units;
                lease.units = total.min(cap);
                lease.surplus += total - lease.units;
                lease.levels = levels;
                lease.until_ms = now_ms + LEASE_MS;
                lease.refilling = false;
            }
            old => {
                // An expired lease's unused units are given back with the next take.
                let surplus = old.map_or(0, |l| l.units + l.surplus);
                self.held.insert(
                    key.to_string(),
                    Lease { units, until_ms: now_ms + LEASE_MS, levels, surplus, refilling: false },
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::LimitUnit;

    fn level(remaining: u64) -> Vec<Level> {
        vec![Level { unit: LimitUnit::RequestsPerMinute, limit: 1_000, remaining, reset_ms: 100 }]
    }

    #[test]
    fn a_lease_admits_its_units_then_runs_out() {
        let mut l = Leases::default();
        assert!(l.admit("k", 0).is_none());
        l.granted("k", 2, 10, level(900), 0);
        assert_eq!(l.admit("k", 10).unwrap().levels[0].remaining, 901);
        assert_eq!(l.admit("k", 20).unwrap().levels[0].remaining, 900);
        assert!(l.admit("k", 30).is_none());
        assert_eq!(l.unused("k", 30), 0);
    }

    #[test]
    fn an_expired_lease_gives_its_unused_units_back_once() {
        let mut l = Leases::default();
        l.granted("k", 5, 10, level(900), 0);
        l.admit("k", 1);
        assert_eq!(l.unused("k", 100), 0, "still live");
        assert!(l.admit("k", LEASE_MS).is_none());
        assert_eq!(l.unused("k", LEASE_MS), 4);
        assert_eq!(l.unused("k", LEASE_MS), 0);
    }

    #[test]
    fn a_low_lease_asks_for_a_top_up_once() {
        let mut l = Leases::default();
        l.granted("k", REFILL_BELOW + 2, 100, level(900), 0);
        assert!(!l.admit("k", 1).unwrap().refill);
        assert!(l.admit("k", 2).unwrap().refill, "down to the threshold");
        assert!(!l.admit("k", 3).unwrap().refill, "one top-up at a time");
        l.refill_failed("k");
        assert!(l.admit("k", 4).unwrap().refill);
        l.granted("k", 50, 100, level(800), 5);
        assert!(!l.admit("k", 6).unwrap().refill);
    }

    #[test]
    fn concurrent_grants_add_up_to_the_cap_and_the_rest_goes_back() {
        let mut l = Leases::default();
        l.granted("k", 8, 10, level(900), 0);
        l.granted("k", 8, 10, level(880), 1);
        assert_eq!(l.admit("k", 2).unwrap().levels[0].remaining, 889);
        assert_eq!(l.unused("k", 3), 6, "the surplus, while the lease lives");
        assert_eq!(l.unused("k", 3), 0);
        assert_eq!(l.unused("k", LEASE_MS + 1), 9, "the rest once it has expired");
    }
}
