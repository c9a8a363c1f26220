//! What one budget object does, as plain data in and out: the Durable
//! Object (`crate::objects::budget`) loads this state, hands it each
//! message with the time, and stores it back.
//!
//! The ledger holds the spend of the current period and the reservations
//! of requests in flight. A reservation is admitted while `spent +
//! reserved < limit`: messages are handled one at a time, so however many
//! requests race, the reservations admitted sum to less than the limit
//! plus the last one's estimate. A settlement replaces a reservation by
//! the real cost. A reservation never settled (its Worker died) is dropped
//! after [`RESERVATION_TTL_MS`]; a settlement without its reservation (it
//! was dropped, or never reached the object) still charges its cost.
//!
//! Messages, answers and the stored state are JSON read by hand over
//! `serde_json::Value` and written by hand (`crate::json_out`, keys sorted
//! as the `json!` values they replaced wrote them; the tests compare the
//! texts): no derived serde code in the Worker.

use super::{Budget, Period};
use crate::json_out::{array, boolean, key, quote, uint, ToJson};
#[cfg(test)]
use serde_json::json;
use serde_json::Value;

/// What the stored state looks like; bumped if it ever changes shape.
pub const STATE_VERSION: u32 = 1;
/// How long a reservation waits for its settlement.
pub const RESERVATION_TTL_MS: u64 = 30 * 60 * 1000;
/// Most reservations kept (the oldest are dropped beyond it).
pub const MAX_RESERVATIONS: usize = 10_000;

/// A message to a budget object: `{"op":"reserve"|"settle"|"peek", …}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// Reserve `micros` for request `id` under `budget` (the key record's,
    /// which may have changed since the last message).
    Reserve { id: String, micros: u64, budget: Budget },
    /// Request `id` is over and cost `micros`.
    Settle { id: String, micros: u64 },
    /// The standing; changes nothing.
    Peek,
}

/// The object's answer: where the budget stands after the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Standing {
    /// For a reservation: whether it was admitted (always true otherwise).
    pub admitted: bool,
    /// µUSD per period; 0 before the first reservation told the object.
    pub limit_micros: u64,
    pub period: Option<Period>,
    /// µUSD spent in the current period (settled).
    pub spent_micros: u64,
    /// µUSD reserved by requests in flight.
    pub reserved_micros: u64,
    /// When the current period ends (ms since the epoch; 0 when unknown).
    pub resets_at_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Reservation {
    id: String,
    micros: u64,
    at_ms: u64,
}

/// One key's ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ledger {
    v: u32,
    budget: Option<Budget>,
    /// Start of the period `spent` belongs to.
    period_start_ms: u64,
    spent: u64,
    reservations: Vec<Reservation>,
}

impl Default for Ledger {
    fn default() -> Self {
        Ledger::new()
    }
}

impl Ledger {
    pub fn new() -> Ledger {
        Ledger { v: STATE_VERSION, budget: None, period_start_ms: 0, spent: 0, reservations: Vec::new() }
    }

    pub fn handle(&mut self, message: &Message, now_ms: u64) -> Standing {
        if let Message::Reserve { budget, .. } = message {
            self.budget = Some(*budget);
        }
        self.roll(now_ms);
        let admitted = match message {
            Message::Reserve { id, micros, budget } => {
                let admitted = self.spent.saturating_add(self.reserved()) < budget.limit_micros;
                if admitted {
                    if self.reservations.len() >= MAX_RESERVATIONS {
                        self.reservations.remove(0);
                    }
                    self.reservations.push(Reservation { id: id.clone(), micros: *micros, at_ms: now_ms });
                }
                admitted
            }
            Message::Settle { id, micros } => {
                self.reservations.retain(|r| r.id != *id);
                self.spent = self.spent.saturating_add(*micros);
                true
            }
            Message::Peek => true,
        };
        self.standing(admitted)
    }

    fn reserved(&self) -> u64 {
        self.reservations.iter().map(|r| r.micros).fold(0, u64::saturating_add)
    }

    /// A new period starts from nothing spent; stale reservations go.
    fn roll(&mut self, now_ms: u64) {
        self.reservations.retain(|r| now_ms.saturating_sub(r.at_ms) < RESERVATION_TTL_MS);
        if let Some(budget) = self.budget {
            let (start, _) = budget.period.bounds(now_ms);
            if start != self.period_start_ms {
                self.period_start_ms = start;
                self.spent = 0;
            }
        }
    }

    fn standing(&self, admitted: bool) -> Standing {
        Standing {
            admitted,
            limit_micros: self.budget.map_or(0, |b| b.limit_micros),
            period: self.budget.map(|b| b.period),
            spent_micros: self.spent,
            reserved_micros: self.reserved(),
            resets_at_ms: self.budget.map_or(0, |b| b.period.bounds(self.period_start_ms).1),
        }
    }
}

fn number(v: &Value, key: &str) -> Option<u64> {
    v.get(key).and_then(Value::as_u64)
}

fn text<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// `{"limit_micros":…,"period":…}`.
fn write_budget(out: &mut String, b: &Budget) {
    out.push_str("{\"limit_micros\":");
    uint(out, b.limit_micros);
    key(out, "period", false);
    quote(out, b.period.name());
    out.push('}');
}

