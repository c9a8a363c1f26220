//! A token bucket with exact integer refill math.
//!
//! A bucket holds at most `capacity` units and refills continuously at
//! `capacity` per `window_ms` (60 rpm: one request every second). The level
//! is kept in *scaled* units, `units × window_ms`, so a refill over `e`
//! milliseconds adds exactly `e × capacity` scaled units and no rounding
//! ever accumulates: after a whole window an empty bucket is exactly full.
//!
//! The level may go below zero: a reservation settled with more tokens than
//! it reserved is a debt the refill pays back before anything else is
//! admitted. A clock that goes backwards refills nothing.

use serde::Deserialize;

/// One bucket's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
pub struct Bucket {
    pub capacity: u64,
    pub window_ms: u64,
    /// `units × window_ms`; at most `capacity × window_ms`.
    level: i128,
    /// When the level was last brought up to date.
    at_ms: u64,
}

/// Why a take was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Enough will have refilled after this long.
    Wait { ms: u64 },
    /// More than the bucket can ever hold: waiting never helps.
    TooLarge,
}

impl Bucket {
    /// Writes the stored bucket (as its derived `Serialize` did).
    pub(crate) fn write(&self, out: &mut String) {
        use crate::json_out::{int, key, uint};
        out.push('{');
        key(out, "capacity", true);
        uint(out, self.capacity);
        key(out, "window_ms", false);
        uint(out, self.window_ms);
        key(out, "level", false);
        int(out, self.level);
        key(out, "at_ms", false);
        uint(out, self.at_ms);
        out.push('}');
    }

    /// Reads a stored bucket (as its derived `Deserialize` would).
    pub(crate) fn read(v: &serde_json::Value, _: &str) -> crate::wire::Read<Bucket> {
        use crate::wire;
        let f = wire::fields(v, "Bucket", &["capacity", "window_ms", "level", "at_ms"])?;
        Ok(Bucket {
            capacity: f.get(0, wire::u64)?,
            window_ms: f.get(1, wire::u64)?,
            level: f.get(2, wire::i128)?,
            at_ms: f.get(3, wire::u64)?,
        })
    }

    /// A full bucket. `capacity` and `window_ms` are at least 1.
    pub fn full(capacity: u64, window_ms: u64, now_ms: u64) -> Bucket {
        let (capacity, window_ms) = (capacity.max(1), window_ms.max(1));
        Bucket { capacity, window_ms, level: capacity as i128 * window_ms as i128, at_ms: now_ms }
    }

    fn top(&self) -> i128 {
        self.capacity as i128 * self.window_ms as i128
    }

    fn refill(&mut self, now_ms: u64) {
        if now_ms > self.at_ms {
            let gained = (now_ms - self.at_ms) as i128 * self.capacity as i128;
            self.level = (self.level + gained).min(self.top());
            self.at_ms = now_ms;
        }
    }

    /// Takes `n` units if they are there; otherwise takes nothing.
    pub fn take(&mut self, n: u64, now_ms: u64) -> Result<(), Refusal> {
        self.check(n, now_ms)?;
        self.level -= n as i128 * self.window_ms as i128;
        Ok(())
    }

    /// Whether `n` units could be taken now, without taking them.
    pub fn check(&mut self, n: u64, now_ms: u64) -> Result<(), Refusal> {
        self.refill(now_ms);
        if n > self.capacity {
            return Err(Refusal::TooLarge);
        }
        let need = n as i128 * self.window_ms as i128;
        if self.level >= need {
            Ok(())
        } else {
            Err(Refusal::Wait { ms: div_ceil(need - self.level, self.capacity as i128) })
        }
    }

    /// Adds `delta` units of use (negative: gives units back), without a
    /// check: the level may go below zero, never above full.
    pub fn adjust(&mut self, delta: i64, now_ms: u64) {
        self.refill(now_ms);
        self.level = (self.level - delta as i128 * self.window_ms as i128).min(self.top());
    }

    /// Whole units available now (0 while in debt).
    pub fn remaining(&mut self, now_ms: u64) -> u64 {
        self.refill(now_ms);
        (self.level.max(0) / self.window_ms as i128) as u64
    }

    /// Milliseconds until the bucket is full again.
    pub fn reset_ms(&mut self, now_ms: u64) -> u64 {
        self.refill(now_ms);
        div_ceil(self.top() - self.level, self.capacity as i128)
    }

