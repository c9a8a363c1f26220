//! How long to wait before trying again: the policy's backoff curve with
//! its jitter, and the upstream's own `Retry-After` / `retry-after-ms`.

use crate::decimal::parse_f64;
use crate::plan::{Backoff, BackoffShape, Jitter};

/// The wait before retry number `retry` (1 for the first retry), with
/// `random` in `[0, 1)` for the jitter.
pub fn delay_ms(b: &Backoff, retry: u32, random: f64) -> u64 {
    let n = retry.max(1) as u64;
    let raw = match b.shape {
        BackoffShape::Constant => b.base_ms,
        BackoffShape::Linear => b.base_ms.saturating_mul(n),
        BackoffShape::Exponential => b.base_ms.saturating_mul(1u64 << (n - 1).min(40)),
    };
    let capped = raw.min(b.cap_ms) as f64;
    let random = random.clamp(0.0, 1.0);
    let jittered = match b.jitter {
        Jitter::None => capped,
        Jitter::Full => capped * random,
        Jitter::Equal => capped / 2.0 + capped / 2.0 * random,
    };
    jittered.round() as u64
}

/// The wait an upstream asked for: `retry-after-ms` (milliseconds) wins
/// over `retry-after` (whole seconds; an HTTP date is not honoured).
pub fn retry_after_ms(retry_after: Option<&str>, retry_after_ms: Option<&str>) -> Option<u64> {
    if let Some(ms) = retry_after_ms.and_then(|v| parse_f64(v.trim())) {
        if ms.is_finite() && ms >= 0.0 {
            return Some(ms.round() as u64);
        }
    }
    let secs = parse_f64(retry_after?.trim())?;
    (secs.is_finite() && secs >= 0.0).then(|| (secs * 1000.0).round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(shape: BackoffShape, jitter: Jitter) -> Backoff {
        Backoff { shape, base_ms: 250, cap_ms: 8_000, jitter }
    }

    #[test]
    fn curves_grow_as_named_and_stop_at_the_cap() {
        let e = b(BackoffShape::Exponential, Jitter::None);
        let waits: Vec<u64> = (1..=7).map(|n| delay_ms(&e, n, 0.5)).collect();
        assert_eq!(waits, [250, 500, 1000, 2000, 4000, 8000, 8000]);
        let l = b(BackoffShape::Linear, Jitter::None);
        assert_eq!(delay_ms(&l, 3, 0.0), 750);
        let c = b(BackoffShape::Constant, Jitter::None);
        assert_eq!(delay_ms(&c, 9, 0.9), 250);
        assert_eq!(delay_ms(&e, u32::MAX, 0.0), 8000, "no overflow");
    }

    #[test]
    fn jitter_stays_within_its_range() {
        let full = b(BackoffShape::Exponential, Jitter::Full);
        assert_eq!(delay_ms(&full, 3, 0.0), 0);
        assert_eq!(delay_ms(&full, 3, 0.25), 250);
        let equal = b(BackoffShape::Exponential, Jitter::Equal);
        assert_eq!(delay_ms(&equal, 3, 0.0), 500);
        assert_eq!(delay_ms(&equal, 3, 0.999), 1000);
    }

    #[test]
    fn retry_after_headers() {
        assert_eq!(retry_after_ms(Some("2"), None), Some(2000));
        assert_eq!(retry_after_ms(Some("2"), Some("150")), Some(150));
        assert_eq!(retry_after_ms(Some("Wed, 21 Oct 2015 07:28:00 GMT"), None), None);
        assert_eq!(retry_after_ms(Some("-1"), None), None);
        assert_eq!(retry_after_ms(None, None), None);
    }
}
