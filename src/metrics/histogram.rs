//! Latency as a fixed histogram: the same bucket bounds everywhere, so two
//! histograms merge by adding their counts (isolate batches into the
//! object, series into routes and targets) and p50 / p95 are read from the
//! merged counts, interpolated inside the bucket that holds the rank.

/// Upper bounds of the buckets in milliseconds (a last bucket holds the rest).
pub const BOUNDS_MS: [u64; 24] = [
    1, 2, 5, 10, 20, 35, 50, 75, 100, 150, 200, 300, 500, 750, 1_000, 1_500, 2_000, 3_000, 5_000, 7_500,
    10_000, 20_000, 30_000, 60_000,
];
/// Buckets: one per bound plus the overflow.
pub const BUCKETS: usize = BOUNDS_MS.len() + 1;

/// Counts per bucket and the sum of the samples.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Histogram {
    pub counts: [u64; BUCKETS],
    pub sum_ms: u64,
}

impl Histogram {
    /// Adds one sample.
    pub fn add(&mut self, ms: u64) {
        let i = BOUNDS_MS.iter().position(|b| ms <= *b).unwrap_or(BOUNDS_MS.len());
        self.counts[i] += 1;
        self.sum_ms = self.sum_ms.saturating_add(ms);
    }

    /// Adds another histogram's samples.
    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(other.counts.iter()) {
            *a += b;
        }
        self.sum_ms = self.sum_ms.saturating_add(other.sum_ms);
    }

    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The `q`-quantile (0 < q ≤ 1) in milliseconds, `None` without samples:
    /// linear inside the bucket holding the rank; the overflow bucket
    /// answers its lower bound.
    pub fn quantile(&self, q: f64) -> Option<u64> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
        let mut seen = 0;
        for (i, &n) in self.counts.iter().enumerate() {
            if n == 0 || seen + n < rank {
                seen += n;
                continue;
            }
            let low = if i == 0 { 0 } else { BOUNDS_MS[i - 1] };
            let Some(&high) = BOUNDS_MS.get(i) else { return Some(low) };
            let within = (rank - seen) as f64 / n as f64;
            return Some(low + ((high - low) as f64 * within).round() as u64);
        }
        None
    }

    /// The counts as `a,b,c` (trailing zeros left out).
    pub fn encode(&self, out: &mut String) {
        let used = self.counts.iter().rposition(|n| *n > 0).map_or(0, |i| i + 1);
        for (i, n) in self.counts[..used].iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&n.to_string());
        }
    }

    /// Reads [`Histogram::encode`]'s counts (extra buckets are added to the last).
    pub fn decode(counts: &str, sum_ms: u64) -> Histogram {
        let mut h = Histogram { sum_ms, ..Histogram::default() };
        for (i, n) in counts.split(',').filter(|s| !s.is_empty()).enumerate() {
            h.counts[i.min(BUCKETS - 1)] += n.parse::<u64>().unwrap_or(0);
        }
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_come_from_the_bucket_that_holds_the_rank() {
        let mut h = Histogram::default();
        assert_eq!(h.quantile(0.5), None);
        for _ in 0..90 {
            h.add(40); // 35 < 40 ≤ 50
        }
        for _ in 0..10 {
            h.add(900); // 750 < 900 ≤ 1000
        }
        let p50 = h.quantile(0.5).unwrap();
        assert!((35..=50).contains(&p50), "{p50}");
        let p95 = h.quantile(0.95).unwrap();
        assert!((750..=1000).contains(&p95), "{p95}");
        assert_eq!(h.count(), 100);
        assert_eq!(h.sum_ms, 90 * 40 + 10 * 900);
    }

    #[test]
    fn overflow_answers_its_lower_bound() {
        let mut h = Histogram::default();
        h.add(1_000_000);
        assert_eq!(h.quantile(0.99), Some(60_000));
        h.add(0);
        assert_eq!(h.quantile(0.5), Some(1));
    }

    #[test]
    fn merged_histograms_equal_one_fed_everything() {
        let (mut a, mut b, mut all) = (Histogram::default(), Histogram::default(), Histogram::default());
        for ms in [3, 7, 99, 4000, 120_000] {
            a.add(ms);
            all.add(ms);
        }
        for ms in [1, 1, 250] {
            b.add(ms);
            all.add(ms);
        }
        a.merge(&b);
        assert_eq!(a, all);
    }

    #[test]
    fn encoding_round_trips() {
        let mut h = Histogram::default();
        for ms in [0, 5, 5, 61_000] {
            h.add(ms);
        }
        let mut text = String::new();
        h.encode(&mut text);
        assert_eq!(Histogram::decode(&text, h.sum_ms), h);
        assert_eq!(Histogram::decode("", 0), Histogram::default());
        assert_eq!(Histogram::decode("x,2", 0).counts[1], 2);
    }
}
