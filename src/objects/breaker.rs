//! `CircuitBreaker`: one Durable Object per target (`provider:model`), the
//! glue around [`crate::breaker::object::Target`]: the breaker and the
//! in-flight and latency counters.
//!
//! The state is written back when the breaker's phase changes, and
//! otherwise at most once a second (the counters a restart may lose are
//! that second's).
//!
//! The one object named [`directory::NAME`] is the directory of targets
//! instead ([`crate::breaker::directory`]): its messages come on
//! [`directory::PATH`], its state is stored under its own key.

use super::{answer, decode, load, load_at, message, now_ms, store, store_at, stored, test_clock};
use crate::breaker::directory::{self, Directory};
use crate::breaker::object::{Message, Op, Target};
use std::cell::{Cell, RefCell};
use worker::{durable_object, DurableObject, Env, Request, Response, Result, State};

/// The longest the stored counters lag behind the live ones.
const STORE_EVERY_MS: u64 = 1_000;

// `fetch` only: the other handlers (alarm, WebSockets, connect) are not used,
// and each exported one costs the Worker its own promise glue.
#[durable_object(fetch)]
pub struct CircuitBreaker {
    state: State,
    test_clock: bool,
    target: RefCell<Option<Target>>,
    stored_at: Cell<u64>,
    /// Only in the directory object.
    directory: RefCell<Option<Directory>>,
}

/// The directory's storage key.
const DIRECTORY_KEY: &str = "directory";

impl DurableObject for CircuitBreaker {
    fn new(state: State, env: Env) -> Self {
        CircuitBreaker {
            state,
            test_clock: test_clock(&env),
            target: RefCell::new(None),
            stored_at: Cell::new(0),
            directory: RefCell::new(None),
        }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        if req.path() == directory::PATH {
            return self.directory(&req).await;
        }
        let msg = decode(message(&req).await?, Message::read)?;
        if self.target.borrow().is_none() {
            let stored = stored(load(&self.state).await, Target::read).unwrap_or_else(Target::new);
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

impl CircuitBreaker {
    /// A message to the directory of targets.
    async fn directory(&self, req: &Request) -> Result<Response> {
        let msg = decode(message(req).await?, directory::Names::read)?;
        if self.directory.borrow().is_none() {
            let stored = stored(load_at(&self.state, DIRECTORY_KEY).await, Directory::read).unwrap_or_default();
            self.directory.borrow_mut().get_or_insert(stored);
        }
        let listing = {
            let mut slot = self.directory.borrow_mut();
            let dir = slot.get_or_insert_with(Directory::default);
            let (listing, changed) = dir.handle(&msg);
            if changed {
                store_at(&self.state, DIRECTORY_KEY, dir);
            }
            listing
        };
        answer(&listing)
    }
}
