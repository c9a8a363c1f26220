//! The metrics on the runtime: each request's [`Record`] from its final
//! response, its log line, the isolate's batch and its trips to the
//! `Metrics` object, and `GET /v1/switchyard/metrics`.
//!
//! No request waits for the object: a record goes into this isolate's
//! batch; the batch goes to the object (through `ctx.wait_until`, after the
//! answer) once it holds [`FLUSH_EVERY`] requests, or [`FLUSH_MS`] after
//! its first request, whichever comes first. A batch is taken out of the
//! isolate before it is sent and never sent twice: a failed send loses it
//! (one log line) rather than risk counting it twice. Reading the metrics
//! sends this isolate's batch first; other isolates' batches arrive within
//! [`FLUSH_MS`]. Without the `METRICS` binding nothing is counted (the log
//! lines are still written) and the endpoint answers 500 naming it.
//!
//! Where a Workers Analytics Engine dataset is bound as [`AE_BINDING`],
//! every counted request is also written to it as one data point (no
//! round trip: the runtime batches them), for queries over longer
//! periods with Cloudflare's SQL API; the endpoint and the dashboard
//! still read the object, which a Worker can read without an API token.

use super::{objects, spend};
use crate::budget::{self, ledger::Message};
use crate::config::{RequestLog, Settings};
use crate::engine::trail::Attempt;
use crate::error::{Fault, GatewayError};
use crate::metrics::counters::{Counters, OTHER};
use crate::metrics::log::{self, End, Pending};
use crate::metrics::record::{self, header, Outcome, Record};
use crate::metrics::render::{self, Budget};
use crate::metrics::{AE_BINDING, BINDING, FLUSH_EVERY, FLUSH_MS, OBJECT_NAME};
use crate::usage::Tally;
use std::cell::{Cell, RefCell};
use std::time::Duration;
use wasm_bindgen::{JsCast, JsValue};
use worker::{AnalyticsEngineDataPointBuilder, Context, Delay, Env, Response};

thread_local! {
    // This isolate's requests not yet sent to the object (never borrowed across an await).
    static BATCH: RefCell<Counters> = RefCell::new(Counters::default());
    // Whether a timed send of the batch is waiting.
    static SCHEDULED: Cell<bool> = const { Cell::new(false) };
    // Streams answered and waiting for their end (what writes and counts the record then).
    static PENDING: RefCell<Pending<Waiter>> = RefCell::new(Pending::default());
}

/// What a relayed stream's end is handed to: its record written and
/// counted, then the request let go (`release`: the request is held open
/// until then, or a client that leaves would end it before the relay
/// noticed). One dropped without it (pushed out of [`PENDING`] by newer
/// streams) still writes and counts its record, without the end.
struct Waiter {
    settle: Option<Box<dyn FnOnce(Option<End>)>>,
    release: js_sys::Function,
}

impl Waiter {
    fn call(mut self, end: End) {
        self.settle(Some(end));
    }

    fn settle(&mut self, end: Option<End>) {
        if let Some(settle) = self.settle.take() {
            settle(end);
            let _ = self.release.call0(&JsValue::UNDEFINED);
        }
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        self.settle(None);
    }
}

#[wasm_bindgen::prelude::wasm_bindgen(inline_js = "
export function hold(ctx) {
  let release;
  ctx.waitUntil(new Promise((resolve) => { release = resolve; }));
  return release;
}")]
extern "C" {
    /// Holds the request open (`ctx.waitUntil`) until the function it
    /// returns is called: one JavaScript promise, no task of Rust's.
    fn hold(ctx: &JsValue) -> js_sys::Function;
}

