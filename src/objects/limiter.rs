//! `RateLimiter`: one Durable Object per limit key (`route:r|key:ci`,
//! `provider:openai|key:OPENAI_KEY_1`, …), the glue around
//! [`crate::limits::object::Limiter`]. Every message that may change a
//! bucket is written back, so the count is exact across instances and
//! survives an eviction.

use super::{answer, decode, load, message, now_ms, store, stored, test_clock};
use crate::limits::object::{Limiter, Message};
use std::cell::RefCell;
use worker::{durable_object, DurableObject, Env, Request, Response, Result, State};

// `fetch` only: the other handlers (alarm, WebSockets, connect) are not used,
// and each exported one costs the Worker its own promise glue.
#[durable_object(fetch)]
pub struct RateLimiter {
    state: State,
    test_clock: bool,
    /// `None` until the first message has read the stored state.
    limiter: RefCell<Option<Limiter>>,
}

impl DurableObject for RateLimiter {
    fn new(state: State, env: Env) -> Self {
        RateLimiter { state, test_clock: test_clock(&env), limiter: RefCell::new(None) }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        let msg = decode(message(&req).await?, Message::read)?;
        if self.limiter.borrow().is_none() {
            let stored = stored(load(&self.state).await, Limiter::read).unwrap_or_else(Limiter::new);
            // No borrow is held across the await; keep what another message loaded meanwhile.
            self.limiter.borrow_mut().get_or_insert(stored);
        }
        let now = now_ms(&req, self.test_clock);
        let verdict = {
            let mut slot = self.limiter.borrow_mut();
            let limiter = slot.get_or_insert_with(Limiter::new);
            let verdict = limiter.handle(&msg, now);
            if msg != Message::Peek {
                store(&self.state, limiter);
            }
            verdict
        };
        answer(&verdict)
    }
}
