//! The counters as `GET /v1/switchyard/metrics` answers them: JSON (totals,
//! outcomes, per route / target / gateway key with p50 and p95, the
//! timeline, every series, the recent errors with their trails) or the
//! Prometheus text format (`# HELP`, `# TYPE`, escaped labels). Written by
//! hand: no derived serializers in the Worker for this.

use super::counters::{Counters, Labels, Series, SLOTS, SLOT_MS};
use super::histogram::{Histogram, BOUNDS_MS};
use super::record::{usd, Outcome};

/// A gateway key's budget, as its budget object's peek reports it
/// (`crate::edge::metrics`; only keys that have one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Budget {
    pub key: String,
    pub limit_nano: u64,
    /// What the budget object has counted as spent, when it says.
    pub spent_nano: Option<u64>,
}

/// Series summed under one label value.
#[derive(Debug, Clone, Default)]
struct Group {
    name: String,
    requests: u64,
    errors: u64,
    limited: u64,
    cache_hits: u64,
    latency: Histogram,
    tokens_in: u64,
    tokens_out: u64,
    cost_nano: u64,
    costed: u64,
    outcomes: [u64; Outcome::ALL.len()],
}

impl Group {
    fn add(&mut self, s: &Series) {
        let outcome = Outcome::parse(&s.labels.outcome).unwrap_or(Outcome::Error);
        self.requests += s.count;
        self.errors += if outcome.is_error() { s.count } else { 0 };
        self.limited += if outcome == Outcome::Limited { s.count } else { 0 };
        self.cache_hits += if outcome == Outcome::CacheHit { s.count } else { 0 };
        self.latency.merge(&s.latency);
        self.tokens_in += s.tokens_in;
        self.tokens_out += s.tokens_out;
        self.cost_nano += s.cost_nano;
        self.costed += s.costed;
        if let Some(i) = Outcome::ALL.iter().position(|o| *o == outcome) {
            self.outcomes[i] += s.count;
        }
    }

    fn json(&self, out: &mut String, label: &str) {
        out.push('{');
        field_str(out, label, &self.name);
        out.push(',');
        self.numbers(out);
        out.push('}');
    }

    fn numbers(&self, out: &mut String) {
        let q = |q: f64| self.latency.quantile(q).map_or("null".to_string(), |v| v.to_string());
        let mean = self.latency.sum_ms.checked_div(self.requests).map_or("null".to_string(), |m| m.to_string());
        out.push_str(&format!(
            "\"requests\":{},\"errors\":{},\"limited\":{},\"cache_hits\":{},\"p50_ms\":{},\"p95_ms\":{},\"mean_ms\":{},\"tokens_in\":{},\"tokens_out\":{},\"cost_usd\":{},\"costed\":{}",
            self.requests, self.errors, self.limited, self.cache_hits, q(0.5), q(0.95), mean, self.tokens_in, self.tokens_out, usd(self.cost_nano), self.costed
        ));
    }
}

fn group(series: &[Series], by: fn(&Labels) -> &str, names: &[String]) -> Vec<Group> {
    let mut groups: Vec<Group> = crate::seq::map(names, |_, n| Group { name: n.clone(), ..Group::default() });
    for s in series {
        let name = by(&s.labels);
        match groups.iter_mut().find(|g| g.name == name) {
            Some(g) => g.add(s),
            None => {
                let mut g = Group { name: name.to_string(), ..Group::default() };
                g.add(s);
                groups.push(g);
            }
        }
    }
    // In first-seen order: the dashboard sorts (no sort code in the Worker).
    groups
}

/// `text` as a JSON string.
fn quoted(out: &mut String, text: &str) {
    crate::json_out::quote(out, text);
}

fn field_str(out: &mut String, name: &str, value: &str) {
    out.push('"');
    out.push_str(name);
    out.push_str("\":");
    quoted(out, value);
}

