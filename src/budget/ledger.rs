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

use super::{Budget, Period};
use serde::{Deserialize, Serialize};

/// What the stored state looks like; bumped if it ever changes shape.
pub const STATE_VERSION: u32 = 1;
/// How long a reservation waits for its settlement.
pub const RESERVATION_TTL_MS: u64 = 30 * 60 * 1000;
/// Most reservations kept (the oldest are dropped beyond it).
pub const MAX_RESERVATIONS: usize = 10_000;

/// A message to a budget object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Reservation {
    id: String,
    micros: u64,
    at_ms: u64,
}

/// One key's ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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

    /// Whether a stored ledger is one this build reads.
    pub fn readable(&self) -> bool {
        self.v == STATE_VERSION
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