    /// The same bucket under a new capacity or window (the plan changed):
    /// the units it holds are kept, up to the new capacity.
    pub fn resized(mut self, capacity: u64, window_ms: u64, now_ms: u64) -> Bucket {
        if capacity == self.capacity && window_ms == self.window_ms {
            return self;
        }
        self.refill(now_ms);
        let units = self.level.div_euclid(self.window_ms as i128);
        let mut next = Bucket::full(capacity, window_ms, now_ms);
        next.level = (units * next.window_ms as i128).min(next.top());
        next
    }
}

fn div_ceil(a: i128, b: i128) -> u64 {
    if a <= 0 {
        return 0;
    }
    ((a + b - 1) / b).min(u64::MAX as i128) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: u64 = 60_000;

    #[test]
    fn a_full_bucket_admits_exactly_its_capacity() {
        let mut b = Bucket::full(5, MIN, 0);
        for _ in 0..5 {
            assert_eq!(b.take(1, 0), Ok(()));
        }
        assert_eq!(b.take(1, 0), Err(Refusal::Wait { ms: 12_000 }));
        assert_eq!(b.remaining(0), 0);
    }

    #[test]
    fn refill_is_exact_to_the_millisecond() {
        let mut b = Bucket::full(60, MIN, 0);
        for _ in 0..60 {
            b.take(1, 0).unwrap();
        }
        // One unit per second: not at 999 ms, exactly at 1000 ms.
        assert_eq!(b.take(1, 999), Err(Refusal::Wait { ms: 1 }));
        assert_eq!(b.take(1, 1_000), Ok(()));
        assert_eq!(b.remaining(1_000), 0);
        // A whole window later it is full, not more.
        assert_eq!(b.remaining(1_000 + 10 * MIN), 60);
        assert_eq!(b.reset_ms(1_000 + 10 * MIN), 0);
    }

    #[test]
    fn odd_rates_never_drift() {
        // 7 per minute: 60000/7 ms per unit is not whole; after 7 windows
        // of single takes at each refill point, the count is exact.
        let mut b = Bucket::full(7, MIN, 0);
        for _ in 0..7 {
            b.take(1, 0).unwrap();
        }
        let mut admitted = 0;
        for t in (0..=7 * MIN).step_by(1) {
            if b.take(1, t).is_ok() {
                admitted += 1;
            }
        }
        assert_eq!(admitted, 49);
    }

    #[test]
    fn reset_is_the_time_until_full() {
        let mut b = Bucket::full(10, MIN, 0);
        b.take(4, 0).unwrap();
        assert_eq!(b.reset_ms(0), 24_000);
        assert_eq!(b.reset_ms(6_000), 18_000);
    }

    #[test]
    fn more_than_the_capacity_is_too_large() {
        let mut b = Bucket::full(100, MIN, 0);
        assert_eq!(b.take(101, 0), Err(Refusal::TooLarge));
        assert_eq!(b.remaining(0), 100, "nothing was taken");
    }

    #[test]
    fn reserve_then_settle_with_the_real_usage() {
        let mut b = Bucket::full(1_000, MIN, 0);
        b.take(300, 0).unwrap(); // the estimate
        b.adjust(120 - 300, 0); // it used 120
        assert_eq!(b.remaining(0), 880);
        b.adjust(1_500, 0); // a debt beyond the level
        assert_eq!(b.remaining(0), 0);
        // 620 in debt: 620 × 60 ms until zero, then one more unit's worth.
        assert_eq!(b.take(1, 37_200), Err(Refusal::Wait { ms: 60 }));
        assert_eq!(b.take(1, 37_260), Ok(()));
        // Giving back never fills beyond the capacity.
        b.adjust(-1_000_000, 40_000);
        assert_eq!(b.remaining(40_000), 1_000);
    }

    #[test]
    fn a_clock_going_backwards_refills_nothing() {
        let mut b = Bucket::full(2, MIN, 10_000);
        b.take(2, 10_000).unwrap();
        assert_eq!(b.remaining(5_000), 0);
        assert!(b.take(1, 9_000).is_err());
        assert_eq!(b.remaining(40_000), 1);
    }

    #[test]
    fn a_new_capacity_keeps_what_is_held() {
        let mut b = Bucket::full(10, MIN, 0);
        b.take(7, 0).unwrap();
        let mut bigger = b.resized(100, MIN, 0);
        assert_eq!(bigger.remaining(0), 3);
        let mut smaller = Bucket::full(10, MIN, 0).resized(4, MIN, 0);
        assert_eq!(smaller.remaining(0), 4);
    }

    #[test]
    fn a_day_bucket_at_large_counts() {
        let mut b = Bucket::full(5_000_000_000, 86_400_000, 0);
        b.take(5_000_000_000, 0).unwrap();
        assert_eq!(b.remaining(86_400_000), 5_000_000_000);
    }
}
