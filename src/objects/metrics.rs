//! `Metrics`: the one Durable Object (binding `METRICS`, name `gateway`)
//! holding the gateway's counters, the glue around
//! [`crate::metrics::counters::Counters`].
//!
//! Messages are text: `add\n` followed by an isolate's batch (its
//! [`Counters::encode`] form), merged into the totals; `read`, answered with
//! the totals in the same form. The totals are written to storage (as that
//! text) at most once every [`STORE_EVERY_MS`] (and on the first `read`
//! after a skipped write): an eviction loses at most that much.

use super::store;
use crate::metrics::counters::Counters;
use std::cell::{Cell, RefCell};
use wasm_bindgen_futures::JsFuture;
use worker::{durable_object, DurableObject, Env, Request, Response, Result, State};

/// The longest the stored totals lag behind the live ones.
const STORE_EVERY_MS: u64 = 1_000;

// `fetch` only: the other handlers (alarm, WebSockets, connect) are not used,
// and each exported one costs the Worker its own promise glue.
#[durable_object(fetch)]
pub struct Metrics {
    state: State,
    totals: RefCell<Option<Counters>>,
    stored_at: Cell<u64>,
    dirty: Cell<bool>,
}

impl DurableObject for Metrics {
    fn new(state: State, _env: Env) -> Self {
        Metrics { state, totals: RefCell::new(None), stored_at: Cell::new(0), dirty: Cell::new(false) }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        let text = JsFuture::from(req.inner().text()?).await?.as_string().unwrap_or_default();
        if self.totals.borrow().is_none() {
            let stored: Option<String> = super::load(&self.state).await.and_then(|v| v.as_str().map(str::to_owned));
            let totals = stored.map(|t| Counters::decode(&t)).unwrap_or_default();
            self.totals.borrow_mut().get_or_insert(totals);
        }
        let now = worker::Date::now().as_millis();
        let (op, batch) = text.split_once('\n').unwrap_or((&text, ""));
        let mut slot = self.totals.borrow_mut();
        let totals = slot.get_or_insert_with(Counters::default);
        let answer = match op {
            "add" => {
                totals.merge(Counters::decode(batch));
                self.dirty.set(true);
                String::from("ok")
            }
            "read" => totals.encode(),
            _ => return Response::error("unknown message", 400),
        };
        if self.dirty.get() && now.saturating_sub(self.stored_at.get()) >= STORE_EVERY_MS {
            store(&self.state, &totals.encode());
            self.stored_at.set(now);
            self.dirty.set(false);
        }
        Response::ok(answer)
    }
}