/// What the edge learnt about a request on its way (the rest is read from
/// the response).
#[derive(Debug, Default)]
pub struct Observed {
    /// The gateway key's name.
    pub key: String,
    /// The error's kind, when the answer is an error the gateway made.
    pub error: Option<&'static str>,
    /// The engine's attempt trail.
    pub trail: Vec<Attempt>,
    /// Headers the response still needs (set by [`observe`]).
    pub set: Vec<(&'static str, String)>,
}

/// The record of a finished request, whose response is given its
/// `x-request-id` and the headers `seen.set` first (one call into the runtime).
pub fn observe(response: &web_sys::Response, seen: Observed, request_id: &str, started_ms: u64) -> Record {
    let mut set: Vec<(&str, &str)> = crate::seq::map(&seen.set, |_, (n, v)| (*n, v.as_str()));
    set.push(("x-request-id", request_id));
    let (_, [cache, route, target, attempts, tokens_in, tokens_out, cost, content_type]) = super::read_headers(
        &response.headers(),
        &set,
        [
            header::CACHE,
            header::ROUTE,
            header::TARGET,
            header::ATTEMPTS,
            header::TOKENS_IN,
            header::TOKENS_OUT,
            header::COST_USD,
            "content-type",
        ],
        false,
    );
    let status = response.status();
    let error = match seen.error {
        Some(kind) => kind.to_string(),
        None if status >= 400 => format!("http_{status}"),
        None => String::new(),
    };
    let outcome = Outcome::classify(status, cache.as_deref(), Some(error.as_str()).filter(|e| !e.is_empty()), &seen.trail);
    let stream = status == 200
        && outcome != Outcome::CacheHit
        && content_type.is_some_and(|t| t.starts_with("text/event-stream"));
    Record {
        at_ms: started_ms,
        request_id: request_id.to_string(),
        route: record::label(route.as_deref().unwrap_or_default()),
        target: record::label(target.as_deref().unwrap_or_default()),
        key: record::label(&seen.key),
        status,
        outcome: Some(outcome),
        error,
        latency_ms: super::now_ms().saturating_sub(started_ms),
        attempts: record::count(attempts.as_deref()).unwrap_or(0) as u32,
        tokens_in: record::count(tokens_in.as_deref()),
        tokens_out: record::count(tokens_out.as_deref()),
        cost_nano: record::nano_usd(cost.as_deref()),
        cache,
        trail: crate::engine::trail::to_json(&seen.trail),
        tries: crate::seq::map(&seen.trail, |_, t| record::Try::of(t)),
        stream,
    }
}

/// The request is answered: its log line is written and it is counted
/// (`timeout_ms`: when it counts; `None` for requests that are not
/// counted; `log`: whether it gets its line). A relayed stream's record
/// waits for the stream's end ([`stream_ended`], called by the relay),
/// which completes it with the real usage and cost; the request is held
/// open until then by a JavaScript promise, not a Rust task.
pub fn finish(env: &Env, ctx: &Context, r: Record, timeout_ms: Option<u64>, log: RequestLog) {
    if !r.stream {
        return settle(env, ctx, r, None, timeout_ms, log);
    }
    if let Some(end) = PENDING.with(|p| p.borrow_mut().take_end(&r.request_id)) {
        return settle(env, ctx, r, Some(end), timeout_ms, log);
    }
    let request_id = r.request_id.clone();
    // The runtime's context object again (`Context` is not `Clone`).
    let raw = JsValue::from(ctx.as_ref());
    let (env, ctx) = (env.clone(), Context::new(raw.clone().unchecked_into()));
    let waiter = Waiter {
        settle: Some(Box::new(move |end| settle(&env, &ctx, r, end, timeout_ms, log))),
        release: hold(&raw),
    };
    PENDING.with(|p| p.borrow_mut().answered(&request_id, waiter));
}

/// Writes the log line of `r` (a stream's completed by its `end` first) and counts it.
fn settle(env: &Env, ctx: &Context, mut r: Record, end: Option<End>, timeout_ms: Option<u64>, log: RequestLog) {
    write_line(&mut r, end, log);
    let Some(timeout_ms) = timeout_ms else { return };
    if let Some(delay_ms) = count(env, &r) {
        super::after_response(ctx, Box::pin(flush_after(delay_ms, env.clone(), timeout_ms)));
    }
}

/// Writes the log line of `r` (when `log` says so), a stream's completed by its `end` first.
fn write_line(r: &mut Record, end: Option<End>, log: RequestLog) {
    if let Some(end) = &end {
        end.complete(r);
    }
    if log.logs(r.status) {
        web_sys::console::log_1(&log::line(r, end.as_ref().map(|e| e.how.as_str())).into());
    }
}

/// A relayed stream ended (`how`: `ok`, `client_gone` or the error's
/// kind), with its final tally.
pub fn stream_ended(request_id: &str, how: &str, tally: Option<Tally>) {
    let end = End {
        how: how.to_string(),
        tokens: tally.map(|t| (t.usage.input_tokens, t.usage.output_tokens)),
        cost_nano: tally.and_then(|t| t.cost_micros).map(|micros| micros.saturating_mul(1_000)),
    };
    if let Some((waiter, end)) = PENDING.with(|p| p.borrow_mut().ended(request_id, end)) {
        waiter.call(end);
    }
}

/// Counts the request in this isolate's batch (and in the Analytics Engine
/// dataset, where bound); when the batch should be sent: now (0) or after
/// the delay (the timed send, `None` when one is already waiting).
fn count(env: &Env, r: &Record) -> Option<u64> {
    if let Some(dataset) = super::is_bound(env, AE_BINDING).then(|| env.analytics_engine(AE_BINDING).ok()).flatten() {
        let point = AnalyticsEngineDataPointBuilder::new()
            .indexes([r.route.as_str()])
            .blobs([r.route.as_str(), &r.target, &r.key, r.outcome().as_str(), &r.error])
            .doubles([
                r.latency_ms as f64,
                f64::from(r.status),
                r.tokens_in.unwrap_or(0) as f64,
                r.tokens_out.unwrap_or(0) as f64,
                r.cost_nano.unwrap_or(0) as f64 / 1e9,
            ]);
        if let Err(e) = point.write_to(&dataset) {
            worker::console_error!("{{\"event\":\"analytics_engine_failed\",\"error\":{:?}}}", e.to_string());
        }
    }
    if !objects::bound(env, BINDING) {
        return None;
    }
    let held = BATCH.with(|b| {
        let mut b = b.borrow_mut();
        b.add(r);
        b.requests
    });
    if held >= FLUSH_EVERY {
        Some(0)
    } else if !SCHEDULED.with(|s| s.replace(true)) {
        Some(FLUSH_MS)
    } else {
        None
    }
}

/// [`flush`] after `delay_ms` (0: now; else the timed send, which frees the schedule).
async fn flush_after(delay_ms: u64, env: Env, timeout_ms: u64) {
    if delay_ms > 0 {
        Delay::from(Duration::from_millis(delay_ms)).await;
        SCHEDULED.with(|s| s.set(false));
    }
    flush(env, timeout_ms).await;
}

/// Sends this isolate's batch to the object (taken out first: never twice).
async fn flush(env: Env, timeout_ms: u64) {
    let batch = BATCH.with(|b| std::mem::take(&mut *b.borrow_mut()));
    if batch.is_empty() {
        return;
    }
    let body = format!("add\n{}", batch.encode());
    if let Err(e) = objects::call_text(&env, BINDING, OBJECT_NAME, body, timeout_ms, 0).await {
        worker::console_error!(
            "{{\"event\":\"metrics_flush_failed\",\"requests\":{},\"error\":{:?}}}",
            batch.requests,
            e
        );
    }
}

/// The most budget objects one read of the metrics asks.
const MAX_BUDGET_PEEKS: usize = 64;

/// The budgets of the gateway keys the metrics know (`keys`: the
/// configured ones and those seen in the counters), each from its budget
/// object's peek, all at once and each within `OBJECT_TIMEOUT_MS`. A peek
/// changes nothing and stores nothing (an object that was never sent a
/// reservation keeps no state): a key without a budget answers no limit
/// and shows none, and so does one whose object failed to answer.
async fn budgets(env: &Env, settings: &Settings, keys: &[String]) -> Vec<Budget> {
    if !objects::bound(env, budget::BINDING) {
        return Vec::new();
    }
    let timeout = settings.object_timeout_ms;
    let peeks = keys.iter().take(MAX_BUDGET_PEEKS).map(|key| async move {
        let standing = spend::ask(env, &budget::object_name(key), &Message::Peek, timeout, 0).await.ok()?;
        (standing.period.is_some() && standing.limit_micros > 0).then(|| Budget {
            key: key.clone(),
            limit_nano: standing.limit_micros.saturating_mul(1_000),
            spent_nano: Some(standing.spent_micros.saturating_mul(1_000)),
        })
    });
    crate::seq::keep(super::join::all(peeks).await, |budget| budget)
}

/// The configured gateway keys' names, then the others the counters saw.
fn key_names(settings: &Settings, totals: &Counters) -> Vec<String> {
    let mut keys: Vec<String> = crate::seq::keep(settings.gateway_keys.names(), |n| Some(n.to_string()));
    for s in &totals.series {
        let key = &s.labels.key;
        if !key.is_empty() && key != OTHER && !keys.contains(key) {
            keys.push(key.clone());
        }
    }
    keys
}

/// `GET /v1/switchyard/metrics`: JSON, or the Prometheus text format.
pub async fn serve(env: &Env, settings: &Settings, prometheus: bool) -> Result<Response, GatewayError> {
    if !objects::bound(env, BINDING) {
        return Err(GatewayError::new(
            Fault::Misconfigured,
            format!("The {BINDING} Durable Object is not bound (wrangler.toml): the gateway keeps no metrics."),
        ));
    }
    let timeout = settings.object_timeout_ms;
    flush(env.clone(), timeout).await;
    let text = objects::call_text(env, BINDING, OBJECT_NAME, "read".into(), timeout, 0)
        .await
        .map_err(|e| GatewayError::new(Fault::Unavailable, format!("The metrics object did not answer: {e}.")))?;
    let totals = Counters::decode(&text);
    let budgets = budgets(env, settings, &key_names(settings, &totals)).await;
    if prometheus {
        let headers = worker::Headers::new();
        let _ = headers.set("content-type", "text/plain; version=0.0.4; charset=utf-8");
        return Ok(Response::ok(render::prometheus(&totals, &budgets)).map_err(super::internal)?.with_headers(headers));
    }
    let keys: Vec<String> = crate::seq::keep(settings.gateway_keys.names(), |n| Some(n.to_string()));
    super::json(200, render::json(&totals, worker::Date::now().as_millis(), &keys, &budgets))
}

/// `GET /dashboard`: the page (no data in it).
pub fn dashboard() -> Result<Response, GatewayError> {
    let headers = worker::Headers::new();
    let _ = headers.set("content-type", "text/html; charset=utf-8");
    for (name, value) in crate::metrics::dashboard::HEADERS {
        let _ = headers.set(name, value);
    }
    Ok(Response::ok(crate::metrics::dashboard::PAGE).map_err(super::internal)?.with_headers(headers))
}
