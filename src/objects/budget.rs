//! `Budget`: one Durable Object per gateway key with a spend budget
//! (`budget:NAME`), the glue around [`crate::budget::ledger::Ledger`].
//! Every reservation and settlement is written back, so the spend survives
//! an eviction; messages are handled one at a time, which makes the
//! reservations exact under concurrency.

use super::{answer, decode, load, message, now_ms, store, stored, test_clock};
use crate::budget::ledger::{Ledger, Message};
use serde_json::Value;
use std::cell::RefCell;
use worker::{durable_object, DurableObject, Env, Request, Response, Result, State};

// `fetch` only: the other handlers (alarm, WebSockets, connect) are not used,
// and each exported one costs the Worker its own promise glue.
#[durable_object(fetch)]
pub struct Budget {
    state: State,
    test_clock: bool,
    /// `None` until the first message has read the stored state.
    ledger: RefCell<Option<Ledger>>,
}

impl DurableObject for Budget {
    fn new(state: State, env: Env) -> Self {
        Budget { state, test_clock: test_clock(&env), ledger: RefCell::new(None) }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        let msg = decode(message(&req).await?, read_message)?;
        if self.ledger.borrow().is_none() {
            let stored = stored(load(&self.state).await, read_ledger).unwrap_or_default();
            // No borrow is held across the await; keep what another message loaded meanwhile.
            self.ledger.borrow_mut().get_or_insert(stored);
        }
        let now = now_ms(&req, self.test_clock);
        let standing = {
            let mut slot = self.ledger.borrow_mut();
            let ledger = slot.get_or_insert_with(Ledger::new);
            let standing = ledger.handle(&msg, now);
            if msg != Message::Peek {
                store(&self.state, ledger);
            }
            standing
        };
        answer(&standing)
    }
}

/// A message, through the ledger's own reader.
fn read_message(v: &Value) -> crate::wire::Read<Message> {
    Message::from_value(v).ok_or_else(|| "not a budget message".to_string())
}

/// The stored ledger, through its own reader.
fn read_ledger(v: &Value) -> crate::wire::Read<Ledger> {
    Ledger::from_value(v).ok_or_else(|| "not a stored ledger".to_string())
}
