//! The status endpoint's document (`GET /v1/switchyard/status`; the objects
//! are asked in `src/edge/status.rs`), written by hand: the same text the
//! `serde_json::json!` version wrote (its map keeps keys sorted, so every
//! object here lists its keys in that order), which the tests compare.

use crate::breaker::object::Snapshot;
use crate::json_out::{boolean, float, key, number, quote, uint};
use crate::limits::headers::duration;
use crate::limits::object::Verdict;
use crate::plan::read::limit_unit_name;

/// `{"error":…,NAME:…}` for an object that did not answer.
fn failed(out: &mut String, name: &str, object: &str, error: &str) {
    out.push_str("{\"error\":");
    quote(out, error);
    key(out, name, false);
    quote(out, object);
    out.push('}');
}

/// One limiter's entry: its levels, or why it did not answer.
pub fn limiter(key_name: &str, answer: &Result<Verdict, String>) -> String {
    let mut out = String::with_capacity(160);
    let v = match answer {
        Ok(v) => v,
        Err(e) => {
            failed(&mut out, "key", key_name, e);
            return out;
        }
    };
    out.push_str("{\"key\":");
    quote(&mut out, key_name);
    out.push_str(",\"levels\":");
    crate::json_out::array(&mut out, &v.levels, |out, l| {
        out.push('{');
        key(out, "limit", true);
        uint(out, l.limit);
        key(out, "remaining", false);
        uint(out, l.remaining);
        key(out, "reset", false);
        quote(out, &duration(l.reset_ms));
        key(out, "reset_ms", false);
        uint(out, l.reset_ms);
        key(out, "unit", false);
        quote(out, limit_unit_name(l.unit));
        key(out, "used", false);
        uint(out, l.limit.saturating_sub(l.remaining));
        out.push('}');
    });
    out.push('}');
    out
}

/// One target's entry (`breaker`: it has one): its breaker and counters,
/// or why its object did not answer.
pub fn target(target: &str, breaker: bool, answer: &Result<Snapshot, String>) -> String {
    let mut out = String::with_capacity(320);
    let s = match answer {
        Ok(s) => s,
        Err(e) => {
            failed(&mut out, "target", target, e);
            return out;
        }
    };
    out.push_str("{\"breaker\":");
    boolean(&mut out, breaker);
    key(&mut out, "failures_in_a_row", false);
    uint(&mut out, s.failures_in_a_row as u64);
    key(&mut out, "half_open_in_ms", false);
    number(&mut out, s.open_until_ms.map(|u| u.saturating_sub(s.now_ms)));
    key(&mut out, "in_flight", false);
    uint(&mut out, s.in_flight.into());
    key(&mut out, "latency_ms", false);
    float(&mut out, s.latency_ms.map(|l| (l * 10.0).round() / 10.0));
    key(&mut out, "samples", false);
    uint(&mut out, s.samples);
    key(&mut out, "state", false);
    quote(&mut out, if breaker { s.phase.as_str() } else { "none" });
    key(&mut out, "target", false);
    quote(&mut out, target);
    key(&mut out, "trips", false);
    uint(&mut out, s.trips);
    key(&mut out, "window_calls", false);
    uint(&mut out, s.window_calls);
    key(&mut out, "window_failures", false);
    uint(&mut out, s.window_failures);
    out.push('}');
    out
}

/// What the whole document holds besides the entries.
pub struct Header<'a> {
    pub plan: &'a str,
    pub breaker_cache_ms: u64,
    pub truncated: bool,
    /// The directory of targets did not answer (`{model}` targets other
    /// isolates used may be missing).
    pub directory_error: Option<&'a str>,
}