fn list(out: &mut String, items: impl Iterator<Item = u64>) {
    out.push('[');
    for (i, n) in items.enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&n.to_string());
    }
    out.push(']');
}

/// The JSON document. `keys`: the configured gateway key names (listed
/// even without traffic); `budgets`: what the budget objects said.
pub fn json(c: &Counters, now_ms: u64, keys: &[String], budgets: &[Budget]) -> String {
    let mut out = String::with_capacity(4096 + c.series.len() * 256);
    let mut total = Group { name: "all".into(), ..Group::default() };
    c.series.iter().for_each(|s| total.add(s));
    let last = now_ms / SLOT_MS;
    let first = (last + 1).saturating_sub(SLOTS);
    let slot = |i: u64| c.slots.iter().find(|s| s.slot == i).copied().unwrap_or_default();
    let last_minute: u64 = (last.saturating_sub(5)..=last).map(|i| slot(i).requests).sum();

    out.push_str(&format!("{{\"version\":1,\"now_ms\":{now_ms},\"since_ms\":{},\"totals\":{{", c.since_ms));
    total.numbers(&mut out);
    out.push_str(&format!(",\"last_minute\":{last_minute}}},\"outcomes\":{{"));
    for (i, o) in Outcome::ALL.iter().enumerate() {
        out.push_str(&format!("{}\"{}\":{}", if i > 0 { "," } else { "" }, o.as_str(), total.outcomes[i]));
    }
    out.push('}');
    for (name, by, label) in [
        ("routes", (|l: &Labels| l.route.as_str()) as fn(&Labels) -> &str, "route"),
        ("targets", |l: &Labels| l.target.as_str(), "target"),
        ("errors_by_class", |l: &Labels| l.error.as_str(), "error"),
    ] {
        out.push_str(&format!(",\"{name}\":["));
        let mut groups = group(&c.series, by, &[]);
        if label == "target" {
            for t in &c.tries {
                if !groups.iter().any(|g| g.name == t.target) {
                    groups.push(Group { name: t.target.clone(), ..Group::default() });
                }
            }
        }
        for (i, g) in groups.iter().filter(|g| !(label != "route" && g.name.is_empty())).enumerate() {
            if i > 0 {
                out.push(',');
            }
            g.json(&mut out, label);
            if label == "target" {
                // The target's own tries, from every trail it was in.
                let t = c.tries.iter().find(|t| t.target == g.name).cloned().unwrap_or_default();
                out.pop();
                out.push_str(&format!(",\"tries\":{},\"failed_tries\":{},\"skipped\":{}}}", t.tries, t.failed, t.skipped));
            }
        }
        out.push(']');
    }
    out.push_str(",\"keys\":[");
    for (i, g) in group(&c.series, |l| l.key.as_str(), keys).iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        g.json(&mut out, "key");
        out.pop();
        // The budget column: from the budget objects' peek (keys with a budget).
        match budgets.iter().find(|b| b.key == g.name) {
            Some(b) => out.push_str(&format!(
                ",\"budget_usd\":{},\"budget_spent_usd\":{}}}",
                usd(b.limit_nano),
                b.spent_nano.map_or("null".into(), usd)
            )),
            None => out.push_str(",\"budget_usd\":null,\"budget_spent_usd\":null}"),
        }
    }
    out.push_str(&format!("],\"timeline\":{{\"slot_ms\":{SLOT_MS},\"start_ms\":{},\"requests\":", first * SLOT_MS));
    list(&mut out, (first..=last).map(|i| slot(i).requests));
    out.push_str(",\"errors\":");
    list(&mut out, (first..=last).map(|i| slot(i).errors));
    out.push_str(",\"cache_hits\":");
    list(&mut out, (first..=last).map(|i| slot(i).cache_hits));
    out.push_str("},\"latency_bounds_ms\":");
    list(&mut out, BOUNDS_MS.iter().copied());
    out.push_str(",\"series\":[");
    for (i, s) in c.series.iter().enumerate() {
        let l = &s.labels;
        out.push_str(if i > 0 { ",{" } else { "{" });
        for (j, (k, v)) in [("route", &l.route), ("target", &l.target), ("key", &l.key), ("outcome", &l.outcome), ("error", &l.error)].into_iter().enumerate() {
            if j > 0 {
                out.push(',');
            }
            field_str(&mut out, k, v);
        }
        out.push_str(&format!(
            ",\"requests\":{},\"latency_ms_sum\":{},\"tokens_in\":{},\"tokens_out\":{},\"cost_usd\":{},\"costed\":{},\"latency_counts\":",
            s.count, s.latency.sum_ms, s.tokens_in, s.tokens_out, usd(s.cost_nano), s.costed
        ));
        list(&mut out, s.latency.counts.iter().copied());
        out.push('}');
    }
    out.push_str("],\"recent_errors\":[");
    for (i, e) in c.errors.iter().rev().enumerate() {
        out.push_str(if i > 0 { ",{" } else { "{" });
        out.push_str(&format!("\"at_ms\":{},\"status\":{},", e.at_ms, e.status));
        for (k, v) in [("request_id", &e.request_id), ("route", &e.route), ("key", &e.key), ("error", &e.error)] {
            field_str(&mut out, k, v);
            out.push(',');
        }
        out.push_str("\"attempts\":");
        out.push_str(&e.trail);
        out.push('}');
    }
    out.push_str("]}");
    out
}

