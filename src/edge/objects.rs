//! Calls to the Durable Objects (`crate::objects`): one POST with a JSON
//! message, one JSON answer, bounded by `OBJECT_TIMEOUT_MS`.
//!
//! Goes through the runtime's own `fetch` on the stub and reads the answer
//! with one `text()` promise (the `worker` crate's response helpers would
//! read it chunk by chunk through Rust futures). An object that does not
//! answer in time, or answers with an error, is an `Err` with a reason:
//! the callers fail open and log it.

use crate::objects::CLOCK_HEADER;
use futures::future::{select, Either};
use crate::wire::Read;
use serde::Serialize;
use serde_json::Value;
use std::pin::pin;
use std::time::Duration;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use worker::{Delay, Env};

/// An object's answer, read by hand (no derived reader per answer type).
pub trait Answer: Sized {
    fn read(v: &Value) -> Read<Self>;
}

/// An answer read later by its caller (the budget object's).
impl Answer for Value {
    fn read(v: &Value) -> Read<Self> {
        Ok(v.clone())
    }
}

impl Answer for crate::limits::object::Verdict {
    fn read(v: &Value) -> Read<Self> {
        Self::read(v)
    }
}

impl Answer for crate::breaker::object::Snapshot {
    fn read(v: &Value) -> Read<Self> {
        Self::read(v)
    }
}

/// Sends `message` to the object `name` of `binding` and reads its answer.
/// `offset_ms` moves the object's clock (tests only; 0 otherwise).
pub async fn call<M: Serialize, A: Answer>(
    env: &Env,
    binding: &str,
    name: &str,
    message: &M,
    timeout_ms: u64,
    offset_ms: i64,
) -> Result<A, String> {
    let body = serde_json::to_string(message).map_err(|e| e.to_string())?;
    let text = send(env, binding, name, body, timeout_ms, offset_ms).await?;
    let answer = crate::wire::parse(text.as_bytes()).map_err(|e| format!("unreadable answer: {e}"))?;
    A::read(&answer).map_err(|e| format!("unreadable answer: {e}"))
}

/// The same with a text message and a text answer.
pub async fn call_text(
    env: &Env,
    binding: &str,
    name: &str,
    body: String,
    timeout_ms: u64,
    offset_ms: i64,
) -> Result<String, String> {
    send(env, binding, name, body, timeout_ms, offset_ms).await
}

/// The exchange under its timeout, one copy for every message and answer type.
async fn send(env: &Env, binding: &str, name: &str, body: String, timeout_ms: u64, offset_ms: i64) -> Result<String, String> {
    let exchange = pin!(exchange(env, binding, name, body, offset_ms));
    let timer = pin!(Delay::from(Duration::from_millis(timeout_ms)));
    match select(exchange, timer).await {
        Either::Left((answer, _)) => answer,
        Either::Right(((), _)) => Err(format!("no answer within {timeout_ms} ms")),
    }
}

async fn exchange(env: &Env, binding: &str, name: &str, body: String, offset_ms: i64) -> Result<String, String> {
    let js = |e: JsValue| super::proxy::describe(&e);
    let namespace = env.durable_object(binding).map_err(|e| format!("binding {binding}: {e}"))?;
    let stub: worker::worker_sys::DurableObject = namespace.get_by_name(name).map_err(|e| e.to_string())?.into_rpc();
    let headers = web_sys::Headers::new().map_err(js)?;
    headers.set("content-type", "application/json").map_err(js)?;
    if offset_ms != 0 {
        headers.set(CLOCK_HEADER, &offset_ms.to_string()).map_err(js)?;
    }
    let init = web_sys::RequestInit::new();
    init.set_method("POST");
    init.set_headers(&headers);
    init.set_body(&JsValue::from_str(&body));
    let request = web_sys::Request::new_with_str_and_init("https://object.switchyard/", &init).map_err(js)?;
    let promise = stub.fetch_with_request(&request).map_err(js)?;
    let response: web_sys::Response = JsFuture::from(promise).await.map_err(js)?.dyn_into().map_err(js)?;
    let text = JsFuture::from(response.text().map_err(js)?).await.map_err(js)?.as_string().unwrap_or_default();
    if !response.ok() {
        return Err(format!("status {}: {}", response.status(), text.chars().take(200).collect::<String>()));
    }
    Ok(text)
}

/// Whether `binding` is bound.
pub fn bound(env: &Env, binding: &str) -> bool {
    env.durable_object(binding).is_ok()
}
