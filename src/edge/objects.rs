//! Calls to the Durable Objects (`crate::objects`): one POST with a JSON
//! message, one JSON answer, bounded by `OBJECT_TIMEOUT_MS`.
//!
//! Goes through the runtime's own `fetch(url, init)` on the stub (no
//! `Request` object, no `worker` wrappers) and reads the answer with one
//! `text()` promise (the `worker` crate's response helpers would
//! read it chunk by chunk through Rust futures). An object that does not
//! answer in time, or answers with an error, is an `Err` with a reason:
//! the callers fail open and log it.

use crate::objects::CLOCK_HEADER;
use crate::wire::Read;
use futures::future::{select, Either};
use crate::json_out::ToJson;
use serde_json::Value;
use wasm_bindgen::prelude::wasm_bindgen;
use std::future::Future;
use std::pin::pin;
use std::time::Duration;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use worker::{Delay, Env};

/// An object's answer, read by hand (no derived reader per answer type).
pub trait Answer: Sized {
    fn read(v: &Value) -> Read<Self>;
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

impl Answer for crate::breaker::directory::Listing {
    fn read(v: &Value) -> Read<Self> {
        Self::read(v)
    }
}

#[wasm_bindgen]
extern "C" {
    /// A Durable Object namespace binding, as the runtime gives it.
    pub(crate) type Namespace;
    #[wasm_bindgen(method, catch, js_name = idFromName)]
    pub(crate) fn id_from_name(this: &Namespace, name: &str) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(method, catch)]
    pub(crate) fn get(this: &Namespace, id: &JsValue) -> Result<Stub, JsValue>;

    /// A stub of one object.
    #[derive(Clone)]
    pub(crate) type Stub;
    #[wasm_bindgen(method, catch)]
    pub(crate) fn fetch(this: &Stub, url: &str, init: &web_sys::RequestInit) -> Result<js_sys::Promise, JsValue>;
}

/// The stub of the object `name` of the namespace bound as `binding`.
pub(crate) fn stub(env: &Env, binding: &str, name: &str) -> Result<Stub, String> {
    let js = |e: JsValue| super::proxy::describe(&e);
    let namespace = super::binding::<Namespace>(env, binding).ok_or_else(|| format!("binding {binding} is not set"))?;
    let id = namespace.id_from_name(name).map_err(js)?;
    namespace.get(&id).map_err(js)
}

/// Where an object's messages are posted (its own name is in the stub).
const URL: &str = "https://object.switchyard/";

/// Sends `message` to the object `name` of `binding` and reads its answer.
/// `offset_ms` moves the object's clock (tests only; 0 otherwise).
pub fn call<'a, M: ToJson, A: Answer>(
    env: &'a Env,
    binding: &'a str,
    name: &'a str,
    message: &M,
    timeout_ms: u64,
    offset_ms: i64,
) -> impl Future<Output = Result<A, String>> + 'a {
    call_at(env, binding, name, "", message, timeout_ms, offset_ms)
}

/// The same on a path of the object (`/directory`; empty: `/`). The
/// message is written at once; the exchange and the parsing are one
/// non-generic future ([`ask`]), only the typed read is per answer type.
pub fn call_at<'a, M: ToJson, A: Answer>(
    env: &'a Env,
    binding: &'a str,
    name: &'a str,
    path: &'a str,
    message: &M,
    timeout_ms: u64,
    offset_ms: i64,
) -> impl Future<Output = Result<A, String>> + 'a {
    let asked = ask(env, binding, name, path, message.to_json(), timeout_ms, offset_ms);
    async move { A::read(&asked.await?).map_err(|e| format!("unreadable answer: {e}")) }
}

/// The exchange and its answer parsed (the budget object's caller reads
/// it itself).
pub async fn ask(env: &Env, binding: &str, name: &str, path: &str, body: String, timeout_ms: u64, offset_ms: i64) -> Result<Value, String> {
    let text = send(env, binding, name, path, body, timeout_ms, offset_ms).await?;
    crate::wire::parse(text.as_bytes()).map_err(|e| format!("unreadable answer: {e}"))
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
    send(env, binding, name, "", body, timeout_ms, offset_ms).await
}

/// The exchange under its timeout, one copy for every message and answer type.
async fn send(env: &Env, binding: &str, name: &str, path: &str, body: String, timeout_ms: u64, offset_ms: i64) -> Result<String, String> {
    let exchange = pin!(exchange(env, binding, name, path, body, offset_ms));
    let timer = pin!(Delay::from(Duration::from_millis(timeout_ms)));
    match select(exchange, timer).await {
        Either::Left((answer, _)) => answer,
        Either::Right(((), _)) => Err(format!("no answer within {timeout_ms} ms")),
    }
}

async fn exchange(env: &Env, binding: &str, name: &str, path: &str, body: String, offset_ms: i64) -> Result<String, String> {
    let js = |e: JsValue| super::proxy::describe(&e);
    let stub = stub(env, binding, name)?;
    let init = web_sys::RequestInit::new();
    init.set_method("POST");
    init.set_body(&JsValue::from_str(&body));
    if offset_ms != 0 {
        let headers = web_sys::Headers::new().map_err(js)?;
        headers.set(CLOCK_HEADER, &offset_ms.to_string()).map_err(js)?;
        init.set_headers(&headers);
    }
    let promise = if path.is_empty() {
        stub.fetch(URL, &init)
    } else {
        stub.fetch(&format!("{URL}{}", path.trim_start_matches('/')), &init)
    }
    .map_err(js)?;
    let response: web_sys::Response = JsFuture::from(promise).await.map_err(js)?.dyn_into().map_err(js)?;
    let text = JsFuture::from(response.text().map_err(js)?).await.map_err(js)?.as_string().unwrap_or_default();
    if !response.ok() {
        return Err(format!("status {}: {}", response.status(), text.chars().take(200).collect::<String>()));
    }
    Ok(text)
}

/// Whether `binding` is bound.
pub fn bound(env: &Env, binding: &str) -> bool {
    super::is_bound(env, binding)
}