/// A label value escaped for the Prometheus text format.
fn escape(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

fn labels(out: &mut String, l: &Labels, extra: Option<(&str, &str)>) {
    out.push('{');
    for (i, (k, v)) in [("route", &l.route), ("target", &l.target), ("key", &l.key), ("outcome", &l.outcome), ("error", &l.error)]
        .into_iter()
        .enumerate()
    {
        out.push_str(if i > 0 { "," } else { "" });
        out.push_str(k);
        out.push_str("=\"");
        escape(out, v);
        out.push('"');
    }
    if let Some((k, v)) = extra {
        out.push_str(&format!(",{k}=\"{v}\""));
    }
    out.push('}');
}

/// Milliseconds as seconds (`1500` → `1.5`).
fn seconds(ms: u64) -> String {
    let frac = ms % 1000;
    if frac == 0 {
        return (ms / 1000).to_string();
    }
    format!("{}.{}", ms / 1000, format!("{frac:03}").trim_end_matches('0'))
}

fn help(out: &mut String, name: &str, kind: &str, text: &str) {
    out.push_str(&format!("# HELP {name} {text}\n# TYPE {name} {kind}\n"));
}

/// The Prometheus text exposition format (version 0.0.4).
pub fn prometheus(c: &Counters, budgets: &[Budget]) -> String {
    let mut out = String::with_capacity(1024 + c.series.len() * 2048);
    let name = "switchyard_requests_total";
    help(&mut out, name, "counter", "Requests answered, by route, target, gateway key name, outcome and error class.");
    for s in &c.series {
        out.push_str(name);
        labels(&mut out, &s.labels, None);
        out.push_str(&format!(" {}\n", s.count));
    }
    let name = "switchyard_request_duration_seconds";
    help(&mut out, name, "histogram", "Time until the response (a stream: until its first chunk).");
    for s in &c.series {
        let mut cumulative = 0;
        for (i, n) in s.latency.counts.iter().enumerate() {
            cumulative += n;
            let le = BOUNDS_MS.get(i).map_or("+Inf".to_string(), |b| seconds(*b));
            out.push_str(name);
            out.push_str("_bucket");
            labels(&mut out, &s.labels, Some(("le", &le)));
            out.push_str(&format!(" {cumulative}\n"));
        }
        for (suffix, value) in [("_sum", seconds(s.latency.sum_ms)), ("_count", s.count.to_string())] {
            out.push_str(name);
            out.push_str(suffix);
            labels(&mut out, &s.labels, None);
            out.push_str(&format!(" {value}\n"));
        }
    }
    let name = "switchyard_tokens_total";
    help(&mut out, name, "counter", "Tokens counted in the answers (direction in: prompt, out: completion); 0 when unknown.");
    for s in &c.series {
        for (dir, n) in [("in", s.tokens_in), ("out", s.tokens_out)] {
            out.push_str(name);
            labels(&mut out, &s.labels, Some(("direction", dir)));
            out.push_str(&format!(" {n}\n"));
        }
    }
    let name = "switchyard_cost_usd_total";
    help(&mut out, name, "counter", "Cost in US dollars of the requests whose cost was known.");
    for s in &c.series {
        out.push_str(name);
        labels(&mut out, &s.labels, None);
        out.push_str(&format!(" {}\n", usd(s.cost_nano)));
    }
    if !budgets.is_empty() {
        let name = "switchyard_budget_usd";
        help(&mut out, name, "gauge", "A gateway key's budget in US dollars.");
        for b in budgets {
            out.push_str(name);
            out.push_str("{key=\"");
            escape(&mut out, &b.key);
            out.push_str(&format!("\"}} {}\n", usd(b.limit_nano)));
        }
        let name = "switchyard_budget_spent_usd";
        help(&mut out, name, "gauge", "What a gateway key's budget object counted as spent in its current period, in US dollars.");
        for b in budgets.iter().filter(|b| b.spent_nano.is_some()) {
            out.push_str(name);
            out.push_str("{key=\"");
            escape(&mut out, &b.key);
            out.push_str(&format!("\"}} {}\n", usd(b.spent_nano.unwrap_or(0))));
        }
    }
    let name = "switchyard_target_tries_total";
    help(&mut out, name, "counter", "Calls to each target from every request's trail (result ok, failed; skipped: no call, breaker open or over quota).");
    for t in &c.tries {
        for (result, n) in [("ok", t.tries - t.failed), ("failed", t.failed), ("skipped", t.skipped)] {
            out.push_str(name);
            out.push_str("{target=\"");
            escape(&mut out, &t.target);
            out.push_str(&format!("\",result=\"{result}\"}} {n}\n"));
        }
    }
    let name = "switchyard_recent_errors";
    help(&mut out, name, "gauge", "Errors held in the recent-errors ring (see the JSON form for their trails).");
    out.push_str(&format!("{name} {}\n", c.errors.len()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::record::Record;

    fn sample() -> Counters {
        let mut c = Counters::default();
        let base = Record {
            at_ms: 1_000_000,
            request_id: "req_1".into(),
            route: "smart".into(),
            target: "mock:gpt-4o".into(),
            key: "team\"a\\b".into(),
            status: 200,
            outcome: Some(Outcome::Success),
            latency_ms: 40,
            attempts: 1,
            tokens_in: Some(12),
            tokens_out: Some(7),
            cost_nano: Some(2_500),
            trail: "[]".into(),
            ..Record::default()
        };
        for i in 0..9 {
            c.add(&Record { at_ms: base.at_ms + i, ..base.clone() });
        }
        c.add(&Record {
            status: 502,
            outcome: Some(Outcome::Error),
            error: "upstream_status".into(),
            latency_ms: 900,
            tokens_in: None,
            tokens_out: None,
            cost_nano: None,
            trail: r#"[{"provider":"mock","model":"gpt-4o","key":0,"outcome":"500"}]"#.into(),
            tries: vec![crate::metrics::record::Try { target: "other:m".into(), ok: false, sent: true }],
            ..base.clone()
        });
        c.add(&Record { outcome: Some(Outcome::CacheHit), target: String::new(), latency_ms: 2, cost_nano: None, ..base });
        c
    }

    #[test]
    fn json_is_valid_and_adds_up() {
        let c = sample();
        let text = json(&c, 1_005_000, &["idle".into()], &[]);
        let v: serde_json::Value = serde_json::from_str(&text).expect(&text);
        assert_eq!(v["totals"]["requests"], 11);
        assert_eq!(v["totals"]["errors"], 1);
        assert_eq!(v["totals"]["cache_hits"], 1);
        assert_eq!(v["totals"]["last_minute"], 11);
        assert_eq!(v["totals"]["cost_usd"].as_f64(), Some(0.0000225));
        assert_eq!(v["outcomes"]["success"], 9);
        assert_eq!(v["routes"][0]["route"], "smart");
        assert_eq!(v["keys"][0]["key"], "idle");
        assert_eq!(v["keys"][0]["requests"], 0);
        assert_eq!(v["keys"][1]["key"], "team\"a\\b");
        assert_eq!(v["keys"][1]["requests"], 11);
        assert_eq!(v["keys"][1]["budget_usd"], serde_json::Value::Null);
        assert_eq!(v["errors_by_class"][0]["error"], "upstream_status");
        assert_eq!(v["recent_errors"][0]["attempts"][0]["outcome"], "500");
        assert_eq!(v["timeline"]["requests"].as_array().unwrap().len(), SLOTS as usize);
        assert_eq!(v["timeline"]["requests"].as_array().unwrap().iter().map(|n| n.as_u64().unwrap()).sum::<u64>(), 11);
        let p50 = v["targets"][0]["p50_ms"].as_u64().unwrap();
        assert!((35..=50).contains(&p50), "{p50}");
        let tried = v["targets"].as_array().unwrap().iter().find(|t| t["target"] == "other:m").unwrap();
        assert_eq!((tried["requests"].as_u64(), tried["failed_tries"].as_u64()), (Some(0), Some(1)));
    }

    #[test]
    fn budgets_fill_the_column() {
        let c = sample();
        let b = [Budget { key: "team\"a\\b".into(), limit_nano: 5_000_000_000, spent_nano: Some(1) }];
        let v: serde_json::Value = serde_json::from_str(&json(&c, 1_005_000, &[], &b)).unwrap();
        assert_eq!(v["keys"][0]["budget_usd"], 5);
        assert!(prometheus(&c, &b).contains("switchyard_budget_usd{key=\"team\\\"a\\\\b\"} 5\n"));
        assert!(prometheus(&c, &b).contains("switchyard_budget_spent_usd{key=\"team\\\"a\\\\b\"} 0.000000001\n"));
    }

    #[test]
    fn prometheus_text_is_well_formed() {
        let text = prometheus(&sample(), &[]);
        for name in ["switchyard_requests_total", "switchyard_request_duration_seconds", "switchyard_tokens_total", "switchyard_cost_usd_total"] {
            assert!(text.contains(&format!("# HELP {name} ")), "{name}");
            assert!(text.contains(&format!("# TYPE {name} ")), "{name}");
        }
        assert!(text.contains(r#"switchyard_requests_total{route="smart",target="mock:gpt-4o",key="team\"a\\b",outcome="success",error=""} 9"#), "{text}");
        assert!(text.contains(r#"outcome="success",error="",le="0.05"} 9"#), "{text}");
        assert!(text.contains(r#"outcome="success",error="",le="+Inf"} 9"#));
        assert!(text.contains("switchyard_target_tries_total{target=\"other:m\",result=\"failed\"} 1\n"), "{text}");
        assert!(text.contains(r#"switchyard_request_duration_seconds_sum{route="smart",target="mock:gpt-4o",key="team\"a\\b",outcome="error",error="upstream_status"} 0.9"#));
        // Every sample line: name, labels, one value.
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (_, value) = line.rsplit_once(' ').unwrap();
            assert!(value.parse::<f64>().is_ok(), "{line}");
            assert!(line.starts_with("switchyard_"), "{line}");
        }
        assert_eq!(seconds(1500), "1.5");
        assert_eq!(seconds(1), "0.001");
        assert_eq!(seconds(60_000), "60");
    }
}
