//! Spend budgets of gateway keys: a limit in µUSD per UTC day or calendar
//! month, kept exactly by one Durable Object per key (class `Budget`,
//! binding `BUDGET`, object name [`object_name`]).
//!
//! A request on a key with a budget *reserves* its cost estimate
//! ([`crate::usage::estimate`] at the first target's prices) before any
//! upstream call and *settles* the real cost after the answer (for a
//! stream, once it ended). The object admits a reservation while the spent
//! and reserved amounts together are below the limit, one message at a
//! time, so concurrent requests can overspend the limit by at most one
//! request's estimate (see [`ledger`]). A refusal is a 429
//! `insufficient_quota`.
//!
//! The API the dashboard and status read: [`ledger::Message::Peek`] →
//! [`ledger::Standing`] (limit, period, spent, reserved, when it resets).

pub mod ledger;

use crate::calendar::{civil_from_days, days_from_civil};
use serde::Serialize;

/// The Worker binding of the budget objects.
pub const BINDING: &str = "BUDGET";

/// The object that keeps the budget of the gateway key named `key_name`.
pub fn object_name(key_name: &str) -> String {
    format!("budget:{key_name}")
}

/// How long a budget's spend accumulates before it starts again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    /// A UTC day.
    Day,
    /// A UTC calendar month.
    Month,
}

impl Period {
    pub fn name(self) -> &'static str {
        match self {
            Period::Day => "day",
            Period::Month => "month",
        }
    }

    /// The first and the last-plus-one millisecond of the period holding `now_ms`.
    pub fn bounds(self, now_ms: u64) -> (u64, u64) {
        const DAY: u64 = 86_400_000;
        let day = now_ms / DAY;
        match self {
            Period::Day => (day * DAY, (day + 1) * DAY),
            Period::Month => {
                let (y, m, _) = civil_from_days(day as i64);
                let start = days_from_civil(y, m, 1);
                let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
                let end = days_from_civil(ny, nm, 1);
                (start as u64 * DAY, end as u64 * DAY)
            }
        }
    }
}

/// A spend limit: `limit_micros` µUSD per `period` (JSON
/// `{"limit_micros":…,"period":"day"|"month"}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Budget {
    pub limit_micros: u64,
    pub period: Period,
}

impl Budget {
    /// Parses `10usd/day`, `$2.50/month`, `10/day` (USD, at most six decimals).
    pub fn parse(text: &str) -> Result<Budget, String> {
        let bad = || format!("a budget is an amount of USD per day or month, like `10usd/day` or `$250/month`, not `{text}`");
        let (amount, period) = text.trim().split_once('/').ok_or_else(bad)?;
        let period = match period.trim() {
            "day" | "d" => Period::Day,
            "month" | "mo" => Period::Month,
            _ => return Err(bad()),
        };
        let amount = amount.trim();
        let amount = amount.strip_prefix('$').unwrap_or(amount);
        let amount = amount.strip_suffix("usd").or_else(|| amount.strip_suffix("USD")).unwrap_or(amount).trim();
        let limit_micros = micros(amount).ok_or_else(bad)?;
        Ok(Budget { limit_micros, period })
    }

    /// `10usd/day`, as [`Budget::parse`] reads it.
    pub fn describe(&self) -> String {
        let usd = crate::usage::usd(self.limit_micros);
        let usd = usd.trim_end_matches('0').trim_end_matches('.');
        format!("{usd}usd/{}", self.period.name())
    }
}

/// A decimal USD amount in µUSD, exactly (`2.5` → 2,500,000).
fn micros(amount: &str) -> Option<u64> {
    let (whole, fraction) = amount.split_once('.').unwrap_or((amount, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() && fraction.is_empty() || !digits(whole) || !digits(fraction) || fraction.len() > 6 {
        return None;
    }
    let whole: u64 = if whole.is_empty() { 0 } else { whole.parse().ok()? };
    let fraction: u64 = if fraction.is_empty() { 0 } else { format!("{fraction:0<6}").parse().ok()? };
    whole.checked_mul(1_000_000)?.checked_add(fraction)
}

#[cfg(test)]
mod tests;