/// The document, from the entries [`limiter`] and [`target`] wrote.
pub fn document(header: &Header, limiters: &[String], targets: &[String]) -> String {
    let entries = |out: &mut String, items: &[String]| {
        out.push('[');
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(item);
        }
        out.push(']');
    };
    let mut out = String::with_capacity(64 + (limiters.len() + targets.len()) * 256);
    out.push_str("{\"breaker_cache_ms\":");
    uint(&mut out, header.breaker_cache_ms);
    if let Some(error) = header.directory_error {
        key(&mut out, "directory_error", false);
        quote(&mut out, error);
    }
    key(&mut out, "limiters", false);
    entries(&mut out, limiters);
    key(&mut out, "plan", false);
    quote(&mut out, header.plan);
    key(&mut out, "targets", false);
    entries(&mut out, targets);
    key(&mut out, "truncated", false);
    boolean(&mut out, header.truncated);
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::breaker::state::Admission;
    use crate::limits::object::Level;
    use crate::plan::LimitUnit;
    use serde_json::{json, Value};

    // The `json!` version this replaced, as it was.
    fn limiter_json(key: &str, answer: &Result<Verdict, String>) -> Value {
        match answer {
            Ok(v) => json!({
                "key": key,
                "levels": v.levels.iter().map(|l| json!({
                    "unit": l.unit, "limit": l.limit, "remaining": l.remaining,
                    "used": l.limit.saturating_sub(l.remaining),
                    "reset_ms": l.reset_ms, "reset": duration(l.reset_ms),
                })).collect::<Vec<Value>>(),
            }),
            Err(e) => json!({ "key": key, "error": e }),
        }
    }

    fn target_json(key: &str, breaker: bool, answer: &Result<Snapshot, String>) -> Value {
        match answer {
            Ok(s) => json!({
                "target": key,
                "breaker": breaker,
                "state": if breaker { s.phase.as_str() } else { "none" },
                "half_open_in_ms": s.open_until_ms.map(|u| u.saturating_sub(s.now_ms)),
                "trips": s.trips,
                "failures_in_a_row": s.failures_in_a_row,
                "window_calls": s.window_calls,
                "window_failures": s.window_failures,
                "in_flight": s.in_flight,
                "latency_ms": s.latency_ms.map(|l| (l * 10.0).round() / 10.0),
                "samples": s.samples,
            }),
            Err(e) => json!({ "target": key, "error": e }),
        }
    }

    #[test]
    fn the_document_is_the_json_macros_text() {
        let level = |unit, limit, remaining, reset_ms| Level { unit, limit, remaining, reset_ms };
        let verdicts: Vec<Result<Verdict, String>> = vec![
            Err("no answer within 50 ms".into()),
            Ok(Verdict { admitted: true, too_large: false, retry_after_ms: 0, levels: vec![], leased: 0 }),
            Ok(Verdict {
                admitted: true,
                too_large: false,
                retry_after_ms: 0,
                levels: vec![
                    level(LimitUnit::RequestsPerMinute, 60, 59, 1_000),
                    level(LimitUnit::TokensPerDay, 1_000_000, 0, 90_061_500),
                ],
                leased: 3,
            }),
        ];
        let snapshot = Snapshot {
            phase: "open".into(),
            open_until_ms: Some(5_000),
            admission: Some(Admission::Probe),
            in_flight: 2,
            latency_ms: Some(123.456),
            samples: 9,
            trips: 1,
            failures_in_a_row: 3,
            window_calls: 10,
            window_failures: 4,
            now_ms: 4_000,
        };
        let snapshots: Vec<Result<Snapshot, String>> = vec![
            Err("RATE_LIMITER is \"not\" bound".into()),
            Ok(snapshot.clone()),
            Ok(Snapshot { open_until_ms: None, latency_ms: None, phase: "closed".into(), ..snapshot }),
        ];
        let mut limiters = vec![];
        let mut targets = vec![];
        for (i, v) in verdicts.iter().enumerate() {
            let key = format!("route:r{i}|key:\"k\"");
            let text = limiter(&key, v);
            assert_eq!(text, limiter_json(&key, v).to_string());
            limiters.push(text);
        }
        for (i, s) in snapshots.iter().enumerate() {
            for breaker in [true, false] {
                let key = format!("openai:gpt-{i}");
                let text = target(&key, breaker, s);
                assert_eq!(text, target_json(&key, breaker, s).to_string());
                targets.push(text);
            }
        }
        for directory_error in [None, Some("no \"answer\"")] {
            for (limiters, targets) in [(&limiters[..0], &targets[..0]), (&limiters[..], &targets[..])] {
                let header = Header { plan: "abc123", breaker_cache_ms: 250, truncated: directory_error.is_some(), directory_error };
                let mut doc = json!({
                    "plan": header.plan,
                    "breaker_cache_ms": header.breaker_cache_ms,
                    "limiters": limiters.iter().map(|l| serde_json::from_str::<Value>(l).unwrap()).collect::<Vec<_>>(),
                    "targets": targets.iter().map(|t| serde_json::from_str::<Value>(t).unwrap()).collect::<Vec<_>>(),
                    "truncated": header.truncated,
                });
                if let Some(error) = directory_error {
                    doc["directory_error"] = Value::String(error.into());
                }
                assert_eq!(document(&header, limiters, targets), doc.to_string());
            }
        }
    }
}
