//! `CircuitBreaker`: one Durable Object per target (`provider:model`), the
//! glue around [`crate::breaker::object::Target`]: the breaker and the
//! in-flight and latency counters.
//!
//! The state is written back when the breaker's phase changes, and
//! otherwise at most once a second (the counters a restart may lose are
//! that second's).

use super::{answer, load, message, now_ms, store, test_clock};
use crate::breaker::object::{Message, Op, Target};
use std::cell::{Cell, RefCell};
use worker::{durable_object, DurableObject, Env, Request, Response, Result, State};

/// The longest the stored counters lag behind the live ones.
const STORE_EVERY_MS: u64 = 1_000;

#[durable_object]
pub struct CircuitBreaker {
    state: State,
    test_clock: bool,
    target: RefCell<Option<Target>>,
    stored_at: Cell<u64>,
}

impl DurableObject for CircuitBreaker {
    fn new(state: State, env: Env) -> Self {
        CircuitBreaker { state, test_clock: test_clock(&env), target: RefCell::new(None), stored_at: Cell::new(0) }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        let msg = message(&req, Message::read).await?;
        if self.target.borrow().is_none() {
            let stored = load(&self.state, Target::read).await.unwrap_or_else(Target::new);
            self.target.borrow_mut().get_or_insert(stored);
        }
        let now = now_ms(&req, self.test_clock);
        let snapshot = {
            let mut slot = self.target.borrow_mut();
            let target = slot.get_or_insert_with(Target::new);
            let before = (target.breaker.phase.clone(), target.breaker.trips);
            let snapshot = target.handle(&msg, now);
            let changed = before != (target.breaker.phase.clone(), target.breaker.trips);
            let due = now.saturating_sub(self.stored_at.get()) >= STORE_EVERY_MS;
            if changed || (due && msg.op != Op::Peek) {
                store(&self.state, target);
                self.stored_at.set(now);
            }
            snapshot
        };
        answer(&snapshot)
    }
}
