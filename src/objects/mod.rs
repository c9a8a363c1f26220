//! The Durable Objects: the only code besides `crate::edge` that imports
//! `worker`. Each object is thin glue around plain state that is tested on
//! the host: [`limiter::RateLimiter`] around [`crate::limits::object`],
//! [`breaker::CircuitBreaker`] around [`crate::breaker::object`],
//! [`metrics::Metrics`] around [`crate::metrics::counters`],
//! [`budget::Budget`] around [`crate::budget::ledger`].
//!
//! Every object keeps its state in memory (the truth while it lives) and
//! writes it to `state.storage()` (key `state`, JSON with a version) so a
//! new instance after an eviction or a restart continues where the last one
//! stopped. Writes are not awaited and are made with `allowUnconfirmed`:
//! the answer does not wait for the write to be durable. The output gate
//! would otherwise hold every answer of the object (leases included) for
//! each write's flush, which measured as half the gateway's throughput on
//! a busy key (bench/README.md); the cost is that a write lost in a crash
//! loses the last takes, which the in-memory state already answered. No
//! borrow of the state is held across an await. Messages are JSON in a
//! POST body; the answer is JSON.
//!
//! The clock is `Date.now()`. Only when the object's environment has
//! `SWITCHYARD_TEST_CLOCK=1` does it add the offset a test sends in
//! [`CLOCK_HEADER`], so tests can move time forward without sleeping.

pub mod breaker;
pub mod budget;
pub mod limiter;
pub mod metrics;

use crate::config::var;
use crate::wire::Read;
use crate::json_out::ToJson;
use serde_json::Value;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use worker::{Env, Request, Response, Result, State};

/// Milliseconds a test moves the objects' clock forward (honoured only
/// with `SWITCHYARD_TEST_CLOCK=1` bound for the object too).
pub const CLOCK_HEADER: &str = "x-switchyard-clock-offset-ms";
/// The storage key of an object's state.
const STATE_KEY: &str = "state";

/// Whether this environment lets tests move the clock.
fn test_clock(env: &Env) -> bool {
    env.var(var::TEST_CLOCK).is_ok_and(|v| v.to_string() == "1")
}

/// The object's clock for this message.
fn now_ms(req: &Request, test_clock: bool) -> u64 {
    let now = js_sys::Date::now() as u64;
    if !test_clock {
        return now;
    }
    let offset: i64 = req.headers().get(CLOCK_HEADER).ok().flatten().and_then(|v| v.parse().ok()).unwrap_or(0);
    now.saturating_add_signed(offset)
}

/// The message in the request body (one promise, no stream reading in Rust),
/// parsed; read it with [`decode`]. (Not generic: one copy of the awaiting
/// code for every object.)
async fn message(req: &Request) -> Result<Value> {
    let text = JsFuture::from(req.inner().text()?).await?;
    let text = text.as_string().unwrap_or_default();
    crate::wire::parse(text.as_bytes()).map_err(bad_message)
}

/// A message read with `read`.
fn decode<T>(message: Value, read: fn(&Value) -> Read<T>) -> Result<T> {
    read(&message).map_err(bad_message)
}

fn bad_message(e: String) -> worker::Error {
    worker::Error::RustError(format!("bad message: {e}"))
}

/// The state stored by an earlier instance, if any (and readable), parsed.
async fn load(state: &State) -> Option<Value> {
    load_at(state, STATE_KEY).await
}

/// The same, under another storage key.
async fn load_at(state: &State, key: &str) -> Option<Value> {
    // The runtime's `get` itself (the `worker` crate's would convert the
    // value through serde_wasm_bindgen).
    let storage = state.storage();
    let raw: &JsValue = storage.as_raw();
    let get = js_sys::Reflect::get(raw, &JsValue::from_str("get")).ok()?.dyn_into::<js_sys::Function>().ok()?;
    let promise: js_sys::Promise = get.call1(raw, &JsValue::from_str(key)).ok()?.dyn_into().ok()?;
    let text = JsFuture::from(promise).await.ok()?.as_string()?;
    crate::wire::parse(text.as_bytes()).ok()
}

/// Stored state read with `read` (`None` when absent or unreadable).
fn stored<T>(value: Option<Value>, read: fn(&Value) -> Read<T>) -> Option<T> {
    read(&value?).ok()
}

/// Writes the state, `allowUnconfirmed`: the answer does not wait for the
/// write to be durable (see the module doc).
fn store<T: ToJson>(state: &State, value: &T) {
    store_text(state, STATE_KEY, value.to_json())
}

/// The same, under another storage key.
fn store_at<T: ToJson>(state: &State, key: &str, value: &T) {
    store_text(state, key, value.to_json())
}

/// The writing itself, once for every state type.
fn store_text(state: &State, key: &str, text: String) {
    let storage = state.storage();
    let raw: &JsValue = storage.as_raw();
    let put = js_sys::Reflect::get(raw, &JsValue::from_str("put")).ok().and_then(|f| f.dyn_into::<js_sys::Function>().ok());
    let options = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&options, &JsValue::from_str("allowUnconfirmed"), &JsValue::TRUE);
    let called = put.map(|put| put.call3(raw, &JsValue::from_str(key), &JsValue::from_str(&text), &options));
    if let Some(Ok(promise)) = called {
        let promise: js_sys::Promise = promise.unchecked_into();
        crate::edge::spawn(Box::pin(async move {
            if let Err(e) = JsFuture::from(promise).await {
                worker::console_error!("{{\"event\":\"object_store_failed\",\"error\":{:?}}}", format!("{e:?}"));
            }
        }));
    }
}

fn answer<T: ToJson>(value: &T) -> Result<Response> {
    answer_text(value.to_json())
}

/// The answer itself, once for every answer type.
fn answer_text(text: String) -> Result<Response> {
    let headers = worker::Headers::new();
    headers.set("content-type", "application/json")?;
    Ok(Response::from_bytes(text.into_bytes())?.with_headers(headers))
}
