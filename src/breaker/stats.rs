//! In-flight and latency counters of one target, kept in its object.
//!
//! **In flight** is counted by each isolate for its own tries (a try is in
//! flight from the moment it is sent until its answer, or a stream's first
//! chunk, is in) and reported with every message the isolate sends to the
//! object; the object adds up the latest report of each isolate, leaving
//! out isolates silent for [`FRESH_MS`] (gone, or idle). So the total is
//! exact up to the reports in transit, and never stuck high when an
//! isolate disappears.
//!
//! **Latency** is an exponentially weighted moving average of successful
//! tries' durations (α = 0.2 per try), fed one try at a time or as a batch.

use serde::Deserialize;
use crate::wire::{self, fields, Read};
use serde_json::Value;

/// How long an isolate's in-flight report counts.
pub const FRESH_MS: u64 = 30_000;
/// The most isolates remembered (the oldest report is dropped first).
pub const MAX_ISOLATES: usize = 256;
/// Weight of one new sample in the moving average.
pub const ALPHA: f64 = 0.2;

/// One isolate's last report.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
struct Report {
    isolate: u64,
    in_flight: u32,
    at_ms: u64,
}

/// The counters of one target.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
pub struct Load {
    reports: Vec<Report>,
    /// `None` until the first successful try.
    pub latency_ms: Option<f64>,
    /// Successful tries measured.
    pub samples: u64,
}

impl Load {
    /// Isolate `isolate` has `in_flight` tries out on this target now.
    pub fn report_in_flight(&mut self, isolate: u64, in_flight: u32, now_ms: u64) {
        self.reports.retain(|r| now_ms.saturating_sub(r.at_ms) < FRESH_MS);
        match self.reports.iter_mut().find(|r| r.isolate == isolate) {
            Some(r) => {
                r.in_flight = in_flight;
                r.at_ms = now_ms;
            }
            None => {
                if self.reports.len() >= MAX_ISOLATES {
                    if let Some(oldest) = self.reports.iter().enumerate().min_by_key(|(_, r)| r.at_ms).map(|(i, _)| i) {
                        self.reports.swap_remove(oldest);
                    }
                }
                self.reports.push(Report { isolate, in_flight, at_ms: now_ms });
            }
        }
    }

    /// Tries in flight over all isolates heard from lately.
    pub fn in_flight(&self, now_ms: u64) -> u32 {
        self.reports
            .iter()
            .filter(|r| now_ms.saturating_sub(r.at_ms) < FRESH_MS)
            .map(|r| r.in_flight)
            .sum()
    }

    /// `n` successful tries that took `sum_ms` together.
    pub fn add_latency(&mut self, n: u32, sum_ms: u64) {
        if n == 0 {
            return;
        }
        let mean = sum_ms as f64 / n as f64;
        self.latency_ms = Some(match self.latency_ms {
            None => mean,
            // n samples of the mean at once: 1 - (1 - α)^n of the way there.
            Some(old) => old + (1.0 - (1.0 - ALPHA).powi(n.min(1_000) as i32)) * (mean - old),
        });
        self.samples += n as u64;
    }
}

impl Load {
    /// Appends the counters (the derived `Serialize`'s text).
    pub fn write(&self, out: &mut String) {
        use crate::json_out::{array, float, key, uint};
        out.push('{');
        key(out, "reports", true);
        array(out, &self.reports, |out, r| {
            out.push('{');
            key(out, "isolate", true);
            uint(out, r.isolate);
            key(out, "in_flight", false);
            uint(out, r.in_flight.into());
            key(out, "at_ms", false);
            uint(out, r.at_ms);
            out.push('}');
        });
        key(out, "latency_ms", false);
        float(out, self.latency_ms);
        key(out, "samples", false);
        uint(out, self.samples);
        out.push('}');
    }

    /// Reads stored counters (what the derived `Deserialize` accepts).
    pub fn read(v: &Value, _: &str) -> Read<Load> {
        let f = fields(v, "Load", &["reports", "latency_ms", "samples"])?;
        Ok(Load {
            reports: f.get(0, |v, w| wire::vec(v, w, report))?,
            latency_ms: f.get_opt(1, wire::f64)?,
            samples: f.get(2, wire::u64)?,
        })
    }
}

fn report(v: &Value, _: &str) -> Read<Report> {
    let f = fields(v, "Report", &["isolate", "in_flight", "at_ms"])?;
    Ok(Report { isolate: f.get(0, wire::u64)?, in_flight: f.get(1, wire::u32)?, at_ms: f.get(2, wire::u64)? })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_flight_adds_up_isolates_and_forgets_silent_ones() {
        let mut l = Load::default();
        l.report_in_flight(1, 3, 0);
        l.report_in_flight(2, 2, 1_000);
        l.report_in_flight(1, 1, 2_000);
        assert_eq!(l.in_flight(2_000), 3);
        assert_eq!(l.in_flight(30_999), 3);
        assert_eq!(l.in_flight(31_000), 1, "isolate 2 was last heard 30 s ago");
        assert_eq!(l.in_flight(32_000), 0);
    }

    #[test]
    fn the_isolate_list_is_bounded() {
        let mut l = Load::default();
        for i in 0..(MAX_ISOLATES as u64 + 10) {
            l.report_in_flight(i, 1, i);
        }
        assert_eq!(l.in_flight(MAX_ISOLATES as u64 + 10), MAX_ISOLATES as u32);
    }

    #[test]
    fn latency_is_a_moving_average() {
        let mut l = Load::default();
        l.add_latency(1, 100);
        assert_eq!(l.latency_ms, Some(100.0));
        l.add_latency(1, 200);
        assert_eq!(l.latency_ms, Some(120.0));
        // A batch of two at 200 weighs like two single samples.
        let mut a = l.clone();
        a.add_latency(2, 400);
        let mut b = l.clone();
        b.add_latency(1, 200);
        b.add_latency(1, 200);
        assert!((a.latency_ms.unwrap() - b.latency_ms.unwrap()).abs() < 1e-9);
        assert_eq!(a.samples, 4);
    }
}
