//! The OpenAI-style rate-limit headers: `x-ratelimit-limit-requests`,
//! `x-ratelimit-remaining-requests`, `x-ratelimit-reset-requests` and the
//! same for `tokens`, from the buckets a request went through. When several
//! buckets count the same thing (a per-minute and a per-day limit, a route
//! and a key limit) the one with the fewest remaining is reported, as it is
//! the one the client will hit first.

use super::object::{counts_requests, Level};

/// The headers for these levels (none for a kind no bucket counts).
pub fn rate_headers(levels: &[Level]) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    let tightest = |requests: bool| {
        levels
            .iter()
            .filter(|l| counts_requests(l.unit) == requests)
            .min_by_key(|l| (l.remaining, std::cmp::Reverse(l.reset_ms)))
    };
    if let Some(l) = tightest(true) {
        out.push(("x-ratelimit-limit-requests", l.limit.to_string()));
        out.push(("x-ratelimit-remaining-requests", l.remaining.to_string()));
        out.push(("x-ratelimit-reset-requests", duration(l.reset_ms)));
    }
    if let Some(l) = tightest(false) {
        out.push(("x-ratelimit-limit-tokens", l.limit.to_string()));
        out.push(("x-ratelimit-remaining-tokens", l.remaining.to_string()));
        out.push(("x-ratelimit-reset-tokens", duration(l.reset_ms)));
    }
    out
}

/// A duration as OpenAI writes it: `250ms`, `1s`, `12.5s`, `6m0s`, `1h2m3s`.
pub fn duration(ms: u64) -> String {
    if ms < 1_000 {
        return format!("{ms}ms");
    }
    let (h, rest) = (ms / 3_600_000, ms % 3_600_000);
    let (m, rest) = (rest / 60_000, rest % 60_000);
    let secs = format!("{}s", seconds(rest));
    match (h, m) {
        (0, 0) => secs,
        (0, m) => format!("{m}m{secs}"),
        (h, m) => format!("{h}h{m}m{secs}"),
    }
}

/// Milliseconds as decimal seconds, no trailing zeros: `12500` → `12.5`,
/// `3000` → `3` (integer arithmetic: no float formatting in the Worker).
pub fn seconds(ms: u64) -> String {
    let (whole, frac) = (ms / 1_000, ms % 1_000);
    if frac == 0 {
        return whole.to_string();
    }
    let digits = format!("{frac:03}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

/// `Retry-After` in whole seconds, rounded up (at least 1 when there is a wait).
pub fn retry_after_secs(ms: u64) -> u64 {
    ms.div_ceil(1_000)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::LimitUnit::*;

    #[test]
    fn seconds_as_the_float_formatting_wrote_them() {
        for ms in (0..200_000).step_by(7).chain([1, 10, 100, 999, 1_001, 59_999, 86_400_000]) {
            assert_eq!(seconds(ms), format!("{}", ms as f64 / 1000.0), "{ms}");
            let three = format!("{:.3}", ms as f64 / 1000.0);
            assert_eq!(seconds(ms), three.trim_end_matches('0').trim_end_matches('.'), "{ms}");
        }
    }

    #[test]
    fn durations_in_openai_form() {
        assert_eq!(duration(0), "0ms");
        assert_eq!(duration(250), "250ms");
        assert_eq!(duration(1_000), "1s");
        assert_eq!(duration(12_500), "12.5s");
        assert_eq!(duration(360_000), "6m0s");
        assert_eq!(duration(3_723_004), "1h2m3.004s");
    }

    #[test]
    fn the_tightest_bucket_of_each_kind_is_reported() {
        let levels = [
            Level { unit: RequestsPerMinute, limit: 60, remaining: 59, reset_ms: 1_000 },
            Level { unit: RequestsPerDay, limit: 100, remaining: 3, reset_ms: 86_400_000 },
            Level { unit: TokensPerMinute, limit: 1_000, remaining: 900, reset_ms: 6_000 },
        ];
        let h = rate_headers(&levels);
        assert_eq!(
            h,
            [
                ("x-ratelimit-limit-requests", "100".to_string()),
                ("x-ratelimit-remaining-requests", "3".to_string()),
                ("x-ratelimit-reset-requests", "24h0m0s".to_string()),
                ("x-ratelimit-limit-tokens", "1000".to_string()),
                ("x-ratelimit-remaining-tokens", "900".to_string()),
                ("x-ratelimit-reset-tokens", "6s".to_string()),
            ]
        );
        assert!(rate_headers(&[]).is_empty());
        assert_eq!(retry_after_secs(12_001), 13);
    }
}