impl ToJson for Message {
    fn write_json(&self, out: &mut String) {
        match self {
            Message::Reserve { id, micros, budget } => {
                out.push_str("{\"budget\":");
                write_budget(out, budget);
                key(out, "id", false);
                quote(out, id);
                key(out, "micros", false);
                uint(out, *micros);
                out.push_str(",\"op\":\"reserve\"}");
            }
            Message::Settle { id, micros } => {
                out.push_str("{\"id\":");
                quote(out, id);
                key(out, "micros", false);
                uint(out, *micros);
                out.push_str(",\"op\":\"settle\"}");
            }
            Message::Peek => out.push_str("{\"op\":\"peek\"}"),
        }
    }
}

impl ToJson for Standing {
    fn write_json(&self, out: &mut String) {
        out.push_str("{\"admitted\":");
        boolean(out, self.admitted);
        key(out, "limit_micros", false);
        uint(out, self.limit_micros);
        key(out, "period", false);
        crate::json_out::text_or_null(out, self.period.map(Period::name));
        key(out, "reserved_micros", false);
        uint(out, self.reserved_micros);
        key(out, "resets_at_ms", false);
        uint(out, self.resets_at_ms);
        key(out, "spent_micros", false);
        uint(out, self.spent_micros);
        out.push('}');
    }
}

/// The stored form (versioned).
impl ToJson for Ledger {
    fn write_json(&self, out: &mut String) {
        out.push_str("{\"budget\":");
        match &self.budget {
            Some(b) => write_budget(out, b),
            None => out.push_str("null"),
        }
        key(out, "period_start_ms", false);
        uint(out, self.period_start_ms);
        key(out, "reservations", false);
        array(out, &self.reservations, |out, r| {
            out.push_str("{\"at_ms\":");
            uint(out, r.at_ms);
            key(out, "id", false);
            quote(out, &r.id);
            key(out, "micros", false);
            uint(out, r.micros);
            out.push('}');
        });
        key(out, "spent", false);
        uint(out, self.spent);
        key(out, "v", false);
        uint(out, self.v.into());
        out.push('}');
    }
}

impl Budget {
    #[cfg(test)]
    pub fn to_value(&self) -> Value {
        json!({"limit_micros": self.limit_micros, "period": self.period.name()})
    }

    pub fn from_value(v: &Value) -> Option<Budget> {
        let period = match text(v, "period")? {
            "day" => Period::Day,
            "month" => Period::Month,
            _ => return None,
        };
        Some(Budget { limit_micros: number(v, "limit_micros")?, period })
    }
}

impl Message {
    #[cfg(test)]
    pub fn to_value(&self) -> Value {
        match self {
            Message::Reserve { id, micros, budget } => {
                json!({"op": "reserve", "id": id, "micros": micros, "budget": budget.to_value()})
            }
            Message::Settle { id, micros } => json!({"op": "settle", "id": id, "micros": micros}),
            Message::Peek => json!({"op": "peek"}),
        }
    }

    pub fn from_value(v: &Value) -> Option<Message> {
        Some(match text(v, "op")? {
            "reserve" => Message::Reserve {
                id: text(v, "id")?.to_string(),
                micros: number(v, "micros")?,
                budget: Budget::from_value(v.get("budget")?)?,
            },
            "settle" => Message::Settle { id: text(v, "id")?.to_string(), micros: number(v, "micros")? },
            "peek" => Message::Peek,
            _ => return None,
        })
    }
}

impl Standing {
    #[cfg(test)]
    pub fn to_value(&self) -> Value {
        json!({
            "admitted": self.admitted,
            "limit_micros": self.limit_micros,
            "period": self.period.map(Period::name),
            "spent_micros": self.spent_micros,
            "reserved_micros": self.reserved_micros,
            "resets_at_ms": self.resets_at_ms,
        })
    }

    pub fn from_value(v: &Value) -> Option<Standing> {
        Some(Standing {
            admitted: v.get("admitted")?.as_bool()?,
            limit_micros: number(v, "limit_micros")?,
            period: match text(v, "period") {
                Some("day") => Some(Period::Day),
                Some("month") => Some(Period::Month),
                _ => None,
            },
            spent_micros: number(v, "spent_micros")?,
            reserved_micros: number(v, "reserved_micros")?,
            resets_at_ms: number(v, "resets_at_ms")?,
        })
    }
}

impl Ledger {
    /// The stored form (versioned), as a value (what [`ToJson`] writes).
    #[cfg(test)]
    pub fn to_value(&self) -> Value {
        let reservations: Vec<Value> =
            crate::seq::map(&self.reservations, |_, r| json!({"id": r.id, "micros": r.micros, "at_ms": r.at_ms}));
        json!({
            "v": self.v,
            "budget": self.budget.map(|b| b.to_value()),
            "period_start_ms": self.period_start_ms,
            "spent": self.spent,
            "reservations": reservations,
        })
    }

    /// A stored ledger, if this build reads its version.
    pub fn from_value(v: &Value) -> Option<Ledger> {
        if number(v, "v")? != u64::from(STATE_VERSION) {
            return None;
        }
        let reservations = crate::seq::keep(v.get("reservations")?.as_array()?, |r| {
            Some(Reservation { id: text(r, "id")?.to_string(), micros: number(r, "micros")?, at_ms: number(r, "at_ms")? })
        });
        Some(Ledger {
            v: STATE_VERSION,
            budget: v.get("budget").and_then(Budget::from_value),
            period_start_ms: number(v, "period_start_ms")?,
            spent: number(v, "spent")?,
            reservations,
        })
    }
}
